"""The frozen partner pool for fictitious co-play (``fcpN``): checkpoints of a
self-play run and, optionally, Melting Pot bots (``TrainConfig.pool_bots``)."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from loi.agents.checkpoint import load_checkpoint
from loi.errors import LoiError
from loi.training.ppo import PartnerPool
from loi.training.rundir import RunDir


def policy_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Every policy checkpoint of a training run directory, sorted by
    (seed, member, generation)."""
    return [c.path for c in RunDir(run_dir).checkpoints()]


def select_pool(run_dir: str | os.PathLike, size: int) -> list[Path]:
    """``size`` checkpoints of a self-play run spread over training stages and
    seeds: all checkpoints ordered by (generation, seed, member), then picked at
    evenly spaced positions (earliest and latest stage included)."""
    run = RunDir(run_dir)
    checkpoints = run.checkpoints()
    if not checkpoints:
        raise LoiError(f"no policy checkpoints ({RunDir.CHECKPOINT_PATTERN}) under {run_dir}")
    if len(checkpoints) < size:
        raise LoiError(f"fcp{size} needs {size} checkpoints, {run_dir} has {len(checkpoints)}")
    checkpoints.sort(key=lambda c: (c.generation, c.seed, c.member))
    picks = np.unique(np.round(np.linspace(0, len(checkpoints) - 1, size)).astype(int))
    return [checkpoints[i].path for i in picks]


def load_pool(paths: list[str | os.PathLike], scenario: str | None = None, *, bots: tuple[str, ...] = (),
              env=None) -> PartnerPool:
    """Stack the checkpoints' params (they must share one network) into a pool,
    followed by ``bots`` (``bots:NAME``; they need ``env``, the training environment)."""
    checkpoints = [load_checkpoint(p) for p in paths]
    if not checkpoints and not bots:
        raise LoiError("the fcp pool is empty")
    bot_params, bot_act = None, None
    if bots:
        from loi.agents.bots import bot_act as make_bot_act
        from loi.agents.bots import bot_params as make_bot_params
        from loi.agents.bots import parse_bot

        if env is None:
            raise LoiError("bots in an fcp pool need the training environment")
        k = int(env.num_strategies)
        specs = [make_bot_params(parse_bot(b, k), k) for b in bots]
        bot_params = jax.tree_util.tree_map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *specs)
        bot_act = make_bot_act(env)
    if not checkpoints:
        return PartnerPool(network=None, params=None, bot_params=bot_params, bot_act=bot_act)
    first = checkpoints[0]
    for path, ckpt in zip(paths, checkpoints):
        if ckpt.network_config != first.network_config:
            raise LoiError(f"fcp pool checkpoint {path} has a different network from {paths[0]}")
        trained_on = ckpt.metadata.get("scenario")
        if scenario is not None and trained_on is not None and trained_on != scenario:
            raise LoiError(f"fcp pool checkpoint {path} was trained on {trained_on}, not {scenario}")
    params = jax.tree_util.tree_map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *[c.params for c in checkpoints])
    return PartnerPool(network=first.network, params=params, bot_params=bot_params, bot_act=bot_act)
