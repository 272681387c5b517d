"""Same seed, same numbers: short fixed-seed training runs against values recorded from the trainer
before its speed work (issue 32), so that a change made for speed is shown to be speed only.

Each case trains a few updates on the grid game (episodes short enough to end inside a rollout,
so every metric is exercised) and is summarised by every per-update metric and, per parameter
leaf, its sum, its sum of squares and a position-weighted sum (which a permutation of the entries
changes). The values in ``tests/data/ppo_same_seed_reference.json`` were written by

    python tests/test_ppo_same_seed.py --record

at the revision before the speed work. The tolerance admits float reassociation (XLA may fuse
or order a sum differently once the program changes shape) and nothing else: a different random
draw, a missed reset or a changed loss moves these numbers by far more.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from loi.training import TrainConfig, make_train

REFERENCE = Path(__file__).parent / "data" / "ppo_same_seed_reference.json"
SCENARIO = "prisoners_dilemma/small"
# Episodes of 12-20 steps (min_steps 12, then a 0.5 chance every 4 steps): several end in each rollout.
ENV = {"min_steps": 12, "end_interval": 4, "end_probability": 0.5}
SIZES = dict(num_seeds=1, total_steps=2 * 2 * 4 * 16, num_generations=2, num_envs=4, rollout_length=16,
             update_epochs=2, num_minibatches=2, env_overrides=ENV)
CASES = {
    "sp-mlp": dict(regime="sp", network="mlp"),
    "pp3-mlp": dict(regime="pp3", network="mlp"),
    "sp-gru": dict(regime="sp", network="gru"),
    "pp3-gru": dict(regime="pp3", network="gru"),
    "pp3-generational-gru": dict(regime="pp3", network="gru", pp_schedule="generational"),
}
RTOL, ATOL = 2e-4, 2e-5


def case_config(name: str) -> TrainConfig:
    return TrainConfig(SCENARIO, **CASES[name], **SIZES)


def summary(name: str) -> dict[str, list[float]]:
    """The case's per-update metrics (flattened) and its final parameters' leaf statistics."""
    trainer = make_train(case_config(name))
    state, metrics = jax.jit(trainer)(jax.random.PRNGKey(7))
    out = {}
    for field, value in metrics._asdict().items():
        if value is not None:
            out[f"metrics/{field}"] = np.asarray(value, np.float64).ravel().tolist()
    leaves = jax.tree_util.tree_leaves_with_path(state.params)
    for path, leaf in leaves:
        x = np.asarray(leaf, np.float64).ravel()
        weights = np.arange(1, x.size + 1) / x.size
        out[f"params{jax.tree_util.keystr(path)}"] = [x.sum(), (x * x).sum(), (x * weights).sum()]
    return out


# Three cases in the default suite cover the MLP and GRU paths, self-play, population play and
# the frozen partner of the generational schedule; the other two (a compile each) are slow tests.
SLOW_CASES = ("pp3-mlp", "sp-gru")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CASES else n for n in CASES])
def test_fixed_seed_training_is_unchanged(name):
    reference = json.loads(REFERENCE.read_text())[name]
    got = summary(name)
    assert sorted(got) == sorted(reference)
    for key, expected in reference.items():
        np.testing.assert_allclose(got[key], expected, rtol=RTOL, atol=ATOL, err_msg=f"{name} {key}")


def _record() -> None:
    REFERENCE.write_text(json.dumps({name: summary(name) for name in CASES}, indent=0) + "\n")
    print(f"wrote {REFERENCE}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_ppo_same_seed.py --record")
    _record()
