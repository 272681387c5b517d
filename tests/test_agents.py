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
