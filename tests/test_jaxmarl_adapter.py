"""JaxMARL environments as loi scenarios (``jaxmarl:NAME``): the same API checks as loi's own
games, agreement with JaxMARL's own env step for step, names and options, networks for image
observations, training on STORM, and a cross-play table measured by ``loi measure``.

Needs the optional extra (``pip install 'loi[jaxmarl]'``); skipped where it is absent.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("jaxmarl", reason="the jaxmarl extra is not installed (pip install 'loi[jaxmarl]')")

import loi.envs  # noqa: E402
from loi.agents import init_params, make_network  # noqa: E402
from loi.envs.base import AGENTS, Environment  # noqa: E402
from loi.envs.jaxmarl_adapter import parse_name  # noqa: E402
from loi.errors import LoiError  # noqa: E402

from conftest import run_cli  # noqa: E402

OVERCOOKED = "jaxmarl:overcooked/cramped_room"
STORM = "jaxmarl:storm_2p"


def _raw(env_id, **kwargs):
    """JaxMARL's own env, built without loi (the independent reference)."""
    import warnings

    import jaxmarl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return jaxmarl.make(env_id, **kwargs)


def _cramped_room():
    from jaxmarl.environments.overcooked.layouts import overcooked_layouts

    return overcooked_layouts["cramped_room"]


def _random_rollout(env, key, steps):
    n = env.action_space().n

    def body(state, key):
        ka, kb, ks = jax.random.split(key, 3)
        actions = {AGENTS[0]: jax.random.randint(ka, (), 0, n), AGENTS[1]: jax.random.randint(kb, (), 0, n)}
        obs, state, rewards, dones, infos = env.step(ks, state, actions)
        return state, (obs, rewards, dones["__all__"], infos["episode_step"])

    kr, ks = jax.random.split(key)
    _, state = env.reset(kr)
    return jax.lax.scan(body, state, jax.random.split(ks, steps))[1]


# ---------------------------------------------------------------- API ---
@pytest.mark.parametrize("name,view,extra,actions", [
    (OVERCOOKED, (4, 5, 26), 0, 6),  # cramped_room is 5 wide, 4 high; 26 feature planes
    (STORM, (5, 5, 10), 6, 5),  # 5x5 egocentric view, then the 6-entry inventory
])
def test_api_shapes_and_declared_absence_of_interactions(name, view, extra, actions):
    env = loi.envs.make(name)
    assert isinstance(env, Environment) and env.name == name
    assert env.agents == AGENTS and env.num_agents == 2
    assert env.view_shape == view and env.obs_dim == int(np.prod(view)) + extra
    assert env.observation_space("agent_1").shape == (env.obs_dim,) and env.action_space("agent_0").n == actions
    assert env.has_interactions is False and env.num_strategies == 0
    obs, state = env.reset(jax.random.PRNGKey(0))
    assert set(obs) == set(AGENTS) and obs["agent_0"].shape == (env.obs_dim,) and obs["agent_0"].dtype == jnp.float32
    _, _, rewards, dones, infos = env.step(jax.random.PRNGKey(1), state, {a: jnp.int32(0) for a in AGENTS})
    assert set(dones) == {"agent_0", "agent_1", "__all__"}
    assert rewards["agent_0"].shape == () and rewards["agent_0"].dtype == jnp.float32
    # Only what is measured: no interaction flag or strategies posing as zeros.
    assert set(infos) == {"episode_step"} and int(infos["episode_step"]) == 1


def test_overcooked_observation_is_the_flattened_image_of_jaxmarl():
    env = loi.envs.make(OVERCOOKED)
    raw = _raw("overcooked", layout=_cramped_room())
    key = jax.random.PRNGKey(3)
    obs, _ = env.reset(key)
    raw_obs, _ = raw.reset(key)
    for agent in AGENTS:
        np.testing.assert_array_equal(obs[agent].reshape(env.view_shape), np.asarray(raw_obs[agent], np.float32))


def test_storm_observation_puts_the_image_first_then_the_inventory():
    env = loi.envs.make(STORM)
    raw = _raw("storm_2p")
    key = jax.random.PRNGKey(4)
    obs, _ = env.reset(key)
    raw_obs, _ = raw.reset(key)  # a tuple in agent order of {"observation": (5, 5, 10), "inventory": (6,)}
    for i, agent in enumerate(AGENTS):
        expected = np.concatenate([np.ravel(raw_obs[i]["observation"]), np.ravel(raw_obs[i]["inventory"])])
        np.testing.assert_array_equal(obs[agent], expected.astype(np.float32))


@pytest.mark.parametrize("name,env_id,kwargs", [
    (OVERCOOKED, "overcooked", "cramped_room"),
    (STORM, "storm_2p", None),
])
def test_step_env_agrees_with_jaxmarl_step_for_step(name, env_id, kwargs):
    env = loi.envs.make(name)
    raw = _raw(env_id, **({"layout": _cramped_room()} if kwargs else {}))
    raw_agents = raw.agents
    key = jax.random.PRNGKey(5)
    obs, state = env.reset(key)
    raw_obs, raw_state = raw.reset(key)
    n = env.action_space().n
    step, raw_step = jax.jit(env.step_env), jax.jit(raw.step_env)
    total = 0.0
    for t in range(60):
        k_act, k_step = jax.random.split(jax.random.fold_in(key, t))
        a = jax.random.randint(k_act, (2,), 0, n)
        actions = {AGENTS[0]: a[0], AGENTS[1]: a[1]}
        raw_actions = {raw_agents[0]: a[0], raw_agents[1]: a[1]} if env_id == "overcooked" else (a[0], a[1])
        obs, state, rewards, _, infos = step(k_step, state, actions)
        raw_obs, raw_state, raw_rewards, _, _ = raw_step(k_step, raw_state, raw_actions)
        for i, agent in enumerate(AGENTS):
            raw_r = raw_rewards[raw_agents[i]] if isinstance(raw_rewards, dict) else raw_rewards[i]
            assert float(rewards[agent]) == float(raw_r)
            total += abs(float(raw_r))
        assert int(infos["episode_step"]) == t + 1
    for i, agent in enumerate(AGENTS):
        leaf = raw_obs[raw_agents[i]] if isinstance(raw_obs, dict) else raw_obs[i]["observation"]
        np.testing.assert_array_equal(obs[agent][: int(np.prod(env.view_shape))], np.ravel(leaf))


def test_auto_reset_at_the_episode_end_and_step_env_does_not_reset():
    env = loi.envs.make(OVERCOOKED + "?max_steps=5")
    _, state = env.reset(jax.random.PRNGKey(0))
    _, _, done, step = _random_rollout(env, jax.random.PRNGKey(1), 12)
    np.testing.assert_array_equal(np.flatnonzero(done), [4, 9])
    np.testing.assert_array_equal(step, [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2])
    noop = {a: jnp.int32(4) for a in AGENTS}  # Overcooked's "stay"
    for _ in range(4):
        _, state, _, dones, _ = env.step(jax.random.PRNGKey(2), state, noop)
    _, ended, _, dones, _ = env.step_env(jax.random.PRNGKey(3), state, noop)
    assert bool(dones["__all__"]) and int(ended.episode_step) == 5 and int(ended.inner.step) == 5
    _, fresh, _, dones, _ = env.step(jax.random.PRNGKey(3), state, noop)
    assert bool(dones["__all__"]) and int(fresh.episode_step) == 0 and int(fresh.inner.step) == 0


@pytest.mark.parametrize("name", [OVERCOOKED, STORM])
def test_same_key_same_trajectory_and_vmap_equals_loop(name):
    env = loi.envs.make(name)
    rollout = jax.jit(lambda k: _random_rollout(env, k, 40))
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    single = [rollout(k) for k in keys]
    jax.tree.map(np.testing.assert_array_equal, single[0], rollout(keys[0]))
    batched = jax.vmap(rollout)(keys)
    for i, one in enumerate(single):
        jax.tree.map(lambda b, s: np.testing.assert_array_equal(b[i], s), batched, one)
    # Different keys give different trajectories (the check above is not vacuous).
    assert not np.array_equal(single[0][0]["agent_0"], single[1][0]["agent_0"])


# ----------------------------------------------------- names and options ---
def test_names_options_and_layout_aliases():
    assert parse_name("jaxmarl:overcooked/coord_ring?max_steps=200&random_reset=true") == (
        "overcooked", {"layout": "coord_ring", "max_steps": 200, "random_reset": True})
    assert parse_name("jaxmarl:storm_2p?freeze_penalty=2.5") == ("storm_2p", {"freeze_penalty": 2.5})
    by_slash = loi.envs.make("jaxmarl:overcooked/counter_circuit")
    by_option = loi.envs.make("jaxmarl:overcooked?layout=counter_circuit")
    assert by_slash.view_shape == by_option.view_shape == (5, 8, 26)
    # Carroll et al.'s name for JaxMARL's asymm_advantages.
    assert loi.envs.make("jaxmarl:overcooked/asymmetric_advantages").view_shape == (5, 9, 26)
    # Overrides (a study's [env]) are options too; the same name and options share one env object.
    short = loi.envs.make(OVERCOOKED, max_steps=7)
    assert short.base.max_steps == 7 and short is loi.envs.make(OVERCOOKED, max_steps=7)
    assert loi.envs.make(OVERCOOKED) is not short


@pytest.mark.parametrize("name,message", [
    ("jaxmarl:no_such_env", "unknown JaxMARL environment 'no_such_env'"),
    ("jaxmarl:overcooked/no_such_room", "unknown overcooked layout 'no_such_room'"),
    ("jaxmarl:overcooked?bogus=1", "cannot build jaxmarl:overcooked"),
    ("jaxmarl:overcooked?max_steps", "is not key=value"),
    ("jaxmarl:overcooked?layout=coord_ring&layout=forced_coord", "given twice"),
    ("jaxmarl:", "JaxMARL scenario names are"),
    ("jaxmarl:MPE_simple_spread_v3", "two-player"),  # three agents
    ("jaxmarl:coin_game?reward_shaping=yes", "reward_shaping must be a number"),
])
def test_bad_names_raise_one_line(name, message):
    with pytest.raises(LoiError, match=message) as err:
        loi.envs.make(name)
    assert "\n" not in str(err.value)


def test_reward_shaping_adds_jaxmarl_shaped_reward():
    plain, shaped = loi.envs.make(OVERCOOKED), loi.envs.make(OVERCOOKED + "?reward_shaping=2.0")
    raw = _raw("overcooked", layout=_cramped_room())
    key = jax.random.PRNGKey(11)
    _, s_plain = plain.reset(key)
    _, s_shaped = shaped.reset(key)
    _, s_raw = raw.reset(key)
    bonus = 0.0
    # agent_0 fetches an onion from the pile on its left and puts it into the pot above the
    # middle cell (JaxMARL pays 3 shaped for the placement); then random play.
    script = [3, 5, 2, 0, 5]  # left (face the pile), interact, right, up (face the pot), interact
    for t in range(60):
        k_act, k_step = jax.random.split(jax.random.fold_in(key, t))
        a = jnp.array([script[t], 4]) if t < len(script) else jax.random.randint(k_act, (2,), 0, 6)
        actions = {AGENTS[0]: a[0], AGENTS[1]: a[1]}
        _, s_plain, r_plain, _, _ = plain.step_env(k_step, s_plain, actions)
        _, s_shaped, r_shaped, _, _ = shaped.step_env(k_step, s_shaped, actions)
        _, s_raw, r_raw, _, info = raw.step_env(k_step, s_raw, dict(actions))
        for agent in AGENTS:
            extra = 2.0 * float(info["shaped_reward"][agent])
            assert float(r_plain[agent]) == float(r_raw[agent])
            assert float(r_shaped[agent]) == pytest.approx(float(r_raw[agent]) + extra)
            bonus += extra
    assert bonus >= 2.0 * 3  # at least the scripted placement (the check is not vacuous)
    with pytest.raises(LoiError, match="shaped_reward"):
        storm = loi.envs.make(STORM + "?reward_shaping=1")
        _, state = storm.reset(key)
        storm.step_env(key, state, {a: jnp.int32(0) for a in AGENTS})


def test_evaluation_scores_the_unshaped_reward():
    shaped = loi.envs.make(OVERCOOKED + "?reward_shaping=2.0")
    scored = loi.envs.scored(shaped)
    assert shaped.reward_shaping == 2.0 and scored.reward_shaping == 0.0
    assert scored.base is shaped.base and scored.observation_space(AGENTS[0]).shape == \
        shaped.observation_space(AGENTS[0]).shape
    plain = loi.envs.make(OVERCOOKED)
    assert loi.envs.scored(plain) is plain
    # The pipeline's and `loi evaluate`'s environment is the scored one.
    from loi.evaluation import policies_env
    from loi.evaluation.policies import baseline_policy

    env = policies_env([baseline_policy("random", shaped)], OVERCOOKED + "?reward_shaping=2.0")
    assert env.reward_shaping == 0.0


class _Guess:
    """A user's own JaxMARL-API env: both agents see a random target digit (a vector) and are
    paid 1 each if both name it; agents are ints and containers are tuples, as in STORM."""

    agents = [0, 1]
    name = "guess"

    def reset(self, key):
        target = jax.random.randint(key, (), 0, 3)
        obs = jax.nn.one_hot(target, 3)
        return (obs, obs), (target, jnp.int32(0))

    def step_env(self, key, state, actions):
        target, t = state
        paid = jnp.float32((actions[0] == target) & (actions[1] == target))
        obs, (new_target, _) = self.reset(key)
        done = t + 1 >= 4
        return obs, (new_target, t + 1), (paid, paid), {"__all__": done}, {}

    def action_space(self, agent):
        from loi.envs.spaces import Discrete

        return Discrete(3)


def test_wrap_a_users_own_env():
    env = loi.envs.wrap(_Guess())
    assert env.name == "jaxmarl:guess" and env.view_shape is None and env.obs_dim == 3
    obs, state = env.reset(jax.random.PRNGKey(0))
    target = int(np.argmax(obs["agent_0"]))
    _, _, rewards, dones, _ = env.step(jax.random.PRNGKey(1), state, {a: jnp.int32(target) for a in AGENTS})
    assert float(rewards["agent_0"]) == float(rewards["agent_1"]) == 1.0 and not bool(dones["__all__"])
    _, _, rewards, _, _ = env.step(jax.random.PRNGKey(1), state, {AGENTS[0]: jnp.int32(target),
                                                                   AGENTS[1]: jnp.int32((target + 1) % 3)})
    assert float(rewards["agent_0"]) == 0.0
    _, _, done, step = _random_rollout(env, jax.random.PRNGKey(2), 9)
    np.testing.assert_array_equal(np.flatnonzero(np.asarray(done)), [3, 7])
    with pytest.raises(LoiError, match="two-player"):
        loi.envs.wrap(type("Three", (_Guess,), {"agents": [0, 1, 2]})())


# ---------------------------------------------------------------- networks ---
def test_networks_pick_the_conv_encoder_for_images_and_the_mlp_for_vectors():
    overcooked, coin = loi.envs.make(OVERCOOKED), loi.envs.make("jaxmarl:coin_game")
    auto = make_network(overcooked, "auto")
    assert auto.config.kind == "cnn" and auto.view_shape == (4, 5, 26)
    assert make_network(coin, "auto").config.kind == "mlp"
    gru = make_network(overcooked, {"preset": "gru", "encoder": "auto"})
    assert gru.config.encoder == "cnn" and make_network(coin, {"preset": "gru", "encoder": "auto"}).config.encoder == "mlp"
    with pytest.raises(LoiError, match="image observation"):
        make_network(coin, "cnn")
    obs, _ = overcooked.reset(jax.random.PRNGKey(0))
    params = init_params(auto, jax.random.PRNGKey(1))
    logits, value = auto.apply(params, obs["agent_0"])
    assert logits.shape == (6,) and value.shape == ()
    # The conv layer reads the image: its kernel sees 3x3 patches of all 26 planes.
    assert params["params"]["conv_0"]["kernel"].shape == (9 * 26, 16)


# ---------------------------------------------------------------- training ---
def test_self_play_on_storm_beats_random_play():
    from loi.training import TrainConfig, make_train

    config = TrainConfig(STORM, regime="sp", total_steps=60_000, num_envs=16, rollout_length=128,
                         num_generations=1)
    _, metrics = jax.jit(make_train(config))(jax.random.PRNGKey(0))
    assert metrics.interaction_sum is None and metrics.strategy_sum is None  # not measured, not zero
    reward = np.asarray(metrics.reward_per_step)[:, 0, 0]
    # The first update is played by the untrained (near-uniform) policy: random play's reward rate.
    first, last = reward[:2].mean(), reward[-4:].mean()
    assert last > first + 0.02 and last > 2 * first, (first, last)


def test_curves_leave_out_interaction_columns(tmp_path):
    from loi.training import TrainConfig, train_run

    config = TrainConfig(OVERCOOKED + "?max_steps=32", regime="sp", total_steps=2 * 8 * 32, num_envs=8,
                         rollout_length=32, num_generations=2)
    train_run(config, tmp_path / "run", seed=0)
    import pandas as pd

    curves = pd.read_parquet(tmp_path / "run" / "curves.parquet")
    assert len(curves) == 2 and (curves["episodes"] == 16).all()  # 8 envs x 32 steps = 8 episodes, both seats
    assert not {"interactions_per_episode", "strategy_agreement", "strategy_0"} & set(curves.columns)
    assert {"mean_episode_return", "mean_episode_length"} <= set(curves.columns)
    assert (curves["mean_episode_length"] == 32).all()


# ------------------------------------------------------- cross-play, LoI ---
def _overcooked_policies(env):
    from loi.evaluation.policies import Policy, baseline_policy, memoryless

    def fixed(params, obs, keys):
        return jnp.full(obs.shape[:1], params, jnp.int32)

    # Different fixed moves give co-player-dependent returns (a mover can block a partner).
    movers = [Policy(name=f"always{a}", act=memoryless(fixed), params=np.int32(a), num_actions=6)
              for a in (0, 4, 5)]
    return movers + [baseline_policy("random", env)]


def test_cross_play_table_on_overcooked_and_loi_measure(tmp_path):
    from loi.evaluation import cross_play

    env = loi.envs.make(OVERCOOKED + "?max_steps=40&reward_shaping=1.0")
    egos = _overcooked_policies(env)
    result = cross_play(env, egos, egos, episodes=3, key=jax.random.PRNGKey(0))
    assert result.seats == (0, 1)  # no payoff matrix to prove the seats symmetric: both are played
    assert result.interactions is None and result.ego_strategy is None
    assert (result.length == 40).all()
    table = result.to_table()
    assert len(table) == 4 * 4 * 2 * 3
    assert not [c for c in table.columns if c.startswith(("interactions", "ego_strategy", "coplayer_strategy"))]
    assert set(table["scenario"]) == {env.name}
    # "Stay" against "stay" never touches a pot, plate or onion: no reward at all.
    stay = table[(table["ego"] == "always4") & (table["coplayer"] == "always4")]
    assert (stay["ego_return"] == 0).all()
    path = tmp_path / "overcooked.csv"
    table.to_csv(path, index=False)
    proc = run_cli("measure", path, "--json", "--permutations", "20", "--bootstrap", "0")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert list(out["scenarios"]) == [env.name]
    row = out["scenarios"][env.name]
    assert row["episodes"] == len(table) and row["blocks"] == 4  # one block per ego
    assert row["loi_max"] == pytest.approx(np.log(4)) and np.isfinite(row["loi"])
