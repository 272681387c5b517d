"""The suite's answer (loi.report.suite): the decision rule of examples/suite.toml on hand-built
tables, the paired correlation difference it uses, and the summary rendered from a folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from loi.errors import LoiError
from loi.metrics.stats import correlation_difference
from loi.pipeline.studydir import Table
from loi.report.suite import FIGURE, MANIFEST, read_folder, suite_answer, suite_markdown

SCENARIOS = [f"game{i}/small" for i in range(6)]


def test_correlation_difference_is_paired_and_exact_at_the_point() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=25)
    x1, x2 = y + 0.2 * rng.normal(size=25), rng.normal(size=25)
    result = correlation_difference(x1, x2, y, resamples=400, seed=3)
    expected = scipy.stats.spearmanr(x1, y).statistic - scipy.stats.spearmanr(x2, y).statistic
    assert result.statistic == pytest.approx(expected)
    assert result.confidence_interval.low < expected < result.confidence_interval.high
    assert result.confidence_interval.low > 0  # x1 tracks y far better, with 25 units
    swapped = correlation_difference(x2, x1, y, resamples=400, seed=3)
    assert swapped.statistic == pytest.approx(-expected)
    # A predictor against itself: every paired resample differs by exactly 0.
    same = correlation_difference(x1, x1, y, resamples=200, seed=0)
    assert (same.statistic, same.confidence_interval.low, same.confidence_interval.high) == (0.0, 0.0, 0.0)
    with pytest.raises(LoiError, match="constant"):
        correlation_difference(np.ones(5), x2[:5], y[:5])
    with pytest.raises(LoiError, match="one value per unit"):
        correlation_difference(x1, x2[:-1], y)


def _tables() -> dict[Table, pd.DataFrame]:
    # fcp5's pooled benefit: CIs above 0 in game0 and game1 only; game5 has no normalised benefit.
    low = [0.10, 0.02, -0.05, -0.20, -0.30, np.nan]
    benefit_values = [0.30, 0.20, 0.05, -0.05, -0.10, np.nan]
    loi = [0.9, 0.5, 0.6, 0.1, 0.2, 0.3]
    benefit = pd.DataFrame({"scenario": SCENARIOS, "game": [s.split("/")[0] for s in SCENARIOS], "loi": loi,
                            "regime": "fcp5", "benefit": benefit_values, "benefit_ci_low": low,
                            "benefit_ci_high": [b + 0.2 if np.isfinite(b) else np.nan for b in benefit_values]})
    rows = []
    for s, b, lo in zip(SCENARIOS, benefit_values, low):
        for kind in ("sp_seeds", "bots", "pooled"):
            for regime in ("fcp5", "pp5"):
                finite = np.isfinite(b)
                rows.append({"scenario": s, "partner_kind": kind, "regime": regime, "bobs": 4,
                             "benefit": b if finite else np.nan, "benefit_ci_low": lo,
                             "benefit_ci_high": b + 0.2 if finite else np.nan, "benefit_raw": 1.0,
                             "benefit_raw_ci_low": 0.5, "benefit_raw_ci_high": 1.5, "egos": 2,
                             "reference_egos": 5, "note": ""})
    partner = pd.DataFrame(rows)
    # "tracker" orders the five measured scenarios exactly as the benefit; "noise" does not.
    tracker = [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    noise = [1.0, 5.0, 2.0, 4.0, 3.0, 0.0]
    metrics = pd.DataFrame([{"scenario": s, "metric": m, "score": v}
                            for m, values in (("loi", loi), ("tracker", tracker), ("noise", noise))
                            for s, v in zip(SCENARIOS, values)])
    predictors = pd.DataFrame([
        {"metric": m, "group": "suite", "method": method, "r": r, "ci_low": lo, "ci_high": hi, "p_value": 0.1,
         "n": 5, "used": 1000, "note": ""}
        for m, r, lo, hi in (("loi", 0.6, -0.4, 1.0), ("tracker", 1.0, 0.7, 1.0), ("noise", 0.1, -0.8, 0.9))
        for method in ("spearman", "pearson")])
    frontier = pd.DataFrame([
        {"budget": b, "allocator": a, "metric": m, "mean_score": 1.0, "ci_low": 0.9, "ci_high": 1.1,
         "gain_vs_uniform": g, "gain_ci_low": g - 0.05, "gain_ci_high": g + 0.05, "cost_spent": b,
         "allocation": "", "in_sample": a == "oracle", "note": ""}
        for b in (6.0, 12.0) for a, m, g in (("uniform", "", 0.0), ("oracle", "", 0.3), ("greedy", "tracker", 0.1),
                                             ("greedy", "loi", 0.0 if b == 6.0 else 0.08))])
    return {Table.BENEFIT: benefit, Table.BENEFIT_BY_PARTNER: partner, Table.METRICS: metrics,
            Table.PREDICTORS: predictors, Table.FRONTIER: frontier}


def test_the_decision_rule_reads_the_tables_as_the_header_fixes_it() -> None:
    answer = suite_answer(_tables())
    assert answer.target == "fcp5"
    assert answer.pays_off == ["game0/small", "game1/small"]
    assert answer.unmeasured == ["game5/small"] and len(answer.measured) == 5
    assert answer.best_metric == "tracker"
    tracker = answer.predictors.set_index("metric").loc["tracker"]
    # On the five measured scenarios tracker's Spearman r is 1 and LoI's is corr(loi, benefit).
    loi_r = scipy.stats.spearmanr([0.9, 0.5, 0.6, 0.1, 0.2], [0.30, 0.20, 0.05, -0.05, -0.10]).statistic
    assert tracker["difference"] == pytest.approx(1.0 - loi_r)
    # The oracle is not metric-driven; greedy(loi) beats uniform at budget 12 only.
    assert answer.beats_uniform == {"greedy(tracker)": [6.0, 12.0], "greedy(loi)": [12.0]}
    words = " ".join(answer.sentences)
    assert "2 of 5 scenarios" in words and "game5/small" in words and "tracker" in words


def test_no_benefit_and_no_gain_are_said_plainly() -> None:
    tables = _tables()
    tables[Table.BENEFIT_BY_PARTNER]["benefit_ci_low"] = -1.0
    tables[Table.FRONTIER]["gain_ci_low"] = -1.0
    answer = suite_answer(tables)
    assert answer.pays_off == [] and answer.beats_uniform == {}
    assert answer.sentences[0].startswith("Diversity did not pay off")
    assert answer.sentences[2].startswith("No metric-driven allocator beats uniform")


def test_the_summary_is_rendered_from_the_committed_files_only(tmp_path) -> None:
    for table, frame in _tables().items():
        frame.to_csv(tmp_path / f"{table.value}.csv", index=False)
    (tmp_path / MANIFEST).write_text(json.dumps({"git_revision": "abc1234", "stage_seconds": {"a": 120, "b": 60}}))
    assert set(read_folder(tmp_path)) == set(_tables())
    text = suite_markdown(tmp_path)
    assert "git revision `abc1234`" in text and "Wall time recorded by the run's stage markers: 3 min" in text
    assert "| `game0/small` | 0.900 | +0.30 [+0.10, +0.50]" in text
    assert "| tracker | +1.00 [+0.70, +1.00]" in text
    assert "| greedy(tracker) | +1.000 [+0.900, +1.100] | +1.000 [+0.900, +1.100] |" in text
    assert FIGURE in text
