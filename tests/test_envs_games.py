"""Melting Pot's other 2-player in-the-matrix games: bach or stravinsky (roles), rationalizable
coordination, running with scissors (3 types, repeated and one-shot). Their settings against
the figures of Melting Pot 2.4.1's configs (meltingpot/configs/substrates/
*_in_the_matrix__{repeated,one_shot}.py, typed in here from the source), and their rules on
hand-built states with hand-computed outcomes (components.lua: TheMatrix, DyadicRole,
GameInteractionZapper)."""

from __future__ import annotations

import functools
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import loi.envs
from loi.envs.grid_game import FORWARD, INTERACT, NOOP, GridGame
from loi.envs.grid_parameters import MELTINGPOT_DEFAULTS
from loi.errors import LoiError

N, E, S, W = range(4)
# Two small maps: spawn points at (1, 1) and (3, 1) (and (3, 4)).
TWO_TYPES = loi.envs.make_layout("two_types", ["WWWWWW", "Wn12 W", "W    W", "Wn  nW", "WWWWWW"])
THREE_TYPES = loi.envs.make_layout("three_types", ["WWWWWW", "Wn123W", "W    W", "Wn  nW", "WWWWWW"])


@functools.lru_cache(maxsize=None)
def _env(game: str, layout=TWO_TYPES, **kw):
    return loi.envs.make(game=game, layout=layout, **kw)


def _place(env, p0, p1, f0=N, f1=N, inv0=None, inv1=None, key=0):
    _, state = env.reset(jax.random.key(key))
    state = state.replace(
        position=jnp.array([env.position(*p0), env.position(*p1)], jnp.int32),
        orientation=jnp.array([f0, f1], jnp.int32),
    )
    if inv0 is not None:
        state = state.replace(inventory=jnp.array([inv0, inv1], jnp.int32))
    return state


def _step(env, state, a0, a1=NOOP, key=0):
    return env.step_env(jax.random.key(key), state, {"agent_0": jnp.int32(a0), "agent_1": jnp.int32(a1)})


# ------------------------------------------------------------ settings ---
def test_payoffs_roles_and_rules_are_melting_pots():
    games = loi.envs.games()
    bos = games["bach_or_stravinsky"]
    assert bos.row_payoff == ((3, 0), (0, 2)) and bos.col_payoff == ((2, 0), (0, 3))
    assert bos.roles == ("bach_fan", "stravinsky_fan")  # config.default_player_roles
    assert games["rationalizable_coordination"].row_payoff == ((1, 0, 0), (0, 2, 0), (0, 0, 3))
    rps = ((0, -10, 10), (10, 0, -10), (-10, 10, 0))
    for name in ("running_with_scissors", "running_with_scissors_one_shot"):
        assert games[name].row_payoff == rps and games[name].col_payoff == tuple(zip(*rps))
    # Rules: the shared ones (5x5 view, beam 3 / 1, cool-down 2, freeze 16, respawn 5, health 3,
    # regrowth 10 / 0.02, ending 1000 / 100 / 0.1, cap 5000), then where each substrate differs.
    shared = dict(view_ahead=3, view_behind=1, view_width=5, beam_length=3, beam_radius=1, cooldown_steps=2,
                  freeze_steps=16, respawn_steps=5, resource_health=3, regrowth_delay=10,
                  regrowth_probability=0.02, min_steps=1000, end_interval=100, end_probability=0.1,
                  end_on_interaction=False, regrow_when_removed=True, random_tie_breaking=False)
    differs = {
        "bach_or_stravinsky": {"random_tie_breaking": True},
        "rationalizable_coordination": {},
        "running_with_scissors": {"regrowth_delay": 15, "end_probability": 0.2},
        "running_with_scissors_one_shot": {"end_on_interaction": True, "end_probability": 0.0,
                                           "regrowth_probability": 0.0, "regrowth_delay": 1000,
                                           "regrow_when_removed": False, "respawn_steps": 100},
    }
    caps = {"running_with_scissors_one_shot": 1000}
    assert MELTINGPOT_DEFAULTS == shared
    for name, changes in differs.items():
        env = loi.envs.make(f"{name}/small")
        assert {f: getattr(env, f) for f in shared} == {**shared, **changes}, name
        assert env.episode_cap == caps.get(name, 5000)
    # An explicit argument beats the game's setting; GridGame built directly resolves the same way.
    assert loi.envs.make("running_with_scissors/small", end_probability=0.1).end_probability == 0.1
    direct = GridGame(game=games["running_with_scissors"], layout=loi.envs.layouts()["small"])
    assert direct == loi.envs.make("running_with_scissors/small")


def test_k_types_shape_the_observation_and_the_listing():
    names = loi.envs.names()
    for name in ("bach_or_stravinsky/meltingpot", "rationalizable_coordination/meltingpot_pure_coordination",
                 "running_with_scissors/meltingpot_pure_coordination",
                 "running_with_scissors_one_shot/meltingpot_one_shot", "running_with_scissors/small",
                 "matrix/bach_or_stravinsky"):
        assert name in names, name
    assert "bach_or_stravinsky/meltingpot_pure_coordination" not in names  # 3 types, 2 strategies
    rws = loi.envs.make("running_with_scissors/medium")
    lay = rws.obs_layout
    # wall, 3 types, partner, ready, result shown, result; then inventory 3, READY_TO_SHOOT, 2 x 3.
    assert lay.view_shape == (5, 5, 8) and lay.num_types == 3 and lay.resources == slice(1, 4)
    assert rws.obs_dim == 200 + 3 + 1 + 6 and lay.row_role is None
    bos = loi.envs.make("bach_or_stravinsky/small")
    assert bos.obs_dim == 175 + 2 + 1 + 4 + 1 and bos.obs_layout.row_role == 182  # the role entry last


@pytest.mark.parametrize("kw, message", [
    ({"roles": ("bach_fan", "mozart_fan")}, "roles must name"),
    ({"roles": ("bach_fan",)}, "roles must name"),
])
def test_bad_seat_roles_are_rejected(kw, message):
    with pytest.raises(LoiError, match=message):
        loi.envs.make("bach_or_stravinsky/small", **kw)


def test_roles_and_grid_settings_of_user_games():
    with pytest.raises(LoiError, match="has no roles"):
        loi.envs.make("prisoners_dilemma/small", roles=("a", "b"))
    with pytest.raises(LoiError, match="two different names"):
        loi.envs.make_game("g", [[1, 0], [0, 1]], roles=("a", "a"))
    with pytest.raises(LoiError, match="unknown grid parameter 'speed'"):
        loi.envs.make_game("g", [[1, 0], [0, 1]], grid={"speed": 2})
    with pytest.raises(LoiError, match="regrowth_delay must be a non-negative integer"):
        loi.envs.make_game("g", [[1, 0], [0, 1]], grid={"regrowth_delay": -1})
    game = loi.envs.make_game("g", [[1, 0], [0, 1]], roles=["r", "c"], grid={"freeze_steps": 4})
    env = loi.envs.make(game=game, layout="small")
    assert env.roles == ("r", "c") and env.row_seat == 0 and env.freeze_steps == 4
    assert loi.envs.make(game=game, layout="small", roles=("c", "r")).row_seat == 1


# --------------------------------------------------------------- roles ---
# Bach or stravinsky, agent_0 the row role (bach_fan), agent_1 the column role. agent_0 at
# (3, 1) faces north, agent_1 at (1, 1) faces south: each is 2 ahead of the other (centre lane).
BOS_ROW_WINS = ((3, 1), (2, 1))  # x = (3/4, 1/4), y = (2/3, 1/3): x A y = 3/2 + 1/6 = 5/3, x B y = 1 + 1/4 = 5/4
BOS_COLUMN_WINS = ((2, 1), (1, 3))  # x = (2/3, 1/3), y = (1/4, 3/4): x A y = 1/2 + 1/2 = 1, x B y = 1/3 + 3/4 = 13/12


@pytest.mark.parametrize("inventories, rewards, row_reset", [
    (BOS_ROW_WINS, (Fraction(5, 3), Fraction(5, 4)), True),
    (BOS_COLUMN_WINS, (Fraction(1), Fraction(13, 12)), False),
], ids=["row-wins", "column-wins"])
def test_the_row_role_is_the_row_player_whoever_fires(inventories, rewards, row_reset):
    env = _env("bach_or_stravinsky")
    inv0, inv1 = inventories
    state = _place(env, (3, 1), (1, 1), f0=N, f1=S, inv0=inv0, inv1=inv1)
    obs, state, _, _, infos = _step(env, state, NOOP, INTERACT)  # agent_1 (column role) fires
    assert bool(infos["interacted"])
    # Only a winning row player is reset at once; here that is agent_0, who did not fire.
    np.testing.assert_array_equal(state.inventory[0], (1, 1) if row_reset else inv0)
    np.testing.assert_array_equal(state.inventory[1], inv1)
    parts = env.obs_layout.parse(obs["agent_0"])
    np.testing.assert_array_equal(parts["interaction_inventories"], [inv0, inv1])
    assert float(parts["row_role"]) == 1.0 and float(env.obs_layout.parse(obs["agent_1"])["row_role"]) == 0.0
    paid = []
    for j in range(env.freeze_steps + 1):
        _, state, step_rewards, _, _ = _step(env, state, FORWARD, INTERACT, key=j + 1)
        paid.append((float(step_rewards["agent_0"]), float(step_rewards["agent_1"])))
    assert paid[:-1] == [(0.0, 0.0)] * env.freeze_steps  # paid at k + 17, not before
    np.testing.assert_allclose(paid[-1], [float(r) for r in rewards], rtol=1e-6)


def test_players_holding_the_same_role_never_interact():
    env = _env("bach_or_stravinsky", roles=("bach_fan", "bach_fan"))
    assert env.row_seat is None and not env.roles_interact
    state = _place(env, (3, 1), (1, 1), f0=N, f1=S, inv0=BOS_ROW_WINS[0], inv1=BOS_ROW_WINS[1])
    obs, state, _, _, infos = _step(env, state, INTERACT, INTERACT)
    assert not bool(infos["interacted"]) and np.all(np.asarray(state.timeout) == 0)
    np.testing.assert_array_equal(state.cooldown, [2, 2])  # both fired (the beams still hit)
    assert [float(env.obs_layout.parse(obs[a])["row_role"]) for a in env.agents] == [1.0, 1.0]


def test_a_tie_goes_to_a_fair_coin():
    # x = y = (1/2, 1/2): x A y = 3/4 + 2/4 = 5/4 = x B y. With randomTieBreaking the row
    # player wins (and is reset at once) on a coin flip.
    env = _env("bach_or_stravinsky")
    state = _place(env, (3, 1), (1, 1), f0=N, f1=S, inv0=(2, 2), inv1=(2, 2))
    row_won = []
    for key in range(300):
        _, after, _, _, infos = _step(env, state, INTERACT, key=key)
        assert bool(infos["interacted"])
        row_won.append(bool(np.all(np.asarray(after.inventory[0]) == 1)))
        np.testing.assert_array_equal(after.inventory[1], (2, 2))
    assert stats.binomtest(sum(row_won), len(row_won), 0.5).pvalue > 0.001


# ------------------------------------------------------------ one-shot ---
def test_one_shot_pays_at_k_plus_17_ends_at_k_plus_18_and_never_regrows():
    env = _env("running_with_scissors_one_shot", layout=THREE_TYPES)
    lay = env.obs_layout
    state = _place(env, (3, 1), (1, 1), f0=N, f1=S, inv0=(2, 1, 1), inv1=(1, 2, 1))
    collected = int(np.flatnonzero(env._tables.resource_cell == env.position(1, 3))[0])
    state = state.replace(resource_timer=state.resource_timer.at[collected].set(5))
    # agent_0 fires: it is the row player. x = (1/2, 1/4, 1/4), y = (1/4, 1/2, 1/4):
    # A y = (-5/2, 0, 5/2), x A y = -5/4 + 5/8 = -5/8; B = A^T, x B y = y A x = +5/8.
    obs, state, _, done, infos = _step(env, state, INTERACT)
    assert bool(infos["interacted"]) and not bool(done["__all__"])
    parts = lay.parse(obs["agent_1"])  # the K = 3 parts, the partner's inventory second
    assert parts["inventory"].shape == (3,)
    np.testing.assert_array_equal(parts["interaction_inventories"], [(1, 2, 1), (2, 1, 1)])
    for j in range(1, 19):
        obs, state, rewards, done, _ = _step(env, state, FORWARD, FORWARD, key=j)
        if j == 17:
            np.testing.assert_allclose([rewards["agent_0"], rewards["agent_1"]], [-0.625, 0.625], rtol=1e-6)
        else:
            assert float(rewards["agent_0"]) == float(rewards["agent_1"]) == 0.0
        assert bool(done["__all__"]) == (j == 18), j
    # Removed at k + 17; in the repeated game every resource would be back at k + 18.
    assert not np.any(env.players_visible(state)) and int(state.resource_timer[collected]) > 0


def test_one_shot_without_an_interaction_runs_to_its_cap():
    env = _env("running_with_scissors_one_shot", layout=THREE_TYPES)
    state = _place(env, (3, 1), (1, 1))
    for step, ends in ((998, False), (999, True)):  # episode_step counts the steps taken
        state = state.replace(episode_step=jnp.int32(step))
        _, _, _, done, _ = _step(env, state, NOOP)
        assert bool(done["__all__"]) == ends
