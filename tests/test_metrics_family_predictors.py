"""The predictor comparison (``loi.allocation.compare_predictors``) on constructed data."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from loi.allocation import compare_predictors, crossfit_greedy
from loi.errors import LoiError

GAMES = {"g1": 0.0, "g2": 100.0, "g3": -50.0}  # metric level per game: not comparable across games


def scenarios():
    return {f"{g}/{q}": g for g in GAMES for q in range(4)}


def rank(scenario: str) -> int:
    return int(scenario.split("/")[1])


def test_within_game_correlations_are_scipy_s_and_pooling_ignores_game_levels():
    games = scenarios()
    rng = np.random.default_rng(0)
    metric = {s: GAMES[g] + rank(s) + rng.normal(0, 0.3) for s, g in games.items()}
    # Benefit rises with the metric inside each game, but the game with the highest metric level
    # has the lowest benefits: raw pooling over games would call the metric a bad predictor.
    benefit = {s: -GAMES[g] / 10 + 0.5 * rank(s) + rng.normal(0, 0.2) for s, g in games.items()}
    result = compare_predictors({"m": metric}, benefit, games, resamples=300, permutations=500, seed=1)
    rows = result.correlations.set_index(["group", "method"])
    for game in GAMES:
        names = [s for s in games if games[s] == game]
        x, y = [metric[s] for s in names], [benefit[s] for s in names]
        assert rows.loc[(game, "pearson"), "r"] == pytest.approx(scipy.stats.pearsonr(x, y).statistic, abs=1e-12)
        assert rows.loc[(game, "spearman"), "r"] == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-12)
        # 4 scenarios: the exact permutation p of |r| = 1 is 2 / 4! (the order and its reverse).
        if abs(rows.loc[(game, "spearman"), "r"]) == 1.0:
            assert rows.loc[(game, "spearman"), "p_value"] == pytest.approx(2 / 24)
    raw = np.corrcoef([metric[s] for s in games], [benefit[s] for s in games])[0, 1]
    assert raw < 0 < rows.loc[("pooled", "spearman"), "r"]
    centred = lambda v: np.concatenate([scipy.stats.rankdata([v[s] for s in games if games[s] == g]) - 2.5
                                        for g in GAMES])  # noqa: E731
    assert rows.loc[("pooled", "spearman"), "r"] == pytest.approx(
        np.corrcoef(centred(metric), centred(benefit))[0, 1], abs=1e-12)
    pooled = rows.loc[("pooled", "spearman")]
    assert pooled["ci_low"] <= pooled["r"] <= pooled["ci_high"] and 0 < pooled["used"] <= 300
    assert pooled["p_value"] < 0.01 and pooled["n"] == 12


def test_permutation_p_is_the_exact_one_and_small_games_are_named():
    games = {f"g/{i}": "g" for i in range(5)}
    rng = np.random.default_rng(4)
    metric, benefit = {s: rng.normal() for s in games}, {s: rng.normal() for s in games}
    rows = compare_predictors({"m": metric}, benefit, games, resamples=50, permutations=10).correlations
    x, y = np.array(list(metric.values())), np.array(list(benefit.values()))
    observed = abs(np.corrcoef(x, y)[0, 1])
    exact = np.mean([abs(np.corrcoef(x, y[list(order)])[0, 1]) >= observed - 1e-12
                     for order in itertools.permutations(range(5))])
    assert rows.set_index("method").loc["pearson", "p_value"] == pytest.approx(exact, abs=1e-12)
    two = {"a/0": "a", "a/1": "a", "b/0": "b", "b/1": "b", "b/2": "b"}
    rows = compare_predictors({"m": {s: i for i, s in enumerate(two)}}, {s: 1.0 + i % 2 for i, s in enumerate(two)},
                              two, resamples=10, permutations=10).correlations.set_index("group")
    assert rows.loc[["a", "pooled"], "note"].str.contains("at least 3 scenarios per game").all()
    assert rows.loc[["a", "pooled"], "r"].isna().all() and rows.loc["b", "r"].notna().all()


def cell_scores(games):
    """Normalised cell means sp 1, pp3 1.1, pp5 0.8 + 0.2 q for within-game rank q, times 10,
    four evaluations per cell whose deviations cancel (the cell means are exact)."""
    rows = []
    for s in games:
        means = {"sp": 1.0, "pp3": 1.1, "pp5": 0.8 + 0.2 * rank(s)}
        for regime, mean in means.items():
            for e, dev in enumerate((-0.1, 0.1, -0.05, 0.05)):
                rows.append((s, regime, f"ego{e}", e, 10 * (mean + dev)))
    return pd.DataFrame(rows, columns=["scenario", "regime", "ego", "episode", "score"])


def test_crossfit_greedy_gain_matches_the_hand_allocation():
    games = scenarios()
    metric = {s: GAMES[g] + 3.0 * rank(s) for s, g in games.items()}
    benefit = {s: 0.1 * rank(s) for s in games}
    result = compare_predictors({"m": metric}, benefit, games, scores=cell_scores(games), resamples=20,
                                permutations=20, comparison_resamples=200)
    # Lines on the scaled rank t = q / 3: sp 1, pp3 1.1, pp5 0.8 + 0.6 t. From sp everywhere (cost 4
    # of 12), pp5 at q = 3 gains 0.4 for 4 (0.1 per unit), then q = 2 gains 0.2 for 4 (0.05 per unit,
    # pp3's 0.1 for 2 ties per unit and gains less); the budget is spent.
    expected = {0: "sp", 1: "sp", 2: "pp5", 3: "pp5"}
    assert dict(zip(result.allocations["scenario"], result.allocations["regime"])) == {
        s: expected[rank(s)] for s in games}
    gains = result.gains.set_index("group")
    # Heuristic cells 1, 1, 1.2, 1.4 (mean 1.15) against pp3's 1.1 everywhere.
    for group in [*GAMES, "pooled"]:
        assert gains.loc[group, "difference"] == pytest.approx(0.05, abs=1e-12)
        assert gains.loc[group, "ci_low"] <= 0.05 <= gains.loc[group, "ci_high"]
    # Raw values: game g2's level (100) lies outside the other games' fit, and its allocation differs.
    raw = compare_predictors({"m": metric}, benefit, games, scores=cell_scores(games), transform="raw",
                             resamples=20, permutations=20, comparison_resamples=50)
    assert dict(zip(raw.allocations["scenario"], raw.allocations["regime"])) != dict(
        zip(result.allocations["scenario"], result.allocations["regime"]))
    assert raw.to_json()["transform"] == "raw"


def test_crossfit_greedy_never_sees_its_own_game():
    games = {"a/0": "a", "a/1": "a", "b/0": "b", "b/1": "b"}
    means = {(s, r): 1.0 for s in games for r in ("SP5", "PP3", "PP5")}
    # Only game b's PP5 pays, and only at high scores: game a, fitted on b, gets PP5 where it scores
    # high; game b, fitted on a (nothing pays), keeps the cheapest regime.
    means[("b/1", "PP5")] = 2.0
    allocation = crossfit_greedy({"a/0": 0.0, "a/1": 1.0, "b/0": 0.0, "b/1": 1.0}, means, games, 6.0,
                                 {"SP5": 1.0, "PP3": 3.0, "PP5": 5.0})
    assert allocation == {"a/0": "SP5", "a/1": "PP5", "b/0": "SP5", "b/1": "SP5"}
    with pytest.raises(LoiError, match="at least 2 games"):
        crossfit_greedy({"a/0": 0.0}, means, {"a/0": "a"}, 3.0, {"SP5": 1.0})
    with pytest.raises(LoiError, match="eta2 of scenario 'a/0' is not finite"):
        crossfit_greedy({"a/0": float("nan")}, means, games, 3.0, {"SP5": 1.0}, metric="eta2")


def test_the_report_draws_one_panel_per_metric():
    from loi.report.figures import metric_benefit_figure

    games = scenarios()
    benefit = pd.DataFrame({"scenario": list(games), "game": list(games.values()),
                            "benefit": [0.1 * rank(s) for s in games]})
    metrics = pd.DataFrame([(s, m, rank(s) + (m == "icc")) for s in games for m in ("loi", "icc")],
                           columns=["scenario", "metric", "score"])
    result = compare_predictors(metrics, dict(zip(benefit["scenario"], benefit["benefit"])), games, resamples=20,
                                permutations=20)
    png = metric_benefit_figure(metrics, benefit, result.correlations)
    assert png.startswith(b"\x89PNG") and len(png) > 1000


def test_allocators_are_fed_a_named_metric_s_score_from_the_study_s_metrics_table(tmp_path):
    from loi.pipeline.allocate import allocation_table, study_scores
    from loi.pipeline.studydir import StudyDir, Table

    study = StudyDir(tmp_path)
    rows = pd.DataFrame({"scenario": ["g/a", "g/b", "g/c", "g/a", "g/b", "g/c"],
                         "metric": ["loi"] * 3 + ["icc"] * 3, "score": [0.1, 0.5, 0.9, 0.9, 0.5, 0.1]})
    with pytest.raises(LoiError, match="no metrics table"):
        study_scores(study, "icc")
    study.write_table(Table.METRICS, rows)
    icc = study_scores(study, "icc")
    assert icc == {"g/a": 0.9, "g/b": 0.5, "g/c": 0.1}
    table = allocation_table(icc, games={s: "g" for s in icc}, menu={"sp": 1.0, "pp3": 3.0, "pp5": 5.0},
                             budget=9.0, uniform="pp3", chosen="one_sigma", metric="icc")
    one_sigma = table[table["allocator"] == "one_sigma"].set_index("scenario")
    assert set(table["metric"]) == {"icc"} and one_sigma["score"].to_dict() == icc
    assert one_sigma["regime"].to_dict() == {"g/a": "pp5", "g/b": "pp3", "g/c": "sp"}
    with pytest.raises(LoiError, match="icc of scenario 'g/a' is not finite"):
        allocation_table({**icc, "g/a": float("nan")}, games={s: "g" for s in icc}, menu={"sp": 1.0, "pp3": 3.0},
                         budget=6.0, uniform="pp3", chosen="proportional", metric="icc")
