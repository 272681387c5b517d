"""Acting with a trained actor-critic: the API evaluation builds on."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from loi.agents.networks import ActorCritic


def sample_action(network: ActorCritic, params: Any, obs: jax.Array, key: jax.Array) -> jax.Array:
    """Draw an action (int32, batch shape of ``obs``) from the policy; jit/vmap-safe."""
    logits, _ = network.apply(params, obs)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def greedy_action(network: ActorCritic, params: Any, obs: jax.Array) -> jax.Array:
    """The most probable action (int32, batch shape of ``obs``)."""
    logits, _ = network.apply(params, obs)
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)
