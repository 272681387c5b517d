"""The authors' training logs (loi.tables.authors_logs), on logs built by hand in their format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loi.errors import LoiError
from loi.tables.authors_logs import ITERATIONS_PER_GENERATION, generation_returns, parse_log_name, return_change


def _write_log(path: Path, learner: np.ndarray) -> None:
    """A log of ``learner`` [seeds, iterations] returns; agent 1 gets noise that must be ignored."""
    path.parent.mkdir(parents=True, exist_ok=True)
    other = np.random.default_rng(0).normal(500, 100, size=learner.shape)
    np.savez(path, timesteps=np.zeros(learner.shape), policy_reward_mean=np.stack([learner, other], axis=1),
             policy_reward_min=np.zeros(learner.shape + (2,)), policy_reward_max=np.zeros(learner.shape + (2,)))


def test_names():
    assert parse_log_name("pd5s.npz") == ("prisoners_dilemma", 5, "S")
    assert parse_log_name("pc3o.npz") == ("pure_coordination", 3, "O")
    assert parse_log_name("c2s.npz") == ("chicken", 2, "S")
    assert parse_log_name("test.npz") is None and parse_log_name("xx5s.npz") is None


def test_generation_means_and_the_change_between_two_generations(tmp_path):
    per_iteration = ITERATIONS_PER_GENERATION
    generations = 4
    # Seed s: return = 10 * generation + s, constant within a generation; one missing report (NaN).
    learner = np.repeat(10.0 * np.arange(generations), per_iteration)[None, :] + np.arange(3)[:, None]
    learner[0, 5] = np.nan
    _write_log(tmp_path / "MARL" / "PP_logs" / "pd3m.npz", learner)
    _write_log(tmp_path / "MARL" / "SP_logs" / "pd5m.npz", learner[:, : per_iteration * 2])  # too short: skipped
    means = generation_returns(tmp_path / "MARL" / "PP_logs" / "pd3m.npz")
    np.testing.assert_allclose(means, 10.0 * np.arange(generations)[None, :] + np.arange(3)[:, None])
    table = return_change(tmp_path / "MARL", 1, 3)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["game"], row["layout"], row["regime"], row["seeds"]) == ("prisoners_dilemma", "M", "PP3", 3)
    assert row["return_early"] == pytest.approx(11.0) and row["return_late"] == pytest.approx(31.0)
    assert row["change"] == pytest.approx(20.0)  # the same change for every seed: no spread, no interval
    assert np.isnan(row["change_ci_low"])
    # Seeds that change differently get Student's t interval over seeds.
    learner[2, 3 * per_iteration:] += 6.0
    _write_log(tmp_path / "MARL" / "PP_logs" / "pd3m.npz", learner)
    row = return_change(tmp_path / "MARL", 1, 3).iloc[0]
    changes = np.array([20.0, 20.0, 26.0])
    half = 4.302652729911275 * changes.std(ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert row["change"] == pytest.approx(changes.mean())
    assert (row["change_ci_low"], row["change_ci_high"]) == pytest.approx((changes.mean() - half, changes.mean() + half))


def test_bad_logs(tmp_path):
    _write_log(tmp_path / "PP_logs" / "pd5s.npz", np.zeros((2, ITERATIONS_PER_GENERATION + 1)))
    with pytest.raises(LoiError, match="not a whole number of 125-iteration generations"):
        generation_returns(tmp_path / "PP_logs" / "pd5s.npz")
    with pytest.raises(LoiError, match="holds no training log"):
        return_change(tmp_path / "nothing", 24, 49)
