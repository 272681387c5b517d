"""Proportional allocation: each scenario's budget share grows with its score."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from loi.allocation.menu import DEFAULT_MENU
from loi.allocation.registry import AllocationContext, register_allocator


def _rule(values: dict[str, float], budget: float, menu: dict[str, float],
          context: AllocationContext) -> dict[str, str]:
    names = sorted(values, key=lambda n: (-values[n], n))  # tie order
    weights = np.clip(np.array([values[n] for n in names]), 0.0, None)
    shares = weights / weights.sum() if weights.sum() > 0 else np.full(len(names), 1.0 / len(names))
    target = dict(zip(names, budget * shares))
    regimes = list(menu)
    costs = np.array([menu[r] for r in regimes])
    level = {n: max(int(np.searchsorted(costs, target[n] + 1e-12, side="right")) - 1, 0) for n in names}

    def total() -> float:
        return float(sum(costs[level[n]] for n in names))

    while total() > budget + 1e-9:
        down = [n for n in names if level[n] > 0]
        worst = max(down, key=lambda n: costs[level[n]] - target[n])  # max keeps the first on ties
        level[worst] -= 1
    while True:
        left = budget - total()
        up = [n for n in names if level[n] + 1 < len(regimes)
              and costs[level[n] + 1] - costs[level[n]] <= left + 1e-9 and target[n] - costs[level[n]] > 1e-12]
        if not up:
            break
        level[max(up, key=lambda n: target[n] - costs[level[n]])] += 1
    return {n: regimes[level[n]] for n in values}


ALLOCATOR = register_allocator(
    "proportional", _rule, study=True,
    summary="budget shares proportional to the (clipped at 0) scores, rounded to the menu within the budget")


def proportional(score: Mapping[str, float], budget: float, menu: Mapping[str, float] = DEFAULT_MENU, *,
                 metric: str = "loi") -> dict[str, str]:
    """Give scenario i the target ``budget * s_i / sum(s)`` for its score ``s_i`` on the
    interaction metric ``metric`` (e.g. the LoI) and round it to the menu without exceeding
    ``budget``.

    Negative scores (noise around zero after null correction) count as 0; if every score is 0 the
    shares are equal. Rounding: each scenario first gets the most expensive regime not above its
    target (the cheapest if none is); while over budget, the scenario furthest above its target
    steps down; then, while money is left, the scenario furthest below its target steps up if the
    step fits (largest remainder). Ties go to the higher score, then the scenario name.
    """
    return ALLOCATOR(score, budget, menu, AllocationContext(metric=metric))
