"""The paper's one-sigma allocation rule (SPEC.md section 1)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from loi.allocation.menu import PP3, PP5, SP5, validate_scores


def one_sigma(score: Mapping[str, float], *, metric: str = "loi") -> dict[str, str]:
    """Allocate SP5 / PP3 / PP5 per scenario from its score on an interaction metric (the paper:
    its LoI; ``metric`` names it in errors), within the budget of
    PP3 everywhere (costs 1 / 3 / 5).

    LoI < mean - std -> SP5, LoI > mean + std -> PP5, else PP3 (population
    std, ddof=0, which the paper's reference allocations require). Then, while
    there are more PP5 than SP5, the lowest-LoI PP3 scenario is demoted to
    SP5; while there are more SP5 than PP5, the highest-LoI PP3 scenario is
    promoted to PP5 (stopping when no PP3 is left). Equal SP5 and PP5 counts
    keep the total cost at exactly the uniform budget. (Demotion never runs
    out of PP3: by Cantelli's inequality at most half the scenarios lie above
    mean + std.) Exact LoI ties are broken by scenario name.
    """
    values = validate_scores(score, metric)
    names = list(values)
    x = np.array([values[n] for n in names])
    mean, std = x.mean(), x.std(ddof=0)
    # A value within rounding error of a boundary counts as inside it (with two
    # scenarios both sit exactly one std from the mean).
    tol = 1e-12 * max(1.0, abs(mean) + std)
    allocation = {n: SP5 if v < mean - std - tol else PP5 if v > mean + std + tol else PP3
                  for n, v in zip(names, x)}

    def count(regime: str) -> int:
        return sum(r == regime for r in allocation.values())

    def pp3_by_loi() -> list[str]:
        return sorted((n for n in names if allocation[n] == PP3), key=lambda n: (values[n], n))

    while count(PP5) > count(SP5) and pp3_by_loi():
        allocation[pp3_by_loi()[0]] = SP5
    while count(SP5) > count(PP5) and pp3_by_loi():
        allocation[pp3_by_loi()[-1]] = PP5
    return allocation
