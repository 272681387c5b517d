"""Acting with a trained actor-critic: one carried-state interface for every caller.

A policy's *carry* is what it remembers between steps: for a recurrent network
a :class:`Memory` (the core's state and the previous action), for a
feed-forward network ``()``. Every caller (PPO rollouts, cross-play,
tournaments, ``loi render``, the PettingZoo actor) does, per step::

    carry = init_carry(network, batch)                          # once
    carry, action = act(network, params, carry, obs, reward, reset, key)

``reward`` is the reward this seat received on the step that produced
``obs`` and ``reset`` is true on an episode's first observation; there the
carry is zeroed before it is used, so nothing leaks between episodes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from loi.agents.networks import ActorCritic


class Memory(NamedTuple):
    """A recurrent policy's carry (leaves with the caller's batch shape in front)."""

    core: Any  # the core's state, [..., core_size] (``(c, h)`` for an LSTM)
    prev_action: jax.Array  # int32[...]: the action taken on the previous step


def init_carry(network: ActorCritic, batch: int | tuple[int, ...] = ()) -> Any:
    """The carry of a fresh episode for a batch of ``batch`` (``()`` if feed-forward)."""
    shape = (batch,) if isinstance(batch, int) else tuple(batch)
    if not network.recurrent:
        return ()
    return Memory(network.initial_core(shape), jnp.zeros(shape, jnp.int32))


def policy_step(network: ActorCritic, params: Any, carry: Any, obs: jax.Array, reward: jax.Array,
                reset: jax.Array) -> tuple[jax.Array, jax.Array, Any]:
    """``(logits, value, carry)`` of one step (any batch shape); the returned
    carry holds the new core state, and still the old previous action."""
    if not network.recurrent:
        logits, value = network.apply(params, obs)
        return logits, value, carry
    logits, value, core = network.apply(params, obs[None], carry.core, carry.prev_action[None], reward[None],
                                        reset[None])
    return logits[0], value[0], Memory(core, carry.prev_action)


def with_action(carry: Any, action: jax.Array) -> Any:
    """``carry`` after ``action`` was taken (feed-forward carries are unchanged)."""
    return carry._replace(prev_action=action.astype(jnp.int32)) if isinstance(carry, Memory) else carry


def act(network: ActorCritic, params: Any, carry: Any, obs: jax.Array, reward: jax.Array, reset: jax.Array,
        key: jax.Array, greedy: bool = False) -> tuple[Any, jax.Array]:
    """Sample (``greedy``: the most probable) action for a batch; one key for
    the whole batch. Returns ``(carry, int32 action)``; jit/vmap-safe."""
    logits, _, carry = policy_step(network, params, carry, obs, reward, reset)
    if greedy:
        action = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    else:
        action = jax.random.categorical(key, logits).astype(jnp.int32)
    return with_action(carry, action), action


def sequence_logits(network: ActorCritic, params: Any, carry: Any, obs: jax.Array, action: jax.Array,
                    reward: jax.Array, reset: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(logits[T, ...], value[T, ...])`` of a whole trajectory (time first),
    replayed from ``carry``, its state before step 0. ``action[t]`` is the
    action taken at step ``t`` (it becomes step ``t+1``'s previous action),
    ``reward[t]`` / ``reset[t]`` what came with ``obs[t]``. Back-propagation
    runs through the whole trajectory (PureJaxRL ``ppo_rnn``)."""
    if not network.recurrent:
        return network.apply(params, obs)
    prev_action = jnp.concatenate([carry.prev_action[None], action[:-1]], axis=0)
    logits, value, _ = network.apply(params, obs, carry.core, prev_action, reward, reset)
    return logits, value


def sample_action(network: ActorCritic, params: Any, obs: jax.Array, key: jax.Array) -> jax.Array:
    """Draw an action (int32, batch shape of ``obs``) from a feed-forward policy."""
    logits, _ = network.apply(params, obs)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def greedy_action(network: ActorCritic, params: Any, obs: jax.Array) -> jax.Array:
    """The most probable action (int32, batch shape of ``obs``) of a feed-forward policy."""
    logits, _ = network.apply(params, obs)
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)
