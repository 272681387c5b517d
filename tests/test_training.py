"""PPO training: configs, convergence on the repeated matrix games, population
pairing, fictitious co-play, exact resume, and the ``loi train`` command."""

from __future__ import annotations

import json

import jax
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loi.agents import load_checkpoint
from loi.errors import LoiError
from loi.training import TrainConfig, checkpoint_path, make_train, parse_regime, select_pool, train_run

# Small but real: 100-round repeated games, 64 envs x 64 steps per update.
FAST = dict(num_envs=64, rollout_length=64, num_generations=3)


# ---- config and regimes ------------------------------------------------------

def test_parse_regime():
    assert (parse_regime("sp").kind, parse_regime("sp").num_members) == ("sp", 1)
    assert (parse_regime("PP3").kind, parse_regime("pp3").size, parse_regime("pp3").num_members) == ("pp", 3, 3)
    assert (parse_regime("fcp5").kind, parse_regime("fcp5").size, parse_regime("fcp5").num_members) == ("fcp", 5, 1)
    assert str(parse_regime("pp12")) == "pp12"
    for bad in ("", "pp", "pp0", "sp2", "fcp", "ippo", "pp-3"):
        with pytest.raises(LoiError):
            parse_regime(bad)


@pytest.mark.parametrize("field,value", [
    ("num_envs", 0), ("num_seeds", -1), ("total_steps", 1.5), ("gamma", 1.5), ("gae_lambda", float("nan")),
    ("clip_eps", 0.0), ("learning_rate", -1e-3), ("regime", "pp0"), ("num_minibatches", 3), ("anneal_lr", "yes"),
    ("total_steps", 1000), ("scenario", ""),
])
def test_config_rejects_bad_values(field, value):
    kwargs = {"scenario": "matrix/prisoners_dilemma", field: value}
    with pytest.raises(LoiError):
        TrainConfig(**kwargs)


def test_config_round_trip_and_hash():
    config = TrainConfig("matrix/stag_hunt", regime="pp3", num_seeds=2, env_overrides={"min_steps": 10})
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.config_hash() == TrainConfig.from_dict(config.to_dict()).config_hash()
    assert config.config_hash() != TrainConfig("matrix/stag_hunt", regime="pp3", num_seeds=3).config_hash()
    with pytest.raises(LoiError, match="unknown training config keys"):
        TrainConfig.from_dict({"scenario": "matrix/stag_hunt", "lr": 1.0})
    # Steps are rounded to whole updates per generation.
    c = TrainConfig("matrix/stag_hunt", total_steps=100_000, num_envs=64, rollout_length=128, num_generations=4)
    assert c.updates_per_generation == 3 and c.num_updates * c.steps_per_update == 98_304


def test_unknown_scenario_is_rejected_before_writing(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(LoiError, match="unknown game"):
        train_run(TrainConfig("matrix/no_such_game", total_steps=10**6), out)
    assert not out.exists()


# ---- learning: repeated matrix games -----------------------------------------

def _final_mix(scenario: str, seed: int = 0, steps: int = 150_000):
    """Train SP (2 seeds) and return, per seed, the strategy mix and the agreement
    rate over the last 20% of updates (from the trainer's own metrics)."""
    config = TrainConfig(scenario, regime="sp", num_seeds=2, total_steps=steps, **FAST)
    _, metrics = jax.jit(make_train(config))(jax.random.PRNGKey(seed))
    tail = slice(-max(1, config.num_updates // 5), None)
    strategy = np.asarray(metrics.strategy_sum)[tail].sum(0)[:, 0]  # [S, k]
    count = np.asarray(metrics.interaction_steps)[tail].sum(0)[:, 0]  # [S]
    agreement = np.asarray(metrics.agreement_sum)[tail].sum(0)[:, 0] / count
    return strategy / count[:, None], agreement


def test_sp_prisoners_dilemma_converges_to_mutual_defection():
    mix, agreement = _final_mix("matrix/prisoners_dilemma")
    assert (mix[:, 1] > 0.9).all(), mix  # strategy 1 = defect (A = [[3,0],[5,1]])
    assert (agreement > 0.85).all()  # mostly (D, D)


# pure_coordination is a slow test (a compile of its own, ~20 s of CPU): stag_hunt, whose risk-dominant
# equilibrium makes coordinating the harder of the two, checks the same outcome in the default suite.
@pytest.mark.parametrize("game", [pytest.param("pure_coordination", marks=pytest.mark.slow), "stag_hunt"])
def test_sp_coordination_games_reach_a_coordinated_outcome(game):
    _, agreement = _final_mix(f"matrix/{game}")
    assert (agreement > 0.9).all(), agreement  # both seats play the same strategy
    # Uniform random play agrees half the time; the learners are far above that.


# ---- population play: pairing --------------------------------------------------

def test_population_partners_are_uniform_and_seats_random(tmp_path):
    config = _tiny("pp3")
    result = train_run(config, tmp_path, seed=11)
    curves = result.curves
    assert len(curves) == config.num_updates * 2 * 3
    partner_columns = ["partner_0", "partner_1", "partner_2"]
    counts = curves.groupby(["seed", "member"])[partner_columns].sum().to_numpy()  # [S*M, P]
    episodes = curves.groupby(["seed", "member"])["episodes"].sum().to_numpy()
    assert np.array_equal(counts.sum(1), episodes)  # every finished episode drew a new partner
    assert counts.min() > 20
    for row in counts:
        assert stats.chisquare(row).pvalue > 1e-3, row
    # Pooled over members and seeds, still uniform; itself included (no self-avoidance).
    assert stats.chisquare(counts.sum(0)).pvalue > 1e-3
    own = sum(counts[i, i % 3] for i in range(len(counts)))
    assert stats.binomtest(int(own), int(counts.sum()), 1 / 3).pvalue > 1e-3
    # Seats: the member is the row player in about half of the environments.
    from loi.training.snapshot import load_state

    trainer = make_train(config)
    state, _ = load_state(tmp_path / "train_state.msgpack", jax.eval_shape(trainer.init, jax.random.PRNGKey(0)))
    seats = np.asarray(state.seat).ravel()
    assert seats.size == 2 * 3 * 16 and set(np.unique(seats)) == {0, 1}
    assert stats.binomtest(int(seats.sum()), seats.size, 0.5).pvalue > 1e-3


# ---- resume, determinism, checkpoints --------------------------------------------

def _tiny(regime: str = "pp3", **kw) -> TrainConfig:
    return TrainConfig("matrix/prisoners_dilemma", regime=regime, num_seeds=2, total_steps=4 * 16 * 32,
                       num_envs=16, rollout_length=32, num_generations=4, num_minibatches=2,
                       env_overrides={"min_steps": 20}, **kw)


def _files(out):
    return {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.msgpack"))}


def test_resume_equals_uninterrupted_bit_for_bit(tmp_path):
    config = _tiny()
    full = train_run(config, tmp_path / "full", seed=7)
    part = train_run(config, tmp_path / "part", seed=7, stop_after=2)
    assert part.env_steps == full.env_steps // 2
    assert sorted(p.name for p in (tmp_path / "part" / "seed_1" / "member_2").iterdir()) == [
        "gen_000.msgpack", "gen_001.msgpack"]
    resumed = train_run(config, tmp_path / "part", seed=7)
    assert resumed.resumed_from == 2
    # Every checkpoint and the final snapshot are byte-identical.
    assert _files(tmp_path / "full") == _files(tmp_path / "part")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "full" / "curves.parquet"),
                                  pd.read_parquet(tmp_path / "part" / "curves.parquet"))
    assert resumed.members == [
        {**m, "checkpoints": [c.replace("/full/", "/part/") for c in m["checkpoints"]]} for m in full.members
    ]
    # A finished run is not trained again.
    again = train_run(config, tmp_path / "full", seed=7)
    assert again.resumed_from == 4 and again.seconds == 0.0


def test_resume_refuses_a_different_run(tmp_path):
    train_run(_tiny(), tmp_path / "run", seed=1, stop_after=1)
    with pytest.raises(LoiError, match="different training run"):
        train_run(_tiny(), tmp_path / "run", seed=2)
    with pytest.raises(LoiError, match="different training run"):
        train_run(_tiny(ent_coef=0.02), tmp_path / "run", seed=1)


def test_whole_run_function_is_pure_and_matches_the_driver(tmp_path):
    config = _tiny("sp")
    trainer = make_train(config)
    a, metrics = jax.jit(trainer)(jax.random.PRNGKey(3))
    b, _ = jax.jit(trainer)(jax.random.PRNGKey(3))
    leaf = lambda s: np.asarray(jax.tree_util.tree_leaves(s.params)[0])  # noqa: E731
    assert np.array_equal(leaf(a), leaf(b))  # same key, same result
    assert not np.array_equal(leaf(a)[0], leaf(a)[1])  # the two seeds differ
    assert np.asarray(metrics.episodes).shape == (config.num_updates, 2, 1)
    # The checkpointing driver (generation by generation) ends at the same parameters.
    train_run(config, tmp_path, seed=3)
    final = load_checkpoint(checkpoint_path(tmp_path, 1, 0, config.num_generations - 1))
    np.testing.assert_allclose(leaf(a)[1, 0], jax.tree_util.tree_leaves(final.params)[0], rtol=1e-5, atol=1e-6)


def test_checkpoints_carry_metadata_and_curves_are_complete(tmp_path):
    config = _tiny("pp3")
    result = train_run(config, tmp_path, seed=5)
    ckpt = load_checkpoint(checkpoint_path(tmp_path, 1, 0, 2))
    assert ckpt.metadata == {
        "scenario": "matrix/prisoners_dilemma", "regime": "pp3", "member": 0, "seed": 1, "base_seed": 5,
        "generation": 2, "num_generations": 4, "step": 3 * 16 * 32, "config_hash": config.config_hash(),
    }
    assert ckpt.network.num_actions == 2
    curves = pd.read_parquet(tmp_path / "curves.parquet")
    assert len(curves) == config.num_updates * 2 * 3  # updates x seeds x members
    assert set(curves.columns) >= {"seed", "member", "generation", "update", "env_steps", "mean_episode_return",
                                   "mean_episode_length", "interactions_per_episode", "strategy_0", "strategy_1",
                                   "mean_return_per_step", "partner_0", "partner_1", "partner_2"}
    finished = curves[curves["episodes"] > 0]
    # 20-round episodes; in the matrix game every round is an interaction.
    assert np.allclose(finished["mean_episode_length"], 20)
    assert np.allclose(finished["interactions_per_episode"], 20)
    assert np.allclose(finished["strategy_0"] + finished["strategy_1"], 1)
    # The per-step return is a payoff average: inside the payoff range.
    assert curves["mean_return_per_step"].between(0, 5).all()
    assert [(m["seed"], m["member"]) for m in result.members] == [(s, m) for s in (0, 1) for m in (0, 1, 2)]
    assert all(len(m["checkpoints"]) == 4 for m in result.members)


# ---- fictitious co-play ---------------------------------------------------------

def test_fcp_trains_against_a_pool_from_several_stages(tmp_path):
    sp = _tiny("sp")
    train_run(sp, tmp_path / "sp", seed=0)
    picked = select_pool(tmp_path / "sp", 3)
    generations = sorted(load_checkpoint(p).metadata["generation"] for p in picked)
    assert generations[0] == 0 and generations[-1] == 3  # earliest and latest stages
    fcp = _tiny("fcp3")
    with pytest.raises(LoiError, match="--pool"):
        train_run(fcp, tmp_path / "fcp")
    result = train_run(fcp, tmp_path / "fcp", seed=0, pool_dir=tmp_path / "sp")
    record = json.loads((tmp_path / "fcp" / "run.json").read_text())
    assert record["pool"] == [str(p) for p in picked]
    curves = result.curves
    counts = curves[["partner_0", "partner_1", "partner_2"]].to_numpy().sum(0)
    assert counts.sum() > 100 and stats.chisquare(counts).pvalue > 1e-3
    with pytest.raises(LoiError, match="has 8"):
        select_pool(tmp_path / "sp", 9)


# ---- CLI ---------------------------------------------------------------------------

def test_cli_train_json_and_errors(cli, tmp_path):
    args = ["train", "matrix/stag_hunt", "--regime", "pp2", "--seeds", "2", "--steps", "2048", "--generations", "2",
            "--num-envs", "16", "--rollout-length", "32", "--env", "min_steps=20", "--out", str(tmp_path / "run")]
    done = cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"env_steps", "seconds", "compile_seconds", "members"}
    # 2 generations x 2 updates x (16 envs x 32 steps), for each of 2 members x 2 seeds
    assert report["env_steps"] == 2 * 2 * (16 * 32) * 2 * 2
    assert [(m["seed"], m["member"]) for m in report["members"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for m in report["members"]:
        assert 0 <= m["mean_return_per_step"] <= 4
        assert m["checkpoints"][-1].endswith(f"seed_{m['seed']}/member_{m['member']}/gen_001.msgpack")
    for bad, message in [
        (["--regime", "pq"], "unknown regime"),
        (["--regime", "fcp2"], "--pool"),
        (["--steps", "10"], "total_steps"),
        (["--env", "min_steps"], "KEY=VALUE"),
    ]:
        base = ["train", "matrix/stag_hunt", "--out", str(tmp_path / "bad"), *bad]
        proc = cli(*base)
        assert proc.returncode == 2, proc.stderr
        assert f"loi: error:" in proc.stderr and message in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("train", "nowhere/small", "--out", str(tmp_path / "bad2"))
    assert proc.returncode == 2 and "loi: error:" in proc.stderr
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad2").exists()
