"""The paper's histogram protocol: reference values from the authors' data, hand-computed tables."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loi.metrics import level_of_influence, loi_point_estimate
from loi.metrics.histogram import count_table, equal_width_bins, miller_madow_statistic, paper_statistic

# /work/shared/paper-data/README.md, 3 decimals (S, M, L, O).
REFERENCE = {
    ("chicken", "5M_2"): (1.291, 1.364, 1.438, 1.227),
    ("prisoners_dilemma", "5M_2"): (1.377, 1.385, 1.180, 1.100),
    ("pure_coordination", "5M"): (1.117, 1.071, 0.975, 0.976),
}


def cross_play_rows(path):
    """rewards[0, ego, seed, ckpt, ep, 0] as rows: block = (ego, seed), co-player = ckpt."""
    ego_returns = np.load(path)["rewards"][0, ..., 0]
    ego, seed, checkpoint, _ = np.indices(ego_returns.shape)
    blocks = list(zip(ego.ravel().tolist(), seed.ravel().tolist()))
    return ego_returns.ravel(), checkpoint.ravel(), blocks


@pytest.mark.parametrize(("game", "run"), list(REFERENCE))
def test_reproduces_reference_values(paper_data, game, run):
    for layout, expected in zip("SMLO", REFERENCE[(game, run)]):
        returns, coplayer, block = cross_play_rows(paper_data / "cross_play" / f"{game}_{layout}_{run}.npz")
        got = loi_point_estimate(returns, coplayer, block, estimator="paper")
        assert round(got, 3) == pytest.approx(expected, abs=1e-9), (game, layout, got)


def test_chicken_large_drops_returns_above_100(paper_data):
    returns, coplayer, block = cross_play_rows(paper_data / "cross_play" / "chicken_L_5M_2.npz")
    result = level_of_influence(returns, coplayer, block, estimator="paper", permutations=0, bootstrap=0)
    assert result.n_episodes == len(returns) - 42
    assert result.n_blocks == 20
    assert result.block_labels[0] == (0, 0) and result.block_labels[-1] == (3, 4)
    assert np.isnan(result.pvalue) and np.isnan(result.confidence_interval.low)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-20, 120, allow_nan=False), min_size=1, max_size=60), st.integers(1, 60))
def test_binning_matches_numpy_histogram(values, bins):
    values = np.asarray(values)
    codes, inside = equal_width_bins(values, bins, (0.0, 100.0))
    expected, _ = np.histogram(values, bins=bins, range=(0.0, 100.0))
    assert np.array_equal(np.bincount(codes[inside], minlength=bins), expected)


def test_paper_statistic_hand_computed():
    # Co-player A: 2 episodes in bin 0; B: 1 in bin 0, 1 in bin 1. Pooled p = (3/4, 1/4).
    # KL(A) = log(1 / 0.75); KL(B) = 0.5 log(0.5/0.75) + 0.5 log(0.5/0.25).
    table = np.array([[2, 0], [1, 1]])
    kl_a = np.log(4 / 3)
    kl_b = 0.5 * np.log(2 / 3) + 0.5 * np.log(2)
    assert paper_statistic(table) == pytest.approx((kl_a + kl_b) / 2)
    returns = np.array([1.0, 1.5, 1.2, 3.0])
    assert loi_point_estimate(returns, ["A", "A", "B", "B"], estimator="paper") == pytest.approx((kl_a + kl_b) / 2)


def test_pooled_histogram_weights_coplayers_by_their_in_range_counts():
    # A: 4 episodes in bin 0 and 2 above the range (dropped); B: 2 in bin 0, 4 in bin 1 (2 bins
    # of width 50). Pooled p = (6/10, 4/10), not the equal-weight mixture (0.5+1/3)/2.
    returns = np.array([10, 10, 10, 10, 150, 150, 10, 10, 60, 60, 60, 60], dtype=float)
    coplayer = ["A"] * 6 + ["B"] * 6
    kl_a = np.log(1 / 0.6)
    kl_b = (1 / 3) * np.log((1 / 3) / 0.6) + (2 / 3) * np.log((2 / 3) / 0.4)
    got = loi_point_estimate(returns, coplayer, estimator="paper", bins=2)
    assert got == pytest.approx((kl_a + kl_b) / 2)


def test_miller_madow_hand_computed():
    table = np.array([[2, 0], [1, 1]])
    # Plug-in MI of the joint (weights 1/2, 1/2) equals the paper value here; occupied bins:
    # K_A = 1, K_B = 2, K = 2 -> correction ((0 + 1) - 1) / 8 = 0.
    assert miller_madow_statistic(table) == pytest.approx(paper_statistic(table))
    table = np.array([[3, 0, 0], [0, 2, 1]])
    plugin = np.log(2)  # the bins identify the co-player exactly
    correction = ((0 + 1) - 2) / (2 * 6)
    assert miller_madow_statistic(table) == pytest.approx(plugin - correction)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 6), min_size=5, max_size=5), min_size=2, max_size=6))
def test_plugin_is_non_negative_and_bounded(rows):
    table = np.array(rows)
    table[:, 0] += 1  # every co-player has an episode
    value = paper_statistic(table)
    assert value >= -1e-12
    # Mean KL to the pooled histogram <= log(N / n_c) averaged over co-players.
    n = table.sum(1)
    assert value <= np.mean(np.log(n.sum() / n)) + 1e-12


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=8, max_size=40), st.integers(0, 2**16))
def test_paper_invariant_to_relabelling_and_row_order(values, seed):
    rng = np.random.default_rng(seed)
    returns = np.asarray(values)
    labels = np.arange(len(returns)) % 3
    base = loi_point_estimate(returns, labels, estimator="paper")
    order = rng.permutation(len(returns))
    names = np.array(["p", "q", "r"])[rng.permutation(3)]
    assert loi_point_estimate(returns[order], names[labels][order], estimator="paper") == pytest.approx(base, abs=1e-12)
    mm = loi_point_estimate(returns, labels, estimator="miller-madow")
    assert loi_point_estimate(returns[order], names[labels][order], estimator="miller-madow") == pytest.approx(mm, abs=1e-12)


def test_count_table():
    assert np.array_equal(count_table(np.array([0, 1, 1]), np.array([2, 0, 0]), 2, 3), [[0, 0, 1], [2, 0, 0]])
