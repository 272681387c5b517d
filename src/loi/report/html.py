"""One self-contained HTML report of a run directory.

Figures are PNG images embedded as base64 ``data:`` URIs and the style is
inline, so the file has no external resources: it can be mailed, archived or
opened offline. Sections whose stage has not finished say so.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from loi.errors import LoiError
from loi.tables.io import atomic_write

REPORT_FILE = "report.html"

_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #4c72b0; padding-bottom: .2em; }
h2 { margin-top: 2em; color: #2b4a7a; }
table { border-collapse: collapse; margin: .8em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #eef2f8; }
td.text, th.text { text-align: left; }
img { max-width: 100%; display: block; margin: .6em 0; }
.pending { color: #a33; font-style: italic; }
.note { color: #555; font-size: 13px; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: 12px; }
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.2e}"
        return f"{value:.3f}"
    return html.escape(str(value))


def _table(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    frame = frame if columns is None else frame[[c for c in columns if c in frame.columns]]
    head = "".join(f"<th class='{'text' if frame[c].dtype == object else ''}'>{html.escape(c)}</th>"
                   for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = "".join(f"<td class='{'text' if isinstance(v, str) else ''}'>{_fmt(v)}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def _pending(what: str) -> str:
    return f"<p class='pending'>{html.escape(what)}: stage not finished yet.</p>"


def _read(run_dir: Path, name: str) -> pd.DataFrame | None:
    path = run_dir / "tables" / f"{name}.parquet"
    return pd.read_parquet(path) if path.is_file() else None


def _curves(run_dir: Path) -> pd.DataFrame | None:
    frames = []
    for path in sorted((run_dir / "train").glob("*/*/*/curves.parquet")):
        frame = pd.read_parquet(path, columns=["scenario", "seed", "member", "generation", "update", "env_steps",
                                               "mean_episode_return", "mean_return_per_step"])
        frame["role"] = path.parent.name
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else None


def _plateau_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Settling step of every (scenario, role): the mean over seeds and members
    of the return per step after each update (loi.metrics.plateau)."""
    from loi.report import figures

    rows = []
    for (scenario, role), part in curves.groupby(["scenario", "role"], sort=True):
        stats, plateau = figures.role_curve(part)
        row = {"scenario": scenario, "role": role, "updates": len(stats), "settling_step": float("nan"),
               "fraction_of_training": float("nan"), "plateau_reached": False, "last_fifth_change": float("nan"),
               "final_return_per_step": float("nan")}
        if plateau is not None:  # None: too few updates to judge, reported as not reached
            row.update(settling_step=plateau.step if plateau.step is not None else float("nan"),
                       fraction_of_training=plateau.fraction if plateau.fraction is not None else float("nan"),
                       plateau_reached=plateau.reached, last_fifth_change=plateau.late_change,
                       final_return_per_step=plateau.final)
        rows.append(row)
    return pd.DataFrame(rows)


def _figure(draw: Callable[[], bytes], alt: str) -> str:
    try:
        return _img(draw(), alt)
    except Exception as err:  # a figure that cannot be drawn must not lose the rest of the report
        return f"<p class='pending'>figure '{html.escape(alt)}' could not be drawn: {html.escape(str(err))}</p>"


def build_report(run_dir: str | Path) -> str:
    """The report of ``run_dir`` as an HTML string."""
    from loi.pipeline.run import read_study, study_status
    from loi.report import figures

    run_dir = Path(run_dir)
    study = read_study(run_dir)
    config = study.get("config", {})
    menu = {k: float(v) for k, v in config.get("menu", {}).items()}
    parts = [f"<h1>loi study “{html.escape(str(study.get('name')))}”</h1>"]
    status = study_status(run_dir)
    parts.append(_table(pd.DataFrame([{"stage": s["stage"], "description": s["description"],
                                       # The report stage is the one writing this file.
                                       "status": "done" if s["done"] else
                                       "this report" if s["stage"] == "report" else "pending",
                                       "seconds": (s["summary"] or {}).get("seconds", float("nan"))}
                                      for s in status])))

    loi = _read(run_dir, "loi")
    crossplay = _read(run_dir, "crossplay")
    parts.append("<h2>Level of Influence</h2>")
    if loi is None:
        parts.append(_pending("LoI"))
    else:
        parts.append("<p class='note'>LoI = I(R; co-player) in nats, with its bootstrap CI, the permutation-null "
                     "mean (the estimator's value when the co-player does not matter) and the corrected value "
                     "LoI − null. p: permutation p-value for LoI &gt; 0. Allocators use the corrected value.</p>")
        parts.append(_figure(lambda: figures.loi_figure(loi), "LoI per scenario"))
        parts.append(_table(loi, ["scenario", "estimator", "ci_method", "loi", "ci_low", "ci_high", "null_mean",
                                  "corrected", "p_value", "episodes", "blocks"]))
    parts.append("<h2>Ego returns per co-player</h2>")
    if crossplay is None:
        parts.append(_pending("cross-play"))
    else:
        parts.append(_figure(lambda: figures.ridge_figure(crossplay), "ridge plots"))
        parts.append("<h2>Cross-play heatmaps</h2>")
        parts.append(_figure(lambda: figures.heatmap_figure(crossplay), "cross-play heatmaps"))

    parts.append("<h2>Learning curves</h2>")
    curves = _curves(run_dir)
    parts.append(_pending("training") if curves is None else _figure(lambda: figures.curves_figure(curves),
                                                                    "learning curves"))
    if curves is not None:
        parts.append("<p class='note'>Plateau: the step after which the smoothed return per step (mean over "
                     "seeds and members, every update) stays within 10% of its range around its final level; "
                     "<b>reached</b> when that happens before the last 20% of training; <b>last_fifth_change</b>: "
                     "how much the mean level moved over the last fifth of training, as a fraction of the curve's "
                     "range (the strict test: a curve still creeping up settles by the band rule). The learning rate is "
                     "annealed to zero, which flattens the end of every curve by itself: "
                     "<code>benchmarks/plateau.py</code> measures the plateau with a constant rate.</p>")
        parts.append(_table(_plateau_table(curves)))

    parts.append("<h2>Allocation</h2>")
    allocation = _read(run_dir, "allocation")
    crossfit = _read(run_dir, "allocation_crossfit")
    if allocation is not None and crossfit is not None:
        allocation = pd.concat([allocation, crossfit], ignore_index=True)
    if allocation is None:
        parts.append(_pending("allocation"))
    else:
        parts.append(f"<p class='note'>Budget per game: {_fmt(float(config.get('budget', float('nan'))))} "
                     f"(menu costs: {html.escape(json.dumps(menu))}); chosen allocator: "
                     f"<b>{html.escape(str(config.get('allocator')))}</b>; uniform: "
                     f"{html.escape(str(config.get('uniform')))}.</p>")
        if crossfit is not None:
            parts.append("<p class='note'><b>greedy_crossfit</b>: the greedy allocator with its benefit-vs-LoI "
                         "lines fitted on this run's other games only (leave one game out), so the scores that "
                         "judge it below never shaped it.</p>")
        parts.append(_figure(lambda: figures.allocation_figure(allocation, menu), "allocation"))
        wide = allocation.pivot_table(index=["game", "scenario", "loi"], columns="allocator", values="regime",
                                      aggfunc="first").reset_index()
        wide.columns.name = None
        parts.append(_table(wide))

    parts.append("<h2>Fixed-Bob tournaments</h2>")
    scores = _read(run_dir, "scores")
    if scores is None:
        parts.append(_pending("tournament"))
    else:
        parts.append(_figure(lambda: figures.tournament_figure(scores, menu), "tournament scores"))
        summary = scores.groupby(["scenario", "regime"]).agg(mean=("score", "mean"), sd=("score", "std"),
                                                             n=("score", "size")).reset_index()
        parts.append(_table(summary))

    parts.append("<h2>Statistics</h2>")
    anova, correlation, comparison = (_read(run_dir, n) for n in ("anova", "correlation", "comparison"))
    if comparison is None:
        parts.append(_pending("statistics"))
    else:
        parts.append("<h3>Heuristic vs uniform allocation</h3><p class='note'>Scores normalised per scenario by the "
                     "SP mean. Protocol <b>all</b> (default): every evaluation, one-sided Welch t-test, Hedges' g "
                     "with a bootstrap CI. <b>top&lt;k&gt;</b>: the paper's truncated protocol (top-k scores per "
                     "scenario and regime, Student t-test), shown as a labelled extra only.</p>")
        parts.append(_table(comparison))
        parts.append("<h3>ANOVA across regimes, per scenario</h3>")
        parts.append(_table(anova))
        parts.append("<h3>LoI vs population-play benefit, per game (Pearson)</h3>")
        benefit = _read(run_dir, "benefit")
        if benefit is not None:
            parts.append(_table(benefit))
        parts.append(_table(correlation))

    parts.append("<h2>Config and versions</h2>")
    parts.append(f"<pre>{html.escape(json.dumps(study.get('versions', {}), indent=2))}</pre>")
    config_view = {k: v for k, v in config.items() if k != "definitions"}
    parts.append(f"<pre>{html.escape(json.dumps(config_view, indent=2, sort_keys=True))}</pre>")
    if config.get("definitions"):
        parts.append(f"<p class='note'>User definitions:</p><pre>{html.escape(config['definitions'])}</pre>")
    parts.append(f"<p class='note'>config hash {html.escape(str(study.get('config_hash')))}</p>")
    title = html.escape(f"loi report: {study.get('name')}")
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``run_dir`` (default ``RUN_DIR/report.html``) atomically."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LoiError(f"run directory not found: {run_dir}")
    out = Path(out) if out is not None else run_dir / REPORT_FILE
    text = build_report(run_dir)
    with atomic_write(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out
