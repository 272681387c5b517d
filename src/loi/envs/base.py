"""The multi-agent environment base and the contract training and evaluation rely on.

The player count is a parameter of an environment (as JaxMARL's ``MultiAgentEnv(num_agents)``):
``env.num_agents`` players named ``env.agents = ("agent_0", ..., "agent_{N-1}")``; the matrix
games and the JaxMARL adapter have 2, a grid game ``num_players`` (default 2).

``MultiAgentEnv`` owns ``reset``, ``step_env`` and the auto-resetting ``step`` once (JaxMARL
style: ``step`` selects between the stepped state and a fresh one on ``dones["__all__"]``).
A game supplies three pure functions:

- ``_initial_state(key, params)``: a new episode; ``params`` are the per-game
  arrays carried in the state (``_params()`` builds them, ``_params_of(state)``
  reads them back), so the auto-reset never bakes a game into the program;
- ``_transition(key, state, actions) -> (state, rewards, dones, infos)``;
- ``_observe(state) -> {agent: f32[obs_dim]}``.

``step`` passes the same key to ``_transition`` and ``_initial_state``: a game
that draws its random words from the key once (``GridGame._draw``) gets one set
of draws for both, which XLA computes once.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Protocol, TypedDict, runtime_checkable

import jax
import jax.numpy as jnp

AGENTS = ("agent_0", "agent_1")  # the two-player environments' agents


def agent_names(num_agents: int) -> tuple[str, ...]:
    """``("agent_0", ..., "agent_{num_agents - 1}")``."""
    return tuple(f"agent_{i}" for i in range(num_agents))


class StepInfo(TypedDict):
    """The ``infos`` of every step of every environment (fixed keys and shapes)."""

    # bool[]: an interaction (grid) or a round (matrix) happened this step; with more than two
    # players: agent_0 took part in one
    interacted: jax.Array
    row_strategy: jax.Array  # f32[k]: agent_0's strategy in it (zeros when none)
    # f32[k]: agent_1's strategy in it (zeros when none); with more than two players: the
    # strategy of agent_0's partner
    col_strategy: jax.Array
    episode_step: jax.Array  # i32[]: steps taken in this episode, this one included


INFO_KEYS = tuple(StepInfo.__annotations__)


class PairInfo(TypedDict):
    """What a grid game adds to :class:`StepInfo`, for any number of players N."""

    partner: jax.Array  # i32[N]: each player's partner in an interaction this step, -1 none
    strategy: jax.Array  # f32[N, k]: each player's strategy in that interaction (zeros when none)


PAIR_INFO_KEYS = tuple(PairInfo.__annotations__)


@runtime_checkable
class Environment(Protocol):
    """What ``training`` and ``evaluation`` use of an environment."""

    agents: tuple[str, ...]
    num_agents: int

    @property
    def name(self) -> str: ...

    @property
    def num_strategies(self) -> int: ...

    # (H, W, C) of the egocentric view at the start of the observation, or None (no view).
    view_shape: Any

    @property
    def obs_dim(self) -> int: ...

    def action_space(self, agent: str = ...) -> Any: ...

    def observation_space(self, agent: str = ...) -> Any: ...

    def reset(self, key: jax.Array) -> tuple[dict[str, jax.Array], Any]: ...

    def step_env(self, key: jax.Array, state: Any, actions: dict[str, jax.Array]) -> tuple: ...

    def step(self, key: jax.Array, state: Any, actions: dict[str, jax.Array]) -> tuple: ...


def dones_of(done: jax.Array, agents: tuple[str, ...] = AGENTS) -> dict[str, jax.Array]:
    """The ``dones`` dict of a step: the same flag for every agent and ``__all__``."""
    return {**{agent: done for agent in agents}, "__all__": done}


def per_agent(values: jax.Array, agents: tuple[str, ...] = AGENTS) -> dict[str, jax.Array]:
    """``{agent_0: values[0], agent_1: values[1], ...}``."""
    return {agent: values[i] for i, agent in enumerate(agents)}


class MultiAgentEnv:
    """Base of the games (used by frozen, hashable dataclasses: jit-static). Two players unless
    a subclass says otherwise (``agents`` and ``num_agents`` together)."""

    agents: tuple[str, ...] = AGENTS
    num_agents: int = 2

    # -- hooks ------------------------------------------------------------
    def _params(self) -> Any:
        return ()

    def _params_of(self, state: Any) -> Any:
        return ()

    def _initial_state(self, key: jax.Array, params: Any) -> Any:
        raise NotImplementedError

    def _transition(self, key: jax.Array, state: Any, actions: dict[str, jax.Array]) -> tuple:
        raise NotImplementedError

    def _observe(self, state: Any) -> dict[str, jax.Array]:
        raise NotImplementedError

    # -- public API (JaxMARL conventions) --------------------------------
    @partial(jax.jit, static_argnums=0)
    def reset(self, key: jax.Array) -> tuple[dict[str, jax.Array], Any]:
        state = self._initial_state(key, self._params())
        return self._observe(state), state

    @partial(jax.jit, static_argnums=0)
    def step_env(self, key: jax.Array, state: Any, actions: dict[str, jax.Array]):
        """One step without auto-reset."""
        state, rewards, dones, infos = self._transition(key, state, actions)
        return self._observe(state), state, rewards, dones, infos

    @partial(jax.jit, static_argnums=0)
    def step(self, key: jax.Array, state: Any, actions: dict[str, jax.Array]):
        """One step; when the episode ends, the returned obs/state start a new one."""
        stepped, rewards, dones, infos = self._transition(key, state, actions)
        fresh = self._initial_state(key, self._params_of(state))
        state = jax.tree.map(lambda new, old: jnp.where(dones["__all__"], new, old), fresh, stepped)
        return self._observe(state), state, rewards, dones, infos


