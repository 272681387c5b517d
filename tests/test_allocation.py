"""Allocation rules and the heuristic-vs-uniform comparison."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from loi.allocation import (
    DEFAULT_MENU,
    allocation_cost,
    compare_allocations,
    fit_benefit_curve,
    greedy,
    normalised_scores,
    one_sigma,
    proportional,
)
from loi.errors import LoiError
from loi.tables import AUTHORS_MENU

# The paper data README: LoI (S, M, L, O) and the reference one-sigma allocations.
README_LOI = {
    "chicken": ([1.291, 1.364, 1.438, 1.227], ["PP3", "PP3", "PP5", "SP5"]),
    "prisoners_dilemma": ([1.377, 1.385, 1.180, 1.100], ["PP3", "PP5", "PP3", "SP5"]),
    "pure_coordination": ([1.117, 1.071, 0.975, 0.976], ["PP5", "PP3", "SP5", "PP3"]),
}
RANK = {"sp": 0, "pp3": 1, "pp5": 2}


@pytest.mark.parametrize("game", sorted(README_LOI))
def test_one_sigma_reproduces_the_reference_allocations(game):
    values, expected = README_LOI[game]
    assert one_sigma(dict(zip("SMLO", values)), AUTHORS_MENU) == dict(zip("SMLO", expected))


def test_one_sigma_uses_population_std():
    # prisoners_dilemma M = 1.385 lies above mean + std only with ddof=0.
    x = np.array(README_LOI["prisoners_dilemma"][0])
    assert x.mean() + x.std(ddof=0) < 1.385 < x.mean() + x.std(ddof=1)


def test_one_sigma_small_cases():
    assert one_sigma({"a": 0.3}) == {"a": "pp3"}
    assert one_sigma({"a": 0.3, "b": 1.0}) == {"a": "pp3", "b": "pp3"}  # both exactly one std away
    # one very high outlier: pp5, and the lowest pp3 is demoted to pay for it
    assert one_sigma({"a": 1.0, "b": 1.1, "c": 1.2, "d": 1.3, "e": 9.0}) == {
        "a": "sp", "b": "pp3", "c": "pp3", "d": "pp3", "e": "pp5"}
    # one very low outlier: sp, and the highest pp3 is promoted
    assert one_sigma({"a": -9.0, "b": 1.1, "c": 1.2, "d": 1.3}) == {"a": "sp", "b": "pp3", "c": "pp3", "d": "pp5"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=12))
def test_one_sigma_properties(values):
    loi = {f"s{i}": v for i, v in enumerate(values)}
    alloc = one_sigma(loi)
    counts = {r: sum(a == r for a in alloc.values()) for r in RANK}
    assert allocation_cost(alloc, DEFAULT_MENU) <= 3 * len(values)  # within the uniform budget
    assert counts["sp"] == counts["pp5"] or counts["pp3"] == 0
    for a, b in itertools.permutations(loi, 2):  # a higher LoI never gets a cheaper regime
        if loi[a] < loi[b]:
            assert RANK[alloc[a]] <= RANK[alloc[b]]


def test_one_sigma_rejects_bad_values():
    with pytest.raises(LoiError, match="empty"):
        one_sigma({})
    with pytest.raises(LoiError, match="'b' is not finite"):
        one_sigma({"a": 1.0, "b": float("nan")})


# ---------------------------------------------------------------- proportional

def test_proportional_by_hand():
    # targets 3, 3, 6 of a budget of 12 -> pp3, pp3, pp5 (cost 11, nothing else fits a target)
    assert proportional({"a": 1, "b": 1, "c": 2}, 12) == {"a": "pp3", "b": "pp3", "c": "pp5"}
    # targets 1.5, 1.5, 6, 3 of 12 -> floors sp, sp, pp5, pp3 = 10; 2 left: a (higher-LoI tie: name) steps up
    assert proportional({"a": 0.5, "b": 0.5, "c": 2, "d": 1}, 12) == {"a": "pp3", "b": "sp", "c": "pp5", "d": "pp3"}
    # all zero (or negative, clipped) -> equal shares
    assert proportional({"a": 0.0, "b": -0.1}, 6) == {"a": "pp3", "b": "pp3"}
    # the cheapest allocation when the budget only just covers it
    assert proportional({"a": 5.0, "b": 0.1}, 2) == {"a": "sp", "b": "sp"}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=8), st.floats(0, 3))
def test_proportional_stays_within_budget(values, extra):
    loi = {f"s{i}": v for i, v in enumerate(values)}
    budget = len(values) * (1 + extra * 2)
    alloc = proportional(loi, budget)
    assert allocation_cost(alloc, DEFAULT_MENU) <= budget + 1e-9
    assert set(alloc) == set(loi)


@pytest.mark.parametrize("call, message", [
    (lambda: proportional({"a": 1, "b": 2}, 1.5), "smaller than the cheapest allocation"),
    (lambda: proportional({"a": 1}, 5, {}), "menu is empty"),
    (lambda: proportional({"a": 1}, 5, {"SP": -1, "pp3": 3}), "invalid cost"),
    (lambda: proportional({"a": 1}, float("inf")), "finite"),
])
def test_allocator_validation(call, message):
    with pytest.raises(LoiError, match=message):
        call()


# ---------------------------------------------------------------- greedy

def test_fit_benefit_curve_recovers_lines():
    loi = np.tile([0.5, 1.0, 1.5, 2.0], 3)
    regime = np.repeat(["sp", "pp3", "pp5"], 4)
    score = np.where(regime == "sp", 1.0, np.where(regime == "pp3", 0.9 + 0.2 * loi, 0.7 + 0.4 * loi))
    curve = fit_benefit_curve(loi, regime, score)
    assert curve.intercept["pp5"] == pytest.approx(0.7) and curve.slope["pp5"] == pytest.approx(0.4)
    assert curve.intercept["sp"] == pytest.approx(1.0) and curve.slope["sp"] == pytest.approx(0.0, abs=1e-12)
    assert curve.predict("pp3", 2.0) == pytest.approx(1.3)
    with pytest.raises(LoiError, match="no data for regime 'PP7'"):
        curve.predict("PP7", 1.0)


def _brute_force_best(loi, budget, menu, curve):
    names = sorted(loi)
    best, best_value = None, -np.inf
    for choice in itertools.product(menu, repeat=len(names)):
        if sum(menu[r] for r in choice) <= budget + 1e-9:
            value = sum(curve.predict(r, loi[n]) for n, r in zip(names, choice))
            if value > best_value + 1e-12:
                best, best_value = dict(zip(names, choice)), value
    return best, best_value


def test_greedy_upgrades_where_the_curve_pays_most():
    loi = np.tile([0.5, 1.0, 1.5, 2.0], 3)
    regime = np.repeat(["sp", "pp3", "pp5"], 4)
    score = np.where(regime == "sp", 1.0, np.where(regime == "pp3", 0.9 + 0.2 * loi, 0.7 + 0.4 * loi))
    curve = fit_benefit_curve(loi, regime, score)
    scenarios = {"low": 0.2, "mid": 1.0, "high": 2.0}
    # budget of the cheapest allocation: nothing to upgrade
    assert greedy(scenarios, 3, DEFAULT_MENU, curve) == {"low": "sp", "mid": "sp", "high": "sp"}
    # gains over sp at LoI 2: pp3 +0.3 (0.15 per unit), pp5 +0.5 (0.125 per unit); at LoI 1: pp3 +0.1
    assert greedy(scenarios, 5, DEFAULT_MENU, curve) == {"low": "sp", "mid": "sp", "high": "pp3"}
    # unlimited budget: every scenario gets its best predicted regime
    rich = greedy(scenarios, 100, DEFAULT_MENU, curve)
    for name, value in scenarios.items():
        assert rich[name] == max(DEFAULT_MENU, key=lambda r: curve.predict(r, value))
    # on this instance greedy reaches the brute-force optimum for every budget
    for budget in range(3, 16):
        alloc = greedy(scenarios, budget, DEFAULT_MENU, curve)
        assert allocation_cost(alloc, DEFAULT_MENU) <= budget
        _, best = _brute_force_best(scenarios, budget, DEFAULT_MENU, curve)
        assert sum(curve.predict(r, scenarios[n]) for n, r in alloc.items()) == pytest.approx(best)


def test_greedy_needs_a_curve_for_every_menu_regime():
    curve = fit_benefit_curve([0.0, 1.0], ["sp", "sp"], [1.0, 1.0])
    with pytest.raises(LoiError, match="no data for regime"):
        greedy({"a": 1.0}, 10, DEFAULT_MENU, curve)


# ---------------------------------------------------------------- comparison

def _scores() -> pd.DataFrame:
    rows = []
    # scenario x: sp mean 10; pp3 scores 11, 12, 13; pp5 15, 16, 17, 30
    for regime, values in {"sp": [8, 10, 12], "pp3": [11, 12, 13], "pp5": [15, 16, 17, 30]}.items():
        rows += [("x", regime, v) for v in values]
    # scenario y: sp mean 20; pp3 18, 22; sp is also the heuristic choice
    for regime, values in {"sp": [19, 20, 21], "pp3": [18, 22]}.items():
        rows += [("y", regime, v) for v in values]
    return pd.DataFrame(rows, columns=["scenario", "regime", "score"])


def test_normalised_scores_divide_by_sp_mean():
    norm = normalised_scores(_scores())
    assert norm.loc[norm.scenario == "x", "score"].tolist() == pytest.approx([0.8, 1.0, 1.2, 1.1, 1.2, 1.3, 1.5, 1.6, 1.7, 3.0])
    assert norm.loc[(norm.scenario == "y") & (norm.regime == "pp3"), "score"].tolist() == pytest.approx([0.9, 1.1])


def test_compare_all_evaluations_by_hand():
    heuristic = np.array([1.5, 1.6, 1.7, 3.0, 0.95, 1.0, 1.05])
    uniform = np.array([1.1, 1.2, 1.3, 0.9, 1.1])
    comp = compare_allocations(_scores(), {"x": "pp5", "y": "sp"}, resamples=500)
    assert comp.protocol == "all"
    assert (comp.n_heuristic, comp.n_uniform) == (7, 5)
    assert comp.heuristic_mean == pytest.approx(heuristic.mean())
    assert comp.uniform_mean == pytest.approx(uniform.mean())
    assert comp.pvalue == pytest.approx(sps.ttest_ind(heuristic, uniform, equal_var=False, alternative="greater").pvalue)
    assert not comp.test.equal_var
    assert comp.difference.statistic == pytest.approx(heuristic.mean() - uniform.mean())


def test_compare_top_k_is_the_papers_protocol():
    # top 2 per scenario and regime: heuristic x {3.0, 1.7}, y {1.05, 1.0}; uniform x {1.3, 1.2}, y {1.1, 0.9}
    heuristic = np.array([3.0, 1.7, 1.05, 1.0])
    uniform = np.array([1.3, 1.2, 1.1, 0.9])
    comp = compare_allocations(_scores(), {"x": "pp5", "y": "sp"}, top=2, resamples=500)
    assert comp.protocol == "top2" and comp.test.equal_var
    assert comp.heuristic_mean == pytest.approx(heuristic.mean())
    assert comp.uniform_mean == pytest.approx(uniform.mean())
    assert comp.pvalue == pytest.approx(sps.ttest_ind(heuristic, uniform, alternative="greater").pvalue)


def test_compare_errors():
    with pytest.raises(LoiError, match=r"no pp5 score\(s\) for scenario 'y'"):
        compare_allocations(_scores(), {"x": "pp5", "y": "pp5"})
    with pytest.raises(LoiError, match="'z' has no sp scores"):
        normalised_scores(pd.concat([_scores(), pd.DataFrame([("z", "pp3", 1.0)], columns=["scenario", "regime", "score"])]))
    with pytest.raises(LoiError, match="empty"):
        compare_allocations(_scores(), {})
    with pytest.raises(LoiError, match="unknown weighting 'equal'"):
        compare_allocations(_scores(), {"x": "pp5", "y": "sp"}, weighting="equal")


def test_scenario_weighting_gives_each_scenario_equal_weight():
    comp = compare_allocations(_scores(), {"x": "pp5", "y": "sp"}, weighting="scenario", resamples=2000)
    assert comp.weighting == "scenario"
    assert comp.heuristic_mean == pytest.approx((np.mean([1.5, 1.6, 1.7, 3.0]) + 1.0) / 2)
    assert comp.uniform_mean == pytest.approx((1.2 + 1.0) / 2)
    assert comp.difference.statistic == pytest.approx(comp.heuristic_mean - comp.uniform_mean)
    assert comp.difference.confidence_interval.low < comp.difference.statistic < comp.difference.confidence_interval.high
    # pooling instead weighs scenarios by their number of scores (x: 4, y: 3)
    pooled = compare_allocations(_scores(), {"x": "pp5", "y": "sp"}, resamples=200)
    assert pooled.heuristic_mean == pytest.approx((1.5 + 1.6 + 1.7 + 3.0 + 0.95 + 1.0 + 1.05) / 7)


def test_scenario_weighting_with_one_scenario_is_welch():
    scores = _scores()[lambda d: d.scenario == "x"]
    comp = compare_allocations(scores, {"x": "pp5"}, weighting="scenario", resamples=200)
    h, u = np.array([1.5, 1.6, 1.7, 3.0]), np.array([1.1, 1.2, 1.3])
    ref = sps.ttest_ind(h, u, equal_var=False, alternative="greater")
    assert comp.test.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert comp.test.df == pytest.approx(ref.df, rel=1e-10)
    assert comp.pvalue == pytest.approx(ref.pvalue, rel=1e-10)
    assert comp.test.confidence_interval.low == pytest.approx(ref.confidence_interval(0.95).low, rel=1e-10)
    pooled_g = compare_allocations(scores, {"x": "pp5"}, resamples=200).hedges_g.statistic
    assert comp.hedges_g.statistic == pytest.approx(pooled_g, rel=1e-10)
