"""Stages 3 and 6 of the pipeline on hand-made tables: allocation and statistics."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from loi.errors import LoiError
from loi.pipeline.allocate import allocation_table
from loi.pipeline.executor import Job, LocalExecutor
from loi.metrics.stats import ratio_of_means
from loi.pipeline.statistics import anova_table, benefit_table, comparison_table, correlation_table

MENU = {"sp": 1.0, "pp3": 3.0, "pp5": 5.0}
GAMES = {"g/a": "g", "g/b": "g", "g/c": "g", "g/d": "g", "h/a": "h", "h/b": "h"}


def _scores(means: dict[tuple[str, str], float], n: int = 6, spread: float = 0.5) -> pd.DataFrame:
    """n scores per (scenario, regime) with exactly the given mean."""
    offsets = np.linspace(-spread, spread, n)
    rows = [{"scenario": s, "regime": r, "ego": f"{r}/e{i}", "episode": i, "score": m + offsets[i]}
            for (s, r), m in means.items() for i in range(n)]
    return pd.DataFrame(rows)


def _rows(table: pd.DataFrame, allocator: str) -> dict[str, str]:
    part = table[table["allocator"] == allocator]
    return dict(zip(part["scenario"], part["regime"]))


def test_one_sigma_maps_the_paper_rule_onto_the_menu_per_game() -> None:
    # Game g: LoI 0, 1, 1, 2 -> mean 1, std 0.707: 0 -> cheapest, 2 -> most expensive.
    loi = {"g/a": 0.0, "g/b": 1.0, "g/c": 1.0, "g/d": 2.0, "h/a": 0.3, "h/b": 0.1}
    menu = {"sp": 1.0, "pp2": 2.0, "pp3": 3.0}
    table = allocation_table(loi, games=GAMES, menu=menu, budget=8.0, uniform="pp2", chosen="one_sigma")
    assert _rows(table, "one_sigma") == {"g/a": "sp", "g/b": "pp2", "g/c": "pp2", "g/d": "pp3",
                                         "h/a": "pp2", "h/b": "pp2"}
    assert _rows(table, "uniform") == {s: "pp2" for s in loi}
    chosen = table[table["chosen"]]
    assert set(chosen["allocator"]) == {"one_sigma"} and len(chosen) == len(loi)
    # Every allocator stays within each game's budget of 8.
    for (_, game), part in table.groupby(["allocator", "game"]):
        budget = 8.0
        assert part["cost"].sum() <= budget + 1e-9, (game, part)


def test_proportional_gives_the_budget_to_the_influential_scenario() -> None:
    loi = {"g/a": 0.0, "g/b": 0.0, "g/c": 0.0, "g/d": 1.0}
    table = allocation_table(loi, games=GAMES, menu=MENU, budget=12.0, uniform="pp3", chosen="proportional")
    assert _rows(table, "proportional")["g/d"] == "pp5"
    assert table[table["allocator"] == "proportional"]["cost"].sum() <= 12.0


def test_one_sigma_needs_evenly_spaced_costs_and_greedy_needs_a_curve() -> None:
    loi = {"g/a": 0.0, "g/b": 1.0}
    with pytest.raises(LoiError, match="one_sigma"):
        allocation_table(loi, games=GAMES, menu={"sp": 1, "pp2": 2, "pp5": 5}, budget=6, uniform="pp2",
                         chosen="one_sigma")
    with pytest.raises(LoiError, match="greedy"):
        allocation_table(loi, games=GAMES, menu=MENU, budget=6, uniform="pp3", chosen="greedy")


def test_benefit_is_half_the_normalised_gain_of_the_most_expensive_regime() -> None:
    scores = _scores({("g/a", "sp"): 2.0, ("g/a", "pp3"): 3.0, ("g/a", "pp5"): 4.0,
                      ("g/b", "sp"): 4.0, ("g/b", "pp3"): 4.0})
    table = benefit_table(scores, {"g/a": 0.5, "g/b": 0.1}, GAMES, MENU).set_index("scenario")
    # Normalised by the SP mean: g/a PP5 = 4 / 2 = 2, SP = 1 -> (2 - 1) / 2.
    assert table.loc["g/a", "regime"] == "pp5" and table.loc["g/a", "benefit"] == pytest.approx(0.5)
    assert table.loc["g/b", "regime"] == "pp3" and table.loc["g/b", "benefit"] == pytest.approx(0.0)


def test_anova_matches_scipy_and_degenerate_data_is_a_note_not_a_crash() -> None:
    scores = _scores({("g/a", "sp"): 1.0, ("g/a", "pp3"): 2.0, ("g/a", "pp5"): 2.5})
    constant = pd.DataFrame({"scenario": "g/b", "regime": ["sp", "sp", "pp3", "pp3"], "ego": "e",
                             "episode": [0, 1, 0, 1], "score": 1.0})
    table = anova_table(pd.concat([scores, constant])).set_index("scenario")
    groups = [scores.loc[scores["regime"] == r, "score"] for r in ("pp3", "pp5", "sp")]
    expected = scipy.stats.f_oneway(*groups)
    assert table.loc["g/a", "f"] == pytest.approx(expected.statistic)
    assert table.loc["g/a", "p_value"] == pytest.approx(expected.pvalue)
    assert (table.loc["g/a", "df_between"], table.loc["g/a", "df_within"]) == (2, 15)
    assert np.isnan(table.loc["g/b", "f"]) and "constant" in table.loc["g/b", "note"]


def test_correlation_per_game_and_pooled() -> None:
    benefit = pd.DataFrame({"scenario": ["g/a", "g/b", "g/c", "g/d", "h/a", "h/b"],
                            "game": ["g", "g", "g", "g", "h", "h"],
                            "loi": [0.1, 0.5, 0.2, 0.9, 0.4, 0.3],
                            "benefit": [0.0, 0.3, 0.2, 0.5, -0.1, 0.4]})
    table = correlation_table(benefit).set_index("game")
    g = benefit[benefit["game"] == "g"]
    assert table.loc["g", "r"] == pytest.approx(np.corrcoef(g["loi"], g["benefit"])[0, 1])
    assert table.loc["all", "r"] == pytest.approx(np.corrcoef(benefit["loi"], benefit["benefit"])[0, 1])
    assert table.loc["all", "n"] == 6
    assert np.isnan(table.loc["h", "r"]) and "at least 3" in table.loc["h", "note"]


def test_comparison_of_allocations_on_all_evaluations_and_top_k() -> None:
    # The heuristic puts g/b on pp5, which scores 1.5x SP there; uniform pp3 scores 1x SP.
    scores = _scores({("g/a", "sp"): 2.0, ("g/a", "pp3"): 2.0, ("g/b", "sp"): 2.0, ("g/b", "pp3"): 2.0,
                      ("g/b", "pp5"): 3.0})
    allocations = pd.DataFrame({"game": "g", "scenario": ["g/a", "g/b", "g/a", "g/b"],
                                "allocator": ["one_sigma", "one_sigma", "uniform", "uniform"],
                                "regime": ["pp3", "pp5", "pp3", "pp3"], "loi": 0.0, "cost": 0.0,
                                "chosen": [True, True, False, False]})
    table = comparison_table(scores, allocations, GAMES, uniform="pp3", top=3, confidence=0.95, seed=0,
                             resamples=200)
    row = table.set_index(["group", "protocol"]).loc[("all", "all")]
    assert row["uniform"] == pytest.approx(1.0) and row["heuristic"] == pytest.approx(1.25)
    assert row["difference"] == pytest.approx(0.25) and row["effect_size"] > 0 and row["p_value"] < 0.05
    assert (row["n_heuristic"], row["n_uniform"]) == (12, 12)
    assert set(table["protocol"]) == {"all", "top3"}
    top = table.set_index(["group", "protocol"]).loc[("all", "top3")]
    assert top["n_heuristic"] == 6
    # A regime that was never trained is reported, not guessed.
    missing = comparison_table(scores[scores["regime"] != "pp5"], allocations, GAMES, uniform="pp3", top=3,
                               confidence=0.95, seed=0, resamples=50)
    assert missing["note"].str.contains("not trained: g/b:pp5").all()


def _double(x: int) -> int:
    return 2 * x


def test_local_executor_runs_jobs_in_order_and_jobs_pickle() -> None:
    jobs = [Job("test_pipeline_stats:_double", {"x": i}, f"job {i}") for i in range(4)]
    seen = []
    assert LocalExecutor().map(jobs, lambda job, result: seen.append((job.label, result))) == [0, 2, 4, 6]
    assert seen == [(f"job {i}", 2 * i) for i in range(4)]
    assert pickle.loads(pickle.dumps(jobs[1]))() == 2
    failing = LocalExecutor().submit(Job("loi.pipeline.config:load_config", {"path": "/nonexistent.toml"}))
    with pytest.raises(LoiError, match="config file not found"):
        failing.result()


def test_greedy_fits_its_benefit_curve_on_a_previous_run(tmp_path) -> None:
    from test_report import synthetic_run  # a finished run whose scores grow with cost x LoI

    previous = synthetic_run(tmp_path / "previous")
    loi = {"g/a": 0.0, "g/b": 1.0, "g/c": 0.2}
    table = allocation_table(loi, games=GAMES, menu=MENU, budget=9.0, uniform="pp3", chosen="greedy",
                             greedy_from=str(previous))
    greedy = table[table["allocator"] == "greedy"]
    assert greedy["chosen"].all() and greedy["cost"].sum() <= 9.0
    assert _rows(table, "greedy")["g/b"] == "pp5"
    assert _rows(table, "greedy")["g/a"] == "sp"


def test_crossfit_greedy_allocates_each_game_from_the_other_games_only() -> None:
    from loi.pipeline.allocate import CROSSFIT, crossfit_greedy_table

    games = {"g/a": "g", "g/b": "g", "h/a": "h", "h/b": "h"}
    loi = {"g/a": 0.1, "g/b": 0.9, "h/a": 0.2, "h/b": 0.8}

    def lines(scenarios, pp3_slope, pp5_slope):  # SP-normalised means: sp 1, ppN 1 + slope * LoI
        out = {}
        for s in scenarios:
            out.update({(s, "sp"): 1.0, (s, "pp3"): 1.0 + pp3_slope * loi[s], (s, "pp5"): 1.0 + pp5_slope * loi[s]})
        return out

    h = lines(["h/a", "h/b"], 1.0, 3.0)
    scores = _scores({**lines(["g/a", "g/b"], 1.0, 3.0), **h}, spread=0.0)
    table = crossfit_greedy_table(scores, loi, games=games, menu=MENU, budget=6.0)
    assert set(table["allocator"]) == {CROSSFIT} and not table["chosen"].any()
    # Budget 6 for two scenarios: from sp/sp, switching g/b to pp5 gains 3*0.9 = 2.7 for 4 units (0.675 per
    # unit) against 0.45 for pp3 and 0.05 for g/a -> pp5 takes the rest of the budget.
    assert _rows(table, CROSSFIT) == {"g/a": "sp", "g/b": "pp5", "h/a": "sp", "h/b": "pp5"}
    # Game g's own scores never shape its allocation: make population play useless in g, same answer for g.
    flipped = crossfit_greedy_table(_scores({**lines(["g/a", "g/b"], 0.0, -1.0), **h}, spread=0.0), loi,
                                    games=games, menu=MENU, budget=6.0)
    assert {s: r for s, r in _rows(flipped, CROSSFIT).items() if s.startswith("g/")} == {"g/a": "sp", "g/b": "pp5"}
    # ...while h, fitted on g's flipped lines, now keeps everything at sp (no regime is predicted to help).
    assert {s: r for s, r in _rows(flipped, CROSSFIT).items() if s.startswith("h/")} == {"h/a": "sp", "h/b": "sp"}
    no_pp5 = scores[~((scores["regime"] == "pp5") & scores["scenario"].str.startswith("h/"))]
    with pytest.raises(LoiError, match="cannot cross-fit greedy for g"):
        crossfit_greedy_table(no_pp5, loi, games=games, menu=MENU, budget=6.0)


def test_score_summary_gives_a_t_interval_of_the_mean_per_scenario_and_regime() -> None:
    from loi.pipeline.statistics import score_summary_table

    scores = pd.DataFrame({"scenario": ["g/a"] * 5 + ["g/a"] * 2, "regime": ["sp"] * 5 + ["pp3"] * 2,
                           "ego": ["e0", "e0", "e1", "e1", "e2", "f0", "f1"],
                           "score": [1.0, 2.0, 3.0, 4.0, 5.0, 2.0, 2.0]})
    table = score_summary_table(scores, confidence=0.95).set_index("regime")
    sp = table.loc["sp"]
    # Hand computation: mean 3, sd sqrt(2.5), half-width t(0.975, 4) * sd / sqrt(5) = 2.776 * 0.7071.
    half = scipy.stats.t.ppf(0.975, 4) * np.sqrt(2.5) / np.sqrt(5)
    assert (sp["n"], sp["egos"], sp["mean"]) == (5, 3, 3.0) and sp["sd"] == pytest.approx(np.sqrt(2.5))
    assert (sp["ci_low"], sp["ci_high"]) == pytest.approx((3 - half, 3 + half))
    assert half == pytest.approx(1.963, abs=1e-3)
    assert table.loc["pp3", "sd"] == 0 and table.loc["pp3", "ci_low"] == table.loc["pp3", "ci_high"] == 2.0


def _ego_scores(scenario: str, regime: str, ego_means: list[float], episodes: int = 3) -> pd.DataFrame:
    rows = [{"scenario": scenario, "regime": regime, "ego": f"{regime}-{i}", "episode": e, "score": m + d}
            for i, m in enumerate(ego_means) for e, d in zip(range(episodes), (-0.5, 0.0, 0.5))]
    return pd.DataFrame(rows)


def test_benefit_intervals_are_over_egos_welch_raw_and_fieller_normalised() -> None:
    sp, pp5 = [2.0, 2.4, 1.8, 2.2, 2.1], [3.0, 3.6, 2.9, 3.3]
    scores = pd.concat([_ego_scores("g/a", "sp", sp), _ego_scores("g/a", "pp5", pp5)], ignore_index=True)
    row = benefit_table(scores, {"g/a": 0.3}, {"g/a": "g"}, MENU).iloc[0]
    a, b = np.array(pp5), np.array(sp)
    # Raw: Welch's t interval of the ego means' difference, halved (episode noise averages out per ego).
    welch = scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert row["benefit_raw"] == pytest.approx((a.mean() - b.mean()) / 2)
    assert (row["benefit_raw_ci_low"], row["benefit_raw_ci_high"]) == pytest.approx((welch.low / 2, welch.high / 2))
    assert (row["egos"], row["reference_egos"]) == (4, 5)
    # Normalised: the point is (ratio - 1) / 2 and its Fieller interval contains it, wider than the
    # interval that treats the SP mean as known.
    assert row["benefit"] == pytest.approx((a.mean() / b.mean() - 1) / 2)
    assert row["benefit_ci_low"] < row["benefit"] < row["benefit_ci_high"]
    naive = (welch.high - welch.low) / b.mean() / 2
    assert row["benefit_ci_high"] - row["benefit_ci_low"] > naive


def test_fieller_reduces_to_a_scaled_t_interval_when_the_denominator_is_exact() -> None:
    a, b = np.array([1.0, 3.0, 2.0, 2.5]), np.array([4.0, 4.0, 4.0])
    result = ratio_of_means(a, b)
    t = scipy.stats.t.ppf(0.975, a.size - 1)
    half = t * a.std(ddof=1) / np.sqrt(a.size)
    assert result.df == pytest.approx(a.size - 1)
    assert (result.confidence_interval.low, result.confidence_interval.high) == pytest.approx(
        ((a.mean() - half) / 4, (a.mean() + half) / 4))
    # A denominator indistinguishable from 0: unbounded, said in words, not a number.
    wide = ratio_of_means(a, np.array([-1.0, 1.0, 0.5]))
    assert np.isnan(wide.confidence_interval.low) and "unbounded" in wide.note


def test_fieller_interval_keeps_its_coverage() -> None:
    rng = np.random.default_rng(0)
    true_ratio, hits, trials = 1.25, 0, 2000
    for _ in range(trials):
        a, b = rng.normal(5.0, 1.0, 5), rng.normal(4.0, 0.8, 5)
        ci = ratio_of_means(a, b).confidence_interval
        hits += ci.low <= true_ratio <= ci.high
    # 95% nominal; binomial sd at 2000 trials is 0.5%.
    assert 0.93 <= hits / trials <= 0.97


def test_a_zero_sum_scenario_keeps_its_raw_benefit_and_leaves_every_normalised_statistic() -> None:
    """Scores below 0 are not on a ratio scale: dividing by an SP mean that is 0 up to noise
    (running with scissors) would give benefits of any size. Such a scenario keeps its raw
    benefit; the normalised benefit, the allocation comparison and the frontier leave it out
    and say why (loi.allocation.unnormalisable, one rule for all of them)."""
    from loi.allocation import unnormalisable

    from loi.pipeline.statistics import partner_benefit_table

    means = {("g/a", "sp"): 2.0, ("g/a", "pp5"): 3.0, ("g/b", "sp"): 4.0, ("g/b", "pp5"): 4.0,
             ("h/a", "sp"): 0.01, ("h/a", "pp5"): 0.5}  # h/a: zero-sum, scores from -0.49 to +1.0
    scores = _scores(means)
    assert unnormalisable(scores) == {"h/a": "scores below 0 (not a ratio scale): no SP-normalised score"}
    assert unnormalisable(_scores({("g/a", "sp"): 0.0, ("g/a", "pp5"): 1.0}, spread=0.0)) == {
        "g/a": "the sp mean score is 0: no SP-normalised score"}
    table = benefit_table(scores, {"g/a": 0.1, "g/b": 0.2, "h/a": 0.3}, GAMES, MENU).set_index("scenario")
    assert table.loc["g/a", "benefit"] == pytest.approx((3.0 / 2.0 - 1) / 2)
    assert table.loc["g/b", "benefit"] == pytest.approx(0.0)
    assert np.isnan(table.loc["h/a", ["benefit", "benefit_ci_low", "benefit_ci_high"]].astype(float)).all()
    assert table.loc["h/a", "benefit_raw"] == pytest.approx((0.5 - 0.01) / 2)  # the raw benefit stays
    assert "not a ratio scale" in table.loc["h/a", "note"]
    # The allocation comparison pools g/a and g/b only, and names the scenario it left out.
    allocations = pd.DataFrame([{"allocator": a, "scenario": s, "regime": r}
                                for a, r in (("uniform", "sp"), ("proportional", "pp5"))
                                for s in ("g/a", "g/b", "h/a")])
    comparison = comparison_table(scores, allocations, GAMES, uniform="sp", top=3, confidence=0.95, seed=0)
    pooled = comparison[(comparison["group"] == "all") & (comparison["protocol"] == "all")].iloc[0]
    # Normalised: g/a sp 1, pp5 1.5; g/b 1, 1 -> mean difference 0.25 over the two scenarios.
    assert pooled["difference"] == pytest.approx(0.25)
    assert "h/a" in pooled["note"] and set(comparison["group"]) == {"all", "g"}
    assert (comparison.loc[comparison["group"] == "g", "note"] == "").all()
    # Per partner kind, the same rule.
    tournament = scores.rename(columns={"score": "ego_return"}).assign(coplayer="bob", partner_kind="sp_seeds")
    partner = partner_benefit_table(tournament)
    row = partner[(partner["scenario"] == "h/a") & (partner["partner_kind"] == "pooled")].iloc[0]
    assert np.isnan(row["benefit"]) and "not a ratio scale" in row["note"]
