"""Whole-training snapshots for exact resume.

The snapshot stores every leaf of the :class:`~loi.training.ppo.TrainState`
pytree (params, optimiser state, environment states, observations, episode
accumulators, RNG keys, update counters) as raw arrays; restoring rebuilds the
tree from a template of the same config, so a resumed run continues with
bit-identical state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
from loi.agents.checkpoint import read_msgpack, write_msgpack
from loi.errors import LoiError

FORMAT = "loi-train-state/1"


def save_state(path: str | os.PathLike, state: Any, info: dict[str, Any]) -> Path:
    """Write ``state`` (any pytree of arrays) and ``info`` atomically."""
    path = Path(path)
    leaves = jax.tree_util.tree_leaves(jax.device_get(state))
    payload = {"format": FORMAT, "info": dict(info), "leaves": {str(i): np.asarray(x) for i, x in enumerate(leaves)}}
    return write_msgpack(path, payload)


def load_state(path: str | os.PathLike, template: Any) -> tuple[Any, dict[str, Any]]:
    """Read a snapshot into the structure of ``template`` (arrays or
    ``jax.ShapeDtypeStruct``s); shapes and dtypes must match exactly."""
    path = Path(path)
    payload = read_msgpack(path, FORMAT, "training snapshot")
    expected, treedef = jax.tree_util.tree_flatten(template)
    stored = payload["leaves"]
    if len(stored) != len(expected):
        raise LoiError(f"training snapshot {path} does not match this config ({len(stored)} arrays, expected {len(expected)})")
    leaves = []
    for i, want in enumerate(expected):
        got = np.asarray(stored[str(i)])
        if got.shape != tuple(want.shape) or got.dtype != np.dtype(want.dtype):
            raise LoiError(
                f"training snapshot {path} does not match this config "
                f"(array {i}: {got.dtype}{list(got.shape)}, expected {np.dtype(want.dtype)}{list(want.shape)})"
            )
        leaves.append(got)
    return jax.tree_util.tree_unflatten(treedef, leaves), payload["info"]
