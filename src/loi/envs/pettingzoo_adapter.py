"""A PettingZoo ``ParallelEnv`` view of any ``loi`` environment (optional extra).

Stateful and numpy-facing, for PettingZoo-based trainers; the JAX env stays
the fast path. The stochastic episode ending is a termination (it is part of
the game, as in Melting Pot), so ``truncations`` are always False.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loi.errors import LoiError


def to_pettingzoo(name_or_env: Any, **overrides: Any):
    """Wrap ``loi.envs.make(name, **overrides)`` (or an env object) as a ParallelEnv."""
    try:
        import gymnasium
        from pettingzoo import ParallelEnv
    except ImportError:
        raise LoiError("to_pettingzoo needs pettingzoo: pip install 'loi[pettingzoo]'") from None
    import jax
    import jax.numpy as jnp

    from loi.envs.registry import make

    env = make(name_or_env, **overrides) if isinstance(name_or_env, str) else name_or_env
    if overrides and not isinstance(name_or_env, str):
        raise LoiError("overrides are only accepted together with an environment name")

    class LoiParallelEnv(ParallelEnv):
        metadata = {"name": env.name.replace("/", "__"), "render_modes": ["rgb_array"], "is_parallelizable": True}

        def __init__(self, render_mode: str | None = None):
            self.jax_env = env
            self.possible_agents = list(env.agents)
            self.agents: list[str] = []
            self.render_mode = render_mode
            self._obs_space = gymnasium.spaces.Box(
                low=np.float32(env.observation_space().low), high=np.float32(env.observation_space().high),
                shape=env.observation_space().shape, dtype=np.float32,
            )
            self._act_space = gymnasium.spaces.Discrete(env.action_space().n)
            self._key = jax.random.key(0)
            self._state = None
            self._step = jax.jit(env.step_env)
            self._reset = jax.jit(env.reset)

        def observation_space(self, agent):
            return self._obs_space

        def action_space(self, agent):
            return self._act_space

        def reset(self, seed: int | None = None, options: dict | None = None):
            if seed is not None:
                self._key = jax.random.key(seed)
            self._key, sub = jax.random.split(self._key)
            obs, self._state = self._reset(sub)
            self.agents = list(self.possible_agents)
            return {a: np.asarray(obs[a]) for a in self.agents}, {a: {} for a in self.agents}

        def step(self, actions: dict):
            if not self.agents:
                raise LoiError("step() called on a finished episode; call reset()")
            missing = set(self.agents) - set(actions)
            if missing:
                raise LoiError(f"missing actions for {sorted(missing)}")
            self._key, sub = jax.random.split(self._key)
            jax_actions = {a: jnp.int32(int(actions[a])) for a in self.possible_agents}
            obs, self._state, rewards, dones, infos = self._step(sub, self._state, jax_actions)
            done = bool(dones["__all__"])
            info = {"interacted": bool(infos["interacted"]), "episode_step": int(infos["episode_step"])}
            out = (
                {a: np.asarray(obs[a]) for a in self.agents},
                {a: float(rewards[a]) for a in self.agents},
                {a: done for a in self.agents},
                {a: False for a in self.agents},
                {a: dict(info) for a in self.agents},
            )
            if done:
                self.agents = []
            return out

        def render(self):
            if self.render_mode != "rgb_array" or self._state is None:
                return None
            from loi.envs.render import render_rgb

            return render_rgb(self.jax_env, self._state)

        def close(self):
            pass

    return LoiParallelEnv()
