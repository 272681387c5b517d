"""Melting Pot's in-the-matrix bots (loi.agents.bots): the puppeteer state machines on
hand-built observations, scripted navigation on hand-built grid states, tremble's rate,
names, and bots playing a repeated matrix game against closed-form returns."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import loi.envs
from loi.agents.bots import bot_act, bot_params, init_carry, parse_bot
from loi.agents.bots import strategies as st
from loi.envs.grid_game import FORWARD, INTERACT, STEP_RIGHT, TURN_LEFT, TURN_RIGHT
from loi.errors import LoiError
from loi.evaluation import cross_play
from loi.evaluation.policies import resolve_policies

NONE = None  # no interaction shown on this step


@functools.lru_cache(maxsize=None)
def _stepper():
    return jax.jit(st.step)


def goals(name: str, k: int, inventories, partner, seed: int = 0):
    """(target, interact) per step, 1-based targets, from an episode's first step; ``partner[t]``
    is the partner's inventory at the interaction shown on step t, or NONE."""
    params = jax.tree_util.tree_map(jnp.asarray, bot_params(parse_bot(name, k), k))
    carry = init_carry()
    out = []
    for t, (inventory, seen) in enumerate(zip(inventories, partner)):
        shown = -np.ones(k) if seen is NONE else np.asarray(seen, float)
        carry, target, interact = _stepper()(params, carry, jnp.asarray(inventory, jnp.float32),
                                             jnp.asarray(shown, jnp.float32), jnp.bool_(t == 0),
                                             jax.random.PRNGKey(seed * 1000 + t))
        out.append((int(target) + 1, bool(interact)))
    return out


# ----------------------------------------------------------------------------- state machines


def test_specialist_interacts_once_its_target_leads_by_the_margin() -> None:
    inventories = [(1, 1, 1), (1, 2, 1), (1, 2, 2), (1, 4, 2), (1, 4, 3)]
    assert goals("bots:specialist?target=2&margin=2", 3, inventories, [NONE] * 5) == [
        (2, False), (2, False), (2, False), (2, True), (2, False)]


def test_scheduled_flip_switches_target_and_margin_after_threshold_interactions() -> None:
    inventories = [(2, 1), (2, 1), (2, 1), (1, 2), (1, 3)]
    partner = [NONE, (1, 0), NONE, (0, 1), NONE]
    name = "bots:scheduled_flip?threshold=2&initial_margin=1&final_margin=2"
    # Interactions seen: 0, 1, 1, 2 (flip: target 2, margin 2), 2.
    assert goals(name, 2, inventories, partner) == [(1, True), (1, True), (1, True), (2, False), (2, True)]


def test_alternating_specialist_cycles_targets_per_interactions() -> None:
    partner = [NONE, (2, 0, 0), (0, 2, 0), NONE, (1, 1, 1), (0, 0, 3), (1, 0, 0)]
    name = "bots:alternating_specialist?targets=3+1&interactions_per_target=2&margin=1"
    targets = [t for t, _ in goals(name, 3, [(1, 1, 1)] * 7, partner)]
    # Interactions (any entry >= 0, tied inventories included): 0 1 2 2 3 4 5 -> target index //2 % 2.
    assert targets == [3, 3, 1, 1, 1, 3, 3]


def test_grim_trigger_never_forgives_after_the_trigger() -> None:
    cooperate, defect = (3, 1), (1, 3)
    partner = [NONE, defect, cooperate, defect] + [cooperate] * 40
    inventories = [(1, 1)] * len(partner)
    targets = [t for t, _ in goals("bots:grim_trigger?threshold=2", 2, inventories, partner)]
    assert targets[:3] == [1, 1, 1]  # one defection is below the threshold
    assert targets[3:] == [2] * (len(partner) - 3)  # the second one triggers it, for good
    # A new episode starts cooperative again (the state resets on the first step).
    assert goals("bots:grim_trigger?threshold=2", 2, inventories[:2], [NONE, cooperate])[1][0] == 1


def test_tit_for_tat_answers_the_partners_last_interaction_inventory() -> None:
    partner = [
        (2, 2, 0),  # cooperated and defected equally: intent unclear, keep cooperating
        (1, 0, 0),  # defected
        (0, 0, 1),  # played the third resource: keep defecting
        NONE,
        (0, 3, 1),  # cooperated
        NONE,
        (4, 1, 1),  # defected
    ]
    name = "bots:tit_for_tat?cooperate=2&defect=1&margin=1"
    inventories = [(1, 2, 0), (3, 2, 0), (3, 2, 0), (1, 1, 1), (2, 3, 0), (2, 2, 0), (3, 2, 0)]
    assert goals(name, 3, inventories, partner) == [
        (2, True), (1, True), (1, True), (1, False), (2, True), (2, False), (1, True)]


def test_tit_for_tat_with_certain_tremble_answers_the_opposite_way() -> None:
    partner = [NONE, (1, 0, 0), (0, 0, 1), (0, 1, 0)]
    targets = [t for t, _ in goals("bots:tit_for_tat?cooperate=2&defect=1&tremble=1", 3, [(1, 1, 1)] * 4, partner)]
    # First step: cooperate, trembles to defect; then each answer flips; "other" keeps the last choice.
    assert targets == [1, 2, 2, 1]


def test_corrigible_defects_until_punished_then_plays_tit_for_tat() -> None:
    cooperated, defected = (1, 0), (0, 1)  # resource 1 cooperates, 2 defects
    partner = [cooperated, defected, cooperated, NONE, defected, defected, cooperated]
    name = "bots:corrigible?threshold=2&margin=1"
    targets = [t for t, _ in goals(name, 2, [(1, 1)] * 7, partner)]
    # Defections seen: 0 1 1 1 2 (switch: cooperate) 3 (answer: defect) 3 (answer: cooperate).
    assert targets == [2, 2, 2, 2, 1, 2, 1]
    trembling = [t for t, _ in goals("bots:corrigible?threshold=2&tremble=1", 2, [(1, 1)] * 7, partner)]
    assert trembling == [2, 2, 2, 2, 2, 1, 2]  # punishment is unaffected; each tit-for-tat answer flips


def test_respond_to_previous_starts_at_random_and_follows_its_responses() -> None:
    name = "bots:respond_to_previous?responses=2+0+1"  # after 1 -> 2, after 2 -> keep, after 3 -> 1
    starts = {goals(name, 3, [(1, 1, 1)], [NONE], seed=s)[0][0] for s in range(40)}
    assert starts == {1, 2}  # uniform over the listed responses (2 and 1), never 3
    partner = [NONE, (3, 0, 0), (0, 0, 2), (0, 5, 0), (1, 1, 0)]
    targets = [t for t, _ in goals(name, 3, [(1, 1, 1)] * 5, partner)]
    assert targets[1:] == [2, 1, 1, 1]
    counter = [t for t, _ in goals("bots:counter_previous", 3, [(1, 1, 1)] * 4, [NONE, (2, 0, 0), (0, 2, 0),
                                                                                    (0, 0, 2)])]
    assert counter[1:] == [2, 3, 1]  # rock -> paper -> scissors -> rock


def test_tremble_rate_is_the_parameter() -> None:
    """Each tit-for-tat answer to a cooperation flips with probability ``tremble``: over
    n independent answers the binomial 99.9 % interval of the flip rate covers it."""
    p, n, k = 0.25, 4000, 2
    params = jax.tree_util.tree_map(jnp.asarray, bot_params(parse_bot(f"bots:tit_for_tat?tremble={p}", k), k))
    keys = jax.random.split(jax.random.PRNGKey(7), n)
    carry = init_carry(n)

    def one(c, key):
        return st.step(params, c, jnp.ones(k), jnp.array([3.0, 1.0]), jnp.bool_(False), key)

    _, targets, _ = jax.vmap(one)(carry, keys)
    flips = int(np.sum(np.asarray(targets) == 1))  # answered a cooperation by defecting
    interval = stats.binomtest(flips, n).proportion_ci(confidence_level=0.999)
    assert interval.low <= p <= interval.high
    assert 0.2 < flips / n < 0.3


# ----------------------------------------------------------------------------- grid navigation


@pytest.fixture(scope="module")
def grid():
    env = loi.envs.make("pure_coordination/small")
    _, state = env.reset(jax.random.PRNGKey(0))
    act = jax.jit(bot_act(env))
    return env, state, act


def _act(grid, name, *, me, facing, partner, inventory, key=0):
    env, state, act = grid
    state = state.replace(
        position=jnp.array([env.position(*me), env.position(*partner)], jnp.int32),
        orientation=jnp.array([facing, 0], jnp.int32),
        inventory=jnp.array([inventory, [1, 1]], jnp.int32),
        resource_timer=jnp.zeros_like(state.resource_timer),
    )
    obs = env._observe(state)["agent_0"][None]
    params = bot_params(parse_bot(name, 2), 2)
    _, action = act(params, init_carry(1), obs, jnp.zeros(1), jnp.ones(1, bool), jax.random.PRNGKey(key)[None])
    return int(action[0])


def test_specialist_collects_its_target_before_it_seeks_the_partner(grid) -> None:
    """small: row 2 is 'W 21 W', row 3 'W 12 W'. The bot stands at (4, 2) facing north with
    resource 1 straight ahead at (3, 2) and the partner ahead-right at (3, 3), in the beam's side
    lane. Below the margin it walks toward its resource and never fires; at the margin it fires."""
    name = "bots:specialist?target=1&margin=2"
    kwargs = dict(me=(4, 2), facing=0, partner=(3, 3))
    for key in range(5):
        assert _act(grid, name, inventory=[2, 1], key=key, **kwargs) == FORWARD  # collect the 1 ahead
        assert _act(grid, name, inventory=[3, 1], key=key, **kwargs) == INTERACT  # partner beside-ahead: fire
    # Target 2: the step ahead would walk over a 1 (and change its inventory): it sidesteps instead.
    assert _act(grid, "bots:specialist?target=2&margin=2", inventory=[1, 1], **kwargs) == STEP_RIGHT
    assert _act(grid, "bots:specialist?target=2&margin=2", me=(4, 2), facing=0, partner=(1, 4),
                inventory=[1, 1]) == STEP_RIGHT


def test_at_the_margin_the_bot_turns_toward_a_partner_beside_or_behind(grid) -> None:
    name = "bots:specialist?target=1&margin=1"
    assert _act(grid, name, me=(4, 2), facing=0, partner=(4, 4), inventory=[2, 1]) == TURN_RIGHT
    assert _act(grid, name, me=(4, 3), facing=0, partner=(4, 1), inventory=[2, 1]) == TURN_LEFT
    # Partner in the side lane beside it: the beam reaches it, fire.
    assert _act(grid, name, me=(4, 2), facing=0, partner=(4, 3), inventory=[2, 1]) == INTERACT


# ----------------------------------------------------------------------------- names


@pytest.mark.parametrize("name,message", [
    ("bots:nope", "unknown bot 'nope'"),
    ("bots:specialist?colour=2", "has no parameter 'colour'"),
    ("bots:specialist?target=3", "target must be a resource 1..2"),
    ("bots:specialist?margin=0", "margin must be a positive integer"),
    ("bots:tit_for_tat?tremble=1.5", "tremble must be a probability"),
    ("bots:specialist?target=1&target=2", "given twice"),
    ("bots:grim_trigger?cooperate=2", "cooperate and defect must be different"),
    ("bots:respond_to_previous?responses=1", "2 targets 0..2"),
    ("bots:specialist?target", "expected key=value"),
])
def test_bad_names_are_refused_with_one_line(name: str, message: str) -> None:
    with pytest.raises(LoiError, match=message) as err:
        parse_bot(name, 2)
    assert "\n" not in str(err.value)


def test_names_are_canonical_and_only_show_what_differs_from_melting_pots_defaults() -> None:
    assert parse_bot("bots:specialist?margin=1&target=2", 2).name == "bots:specialist?target=2&margin=1"
    assert parse_bot("bots:tit_for_tat?margin=5&tremble=0", 2).name == "bots:tit_for_tat"
    assert parse_bot("bots:alternating_specialist?targets=2+1", 3).name == "bots:alternating_specialist?targets=2+1"


# ----------------------------------------------------------------------------- matrix games


@pytest.mark.slow  # compiles a cross-play program (~10 s)
def test_bots_on_the_repeated_matrix_game_play_their_strategies_directly() -> None:
    """100 rounds of the prisoner's dilemma [[3, 0], [5, 1]] (1 cooperates, 2 defects), closed form.
    The alternating specialist plays C in odd rounds and D in even ones; tit-for-tat repeats the
    partner's previous round (C first); grim trigger defects for good after one defection."""
    env = loi.envs.make("matrix/prisoners_dilemma")
    names = ["bots:tit_for_tat", "bots:grim_trigger", "bots:specialist?target=2", "bots:alternating_specialist"]
    bots = resolve_policies(names, env)
    assert [b.name for b in bots] == names and len({b.act for b in bots}) == 1  # one family
    result = cross_play(env, bots, bots, 1, jax.random.PRNGKey(0))
    expected = np.array([
        [300, 300, 0 + 99 * 1, 3 + 50 * 0 + 49 * 5],  # vs alternating: TFT one round behind
        [300, 300, 0 + 99 * 1, 3 + 0 + 49 * 5 + 49 * 1],  # vs alternating: triggered in round 2
        [5 + 99 * 1, 5 + 99 * 1, 100, 50 * 5 + 50 * 1],
        [3 + 50 * 5 + 49 * 0, 3 + 5 + 49 * 0 + 49 * 1, 50 * 0 + 50 * 1, 50 * 3 + 50 * 1],
    ])
    np.testing.assert_array_equal(result.ego_return[:, :, 0, 0], expected)
