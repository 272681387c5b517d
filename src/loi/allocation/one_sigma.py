"""The paper's one-sigma allocation rule (SPEC.md section 1), on any menu of three evenly spaced costs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from loi.allocation.menu import DEFAULT_MENU, evenly_spaced_problem
from loi.allocation.registry import AllocationContext, register_allocator


def _one_group(values: dict[str, float], low: str, mid: str, high: str) -> dict[str, str]:
    """The rule on one group's scores (see :func:`one_sigma`)."""
    names = list(values)
    x = np.array([values[n] for n in names])
    mean, std = x.mean(), x.std(ddof=0)
    # A value within rounding error of a boundary counts as inside it (with two
    # scenarios both sit exactly one std from the mean).
    tol = 1e-12 * max(1.0, abs(mean) + std)
    allocation = {n: low if v < mean - std - tol else high if v > mean + std + tol else mid for n, v in zip(names, x)}

    def count(regime: str) -> int:
        return sum(r == regime for r in allocation.values())

    def middle_by_score() -> list[str]:
        return sorted((n for n in names if allocation[n] == mid), key=lambda n: (values[n], n))

    while count(high) > count(low) and middle_by_score():
        allocation[middle_by_score()[0]] = low
    while count(low) > count(high) and middle_by_score():
        allocation[middle_by_score()[-1]] = high
    return allocation


def _rule(values: dict[str, float], budget: float, menu: dict[str, float],
          context: AllocationContext) -> dict[str, str]:
    low, mid, high = menu  # validated menus are sorted by cost
    groups: dict[str, dict[str, float]] = {}
    for scenario, value in values.items():
        groups.setdefault(context.group_of(scenario), {})[scenario] = value
    allocation: dict[str, str] = {}
    for part in groups.values():
        allocation.update(_one_group(part, low, mid, high))
    return allocation


def _menu_check(menu: dict[str, float], budget: float | None, n_scenarios: int | None) -> str | None:
    problem = evenly_spaced_problem(menu)
    if problem is None and budget is not None and n_scenarios is not None:
        spend = sorted(menu.values())[1] * n_scenarios
        if spend > budget + 1e-9:
            problem = (f"spends the middle cost in every scenario ({spend:g}), above the budget {budget:g}")
    return problem


ALLOCATOR = register_allocator(
    "one_sigma", _rule, menu_check=_menu_check, study=True,
    summary="the paper's rule: score below mean - std -> cheapest regime, above mean + std -> costliest, "
            "else the middle one; counts evened out so each group spends the middle cost everywhere")


def one_sigma(score: Mapping[str, float], menu: Mapping[str, float] = DEFAULT_MENU, *,
              metric: str = "loi") -> dict[str, str]:
    """Allocate the cheapest / middle / costliest regime of ``menu`` (three evenly spaced costs;
    the paper: SP5 / PP3 / PP5 at 1 / 3 / 5) per scenario from its score on an interaction metric
    (the paper: its LoI; ``metric`` names it in errors), within the budget of the middle regime
    everywhere.

    Score < mean - std -> cheapest, score > mean + std -> costliest, else the middle regime
    (population std, ddof=0, which the paper's reference allocations require). Then, while there
    are more costliest than cheapest, the lowest-scoring middle scenario is demoted to the
    cheapest; while there are more cheapest than costliest, the highest-scoring middle scenario is
    promoted to the costliest (stopping when no middle one is left). Equal counts keep the total
    cost at exactly the middle regime everywhere. (Demotion never runs out of middle scenarios: by
    Cantelli's inequality at most half the scenarios lie above mean + std.) Exact ties are broken by
    scenario name. As the registered ``one_sigma`` allocator the rule runs within each group of the
    context (the paper: per game).
    """
    ALLOCATOR.check(menu)
    budget = sorted(float(c) for c in menu.values())[1] * len(score)
    return ALLOCATOR(score, budget, menu, AllocationContext(metric=metric))
