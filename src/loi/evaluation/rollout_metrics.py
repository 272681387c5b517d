"""The rollout metrics' data: both policies played in rollouts, with counterfactual ego actions.

:func:`collect_rollouts` plays ``lanes`` independent rollouts of ``steps`` steps (auto-resetting
episodes) in one ``lax.scan``, vmapped over lanes. At every step it also steps the environment
from the same state with every counterfactual ego action (vmapped over actions, with the same
environment key: common random numbers) and evaluates the co-player's next-action distribution on
each resulting observation **from the same carry** (its memory after the actual step t, so a
recurrent co-player differs only by what the ego did). The result is a
:class:`loi.metrics.interaction.RolloutRecord`; :func:`rollout_metrics` reduces it with the
registered rollout metrics (``social_influence``, ``action_mi``).

A policy here is an :class:`ActionModel`: its action *distribution* per step, which counterfactuals
need (a sampled action is not enough): :func:`network_model` / :func:`checkpoint_model` for
trained networks, or any function of the same form.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from loi.agents import load_checkpoint
from loi.agents.policy import init_carry as network_init_carry
from loi.agents.policy import policy_step, with_action
from loi.errors import LoiError
from loi.metrics.interaction import POLICIES, ROLLOUTS, MetricResult, RolloutRecord, get_metric, metric_names

LogitsFn = Callable[..., tuple[Any, jax.Array]]  # (params, carry, obs[B, D], reward[B], reset[B]) -> (carry, logits)


def _no_carry(batch: int) -> tuple:
    return ()


def _keep(carry, action):
    return carry


@dataclass(frozen=True, eq=False)
class ActionModel:
    """A policy as action distributions: ``logits(params, carry, obs[B, D], reward[B], reset[B]) ->
    (carry, logits[B, A])`` (the carry after reading ``obs``, before acting; ``reset`` zeroes it),
    ``take(carry, action) -> carry`` once an action is drawn, ``init_carry(B)``."""

    name: str
    logits: LogitsFn
    params: Any
    init_carry: Callable[[int], Any] = _no_carry
    take: Callable[[Any, jax.Array], Any] = _keep


@functools.lru_cache(maxsize=None)
def _network_logits(network) -> tuple[LogitsFn, Callable[[int], Any]]:
    def logits(params, carry, obs, reward, reset):
        out, _, carry = policy_step(network, params, carry, obs, reward, reset)
        return carry, out

    return logits, functools.partial(network_init_carry, network)


def network_model(name: str, network, params) -> ActionModel:
    """An actor-critic (``loi.agents``) as an :class:`ActionModel` (recurrent ones carry memory)."""
    logits, init = _network_logits(network)
    return ActionModel(name, logits, params, init, with_action)


def checkpoint_model(path) -> ActionModel:
    """The policy of a training checkpoint (``gen_XXX.msgpack``) as an :class:`ActionModel`."""
    ckpt = load_checkpoint(path)
    return network_model(str(path), ckpt.network, ckpt.params)


def _seat_obs(obs: dict, agents, ego_seat: int):
    return obs[agents[ego_seat]], obs[agents[1 - ego_seat]]


@functools.lru_cache(maxsize=32)
def _program(env, ego_logits, cop_logits, ego_take, cop_take, ego_init, cop_init, lanes: int, steps: int,
             ego_seat: int):
    agents = tuple(env.agents)
    actions = int(env.action_space(agents[ego_seat]).n)

    def joint(ego_a, cop_a):
        return {agents[ego_seat]: ego_a, agents[1 - ego_seat]: cop_a}

    def run(ego_params, cop_params, key):
        reset_key, loop_key = jax.random.split(key)
        obs, state = jax.vmap(env.reset)(jax.random.split(reset_key, lanes))
        carry = (obs, state, ego_init(lanes), cop_init(lanes), jnp.zeros(lanes), jnp.zeros(lanes),
                 jnp.ones(lanes, bool))

        def step(carry, t):
            obs, state, ego_carry, cop_carry, ego_reward, cop_reward, first = carry
            k_ego, k_cop, k_env = jax.random.split(jax.random.fold_in(loop_key, t), 3)
            ego_obs, cop_obs = _seat_obs(obs, agents, ego_seat)
            ego_carry, ego_logit = ego_logits(ego_params, ego_carry, ego_obs, ego_reward, first)
            cop_carry, cop_logit = cop_logits(cop_params, cop_carry, cop_obs, cop_reward, first)
            ego_a = jax.random.categorical(k_ego, ego_logit).astype(jnp.int32)
            cop_a = jax.random.categorical(k_cop, cop_logit).astype(jnp.int32)
            ego_carry, cop_carry = ego_take(ego_carry, ego_a), cop_take(cop_carry, cop_a)
            env_keys = jax.random.split(k_env, lanes)

            def counterfactual(a):  # every lane's step had the ego played ``a`` (same env keys)
                nobs, nstate, rewards, dones, _ = jax.vmap(env.step)(env_keys, state, joint(
                    jnp.full(lanes, a, jnp.int32), cop_a))
                _, cop_next_obs = _seat_obs(nobs, agents, ego_seat)
                reward = rewards[agents[1 - ego_seat]].astype(jnp.float32)
                _, logits = cop_logits(cop_params, cop_carry, cop_next_obs, reward, dones["__all__"])
                return jax.nn.softmax(logits, axis=-1), (nobs, nstate, rewards, dones)

            conditional, outcomes = jax.vmap(counterfactual)(jnp.arange(actions))  # [A, L, B], [A, L, ...]
            actual = jax.tree_util.tree_map(lambda x: x[ego_a, jnp.arange(lanes)], outcomes)
            nobs, nstate, rewards, dones = actual
            record = (jax.nn.softmax(ego_logit, axis=-1), jnp.swapaxes(conditional, 0, 1), ego_a, cop_a,
                      dones["__all__"])
            carry = (nobs, nstate, ego_carry, cop_carry, rewards[agents[ego_seat]].astype(jnp.float32),
                     rewards[agents[1 - ego_seat]].astype(jnp.float32), dones["__all__"])
            return carry, record

        _, record = jax.lax.scan(step, carry, jnp.arange(steps))
        return record

    return jax.jit(run)


def collect_rollouts(env, ego: ActionModel, coplayer: ActionModel, *, lanes: int = 16, steps: int = 256,
                     key: jax.Array, ego_seat: int = 0) -> RolloutRecord:
    """``lanes`` rollouts of ``steps`` steps of ``ego`` (in seat ``ego_seat``) with ``coplayer``,
    with the co-player's next-action distribution under every counterfactual ego action."""
    for name, value in (("lanes", lanes), ("steps", steps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise LoiError(f"{name} must be a positive integer, got {value!r}")
    if steps < 2:
        raise LoiError(f"steps must be at least 2, got {steps}")
    if ego_seat not in (0, 1):
        raise LoiError(f"ego_seat must be 0 or 1, got {ego_seat!r}")
    program = _program(env, ego.logits, coplayer.logits, ego.take, coplayer.take, ego.init_carry,
                       coplayer.init_carry, int(lanes), int(steps), int(ego_seat))
    probs, conditional, ego_a, cop_a, ends = jax.device_get(program(ego.params, coplayer.params, key))
    return RolloutRecord(np.asarray(probs), np.asarray(conditional), np.asarray(ego_a), np.asarray(cop_a),
                         np.asarray(ends, dtype=bool))


def rollout_metrics(record: RolloutRecord, metrics=None, *, permutations: int = 1000, bootstrap: int = 1000,
                    confidence: float = 0.95, seed: int = 0) -> dict[str, MetricResult]:
    """The rollout metrics (default: every registered one that reads rollouts) of one record."""
    names = metrics if metrics is not None else [*metric_names(POLICIES), *metric_names(ROLLOUTS)]
    out: dict[str, MetricResult] = {}
    for name in names:
        metric = get_metric(name)
        if metric.needs not in (POLICIES, ROLLOUTS):
            raise LoiError(f"metric {name!r} needs {metric.needs}, not rollouts")
        out.update(metric.measure(record, permutations=permutations, bootstrap=bootstrap, confidence=confidence,
                                  seed=seed))
    return out
