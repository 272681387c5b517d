"""The training run-directory layout (loi.training.rundir): written, listed and
parsed back through RunDir alone; foreign files are not checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from loi.errors import LoiError
from loi.training.rundir import Checkpoint, RunDir, parse_policy_name


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_layout_round_trip(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "sp")
    # The layout existing run directories have (they must keep resuming).
    assert run.checkpoint(2, 1, 7) == tmp_path / "sp" / "seed_2" / "member_1" / "gen_007.msgpack"
    assert run.checkpoint(0, 0, 1234) == tmp_path / "sp" / "seed_0" / "member_0" / "gen_1234.msgpack"
    assert (run.run_file, run.state_file, run.curves_file) == (
        tmp_path / "sp" / "run.json", tmp_path / "sp" / "train_state.msgpack", tmp_path / "sp" / "curves.parquet")

    keys = [(s, m, g) for s in (0, 2, 10) for m in (0, 1) for g in (0, 9, 10, 999, 1000)]
    for key in reversed(keys):
        _touch(run.checkpoint(*key))
    listed = run.checkpoints()
    # Numeric order, not the names' string order (seed_10 after seed_2, gen_1000 after gen_999).
    assert [c.key for c in listed] == sorted(keys)
    assert all(c.path == run.checkpoint(*c.key) and c.path.is_file() for c in listed)
    assert listed == run.require_checkpoints()

    for c in listed:
        located = RunDir.of_checkpoint(c.path)
        assert located is not None and located[0] == run and located[1] == c
    assert run.policy_name(10, 1, 3) == "sp/seed_10/member_1/gen_003"
    assert parse_policy_name("sp/seed_10/member_1/gen_003") == ("sp", 10, 1, 3)
    for key in keys:
        assert parse_policy_name(run.policy_name(*key)) == ("sp", *key)


def test_metadata_and_curves_round_trip(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "new" / "run")
    assert run.read_metadata() is None and run.read_curves() is None
    record = {"config": {"scenario": "matrix/stag_hunt"}, "config_hash": "abc", "base_seed": 3, "pool": []}
    run.write_metadata(record)  # creates the directory
    assert run.read_metadata() == record == json.loads((tmp_path / "new" / "run" / "run.json").read_text())
    curves = pd.DataFrame({"seed": [0, 0, 1], "update": [1, 2, 1], "mean_return_per_step": [0.5, 0.75, 0.25]})
    run.write_curves(curves)
    pd.testing.assert_frame_equal(run.read_curves(), curves)
    pd.testing.assert_frame_equal(run.read_curves(["update"]), curves[["update"]])
    assert sorted(p.name for p in run.path.iterdir()) == ["curves.parquet", "run.json"]  # no temp files left
    run.run_file.write_text("{not json")
    with pytest.raises(LoiError, match="cannot read .*run.json"):
        run.read_metadata()


def test_foreign_files_are_not_checkpoints(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    real = _touch(run.checkpoint(0, 0, 4))
    for name in ["seed_0/member_0/gen_final.msgpack", "seed_0/member_0/gen_4.msgpack",  # gen_4 would alias gen_004
                 "seed_01/member_0/gen_004.msgpack", "seed_0/member_00/gen_004.msgpack",
                 "seed_0/member_0/gen_0004.msgpack", "seed_0/member_0/.gen_005.msgpack.x1.tmp",
                 "seed_0/member_0/gen_005.json", "seed_0/gen_006.msgpack", "seed_x/member_0/gen_007.msgpack",
                 "gen_008.msgpack", "notes.txt"]:
        _touch(tmp_path / name)
    assert run.checkpoints() == [Checkpoint(0, 0, 4, real)]
    assert RunDir.of_checkpoint(tmp_path / "seed_0" / "member_0" / "gen_4.msgpack") is None
    assert RunDir.of_checkpoint(tmp_path / "notes.txt") is None
    for name in ["sp/seed_0/member_0/gen_4", "sp/seed_0/member_0", "baseline:random", "sp/e1",
                 "seed_0/member_0/gen_000", "sp/seed_0/member_0/gen_000/x"]:
        assert parse_policy_name(name) is None, name
    with pytest.raises(ValueError, match="seed"):
        run.checkpoint(-1, 0, 0)
    with pytest.raises(ValueError, match="generation"):
        run.checkpoint(0, 0, 1.0)


def test_missing_or_empty_run_directories_fail_clearly(tmp_path: Path) -> None:
    assert RunDir(tmp_path / "absent").checkpoints() == []
    with pytest.raises(LoiError, match="run directory not found"):
        RunDir(tmp_path / "absent").require_checkpoints()
    _touch(tmp_path / "seed_0" / "member_0" / "gen_final.msgpack")
    with pytest.raises(LoiError, match="no policy checkpoints"):
        RunDir(tmp_path).require_checkpoints()


def test_checkpoint_readers_go_through_the_layout(tmp_path: Path) -> None:
    """The fcp pool and the evaluation's checkpoint index list the same files."""
    from loi.evaluation.policies import run_checkpoints
    from loi.training.pool import policy_checkpoints, select_pool

    run = RunDir(tmp_path / "sp")
    keys = [(s, 0, g) for s in range(12) for g in range(2)]
    for key in keys:
        _touch(run.checkpoint(*key))
    _touch(run.path / "seed_3" / "member_0" / "gen_final.msgpack")
    assert run_checkpoints(run.path) == {k: run.checkpoint(*k) for k in sorted(keys)}
    assert policy_checkpoints(run.path) == [run.checkpoint(*k) for k in sorted(keys)]
    # Ordered by (generation, seed, member), 24 checkpoints, picks at round(linspace(0, 23, 3)) = 0, 12, 23.
    assert select_pool(run.path, 3) == [run.checkpoint(0, 0, 0), run.checkpoint(0, 0, 1), run.checkpoint(11, 0, 1)]
