"""Agents with memory: a game only a recurrent policy can win, trained in the test.

The game (:class:`CueGame`, defined here): each agent plays a repeated pure
coordination game (payoff 1 for matching, 0 otherwise) against its own scripted
co-player, which at the start of every episode picks a strategy ``s`` uniformly
from {0, 1} and then plays it every round. The co-player's strategy is shown
once, as a one-hot cue in the first observation; every later observation is the
same blank vector (the last joint action is hidden), so the cue must be
remembered.

**The feed-forward bound.** A memoryless policy ``pi(a | o)`` sees the blank
observation at every round ``t >= 1``, so it plays ``a ~ pi(. | blank)``
independently of ``s``. Its expected payoff in such a round is
``sum_a pi(a | blank) * P(s = a) = sum_a pi(a | blank) / 2 = 1/2``, whatever
``pi`` is. Round 0 pays at most 1 (the cue is visible). Over an episode of
``T`` rounds the expected return is therefore at most ``1 + (T - 1) / 2``; a
policy that remembers the cue gets ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import loi.envs
from loi.agents import NetworkConfig, act, init_carry, init_params, load_checkpoint, make_network
from loi.evaluation import baseline_policy, cross_play, network_policy
from loi.training import TrainConfig, checkpoint_path, make_train, train_run

AGENTS = ("agent_0", "agent_1")
ROUNDS = 6
FF_BOUND = 1 + (ROUNDS - 1) / 2  # per episode, derived in the module docstring


class _Space:
    def __init__(self, shape=None, n=None):
        self.shape, self.n = shape, n


@struct.dataclass
class CueState:
    cue: jax.Array  # i32[2]: each agent's co-player strategy this episode
    step: jax.Array  # i32[]


@dataclass(frozen=True)
class CueGame:
    """The training env contract of ``loi.training`` (reset / step with auto-reset /
    step_env, spaces, infos) for the game of the module docstring."""

    rounds: int = ROUNDS
    agents = AGENTS
    num_strategies = 2
    view_shape = None
    name = "test/cue"

    def observation_space(self, agent=AGENTS[0]):
        return _Space(shape=(3,))  # cue one-hot (2), then a "blank" flag

    def action_space(self, agent=AGENTS[0]):
        return _Space(n=2)

    def _observe(self, state):
        first = state.step == 0
        cue = jax.nn.one_hot(state.cue, 2) * first
        obs = jnp.concatenate([cue, jnp.broadcast_to(1.0 - first, (2, 1)).astype(jnp.float32)], axis=1)
        return {a: obs[i] for i, a in enumerate(AGENTS)}

    def reset(self, key):
        state = CueState(cue=jax.random.randint(key, (2,), 0, 2), step=jnp.int32(0))
        return self._observe(state), state

    def step_env(self, key, state, actions):
        a = jnp.stack([actions[ag] for ag in AGENTS])
        paid = (a == state.cue).astype(jnp.float32)
        step = state.step + 1
        done = step >= self.rounds
        new = CueState(cue=state.cue, step=step)
        infos = {"interacted": jnp.bool_(True), "row_strategy": jax.nn.one_hot(a[0], 2),
                 "col_strategy": jax.nn.one_hot(a[1], 2), "episode_step": step}
        dones = {AGENTS[0]: done, AGENTS[1]: done, "__all__": done}
        return self._observe(new), new, {ag: paid[i] for i, ag in enumerate(AGENTS)}, dones, infos

    def step(self, key, state, actions):
        k_step, k_reset = jax.random.split(key)
        obs, state, rewards, dones, infos = self.step_env(k_step, state, actions)
        fresh_obs, fresh = self.reset(k_reset)
        done = dones["__all__"]
        pick = lambda new, old: jnp.where(done, new, old)  # noqa: E731
        return (jax.tree_util.tree_map(pick, fresh_obs, obs), jax.tree_util.tree_map(pick, fresh, state),
                rewards, dones, infos)


def _train(kind: str, total_steps: int = 32_768):
    env = CueGame()
    network = NetworkConfig(kind=kind, hidden=(32,), core_size=32, activation="relu")
    config = TrainConfig("test/cue", regime="sp", total_steps=total_steps, num_generations=1, num_envs=32,
                         rollout_length=ROUNDS * 4, num_minibatches=4, learning_rate=3e-3, network=network,
                         ent_coef=0.003, gamma=0.9)
    trainer = make_train(config, env=env)
    state, _ = jax.jit(trainer)(jax.random.PRNGKey(0))
    params = jax.tree_util.tree_map(lambda x: x[0, 0], state.params)
    return env, trainer.network, params


def _mean_return(env, network, params, episodes: int = 2048) -> tuple[float, float]:
    """Mean and standard error of the episode return of agent_0, greedy actions."""

    @jax.jit
    def play(key):
        def one(key):
            obs, state = env.reset(key)
            carry = init_carry(network, ())

            def step(loop, t):
                obs, state, carry, reward = loop
                carry, a = act(network, params, carry, obs[AGENTS[0]], reward, t == 0, key, greedy=True)
                obs, state, rewards, _, _ = env.step_env(key, state, {AGENTS[0]: a, AGENTS[1]: a})
                return (obs, state, carry, rewards[AGENTS[0]]), rewards[AGENTS[0]]

            _, rewards = jax.lax.scan(step, (obs, state, carry, jnp.float32(0)), jnp.arange(env.rounds))
            return rewards.sum()

        return jax.vmap(one)(jax.random.split(key, episodes))

    returns = np.asarray(play(jax.random.PRNGKey(1)))
    return float(returns.mean()), float(returns.std(ddof=1) / np.sqrt(len(returns)))


# The default suite trains the recurrent default; the LSTM and the feed-forward run (a compile
# each, ~15-20 s of CPU) are slow tests.
@pytest.mark.parametrize("kind", ["gru", pytest.param("lstm", marks=pytest.mark.slow)])
def test_recurrent_policy_remembers_the_cue_feed_forward_cannot(kind):
    env, network, params = _train(kind)
    mean, _ = _mean_return(env, network, params)
    # Near-perfect recall, far above anything a memoryless policy can reach.
    assert mean >= ROUNDS - 0.25, mean
    assert mean > FF_BOUND + 1.0


@pytest.mark.slow
def test_feed_forward_policy_stays_under_the_bound():
    env, network, params = _train("mlp")
    mean, se = _mean_return(env, network, params)
    assert mean <= FF_BOUND + 4 * se, (mean, se)
    # It does learn what it can: the visible first round.
    assert mean >= FF_BOUND - 0.75, mean


# ----------------------------------------------------------------------------- evaluation, resume, checkpoints


def _recurrent_policies(env):
    """GRU egos, LSTM (previous reward fed) co-players and a baseline, fresh params."""
    out = {}
    for role, config, seed in (("ego", NetworkConfig(kind="gru", core_size=8, hidden=(8,)), 1),
                               ("cop", NetworkConfig(kind="lstm", core_size=8, hidden=(8,), prev_reward=True), 2)):
        network = make_network(env, config)
        out[role] = [network_policy(f"{config.kind}_{i}", init_params(network, jax.random.PRNGKey(10 * seed + i)),
                                    network.describe(), info={"seed": i, "generation": 0}) for i in range(2)]
    return out["ego"], out["cop"] + [baseline_policy("random", env)]


def test_recurrent_cross_play_equals_the_unbatched_loop_whatever_the_chunking():
    from test_evaluation import _reference  # the one-pair, one-step-at-a-time loop

    game = loi.envs.make_game("asym_pd", [[3, 0], [5, 1]], [[2, 6], [0, 1]])
    env = loi.envs.make("matrix", game=game, min_steps=4, end_interval=1, end_probability=0.3)
    egos, coplayers = _recurrent_policies(env)
    key = jax.random.PRNGKey(4)
    result = cross_play(env, egos, coplayers, episodes=3, key=key)
    # Memory is reset at every episode start: each episode equals one played alone from a fresh carry,
    # though the lane played other episodes before it.
    expected = _reference(env, egos, coplayers, result.seats, 3, key)
    np.testing.assert_array_equal(result.ego_return, expected[..., 0])
    np.testing.assert_array_equal(result.coplayer_return, expected[..., 1])
    np.testing.assert_array_equal(result.length, expected[..., 2])
    reference = result.to_table()
    assert reference.equals(cross_play(env, egos, coplayers, 3, key).to_table())  # same key, same table
    for chunk_size, streams in ((1, 1), (1, 3), (2, 2)):
        assert reference.equals(cross_play(env, egos, coplayers, 3, key, chunk_size=chunk_size,
                                           streams=streams).to_table()), (chunk_size, streams)


def _tiny_recurrent(regime: str) -> TrainConfig:
    return TrainConfig("matrix/prisoners_dilemma", regime=regime, num_seeds=2, total_steps=3 * 8 * 16,
                       num_envs=8, rollout_length=16, num_generations=3, num_minibatches=2,
                       env_overrides={"min_steps": 10},
                       network={"preset": "gru", "core_size": 8, "hidden": (8,)})


def _files(out):
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.msgpack"))}


def test_recurrent_population_resumes_bit_identical_and_checkpoints_describe_the_network(tmp_path):
    config = _tiny_recurrent("pp2")
    full = train_run(config, tmp_path / "full", seed=5)
    train_run(config, tmp_path / "part", seed=5, stop_after=1)
    resumed = train_run(config, tmp_path / "part", seed=5)
    assert resumed.resumed_from == 1
    assert _files(tmp_path / "full") == _files(tmp_path / "part")  # checkpoints and snapshot, byte for byte
    assert full.members == [{**m, "checkpoints": [c.replace("/part/", "/full/") for c in m["checkpoints"]]}
                            for m in resumed.members]
    ckpt = load_checkpoint(checkpoint_path(tmp_path / "full", 1, 1, 2))
    assert ckpt.network_config["kind"] == "gru" and ckpt.network_config["core_size"] == 8
    assert ckpt.network.recurrent and ckpt.network.describe() == ckpt.network_config
    # Each environment's drawn partner has its own memory in the state: [seed, member, env, core].
    from loi.training.snapshot import load_state

    trainer = make_train(config)
    state, _ = load_state(tmp_path / "full" / "train_state.msgpack",
                          jax.eval_shape(trainer.init, jax.random.PRNGKey(0)))
    assert np.asarray(state.partner_carry.core).shape == (2, 2, 8, 8)
    assert np.asarray(state.learner_carry.core).shape == (2, 2, 8, 1, 8)
    assert np.abs(np.asarray(state.partner_carry.core)).sum() > 0
    # The saved policy acts through the carried interface, and its memory changes what it does.
    network, params = ckpt.network, ckpt.params
    obs = jnp.zeros((1, network.obs_dim))
    carry = init_carry(network, 1)
    logits = []
    for t in range(3):
        carry, _ = act(network, params, carry, obs, jnp.zeros(1), jnp.array([t == 0]), jax.random.PRNGKey(t))
        logits.append(np.asarray(carry.core))
    assert not np.allclose(logits[0], logits[2])


def test_recurrent_self_play_and_fictitious_co_play_train(tmp_path):
    # A recurrent SP run, then an FCP learner against a pool of its checkpoints (recurrent partners).
    pool = train_run(_tiny_recurrent("sp"), tmp_path / "pool", seed=0)
    result = train_run(_tiny_recurrent("fcp2"), tmp_path / "fcp", seed=0, pool_dir=tmp_path / "pool")
    for run in (pool, result):
        assert len(run.members) == 2 and all(np.isfinite(m["mean_return_per_step"]) for m in run.members)
        assert run.curves["loss"].notna().all()
