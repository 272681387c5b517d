"""Cross-play evaluation: closed-form payoffs, LoI sanity checks, determinism."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import loi.envs
from loi.agents import init_params, make_network
from loi.errors import LoiError
from loi.evaluation import Policy, baseline_policy, cross_play, episode_key, network_policy
from loi.evaluation.policies import memoryless
from loi.metrics.table import measure_table
from loi.tables import validate_table

T = 7  # rounds of the repeated matrix games (fixed length: end_probability = 1)
C, D = 0, 1


def _tit_for_tat(env) -> Policy:
    """Cooperate first, then copy the other player's previous strategy (from the
    egocentric observation: one-hot of own * k + other, then a first-step flag)."""
    k = env.num_strategies

    def act(params, obs, keys):
        other_prev = jnp.argmax(obs[:, : k * k], axis=-1) % k
        return jnp.where(obs[:, -1] > 0, C, other_prev).astype(jnp.int32)

    return Policy("tit_for_tat", memoryless(act), np.zeros((), np.int32))


def _renamed(policy: Policy, name: str) -> Policy:
    return dataclasses.replace(policy, name=name)


# ----------------------------------------------------------------------------- closed-form payoffs


def test_matrix_returns_equal_closed_form_payoffs():
    env = loi.envs.make("matrix/prisoners_dilemma", min_steps=T)
    always_c, always_d = baseline_policy("always1", env), baseline_policy("always2", env)
    egos = [always_c, always_d, _tit_for_tat(env)]
    result = cross_play(env, egos, [always_c, always_d], episodes=2, key=jax.random.PRNGKey(0))
    assert result.seats == (0,)  # prisoner's dilemma is symmetric: one seat suffices
    # A = [[3, 0], [5, 1]] for the row player, B = A^T for the column player.
    expected_ego = np.array([[3 * T, 0], [5 * T, 1 * T], [3 * T, 0 + 1 * (T - 1)]], np.float32)
    expected_cop = np.array([[3 * T, 5 * T], [0, 1 * T], [3 * T, 5 + 1 * (T - 1)]], np.float32)
    np.testing.assert_array_equal(result.ego_return[:, :, 0, :], np.repeat(expected_ego[..., None], 2, -1))
    np.testing.assert_array_equal(result.coplayer_return[:, :, 0, :], np.repeat(expected_cop[..., None], 2, -1))
    assert (result.length == T).all() and (result.interactions == T).all()
    # Strategy mix: the always-i players' mean strategy is the one-hot of i.
    np.testing.assert_array_equal(result.ego_strategy[1, :, 0, :], np.tile([0.0, 1.0], (2, 2, 1)))
    np.testing.assert_array_equal(result.coplayer_strategy[:, 0, 0, :], np.tile([1.0, 0.0], (3, 2, 1)))
    # Tit-for-tat vs always-D: cooperates once, then defects: strategy (1/T, (T-1)/T).
    np.testing.assert_allclose(result.ego_strategy[2, 1, 0, 0], [1 / T, (T - 1) / T], rtol=1e-6)

    table = result.to_table()
    validate_table(table)
    row = table[(table.ego == "tit_for_tat") & (table.coplayer == "baseline:always2")]
    assert row.ego_return.tolist() == [T - 1.0] * 2 and row.coplayer_return.tolist() == [5.0 + T - 1] * 2


def test_asymmetric_game_plays_both_seats():
    game = loi.envs.make_game("asym", [[1, 2], [3, 4]], [[10, 20], [30, 40]])
    env = loi.envs.make("matrix", game=game, min_steps=T)
    pols = [baseline_policy("always1", env), baseline_policy("always2", env)]
    result = cross_play(env, pols, pols, episodes=1, key=jax.random.PRNGKey(1))
    assert result.seats == (0, 1)
    a, b = np.asarray(game.row_payoff), np.asarray(game.col_payoff)
    for i in range(2):
        for j in range(2):
            # Seat 0: ego is the row player (strategy i) against column strategy j.
            assert result.ego_return[i, j, 0, 0] == T * a[i, j]
            assert result.coplayer_return[i, j, 0, 0] == T * b[i, j]
            # Seat 1: ego is the column player.
            assert result.ego_return[i, j, 1, 0] == T * b[j, i]
            assert result.coplayer_return[i, j, 1, 0] == T * a[j, i]
    table = result.to_table()
    assert sorted(table.ego_seat.unique()) == [0, 1]
    assert not table.duplicated(["ego", "coplayer", "episode"]).any()


# ----------------------------------------------------------------------------- LoI sanity checks


def test_identical_coplayers_give_corrected_loi_near_zero():
    env = loi.envs.make("matrix/chicken", min_steps=20)
    random = baseline_policy("random", env)
    coplayers = [_renamed(random, f"random_copy_{i}") for i in range(4)]
    result = cross_play(env, [random], coplayers, episodes=40, key=jax.random.PRNGKey(2))
    loi_result = measure_table(result.to_table(), permutations=300, bootstrap=0)["matrix/chicken"]
    assert abs(loi_result.corrected) < 0.1
    assert loi_result.pvalue > 0.01


@pytest.fixture(scope="module")
def short_stag_hunt():
    # Short stochastic episodes: from step 159 on, every 10 steps the episode ends with probability 0.5.
    return loi.envs.make("stag_hunt/small", min_steps=150, end_interval=10, end_probability=0.5)


@pytest.fixture(scope="module")
def collector_result(short_stag_hunt):
    env = short_stag_hunt
    ego = baseline_policy("collect1", env)
    coplayers = [baseline_policy("collect1", env), baseline_policy("collect2", env)]
    return cross_play(env, [ego], coplayers, episodes=30, key=jax.random.PRNGKey(3))


def test_collector_coplayers_give_positive_loi(collector_result):
    result = collector_result
    # A collector zaps once it holds 3 of its resource, (3/4, 1/4); but a partner marked ready
    # after a single collection -- (2/3, 1/3), or the wrong way round -- can be zapped before it
    # gets there, so strategies are only partly pure. Stag hunt A = [[4, 0], [2, 2]]: the
    # reward of a stag share s against a stag share t is 4st + 2(1 - s), which rises with t,
    # so per interaction the stag collector earns more against a stag than a hare collector.
    per_interaction = result.ego_return.sum(axis=(0, 2, 3)) / result.interactions.sum(axis=(0, 2, 3))
    assert per_interaction[0] > 1.15 * per_interaction[1]
    loi_result = measure_table(result.to_table(), permutations=300, bootstrap=0)["stag_hunt/small"]
    assert loi_result.pvalue < 0.01
    assert loi_result.corrected > 0.1
    # Episodes end by the stochastic rule: first after step 159 (Melting Pot's counter, see
    # loi.envs.ending), then every 10 steps; not all the same length.
    lengths = result.length.reshape(-1)
    assert (lengths >= 159).all() and ((lengths - 159) % 10 == 0).all() and len(set(lengths)) > 1
    assert not result.truncated.any()
    assert (result.interactions > 0).mean() > 0.8
    # The collectors' strategies lean to their resource (never pure: inventories start at 1 each).
    assert 0.5 < np.nanmean(result.ego_strategy[..., 0]) < 1.0
    assert 0.5 < np.nanmean(result.coplayer_strategy[0, 1, ..., 1]) < 1.0


# ----------------------------------------------------------------------------- determinism and batching


@functools.lru_cache(maxsize=None)
def _network_and_init(env):
    network = make_network(env)
    return network, jax.jit(lambda key: init_params(network, key))


def _network_policies(env, count: int, seed: int) -> list[Policy]:
    network, init = _network_and_init(env)
    return [network_policy(f"net_{seed}_{i}", init(jax.random.PRNGKey(seed * 100 + i)),
                            network.describe(), info={"seed": i, "generation": seed})
            for i in range(count)]


@pytest.fixture(scope="module")
def stochastic_asym_matrix():
    game = loi.envs.make_game("asym_pd", [[3, 0], [5, 1]], [[2, 6], [0, 1]])
    return loi.envs.make("matrix", game=game, min_steps=4, end_interval=1, end_probability=0.3)


def _reference(env, egos, coplayers, seats, episodes, key):
    """The unbatched loop: one pair, one episode, one step at a time."""
    agents = env.agents
    out = np.zeros((len(egos), len(coplayers), len(seats), episodes, 3))
    jitted = {p.act: jax.jit(p.act) for p in list(egos) + list(coplayers)}  # one compile per family
    for e, ego in enumerate(egos):
        for c, cop in enumerate(coplayers):
            for s_i, seat in enumerate(seats):
                for n in range(episodes):
                    ek = episode_key(key, e, c, seat, n)
                    obs, state = env.reset(jax.random.fold_in(ek, 0))
                    t, ego_ret, cop_ret = 0, np.float32(0), np.float32(0)
                    ego_carry, cop_carry = ego.init_carry(1), cop.init_carry(1)
                    rewards = {a: jnp.float32(0) for a in agents}
                    while True:
                        k_env, k_ego, k_cop = jax.random.split(jax.random.fold_in(ek, t + 1), 3)
                        me, other = agents[seat], agents[1 - seat]
                        first = jnp.array([t == 0])
                        ego_carry, a_ego = jitted[ego.act](ego.params, ego_carry, obs[me][None],
                                                           jnp.float32(rewards[me])[None], first, k_ego[None])
                        cop_carry, a_cop = jitted[cop.act](cop.params, cop_carry, obs[other][None],
                                                           jnp.float32(rewards[other])[None], first, k_cop[None])
                        a_ego, a_cop = a_ego[0], a_cop[0]
                        obs, state, rewards, dones, _ = env.step_env(k_env, state, {me: a_ego, other: a_cop})
                        ego_ret = np.float32(ego_ret + np.float32(rewards[me]))
                        cop_ret = np.float32(cop_ret + np.float32(rewards[other]))
                        t += 1
                        if bool(dones["__all__"]):
                            break
                    out[e, c, s_i, n] = ego_ret, cop_ret, t
    return out


@pytest.fixture(scope="module")
def stochastic_policies(stochastic_asym_matrix):
    env = stochastic_asym_matrix
    egos = _network_policies(env, 2, seed=1)
    coplayers = _network_policies(env, 2, seed=2) + [baseline_policy("random", env)]
    return env, egos, coplayers


def test_batched_equals_unbatched_loop(stochastic_policies):
    env, egos, coplayers = stochastic_policies
    key = jax.random.PRNGKey(4)
    result = cross_play(env, egos, coplayers, episodes=2, key=key)
    assert result.seats == (0, 1)
    expected = _reference(env, egos, coplayers, result.seats, 1, key)  # the first episode of each pair
    np.testing.assert_array_equal(result.ego_return[..., :1], expected[..., 0])
    np.testing.assert_array_equal(result.coplayer_return[..., :1], expected[..., 1])
    np.testing.assert_array_equal(result.length[..., :1], expected[..., 2])


def test_batched_equals_unbatched_loop_on_grid(short_stag_hunt, collector_result):
    result = collector_result
    expected = _reference(short_stag_hunt, result.egos, result.coplayers, result.seats, 2,
                          jax.random.PRNGKey(3))
    np.testing.assert_array_equal(result.ego_return[..., :2], expected[..., 0])
    np.testing.assert_array_equal(result.coplayer_return[..., :2], expected[..., 1])
    np.testing.assert_array_equal(result.length[..., :2], expected[..., 2])


def test_same_key_same_table_and_chunking_does_not_matter(stochastic_policies):
    env, egos, coplayers = stochastic_policies
    key = jax.random.PRNGKey(4)
    reference = cross_play(env, egos, coplayers, 2, key).to_table()
    assert reference.equals(cross_play(env, egos, coplayers, 2, key).to_table())
    calls = []
    chunked = cross_play(env, egos, coplayers, 2, key, chunk_size=1, streams=2,
                         on_chunk=lambda done, total: calls.append((done, total)))
    assert reference.equals(chunked.to_table())
    assert calls == [(i, 6) for i in range(1, 7)]
    # The key matters: the networks sample their actions and the ending is random.
    other = cross_play(env, egos, coplayers, 2, jax.random.PRNGKey(7)).to_table()
    assert not np.array_equal(reference.ego_return, other.ego_return)
    # A pair's episodes do not depend on the other policies evaluated with it.
    subset = cross_play(env, egos, coplayers[:1], 2, key, chunk_size=1, streams=2).to_table()
    first = reference[reference.coplayer == coplayers[0].name].reset_index(drop=True)
    np.testing.assert_array_equal(subset.ego_return.to_numpy(), first.ego_return.to_numpy())


def test_max_episode_steps_truncates(stochastic_policies):
    env, egos, coplayers = stochastic_policies
    # min_steps is 4: a cap of 3 cuts every episode.
    result = cross_play(env, egos[:1], coplayers[-1:], 2, jax.random.PRNGKey(0), max_episode_steps=3,
                        chunk_size=1, streams=2)
    assert (result.length == 3).all() and result.truncated.all()
    assert (result.to_table().truncated).all()


# ----------------------------------------------------------------------------- bad input


def test_bad_input_raises_loi_error(short_stag_hunt):
    env = short_stag_hunt
    good = baseline_policy("random", env)
    wrong = Policy("matrix_policy", good.act, good.params, obs_dim=5)
    with pytest.raises(LoiError, match="observations of size"):
        cross_play(env, [good], [wrong], 1, jax.random.PRNGKey(0))
    with pytest.raises(LoiError, match="unique"):
        cross_play(env, [good], [good, good], 1, jax.random.PRNGKey(0))
    with pytest.raises(LoiError, match="episodes"):
        cross_play(env, [good], [good], 0, jax.random.PRNGKey(0))
    with pytest.raises(LoiError, match="seats"):
        cross_play(env, [good], [good], 1, jax.random.PRNGKey(0), seats="diagonal")
    with pytest.raises(LoiError, match="at least one"):
        cross_play(env, [], [good], 1, jax.random.PRNGKey(0))
    with pytest.raises(LoiError, match="unknown baseline"):
        baseline_policy("collect_everything", env)
    with pytest.raises(LoiError, match="strategies 1..2"):
        baseline_policy("collect3", env)
