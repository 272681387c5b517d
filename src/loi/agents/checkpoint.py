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
    return write_msgpack(path, payload)


def write_msgpack(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Serialise ``payload`` (tagged with a ``"format"`` key) to ``path`` atomically."""
    path = Path(path)
    blob = serialization.msgpack_serialize(payload)
    with atomic_write(path) as tmp:
        tmp.write_bytes(blob)
    return path


def read_msgpack(path: str | os.PathLike, fmt: str, what: str) -> dict[str, Any]:
    """Read a file written by :func:`write_msgpack` whose ``"format"`` is ``fmt``;
    ``what`` names the kind of file in the one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise LoiError(f"{what} not found: {path}")
    try:
        payload = serialization.msgpack_restore(path.read_bytes())
    except Exception as err:  # msgpack raises several unrelated types on garbage
        raise LoiError(f"cannot read {what} {path}: {err}") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise LoiError(f"{path} is not a loi {what} (format {fmt})")
    return payload


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a file written by :func:`save_checkpoint`."""
    payload = read_msgpack(path, FORMAT, "policy checkpoint")
    return Checkpoint(params=payload["params"], metadata=payload["metadata"], network_config=payload["network"])
