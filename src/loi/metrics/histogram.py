"""Histogram (plug-in) mutual-information estimators, computed from co-player x bin count tables.

Everything here takes integer count tables of shape ``(..., n_coplayers, n_bins)`` so that the
observed table, permuted tables and bootstrap tables go through the same vectorised code.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy


def equal_width_bins(values: np.ndarray, bins: int, value_range: tuple[float, float]):
    """Bin codes and an inside-range mask, exactly as ``np.histogram(values, bins, value_range)``.

    Values outside ``[low, high]`` are flagged ``False`` (the paper drops them); ``high`` itself
    falls into the last bin, as in numpy.
    """
    low, high = value_range
    edges = np.linspace(low, high, bins + 1)
    inside = (values >= low) & (values <= high)
    codes = np.searchsorted(edges, values, side="right") - 1
    return np.clip(codes, 0, bins - 1), inside


def quantile_bins(values: np.ndarray, bins: int) -> np.ndarray:
    """Equal-frequency bin codes of the pooled values; tied values always share a bin.

    Depends on the values only through their ranks, so it is invariant to any strictly
    increasing transformation of the returns and needs no value range.
    """
    # The "min" rank (0-based) of each value: how many values are smaller (scipy's rankdata
    # method="min", minus 1, without importing scipy.stats into every measuring process).
    ranks = np.searchsorted(np.sort(values), values, side="left")
    return (ranks * bins) // len(values)


def count_table(coplayer: np.ndarray, bin_codes: np.ndarray, n_coplayers: int, n_bins: int) -> np.ndarray:
    """Co-player x bin contingency table of one block."""
    flat = coplayer.astype(np.int64) * n_bins + bin_codes
    return np.bincount(flat, minlength=n_coplayers * n_bins).reshape(n_coplayers, n_bins)


def _x_log_x(counts: np.ndarray) -> np.ndarray:
    """x log x of non-negative integer counts by table lookup (0 log 0 = 0); ~8x faster than xlogy."""
    top = int(counts.max(initial=0))
    table = xlogy(np.arange(top + 1), np.arange(top + 1))
    return table[counts]


def _kl_terms(tables: np.ndarray):
    """Per co-player KL(p(R|c) || p(R)) with p(R) the pooled histogram, plus the margins."""
    tables = np.asarray(tables)
    per_coplayer = tables.sum(-1)
    pooled = tables.sum(-2)
    total = per_coplayer.sum(-1, keepdims=True)
    # KL_c = [sum_b x log x - sum_b x log m_b] / n_c + log(N / n_c), with x = table cell,
    # m_b = pooled bin count (cells with x = 0 contribute 0; log m_b only matters where x > 0).
    log_pooled = np.log(np.maximum(pooled, 1))
    cross = np.einsum("...cb,...b->...c", tables, log_pooled)
    kl = (_x_log_x(tables).sum(-1) - cross) / per_coplayer + np.log(total / per_coplayer)
    return kl, per_coplayer, total[..., 0]


def paper_statistic(tables: np.ndarray) -> np.ndarray:
    """The paper's LoI of each table: mean over co-players of KL(p(R|c) || p(R)), in nats.

    p(R) is the pooled histogram of all (in-range) returns of the block, i.e. the mixture of the
    co-player histograms weighted by their episode counts -- the only reading of the protocol
    that reproduces the reference values (it matters for chicken L, where dropping returns
    above 100 makes the counts unequal: 1.438 pooled vs 1.435 with an equal-weight mixture).
    """
    kl, _, _ = _kl_terms(tables)
    return kl.mean(-1)


def miller_madow_statistic(tables: np.ndarray) -> np.ndarray:
    """Plug-in MI of the empirical joint with the Miller-Madow correction of each entropy.

    I_MM = H_MM(R) - sum_c (n_c / N) H_MM(R | c) with H_MM = H_plugin + (K - 1) / (2 n), K the
    number of occupied bins; the corrections combine to
    I_plugin - (sum_c (K_c - 1) - (K - 1)) / (2 N). Can be negative (it is bias-corrected).
    """
    tables = np.asarray(tables)
    kl, per_coplayer, total = _kl_terms(tables)
    plugin = (per_coplayer * kl).sum(-1) / total
    occupied_per_coplayer = (tables > 0).sum(-1)
    occupied = (tables.sum(-2) > 0).sum(-1)
    correction = ((occupied_per_coplayer - 1).sum(-1) - (occupied - 1)) / (2.0 * total)
    return plugin - correction
