"""The two ways of drawing a histogram block's tables -- whole tables by numpy (hypergeometric null,
multinomial bootstrap) and rows by the compiled kernels -- against the closed-form moments, an
explicit label shuffle, and each other."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from loi.metrics import resampling
from loi.metrics.histogram import count_table, paper_statistic
from loi.metrics.kernels import TableResampler

COPLAYER = np.repeat(np.arange(4), [6, 6, 5, 7])
BINS = np.array([0, 1, 1, 2, 3, 3, 0, 0, 4, 4, 4, 1, 2, 2, 2, 3, 0, 1, 1, 1, 4, 0, 3, 2])
TABLE = count_table(COPLAYER, BINS, 4, 5)
DRAWS = 20000


def explicit_label_shuffles(rng, size):
    """The definition: shuffle the co-player labels of the rows, then count."""
    tables = np.zeros((size, 4, 5), dtype=np.int64)
    for draw in range(size):
        tables[draw] = count_table(rng.permutation(COPLAYER), BINS, 4, 5)
    return tables


def kernel_null_tables(seed, size):
    resampler = TableResampler(TABLE, miller_madow=False)
    return np.stack([resampler.null_table(seed, resample) for resample in range(size)])


def kernel_bootstrap_tables(seed, size):
    resampler = TableResampler(TABLE, miller_madow=False)
    return np.stack([resampler.bootstrap_table(seed, resample) for resample in range(size)])


def test_null_tables_keep_margins_and_match_label_shuffling():
    rng = np.random.default_rng(0)
    tables = resampling.hypergeometric_tables(rng, TABLE.sum(1), TABLE.sum(0), DRAWS)
    rows = kernel_null_tables(0, DRAWS)
    explicit = explicit_label_shuffles(rng, DRAWS)
    for sample in (tables, rows, explicit):
        assert (sample.sum(2) == TABLE.sum(1)).all() and (sample.sum(1) == TABLE.sum(0)).all()
    # Closed form: E x_cb = n_c m_b / N; Var = n_c (m_b/N)(1 - m_b/N)(N - n_c)/(N - 1).
    n, m, total = TABLE.sum(1)[:, None], TABLE.sum(0)[None, :], TABLE.sum()
    mean = n * m / total
    var = n * (m / total) * (1 - m / total) * (total - n) / (total - 1)
    for sample in (tables, rows, explicit):
        assert np.allclose(sample.mean(0), mean, atol=4 * np.sqrt(var / DRAWS).max())
        assert np.allclose(sample.var(0), var, rtol=0.06)
    # The statistic has the same distribution whichever way the tables are drawn.
    assert stats.ks_2samp(paper_statistic(tables), paper_statistic(explicit)).pvalue > 0.001
    assert stats.ks_2samp(paper_statistic(rows), paper_statistic(explicit)).pvalue > 0.001


def test_bootstrap_tables_are_multinomial_both_ways():
    rng = np.random.default_rng(1)
    tables = resampling.multinomial_tables(rng, TABLE, DRAWS)
    rows = kernel_bootstrap_tables(1, DRAWS)
    n = TABLE.sum(1)[:, None]
    p = TABLE / n
    for sample in (tables, rows):
        assert (sample.sum(2) == TABLE.sum(1)).all()
        assert np.allclose(sample.mean(0), n * p, atol=0.05)
        assert np.allclose(sample.var(0), n * p * (1 - p), atol=0.05)
    assert stats.ks_2samp(paper_statistic(tables), paper_statistic(rows)).pvalue > 0.001


def test_permuted_labels_are_uniform_permutations():
    rng = np.random.default_rng(2)
    labels = np.array([0, 0, 1, 2])
    draws = resampling.permuted_labels(rng, labels, 12000)
    assert (np.sort(draws, axis=1) == labels).all()
    # Each of the 12 distinct arrangements about equally often.
    _, counts = np.unique(draws, axis=0, return_counts=True)
    assert len(counts) == 12
    assert stats.chisquare(counts).pvalue > 0.001


def test_chunks_cover_the_total():
    assert sum(resampling.chunk_sizes(1000, 3000)) == 1000
    assert max(resampling.chunk_sizes(1000, 3000)) * 3000 <= resampling.CHUNK_ELEMENTS


def test_half_sample_weights_draw_half_of_each_group_without_replacement():
    rng = np.random.default_rng(6)
    starts, sizes = np.array([0, 0, 0, 0, 0, 5, 5, 5, 5]), np.array([5, 5, 5, 5, 5, 4, 4, 4, 4])
    weights = resampling.half_sample_weights(rng, starts, sizes, 20000)
    assert set(np.unique(weights)) == {0, 1}
    assert (weights[:, :5].sum(1) == 2).all() and (weights[:, 5:].sum(1) == 2).all()
    assert weights.mean(0) == pytest.approx([0.4] * 5 + [0.5] * 4, abs=0.015)
    # Every pair of the first group equally likely: 10 pairs.
    pairs = weights[:, :5] @ (2 ** np.arange(5))
    _, counts = np.unique(pairs, return_counts=True)
    assert len(counts) == 10 and stats.chisquare(counts).pvalue > 0.001
