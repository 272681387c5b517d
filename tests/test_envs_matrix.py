"""Repeated matrix game: payoffs per action pair, observations, episode length."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import loi.envs
from loi.errors import LoiError

# SPEC §3, written out by hand: A pays agent_0 (row), B = A^T pays agent_1.
PAYOFFS = {
    "prisoners_dilemma": [[3, 0], [5, 1]],
    "chicken": [[3, 2], [5, 0]],
    "stag_hunt": [[4, 0], [2, 2]],
    "pure_coordination": [[1, 0], [0, 1]],
}


def _actions(a0, a1):
    return {"agent_0": jnp.int32(a0), "agent_1": jnp.int32(a1)}


@pytest.mark.parametrize("game", sorted(PAYOFFS))
def test_payoffs_for_every_action_pair(game):
    env = loi.envs.make(f"matrix/{game}")
    A = PAYOFFS[game]
    _, state = env.reset(jax.random.key(0))
    for a0, a1 in itertools.product(range(2), repeat=2):
        _, _, rewards, _, infos = env.step(jax.random.key(1), state, _actions(a0, a1))
        assert float(rewards["agent_0"]) == A[a0][a1]
        assert float(rewards["agent_1"]) == A[a1][a0]  # B[a0, a1] = A[a1, a0]
        assert bool(infos["interacted"])
        np.testing.assert_array_equal(infos["row_strategy"], np.eye(2)[a0])
        np.testing.assert_array_equal(infos["col_strategy"], np.eye(2)[a1])


def test_api_shape():
    env = loi.envs.make("matrix/stag_hunt")
    assert env.agents == ("agent_0", "agent_1") and env.num_agents == 2
    assert env.num_strategies == 2 and env.view_shape is None
    assert env.action_space("agent_1").n == 2
    assert env.observation_space("agent_0").shape == (5,)
    obs, _ = env.reset(jax.random.key(0))
    assert obs["agent_0"].shape == (5,) and obs["agent_0"].dtype == jnp.float32


def test_observation_is_egocentric_previous_joint_action():
    env = loi.envs.make("matrix/chicken")
    obs, state = env.reset(jax.random.key(0))
    np.testing.assert_array_equal(obs["agent_0"], [0, 0, 0, 0, 1])  # first-step flag
    obs, *_ = env.step(jax.random.key(0), state, _actions(1, 0))
    # agent_0 played 1 against 0 -> index 1*2+0; agent_1 played 0 against 1 -> index 1
    np.testing.assert_array_equal(obs["agent_0"], [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(obs["agent_1"], [0, 1, 0, 0, 0])


def test_fixed_length_episode_auto_resets():
    env = loi.envs.make("matrix/prisoners_dilemma", min_steps=7)

    def body(state, key):
        _, state, rewards, dones, infos = env.step(key, state, _actions(0, 0))
        return state, (dones["__all__"], infos["episode_step"], rewards["agent_0"])

    _, state = env.reset(jax.random.key(0))
    _, (done, step, reward) = jax.lax.scan(body, state, jax.random.split(jax.random.key(1), 21))
    np.testing.assert_array_equal(np.flatnonzero(done), [6, 13, 20])
    np.testing.assert_array_equal(step, np.tile(np.arange(1, 8), 3))
    assert np.all(np.asarray(reward) == 3.0)


def test_step_env_does_not_reset():
    env = loi.envs.make("matrix/prisoners_dilemma", min_steps=1)
    _, state = env.reset(jax.random.key(0))
    _, state, _, dones, _ = env.step_env(jax.random.key(0), state, _actions(1, 1))
    assert bool(dones["__all__"]) and int(state.episode_step) == 1
    _, state, _, dones, _ = env.step(jax.random.key(0), state, _actions(1, 1))
    assert bool(dones["__all__"]) and int(state.episode_step) == 0


def test_custom_three_strategy_game():
    rps = loi.envs.make_game("rps", [[0, -1, 1], [1, 0, -1], [-1, 1, 0]])
    env = loi.envs.make("matrix", game=rps)
    assert env.num_strategies == 3 and env.observation_space().shape == (10,)
    _, state = env.reset(jax.random.key(0))
    _, _, rewards, _, _ = env.step(jax.random.key(0), state, _actions(0, 2))
    assert float(rewards["agent_0"]) == 1.0 and float(rewards["agent_1"]) == -1.0


def test_bad_parameters_raise():
    with pytest.raises(LoiError, match="unknown game"):
        loi.envs.make("matrix/nope")
    with pytest.raises(LoiError, match="min_steps"):
        loi.envs.make("matrix/chicken", min_steps=0)
    with pytest.raises(LoiError, match="unknown parameter"):
        loi.envs.make("matrix/chicken", episode_length=3)


def test_stochastic_ending_lengths_lie_on_the_interval_grid():
    env = loi.envs.make("matrix/stag_hunt", min_steps=5, end_interval=3, end_probability=0.5)

    def body(state, key):
        _, state, _, dones, infos = env.step(key, state, _actions(0, 0))
        return state, jnp.where(dones["__all__"], infos["episode_step"], 0)

    _, state = env.reset(jax.random.key(0))
    _, ended = jax.lax.scan(body, state, jax.random.split(jax.random.key(2), 3000))
    lengths = np.asarray(ended)[np.asarray(ended) > 0]
    assert len(lengths) > 200 and lengths.min() == 5 and np.all((lengths - 5) % 3 == 0)
    # P(length = 5) = 0.5 exactly; P(length = 8) = 0.25.
    assert stats.binomtest(int(np.sum(lengths == 5)), len(lengths), 0.5).pvalue > 0.001
    assert stats.binomtest(int(np.sum(lengths == 8)), len(lengths), 0.25).pvalue > 0.001
