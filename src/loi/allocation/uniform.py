"""The uniform allocation: one regime in every scenario (the baseline every rule is compared with)."""

from __future__ import annotations

from loi.allocation.registry import AllocationContext, register_allocator


def uniform_regime(menu: dict[str, float], budget: float, n_scenarios: int, context: AllocationContext) -> str | None:
    """The context's uniform regime, or else the costliest regime whose cost in every scenario fits
    the budget (equal costs: the last by name); None when none fits."""
    if context.uniform is not None:
        return context.uniform
    fitting = [r for r, c in menu.items() if c * n_scenarios <= budget + 1e-9]  # menu sorted by (cost, name)
    return fitting[-1] if fitting else None


def _rule(values: dict[str, float], budget: float, menu: dict[str, float],
          context: AllocationContext) -> dict[str, str]:
    regime = uniform_regime(menu, budget, len(values), context)
    return {s: regime for s in values}


def _input_check(menu: dict[str, float], context: AllocationContext, budget: float | None,
                 n_scenarios: int | None) -> str | None:
    if context.uniform is not None and context.uniform not in menu:
        return f"has uniform regime {context.uniform!r}, which is not in the menu ({', '.join(menu)})"
    if context.uniform is not None and budget is not None and n_scenarios is not None:
        spend = menu[context.uniform] * n_scenarios
        if spend > budget + 1e-9:
            return f"spends {spend:g} ({context.uniform} in every scenario), above the budget {budget:g}"
    return None


ALLOCATOR = register_allocator(
    "uniform", _rule, input_check=_input_check, uses_scores=False,
    summary="one regime everywhere: the context's uniform regime, else the costliest that fits the budget")
