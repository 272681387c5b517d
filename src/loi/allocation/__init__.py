"""Budget allocation across scenarios from their LoI: the paper's one-sigma
rule, proportional and greedy marginal-gain allocators, and the heuristic-vs-
uniform comparison. Plain numpy/scipy; never imports JAX."""

from loi.allocation.compare import AllocationComparison, compare_allocations, normalised_scores
from loi.allocation.greedy import BenefitCurve, fit_benefit_curve, greedy
from loi.allocation.menu import PAPER_MENU, PP3, PP5, SP5, allocation_cost, validate_menu
from loi.allocation.one_sigma import one_sigma
from loi.allocation.proportional import proportional

__all__ = [
    "AllocationComparison", "BenefitCurve", "PAPER_MENU", "PP3", "PP5", "SP5", "allocation_cost",
    "compare_allocations", "fit_benefit_curve", "greedy", "normalised_scores", "one_sigma",
    "proportional", "validate_menu",
]
