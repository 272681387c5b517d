"""Budget allocation across scenarios from a score per scenario on an interaction metric (the
paper: LoI): the paper's one-sigma rule, proportional and greedy marginal-gain allocators, the
heuristic-vs-uniform comparison, and the comparison of metrics as predictors of the benefit.
Plain numpy/scipy; never imports JAX."""

from loi.allocation.compare import AllocationComparison, compare_allocations, normalised_scores
from loi.allocation.greedy import BenefitCurve, crossfit_greedy, fit_benefit_curve, greedy
from loi.allocation.menu import PAPER_MENU, PP3, PP5, SP5, allocation_cost, validate_menu
from loi.allocation.one_sigma import one_sigma
from loi.allocation.predictors import PredictorComparison, compare_predictors
from loi.allocation.proportional import proportional

__all__ = [
    "AllocationComparison", "BenefitCurve", "PAPER_MENU", "PP3", "PP5", "PredictorComparison", "SP5",
    "allocation_cost", "compare_allocations", "compare_predictors", "crossfit_greedy", "fit_benefit_curve",
    "greedy", "normalised_scores", "one_sigma", "proportional", "validate_menu",
]
