"""Regime menus: which training regimes an allocator may choose, and their cost."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from loi.errors import LoiError

SP5, PP3, PP5 = "SP5", "PP3", "PP5"
# The paper's menu: cost in agent-trainings (a self-play run costs 1, PP-n costs n).
PAPER_MENU: dict[str, float] = {SP5: 1.0, PP3: 3.0, PP5: 5.0}


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


def validate_budget(budget: float, n_scenarios: int, menu: Mapping[str, float]) -> float:
    """LoiError unless the budget is finite and covers the cheapest regime everywhere."""
    budget = float(budget)
    if not math.isfinite(budget):
        raise LoiError(f"budget must be finite, got {budget}")
    cheapest = min(menu.values()) * n_scenarios
    if budget < cheapest - 1e-9:
        raise LoiError(f"budget {budget:g} is smaller than the cheapest allocation ({cheapest:g}: "
                       f"the cheapest regime in all {n_scenarios} scenarios)")
    return budget


def allocation_cost(allocation: Mapping[str, str], menu: Mapping[str, float]) -> float:
    """Total cost of an allocation (scenario -> regime) under ``menu``."""
    unknown = sorted({r for r in allocation.values() if r not in menu})
    if unknown:
        raise LoiError(f"regime {unknown[0]!r} is not in the menu ({', '.join(menu)})")
    return float(sum(menu[r] for r in allocation.values()))
