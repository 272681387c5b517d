"""The random allocation: a seeded draw among the allocations that spend the most the budget allows.

Exactly: let C* be the largest total cost of any allocation (scenario -> menu regime) that is at
most the budget. The allocator draws one allocation uniformly at random among all allocations of
total cost exactly C* (every such allocation equally likely; the draw depends only on the seed,
the scenario names, the menu and the budget). So it spends as much as it can, like the budgeted
rules, and tells nothing but the budget; averaging many seeds gives the expected score of an
allocation that knows nothing about the scenarios.

The count of allocations by total cost comes from a dynamic programme over the scenarios on
integer cost units (``loi.allocation.menu.cost_units``), so the draw is exact for any number of
scenarios; a menu's distinct cost sums stay few for the small menus of a study.
"""

from __future__ import annotations

import numpy as np

from loi.allocation.menu import cost_units
from loi.allocation.registry import AllocationContext, register_allocator


def _rule(values: dict[str, float], budget: float, menu: dict[str, float],
          context: AllocationContext) -> dict[str, str]:
    names = sorted(values)
    costs, limit = cost_units(menu, budget)
    # ways[i][c]: the number of allocations of scenarios i.. (suffix) of total cost c within the limit.
    ways: list[dict[int, int]] = [{} for _ in range(len(names) + 1)]
    ways[len(names)][0] = 1
    for i in range(len(names) - 1, -1, -1):
        for rest, count in ways[i + 1].items():
            for cost in costs.values():
                if rest + cost <= limit:
                    ways[i][rest + cost] = ways[i].get(rest + cost, 0) + count
    target = max(ways[0])  # C*: the largest total that fits (the cheapest allocation always fits)
    rng = np.random.default_rng(int(context.seed) & 0xFFFFFFFFFFFFFFFF)  # any int seed, negative too
    allocation: dict[str, str] = {}
    for i, name in enumerate(names):
        # Each regime weighted by the number of completions that reach exactly the target total.
        regimes = list(costs)
        weights = np.array([ways[i + 1].get(target - costs[r], 0) for r in regimes], dtype=float)
        regime = regimes[int(rng.choice(len(regimes), p=weights / weights.sum()))]
        allocation[name] = regime
        target -= costs[regime]
    return allocation


ALLOCATOR = register_allocator(
    "random", _rule, uses_scores=False, stochastic=True,
    summary="seeded: uniformly random among the allocations of the largest total cost within the budget")
