"""Cross-play results as the long-format reward table (``loi.tables`` schema)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from loi.tables.schema import (COPLAYER, COPLAYER_CHECKPOINT, COPLAYER_RETURN, COPLAYER_SEED, EGO,
                               EGO_CHECKPOINT, EGO_RETURN, EPISODE, OWN_PARTNER, REGIME, SCENARIO, validate_table)

EGO_SEAT = "ego_seat"
EPISODE_LENGTH = "episode_length"
INTERACTIONS = "interactions"
TRUNCATED = "truncated"


def _column(policies: Sequence, field: str) -> list | None:
    values = [p.info.get(field) for p in policies]
    return None if any(v is None for v in values) else values


def coplayer_seed_ids(policies: Sequence) -> np.ndarray | None:
    """One integer per (training run, seed) of the policies, in order of first
    appearance (a bot, ``info["bot"]``, is a block of its own); ``None`` when a
    policy has no seed (e.g. a baseline)."""
    if any("bot" not in p.info and p.info.get("seed") is None for p in policies):
        return None
    keys = [f"bot\x00{p.info['bot']}" if "bot" in p.info else f"{p.info.get('run', '')}\x00{p.info['seed']}"
            for p in policies]
    ids, _ = pd.factorize(pd.Series(keys), sort=False)
    return ids.astype(np.int64)


def cross_play_frame(result) -> pd.DataFrame:
    """One row per episode of a :class:`~loi.evaluation.CrossPlayResult`."""
    n_ego, n_cop, n_seat, n_ep = result.ego_return.shape
    e, c, s, n = (g.reshape(-1) for g in np.indices(result.ego_return.shape))
    seats = np.asarray(result.seats)[s]
    frame = {
        SCENARIO: np.full(e.size, result.scenario, dtype=object),
        EGO: np.asarray([p.name for p in result.egos], dtype=object)[e],
        COPLAYER: np.asarray([p.name for p in result.coplayers], dtype=object)[c],
        EPISODE: (s * n_ep + n).astype(np.int64),
        EGO_RETURN: result.ego_return.reshape(-1).astype(np.float64),
        COPLAYER_RETURN: result.coplayer_return.reshape(-1).astype(np.float64),
        EGO_SEAT: seats.astype(np.int64),
        EPISODE_LENGTH: result.length.reshape(-1).astype(np.int64),
    }
    # An env without interactions (a JaxMARL env) has no interaction or strategy columns.
    if result.interactions is not None:
        frame[INTERACTIONS] = result.interactions.reshape(-1).astype(np.int64)
    frame[TRUNCATED] = result.truncated.reshape(-1)
    k = 0 if result.ego_strategy is None else result.ego_strategy.shape[-1]
    for i in range(k):
        frame[f"ego_strategy_{i + 1}"] = result.ego_strategy[..., i].reshape(-1).astype(np.float64)
    for i in range(k):
        frame[f"coplayer_strategy_{i + 1}"] = result.coplayer_strategy[..., i].reshape(-1).astype(np.float64)
    ego_generation = _column(result.egos, "generation")
    if ego_generation is not None:
        frame[EGO_CHECKPOINT] = np.asarray(ego_generation, np.int64)[e]
    cop_generation = _column(result.coplayers, "generation")
    if cop_generation is not None:
        frame[COPLAYER_CHECKPOINT] = np.asarray(cop_generation, np.int64)[c]
    seed_ids = coplayer_seed_ids(result.coplayers)
    if seed_ids is not None:
        frame[COPLAYER_SEED] = seed_ids[c]
    regimes = _column(result.egos, "regime")
    if regimes is not None:
        frame[REGIME] = np.asarray(regimes, dtype=object)[e]
    own = own_partner(result.egos, result.coplayers)
    if own is not None:
        frame[OWN_PARTNER] = own[e, c]
    return validate_table(pd.DataFrame(frame))


def own_partner(egos: Sequence, coplayers: Sequence) -> np.ndarray | None:
    """``[ego, co-player]``: whether the co-player is the ego's own training partner, i.e. a policy
    of the ego's own training run and seed (self-play: its own lineage, any checkpoint; population
    play: its population's members). ``None`` when no ego was trained (nothing to compare);
    baselines are nobody's partner. (A fictitious co-play ego's partners come from another run's
    pool and are not marked.)"""
    def origin(policy) -> tuple[str, int] | None:
        info = policy.info
        return None if info.get("seed") is None or info.get("run") is None else (str(info["run"]), int(info["seed"]))

    ego_origin = [origin(p) for p in egos]
    if all(o is None for o in ego_origin):
        return None
    cop_origin = [origin(p) for p in coplayers]
    return np.array([[o is not None and o == c for c in cop_origin] for o in ego_origin], dtype=bool)
