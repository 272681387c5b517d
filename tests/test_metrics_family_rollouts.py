"""Rollout metrics: social influence and action MI against closed forms on a repeated matrix game."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import loi.envs
from loi.errors import LoiError
from loi.evaluation.rollout_metrics import ActionModel, collect_rollouts, rollout_metrics
from loi.metrics.interaction import RolloutRecord, get_metric

K = 2  # strategies of the matrix game; observation: one-hot of own * K + other, then a first-step flag
ENV = loi.envs.make("matrix/chicken")


def fixed(params, carry, obs, reward, reset):
    """The ego: a fixed distribution ``params`` (log-probabilities), whatever it sees."""
    return carry, jnp.broadcast_to(params, (obs.shape[0], K))


def copier(params, carry, obs, reward, reset):
    """Plays the other player's previous action (uniform on the first step): logits ``params``
    times the one-hot of that action."""
    joint = jnp.argmax(obs[:, :K * K], axis=-1)
    started = obs[:, :K * K].sum(-1) > 0
    return carry, params * jax.nn.one_hot(joint % K, K) * started[:, None]


def remembers_own(params, carry, obs, reward, reset):
    """A recurrent co-player that ignores the ego: repeats its own previous action (its carry)."""
    carry = jnp.where(reset, 0, carry)
    return carry, params * jax.nn.one_hot(carry, K)


def test_a_copier_of_the_ego_s_last_action_has_influence_and_mi_equal_to_the_ego_s_entropy():
    pi = np.array([0.7, 0.3])
    entropy = float(-(pi * np.log(pi)).sum())
    ego = ActionModel("fixed", fixed, jnp.log(jnp.asarray(pi, jnp.float32)))
    cop = ActionModel("copier", copier, jnp.float32(60.0))
    record = collect_rollouts(ENV, ego, cop, lanes=16, steps=150, key=jax.random.key(0))
    # Per state: KL(one-hot of a || pi) = -ln pi(a); its mean over visited states estimates H(pi).
    values = rollout_metrics(record, bootstrap=200, permutations=200)
    influence = values["social_influence"]
    actions = record.ego_action[:-1][record.valid]
    assert influence.statistic == pytest.approx(float(np.mean(-np.log(pi[actions]))), abs=1e-5)
    assert influence.statistic == pytest.approx(entropy, abs=0.03)
    assert influence.confidence_interval.low <= entropy <= influence.confidence_interval.high
    mi = values["action_mi"]
    assert mi.statistic == pytest.approx(entropy, abs=0.03) and mi.pvalue == pytest.approx(1 / 201)
    assert mi.null_mean == pytest.approx(0.0, abs=0.01)


@pytest.mark.slow
def test_the_ego_in_the_column_seat_gives_the_same_influence():
    pi = np.array([0.7, 0.3])
    ego = ActionModel("fixed", fixed, jnp.log(jnp.asarray(pi, jnp.float32)))
    cop = ActionModel("copier", copier, jnp.float32(60.0))
    record = collect_rollouts(ENV, ego, cop, lanes=8, steps=100, key=jax.random.key(1), ego_seat=1)
    influence = rollout_metrics(record, ["social_influence"], bootstrap=0)["social_influence"]
    actions = record.ego_action[:-1][record.valid]
    assert influence.statistic == pytest.approx(float(np.mean(-np.log(pi[actions]))), abs=1e-5)


def test_a_co_player_that_ignores_the_ego_has_zero_influence_also_when_recurrent():
    ego = ActionModel("uniform", fixed, jnp.zeros(K))

    def take(carry, action):
        return action

    cop = ActionModel("own", remembers_own, jnp.float32(60.0), init_carry=lambda n: jnp.zeros(n, jnp.int32),
                      take=take)
    record = collect_rollouts(ENV, ego, cop, lanes=8, steps=60, key=jax.random.key(2))
    values = rollout_metrics(record, bootstrap=50, permutations=200)
    assert values["social_influence"].statistic == pytest.approx(0.0, abs=1e-7)
    # Its carry is used as it was: the counterfactual distributions all equal the one-hot of its own
    # previous action (the actual one taken at step t).
    conditional = record.conditional[:-1][record.valid]
    own = record.coplayer_action[:-1][record.valid]
    assert np.allclose(conditional, np.eye(K)[own][:, None, :], atol=1e-6)
    assert values["action_mi"].pvalue > 0.01 and abs(values["action_mi"].statistic) < 0.02


def test_rollout_metrics_are_registered_as_needing_rollouts_and_records_are_checked():
    assert get_metric("social_influence").needs.startswith("both policies")
    assert get_metric("action_mi").needs.startswith("rollouts")
    with pytest.raises(LoiError, match="not rollouts"):
        rollout_metrics(RolloutRecord(np.ones((2, 1, 2)) / 2, np.ones((2, 1, 2, 2)) / 2, np.zeros((2, 1), int),
                                      np.zeros((2, 1), int), np.zeros((2, 1), bool)), ["eta2"])
    with pytest.raises(LoiError, match="conditional has shape"):
        RolloutRecord(np.ones((2, 1, 2)), np.ones((2, 1, 3, 2)), np.zeros((2, 1), int), np.zeros((2, 1), int),
                      np.zeros((2, 1), bool))
