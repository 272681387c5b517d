"""Melting Pot's in-the-matrix puppeteers as one JAX state machine.

Each strategy of ``meltingpot/utils/puppeteers/in_the_matrix.py`` (Melting Pot
2.x) picks, every step, a *goal*: a target resource and whether to collect it
or to interact while playing it. It reads only the player's own inventory and
the partner's inventory at the last interaction (``INTERACTION_INVENTORIES``,
all -1 off the interaction frame), keeps a small state between steps and resets
it on an episode's first step. This module reproduces those state machines,
margins, thresholds and schedules; how a goal becomes a move is
:mod:`loi.agents.bots.navigation`'s.

All strategies share one parameter layout (:class:`BotParams`) and one carry
(:class:`BotCarry`), so every bot of an environment is one *family*: cross-play
stacks their params and plays them all in one compiled program. Resources are
0-based here; the ``bots:NAME?key=value`` names (:mod:`loi.agents.bots`) are
1-based like the maps' resource digits.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

# Strategy ids (BotParams.kind).
SPECIALIST, ALTERNATING_SPECIALIST, SCHEDULED_FLIP, GRIM_TRIGGER, TIT_FOR_TAT, CORRIGIBLE, RESPOND_TO_PREVIOUS = range(7)

# Longest target cycle of an alternating specialist (a fixed shape keeps bots one family).
MAX_TARGETS = 8


class BotParams(NamedTuple):
    """One bot's parameters (leaves are arrays; stacked on a leading axis for a family).

    ``first``/``second``: specialist target; flip's initial/final target; the
    cooperate/defect resources of grim trigger, tit-for-tat and corrigible.
    ``margin``/``final_margin``: how many more of the target than of any other
    resource before interacting (flip: before/after the flip). ``threshold``:
    interactions before the flip; defections before the trigger (grim,
    corrigible). ``cycle``/``cycle_length``/``per_target``: the alternating
    specialist's targets. ``responses[i]``: respond-to-previous's target after
    the partner played ``i`` (-1: keep the current target). ``tremble``: the
    probability that tit-for-tat / corrigible answer the opposite way."""

    kind: jax.Array  # i32[]
    first: jax.Array  # i32[]
    second: jax.Array  # i32[]
    margin: jax.Array  # i32[]
    final_margin: jax.Array  # i32[]
    threshold: jax.Array  # i32[]
    cycle: jax.Array  # i32[MAX_TARGETS]
    cycle_length: jax.Array  # i32[]
    per_target: jax.Array  # i32[]
    responses: jax.Array  # i32[k]
    tremble: jax.Array  # f32[]


class BotCarry(NamedTuple):
    """The puppeteer state between steps (leaves have the batch shape)."""

    count: jax.Array  # i32: interactions seen (alternating, flip) or partner defections (grim, corrigible)
    cooperative: jax.Array  # bool: tit-for-tat's / corrigible's current choice
    response: jax.Array  # i32: respond-to-previous's current target


def init_carry(batch: int | tuple[int, ...] = ()) -> BotCarry:
    shape = (batch,) if isinstance(batch, int) else tuple(batch)
    return BotCarry(jnp.zeros(shape, jnp.int32), jnp.zeros(shape, bool), jnp.zeros(shape, jnp.int32))


def partner_choice(partner_inventory: jax.Array) -> jax.Array:
    """The resource the partner played at the interaction seen on this step: the
    unique maximum of its inventory; -1 without an interaction (all entries < 0)
    or when the maximum is tied (Melting Pot: "intent is unclear")."""
    interacted = jnp.any(partner_inventory >= 0)
    best = jnp.argmax(partner_inventory)
    runner_up = jnp.max(jnp.where(jnp.arange(partner_inventory.shape[-1]) == best, -jnp.inf, partner_inventory))
    unique = partner_inventory[best] > runner_up
    return jnp.where(interacted & unique, best, -1).astype(jnp.int32)


def collected_enough(inventory: jax.Array, target: jax.Array, margin: jax.Array) -> jax.Array:
    """Melting Pot's ``has_collected_sufficient``: ``target`` is the unique
    maximum of ``inventory`` and leads every other resource by ``margin``."""
    others = jnp.where(jnp.arange(inventory.shape[-1]) == target, -jnp.inf, inventory)
    return inventory[target] - jnp.max(others) >= margin


def initial_state(params: BotParams, key: jax.Array) -> BotCarry:
    """The state at an episode's first step (``Puppeteer.initial_state``; with
    ``timestep.first()`` Melting Pot re-initialises, and so do the bots).
    Tit-for-tat starts cooperative unless its hand trembles; respond-to-previous
    starts on a response drawn uniformly from its listed responses."""
    k_tremble, k_response = jax.random.split(key)
    trembles = jax.random.uniform(k_tremble) < params.tremble
    listed = params.responses >= 0
    logits = jnp.where(listed, 0.0, -jnp.inf)
    drawn = params.responses[jax.random.categorical(k_response, logits)]
    return BotCarry(
        count=jnp.int32(0),
        cooperative=(params.kind == TIT_FOR_TAT) & ~trembles,
        response=jnp.where(params.kind == RESPOND_TO_PREVIOUS, drawn, 0).astype(jnp.int32),
    )


def goal(params: BotParams, state: BotCarry, inventory: jax.Array, partner_inventory: jax.Array,
         key: jax.Array) -> tuple[BotCarry, jax.Array, jax.Array]:
    """One puppeteer step for one player: ``(state, target, interact)``.

    ``inventory`` f32/i32[k] is the player's own, ``partner_inventory`` the
    partner's at the interaction shown on this step (all -1 when none). Every
    strategy is computed and the bot's ``kind`` selects (a few scalar ops each),
    so a family of different strategies runs as one program."""
    kind = params.kind
    interacted = jnp.any(partner_inventory >= 0)
    partner = partner_choice(partner_inventory)
    cooperate, defect = params.first, params.second
    partner_defected = partner == defect
    partner_cooperated = partner == cooperate
    trembles = jax.random.uniform(key) < params.tremble

    # Alternating specialist and scheduled flip count every interaction.
    interactions = state.count + interacted.astype(jnp.int32)
    cycle_position = (interactions // jnp.maximum(params.per_target, 1)) % jnp.maximum(params.cycle_length, 1)
    alternating_target = params.cycle[cycle_position]
    flipped = interactions >= params.threshold
    flip_target = jnp.where(flipped, params.second, params.first)
    flip_margin = jnp.where(flipped, params.final_margin, params.margin)

    # Grim trigger and corrigible count the partner's defections.
    defections = state.count + partner_defected.astype(jnp.int32)
    triggered = defections >= params.threshold

    # Tit-for-tat: answer the partner's last choice (with the tremble), else keep the current one.
    tft_cooperative = jnp.where(partner_cooperated, ~trembles,
                                jnp.where(partner_defected, trembles, state.cooperative))
    # Corrigible: defect until punished `threshold` times, then tit-for-tat (cooperating when the
    # last punishment lands, up to the tremble).
    switching_now = partner_defected & (defections == params.threshold)
    corrigible_cooperative = jnp.where(
        ~triggered, False,
        jnp.where(switching_now | partner_cooperated, ~trembles,
                  jnp.where(partner_defected, trembles, state.cooperative)))

    # Respond to previous: the response to the partner's last choice, if it has one.
    listed = jnp.where(partner >= 0, params.responses[jnp.maximum(partner, 0)], -1)
    response = jnp.where(listed >= 0, listed, state.response).astype(jnp.int32)

    choose = lambda *pairs: jnp.select([kind == k for k, _ in pairs], [v for _, v in pairs])  # noqa: E731
    target = choose(
        (SPECIALIST, params.first),
        (ALTERNATING_SPECIALIST, alternating_target),
        (SCHEDULED_FLIP, flip_target),
        (GRIM_TRIGGER, jnp.where(triggered, defect, cooperate)),
        (TIT_FOR_TAT, jnp.where(tft_cooperative, cooperate, defect)),
        (CORRIGIBLE, jnp.where(corrigible_cooperative, cooperate, defect)),
        (RESPOND_TO_PREVIOUS, response),
    ).astype(jnp.int32)
    margin = jnp.where(kind == SCHEDULED_FLIP, flip_margin, params.margin)
    counts = jnp.where((kind == ALTERNATING_SPECIALIST) | (kind == SCHEDULED_FLIP), interactions,
                       jnp.where((kind == GRIM_TRIGGER) | (kind == CORRIGIBLE), defections, 0))
    cooperative = jnp.where(kind == TIT_FOR_TAT, tft_cooperative,
                            jnp.where(kind == CORRIGIBLE, corrigible_cooperative, False))
    new_state = BotCarry(count=counts.astype(jnp.int32), cooperative=cooperative, response=response)
    return new_state, target, collected_enough(inventory, target, margin)


def step(params: BotParams, carry: BotCarry, inventory: jax.Array, partner_inventory: jax.Array,
         reset: jax.Array, key: jax.Array) -> tuple[BotCarry, jax.Array, jax.Array]:
    """:func:`goal` after re-initialising the state on an episode's first step."""
    k_init, k_goal = jax.random.split(key)
    fresh = initial_state(params, k_init)
    state = jax.tree_util.tree_map(lambda new, old: jnp.where(reset, new, old), fresh, carry)
    return goal(params, state, inventory, partner_inventory, k_goal)
