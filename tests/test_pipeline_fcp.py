"""`loi run` with an fcpN regime on the menu and two games: the fcp learner trains
against a frozen pool from the study's own SP run, and the statistics stage
cross-fits the greedy allocator (each game allocated from the other game's lines)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

CONFIG = Path(__file__).parent / "data" / "pipeline_fcp.toml"
SCENARIOS = {"matrix/prisoners_dilemma", "matrix/stag_hunt"}


def test_fcp_menu_entry_and_crossfit_greedy_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "loi.cli.main", "run", str(CONFIG), "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert set(summary["scenarios"]) == SCENARIOS

    for scenario in SCENARIOS:
        fcp = out / "train" / scenario / "fcp2"
        record = json.loads((fcp / "run.json").read_text())
        assert record["config"]["regime"] == "fcp2"
        assert sorted(p.stem for p in fcp.glob("seed_0/member_0/gen_*")) == ["gen_000", "gen_001", "gen_002"]
        assert len(record["pool"]) == 2  # the frozen partners: checkpoints of the SP run

    scores = pd.read_parquet(out / "tables" / "scores.parquet")
    # One fcp learner (seeds = 1), two pp2 members, two sp seeds per scenario: all against the same 4 Bobs.
    egos = scores.groupby(["scenario", "regime"])["ego"].nunique().to_dict()
    assert egos == {(s, r): n for s in SCENARIOS for r, n in (("fcp2", 1), ("pp2", 2), ("sp", 2))}
    tournament = pd.read_parquet(out / "tables" / "tournament.parquet")
    assert tournament["coplayer"].str.startswith("heldout/").all()

    crossfit = pd.read_parquet(out / "tables" / "allocation_crossfit.parquet")
    assert set(crossfit["scenario"]) == SCENARIOS and set(crossfit["allocator"]) == {"greedy_crossfit"}
    assert (crossfit.groupby("game")["cost"].sum() <= 2.0).all()  # budget: fcp2 (cost 2) in each game's layout
    comparison = pd.read_parquet(out / "tables" / "comparison.parquet")
    assert {"greedy_crossfit", "proportional", "one_sigma"} <= set(comparison["allocator"])
    assert "greedy_crossfit" in (out / "report.html").read_text()
