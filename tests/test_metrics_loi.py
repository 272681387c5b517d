"""level_of_influence: null, p-values, bootstrap, blocks, seeds and input validation."""

from __future__ import annotations

import numpy as np
import pytest

from loi.errors import LoiError
from loi.metrics import (
    DEFAULT_ESTIMATOR,
    ESTIMATORS,
    ConfidenceInterval,
    LoIResult,
    level_of_influence,
    loi_point_estimate,
)


def gaussian_scenario(seed, per_coplayer=6, coplayers=9, blocks=20, separation=0.0):
    """Returns on [0, 100]: N(50 + separation * c, 10^2), the paper's block layout."""
    rng = np.random.default_rng(seed)
    block, coplayer, _ = np.indices((blocks, coplayers, per_coplayer)).reshape(3, -1)
    returns = np.clip(rng.normal(50 + separation * coplayer, 10.0), 0, 100)
    return returns, coplayer, block


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_independent_returns_corrected_value_near_zero(estimator):
    returns, coplayer, block = gaussian_scenario(0)
    result = level_of_influence(returns, coplayer, block, estimator=estimator, permutations=200, bootstrap=0)
    assert isinstance(result, LoIResult)
    assert abs(result.corrected) < 0.05
    assert result.pvalue > 0.05
    if estimator == "paper":
        # The plug-in bias the paper's numbers carry: ~1 nat of MI with none present.
        assert 0.9 < result.null_mean < 1.4


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_pvalue_roughly_uniform_under_independence(estimator):
    pvalues = []
    for seed in range(40):
        returns, coplayer, block = gaussian_scenario(seed, per_coplayer=6, coplayers=4, blocks=2)
        result = level_of_influence(returns, coplayer, block, estimator=estimator, permutations=99, bootstrap=0, seed=seed)
        pvalues.append(result.pvalue)
    pvalues = np.array(pvalues)
    assert (pvalues < 0.05).sum() <= 6
    assert 0.3 < pvalues.mean() < 0.7


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_clear_dependence_is_detected(estimator):
    returns, coplayer, block = gaussian_scenario(1, separation=4.0)
    result = level_of_influence(returns, coplayer, block, estimator=estimator, permutations=200, bootstrap=200)
    assert result.pvalue < 0.01
    assert result.pvalue == pytest.approx(1 / 201)
    # The paper's plug-in is near saturation (about log 6) with 6 episodes in 50 bins, so its
    # corrected value is small even for strong dependence; the others recover most of the MI.
    assert result.corrected > (0.02 if estimator == "paper" else 0.2)
    assert result.confidence_interval.low < result.confidence_interval.high
    assert result.corrected_confidence_interval.low == pytest.approx(result.confidence_interval.low - result.null_mean)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_same_seed_same_result_different_seed_different_draws(estimator):
    returns, coplayer, block = gaussian_scenario(2, blocks=3, separation=1.0)
    a = level_of_influence(returns, coplayer, block, estimator=estimator, permutations=100, bootstrap=100, seed=7)
    b = level_of_influence(returns, coplayer, block, estimator=estimator, permutations=100, bootstrap=100, seed=7)
    c = level_of_influence(returns, coplayer, block, estimator=estimator, permutations=100, bootstrap=100, seed=8)
    assert a.statistic == b.statistic == c.statistic
    assert (a.null_mean, a.confidence_interval, a.pvalue) == (b.null_mean, b.confidence_interval, b.pvalue)
    assert a.null_mean != c.null_mean and a.confidence_interval != c.confidence_interval


def test_permutations_do_not_change_bootstrap_draws():
    returns, coplayer, block = gaussian_scenario(3, blocks=2)
    a = level_of_influence(returns, coplayer, block, permutations=0, bootstrap=50)
    b = level_of_influence(returns, coplayer, block, permutations=50, bootstrap=50)
    assert a.confidence_interval == b.confidence_interval
    assert np.isnan(a.null_mean) and np.isnan(a.pvalue) and np.isnan(a.corrected)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_blocks_are_averaged_with_equal_weights_in_sorted_label_order(estimator):
    returns, coplayer, _ = gaussian_scenario(4, blocks=3, separation=2.0)
    names = np.repeat(["c", "a", "b"], len(returns) // 3)
    result = level_of_influence(returns, coplayer, names, estimator=estimator, permutations=0, bootstrap=0)
    separate = {
        name: loi_point_estimate(returns[names == name], coplayer[names == name], estimator=estimator)
        for name in "abc"
    }
    assert result.block_labels == ("a", "b", "c")
    assert result.block_statistics == pytest.approx([separate["a"], separate["b"], separate["c"]])
    assert result.statistic == pytest.approx(np.mean(list(separate.values())))
    assert result.n_blocks == 3 and result.n_episodes == len(returns)


def test_tuple_blocks_and_string_coplayers():
    returns, coplayer, block = gaussian_scenario(5, blocks=4, separation=1.0)
    tuples = [(b // 2, b % 2) for b in block]
    strings = [f"ckpt{c}" for c in coplayer]
    assert loi_point_estimate(returns, strings, tuples) == pytest.approx(loi_point_estimate(returns, coplayer, block))


def test_categorical_coplayer_without_episodes_is_an_error():
    import pandas as pd

    coplayer = pd.Categorical(["a", "a", "b", "b"], categories=["a", "b", "c"])
    with pytest.raises(LoiError, match="coplayer 'c' has no episodes"):
        level_of_influence([1.0, 2.0, 3.0, 4.0], coplayer, permutations=0, bootstrap=0)
    used = pd.Series(pd.Categorical(["a", "a", "b", "b"]))
    assert loi_point_estimate([1.0, 2.0, 3.0, 4.0], used, estimator="paper") > 0


def test_default_estimator_is_one_of_the_estimators():
    assert DEFAULT_ESTIMATOR in ESTIMATORS
    assert ConfidenceInterval(0.0, 1.0).high == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"returns": [1.0, np.nan, 2.0, 3.0]}, "NaN/inf"),
        ({"returns": [1.0, np.inf, 2.0, 3.0]}, "NaN/inf"),
        ({"returns": [[1.0, 2.0], [3.0, 4.0]]}, "one-dimensional"),
        ({"returns": []}, "empty"),
        ({"coplayer": ["a", "b", "a"]}, "3 labels but returns has 4"),
        ({"coplayer": ["a", "a", "a", "a"]}, "at least 2"),
        ({"coplayer": ["a", None, "b", "b"]}, "missing labels"),
        ({"block": [0, 0, 1, 1]}, "in block 0"),
        ({"estimator": "kde"}, "valid estimators: paper, miller-madow, knn"),
        ({"estimator": "paper", "bins": 0}, "bins must be"),
        ({"estimator": "paper", "value_range": (5, 1)}, "low < high"),
        ({"estimator": "paper", "value_range": "x"}, "value_range must be a pair"),
        ({"estimator": "paper", "bandwidth": 2}, "unknown option(s) bandwidth"),
        ({"estimator": "knn", "k": 0}, "k must be"),
        ({"estimator": "paper", "returns": [101.0, 102.0, 103.0, 104.0]}, "no returns inside value_range"),
        ({"estimator": "paper", "returns": [101.0, 102.0, 3.0, 4.0]}, "co-player 'a' has no returns inside"),
        ({"estimator": "knn", "coplayer": ["a", "b", "b", "b"]}, "co-player 'a' has 1 episode"),
        ({"permutations": -1}, "permutations must be"),
        ({"bootstrap": 1.5}, "bootstrap must be"),
        ({"confidence": 1.0}, "confidence must be"),
        ({"seed": "x"}, "seed must be"),
    ],
)
def test_bad_input_raises_loi_error_naming_the_problem(kwargs, message):
    arguments = {"returns": [1.0, 2.0, 3.0, 4.0], "coplayer": ["a", "a", "b", "b"], "block": None}
    arguments.update(kwargs)
    returns, coplayer, block = arguments.pop("returns"), arguments.pop("coplayer"), arguments.pop("block")
    with pytest.raises(LoiError) as error:
        level_of_influence(returns, coplayer, block, permutations=arguments.pop("permutations", 10), **arguments)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("seed", range(5))
def test_quantile_bins_are_min_ranks_scaled_to_the_bins(seed: int) -> None:
    """Equal-frequency bins from scipy's "min" ranks (tied values share a bin), here computed with
    a sort and a search so that measuring processes need not import scipy.stats."""
    from scipy.stats import rankdata

    from loi.metrics.histogram import quantile_bins

    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(50, 10, size=997), 0)  # many ties
    bins = int(rng.integers(2, 60))
    expected = ((rankdata(values, method="min") - 1) * bins) // len(values)
    np.testing.assert_array_equal(quantile_bins(values, bins), expected.astype(np.int64))
    assert quantile_bins(values, bins).max() < bins
