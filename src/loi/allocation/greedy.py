"""Greedy marginal-gain allocation over a fitted benefit-vs-metric curve, and its cross-fitted form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats

from loi.allocation.menu import validate_scores
from loi.allocation.registry import AllocationContext, register_allocator
from loi.errors import LoiError


@dataclass(frozen=True)
class BenefitCurve:
    """Per regime, a linear model of the (normalised) score on an interaction metric's score
    (e.g. the LoI): ``score = intercept[regime] + slope[regime] * loi``."""

    intercept: Mapping[str, float]
    slope: Mapping[str, float]
    n: Mapping[str, int]

    @property
    def regimes(self) -> tuple[str, ...]:
        return tuple(self.intercept)

    def predict(self, regime: str, loi: float | np.ndarray) -> float | np.ndarray:
        if regime not in self.intercept:
            raise LoiError(f"the benefit curve has no data for regime {regime!r} "
                           f"(fitted: {', '.join(self.regimes)})")
        return self.intercept[regime] + self.slope[regime] * np.asarray(loi, dtype=np.float64)


def fit_benefit_curve(loi: Sequence[float] | np.ndarray, regime: Sequence[str] | np.ndarray,
                      score: Sequence[float] | np.ndarray) -> BenefitCurve:
    """Least-squares line of score on LoI for each regime, from observations
    ``(loi[i], regime[i], score[i])`` — e.g. the SP-normalised fixed-Bob scores
    of every scenario, each tagged with its scenario's LoI. A regime observed at
    a single LoI value gets a flat line at its mean score."""
    x = np.asarray(loi, dtype=np.float64)
    y = np.asarray(score, dtype=np.float64)
    labels = np.asarray(regime).astype(str)
    if not (x.ndim == y.ndim == labels.ndim == 1) or not (x.size == y.size == labels.size):
        raise LoiError("loi, regime and score must be 1-D sequences of the same length")
    if x.size == 0:
        raise LoiError("no observations to fit a benefit curve")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise LoiError("loi and score must be finite")
    intercept, slope, count = {}, {}, {}
    for name in sorted(set(labels)):
        mask = labels == name
        if np.ptp(x[mask]) == 0:
            intercept[name], slope[name] = float(y[mask].mean()), 0.0
        else:
            fit = scipy.stats.linregress(x[mask], y[mask])
            intercept[name], slope[name] = float(fit.intercept), float(fit.slope)
        count[name] = int(mask.sum())
    return BenefitCurve(intercept, slope, count)


def _rule(values: dict[str, float], budget: float, menu: dict[str, float],
          context: AllocationContext) -> dict[str, str]:
    names = sorted(values)
    predicted: dict[str, dict[str, float]] = {}
    for n in names:
        curve = context.curve_for(n)
        if curve is None:
            raise LoiError(f"greedy has no benefit curve for scenario {n!r}")
        predicted[n] = {r: float(curve.predict(r, values[n])) for r in menu}
    cheapest = min(menu.values())
    start = [r for r, c in menu.items() if c == cheapest]
    allocation = {n: max(start, key=lambda r: (predicted[n][r], r)) for n in names}
    spent = cheapest * len(names)
    while True:
        best, best_key = None, None
        for n in names:
            current = allocation[n]
            now = predicted[n][current]
            for r, cost in menu.items():
                extra = cost - menu[current]
                if r == current or extra < 0 or extra > budget - spent + 1e-9:
                    continue
                gain = predicted[n][r] - now
                if gain <= 1e-12:
                    continue
                key = (np.inf if extra == 0 else gain / extra, gain)
                if best_key is None or key > best_key:
                    best, best_key = (n, r, extra), key
        if best is None:
            return {n: allocation[n] for n in values}
        n, r, extra = best
        allocation[n] = r
        spent += extra


def _input_check(menu: dict[str, float], context: AllocationContext, budget: float | None,
                 n_scenarios: int | None) -> str | None:
    if context.curve is None:
        return "needs a fitted benefit curve (context.curve; a study fits it on evaluation.greedy_from)"
    curves = [context.curve] if hasattr(context.curve, "predict") else list(context.curve.values())
    for curve in curves:
        lacking = [r for r in menu if r not in curve.regimes]
        if lacking:
            return f"needs a benefit curve for every menu regime; it has no data for regime {lacking[0]!r}"
    return None


ALLOCATOR = register_allocator(
    "greedy", _rule, input_check=_input_check, study=True,
    summary="from every scenario on its best cheapest regime, repeatedly the switch with the largest predicted "
            "score gain per unit of extra cost that fits the budget (predictions: a fitted benefit curve)")


def greedy(score: Mapping[str, float], budget: float, menu: Mapping[str, float],
           curve: BenefitCurve, *, metric: str = "loi") -> dict[str, str]:
    """From each scenario's score on the interaction metric ``metric`` (the one ``curve`` was
    fitted on; e.g. the LoI): start every scenario on the best cheapest regime, then repeatedly apply
    the switch (to a regime at least as expensive) with the largest predicted
    score gain per unit of extra cost that still fits the budget; stop when no
    switch fits or none is predicted to help. Ties go to the scenario name."""
    return ALLOCATOR(score, budget, menu, AllocationContext(metric=metric, curve=curve))


def crossfit_curves(score: Mapping[str, float], regime_means: Mapping[tuple[str, str], float],
                    groups: Mapping[str, str], menu: Mapping[str, float], *,
                    what: str = "game") -> dict[str, BenefitCurve]:
    """Scenario -> the benefit curve fitted on the OTHER groups' ``(score, regime, mean)`` points
    only (leave one group out; ``regime_means``: (scenario, regime) -> mean normalised score).
    ``what`` words the errors (a game, or a scenario when each scenario is its own group)."""
    missing = [s for s in score if s not in groups]
    if missing:
        raise LoiError(f"scenario {missing[0]!r} has no {what}")
    every = sorted({groups[s] for s in score})
    if len(every) < 2:
        raise LoiError(f"cross-fitting needs at least 2 {what}s (each {what}'s lines come from the others)")
    points = [(s, r, float(m)) for (s, r), m in regime_means.items() if s in score]
    curves: dict[str, BenefitCurve] = {}
    for group in every:
        others = [(score[s], r, m) for s, r, m in points if groups[s] != group]
        if not others:
            raise LoiError(f"cannot cross-fit greedy for {group}: the other {what}s have no scores")
        curve = fit_benefit_curve(*(list(column) for column in zip(*others)))
        lacking = [r for r in menu if r not in curve.regimes]
        if lacking:
            raise LoiError(f"cannot cross-fit greedy for {group}: the other {what}s have no scores for {lacking[0]!r}")
        curves.update({s: curve for s in score if groups[s] == group})
    return curves


def crossfit_greedy(score: Mapping[str, float], regime_means: Mapping[tuple[str, str], float],
                    games: Mapping[str, str], budget: Mapping[str, float] | float, menu: Mapping[str, float], *,
                    metric: str = "loi") -> dict[str, str]:
    """Greedy allocation of every game with benefit lines fitted on the OTHER games only.

    ``score``: scenario -> the metric's score; ``regime_means``: (scenario, regime) -> mean
    normalised score of that regime there (every menu regime trained everywhere); ``games``:
    scenario -> game (at least two games); ``budget``: per game (a number: the same for all). Each
    game's scenarios are allocated by the greedy allocator with lines from :func:`crossfit_curves`,
    so the scores that judge an allocation never shaped it (leave one game out).
    """
    values = validate_scores(score, metric)
    curves = crossfit_curves(values, regime_means, games, menu)
    allocation: dict[str, str] = {}
    for game in sorted({games[s] for s in values}):
        own = {s: values[s] for s in sorted(values) if games[s] == game}
        game_budget = budget[game] if isinstance(budget, Mapping) else budget
        allocation.update(ALLOCATOR(own, game_budget, menu, AllocationContext(metric=metric, curve=curves)))
    return {s: allocation[s] for s in sorted(values)}
