"""Regime menus, scores and budgets: the checks every allocator (and the study config) shares.

A menu maps regime names (the study's vocabulary: ``sp``, ``pp3``, ``pp5``, ``fcp5``, ...) to
their cost in agent-trainings (a self-play run costs 1, PP-n costs n)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from loi.errors import LoiError

DEFAULT_MENU: dict[str, float] = {"sp": 1.0, "pp3": 3.0, "pp5": 5.0}
# Costs are turned into whole numbers of this many units per cost unit for the exact
# (multiple-choice knapsack) searches: sums of integers have no rounding error.
UNITS_PER_COST = 10**6
TOLERANCE = 1e-9


def validate_menu(menu: Mapping[str, float]) -> dict[str, float]:
    """Return the menu sorted by cost (ties by name); LoiError if it is empty or
    a cost is negative or not finite."""
    if not menu:
        raise LoiError("the regime menu is empty")
    clean: dict[str, float] = {}
    for name, cost in menu.items():
        try:
            value = float(cost)
        except (TypeError, ValueError):
            raise LoiError(f"regime {name!r} has a non-numeric cost {cost!r}") from None
        if not math.isfinite(value) or value < 0:
            raise LoiError(f"regime {name!r} has an invalid cost {cost!r} (must be finite and >= 0)")
        clean[str(name)] = value
    return dict(sorted(clean.items(), key=lambda item: (item[1], item[0])))


def validate_scores(score: Mapping[str, float], metric: str = "loi") -> dict[str, float]:
    """Scenario -> finite score of the interaction metric ``metric`` (the name only words the
    errors); LoiError for an empty mapping or NaN/inf."""
    if not score:
        raise LoiError(f"no scenarios to allocate (empty {metric} mapping)")
    clean = {str(k): float(v) for k, v in score.items()}
    bad = [k for k, v in clean.items() if not np.isfinite(v)]
    if bad:
        raise LoiError(f"{metric} of scenario {bad[0]!r} is not finite")
    return clean


def validate_budget(budget: float, n_scenarios: int, menu: Mapping[str, float], *, upper: bool = False,
                    scenarios: str = "scenarios") -> float:
    """LoiError unless the budget is finite and covers the cheapest regime everywhere; with
    ``upper``, also unless it is at most the costliest regime everywhere (an allocation could not
    spend more). ``scenarios`` words what the count counts (e.g. "layouts of a game")."""
    budget = float(budget)
    if not math.isfinite(budget):
        raise LoiError(f"budget must be finite, got {budget}")
    cheapest = min(menu.values()) * n_scenarios
    if budget < cheapest - TOLERANCE:
        raise LoiError(f"budget {budget:g} is smaller than the cheapest allocation ({cheapest:g}: "
                       f"the cheapest regime in all {n_scenarios} {scenarios})")
    costliest = max(menu.values()) * n_scenarios
    if upper and budget > costliest + TOLERANCE:
        raise LoiError(f"budget {budget:g} is above the costliest allocation ({costliest:g}: "
                       f"the costliest regime in all {n_scenarios} {scenarios})")
    return budget


def evenly_spaced_problem(menu: Mapping[str, float]) -> str | None:
    """Why ``menu`` is not three regimes with evenly spaced costs (None when it is): the shape
    the paper's one-sigma rule needs (cheap / middle / expensive, the middle one the mean)."""
    costs = sorted(float(c) for c in menu.values())
    if len(costs) == 3 and math.isclose(costs[1] - costs[0], costs[2] - costs[1], rel_tol=1e-9,
                                         abs_tol=TOLERANCE):
        return None
    return (f"needs a menu of three regimes with evenly spaced costs (like sp=1, pp3=3, pp5=5), "
            f"got {dict(menu)}")


def allocation_cost(allocation: Mapping[str, str], menu: Mapping[str, float]) -> float:
    """Total cost of an allocation (scenario -> regime) under ``menu``."""
    unknown = sorted({r for r in allocation.values() if r not in menu})
    if unknown:
        raise LoiError(f"regime {unknown[0]!r} is not in the menu ({', '.join(menu)})")
    return float(sum(menu[r] for r in allocation.values()))


def cost_units(menu: Mapping[str, float], budget: float) -> tuple[dict[str, int], int]:
    """The menu's costs and the budget in whole units (``UNITS_PER_COST`` per cost unit), for
    exact searches; the budget is rounded down, after the tolerance every check allows."""
    costs = {r: int(round(float(c) * UNITS_PER_COST)) for r, c in menu.items()}
    return costs, int(math.floor(float(budget) * UNITS_PER_COST + TOLERANCE * UNITS_PER_COST + 1e-6))
