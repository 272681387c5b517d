"""Grid "in the matrix" games: hand-built states with hand-computed outcomes.

Every expectation is derived from Melting Pot's rules (meltingpot/lua/levels/the_matrix/
components.lua, the *_in_the_matrix__repeated configs and the dmlab2d frame order), worked
out by hand in the comments, not read back from the implementation.
"""

import functools
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import loi.envs
from loi.envs.base import INFO_KEYS, PAIR_INFO_KEYS, Environment
from loi.envs.grid_game import (
    BACKWARD, FORWARD, INTERACT, NOOP, STEP_LEFT, STEP_RIGHT, TURN_LEFT, TURN_RIGHT,
)
from loi.envs.layouts import make_layout

N, E, S, W = range(4)
# A corridor: spawn points at (1, 1), (3, 1); one type-1 resource at (1, 3).
LANE = make_layout("lane", ["WWWWWWW", "Wn 1  W", "W     W", "Wn    W", "WWWWWWW"])


def _env(name="prisoners_dilemma/medium", **kw):
    kw.setdefault("regrowth_probability", 1.0)  # deterministic regrowth: exactly at the delay
    if name == "lane":
        return loi.envs.make(game="prisoners_dilemma", layout=LANE, **kw)
    return loi.envs.make(name, **kw)


def _place(env, p0, p1, f0=N, f1=N, inv0=(1, 1), inv1=(1, 1), key=0):
    _, state = env.reset(jax.random.key(key))
    return state.replace(
        position=jnp.array([env.position(*p0), env.position(*p1)], jnp.int32),
        orientation=jnp.array([f0, f1], jnp.int32),
        inventory=jnp.array([inv0, inv1], jnp.int32),
    )


def _step(env, state, a0, a1=NOOP, key=0):
    actions = {"agent_0": jnp.int32(a0), "agent_1": jnp.int32(a1)}
    return env.step_env(jax.random.key(key), state, actions)


def _parts(env, obs):
    return {k: np.asarray(v) for k, v in env.obs_layout.parse(obs).items()}


def _view(env, obs):
    return _parts(env, obs)["view"]


def _row_col(env, state, i):
    return env.row_col(state.position[i])


def _resource(env, row, col):
    return int(np.flatnonzero(env._tables.resource_cell == env.position(row, col))[0])


# ---------------------------------------------------------------- API ---
def test_api_shapes_and_fixed_info_keys():
    env = loi.envs.make("stag_hunt/large")
    assert isinstance(env, Environment)
    assert env.agents == ("agent_0", "agent_1") and env.num_agents == 2 and env.num_strategies == 2
    assert env.action_space("agent_0").n == 8
    # wall, 2 types, partner, ready mark, result shown, result value
    assert env.view_shape == (5, 5, 7)
    # view, inventory (2), READY_TO_SHOOT, INTERACTION_INVENTORIES (2 x 2)
    assert env.observation_space("agent_1").shape == (5 * 5 * 7 + 2 + 1 + 4,) == (env.obs_dim,)
    obs, state = env.reset(jax.random.key(0))
    assert obs["agent_0"].shape == (env.obs_dim,) and obs["agent_0"].dtype == jnp.float32
    _, _, rewards, dones, infos = _step(env, state, NOOP)
    assert set(dones) == {"agent_0", "agent_1", "__all__"}
    assert rewards["agent_0"].shape == () and rewards["agent_0"].dtype == jnp.float32
    assert set(INFO_KEYS) == {"interacted", "row_strategy", "col_strategy", "episode_step"}
    assert set(infos) == set(INFO_KEYS) | set(PAIR_INFO_KEYS) == set(INFO_KEYS) | {"partner", "strategy"}
    assert infos["row_strategy"].shape == (2,) and infos["episode_step"].dtype == jnp.int32


def test_reset_starts_with_one_of_each_and_nothing_pending():
    env = loi.envs.make("pure_coordination_3x3/meltingpot_pure_coordination")
    assert (env.layout.height, env.layout.width) == (15, 23)
    obs, state = env.reset(jax.random.key(1))
    np.testing.assert_array_equal(state.inventory, np.ones((2, 3)))
    assert np.all(np.asarray(state.timeout) == 0) and np.all(np.asarray(state.resource_health) == 3)
    parts = _parts(env, obs["agent_0"])
    np.testing.assert_array_equal(parts["inventory"], [1, 1, 1])
    assert parts["ready_to_shoot"] == 1.0
    np.testing.assert_array_equal(parts["interaction_inventories"], -np.ones((2, 3)))


def test_reset_spawns_on_distinct_spawn_points():
    env = _env("chicken/small")
    spawns = {(1, 1), (1, 4), (4, 1), (4, 4)}
    for seed in range(20):
        _, state = env.reset(jax.random.key(seed))
        cells = {_row_col(env, state, 0), _row_col(env, state, 1)}
        assert len(cells) == 2 and cells <= spawns


def test_melting_pot_maps_and_caps_are_built_in():
    names = loi.envs.names()
    assert "prisoners_dilemma/meltingpot" in names and "stag_hunt/meltingpot_stag_hunt" in names
    assert "pure_coordination_3x3/meltingpot_pure_coordination" in names
    assert "pure_coordination/meltingpot_pure_coordination" not in names  # 3 types, 2 strategies
    assert loi.envs.make("stag_hunt/small").episode_cap == 2500
    assert loi.envs.make("chicken/meltingpot").episode_cap == 5000
    assert loi.envs.make("chicken/small", max_steps=300).episode_cap == 300


# --------------------------------------------------------- movement ---
def test_moves_are_relative_to_facing_and_blocked_by_walls_and_players():
    env = _env()
    state = _place(env, (2, 1), (5, 6), f0=E)
    assert _row_col(env, _step(env, state, FORWARD)[1], 0) == (2, 2)
    assert _row_col(env, _step(env, state, BACKWARD)[1], 0) == (2, 1)  # wall at (2, 0)
    assert _row_col(env, _step(env, state, STEP_LEFT)[1], 0) == (1, 1)  # facing east: left is north
    assert _row_col(env, _step(env, state, STEP_RIGHT)[1], 0) == (3, 1)
    assert int(_step(env, state, TURN_LEFT)[1].orientation[0]) == N
    assert int(_step(env, state, TURN_RIGHT)[1].orientation[0]) == S
    blocked = _place(env, (2, 1), (2, 2), f0=E)
    assert _row_col(env, _step(env, blocked, FORWARD)[1], 0) == (2, 1)


def test_two_players_never_share_a_cell_and_either_may_win_the_race():
    env = _env()
    state = _place(env, (1, 2), (1, 4), f0=E, f1=W)  # both step onto (1, 3)
    winners = set()
    for seed in range(16):
        nxt = _step(env, state, FORWARD, FORWARD, key=seed)[1]
        cells = sorted([_row_col(env, nxt, 0), _row_col(env, nxt, 1)])
        assert cells in ([(1, 2), (1, 3)], [(1, 3), (1, 4)])
        winners.add(cells[0] == (1, 3) or _row_col(env, nxt, 0) == (1, 3))
    assert winners == {True, False}


# ----------------------------------------------- collection, regrowth ---
def test_collecting_a_resource_then_regrowth_after_the_delay_but_not_under_a_player():
    env = _env(regrowth_delay=4)
    # medium row 2 is "W  21  W": a type-2 resource at (2, 3).
    r = _resource(env, 2, 3)
    state = _place(env, (1, 3), (5, 6), f0=S)
    obs, state, rewards, _, _ = _step(env, state, FORWARD)
    assert _row_col(env, state, 0) == (2, 3)
    np.testing.assert_array_equal(state.inventory[0], [1, 2])
    np.testing.assert_array_equal(_parts(env, obs["agent_0"])["inventory"], [1, 2])
    assert float(rewards["agent_0"]) == 0.0  # no reward for gathering
    # Melting Pot's regrowth updater starts 4 frames after the wait state begins, i.e. on the
    # 5th step after the collection: the timer counts 5, 4, 3, 2, then 1 = "may regrow".
    assert int(state.resource_timer[r]) == 5
    for left in (4, 3, 2, 1):
        state = _step(env, state, NOOP)[1]
        assert int(state.resource_timer[r]) == left
    # Standing on it: every trial fails (Melting Pot checks the cell for an avatar).
    for _ in range(3):
        state = _step(env, state, NOOP)[1]
        assert int(state.resource_timer[r]) == 1
    state = _step(env, state, BACKWARD)[1]  # the trial of this step still sees the player there
    assert int(state.resource_timer[r]) == 1
    state = _step(env, state, NOOP)[1]
    assert int(state.resource_timer[r]) == 0
    state = _step(env, state, FORWARD)[1]  # step back on: collected again
    np.testing.assert_array_equal(state.inventory[0], [1, 3])


def test_collected_resource_disappears_from_the_view():
    env = _env()
    lay = env.obs_layout
    state = _place(env, (1, 3), (5, 6), f0=S)
    # Facing south from (1, 3): the cell one ahead is view row 2, centre column.
    obs = env._observe(state)["agent_0"]
    assert _view(env, obs)[2, 2, lay.resources.start + 1] == 1.0  # type 2 resource visible
    obs, state, *_ = _step(env, state, TURN_LEFT)  # now facing east; (2, 3) is right-hand neighbour
    assert _view(env, obs["agent_0"])[3, 3, lay.resources.start + 1] == 1.0
    state = state.replace(orientation=jnp.array([S, N], jnp.int32))
    obs, state, *_ = _step(env, state, FORWARD)
    assert _view(env, obs["agent_0"])[3, 2, lay.resources].sum() == 0.0  # own cell: collected


def test_regrowth_trials_succeed_with_the_probability_independently_per_resource():
    env = loi.envs.make("prisoners_dilemma/medium", regrowth_probability=0.3)
    a, b = _resource(env, 2, 3), _resource(env, 2, 4)
    state = _place(env, (5, 1), (5, 6))
    state = state.replace(resource_timer=state.resource_timer.at[a].set(1).at[b].set(1))
    keys = jax.random.split(jax.random.key(5), 3000)
    nxt = jax.vmap(lambda k: env.step_env(k, state, {"agent_0": 0, "agent_1": 0})[1])(keys)
    back = np.asarray(nxt.resource_timer)[:, [a, b]] == 0
    for cell in (0, 1):
        assert stats.binomtest(int(back[:, cell].sum()), len(back), 0.3).pvalue > 0.001
    table = np.array([[np.sum(~back[:, 0] & ~back[:, 1]), np.sum(~back[:, 0] & back[:, 1])],
                      [np.sum(back[:, 0] & ~back[:, 1]), np.sum(back[:, 0] & back[:, 1])]])
    assert stats.chi2_contingency(table).pvalue > 0.001


# ------------------------------------------------------------ beam ---
def test_beam_that_misses_starts_the_cooldown_without_interaction():
    env = _env()
    state = _place(env, (1, 1), (5, 6), f0=E, inv0=(2, 1), inv1=(1, 2))
    _, state, rewards, _, infos = _step(env, state, INTERACT)
    assert not bool(infos["interacted"]) and np.all(np.asarray(state.timeout) == 0)
    np.testing.assert_array_equal(state.cooldown, [2, 0])


def test_beam_is_stopped_by_walls():
    env = _env("prisoners_dilemma/obstacle")
    # obstacle row 1 is "Wn    W    nW": a wall at (1, 6) between (1, 5) and (1, 7).
    state = _place(env, (1, 5), (1, 7), f0=E, inv0=(2, 1), inv1=(2, 1))
    assert not bool(_step(env, state, INTERACT)[4]["interacted"])
    open_state = _place(env, (1, 2), (1, 4), f0=E, inv0=(2, 1), inv1=(2, 1))
    assert bool(_step(env, open_state, INTERACT)[4]["interacted"])


# Player 0 at (1, 4) of the large map facing south. Centre lane: (2, 4), (3, 4), (4, 4).
# Side lanes start beside the player: facing south, its right is west, so (1, 3), (2, 3),
# (3, 3) and, on its left, (1, 5), (2, 5), (3, 5) -- but (2, 5) holds a type-1 resource
# ("W    111    W"), which stops that lane: (3, 5) is out of reach.
@pytest.mark.parametrize(
    "target, hit",
    [((2, 4), True), ((3, 4), True), ((4, 4), True), ((1, 3), True), ((3, 3), True), ((1, 5), True),
     ((3, 5), False),  # behind a resource
     ((4, 3), False), ((5, 4), False), ((1, 2), False)],  # side lane 3 ahead, 4 ahead, 2 aside
)
def test_beam_shape_centre_1_to_3_ahead_sides_0_to_2_ahead(target, hit):
    env = _env("prisoners_dilemma/large")
    state = _place(env, (1, 4), target, f0=S, inv0=(2, 1), inv1=(2, 1))
    assert bool(_step(env, state, INTERACT)[4]["interacted"]) == hit


def test_beam_stopped_by_a_resource_which_the_third_zap_destroys():
    env = _env("lane")
    r = _resource(env, 1, 3)
    # Player 0 at (1, 1) facing east; the resource at (1, 3); the partner behind it at (1, 4).
    state = _place(env, (1, 1), (1, 4), f0=E, f1=W, inv0=(2, 1), inv1=(1, 2))
    for hit in (1, 2):
        _, state, _, _, infos = _step(env, state, INTERACT)
        assert not bool(infos["interacted"])  # stopped by the resource, which loses 1 health
        assert int(state.resource_health[r]) == 3 - hit and int(state.resource_timer[r]) == 0
        for _ in range(2):  # cool-down
            _, state, _, _, infos = _step(env, state, INTERACT)
            assert not bool(infos["interacted"]) and int(state.resource_health[r]) == 3 - hit
    _, state, _, _, infos = _step(env, state, INTERACT)
    # Third hit: destroyed (health back to 3 for its next life, regrowing like a collected
    # one); a destroyed resource lets the beam through, so the partner is hit.
    assert int(state.resource_health[r]) == 3 and int(state.resource_timer[r]) == 11
    assert bool(infos["interacted"])


def test_a_player_stops_the_beam_before_a_resource():
    env = _env("lane")
    r = _resource(env, 1, 3)
    state = _place(env, (1, 1), (1, 2), f0=E, inv0=(1, 1), inv1=(1, 1))  # nobody ready
    _, state, _, _, infos = _step(env, state, INTERACT)
    assert not bool(infos["interacted"]) and int(state.resource_health[r]) == 3


def test_beam_hitting_an_unready_player_does_nothing():
    env = _env()
    # Ready means a resource collected since the last reset: inventory total above 1 + 1.
    for inv0, inv1 in [((2, 1), (1, 1)), ((1, 1), (3, 1))]:
        state = _place(env, (1, 1), (1, 3), f0=E, inv0=inv0, inv1=inv1)
        _, nxt, rewards, _, infos = _step(env, state, INTERACT)
        assert not bool(infos["interacted"]) and np.all(np.asarray(nxt.timeout) == 0)
        np.testing.assert_array_equal(nxt.inventory, state.inventory)


def test_cooldown_blocks_firing_for_two_steps_and_ready_to_shoot_shows_it():
    env = _env()
    state = _place(env, (1, 1), (5, 6), f0=E, inv0=(2, 1), inv1=(2, 1))
    obs, state, *_ = _step(env, state, INTERACT)  # fires, misses
    assert _parts(env, obs["agent_0"])["ready_to_shoot"] == 0.0  # 1 - 2/2
    # Partner now stands in the beam; the next two attempts cannot fire.
    state = state.replace(position=state.position.at[1].set(env.position(1, 3)))
    for expected_cooldown, shown in ((1, 0.5), (0, 1.0)):
        obs, state, _, _, infos = _step(env, state, INTERACT)
        assert not bool(infos["interacted"])
        assert int(state.cooldown[0]) == expected_cooldown
        assert _parts(env, obs["agent_0"])["ready_to_shoot"] == shown
    assert bool(_step(env, state, INTERACT)[4]["interacted"])


def test_simultaneous_zaps_make_one_interaction_with_either_as_row_player():
    env = _env()
    # Facing each other, both ready, both fire. s0 = (2/3, 1/3), s1 = (1/4, 3/4); in the PD
    # s0 A s1 = 7/6 and s1 A s0 = 13/4. If agent_1's beam counts it is the row player and wins
    # (13/4 >= 7/6): its inventory resets at once. If agent_0's does, agent_0 is the row player
    # and loses: nobody's inventory resets until the end of the freeze.
    state = _place(env, (1, 1), (1, 2), f0=E, f1=W, inv0=(2, 1), inv1=(1, 3))
    agent_1_row = []
    for seed in range(24):
        _, nxt, _, _, infos = _step(env, state, INTERACT, INTERACT, key=seed)
        assert bool(infos["interacted"])
        np.testing.assert_array_equal(nxt.inventory[0], [2, 1])
        agent_1_row.append(bool(np.all(np.asarray(nxt.inventory[1]) == 1)))
        if not agent_1_row[-1]:
            np.testing.assert_array_equal(nxt.inventory[1], [1, 3])
    assert 0 < sum(agent_1_row) < len(agent_1_row)


# ------------------------------------------------------ interaction ---
# Inventories (2, 1) vs (1, 3): s0 = (2/3, 1/3), s1 = (1/4, 3/4). agent_1 fires, so it is the
# row player: r1 = s1 A s0, r0 = s1 B s0 = s0 A s1 (B = A^T).
#   prisoners_dilemma A=[[3,0],[5,1]]: r0 = 2/3*3/4 + 1/3*(5/4+3/4) = 7/6;  r1 = 1/4*2 + 3/4*11/3 = 13/4
#   chicken           A=[[3,2],[5,0]]: r0 = 2/3*9/4 + 1/3*5/4 = 23/12;     r1 = 1/4*8/3 + 3/4*10/3 = 19/6
#   stag_hunt         A=[[4,0],[2,2]]: r0 = 2/3*1 + 1/3*2 = 4/3;           r1 = 1/4*8/3 + 3/4*2 = 13/6
#   pure_coordination A=[[1,0],[0,1]]: r0 = r1 = 2/3*1/4 + 1/3*3/4 = 5/12
# In every game the zapper's reward is at least the other's: it wins, its inventory resets at once.
EXPECTED = {
    "prisoners_dilemma": (Fraction(7, 6), Fraction(13, 4)),
    "chicken": (Fraction(23, 12), Fraction(19, 6)),
    "stag_hunt": (Fraction(4, 3), Fraction(13, 6)),
    "pure_coordination": (Fraction(5, 12), Fraction(5, 12)),
}


@pytest.mark.parametrize("game", sorted(EXPECTED))
def test_interaction_timeline_reward_reset_removal_regrowth_respawn(game):
    # One compiled env for all four games: the payoff is part of the state.
    env, played = _env(), loi.envs.games()[game]
    lay = env.obs_layout
    missing = _resource(env, 2, 3)
    state = _place(env, (1, 1), (1, 2), f0=E, f1=W, inv0=(2, 1), inv1=(1, 3))
    state = state.replace(resource_timer=state.resource_timer.at[missing].set(100),
                          payoff=jnp.asarray([played.row_payoff, played.col_payoff], jnp.float32))
    r0, r1 = (float(v) for v in EXPECTED[game])
    # Step k: agent_1 fires at agent_0 (adjacent, one ahead).
    obs, state, rewards, _, infos = _step(env, state, NOOP, INTERACT)
    assert bool(infos["interacted"])
    np.testing.assert_allclose(infos["row_strategy"], [2 / 3, 1 / 3], rtol=1e-6)  # agent_0's
    np.testing.assert_allclose(infos["col_strategy"], [1 / 4, 3 / 4], rtol=1e-6)  # agent_1's
    # INTERACTION_INVENTORIES on this frame: own, then partner, before any reset.
    np.testing.assert_array_equal(_parts(env, obs["agent_0"])["interaction_inventories"], [[2, 1], [1, 3]])
    np.testing.assert_array_equal(_parts(env, obs["agent_1"])["interaction_inventories"], [[1, 3], [2, 1]])
    np.testing.assert_array_equal(state.inventory, [[2, 1], [1, 1]])  # the winner's reset at once
    # Steps k+1 .. k+16: frozen (actions ignored), the result on both avatars, nothing paid.
    for j in range(1, 17):
        obs, state, rewards, _, infos = _step(env, state, FORWARD, INTERACT, key=j)
        assert not bool(infos["interacted"])
        assert float(rewards["agent_0"]) == float(rewards["agent_1"]) == 0.0
        assert _row_col(env, state, 0) == (1, 1) and _row_col(env, state, 1) == (1, 2)
        view = _view(env, obs["agent_0"])
        assert view[2, 2, lay.partner] == 1.0 and view[2, 2, lay.result_shown] == 1.0
        np.testing.assert_allclose(view[2, 2, lay.result], r1, rtol=1e-6)  # the partner's reward
        np.testing.assert_allclose(view[3, 2, lay.result], r0, rtol=1e-6)  # my own, on my avatar
        np.testing.assert_array_equal(_parts(env, obs["agent_0"])["interaction_inventories"], -np.ones((2, 2)))
    # Step k+17: paid, both inventories reset, both removed (a removed player sees nothing).
    obs, state, rewards, _, _ = _step(env, state, FORWARD, FORWARD)
    np.testing.assert_allclose([rewards["agent_0"], rewards["agent_1"]], [r0, r1], rtol=1e-6)
    np.testing.assert_array_equal(state.inventory, np.ones((2, 2)))
    assert not np.any(_view(env, obs["agent_0"])) and not np.any(_view(env, obs["agent_1"]))
    assert int(state.resource_timer[missing]) != 0
    # Step k+18: nobody on the map, so every resource comes back.
    obs, state, rewards, _, _ = _step(env, state, FORWARD, FORWARD)
    assert np.all(np.asarray(state.resource_timer) == 0)
    # Removed through step k+22, respawned at step k+23 on distinct spawn points.
    for j in range(19, 23):
        obs, state, rewards, _, _ = _step(env, state, FORWARD, FORWARD, key=j)
        assert float(rewards["agent_0"]) == 0.0 and not np.any(_view(env, obs["agent_0"]))
    obs, state, *_ = _step(env, state, FORWARD, FORWARD, key=23)
    assert np.all(np.asarray(state.timeout) == 0) and np.any(_view(env, obs["agent_0"]))
    spawns = {(1, 1), (1, 6), (5, 1), (5, 6)}
    assert {_row_col(env, state, 0), _row_col(env, state, 1)} <= spawns
    assert _row_col(env, state, 0) != _row_col(env, state, 1)
    np.testing.assert_array_equal(state.inventory, np.ones((2, 2)))


# Melting Pot's GameInteractionZapper:_resolve(row = zapper, column = zapped): the row player
# wins when rowReward > columnReward or on a tie (randomTieBreaking is off in the four
# substrates); only in that branch is the winner's inventory reset at once
# (reset_winner_inventory); a winning column player's reset waits for the scheduled effects.
# agent_0 fires at agent_1; s = (1/4, 3/4) and (3/4, 1/4), exact in binary, so ties are exact.
#   PD A = [[3,0],[5,1]], B = A^T.  zapper (1,3) vs (3,1): A s1 = (9/4, 4): row 1/4*9/4 + 3/4*4 = 57/16;
#   column = s1 A s0, A s0 = (3/4, 2): 3/4*3/4 + 1/4*2 = 17/16 -> the zapper wins.
#   Swapped, (3,1) vs (1,3): row 17/16, column 57/16 -> the zapped player wins.
#   (3,1) vs (3,1): equal strategies, row = column = s A s -> a tie, the zapper wins.
#   Pure coordination A = B = I, (1,3) vs (3,1): both s0 . s1 = 3/8 -> a tie, the zapper wins.
@pytest.mark.parametrize("game, inv0, inv1, zapper_reset", [
    ("prisoners_dilemma", (1, 3), (3, 1), True),
    ("prisoners_dilemma", (3, 1), (1, 3), False),
    ("prisoners_dilemma", (3, 1), (3, 1), True),
    ("pure_coordination", (1, 3), (3, 1), True),
], ids=["zapper-wins", "zapped-wins", "tie-pd", "tie-coordination"])
def test_only_a_winning_zapper_has_its_inventory_reset_at_once(game, inv0, inv1, zapper_reset):
    env, played = _env(), loi.envs.games()[game]
    state = _place(env, (1, 1), (1, 2), f0=E, f1=W, inv0=inv0, inv1=inv1)
    state = state.replace(payoff=jnp.asarray([played.row_payoff, played.col_payoff], jnp.float32))
    _, state, _, _, infos = _step(env, state, INTERACT)
    assert bool(infos["interacted"])
    np.testing.assert_array_equal(state.inventory[0], (1, 1) if zapper_reset else inv0)
    np.testing.assert_array_equal(state.inventory[1], inv1)  # the zapped player: never at once
    for j in range(env.freeze_steps):  # unchanged through the freeze
        _, frozen, *_ = _step(env, state, FORWARD, FORWARD, key=j)
        np.testing.assert_array_equal(frozen.inventory, state.inventory)
        state = frozen
    _, state, *_ = _step(env, state, NOOP, NOOP)  # the end of the freeze: both reset
    np.testing.assert_array_equal(state.inventory, np.ones((2, 2)))


def test_cooldown_pauses_through_the_freeze_and_removal_and_carries_over_respawn():
    env = _env()
    state = _place(env, (1, 1), (1, 2), f0=E, f1=W, inv0=(2, 1), inv1=(1, 2))
    state = state.replace(cooldown=jnp.array([0, 2], jnp.int32))
    _, state, _, _, infos = _step(env, state, INTERACT, INTERACT)  # agent_1 still cooling: 2 -> 1
    assert bool(infos["interacted"])
    np.testing.assert_array_equal(state.cooldown, [2, 1])
    for j in range(env.interaction_timeout):
        obs, state, *_ = _step(env, state, INTERACT, INTERACT, key=j)
        np.testing.assert_array_equal(state.cooldown, [2, 1])
    assert np.all(np.asarray(state.timeout) == 0)  # respawned, and the timers carried over
    assert _parts(env, obs["agent_0"])["ready_to_shoot"] == 0.0
    assert _parts(env, obs["agent_1"])["ready_to_shoot"] == 0.5
    _, state, *_ = _step(env, state, NOOP, NOOP)
    np.testing.assert_array_equal(state.cooldown, [1, 0])


def test_strategies_count_the_starting_one_of_each():
    env = _env("lane")
    # Player 0 walks onto the type-1 resource at (1, 3): (1, 1) + one type 1 = (2, 1). Player 1
    # collected one type 2 earlier: (1, 2). s0 = (2/3, 1/3), s1 = (1/3, 2/3). Player 0 then fires
    # east at player 1, so it is the row player:
    #   r0 = s0 A s1, A s1 = (3/3, 5/3 + 2/3) = (1, 7/3): r0 = 2/3 + 7/9 = 13/9
    #   r1 = s0 B s1 = s1 A s0, A s0 = (2, 10/3 + 1/3): r1 = 2/3 + 22/9 = 28/9
    # 13/9 < 28/9: the column player wins; no inventory resets before the freeze ends.
    state = _place(env, (1, 2), (1, 4), f0=E, f1=W, inv0=(1, 1), inv1=(1, 2))
    _, state, _, _, infos = _step(env, state, FORWARD)
    np.testing.assert_array_equal(state.inventory, [[2, 1], [1, 2]])
    assert not bool(infos["interacted"])
    _, state, _, _, infos = _step(env, state, INTERACT)
    assert bool(infos["interacted"])
    np.testing.assert_allclose(infos["row_strategy"], [2 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(infos["col_strategy"], [1 / 3, 2 / 3], rtol=1e-6)
    np.testing.assert_array_equal(state.inventory, [[2, 1], [1, 2]])
    for _ in range(env.freeze_steps):
        _, state, rewards, *_ = _step(env, state, NOOP)
    _, state, rewards, *_ = _step(env, state, NOOP)
    np.testing.assert_allclose([rewards["agent_0"], rewards["agent_1"]], [13 / 9, 28 / 9], rtol=1e-6)


# ------------------------------------------------------ observation ---
def test_readiness_mark_appears_a_step_after_the_first_collection():
    env = _env("lane")
    lay = env.obs_layout
    # Player 1 at (1, 1) facing east watches player 0 at (1, 2), one ahead, step onto (1, 3).
    state = _place(env, (1, 2), (1, 1), f0=E, f1=E)
    obs, state, *_ = _step(env, state, FORWARD)
    np.testing.assert_array_equal(state.inventory[0], [2, 1])  # ready now ...
    assert _view(env, obs["agent_1"])[1, 2, lay.partner] == 1.0
    assert _view(env, obs["agent_1"])[1, 2, lay.ready] == 0.0  # ... but Melting Pot draws the mark next frame
    assert _view(env, obs["agent_0"])[3, 2, lay.ready] == 0.0
    obs, state, *_ = _step(env, state, NOOP)
    assert _view(env, obs["agent_1"])[1, 2, lay.ready] == 1.0  # on the partner, as it appears in view
    assert _view(env, obs["agent_0"])[3, 2, lay.ready] == 1.0  # and on my own avatar
    assert _view(env, obs["agent_1"])[3, 2, lay.ready] == 0.0  # player 1 never collected


def test_frozen_players_are_visible_and_removed_players_are_not():
    env = _env(freeze_steps=2, respawn_steps=2)
    lay = env.obs_layout
    state = _place(env, (1, 1), (1, 2), f0=E, f1=W, inv0=(2, 1), inv1=(2, 1))
    obs, state, *_ = _step(env, state, INTERACT)
    assert _view(env, obs["agent_0"])[2, 2, lay.partner] == 1.0  # one ahead
    for _ in range(2):  # the freeze: visible, nothing paid
        obs, state, rewards, *_ = _step(env, state, NOOP)
        assert _view(env, obs["agent_0"])[2, 2, lay.partner] == 1.0 and float(rewards["agent_0"]) == 0.0
    obs, state, rewards, *_ = _step(env, state, NOOP)  # freeze over: paid and removed
    # s0 = s1 = (2/3, 1/3): 3*4/9 + 0*2/9 + 5*2/9 + 1*1/9 = 23/9
    np.testing.assert_allclose(float(rewards["agent_0"]), 23 / 9, rtol=1e-6)
    assert not np.any(_view(env, obs["agent_0"]))


def _reference_view(env, state, agent):
    """Independent view: rotate the character map so the agent faces up, then crop."""
    pad = 4
    rows = env.layout.rows
    grid = np.full((len(rows) + 2 * pad, len(rows[0]) + 2 * pad), "W")
    grid[pad:-pad, pad:-pad] = np.array([list(r) for r in rows])
    marks = np.zeros(grid.shape, int)
    r, c = _row_col(env, state, agent)
    marks[r + pad, c + pad] = 1
    facing = int(state.orientation[agent])
    grid, marks = np.rot90(grid, k=facing), np.rot90(marks, k=facing)
    (rr,), (cc,) = np.nonzero(marks)
    return grid[rr - 3: rr + 2, cc - 2: cc + 3]


@pytest.mark.parametrize("layout", ["small", "medium", "large", "obstacle", "meltingpot_stag_hunt"])
def test_egocentric_view_matches_a_rotated_crop_of_the_map(layout):
    env = _env(f"stag_hunt/{layout}")
    lay = env.obs_layout
    obs, state = env.reset(jax.random.key(3))
    fixed = jnp.asarray(env._tables.resource_fixed_type)
    state = state.replace(resource_type=jnp.where(fixed >= 0, fixed, 0))  # every 'a' -> type 1
    rng = np.random.default_rng(0)
    free = [(r, c) for r, row in enumerate(env.layout.rows) for c, ch in enumerate(row) if ch != "W"]
    for _ in range(12):
        i, j = rng.choice(len(free), 2, replace=False)
        s = state.replace(
            position=jnp.array([env.position(*free[i]), env.position(*free[j])], jnp.int32),
            orientation=jnp.array(rng.integers(0, 4, 2), jnp.int32),
        )
        for agent in (0, 1):
            view = _view(env, env._observe(s)[env.agents[agent]])
            ref = _reference_view(env, s, agent)
            np.testing.assert_array_equal(view[..., lay.wall], ref == "W")
            np.testing.assert_array_equal(view[..., lay.resources.start], np.isin(ref, ["1", "a"]))
            np.testing.assert_array_equal(view[..., lay.resources.start + 1], ref == "2")


def test_partner_in_view_without_its_facing():
    env = _env()
    lay = env.obs_layout
    state = _place(env, (3, 1), (1, 1), f0=N, f1=S)  # partner two cells ahead
    view = _view(env, env._observe(state)["agent_0"])
    assert view[1, 2, lay.partner] == 1.0 and view[..., lay.partner].sum() == 1.0
    # Melting Pot's avatar sprites do not rotate: the partner's facing changes nothing in view.
    turned = _view(env, env._observe(state.replace(orientation=jnp.array([N, E], jnp.int32)))["agent_0"])
    np.testing.assert_array_equal(view, turned)
    # Seen from agent_1 (facing east, at (1, 1)): agent_0 at (3, 1) is two cells to its right.
    view = _view(env, env._observe(state.replace(orientation=jnp.array([N, E], jnp.int32)))["agent_1"])
    assert view[3, 4, lay.partner] == 1.0


def test_beam_view_mask_is_the_beam_footprint():
    env = _env()
    expected = np.array([[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 1, 0, 1, 0], [0, 0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(env.beam_view_mask(), expected)


# ------------------------------------------------------ episodes ---
def _ends_after(env, episode_step, keys=400):
    _, state = env.reset(jax.random.key(0))
    state = state.replace(episode_step=jnp.int32(episode_step))
    return np.asarray(_ends(env)(jax.random.split(jax.random.key(1), keys), state))


@functools.lru_cache(maxsize=None)
def _ends(env):
    step = lambda k, s: env.step_env(k, s, {"agent_0": 0, "agent_1": 0})[3]["__all__"]  # noqa: E731
    return jax.jit(jax.vmap(step, in_axes=(0, None)))


def test_first_possible_end_is_after_step_1099_and_the_cap_ends_for_sure():
    env = loi.envs.make("prisoners_dilemma/small")
    # Melting Pot's counter is t = n + 1 during step n; it may end from step 1000 on when t is
    # a multiple of 100: after step 1099, 1199, ... with probability 0.1.
    assert loi.envs.ending.first_end(1000, 100) == 1099
    for quiet in (998, 999, 1000, 1097, 1099, 1100):  # the step taken is quiet + 1
        assert not _ends_after(env, quiet).any()
    ended = _ends_after(env, 1098)
    assert stats.binomtest(int(ended.sum()), len(ended), 0.1).pvalue > 0.001
    assert _ends_after(env, 4999).all() and not _ends_after(env, 4998).all()  # cap 5000
    stag = loi.envs.make("stag_hunt/small")
    assert _ends_after(stag, 2499).all()  # stag hunt's cap: 2500


def test_episode_length_follows_the_stochastic_ending():
    min_steps, interval, p = 10, 5, 0.3
    env = loi.envs.make("stag_hunt/small", min_steps=min_steps, end_interval=interval, end_probability=p)
    first = loi.envs.ending.first_end(min_steps, interval)
    assert first == 14  # the first step n >= 10 with (n + 1) % 5 == 0
    batch, steps = 256, 200

    def body(state, key):
        keys = jax.random.split(key, batch)
        noop = jnp.zeros((batch,), jnp.int32)
        _, state, _, dones, infos = jax.vmap(env.step)(keys, state, {"agent_0": noop, "agent_1": noop})
        return state, jnp.where(dones["__all__"], infos["episode_step"], 0)

    _, state = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), batch))
    _, ended = jax.lax.scan(body, state, jax.random.split(jax.random.key(1), steps))
    lengths = np.asarray(ended)[np.asarray(ended) > 0]
    assert lengths.min() >= first and np.all((lengths - first) % interval == 0)
    g = (lengths - first) // interval
    # Geometric on {0, 1, ...}; episodes ending within the horizon are a little biased short,
    # so compare only the first few cells where the cut-off is negligible (200 steps >> 14 + 5*8).
    cells = 8
    observed = np.bincount(np.minimum(g, cells), minlength=cells + 1)
    expected_p = stats.geom.pmf(np.arange(1, cells + 1), p)
    expected_p = np.append(expected_p, 1 - expected_p.sum())
    assert stats.chisquare(observed, expected_p * observed.sum()).pvalue > 0.001
    assert abs(lengths.mean() - loi.envs.ending.expected_length(min_steps, interval, p)) < 1.0


def test_expected_length_with_a_cap_by_hand():
    # first = 14; candidates 14, 19 before the cap 20: 14 p + 19 p q + 20 q^2 with p = q = 1/2.
    assert loi.envs.ending.expected_length(10, 5, 0.5, max_steps=20) == pytest.approx(14 / 2 + 19 / 4 + 20 / 4)
    assert loi.envs.ending.expected_length(10, 5, 0.5, max_steps=12) == 12.0


def _random_rollout(env, key, steps):
    def body(state, key):
        ka, kb, ks = jax.random.split(key, 3)
        actions = {"agent_0": jax.random.randint(ka, (), 0, 8), "agent_1": jax.random.randint(kb, (), 0, 8)}
        obs, state, rewards, dones, infos = env.step(ks, state, actions)
        return state, (state, obs, rewards, dones["__all__"], infos)

    kr, ks = jax.random.split(key)
    _, state = env.reset(kr)
    return jax.lax.scan(body, state, jax.random.split(ks, steps))[1]


def test_same_key_same_trajectory_and_vmap_equals_loop():
    env = _env("prisoners_dilemma/small", min_steps=50, end_interval=10, end_probability=0.5,
               freeze_steps=3, respawn_steps=2)
    rollout = jax.jit(lambda k: _random_rollout(env, k, 300))
    keys = jax.random.split(jax.random.key(7), 6)
    single = [rollout(k) for k in keys]
    again = rollout(keys[0])
    jax.tree.map(np.testing.assert_array_equal, single[0], again)
    batched = jax.vmap(rollout)(keys)
    for i, one in enumerate(single):
        jax.tree.map(lambda b, s: np.testing.assert_array_equal(b[i], s), batched, one)
    _check_invariants_and_delayed_payoffs(env, *jax.tree.map(lambda x: np.swapaxes(x, 0, 1), batched))


def _check_invariants_and_delayed_payoffs(env, states, obs, rewards, done, infos):
    """Arrays are [time, env]."""
    steps = done.shape[0]
    pos, timeout, inv = np.asarray(states.position), np.asarray(states.timeout), np.asarray(states.inventory)
    assert not env._tables.wall[pos].any()  # never inside a wall
    assert np.all(pos[..., 0] != pos[..., 1])  # never on the same cell
    assert np.all((timeout >= 0) & (timeout <= env.interaction_timeout))
    assert np.all(np.asarray(states.resource_timer) >= 0) and np.all(inv >= 1)
    # Inventories grow by at most one resource per step, except when reset to one of each.
    growth = inv[1:].sum(-1) - inv[:-1].sum(-1)
    assert np.all((growth <= 1) | (inv[1:].sum(-1) == env.num_strategies))
    # Strategies at an interaction are never pure: every inventory starts at one of each.
    x, y = np.asarray(infos["row_strategy"]), np.asarray(infos["col_strategy"])
    interacted, done = np.asarray(infos["interacted"]), np.asarray(done)
    assert np.all(x[interacted] > 0) and np.all(y[interacted] > 0)

    # Every payment equals x A y, x B y of the interaction freeze_steps + 1 earlier (the
    # games are symmetric, so it does not matter which seat was the row player).
    A, B = np.array(env.game.row_payoff), np.array(env.game.col_payoff)
    r0, r1 = np.asarray(rewards["agent_0"]), np.asarray(rewards["agent_1"])
    expected_paid = np.zeros_like(interacted)
    for t, e in zip(*np.nonzero(interacted)):
        pay_at = t + env.freeze_steps + 1
        if pay_at >= steps or done[t:pay_at, e].any():
            continue  # the episode ended during the freeze: nothing is paid
        np.testing.assert_allclose(r0[pay_at, e], x[t, e] @ A @ y[t, e], rtol=1e-5)
        np.testing.assert_allclose(r1[pay_at, e], x[t, e] @ B @ y[t, e], rtol=1e-5)
        expected_paid[pay_at, e] = True
    assert expected_paid.sum() >= 10 and done.sum() >= 4  # the rollouts are not degenerate
    assert np.all((r0 == 0) | expected_paid) and np.all((r1 == 0) | expected_paid)


def test_random_cells_draw_each_type_with_equal_probability():
    env = _env("stag_hunt/large")  # two 'a' cells, at (3, 6) and (5, 6)
    random_cells = np.flatnonzero(env._tables.resource_fixed_type < 0)
    assert len(random_cells) == 2
    keys = jax.random.split(jax.random.key(0), 2000)
    all_types = np.asarray(jax.vmap(env.reset)(keys)[1].resource_type)
    types = all_types[:, random_cells]
    for cell in range(2):
        assert stats.binomtest(int(types[:, cell].sum()), len(types), 0.5).pvalue > 0.001
    # The two cells are drawn independently of each other.
    table = np.histogram2d(types[:, 0], types[:, 1], bins=2)[0]
    assert stats.chi2_contingency(table).pvalue > 0.001
    fixed = env._tables.resource_fixed_type >= 0
    assert np.all(all_types[:, fixed] == env._tables.resource_fixed_type[fixed])


def test_one_compiled_step_serves_every_game_on_a_layout():
    # The payoff and the episode cap live in the state, so the step program has no game in it:
    # the persistent compilation cache then reuses one compiled trainer for every game of a layout.
    lowered = []
    for game in ("chicken", "prisoners_dilemma", "stag_hunt"):
        env = loi.envs.make(f"{game}/small")
        _, state = env.reset(jax.random.PRNGKey(0))
        np.testing.assert_array_equal(state.payoff, np.asarray([env.game.row_payoff, env.game.col_payoff]))
        assert int(state.max_steps) == env.game.max_steps
        actions = {agent: jnp.int32(0) for agent in env.agents}
        lowered.append(jax.jit(env.step).lower(jax.random.PRNGKey(1), state, actions).as_text())
    assert lowered[0] == lowered[1] == lowered[2]
