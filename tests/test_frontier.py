"""The budget frontier on hand-built score tables whose answers are known in closed form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loi.allocation import DEFAULT_MENU, budget_frontier, crossfit_curves, default_budgets
from loi.allocation.frontier import FRONTIER_COLUMNS
from loi.errors import LoiError

# Cell means (egos spread symmetrically, so each cell's mean is exact). Scenario "flat": population
# play buys nothing; "steep": pp3 1.5x and pp5 2x the SP mean.
MEANS = {("flat", "sp"): 10.0, ("flat", "pp3"): 10.0, ("flat", "pp5"): 10.0,
         ("steep", "sp"): 10.0, ("steep", "pp3"): 15.0, ("steep", "pp5"): 20.0}


def score_table(means=MEANS, egos: int = 4, spread: float = 1.0) -> pd.DataFrame:
    deviations = np.linspace(-spread, spread, egos)
    rows = [(s, r, f"{r}/e{e}", episode, m + deviations[e] + (0.5 if episode else -0.5))
            for (s, r), m in means.items() for e in range(egos) for episode in range(2)]
    return pd.DataFrame(rows, columns=["scenario", "regime", "ego", "episode", "score"])


METRICS = pd.DataFrame({"scenario": ["flat", "steep"], "metric": ["loi", "loi"], "score": [0.1, 0.9]})


def rows_at(frontier, budget: float) -> pd.DataFrame:
    table = frontier.table
    return table[table["budget"] == budget].set_index(["allocator", "metric"])


def test_the_frontier_gives_the_closed_form_means() -> None:
    frontier = budget_frontier(score_table(), METRICS, DEFAULT_MENU, budgets=[2.0, 6.0, 10.0], draws=600,
                               resamples=500)
    assert list(frontier.table.columns) == list(FRONTIER_COLUMNS)
    assert frontier.leave_out == "scenario"  # one group: greedy leaves each scenario out
    at6 = rows_at(frontier, 6.0)
    # Normalised cells: flat 1, 1, 1; steep 1, 1.5, 2. Uniform at 6 = pp3 everywhere: (1 + 1.5) / 2.
    assert at6.loc[("uniform", ""), "mean_score"] == pytest.approx(1.25)
    assert at6.loc[("uniform", ""), "allocation"] == "flat=pp3 steep=pp3"
    # Oracle: pp5 where it pays, sp elsewhere, cost 6: (1 + 2) / 2, gain 0.25 over uniform.
    assert at6.loc[("oracle", ""), "mean_score"] == pytest.approx(1.5)
    assert at6.loc[("oracle", ""), "gain_vs_uniform"] == pytest.approx(0.25)
    assert at6.loc[("oracle", ""), "in_sample"] and not at6.loc[("greedy", "loi"), "in_sample"]
    # Random at 6: (sp, pp5), (pp5, sp), (pp3, pp3) equally likely: (1.5 + 1 + 1.25) / 3 = 1.25.
    assert at6.loc[("random", ""), "mean_score"] == pytest.approx(1.25, abs=0.02)
    assert at6.loc[("random", ""), "cost_spent"] == pytest.approx(6.0)
    # Greedy never sees a scenario's own scores: flat's line comes from steep (pp5 pays most there)
    # and steep's from flat (nothing pays), so it puts pp5 on flat: (1 + 1) / 2, 0.25 below uniform.
    assert at6.loc[("greedy", "loi"), "allocation"] == "flat=pp5 steep=sp"
    assert at6.loc[("greedy", "loi"), "mean_score"] == pytest.approx(1.0)
    assert at6.loc[("greedy", "loi"), "gain_vs_uniform"] == pytest.approx(-0.25)
    # one_sigma with two scenarios keeps both at the middle regime (both sit one std from the mean).
    assert at6.loc[("one_sigma", "loi"), "mean_score"] == pytest.approx(1.25)
    assert ("one_sigma", "loi") not in rows_at(frontier, 2.0).index  # it spends 6: not available at 2
    # At the cheapest budget everything is sp: exactly 1, no uncertainty left after normalising.
    at2 = rows_at(frontier, 2.0)
    for column in ("mean_score", "ci_low", "ci_high"):
        assert at2[column].to_numpy() == pytest.approx(1.0, abs=1e-12)
    for _, row in frontier.table.iterrows():
        assert row.ci_low - 1e-12 <= row.mean_score <= row.ci_high + 1e-12
        assert row.gain_ci_low - 1e-12 <= row.gain_vs_uniform <= row.gain_ci_high + 1e-12
        assert row.cost_spent <= row.budget + 1e-9


def test_the_oracle_bounds_every_allocator_at_every_budget() -> None:
    rng = np.random.default_rng(3)
    means = {(f"g{g}/l{l}", r): 10.0 * (1 + rng.uniform(-0.2, 0.5) * (c - 1) / 4)
             for g in range(2) for l in range(3) for r, c in DEFAULT_MENU.items()}
    metrics = pd.DataFrame([(s, m, rng.normal()) for s in sorted({s for s, _ in means}) for m in ("loi", "icc")],
                           columns=["scenario", "metric", "score"])
    frontier = budget_frontier(score_table(means), metrics, DEFAULT_MENU, groups={s: s[:2] for s, _ in means},
                               draws=20, resamples=200)
    assert frontier.leave_out == "game" and frontier.budgets == default_budgets(DEFAULT_MENU, 6)
    assert frontier.budgets == tuple(np.linspace(6, 30, 9))
    for budget, part in frontier.table.groupby("budget"):
        oracle = part.loc[part["allocator"] == "oracle", "mean_score"].item()
        assert (part["mean_score"] <= oracle + 1e-12).all()
        uniform = part[part["allocator"] == "uniform"]
        assert uniform["gain_vs_uniform"].item() == 0.0 and uniform["cost_spent"].item() <= budget
    assert set(frontier.table["metric"]) == {"", "loi", "icc"}
    again = budget_frontier(score_table(means), metrics, DEFAULT_MENU, groups={s: s[:2] for s, _ in means},
                            draws=20, resamples=200)
    pd.testing.assert_frame_equal(frontier.table, again.table)  # seeded


def test_greedy_lines_for_a_scenario_never_use_its_scores() -> None:
    score = {"a": 0.0, "b": 1.0, "c": 2.0}
    means = {(s, r): 1.0 + (i + 1) * 0.1 * c for i, s in enumerate(score) for r, c in DEFAULT_MENU.items()}
    curves = crossfit_curves(score, means, {s: s for s in score}, DEFAULT_MENU, what="scenario")
    changed = crossfit_curves(score, {**means, ("a", "pp5"): 99.0}, {s: s for s in score}, DEFAULT_MENU,
                              what="scenario")
    assert curves["a"] == changed["a"] and curves["b"] != changed["b"]


def test_inputs_the_frontier_cannot_use() -> None:
    missing = score_table()[lambda d: ~((d.scenario == "steep") & (d.regime == "pp5"))]
    with pytest.raises(LoiError, match="'steep' has no scores for regime 'pp5'"):
        budget_frontier(missing, METRICS, DEFAULT_MENU)
    with pytest.raises(LoiError, match="smaller than the cheapest allocation"):
        budget_frontier(score_table(), METRICS, DEFAULT_MENU, budgets=[1.0])
    partial = pd.concat([METRICS, pd.DataFrame({"scenario": ["flat"], "metric": ["icc"], "score": [0.3]})])
    frontier = budget_frontier(score_table(), partial, DEFAULT_MENU, points=3, draws=5, resamples=50)
    assert "icc" not in set(frontier.table["metric"]) and "no finite value for scenario 'steep'" in frontier.notes[0]


def test_the_frontier_figure(tmp_path) -> None:
    from loi.report.figures import frontier_figure

    frontier = budget_frontier(score_table(), METRICS, DEFAULT_MENU, points=5, draws=10, resamples=100)
    path = frontier_figure(frontier.table, tmp_path / "frontier.png")
    assert path == tmp_path / "frontier.png" and path.read_bytes().startswith(b"\x89PNG")
    # The table read back from CSV (metric-free rows: NaN metric) draws too.
    frontier.table.to_csv(tmp_path / "frontier.csv", index=False)
    back = pd.read_csv(tmp_path / "frontier.csv", keep_default_na=False, na_values=[""])
    assert frontier_figure(back, tmp_path / "again.png").stat().st_size > 1000
