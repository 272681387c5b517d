"""``loi``: the Level of Influence I(R; co-player), by the estimators of ``loi.metrics.estimators``.

Options: ``estimator`` (default ``loi.metrics.DEFAULT_ESTIMATOR``), ``ci_method``, ``sequential``
and the estimator's own (``k``, ``bins``, ``value_range``), as ``loi.metrics.level_of_influence``.
"""

from __future__ import annotations

from loi.metrics.estimators import DEFAULT_ESTIMATOR
from loi.metrics.interaction.registry import TABLE, InteractionMetric, register
from loi.metrics.result import LoIResult, MetricResult

NAME = "loi"


def from_loi_result(result: LoIResult) -> MetricResult:
    """A :class:`LoIResult` as the metric family's result (same numbers)."""
    return MetricResult(NAME, result.statistic, result.confidence_interval, result.null_mean, result.pvalue,
                        result.n_episodes, result.n_blocks,
                        f"{result.estimator} estimator, {result.ci_method} interval; permutation p",
                        "estimate above its maximum (finite-sample bias)" if result.above_max else "",
                        corrected_interval=result.corrected_confidence_interval)


def measure(rows, *, permutations: int = 1000, bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0,
            estimator: str = DEFAULT_ESTIMATOR, **options) -> dict[str, MetricResult]:
    from loi.metrics.table import measure_table

    # measure_table seeds each scenario by its name: the same numbers as `loi measure` without --metric.
    results = measure_table(rows, estimator=estimator, permutations=permutations, bootstrap=bootstrap,
                            confidence=confidence, seed=seed, **options)
    (result,) = results.values()
    return {NAME: from_loi_result(result)}


METRIC = register(InteractionMetric(
    name=NAME, needs=TABLE, outputs=(NAME,), measure=measure,
    description="Level of Influence: mutual information between the ego's return and the co-player's "
                "identity (nats), null-corrected by permutation",
))
