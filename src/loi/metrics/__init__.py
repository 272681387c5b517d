"""LoI estimators and their statistics (numpy/scipy/pandas only; no JAX in this layer)."""

from loi.metrics.estimators import CI_METHODS, DEFAULT_ESTIMATOR, ESTIMATORS, level_of_influence, loi_point_estimate
from loi.metrics.result import ConfidenceInterval, LoIResult

__all__ = [
    "CI_METHODS",
    "DEFAULT_ESTIMATOR",
    "ESTIMATORS",
    "ConfidenceInterval",
    "LoIResult",
    "level_of_influence",
    "loi_point_estimate",
]
