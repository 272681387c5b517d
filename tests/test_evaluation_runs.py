"""Evaluation from training run directories: the paper's LoI protocol,
fixed-Bob tournaments and the ``loi evaluate`` command."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
import scipy.stats

import loi.envs
from loi.agents import NetworkConfig, init_params, make_network, save_checkpoint
from loi.evaluation import (Policy, baseline_policy, fixed_bob_tournament, held_out_bobs, loi_protocol,
                            policies_env, protocol_policies, protocol_table, run_policies, stage_generations, tournament_egos,
                            tournament_summary)
from loi.errors import LoiError
from loi.tables import read_table
from loi.training import checkpoint_path

SCENARIO = "matrix/prisoners_dilemma"
OVERRIDES = {"min_steps": 3, "end_interval": 1, "end_probability": 0.5}


@functools.lru_cache(maxsize=None)
def _network_and_init():
    network = make_network(loi.envs.make(SCENARIO, **OVERRIDES), NetworkConfig(hidden=(8,)))
    return network, jax.jit(lambda key: init_params(network, key))


def _fake_run(out: Path, regime: str, seeds: int, members: int, generations: int, salt: int) -> Path:
    """A run directory laid out like ``loi train`` writes it, with random-init policies."""
    network, init = _network_and_init()
    for s in range(seeds):
        for m in range(members):
            for g in range(generations):
                path = checkpoint_path(out, s, m, g)
                path.parent.mkdir(parents=True, exist_ok=True)
                metadata = {"scenario": SCENARIO, "regime": regime, "seed": s, "member": m, "generation": g,
                            "num_generations": generations, "step": 100 * (g + 1)}
                save_checkpoint(path, init(jax.random.PRNGKey(salt * 1000 + s * 100 + m * 10 + g)), metadata,
                                network)
    (out / "run.json").write_text(json.dumps({"config": {"scenario": SCENARIO, "regime": regime,
                                                         "env_overrides": OVERRIDES}}))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        "sp": _fake_run(root / "sp", "sp", seeds=3, members=1, generations=5, salt=1),
        "pp2": _fake_run(root / "pp2", "pp2", seeds=1, members=2, generations=3, salt=2),
        "bobs": _fake_run(root / "bobs", "sp", seeds=2, members=1, generations=5, salt=3),
    }


def test_stage_generations_follow_the_paper():
    assert stage_generations(25) == (0, 2, 4, 6, 8, 12, 16, 20, 24)
    assert stage_generations(50) == (0, 4, 8, 12, 16, 25, 33, 41, 49)  # same fractions of training
    assert stage_generations(5) == (0, 1, 2, 3, 4)  # fewer generations than stages: all of them
    picks = stage_generations(10)
    assert len(picks) == 9 and picks[0] == 0 and picks[-1] == 9 and list(picks) == sorted(set(picks))
    with pytest.raises(LoiError):
        stage_generations(0)


def test_run_policies_and_environment(runs):
    finals = run_policies(runs["pp2"], [-1])
    assert [p.info["member"] for p in finals] == [0, 1] and all(p.info["generation"] == 2 for p in finals)
    env = policies_env(finals)
    assert env.name == SCENARIO and (env.min_steps, env.end_probability) == (3, 0.5)  # the run's overrides
    with pytest.raises(LoiError, match="no generation 7"):
        run_policies(runs["pp2"], [7])


def test_loi_protocol_pairs_egos_with_other_seeds(runs):
    egos, coplayers = protocol_policies([runs["sp"]], ego_checkpoints=2)
    assert [(p.info["seed"], p.info["generation"]) for p in egos] == [(s, g) for s in range(3) for g in (3, 4)]
    assert len(coplayers) == 15  # 3 seeds x all 5 generations (fewer than the paper's 9 stages)
    env = policies_env(egos)
    result = loi_protocol(env, [runs["sp"]], episodes=3, ego_checkpoints=2, permutations=50, bootstrap=0,
                          estimator="paper", value_range=(0.0, 20.0), bins=10)
    table = result.table
    # Each ego meets the 2 x 5 co-player checkpoints of the other two seeds, 3 episodes each.
    assert len(table) == 6 * 10 * 3
    ego_seed = table.ego.str.extract(r"seed_(\d+)")[0]
    cop_seed = table.coplayer.str.extract(r"seed_(\d+)")[0]
    assert (ego_seed != cop_seed).all()
    assert set(table.coplayer_checkpoint) == set(range(5)) and set(table.ego_checkpoint) == {3, 4}
    # Blocks are (ego checkpoint, co-player seed): 6 x 2.
    assert result.loi[SCENARIO].n_blocks == 12
    assert np.isfinite(result.loi[SCENARIO].statistic)
    # Block ids name the co-player's seed across the whole table, not per ego seed.
    assert (table.coplayer_seed.astype(str) == cop_seed).all()

    # The paper's protocol evaluated one ego seed: its rows are exactly the full protocol's rows of that seed.
    egos_1, coplayers_1 = protocol_policies([runs["sp"]], ego_checkpoints=2, ego_seeds=1)
    assert [p.info["seed"] for p in egos_1] == [0, 0] and len(coplayers_1) == 15
    one = protocol_table(env, egos_1, coplayers_1, episodes=3, key=jax.random.PRNGKey(0))
    pd.testing.assert_frame_equal(one, table[ego_seed == "0"].reset_index(drop=True))
    with pytest.raises(LoiError, match="ego_seeds must be a positive integer"):
        protocol_policies([runs["sp"]], ego_seeds=0)


def test_fixed_bob_tournament_closed_form():
    T = 7
    env = loi.envs.make(SCENARIO, min_steps=T)
    c, d = baseline_policy("always1", env), baseline_policy("always2", env)
    egos = [Policy("sp_ego", c.act, c.params, {"regime": "sp"}), Policy("pp_ego", d.act, d.params, {"regime": "pp5"})]
    bobs = [Policy("bob_c", c.act, c.params), Policy("bob_d", d.act, d.params)]
    table = fixed_bob_tournament(env, egos, bobs, episodes=2, key=jax.random.PRNGKey(0))
    assert sorted(table.regime.unique()) == ["pp5", "sp"]
    summary = tournament_summary(table)[SCENARIO]
    # Prisoner's dilemma A = [[3, 0], [5, 1]]: always-C scores (3T + 0) / 2, always-D (5T + T) / 2.
    assert summary.means == {"pp5": 3.0 * T, "sp": 1.5 * T}
    assert summary.pp_benefit == {"pp5": (3.0 * T - 1.5 * T) / 2}
    assert summary.anova is None  # every group is constant
    with pytest.raises(LoiError, match="held out"):
        fixed_bob_tournament(env, egos, egos, episodes=1, key=jax.random.PRNGKey(0))


def test_fixed_bob_tournament_from_runs(runs):
    egos = tournament_egos([runs["sp"], runs["pp2"]])
    assert [(p.info["regime"], p.info["generation"]) for p in egos] == [("sp", 4)] * 3 + [("pp2", 2)] * 2
    bobs = held_out_bobs([runs["bobs"]], stages=2)
    assert [(p.info["seed"], p.info["generation"]) for p in bobs] == [(0, 2), (0, 4), (1, 2), (1, 4)]
    env = policies_env(egos + bobs)
    table = fixed_bob_tournament(env, egos, bobs, episodes=4, key=jax.random.PRNGKey(1))
    summary = tournament_summary(table)[SCENARIO]
    # Scores: the ego's return averaged over the Bobs, per (ego, episode).
    scores = table.groupby(["regime", "ego", "episode"]).ego_return.mean()
    groups = {r: scores.loc[r].to_numpy() for r in ("pp2", "sp")}
    assert summary.counts == {"pp2": 2 * 4, "sp": 3 * 4}
    for regime, values in groups.items():
        assert summary.means[regime] == pytest.approx(values.mean())
    expected = scipy.stats.f_oneway(groups["pp2"], groups["sp"])
    assert summary.anova.statistic == pytest.approx(expected.statistic)
    assert summary.anova.pvalue == pytest.approx(expected.pvalue)
    assert summary.pp_benefit["pp2"] == pytest.approx((groups["pp2"].mean() - groups["sp"].mean()) / 2)


def test_cli_evaluate_then_measure(runs, tmp_path, cli):
    out = tmp_path / "table.parquet"
    done = cli("evaluate", "--egos", str(runs["sp"]), "--coplayers", str(runs["bobs"]),
               "--generations", "0,-1", "--episodes", "3", "--seed", "3", "--out", out, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["egos"] == 6 and summary["coplayers"] == 4 and summary["rows"] == 6 * 4 * 3
    table = read_table(out)
    assert len(table) == 72 and set(table.ego_checkpoint) == {0, 4} and set(table.coplayer_checkpoint) == {0, 4}
    assert summary["env_steps"] == int(table.episode_length.sum())
    assert (table.episode_length >= 3).all()  # the training run's min_steps override was applied
    measured = cli("measure", out, "--json", "--permutations", "20", "--bootstrap", "0")
    assert measured.returncode == 0, measured.stderr
    result = json.loads(measured.stdout)["scenarios"][SCENARIO]
    assert result["episodes"] == 72 and np.isfinite(result["loi"])


def test_cli_evaluate_bad_input(tmp_path, cli):
    out = tmp_path / "t.parquet"
    bad = cli("evaluate", "--egos", "baseline:nope", "--coplayers", "baseline:random",
              "--scenario", "matrix/chicken", "--out", out)
    assert bad.returncode == 2 and "loi: error: unknown baseline" in bad.stderr and "Traceback" not in bad.stderr
    no_env = cli("evaluate", "--egos", "baseline:random", "--coplayers", "baseline:random", "--out", out)
    assert no_env.returncode == 2 and "--scenario" in no_env.stderr
    missing = cli("evaluate", "--egos", str(tmp_path / "nothing"), "--coplayers", "baseline:random",
                  "--scenario", "matrix/chicken", "--out", out)
    assert missing.returncode == 2 and "not a run directory" in missing.stderr
    suffix = cli("evaluate", "--egos", "baseline:random", "--coplayers", "baseline:random",
                 "--scenario", "matrix/chicken", "--out", tmp_path / "t.txt")
    assert suffix.returncode == 2 and ".parquet or .csv" in suffix.stderr
    assert not out.exists()
