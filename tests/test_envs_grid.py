"""Grid "in the matrix" games: hand-built states with hand-computed outcomes."""

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import loi.envs
from loi.envs.grid_game import (
    BACKWARD, FORWARD, INTERACT, NOOP, STEP_LEFT, STEP_RIGHT, TURN_LEFT, TURN_RIGHT,
)

N, E, S, W = range(4)


def _env(name="prisoners_dilemma/medium", **kw):
    kw.setdefault("regrowth_probability", 1.0)  # deterministic regrowth: exactly regrowth_delay
    return loi.envs.make(name, **kw)


def _place(env, p0, p1, f0=N, f1=N, inv0=(0, 0), inv1=(0, 0), key=0):
    _, state = env.reset(jax.random.key(key))
    return state.replace(
        position=jnp.array([env.position(*p0), env.position(*p1)], jnp.int32),
        orientation=jnp.array([f0, f1], jnp.int32),
        inventory=jnp.array([inv0, inv1], jnp.int32),
    )


def _step(env, state, a0, a1=NOOP, key=0):
    actions = {"agent_0": jnp.int32(a0), "agent_1": jnp.int32(a1)}
    return env.step_env(jax.random.key(key), state, actions)


def _view(env, obs):
    h, w, c = env.view_shape
    return np.asarray(obs[: h * w * c]).reshape(h, w, c)


def _row_col(env, state, i):
    return env.row_col(state.position[i])


# ---------------------------------------------------------------- API ---
def test_api_shapes_and_fixed_info_keys():
    env = loi.envs.make("stag_hunt/large")
    assert env.agents == ("agent_0", "agent_1") and env.num_agents == 2 and env.num_strategies == 2
    assert env.action_space("agent_0").n == 8
    assert env.view_shape == (5, 5, 8)
    assert env.observation_space("agent_1").shape == (5 * 5 * 8 + 2 + 1,)
    obs, state = env.reset(jax.random.key(0))
    assert obs["agent_0"].shape == (env.obs_dim,) and obs["agent_0"].dtype == jnp.float32
    _, _, rewards, dones, infos = _step(env, state, NOOP)
    assert set(dones) == {"agent_0", "agent_1", "__all__"}
    assert rewards["agent_0"].shape == () and rewards["agent_0"].dtype == jnp.float32
    assert set(infos) == {"interacted", "row_strategy", "col_strategy", "episode_step"}
    assert infos["row_strategy"].shape == (2,) and infos["episode_step"].dtype == jnp.int32


def test_reset_spawns_on_distinct_spawn_points():
    env = _env("chicken/small")
    spawns = {(1, 1), (1, 4), (4, 1), (4, 4)}
    for seed in range(20):
        _, state = env.reset(jax.random.key(seed))
        cells = {_row_col(env, state, 0), _row_col(env, state, 1)}
        assert len(cells) == 2 and cells <= spawns


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


def test_two_players_never_share_a_cell():
    env = _env()
    state = _place(env, (1, 2), (1, 4), f0=E, f1=W)  # both step onto (1, 3)
    for seed in range(10):
        nxt = _step(env, state, FORWARD, FORWARD, key=seed)[1]
        cells = sorted([_row_col(env, nxt, 0), _row_col(env, nxt, 1)])
        assert cells in ([(1, 2), (1, 3)], [(1, 3), (1, 4)])


# ----------------------------------------------- collection, regrowth ---
def test_collecting_a_resource_and_regrowth_after_the_delay():
    env = _env(regrowth_delay=4)
    # medium row 2 is "W  21  W": a type-2 resource at (2, 3).
    state = _place(env, (1, 3), (5, 6), f0=S)
    obs, state, rewards, _, _ = _step(env, state, FORWARD)
    assert _row_col(env, state, 0) == (2, 3)
    np.testing.assert_array_equal(state.inventory[0], [0, 1])
    np.testing.assert_array_equal(obs["agent_0"][-3:], [0, 1, 1])  # inventory, ready
    assert float(rewards["agent_0"]) == 0.0
    r = int(np.flatnonzero(env._tables.resource_cell == env.position(2, 3))[0])
    assert int(state.resource_timer[r]) == 4
    # Standing on it does not collect again; it is back after exactly 4 steps.
    for left in (3, 2, 1):
        state = _step(env, state, NOOP)[1]
        assert int(state.resource_timer[r]) == left
    state = _step(env, state, NOOP)[1]
    assert int(state.resource_timer[r]) == 0
    np.testing.assert_array_equal(state.inventory[0], [0, 1])
    # Step off and back on: collected again.
    state = _step(env, state, BACKWARD)[1]
    state = _step(env, state, FORWARD)[1]
    np.testing.assert_array_equal(state.inventory[0], [0, 2])


def test_collected_resource_disappears_from_the_view():
    env = _env()
    state = _place(env, (1, 3), (5, 6), f0=S)
    # Facing south from (1, 3): the cell one ahead is view row 2, centre column.
    obs, _ = env._observe(state)["agent_0"], None
    assert _view(env, obs)[2, 2, 2] == 1.0  # type 2 resource visible
    obs, state, *_ = _step(env, state, TURN_LEFT)  # now facing east; (2, 3) is right-hand neighbour
    assert _view(env, obs["agent_0"])[3, 3, 2] == 1.0
    state = state.replace(orientation=jnp.array([S, N], jnp.int32))
    obs, state, *_ = _step(env, state, FORWARD)
    assert _view(env, obs["agent_0"])[3, 2, 1:3].sum() == 0.0  # own cell: collected


def test_regrowth_probability_gives_a_geometric_wait():
    env = loi.envs.make("prisoners_dilemma/medium", regrowth_delay=10, regrowth_probability=0.25)
    state = _place(env, (1, 3), (5, 6), f0=S)
    r = int(np.flatnonzero(env._tables.resource_cell == env.position(2, 3))[0])
    waits = np.array([
        int(_step(env, state, FORWARD, key=seed)[1].resource_timer[r]) for seed in range(400)
    ]) - 10
    assert waits.min() >= 0
    # Failures before the first success at p = 0.25: mean (1 - p) / p = 3.
    assert stats.ttest_1samp(waits, 3.0).pvalue > 0.001


# ------------------------------------------------------------ beam ---
def test_beam_that_misses_starts_the_cooldown_without_interaction():
    env = _env()
    state = _place(env, (1, 1), (5, 6), f0=E, inv0=(1, 0), inv1=(0, 1))
    _, state, rewards, _, infos = _step(env, state, INTERACT)
    assert not bool(infos["interacted"]) and int(state.timeout) == 0
    np.testing.assert_array_equal(state.cooldown, [2, 0])


def test_beam_is_stopped_by_walls():
    env = _env("prisoners_dilemma/obstacle")
    # obstacle row 1 is "Wn    W    nW": a wall at (1, 6) between (1, 5) and (1, 7).
    state = _place(env, (1, 5), (1, 7), f0=E, inv0=(1, 0), inv1=(1, 0))
    assert not bool(_step(env, state, INTERACT)[4]["interacted"])
    open_state = _place(env, (1, 2), (1, 4), f0=E, inv0=(1, 0), inv1=(1, 0))
    assert bool(_step(env, open_state, INTERACT)[4]["interacted"])


@pytest.mark.parametrize(
    "target, hit",
    [((2, 4), True), ((4, 4), True), ((4, 5), True), ((4, 3), True),  # 3 ahead, radius 1
     ((5, 4), False), ((3, 6), False), ((1, 3), False)],  # 4 ahead, 2 aside, behind
)
def test_beam_reach_is_length_3_and_radius_1(target, hit):
    env = _env("prisoners_dilemma/large")
    state = _place(env, (1, 4), target, f0=S, inv0=(1, 0), inv1=(1, 0))
    assert bool(_step(env, state, INTERACT)[4]["interacted"]) == hit


def test_beam_hitting_an_unready_player_does_nothing():
    env = _env()
    for inv0, inv1 in [((1, 1), (0, 0)), ((0, 0), (2, 0))]:
        state = _place(env, (1, 1), (1, 3), f0=E, inv0=inv0, inv1=inv1)
        _, nxt, rewards, _, infos = _step(env, state, INTERACT)
        assert not bool(infos["interacted"]) and int(nxt.timeout) == 0
        np.testing.assert_array_equal(nxt.inventory, state.inventory)


def test_cooldown_blocks_firing_for_two_steps():
    env = _env()
    state = _place(env, (1, 1), (5, 6), f0=E, inv0=(1, 0), inv1=(1, 0))
    obs, state, *_ = _step(env, state, INTERACT)  # fires, misses
    assert float(obs["agent_0"][-1]) == 0.0  # not ready
    # Partner now stands in the beam; the next two attempts cannot fire.
    state = state.replace(position=state.position.at[1].set(env.position(1, 3)))
    for expected_cooldown in (1, 0):
        obs, state, _, _, infos = _step(env, state, INTERACT)
        assert not bool(infos["interacted"])
        assert int(state.cooldown[0]) == expected_cooldown
    assert float(obs["agent_0"][-1]) == 1.0  # ready again
    assert bool(_step(env, state, INTERACT)[4]["interacted"])


# ------------------------------------------------------ interaction ---
# Inventories (2, 1) vs (0, 3): x = (2/3, 1/3), y = (0, 1); r0 = x A y, r1 = x B y, B = A^T.
#   prisoners_dilemma A=[[3,0],[5,1]]: r0 = 1/3,  r1 = 2/3*5 + 1/3*1 = 11/3
#   chicken           A=[[3,2],[5,0]]: r0 = 4/3,  r1 = 2/3*5 + 1/3*0 = 10/3
#   stag_hunt         A=[[4,0],[2,2]]: r0 = 2/3,  r1 = 2/3*2 + 1/3*2 = 2
#   pure_coordination A=[[1,0],[0,1]]: r0 = 1/3,  r1 = 1/3
EXPECTED = {
    "prisoners_dilemma": (Fraction(1, 3), Fraction(11, 3)),
    "chicken": (Fraction(4, 3), Fraction(10, 3)),
    "stag_hunt": (Fraction(2, 3), Fraction(2)),
    "pure_coordination": (Fraction(1, 3), Fraction(1, 3)),
}


@pytest.mark.parametrize("game", sorted(EXPECTED))
def test_interaction_pays_x_A_y_after_the_freeze_then_respawns_empty(game):
    env = _env(f"{game}/medium")
    state = _place(env, (1, 1), (1, 3), f0=E, f1=W, inv0=(2, 1), inv1=(0, 3))
    state = state.replace(resource_timer=state.resource_timer.at[0].set(7))  # one resource missing
    # agent_1 fires at agent_0: the row/column roles stay with the seats.
    obs, state, rewards, _, infos = _step(env, state, NOOP, INTERACT)
    assert bool(infos["interacted"])
    np.testing.assert_allclose(infos["row_strategy"], [2 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(infos["col_strategy"], [0, 1])
    paid = []
    for _ in range(16):  # frozen: actions ignored, rewards only at the end
        assert float(rewards["agent_0"]) == 0.0 or len(paid) == 16
        paid.append((float(rewards["agent_0"]), float(rewards["agent_1"])))
        assert _row_col(env, state, 0) == (1, 1)
        obs, state, rewards, _, infos = _step(env, state, FORWARD, INTERACT)
        assert not bool(infos["interacted"])
    r0, r1 = EXPECTED[game]
    assert all(p == (0.0, 0.0) for p in paid)
    np.testing.assert_allclose([rewards["agent_0"], rewards["agent_1"]], [float(r0), float(r1)], rtol=1e-6)
    assert np.all(np.asarray(state.resource_timer) == 0)  # resources respawn with the removal
    # Removed for 5 steps: invisible to each other, still holding nothing new, no rewards.
    for i in range(5):
        np.testing.assert_array_equal(state.inventory, [[2, 1], [0, 3]])
        assert _view(env, obs["agent_1"])[..., env.num_strategies + 1].sum() == 0.0
        obs, state, rewards, _, _ = _step(env, state, FORWARD, FORWARD, key=i)
        assert float(rewards["agent_0"]) == 0.0
    # Respawned: empty inventories, on distinct spawn points, playing again.
    np.testing.assert_array_equal(state.inventory, [[0, 0], [0, 0]])
    assert int(state.timeout) == 0
    spawns = {(1, 1), (1, 6), (5, 1), (5, 6)}
    assert {_row_col(env, state, 0), _row_col(env, state, 1)} <= spawns
    assert _row_col(env, state, 0) != _row_col(env, state, 1)


def test_frozen_players_are_visible_and_removed_players_are_not():
    env = _env(freeze_steps=2, removal_steps=2)
    state = _place(env, (1, 1), (1, 2), f0=E, f1=W, inv0=(1, 0), inv1=(1, 0))
    other = env.num_strategies + 1
    obs, state, *_ = _step(env, state, INTERACT)
    assert _view(env, obs["agent_0"])[2, 2, other] == 1.0  # one ahead
    obs, state, rewards, *_ = _step(env, state, NOOP)
    assert _view(env, obs["agent_0"])[2, 2, other] == 1.0 and float(rewards["agent_0"]) == 0.0
    obs, state, rewards, *_ = _step(env, state, NOOP)  # freeze over: paid and removed
    assert float(rewards["agent_0"]) == 3.0
    assert _view(env, obs["agent_0"])[..., other].sum() == 0.0


# ------------------------------------------------------ observation ---
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


@pytest.mark.parametrize("layout", ["small", "medium", "large", "obstacle"])
def test_egocentric_view_matches_a_rotated_crop_of_the_map(layout):
    env = _env(f"stag_hunt/{layout}")
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
            np.testing.assert_array_equal(view[..., 0], ref == "W")
            np.testing.assert_array_equal(view[..., 1], np.isin(ref, ["1", "a"]))
            np.testing.assert_array_equal(view[..., 2], ref == "2")


def test_other_player_and_its_relative_facing_in_view():
    env = _env()
    state = _place(env, (3, 1), (1, 1), f0=N, f1=S)  # other two cells ahead, facing me
    view = _view(env, env._observe(state)["agent_0"])
    other, facing = env.num_strategies + 1, env.num_strategies + 2
    assert view[1, 2, other] == 1.0 and view[..., other].sum() == 1.0
    np.testing.assert_array_equal(view[1, 2, facing:], [0, 0, 1, 0])  # relative facing: opposite
    # Other faces east while I face north: it faces my right (one quarter turn clockwise).
    view = _view(env, env._observe(state.replace(orientation=jnp.array([N, E], jnp.int32)))["agent_0"])
    np.testing.assert_array_equal(view[1, 2, facing:], [0, 1, 0, 0])
    # Seen from agent_1 (facing east, at (1, 1)): agent_0 at (3, 1) is two cells to its right, facing
    # north = three quarter turns clockwise from east.
    view = _view(env, env._observe(state.replace(orientation=jnp.array([N, E], jnp.int32)))["agent_1"])
    assert view[3, 4, other] == 1.0
    np.testing.assert_array_equal(view[3, 4, facing:], [0, 0, 0, 1])


# ------------------------------------------------------ episodes ---
def test_episode_length_follows_the_stochastic_ending():
    min_steps, interval, p = 10, 5, 0.3
    env = loi.envs.make("stag_hunt/small", min_steps=min_steps, end_interval=interval, end_probability=p)
    batch, steps = 256, 200

    def body(state, key):
        keys = jax.random.split(key, batch)
        noop = jnp.zeros((batch,), jnp.int32)
        _, state, _, dones, infos = jax.vmap(env.step)(keys, state, {"agent_0": noop, "agent_1": noop})
        return state, jnp.where(dones["__all__"], infos["episode_step"], 0)

    _, state = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), batch))
    _, ended = jax.lax.scan(body, state, jax.random.split(jax.random.key(1), steps))
    lengths = np.asarray(ended)[np.asarray(ended) > 0]
    assert lengths.min() >= min_steps and np.all((lengths - min_steps) % interval == 0)
    g = (lengths - min_steps) // interval
    # Geometric on {0, 1, ...}; episodes ending within the horizon are a little biased short,
    # so compare only the first few cells where the cut-off is negligible (200 steps >> 10 + 5*8).
    cells = 8
    observed = np.bincount(np.minimum(g, cells), minlength=cells + 1)
    expected_p = stats.geom.pmf(np.arange(1, cells + 1), p)
    expected_p = np.append(expected_p, 1 - expected_p.sum())
    assert stats.chisquare(observed, expected_p * observed.sum()).pvalue > 0.001
    assert abs(lengths.mean() - loi.envs.ending.expected_length(min_steps, interval, p)) < 1.0


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
               freeze_steps=3, removal_steps=2)
    rollout = jax.jit(lambda k: _random_rollout(env, k, 200))
    keys = jax.random.split(jax.random.key(7), 8)
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
    assert np.all((timeout >= 0) & (timeout <= env.freeze_steps + env.removal_steps))
    assert np.all(np.asarray(states.resource_timer) >= 0) and np.all(inv >= 0)
    # Inventories grow by at most one resource per step, except when emptied at respawn / reset.
    growth = inv[1:].sum(-1) - inv[:-1].sum(-1)
    assert np.all((growth <= 1) | (inv[1:].sum(-1) == 0))

    # Every payment equals x A y, x B y of the interaction freeze_steps earlier in the same episode.
    A, B = np.array(env.game.row_payoff), np.array(env.game.col_payoff)
    x, y = np.asarray(infos["row_strategy"]), np.asarray(infos["col_strategy"])
    interacted, done = np.asarray(infos["interacted"]), np.asarray(done)
    r0, r1 = np.asarray(rewards["agent_0"]), np.asarray(rewards["agent_1"])
    expected_paid = np.zeros_like(interacted)
    for t, e in zip(*np.nonzero(interacted)):
        pay_at = t + env.freeze_steps
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
    # The payoff lives in the state, so the step program has no game in it: the persistent
    # compilation cache then reuses one compiled trainer for all four games of a layout.
    lowered = []
    for game in ("chicken", "prisoners_dilemma"):
        env = loi.envs.make(f"{game}/small")
        _, state = env.reset(jax.random.PRNGKey(0))
        np.testing.assert_array_equal(state.payoff, np.asarray([env.game.row_payoff, env.game.col_payoff]))
        actions = {agent: jnp.int32(0) for agent in env.agents}
        lowered.append(jax.jit(env.step).lower(jax.random.PRNGKey(1), state, actions).as_text())
    assert lowered[0] == lowered[1]
