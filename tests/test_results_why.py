"""The committed results of examples/why.toml and the README section that reports them.

The README's tables are docs/results/why/summary.md verbatim; that file is what
``markdown_summary`` renders from the committed CSVs, and the manifest holds the exact
config text of examples/why.toml (fixed before any setting ran) with every setting's
git revision. Editing a number by hand in any of these breaks a test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from loi.pipeline.factorial import AUTHORS, MANIFEST, MARKDOWN, decision_table, markdown_summary

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results" / "why"


def test_summary_markdown_is_rendered_from_the_committed_tables() -> None:
    assert (RESULTS / MARKDOWN).read_text() == markdown_summary(RESULTS)


def test_decisions_follow_from_the_committed_scenarios_and_correlations() -> None:
    scenarios = pd.read_csv(RESULTS / "scenarios.csv")
    correlations = pd.read_csv(RESULTS / "correlations.csv", dtype={"note": str}).fillna({"note": ""})
    expected = decision_table(scenarios, correlations)
    committed = pd.read_csv(RESULTS / "decisions.csv")
    pd.testing.assert_frame_equal(committed, expected, check_dtype=False, rtol=1e-5)


def test_readme_holds_the_summary_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "## Does it reproduce the paper?" in readme
    assert (RESULTS / MARKDOWN).read_text() in readme


def test_manifest_records_the_preregistered_config_and_each_settings_revision() -> None:
    manifest = json.loads((RESULTS / MANIFEST).read_text())
    assert manifest["config"] == (ROOT / "examples" / "why.toml").read_text()
    assert manifest["factorial"] == "why"
    for setting in manifest["settings"]:
        assert len(setting["git_revision"]) >= 7 and setting["seconds"] > 0
    settings = [s["name"] for s in manifest["settings"]] + manifest["pending"]
    assert sorted(settings) == sorted(["faithful", "feedforward", "concurrent", "long", "ours"])
    scenarios = pd.read_csv(RESULTS / "scenarios.csv")
    assert set(scenarios["setting"]) == {s["name"] for s in manifest["settings"]} | {AUTHORS}
    assert (scenarios.groupby("setting").size() == 8).all()  # 2 games x 4 layouts everywhere


def test_authors_rows_are_recomputed_from_their_data(paper_data: Path) -> None:
    from loi.pipeline.factorial import authors_tables

    tables = authors_tables(paper_data, ("prisoners_dilemma", "chicken"))
    scenarios = pd.read_csv(RESULTS / "scenarios.csv")
    committed = scenarios[scenarios["setting"] == AUTHORS].set_index("scenario")
    fresh = tables["scenarios"].set_index("scenario")
    for column in ("loi", "benefit", "benefit_ci_low", "benefit_ci_high", "benefit_raw"):
        assert committed[column].to_numpy() == pytest.approx(fresh.loc[committed.index, column].to_numpy(),
                                                             rel=1e-4, abs=1e-6)
