"""Budget allocation across scenarios from a score per scenario on an interaction metric (the
paper: LoI): the allocator registry (one_sigma, proportional, greedy, uniform, random, oracle),
the heuristic-vs-uniform comparison, the comparison of metrics as predictors of the benefit, and
the budget frontier. Regimes are named as in a study's menu (``sp``, ``pp3``, ``pp5``, ...).
Plain numpy/scipy/pandas; never imports JAX."""

# The built-in allocators register themselves on import, in this order (the registry's order).
from loi.allocation.registry import (  # isort: skip
    AllocationContext, Allocator, allocate, allocator_names, get_allocator, register_allocator)
from loi.allocation.one_sigma import one_sigma  # isort: skip
from loi.allocation.proportional import proportional  # isort: skip
from loi.allocation.greedy import (  # isort: skip
    BenefitCurve, crossfit_curves, crossfit_greedy, fit_benefit_curve, greedy)
from loi.allocation import uniform, random_allocator, oracle  # noqa: F401, E401  # isort: skip
from loi.allocation.compare import AllocationComparison, compare_allocations, normalised_scores, unnormalisable
from loi.allocation.frontier import Frontier, budget_frontier, default_budgets
from loi.allocation.menu import DEFAULT_MENU, allocation_cost, validate_budget, validate_menu
from loi.allocation.predictors import PredictorComparison, compare_predictors

__all__ = [
    "AllocationComparison", "AllocationContext", "Allocator", "BenefitCurve", "DEFAULT_MENU", "Frontier",
    "PredictorComparison", "allocate", "allocation_cost", "allocator_names", "budget_frontier", "compare_allocations",
    "compare_predictors", "crossfit_curves", "crossfit_greedy", "default_budgets", "fit_benefit_curve",
    "get_allocator", "greedy", "normalised_scores", "unnormalisable", "one_sigma", "proportional", "register_allocator",
    "validate_budget", "validate_menu",
]
