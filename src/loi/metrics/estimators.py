"""Level of Influence: estimate, permutation null, bootstrap interval.

LoI = I(R; Pi), the mutual information between the ego's episode return R and the identity Pi
of its co-player. Rows are grouped into independent blocks (the paper: ego checkpoint x
co-player training seed); the LoI is estimated within each block and averaged over blocks with
equal weights. Resampling never crosses blocks: the null shuffles co-player labels within a
block, the bootstrap resamples episodes within a co-player within a block.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd

from loi.errors import LoiError
from loi.metrics import resampling
from loi.metrics.histogram import (
    count_table,
    equal_width_bins,
    miller_madow_statistic,
    paper_statistic,
    quantile_bins,
)
from loi.metrics.knn import digamma_table, has_near_ties, knn_mutual_information
from loi.metrics.result import ConfidenceInterval, LoIResult

ESTIMATORS: tuple[str, ...] = ("paper", "miller-madow", "knn")
# Chosen by measured accuracy (bias and RMSE against the true MI): see
# benchmarks/estimator_accuracy.py and the README.
DEFAULT_ESTIMATOR = "knn"

_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "paper": {"bins": 50, "value_range": (0.0, 100.0)},
    # bins="auto": ceil(sqrt(episodes per co-player)) equal-frequency bins of the block's pooled
    # returns (see _auto_bins); value_range=None: no range needed, nothing dropped.
    "miller-madow": {"bins": "auto", "value_range": None},
    "knn": {"k": 3},
}
NAN_INTERVAL = ConfidenceInterval(float("nan"), float("nan"))

CI_METHODS: tuple[str, ...] = ("auto", "blocks", "centered", "basic", "percentile")
# "auto" uses the cluster (block) bootstrap from this many blocks on: its bootstrap-t interval
# covers 90-95.5% with 5 blocks of 9 x 6 episodes (93-98% with 10), where the episode bootstrap
# of the histogram estimators covers ~0% (benchmarks/interval_coverage.py, .notes/H7_findings.md).
MIN_BLOCKS_FOR_CLUSTER_BOOTSTRAP = 5


# ----------------------------------------------------------------------------- validation


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _resolve_options(estimator: str, options: dict[str, Any]) -> dict[str, Any]:
    if estimator not in ESTIMATORS:
        raise LoiError(f"unknown estimator {estimator!r}; valid estimators: {', '.join(ESTIMATORS)}")
    defaults = _DEFAULT_OPTIONS[estimator]
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise LoiError(
            f"unknown option(s) {', '.join(unknown)} for estimator {estimator!r}; "
            f"valid options: {', '.join(defaults)}"
        )
    resolved = {**defaults, **options}
    if "bins" in resolved:
        bins = resolved["bins"]
        auto_ok = estimator == "miller-madow" and bins == "auto"
        if not auto_ok and not (_is_int(bins) and bins >= 1):
            allowed = "a positive integer" + (" or 'auto'" if estimator == "miller-madow" else "")
            raise LoiError(f"bins must be {allowed}, got {bins!r}")
    if "value_range" in resolved and not (estimator == "miller-madow" and resolved["value_range"] is None):
        value_range = resolved["value_range"]
        try:
            low, high = (float(v) for v in value_range)
        except (TypeError, ValueError):
            raise LoiError(f"value_range must be a pair (low, high) of numbers, got {value_range!r}") from None
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise LoiError(f"value_range must be finite with low < high, got {value_range!r}")
        resolved["value_range"] = (low, high)
    if "k" in resolved and not (_is_int(resolved["k"]) and resolved["k"] >= 1):
        raise LoiError(f"k must be a positive integer, got {resolved['k']!r}")
    return resolved


def _as_labels(labels: Any, n: int, what: str) -> np.ndarray:
    if isinstance(labels, (pd.Series, pd.Index, pd.Categorical, pd.api.extensions.ExtensionArray)):
        values = labels
    else:
        values = np.asarray(labels) if not isinstance(labels, np.ndarray) else labels
        if values.ndim != 1:
            # A list of tuples (e.g. (ego, seed) blocks) becomes 2-D; keep one label per row.
            values = np.empty(len(labels), dtype=object)
            for row, label in enumerate(labels):
                values[row] = label
    if len(values) != n:
        raise LoiError(f"{what} has {len(values)} labels but returns has {n} rows")
    return values


def _factorize(labels: Any, n: int, what: str, sort: bool) -> tuple[np.ndarray, list]:
    values = _as_labels(labels, n, what)
    categorical = values.array if isinstance(values, pd.Series) else values
    if isinstance(categorical, pd.Categorical):
        # A declared category without rows: a co-player (or block) with no episodes at all.
        unused = categorical.categories[~categorical.categories.isin(categorical.unique().dropna())]
        if len(unused):
            raise LoiError(f"{what} {unused[0]!r} has no episodes ({len(unused)} declared label(s) without rows)")
    try:
        codes, uniques = pd.factorize(values, sort=sort)
    except TypeError:  # labels of mutually incomparable types: keep order of appearance
        codes, uniques = pd.factorize(values, sort=False)
    if (codes < 0).any():
        raise LoiError(f"{what} has missing labels (first at row {int(np.argmax(codes < 0))})")
    # Plain Python labels (not numpy scalars): readable in messages, JSON-friendly for callers.
    labels = uniques.tolist() if hasattr(uniques, "tolist") else list(uniques)
    return codes, [label.item() if isinstance(label, np.generic) else label for label in labels]


def _validate_returns(returns: Any) -> np.ndarray:
    try:
        values = np.asarray(returns, dtype=np.float64)
    except (TypeError, ValueError):
        raise LoiError("returns must be numbers") from None
    if values.ndim != 1:
        raise LoiError(f"returns must be one-dimensional, got shape {values.shape}")
    if len(values) == 0:
        raise LoiError("returns is empty")
    bad = ~np.isfinite(values)
    if bad.any():
        raise LoiError(f"returns contain {int(bad.sum())} NaN/inf value(s) (first at row {int(np.argmax(bad))})")
    return values


def _validate_counts(permutations: Any, bootstrap: Any, confidence: Any, seed: Any, sequential: Any = 0) -> None:
    for name, value in (("permutations", permutations), ("bootstrap", bootstrap), ("sequential", sequential)):
        if not (_is_int(value) and value >= 0):
            raise LoiError(f"{name} must be a non-negative integer, got {value!r}")
    if not (isinstance(confidence, numbers.Real) and 0.0 < float(confidence) < 1.0):
        raise LoiError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    if not (_is_int(seed) and seed >= 0):
        raise LoiError(f"seed must be a non-negative integer, got {seed!r}")


# ----------------------------------------------------------------------------- blocks


def coplayer_entropy(class_sizes: np.ndarray) -> float:
    """Entropy (nats) of the co-player distribution of a block: the largest value I(R; Pi) can take."""
    sizes = np.asarray(class_sizes, dtype=np.float64)
    share = sizes[sizes > 0] / sizes.sum()
    return float(-(share * np.log(share)).sum())


def knn_boundary_scale(class_sizes: np.ndarray, psi: np.ndarray) -> float:
    """H / M: the co-player entropy H over the value M the Ross estimator takes when the classes
    are perfectly separated (every m = k~): M = psi(N) - sum_c (n_c / N) psi(n_c) ~ H + (C - 1) / 2N.

    The estimate never exceeds M, the MI never exceeds H; multiplying by H / M maps the one
    bound onto the other and leaves estimates near 0 unchanged. The intervals use the rescaled
    values: near the maximum the estimate sits ~M - H above the truth with a spread much smaller
    than that, so an interval around it excluded the truth (benchmarks/interval_coverage.py
    --near-max). Classes of one point are left out of M, as the estimator leaves them out.
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    counted = sizes[sizes >= 2]
    used = int(counted.sum())
    if used == 0:
        return 1.0
    boundary = float(psi[used] - (counted * psi[counted]).sum() / used)
    return coplayer_entropy(sizes) / boundary if boundary > 0 else 1.0


def fano_lower_bound(values: np.ndarray, labels: np.ndarray, class_sizes: np.ndarray, confidence: float) -> float:
    """A lower confidence bound on I(R; Pi) from how well R separates the co-players.

    Fano's inequality: H(Pi | R) <= h(e) + e ln(C - 1) for the Bayes error e, so
    I >= H - h(e) - e ln(C - 1) for any e' >= e (the bound falls as e grows up to (C-1)/C). The
    leave-one-out nearest-neighbour error of the sample estimates an error rate no smaller than
    e; its one-sided Clopper-Pearson upper limit at level ``1 - (1 - confidence) / 2`` stands in
    for e'. ``values`` ascending, ``labels`` in the same order; a point counts as an error when
    a nearest neighbour on either side (ties: both) has another label. Used where the
    bootstrap cannot see the maximum: a sample with the co-players (almost) separated gives
    half-samples that are separated too, and an interval of zero width at ln C.
    """
    from scipy.stats import beta

    n = len(values)
    gap_left = np.concatenate([[np.inf], np.diff(values)])
    gap_right = np.concatenate([np.diff(values), [np.inf]])
    differs_left = np.concatenate([[False], labels[1:] != labels[:-1]])
    differs_right = np.concatenate([labels[:-1] != labels[1:], [False]])
    errors = int(((differs_left & (gap_left <= gap_right)) | (differs_right & (gap_right <= gap_left))).sum())
    tail = (1.0 - confidence) / 2.0
    upper = 1.0 if errors >= n else float(beta.ppf(1.0 - tail, errors + 1, n - errors))
    classes = int((np.asarray(class_sizes) > 0).sum())
    error = min(upper, (classes - 1) / classes)
    binary = -(error * np.log(error) + (1 - error) * np.log1p(-error)) if 0 < error < 1 else 0.0
    return max(0.0, coplayer_entropy(class_sizes) - binary - error * np.log(classes - 1))


def _kernel_seed(rng: np.random.Generator) -> int:
    """The seed of one call of a compiled kernel, drawn from the caller's generator."""
    return int(rng.integers(0, 2**63))


class _HistogramBlock:
    """One block for a histogram estimator: its co-player x occupied-bin table.

    Its null and bootstrap tables are drawn by the compiled kernels (``kernels.TableResampler``,
    whose cost grows with the rows), or, where the table has few cells for its rows, as whole
    tables by numpy (``resampling``: cost grows with the cells).
    """

    def __init__(self, coplayer: np.ndarray, bin_codes: np.ndarray, n_coplayers: int, statistic) -> None:
        _, bins = np.unique(bin_codes, return_inverse=True)  # empty bins never matter
        self.table = count_table(coplayer, bins, n_coplayers, int(bins.max()) + 1)
        self.compute = statistic
        # The largest value of the statistic: co-players in disjoint bins. For the plug-in MI
        # that is the co-player entropy; the paper's unweighted mean of KLs reaches
        # mean_c log(N / n_c) (= ln C for equal counts, more for unequal ones).
        sizes = self.table.sum(1)
        self.maximum = (float(np.mean(np.log(sizes.sum() / sizes))) if statistic is paper_statistic
                        else coplayer_entropy(sizes))
        # Plug-in estimates need no boundary rescaling (see _KnnBlock); the interval is only capped.
        self.statistic_scale = self.replicate_scale = 1.0
        self.null_tables = resampling.null_tables_are_cheaper(len(bins), *self.table.shape)
        self.bootstrap_tables = resampling.bootstrap_tables_are_cheaper(len(bins), *self.table.shape)
        self._resampler = None

    def resampler(self):
        """The compiled kernels' view of the table (built on first use: numba is imported only
        where a table is resampled by the kernels)."""
        if self._resampler is None:
            from loi.metrics.kernels import TableResampler

            self._resampler = TableResampler(self.table, miller_madow=self.compute is miller_madow_statistic)
        return self._resampler

    def statistic(self) -> float:
        return float(self.compute(self.table))

    def null(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if not self.null_tables:
            return self.resampler().null(_kernel_seed(rng), size)
        row_sums, col_sums = self.table.sum(1), self.table.sum(0)
        return np.concatenate([self.compute(resampling.hypergeometric_tables(rng, row_sums, col_sums, chunk))
                               for chunk in resampling.chunk_sizes(size, self.table.size)])

    def bootstrap(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if not self.bootstrap_tables:
            return self.resampler().bootstrap(_kernel_seed(rng), size)
        return np.concatenate([self.compute(resampling.multinomial_tables(rng, self.table, chunk))
                               for chunk in resampling.chunk_sizes(size, self.table.size)])


class _KnnBlock:
    """One block for the kNN estimator: returns sorted once, labels/multiplicities resampled.

    The episode bootstrap is a half-sample without replacement within each co-player (``max(size
    // 2, min(size, 2))`` episodes of each), not a with-replacement resample: multiplicities > 1
    clump the sample, and the Ross estimator on a clumped sample is shifted by ~+0.11 nats under
    independence at 55 and at 300 episodes per co-player (percentile half-width 0.09 / 0.04), so
    neither the percentile nor the basic interval could cover. Half-samples are unshifted
    (0.011 / 0.0005) and match the estimate's spread for MI > 0 (conservative near MI = 0).
    Both resamplings are drawn and evaluated by the compiled kernels (``kernels``), from one seed
    drawn from the caller's generator per call.
    """

    def __init__(self, coplayer: np.ndarray, values: np.ndarray, n_coplayers: int, k: int) -> None:
        order = np.argsort(values, kind="stable")
        self.values, self.coplayer = values[order], coplayer[order]
        self.n_coplayers, self.k = n_coplayers, k
        self.psi = digamma_table(len(values))
        sizes = np.bincount(self.coplayer, minlength=n_coplayers)
        # Sorted positions of each co-player's episodes, ascending within a co-player.
        self.members = np.argsort(self.coplayer, kind="stable")
        self.class_start = np.concatenate([[0], np.cumsum(sizes)])
        self.ties = has_near_ties(self.values)
        self.slot_class = np.repeat(np.arange(n_coplayers), sizes)
        self.maximum = coplayer_entropy(sizes)
        half = np.maximum(sizes // 2, np.minimum(sizes, 2))  # what a half-sample keeps
        self.statistic_scale = knn_boundary_scale(sizes, self.psi)
        self.replicate_scale = knn_boundary_scale(half, self.psi)
        self._sorted = None

    def sorted_values(self):
        """The values with the kernels' search index (built on first use: numba is imported only
        where it is needed)."""
        if self._sorted is None:
            from loi.metrics import kernels

            self._sorted = kernels.SortedValues(self.values)
        return self._sorted

    def statistic(self) -> float:
        labels = self.coplayer[None, :]
        return float(knn_mutual_information(self.values, labels, None, self.n_coplayers, self.k, self.psi,
                                            ties=self.ties)[0])

    def null(self, rng: np.random.Generator, size: int) -> np.ndarray:
        from loi.metrics import kernels

        return kernels.null_statistics(self.sorted_values(), self.slot_class, self.n_coplayers, self.k, self.psi,
                                       _kernel_seed(rng), size)

    def bootstrap(self, rng: np.random.Generator, size: int) -> np.ndarray:
        from loi.metrics import kernels

        return kernels.half_sample_statistics(self.sorted_values(), self.members, self.class_start, self.k, self.psi,
                                              _kernel_seed(rng), size)


def _null_over_blocks(blocks: list, rng: np.random.Generator, size: int) -> np.ndarray:
    """Permutation null of the block mean, ``(size,)``."""
    return np.sum([b.null(rng, size) for b in blocks], axis=0) / len(blocks)


def _auto_bins(n_rows: int, n_coplayers: int) -> int:
    # Square-root rule on the episodes per co-player: keeps several episodes per cell, where the
    # Miller-Madow correction is accurate, while resolution grows with the data.
    return max(2, int(np.ceil(np.sqrt(n_rows / n_coplayers))))


def _build_blocks(returns, coplayer, block, estimator: str, options: dict[str, Any]):
    values = _validate_returns(returns)
    n = len(values)
    coplayer_codes, coplayer_labels = _factorize(coplayer, n, "coplayer", sort=False)
    if block is None:
        block_codes, block_labels = np.zeros(n, dtype=np.int64), [None]
    else:
        block_codes, block_labels = _factorize(block, n, "block", sort=True)

    value_range = options.get("value_range")
    if value_range is not None:
        _, inside_any = equal_width_bins(values, 1, value_range)
        if not inside_any.any():
            raise LoiError(f"no returns inside value_range [{value_range[0]:g}, {value_range[1]:g}] (all {n} dropped)")

    order = np.argsort(block_codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(block_codes, minlength=len(block_labels)))])
    blocks, used = [], 0
    for index, label in enumerate(block_labels):
        rows = order[bounds[index]:bounds[index + 1]]
        present, local = np.unique(coplayer_codes[rows], return_inverse=True)
        where = "" if block is None else f" in block {label!r}"
        if len(present) < 2:
            raise LoiError(f"{len(present)} co-player(s){where}; LoI needs at least 2")
        block_values = values[rows]
        if estimator == "knn":
            sizes = np.bincount(local)
            if sizes.min() < 2:
                name = coplayer_labels[present[int(np.argmin(sizes))]]
                raise LoiError(f"co-player {name!r}{where} has 1 episode; the knn estimator needs at least 2")
            blocks.append(_KnnBlock(local, block_values, len(present), options["k"]))
            used += len(rows)
            continue
        bins = options["bins"]
        if bins == "auto":
            bins = _auto_bins(len(rows), len(present))
        if value_range is not None:
            bin_codes, inside = equal_width_bins(block_values, bins, value_range)
            kept = np.bincount(local[inside], minlength=len(present))
            if kept.min() == 0:
                name = coplayer_labels[present[int(np.argmin(kept))]]
                raise LoiError(
                    f"co-player {name!r}{where} has no returns inside value_range "
                    f"[{value_range[0]:g}, {value_range[1]:g}]"
                )
            local, bin_codes = local[inside], bin_codes[inside]
        else:
            bin_codes = quantile_bins(block_values, bins)
        statistic = paper_statistic if estimator == "paper" else miller_madow_statistic
        blocks.append(_HistogramBlock(local, bin_codes, len(present), statistic))
        used += len(local)
    return blocks, block_labels, used


def _sequential_null(blocks: list, rng: np.random.Generator, limit: int, hits: int, threshold: float):
    """Null draws in batches of 64, 128, ... until the ``hits``-th one ``>= threshold`` (kept as
    the last draw) or ``limit`` draws; returns (draws, how many reached the threshold)."""
    draws, exceed, batch = [], 0, 64
    while sum(len(d) for d in draws) < limit:
        size = min(batch, limit - sum(len(d) for d in draws))
        chunk = _null_over_blocks(blocks, rng, size)
        running = exceed + np.cumsum(chunk >= threshold)
        if running[-1] >= hits:
            stop = int(np.searchsorted(running, hits))  # the draw that brought the h-th hit
            draws.append(chunk[:stop + 1])
            return np.concatenate(draws), hits
        draws.append(chunk)
        exceed, batch = int(running[-1]), 2 * batch
    return np.concatenate(draws), exceed


# ----------------------------------------------------------------------------- intervals


def bootstrap_interval(statistic: float, replicates: np.ndarray, confidence: float, method: str) -> ConfidenceInterval:
    """Interval from episode-bootstrap replicates: ``"centered"``, ``"basic"`` or ``"percentile"``.

    Resampling changes a plug-in MI estimator's small-sample bias (duplicated episodes sharpen
    the histograms: the paper estimator on chicken S gives 1.29, its replicates 1.49-1.56), so
    the replicates are shifted from the estimate by more than their spread.

    * ``"percentile"``: ``[q_lo, q_hi]``; carries the whole shift.
    * ``"basic"``: ``[2 theta - q_hi, 2 theta - q_lo]``; subtracts the shift once, i.e. a
      first-order bias correction towards the estimator's large-sample limit -- it over- or
      under-corrects when the bias is not smooth in n (the histograms at 6 episodes: 0%).
    * ``"centered"``: ``[theta - (q_hi - mean*), theta - (q_lo - mean*)]``; uses only the spread of
      the replicates around their own mean, so it targets the estimator's expectation at this
      sample size -- the same target as ``"blocks"`` -- and contains the estimate.
    """
    tail = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(replicates, [tail, 1.0 - tail])
    if method == "basic":
        low, high = 2.0 * statistic - high, 2.0 * statistic - low
    elif method == "centered":
        center = float(np.nanmean(replicates))
        low, high = statistic - (high - center), statistic - (low - center)
    return ConfidenceInterval(float(low), float(high))


def block_bootstrap_interval(
    block_statistics: np.ndarray, resamples: int, confidence: float, rng: np.random.Generator
) -> ConfidenceInterval:
    """Cluster bootstrap-t interval of the mean of the per-block estimates.

    The LoI is the equal-weight mean of independent per-block estimates, so resampling whole
    blocks needs no model of what happens inside one, never duplicates an episode, and includes
    the variation between blocks (different egos, co-player seeds). Its target is the mean over
    blocks of the estimator's expectation at this block size (for ``knn`` about the MI; for
    ``paper`` the protocol's value). Studentised (bootstrap-t; Efron & Tibshirani 1993, ch. 12):
    the standard error of a mean is closed-form, so each resample is studentised at no extra
    cost, and with the paper's 20 blocks it covers 93.5-97.5% where the percentile and BCa
    intervals of the mean give 90-95% (benchmarks/interval_coverage.py).
    """
    values = np.asarray(block_statistics, dtype=np.float64)
    count = len(values)
    mean = float(values.mean())
    if np.ptp(values) == 0.0:  # every block agrees: nothing to resample
        return ConfidenceInterval(mean, mean)
    standard_error = values.std(ddof=1) / np.sqrt(count)
    draws = values[rng.integers(0, count, size=(resamples, count))]
    draw_errors = draws.std(axis=1, ddof=1) / np.sqrt(count)
    with np.errstate(divide="ignore", invalid="ignore"):
        # A resample of one repeated block has no spread: its t is undefined and left out.
        studentised = np.where(draw_errors > 0, (draws.mean(axis=1) - mean) / draw_errors, np.nan)
    tail = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(studentised, [tail, 1.0 - tail])
    # When all but a few blocks agree, resamples without the odd ones have a tiny standard
    # error and a huge t (an end at -3e10 was seen at perfect separation): the ends are kept
    # within the blocks' range widened by that range on each side.
    spread = np.ptp(values)
    return ConfidenceInterval(float(max(mean - high * standard_error, values.min() - spread)),
                              float(min(mean - low * standard_error, values.max() + spread)))


def _interval(blocks, block_statistics, statistic, bootstrap, confidence, ci_method, seed) -> ConfidenceInterval:
    """The interval of the estimates and, for ``knn``, of the boundary-rescaled estimates
    (``knn_boundary_scale``), joined: [rescaled low, raw high].

    Near the maximum the raw kNN estimate sits above the MI by up to M - H (its interval
    excluded the truth: 0% coverage at MI = 1.582 of ln 5, 20 blocks of 5 x 11 episodes), and just
    below perfect separation the rescaled one sits below it (a stray episode costs the estimate
    more than the information it removes); each end comes from the estimate that errs away from
    the truth there. Elsewhere the two differ by the factor H / M (~1 - (C - 1) / (2 N H)), so the
    interval widens by about that fraction of the estimate. The same draws serve both; for the
    histogram estimators (no rescaling), and for the textbook ``basic`` and ``percentile``
    intervals, this is the plain interval.
    """
    scales = np.array([b.statistic_scale for b in blocks])
    if ci_method in ("basic", "percentile"):
        scales = np.ones(len(blocks))
    if ci_method == "blocks":
        raw = block_bootstrap_interval(block_statistics, bootstrap, confidence, np.random.default_rng(seed))
        if (scales == 1.0).all():
            return raw
        scaled = block_bootstrap_interval(block_statistics * scales, bootstrap, confidence, np.random.default_rng(seed))
    else:
        rng = np.random.default_rng(seed)
        per_block = [b.bootstrap(rng, bootstrap) for b in blocks]
        raw = bootstrap_interval(statistic, np.mean(per_block, axis=0), confidence, ci_method)
        if (scales == 1.0).all():
            return raw
        replicates = np.mean([r * b.replicate_scale for r, b in zip(per_block, blocks)], axis=0)
        scaled = bootstrap_interval(float((block_statistics * scales).mean()), replicates, confidence, ci_method)
    return ConfidenceInterval(min(raw.low, scaled.low), max(raw.high, scaled.high))


# ----------------------------------------------------------------------------- public API


def loi_point_estimate(returns, coplayer, block=None, *, estimator: str = DEFAULT_ESTIMATOR, **options) -> float:
    """The LoI point estimate only (no null, no bootstrap): mean over blocks, in nats."""
    resolved = _resolve_options(estimator, options)
    blocks, _, _ = _build_blocks(returns, coplayer, block, estimator, resolved)
    return float(np.mean([b.statistic() for b in blocks]))


def level_of_influence(
    returns,
    coplayer,
    block=None,
    *,
    estimator: str = DEFAULT_ESTIMATOR,
    permutations: int = 1000,
    bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    ci_method: str = "auto",
    sequential: int = 0,
    **options,
) -> LoIResult:
    """Level of Influence I(R; Pi) of one scenario, with permutation null and bootstrap interval.

    Parameters
    ----------
    returns:
        ``(n,)`` ego episode returns (finite numbers).
    coplayer:
        ``(n,)`` labels of the co-player policy of each episode (any hashable values).
    block:
        ``(n,)`` labels of independent blocks (the paper: ego checkpoint x co-player seed), or
        ``None`` for one block. The LoI is estimated per block, then averaged with equal weights.
    estimator:
        ``"paper"`` (the paper's histogram protocol), ``"miller-madow"`` (bias-corrected
        plug-in) or ``"knn"`` (Ross 2014, consistent).
    permutations, bootstrap:
        Number of null permutations / bootstrap resamples; 0 skips them (fields become nan).
        Both work on the rows the estimator uses (with a ``value_range``, out-of-range returns
        are dropped first), within blocks; the bootstrap resamples within co-players.
    confidence:
        Level of the bootstrap interval.
    ci_method:
        How ``bootstrap`` resamples become the interval (see :func:`bootstrap_interval`):
        ``"blocks"``: cluster bootstrap, whole blocks resampled (bootstrap-t interval of the mean
        of the per-block estimates) -- blocks are the independent replicates, and their variation
        (different egos, co-player seeds) is part of the uncertainty. The others resample
        episodes within co-player and block (with replacement; ``knn`` draws half of each
        co-player's episodes without replacement instead, since duplicated episodes clump the
        sample and shift the kNN estimate by ~0.1 nats at any n) and differ in how they treat
        the shift resampling gives the estimate: ``"centered"`` removes it (same target as
        ``"blocks"``: the estimator's expectation), ``"basic"`` reflects it (reverse percentile,
        a first-order bias correction), ``"percentile"`` keeps it (can exclude the estimate).
        ``"auto"`` (default): ``"blocks"`` with at least 5 blocks (also the minimum for
        ``"blocks"``), else ``"centered"``; ``LoIResult.ci_method`` says which was used.
    seed:
        Seed of all random draws; the same seed gives identical results.
    sequential:
        ``h > 0``: sequential Monte-Carlo p-value (Besag & Clifford 1991): permute in growing
        batches and stop at the h-th null draw that reaches the estimate, p = h / L after L
        draws (at most ``permutations``; without h exceedances p = (1 + g) / (1 + draws) as
        usual). Saves most draws when LoI is not significant; ``LoIResult.permutations`` is the
        number drawn, and the null mean uses those draws. ``0`` (default): all ``permutations``.
    **options:
        ``paper``: ``bins=50``, ``value_range=(0, 100)``; ``miller-madow``: ``bins="auto"`` or an
        int, ``value_range=None`` (equal-frequency bins) or ``(low, high)`` (equal-width bins,
        returns outside dropped, as in ``paper``); ``knn``: ``k=3``.

    Raises
    ------
    LoiError
        Bad input: non-finite returns, mismatched lengths, fewer than 2 co-players in a block,
        a co-player with no usable episode, unknown estimator or option, invalid counts.
    """
    resolved = _resolve_options(estimator, options)
    _validate_counts(permutations, bootstrap, confidence, seed, sequential)
    if ci_method not in CI_METHODS:
        raise LoiError(f"unknown ci_method {ci_method!r}; valid methods: {', '.join(CI_METHODS)}")
    blocks, block_labels, used = _build_blocks(returns, coplayer, block, estimator, resolved)
    if ci_method == "auto":
        ci_method = "blocks" if len(blocks) >= MIN_BLOCKS_FOR_CLUSTER_BOOTSTRAP else "centered"
    if ci_method == "blocks" and bootstrap and len(blocks) < MIN_BLOCKS_FOR_CLUSTER_BOOTSTRAP:
        # With 2-4 blocks a resample has too few distinct values for a bootstrap-t quantile.
        raise LoiError(
            f"ci_method='blocks' needs at least {MIN_BLOCKS_FOR_CLUSTER_BOOTSTRAP} blocks, got {len(blocks)}"
        )
    block_statistics = np.array([b.statistic() for b in blocks])
    block_statistics.setflags(write=False)
    statistic = float(block_statistics.mean())

    loi_max = float(np.mean([b.maximum for b in blocks]))

    null_seed, bootstrap_seed = np.random.SeedSequence(seed).spawn(2)
    null_mean = pvalue = float("nan")
    drawn = 0
    if permutations:
        rng = np.random.default_rng(null_seed)
        # Identical tables give identical values; the tolerance only absorbs summation order.
        tolerance = 1e-12 * max(1.0, abs(statistic))
        if sequential:
            null, exceed = _sequential_null(blocks, rng, permutations, sequential, statistic - tolerance)
        else:
            null = _null_over_blocks(blocks, rng, permutations)
            exceed = int(np.count_nonzero(null >= statistic - tolerance))
        drawn = len(null)
        null_mean = float(null.mean())
        stopped = sequential and exceed >= sequential
        pvalue = float(sequential / drawn if stopped else (1 + exceed) / (1 + drawn))
    interval = corrected_interval = NAN_INTERVAL
    capped = False
    if bootstrap:
        interval = _interval(blocks, block_statistics, statistic, bootstrap, float(confidence), ci_method,
                             bootstrap_seed)
        # The MI cannot exceed loi_max, so capping the interval there never loses coverage.
        capped = bool(interval.high > loi_max)
        interval = ConfidenceInterval(min(interval.low, loi_max), min(interval.high, loi_max))
        if capped and ci_method != "blocks" and estimator == "knn":
            # At the maximum the half-samples are as separated as the sample, so the bootstrap
            # spread vanishes (coverage 55% at MI = ln 5 - 0.002, one block of 5 x 50 episodes,
            # benchmarks/interval_coverage.py --near-max); Fano's bound supplies the lower end.
            fano = float(np.mean([fano_lower_bound(b.values, b.coplayer, np.bincount(b.coplayer), float(confidence))
                                  for b in blocks]))
            interval = ConfidenceInterval(min(interval.low, fano), interval.high)
        # The corrected value targets the same bounded quantity: capped likewise.
        corrected_interval = ConfidenceInterval(min(interval.low - null_mean, loi_max),
                                                min(interval.high - null_mean, loi_max))
    return LoIResult(
        statistic=statistic,
        confidence_interval=interval,
        null_mean=null_mean,
        corrected=statistic - null_mean,
        corrected_confidence_interval=corrected_interval,
        pvalue=pvalue,
        n_episodes=int(used),
        n_blocks=len(blocks),
        estimator=estimator,
        block_statistics=block_statistics,
        block_labels=tuple(block_labels),
        ci_method=ci_method,
        loi_max=loi_max,
        permutations=drawn,
        interval_capped=capped,
    )
