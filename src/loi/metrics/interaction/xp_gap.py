"""``xp_gap``: the self-play / cross-play gap of the zero-shot-coordination literature.

Per ego: mean return with its own training partner (rows with ``own_partner`` true, see
``loi.tables.schema.OWN_PARTNER``) minus mean return with every other co-player; ``xp_gap`` is
the mean of that over egos (each ego counts once), ``xp_gap_relative`` the same divided by the
egos' mean own-partner return (the share of the own-partner return lost with a stranger). Egos
without both kinds of rows are left out (``note`` says how many). Test: the own/other labels
shuffled within ego (permutation p for a gap > 0; its null mean is about 0). Interval: with 5 or
more egos the cluster bootstrap over egos (bootstrap-t for the gap, percentile for the ratio),
else the episode bootstrap within (ego, own/other), percentile.
"""

from __future__ import annotations

import numpy as np

from loi.errors import LoiError
from loi.metrics.estimators import MIN_BLOCKS_FOR_CLUSTER_BOOTSTRAP, NAN_INTERVAL, block_bootstrap_interval
from loi.metrics.interaction.registry import TABLE, InteractionMetric, register
from loi.metrics.result import ConfidenceInterval, MetricResult
from loi.tables.schema import EGO, EGO_RETURN, OWN_PARTNER, REGIME

NAME, RELATIVE = "xp_gap", "xp_gap_relative"


def applicable(rows) -> str | None:
    if OWN_PARTNER not in rows.columns:
        return f"no {OWN_PARTNER!r} column (which rows are own-partner rows)"
    own = rows[OWN_PARTNER].to_numpy(dtype=bool)
    if not own.any():
        return "no own-partner rows"
    if own.all():
        return "no rows with other co-players"
    return None


def _egos(rows) -> list[tuple[np.ndarray, np.ndarray]]:
    """(own-partner returns, other returns) of every ego that has both."""
    keys = [c for c in (REGIME, EGO) if c in rows.columns]
    out = []
    for _, group in rows.groupby(keys, sort=True):
        own = group[OWN_PARTNER].to_numpy(dtype=bool)
        values = group[EGO_RETURN].to_numpy(dtype=np.float64)
        if own.any() and not own.all():
            out.append((values[own], values[~own]))
    return out


def _interval(values: np.ndarray, confidence: float) -> ConfidenceInterval:
    tail = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(values, [tail, 1.0 - tail])
    return ConfidenceInterval(float(low), float(high))


def measure(rows, *, permutations: int = 1000, bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0,
            **_options) -> dict[str, MetricResult]:
    reason = applicable(rows)
    if reason:
        raise LoiError(f"{NAME}: {reason}")
    egos = _egos(rows)
    if not egos:
        raise LoiError(f"{NAME}: no ego has both own-partner rows and rows with other co-players")
    own_means = np.array([own.mean() for own, _ in egos])
    gaps = own_means - np.array([other.mean() for _, other in egos])
    raw, own_level = float(gaps.mean()), float(own_means.mean())
    relative = raw / own_level if own_level != 0 else float("nan")
    skipped = rows.groupby([c for c in (REGIME, EGO) if c in rows.columns]).ngroups - len(egos)
    note = f"{skipped} ego(s) without both kinds of rows left out" if skipped else ""
    if own_level == 0:
        note = "; ".join(filter(None, [note, "own-partner mean return is 0: no relative gap"]))
    null_seed, bootstrap_seed = np.random.SeedSequence(seed).spawn(2)

    null_mean = pvalue = float("nan")
    if permutations:
        rng = np.random.default_rng(null_seed)
        null = np.zeros(permutations)
        for own, other in egos:
            pooled = np.concatenate([own, other])
            shuffled = rng.permuted(np.broadcast_to(pooled, (permutations, len(pooled))), axis=1)
            null += shuffled[:, :len(own)].mean(axis=1) - shuffled[:, len(own):].mean(axis=1)
        null /= len(egos)
        null_mean = float(null.mean())
        pvalue = float((1 + np.count_nonzero(null >= raw - 1e-12 * max(1.0, abs(raw)))) / (1 + permutations))

    raw_interval = relative_interval = NAN_INTERVAL
    method = "permutation p (own/other shuffled within ego)"
    if bootstrap:
        rng = np.random.default_rng(bootstrap_seed)
        if len(egos) >= MIN_BLOCKS_FOR_CLUSTER_BOOTSTRAP:
            pick = rng.integers(0, len(egos), size=(bootstrap, len(egos)))
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = gaps[pick].mean(axis=1) / own_means[pick].mean(axis=1)
            raw_interval = block_bootstrap_interval(gaps, bootstrap, confidence, rng)
            method = "cluster bootstrap over egos; " + method
        else:
            own_draw = np.zeros(bootstrap)
            gap_draw = np.zeros(bootstrap)
            for own, other in egos:
                own_mean = own[rng.integers(0, len(own), size=(bootstrap, len(own)))].mean(axis=1)
                other_mean = other[rng.integers(0, len(other), size=(bootstrap, len(other)))].mean(axis=1)
                own_draw += own_mean / len(egos)
                gap_draw += (own_mean - other_mean) / len(egos)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = gap_draw / own_draw
            raw_interval = _interval(gap_draw, confidence)
            method = "episode bootstrap within ego, percentile; " + method
        if np.isfinite(relative):
            relative_interval = _interval(np.where(np.isfinite(ratio), ratio, np.nan), confidence)
    n = int(sum(len(own) + len(other) for own, other in egos))
    # The null mean is about 0 by construction; it is reported, not subtracted (a gap is not biased).
    return {
        NAME: MetricResult(NAME, raw, raw_interval, float("nan"), pvalue, n, len(egos),
                           method + f"; permutation null mean {null_mean:.3g}" if np.isfinite(null_mean) else method,
                           note),
        RELATIVE: MetricResult(RELATIVE, relative, relative_interval, float("nan"), pvalue, n, len(egos), method,
                               note),
    }


METRIC = register(InteractionMetric(
    name=NAME, needs=TABLE, outputs=(NAME, RELATIVE), measure=measure, applicable=applicable,
    description="mean return with the own training partner minus with other runs' agents, per ego, averaged "
                "(raw, and relative to the own-partner return)",
))
