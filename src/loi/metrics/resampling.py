"""Resampling drawn by numpy: whole tables for the histogram estimators, reference draws for tests.

A histogram block's table can be drawn directly, at a cost that grows with its cells, not its
episodes: under the null, given both margins, it is multivariate hypergeometric (drawn co-player
by co-player, bin by bin, with vectorised univariate hypergeometric draws); the bootstrap table of
a co-player is multinomial with its own histogram as probabilities. The compiled kernels
(``kernels.TableResampler``) draw rows instead, at a cost that grows with the episodes;
``null_tables_are_cheaper`` / ``bootstrap_tables_are_cheaper`` pick the cheaper way from a cost
model measured by ``benchmarks/histogram_resampling.py``.

``permuted_labels`` and ``half_sample_weights`` are the numpy draws against which
``tests/test_metrics_kernels.py`` checks the kNN kernels' distributions.
"""

from __future__ import annotations

import numpy as np

# Elements of one vectorised batch of tables: bounds memory, and small batches stay in cache.
CHUNK_ELEMENTS = 1 << 18


def chunk_sizes(total: int, per_item: int) -> list[int]:
    """Split ``total`` resamples into chunks of at most CHUNK_ELEMENTS elements."""
    size = max(1, CHUNK_ELEMENTS // max(per_item, 1))
    return [min(size, total - start) for start in range(0, total, size)]


# Cost model (benchmarks/histogram_resampling.py, numpy 2.4, numba 0.68, one core; table and
# statistic): numpy's hypergeometric tables ~120-320 ns per inner cell, its multinomial ones
# ~60-100 ns per cell; the kernels ~2-3.5 ns per row for a null table, ~1-3 for a bootstrap one.
def null_tables_are_cheaper(n_rows: int, n_coplayers: int, n_occupied_bins: int) -> bool:
    return 125 * (n_coplayers - 1) * (n_occupied_bins - 1) < 2 * n_rows


def bootstrap_tables_are_cheaper(n_rows: int, n_coplayers: int, n_occupied_bins: int) -> bool:
    return 60 * n_coplayers * n_occupied_bins < n_rows


def permuted_labels(rng: np.random.Generator, labels: np.ndarray, size: int) -> np.ndarray:
    """``size`` independent uniform shuffles of ``labels``, shape ``(size, n)``."""
    return rng.permuted(np.broadcast_to(labels, (size, len(labels))), axis=1)


def half_sample_weights(rng: np.random.Generator, group_start: np.ndarray, group_size: np.ndarray, size: int) -> np.ndarray:
    """0/1 weights of ``size`` half-samples, shape ``(size, n)``: ``group_size // 2`` rows (at
    least 2) of each group drawn without replacement (rows sorted by group; row ``i``'s group
    starts at row ``group_start[i]`` and has ``group_size[i]`` rows).

    Half-sampling without replacement has, for smooth statistics, the sampling variance of the
    full-sample statistic (finite-population variance sigma^2 (1/b - 1/n) = sigma^2 / n at
    b = n/2), and it never duplicates a row -- for the kNN estimator a duplicated episode
    clumps the sample and shifts it by ~0.1 nats whatever n (.notes/H7_findings.md).
    """
    n = len(group_start)
    keys = rng.random((size, n)) + (2.0 * group_start)[None, :]
    order = np.argsort(keys, axis=1)  # groups stay at their own slots, shuffled inside
    slot = np.arange(n)
    # At least 2 rows of a group (all of a group of 2): a kNN class needs 2 points to count.
    taken = (slot - group_start) < np.maximum(group_size // 2, np.minimum(group_size, 2))
    weights = np.zeros((size, n), dtype=np.int64)
    np.put_along_axis(weights, order, np.broadcast_to(taken, (size, n)).astype(np.int64), axis=1)
    return weights


def hypergeometric_tables(rng: np.random.Generator, row_sums: np.ndarray, col_sums: np.ndarray, size: int) -> np.ndarray:
    """Uniformly random tables with the given margins (the permutation distribution of the table).

    Co-player ``c`` takes ``row_sums[c]`` balls without replacement from the balls left in the
    bins; that multivariate hypergeometric draw is made bin by bin from univariate ones.
    """
    n_rows, n_cols = len(row_sums), len(col_sums)
    left = np.tile(np.asarray(col_sums, dtype=np.int64), (size, 1))
    tables = np.zeros((size, n_rows, n_cols), dtype=np.int64)
    for row in range(n_rows - 1):
        need = np.full(size, row_sums[row], dtype=np.int64)
        later = left.sum(1)
        for col in range(n_cols - 1):
            later -= left[:, col]
            drawn = rng.hypergeometric(left[:, col], later, need)
            tables[:, row, col] = drawn
            need -= drawn
            left[:, col] -= drawn
        tables[:, row, -1] = need
        left[:, -1] -= need
    tables[:, -1, :] = left
    return tables


def multinomial_tables(rng: np.random.Generator, table: np.ndarray, size: int) -> np.ndarray:
    """Bootstrap tables: each co-player's row redrawn as Multinomial(n_c, its own histogram)."""
    table = np.asarray(table, dtype=np.int64)
    row_sums = table.sum(1)
    probabilities = table / row_sums[:, None]
    return rng.multinomial(row_sums, probabilities, size=(size, len(row_sums)))
