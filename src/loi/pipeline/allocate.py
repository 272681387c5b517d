"""Stage 3: split each game's budget over its scenarios from their LoI.

Every available allocator runs (the paper's one-sigma rule when the menu has
three evenly spaced costs, proportional, greedy when a previous run provides
its benefit curve) plus the uniform baseline; the configured one is marked
``chosen``. When the study trains the whole menu everywhere, the statistics
stage adds greedy fitted on this run itself, leaving one game out
(:func:`crossfit_greedy_table`). Allocators see the null-corrected LoI: the raw plug-in estimate is
mostly the estimator's bias at these sample sizes (SPEC section 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from loi.allocation import PP3, PP5, SP5, fit_benefit_curve, greedy, normalised_scores, one_sigma, proportional
from loi.errors import LoiError
from loi.pipeline.studydir import StudyDir, Table
from loi.tables.schema import REGIME, SCENARIO
from loi.tables.scores import SCORE

LOI_COLUMN = "corrected"


def _one_sigma(loi: Mapping[str, float], menu: Mapping[str, float]) -> dict[str, str]:
    # The rule names the paper's regimes; map them onto the menu by cost rank.
    low, mid, high = sorted(menu, key=lambda r: (menu[r], r))
    rename = {SP5: low, PP3: mid, PP5: high}
    return {s: rename[r] for s, r in one_sigma(loi).items()}


def _regime_means(scores: pd.DataFrame, loi: Mapping[str, float], reference: str) -> pd.DataFrame:
    """Mean SP-normalised score per (scenario, regime), with the scenario's LoI."""
    normalised = normalised_scores(scores, reference)
    per_regime = normalised.groupby([SCENARIO, REGIME], sort=True)[SCORE].mean().reset_index()
    per_regime["loi"] = per_regime[SCENARIO].map(loi)
    return per_regime


def _fit(per_regime: pd.DataFrame):
    return fit_benefit_curve(per_regime["loi"].to_numpy(), per_regime[REGIME].to_numpy(),
                             per_regime[SCORE].to_numpy())


def benefit_curve_from_run(run_dir: str | Path, reference: str = "sp"):
    """Fit score-vs-LoI lines per regime on a finished run's SP-normalised scores."""
    study = StudyDir(run_dir)
    scores, loi = study.read_table(Table.SCORES), study.read_table(Table.LOI)
    for name, table in ((Table.SCORES, scores), (Table.LOI, loi)):
        if table is None:
            raise LoiError(f"{run_dir} is not a finished loi run (no {study.table(name)})")
    loi = loi.set_index("scenario")[LOI_COLUMN]
    return _fit(_regime_means(scores, loi, reference))


CROSSFIT = "greedy_crossfit"


def crossfit_greedy_table(scores: pd.DataFrame, loi: Mapping[str, float], *, games: Mapping[str, str],
                          menu: Mapping[str, float], budget: float, reference: str = "sp") -> pd.DataFrame:
    """The greedy allocator fitted on THIS run, without judging it on its own fit.

    Needs every menu regime trained everywhere (``train = "menu"``) and at
    least two games: each game's budget is allocated with the benefit curve
    fitted on the other games' scenarios only (leave one game out), so the
    scores that later judge the allocation never shaped it. Rows as
    :func:`allocation_table`'s, allocator ``greedy_crossfit``, never chosen.
    """
    per_regime = _regime_means(scores, loi, reference)
    per_regime["game"] = per_regime[SCENARIO].map(games)
    rows = []
    for game in sorted(set(per_regime["game"])):
        others = per_regime[per_regime["game"] != game]
        curve = _fit(others)
        missing = [r for r in menu if r not in curve.regimes]
        if missing:
            raise LoiError(f"cannot cross-fit greedy for {game}: the other games have no scores for {missing[0]!r}")
        values = {s: float(loi[s]) for s in sorted(set(per_regime.loc[per_regime["game"] == game, SCENARIO]))}
        for scenario, regime in sorted(greedy(values, budget, menu, curve).items()):
            rows.append({"game": game, "scenario": scenario, "loi": values[scenario], "allocator": CROSSFIT,
                         "regime": regime, "cost": float(menu[regime]), "chosen": False})
    return pd.DataFrame(rows)


def allocation_table(loi: Mapping[str, float], *, games: Mapping[str, str], menu: Mapping[str, float],
                     budget: float, uniform: str, chosen: str, greedy_from: str | None = None) -> pd.DataFrame:
    """Rows (game, scenario, loi, allocator, regime, cost, chosen) for every
    allocator; allocation is per game (``games``: scenario -> game), each game
    with ``budget``."""
    costs = sorted(menu.values())
    allocators = {"uniform": lambda values: {s: uniform for s in values},
                  "proportional": lambda values: proportional(values, budget, menu)}
    if len(costs) == 3 and abs((costs[1] - costs[0]) - (costs[2] - costs[1])) < 1e-9:
        allocators["one_sigma"] = lambda values: _one_sigma(values, menu)
    if greedy_from is not None:
        curve = benefit_curve_from_run(greedy_from)
        missing = [r for r in menu if r not in curve.regimes]
        if missing:
            raise LoiError(f"evaluation.greedy_from run has no scores for regime {missing[0]!r}")
        allocators["greedy"] = lambda values: greedy(values, budget, menu, curve)
    if chosen not in allocators:
        raise LoiError(f"allocator {chosen!r} is not available for this menu")
    by_game: dict[str, dict[str, float]] = {}
    for scenario, value in loi.items():
        if scenario not in games:
            raise LoiError(f"scenario {scenario!r} has no game")
        by_game.setdefault(games[scenario], {})[scenario] = float(value)
    rows = []
    for game in sorted(by_game):
        for name in sorted(allocators):
            allocation = allocators[name](by_game[game])
            for scenario in sorted(allocation):
                rows.append({"game": game, "scenario": scenario, "loi": by_game[game][scenario], "allocator": name,
                             "regime": allocation[scenario], "cost": float(menu[allocation[scenario]]),
                             "chosen": name == chosen})
    return pd.DataFrame(rows)
