"""The layout of a study's run directory (``loi run --out RUN``), in one place.

    RUN/study.json                       config (normalised), config hash, versions
    RUN/definitions.toml                 the user games/layouts the config named (if any)
    RUN/stages/{stage}.json              completion marker of each finished stage
    RUN/stages/{stage}.progress.json     jobs done of a stage's jobs, rewritten as each finishes
    RUN/train/{game}/{layout}/{role}/    one training run (a loi.training RunDir); role is
                                         sp, heldout, or a menu regime (pp3, pp5, fcp3, ...)
    RUN/jobs/crossplay/{game}__{layout}.parquet    LoI cross-play table of one scenario
    RUN/jobs/tournament/{game}__{layout}.parquet   fixed-Bob tournament table of one scenario
    RUN/tables/{table}.parquet           stage outputs, one per :class:`Table`
    RUN/report.html                      the report

Scenario names are ``{game}/{layout}`` (``matrix/{game}`` for matrix games), so a
scenario's training runs sit two levels below ``train/``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Sequence

import pandas as pd

from loi.errors import LoiError
from loi.tables.io import atomic_write, read_json
from loi.training.rundir import RunDir


class Table(StrEnum):
    """The stage output tables, by the stage that writes them."""

    CROSSPLAY = "crossplay"  # loi: every cross-play episode of every scenario
    LOI = "loi"  # loi: LoI per scenario
    METRICS = "metrics"  # loi: every applicable interaction metric per scenario (loi.metrics.METRIC_COLUMNS)
    ALLOCATION = "allocation"  # allocate: every allocator's regime per scenario
    TOURNAMENT = "tournament"  # tournament: every fixed-Bob episode
    SCORES = "scores"  # tournament: fixed-Bob scores
    ANOVA = "anova"  # statistics
    BENEFIT = "benefit"  # statistics
    BENEFIT_BY_PARTNER = "benefit_by_partner"  # statistics ([heldout] bots): per partner kind and pooled
    CORRELATION = "correlation"  # statistics
    ALLOCATION_CROSSFIT = "allocation_crossfit"  # statistics (train = "menu", >= 2 games)
    COMPARISON = "comparison"  # statistics
    PREDICTORS = "predictors"  # statistics: each metric's correlation with the benefit (loi.allocation.predictors)
    PREDICTOR_GAINS = "predictor_gains"  # statistics: each metric's cross-fitted greedy gain (menu, >= 2 games)
    FRONTIER = "frontier"  # statistics (train = "menu"): each allocator's held-out score at each budget


# Tables that the jobs of a stage write per scenario before the stage concatenates them.
JOB_TABLES = (Table.CROSSPLAY, Table.TOURNAMENT)


@dataclass(frozen=True)
class TrainRun:
    """One training run of a study: its scenario, its role and its directory."""

    scenario: str
    role: str
    run: RunDir


@dataclass(frozen=True)
class StudyDir:
    """A study's run directory: where every file of it lives, and reading them back."""

    path: Path
    STUDY_FILE: ClassVar[str] = "study.json"
    DEFINITIONS_FILE: ClassVar[str] = "definitions.toml"
    REPORT_FILE: ClassVar[str] = "report.html"
    STAGES: ClassVar[str] = "stages"
    TABLES: ClassVar[str] = "tables"
    TRAIN: ClassVar[str] = "train"
    JOBS: ClassVar[str] = "jobs"
    TABLE_SUFFIX: ClassVar[str] = ".parquet"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    @property
    def study_file(self) -> Path:
        return self.path / self.STUDY_FILE

    @property
    def definitions_file(self) -> Path:
        return self.path / self.DEFINITIONS_FILE

    @property
    def report_file(self) -> Path:
        return self.path / self.REPORT_FILE

    def make_dirs(self) -> None:
        """The folders the stages write their markers and tables into."""
        for sub in (self.STAGES, self.TABLES):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ study record and stages

    def read_study(self) -> dict[str, Any]:
        """``study.json`` (LoiError if this is not a study directory)."""
        if not self.study_file.is_file():
            raise LoiError(f"{self.path} is not a loi run directory (no {self.STUDY_FILE})")
        return read_json(self.study_file)

    def stage_marker(self, stage: str) -> Path:
        return self.path / self.STAGES / f"{stage}.json"

    def progress_file(self, stage: str) -> Path:
        return self.path / self.STAGES / f"{stage}.progress.json"

    def write_progress(self, stage: str, done: int, total: int, last: str = "") -> None:
        """How far a job stage has got (``loi status`` shows it while the stage is pending)."""
        path = self.progress_file(stage)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"done": done, "total": total, "last": last, "written": time.strftime("%Y-%m-%d %H:%M:%S")}
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps(record) + "\n")

    def read_progress(self, stage: str) -> dict[str, Any] | None:
        path = self.progress_file(stage)
        try:
            return json.loads(path.read_text()) if path.is_file() else None
        except (OSError, ValueError):
            return None  # a progress line is advisory; a torn or unreadable one is just not shown

    def read_stage(self, stage: str) -> dict[str, Any] | None:
        """A finished stage's marker (its summary), or None while it is pending."""
        path = self.stage_marker(stage)
        return json.loads(path.read_text()) if path.is_file() else None

    # ------------------------------------------------------------------ tables

    def table(self, name: Table | str) -> Path:
        """Where a stage output table lives (``name``: a :class:`Table`)."""
        return self.path / self.TABLES / f"{Table(name).value}{self.TABLE_SUFFIX}"

    def read_table(self, name: Table | str) -> pd.DataFrame | None:
        """A stage output table, or None while its stage has not written it."""
        path = self.table(name)
        return pd.read_parquet(path) if path.is_file() else None

    def write_table(self, name: Table | str, frame: pd.DataFrame) -> Path:
        path = self.table(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp:
            frame.to_parquet(tmp, index=False)
        return path

    def job_table(self, name: Table | str, scenario: str) -> Path:
        """Where one scenario's job writes its part of ``name`` (crossplay, tournament)."""
        table = Table(name)
        if table not in JOB_TABLES:
            raise ValueError(f"table {table.value!r} is not written per scenario by jobs")
        return self.path / self.JOBS / table.value / f"{scenario.replace('/', '__')}{self.TABLE_SUFFIX}"

    # ------------------------------------------------------------------ training runs

    def train_run(self, scenario: str, role: str) -> RunDir:
        """The training run of ``role`` (sp, heldout or a regime) on ``scenario``."""
        return RunDir(self.path / self.TRAIN / scenario / role)

    def train_runs(self) -> list[TrainRun]:
        """The training runs present, sorted by (game, layout, role). Files and hidden
        entries (temporary files) in the ``train/`` tree are not runs."""
        root = self.path / self.TRAIN
        found = []
        for game in _subdirs(root):
            for layout in _subdirs(game):
                for role in _subdirs(layout):
                    scenario = f"{game.name}/{layout.name}"
                    found.append(TrainRun(scenario, role.name, self.train_run(scenario, role.name)))
        return found

    def curves(self, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
        """Every training run's learning curves with a ``role`` column, or None
        when no run has written any yet."""
        frames = []
        for train in self.train_runs():
            frame = train.run.read_curves(columns)
            if frame is not None:
                frame["role"] = train.role
                frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else None


def _subdirs(path: Path) -> list[Path]:
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
