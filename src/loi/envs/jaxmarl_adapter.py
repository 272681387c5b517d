"""Any two-player JaxMARL ``MultiAgentEnv`` as a ``loi`` environment (optional extra).

Names (accepted wherever a scenario name is: ``loi.envs.make``, ``loi train``,
``loi evaluate``, a study's ``games``)::

    jaxmarl:ENV_ID                              jaxmarl.make(ENV_ID)
    jaxmarl:ENV_ID?key=value&key=value          keyword options (ints, floats, true/false, strings)
    jaxmarl:ENV_ID/LAYOUT[?...]                 the same with layout=LAYOUT (a study's games x layouts)

e.g. ``jaxmarl:overcooked/cramped_room``, ``jaxmarl:overcooked?layout=coord_ring&max_steps=200``,
``jaxmarl:storm_2p``. Overcooked's layout is given by name (JaxMARL's ``overcooked_layouts``;
``asymmetric_advantages`` is accepted for its ``asymm_advantages``). Keyword overrides passed
to ``make`` (a study's ``[env]``) are added to the name's options. One option belongs to the
adapter, not to JaxMARL: ``reward_shaping = C`` adds ``C`` times the env's
``infos["shaped_reward"]`` (Overcooked's dense rewards for placing onions, picking up dishes
and soups) to each agent's reward during training only: evaluation (:func:`loi.envs.scored`)
drops it, so cross-play tables hold the env's real returns.

A user's own environment object with the same API (``agents`` of two, ``reset(key)``,
``step_env(key, state, actions)``, ``action_space(agent).n``) is wrapped by :func:`wrap`.

What the adapter does: agents are renamed ``agent_0``/``agent_1`` (JaxMARL's own agent ids and
containers, a dict keyed by them or a tuple in agent order, are kept towards the env); each
agent's observation becomes one float32 vector: an image leaf (``H, W, C``), if the observation
has exactly one, comes first and sets ``view_shape`` (so the ``cnn`` network and encoder apply),
then every other leaf flattened in pytree order; the episode step is counted
(``infos["episode_step"]``), ``step`` auto-resets on ``dones["__all__"]``. These envs have no
interactions or strategies in loi's sense: ``has_interactions`` is False and ``num_strategies``
0, so training curves and reward tables leave those columns out.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sys
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from loi.envs.base import AGENTS
from loi.envs.spaces import Box, Discrete
from loi.errors import LoiError

PREFIX = "jaxmarl:"
REWARD_SHAPING = "reward_shaping"
# Layout options JaxMARL takes as a layout dict: env id -> (module, table of layouts by name).
_LAYOUT_TABLES = {"overcooked": ("jaxmarl.environments.overcooked.layouts", "overcooked_layouts")}
_LAYOUT_ALIASES = {"asymmetric_advantages": "asymm_advantages"}  # Carroll et al.'s name


class AdapterState(NamedTuple):
    """The wrapped env's state and the steps taken in this episode."""

    inner: Any
    episode_step: jax.Array  # i32[]


def is_jaxmarl_name(name: Any) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def _parse_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_name(name: str) -> tuple[str, dict[str, Any]]:
    """``jaxmarl:ENV_ID[/LAYOUT][?k=v&...]`` -> ``(ENV_ID, options)``."""
    rest = name[len(PREFIX):]
    head, _, query = rest.partition("?")
    env_id, slash, layout = head.partition("/")
    if not env_id or (slash and (not layout or "/" in layout)) or "/" in query:
        raise LoiError(f"JaxMARL scenario names are jaxmarl:ENV_ID, jaxmarl:ENV_ID/LAYOUT or "
                       f"jaxmarl:ENV_ID?key=value&..., got {name!r}")
    options: dict[str, Any] = {}
    if slash:
        options["layout"] = layout
    for pair in filter(None, query.split("&")):
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise LoiError(f"option {pair!r} in {name!r} is not key=value")
        if key in options:
            raise LoiError(f"option {key!r} given twice in {name!r}")
        options[key] = _parse_value(value)
    return env_id, options


@contextlib.contextmanager
def _quiet_stdout():
    """Silence file descriptor 1: jaxmarl prints two lines about optional submodules when
    imported, and a dependency rebinds ``sys.stdout`` meanwhile, so ``redirect_stdout`` alone
    misses them (they would corrupt the CLI's JSON output)."""
    stream = sys.stdout
    stream.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            with contextlib.redirect_stdout(io.StringIO()):
                yield
    finally:
        for s in {id(x): x for x in (sys.stdout, sys.__stdout__) if x is not None}.values():
            s.flush()
        os.dup2(saved, 1)
        os.close(saved)
        sys.stdout = stream


def _import_jaxmarl():
    try:
        with _quiet_stdout():
            import jaxmarl
            import jaxmarl.environments  # noqa: F401  (the import that prints)
    except ImportError:
        raise LoiError("jaxmarl scenarios need JaxMARL: pip install 'loi[jaxmarl]'") from None
    return jaxmarl


def _layout(env_id: str, value: Any) -> Any:
    if env_id not in _LAYOUT_TABLES or not isinstance(value, str):
        return value
    import importlib

    module, table_name = _LAYOUT_TABLES[env_id]
    table = getattr(importlib.import_module(module), table_name)
    key = _LAYOUT_ALIASES.get(value, value)
    if key not in table:
        known = sorted(set(table) | {a for a, k in _LAYOUT_ALIASES.items() if k in table})
        raise LoiError(f"unknown {env_id} layout {value!r}; known: {', '.join(known)}")
    return table[key]


@functools.lru_cache(maxsize=64)
def _build(name: str, env_id: str, options: tuple[tuple[str, Any], ...]) -> "JaxMARLEnv":
    """One adapter per (name, options): equal names share compiled programs (jit caches key
    on the env object)."""
    jaxmarl = _import_jaxmarl()
    kwargs = dict(options)
    shaping = kwargs.pop(REWARD_SHAPING, 0.0)
    if "layout" in kwargs:
        kwargs["layout"] = _layout(env_id, kwargs["layout"])
    if env_id not in getattr(jaxmarl, "registered_envs", [env_id]):
        raise LoiError(f"unknown JaxMARL environment {env_id!r}; known: {', '.join(jaxmarl.registered_envs)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Overcooked points to OvercookedV2
            base = jaxmarl.make(env_id, **kwargs)
    except (TypeError, ValueError, KeyError) as err:
        raise LoiError(f"cannot build jaxmarl:{env_id} with {sorted(kwargs)}: {err}") from None
    return wrap(base, name=name, reward_shaping=shaping)


def make_jaxmarl(name: str, **overrides: Any) -> "JaxMARLEnv":
    """The adapter for a ``jaxmarl:...`` name; ``overrides`` add keyword options."""
    env_id, options = parse_name(name)
    clash = sorted(set(options) & set(overrides))
    if clash:
        raise LoiError(f"option {clash[0]!r} is given both in {name!r} and as an override")
    options.update(overrides)
    try:
        frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items()))
        hash(frozen)
    except TypeError:  # an unhashable option (e.g. a layout dict): build without the cache
        return _build.__wrapped__(name, env_id, tuple(sorted(options.items())))
    return _build(name, env_id, frozen)


def _pick(container: Any, agents: tuple, i: int) -> Any:
    """Agent ``i``'s entry of a per-agent container (a dict keyed by agent id, or a sequence)."""
    return container[i] if isinstance(container, (tuple, list)) else container[agents[i]]


@dataclass(frozen=True, eq=False)  # hashed by identity: a jit-static argument
class JaxMARLEnv:
    """A two-player JaxMARL-API env behind loi's :class:`~loi.envs.base.Environment` contract."""

    base: Any
    env_name: str
    reward_shaping: float = 0.0
    _layout: dict = field(default_factory=dict, repr=False)  # filled in __post_init__

    agents = AGENTS
    num_agents = 2
    num_strategies = 0
    has_interactions = False

    def __post_init__(self) -> None:
        base = self.base
        agents = tuple(getattr(base, "agents", ()))
        if len(agents) != 2:
            raise LoiError(f"{self.env_name}: loi trains two-player environments; this one has agents {list(agents)}")
        for method in ("reset", "step_env", "action_space"):
            if not callable(getattr(base, method, None)):
                raise LoiError(f"{self.env_name}: the environment has no {method}() (JaxMARL MultiAgentEnv API)")
        if isinstance(self.reward_shaping, bool) or not isinstance(self.reward_shaping, (int, float)):
            raise LoiError(f"{REWARD_SHAPING} must be a number, got {self.reward_shaping!r}")
        sizes = []
        for a in agents:
            space = base.action_space(a)
            if not hasattr(space, "n"):
                raise LoiError(f"{self.env_name}: agent {a!r} has a {type(space).__name__} action space; "
                               "loi's policies need a discrete one")
            sizes.append(int(space.n))
        if sizes[0] != sizes[1]:
            raise LoiError(f"{self.env_name}: the agents have {sizes[0]} and {sizes[1]} actions; "
                           "loi's policies need the same action space in both seats")
        try:
            obs, _ = jax.eval_shape(base.reset, jax.random.key(0))
        except Exception as err:  # noqa: BLE001 - a user env may raise anything; name it in one line
            raise LoiError(f"{self.env_name}: reset(key) failed: {type(err).__name__}: {err}") from None
        layouts = [self._obs_layout(_pick(obs, agents, i)) for i in range(2)]
        if layouts[0][1:] != layouts[1][1:]:
            raise LoiError(f"{self.env_name}: the agents' observations differ in shape; loi's policies need one "
                           "observation space for both seats")
        layout = {"agents": agents, "dict_actions": isinstance(obs, dict), "order": layouts[0][0],
                  "view_shape": layouts[0][1], "obs_dim": layouts[0][2], "num_actions": sizes[0]}
        object.__setattr__(self, "_layout", layout)
        object.__setattr__(self, "reward_shaping", float(self.reward_shaping))

    def scored(self) -> JaxMARLEnv:
        """The same env without the training-only shaped reward: what evaluation scores."""
        if not self.reward_shaping:
            return self
        return JaxMARLEnv(base=self.base, env_name=self.env_name, reward_shaping=0.0)

    @staticmethod
    def _obs_layout(agent_obs: Any) -> tuple[tuple[int, ...], tuple[int, int, int] | None, int]:
        """(leaf order with the one image leaf first, view shape or None, flat size)."""
        leaves = jax.tree_util.tree_leaves(agent_obs)
        if not leaves:
            raise LoiError("an agent's observation has no arrays")
        images = [i for i, leaf in enumerate(leaves) if len(leaf.shape) == 3]
        view = tuple(int(d) for d in leaves[images[0]].shape) if len(images) == 1 else None
        order = tuple(images + [i for i in range(len(leaves)) if i not in images]) if view else tuple(range(len(leaves)))
        return order, view, int(sum(int(np.prod(leaf.shape)) for leaf in leaves))

    # -- the Environment contract ------------------------------------------
    @property
    def name(self) -> str:
        return self.env_name

    @property
    def view_shape(self) -> tuple[int, int, int] | None:
        return self._layout["view_shape"]

    @property
    def obs_dim(self) -> int:
        return self._layout["obs_dim"]

    def action_space(self, agent: str = AGENTS[0]) -> Discrete:
        return Discrete(self._layout["num_actions"])

    def observation_space(self, agent: str = AGENTS[0]) -> Box:
        return Box(-np.inf, np.inf, (self.obs_dim,))

    def _flat(self, agent_obs: Any) -> jax.Array:
        leaves = jax.tree_util.tree_leaves(agent_obs)
        return jnp.concatenate([jnp.ravel(leaves[i]).astype(jnp.float32) for i in self._layout["order"]])

    def _observe(self, obs: Any) -> dict[str, jax.Array]:
        agents = self._layout["agents"]
        return {AGENTS[i]: self._flat(_pick(obs, agents, i)) for i in range(2)}

    def _actions(self, actions: dict[str, jax.Array]) -> Any:
        agents = self._layout["agents"]
        if self._layout["dict_actions"]:
            return {agents[i]: actions[AGENTS[i]] for i in range(2)}
        return tuple(actions[a] for a in AGENTS)

    @partial(jax.jit, static_argnums=0)
    def reset(self, key: jax.Array) -> tuple[dict[str, jax.Array], AdapterState]:
        obs, inner = self.base.reset(key)
        return self._observe(obs), AdapterState(inner, jnp.int32(0))

    @partial(jax.jit, static_argnums=0)
    def step_env(self, key: jax.Array, state: AdapterState, actions: dict[str, jax.Array]):
        """One step without auto-reset."""
        agents = self._layout["agents"]
        obs, inner, rewards, dones, infos = self.base.step_env(key, state.inner, self._actions(actions))
        reward = [jnp.asarray(_pick(rewards, agents, i), jnp.float32).reshape(()) for i in range(2)]
        if self.reward_shaping:
            shaped = infos.get("shaped_reward") if isinstance(infos, dict) else None
            if shaped is None:
                raise LoiError(f"{self.env_name}: {REWARD_SHAPING} needs infos['shaped_reward'], which this "
                               "environment does not give")
            reward = [r + self.reward_shaping * jnp.asarray(_pick(shaped, agents, i), jnp.float32).reshape(())
                      for i, r in enumerate(reward)]
        done = jnp.asarray(dones["__all__"], bool).reshape(())
        step = state.episode_step + 1
        out_dones = {AGENTS[0]: done, AGENTS[1]: done, "__all__": done}
        return (self._observe(obs), AdapterState(inner, step), {AGENTS[0]: reward[0], AGENTS[1]: reward[1]},
                out_dones, {"episode_step": step})

    @partial(jax.jit, static_argnums=0)
    def step(self, key: jax.Array, state: AdapterState, actions: dict[str, jax.Array]):
        """One step; when the episode ends, the returned obs/state start a new one."""
        key_step, key_reset = jax.random.split(key)
        obs, stepped, rewards, dones, infos = self.step_env(key_step, state, actions)
        fresh_obs, fresh = self.reset(key_reset)
        choose = lambda new, old: jnp.where(dones["__all__"], new, old)  # noqa: E731
        return (jax.tree.map(choose, fresh_obs, obs), jax.tree.map(choose, fresh, stepped), rewards, dones,
                infos)


def wrap(env: Any, *, name: str | None = None, reward_shaping: float = 0.0) -> JaxMARLEnv:
    """Wrap a two-player environment object with the JaxMARL API (``agents``, ``reset``,
    ``step_env``, ``action_space``) as a loi environment named ``name`` (default:
    ``jaxmarl:`` + the env's ``name`` or class name)."""
    if isinstance(env, JaxMARLEnv):
        return env
    if name is None:
        own = getattr(env, "name", None)
        name = PREFIX + (own if isinstance(own, str) and own else type(env).__name__)
    if not isinstance(name, str) or not name:
        raise LoiError(f"name must be a non-empty string, got {name!r}")
    return JaxMARLEnv(base=env, env_name=name, reward_shaping=reward_shaping)
