"""Melting Pot's in-the-matrix bots as JAX policies: ``bots:NAME?key=value&...``.

Each name is the snake_case of a Melting Pot 2.x puppeteer class
(``meltingpot/utils/puppeteers/in_the_matrix.py`` and the two subclasses in
``coordination_in_the_matrix.py`` / ``running_with_scissors_in_the_matrix.py``);
its parameters are the class's, resources numbered from 1 like the maps'
resource digits. Defaults are those of Melting Pot's bots on
``prisoners_dilemma_in_the_matrix__repeated`` (resource 1 cooperates, 2 defects;
margin 5). Lists join their entries with ``+`` (``targets=1+2``).

==========================  ==================================================================
``specialist``              ``target=1, margin=5``: collect ``target`` to ``margin``, then interact
``alternating_specialist``  ``targets=1+2, interactions_per_target=1, margin=5``: cycle the targets
``scheduled_flip``          ``threshold=3, initial_target=1, final_target=2, initial_margin=1,
                            final_margin=5``: switch target after ``threshold`` interactions
``grim_trigger``            ``threshold=1, cooperate=1, defect=2, margin=5``: defect for good once
                            the partner defected ``threshold`` times
``tit_for_tat``             ``cooperate=1, defect=2, margin=5, tremble=0``: play the partner's last
                            choice (first: cooperate); each answer flips with probability ``tremble``
``corrigible``              ``threshold=3, cooperate=1, defect=2, margin=5, tremble=0``: defect until
                            punished ``threshold`` times, then tit-for-tat
``respond_to_previous``     ``responses=1+2+..+k, margin=5``: after the partner played ``i``, target
                            ``responses[i]`` (0: keep the current target); start on a random one
``coordinate_with_previous``  ``margin=5``: respond_to_previous with ``responses`` the identity
``counter_previous``        ``margin=5``: respond_to_previous answering ``i`` with ``i + 1`` (cyclic;
                            on running with scissors rock -> paper -> scissors -> rock)
==========================  ==================================================================

Tremble is where Melting Pot has it: tit-for-tat and corrigible. On a grid game
a bot moves by script (:mod:`loi.agents.bots.navigation`); on a repeated matrix
game it plays its target directly, the partner's previous action standing for
its interaction inventory.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from loi.agents.bots import strategies
from loi.agents.bots.strategies import MAX_TARGETS, BotCarry, BotParams
from loi.errors import LoiError

BOT_PREFIX = "bots:"


@dataclass(frozen=True)
class Parameter:
    """One ``key=value`` of a bot name. ``kind``: ``resource`` (1..k),
    ``resources`` (``a+b+..``, 1..MAX_TARGETS entries), ``responses`` (k entries
    in 0..k), ``count`` (>= 1) or ``probability`` ([0, 1])."""

    name: str
    kind: str
    default: Any  # None: depends on k (responses: the identity)


@dataclass(frozen=True)
class Strategy:
    name: str
    kind: int
    parameters: tuple[Parameter, ...]
    fixed_responses: Callable[[int], tuple[int, ...]] | None = None  # the two respond_to_previous subclasses


def _identity(k: int) -> tuple[int, ...]:
    return tuple(range(1, k + 1))


def _cyclic(k: int) -> tuple[int, ...]:
    return tuple(i % k + 1 for i in range(1, k + 1))


_MARGIN = Parameter("margin", "count", 5)
_COOPERATE, _DEFECT = Parameter("cooperate", "resource", 1), Parameter("defect", "resource", 2)
_TREMBLE = Parameter("tremble", "probability", 0.0)

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("specialist", strategies.SPECIALIST, (Parameter("target", "resource", 1), _MARGIN)),
    Strategy("alternating_specialist", strategies.ALTERNATING_SPECIALIST,
             (Parameter("targets", "resources", (1, 2)), Parameter("interactions_per_target", "count", 1), _MARGIN)),
    Strategy("scheduled_flip", strategies.SCHEDULED_FLIP,
             (Parameter("threshold", "count", 3), Parameter("initial_target", "resource", 1),
              Parameter("final_target", "resource", 2), Parameter("initial_margin", "count", 1),
              Parameter("final_margin", "count", 5))),
    Strategy("grim_trigger", strategies.GRIM_TRIGGER,
             (Parameter("threshold", "count", 1), _COOPERATE, _DEFECT, _MARGIN)),
    Strategy("tit_for_tat", strategies.TIT_FOR_TAT, (_COOPERATE, _DEFECT, _MARGIN, _TREMBLE)),
    Strategy("corrigible", strategies.CORRIGIBLE,
             (Parameter("threshold", "count", 3), _COOPERATE, _DEFECT, _MARGIN, _TREMBLE)),
    Strategy("respond_to_previous", strategies.RESPOND_TO_PREVIOUS,
             (Parameter("responses", "responses", None), _MARGIN)),
    Strategy("coordinate_with_previous", strategies.RESPOND_TO_PREVIOUS, (_MARGIN,), _identity),
    Strategy("counter_previous", strategies.RESPOND_TO_PREVIOUS, (_MARGIN,), _cyclic),
)}


@dataclass(frozen=True)
class BotSpec:
    """A parsed, validated bot: its strategy, every parameter's value and
    ``name``, the canonical ``bots:NAME?key=value`` (only non-default values,
    in the strategy's order)."""

    strategy: Strategy
    values: tuple[tuple[str, Any], ...]
    name: str

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.values)


def is_bot(name: str) -> bool:
    return isinstance(name, str) and name.startswith(BOT_PREFIX)


def _format(value: Any) -> str:
    if isinstance(value, tuple):
        return "+".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _parse_value(bot: str, parameter: Parameter, text: str, k: int) -> Any:
    def fail(expected: str) -> LoiError:
        return LoiError(f"bot {bot!r}: {parameter.name} must be {expected}, got {text!r}")

    if parameter.kind == "probability":
        try:
            value = float(text)
        except ValueError:
            raise fail("a probability in [0, 1]") from None
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise fail("a probability in [0, 1]")
        return value
    parts = text.split("+") if parameter.kind in ("resources", "responses") else [text]
    try:
        numbers = tuple(int(p) for p in parts)
    except ValueError:
        raise fail({"count": "a positive integer", "resource": f"a resource 1..{k}",
                    "resources": f"resources 1..{k} joined by '+' (e.g. 1+2)",
                    "responses": f"{k} targets 0..{k} joined by '+' (0: keep the current target)"}[parameter.kind]
                   ) from None
    if parameter.kind == "count":
        if numbers[0] < 1:
            raise fail("a positive integer")
        return numbers[0]
    if parameter.kind == "resource":
        if not 1 <= numbers[0] <= k:
            raise fail(f"a resource 1..{k} (the game has {k})")
        return numbers[0]
    if parameter.kind == "resources":
        if not 1 <= len(numbers) <= MAX_TARGETS or not all(1 <= n <= k for n in numbers):
            raise fail(f"1 to {MAX_TARGETS} resources 1..{k} joined by '+'")
        return numbers
    # responses
    if len(numbers) != k or not all(0 <= n <= k for n in numbers) or not any(numbers):
        raise fail(f"{k} targets 0..{k} joined by '+', at least one non-zero (0: keep the current target)")
    return numbers


def parse_bot(name: str, num_strategies: int) -> BotSpec:
    """``bots:NAME?key=value&...`` -> :class:`BotSpec` for a game with
    ``num_strategies`` resource types; one :class:`LoiError` line for an unknown
    name or parameter, a repeated key, or a value out of range."""
    if not is_bot(name):
        raise LoiError(f"{name!r} is not a bot name (bots:NAME, e.g. bots:tit_for_tat)")
    k = int(num_strategies)
    body = name[len(BOT_PREFIX):]
    short, _, query = body.partition("?")
    strategy = STRATEGIES.get(short)
    if strategy is None:
        raise LoiError(f"unknown bot {short!r}; valid bots: {', '.join(STRATEGIES)}")
    declared = {p.name: p for p in strategy.parameters}
    given: dict[str, Any] = {}
    for item in query.split("&") if query else []:
        key, sep, text = item.partition("=")
        if not sep or not key or not text:
            raise LoiError(f"bot {name!r}: expected key=value after '?', got {item!r}")
        if key not in declared:
            raise LoiError(f"bot {short!r} has no parameter {key!r}; its parameters: "
                           f"{', '.join(declared) or 'none'}")
        if key in given:
            raise LoiError(f"bot {name!r}: parameter {key!r} given twice")
        given[key] = _parse_value(short, declared[key], text, k)
    values = []
    for p in strategy.parameters:
        default = _identity(k) if p.kind == "responses" else p.default
        if p.kind == "resource" and default > k or p.kind == "resources" and max(default) > k:
            raise LoiError(f"bot {short!r}: default {p.name}={_format(default)} exceeds the game's {k} resources")
        values.append((p.name, given.get(p.name, default), default))
    settings = {n: v for n, v, _ in values}
    if strategy.kind in (strategies.GRIM_TRIGGER, strategies.TIT_FOR_TAT, strategies.CORRIGIBLE) \
            and settings["cooperate"] == settings["defect"]:
        raise LoiError(f"bot {name!r}: cooperate and defect must be different resources")
    shown = [f"{n}={_format(v)}" for n, v, d in values if v != d]
    canonical = BOT_PREFIX + short + ("?" + "&".join(shown) if shown else "")
    return BotSpec(strategy=strategy, values=tuple((n, v) for n, v, _ in values), name=canonical)


def bot_params(spec: BotSpec, num_strategies: int) -> BotParams:
    """The strategy's state-machine parameters (0-based resources; numpy leaves)."""
    k = int(num_strategies)
    s = spec.settings
    i32 = lambda v: np.asarray(v, np.int32)  # noqa: E731
    kind = spec.strategy.kind
    first = s.get("target", s.get("initial_target", s.get("cooperate", 1)))
    second = s.get("final_target", s.get("defect", 1))
    targets = s.get("targets", (1,))
    cycle = np.zeros(MAX_TARGETS, np.int32)
    cycle[:len(targets)] = np.asarray(targets) - 1
    if spec.strategy.fixed_responses is not None:
        responses = spec.strategy.fixed_responses(k)
    else:
        responses = s.get("responses", _identity(k))
    return BotParams(
        kind=i32(kind),
        first=i32(first - 1),
        second=i32(second - 1),
        margin=i32(s.get("margin", s.get("initial_margin", 1))),
        final_margin=i32(s.get("final_margin", s.get("margin", 1))),
        threshold=i32(s.get("threshold", 1)),
        cycle=cycle,
        cycle_length=i32(len(targets)),
        per_target=i32(s.get("interactions_per_target", 1)),
        responses=np.asarray(responses, np.int32) - 1,  # 0 ("keep") -> -1
        tremble=np.asarray(s.get("tremble", 0.0), np.float32),
    )


def init_carry(batch: int | tuple[int, ...] = ()) -> BotCarry:
    """The carry of ``batch`` fresh episodes (re-initialised on each ``reset``)."""
    return strategies.init_carry(batch)


@functools.lru_cache(maxsize=None)
def bot_act(env) -> Callable[..., tuple[BotCarry, jax.Array]]:
    """The act function shared by every bot of ``env`` (one family):
    ``act(params, carry, obs[B, D], reward[B], reset[B], keys[B]) -> (carry, actions[B])``."""
    k = int(env.num_strategies)
    layout = getattr(env, "obs_layout", None)
    if layout is None and getattr(env, "name", "").startswith("matrix/") and env.obs_dim == k * k + 1:

        def lane(params, carry, obs, reset, key):
            # The repeated matrix game: every round is an interaction; the partner's previous
            # action stands for its interaction inventory, and the bot plays its target at once.
            previous = obs[: k * k].reshape(k, k)  # [own, other] one-hot of the last round
            played = jnp.any(previous > 0)
            partner = jnp.where(played, jnp.sum(previous, axis=0), -1.0)
            carry, target, _ = strategies.step(params, carry, jnp.zeros((k,)), partner, reset, key)
            return carry, target

    elif layout is not None:
        from loi.agents.bots.navigation import ViewGeometry, goal_action

        geometry = ViewGeometry.of(env)

        def lane(params, carry, obs, reset, key):
            parts = layout.parse(obs)
            k_goal, k_move = jax.random.split(key)
            carry, target, interact = strategies.step(params, carry, parts["inventory"],
                                                      parts["interaction_inventories"][1], reset, k_goal)
            return carry, goal_action(geometry, obs, target, interact, k_move)

    else:
        raise LoiError(f"bots play loi's in-the-matrix games (grid or matrix), not {getattr(env, 'name', env)}")

    def act(params, carry, obs, reward, reset, keys):
        carry, actions = jax.vmap(lane, in_axes=(None, 0, 0, 0, 0))(params, carry, obs, reset, keys)
        return carry, actions.astype(jnp.int32)

    return act
