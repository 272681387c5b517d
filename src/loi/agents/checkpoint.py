"""Policy checkpoints: one msgpack file that alone rebuilds a policy.

A file holds ``{"format", "params", "metadata", "network"}`` serialised with
``flax.serialization.msgpack_serialize``; ``network`` is
``ActorCritic.describe()``, so :func:`load_checkpoint` needs no environment or
config to rebuild the network. Writes are atomic (temp file + ``os.replace``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from loi.agents.networks import ActorCritic, network_from_description
from loi.errors import LoiError
from loi.tables.io import atomic_write

FORMAT = "loi-policy/1"


@dataclass(frozen=True)
class Checkpoint:
    """A loaded policy: ``params``, ``metadata`` (scenario, regime, member, seed,
    step, generation, config hash, ...) and the ``network_config`` description."""

    params: Any
    metadata: dict[str, Any]
    network_config: dict[str, Any]

    @property
    def network(self) -> ActorCritic:
        return network_from_description(self.network_config)


def save_checkpoint(
    path: str | os.PathLike,
    params: Any,
    metadata: dict[str, Any],
    network: ActorCritic | dict[str, Any],
) -> Path:
    """Write ``params`` (+ metadata + network description) atomically to ``path``."""
    path = Path(path)
    description = network.describe() if isinstance(network, ActorCritic) else dict(network)
    payload = {
        "format": FORMAT,
        "params": jax.tree_util.tree_map(np.asarray, params),
        "metadata": dict(metadata),
        "network": description,
    }
    blob = serialization.msgpack_serialize(payload)
    with atomic_write(path) as tmp:
        tmp.write_bytes(blob)
    return path


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a file written by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise LoiError(f"checkpoint not found: {path}")
    try:
        payload = serialization.msgpack_restore(path.read_bytes())
    except Exception as err:  # msgpack raises several unrelated types on garbage
        raise LoiError(f"cannot read checkpoint {path}: {err}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise LoiError(f"{path} is not a loi policy checkpoint (format {FORMAT})")
    return Checkpoint(params=payload["params"], metadata=payload["metadata"], network_config=payload["network"])
