"""``run_study``: the seven stages of a study, resumable at any moment.

Each stage writes its outputs into the run directory (laid out by
:class:`~loi.pipeline.studydir.StudyDir`), every file atomically, and then its
completion marker ``stages/{stage}.json``. A re-run of the same config skips
the stages with a marker; inside an unfinished stage, finished jobs reuse their
outputs and an interrupted training resumes from its last generation, so the
tables end identical to an uninterrupted run. Independent jobs (training runs,
cross-play and tournament blocks) go through an :class:`Executor`.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from loi.errors import LoiError
from loi.pipeline.config import StudyConfig, register_definitions
from loi.pipeline.executor import Executor, Job, make_executor
from loi.pipeline.jobs import job
from loi.pipeline.plan import HELDOUT, SP, trained_regimes
from loi.pipeline.studydir import StudyDir, Table
from loi.tables.io import atomic_write

STAGES: tuple[tuple[str, str], ...] = (
    ("train_sp", "train SP seeds and held-out Bobs"),
    ("loi", "cross-play -> LoI per scenario"),
    ("allocate", "allocate the budget"),
    ("train_allocated", "train the allocated and uniform regimes"),
    ("tournament", "fixed-Bob tournaments"),
    ("statistics", "statistics"),
    ("report", "report"),
)


@dataclass(frozen=True)
class StageEvent:
    """Progress report: ``kind`` is "start" (``total`` jobs), "job" (one done),
    "done" or "skip" (already finished in an earlier run)."""

    stage: str
    index: int
    kind: str
    total: int = 0
    label: str = ""


@dataclass(frozen=True)
class StudyResult:
    run_dir: Path
    report: Path
    seconds: float
    summary: dict[str, Any]


def git_revision(where: Path | None = None) -> str:
    """The checkout's commit, ``+dirty`` when the tracked files differ from it; ``unknown`` outside git."""
    where = Path(where) if where is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def versions() -> dict[str, str]:
    """Package versions and the git revision of the loi code (recorded in every run directory)."""
    import importlib.metadata as md

    out = {"python": platform.python_version(), "git": git_revision()}
    for package in ("loi", "jax", "numpy", "scipy", "pandas", "flax", "optax"):
        try:
            out[package] = md.version(package)
        except md.PackageNotFoundError:
            out[package] = "not installed"
    return out


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def open_run_dir(config: StudyConfig, run_dir: Path) -> None:
    """Create ``run_dir`` for ``config`` or check it holds the same study."""
    study = StudyDir(run_dir)
    run_dir = study.path
    if study.study_file.is_file():
        record = study.read_study()
        if record.get("config_hash") != config.config_hash():
            raise LoiError(f"{run_dir} holds a different study (config hash {record.get('config_hash')}, this "
                           f"config {config.config_hash()}); use another --out directory")
        return
    if run_dir.exists() and (not run_dir.is_dir() or any(not _is_temp(p) for p in run_dir.iterdir())):
        raise LoiError(f"--out {run_dir} exists and is not an empty directory or a loi run")
    # study.json first: a run killed right after it resumes; one killed before it left only temp files.
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_json(study.study_file, {"name": config.name, "config_hash": config.config_hash(), "config": config.to_dict(),
                             "source": config.source, "versions": versions()})


def _is_temp(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(".tmp")


def read_study(run_dir: str | Path) -> dict[str, Any]:
    """The ``study.json`` of a run directory (LoiError if it is not one)."""
    return StudyDir(run_dir).read_study()


def read_run_table(run_dir: str | Path, name: Table | str) -> pd.DataFrame | None:
    """A stage output table of ``run_dir``, or None while its stage has not written it."""
    return StudyDir(run_dir).read_table(name)


def study_status(run_dir: str | Path) -> list[dict[str, Any]]:
    """Per stage: name, description, ``done``, its marker's summary and, for a pending
    job stage that has started, ``progress`` (jobs done of total when last written)."""
    study = StudyDir(run_dir)
    study.read_study()
    out = []
    for stage, description in STAGES:
        info = study.read_stage(stage)
        out.append({"stage": stage, "description": description, "done": info is not None, "summary": info,
                    "progress": None if info is not None else study.read_progress(stage)})
    return out


# ----------------------------------------------------------------------------- stages


class _Context:
    def __init__(self, config: StudyConfig, run_dir: Path, executor: Executor,
                 on_event: Callable[[StageEvent], None] | None):
        self.config, self.run_dir, self.executor = config, run_dir, executor
        self.study = StudyDir(run_dir)
        self.config_dict = config.to_dict()
        self.on_event = on_event or (lambda event: None)
        self.reporter: Callable[[Path], Path] | None = None
        self.stage, self.index = "", 0

    def run_jobs(self, jobs: list[Job]) -> list[Any]:
        self.on_event(StageEvent(self.stage, self.index, "start", total=len(jobs)))
        # A resumed stage counts from 0 again: finished jobs return at once from their outputs.
        self.study.write_progress(self.stage, 0, len(jobs))
        done = 0

        def finished(j: Job, _: Any) -> None:
            nonlocal done
            done += 1
            self.study.write_progress(self.stage, done, len(jobs), last=j.label)
            self.on_event(StageEvent(self.stage, self.index, "job", label=j.label))

        return self.executor.map(jobs, finished)

    def job(self, function: str, label: str, **kwargs: Any) -> Job:
        return job(function, label, config=self.config_dict, run_dir=str(self.run_dir), **kwargs)


def _training_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    # env steps / train_seconds = training throughput without compile time (resumed runs count
    # only the generations this process ran).
    return {"runs": len(results), "env_steps": int(sum(r["env_steps"] for r in results)),
            "train_seconds": round(sum(r["seconds"] for r in results), 3)}


def _stage_train_sp(ctx: _Context) -> dict[str, Any]:
    roles = (SP, HELDOUT) if ctx.config.heldout.seeds else (SP,)  # seeds = 0: the Bobs are bots only
    jobs = [ctx.job("train_job", f"{s} {role}", scenario=s, role=role)
            for s in ctx.config.scenarios for role in roles]
    results = ctx.run_jobs(jobs)
    return _training_summary(results)


def _concat(paths: list[str]) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)


def _stage_loi(ctx: _Context) -> dict[str, Any]:
    from loi.metrics import measure_metrics
    from loi.metrics.table import loi_rows, measure_table

    ev = ctx.config.evaluation
    results = ctx.run_jobs([ctx.job("crossplay_job", s, scenario=s) for s in ctx.config.scenarios])
    table = _concat([r["table"] for r in results])
    ctx.study.write_table(Table.CROSSPLAY, table)
    measured = measure_table(table, estimator=ev.estimator, permutations=ev.permutations, bootstrap=ev.bootstrap,
                             confidence=ev.confidence, seed=ctx.config.seed, ci_method=ev.ci_method)
    rows = loi_rows(measured)
    rows.insert(1, "game", rows["scenario"].map(ctx.config.game_of))
    ctx.study.write_table(Table.LOI, rows)
    # Every table metric the SP-only cross-play gives, the LoI's numbers reused: one long table.
    metrics = measure_metrics(table, permutations=ev.permutations, bootstrap=ev.bootstrap, confidence=ev.confidence,
                              seed=ctx.config.seed, estimator=ev.estimator, loi_results=measured)
    metrics.insert(1, "game", metrics["scenario"].map(ctx.config.game_of))
    ctx.study.write_table(Table.METRICS, metrics)
    return {"scenarios": len(rows), "episodes": int(len(table)), "metrics": sorted(set(metrics["metric"]))}


def _stage_allocate(ctx: _Context) -> dict[str, Any]:
    from loi.pipeline.allocate import DEFAULT_METRIC, allocation_table, study_scores

    c = ctx.config
    score = study_scores(ctx.study, DEFAULT_METRIC)
    table = allocation_table(score, games=c.allocation_group, menu=c.menu_costs, budget=c.budget, uniform=c.uniform,
                             chosen=c.allocator, greedy_from=c.evaluation.greedy_from, metric=DEFAULT_METRIC)
    ctx.study.write_table(Table.ALLOCATION, table)
    chosen = table[table["chosen"]]
    return {"allocation": dict(zip(chosen["scenario"], chosen["regime"]))}


def _allocated(ctx: _Context) -> dict[str, str]:
    table = ctx.study.read_table(Table.ALLOCATION)
    chosen = table[table["chosen"]]
    return dict(zip(chosen["scenario"], chosen["regime"]))


def _stage_train_allocated(ctx: _Context) -> dict[str, Any]:
    plan = trained_regimes(ctx.config, _allocated(ctx))
    jobs = [ctx.job("train_job", f"{s} {r}", scenario=s, role=r) for s in ctx.config.scenarios for r in plan[s]]
    results = ctx.run_jobs(jobs)
    return _training_summary(results)


def _stage_tournament(ctx: _Context) -> dict[str, Any]:
    from loi.tables import fixed_bob_scores

    plan = trained_regimes(ctx.config, _allocated(ctx))
    results = ctx.run_jobs([ctx.job("tournament_job", s, scenario=s, regimes=[SP, *plan[s]])
                            for s in ctx.config.scenarios])
    table = _concat([r["table"] for r in results])
    ctx.study.write_table(Table.TOURNAMENT, table)
    ctx.study.write_table(Table.SCORES, fixed_bob_scores(table))
    return {"episodes": int(len(table))}


def _stage_statistics(ctx: _Context) -> dict[str, Any]:
    from loi.pipeline.allocate import LOI_COLUMN, crossfit_greedy_table
    from loi.pipeline.statistics import anova_table, benefit_table, comparison_table, correlation_table

    c = ctx.config
    scores = ctx.study.read_table(Table.SCORES)
    loi = ctx.study.read_table(Table.LOI).set_index("scenario")[LOI_COLUMN].to_dict()
    ctx.study.write_table(Table.ANOVA, anova_table(scores))
    benefit = benefit_table(scores, loi, c.game_of, c.menu_costs, confidence=c.evaluation.confidence)
    ctx.study.write_table(Table.BENEFIT, benefit)
    ctx.study.write_table(Table.CORRELATION, correlation_table(benefit))
    if c.heldout.bots:  # Bobs of two kinds: the benefit with each kind, and pooled
        from loi.pipeline.evaluate import partner_kinds
        from loi.pipeline.statistics import PARTNER_KIND, partner_benefit_table

        tournament = ctx.study.read_table(Table.TOURNAMENT)
        tournament[PARTNER_KIND] = partner_kinds(tournament["coplayer"])
        ctx.study.write_table(Table.BENEFIT_BY_PARTNER,
                              partner_benefit_table(tournament, confidence=c.evaluation.confidence))
    allocations = ctx.study.read_table(Table.ALLOCATION)
    # Leave-one-game-out greedy spends a budget per game; a suite's budget is the suite's (the
    # frontier below allocates it, leaving one scenario out).
    if c.train == "menu" and len(c.games) >= 2 and c.allocate_per == "game":
        crossfit = crossfit_greedy_table(scores, loi, games=c.game_of, menu=c.menu_costs, budget=c.budget)
        ctx.study.write_table(Table.ALLOCATION_CROSSFIT, crossfit)
        allocations = pd.concat([allocations, crossfit], ignore_index=True)
    comparison = comparison_table(scores, allocations, c.game_of, uniform=c.uniform,
                                  top=c.evaluation.top, confidence=c.evaluation.confidence, seed=c.seed)
    ctx.study.write_table(Table.COMPARISON, comparison)
    metrics = ctx.study.read_table(Table.METRICS)
    if metrics is not None:  # a run whose LoI stage predates the metrics table has none
        predictors = predictor_tables(metrics, benefit, scores, c)
        ctx.study.write_table(Table.PREDICTORS, predictors.correlations)
        if not predictors.gains.empty:
            ctx.study.write_table(Table.PREDICTOR_GAINS, predictors.gains)
        if c.train == "menu":
            frontier = frontier_table(scores, metrics, c)
            if frontier is not None:
                ctx.study.write_table(Table.FRONTIER, frontier)
    return {"comparisons": int(len(comparison))}


def frontier_table(scores: pd.DataFrame, metrics: pd.DataFrame, c: StudyConfig) -> pd.DataFrame | None:
    """Every allocator's mean SP-normalised held-out score at budgets from all-cheapest to
    all-costliest over the study's scenarios (``loi.allocation.budget_frontier``). Scenarios
    without SP-normalised scores (``loi.allocation.unnormalisable``: zero-sum games, no reward
    at all) are left out, named with the reason in the table's ``note``."""
    from loi.allocation import unnormalisable
    from loi.allocation.frontier import budget_frontier
    from loi.pipeline.plan import SP
    from loi.tables.schema import SCENARIO

    left_out = unnormalisable(scores, SP)
    kept = sorted(s for s in scores[SCENARIO].unique() if s not in left_out)
    if len(kept) < 2:
        return None
    frontier = budget_frontier(scores[scores[SCENARIO].isin(kept)], metrics[metrics["scenario"].isin(kept)],
                               c.menu_costs, groups={s: c.game_of[s] for s in kept}, reference=SP,
                               confidence=c.evaluation.confidence, seed=c.seed)
    table = frontier.table.copy()
    notes = list(frontier.notes)
    if left_out:
        notes.insert(0, "left out: " + "; ".join(f"{s} ({why})" for s, why in left_out.items()))
    table["note"] = "; ".join(notes)
    return table


def predictor_tables(metrics: pd.DataFrame, benefit: pd.DataFrame, scores: pd.DataFrame, c: StudyConfig):
    """Every metric of the study's metrics table as a predictor of its PP benefit
    (``loi.allocation.compare_predictors``); the cross-fitted greedy gain where every menu regime
    was trained everywhere in 2 or more games."""
    from loi.allocation import compare_predictors
    from loi.pipeline.plan import SP

    benefits = dict(zip(benefit["scenario"], benefit["benefit"]))
    crossfit = c.train == "menu" and len(c.games) >= 2 and c.allocate_per == "game"
    # A suite correlates across all its scenarios (mostly one per game: no within-game ordering).
    return compare_predictors(metrics, benefits, c.allocation_group, scores=scores if crossfit else None,
                              menu=c.menu_costs,
                              uniform=c.uniform, reference=SP, budget=c.budget, confidence=c.evaluation.confidence,
                              resamples=1000, permutations=2000, comparison_resamples=1000, seed=c.seed)


def _stage_report(ctx: _Context) -> dict[str, Any]:
    path = ctx.reporter(ctx.run_dir)
    return {"report": str(path)}


_JOB_STAGES = ("train_sp", "loi", "train_allocated", "tournament")
_STAGE_FUNCTIONS = {
    "train_sp": _stage_train_sp,
    "loi": _stage_loi,
    "allocate": _stage_allocate,
    "train_allocated": _stage_train_allocated,
    "tournament": _stage_tournament,
    "statistics": _stage_statistics,
    "report": _stage_report,
}


def run_study(config: StudyConfig, run_dir: str | Path, *, executor: Executor | None = None,
              on_event: Callable[[StageEvent], None] | None = None, stop_after: str | None = None,
              reporter: Callable[[Path], Path] | None = None) -> StudyResult:
    """Run (or resume) every stage of ``config`` into ``run_dir``.

    ``reporter(run_dir) -> path`` writes the report (stage 7); the report layer
    sits above this one, so callers pass it: ``reporter=loi.report.write_report``
    (``loi run`` does). Without it the run stops before stage 7, which stays
    pending. ``stop_after`` (a stage name) ends after that stage.
    """
    if stop_after is not None and stop_after not in _STAGE_FUNCTIONS:
        raise LoiError(f"unknown stage {stop_after!r}; stages: {', '.join(_STAGE_FUNCTIONS)}")
    start = time.perf_counter()
    run_dir = Path(run_dir)
    study = StudyDir(run_dir)
    register_definitions(config.definitions)
    open_run_dir(config, run_dir)
    study.make_dirs()
    if config.definitions and not study.definitions_file.is_file():
        with atomic_write(study.definitions_file) as tmp:
            tmp.write_text(config.definitions, encoding="utf-8")
    owned = executor is None
    ctx = _Context(config, run_dir, executor or make_executor(config.executor, config.ray), on_event)
    try:
        _run_stages(ctx, run_dir, stop_after, reporter)
    finally:
        if owned and hasattr(ctx.executor, "close"):
            ctx.executor.close()  # e.g. shuts down the Ray instance it started
    return StudyResult(run_dir, study.report_file, time.perf_counter() - start, summarize(run_dir))


def _run_stages(ctx: _Context, run_dir: Path, stop_after: str | None,
                reporter: Callable[[Path], Path] | None) -> None:
    ctx.reporter = reporter
    study = StudyDir(run_dir)
    for index, (stage, _) in enumerate(STAGES, start=1):
        if stage == "report" and reporter is None:
            break
        ctx.stage, ctx.index = stage, index
        if study.stage_marker(stage).is_file():
            ctx.on_event(StageEvent(stage, index, "skip"))
        else:
            t0 = time.perf_counter()
            if stage not in _JOB_STAGES:
                ctx.on_event(StageEvent(stage, index, "start", total=1))
            with warnings.catch_warnings():
                if stage in ("loi", "statistics"):
                    # Degenerate data (e.g. constant scores after very short training) gives NaN
                    # statistics, recorded with a note; scipy's warnings about it are noise here.
                    warnings.simplefilter("ignore", RuntimeWarning)
                summary = _STAGE_FUNCTIONS[stage](ctx)
            summary["seconds"] = round(time.perf_counter() - t0, 3)
            _write_json(study.stage_marker(stage), summary)
            ctx.on_event(StageEvent(stage, index, "done"))
        if stage == stop_after:
            break


def _num(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


def summarize(run_dir: str | Path) -> dict[str, Any]:
    """The ``--json`` summary of whatever stages are finished."""
    study = StudyDir(run_dir)
    scenarios: dict[str, Any] = {}
    loi = study.read_table(Table.LOI)
    if loi is not None:
        for row in loi.itertuples(index=False):
            scenarios[row.scenario] = {"loi": _num(row.loi), "ci": [_num(row.ci_low), _num(row.ci_high)],
                                       "corrected": _num(row.corrected), "p_value": _num(row.p_value),
                                       "allocated": None}
    allocation = study.read_table(Table.ALLOCATION)
    if allocation is not None:
        for row in allocation[allocation["chosen"]].itertuples(index=False):
            scenarios.setdefault(row.scenario, {})["allocated"] = row.regime
    comparison = None
    table = study.read_table(Table.COMPARISON)
    if table is not None:
        chosen = str(allocation.loc[allocation["chosen"], "allocator"].iloc[0])
        row = table[(table["allocator"] == chosen) & (table["group"] == "all") & (table["protocol"] == "all")]
        if len(row):
            r = row.iloc[0]
            comparison = {"uniform": _num(r["uniform"]), "heuristic": _num(r["heuristic"]),
                          "effect_size": _num(r["effect_size"]), "ci": [_num(r["ci_low"]), _num(r["ci_high"])],
                          "p_value": _num(r["p_value"])}
    return {"scenarios": scenarios, "comparison": comparison}
