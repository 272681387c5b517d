"""Self-play on the grid prisoner's dilemma learns: the trained policy, played
against itself in fresh environments, earns far more per step than a uniformly
random policy (evaluated independently of the training metrics)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import loi.envs
from loi.agents import load_checkpoint, sample_action
from loi.training import TrainConfig, checkpoint_path, train_run

SCENARIO = "prisoners_dilemma/small"


def reward_per_step(env, act, key, num_envs: int = 64, steps: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Mean reward per step and seat, and interactions per step, of each of
    ``num_envs`` environments when ``act(obs, key)`` plays both seats."""
    k_reset, k_run = jax.random.split(key)

    @jax.jit
    def run():
        obs, state = jax.vmap(env.reset)(jax.random.split(k_reset, num_envs))

        def step(carry, k):
            obs, state = carry
            k0, k1, k_env = jax.random.split(k, 3)
            actions = {"agent_0": act(obs["agent_0"], k0), "agent_1": act(obs["agent_1"], k1)}
            obs, state, rewards, _, infos = jax.vmap(env.step)(jax.random.split(k_env, num_envs), state, actions)
            return (obs, state), ((rewards["agent_0"] + rewards["agent_1"]) / 2, infos["interacted"])

        _, (rewards, interacted) = jax.lax.scan(step, (obs, state), jax.random.split(k_run, steps))
        return rewards.mean(0), interacted.mean(0)

    rewards, interactions = run()
    return np.asarray(rewards), np.asarray(interactions)


def _trained_vs_random(tmp_path, steps: int, num_envs: int):
    config = TrainConfig(SCENARIO, regime="sp", num_seeds=1, total_steps=steps, num_envs=num_envs,
                         rollout_length=128, num_generations=2)
    train_run(config, tmp_path, seed=0)
    ckpt = load_checkpoint(checkpoint_path(tmp_path, 0, 0, 1))
    env = loi.envs.make(SCENARIO)
    network, params = ckpt.network, ckpt.params
    n = env.action_space("agent_0").n
    trained = reward_per_step(env, lambda obs, k: sample_action(network, params, obs, k), jax.random.PRNGKey(1))
    random = reward_per_step(env, lambda obs, k: jax.random.randint(k, obs.shape[:1], 0, n, jnp.int32),
                             jax.random.PRNGKey(1))
    return trained, random


def test_sp_beats_random_on_grid_prisoners_dilemma_fast(tmp_path):
    (trained, trained_rate), (random, random_rate) = _trained_vs_random(tmp_path, steps=65_536, num_envs=32)
    assert stats.mannwhitneyu(trained, random, alternative="greater").pvalue < 1e-6
    assert trained.mean() > 1.3 * random.mean(), (trained.mean(), random.mean())
    assert trained_rate.mean() > 1.15 * random_rate.mean(), (trained_rate.mean(), random_rate.mean())


@pytest.mark.slow
def test_sp_far_above_random_on_grid_prisoners_dilemma(tmp_path):
    (trained, trained_rate), (random, random_rate) = _trained_vs_random(tmp_path, steps=400_000, num_envs=64)
    assert stats.mannwhitneyu(trained, random, alternative="greater").pvalue < 1e-9
    # Measured: 0.052 vs 0.029 return per step (1.77x), 0.030 vs 0.013 interactions per
    # step (2.3x). In the prisoner's dilemma the learned defection caps the payoff per
    # interaction at 1 (random inventories average ~2.25), so the gain is all in
    # interacting more often.
    assert trained.mean() > 1.5 * random.mean(), (trained.mean(), random.mean())
    assert trained_rate.mean() > 2.0 * random_rate.mean(), (trained_rate.mean(), random_rate.mean())
