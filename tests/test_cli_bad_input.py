"""Bad destinations and configs for run / train / render: one line, exit 2, nothing written."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from conftest import run_cli
from test_cli_metrics import assert_one_line_error

TINY = Path(__file__).parent / "data" / "pipeline_tiny.toml"


def _sys_refuses_files() -> bool:
    try:  # /sys refuses new files even to root (a chmod'ed directory would not)
        tempfile.TemporaryFile(dir="/sys").close()
    except OSError:
        return True
    return False


@pytest.mark.parametrize("command", [
    ("run", TINY, "-o"),
    ("train", "matrix/prisoners_dilemma", "--steps", "64", "-o"),
    ("render", "prisoners_dilemma/small", "--steps", "2", "-o"),
])
def test_out_under_a_file_or_read_only_is_refused(tmp_path, command):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(run_cli(*command, blocker / "deeper" / "out"), "file is a file, not a directory")
    if command[0] != "render":  # a run directory that is an existing file
        assert_one_line_error(run_cli(*command, blocker), "it is a file, not a directory")
    if _sys_refuses_files():
        assert_one_line_error(run_cli(*command, "/sys/loi-out"), "/sys", "ermission denied")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_config_that_is_a_directory_says_so(tmp_path):
    assert_one_line_error(run_cli("run", tmp_path, "-o", tmp_path / "out"), "is a directory, not a TOML file")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_during_measure_exits_130_with_one_line_and_no_file(tmp_path, workers):
    import signal
    import subprocess
    import sys
    import time

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = [{"scenario": f"s{s}", "ego": "e", "coplayer": f"c{c}", "episode": e, "ego_return": rng.normal(c, 1)}
            for s in range(8) for c in range(5) for e in range(400)]
    table = tmp_path / "t.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    proc = subprocess.Popen([sys.executable, "-m", "loi.cli.main", "measure", str(table), "-o", str(tmp_path / "o.csv"),
                             "--permutations", "100000", "--workers", workers],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)  # imports, table read, first scenarios under way
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert out == "" and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("loi: interrupted") and err.count("loi:") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_train_checks_the_environment_and_the_pool_before_the_steps_and_any_compiling(tmp_path):
    out = tmp_path / "run"
    # Two problems: the unknown game is named (the more basic one), in one line, nothing compiled.
    assert_one_line_error(run_cli("train", "nope/small", "--steps", "10", "-o", out), "unknown game 'nope'")
    from typer.testing import CliRunner

    from loi.cli.main import app

    missing_pool = CliRunner().invoke(app, ["train", "prisoners_dilemma/small", "--regime", "fcp3", "--pool",
                                            str(tmp_path / "missing"), "-o", str(out)])
    assert "--pool" in str(missing_pool.exception) and "no such directory" in str(missing_pool.exception)
    assert missing_pool.output == "" and not out.exists()


def test_train_says_what_its_steps_were_rounded_to_and_why():
    from loi.cli.commands_train import steps_rounding
    from loi.training import TrainConfig

    # 100,000 / (10 generations x 64 x 128 steps per update) = 1.2 updates per generation -> 1.
    note = steps_rounding(TrainConfig(scenario="matrix/prisoners_dilemma", total_steps=100_000))
    assert note.startswith("--steps 100,000 trains 81,920 env steps per member per seed: a PPO update takes "
                           "--num-envs x --rollout-length = 64 x 128 = 8,192 steps")
    assert note.endswith("10 x 1 update")
    assert steps_rounding(TrainConfig(scenario="matrix/prisoners_dilemma", total_steps=81_920)) == ""
