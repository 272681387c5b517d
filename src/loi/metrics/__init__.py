"""LoI estimators, the interaction-metric family and their statistics (numpy/scipy/pandas only; no JAX
in this layer)."""

from loi.metrics.estimators import CI_METHODS, DEFAULT_ESTIMATOR, ESTIMATORS, level_of_influence, loi_point_estimate
from loi.metrics.result import ConfidenceInterval, LoIResult, MetricResult

# Last: the metric family builds on the estimators above.
from loi.metrics.interaction import METRIC_COLUMNS, get_metric, measure_metrics, metric_names  # noqa: E402

__all__ = [
    "CI_METHODS",
    "DEFAULT_ESTIMATOR",
    "ESTIMATORS",
    "ConfidenceInterval",
    "LoIResult",
    "METRIC_COLUMNS",
    "MetricResult",
    "get_metric",
    "level_of_influence",
    "loi_point_estimate",
    "measure_metrics",
    "metric_names",
]
