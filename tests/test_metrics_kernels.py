"""The compiled kNN kernels and the LoI at scale: same numbers as the numpy code, as before the
kernels (recorded values), as scikit-learn; the maximum, sequential p-values, workers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loi.errors import LoiError
from loi.metrics import kernels, level_of_influence, resampling
from loi.metrics.knn import digamma_table, has_near_ties, knn_mutual_information, knn_permutation_null
from loi.metrics.table import LOI_COLUMNS, loi_rows, measure_table

REFERENCE = Path(__file__).parent / "data" / "loi_fixed_seed_reference.json"


def sorted_sample(seed, n_classes=4, per_class=25, decimals=None):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    values = rng.normal(labels * 0.7, 1.0)
    if decimals is not None:
        values = np.round(values, decimals)  # exact ties
    order = np.argsort(values, kind="stable")
    return values[order], labels[order]


@pytest.mark.parametrize("seed", range(6))
def test_null_kernel_equals_numpy_null(seed):
    values, labels = sorted_sample(seed, per_class=[9, 25, 40][seed % 3])
    assert not has_near_ties(values)
    sizes = np.bincount(labels)
    psi = digamma_table(len(values))
    expected = knn_permutation_null(values, sizes, 3, psi, np.random.default_rng(seed), 50)
    shuffled = np.random.default_rng(seed).permuted(np.broadcast_to(np.arange(len(values)), (50, len(values))), axis=1)
    got = kernels.null_statistics(values, np.repeat(np.arange(len(sizes)), sizes), shuffled, len(sizes), 3, psi)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    parallel = kernels.null_statistics(values, np.repeat(np.arange(len(sizes)), sizes), shuffled, len(sizes), 3, psi,
                                       parallel=True)
    np.testing.assert_allclose(parallel, got, rtol=0, atol=1e-13)


@pytest.mark.parametrize("decimals", [None, 1, 0])
@pytest.mark.parametrize("k", [1, 3])
def test_labelled_kernel_equals_numpy_with_ties_and_left_out_points(decimals, k):
    values, labels = sorted_sample(3, n_classes=3, per_class=30, decimals=decimals)
    rng = np.random.default_rng(k)
    batch = np.broadcast_to(labels, (20, len(labels))).copy()
    for row in batch:
        rng.shuffle(row)
    keep = rng.random(batch.shape) < 0.6  # half-sample-like subsets
    psi = digamma_table(len(values))
    expected = knn_mutual_information(values, batch, keep.astype(np.int64), 3, k, psi, ties=True)
    got = kernels.labelled_statistics(values, np.where(keep, batch, -1), 3, k, psi)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)



@pytest.mark.parametrize("decimals", [None, 1, 0])
@pytest.mark.parametrize("k", [1, 3, 4])
@pytest.mark.parametrize("window", [2, 6, 60])
def test_windowed_kernels_equal_the_numpy_estimate(decimals, k, window):
    # Window 2 sends most points to the exact count, 60 almost none; rounded values tie.
    values, labels = sorted_sample(5, n_classes=4, per_class=[3, 30, 30, 12], decimals=decimals)
    rng = np.random.default_rng(k)
    batch = np.broadcast_to(labels, (20, len(labels))).copy()
    for row in batch:
        rng.shuffle(row)
    psi = digamma_table(len(values))
    table = kernels.neighbour_counts(values, window)
    # The table against a direct count of the points within reach.
    i, offset = 20, min(window, 5)
    radius = values[i + offset] - values[i]
    reach = radius + 1e-10 * (abs(values[i]) + radius)
    assert table[i, window + 1 + offset] == min(np.sum(np.abs(values - values[i]) <= reach) - 1, window + 1)
    expected = knn_mutual_information(values, batch, None, 4, k, psi, ties=True)
    got = kernels.labelled_statistics(values, batch, 4, k, psi, table=table, window=window)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    if not has_near_ties(values):
        sizes = np.bincount(labels)
        shuffled = rng.permuted(np.broadcast_to(np.arange(len(values)), (20, len(values))), axis=1)
        slot_class = np.repeat(np.arange(4), sizes)
        np.testing.assert_allclose(kernels.null_statistics(values, slot_class, shuffled, 4, k, psi, table=table,
                                                           window=window),
                                   kernels.null_statistics(values, slot_class, shuffled, 4, k, psi),
                                   rtol=0, atol=1e-12)
    keep = rng.random(batch.shape) < 0.6  # points left out: m counts only the kept ones
    np.testing.assert_allclose(
        kernels.labelled_statistics(values, np.where(keep, batch, -1), 4, k, psi, table=table, window=window),
        knn_mutual_information(values, batch, keep.astype(np.int64), 4, k, psi, ties=True), rtol=0, atol=1e-12)


def test_half_sample_labels_keep_the_rows_of_half_sample_weights():
    sizes = np.array([2, 5, 8, 3])
    coplayer = np.random.default_rng(0).permutation(np.repeat(np.arange(4), sizes))  # in value order
    by_class = np.argsort(coplayer, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    group_start, group_size = starts[coplayer[by_class]], sizes[coplayer[by_class]]
    weights = np.empty((30, len(coplayer)), dtype=np.int64)
    weights[:, by_class] = resampling.half_sample_weights(np.random.default_rng(9), group_start, group_size, 30)
    labels = np.empty((30, len(coplayer)), dtype=np.int64)
    kernels.half_sample_labels(np.random.default_rng(9).random((30, len(coplayer))), group_start, group_size,
                               by_class, coplayer, labels)
    np.testing.assert_array_equal(labels, np.where(weights > 0, coplayer, -1))
    # max(n // 2, min(n, 2)) of each co-player: 2, 2, 4, 2
    assert (np.stack([(labels == c).sum(1) for c in range(4)], 1) == [2, 2, 4, 2]).all()


def reference_cases():
    """The fixed-seed tables of tests/data/loi_fixed_seed_reference.json (recorded with the numpy
    code before the compiled kernels and the boundary-aware intervals)."""
    rng = np.random.default_rng(123)
    for shape, (blocks, cop, eps) in {"paper": (20, 9, 6), "large": (1, 9, 120), "mid": (6, 5, 30),
                                       "unequal": (1, 4, 0)}.items():
        if shape == "unequal":
            coplayer = np.repeat(np.arange(4), [7, 12, 30, 3])
            block = np.zeros(len(coplayer), int)
        else:
            block, coplayer, _ = np.indices((blocks, cop, eps)).reshape(3, -1)
        means = rng.uniform(30, 70, size=(block.max() + 1, coplayer.max() + 1))
        returns = np.clip(rng.normal(means[block, coplayer], 8.0), 0, 100)
        yield shape, returns, coplayer, block
        yield shape + "_ties", np.round(returns / 10) * 10, coplayer, block


def test_fixed_seed_results_are_unchanged():
    reference = json.loads(REFERENCE.read_text())
    checked = 0
    for name, returns, coplayer, block in reference_cases():
        for estimator in ("knn", "paper", "miller-madow"):
            for ci_method in ("auto", "centered"):
                key = f"{name}/{estimator}/{ci_method}"
                if key not in reference:
                    continue
                r = level_of_influence(returns, coplayer, block, estimator=estimator, permutations=200, bootstrap=200,
                                       seed=7, ci_method=ci_method)
                statistic, low, high, null_mean, pvalue = reference[key]
                assert (r.statistic, r.null_mean, r.pvalue) == pytest.approx((statistic, null_mean, pvalue),
                                                                            rel=0, abs=1e-12), key
                if estimator == "knn":
                    # Upper end as before; the lower end now also covers the boundary-rescaled
                    # estimates (estimators._interval), so it can only move down.
                    assert r.confidence_interval.high == pytest.approx(high, abs=1e-12), key
                    assert r.confidence_interval.low <= low + 1e-12, key
                else:
                    assert tuple(r.confidence_interval) == pytest.approx((low, high), abs=1e-12), key
                checked += 1
    assert checked == len(reference) == 40


def test_knn_equals_scikit_learn_on_tie_free_data():
    sklearn = pytest.importorskip("sklearn.feature_selection")
    for seed in range(3):
        values, labels = sorted_sample(seed, n_classes=5, per_class=40)
        ours = level_of_influence(values, labels, permutations=0, bootstrap=0).statistic
        theirs = sklearn.mutual_info_classif(values[:, None], labels, discrete_features=False, n_neighbors=3,
                                             random_state=0)[0]
        assert ours == pytest.approx(theirs, abs=1e-9)


def test_near_the_maximum_the_interval_covers_and_the_excess_is_flagged():
    # The table: 5 equally likely co-players N(5c, 1), MI = 1.582 < ln 5, 20 blocks of
    # 5 x 11 episodes. The estimate sits ~0.036 above the truth (psi(55) - psi(11) - ln 5).
    truth = 1.5815  # by integration (benchmarks/interval_coverage.py --near-max prints 1.582)
    block, coplayer, _ = np.indices((20, 5, 11)).reshape(3, -1)
    covered = above = 0
    for replicate in range(20):
        returns = np.random.default_rng(replicate).normal(5.0 * coplayer, 1.0)
        r = level_of_influence(returns, coplayer, block, permutations=0, bootstrap=200, seed=replicate)
        assert r.loi_max == pytest.approx(np.log(5)) and r.confidence_interval.high <= r.loi_max
        covered += r.confidence_interval.low <= truth <= r.confidence_interval.high
        above += r.above_max
    assert above >= 15  # the raw estimate is mostly above ln 5 ...
    assert covered >= 17  # ... but the interval covers the MI (it covered 0-1 of 20 before)


def test_perfect_separation_is_capped_at_the_entropy():
    coplayer = np.repeat(np.arange(3), 10)
    r = level_of_influence(100.0 * coplayer + np.arange(30) * 0.01, coplayer, permutations=20, bootstrap=50)
    # At separation the Ross estimate is psi(N) - psi(N / 3) exactly, above ln 3.
    assert r.statistic == pytest.approx(float(digamma_table(30)[30] - digamma_table(30)[10]), abs=1e-12)
    assert r.loi_max == pytest.approx(np.log(3), abs=1e-15)
    assert r.above_max and r.interval_capped and tuple(r.confidence_interval)[1] == r.loi_max
    assert r.corrected_confidence_interval.high <= r.loi_max


def test_sequential_p_values_stop_early_under_the_null_only():
    rng = np.random.default_rng(0)
    coplayer = np.repeat(np.arange(4), 30)
    independent = level_of_influence(rng.normal(size=120), coplayer, permutations=2000, bootstrap=0, sequential=10)
    assert independent.permutations < 2000  # stopped at the 10th exceedance
    assert independent.pvalue == pytest.approx(10 / independent.permutations)
    dependent = level_of_influence(coplayer + rng.normal(0, 0.3, size=120), coplayer, permutations=300,
                                   bootstrap=0, sequential=10)
    assert dependent.permutations == 300 and dependent.pvalue == pytest.approx(1 / 301)
    full = level_of_influence(rng.normal(size=120), coplayer, permutations=50, bootstrap=0)
    assert full.permutations == 50
    with pytest.raises(LoiError, match="sequential must be a non-negative integer"):
        level_of_influence(rng.normal(size=120), coplayer, sequential=-1)


def test_workers_give_the_same_results_and_rows_have_one_naming_scheme():
    rng = np.random.default_rng(1)
    rows = [(s, "e", f"c{c}", ep, rng.normal(c, 1.0)) for s in ("a", "b", "c") for c in range(3) for ep in range(20)]
    table = pd.DataFrame(rows, columns=["scenario", "ego", "coplayer", "episode", "ego_return"])
    seen = []
    one = measure_table(table, permutations=30, bootstrap=30, progress=lambda done, total: seen.append((done, total)))
    seen_two = []  # this process runs the scenarios no worker has started, the worker the others
    two = measure_table(table, permutations=30, bootstrap=30, workers=2,
                        progress=lambda done, total: seen_two.append((done, total)))
    assert seen == seen_two == [(1, 3), (2, 3), (3, 3)]
    frame_one, frame_two = loi_rows(one), loi_rows(two)
    assert list(frame_one.columns) == list(LOI_COLUMNS) and list(frame_one.scenario) == ["a", "b", "c"]
    pd.testing.assert_frame_equal(frame_one, frame_two)
    low, high = one["a"].confidence_interval  # unpacks like scipy's
    assert (low, high) == (frame_one.ci_low[0], frame_one.ci_high[0])
    with pytest.raises(LoiError, match="workers must be a positive integer"):
        measure_table(table, workers=0)
