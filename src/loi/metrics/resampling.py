"""Vectorised resampling for the permutation null and the bootstrap.

Two equivalent ways to draw the contingency table of a block:

* rows: shuffle the co-player labels (null) or resample episode indices within co-player
  (bootstrap) for a whole batch at once, then count -- cost grows with the number of episodes;
* tables: draw the table directly -- under the null, given both margins, it is
  multivariate hypergeometric (drawn co-player by co-player, bin by bin, with vectorised
  univariate hypergeometric draws); the bootstrap table of a co-player is multinomial with its
  own histogram as probabilities -- cost grows with co-players x occupied bins, not episodes.

``null_tables_are_cheaper`` / ``bootstrap_tables_are_cheaper`` pick one from a cost model
measured with numpy 2.4 on one core (a hypergeometric draw costs about as much as shuffling and
counting 5 rows, a binomial draw about 4).
"""

from __future__ import annotations

import numpy as np

# Elements of one vectorised batch: bounds memory, and small batches stay in cache (measured:
# 2^18 is ~25% faster than 2^20 for the kNN estimator, no worse for the histograms).
CHUNK_ELEMENTS = 1 << 18


def chunk_sizes(total: int, per_item: int) -> list[int]:
    """Split ``total`` resamples into chunks of at most CHUNK_ELEMENTS elements."""
    size = max(1, CHUNK_ELEMENTS // max(per_item, 1))
    return [min(size, total - start) for start in range(0, total, size)]


def null_tables_are_cheaper(n_rows: int, n_coplayers: int, n_occupied_bins: int) -> bool:
    # One hypergeometric draw per cell but the last row/column (~100 ns) vs ~20 ns per row.
    return 5 * (n_coplayers - 1) * (n_occupied_bins - 1) < n_rows


def shared_shuffles_are_cheaper(n_rows: int, n_blocks: int, n_coplayers: int, n_bins: int) -> bool:
    # One shuffle (~15 ns per row) shared by n_blocks blocks, plus ~4 ns per row and block to
    # apply and count it, vs one hypergeometric draw (~100 ns) per inner cell of each block.
    if n_blocks < 2:
        return False
    return n_rows * (15 / n_blocks + 4) < 100 * (n_coplayers - 1) * (n_bins - 1)


def bootstrap_tables_are_cheaper(n_rows: int, n_coplayers: int, n_occupied_bins: int) -> bool:
    # One binomial draw per cell (~60 ns) vs ~15 ns per row.
    return 4 * n_coplayers * n_occupied_bins < n_rows


def permuted_labels(rng: np.random.Generator, labels: np.ndarray, size: int) -> np.ndarray:
    """``size`` independent uniform shuffles of ``labels``, shape ``(size, n)``."""
    return rng.permuted(np.broadcast_to(labels, (size, len(labels))), axis=1)


def bootstrap_indices(rng: np.random.Generator, group_start: np.ndarray, group_size: np.ndarray, size: int) -> np.ndarray:
    """Row indices resampled with replacement within groups, shape ``(size, n)``.

    Rows must be sorted by group; row ``i`` is replaced by a uniform draw from its own group
    (``group_start[i]``, ``group_size[i]`` are its group's first row and size).
    """
    if (group_size == group_size[0]).all():  # equal groups: a scalar bound is ~3x faster
        return rng.integers(0, group_size[0], size=(size, len(group_start))) + group_start
    uniform = rng.random((size, len(group_start)))
    offset = np.minimum((uniform * group_size).astype(np.int64), group_size - 1)
    return group_start + offset


def bootstrap_weights(rng: np.random.Generator, group_start: np.ndarray, group_size: np.ndarray, size: int) -> np.ndarray:
    """Bootstrap multiplicity of every row, shape ``(size, n)``: multinomial within each group."""
    n = len(group_start)
    index = bootstrap_indices(rng, group_start, group_size, size)
    flat = (np.arange(size)[:, None] * n + index).ravel()
    return np.bincount(flat, minlength=size * n).reshape(size, n)


def half_sample_weights(rng: np.random.Generator, group_start: np.ndarray, group_size: np.ndarray, size: int) -> np.ndarray:
    """0/1 weights of ``size`` half-samples, shape ``(size, n)``: ``group_size // 2`` rows (at
    least 2) of each group drawn without replacement (rows sorted by group, as in
    ``bootstrap_indices``).

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


def _count_cells(coplayer: np.ndarray, bin_codes: np.ndarray, n_coplayers: int, n_bins: int) -> np.ndarray:
    """Tables from per-row bins of a batch (``(size, n)``), co-player of row ``i`` = ``coplayer[i]``."""
    size = bin_codes.shape[0]
    cells = n_coplayers * n_bins
    flat = (np.arange(size)[:, None] * cells + coplayer * n_bins) + bin_codes
    return np.bincount(flat.ravel(), minlength=size * cells).reshape(size, n_coplayers, n_bins)


def shuffled_row_tables(rng: np.random.Generator, coplayer: np.ndarray, bin_codes: np.ndarray, n_coplayers: int, n_bins: int, size: int) -> np.ndarray:
    """Null tables by explicit shuffling. Shuffling the bins across rows pairs bins with
    co-players exactly as shuffling the co-player labels does, and leaves the co-player part of
    the cell index fixed (one add instead of three)."""
    shuffled = rng.permuted(np.broadcast_to(bin_codes, (size, len(bin_codes))), axis=1)
    return _count_cells(coplayer, shuffled, n_coplayers, n_bins)


def shared_shuffle_tables(
    rng: np.random.Generator, coplayer: np.ndarray, bin_codes: np.ndarray, n_coplayers: int, n_bins: int, size: int,
) -> np.ndarray:
    """Null tables of ``G`` blocks with the same layout, one shuffle shared by all of them.

    ``bin_codes`` is ``(G, n)``, rows sorted by co-player as ``coplayer`` (the same for every
    block). Each draw permutes the rows of every block with the same permutation: each block
    still gets a uniformly random relabelling, and because the joint null distribution of
    independent exchangeable blocks is invariant under any fixed per-block permutation, the
    permutation test stays exact. Drawing the permutation costs ~10x more than applying it, so
    sharing it divides the dominant cost by ``G``. Returns ``(size, G, n_coplayers, n_bins)``.
    """
    blocks, n = bin_codes.shape
    cells = blocks * n_coplayers * n_bins
    dtype = np.int32 if size * cells < 2**31 else np.int64
    permutation = rng.permuted(np.broadcast_to(np.arange(n, dtype=dtype), (size, n)), axis=1)
    base = ((np.arange(blocks, dtype=dtype)[:, None] * n_coplayers + coplayer.astype(dtype)) * n_bins)
    # Slot i keeps co-player coplayer[i] and receives the bin of row perm[s, i].
    flat = np.take(bin_codes.astype(dtype), permutation, axis=1)  # (G, size, n)
    flat += base[:, None, :]
    flat += (np.arange(size, dtype=dtype) * cells)[None, :, None]
    return np.bincount(flat.ravel(), minlength=size * cells).reshape(size, blocks, n_coplayers, n_bins)


def resampled_row_tables(
    rng: np.random.Generator, coplayer: np.ndarray, bin_codes: np.ndarray,
    group_start: np.ndarray, group_size: np.ndarray, n_coplayers: int, n_bins: int, size: int,
) -> np.ndarray:
    """Bootstrap tables by explicit resampling of episodes within co-player (rows sorted by it)."""
    index = bootstrap_indices(rng, group_start, group_size, size)
    return _count_cells(coplayer, bin_codes[index], n_coplayers, n_bins)


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
