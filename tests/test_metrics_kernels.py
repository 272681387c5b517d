"""The compiled kNN kernels and the LoI at scale: same numbers as the numpy code, as before the
kernels (recorded values), as scikit-learn; the maximum, sequential p-values, workers."""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ReferenceDraws
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats

from loi.errors import LoiError
from loi.metrics import kernels, level_of_influence, resampling
from loi.metrics.knn import digamma_table, has_near_ties, knn_mutual_information
from loi.metrics.table import LOI_COLUMNS, auto_workers, loi_rows, measure_table

REFERENCE = Path(__file__).parent / "data" / "loi_fixed_seed_reference.json"


def sorted_sample(seed, n_classes=4, per_class=25, decimals=None):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    values = rng.normal(labels * 0.7, 1.0)
    if decimals is not None:
        values = np.round(values, decimals)  # exact ties
    order = np.argsort(values, kind="stable")
    return values[order], labels[order]


def grouped(labels, n_classes):
    """``members``/``class_start`` of labels in value order (as estimators._KnnBlock builds them)."""
    sizes = np.bincount(labels, minlength=n_classes)
    return np.argsort(labels, kind="stable"), np.concatenate([[0], np.cumsum(sizes)])


@pytest.mark.parametrize("decimals", [None, 1, 0])
@pytest.mark.parametrize("k", [1, 3, 4])
@pytest.mark.parametrize("per_class", [[30, 30, 30], [2, 3, 4, 40], [5, 60]])
def test_labelled_kernel_equals_numpy_with_ties_and_left_out_points(decimals, k, per_class):
    # Classes of 2-4 reach k_eff < 3 and the sentinels; rounded values tie (the exact path).
    values, labels = sorted_sample(3, n_classes=len(per_class), per_class=per_class, decimals=decimals)
    n_classes = len(per_class)
    rng = np.random.default_rng(k)
    batch = np.broadcast_to(labels, (20, len(labels))).copy()
    for row in batch:
        rng.shuffle(row)
    psi = digamma_table(len(values))
    index = kernels.SortedValues(values)
    everyone = knn_mutual_information(values, batch, None, n_classes, k, psi, ties=True)
    np.testing.assert_allclose(kernels.labelled_statistics(index, batch, n_classes, k, psi), everyone, rtol=0, atol=1e-12)
    keep = rng.random(batch.shape) < 0.6  # half-sample-like subsets: m counts the kept points only
    expected = knn_mutual_information(values, batch, keep.astype(np.int64), n_classes, k, psi, ties=True)
    got = kernels.labelled_statistics(index, np.where(keep, batch, -1), n_classes, k, psi)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_near_ties_take_the_exact_path_point_by_point():
    # Tie-free values with one crowded cluster of near-ties: only its points leave the fast path.
    values, labels = sorted_sample(8, n_classes=3, per_class=40)
    values = np.sort(np.concatenate([values, values[60] + np.array([1e-13, 2e-13, 0.0])]))
    labels = np.random.default_rng(0).integers(0, 3, len(values))
    assert has_near_ties(values)
    psi = digamma_table(len(values))
    expected = knn_mutual_information(values, labels[None], None, 3, 3, psi, ties=True)
    got = kernels.labelled_statistics(kernels.SortedValues(values), labels[None], 3, 3, psi)
    assert got == pytest.approx(expected, abs=1e-12)


def kernel_draws_through_numpy(values, labels, n_classes, seed, size):
    """The null and half-sample kernels' statistics of ``size`` draws, checked against
    ``knn_mutual_information`` on the very labellings they drew (``null_labels``,
    ``half_sample_labels``); returns them with those labellings."""
    index, psi = kernels.SortedValues(values), digamma_table(len(values))
    slot_class = np.sort(labels)
    members, class_start = grouped(labels, n_classes)
    null = kernels.null_statistics(index, slot_class, n_classes, 3, psi, seed=seed, size=size)
    half = kernels.half_sample_statistics(index, members, class_start, 3, psi, seed=seed, size=size)
    null_labels = np.stack([kernels.null_labels(slot_class, seed, r) for r in range(size)])
    half_labels = np.stack([kernels.half_sample_labels(members, class_start, seed, r) for r in range(size)])
    np.testing.assert_allclose(null, knn_mutual_information(values, null_labels, None, n_classes, 3, psi), atol=1e-12)
    weights = (half_labels >= 0).astype(np.int64)
    np.testing.assert_allclose(half, knn_mutual_information(values, np.maximum(half_labels, 0), weights, n_classes, 3,
                                                            psi), atol=1e-12)
    return null, half, null_labels, half_labels


def test_crowded_buckets_are_searched_past_the_first_step():
    # Tie-free values, a third of them in two dense runs: their buckets of the search index hold
    # many positions each, so the first search step is not the answer there (flag 2) and the
    # kernels search on.
    rng = np.random.default_rng(5)
    values = np.sort(np.concatenate([rng.normal(0.0, 10.0, 120), 3.0 + 1e-5 * np.arange(30),
                                     -4.0 + 1e-5 * np.arange(30)]))
    assert not has_near_ties(values)
    entries = kernels.SortedValues(values).index[1]
    assert ((entries >> kernels._CROWDED) & 1).sum() >= 2  # crowded buckets, marked
    kernel_draws_through_numpy(values, rng.integers(0, 3, len(values)), 3, seed=2, size=30)


@pytest.mark.parametrize("per_class", [[9, 25, 40], [2, 2, 2, 7], [6] * 9])
def test_null_and_half_sample_kernels_evaluate_their_own_draws(per_class):
    values, labels = sorted_sample(4, n_classes=len(per_class), per_class=per_class, decimals=1)
    n_classes, psi = len(per_class), digamma_table(len(values))
    # The same labellings through the numpy estimator.
    null, half, null_labels, half_labels = kernel_draws_through_numpy(values, labels, n_classes, seed=11, size=40)
    index = kernels.SortedValues(values)
    slot_class = np.repeat(np.arange(n_classes), per_class)
    members, class_start = grouped(labels, n_classes)
    # Class sizes: kept by a relabelling; max(n // 2, min(n, 2)) of each class in a half-sample,
    # and only the class's own episodes.
    assert (np.stack([(null_labels == c).sum(1) for c in range(n_classes)], 1) == per_class).all()
    take = [max(size // 2, min(size, 2)) for size in per_class]
    assert (np.stack([(half_labels == c).sum(1) for c in range(n_classes)], 1) == take).all()
    assert ((half_labels == labels) | (half_labels < 0)).all()
    # A draw depends on (seed, resample) only: not on the batch it is drawn in, nor on threads.
    np.testing.assert_array_equal(kernels.null_statistics(index, slot_class, n_classes, 3, psi, 11, 15, offset=25),
                                  null[25:])
    np.testing.assert_array_equal(kernels.null_statistics(index, slot_class, n_classes, 3, psi, 11, 40, parallel=True),
                                  null)
    np.testing.assert_array_equal(kernels.half_sample_statistics(index, members, class_start, 3, psi, 11, 40,
                                                                 parallel=True), half)
    assert not np.array_equal(kernels.null_statistics(index, slot_class, n_classes, 3, psi, 12, 40), null)


def test_relabellings_are_uniform():
    # Every assignment of the labels [0, 0, 1, 2] to 4 positions (12 of them) equally often.
    slot_class = np.array([0, 0, 1, 2])
    draws = 12_000
    seen = collections.Counter(tuple(kernels.null_labels(slot_class, 5, r)) for r in range(draws))
    assert len(seen) == 12
    assert stats.chisquare(list(seen.values())).pvalue > 1e-4
    # And on a larger vector: each position holds class c with probability size_c / n.
    slot_class = np.repeat(np.arange(3), [5, 20, 75])
    counts = np.zeros((100, 3))
    for r in range(3000):
        counts[np.arange(100), kernels.null_labels(slot_class, 6, r)] += 1
    expected = 3000 * np.array([5, 20, 75]) / 100
    assert stats.chisquare(counts.ravel(), np.tile(expected, 100)).pvalue > 1e-4


def reference_relabelling(slot_class, seed, resample):
    """Fisher-Yates drawn one step at a time, as the kernels' docstring specifies. Also returns
    whether a word was rejected (a step took two)."""
    draws = ReferenceDraws(seed, resample)
    return draws.shuffled(slot_class), draws.rejected


def test_relabellings_are_the_specified_fisher_yates_draws():
    # Small vectors (every edge), and 10^5 labels, where a step near a rejection happens about once
    # per shuffle: the kernels precompute the swaps up to the first and draw one by one from there
    # (resamples 1 and 2 reject a word, so the precomputed swaps past it would be wrong).
    rejections = []
    for n, resamples in ((1, 3), (2, 20), (7, 50), (100_000, 3)):
        slot_class = np.repeat(np.arange(4), [n // 4, n // 4, n // 4, n - 3 * (n // 4)])
        for resample in range(resamples):
            expected, rejected = reference_relabelling(slot_class.tolist(), 9, resample)
            np.testing.assert_array_equal(kernels.null_labels(slot_class, 9, resample), expected)
            rejections.append(rejected)
    assert any(rejections)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False), st.floats(allow_nan=False))
@example(0.0, -0.0)
@example(-1.0, -1.0 - 1e-12)
def test_value_keys_order_as_the_values_do(a, b):
    # The search index compares keys first (bucket_index): a strictly smaller key must mean a
    # smaller value, and equal values equal keys (0.0 and -0.0 included).
    key_a, key_b = kernels.value_key(a), kernels.value_key(b)
    if key_a < key_b:
        assert a < b
    if a < b:
        assert key_a <= key_b
    if a == b:
        assert key_a == key_b


def test_half_samples_are_uniform_subsets_of_each_class():
    labels = np.array([1, 0, 0, 1, 0, 1, 0, 1, 1])  # class 0: 4 members (keep 2), class 1: 5 (keep 2)
    members, class_start = grouped(labels, 2)
    draws = 12_000
    kept = [kernels.half_sample_labels(members, class_start, 3, r) for r in range(draws)]
    for c, subsets in ((0, 6), (1, 10)):  # C(4, 2), C(5, 2)
        seen = collections.Counter(tuple(np.flatnonzero(row == c)) for row in kept)
        assert len(seen) == subsets
        assert stats.chisquare(list(seen.values())).pvalue > 1e-4


def reference_cases():
    """The fixed-seed tables of tests/data/loi_fixed_seed_reference.json, values recorded since
    the resamples are drawn inside the compiled kernels (``kernels``): the knn estimator's, and the
    histogram estimators' (``TableResampler``). The estimates are those of the numpy code before
    the kernels; the null and bootstrap draws agree in distribution with the numpy draws
    (test_kernel_draws_match_the_numpy_draws_in_distribution, tests/test_metrics_resampling.py)."""
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
                assert tuple(r.confidence_interval) == pytest.approx((low, high), abs=1e-12), key
                checked += 1
    assert checked == len(reference) == 40


@pytest.mark.parametrize("decimals", [None, 0])
def test_kernel_draws_match_the_numpy_draws_in_distribution(decimals):
    # The kernels' relabellings and half-samples against numpy's (knn_permutation_null /
    # permuted labels, resampling.half_sample_weights) through the numpy estimator: the two
    # distributions of the statistic must agree (two-sample Kolmogorov-Smirnov).
    values, labels = sorted_sample(2, n_classes=4, per_class=[10, 20, 30, 15], decimals=decimals)
    n, n_classes, draws = len(values), 4, 3000
    psi, index = digamma_table(n), kernels.SortedValues(values)
    rng = np.random.default_rng(0)
    numpy_null = knn_mutual_information(values, resampling.permuted_labels(rng, labels, draws), None, n_classes, 3, psi,
                                        ties=True)
    kernel_null = kernels.null_statistics(index, np.sort(labels), n_classes, 3, psi, seed=1, size=draws)
    assert stats.ks_2samp(numpy_null, kernel_null).pvalue > 1e-3
    members, class_start = grouped(labels, n_classes)
    group_start, group_size = class_start[labels[members]], np.diff(class_start)[labels[members]]
    weights = np.empty((draws, n), dtype=np.int64)
    weights[:, members] = resampling.half_sample_weights(rng, group_start, group_size, draws)
    numpy_half = knn_mutual_information(values, np.broadcast_to(labels, (draws, n)), weights, n_classes, 3, psi,
                                        ties=True)
    kernel_half = kernels.half_sample_statistics(index, members, class_start, 3, psi, seed=1, size=draws)
    assert stats.ks_2samp(numpy_half, kernel_half).pvalue > 1e-3
    # Not vacuous: a shift of one numpy standard error per draw is detected.
    assert stats.ks_2samp(numpy_half, kernel_half + numpy_half.std()).pvalue < 1e-6


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


@pytest.mark.parametrize("estimator", ["knn", "miller-madow"])  # the kNN and the histogram kernels
def test_workers_give_the_same_results_and_rows_have_one_naming_scheme(estimator):
    rng = np.random.default_rng(1)
    rows = [(s, "e", f"c{c}", ep, rng.normal(c, 1.0)) for s in ("a", "b", "c") for c in range(3) for ep in range(20)]
    table = pd.DataFrame(rows, columns=["scenario", "ego", "coplayer", "episode", "ego_return"])
    seen = []
    one = measure_table(table, estimator=estimator, permutations=30, bootstrap=30,
                        progress=lambda done, total: seen.append((done, total)))
    seen_two = []  # this thread runs the scenarios no worker has started, the worker the others
    two = measure_table(table, estimator=estimator, permutations=30, bootstrap=30, workers=2,
                        progress=lambda done, total: seen_two.append((done, total)))
    assert seen == seen_two == [(1, 3), (2, 3), (3, 3)]
    frame_one, frame_two = loi_rows(one), loi_rows(two)
    assert list(frame_one.columns) == list(LOI_COLUMNS) and list(frame_one.scenario) == ["a", "b", "c"]
    pd.testing.assert_frame_equal(frame_one, frame_two)
    low, high = one["a"].confidence_interval  # unpacks like scipy's
    assert (low, high) == (frame_one.ci_low[0], frame_one.ci_high[0])
    with pytest.raises(LoiError, match="workers must be a positive integer"):
        measure_table(table, workers=0)


def test_auto_workers_split_tables_worth_splitting():
    # 10^4 rows x 2000 resamples: worth two threads; 10^3 rows x 200 is not, nor one scenario.
    cores = min(os.cpu_count() or 1, 4)
    assert auto_workers(10_000, 1000, 1000, 4) == cores
    assert auto_workers(1000, 100, 100, 4) == 1
    assert auto_workers(10**6, 1000, 1000, 1) == 1
