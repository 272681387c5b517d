"""Networks, acting and policy checkpoints (loi.agents)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import loi.envs
from loi.agents import (
    NetworkConfig,
    init_params,
    load_checkpoint,
    make_network,
    network_from_description,
    sample_action,
    save_checkpoint,
)
from loi.agents.policy import greedy_action
from loi.errors import LoiError


@pytest.fixture(scope="module")
def matrix_env():
    return loi.envs.make("matrix/prisoners_dilemma")


@pytest.fixture(scope="module")
def grid_env():
    return loi.envs.make("prisoners_dilemma/small")


def test_mlp_shapes_follow_env(matrix_env):
    net = make_network(matrix_env)
    params = init_params(net, jax.random.PRNGKey(0))
    (obs_dim,) = matrix_env.observation_space("agent_0").shape
    logits, value = net.apply(params, jnp.zeros((7, 3, obs_dim)))
    assert logits.shape == (7, 3, matrix_env.action_space("agent_0").n)
    assert value.shape == (7, 3)


@pytest.mark.parametrize("shared", [False, True])
def test_cnn_reads_the_grid_view(grid_env, shared):
    net = make_network(grid_env, NetworkConfig(kind="cnn", hidden=(32,), shared_torso=shared))
    params = init_params(net, jax.random.PRNGKey(1))
    obs, _ = grid_env.reset(jax.random.PRNGKey(2))
    x = obs["agent_0"]
    h, w, c = grid_env.view_shape
    logits, value = net.apply(params, x)
    assert logits.shape == (8,) and value.shape == ()
    # Changing only the view changes the output (the conv path is connected)...
    other_view = x.at[: h * w * c].set(1.0 - x[: h * w * c])
    assert not np.allclose(net.apply(params, other_view)[1], value)
    # ...and so does changing only the non-view tail (inventory / ready flag).
    other_tail = x.at[h * w * c :].set(x[h * w * c :] + 1.0)
    assert not np.allclose(net.apply(params, other_tail)[1], value)
    # The conv parameters exist.
    assert "conv_0" in params["params"]


def test_bad_network_configs(matrix_env):
    with pytest.raises(LoiError, match="cnn"):
        make_network(matrix_env, NetworkConfig(kind="cnn"))
    with pytest.raises(LoiError, match="kind"):
        NetworkConfig(kind="transformer")
    with pytest.raises(LoiError, match="activation"):
        NetworkConfig(activation="swish")
    with pytest.raises(LoiError, match="hidden"):
        NetworkConfig(hidden=(64, 0))


def _params_with_action_probs(net, probs):
    """Init params, then make the policy exactly softmax(log probs) for any obs."""
    params = init_params(net, jax.random.PRNGKey(0))
    params = jax.tree_util.tree_map(np.asarray, params)
    head = params["params"]["actor_out"]
    head["kernel"] = np.zeros_like(head["kernel"])
    head["bias"] = np.log(np.asarray(probs, np.float32))
    return params


def test_sample_action_follows_the_policy_distribution(matrix_env):
    net = make_network(matrix_env)
    probs = np.array([0.8, 0.2])
    params = _params_with_action_probs(net, probs)
    obs = jnp.zeros((20_000, net.obs_dim))
    actions = np.asarray(sample_action(net, params, obs, jax.random.PRNGKey(3)))
    assert actions.dtype == np.int32 and actions.shape == (20_000,)
    counts = np.bincount(actions, minlength=2)
    assert stats.chisquare(counts, probs * counts.sum()).pvalue > 1e-3
    assert np.asarray(greedy_action(net, params, obs[:5])).tolist() == [0] * 5
    # Same key, same actions.
    again = np.asarray(sample_action(net, params, obs, jax.random.PRNGKey(3)))
    assert np.array_equal(actions, again)


def test_checkpoint_round_trip_rebuilds_the_policy(tmp_path, grid_env):
    net = make_network(grid_env, NetworkConfig(kind="cnn", hidden=(32, 16), conv_features=(8,)))
    params = init_params(net, jax.random.PRNGKey(4))
    metadata = {"scenario": "prisoners_dilemma/small", "regime": "pp3", "member": 2, "seed": 1,
                "step": 12345, "generation": 3, "config_hash": "abc"}
    path = save_checkpoint(tmp_path / "ckpt.msgpack", params, metadata, net)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.msgpack"]  # no temp file left
    ckpt = load_checkpoint(path)
    assert ckpt.metadata == metadata
    assert ckpt.network == net
    assert network_from_description(net.describe()) == net
    same = jax.tree_util.tree_map(lambda a, b: np.array_equal(np.asarray(a), b), params, ckpt.params)
    assert all(jax.tree_util.tree_leaves(same))
    obs = jax.vmap(lambda k: grid_env.reset(k)[0]["agent_1"])(jax.random.split(jax.random.PRNGKey(5), 16))
    key = jax.random.PRNGKey(6)
    assert np.array_equal(sample_action(net, params, obs, key), sample_action(ckpt.network, ckpt.params, obs, key))


def test_bad_checkpoint_files(tmp_path):
    with pytest.raises(LoiError, match="not found"):
        load_checkpoint(tmp_path / "missing.msgpack")
    garbage = tmp_path / "garbage.msgpack"
    garbage.write_bytes(b"\x00\x01 not msgpack")
    with pytest.raises(LoiError):
        load_checkpoint(garbage)
    from flax import serialization

    other = tmp_path / "other.msgpack"
    other.write_bytes(serialization.msgpack_serialize({"format": "something-else"}))
    with pytest.raises(LoiError, match="not a loi policy checkpoint"):
        load_checkpoint(other)


def test_presets_and_recurrent_configs(grid_env):
    from loi.agents import PRESETS, network_config

    authors = PRESETS["authors"]
    # The authors' RLlib model (MARL/PP_train.py): conv encoder, fc 64-64, post-layer 256, LSTM 256 + prev action.
    assert (authors.kind, authors.encoder, authors.hidden, authors.core_size) == ("lstm", "cnn", (64, 64, 256), 256)
    assert authors.prev_action and not authors.prev_reward and authors.activation == "relu"
    assert network_config({"preset": "gru", "core_size": 16}) == NetworkConfig(kind="gru", core_size=16)
    net = make_network(grid_env, authors)
    params = init_params(net, jax.random.PRNGKey(0))
    assert params["params"]["core_h"].shape == (256, 4 * 256) and "conv_0" in params["params"]
    with pytest.raises(LoiError, match="encoder applies to recurrent"):
        NetworkConfig(kind="mlp", encoder="cnn")
    with pytest.raises(LoiError, match="core_size"):
        NetworkConfig(kind="gru", core_size=0)
    with pytest.raises(LoiError, match="unknown network keys: size"):
        network_config({"kind": "gru", "size": 3})
    with pytest.raises(LoiError, match="needs a grid game"):
        make_network(loi.envs.make("matrix/prisoners_dilemma"), NetworkConfig(kind="gru", encoder="cnn"))


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_recurrent_step_equals_the_sequence_replay_and_resets(matrix_env, kind):
    """Acting step by step and replaying the trajectory in one call (as PPO's update
    does) give the same logits; a reset makes a step forget everything before it."""
    from loi.agents import act, init_carry, policy_step, sequence_logits

    net = make_network(matrix_env, NetworkConfig(kind=kind, core_size=8, hidden=(8,), prev_reward=True))
    params = init_params(net, jax.random.PRNGKey(0))
    steps, batch = 6, 3
    obs = jax.random.uniform(jax.random.PRNGKey(1), (steps, batch, net.obs_dim))
    reward = jax.random.normal(jax.random.PRNGKey(2), (steps, batch))
    reset = jnp.zeros((steps, batch), bool).at[0].set(True).at[3, 1].set(True)
    carry0 = init_carry(net, batch)
    carry, stepped, actions = carry0, [], []
    for t in range(steps):
        logits, _, _ = policy_step(net, params, carry, obs[t], reward[t], reset[t])
        carry, a = act(net, params, carry, obs[t], reward[t], reset[t], jax.random.PRNGKey(10 + t))
        stepped.append(logits)
        actions.append(a)
    replay, _ = sequence_logits(net, params, carry0, obs, jnp.stack(actions), reward, reset)
    np.testing.assert_allclose(np.stack(stepped), replay, rtol=1e-5, atol=1e-6)
    # Env 1 was reset at step 3: from there it equals a fresh run started at step 3.
    fresh, _ = sequence_logits(net, params, init_carry(net, 1), obs[3:, 1:2], jnp.stack(actions)[3:, 1:2],
                               reward[3:, 1:2], jnp.ones((steps - 3, 1), bool).at[1:].set(False))
    np.testing.assert_allclose(replay[3:, 1:2], fresh, rtol=1e-5, atol=1e-6)
    # Memory matters: the same observation and reward after a history and from a fresh carry differ.
    no_reset = jnp.zeros(batch, bool)
    after, _, _ = policy_step(net, params, carry, obs[0], reward[0], no_reset)
    before, _, _ = policy_step(net, params, carry0, obs[0], reward[0], no_reset)
    assert not np.allclose(after, before)
