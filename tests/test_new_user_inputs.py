"""A new user's input is never lost and never silently cut: an output that is one of the command's
inputs is refused before any work (the input byte-identical), episodes a value_range drops are
counted, a knn k that cannot take effect is warned about, returns too far apart for knn are
refused with one line (no numpy warnings)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from test_cli_metrics import assert_one_line_error

TINY = Path(__file__).parent / "data" / "pipeline_tiny.toml"


def _table(path: Path, *, episodes: int = 6, scenarios=("a", "b"), scale: float = 1.0) -> Path:
    rng = np.random.default_rng(0)
    rows = [{"scenario": s, "ego": "e", "coplayer": f"c{c}", "episode": e,
             "ego_return": scale * float(rng.normal(0.3 * c, 0.5))}
            for s in scenarios for c in range(3) for e in range(episodes)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _invoke(*args):
    """``loi ARGS`` in this process (the imports are already paid for): its result, whose
    ``exception`` is the LoiError that the console script turns into one line and exit 2."""
    from typer.testing import CliRunner

    from loi.cli.main import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_measure_refuses_to_write_over_its_input_which_stays_byte_identical(tmp_path: Path) -> None:
    from loi.errors import LoiError

    table = _table(tmp_path / "table.csv")
    before = table.read_bytes()
    # The console script: one line, exit 2, before any work.
    assert_one_line_error(run_cli("measure", table, "-o", table), f"--output {table} is the input {table}")
    assert table.read_bytes() == before
    # The same file under another name: a symlink, a hard link.
    (tmp_path / "link.csv").symlink_to(table.name)
    os.link(table, tmp_path / "hard.csv")
    for output in (tmp_path / "link.csv", tmp_path / "hard.csv"):
        result = _invoke("measure", table, "-o", output, "--permutations", "5", "--bootstrap", "5")
        assert isinstance(result.exception, LoiError), result.output
        assert f"--output {output} is the input {table} (the same file under another name)" in str(result.exception)
        assert result.output == "" and table.read_bytes() == before and output.read_bytes() == before


def test_every_writing_command_refuses_an_output_that_is_or_holds_an_input(tmp_path: Path) -> None:
    from loi.cli.outputs import refuse_input_overwrite
    from loi.errors import LoiError

    table = _table(tmp_path / "t.csv")
    inner = tmp_path / "runs" / "config.toml"
    inner.parent.mkdir()
    inner.write_text("x")
    with pytest.raises(LoiError, match="is the input"):
        refuse_input_overwrite(tmp_path / "." / "t.csv", [None, tmp_path / "missing", table])
    with pytest.raises(LoiError, match="contains the input"):  # a run directory that holds the config
        refuse_input_overwrite(tmp_path / "runs", [inner], directory=True)
    with pytest.raises(LoiError, match="contains the input"):
        refuse_input_overwrite(tmp_path, [inner], directory=True)
    # A new file beside the input, or a directory beside it: nothing refused.
    assert refuse_input_overwrite(tmp_path / "out.csv", [table]) == tmp_path / "out.csv"
    refuse_input_overwrite(tmp_path / "elsewhere", [inner], directory=True)
    # Through the commands, before any work (nothing written).
    (inner.parent / "c.toml").write_text(TINY.read_text())
    (inner.parent / "pipeline_tiny_layouts.toml").write_text((TINY.parent / "pipeline_tiny_layouts.toml").read_text())
    before = sorted(p.name for p in inner.parent.iterdir())
    for args, message in [(("run", inner.parent / "c.toml", "-o", inner.parent),
                           f"--out {inner.parent} contains the input {inner.parent / 'c.toml'}"),
                          (("evaluate", "--egos", table, "--coplayers", "baseline:random", "-o", table),
                           "is the input"),
                          (("report", tmp_path, "-o", table), "expected an .html file name"),
                          (("render", "chicken/small", "-d", table, "-o", table), "is the input")]:
        result = _invoke(*args)
        assert isinstance(result.exception, LoiError) and message in str(result.exception), (args, result.output)
    assert sorted(p.name for p in inner.parent.iterdir()) == before
    assert table.read_bytes() == _table(tmp_path / "again.csv").read_bytes()


def test_measure_counts_the_episodes_a_value_range_drops(tmp_path: Path) -> None:
    import json

    table = _table(tmp_path / "t.csv")
    frame = pd.read_csv(table)
    outside = frame[(frame["ego_return"] < 0) | (frame["ego_return"] > 1)].groupby("scenario").size()
    args = ("measure", table, "-e", "paper", "-O", "value_range=0,1", "--permutations", "5", "--bootstrap", "0")
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Returns outside value_range were dropped" in text
    for scenario, n in outside.items():
        assert f"{scenario} {n} of 18" in text
    records = json.loads(_invoke(*args, "--json").output)["scenarios"]
    assert {s: r["dropped"] for s, r in records.items()} == outside.to_dict()
    assert all(r["episodes"] + r["dropped"] == 18 for r in records.values())
    # A co-player left with no episode at all is refused, not estimated from the others.
    refused = _invoke("measure", table, "-e", "paper", "-O", "value_range=5,6")
    assert "no returns inside value_range" in str(refused.exception) and refused.output == ""


def test_knn_k_at_or_above_the_episodes_of_a_coplayer_is_named() -> None:
    from loi.metrics.table import knn_k_warning

    table = pd.DataFrame([{"scenario": s, "ego": "e", "coplayer": f"c{c}", "episode": e, "ego_return": float(e)}
                          for s, n in (("few", 4), ("many", 12)) for c in range(2) for e in range(n)])
    assert knn_k_warning(table, 3) is None  # 4 episodes per co-player: k = 3 is used as given
    line = knn_k_warning(table, 4)
    assert "fewest: few 4" in line and "many" not in line and "give k < 4" in line
    assert "few 4, many 12" in knn_k_warning(table, 1000)


def test_returns_too_far_apart_for_knn_are_refused_in_one_line_without_numpy_warnings(tmp_path: Path) -> None:
    import warnings

    from loi.errors import LoiError
    from loi.metrics.table import measure_table

    frame = pd.read_csv(_table(tmp_path / "t.csv", scenarios=("a",)))
    frame["ego_return"] = np.where(frame.index % 2 == 0, 1.0, -1.0) * 1e308
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would fail the test before the refusal
        with pytest.raises(LoiError, match="scenario 'a': returns from -1e\\+308 to 1e\\+308 are too far apart"):
            measure_table(frame, permutations=5, bootstrap=5)
    frame["ego_return"] /= 1e8  # as the message suggests: then it is measured
    assert np.isfinite(measure_table(frame, permutations=5, bootstrap=5)["a"].statistic)
