"""PettingZoo adapter, RGB rendering and the ``loi envs`` / ``loi render`` commands."""

import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import loi.envs
from conftest import run_cli

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "custom_game.toml")


@pytest.mark.parametrize("name", ["prisoners_dilemma/small", "matrix/chicken"])
def test_pettingzoo_parallel_api(name):
    from pettingzoo.test import parallel_api_test

    overrides = {"min_steps": 30} | ({} if name.startswith("matrix") else {"end_interval": 10})
    parallel_api_test(loi.envs.to_pettingzoo(name, **overrides), num_cycles=100)


def test_pettingzoo_episode_ends_and_matches_the_jax_env():
    pz = loi.envs.to_pettingzoo("matrix/stag_hunt", min_steps=3)
    obs, _ = pz.reset(seed=0)
    assert pz.agents == ["agent_0", "agent_1"] and obs["agent_0"].shape == (5,)
    for t in range(3):
        obs, rewards, terms, truncs, _ = pz.step({"agent_0": 0, "agent_1": 1})
        assert rewards == {"agent_0": 0.0, "agent_1": 2.0}  # stag vs hare: A[0,1]=0, B[0,1]=A[1,0]=2
        assert all(terms.values()) == (t == 2) and not any(truncs.values())
    assert pz.agents == []


def test_render_rgb_draws_walls_resources_and_players():
    env = loi.envs.make("stag_hunt/small")
    _, state = env.reset(jax.random.key(0))
    state = state.replace(
        position=jnp.array([env.position(1, 1), env.position(4, 4)], jnp.int32),
        orientation=jnp.array([0, 2], jnp.int32),
    )
    img = loi.envs.render_rgb(env, state, cell=10)
    assert img.shape == (60, 60, 3) and img.dtype == np.uint8
    centre = lambda r, c: tuple(img[r * 10 + 5, c * 10 + 5])  # noqa: E731
    assert centre(0, 0) == (110, 110, 110)  # wall
    assert centre(2, 2) == (225, 30, 70)  # small row 2 "W 21 W": type 2 red at (2, 2)
    assert centre(2, 3) == (30, 225, 185)  # type 1 green
    assert centre(1, 1) == (50, 100, 230) and centre(4, 4) == (230, 120, 40)
    # A removed player is not drawn.
    gone = loi.envs.render_rgb(env, state.replace(timeout=jnp.int32(1)), cell=10)
    assert tuple(gone[1 * 10 + 5, 1 * 10 + 5]) == (20, 20, 24)


def test_cli_envs_lists_names_including_definitions():
    res = run_cli("envs", "--json", "--definitions", EXAMPLE)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert "stag_hunt/obstacle" in out["names"] and "matrix/pure_coordination" in out["names"]
    assert "rock_paper_scissors/arena" in out["names"]
    assert out["games"]["chicken"]["row_payoff"] == [[3, 2], [5, 0]]
    # Melting Pot's other in-the-matrix games, with their roles and rule settings.
    assert {"bach_or_stravinsky/meltingpot", "running_with_scissors_one_shot/meltingpot_one_shot",
            "rationalizable_coordination/small"} <= set(out["names"])
    bos = out["games"]["bach_or_stravinsky"]
    assert bos["roles"] == ["bach_fan", "stravinsky_fan"] and bos["col_payoff"] == [[2, 0], [0, 3]]
    assert out["games"]["running_with_scissors"]["grid"] == {"end_probability": 0.2, "regrowth_delay": 15}
    assert out["games"]["chicken"]["roles"] is None and out["games"]["chicken"]["grid"] == {}


def test_cli_render_writes_a_gif(tmp_path):
    from PIL import Image

    out = tmp_path / "episode.gif"
    res = run_cli("render", "chicken/small", "--steps", "30", "--out", out, "--seed", "1", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["frames"] == 31 and summary["out"] == str(out)
    with Image.open(out) as im:
        # 24 px per cell by default; the legend strip sits beneath the 6 x 6 map.
        assert im.size[0] == 6 * 24 and im.size[1] > 6 * 24 and im.n_frames > 1
    assert [p.name for p in tmp_path.iterdir()] == ["episode.gif"]  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # as an ordinary file, not mkstemp's 0600


@pytest.mark.parametrize(
    "args, message",
    [
        (("render", "matrix/chicken"), "matrix game"),
        (("render", "chicken/nowhere"), "unknown layout"),
        (("render", "chicken/small", "--policy", "ppo"), "unknown policy"),
        (("envs", "--definitions", "missing.toml"), "not found"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args, message, tmp_path):
    res = run_cli(*args, "--out", tmp_path / "x.gif") if args[0] == "render" else run_cli(*args)
    assert res.returncode == 2
    assert res.stderr.startswith("loi: error:") and message in res.stderr
    assert "Traceback" not in res.stderr


def test_render_legend_shows_every_colour_at_the_map_width():
    from loi.envs.render import _PLAYER, _RESOURCE, _WALL, legend, with_legend

    key = legend(144, 3, 24)
    assert key.shape[1] == 144 and key.dtype == np.uint8 and key.shape[0] >= 24
    colours = set(map(tuple, key.reshape(-1, 3).tolist()))
    assert {*_PLAYER, *_RESOURCE[:3], _WALL} <= colours
    frame = np.zeros((60, 144, 3), np.uint8)
    assert with_legend(frame, key).shape == (60 + key.shape[0], 144, 3)


def test_loi_games_are_scored_as_trained():
    # Only adapters with a training-only reward term change under loi.envs.scored.
    env = loi.envs.make("prisoners_dilemma/small")
    assert loi.envs.scored(env) is env
