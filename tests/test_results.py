"""The committed results of the studies the README reports, and the README sections that hold them.

Each folder under docs/results/ holds a study's summary tables; the README's tables are its
summary.md verbatim; that file is what ``markdown_summary`` renders from the committed CSVs, and
the manifest holds the exact config text (for examples/why.toml, fixed before any setting ran)
with every setting's git revision. Editing a number by hand in any of these breaks a test.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from loi.pipeline.factorial import AUTHORS, MANIFEST, MARKDOWN, decision_table, is_authors, markdown_summary

ROOT = Path(__file__).resolve().parents[1]
# folder under docs/results, its config, the README section holding it, its settings, scenarios per setting
STUDIES = {
    "why": ("examples/why.toml", "## Does it reproduce the paper?",
            ["faithful", "feedforward", "concurrent", "long", "as_run", "ours"], 8),
    "paper": ("examples/paper.toml", "## The paper's study on 2 cores", ["paper"], 16),
    "overcooked/study": ("examples/overcooked.toml", "### The Overcooked study", ["overcooked"], 5),
}
each_study = pytest.mark.parametrize("study", sorted(STUDIES))


def _folder(study: str) -> Path:
    return ROOT / "docs" / "results" / study


@each_study
def test_summary_markdown_is_rendered_from_the_committed_tables(study: str) -> None:
    assert (_folder(study) / MARKDOWN).read_text() == markdown_summary(_folder(study))


@each_study
def test_decisions_follow_from_the_committed_scenarios_and_correlations(study: str) -> None:
    scenarios = pd.read_csv(_folder(study) / "scenarios.csv")
    correlations = pd.read_csv(_folder(study) / "correlations.csv", dtype={"note": str}).fillna({"note": ""})
    expected = decision_table(scenarios, correlations)
    committed = pd.read_csv(_folder(study) / "decisions.csv")
    pd.testing.assert_frame_equal(committed, expected, check_dtype=False, rtol=1e-5)


@each_study
def test_readme_holds_the_summary_verbatim_in_its_section(study: str) -> None:
    readme = (ROOT / "README.md").read_text()
    heading = STUDIES[study][1]
    assert heading in readme
    section = readme[readme.index(heading):]
    end = section.find("\n## ", 1)  # the next section, if any
    section = section if end < 0 else section[:end]
    assert (_folder(study) / MARKDOWN).read_text() in section


@each_study
def test_manifest_records_the_config_and_each_settings_revision(study: str) -> None:
    config, _, names, per_setting = STUDIES[study]
    manifest = json.loads((_folder(study) / MANIFEST).read_text())
    # The config that ran, setting for setting (its comments may have been brought up to date since).
    assert tomllib.loads(manifest["config"]) == tomllib.loads((ROOT / config).read_text())
    assert manifest["factorial"] == Path(config).stem
    for setting in manifest["settings"]:
        assert len(setting["git_revision"]) >= 7 and setting["seconds"] > 0
    assert sorted([s["name"] for s in manifest["settings"]] + manifest["pending"]) == sorted(names)
    scenarios = pd.read_csv(_folder(study) / "scenarios.csv")
    authors = scenarios["setting"].map(is_authors)
    assert set(scenarios.loc[~authors, "setting"]) == {s["name"] for s in manifest["settings"]}
    sizes = scenarios.groupby("setting").size()
    assert (sizes[[not is_authors(s) for s in sizes.index]] == per_setting).all()  # games x layouts each
    # The authors' rows, from their released tournaments (authors) and those at matched training
    # (authors_25gen): the 4 layouts of each of the study's games they released (not stag_hunt).
    released = {"chicken", "prisoners_dilemma", "pure_coordination"}
    studied = set(scenarios.loc[~authors, "game"])
    for setting in (AUTHORS, "authors_25gen"):
        assert set(scenarios.loc[scenarios["setting"] == setting, "game"]) == studied & released
        assert sizes.get(setting, 0) == 4 * len(studied & released)


@pytest.mark.parametrize("study", ["why", "paper"])  # the studies of the games the authors released
def test_authors_rows_are_recomputed_from_their_data(study: str, paper_data: Path) -> None:
    from loi.pipeline.factorial import authors_tables

    scenarios = pd.read_csv(_folder(study) / "scenarios.csv")
    committed = scenarios[scenarios["setting"].map(is_authors)].set_index(["setting", "scenario"])
    tables = authors_tables(paper_data, tuple(dict.fromkeys(committed["game"])))
    fresh = tables["scenarios"].set_index(["setting", "scenario"])
    assert set(fresh.index) == set(committed.index)
    for column in ("loi", "benefit", "benefit_ci_low", "benefit_ci_high", "benefit_raw"):
        assert committed[column].to_numpy() == pytest.approx(fresh.loc[committed.index, column].to_numpy(),
                                                             rel=1e-4, abs=1e-6)


def test_overcooked_self_play_delivers_soups_as_the_readme_says() -> None:
    """docs/results/overcooked/soups.csv (benchmarks/overcooked_soups.py): every layout's final
    self-play agents deliver soups (random players deliver none), and the README quotes those
    final counts."""
    soups = pd.read_csv(ROOT / "docs" / "results" / "overcooked" / "soups.csv")
    readme = (ROOT / "README.md").read_text()
    for layout, rows in soups.groupby("layout", sort=False):
        random = rows[rows["policy"] == "random"].iloc[0]
        final = rows[rows["policy"] == "self-play"].sort_values("generation").iloc[-1]
        assert final["soups_per_episode"] - 3 * final["soups_se"] > random["soups_per_episode"] + 3 * random["soups_se"]
        assert f"{layout} {final['soups_per_episode']:.1f}" in readme


def test_refresh_authors_replaces_only_the_authors_rows(tmp_path: Path, paper_data: Path) -> None:
    # What scripts/refresh_authors_rows.py runs on a committed summary: the authors' rows come
    # back as recomputed from their data, the other settings' rows as they were.
    import shutil

    from loi.pipeline.factorial import refresh_authors

    folder = tmp_path / "why"
    shutil.copytree(_folder("why"), folder)
    scenarios = pd.read_csv(folder / "scenarios.csv")
    scenarios.loc[scenarios["setting"].map(is_authors), "loi"] = 9.0  # stale values
    scenarios.to_csv(folder / "scenarios.csv", index=False, float_format="%.6g")
    refresh_authors(folder, paper_data)
    refreshed = pd.read_csv(folder / "scenarios.csv")
    ours = ~scenarios["setting"].map(is_authors)
    pd.testing.assert_frame_equal(refreshed[ours.to_numpy()], scenarios[ours], check_dtype=False)
    committed = pd.read_csv(_folder("why") / "scenarios.csv")
    assert refreshed["loi"].to_numpy() == pytest.approx(committed["loi"].to_numpy(), rel=1e-5)
    assert (folder / MARKDOWN).read_text() == (_folder("why") / MARKDOWN).read_text()


def test_readme_quotes_the_bots_cross_play_table() -> None:
    """README "Partners that differ": its table is docs/results/bots/pure_coordination_3x3.md's
    summary table, line for line, and the sentence's figures are that table's."""
    text = (ROOT / "docs" / "results" / "bots" / "pure_coordination_3x3.md").read_text()
    start = text.index("| SP egos' partner |")
    table = text[start:].split("\n\n")[0].strip().splitlines()
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Partners that differ: Melting Pot's bots"):]
    section = section[:section.index("\n## ")]
    for line in table:
        assert line in section
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1] for line in table[2:]}
    own, other = float(rows["own seed (self-play)"].split()[0]), float(rows["other SP seeds"].split()[0])
    assert f"score {own:.0f}\nwith their own partner and {other:.0f} with other seeds" in section
    assert rows["own seed − other SP seeds (paired over SP egos)"] in section


def test_readme_quotes_the_authors_training_return_table() -> None:
    """README "What the authors' population-play benefit is made of", fact 3: the table is
    return_change_markdown of the committed docs/results/paper/authors_training_return.csv."""
    from loi.tables.authors_logs import return_change_markdown

    table = pd.read_csv(ROOT / "docs" / "results" / "paper" / "authors_training_return.csv", comment="#")
    expected = return_change_markdown(table, ("prisoners_dilemma", "chicken", "pure_coordination", "stag_hunt"))
    assert expected in (ROOT / "README.md").read_text()


def test_readme_matched_training_table_is_loi_papers(paper_data: Path) -> None:
    """The README's released-vs-matched prisoners_dilemma table: the benefits and CIs `loi paper`
    computes from the authors' tournament/ and tournament_25gen/."""
    from loi.pipeline.paper import analyse_paper_data

    analysis = analyse_paper_data(paper_data, permutations=5, bootstrap=0, resamples=100, predictors=False)
    game = analysis.games["prisoners_dilemma"]
    readme = (ROOT / "README.md").read_text()

    def cell(stats) -> str:
        low, high = stats.benefit_ci
        return (f"{stats.benefit:+.2f} [{low:+.2f}, {high:+.2f}]").replace("-", "−")

    for layout in "SMLO":
        released = game.tournaments["tournament"].layouts[layout]
        matched = game.tournaments["tournament_25gen"].layouts[layout]
        assert f"| {layout} | {cell(released)} | {cell(matched)} |" in readme


def test_the_as_run_learning_curve_claims_follow_from_the_committed_csvs() -> None:
    """README "as_run": loi's PP5 return per step from generation 25 to 50 against the authors'."""
    ours = pd.read_csv(_folder("why") / "as_run_training_return.csv", comment="#")
    ours = ours[ours["regime"] == "pp5"].assign(game=lambda t: t["scenario"].str.split("/").str[0])
    ours["relative"] = 100 * ours["change"] / ours["return_early"]
    pd_rows, chicken = ours[ours["game"] == "prisoners_dilemma"], ours[ours["game"] == "chicken"]
    assert round(pd_rows["relative"].min(), 1) == -0.4 and round(pd_rows["relative"].max(), 1) == 1.7
    assert ((pd_rows["change_ci_low"] < 0) & (pd_rows["change_ci_high"] > 0)).all()
    assert round(chicken["relative"].min()) == 2 and round(chicken["relative"].max()) == 9
    assert (chicken["change_ci_low"] > 0).all()
    authors = pd.read_csv(_folder("paper") / "authors_training_return.csv", comment="#")
    authors = authors[authors["regime"] == "PP5"]
    relative = 100 * authors["change"] / authors["return_early"]
    for game, low, high in (("prisoners_dilemma", 23, 59), ("chicken", 7, 50)):
        rows = relative[authors["game"] == game]
        assert (round(rows.min()), round(rows.max())) == (low, high)


# ----------------------------------------------------------------------------- the suite study

SUITE = ROOT / "docs" / "results" / "suite"


def test_suite_summary_is_rendered_from_its_committed_tables() -> None:
    from loi.report.suite import MARKDOWN, suite_markdown

    assert (SUITE / MARKDOWN).read_text() == suite_markdown(SUITE)


def test_suite_figure_is_drawn_from_its_committed_frontier(tmp_path) -> None:
    from loi.report.suite import FIGURE, render_figure

    assert render_figure(SUITE, tmp_path / FIGURE).read_bytes() == (SUITE / FIGURE).read_bytes()


def test_readme_holds_the_suite_summary_verbatim() -> None:
    from loi.report.suite import MARKDOWN

    readme = (ROOT / "README.md").read_text()
    heading = "## Where does diversity pay off?"
    section = readme[readme.index(heading):]
    end = section.find("\n## ", 1)
    assert (SUITE / MARKDOWN).read_text() in (section if end < 0 else section[:end])


def test_suite_manifest_holds_the_config_that_ran() -> None:
    manifest = json.loads((SUITE / "manifest.json").read_text())
    assert tomllib.loads(manifest["config"]) == tomllib.loads((ROOT / "examples/suite.toml").read_text())
    assert len(manifest["git_revision"]) >= 7 and sum(manifest["stage_seconds"].values()) > 0


def test_readme_suite_words_match_the_committed_tables() -> None:
    """The plain-words findings above the rendered summary, checked against the CSVs."""
    import scipy.stats

    benefit = pd.read_csv(SUITE / "benefit.csv").set_index("scenario")
    measured = benefit.dropna(subset=["benefit"])
    assert len(measured) == 14 and set(benefit.index) - set(measured.index) == {
        "matrix/running_with_scissors", "running_with_scissors/meltingpot_pure_coordination"}
    assert list(measured.index[measured["benefit_ci_low"] > 0]) == ["matrix/pure_coordination_3x3"]
    assert sorted(measured.index[measured["benefit_ci_high"] < 0]) == [
        "jaxmarl:overcooked/cramped_room?reward_shaping=1", "prisoners_dilemma/medium", "pure_coordination/small",
        "stag_hunt/small"]
    partner = pd.read_csv(SUITE / "benefit_by_partner.csv")
    pooled = partner[(partner["partner_kind"] == "pooled") & (partner["scenario"] == "matrix/pure_coordination_3x3")]
    pooled = pooled.set_index("regime")
    assert (pooled.loc[["fcp2", "fcp3", "fcp5", "fcp5-bots"], "benefit_ci_low"] > 0).all()
    assert (pooled.loc[["pp3", "pp5", "pp5-generational"], "benefit_ci_low"] < 0).all()
    assert pooled.loc["pp5", "benefit_ci_high"] < 0
    # The check made after the rule: without the one scenario with a benefit.
    metrics = pd.read_csv(SUITE / "metrics.csv").pivot_table(index="scenario", columns="metric", values="score",
                                                              aggfunc="first")
    rest = measured.drop("matrix/pure_coordination_3x3")
    for metric in ("loi", "eta2", "icc"):
        r = scipy.stats.spearmanr(metrics.loc[rest.index, metric], rest["benefit"])
        assert 0.52 <= r.statistic <= 0.555 and 0.05 <= r.pvalue <= 0.065, (metric, r)
    frontier = pd.read_csv(SUITE / "frontier.csv")
    row = frontier[(frontier["allocator"] == "proportional") & (frontier["metric"] == "loi")
                   & (frontier["budget"] == 31.5)].iloc[0]
    assert (round(row["mean_score"], 3), round(row["ci_low"], 3), round(row["ci_high"], 3)) == (1.032, 1.016, 1.062)
    uniform = frontier[frontier["allocator"] == "uniform"].set_index("budget")["mean_score"].round(2)
    assert (uniform[49.0], uniform[75.25], uniform[84.0]) == (0.94, 0.91, 0.96)
    greedy = frontier[frontier["allocator"] == "greedy"]
    assert greedy[greedy["budget"] > 30]["mean_score"].round(3).eq(0.986).all()
