"""measure_table: grouping, blocks, per-scenario seeds, determinism."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from loi.errors import LoiError
from loi.metrics import level_of_influence
from loi.metrics.table import measure_table, scenario_seed


def synthetic_table(scenarios=("a/S", "b/M"), egos=2, seeds=2, coplayers=3, episodes=8, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for si, scenario in enumerate(scenarios):
        for e in range(egos):
            for s in range(seeds):
                for c in range(coplayers):
                    mu = 40 + 10 * c * (si + 1)  # co-player matters, more in later scenarios
                    for ep in range(episodes):
                        rows.append((scenario, f"ego{e}", f"seed{s}/gen{c}", ep, rng.normal(mu, 5), s))
    return pd.DataFrame(rows, columns=["scenario", "ego", "coplayer", "episode", "ego_return", "coplayer_seed"])


OPTS = dict(permutations=50, bootstrap=50, seed=7)


def same(r1, r2) -> bool:
    return (r1.statistic == r2.statistic and r1.null_mean == r2.null_mean and r1.pvalue == r2.pvalue
            and r1.confidence_interval == r2.confidence_interval)


@pytest.mark.parametrize("estimator", ["paper", "knn"])
def test_a_scenario_does_not_depend_on_the_others(estimator):
    both = measure_table(synthetic_table(), estimator=estimator, **OPTS)
    alone = measure_table(synthetic_table()[lambda d: d.scenario == "b/M"], estimator=estimator, **OPTS)
    assert list(both) == ["a/S", "b/M"]
    assert same(both["b/M"], alone["b/M"])


def test_row_order_does_not_matter_and_seed_does():
    table = synthetic_table()
    first = measure_table(table, **OPTS)
    shuffled = measure_table(table.sample(frac=1.0, random_state=3), **OPTS)
    assert all(same(first[k], shuffled[k]) for k in first)
    other = measure_table(table, **{**OPTS, "seed": 8})
    assert other["a/S"].statistic == first["a/S"].statistic
    assert other["a/S"].null_mean != first["a/S"].null_mean


def test_repeated_episode_numbers_are_ordered_by_return():
    # two evaluation seeds reuse episode numbers: the canonical order must still be total
    table = synthetic_table(episodes=6)
    twice = pd.concat([table.assign(eval_seed=0), table.assign(ego_return=table.ego_return + 1.0, eval_seed=1)],
                      ignore_index=True)
    # Without the column that tells them apart, the second seed's rows repeat the first's keys.
    with pytest.raises(LoiError, match=r"duplicate episode \(scenario='a/S', .*episode=0\) at rows 0 and"):
        measure_table(twice.drop(columns="eval_seed"), estimator="knn", **OPTS)
    first = measure_table(twice, estimator="knn", **OPTS)
    shuffled = measure_table(twice.sample(frac=1.0, random_state=5), estimator="knn", **OPTS)
    assert all(same(first[k], shuffled[k]) for k in first)


def test_blocks_are_ego_by_coplayer_seed():
    table = synthetic_table(scenarios=("x",), egos=3, seeds=2)
    res = measure_table(table, estimator="paper", permutations=0, bootstrap=0)["x"]
    assert res.n_blocks == 6 and res.n_episodes == len(table)
    direct = level_of_influence(table.ego_return.to_numpy(), table.coplayer.to_numpy(),
                                list(zip(table.ego, table.coplayer_seed)), estimator="paper",
                                permutations=0, bootstrap=0)
    assert res.statistic == pytest.approx(direct.statistic, rel=1e-12)
    no_seed = measure_table(table.drop(columns="coplayer_seed"), estimator="paper", permutations=0, bootstrap=0)["x"]
    assert no_seed.n_blocks == 3


def test_scenario_seed_is_stable_across_processes():
    code = "from loi.metrics.table import scenario_seed; print(scenario_seed(3, 'prisoners_dilemma/M'))"
    # a fresh interpreter with its own string-hash seed derives the same scenario seed
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout.strip()
    assert other == str(scenario_seed(3, "prisoners_dilemma/M"))
    assert len({scenario_seed(3, s) for s in ("a", "b", "c")} | {scenario_seed(4, "a")}) == 4
    with pytest.raises(LoiError, match="seed must be >= 0"):
        scenario_seed(-1, "a")


def test_errors_name_the_problem():
    with pytest.raises(LoiError, match="unknown estimator 'kde'.*paper"):
        measure_table(synthetic_table(), estimator="kde")
    with pytest.raises(LoiError, match="missing required column"):
        measure_table(synthetic_table().drop(columns="episode"))
    with pytest.raises(LoiError, match="^permutations must be a non-negative integer"):
        measure_table(synthetic_table(), permutations=-1)
    with pytest.raises(LoiError, match="^confidence must be strictly between 0 and 1"):
        measure_table(synthetic_table(), confidence=1.0)
    one = synthetic_table(scenarios=("solo",), coplayers=1)
    with pytest.raises(LoiError, match="^scenario 'solo': "):
        measure_table(one, **OPTS)


def test_miller_madow_auto_bins_with_a_value_range():
    # bins="auto" with equal-width bins used to fail with a TypeError ('auto' + 1).
    table = synthetic_table(scenarios=("x",), episodes=16)
    res = measure_table(table, estimator="miller-madow", permutations=0, bootstrap=0,
                        value_range=(float(table.ego_return.min()), float(table.ego_return.max())))["x"]
    # sqrt rule on 16 episodes per co-player: 4 equal-width bins over the whole range, nothing dropped
    direct = measure_table(table, estimator="miller-madow", permutations=0, bootstrap=0, bins=4,
                           value_range=(float(table.ego_return.min()), float(table.ego_return.max())))["x"]
    assert res.statistic == direct.statistic and res.n_episodes == len(table)
