"""Greedy marginal-gain allocation over a fitted benefit-vs-LoI curve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats

from loi.allocation.menu import validate_budget, validate_menu, validate_scores
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


def greedy(score: Mapping[str, float], budget: float, menu: Mapping[str, float],
           curve: BenefitCurve, *, metric: str = "loi") -> dict[str, str]:
    """From each scenario's score on the interaction metric ``metric`` (the one ``curve`` was
    fitted on; e.g. the LoI): start every scenario on the best cheapest regime, then repeatedly apply
    the switch (to a regime at least as expensive) with the largest predicted
    score gain per unit of extra cost that still fits the budget; stop when no
    switch fits or none is predicted to help. Ties go to the scenario name."""
    values = validate_scores(score, metric)
    menu = validate_menu(menu)
    budget = validate_budget(budget, len(values), menu)
    for r in menu:
        curve.predict(r, 0.0)  # every menu regime needs a fitted line
    names = sorted(values)
    cheapest = min(menu.values())
    start = [r for r, c in menu.items() if c == cheapest]
    allocation = {n: max(start, key=lambda r: (curve.predict(r, values[n]), r)) for n in names}
    spent = cheapest * len(names)
    while True:
        best, best_key = None, None
        for n in names:
            current = allocation[n]
            now = float(curve.predict(current, values[n]))
            for r, cost in menu.items():
                extra = cost - menu[current]
                if r == current or extra < 0 or extra > budget - spent + 1e-9:
                    continue
                gain = float(curve.predict(r, values[n])) - now
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


def crossfit_greedy(score: Mapping[str, float], regime_means: Mapping[tuple[str, str], float],
                    games: Mapping[str, str], budget: Mapping[str, float] | float, menu: Mapping[str, float], *,
                    metric: str = "loi") -> dict[str, str]:
    """Greedy allocation of every game with benefit lines fitted on the OTHER games only.

    ``score``: scenario -> the metric's score; ``regime_means``: (scenario, regime) -> mean
    normalised score of that regime there (every menu regime trained everywhere); ``games``:
    scenario -> game (at least two games); ``budget``: per game (a number: the same for all). Each
    game's scenarios are allocated by :func:`greedy` with :func:`fit_benefit_curve` fitted on the
    other games' (score, regime, mean) points, so the scores that judge an allocation never shaped
    it (leave one game out).
    """
    values = validate_scores(score, metric)
    names = sorted(values)
    missing = [s for s in names if s not in games]
    if missing:
        raise LoiError(f"scenario {missing[0]!r} has no game")
    all_games = sorted({games[s] for s in names})
    if len(all_games) < 2:
        raise LoiError("cross-fitting needs at least 2 games (each game's lines come from the others)")
    points = [(s, r, float(m)) for (s, r), m in regime_means.items() if s in values]
    allocation: dict[str, str] = {}
    for game in all_games:
        others = [(values[s], r, m) for s, r, m in points if games[s] != game]
        if not others:
            raise LoiError(f"cannot cross-fit greedy for {game}: the other games have no scores")
        curve = fit_benefit_curve(*(list(column) for column in zip(*others)))
        lacking = [r for r in menu if r not in curve.regimes]
        if lacking:
            raise LoiError(f"cannot cross-fit greedy for {game}: the other games have no scores for {lacking[0]!r}")
        own = {s: values[s] for s in names if games[s] == game}
        game_budget = budget[game] if isinstance(budget, Mapping) else budget
        allocation.update(greedy(own, game_budget, menu, curve, metric=metric))
    return {s: allocation[s] for s in names}
