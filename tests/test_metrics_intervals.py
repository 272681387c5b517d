"""LoI confidence intervals: cluster (blocks) bootstrap-t, basic and percentile episode bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loi.errors import LoiError
from loi.metrics import CI_METHODS, level_of_influence
from loi.metrics.estimators import MIN_BLOCKS_FOR_CLUSTER_BOOTSTRAP, block_bootstrap_interval
from loi.metrics.table import measure_table
from test_metrics_knn import true_gaussian_mi
from test_metrics_paper import REFERENCE, cross_play_rows


def gaussian_blocks(seed, blocks, coplayers, episodes, shift):
    rng = np.random.default_rng(seed)
    block, coplayer, _ = np.indices((blocks, coplayers, episodes)).reshape(3, -1)
    return rng.normal(50.0 + shift * coplayer, 1.0), coplayer, block  # inside the paper range


@pytest.mark.parametrize(("game", "run"), list(REFERENCE))
def test_default_interval_contains_the_paper_estimate_on_the_authors_data(paper_data, game, run):
    for layout in "SMLO":
        returns, coplayer, block = cross_play_rows(paper_data / "cross_play" / f"{game}_{layout}_{run}.npz")
        result = level_of_influence(returns, coplayer, block, estimator="paper", permutations=0, bootstrap=1000)
        assert result.ci_method == "blocks"  # 20 ego x seed blocks
        low, high = result.confidence_interval.low, result.confidence_interval.high
        assert low < result.statistic < high, (game, layout, result.statistic, low, high)
        # Not a degenerate interval: it spans roughly +-2 standard errors of the block mean.
        standard_error = stats.sem(result.block_statistics)
        assert 2.5 * standard_error < high - low < 6 * standard_error


def test_percentile_interval_of_the_paper_estimator_is_shifted_by_duplicates(paper_data):
    # The problem the default fixes: resampled episodes sharpen the histograms, so every
    # replicate sits above the estimate (chicken S: 1.291 vs [1.49, 1.56]).
    returns, coplayer, block = cross_play_rows(paper_data / "cross_play" / "chicken_S_5M_2.npz")
    result = level_of_influence(returns, coplayer, block, estimator="paper", permutations=0, bootstrap=300,
                                ci_method="percentile")
    assert result.statistic < result.confidence_interval.low


@pytest.mark.parametrize("estimator", ["paper", "miller-madow", "knn"])
def test_basic_interval_is_the_percentile_interval_reflected_about_the_estimate(estimator):
    returns, coplayer, block = gaussian_blocks(0, 3, 4, 8, 0.7)
    common = dict(estimator=estimator, permutations=0, bootstrap=200, seed=5)
    percentile = level_of_influence(returns, coplayer, block, ci_method="percentile", **common)
    basic = level_of_influence(returns, coplayer, block, ci_method="basic", **common)
    theta = basic.statistic
    assert basic.confidence_interval.low == pytest.approx(2 * theta - percentile.confidence_interval.high, abs=1e-12)
    assert basic.confidence_interval.high == pytest.approx(2 * theta - percentile.confidence_interval.low, abs=1e-12)
    assert (basic.ci_method, percentile.ci_method) == ("basic", "percentile")


@pytest.mark.parametrize("estimator", ["paper", "knn"])
def test_centered_interval_is_the_percentile_interval_recentred_on_the_estimate(estimator):
    # One block of 9 co-players x 6 episodes: same spread as the percentile interval, but it
    # brackets the estimate.
    returns, coplayer, _ = gaussian_blocks(6, 1, 9, 6, 3.0)
    common = dict(estimator=estimator, permutations=0, bootstrap=300, seed=2)
    percentile = level_of_influence(returns, coplayer, ci_method="percentile", **common)
    centered = level_of_influence(returns, coplayer, **common)
    assert centered.ci_method == "centered"
    (p_low, p_high), (low, high) = percentile.confidence_interval, centered.confidence_interval
    # Re-centring: theta - (q_hi - mean*), theta - (q_lo - mean*), the percentile interval's width.
    if estimator == "paper":
        assert high - low == pytest.approx(p_high - p_low, abs=1e-12)
    else:
        # knn: the upper end is the re-centred one; the lower end comes from the boundary-rescaled
        # estimates (estimators._interval), below it by about (1 - H / M) x the estimate.
        assert high - low >= p_high - p_low - 1e-12
    assert low < centered.statistic < high


def test_knn_episode_intervals_cover_the_true_mi():
    # One block of 8 co-players x 20 episodes, R | c ~ N(0.5 c, 1): true MI by integration.
    means = np.arange(8) * 0.5
    truth = true_gaussian_mi(means, 1.0)
    covered = {"basic": 0, "centered": 0}
    for replicate in range(30):
        rng = np.random.default_rng(100 + replicate)
        labels = np.repeat(np.arange(8), 20)
        returns = rng.normal(means[labels], 1.0)
        for method in ("basic", "centered"):
            result = level_of_influence(returns, labels, estimator="knn", permutations=0, bootstrap=200,
                                        seed=replicate, ci_method=method)
            covered[method] += result.confidence_interval.low <= truth <= result.confidence_interval.high
    assert covered["basic"] >= 24 and covered["centered"] >= 24  # >= 80% of 30 (measured: 28, 30)


def test_blocks_interval_covers_zero_for_independent_returns():
    # knn is unbiased here (true MI 0), so the cluster interval must cover 0 about 95% of the time.
    covered = 0
    for replicate in range(40):
        returns, coplayer, block = gaussian_blocks(300 + replicate, 20, 9, 6, 0.0)
        result = level_of_influence(returns, coplayer, block, estimator="knn", permutations=0, bootstrap=500,
                                    seed=replicate)
        assert result.ci_method == "blocks"
        covered += result.confidence_interval.low <= 0.0 <= result.confidence_interval.high
    assert covered >= 34  # >= 85% of 40


def test_block_bootstrap_t_matches_the_t_interval_for_normal_block_statistics():
    # For normal per-block values the bootstrap-t interval approximates the exact t interval.
    values = np.random.default_rng(0).normal(1.0, 0.2, size=40)
    got = block_bootstrap_interval(values, 20000, 0.95, np.random.default_rng(1))
    exact = stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
    assert got.low == pytest.approx(exact.low, abs=0.01)
    assert got.high == pytest.approx(exact.high, abs=0.01)


def test_identical_blocks_give_a_point_interval():
    returns, coplayer, _ = gaussian_blocks(1, 1, 3, 5, 1.0)
    repeated = np.tile(returns, 12)
    block = np.repeat(np.arange(12), len(returns))
    result = level_of_influence(repeated, np.tile(coplayer, 12), block, estimator="paper", permutations=0,
                                bootstrap=100)
    assert result.confidence_interval.low == result.confidence_interval.high == pytest.approx(result.statistic)


def test_auto_switches_to_blocks_at_the_threshold_and_records_the_method():
    for blocks, expected in ((MIN_BLOCKS_FOR_CLUSTER_BOOTSTRAP - 1, "centered"), (MIN_BLOCKS_FOR_CLUSTER_BOOTSTRAP, "blocks")):
        returns, coplayer, block = gaussian_blocks(2, blocks, 3, 4, 1.0)
        result = level_of_influence(returns, coplayer, block, estimator="paper", permutations=0, bootstrap=50)
        assert result.ci_method == expected
    assert set(CI_METHODS) == {"auto", "blocks", "centered", "basic", "percentile"}


def test_blocks_interval_and_corrected_interval_are_consistent():
    returns, coplayer, block = gaussian_blocks(3, 12, 4, 6, 1.0)
    result = level_of_influence(returns, coplayer, block, estimator="miller-madow", permutations=100, bootstrap=200)
    assert result.ci_method == "blocks"
    assert result.corrected_confidence_interval.low == pytest.approx(result.confidence_interval.low - result.null_mean)
    assert result.corrected_confidence_interval.high == pytest.approx(result.confidence_interval.high - result.null_mean)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ci_method": "bca"}, "unknown ci_method 'bca'; valid methods: auto, blocks, centered, basic, percentile"),
        ({"ci_method": "blocks"}, "ci_method='blocks' needs at least 5 blocks, got 1"),
        ({"ci_method": "blocks", "block": [0, 1, 0, 1]}, "ci_method='blocks' needs at least 5 blocks, got 2"),
    ],
)
def test_bad_ci_method_is_a_loi_error(kwargs, message):
    block = kwargs.pop("block", None)
    with pytest.raises(LoiError) as error:
        level_of_influence([1.0, 2.0, 3.0, 4.0], ["a", "a", "b", "b"], block, estimator="paper", permutations=0,
                           bootstrap=10, **kwargs)
    assert message in str(error.value)


def test_measure_table_passes_ci_method_through():
    returns, coplayer, block = gaussian_blocks(4, 12, 3, 5, 1.0)
    table = pd.DataFrame({"scenario": "s", "ego": block, "coplayer": coplayer,
                          "episode": np.tile(np.arange(5), 36), "ego_return": returns})
    default = measure_table(table, estimator="paper", permutations=0, bootstrap=50)["s"]
    chosen = measure_table(table, estimator="paper", permutations=0, bootstrap=50, ci_method="percentile")["s"]
    assert (default.ci_method, chosen.ci_method) == ("blocks", "percentile")


def test_knn_episode_resamples_are_not_shifted_under_independence():
    # With-replacement resamples clump the sample and shift the knn estimate by ~0.1 nats at
    # any n; half-samples without replacement do not (true MI 0, 9 co-players x 100 episodes).
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(9), 100)
    returns = rng.normal(0.0, 1.0, size=labels.size)
    result = level_of_influence(returns, labels, estimator="knn", permutations=0, bootstrap=200,
                                ci_method="percentile")
    low, high = result.confidence_interval.low, result.confidence_interval.high
    assert abs((low + high) / 2 - result.statistic) < 0.3 * (high - low) / 2
    assert low < 0.0 < high


def test_single_block_at_perfect_separation_gets_fanos_lower_end():
    # 5 co-players 10 apart: the sample and every half-sample are separated, so the bootstrap
    # interval alone is [ln 5, ln 5] while the true MI is below it. Expected lower end by hand:
    # Clopper-Pearson upper limit for 0 errors in 250, p = 1 - 0.025^(1/250), then Fano.
    coplayer = np.repeat(np.arange(5), 50)
    returns = np.random.default_rng(0).normal(10.0 * coplayer, 1.0)
    r = level_of_influence(returns, coplayer, permutations=0, bootstrap=100, seed=0)
    p = 1 - 0.025 ** (1 / 250)
    fano = np.log(5) + p * np.log(p) + (1 - p) * np.log(1 - p) - p * np.log(4)
    assert r.interval_capped and r.ci_method == "centered"
    assert r.confidence_interval.low == pytest.approx(fano, abs=1e-9)
    assert r.confidence_interval.high == pytest.approx(np.log(5), abs=1e-12)
