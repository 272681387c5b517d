"""Statistical tests and effect sizes for comparing training regimes.

Thin, validated wrappers over ``scipy.stats`` (``f_oneway``, ``pearsonr``,
``ttest_ind``, ``bootstrap``) that return small frozen result objects in the
``scipy.stats`` style: ``.statistic``, ``.pvalue``, ``.confidence_interval``.
Bad input (NaN/inf, too few observations, constant data) raises ``LoiError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.special
import scipy.stats

from loi.errors import LoiError
from loi.metrics.result import ConfidenceInterval

ALTERNATIVES = ("greater", "less", "two-sided")


@dataclass(frozen=True)
class AnovaResult:
    """One-way ANOVA: F statistic, its p-value and degrees of freedom."""

    statistic: float
    pvalue: float
    df_between: int
    df_within: int


@dataclass(frozen=True)
class CorrelationResult:
    """Pearson correlation with a Fisher-z confidence interval."""

    statistic: float
    pvalue: float
    confidence_interval: ConfidenceInterval
    n: int


@dataclass(frozen=True)
class TTestResult:
    """Two-sample t-test of mean(a) - mean(b); the interval is for that
    difference, from the t distribution (one-sided alternatives give a
    one-sided interval, as in scipy)."""

    statistic: float
    pvalue: float
    df: float
    alternative: str
    equal_var: bool
    confidence_interval: ConfidenceInterval


@dataclass(frozen=True)
class EffectResult:
    """A point estimate with a bootstrap confidence interval."""

    statistic: float
    confidence_interval: ConfidenceInterval
    method: str
    n_resamples: int


def _sample(values: Sequence[float] | np.ndarray, name: str, minimum: int = 2) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise LoiError(f"{name} must be one-dimensional, got shape {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        raise LoiError(f"{name} has {int(bad.sum())} NaN/inf value(s)")
    if array.size < minimum:
        raise LoiError(f"{name} needs at least {minimum} observations, got {array.size}")
    return array


def _alternative(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise LoiError(f"unknown alternative {alternative!r}; expected one of {', '.join(ALTERNATIVES)}")
    return alternative


def _confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise LoiError(f"confidence must be in (0, 1), got {confidence}")
    return float(confidence)


def one_way_anova(*groups: Sequence[float] | np.ndarray) -> AnovaResult:
    """One-way ANOVA across ``groups`` (e.g. SP5 / PP3 / PP5 scores of a scenario)."""
    if len(groups) < 2:
        raise LoiError(f"ANOVA needs at least 2 groups, got {len(groups)}")
    samples = [_sample(g, f"group {i}") for i, g in enumerate(groups)]
    if all(np.ptp(s) == 0 for s in samples):
        raise LoiError("ANOVA is undefined when every group is constant")
    result = scipy.stats.f_oneway(*samples)
    n = sum(s.size for s in samples)
    return AnovaResult(float(result.statistic), float(result.pvalue), len(samples) - 1, n - len(samples))


def pearson(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray,
            *, confidence: float = 0.95, alternative: str = "two-sided") -> CorrelationResult:
    """Pearson r between ``x`` and ``y`` (e.g. LoI and population-play benefit)."""
    x, y = _sample(x, "x", 3), _sample(y, "y", 3)
    if x.size != y.size:
        raise LoiError(f"x and y must have the same length, got {x.size} and {y.size}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        raise LoiError("correlation is undefined for constant input")
    result = scipy.stats.pearsonr(x, y, alternative=_alternative(alternative))
    ci = result.confidence_interval(confidence_level=_confidence(confidence))
    return CorrelationResult(float(result.statistic), float(result.pvalue),
                             ConfidenceInterval(float(ci.low), float(ci.high)), int(x.size))


def _t_test(a, b, equal_var: bool, alternative: str, confidence: float) -> TTestResult:
    a, b = _sample(a, "a"), _sample(b, "b")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        raise LoiError("t-test is undefined when both samples are constant")
    result = scipy.stats.ttest_ind(a, b, equal_var=equal_var, alternative=_alternative(alternative))
    ci = result.confidence_interval(confidence_level=_confidence(confidence))
    return TTestResult(float(result.statistic), float(result.pvalue), float(result.df), alternative,
                       equal_var, ConfidenceInterval(float(ci.low), float(ci.high)))


def welch_t_test(a, b, *, alternative: str = "greater", confidence: float = 0.95) -> TTestResult:
    """Welch's unequal-variance t-test; default one-sided H1: mean(a) > mean(b)."""
    return _t_test(a, b, False, alternative, confidence)


def student_t_test(a, b, *, alternative: str = "greater", confidence: float = 0.95) -> TTestResult:
    """Student's pooled-variance t-test; default one-sided H1: mean(a) > mean(b)."""
    return _t_test(a, b, True, alternative, confidence)


def _hedges_g(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    na, nb = a.shape[axis], b.shape[axis]
    df = na + nb - 2
    pooled = np.sqrt(((na - 1) * a.var(axis=axis, ddof=1) + (nb - 1) * b.var(axis=axis, ddof=1)) / df)
    d = (a.mean(axis=axis) - b.mean(axis=axis)) / pooled
    # Exact small-sample correction J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)).
    j = np.exp(scipy.special.gammaln(df / 2) - scipy.special.gammaln((df - 1) / 2)) / np.sqrt(df / 2)
    return j * d


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return a.mean(axis=axis) - b.mean(axis=axis)


def _bootstrap(statistic, a, b, confidence, resamples, seed, method) -> EffectResult:
    if resamples < 1:
        raise LoiError(f"resamples must be >= 1, got {resamples}")
    methods = ("BCa", "percentile", "basic")
    if method not in methods:
        raise LoiError(f"unknown bootstrap method {method!r}; expected one of {', '.join(methods)}")
    point = float(statistic(a, b))
    with np.errstate(all="ignore"):
        result = scipy.stats.bootstrap(
            (a, b), statistic, n_resamples=int(resamples), vectorized=True, paired=False,
            confidence_level=_confidence(confidence), method=method, rng=np.random.default_rng(seed),
        )
    ci = result.confidence_interval
    return EffectResult(point, ConfidenceInterval(float(ci.low), float(ci.high)), method, int(resamples))


def hedges_g(a, b, *, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0,
             method: str = "BCa") -> EffectResult:
    """Hedges' g (standardised mean difference a - b, small-sample corrected)
    with a bootstrap confidence interval (groups resampled independently)."""
    a, b = _sample(a, "a"), _sample(b, "b")
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        raise LoiError("Hedges' g is undefined when both samples are constant")
    return _bootstrap(_hedges_g, a, b, confidence, resamples, seed, method)


def mean_difference(a, b, *, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0,
                    method: str = "BCa") -> EffectResult:
    """mean(a) - mean(b) with a bootstrap confidence interval."""
    a, b = _sample(a, "a"), _sample(b, "b")
    return _bootstrap(_mean_difference, a, b, confidence, resamples, seed, method)


@dataclass(frozen=True)
class RatioResult:
    """mean(a) / mean(b) of independent samples with Fieller's interval.
    ``confidence_interval`` is (nan, nan) when mean(b) is not significantly
    non-zero (the interval is then unbounded); ``note`` says so."""

    statistic: float
    confidence_interval: ConfidenceInterval
    df: float
    note: str = ""


def ratio_of_means(a, b, *, confidence: float = 0.95) -> RatioResult:
    """Fieller's interval for mean(a)/mean(b), a and b independent: the ratios r
    with (mean_a - r mean_b)^2 <= t^2 (var_a/n_a + r^2 var_b/n_b), t from the
    Welch-Satterthwaite degrees of freedom of mean_a - mean_b. Unlike dividing a
    difference's interval by mean(b), it carries mean(b)'s own uncertainty."""
    a, b = _sample(a, "a"), _sample(b, "b")
    confidence = _confidence(confidence)
    mean_a, mean_b = float(a.mean()), float(b.mean())
    if mean_b == 0:
        raise LoiError("a ratio of means is undefined when mean(b) is 0")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    if va + vb == 0:
        df = float(a.size + b.size - 2)
    else:
        df = float((va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)))
    t2 = float(scipy.stats.t.ppf((1 + confidence) / 2, df)) ** 2
    ratio = mean_a / mean_b
    # (mean_b^2 - t2 vb) r^2 - 2 mean_a mean_b r + (mean_a^2 - t2 va) <= 0
    qa, qb, qc = mean_b**2 - t2 * vb, -2 * mean_a * mean_b, mean_a**2 - t2 * va
    discriminant = qb**2 - 4 * qa * qc
    if qa <= 0 or discriminant < 0:
        return RatioResult(ratio, ConfidenceInterval(float("nan"), float("nan")), df,
                           "the denominator's mean is not significantly different from 0: the interval is unbounded")
    root = np.sqrt(discriminant)
    low, high = sorted(((-qb - root) / (2 * qa), (-qb + root) / (2 * qa)))
    return RatioResult(ratio, ConfidenceInterval(float(low), float(high)), df)


def _correlation_of(method: str):
    if method == "spearman":
        return lambda x, y: scipy.stats.spearmanr(x, y).statistic
    if method == "pearson":
        return lambda x, y: scipy.stats.pearsonr(x, y).statistic
    raise LoiError(f"unknown correlation method {method!r}; expected pearson or spearman")


def correlation_difference(x1, x2, y, *, method: str = "spearman", confidence: float = 0.95,
                           resamples: int = 10_000, seed: int = 0) -> EffectResult:
    """corr(x1, y) - corr(x2, y) on the same units, with a paired percentile bootstrap
    interval (units resampled together; resamples where either correlation is undefined,
    e.g. a constant resample, are left out by scipy as NaN). Answers "does predictor x1 track
    y better than x2 does" with the uncertainty of both and their dependence."""
    x1, x2, y = _sample(x1, "x1", 3), _sample(x2, "x2", 3), _sample(y, "y", 3)
    if not len(x1) == len(x2) == len(y):
        raise LoiError(f"x1, x2 and y need one value per unit each, got {len(x1)}, {len(x2)}, {len(y)}")
    if min(np.ptp(x1), np.ptp(x2), np.ptp(y)) == 0:
        raise LoiError("a correlation is undefined for a constant variable")
    if resamples < 1:
        raise LoiError(f"resamples must be >= 1, got {resamples}")
    corr = _correlation_of(method)

    def difference(a, b, c):
        return corr(a, c) - corr(b, c)

    point = float(difference(x1, x2, y))
    with np.errstate(all="ignore"):
        result = scipy.stats.bootstrap((x1, x2, y), difference, n_resamples=int(resamples), vectorized=False,
                                       paired=True, confidence_level=_confidence(confidence), method="percentile",
                                       rng=np.random.default_rng(seed))
    ci = result.confidence_interval
    return EffectResult(point, ConfidenceInterval(float(ci.low), float(ci.high)), "percentile", int(resamples))
