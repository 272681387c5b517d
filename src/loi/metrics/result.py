"""Result objects returned by the LoI estimators (small, frozen, scipy.stats-like)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ConfidenceInterval:
    """A two-sided interval; both ends are ``nan`` when it was not computed.

    Unpacks like scipy's: ``low, high = result.confidence_interval``.
    """

    low: float
    high: float

    def __iter__(self):
        return iter((self.low, self.high))


@dataclass(frozen=True)
class LoIResult:
    """Level of Influence of one scenario, with its uncertainty.

    Attributes
    ----------
    statistic:
        The LoI estimate in nats: the per-block estimates averaged over blocks with equal weights.
    confidence_interval:
        Bootstrap interval of the LoI, built as ``ci_method`` says, capped at ``loi_max``
        (``interval_capped`` says when that cut it). For ``knn`` it is built from the estimates
        rescaled by H / M (``estimators.knn_boundary_scale``), which removes the estimator's
        finite-sample excess at the maximum, so near the maximum it can lie below ``statistic``.
        When the episode-bootstrap interval of ``knn`` reaches ``loi_max``, its lower end is at most
        Fano's bound (``estimators.fano_lower_bound``): the half-samples of a separated sample
        are separated too and would give an interval of zero width.
        ``nan`` ends when ``bootstrap=0``.
    null_mean:
        Mean of the permutation null (co-player labels shuffled within each block): what the
        estimator reports when the return does not depend on the co-player at all, i.e. its bias
        at this sample size. ``nan`` when ``permutations=0``.
    corrected:
        ``statistic - null_mean``: the null-corrected LoI (about 0 for independent data).
    corrected_confidence_interval:
        ``confidence_interval`` shifted by ``-null_mean`` (and capped at ``loi_max``). The null mean is treated as a fixed
        offset; its Monte-Carlo error (null sd / sqrt(permutations)) is not included. The
        corrected value exceeds ``statistic`` when the null mean is negative (``knn`` and
        ``miller-madow`` are bias-corrected, so their null mean is about 0, either sign).
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
    loi_max:
        The largest value the LoI can take, averaged over blocks: the entropy of the co-player
        distribution (ln C for C equally likely co-players); for ``paper`` with unequal episode
        counts, its statistic's own maximum mean_c log(N / n_c). An estimate above it
        (``above_max``) is the estimator's finite-sample bias, not information.
    permutations:
        Null draws made (fewer than asked when a sequential p-value stopped early).
    interval_capped:
        Whether the interval's upper end was cut at ``loi_max``.
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
    loi_max: float = float("nan")
    permutations: int = 0
    interval_capped: bool = False

    @property
    def above_max(self) -> bool:
        """Whether the estimate exceeds ``loi_max`` (the entropy of the co-player distribution)."""
        return bool(self.statistic > self.loi_max)


@dataclass(frozen=True)
class MetricResult:
    """One interaction metric of one scenario (``loi.metrics.interaction``), LoI-like.

    Attributes
    ----------
    metric:
        The output's name (``loi``, ``eta2``, ``icc``, ``xp_gap``, ``xp_gap_relative``, ...).
    statistic:
        The estimate.
    confidence_interval:
        Its interval (``method`` says how it was built); ``nan`` ends when not computed.
    null_mean:
        Mean of the permutation null where the metric has one (what it reports when the
        co-player does not matter: its bias at this sample size), else ``nan``.
    pvalue:
        p-value of the metric's test (``method`` names it), ``nan`` without one.
    n_episodes, n_blocks:
        Rows used and independent blocks (ego x co-player seed x regime, or egos).
    method:
        How the interval and the p-value were made, in words (e.g. ``"F-test; F interval"``).
    note:
        Why a value is missing or what limits it, else ``""``.
    corrected_interval:
        The null-corrected value's interval where the metric builds its own (else derived).
    """

    metric: str
    statistic: float
    confidence_interval: ConfidenceInterval
    null_mean: float = float("nan")
    pvalue: float = float("nan")
    n_episodes: int = 0
    n_blocks: int = 0
    method: str = ""
    note: str = ""
    corrected_interval: ConfidenceInterval | None = field(default=None, repr=False)

    @property
    def corrected(self) -> float:
        """``statistic - null_mean`` where there is a null, else the statistic."""
        return self.statistic - self.null_mean if np.isfinite(self.null_mean) else self.statistic

    @property
    def corrected_confidence_interval(self) -> ConfidenceInterval:
        """The interval shifted by the null mean (the null mean taken as a fixed offset), or the
        metric's own (``corrected_interval``: LoI's is capped at its maximum)."""
        if self.corrected_interval is not None:
            return self.corrected_interval
        if not np.isfinite(self.null_mean):
            return self.confidence_interval
        low, high = self.confidence_interval
        return ConfidenceInterval(low - self.null_mean, high - self.null_mean)

    @property
    def score(self) -> float:
        """What allocators and the predictor comparison read: the null-corrected value."""
        return self.corrected
