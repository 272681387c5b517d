"""User-defined games and layouts: validation errors, registration, the TOML loader."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import loi.envs
from loi.envs import registry
from loi.errors import LoiError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_game.toml"


@pytest.fixture(autouse=True)
def _private_registry(monkeypatch):
    monkeypatch.setattr(registry, "_games", dict(registry._games))
    monkeypatch.setattr(registry, "_layouts", dict(registry._layouts))


@pytest.mark.parametrize(
    "rows, message",
    [
        (["WWWW", "Wn W", "W1 W", "WWWW"], "at least 2 spawn points"),
        (["WWWW", "WnnW", "W1xW", "WWWW"], "unknown symbol 'x'"),
        (["WWWW", "WnnW", "W1 W", "WWW"], "ragged map"),
        (["WWWW", "WnnW", "W  W", "WWWW"], "no resource cells"),
        ([], "empty"),
    ],
)
def test_bad_layouts_are_rejected(rows, message):
    with pytest.raises(LoiError, match=message):
        loi.envs.make_layout("bad", rows)


@pytest.mark.parametrize(
    "row, col, message",
    [
        ([[1, 0], [0]], None, "square"),
        ([[1, 0, 0], [0, 1, 0]], None, "square"),
        ([[1, 0], [0, 1]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "3x3"),
        ([[1, float("nan")], [0, 1]], None, "NaN"),
        ([[1, "x"], [0, 1]], None, "numeric"),
        ([[1]], None, "at least 2"),
    ],
)
def test_bad_games_are_rejected(row, col, message):
    with pytest.raises(LoiError, match=message):
        loi.envs.make_game("bad", row, col)


def test_unknown_names_and_parameters():
    with pytest.raises(LoiError, match="unknown layout 'huge'"):
        loi.envs.make("stag_hunt/huge")
    with pytest.raises(LoiError, match="unknown game"):
        loi.envs.make("poker/small")
    with pytest.raises(LoiError, match="GAME/LAYOUT"):
        loi.envs.make("stag_hunt")
    with pytest.raises(LoiError, match="unknown parameter 'beam'"):
        loi.envs.make("stag_hunt/small", beam=3)
    with pytest.raises(LoiError, match="view_width"):
        loi.envs.make("stag_hunt/small", view_width=4)
    with pytest.raises(LoiError, match="end_probability"):
        loi.envs.make("stag_hunt/small", end_probability=1.5)
    # 0 turns a grid game's interval ending off (its cap still ends it); a matrix game has no cap.
    assert loi.envs.make("stag_hunt/small", end_probability=0.0).end_probability == 0.0
    with pytest.raises(LoiError, match="end_probability"):
        loi.envs.make("matrix/stag_hunt", end_probability=0.0)
    with pytest.raises(LoiError, match="regrowth_probability"):
        loi.envs.make("stag_hunt/small", regrowth_probability=-0.1)
    with pytest.raises(LoiError, match="random_tie_breaking must be true or false"):
        loi.envs.make("stag_hunt/small", random_tie_breaking=1)


def test_layout_with_more_types_than_the_game_has_strategies():
    layout = loi.envs.make_layout("three", ["WWWWW", "Wn3nW", "WWWWW"])
    with pytest.raises(LoiError, match="resource type 3"):
        loi.envs.make(game="stag_hunt", layout=layout)


def test_register_and_make_a_python_defined_game_and_layout():
    game = loi.envs.register(loi.envs.make_game("harmony", [[4, 3], [2, 1]]))
    layout = loi.envs.register(loi.envs.make_layout("line", "\nWWWWWW\nWn12nW\nWWWWWW\n"))
    assert "harmony/line" in loi.envs.names() and "matrix/harmony" in loi.envs.names()
    env = loi.envs.make("harmony/line")
    assert env.game == game and env.layout == layout and env.num_resources == 2
    with pytest.raises(LoiError, match="already registered"):
        loi.envs.register(loi.envs.make_game("harmony", [[1, 0], [0, 1]]))
    # Objects work without registration too.
    other = loi.envs.make(game=loi.envs.make_game("g", [[1, 2], [3, 4]]), layout=layout)
    assert other.game.col_payoff == ((1.0, 3.0), (2.0, 4.0))


def test_example_file_loads_and_its_games_play():
    defs = loi.envs.load_definitions(EXAMPLE)
    assert {g.name for g in defs.games} == {"battle_of_the_sexes", "rock_paper_scissors"}
    assert {lay.name for lay in defs.layouts} == {"corridor", "arena"}
    bos = loi.envs.make("matrix/battle_of_the_sexes")
    _, state = bos.reset(jax.random.key(0))
    _, _, rewards, _, _ = bos.step(jax.random.key(0), state, {"agent_0": jnp.int32(1), "agent_1": jnp.int32(1)})
    assert (float(rewards["agent_0"]), float(rewards["agent_1"])) == (2.0, 3.0)
    # Three resource types: the view has wall, 3 types, partner, ready, result shown, result.
    env = loi.envs.make("rock_paper_scissors/arena", regrowth_probability=1.0, freeze_steps=0, respawn_steps=0)
    assert env.view_shape == (5, 5, 8)
    _, state = env.reset(jax.random.key(0))
    state = state.replace(
        position=jnp.array([env.position(1, 1), env.position(1, 2)], jnp.int32),
        orientation=jnp.array([1, 3], jnp.int32),
        inventory=jnp.array([[2, 1, 1], [1, 1, 3]], jnp.int32),  # one rock vs two scissors collected
    )
    _, state, rewards, _, infos = env.step_env(
        jax.random.key(0), state, {"agent_0": jnp.int32(7), "agent_1": jnp.int32(0)}
    )
    assert bool(infos["interacted"]) and float(rewards["agent_0"]) == 0.0
    # Paid the step after (no freeze). agent_0 fired: x = (1/2, 1/4, 1/4) is the row strategy,
    # y = (1/5, 1/5, 3/5). A y = (2/5, -2/5, 0): x A y = 1/5 - 1/10 = 1/10; B = A^T, so the
    # column reward is y A x = y . (0, 1/4, -1/4) = 1/20 - 3/20 = -1/10.
    _, _, rewards, _, _ = env.step_env(jax.random.key(1), state, {"agent_0": jnp.int32(0), "agent_1": jnp.int32(0)})
    np.testing.assert_allclose([rewards["agent_0"], rewards["agent_1"]], [0.1, -0.1], rtol=1e-6)


def test_bad_definition_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[games.x]\nrow_payoff = [[1, 0], [0, 1]]\n[layouts.y]\nmap = "Wn1W"\n')
    with pytest.raises(LoiError, match="spawn"):
        loi.envs.load_definitions(bad)
    assert "x" not in loi.envs.games()  # nothing registered from a bad file
    bad.write_text("[games.x\n")
    with pytest.raises(LoiError, match="not valid TOML"):
        loi.envs.load_definitions(bad)
    bad.write_text("[envs.x]\na = 1\n")
    with pytest.raises(LoiError, match="unknown top-level key"):
        loi.envs.load_definitions(bad)
    with pytest.raises(LoiError, match="not found"):
        loi.envs.load_definitions(tmp_path / "missing.toml")


def test_definition_file_with_roles_and_grid_settings(tmp_path):
    path = tmp_path / "games.toml"
    path.write_text('[games.bos]\nrow_payoff = [[3, 0], [0, 2]]\ncol_payoff = [[2, 0], [0, 3]]\n'
                    'roles = ["bach_fan", "stravinsky_fan"]\n'
                    '[games.bos.grid]\nrandom_tie_breaking = true\nend_probability = 0.2\n')
    (game,) = loi.envs.load_definitions(path).games
    assert game.roles == ("bach_fan", "stravinsky_fan")
    env = loi.envs.make("bos/small")
    assert (env.random_tie_breaking, env.end_probability, env.regrowth_delay) == (True, 0.2, 10)
    assert env.roles == ("bach_fan", "stravinsky_fan") and env.row_seat == 0
    for body, message in (('roles = ["a"]', "roles must be two different names"),
                          ("[games.x.grid]\nbeam = 2", "unknown grid parameter 'beam'"),
                          ("[games.x.grid]\nmax_steps = 2", "max_steps belongs in the game's table"),
                          ("[games.x.grid]\nrandom_tie_breaking = 1", "must be true or false")):
        bad = tmp_path / "bad.toml"
        bad.write_text(f"[games.x]\nrow_payoff = [[1, 0], [0, 1]]\n{body}\n")
        with pytest.raises(LoiError, match=message):
            loi.envs.load_definitions(bad)
        assert "x" not in loi.envs.games()
