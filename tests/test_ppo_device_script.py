"""benchmarks/device.sh at a tiny size on CPU: it runs, and its study estimate is the members the
paper study trains times the steps per member over the throughput it measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_device_script_measures_and_extrapolates_the_paper_study(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "device.sh"), "--tiny", "--steps-per-member", "1000",
                           "--networks", "gru"], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "device_throughput.json").read_text())
    rows = {(r["regime"], r["network"]): r for r in result["rows"]}
    assert set(rows) == {("sp", "gru"), ("pp5", "gru")}  # the study's network only: two compiles
    # examples/paper.toml: 16 scenarios; per scenario 5 SP seeds + 2 held-out Bob seeds, PP3 and PP5.
    assert result["network"] == "gru"
    assert result["members"] == {"sp": 16 * (5 + 2), "pp": 16 * (3 + 5)}
    assert all(r["steps_per_s"] > 0 and r["num_envs"] == 4 for r in rows.values())
    assert rows[("sp", "gru")]["seeds"] == 5 and rows[("pp5", "gru")]["seeds"] == 1
    sp, pp = rows[("sp", "gru")], rows[("pp5", "gru")]
    expected = (16 * 7 * 1000 / sp["steps_per_s"] + sp["compile_s"]) + (16 * 8 * 1000 / pp["steps_per_s"]
                                                                        + pp["compile_s"])
    assert abs(result["training_seconds"] - expected) <= 1e-9 * expected
    assert f"{expected / 60:,.1f} min" in proc.stdout


def test_device_script_rejects_a_bad_size():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "device_throughput.py"), "--num-envs", "0"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
