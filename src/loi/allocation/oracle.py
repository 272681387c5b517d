"""The oracle: the allocation with the largest total measured benefit within the budget.

It knows the measured mean (SP-normalised) score of every regime in every scenario
(``context.benefits``) and maximises their sum over scenarios under the budget, exactly (a
multiple-choice knapsack, solved by dynamic programming over integer cost units). Its numbers are
in-sample: the allocation is chosen on the very scores that judge it, so it is an upper bound on
what any rule could reach on these data, not a rule one could apply before training.
"""

from __future__ import annotations

from loi.allocation.menu import cost_units
from loi.allocation.registry import AllocationContext, register_allocator
from loi.errors import LoiError

TIE = 1e-12


def _rule(values: dict[str, float], budget: float, menu: dict[str, float],
          context: AllocationContext) -> dict[str, str]:
    names = sorted(values)
    benefits = context.benefits or {}
    missing = [(n, r) for n in names for r in menu if (n, r) not in benefits]
    if missing:
        raise LoiError(f"the oracle has no measured benefit of {missing[0][1]!r} in scenario {missing[0][0]!r}")
    costs, limit = cost_units(menu, budget)
    # best[c]: (total benefit, allocation as a tuple of regimes) of the best prefix of total cost c.
    best: dict[int, tuple[float, tuple[str, ...]]] = {0: (0.0, ())}
    for name in names:
        step: dict[int, tuple[float, tuple[str, ...]]] = {}
        for spent, (value, chosen) in best.items():
            for regime, cost in costs.items():  # menu order: cheaper first, so ties keep the cheaper
                total = spent + cost
                if total > limit:
                    continue
                candidate = value + float(benefits[(name, regime)])
                if total not in step or candidate > step[total][0] + TIE:
                    step[total] = (candidate, chosen + (regime,))
        best = step
    # The largest total benefit; among (near-)ties the cheapest allocation.
    top = max(v for v, _ in best.values())
    spent = min(c for c, (v, _) in best.items() if v >= top - TIE * max(1, len(names)))
    return dict(zip(names, best[spent][1]))


def _input_check(menu: dict[str, float], context: AllocationContext, budget: float | None,
                 n_scenarios: int | None) -> str | None:
    if context.benefits is None:
        return "needs the measured benefit of every (scenario, regime) (context.benefits)"
    return None


ALLOCATOR = register_allocator(
    "oracle", _rule, input_check=_input_check, in_sample=True, uses_scores=False,
    summary="in-sample upper bound: the largest total measured benefit within the budget (exact knapsack)")
