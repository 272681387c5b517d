"""LoI of every scenario in a long reward table."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np
import pandas as pd

from loi.errors import LoiError
from loi.metrics import DEFAULT_ESTIMATOR, ESTIMATORS, LoIResult, level_of_influence
from loi.tables.schema import COPLAYER, EGO_RETURN, EPISODE, SCENARIO, block_labels, validate_table


def scenario_seed(seed: int, scenario: str) -> int:
    """A seed for one scenario that depends only on (seed, scenario name).

    The name is hashed with BLAKE2b (stable across processes, unlike
    ``hash()`` under PYTHONHASHSEED) and mixed with ``seed`` by
    ``numpy.random.SeedSequence``, so a scenario's result does not change when
    other scenarios are added to or removed from the table.
    """
    if int(seed) < 0:
        raise LoiError(f"seed must be >= 0, got {seed}")
    digest = int.from_bytes(hashlib.blake2b(scenario.encode("utf-8"), digest_size=8).digest(), "little")
    return int(np.random.SeedSequence([int(seed), digest]).generate_state(1, dtype=np.uint64)[0])


def _canonical_order(scenario, block, coplayer, episode, returns) -> np.ndarray:
    """Row order by (scenario, block, co-player, episode), ties by return."""
    episode = episode - episode.min()
    keys = (scenario, block, coplayer, episode)
    sizes = [int(k.max()) + 1 for k in keys]
    if np.prod([float(s) for s in sizes]) >= 2.0**62:  # no room for one packed key
        return np.lexsort((returns, *keys[::-1]))
    packed = np.zeros(len(returns), dtype=np.int64)
    for key, size in zip(keys, sizes):
        packed = packed * size + key
    order = np.argsort(packed, kind="stable")  # cheap: tables are usually nearly sorted
    if np.any(packed[order][1:] == packed[order][:-1]):  # repeated episodes (e.g. eval seeds)
        order = np.lexsort((returns, packed))
    return order


# Total work in row-resamples (rows x (permutations + bootstrap)) from which `workers=None` spreads
# scenarios over the cores (threads: the resampling runs in compiled kernels that release the
# GIL, ~1-10 ns per row-resample, benchmarks/measure.py; a thread costs nothing to start).
PARALLEL_WORK = 1e7


def _one_scenario(name: str, returns, coplayer, block, kwargs: dict) -> LoIResult:
    try:
        return level_of_influence(returns, coplayer, block, **kwargs)
    except LoiError as err:
        raise LoiError(f"scenario {name!r}: {err}") from None


def _check_knn_span(name: str, returns: np.ndarray) -> None:
    # knn works on differences of returns (and their sum with the largest magnitude): past the float64
    # range they overflow to inf and the neighbour counts are meaningless.
    with np.errstate(over="ignore"):
        reach = np.abs(returns).max() + (returns.max() - returns.min())
    if not np.isfinite(reach):
        raise LoiError(f"scenario {name!r}: returns from {returns.min():.3g} to {returns.max():.3g} are too far apart "
                       f"for the knn estimator (their differences overflow float64); rescale them, e.g. divide by "
                       f"{10.0 ** np.ceil(np.log10(np.abs(returns).max()) - 300):.0e}")


def dropped_rows(table: pd.DataFrame, results: dict[str, LoIResult]) -> dict[str, tuple[int, int]]:
    """Per scenario whose estimate left rows out (a ``value_range`` drops the returns outside it):
    ``(dropped, rows)``; scenarios that used every row are not listed."""
    rows = table[SCENARIO].astype(str).value_counts()
    return {name: (int(rows[name]) - int(r.n_episodes), int(rows[name])) for name, r in results.items()
            if name in rows.index and r.n_episodes < rows[name]}


def knn_k_warning(table: pd.DataFrame, k: int) -> str | None:
    """Why a knn ``k`` will not do what it says, or None: some co-player has at most ``k`` episodes in
    a block. Such a co-player's neighbours are counted with k = its episodes - 1
    (``loi.metrics.knn``), so the estimate is not the k-neighbour one, while the search still costs
    k neighbours per point. The line names the fewest episodes per scenario."""
    clean = validate_table(table)
    counts = clean.assign(_block=block_labels(clean)).groupby([SCENARIO, "_block", COPLAYER]).size()
    fewest = counts.groupby(level=SCENARIO).min()
    short = fewest[fewest <= k]
    if short.empty:
        return None
    listed = ", ".join(f"{scenario} {int(n)}" for scenario, n in short.head(5).items())
    more = f" and {len(short) - 5} more scenarios" if len(short) > 5 else ""
    return (f"k={k} is not below every co-player's episodes per block (fewest: {listed}{more}): the knn estimator "
            f"uses k = episodes - 1 for those co-players, so the estimate is not the k={k} one, and the neighbour "
            f"search still costs k={k}; give k < {int(short.min())}")


def auto_workers(rows: int, permutations: int, bootstrap: int, scenarios: int) -> int:
    """Workers for ``measure_table(workers=None)``: one per core (at most one per scenario)
    when the whole table's work is worth splitting, else 1."""
    if scenarios < 2 or rows * (permutations + bootstrap) < PARALLEL_WORK:
        return 1
    return max(1, min(os.cpu_count() or 1, scenarios))


def measure_table(table: pd.DataFrame, *, estimator: str = DEFAULT_ESTIMATOR, permutations: int = 1000,
                  bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0, workers: int | None = 1,
                  progress: Callable[[int, int], None] | None = None, **options) -> dict[str, LoIResult]:
    """LoI of each scenario of a reward table, keyed by scenario name (sorted).

    Co-player identity = the ``coplayer`` column; blocks = (ego, co-player
    seed) when the table has ``coplayer_seed``, else the ego, and split by
    ``regime`` when present (:func:`loi.tables.block_labels`; the paper
    averages the LoI over ego checkpoint x co-player seed blocks). Rows are put
    in a canonical order first, so the result does not depend on row order,
    and each scenario gets its own seed (:func:`scenario_seed`), so results do
    not depend on ``workers`` either. ``workers``: scenarios run concurrently, in threads (the
    resampling kernels release the GIL; ``None``: :func:`auto_workers`). ``progress(done, total)`` is
    called after each scenario. Other arguments (``ci_method``, ``sequential``,
    estimator options) go to :func:`loi.metrics.level_of_influence`.
    """
    if estimator not in ESTIMATORS:
        raise LoiError(f"unknown estimator {estimator!r}; expected one of {', '.join(ESTIMATORS)}")
    # Argument errors are reported once, not as the first scenario's problem.
    for name, value in (("permutations", permutations), ("bootstrap", bootstrap), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise LoiError(f"{name} must be a non-negative integer, got {value!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise LoiError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer))
                                or workers < 1):
        raise LoiError(f"workers must be a positive integer, got {workers!r}")
    clean = validate_table(table)
    # Codes and one canonical sort for the whole table, then a slice per scenario.
    scenario, names = pd.factorize(clean[SCENARIO], sort=True)
    block = block_labels(clean)
    coplayer = pd.factorize(clean[COPLAYER], sort=True)[0]
    returns = clean[EGO_RETURN].to_numpy(dtype=np.float64)
    order = _canonical_order(scenario, block, coplayer, clean[EPISODE].to_numpy(), returns)
    bounds = np.searchsorted(scenario[order], np.arange(len(names) + 1))
    tasks = []
    for i, name in enumerate(names):
        rows = order[bounds[i]:bounds[i + 1]]
        if estimator == "knn":
            _check_knn_span(str(name), returns[rows])
        kwargs = dict(estimator=estimator, permutations=permutations, bootstrap=bootstrap, confidence=confidence,
                      seed=scenario_seed(seed, str(name)), **options)
        tasks.append((str(name), returns[rows], coplayer[rows], block[rows], kwargs))
    if workers is None:
        workers = auto_workers(len(returns), permutations, bootstrap, len(names))
    results: dict[str, LoIResult] = {}
    if workers == 1 or len(tasks) < 2:
        for done, task in enumerate(tasks, 1):
            results[task[0]] = _one_scenario(*task)
            if progress:
                progress(done, len(tasks))
        return results
    # This thread is one of the `workers`: while the others start, it takes the scenarios from the
    # end of the list, those no worker has started; the largest scenarios go first to balance the
    # load. Results do not depend on which worker ran a scenario (each has its own seed).
    pool = ThreadPoolExecutor(min(workers, len(tasks)) - 1)
    ordered = sorted(tasks, key=lambda t: -len(t[1]))
    done = 0

    def finished(name: str, result: LoIResult) -> None:
        nonlocal done
        results[name], done = result, done + 1
        if progress:
            progress(done, len(tasks))

    try:
        futures = {pool.submit(_one_scenario, *task): task for task in ordered}
        for future, task in reversed(futures.items()):
            if future.cancel():  # not started by a worker: run it here
                finished(task[0], _one_scenario(*task))
        for future in as_completed([f for f in futures if not f.cancelled()]):
            finished(futures[future][0], future.result())
    finally:  # on an error or Ctrl-C, drop the scenarios not started yet
        pool.shutdown(wait=True, cancel_futures=True)
    return {task[0]: results[task[0]] for task in tasks}


# Columns of loi_rows, in order: the one naming scheme for LoI results in tables and JSON.
LOI_COLUMNS: tuple[str, ...] = (
    "scenario", "estimator", "ci_method", "loi", "ci_low", "ci_high", "loi_max", "above_max", "interval_capped",
    "null_mean", "corrected", "corrected_ci_low", "corrected_ci_high", "p_value", "permutations", "episodes",
    "blocks",
)


def loi_record(scenario: str, result: LoIResult) -> dict:
    """One LoI result as a flat record with the ``LOI_COLUMNS`` names (nan where not computed)."""
    low, high = result.confidence_interval
    corrected_low, corrected_high = result.corrected_confidence_interval
    return {
        "scenario": scenario, "estimator": result.estimator, "ci_method": result.ci_method,
        "loi": result.statistic, "ci_low": low, "ci_high": high, "loi_max": result.loi_max,
        "above_max": result.above_max, "interval_capped": result.interval_capped,
        "null_mean": result.null_mean, "corrected": result.corrected,
        "corrected_ci_low": corrected_low, "corrected_ci_high": corrected_high,
        "p_value": result.pvalue, "permutations": int(result.permutations), "episodes": int(result.n_episodes),
        "blocks": int(result.n_blocks),
    }


def loi_rows(results: dict[str, LoIResult]) -> pd.DataFrame:
    """``measure_table``'s results as a table: one row per scenario, columns ``LOI_COLUMNS``."""
    return pd.DataFrame([loi_record(name, r) for name, r in results.items()], columns=list(LOI_COLUMNS))
