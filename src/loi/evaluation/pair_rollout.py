"""One pair of policies played step by step, every state kept: what ``loi render`` draws.

Cross-play (:mod:`loi.evaluation.cross_play`) keeps per-episode sums only; watching a pair needs
the states themselves. :func:`pair_rollout` plays ``policy`` (agent_0, the row seat) with
``partner`` (agent_1) for a fixed number of steps in one ``lax.scan``, episodes auto-resetting
(``env.step``), and returns the stacked states. Any two policies of
:mod:`loi.evaluation.policies` pair up: trained checkpoints (their memory carried), baselines,
bots (their puppeteer state carried).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from loi.errors import LoiError
from loi.evaluation.cross_play import _check_policies
from loi.evaluation.policies import Policy


@dataclass(frozen=True)
class PairRollout:
    """``states``: the environment's states stacked on a leading axis of ``steps + 1`` (the
    first is the reset state; after a step that ended an episode, the next episode's first
    state). ``actions`` / ``rewards``: ``[steps, 2]`` (agent_0, agent_1); ``episode_ends``:
    ``bool[steps]``; ``interacted``: ``bool[steps]``, None for an environment without
    interactions."""

    states: Any
    actions: np.ndarray
    rewards: np.ndarray
    episode_ends: np.ndarray
    interacted: np.ndarray | None

    @property
    def steps(self) -> int:
        return int(self.actions.shape[0])

    def state(self, t: int) -> Any:
        """The state after ``t`` steps (0: the reset state)."""
        return jax.tree_util.tree_map(lambda x: x[t], self.states)


@functools.lru_cache(maxsize=16)
def _program(env, acts: tuple[Callable, Callable], inits: tuple[Callable, Callable], steps: int,
             has_interactions: bool) -> Callable:
    agents = tuple(env.agents)

    def run(params, key):
        first_obs, first_state = env.reset(jax.random.fold_in(key, 0))

        def body(loop, t):
            obs, state, carries, rewards, reset = loop
            k_env, *k_seats = jax.random.split(jax.random.fold_in(key, t + 1), 3)
            new_carries, actions = [], []
            for seat in range(2):
                carry, action = acts[seat](params[seat], carries[seat], obs[agents[seat]][None],
                                           rewards[seat][None], reset[None], k_seats[seat][None])
                new_carries.append(carry)
                actions.append(action[0])
            obs, state, step_rewards, dones, infos = env.step(k_env, state, dict(zip(agents, actions)))
            rewards = jnp.stack([step_rewards[a] for a in agents]).astype(jnp.float32)
            ended = dones["__all__"]
            record = (state, jnp.stack(actions), rewards, ended,
                      infos["interacted"] if has_interactions else jnp.zeros((), bool))
            return (obs, state, tuple(new_carries), rewards, ended), record

        start = (first_obs, first_state, tuple(init(1) for init in inits), jnp.zeros(2, jnp.float32),
                 jnp.ones((), bool))
        _, records = jax.lax.scan(body, start, jnp.arange(steps))
        states = jax.tree_util.tree_map(lambda f, s: jnp.concatenate([f[None], s]), first_state, records[0])
        return (states, *records[1:])

    return jax.jit(run)


def pair_rollout(env, policy: Policy, partner: Policy, steps: int, key: jax.Array) -> PairRollout:
    """``steps`` steps of ``policy`` as agent_0 with ``partner`` as agent_1 on ``env``
    (episodes restart as they end; a policy's memory is zeroed at each episode's first
    observation). The reset uses ``fold_in(key, 0)``, step ``t`` (0-based) ``fold_in(key, t + 1)``:
    the same key, the same rollout."""
    (policy,) = _check_policies(env, [policy], "policy")
    (partner,) = _check_policies(env, [partner], "partner")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise LoiError(f"steps must be a positive integer, got {steps!r}")
    has_interactions = bool(getattr(env, "has_interactions", True))
    program = _program(env, (policy.act, partner.act), (policy.init_carry, partner.init_carry), int(steps),
                       has_interactions)
    states, actions, rewards, ends, interacted = jax.device_get(program((policy.params, partner.params), key))
    return PairRollout(states=states, actions=np.asarray(actions), rewards=np.asarray(rewards),
                       episode_ends=np.asarray(ends, bool),
                       interacted=np.asarray(interacted, bool) if has_interactions else None)
