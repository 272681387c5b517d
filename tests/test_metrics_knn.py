"""The Ross (2014) kNN estimator: against a point-by-point reference, the true MI, invariances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from scipy.special import digamma

from loi.metrics import loi_point_estimate
from loi.metrics.knn import digamma_table, knn_mutual_information


def reference_knn_mi(values, labels, weights, k):
    """Ross's formula evaluated point by point on the expanded multiset (copies share an id)."""
    ids = np.repeat(np.arange(len(values)), weights)
    y, c = np.asarray(values)[ids], np.asarray(labels)[ids]
    class_size = {label: np.sum(c == label) for label in set(c.tolist())}
    terms, used = [], 0
    for i in range(len(y)):
        others = ids != ids[i]
        same = others & (c == c[i])
        if same.sum() == 0:
            continue
        k_eff = min(k, int(same.sum()))
        radius = np.sort(np.abs(y[same] - y[i]))[k_eff - 1]
        within = np.abs(y - y[i]) <= radius * (1 + 1e-9)
        m = int((within & others).sum())
        k_tilde = int((within & same).sum())
        terms.append(digamma(class_size[c[i]]) - digamma(k_tilde) + digamma(m))
        used += 1
    return digamma(used) - np.mean(terms)


def true_gaussian_mi(means, sigma):
    """I(R; Pi) for R | Pi=c ~ N(means[c], sigma^2), Pi uniform: h(mixture) - h(N(0, sigma^2))."""
    means = np.asarray(means, dtype=float)

    def density(x):
        return stats.norm.pdf(x, means, sigma).mean()

    def integrand(x):
        f = density(x)
        return -f * np.log(f) if f > 0 else 0.0

    low, high = means.min() - 12 * sigma, means.max() + 12 * sigma
    mixture_entropy, _ = integrate.quad(integrand, low, high, limit=400, points=list(means))
    return mixture_entropy - 0.5 * np.log(2 * np.pi * np.e * sigma**2)


@pytest.mark.parametrize("case", range(12))
def test_matches_pointwise_reference_with_ties_and_multiplicities(case):
    rng = np.random.default_rng(case)
    n, n_classes, k = 30, 4, 3
    # Rounded values: many exact ties, inside and across classes.
    values = np.sort(np.round(rng.normal(size=n), 1 if case % 2 else 3))
    labels = rng.integers(0, n_classes, size=n)
    labels[:n_classes] = np.arange(n_classes)
    weights = rng.multinomial(n, np.ones(n) / n) if case % 3 else np.ones(n, dtype=int)
    got = knn_mutual_information(values, labels[None], weights[None], n_classes, k, digamma_table(2 * n))[0]
    assert got == pytest.approx(reference_knn_mi(values, labels, weights, k), abs=1e-10)


@pytest.mark.parametrize("seed", range(4))
def test_tie_free_shortcut_gives_the_same_counts(seed):
    from loi.metrics.knn import has_near_ties

    rng = np.random.default_rng(seed)
    values = np.sort(rng.normal(size=50))
    assert not has_near_ties(values) and has_near_ties(np.sort(np.round(values, 1)))
    labels = np.broadcast_to(rng.permuted(np.repeat(np.arange(5), 10)), (20, 50))
    weights = np.stack([rng.multinomial(50, np.ones(50) / 50) for _ in range(20)])
    psi = digamma_table(50)
    exact = knn_mutual_information(values, labels, weights, 5, 3, psi, ties=True)
    assert knn_mutual_information(values, labels, weights, 5, 3, psi, ties=False) == pytest.approx(exact, abs=1e-12)


def test_unit_weights_equal_no_weights():
    rng = np.random.default_rng(1)
    values = np.sort(rng.normal(size=40))
    labels = rng.permuted(np.repeat(np.arange(5), 8))[None]
    psi = digamma_table(40)
    a = knn_mutual_information(values, labels, None, 5, 3, psi)
    b = knn_mutual_information(values, labels, np.ones_like(labels), 5, 3, psi)
    assert a == pytest.approx(b, abs=1e-12)


def test_bootstrap_copies_are_one_observation():
    # Every episode drawn twice: no zero distances; agrees with the point-by-point reference.
    rng = np.random.default_rng(2)
    values = np.sort(rng.normal(size=60))
    labels = rng.permuted(np.repeat(np.arange(6), 10))[None]
    twice = knn_mutual_information(values, labels, 2 * np.ones_like(labels), 6, 3, digamma_table(200))[0]
    assert np.isfinite(twice)
    assert twice == pytest.approx(reference_knn_mi(values, labels[0], 2 * np.ones(60, dtype=int), 3), abs=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_bootstrap_interval_is_not_shifted_by_duplicates(seed):
    # Naive kNN on resamples sees zero distances between copies and inflates every replicate;
    # with copies treated as one observation the interval brackets the estimate.
    from loi.metrics import level_of_influence

    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(8), 30)
    returns = rng.normal(0.5 * labels, 1.0)
    result = level_of_influence(returns, labels, estimator="knn", permutations=0, bootstrap=300, seed=seed)
    assert result.confidence_interval.low < result.statistic < result.confidence_interval.high


@pytest.mark.parametrize("estimator", ["knn", "miller-madow"])
def test_converges_to_numerically_integrated_true_mi(estimator):
    means, sigma = np.arange(8) * 0.8, 1.0
    truth = true_gaussian_mi(means, sigma)
    assert 0.3 < truth < np.log(8)

    def mean_abs_error(per_class, repeats):
        errors = []
        for seed in range(repeats):
            rng = np.random.default_rng(seed)
            labels = np.repeat(np.arange(8), per_class)
            returns = rng.normal(means[labels], sigma)
            errors.append(loi_point_estimate(returns, labels, estimator=estimator) - truth)
        return abs(np.mean(errors)), np.mean(np.abs(errors))

    small_bias, small_error = mean_abs_error(10, 20)
    large_bias, large_error = mean_abs_error(500, 4)
    assert large_error < small_error
    assert large_error < 0.03
    assert large_bias < 0.03


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.integers(0, 40), min_size=12, max_size=40),
    n_classes=st.integers(2, 4),
    scale=st.sampled_from([0.5, 2.0, 3.0, 10.0]),
    shift=st.integers(-50, 50),
    seed=st.integers(0, 2**16),
)
def test_invariances(data, n_classes, scale, shift, seed):
    rng = np.random.default_rng(seed)
    returns = np.asarray(data, dtype=float)
    labels = np.arange(len(returns)) % n_classes
    base = loi_point_estimate(returns, labels, estimator="knn")
    # Relabelling the co-players.
    names = np.array(["x", "y", "z", "w"])[rng.permutation(4)]
    assert loi_point_estimate(returns, names[labels], estimator="knn") == pytest.approx(base, abs=1e-9)
    # Row order.
    order = rng.permutation(len(returns))
    assert loi_point_estimate(returns[order], labels[order], estimator="knn") == pytest.approx(base, abs=1e-9)
    # Strictly increasing affine map.
    assert loi_point_estimate(scale * returns + shift, labels, estimator="knn") == pytest.approx(base, abs=1e-9)


@pytest.mark.parametrize(("sizes", "k"), [((6,) * 9, 3), ((7, 6, 5, 2), 3), ((3, 3, 4), 1), ((2, 2), 3)])
def test_fast_permutation_null_equals_general_estimator_on_the_same_relabellings(sizes, k):
    from loi.metrics.knn import has_near_ties, knn_permutation_null

    sizes = np.asarray(sizes)
    n, draws = sizes.sum(), 300
    values = np.sort(np.random.default_rng(0).normal(size=n))
    assert not has_near_ties(values)
    psi = digamma_table(n)
    fast = knn_permutation_null(values, sizes, k, psi, np.random.default_rng(1), draws)
    # Rebuild the relabellings from the same draws: class c gets the positions of its segment.
    rng = np.random.default_rng(1)
    slot_class = np.repeat(np.arange(len(sizes)), sizes)
    shuffled = rng.permuted(np.broadcast_to(np.arange(n), (draws, n)), axis=1)
    labels = np.empty((draws, n), dtype=np.int64)
    np.put_along_axis(labels, shuffled, np.broadcast_to(slot_class, (draws, n)), 1)
    general = knn_mutual_information(values, labels, None, len(sizes), k, psi)
    assert fast == pytest.approx(general, abs=1e-10)
    assert np.std(fast) > 0
