"""Stage 3: split each game's budget over its scenarios from their score on an interaction metric.

Every available allocator runs (the paper's one-sigma rule when the menu has
three evenly spaced costs, proportional, greedy when a previous run provides
its benefit curve) plus the uniform baseline; the configured one is marked
``chosen``. When the study trains the whole menu everywhere, the statistics
stage adds greedy fitted on this run itself, leaving one game out
(:func:`crossfit_greedy_table`). Allocators see a metric's ``score`` from the study's long metrics
table (``loi.metrics.interaction``; by default the LoI's): the null-corrected value, since the raw
plug-in estimate is mostly the estimator's bias at these sample sizes (SPEC section 2). The tables
name the metric (``metric``) and hold its ``score``; ``loi`` repeats the score for the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from loi.allocation import (AllocationContext, allocator_names, fit_benefit_curve, get_allocator, normalised_scores,
                            unnormalisable)
from loi.allocation.greedy import crossfit_greedy
from loi.errors import LoiError
from loi.pipeline.studydir import StudyDir, Table
from loi.tables.schema import REGIME, SCENARIO
from loi.tables.scores import SCORE

LOI_COLUMN = "corrected"
DEFAULT_METRIC = "loi"


def study_scores(study: StudyDir, metric: str = DEFAULT_METRIC) -> dict[str, float]:
    """scenario -> the allocating metric's score: from the study's metrics table, or, for a run
    made before that table existed, the LoI table's null-corrected LoI."""
    from loi.metrics.interaction import metric_scores

    rows = study.read_table(Table.METRICS)
    if rows is not None:
        return metric_scores(rows, metric)
    loi = study.read_table(Table.LOI)
    if loi is None or metric != DEFAULT_METRIC:
        raise LoiError(f"{study.path} has no metrics table with {metric!r} (the LoI stage has not run)")
    return loi.set_index("scenario")[LOI_COLUMN].to_dict()


def _regime_means(scores: pd.DataFrame, loi: Mapping[str, float], reference: str) -> pd.DataFrame:
    """Mean SP-normalised score per (scenario, regime), with the scenario's LoI (scenarios
    without normalised scores left out: ``loi.allocation.unnormalisable``)."""
    normalised = normalised_scores(scores[~scores[SCENARIO].isin(list(unnormalisable(scores, reference)))], reference)
    per_regime = normalised.groupby([SCENARIO, REGIME], sort=True)[SCORE].mean().reset_index()
    per_regime["loi"] = per_regime[SCENARIO].map(loi)
    return per_regime


def _fit(per_regime: pd.DataFrame):
    return fit_benefit_curve(per_regime["loi"].to_numpy(), per_regime[REGIME].to_numpy(),
                             per_regime[SCORE].to_numpy())


def benefit_curve_from_run(run_dir: str | Path, reference: str = "sp", metric: str = DEFAULT_METRIC):
    """Fit score-vs-metric lines per regime on a finished run's SP-normalised scores."""
    study = StudyDir(run_dir)
    scores = study.read_table(Table.SCORES)
    if scores is None:
        raise LoiError(f"{run_dir} is not a finished loi run (no {study.table(Table.SCORES)})")
    return _fit(_regime_means(scores, study_scores(study, metric), reference))


CROSSFIT = "greedy_crossfit"


def crossfit_greedy_table(scores: pd.DataFrame, loi: Mapping[str, float], *, games: Mapping[str, str],
                          menu: Mapping[str, float], budget: float, reference: str = "sp",
                          metric: str = DEFAULT_METRIC) -> pd.DataFrame:
    """The greedy allocator fitted on THIS run, without judging it on its own fit.

    Needs every menu regime trained everywhere (``train = "menu"``) and at
    least two games: each game's budget is allocated with the benefit curve
    fitted on the other games' scenarios only (leave one game out), so the
    scores that later judge the allocation never shaped it (``loi.allocation.greedy.crossfit_greedy``).
    ``loi``: scenario -> the score of ``metric``. Rows as :func:`allocation_table`'s, allocator
    ``greedy_crossfit``, never chosen.
    """
    per_regime = _regime_means(scores, loi, reference)
    means = {(s, r): m for s, r, m in zip(per_regime[SCENARIO], per_regime[REGIME], per_regime[SCORE])}
    values = {s: float(loi[s]) for s in sorted(set(per_regime[SCENARIO]))}
    allocation = crossfit_greedy(values, means, games, budget, menu, metric=metric)
    rows = [_row(games[s], s, metric, values[s], CROSSFIT, regime, menu, False)
            for s, regime in sorted(allocation.items(), key=lambda item: (games[item[0]], item[0]))]
    return pd.DataFrame(rows)


def _row(game: str, scenario: str, metric: str, score: float, allocator: str, regime: str,
         menu: Mapping[str, float], chosen: bool) -> dict:
    return {"game": game, "scenario": scenario, "metric": metric, "score": score, "loi": score,
            "allocator": allocator, "regime": regime, "cost": float(menu[regime]), "chosen": chosen}


def allocation_table(loi: Mapping[str, float], *, games: Mapping[str, str], menu: Mapping[str, float],
                     budget: float, uniform: str, chosen: str, greedy_from: str | None = None,
                     metric: str = DEFAULT_METRIC) -> pd.DataFrame:
    """Rows (game, scenario, metric, score, loi, allocator, regime, cost, chosen) for every
    allocator a study may choose that is available (``loi.allocation.allocator_names(study=True)``)
    and the uniform baseline, fed ``loi``: scenario -> the score of the interaction metric
    ``metric``; allocation is per game (``games``: scenario -> game), each game with ``budget``.
    The uniform baseline is ``uniform`` everywhere, at its own cost."""
    curve = None
    if greedy_from is not None:
        curve = benefit_curve_from_run(greedy_from, metric=metric)
        missing = [r for r in menu if r not in curve.regimes]
        if missing:
            raise LoiError(f"evaluation.greedy_from run has no scores for regime {missing[0]!r}")
    by_game: dict[str, dict[str, float]] = {}
    for scenario, value in loi.items():
        if scenario not in games:
            raise LoiError(f"scenario {scenario!r} has no game")
        by_game.setdefault(games[scenario], {})[scenario] = float(value)
    context = AllocationContext(metric=metric, uniform=uniform, curve=curve)
    rows = []
    for game in sorted(by_game):
        values = by_game[game]
        allocations = {"uniform": get_allocator("uniform")(values, menu[uniform] * len(values), menu, context)}
        for name in allocator_names(study=True):
            allocator = get_allocator(name)
            reason = allocator.available(menu, context, budget, len(values))
            if reason is None:
                allocations[name] = allocator(values, budget, menu, context)
            elif name == chosen:
                raise LoiError(f"allocator {chosen!r} is not available: {reason}")
        if chosen not in allocations:
            raise LoiError(f"allocator {chosen!r} is not one a study can choose "
                           f"({', '.join(allocator_names(study=True))})")
        for name in sorted(allocations):
            for scenario in sorted(allocations[name]):
                rows.append(_row(game, scenario, metric, values[scenario], name, allocations[name][scenario], menu,
                                 name == chosen))
    return pd.DataFrame(rows)
