"""The paper's LoI protocol from self-play runs (SPEC §1).

Egos: late checkpoints of every self-play seed (default: the last 4
generations). Co-players: checkpoints of the *other* seeds at 9 training
stages (the paper's generations 0, 2, 4, 6, 8, 12, 16, 20, 24 of 25, mapped
onto the generations available). Every ego plays ``episodes`` (default 6)
episodes against each co-player; the table's blocks are (ego checkpoint,
co-player seed) and :func:`loi.metrics.table.measure_table` gives the LoI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

import jax
import numpy as np
import pandas as pd

from loi.errors import LoiError
from loi.evaluation.cross_play import cross_play
from loi.evaluation.policies import Policy, checkpoint_policy, run_checkpoints
from loi.metrics import DEFAULT_ESTIMATOR, LoIResult
from loi.metrics.table import measure_table
from loi.tables.schema import COPLAYER, COPLAYER_SEED, EGO

PAPER_STAGES: tuple[int, ...] = (0, 2, 4, 6, 8, 12, 16, 20, 24)
PAPER_GENERATIONS = 25
PAPER_EPISODES = 6
PAPER_EGO_CHECKPOINTS = 4


def stage_generations(num_generations: int, stages: Sequence[int] = PAPER_STAGES,
                      of: int = PAPER_GENERATIONS) -> tuple[int, ...]:
    """The generations (0-based) standing for the paper's ``stages`` of ``of``
    generations in a run of ``num_generations``: the same relative training
    progress, rounded. With fewer generations than stages every generation is
    used; if rounding merges stages, evenly spaced generations are used instead."""
    if num_generations < 1:
        raise LoiError(f"num_generations must be >= 1, got {num_generations}")
    stages = sorted(int(s) for s in stages)
    if not stages or stages[0] < 0 or stages[-1] >= of:
        raise LoiError(f"stages must lie in 0..{of - 1}, got {stages}")
    if num_generations == of:
        return tuple(stages)
    if num_generations <= len(stages):
        return tuple(range(num_generations))
    scale = (num_generations - 1) / (of - 1)
    mapped = sorted({int(np.floor(s * scale + 0.5)) for s in stages})
    if len(mapped) < len(stages):
        mapped = sorted({int(v) for v in np.round(np.linspace(0, num_generations - 1, len(stages)))})
    return tuple(mapped)


@dataclass(frozen=True)
class ProtocolResult:
    """The cross-play reward table of the protocol and the LoI per scenario."""

    table: pd.DataFrame
    loi: dict[str, LoIResult]


def protocol_policies(run_dirs: Sequence[str | os.PathLike], *, ego_checkpoints: int = PAPER_EGO_CHECKPOINTS,
                      stages: Sequence[int] = PAPER_STAGES, of: int = PAPER_GENERATIONS,
                      greedy: bool = False) -> tuple[list[Policy], list[Policy]]:
    """(egos, co-players) of the protocol from self-play run directories; every
    (run, seed) is one training seed (member 0)."""
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    egos, coplayers = [], []
    for run_dir in run_dirs:
        checkpoints = run_checkpoints(run_dir)
        seeds = sorted({s for s, m, _ in checkpoints if m == 0})
        for seed in seeds:
            generations = sorted(g for s, m, g in checkpoints if s == seed and m == 0)
            if ego_checkpoints < 1:
                raise LoiError(f"ego_checkpoints must be >= 1, got {ego_checkpoints}")
            for g in generations[-ego_checkpoints:]:
                egos.append(checkpoint_policy(checkpoints[(seed, 0, g)], greedy=greedy))
            for i in stage_generations(len(generations), stages, of):
                coplayers.append(checkpoint_policy(checkpoints[(seed, 0, generations[i])], greedy=greedy))
    if len({(p.info.get("run"), p.info.get("seed")) for p in coplayers}) < 2:
        raise LoiError("the LoI protocol needs at least 2 self-play seeds (co-players come from the other seeds)")
    return egos, coplayers


def protocol_table(env, egos: Sequence[Policy], coplayers: Sequence[Policy], *, episodes: int = PAPER_EPISODES,
                   key: jax.Array, chunk_size: int = 1024, streams: int = 1,
                   max_episode_steps: int | None = None,
                   on_chunk: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Cross-play every ego against every co-player and keep the pairs whose
    co-player comes from another training seed than the ego."""
    result = cross_play(env, egos, coplayers, episodes, key, chunk_size=chunk_size, streams=streams,
                        max_episode_steps=max_episode_steps, on_chunk=on_chunk)
    table = result.to_table()
    if COPLAYER_SEED not in table.columns:
        raise LoiError("the LoI protocol needs trained co-players (checkpoints with a seed)")
    if any("seed" not in p.info for p in egos):
        raise LoiError("the LoI protocol needs trained egos (checkpoints with a seed)")

    def origin(p: Policy) -> tuple[str, int]:
        return str(p.info.get("run", "")), int(p.info["seed"])

    ego_origin = {p.name: origin(p) for p in egos}
    cop_origin = {p.name: origin(p) for p in coplayers}
    own = np.array([ego_origin[e] == cop_origin[c] for e, c in zip(table[EGO], table[COPLAYER])], bool)
    kept = table.loc[~own].reset_index(drop=True)
    if not len(kept):
        raise LoiError("no (ego, co-player) pair with different training seeds")
    return kept


def loi_protocol(env, run_dirs: Sequence[str | os.PathLike], *, episodes: int = PAPER_EPISODES,
                 seed: int = 0, ego_checkpoints: int = PAPER_EGO_CHECKPOINTS,
                 stages: Sequence[int] = PAPER_STAGES, of: int = PAPER_GENERATIONS,
                 estimator: str = DEFAULT_ESTIMATOR, permutations: int = 1000, bootstrap: int = 1000,
                 chunk_size: int = 1024, streams: int = 1, max_episode_steps: int | None = None,
                 on_chunk: Callable[[int, int], None] | None = None, **estimator_options) -> ProtocolResult:
    """The paper's protocol end to end: policies from ``run_dirs`` -> cross-play
    table -> LoI (with permutation null, bootstrap CI and p-value)."""
    egos, coplayers = protocol_policies(run_dirs, ego_checkpoints=ego_checkpoints, stages=stages, of=of)
    table = protocol_table(env, egos, coplayers, episodes=episodes, key=jax.random.PRNGKey(seed),
                           chunk_size=chunk_size, streams=streams, max_episode_steps=max_episode_steps,
                           on_chunk=on_chunk)
    loi = measure_table(table, estimator=estimator, permutations=permutations, bootstrap=bootstrap, seed=seed,
                        **estimator_options)
    return ProtocolResult(table=table, loi=loi)
