"""Watching a pair of policies: loi.evaluation.pair_rollout and `loi render --policy/--partner`.

Closed form on the repeated prisoner's dilemma [[3, 0], [5, 1]], 10 rounds an episode:
tit-for-tat (agent_0) with a bot that always defects opens every episode cooperating and
defects on every later round, so it earns 0 on each episode's first round and 1 after, its
partner 5 and then 1; an episode's first round shows that the bot's memory was reset."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

import loi.envs
from conftest import run_cli
from loi.agents import NetworkConfig, init_params, make_network, save_checkpoint
from loi.errors import LoiError
from loi.evaluation import bot_policy, pair_rollout, resolve_policy
from loi.training.rundir import RunDir

GRID = "chicken/small"


def _checkpoints(root: Path, scenario: str, seeds: int) -> RunDir:
    """A run directory of untrained MLP checkpoints (render needs no training)."""
    env = loi.envs.make(scenario)
    network = make_network(env, NetworkConfig(kind="mlp", hidden=(8,)))
    run = RunDir(root)
    for seed in range(seeds):
        path = run.checkpoint(seed, 0, 0)
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {"scenario": scenario, "regime": "sp", "member": 0, "seed": seed, "base_seed": 0, "generation": 0,
                    "num_generations": 1, "step": 0, "config_hash": "x"}
        save_checkpoint(path, init_params(network, jax.random.PRNGKey(seed)), metadata, network.describe())
    return run


def test_tit_for_tat_with_a_defector_closed_form_and_memory_reset_per_episode() -> None:
    env = loi.envs.make("matrix/prisoners_dilemma", min_steps=10)
    rollout = pair_rollout(env, bot_policy("bots:tit_for_tat", env), bot_policy("bots:specialist?target=2", env),
                           25, jax.random.PRNGKey(3))
    first_round = np.arange(25) % 10 == 0
    assert rollout.steps == 25
    np.testing.assert_array_equal(rollout.actions[:, 0], np.where(first_round, 0, 1))
    np.testing.assert_array_equal(rollout.actions[:, 1], np.ones(25))
    np.testing.assert_array_equal(rollout.rewards, np.where(first_round[:, None], [0.0, 5.0], [1.0, 1.0]))
    np.testing.assert_array_equal(rollout.episode_ends, np.arange(25) % 10 == 9)
    assert rollout.interacted.all()  # every round of a matrix game is an interaction


def test_policy_specs_that_name_no_single_policy_for_the_environment_are_refused(tmp_path: Path) -> None:
    env = loi.envs.make(GRID)
    assert resolve_policy("random", env).name == "baseline:random"
    assert resolve_policy("bots:specialist?target=2", env).name == "bots:specialist?target=2"
    two_seeds = _checkpoints(tmp_path / "two", GRID, 2)
    with pytest.raises(LoiError, match="holds 2 final policies"):
        resolve_policy(str(two_seeds.path), env)
    other = _checkpoints(tmp_path / "other", "stag_hunt/small", 1)
    with pytest.raises(LoiError, match="trained on stag_hunt/small, not chicken/small"):
        resolve_policy(str(other.checkpoint(0, 0, 0)), env)
    with pytest.raises(LoiError, match="unknown policy 'no/such/run'"):
        resolve_policy("no/such/run", env)


@pytest.mark.slow  # ~15 s of CPU: compiles a network's and a bot's grid program in a fresh interpreter
def test_cli_render_of_a_checkpoint_with_a_bot_writes_every_frame(tmp_path: Path) -> None:
    from PIL import Image

    from loi.envs.render import legend, render_rgb, with_legend

    ckpt = _checkpoints(tmp_path / "run", GRID, 1).checkpoint(0, 0, 0)
    out = tmp_path / "pair.gif"
    res = run_cli("render", GRID, "--policy", ckpt, "--partner", "bots:grim_trigger", "--steps", "9", "--fps", "5",
                  "--seed", "2", "-o", out, "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["frames"] == 10 and summary["partner"] == "bots:grim_trigger"
    with Image.open(out) as im:
        # Identical consecutive frames are merged into one longer frame: the durations add up.
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
        assert sum(durations) == 10 * 200
        im.seek(0)
        first = np.asarray(im.convert("RGB"))
    # The first frame is the reset state of the seed's key (pair_rollout resets with fold_in(key, 0)).
    env = loi.envs.make(GRID)
    _, state = env.reset(jax.random.fold_in(jax.random.key(2), 0))
    frame = render_rgb(env, state, 24)
    np.testing.assert_array_equal(first, with_legend(frame, legend(frame.shape[1], env.num_strategies, 24)))


def test_cli_render_refuses_a_bad_policy_name_with_one_line(tmp_path: Path) -> None:
    res = run_cli("render", GRID, "--policy", "bots:tit_for_tat", "--partner", "bots:nope", "-o", tmp_path / "x.gif")
    assert res.returncode == 2 and res.stderr.startswith("loi: error:") and "unknown bot 'nope'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.gif").exists()
