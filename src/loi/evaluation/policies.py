"""Policies for evaluation: trained checkpoints and baselines behind one interface.

A :class:`Policy` is ``init_carry(B) -> carry`` and ``act(params, carry,
obs[B, D], reward[B], reset[B], keys[B]) -> (carry, actions[B])`` plus its own
``params`` (the carried-state interface of :mod:`loi.agents.policy`: ``reward``
is what the seat got on the step that produced ``obs``, ``reset`` marks an
episode's first observation, where the carry is zeroed). Feed-forward networks
and scripted baselines carry ``()``. Policies whose ``act`` is the same function
object (one per network architecture, one for all scripted baselines of an
environment) form a *family*: cross-play stacks a family's params on a leading
axis and plays all of them in one compiled program.

Baselines need no training:

- ``random``: uniform over the action space;
- ``collectI`` (grid games): move toward the nearest visible resource of type
  ``I``, else explore; fire the beam once it holds ``COLLECT_UNTIL`` of type ``I``
  (more than of any other) and the other player, marked ready, is in reach. On a matrix game ``collectI`` always plays strategy
  ``I``; ``alwaysI`` is an alias on both kinds of game (``I`` is 1-based, like
  the resource digits of the maps).

Bots (``bots:NAME?key=value``, :mod:`loi.agents.bots`): Melting Pot's
in-the-matrix puppeteer strategies (specialist, tit-for-tat, grim trigger, ...)
with scripted navigation; their puppeteer state is the carry. All bots of an
environment are one family.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from loi.agents import load_checkpoint, network_from_description
from loi.agents.bots import BOT_PREFIX, bot_act, bot_params, is_bot, parse_bot
from loi.agents.bots import init_carry as bot_init_carry
from loi.agents.policy import init_carry as network_init_carry
from loi.agents.policy import policy_step, with_action
from loi.errors import LoiError
from loi.training.rundir import RunDir

ActFn = Callable[..., tuple[Any, jax.Array]]  # (params, carry, obs, reward, reset, keys) -> (carry, actions)
StatelessActFn = Callable[[Any, jax.Array, jax.Array], jax.Array]  # (params, obs, keys) -> actions

BASELINE_PREFIX = "baseline:"
_BASELINE = re.compile(r"^(random|collect(\d+)|always(\d+))$")
# Scripted kinds (the first entry of a scripted policy's params).
RANDOM, COLLECT = 0, 1


def no_carry(batch: int) -> tuple:
    """The carry of a policy without memory."""
    return ()


@dataclass(frozen=True, eq=False)
class Policy:
    """One policy: ``act(params, carry, obs[B, D], reward[B], reset[B], keys[B])
    -> (carry, int32[B])`` (jit/vmap-safe, one key per observation), its
    ``params`` and ``init_carry(B)``, the carry of B fresh episodes. ``info``
    carries what the reward table records (``scenario``, ``regime``, ``seed``,
    ``generation``, ``run``, ``path``, ``baseline``); ``obs_dim``/``num_actions``
    (when known) are checked against the environment."""

    name: str
    act: ActFn
    params: Any
    info: Mapping[str, Any] = field(default_factory=dict)
    obs_dim: int | None = None
    num_actions: int | None = None
    init_carry: Callable[[int], Any] = no_carry


@functools.lru_cache(maxsize=None)
def memoryless(act: StatelessActFn) -> ActFn:
    """The carried-state form of a memoryless ``act(params, obs, keys) -> actions``
    (one object per ``act``, so its policies stay one family)."""

    def carried(params, carry, obs, reward, reset, keys):
        return carry, act(params, obs, keys)

    return carried


# ----------------------------------------------------------------------------- trained networks


@functools.lru_cache(maxsize=None)
def _network_fns(description: str, greedy: bool) -> tuple[ActFn, Callable[[int], Any]]:
    """One (act, init_carry) per architecture, so equal architectures share a family."""
    network = network_from_description(json.loads(description))

    def act(params, carry, obs, reward, reset, keys):
        logits, _, carry = policy_step(network, params, carry, obs, reward, reset)  # value head: dead code
        if greedy:
            action = jnp.argmax(logits, axis=-1).astype(jnp.int32)
        else:
            action = jax.vmap(jax.random.categorical)(keys, logits).astype(jnp.int32)
        return with_action(carry, action), action

    def init_carry(batch):
        return network_init_carry(network, batch)

    return act, init_carry


def network_policy(name: str, params: Any, network_description: Mapping[str, Any], *,
                   info: Mapping[str, Any] | None = None, greedy: bool = False) -> Policy:
    """A policy from an actor-critic's ``params`` and its ``describe()`` dict;
    actions are sampled from the logits (``greedy=True``: the argmax)."""
    description = json.dumps(dict(network_description), sort_keys=True)
    network = network_from_description(json.loads(description))
    act, init_carry = _network_fns(description, bool(greedy))
    return Policy(name=name, act=act, params=jax.tree_util.tree_map(np.asarray, params), info=dict(info or {}),
                  obs_dim=int(network.obs_dim), num_actions=int(network.num_actions), init_carry=init_carry)


def checkpoint_policy(path: str | os.PathLike, *, name: str | None = None, greedy: bool = False) -> Policy:
    """The policy saved in a training checkpoint (``gen_XXX.msgpack``)."""
    path = Path(path)
    ckpt = load_checkpoint(path)
    info = {**ckpt.metadata, "path": str(path)}
    if name is None:
        located = RunDir.of_checkpoint(path)
        if located is None:  # a checkpoint file outside a run directory's layout
            name = path.stem
            info.setdefault("run", str(path.parent))
        else:
            run, checkpoint = located
            name = run.policy_name(*checkpoint.key)
            info.setdefault("run", str(run.path))
    return network_policy(name, ckpt.params, ckpt.network_config, info=info, greedy=greedy)


# ----------------------------------------------------------------------------- scripted baselines


# Resources of its type a scripted collector gathers before it zaps: at k = 2 its strategy is
# then (3/4, 1/4) or purer.
COLLECT_UNTIL = 2


def _view_layout(env):
    """The grid game's ``ObservationLayout`` (``loi.envs.grid_game``), or None (matrix game)."""
    return getattr(env, "obs_layout", None)


@functools.lru_cache(maxsize=None)
def _scripted_act(env) -> StatelessActFn:
    """The act function shared by every scripted baseline of ``env``; params are
    ``int32[2] = (kind, strategy)``. Under vmap over a family both kinds are
    computed and selected; both are a few elementwise ops."""
    num_actions = int(env.action_space(env.agents[0]).n)
    layout = _view_layout(env)
    if layout is None:  # matrix game: the action is the strategy

        def act(params, obs, keys):
            random = jax.vmap(lambda k: jax.random.randint(k, (), 0, num_actions))(keys)
            return jnp.where(params[0] == RANDOM, random, params[1]).astype(jnp.int32)

        return act

    from loi.agents.bots.navigation import ViewGeometry, explore, random_turn, toward
    from loi.envs.grid_game import INTERACT

    geometry = ViewGeometry.of(env)
    in_beam = jnp.asarray(geometry.in_beam)

    def collector(strategy, obs, key):
        parts = layout.parse(obs)
        view = parts["view"]
        # Fire when the beam is cooled down, the partner carries its readiness mark and stands
        # where the beam reaches, and this player's strategy leans to its resource: it holds
        # COLLECT_UNTIL of it (on top of the starting one of each, which makes every strategy
        # mixed), and more of it than of any other type.
        inventory = parts["inventory"]
        own = jnp.take(inventory, strategy)
        ready = (parts["ready_to_shoot"] >= 1) & (own >= 1 + COLLECT_UNTIL) & (own >= jnp.max(inventory))
        wall_ahead = geometry.wall_ahead(view)
        other = (view[..., layout.partner] > 0) & (view[..., layout.ready] > 0)
        partner_in_reach = jnp.any(other.reshape(-1) & in_beam)
        target = jnp.take(view, layout.resources.start + strategy, axis=-1) > 0
        seen, da, dr = geometry.nearest(target)
        k_turn, k_explore = jax.random.split(key)
        turn = random_turn(k_turn)
        move = jnp.where(seen, toward(da, dr, wall_ahead, turn), explore(wall_ahead, turn, k_explore))
        return jnp.where(ready & partner_in_reach, INTERACT, move).astype(jnp.int32)

    def act(params, obs, keys):
        random = jax.vmap(lambda key: jax.random.randint(key, (), 0, num_actions))(keys)
        scripted = jax.vmap(collector, in_axes=(None, 0, 0))(params[1], obs, keys)
        return jnp.where(params[0] == RANDOM, random, scripted).astype(jnp.int32)

    return act


def baseline_policy(name: str, env) -> Policy:
    """A baseline for ``env`` by name: ``random``, ``collectI`` or ``alwaysI``
    (``I`` 1-based; an optional ``baseline:`` prefix is accepted)."""
    short = name[len(BASELINE_PREFIX):] if name.startswith(BASELINE_PREFIX) else name
    match = _BASELINE.match(short)
    if match is None:
        raise LoiError(f"unknown baseline {name!r}; expected random, collectI or alwaysI (e.g. collect1)")
    if match.group(1) == "random":
        params = np.array([RANDOM, 0], np.int32)
    else:
        strategy = int(match.group(2) or match.group(3))
        k = int(env.num_strategies)
        if not 1 <= strategy <= k:
            raise LoiError(f"baseline {name!r}: {env.name} has strategies 1..{k}")
        params = np.array([COLLECT, strategy - 1], np.int32)
    return Policy(name=f"{BASELINE_PREFIX}{short}", act=memoryless(_scripted_act(env)), params=params,
                  info={"baseline": short}, obs_dim=None,
                  num_actions=int(env.action_space(env.agents[0]).n))


def bot_policy(name: str, env) -> Policy:
    """A Melting Pot bot for ``env`` by name (``bots:tit_for_tat``,
    ``bots:specialist?target=2&margin=1``); its name is the canonical form
    (non-default parameters only)."""
    spec = parse_bot(name, int(env.num_strategies))
    return Policy(name=spec.name, act=bot_act(env), params=bot_params(spec, int(env.num_strategies)),
                  info={"bot": spec.name}, obs_dim=None, num_actions=int(env.action_space(env.agents[0]).n),
                  init_carry=bot_init_carry)


def is_scripted(spec: str) -> bool:
    """Whether a policy spec names a baseline or a bot (no files, needs an environment)."""
    return spec.startswith(BASELINE_PREFIX) or is_bot(spec)


# ----------------------------------------------------------------------------- run directories


def run_checkpoints(run_dir: str | os.PathLike) -> dict[tuple[int, int, int], Path]:
    """Every checkpoint of a training run directory keyed by (seed, member, generation)."""
    return {c.key: c.path for c in RunDir(run_dir).require_checkpoints()}


def run_policies(run_dir: str | os.PathLike, generations: Sequence[int] | None = None, *,
                 greedy: bool = False) -> list[Policy]:
    """Checkpoint policies of a run, sorted by (seed, member, generation).

    ``generations`` selects generations (negative values count from the last one
    of each seed, so ``[-1]`` is the final policy); ``None`` takes them all."""
    checkpoints = run_checkpoints(run_dir)
    chosen = []
    by_seed_member: dict[tuple[int, int], list[int]] = {}
    for seed, member, generation in checkpoints:
        by_seed_member.setdefault((seed, member), []).append(generation)
    for (seed, member), available in by_seed_member.items():
        if generations is None:
            picks = available
        else:
            picks = []
            for g in generations:
                g = int(g)
                resolved = available[g] if g < 0 and -g <= len(available) else g
                if resolved not in available:
                    raise LoiError(f"{run_dir}: seed {seed} member {member} has no generation {g} "
                                   f"(available: {available[0]}..{available[-1]})")
                if resolved not in picks:
                    picks.append(resolved)
        chosen += [checkpoints[(seed, member, g)] for g in sorted(picks)]
    return [checkpoint_policy(p, greedy=greedy) for p in chosen]


def resolve_policies(specs: Sequence[str], env=None, *, generations: Sequence[int] | None = None,
                     greedy: bool = False) -> list[Policy]:
    """Policies from command-line specs: ``baseline:NAME`` or ``bots:NAME``
    (need ``env``), a checkpoint file, or a run directory (filtered by ``generations``)."""
    policies: list[Policy] = []
    for spec in specs:
        if is_scripted(spec) and env is None:
            raise LoiError(f"{spec}: baselines and bots need an environment (give --scenario or a trained run)")
        if spec.startswith(BASELINE_PREFIX):
            policies.append(baseline_policy(spec, env))
        elif is_bot(spec):
            policies.append(bot_policy(spec, env))
        elif Path(spec).is_file():
            policies.append(checkpoint_policy(spec, greedy=greedy))
        elif Path(spec).is_dir():
            policies += run_policies(spec, generations, greedy=greedy)
        else:
            raise LoiError(f"{spec}: not a run directory, checkpoint file, baseline:NAME or bots:NAME")
    return policies


def resolve_policy(spec: str, env, *, greedy: bool = False) -> Policy:
    """One policy for ``env`` from a spec: a baseline (``random``, ``collectI``, ``alwaysI``, the
    ``baseline:`` prefix optional), ``bots:NAME``, a checkpoint file, or a run directory with one
    seed and member (its final checkpoint). A checkpoint trained on another scenario is refused."""
    if not Path(spec).exists():
        if _BASELINE.match(spec):
            spec = BASELINE_PREFIX + spec
        elif not is_scripted(spec):
            raise LoiError(f"unknown policy {spec!r}: not a baseline (random, collectI, alwaysI), bots:NAME, "
                           f"checkpoint file or run directory")
    found = resolve_policies([spec], env, generations=[-1], greedy=greedy)
    if len(found) != 1:
        raise LoiError(f"{spec}: holds {len(found)} final policies (seeds or members); give one checkpoint file")
    policy = found[0]
    trained_on = policy.info.get("scenario")
    if trained_on is not None and trained_on != env.name:
        raise LoiError(f"{spec}: trained on {trained_on}, not {env.name}")
    return policy


def policies_env(policies: Sequence[Policy], env_name: str | None = None, **overrides: Any):
    """The environment the policies were trained on: ``env_name`` if given, else
    the checkpoints' common ``scenario``, with the training run's environment
    overrides (its run directory's metadata) unless ``overrides`` are given; scored as
    evaluation scores it (``loi.envs.scored``: training-only reward terms removed)."""
    import loi.envs

    scenarios = {p.info["scenario"] for p in policies if "scenario" in p.info}
    if env_name is None:
        if not scenarios:
            raise LoiError("cannot tell the environment: no trained checkpoint given (use --scenario NAME)")
        if len(scenarios) > 1:
            raise LoiError(f"checkpoints come from different scenarios: {', '.join(sorted(scenarios))}")
        env_name = scenarios.pop()
    if not overrides:
        runs = sorted({p.info["run"] for p in policies if "run" in p.info})
        found: dict[str, dict] = {}
        for run in runs:
            record = RunDir(run).read_metadata()
            if record is not None:
                config = record.get("config", {})
                if config.get("scenario") == env_name:
                    found[run] = dict(config.get("env_overrides") or {})
        distinct = {json.dumps(v, sort_keys=True) for v in found.values()}
        if len(distinct) > 1:
            raise LoiError(f"training runs used different environment settings for {env_name}: "
                           f"{', '.join(sorted(distinct))}")
        overrides = next(iter(found.values())) if found else {}
    return loi.envs.scored(loi.envs.make(env_name, **overrides))
