"""Result objects returned by the LoI estimators (small, frozen, scipy.stats-like)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ConfidenceInterval:
    """A two-sided interval; both ends are ``nan`` when it was not computed."""

    low: float
    high: float


@dataclass(frozen=True)
class LoIResult:
    """Level of Influence of one scenario, with its uncertainty.

    Attributes
    ----------
    statistic:
        The LoI estimate in nats: the per-block estimates averaged over blocks with equal weights.
    confidence_interval:
        Bootstrap interval of ``statistic``, built as ``ci_method`` says. ``nan`` ends when
        ``bootstrap=0``.
    null_mean:
        Mean of the permutation null (co-player labels shuffled within each block): what the
        estimator reports when the return does not depend on the co-player at all, i.e. its bias
        at this sample size. ``nan`` when ``permutations=0``.
    corrected:
        ``statistic - null_mean``: the null-corrected LoI (about 0 for independent data).
    corrected_confidence_interval:
        ``confidence_interval`` shifted by ``-null_mean``. The null mean is treated as a fixed
        offset; its Monte-Carlo error (null sd / sqrt(permutations)) is not included.
    pvalue:
        Permutation p-value for LoI > 0: ``(1 + #{null >= observed}) / (1 + permutations)``.
    n_episodes:
        Rows actually used (for ``paper``: returns inside ``value_range``).
    n_blocks:
        Number of independent blocks.
    estimator:
        Name of the estimator used.
    block_statistics:
        Per-block estimates, in sorted block-label order (read-only array).
    block_labels:
        The block labels, in the same order.
    ci_method:
        How the interval was built: ``"blocks"`` (whole blocks resampled, bootstrap-t), or from
        episodes resampled within co-player (with replacement for the histogram estimators,
        half-samples without replacement for ``knn``): ``"centered"`` (percentiles re-centred on
        the estimate), ``"basic"`` (reverse percentile) or ``"percentile"``.
    """

    statistic: float
    confidence_interval: ConfidenceInterval
    null_mean: float
    corrected: float
    corrected_confidence_interval: ConfidenceInterval
    pvalue: float
    n_episodes: int
    n_blocks: int
    estimator: str
    block_statistics: np.ndarray = field(repr=False)
    block_labels: tuple = field(repr=False, default=())
    ci_method: str = "centered"
