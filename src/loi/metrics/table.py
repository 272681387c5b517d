"""LoI of every scenario in a long reward table."""

from __future__ import annotations

import hashlib

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


def measure_table(table: pd.DataFrame, *, estimator: str = DEFAULT_ESTIMATOR, permutations: int = 1000,
                  bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0,
                  **options) -> dict[str, LoIResult]:
    """LoI of each scenario of a reward table, keyed by scenario name (sorted).

    Co-player identity = the ``coplayer`` column; blocks = (ego, co-player
    seed) when the table has ``coplayer_seed``, else the ego, and split by
    ``regime`` when present (:func:`loi.tables.block_labels`; the paper
    averages the LoI over ego checkpoint x co-player seed blocks). Rows are put
    in a canonical order first, so the result does not depend on row order,
    and each scenario gets its own seed (:func:`scenario_seed`). Other
    arguments go to :func:`loi.metrics.level_of_influence`.
    """
    if estimator not in ESTIMATORS:
        raise LoiError(f"unknown estimator {estimator!r}; expected one of {', '.join(ESTIMATORS)}")
    # Argument errors are reported once, not as the first scenario's problem.
    for name, value in (("permutations", permutations), ("bootstrap", bootstrap), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise LoiError(f"{name} must be a non-negative integer, got {value!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise LoiError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    clean = validate_table(table)
    # Codes and one canonical sort for the whole table, then a slice per scenario.
    scenario, names = pd.factorize(clean[SCENARIO], sort=True)
    block = block_labels(clean)
    coplayer = pd.factorize(clean[COPLAYER], sort=True)[0]
    returns = clean[EGO_RETURN].to_numpy(dtype=np.float64)
    order = _canonical_order(scenario, block, coplayer, clean[EPISODE].to_numpy(), returns)
    bounds = np.searchsorted(scenario[order], np.arange(len(names) + 1))
    results: dict[str, LoIResult] = {}
    for i, name in enumerate(names):
        rows = order[bounds[i]:bounds[i + 1]]
        try:
            results[str(name)] = level_of_influence(
                returns[rows], coplayer[rows], block[rows], estimator=estimator,
                permutations=permutations, bootstrap=bootstrap, confidence=confidence,
                seed=scenario_seed(seed, str(name)), **options,
            )
        except LoiError as err:
            raise LoiError(f"scenario {name!r}: {err}") from None
    return results
