"""The README's interaction-metric tables on the authors' data (issue 28) and the files they come from.

docs/results/authors/ is written by ``scripts/interaction_metrics_authors.py PAPER_DATA``
(``loi.pipeline.paper.analyse_paper_data``, 1000 permutations and resamples, seed 0). Its
predictors.md is what ``loi.report.predictors.predictors_markdown`` renders from the committed
CSVs, and the README quotes it verbatim. The correlations are re-derived here by hand from the
committed metric scores and benefits, and, where the authors' data is present, the point
statistics are recomputed from it (cheaply: no 1000-permutation rerun).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from loi.report.predictors import (ALLOCATIONS_FILE, BENEFITS_FILE, GAINS_FILE, MANIFEST_FILE, METRICS_FILE,
                                   PREDICTORS_FILE, PREDICTORS_MARKDOWN, predictors_markdown, read_csv)

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "results" / "authors"
HEADING = "## Interaction metrics beyond LoI"
METRICS = ("loi (knn)", "loi (paper)", "eta2", "icc")
FOLDERS = ("tournament", "tournament_25gen")


@pytest.fixture(scope="module")
def committed() -> dict[str, pd.DataFrame]:
    return {name: read_csv(FOLDER, name)
            for name in (METRICS_FILE, PREDICTORS_FILE, GAINS_FILE, ALLOCATIONS_FILE, BENEFITS_FILE)}


def _paired(committed, folder: str, metric: str) -> pd.DataFrame:
    """Per scenario of ``folder``: its game, the metric's committed score and the benefit."""
    metrics = committed[METRICS_FILE]
    scores = metrics[metrics["metric"] == metric].set_index("scenario")["score"]
    benefits = committed[BENEFITS_FILE]
    frame = benefits[benefits["folder"] == folder].set_index("scenario")[["game", "benefit"]]
    return frame.assign(score=scores.reindex(frame.index)).sort_index()


def _row(committed, folder: str, metric: str, group: str, method: str) -> pd.Series:
    c = committed[PREDICTORS_FILE]
    rows = c[(c["folder"] == folder) & (c["metric"] == metric) & (c["group"] == group) & (c["method"] == method)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_predictors_markdown_is_rendered_from_the_committed_tables() -> None:
    assert (FOLDER / PREDICTORS_MARKDOWN).read_text() == predictors_markdown(FOLDER)


def test_readme_holds_the_predictor_tables_verbatim_in_its_section() -> None:
    readme = (ROOT / "README.md").read_text()
    assert HEADING in readme
    section = readme[readme.index(HEADING):]
    end = section.find("\n## ", 1)  # the next section, if any
    section = section if end < 0 else section[:end]
    assert (FOLDER / PREDICTORS_MARKDOWN).read_text() in section


def test_manifest_records_the_command_the_data_and_the_revision(committed) -> None:
    manifest = json.loads((FOLDER / MANIFEST_FILE).read_text())
    assert manifest["command"].startswith("python scripts/interaction_metrics_authors.py ")
    assert (manifest["permutations"], manifest["bootstrap"], manifest["seed"]) == (1000, 1000, 0)
    assert len(manifest["versions"]["git"]) >= 7 and manifest["date"]
    folders = {t["folder"]: t for t in manifest["tournaments"]}
    assert set(folders) == set(FOLDERS)
    assert folders["tournament"]["generations"]["PP5"] == 50 and folders["tournament"]["generations"]["SP5"] == 25
    assert set(folders["tournament_25gen"]["generations"].values()) == {25}
    for name in (PREDICTORS_FILE, GAINS_FILE, ALLOCATIONS_FILE, BENEFITS_FILE):
        assert set(committed[name]["folder"]) == set(FOLDERS)
    metrics = committed[METRICS_FILE]
    assert sorted(metrics["metric"].unique()) == sorted(METRICS)
    assert metrics.groupby("metric").size().eq(12).all()  # 3 games x 4 layouts


@pytest.mark.parametrize("folder", FOLDERS)
@pytest.mark.parametrize("metric", METRICS)
def test_correlations_follow_from_the_committed_scores_and_benefits(committed, folder: str, metric: str) -> None:
    """Per game: scipy's Spearman, its exact p over the 4! orders; pooled: Pearson of ranks
    centred within game, and of z-scores within game, with the exact p over all within-game
    orders (4!^3) -- computed here independently of loi.allocation.predictors."""
    paired = _paired(committed, folder, metric)
    centred, zscored, blocks = [], [], []
    for game, part in paired.groupby("game"):
        x, y = part["score"].to_numpy(), part["benefit"].to_numpy()
        row = _row(committed, folder, metric, game, "spearman")
        assert row["r"] == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-9)
        null = [scipy.stats.spearmanr(x, y[list(order)]).statistic for order in itertools.permutations(range(4))]
        assert row["p_value"] == pytest.approx(np.mean(np.abs(null) >= abs(row["r"]) - 1e-12), abs=1e-9)
        ranks = lambda v: scipy.stats.rankdata(v) - scipy.stats.rankdata(v).mean()  # noqa: E731
        z = lambda v: (v - v.mean()) / v.std()  # noqa: E731
        centred.append((ranks(x), ranks(y)))
        zscored.append((z(x), z(y)))
        blocks.append(len(x))
    for method, pairs in (("spearman", centred), ("pearson", zscored)):
        x = np.concatenate([p[0] for p in pairs])
        y = [p[1] for p in pairs]
        row = _row(committed, folder, metric, "pooled", method)
        r = np.corrcoef(x, np.concatenate(y))[0, 1]
        assert row["r"] == pytest.approx(r, abs=1e-9)
        # Every within-game reordering of the benefits: (4!)^3 = 13,824 rows.
        orders = [np.array(list(itertools.permutations(range(n)))) for n in blocks]
        permuted = [b[o] for b, o in zip(y, orders)]
        grids = np.meshgrid(*[np.arange(len(o)) for o in orders], indexing="ij")
        null_y = np.concatenate([p[g.ravel()] for p, g in zip(permuted, grids)], axis=1)
        xc, yc = x - x.mean(), null_y - null_y.mean(axis=1, keepdims=True)
        null = yc @ xc / (np.linalg.norm(xc) * np.linalg.norm(yc, axis=1))
        assert row["p_value"] == pytest.approx(np.mean(np.abs(null) >= abs(r) - 1e-12), abs=1e-9)
        assert row["ci_low"] <= row["r"] + 1e-12 and row["r"] <= row["ci_high"] + 1e-12


def test_a_gain_is_empty_exactly_when_the_allocation_is_uniform(committed) -> None:
    gains, allocations = committed[GAINS_FILE], committed[ALLOCATIONS_FILE]
    pooled = gains[gains["group"] == "pooled"]
    assert len(pooled) == len(FOLDERS) * len(METRICS)
    for row in pooled.itertuples(index=False):
        mine = allocations[(allocations["folder"] == row.folder) & (allocations["metric"] == row.metric)]
        assert len(mine) == 12
        uniform = bool((mine["regime"] == "PP3").all())
        assert (row.note == "same allocation as uniform") == uniform
        if not uniform:
            assert row.ci_low <= row.difference <= row.ci_high and 0 <= row.p_value <= 1


def test_committed_statistics_are_recomputed_from_the_authors_data(committed, paper_data: Path) -> None:
    """The point statistics and benefits do not depend on the resamples: a 50-permutation,
    no-bootstrap measurement of the same tensors gives them again."""
    from loi.tables import PP5, SP5
    from loi.metrics import measure_metrics
    from loi.pipeline.paper import discover_cross_play, tournament_scores
    from loi.pipeline.statistics import population_benefit
    from loi.tables import cross_play_table

    manifest = json.loads((FOLDER / MANIFEST_FILE).read_text())
    found = discover_cross_play(paper_data)
    assert {game: run for game, (run, _) in found.items()} == manifest["cross_play_runs"]
    table = pd.concat([cross_play_table(p) for _, files in found.values() for p in files.values()],
                      ignore_index=True)
    fresh = pd.concat([
        measure_metrics(table, ["eta2", "icc"], permutations=50, bootstrap=0),
        measure_metrics(table, ["loi"], estimator="paper", permutations=50, bootstrap=0).assign(metric="loi (paper)"),
    ]).set_index(["scenario", "metric"])["statistic"]
    metrics = committed[METRICS_FILE].set_index(["scenario", "metric"])["statistic"]
    for metric in ("eta2", "icc", "loi (paper)"):
        mine = metrics.xs(metric, level="metric")
        assert mine.to_numpy() == pytest.approx(fresh.xs(metric, level="metric").loc[mine.index].to_numpy(),
                                                abs=1e-6)
    benefits = committed[BENEFITS_FILE]
    for row in benefits.itertuples(index=False):
        layout = row.scenario.split("/")[1]
        scores = tournament_scores(paper_data, row.game, layout, folder=row.folder)
        assert row.benefit == pytest.approx(population_benefit(scores, PP5, SP5)["benefit_raw"], abs=1e-6)
