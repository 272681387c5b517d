"""The repeated matrix game: each step both agents pick a strategy and are paid.

Observation of each agent (egocentric, so one policy can play either seat):
one-hot of the previous joint action as ``own * k + other`` (``k*k`` entries,
all zero on the first step) followed by a first-step flag.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from loi.envs.base import AGENTS, MultiAgentEnv, dones_of, per_agent
from loi.envs.ending import episode_ends, validate_ending
from loi.envs.games import Game
from loi.envs.spaces import Box, Discrete


@struct.dataclass
class MatrixState:
    prev_actions: jax.Array  # i32[2], -1 before the first step
    episode_step: jax.Array  # i32[], steps taken in this episode


@dataclass(frozen=True)
class MatrixGame(MultiAgentEnv):
    """Repeated k x k game; default: a fixed 100 rounds (``end_probability=1``)."""

    game: Game
    min_steps: int = 100
    end_interval: int = 1
    end_probability: float = 1.0

    def __post_init__(self) -> None:
        validate_ending(self.min_steps, self.end_interval, self.end_probability)

    view_shape = None

    @property
    def name(self) -> str:
        return f"matrix/{self.game.name}"

    @property
    def num_strategies(self) -> int:
        return self.game.num_strategies

    @property
    def obs_dim(self) -> int:
        return self.num_strategies**2 + 1

    def action_space(self, agent: str = AGENTS[0]) -> Discrete:
        return Discrete(self.num_strategies)

    def observation_space(self, agent: str = AGENTS[0]) -> Box:
        return Box(0.0, 1.0, (self.obs_dim,))

    # -- functional core -------------------------------------------------
    def _initial_state(self, key: jax.Array, params=()) -> MatrixState:
        return MatrixState(prev_actions=jnp.full((2,), -1, jnp.int32), episode_step=jnp.int32(0))

    def _observe(self, state: MatrixState) -> dict[str, jax.Array]:
        k = self.num_strategies
        own, other = state.prev_actions, state.prev_actions[::-1]
        joint = jnp.where(own >= 0, own * k + other, -1)
        onehot = (joint[:, None] == jnp.arange(k * k)[None, :]).astype(jnp.float32)
        first = (state.episode_step == 0).astype(jnp.float32)
        obs = jnp.concatenate([onehot, jnp.broadcast_to(first, (2, 1))], axis=1)
        return {a: obs[i] for i, a in enumerate(AGENTS)}

    def _transition(self, key, state, actions):
        a = jnp.stack([jnp.asarray(actions[ag], jnp.int32) for ag in AGENTS])
        a = jnp.clip(a, 0, self.num_strategies - 1)
        row_payoff = jnp.asarray(self.game.row_payoff, jnp.float32)
        col_payoff = jnp.asarray(self.game.col_payoff, jnp.float32)
        step = state.episode_step + 1
        done = episode_ends(
            step, jax.random.uniform(key), self.min_steps, self.end_interval, self.end_probability
        )
        rewards = per_agent(jnp.stack([row_payoff[a[0], a[1]], col_payoff[a[0], a[1]]]))
        dones = dones_of(done)
        k = self.num_strategies
        infos = {
            "interacted": jnp.bool_(True),
            "row_strategy": jax.nn.one_hot(a[0], k, dtype=jnp.float32),
            "col_strategy": jax.nn.one_hot(a[1], k, dtype=jnp.float32),
            "episode_step": step,
        }
        return MatrixState(prev_actions=a, episode_step=step), rewards, dones, infos
