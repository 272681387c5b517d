"""The README's interaction-metric tables, rendered from a results folder's committed CSVs.

``scripts/interaction_metrics_authors.py`` writes the folder (docs/results/authors/) from
``loi.pipeline.paper.analyse_paper_data``: the long metrics table, every tournament folder's
predictor correlations, allocation gains and cross-fitted allocations, the per-scenario PP5
benefit, and a manifest. :func:`predictors_markdown` reads only those files, so the README (which
quotes ``PREDICTORS_MARKDOWN`` verbatim; tests/test_results_predictors.py) cannot drift from them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from loi.allocation.predictors import POOLED
from loi.pipeline.paper import PREDICTOR_METRICS, TournamentFolder

METRICS_FILE = "metrics.csv"  # loi.metrics.METRIC_COLUMNS, one row per scenario and labelled metric
PREDICTORS_FILE = "predictors.csv"  # folder + loi.allocation.predictors.CORRELATION_COLUMNS
GAINS_FILE = "predictor_gains.csv"  # folder + GAIN_COLUMNS
ALLOCATIONS_FILE = "predictor_allocations.csv"  # folder + ALLOCATION_COLUMNS
BENEFITS_FILE = "benefits.csv"  # folder, game, scenario, benefit (the predicted quantity), its CI
MANIFEST_FILE = "manifest.json"
PREDICTORS_MARKDOWN = "predictors.md"
BENEFIT_SENTENCE = "Benefit = (mean PP5 − mean SP5) / 2, Bobs averaged first:"


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    """An all-empty ``note`` column reads back as float NaN; make it text."""
    return frame.fillna({"note": ""}) if "note" in frame.columns else frame


def read_csv(folder: str | Path, name: str) -> pd.DataFrame:
    """One of the folder's tables as written (``note`` as text)."""
    return _text(pd.read_csv(Path(folder) / name, dtype={"note": str}))


def _number(value: float, digits: int, sign: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _p(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.1e}" if value < 1e-3 else f"{value:.3f}"


def _interval(value: float, low: float, high: float, digits: int, sign: bool = False) -> str:
    return (f"{_number(value, digits, sign)} [{_number(low, digits, sign)}, "
            f"{_number(high, digits, sign)}]")


def _metric_order(labels) -> list[str]:
    """``PREDICTOR_METRICS``' labels first, in their order; any other metric after, as found."""
    known = [label for label, _, _ in PREDICTOR_METRICS]
    present = list(dict.fromkeys(labels))
    return [m for m in known if m in present] + [m for m in present if m not in known]


def _folder_heading(entry: dict) -> str:
    folder = TournamentFolder(entry["folder"], entry["label"], dict(entry.get("generations", {})))
    note = folder.training_note("PP5")
    return f"**{folder.label}, `{folder.name}/`" + (f": {note}" if note else "") + "**"


def _metrics_table(metrics: pd.DataFrame) -> list[str]:
    names = _metric_order(metrics["metric"])
    rows = metrics.set_index(["scenario", "metric"])
    lines = ["| scenario | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for scenario in sorted(metrics["scenario"].unique()):
        cells = []
        for name in names:
            if (scenario, name) not in rows.index:
                cells.append("—")
                continue
            r = rows.loc[(scenario, name)]
            cells.append(_interval(r["score"], r["corrected_ci_low"], r["corrected_ci_high"], 3))
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return lines


def _correlation_cell(rows: pd.DataFrame) -> str:
    if rows.empty:
        return "—"
    r = rows.iloc[0]
    if not math.isfinite(r["r"]):
        return r["note"] or "—"
    return f"{_interval(r['r'], r['ci_low'], r['ci_high'], 2)}, p = {_p(r['p_value'])}"


def _gain_cell(rows: pd.DataFrame) -> str:
    if rows.empty:
        return "—"
    r = rows.iloc[0]
    if r["note"]:
        return r["note"]
    return f"{_interval(r['difference'], r['ci_low'], r['ci_high'], 3, sign=True)}, p = {_p(r['p_value'])}"


def _folder_table(correlations: pd.DataFrame, gains: pd.DataFrame) -> list[str]:
    games = sorted(set(correlations["group"]) - {POOLED})
    groups = games + ([POOLED] if POOLED in set(correlations["group"]) else [])
    lines = ["| metric | " + " | ".join(f"Spearman, {g}" for g in groups)
             + " | Pearson, pooled (z within game) | cross-fitted greedy − uniform PP3, all games [95% CI], p |",
             "|---|" + "---|" * (len(groups) + 2)]
    for name in _metric_order(correlations["metric"]):
        mine = correlations[correlations["metric"] == name]
        cells = [_correlation_cell(mine[(mine["group"] == g) & (mine["method"] == "spearman")]) for g in groups]
        cells.append(_correlation_cell(mine[(mine["group"] == POOLED) & (mine["method"] == "pearson")]))
        cells.append(_gain_cell(gains[(gains["metric"] == name) & (gains["group"] == POOLED)]))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def predictors_markdown(folder: str | Path) -> str:
    """The README's tables from ``folder``'s files: per scenario each metric's null-corrected
    score [95% CI]; then, per tournament folder of the manifest, each metric's Spearman r
    [95% CI], p per game and pooled (ranks within game), the pooled Pearson (z within game) and
    the cross-fitted greedy allocation minus uniform PP3 on all evaluations [95% CI], p."""
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    metrics = read_csv(folder, METRICS_FILE)
    correlations = read_csv(folder, PREDICTORS_FILE)
    gains = read_csv(folder, GAINS_FILE)
    lines = _metrics_table(metrics) + ["", BENEFIT_SENTENCE]
    for entry in manifest["tournaments"]:
        mine = correlations[correlations["folder"] == entry["folder"]]
        if mine.empty:
            continue  # no comparison in this folder (fewer than 2 complete games)
        lines += ["", _folder_heading(entry), ""]
        lines += _folder_table(mine, gains[gains["folder"] == entry["folder"]])
    return "\n".join(lines) + "\n"


__all__ = ["ALLOCATIONS_FILE", "BENEFITS_FILE", "GAINS_FILE", "MANIFEST_FILE", "METRICS_FILE",
           "PREDICTORS_FILE", "PREDICTORS_MARKDOWN", "predictors_markdown", "read_csv"]
