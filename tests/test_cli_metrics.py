"""`loi measure` as a user runs it: output shapes, exit codes, no partial files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from loi.metrics import DEFAULT_ESTIMATOR
from loi.metrics.table import LOI_COLUMNS

from conftest import run_cli


def make_table(n_coplayers=3, episodes=10, scenarios=("s1", "s2")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [(s, f"ego{e}", f"c{c}", ep, rng.normal(20 * c, 3))
            for s in scenarios for e in range(2) for c in range(n_coplayers) for ep in range(episodes)]
    return pd.DataFrame(rows, columns=["scenario", "ego", "coplayer", "episode", "ego_return"])


def write_csv(path, table=None):
    (make_table() if table is None else table).to_csv(path, index=False)
    return path


def _nan_csv(tmp_path):
    table = make_table()
    table.loc[[3, 17], "ego_return"] = np.nan
    return write_csv(tmp_path / "nan.csv", table)


def _missing_column_parquet(tmp_path):
    path = tmp_path / "m.parquet"
    make_table().drop(columns=["coplayer"]).to_parquet(path)
    return path


def _coplayer_without_episodes(tmp_path):
    path = tmp_path / "cat.parquet"
    table = make_table()
    table["coplayer"] = pd.Categorical(table["coplayer"], categories=["c0", "c1", "c2", "c9"])
    table.to_parquet(path)
    return path


def _garbled_parquet(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"garbage")
    return path


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert proc.stderr.startswith("loi: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr


def test_measure_json_shape(tmp_path):
    proc = run_cli("measure", write_csv(tmp_path / "t.csv"), "--json", "--permutations", "99", "--bootstrap", "50")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["estimator"] == DEFAULT_ESTIMATOR
    assert list(out["scenarios"]) == ["s1", "s2"]
    for row in out["scenarios"].values():
        assert set(row) == set(LOI_COLUMNS) - {"scenario", "estimator"} | {"dropped"}  # rows a value_range left out
        assert row["episodes"] == 60 and row["dropped"] == 0 and row["permutations"] == 99 and row["blocks"] == 2
        # N(0|20|40, 3): co-players perfectly separated, so the knn estimate (psi(N) - psi(N/3) at
        # separation) is above the maximum ln 3; the interval is cut there and both are flagged.
        assert row["loi_max"] == pytest.approx(np.log(3)) and row["loi"] > row["loi_max"] and row["above_max"]
        assert row["ci_low"] <= row["ci_high"] == row["loi_max"] and row["interval_capped"]
        assert row["corrected"] == pytest.approx(row["loi"] - row["null_mean"])
        assert row["corrected_ci_high"] == pytest.approx(min(row["ci_high"] - row["null_mean"], row["loi_max"]))
        assert row["p_value"] == pytest.approx(0.01)  # strongly dependent: no null draw reaches it


def test_measure_human_output_and_output_file(tmp_path):
    out = tmp_path / "res.parquet"
    proc = run_cli("measure", write_csv(tmp_path / "t.csv"), "--estimator", "miller-madow", "--permutations", "20",
                   "--bootstrap", "20", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "miller-madow" in proc.stdout and "s1" in proc.stdout and "s2" in proc.stdout
    frame = pd.read_parquet(out)
    assert list(frame.scenario) == ["s1", "s2"] and set(frame.estimator) == {"miller-madow"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res.parquet", "t.csv"]


def test_measure_on_the_authors_npz(paper_data):
    proc = run_cli("measure", paper_data / "cross_play" / "chicken_S_5M_2.npz", "--estimator", "paper",
                   "--permutations", "20", "--bootstrap", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)["scenarios"]["chicken/S"]
    assert round(row["loi"], 3) == 1.291 and row["episodes"] == 1080
    assert row["ci_low"] is None and row["ci_high"] is None


def _truncated_npz(tmp_path):
    good = tmp_path / "g_S_5M.npz"
    np.savez(good, rewards=np.zeros((1, 2, 3, 4, 5, 2)), checkpoints=np.arange(4))
    bad = tmp_path / "bad_S_5M.npz"
    bad.write_bytes(good.read_bytes()[:300])
    return bad


@pytest.mark.parametrize("make, fragments", [
    (_nan_csv, ["nan.csv", "'ego_return' has 2 NaN/inf"]),
    (_missing_column_parquet, ["m.parquet", "missing required column(s): coplayer"]),
    (_truncated_npz, ["bad_S_5M.npz", "truncated"]),
    (_coplayer_without_episodes, ["co-player 'c9' has no episodes"]),
    (_garbled_parquet, ["cannot read", "x.parquet"]),
    (lambda p: p / "absent.csv", ["no such file"]),
])
def test_bad_input_one_line_exit_2_no_output(tmp_path, make, fragments):
    table = make(tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    proc = run_cli("measure", table, "--permutations", "5", "--bootstrap", "5", "--output", tmp_path / "out.parquet")
    assert_one_line_error(proc, *fragments)
    assert {p.name for p in tmp_path.iterdir()} == before  # no output, no temp file


def test_unknown_estimator(tmp_path):
    proc = run_cli("measure", write_csv(tmp_path / "t.csv"), "--estimator", "kde", "--json")
    assert_one_line_error(proc, "unknown estimator 'kde'", "knn")


def test_estimator_options(tmp_path):
    table = write_csv(tmp_path / "t.csv")
    base = ("measure", table, "--estimator", "paper", "--permutations", "0", "--bootstrap", "0", "--json")
    wide = json.loads(run_cli(*base, "-O", "value_range=-20,80", "-O", "bins=10").stdout)["scenarios"]["s1"]
    narrow = json.loads(run_cli(*base, "-O", "value_range=-20,40", "-O", "bins=10").stdout)["scenarios"]["s1"]
    # returns ~ N(0|20|40, 3): a range of [-20, 40] drops about half of c2's 20 episodes
    assert wide["episodes"] == 60 and 40 < narrow["episodes"] < 60
    assert_one_line_error(run_cli(*base, "-O", "nokey"), "KEY=VALUE")
    assert_one_line_error(run_cli(*base, "-O", "k=3"), "unknown option")


def test_help_lists_the_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0 and "measure" in proc.stdout and "paper" in proc.stdout


def _duplicated_rows_csv(tmp_path):
    return write_csv(tmp_path / "dup.csv", pd.concat([make_table(), make_table()], ignore_index=True))


def _semicolon_csv(tmp_path):
    path = tmp_path / "semi.csv"
    make_table().to_csv(path, sep=";", index=False)
    return path


@pytest.mark.parametrize("make, fragments", [
    (_duplicated_rows_csv, ["duplicate episode (scenario='s1', ego='ego0', coplayer='c0', episode=0)",
                            "rows 0 and 120"]),
    (_semicolon_csv, ["semi.csv", "semicolon-separated"]),
])
def test_more_bad_tables_one_line_exit_2_no_output(tmp_path, make, fragments):
    table = make(tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    proc = run_cli("measure", table, "--permutations", "5", "--bootstrap", "5", "--output", tmp_path / "out.csv")
    assert_one_line_error(proc, *fragments)
    assert {p.name for p in tmp_path.iterdir()} == before


def test_unwritable_outputs_are_refused_before_the_work(tmp_path):
    table = write_csv(tmp_path / "t.csv")
    base = ("measure", table, "--permutations", "5", "--bootstrap", "5", "-o")
    assert_one_line_error(run_cli(*base, table / "out.csv"), "t.csv is a file, not a directory")
    assert_one_line_error(run_cli(*base, table / "deeper" / "out.csv"), "t.csv is a file, not a directory")
    assert_one_line_error(run_cli(*base, tmp_path / "absent" / "out.csv"), "does not exist")
    (tmp_path / "dir.csv").mkdir()
    assert_one_line_error(run_cli(*base, tmp_path / "dir.csv"), "dir.csv: it is a directory")
    # A directory that refuses new files: /sys refuses even root (a chmod'ed one would not).
    import tempfile

    try:
        tempfile.TemporaryFile(dir="/sys").close()
    except OSError:
        assert_one_line_error(run_cli(*base, "/sys/loi-out.csv"), "cannot write /sys/loi-out.csv", "Permission denied")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.csv", "t.csv"]


def test_miller_madow_with_a_value_range_and_bad_option_values(tmp_path):
    table = write_csv(tmp_path / "t.csv")
    base = ("measure", table, "-e", "miller-madow", "--permutations", "5", "--bootstrap", "5", "--json")
    proc = run_cli(*base, "-O", "value_range=0,60")  # used to die with a TypeError traceback
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)["scenarios"]["s1"]
    assert row["episodes"] < 60  # returns below 0 dropped (c0 ~ N(0, 3))
    assert_one_line_error(run_cli(*base, "-O", "value_range=0,x"), "value_range", "numbers separated by commas")


def test_near_the_maximum_the_table_says_so(tmp_path):
    # N(0|20|40, 3) with 10 episodes each: separated co-players, knn estimate above ln 3.
    proc = run_cli("measure", write_csv(tmp_path / "t.csv"), "--permutations", "50", "--bootstrap", "50",
                   "--sequential", "5")
    assert proc.returncode == 0, proc.stderr
    assert "1.099" in proc.stdout and " *" in proc.stdout and "above the maximum" in proc.stdout
    assert "CI cut at the maximum" in proc.stdout and "corrected = LoI - null" in proc.stdout
    assert "permutations" in proc.stdout


def test_progress_bar_goes_to_stderr_and_keeps_json_clean(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "100"}  # rich treats stderr as a terminal
    proc = subprocess.run([sys.executable, "-m", "loi.cli.main", "measure", str(write_csv(tmp_path / "t.csv")),
                           "--permutations", "20", "--bootstrap", "20", "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads(proc.stdout)["scenarios"]) == ["s1", "s2"]  # stdout is the JSON alone
    assert "LoI (knn)" in proc.stderr and "ETA" in proc.stderr
