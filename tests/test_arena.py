"""N-player grid games and Melting Pot's arena substrates: hand-built states with hand-worked
outcomes.

The rules are Melting Pot's (meltingpot/lua/levels/the_matrix/components.lua:
GameInteractionZapper:onHit and _preventExtraSimultaneousInteraction; dmlab2d's
Grid::HitBeamActual hits the left lanes, then the right lanes, then the centre lane, and runs
the queued beams in the random order their updaters ran); every expectation below is worked
out by hand from them, not read back from the implementation.
"""

from __future__ import annotations

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import loi.envs
from loi.envs.grid_game import FORWARD, INTERACT, NOOP
from loi.envs.layouts import make_layout
from loi.errors import LoiError

N, E, S, W = range(4)
# An open 7 x 9 field: 10 spawn points along the top and bottom rows, one type-1 resource.
FIELD = make_layout("field", [
    "WWWWWWWWW",
    "Wnnnnn  W",
    "W       W",
    "W       W",
    "W   1   W",
    "W       W",
    "Wnnnnn  W",
    "WWWWWWWWW",
])
PD_ROW = Fraction(28, 9)  # x = (1/3, 2/3), y = (2/3, 1/3): x.A.y with A = [[3, 0], [5, 1]]
PD_COL = Fraction(13, 9)  # x.A^T.y


def _env(num_players=4, **kw):
    kw.setdefault("regrowth_probability", 0.0)
    return loi.envs.make(game="prisoners_dilemma", layout=FIELD, num_players=num_players, **kw)


def _state(env, cells, facings, inventories, key=0):
    """A state with the players at map ``cells`` (row, col), facing ``facings``, holding ``inventories``."""
    _, state = env.reset(jax.random.key(key))
    return state.replace(
        position=jnp.array([env.position(*c) for c in cells], jnp.int32),
        orientation=jnp.array(facings, jnp.int32),
        inventory=jnp.array(inventories, jnp.int32),
    )


def _step(env, state, actions, key=0):
    acts = {agent: jnp.int32(a) for agent, a in zip(env.agents, actions)}
    return env.step_env(jax.random.key(key), state, acts)


READY, UNREADY = (1, 2), (1, 1)


# ------------------------------------------------------------ the arena substrates ---
@pytest.mark.parametrize("game, layout, end, spawns", [
    ("prisoners_dilemma", "meltingpot_arena", 0.15, 64),
    ("chicken", "meltingpot_arena", 0.2, 64),
    ("stag_hunt", "meltingpot_arena_stag_hunt", 0.1, 88),
    ("pure_coordination_3x3", "meltingpot_arena_3_types", 0.2, 64),
    ("bach_or_stravinsky", "meltingpot_arena", 0.2, 64),
    ("running_with_scissors", "meltingpot_arena_3_types", 0.2, 64),
])
def test_arena_defaults_are_the_substrate_configs(game, layout, end, spawns):
    # *_in_the_matrix__arena.py: 8 players, a 24 x 25 map, an 11 x 11 view (forward 9,
    # backward 1, left and right 5), framesTillRespawn 50, regenerationRate 0.04 after 10,
    # no SpawnResourcesWhenAllPlayersZapped, min 1000 frames, interval 100, cap 5000.
    env = loi.envs.make(f"{game}/arena")
    assert env.layout.name == layout and (env.layout.height, env.layout.width) == (24, 25)
    assert sum(row.count("n") for row in env.layout.rows) == spawns
    assert env.num_agents == 8 and env.agents == tuple(f"agent_{i}" for i in range(8))
    assert (env.view_ahead, env.view_behind, env.view_width) == (9, 1, 11)
    assert env.view_shape[:2] == (11, 11) and env.obs_layout.self_cell == (9, 5)
    assert env.end_probability == end and (env.min_steps, env.end_interval, env.episode_cap) == (1000, 100, 5000)
    assert (env.respawn_steps, env.freeze_steps, env.cooldown_steps) == (50, 16, 2)
    assert (env.regrowth_probability, env.regrowth_delay, env.regrow_when_removed) == (0.04, 10, False)
    obs, state = env.reset(jax.random.key(0))
    assert set(obs) == set(env.agents) and len(set(np.asarray(state.position).tolist())) == 8


def test_bach_or_stravinsky_arena_seats_four_fans_of_each():
    env = loi.envs.make("bach_or_stravinsky/arena")
    assert env.roles == ("bach_fan",) * 4 + ("stravinsky_fan",) * 4 and env.random_tie_breaking


def test_num_players_overrides_and_is_validated():
    assert loi.envs.make("chicken/arena", num_players=16).agents[-1] == "agent_15"
    for bad in (1, 65, 2.5, True, "8"):
        with pytest.raises(LoiError) as err:
            loi.envs.make("prisoners_dilemma/arena", num_players=bad)
        assert "\n" not in str(err.value) and "num_players" in str(err.value)
    with pytest.raises(LoiError, match="pure_coordination_3x3/arena"):
        loi.envs.make("pure_coordination/arena")
    assert "prisoners_dilemma/arena" in loi.envs.names() and "pure_coordination/arena" not in loi.envs.names()


def test_two_player_default_is_the_same_environment():
    assert loi.envs.make("prisoners_dilemma/medium", num_players=2) == loi.envs.make("prisoners_dilemma/medium")


@pytest.mark.parametrize("built, name", [
    (("prisoners_dilemma/arena", {}), "prisoners_dilemma/arena"),
    (("prisoners_dilemma/arena", {"num_players": 16}), "prisoners_dilemma/arena?num_players=16"),
    (("stag_hunt/arena", {"num_players": 2}), "stag_hunt/arena?num_players=2"),
    (("prisoners_dilemma/meltingpot_arena", {}), "prisoners_dilemma/meltingpot_arena"),
    (("prisoners_dilemma/meltingpot_arena", {"num_players": 8}), "prisoners_dilemma/meltingpot_arena?num_players=8"),
    (("chicken/medium", {}), "chicken/medium"),
])
def test_the_name_builds_the_same_environment(built, name):
    # The arena is the arena map with its rules; the arena map with the repeated substrates'
    # rules (respawn 5, ...) is another environment and keeps its layout name.
    env = loi.envs.make(built[0], **built[1])
    assert env.name == name and loi.envs.make(name) == env
    arena_rules = loi.envs.make("prisoners_dilemma/arena", num_players=2)
    assert arena_rules != loi.envs.make("prisoners_dilemma/meltingpot_arena")
    assert loi.envs.make("prisoners_dilemma/arena?num_players=12").num_agents == 12


def test_a_name_query_other_than_num_players_is_refused():
    for bad in ("prisoners_dilemma/arena?min_steps=3", "prisoners_dilemma/arena?num_players=",
                "prisoners_dilemma/arena?num_players=eight"):
        with pytest.raises(LoiError, match=r"\?num_players=N"):
            loi.envs.make(bad)
    with pytest.raises(LoiError, match="disagree"):
        loi.envs.make("prisoners_dilemma/arena?num_players=4", num_players=6)
    assert loi.envs.make("prisoners_dilemma/arena?num_players=4", num_players=4).num_agents == 4


# ------------------------------------------------------------ who interacts with whom ---
def test_one_beam_takes_the_first_lane_hit_and_marks_the_others():
    # agent_0 at (3, 3) facing north fires; agent_1 beside it on the left, agent_2 on the right,
    # agent_3 one ahead: the left lane is hit first, so 0 and 1 interact; 2 and 3 are hit
    # after the zapper is taken and nothing happens to them.
    env = _env()
    state = _state(env, [(3, 3), (3, 2), (3, 4), (2, 3)], [N, N, N, N], [READY] * 4)
    _, state, rewards, _, infos = _step(env, state, [INTERACT, NOOP, NOOP, NOOP])
    np.testing.assert_array_equal(infos["partner"], [1, 0, -1, -1])
    np.testing.assert_array_equal(np.asarray(state.timeout) > 0, [True, True, False, False])
    assert bool(infos["interacted"]) and all(float(r) == 0.0 for r in rewards.values())


def test_first_beam_to_land_wins_as_the_fire_order_says():
    # agent_1 (west of agent_0, facing east) and agent_2 (east of it, facing west) both zap
    # agent_0: the beam that fires first interacts; the other finds agent_0 taken.
    env = _env()
    state = _state(env, [(3, 3), (3, 2), (3, 4), (5, 6)], [N, E, W, N], [READY] * 4)
    winners = set()
    for key in range(24):
        _, nxt, _, _, infos = _step(env, state, [NOOP, INTERACT, INTERACT, NOOP], key=key)
        order = [int(i) for i in env._draw(jax.random.key(key)).fire_order if int(i) in (1, 2)]
        partner = np.asarray(infos["partner"])
        assert partner[0] == order[0] and partner[order[0]] == 0 and partner[order[1]] == -1 and partner[3] == -1
        winners.add(order[0])
    assert winners == {1, 2}


def test_a_hit_on_an_unready_player_still_uses_up_the_zapper():
    # agent_0 zaps agent_1 (unready, just ahead) while agent_2 zaps agent_0 from behind. If
    # agent_0's beam lands first, both 0 and 1 are taken for the step: agent_2's beam finds
    # agent_0 taken and no one interacts. If agent_2's lands first, 2 and 0 interact, and
    # agent_0's beam then only marks agent_1.
    env = _env()
    state = _state(env, [(3, 3), (2, 3), (4, 3), (5, 6)], [N, N, N, N], [READY, UNREADY, READY, READY])
    seen = set()
    for key in range(24):
        _, _, _, _, infos = _step(env, state, [INTERACT, NOOP, INTERACT, NOOP], key=key)
        order = [int(i) for i in env._draw(jax.random.key(key)).fire_order if int(i) in (0, 2)]
        expected = [-1, -1, -1, -1] if order[0] == 0 else [2, -1, 0, -1]
        np.testing.assert_array_equal(infos["partner"], expected)
        seen.add(order[0])
    assert seen == {0, 2}


def test_a_frozen_player_cannot_be_taken_again():
    env = _env()
    state = _state(env, [(3, 3), (2, 3), (4, 3), (5, 6)], [N, N, N, N], [READY] * 4)
    _, state, _, _, infos = _step(env, state, [INTERACT, NOOP, NOOP, NOOP])
    np.testing.assert_array_equal(infos["partner"], [1, 0, -1, -1])
    _, _, _, _, infos = _step(env, state, [NOOP, NOOP, INTERACT, NOOP], key=1)  # agent_2 zaps frozen agent_0
    np.testing.assert_array_equal(infos["partner"], [-1, -1, -1, -1])


# ------------------------------------------------------------ rewards, freeze, respawn ---
def test_rewards_go_to_the_two_partners_only_after_the_freeze():
    env = _env(respawn_steps=3)
    inventories = [(1, 2), (2, 1), READY, READY]
    state = _state(env, [(3, 3), (2, 3), (5, 1), (5, 6)], [N, N, N, N], inventories)
    obs, state, _, _, infos = _step(env, state, [INTERACT, NOOP, NOOP, NOOP])
    # The interaction frame shows each partner its own and its partner's inventory.
    np.testing.assert_array_equal(env.obs_layout.parse(obs["agent_1"])["interaction_inventories"], [(2, 1), (1, 2)])
    np.testing.assert_array_equal(env.obs_layout.parse(obs["agent_2"])["interaction_inventories"], -1)
    paid = []
    for j in range(env.freeze_steps + 1):
        # Everyone walks; only the two partners are frozen.
        before = np.asarray(state.position)
        _, state, rewards, _, _ = _step(env, state, [FORWARD] * 4, key=j + 1)
        moved = np.asarray(state.position) != before
        if j < env.freeze_steps:
            assert not moved[0] and not moved[1]
        paid.append([float(rewards[a]) for a in env.agents])
    assert paid[:-1] == [[0.0] * 4] * env.freeze_steps
    np.testing.assert_allclose(paid[-1], [float(PD_ROW), float(PD_COL), 0.0, 0.0], rtol=1e-6)
    visible = np.asarray(env.players_visible(state))
    np.testing.assert_array_equal(visible, [False, False, True, True])  # the partners are removed
    np.testing.assert_array_equal(state.inventory[:2], [(1, 1), (1, 1)])


def test_respawn_among_eight_players_takes_free_spawn_points():
    # 8 players on a 10-spawn-point field: agents 2..7 stand on six spawn points, agents 0 and 1
    # interact on the right; when they respawn they take two of the four free points.
    env = _env(num_players=8, respawn_steps=2)
    spawn = [(1, c) for c in range(1, 6)] + [(6, c) for c in range(1, 6)]
    occupied = spawn[:3] + spawn[5:8]
    free = {env.position(*c) for c in spawn} - {env.position(*c) for c in occupied}
    state = _state(env, [(4, 6), (3, 6), *occupied], [N] * 8, [READY] * 8)
    _, state, _, _, infos = _step(env, state, [INTERACT] + [NOOP] * 7)
    np.testing.assert_array_equal(infos["partner"], [1, 0] + [-1] * 6)
    for j in range(env.interaction_timeout - 1):
        _, state, _, _, _ = _step(env, state, [NOOP] * 8, key=j + 1)
    assert np.all(np.asarray(state.timeout)[:2] == 1)
    landed = set()
    for key in range(40):
        _, after, _, _, _ = _step(env, state, [NOOP] * 8, key=100 + key)
        pos = np.asarray(after.position)
        assert pos[0] != pos[1] and {int(pos[0]), int(pos[1])} <= free
        np.testing.assert_array_equal(pos[2:], np.asarray(state.position)[2:])
        assert np.all(np.asarray(after.timeout) == 0)
        landed |= {int(pos[0]), int(pos[1])}
    assert landed == free


def test_roles_decide_who_interacts_and_who_is_row_player():
    # Bach or stravinsky, 4 players: seats 0, 1 bach fans (row role), 2, 3 stravinsky fans.
    env = loi.envs.make(game="bach_or_stravinsky", layout=FIELD, num_players=4, regrowth_probability=0.0)
    assert env.roles == ("bach_fan", "bach_fan", "stravinsky_fan", "stravinsky_fan")
    same = _state(env, [(3, 3), (2, 3), (5, 1), (5, 6)], [N, N, N, N], [READY] * 4)
    _, _, _, _, infos = _step(env, same, [INTERACT, NOOP, NOOP, NOOP])
    np.testing.assert_array_equal(infos["partner"], [-1] * 4)  # two bach fans never interact
    # agent_2 (column role) zaps agent_0: agent_0 is still the row player. Inventories (3, 1)
    # and (1, 2): x = (3/4, 1/4), y = (1/3, 2/3); A = [[3, 0], [0, 2]]: 3/4 + 1/3 = 13/12;
    # B = [[2, 0], [0, 3]]: 1/2 + 1/2 = 1.
    mixed = _state(env, [(2, 3), (5, 6), (3, 3), (5, 1)], [N, N, N, N], [(3, 1), READY, (1, 2), READY])
    _, state, _, _, infos = _step(env, mixed, [NOOP, NOOP, INTERACT, NOOP])
    np.testing.assert_array_equal(infos["partner"], [2, -1, 0, -1])
    np.testing.assert_allclose(np.asarray(state.pending_rewards)[[0, 2]], [13 / 12, 1.0], rtol=1e-6)


def test_other_players_show_in_the_partner_channel():
    env = _env()
    state = _state(env, [(3, 3), (2, 3), (3, 4), (6, 6)], [N, N, N, N], [READY] * 4)
    obs = env._observe(state)
    view = env.obs_layout.parse(obs["agent_0"])["view"][..., env.obs_layout.partner]
    me_row, me_col = env.obs_layout.self_cell
    # agent_1 one ahead, agent_2 one to the right, agent_3 out of the 5 x 5 view.
    assert view[me_row - 1, me_col] == 1 and view[me_row, me_col + 1] == 1 and view.sum() == 2
