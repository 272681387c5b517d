"""Bots as policies like any other: held-out Bobs in the tournaments of every regime
(sp, ppN, fcpN egos), members of an fcpN partner pool, co-players of the LoI protocol,
and ``[heldout] bots`` in a study config. Matrix prisoner's dilemma [[3, 0], [5, 1]],
100 rounds: against a bot that always cooperates (resource 1) every round pays 3 or 5,
against one that always defects 0 or 1, whatever the ego plays."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

import loi.envs
from loi.agents import NetworkConfig, init_params, make_network, save_checkpoint
from loi.errors import LoiError
from loi.evaluation import protocol_table
from loi.pipeline.config import study_config
from loi.pipeline.evaluate import tournament_table
from loi.tables import fixed_bob_scores
from loi.training import TrainConfig, train_run
from loi.training.rundir import RunDir

SCENARIO = "matrix/prisoners_dilemma"
COOPERATOR, DEFECTOR = "bots:specialist", "bots:specialist?target=2"


def _fake_run(root: Path, regime: str, members: int, seeds: int = 1) -> Path:
    """A run directory of untrained checkpoints (what the tournaments read; no training needed)."""
    env = loi.envs.make(SCENARIO)
    network = make_network(env, NetworkConfig(kind="mlp"))
    run = RunDir(root / regime)
    for seed in range(seeds):
        for member in range(members):
            params = init_params(network, jax.random.PRNGKey(100 * seed + member))
            metadata = {"scenario": SCENARIO, "regime": regime, "member": member, "seed": seed, "base_seed": 0,
                        "generation": 0, "num_generations": 1, "step": 0, "config_hash": regime}
            path = run.checkpoint(seed, member, 0)
            path.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(path, params, metadata, network.describe())
    return run.path


@pytest.mark.slow  # compiles a cross-play / PPO program: ~15-30 s
def test_bots_are_held_out_bobs_in_every_regimes_tournament(tmp_path: Path) -> None:
    regimes = {"sp": _fake_run(tmp_path, "sp", 1, seeds=2), "pp2": _fake_run(tmp_path, "pp2", 2),
               "fcp2": _fake_run(tmp_path, "fcp2", 1)}
    table = tournament_table(SCENARIO, regimes, None, env={}, bob_stages=1, episodes=2, seed=0,
                             bots=(COOPERATOR, DEFECTOR))
    assert set(table["coplayer"]) == {COOPERATOR, DEFECTOR}
    assert table.groupby("regime")["ego"].nunique().to_dict() == {"sp": 2, "pp2": 2, "fcp2": 1}
    against = table.groupby("coplayer")["ego_return"]
    assert against.min()[COOPERATOR] >= 300 and against.max()[COOPERATOR] <= 500
    assert against.min()[DEFECTOR] >= 0 and against.max()[DEFECTOR] <= 100
    scores = fixed_bob_scores(table)  # averaged over both bots first
    assert len(scores) == 5 * 2 and ((scores["score"] >= 150) & (scores["score"] <= 300)).all()


@pytest.mark.slow  # compiles a cross-play / PPO program: ~15-30 s
def test_bots_join_the_loi_protocols_co_players_as_blocks_of_their_own(tmp_path: Path) -> None:
    from loi.evaluation import bot_policy, protocol_policies

    env = loi.envs.make(SCENARIO)
    egos, coplayers = protocol_policies([_fake_run(tmp_path, "sp", 1, seeds=2)], ego_checkpoints=1)
    coplayers += [bot_policy(COOPERATOR, env), bot_policy(DEFECTOR, env)]
    table = protocol_table(env, egos, coplayers, episodes=2, key=jax.random.PRNGKey(0))
    blocks = table.groupby("coplayer")["coplayer_seed"].first()
    assert blocks[COOPERATOR] != blocks[DEFECTOR]
    # Each ego meets the other seed's checkpoint and both bots; never its own seed.
    assert table.groupby("ego")["coplayer"].nunique().tolist() == [3, 3]


@pytest.mark.slow  # compiles a cross-play / PPO program: ~15-30 s
def test_fcp_learner_trains_against_a_pool_of_bots(tmp_path: Path) -> None:
    """fcp1 whose pool is one always-cooperating bot: every round pays the learner 3 or 5."""
    config = TrainConfig(scenario=SCENARIO, regime="fcp1", total_steps=2 * 16 * 25, num_generations=1, num_envs=16,
                         rollout_length=25, pool_bots=(COOPERATOR,), env_overrides={"min_steps": 25})
    result = train_run(config, tmp_path / "fcp1")
    assert result.env_steps == 2 * 16 * 25
    rewards = result.curves["mean_return_per_step"].to_numpy()
    assert np.all((rewards >= 3) & (rewards <= 5))
    with pytest.raises(LoiError, match="pool of 2, but 3 pool_bots"):
        TrainConfig(scenario=SCENARIO, regime="fcp2", pool_bots=(COOPERATOR, DEFECTOR, "bots:tit_for_tat"))
    with pytest.raises(LoiError, match="regime sp has no pool"):
        TrainConfig(scenario=SCENARIO, regime="sp", pool_bots=(COOPERATOR,))


def test_heldout_bots_in_a_study_config() -> None:
    doc = {"games": ["prisoners_dilemma"], "layouts": ["matrix"], "heldout": {"seeds": 0, "stages": 1, "bots": [DEFECTOR]},
           "training": {"steps": 2000, "generations": 1, "sp_seeds": 2, "num_envs": 8, "rollout_length": 25},
           "evaluation": {"ego_checkpoints": 1}}
    config = study_config(doc)
    assert config.heldout.bots == (DEFECTOR,) and config.heldout.seeds == 0
    assert "bots" in config.to_dict()["heldout"]
    without = study_config({**doc, "heldout": {"seeds": 1, "stages": 1}})
    assert "bots" not in without.to_dict()["heldout"]  # the hashes of earlier studies are unchanged
    with pytest.raises(LoiError, match="heldout.bots for matrix/prisoners_dilemma: unknown bot 'nope'"):
        study_config({**doc, "heldout": {"stages": 1, "bots": ["bots:nope"]}})
    with pytest.raises(LoiError, match="heldout.seeds must be an integer >= 1"):
        study_config({**doc, "heldout": {"seeds": 0, "stages": 1}})


def _fixed_checkpoint(run: RunDir, seed: int, action: int) -> None:
    """A checkpoint that plays ``action`` on every round (its actor's output is a fixed bias)."""
    env = loi.envs.make(SCENARIO)
    network = make_network(env, NetworkConfig(kind="mlp", hidden=(8,)))
    params = jax.tree_util.tree_map(np.asarray, init_params(network, jax.random.PRNGKey(seed)))
    params["params"]["actor_out"]["kernel"] = np.zeros_like(params["params"]["actor_out"]["kernel"])
    params["params"]["actor_out"]["bias"] = np.where(np.arange(2) == action, 30.0, -30.0).astype(np.float32)
    metadata = {"scenario": SCENARIO, "regime": "sp", "member": 0, "seed": seed, "base_seed": 0, "generation": 0,
                "num_generations": 1, "step": 0, "config_hash": "fixed"}
    path = run.checkpoint(seed, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, params, metadata, network.describe())


@pytest.mark.slow  # compiles a PPO program with a mixed pool: ~15-30 s
def test_fcp_pool_of_checkpoints_and_a_bot_plays_the_drawn_partner(tmp_path: Path) -> None:
    """fcp3 whose pool is two checkpoints of an SP run, one always cooperating (seed 0) and one
    always defecting (seed 1), then the cooperating bot: one environment, 25-round episodes, one
    episode per update, so each update's mean reward per round is 3..5 when its partner cooperates
    and 0..1 when it defects; the partner of update u is the one drawn at the end of update u - 1
    (the curves' ``partner_j`` column), index 0, 1 the checkpoints in the pool's order and 2 the bot."""
    sp = RunDir(tmp_path / "sp")
    _fixed_checkpoint(sp, 0, action=0)
    _fixed_checkpoint(sp, 1, action=1)
    config = TrainConfig(scenario=SCENARIO, regime="fcp3", total_steps=30 * 25, num_generations=1, num_envs=1,
                         rollout_length=25, num_minibatches=1, pool_bots=(COOPERATOR,),
                         env_overrides={"min_steps": 25})
    result = train_run(config, tmp_path / "fcp3", pool_dir=sp.path)
    pool = RunDir(tmp_path / "fcp3").read_metadata()["pool"]
    assert [Path(p).parent.parent.name for p in pool] == ["seed_0", "seed_1"]
    curves = result.curves.sort_values("update")
    drawn = curves[["partner_0", "partner_1", "partner_2"]].to_numpy()
    assert (drawn.sum(axis=1) == 1).all()  # one episode ends per update, one partner is drawn
    partner = drawn.argmax(axis=1)[:-1]  # the partner of the next update
    reward = curves["mean_return_per_step"].to_numpy()[1:]
    cooperates = np.isin(partner, [0, 2])
    assert set(partner) == {0, 1, 2}
    assert ((reward >= 3) & (reward <= 5))[cooperates].all()
    assert ((reward >= 0) & (reward <= 1))[~cooperates].all()
