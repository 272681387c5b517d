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
from loi.evaluation.table import coplayer_seed_ids
from loi.metrics import DEFAULT_ESTIMATOR, LoIResult
from loi.metrics.table import measure_table
from loi.tables.schema import COPLAYER, COPLAYER_SEED

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
                      greedy: bool = False, ego_seeds: int | None = None) -> tuple[list[Policy], list[Policy]]:
    """(egos, co-players) of the protocol from self-play run directories; every
    (run, seed) is one training seed (member 0). ``ego_seeds`` limits the egos
    to the first that many training seeds (the paper evaluated the checkpoints
    of one; default: every seed, which gives more blocks for the same LoI)."""
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    if ego_seeds is not None and (isinstance(ego_seeds, bool) or not isinstance(ego_seeds, int) or ego_seeds < 1):
        raise LoiError(f"ego_seeds must be a positive integer, got {ego_seeds!r}")
    egos, coplayers = [], []
    ego_origins = 0
    for run_dir in run_dirs:
        checkpoints = run_checkpoints(run_dir)
        seeds = sorted({s for s, m, _ in checkpoints if m == 0})
        for seed in seeds:
            generations = sorted(g for s, m, g in checkpoints if s == seed and m == 0)
            if ego_checkpoints < 1:
                raise LoiError(f"ego_checkpoints must be >= 1, got {ego_checkpoints}")
            if ego_seeds is None or ego_origins < ego_seeds:
                ego_origins += 1
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
    """Cross-play every ego against every co-player from another training seed.

    The egos of one training seed play in one call, against the co-players of
    the other seeds only (a pair from the same seed is never played: it would
    be dropped anyway). The call for the i-th ego seed (in order of first
    appearance) uses ``fold_in(key, i)``, so one seed's rows do not depend on
    which other ego seeds are evaluated. ``on_chunk(done, total)`` counts pairs
    over all calls."""
    if any("seed" not in p.info for p in egos):
        raise LoiError("the LoI protocol needs trained egos (checkpoints with a seed)")
    if not coplayers or any("seed" not in p.info and "bot" not in p.info for p in coplayers):
        raise LoiError("the LoI protocol needs trained co-players (checkpoints with a seed) or bots")

    def origin(p: Policy) -> tuple[str, int]:
        if "bot" in p.info:  # a bot is a co-player block of its own, never an ego's own seed
            return f"bot:{p.info['bot']}", -1
        return str(p.info.get("run", "")), int(p.info["seed"])

    seed_id = dict(zip((p.name for p in coplayers), coplayer_seed_ids(coplayers)))
    groups: dict[tuple[str, int], list[Policy]] = {}
    for p in egos:
        groups.setdefault(origin(p), []).append(p)
    calls = [(i, ego_group, [c for c in coplayers if origin(c) != o])
             for i, (o, ego_group) in enumerate(groups.items())]
    calls = [call for call in calls if call[2]]
    if not calls:
        raise LoiError("no (ego, co-player) pair with different training seeds")
    total = sum(len(ego_group) * len(cop_group) for _, ego_group, cop_group in calls)
    frames, done = [], 0
    for i, ego_group, cop_group in calls:
        progress = None if on_chunk is None else (lambda d, _t, base=done: on_chunk(base + d, total))
        result = cross_play(env, ego_group, cop_group, episodes, jax.random.fold_in(key, i), chunk_size=chunk_size,
                            streams=streams, max_episode_steps=max_episode_steps, on_chunk=progress)
        done += len(ego_group) * len(cop_group)
        frame = result.to_table()
        # Block ids over all co-players of the protocol, not per call.
        frame[COPLAYER_SEED] = frame[COPLAYER].map(seed_id).astype(np.int64)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def loi_protocol(env, run_dirs: Sequence[str | os.PathLike], *, episodes: int = PAPER_EPISODES,
                 seed: int = 0, ego_checkpoints: int = PAPER_EGO_CHECKPOINTS,
                 stages: Sequence[int] = PAPER_STAGES, of: int = PAPER_GENERATIONS, ego_seeds: int | None = None,
                 estimator: str = DEFAULT_ESTIMATOR, permutations: int = 1000, bootstrap: int = 1000,
                 chunk_size: int = 1024, streams: int = 1, max_episode_steps: int | None = None,
                 on_chunk: Callable[[int, int], None] | None = None, bots: Sequence[str] = (),
                 **estimator_options) -> ProtocolResult:
    """The paper's protocol end to end: policies from ``run_dirs`` -> cross-play
    table -> LoI (with permutation null, bootstrap CI and p-value). ``bots``
    (``bots:NAME``) join the co-players, each a block of its own."""
    from loi.evaluation.policies import bot_policy

    egos, coplayers = protocol_policies(run_dirs, ego_checkpoints=ego_checkpoints, stages=stages, of=of,
                                         ego_seeds=ego_seeds)
    coplayers = coplayers + [bot_policy(b, env) for b in bots]
    table = protocol_table(env, egos, coplayers, episodes=episodes, key=jax.random.PRNGKey(seed),
                           chunk_size=chunk_size, streams=streams, max_episode_steps=max_episode_steps,
                           on_chunk=on_chunk)
    loi = measure_table(table, estimator=estimator, permutations=permutations, bootstrap=bootstrap, seed=seed,
                        **estimator_options)
    return ProtocolResult(table=table, loi=loi)
