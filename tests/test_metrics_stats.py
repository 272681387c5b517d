"""loi.metrics.stats against hand-computed textbook formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from loi.errors import LoiError
from loi.metrics.stats import (
    hedges_g,
    mean_difference,
    one_way_anova,
    pearson,
    student_t_test,
    welch_t_test,
)

A = np.array([4.0, 5.0, 6.0, 9.0, 7.0])
B = np.array([1.0, 3.0, 2.0, 4.0])
C = np.array([6.0, 8.0, 7.0, 9.0, 10.0, 8.0])


def test_anova_matches_sums_of_squares():
    groups = [A, B, C]
    grand = np.concatenate(groups).mean()
    ssb = sum(len(g) * (g.mean() - grand) ** 2 for g in groups)
    ssw = sum(((g - g.mean()) ** 2).sum() for g in groups)
    dfb, dfw = 2, len(A) + len(B) + len(C) - 3
    f = (ssb / dfb) / (ssw / dfw)
    res = one_way_anova(A, B, C)
    assert res.statistic == pytest.approx(f, rel=1e-12)
    assert (res.df_between, res.df_within) == (dfb, dfw)
    assert res.pvalue == pytest.approx(sps.f.sf(f, dfb, dfw), rel=1e-10)


def test_pearson_matches_definition():
    x = np.array([1.1, 1.4, 1.2, 0.9, 1.0])
    y = np.array([3.0, 9.0, 4.0, 1.0, 2.5])
    r = np.sum((x - x.mean()) * (y - y.mean())) / math.sqrt(np.sum((x - x.mean()) ** 2) * np.sum((y - y.mean()) ** 2))
    t = r * math.sqrt(3 / (1 - r * r))
    res = pearson(x, y)
    assert res.statistic == pytest.approx(r, rel=1e-12)
    assert res.pvalue == pytest.approx(2 * sps.t.sf(abs(t), 3), rel=1e-9)
    z, se = math.atanh(r), 1 / math.sqrt(5 - 3)
    q = sps.norm.ppf(0.975)
    assert res.confidence_interval.low == pytest.approx(math.tanh(z - q * se), rel=1e-9)
    assert res.confidence_interval.high == pytest.approx(math.tanh(z + q * se), rel=1e-9)


def test_welch_matches_satterthwaite():
    va, vb, na, nb = A.var(ddof=1), B.var(ddof=1), len(A), len(B)
    se2 = va / na + vb / nb
    t = (A.mean() - B.mean()) / math.sqrt(se2)
    df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    res = welch_t_test(A, B)  # one-sided: mean(A) > mean(B)
    assert res.statistic == pytest.approx(t, rel=1e-12)
    assert res.df == pytest.approx(df, rel=1e-12)
    assert res.pvalue == pytest.approx(sps.t.sf(t, df), rel=1e-9)
    assert res.alternative == "greater" and not res.equal_var
    assert welch_t_test(B, A).pvalue == pytest.approx(1 - res.pvalue, rel=1e-9)
    assert welch_t_test(A, B, alternative="two-sided").pvalue == pytest.approx(2 * res.pvalue, rel=1e-9)


def test_student_matches_pooled_formula():
    na, nb = len(A), len(B)
    sp2 = ((na - 1) * A.var(ddof=1) + (nb - 1) * B.var(ddof=1)) / (na + nb - 2)
    t = (A.mean() - B.mean()) / math.sqrt(sp2 * (1 / na + 1 / nb))
    res = student_t_test(A, B)
    assert res.statistic == pytest.approx(t, rel=1e-12)
    assert res.df == na + nb - 2
    assert res.pvalue == pytest.approx(sps.t.sf(t, na + nb - 2), rel=1e-9)
    # two-sided interval for the difference, by hand
    half = sps.t.ppf(0.975, na + nb - 2) * math.sqrt(sp2 * (1 / na + 1 / nb))
    ci = student_t_test(A, B, alternative="two-sided").confidence_interval
    assert (ci.low, ci.high) == pytest.approx((A.mean() - B.mean() - half, A.mean() - B.mean() + half), rel=1e-9)


def test_hedges_g_value_and_interval():
    na, nb = len(A), len(C)
    sp = math.sqrt(((na - 1) * A.var(ddof=1) + (nb - 1) * C.var(ddof=1)) / (na + nb - 2))
    d = (A.mean() - C.mean()) / sp
    df = na + nb - 2
    j = math.gamma(df / 2) / (math.sqrt(df / 2) * math.gamma((df - 1) / 2))
    res = hedges_g(A, C, resamples=2000, seed=3)
    assert res.statistic == pytest.approx(j * d, rel=1e-12)
    assert j == pytest.approx(1 - 3 / (4 * df - 1), abs=2e-3)  # the usual approximation
    assert res.confidence_interval.low < res.statistic < res.confidence_interval.high
    assert hedges_g(A, C, resamples=2000, seed=3) == res  # same seed, same interval


def test_bootstrap_intervals_cover_and_shrink():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 1500), rng.normal(0.0, 1.0, 1500)
    diff = mean_difference(a, b, resamples=2000, seed=1)
    assert diff.statistic == pytest.approx(a.mean() - b.mean())
    assert diff.confidence_interval.low < 1.0 < diff.confidence_interval.high
    # width ~ 2 * 1.96 * sqrt(2/1500) = 0.143
    assert diff.confidence_interval.high - diff.confidence_interval.low == pytest.approx(0.143, rel=0.15)
    g = hedges_g(a, b, resamples=2000, seed=1)
    assert g.confidence_interval.low < 1.0 < g.confidence_interval.high
    small = hedges_g(a[:100], b[:100], resamples=2000, seed=1)
    assert (small.confidence_interval.high - small.confidence_interval.low) > 3 * (
        g.confidence_interval.high - g.confidence_interval.low)


@pytest.mark.parametrize("call, message", [
    (lambda: one_way_anova(A), "at least 2 groups"),
    (lambda: one_way_anova(A, [1.0]), "at least 2 observations"),
    (lambda: one_way_anova([1.0, 1.0], [2.0, 2.0]), "every group is constant"),
    (lambda: pearson([1, 2], [3, 4]), "at least 3"),
    (lambda: pearson([1, 2, 3], [3, 4, 5, 6]), "same length"),
    (lambda: pearson([1, 1, 1], [3, 4, 5]), "constant"),
    (lambda: welch_t_test([1, np.nan, 2], B), "1 NaN/inf"),
    (lambda: welch_t_test(A, B, alternative="bigger"), "unknown alternative"),
    (lambda: student_t_test(A, B, confidence=1.5), "confidence must be in"),
    (lambda: hedges_g([1, 1], [2, 2]), "both samples are constant"),
    (lambda: mean_difference(A, B, resamples=0), "resamples must be >= 1"),
    (lambda: mean_difference(A, B, method="magic"), "unknown bootstrap method"),
    (lambda: mean_difference(np.ones((2, 2)), B), "one-dimensional"),
])
def test_bad_input(call, message):
    with pytest.raises(LoiError, match=message):
        call()
