"""Table samplers (hypergeometric null, multinomial bootstrap) against explicit row resampling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from loi.metrics import resampling
from loi.metrics.histogram import count_table, paper_statistic

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


def row_null_tables(rng, size):
    return resampling.shuffled_row_tables(rng, COPLAYER, BINS, 4, 5, size)


def row_bootstrap_tables(rng, size):
    sizes = np.bincount(COPLAYER)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return resampling.resampled_row_tables(rng, COPLAYER, BINS, starts[COPLAYER], sizes[COPLAYER], 4, 5, size)


def test_hypergeometric_tables_keep_margins_and_match_row_shuffling():
    rng = np.random.default_rng(0)
    tables = resampling.hypergeometric_tables(rng, TABLE.sum(1), TABLE.sum(0), DRAWS)
    rows = row_null_tables(rng, DRAWS)
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


def test_multinomial_tables_match_row_bootstrap():
    rng = np.random.default_rng(1)
    tables = resampling.multinomial_tables(rng, TABLE, DRAWS)
    rows = row_bootstrap_tables(rng, DRAWS)
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


def test_unequal_groups_bootstrap_indices_uniform_within_group():
    rng = np.random.default_rng(4)
    starts, sizes = np.array([0, 0, 2, 2, 2]), np.array([2, 2, 3, 3, 3])
    index = resampling.bootstrap_indices(rng, starts, sizes, 30000)
    assert ((index[:, :2] >= 0) & (index[:, :2] < 2)).all() and ((index[:, 2:] >= 2) & (index[:, 2:] < 5)).all()
    assert np.bincount(index[:, 2].ravel(), minlength=5)[2:] / 30000 == pytest.approx([1 / 3] * 3, abs=0.015)


def test_bootstrap_weights_stay_within_groups():
    rng = np.random.default_rng(3)
    starts = np.array([0, 0, 0, 3, 3])
    sizes = np.array([3, 3, 3, 2, 2])
    weights = resampling.bootstrap_weights(rng, starts, sizes, 5000)
    assert (weights[:, :3].sum(1) == 3).all() and (weights[:, 3:].sum(1) == 2).all()
    assert weights.mean(0) == pytest.approx(np.ones(5), abs=0.05)


def test_chunks_cover_the_total():
    assert sum(resampling.chunk_sizes(1000, 3000)) == 1000
    assert max(resampling.chunk_sizes(1000, 3000)) * 3000 <= resampling.CHUNK_ELEMENTS


def test_shared_shuffle_tables_are_null_tables_of_every_block():
    rng = np.random.default_rng(5)
    other_bins = np.array([4, 4, 3, 3, 2, 2, 1, 1, 0, 0, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 0, 1, 1])
    blocks = np.stack([BINS, other_bins])
    shared = resampling.shared_shuffle_tables(rng, COPLAYER, blocks, 4, 5, DRAWS)
    assert shared.shape == (DRAWS, 2, 4, 5)
    for index, bins in enumerate(blocks):
        table = count_table(COPLAYER, bins, 4, 5)
        sample = shared[:, index]
        assert (sample.sum(2) == table.sum(1)).all() and (sample.sum(1) == table.sum(0)).all()
        n, m, total = table.sum(1)[:, None], table.sum(0)[None, :], table.sum()
        mean = n * m / total
        var = n * (m / total) * (1 - m / total) * (total - n) / (total - 1)
        assert np.allclose(sample.mean(0), mean, atol=4 * np.sqrt(var / DRAWS).max())
        assert np.allclose(sample.var(0), var, rtol=0.06)
        independent = resampling.shuffled_row_tables(rng, COPLAYER, bins, 4, 5, DRAWS)
        assert stats.ks_2samp(paper_statistic(sample), paper_statistic(independent)).pvalue > 0.001


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
