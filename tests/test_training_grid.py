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
from loi.agents import NetworkConfig, act, init_carry, load_checkpoint
from loi.training import TrainConfig, checkpoint_path, train_run

SCENARIO = "prisoners_dilemma/small"


def reward_per_step(env, policy, key, num_envs: int = 64, steps: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Mean reward per step and seat, and interactions per step, of each of
    ``num_envs`` environments when ``policy`` plays both seats, each seat with its
    own memory: ``policy = (carry0, act)`` with ``act(carry, obs, reward, reset,
    key) -> (carry, action)`` (the interface of ``loi.agents.act``)."""
    carry0, act_fn = policy
    k_reset, k_run = jax.random.split(key)

    @jax.jit
    def run():
        obs, state = jax.vmap(env.reset)(jax.random.split(k_reset, num_envs))
        zeros = jnp.zeros((num_envs,), jnp.float32)
        start = (obs, state, (carry0, carry0), (zeros, zeros), jnp.ones((num_envs,), bool))

        def step(loop, k):
            obs, state, (c0, c1), (r0, r1), reset = loop
            k0, k1, k_env = jax.random.split(k, 3)
            c0, a0 = act_fn(c0, obs["agent_0"], r0, reset, k0)
            c1, a1 = act_fn(c1, obs["agent_1"], r1, reset, k1)
            obs, state, rewards, dones, infos = jax.vmap(env.step)(jax.random.split(k_env, num_envs), state,
                                                                   {"agent_0": a0, "agent_1": a1})
            r0, r1 = rewards["agent_0"], rewards["agent_1"]
            return (obs, state, (c0, c1), (r0, r1), dones["__all__"]), ((r0 + r1) / 2, infos["interacted"])

        _, (rewards, interacted) = jax.lax.scan(step, start, jax.random.split(k_run, steps))
        return rewards.mean(0), interacted.mean(0)

    rewards, interactions = run()
    return np.asarray(rewards), np.asarray(interactions)


def _trained_vs_random(tmp_path, steps: int, num_envs: int, regime: str = "sp", network="mlp", **options):
    config = TrainConfig(SCENARIO, regime=regime, num_seeds=1, total_steps=steps, num_envs=num_envs,
                         rollout_length=128, num_generations=2, network=network, **options)
    train_run(config, tmp_path, seed=0)
    ckpt = load_checkpoint(checkpoint_path(tmp_path, 0, 0, 1))
    env = loi.envs.make(SCENARIO)
    network, params = ckpt.network, ckpt.params
    n = env.action_space("agent_0").n
    carried = lambda c, obs, r, reset, k: act(network, params, c, obs, r, reset, k)  # noqa: E731
    trained = reward_per_step(env, (init_carry(network, 64), carried), jax.random.PRNGKey(1))
    uniform = lambda c, obs, r, reset, k: (c, jax.random.randint(k, obs.shape[:1], 0, n, jnp.int32))  # noqa: E731
    random = reward_per_step(env, ((), uniform), jax.random.PRNGKey(1))
    return trained, random


def test_sp_beats_random_on_grid_prisoners_dilemma_fast(tmp_path):
    (trained, trained_rate), (random, random_rate) = _trained_vs_random(tmp_path, steps=65_536, num_envs=32)
    assert stats.mannwhitneyu(trained, random, alternative="greater").pvalue < 1e-6
    assert trained.mean() > 1.3 * random.mean(), (trained.mean(), random.mean())
    assert trained_rate.mean() > 1.15 * random_rate.mean(), (trained_rate.mean(), random_rate.mean())


@pytest.mark.slow
def test_recurrent_pp_member_beats_random_on_grid_prisoners_dilemma(tmp_path):
    # A GRU population of 2: each environment's drawn partner keeps its own memory in training;
    # here member 0 plays both seats, each seat with its own memory, reset at every episode.
    # Measured: 0.057 vs 0.023 return per step (2.5x) after 196k steps per member; at 65k steps
    # it was not yet above random, hence a slow test.
    network = NetworkConfig(kind="gru", hidden=(64,), core_size=64)
    (trained, _), (random, _) = _trained_vs_random(tmp_path, steps=196_608, num_envs=32, regime="pp2",
                                                   network=network)
    assert load_checkpoint(checkpoint_path(tmp_path, 0, 1, 1)).network_config["kind"] == "gru"
    assert stats.mannwhitneyu(trained, random, alternative="greater").pvalue < 1e-6
    assert trained.mean() > 1.5 * random.mean(), (trained.mean(), random.mean())


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
