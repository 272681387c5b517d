"""The report's top answers in sentences built from hand-made tables: did population play pay
off (with the CIs), does LoI say where, where the budget should go (the config's allocator always
named), how sure; the forest plot's labels tell rows apart without colour; a learning curve
still climbing is not called "reached"; the quick-study headline the README quotes is the one the
committed tables give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "docs" / "results" / "quick"


def _benefit(values: list[tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"scenario": f"g/{i}", "game": "g", "loi": 0.1 * i, "regime": "pp5", "benefit": b,
                          "benefit_ci_low": lo, "benefit_ci_high": hi, "note": ""}
                         for i, (b, lo, hi) in enumerate(values)])


def test_the_first_sentence_says_diversity_did_not_pay_off_with_the_lowest_and_highest_benefit() -> None:
    from loi.report.summary import diversity_sentence

    # Negative in 3 of 4, CI below 0 in 2, above 0 in none (the quick study's shape).
    text = diversity_sentence(_benefit([(-0.061, -0.090, -0.031), (-0.020, -0.035, -0.004),
                                        (-0.010, -0.040, 0.020), (0.012, -0.020, 0.044)]))
    assert text == ("Population play (pp5) did not pay off against self-play (sp): its benefit was below 0 in 3 of 4 "
                    "scenarios, its 95% CI above 0 in none and below 0 in 2 (from -0.061 [-0.090, -0.031] in g/0 to "
                    "+0.012 [-0.020, +0.044] in g/3; benefit = (pp5 − sp) / 2 on scores divided by the sp mean).")


def test_diversity_paid_off_when_the_ci_lies_above_0_in_at_least_half_of_the_scenarios() -> None:
    from loi.report.summary import diversity_sentence

    assert diversity_sentence(_benefit([(0.1, 0.05, 0.15), (0.0, -0.1, 0.1)])).startswith(
        "Population play (pp5) paid off against self-play (sp): its benefit was below 0 in none of 2 scenarios, "
        "its 95% CI above 0 in 1")
    assert "in only 1 of 3 scenarios" in diversity_sentence(_benefit([(0.1, 0.05, 0.15), (0.0, -0.1, 0.1),
                                                                      (0.0, -0.1, 0.1)]))
    assert "not known yet" in diversity_sentence(None)
    unmeasured = _benefit([(np.nan, np.nan, np.nan)]).assign(note="only the reference regime was trained")
    assert diversity_sentence(unmeasured).endswith("no scenario has a measured benefit (only the reference regime "
                                                   "was trained).")


def test_the_correlation_sentence_reads_the_pooled_r_and_its_ci() -> None:
    from loi.report.summary import correlation_sentence

    table = pd.DataFrame([{"game": "g", "r": 0.9, "ci_low": 0.5, "ci_high": 0.99, "n": 4, "note": ""},
                          {"game": "all", "r": -0.76, "ci_low": -0.99, "ci_high": 0.72, "n": 4, "note": ""}])
    assert correlation_sentence(table) == ("LoI did not predict the benefit: r(LoI, benefit) = -0.76 [-0.99, +0.72] "
                                           "over 4 scenarios, pooled over all games, a CI that includes 0.")
    assert correlation_sentence(table[:1]).startswith("LoI predicted where it paid: r(LoI, benefit) = +0.90")


def test_the_budget_sentence_names_the_best_allocation_and_the_configs_allocator() -> None:
    from test_report import MENU, _answer_tables

    from loi.report.summary import budget_sentence, summarize_run

    loi, allocation, comparison = _answer_tables()
    games = summarize_run(loi, allocation, comparison, menu=MENU)
    text = budget_sentence(games, allocation, "mixed")
    assert text.startswith("Where the budget should go: as cheap spent it (pp3 in 1 scenario, sp in 3 scenarios), "
                           "which beat the uniform allocation (pp3 everywhere) by +0.050 [+0.010, +0.090] at half "
                           "of the cost")
    assert text.endswith("The config's allocator, mixed, did worse than uniform (-0.080 [-0.120, -0.040], "
                         "p = 0.999).")
    assert budget_sentence(games, allocation, "cheap").endswith("(cheap is the config's allocator).")
    # In every verdict each allocator is named, the config's included.
    pooled = next(g for g in games if g.group == "all")
    assert all(name in pooled.verdict for name in ("cheap", "mixed", "same"))


def test_forest_plot_labels_tell_protocols_apart_without_colour(monkeypatch) -> None:
    from loi.report import figures

    rows = [{"allocator": a, "group": g, "protocol": p, "difference": 0.1, "difference_ci_low": 0.0,
             "difference_ci_high": 0.2} for a in ("one_sigma", "greedy") for g in ("g", "all") for p in ("all", "top5")]
    monkeypatch.setattr(figures, "_png", lambda fig: fig)
    fig = figures.gains_figure(pd.DataFrame(rows), set())
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == 8 and len(set(labels)) == 8, labels
    assert "one_sigma · g · top5 (paper)" in labels and "one_sigma · g" in labels


def test_a_curve_inside_the_band_but_still_climbing_has_not_reached_its_plateau() -> None:
    from loi.metrics.plateau import settling_step

    # Up to 0.6 over the first half, then still rising by 0.8 per unit. The last fifth (the last 101 of
    # 501 points, 0.202 wide) sits 0.8 * 0.202 above the fifth before it; the range is that of the
    # 25-point moving average, whose end points average the 13 points that exist: 0.0144 .. 0.9904.
    # The band (final +- 0.1 range) is entered at step 0.778, before the last fifth.
    x = np.linspace(0.0, 1.0, 501)
    y = np.where(x < 0.5, 1.2 * x, 0.6 + 0.8 * (x - 0.5))
    result = settling_step(x, y)
    assert result.step == pytest.approx(0.778) and result.late_change == pytest.approx(0.8 * 0.202 / 0.976)
    assert not result.reached  # inside the band, still climbing by 0.166 of its range
    # The same curve flat over its second half has.
    flat = settling_step(x, np.where(x < 0.5, 1.2 * x, 0.6))
    assert flat.reached and flat.late_change == pytest.approx(0.0)


def test_the_readme_quotes_the_quick_study_headline_that_the_committed_tables_give() -> None:
    from loi.report.summary import HEADLINE_FILE, headline_markdown, headline_of_folder

    committed = (QUICK / HEADLINE_FILE).read_text()
    assert committed == headline_markdown(headline_of_folder(QUICK))
    import re

    # Whitespace-insensitive, and a block quote's "> " markers do not count: the README may wrap it.
    readme = " ".join(re.sub(r"(?m)^> ?", "", (ROOT / "README.md").read_text()).split())
    for sentence in committed.split("\n\n"):
        assert " ".join(sentence.split()) in readme, sentence
