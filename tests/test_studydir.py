"""The study run-directory layout (loi.pipeline.studydir): written, listed and read
back through StudyDir alone; foreign entries in the train/ tree are not runs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from loi.errors import LoiError
from loi.pipeline.studydir import StudyDir, Table


def test_paths_are_the_layout_existing_runs_have(tmp_path: Path) -> None:
    study = StudyDir(tmp_path)
    relative = lambda p: p.relative_to(tmp_path).as_posix()  # noqa: E731
    assert relative(study.study_file) == "study.json"
    assert relative(study.definitions_file) == "definitions.toml"
    assert relative(study.report_file) == "report.html"
    assert relative(study.stage_marker("train_sp")) == "stages/train_sp.json"
    assert relative(study.table(Table.LOI)) == "tables/loi.parquet"
    assert relative(study.table("allocation_crossfit")) == "tables/allocation_crossfit.parquet"
    assert relative(study.job_table(Table.CROSSPLAY, "matrix/prisoners_dilemma")) == \
        "jobs/crossplay/matrix__prisoners_dilemma.parquet"
    assert relative(study.job_table(Table.TOURNAMENT, "coins/small")) == "jobs/tournament/coins__small.parquet"
    assert relative(study.train_run("coins/small", "fcp3").path) == "train/coins/small/fcp3"
    assert relative(study.train_run("coins/small", "sp").checkpoint(1, 0, 2)) == \
        "train/coins/small/sp/seed_1/member_0/gen_002.msgpack"
    assert {t.value for t in Table} == {"crossplay", "loi", "metrics", "allocation", "tournament", "scores", "anova",
                                       "benefit", "benefit_by_partner", "correlation", "allocation_crossfit",
                                       "comparison", "predictors", "predictor_gains", "frontier"}
    with pytest.raises(ValueError):
        study.table("lio")  # a misspelt table name is caught, not silently a new file
    with pytest.raises(ValueError, match="not written per scenario"):
        study.job_table(Table.LOI, "coins/small")


def test_tables_stages_and_study_round_trip(tmp_path: Path) -> None:
    study = StudyDir(tmp_path / "run")
    with pytest.raises(LoiError, match="not a loi run directory"):
        study.read_study()
    study.make_dirs()
    study.study_file.write_text(json.dumps({"name": "x", "config_hash": "0" * 16}))
    assert study.read_study() == {"name": "x", "config_hash": "0" * 16}
    assert study.read_stage("loi") is None
    study.stage_marker("loi").write_text(json.dumps({"seconds": 2.5}))
    assert study.read_stage("loi") == {"seconds": 2.5}

    frames = {t: pd.DataFrame({"scenario": ["g/a", "g/b"], "value": [i, i + 0.5]}) for i, t in enumerate(Table)}
    assert all(study.read_table(t) is None for t in Table)
    for table, frame in frames.items():
        assert study.write_table(table, frame) == study.table(table)
    for table, frame in frames.items():
        pd.testing.assert_frame_equal(study.read_table(table), frame)
        pd.testing.assert_frame_equal(pd.read_parquet(study.path / "tables" / f"{table.value}.parquet"), frame)
    assert sorted(p.name for p in (study.path / "tables").iterdir()) == sorted(f"{t.value}.parquet" for t in Table)


def test_training_runs_and_their_curves_are_listed_through_the_layout(tmp_path: Path) -> None:
    study = StudyDir(tmp_path)
    written = {}
    for scenario, role in [("matrix/stag_hunt", "sp"), ("coins/small", "pp3"), ("coins/small", "heldout")]:
        frame = pd.DataFrame({"scenario": scenario, "seed": [0, 1], "update": [1, 1],
                              "mean_return_per_step": [0.5, 0.25]})
        study.train_run(scenario, role).write_curves(frame)
        written[(scenario, role)] = frame
    study.train_run("coins/small", "pp5").write_metadata({"config": {}})  # started, no generation yet
    # Foreign entries: a file beside the runs, hidden (temporary) folders, a file where a layout would be.
    (tmp_path / "train" / "coins" / "notes.txt").write_text("x")
    (tmp_path / "train" / "coins" / "small" / ".sp.tmp").mkdir()
    (tmp_path / "train" / ".cache" / "a" / "b").mkdir(parents=True)
    (tmp_path / "train" / "README").write_text("x")

    runs = study.train_runs()
    assert [(r.scenario, r.role) for r in runs] == [("coins/small", "heldout"), ("coins/small", "pp3"),
                                                   ("coins/small", "pp5"), ("matrix/stag_hunt", "sp")]
    assert all(r.run == study.train_run(r.scenario, r.role) for r in runs)

    curves = study.curves()
    expected = pd.concat([written[k].assign(role=k[1]) for k in sorted(written)], ignore_index=True)
    pd.testing.assert_frame_equal(curves, expected)
    assert list(study.curves(["seed"]).columns) == ["seed", "role"]
    assert StudyDir(tmp_path / "empty").train_runs() == [] and StudyDir(tmp_path / "empty").curves() is None
