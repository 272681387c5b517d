"""`loi measure` as a user runs it: output shapes, exit codes, no partial files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from loi.metrics import DEFAULT_ESTIMATOR

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
        assert set(row) == {"loi", "ci", "null_mean", "corrected", "p_value", "episodes"}
        assert row["episodes"] == 60
        assert row["ci"][0] <= row["loi"] <= row["ci"][1]
        assert row["corrected"] == pytest.approx(row["loi"] - row["null_mean"])
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
    assert round(row["loi"], 3) == 1.291 and row["episodes"] == 1080 and row["ci"] == [None, None]


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
