"""One self-contained HTML report of a run directory.

Figures are PNG images embedded as base64 ``data:`` URIs and the style is
inline, so the file has no external resources: it can be mailed, archived or
opened offline. The page opens with the answer (:mod:`loi.report.summary`):
where the budget went and whether it paid off; then the evidence, stage by
stage. Sections whose stage has not finished say so.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from loi.errors import LoiError
from loi.pipeline.studydir import StudyDir, Table
from loi.report import summary as answer
from loi.tables.io import atomic_write

REPORT_FILE = StudyDir.REPORT_FILE
REFERENCE = "sp"  # the regime scores are normalised by (loi.pipeline.statistics)

_STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #4c72b0; padding-bottom: .2em; }
h2 { margin-top: 2em; color: #2b4a7a; }
table { border-collapse: collapse; margin: .8em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; overflow-wrap: break-word; }
th { background: #eef2f8; }
td.text, th.text { text-align: left; }
figure { margin: 1em 0 1.6em; }
figure img { max-width: 100%; height: auto; display: block; margin: .4em 0; }
figcaption { color: #444; font-size: 13px; max-width: 60em; }
.pending { color: #a33; font-style: italic; }
.note { color: #555; font-size: 13px; }
.banner { background: #fff4e5; border-left: 5px solid #e69500; padding: .6em 1em; margin: 1em 0; }
.answer { background: #f3f7fc; border-left: 5px solid #4c72b0; padding: .4em 1em .8em; }
.verdict { font-size: 1.08em; font-weight: 600; }
pre { background: #f6f6f6; padding: .8em; font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
"""


# ----------------------------------------------------------------------------- cells


def _num(value: Any, digits: int = 3, sign: bool = False) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(value):
        return "—"
    if abs(value) >= 1e5:
        return f"{value:+.2e}" if sign else f"{value:.2e}"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _int(value: Any) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{int(round(value)):,}" if math.isfinite(value) else "—"


def _ci(low: Any, high: Any, sign: bool = False, digits: int = 3) -> str:
    """``[lo, hi]`` joined by a no-break space, so a narrow cell wraps before the interval, not inside it."""
    if _num(low) == "—" and _num(high) == "—":
        return ""
    return f"[{_num(low, digits, sign)},\u00a0{_num(high, digits, sign)}]"


def _seconds(value: Any) -> str:
    try:
        return f"{float(value):.1f}"
    except (TypeError, ValueError):
        return "—"


def _p(value: Any) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(value):
        return "—"
    return f"{value:.1e}" if value < 1e-3 else f"{value:.3f}"


def _reason(note: Any) -> str:
    note = str(note or "").strip()
    return f"not available: {note}" if note else ""


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], text: Sequence[int] = (0,)) -> str:
    """Rows of already formatted cells (escaped here); columns in ``text`` align left."""
    def cls(i: int) -> str:
        return " class='text'" if i in text else ""

    head = "".join(f"<th{cls(i)}>{html.escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{html.escape(str(v))}</td>" for i, v in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def _figure(draw: Callable[[], bytes], alt: str, caption: str) -> str:
    """A figure with its caption (``caption`` is HTML)."""
    try:
        image = _img(draw(), alt)
    except Exception as err:  # a figure that cannot be drawn must not lose the rest of the report
        return f"<p class='pending'>figure '{html.escape(alt)}' could not be drawn: {html.escape(str(err))}</p>"
    return f"<figure>{image}<figcaption>{caption}</figcaption></figure>"


def _pending(what: str) -> str:
    return f"<p class='pending'>{html.escape(what)}: stage not finished yet.</p>"


def _p_note(text: str) -> str:
    return f"<p class='note'>{text}</p>"


# ----------------------------------------------------------------------------- run directory


def _curves(run_dir: Path) -> pd.DataFrame | None:
    """Every training run's learning curves (the columns the report shows), with a ``role`` column."""
    return StudyDir(run_dir).curves(columns=["scenario", "seed", "member", "generation", "update", "env_steps",
                                             "mean_episode_return", "mean_return_per_step"])


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


def _menu_text(menu: dict[str, float]) -> str:
    return ", ".join(f"{regime} {cost:g}" for regime, cost in sorted(menu.items(), key=lambda kv: (kv[1], kv[0])))


# ----------------------------------------------------------------------------- sections


def _banners(config: dict[str, Any], status: list[dict[str, Any]]) -> list[str]:
    out = []
    if answer.is_smoke(config):
        out.append("<div class='banner'><b>Smoke test.</b> This config is marked <code>smoke = true</code>: it is "
                   "sized to check that every stage runs in minutes, not to answer the question. Its agents are "
                   "far from their plateau and its samples are small, so the numbers below are not results.</div>")
    pending = [s["description"] for s in status if not s["done"] and s["stage"] != "report"]
    if pending:
        out.append(f"<div class='banner'><b>Unfinished run.</b> Stages not finished yet: "
                   f"{html.escape('; '.join(pending))}. Sections that need them say so.</div>")
    return out


def _answer_table(loi: pd.DataFrame, benefit: pd.DataFrame | None, allocation: pd.DataFrame | None,
                  chosen: str | None, best: str | None) -> str:
    """The answer's one table: per scenario its corrected LoI, population play's benefit and the
    regime the config's allocator (and the best allocator, when another) gave it."""
    value, low, high = (("corrected", "corrected_ci_low", "corrected_ci_high") if "corrected_ci_low" in loi.columns
                        else ("loi", "ci_low", "ci_high"))
    by_benefit = benefit.set_index("scenario") if benefit is not None else None
    allocators = [a for a in dict.fromkeys([chosen, best]) if a and allocation is not None
                  and a in set(allocation["allocator"])]
    regimes = {a: dict(zip(allocation.loc[allocation["allocator"] == a, "scenario"],
                           allocation.loc[allocation["allocator"] == a, "regime"])) for a in allocators}
    benefit_regime = "/".join(sorted({str(r) for r in by_benefit["regime"] if r})) if by_benefit is not None else ""
    rows = []
    for _, r in loi.sort_values(["game", value], ascending=[True, False]).iterrows():
        b = by_benefit.loc[r["scenario"]] if by_benefit is not None and r["scenario"] in by_benefit.index else None
        rows.append([r["scenario"], f"{_num(r[value])} {_ci(r[low], r[high])}",
                     "—" if b is None else f"{_num(b['benefit'], sign=True)} "
                                           f"{_ci(b['benefit_ci_low'], b['benefit_ci_high'], True)}".strip(),
                     *[str(regimes[a].get(r["scenario"], "—")) for a in allocators]])
    headers = ["scenario", "corrected LoI [95% CI]",
               f"{benefit_regime or 'population play'} benefit over {REFERENCE} [95% CI]",
               *[f"{a} (the config's)" if a == chosen else f"{a} (best vs uniform)" for a in allocators]]
    return _table(headers, rows, text=(0, *range(3, 3 + len(allocators))))


def _answer_section(loi, allocation, comparison, benefit, correlation, config, menu, alpha) -> list[str]:
    from loi.report import figures

    parts = ["<h2>The answer</h2><div class='answer'>"]
    if loi is None:
        parts.append("<p class='pending'>No answer yet: the LoI stage has not finished.</p></div>")
        return parts
    games = answer.summarize_run(loi, allocation, comparison, menu=menu, reference=REFERENCE, alpha=alpha)
    # smoke=False: the banner above the answer already says so.
    top = answer.headline(benefit, correlation, allocation, games, allocator=config.get("allocator"), alpha=alpha,
                          smoke=False, reference=REFERENCE)
    # The verdict first (did diversity pay off), then where the budget should go, then how sure.
    parts.append(f"<p class='verdict'>{html.escape(top.diversity)}</p>")
    parts.append("<p>" + html.escape(" ".join(s for s in (top.correlation, top.budget) if s)) + "</p>")
    parts.append(f"<p class='note'>{html.escape(top.certainty)}</p>")
    pooled = next((g for g in games if g.group == answer.ALL_GAMES), games[0] if len(games) == 1 else None)
    winners = [a for a in (pooled.allocators if pooled else ()) if a.beat_uniform]
    best = max(winners, key=lambda a: a.gain).allocator if winners else None
    parts.append(_answer_table(loi, benefit, allocation, config.get("allocator"), best))
    if allocation is not None and comparison is not None and any(g.group != answer.ALL_GAMES for g in games):
        parts.append(_figure(
            lambda: figures.answer_figure(loi, games), "the answer per game",
            "Per game. <b>Left</b>: null-corrected LoI of each scenario with its 95% CI, highest first (the "
            "allocators rank scenarios by it). <b>Right</b>: each allocator's gain over the uniform allocation "
            f"(mean score divided by the {REFERENCE} mean, all evaluations) with its 95% bootstrap CI; a hollow "
            "point is an allocation identical to uniform, whose gain is 0 by construction; <i>cost a/b</i>: "
            "the allocation's cost against uniform's, in menu units."))
    parts.append("</div>")
    # The details below the answer: per game, the LoI ranking and every allocator's allocation and gain.
    parts.append("<h3>Per game: the LoI ranking and every allocator</h3>")
    if comparison is None:
        parts.append("<p class='pending'>The gains over uniform come from the statistics stage, which has not "
                     "finished.</p>")
    for game in games:
        parts.append(f"<h4>{html.escape('All games, pooled' if game.group == answer.ALL_GAMES else game.group)}</h4>")
        if game.ranking:
            parts.append(f"<p>{html.escape(game.ranking)}</p>")
        if game.allocators:
            parts.append("<ul>" + "".join(f"<li>{html.escape(a.sentence)}</li>" for a in game.allocators) + "</ul>")
        elif not game.ranking:
            parts.append(f"<p>{html.escape(game.verdict)}</p>")
    parts.append(f"<p class='note'>A gain counts when its one-sided p-value is below {alpha:g} "
                 f"(the config's confidence level). Costs in menu units ({html.escape(_menu_text(menu))}).</p>")
    return parts


def _suite_section(run_dir: Path) -> list[str]:
    """A suite's answer (loi.report.suite: its decision rule), above the per-allocator details."""
    import tempfile

    from loi.report import figures
    from loi.report.suite import SUITE_TABLES, read_run, suite_answer

    tables = read_run(run_dir)
    parts = ["<h2>The suite's answer</h2><div class='answer'>"]
    missing = [t.value for t in SUITE_TABLES if t not in tables and t != Table.FRONTIER]
    if missing:
        return parts + [f"<p class='pending'>No answer yet: the statistics stage has not written "
                        f"{', '.join(missing)}.</p></div>"]
    result = suite_answer(tables)
    parts += [f"<p class='verdict'>{html.escape(result.sentences[0])}</p>"]
    parts += [f"<p>{html.escape(s)}</p>" for s in result.sentences[1:]]
    if Table.FRONTIER in tables:
        def draw() -> bytes:
            with tempfile.TemporaryDirectory() as tmp:
                return figures.frontier_figure(tables[Table.FRONTIER], Path(tmp) / "frontier.png").read_bytes()

        parts.append(_figure(draw, "the budget frontier",
                             "Mean SP-normalised held-out score of each allocator's allocation against the budget "
                             "(agent-trainings over the suite), 95% CI bands; the oracle knows the measured "
                             "benefits (an in-sample upper bound)."))
    return parts + ["</div>"]


def _loi_section(loi: pd.DataFrame | None) -> list[str]:
    from loi.report import figures

    parts = ["<h2>Level of Influence</h2>"]
    if loi is None:
        return parts + [_pending("LoI")]
    estimator, method = loi["estimator"].iloc[0], loi["ci_method"].iloc[0] if "ci_method" in loi else "bootstrap"
    parts.append(_figure(
        lambda: figures.loi_figure(loi), "LoI per scenario",
        f"LoI = I(R; co-player) in nats ({html.escape(str(estimator))} estimator) with its 95% CI "
        f"({html.escape(str(method))} bootstrap), the permutation-null mean (what the estimator gives when the "
        "co-player does not matter) and the corrected value LoI − null, which the allocators use."))
    corrected_ci = "corrected_ci_low" in loi.columns
    rows = [[r["scenario"], f"{_num(r['loi'])} {_ci(r['ci_low'], r['ci_high'])}", _num(r["null_mean"]),
             _num(r["corrected"]) + (f" {_ci(r['corrected_ci_low'], r['corrected_ci_high'])}" if corrected_ci else ""),
             _p(r["p_value"]), _int(r["episodes"]), _int(r["blocks"])]
            for _, r in loi.sort_values("scenario").iterrows()]
    parts.append(_table(["scenario", "LoI [95% CI]", "null mean", "corrected" + (" [95% CI]" if corrected_ci else ""),
                         "p (LoI > 0)", "episodes", "blocks"], rows))
    parts.append(_p_note("p: permutation p-value for LoI &gt; 0. Blocks: the independent replicates (ego × "
                         "co-player seed) the LoI is averaged over."))
    return parts


def _crossplay_sections(crossplay: pd.DataFrame | None) -> list[str]:
    from loi.report import figures

    parts = ["<h2>Ego returns per co-player</h2>"]
    if crossplay is None:
        return parts + [_pending("cross-play")]
    parts.append(_figure(
        lambda: figures.ridge_figure(crossplay), "ridge plots",
        "Per scenario, the distribution of the ego's episode return against each co-player checkpoint "
        "(one ridge per checkpoint, histograms scaled to the same height; up to 12 evenly spaced checkpoints). "
        "Ridges that differ are what LoI measures. Labels: regime, seed, member, generation."))
    parts.append("<h2>Cross-play heatmaps</h2>")
    parts.append(_figure(
        lambda: figures.heatmap_figure(crossplay), "cross-play heatmaps",
        "Mean ego return of every (ego, co-player checkpoint) pair; rows are egos, columns co-player checkpoints "
        "ordered by seed and generation. <b>Grey blocks</b>: pairs never played — the LoI protocol does not pair "
        "an ego with a co-player of its own training seed, whose partner it learned with."))
    return parts


def _curves_section(curves: pd.DataFrame | None) -> list[str]:
    from loi.report import figures

    parts = ["<h2>Learning curves</h2>"]
    if curves is None:
        return parts + [_pending("training")]
    parts.append(_figure(
        lambda: figures.curves_figure(curves), "learning curves",
        "Return per step after every PPO update against env steps per member, per role (sp: the SP seeds; "
        "heldout: the held-out Bobs; menu regimes). Line: mean over seeds and members; band: their min..max; "
        "dotted line: the settling step of the mean curve (table below)."))
    plateau = _plateau_table(curves)
    rows = [[r["scenario"], r["role"], _int(r["updates"]), _int(r["settling_step"]), _num(r["fraction_of_training"], 2),
             "yes" if r["plateau_reached"] else "no", _num(r["last_fifth_change"], 3),
             _num(r["final_return_per_step"], 4)] for _, r in plateau.iterrows()]
    parts.append(_table(["scenario", "role", "updates", "settles at step", "fraction of training", "reached",
                         "last-fifth change", "final return per step"], rows, text=(0, 1, 5)))
    parts.append(_p_note(
        "Settles at step: the step after which the smoothed return per step (mean over seeds and members) stays "
        "within 10% of its range around its final level; <b>reached</b> when that happens before the last 20% "
        "of training <i>and</i> the curve has stopped moving: its <b>last-fifth change</b>, how much the mean "
        "level moved over the last fifth of training as a fraction of the curve's range, is within ±0.1 (a curve "
        "still creeping up settles by the band rule alone). The learning rate is annealed to zero, which "
        "flattens the end of every curve by itself: <code>benchmarks/plateau.py</code> measures the plateau with "
        "a constant rate."))
    return parts


def _allocation_section(allocation, crossfit, config, menu) -> list[str]:
    from loi.report import figures

    parts = ["<h2>Allocation</h2>"]
    if allocation is None:
        return parts + [_pending("allocation")]
    budget = float(config.get("budget", float("nan")))
    parts.append(_p_note(
        f"Budget: {budget:g} per game, in menu cost units ({html.escape(_menu_text(menu))}); the uniform "
        f"baseline trains <b>{html.escape(str(config.get('uniform')))}</b> in every scenario. The config's allocator "
        f"(the one whose regimes were trained when the study trains only the allocation): "
        f"<b>{html.escape(str(config.get('allocator')))}</b>; every allocator is compared below."))
    if crossfit is not None:
        parts.append(_p_note("<b>greedy_crossfit</b>: the greedy allocator with its benefit-vs-LoI lines fitted on "
                             "this run's other games only (leave one game out), so the scores that judge it never "
                             "shaped it."))
    parts.append(_figure(
        lambda: figures.allocation_figure(allocation, menu, budget), "allocation",
        "Each panel is one allocator: the corrected LoI of every scenario, coloured and labelled by the regime "
        "the allocator gives it. Titles: the allocation's cost in each game against the per-game budget."))
    wide = allocation.pivot_table(index=["game", "scenario", "loi"], columns="allocator", values="regime",
                                  aggfunc="first").reset_index()
    allocators = [c for c in wide.columns if c not in ("game", "scenario", "loi")]
    rows = [[r["game"], answer.short_scenario(r["scenario"], r["game"]), _num(r["loi"]),
             *[str(r[a]) for a in allocators]] for _, r in wide.iterrows()]
    parts.append(_table(["game", "scenario", "corrected LoI", *allocators], rows,
                        text=(0, 1, *range(3, 3 + len(allocators)))))
    return parts


def _tournament_section(scores: pd.DataFrame | None, menu, confidence: float) -> list[str]:
    from loi.pipeline.statistics import score_summary_table
    from loi.report import figures

    parts = ["<h2>Fixed-Bob tournaments</h2>"]
    if scores is None:
        return parts + [_pending("tournament")]
    parts.append(_figure(
        lambda: figures.tournament_figure(scores, menu), "tournament scores",
        "Generalization score of every trained ego against the held-out Bobs (one point per ego and episode, "
        "the return averaged over the Bobs), per regime. Box: the quartiles; orange line: the median; green "
        "triangle: the mean; whiskers: the furthest points within 1.5 × the box's height."))
    table = score_summary_table(scores, confidence)
    rows = [[r["scenario"], r["regime"], _int(r["n"]), _int(r["egos"]),
             f"{_num(r['mean'])} {_ci(r['ci_low'], r['ci_high'])}", _num(r["sd"])] for _, r in table.iterrows()]
    parts.append(_table(["scenario", "regime", "evaluations", "egos", f"mean [{confidence:.0%} CI]", "sd"], rows,
                        text=(0, 1)))
    parts.append(_p_note("CI: t-interval of the mean over the evaluations, counted as independent as the "
                         "allocation comparison counts them (episodes of one ego are not fully independent)."))
    return parts


def _statistics_section(study_dir: StudyDir, allocation, comparison, menu, alpha) -> list[str]:
    from loi.report import figures

    parts = ["<h2>Statistics</h2>"]
    if comparison is None:
        return parts + [_pending("statistics")]
    facts = answer.allocator_summaries(allocation, comparison, menu=menu, reference=REFERENCE, alpha=alpha)
    vacuous = {key for key, f in facts.items() if f.vacuous}
    parts.append("<h3>Allocations vs uniform</h3>")
    parts.append(_figure(
        lambda: figures.gains_figure(comparison, vacuous), "allocation gains",
        f"Gain of each allocation over the uniform one (mean score divided by the {REFERENCE} mean per scenario) "
        "with its 95% bootstrap CI, per allocator and group (a game, or <i>all</i> pooled). Protocol "
        "<b>all</b> (the default, unlabelled) uses every evaluation; rows labelled <b>top&lt;k&gt; (paper)</b> "
        "use the paper's truncated protocol (top-k scores per scenario and regime), shown only to expose its "
        "bias. Hollow: an allocation identical to uniform."))
    def note(r: pd.Series, f: answer.AllocatorSummary | None) -> str:
        if f is not None and f.vacuous:
            return "= uniform (empty)"
        if not math.isfinite(float(r["difference"])):
            return _reason(r.get("note", ""))
        return f"{REFERENCE} only (1.000)" if f is not None and f.reference_only else ""

    default = comparison[comparison["protocol"] == "all"]
    rows = [[r["allocator"], r["group"], "—" if f is None else f"{f.cost:g} / {f.uniform_cost:g}",
             f"{_num(r['difference'], sign=True)} {_ci(r['difference_ci_low'], r['difference_ci_high'], True)}",
             _p(r["p_value"]),
             f"{_num(r['effect_size'], 2, True)} {_ci(r['ci_low'], r['ci_high'], True, 2)}",
             f"{_int(r['n_heuristic'])} / {_int(r['n_uniform'])}", note(r, f)]
            for _, r in default.iterrows() for f in [facts.get((r["allocator"], r["group"]))]]
    parts.append(_table(["allocator", "game", "cost", "gain [95% CI]", "p", "Hedges' g [95% CI]", "n", "note"],
                        rows, text=(0, 1, 7)))
    parts.append(_p_note(
        "Protocol <b>all</b>, every evaluation. Cost: the allocation's against uniform's, in menu units. Gain: "
        "mean normalised score of the allocation minus uniform's; p: one-sided Welch t-test of gain &gt; 0; "
        "Hedges' g: the gain in pooled standard deviations; n: evaluations of the allocation / of uniform. Game "
        "<i>all</i>: every game pooled. <b>= uniform (empty)</b>: the allocation is the uniform one, so its gain "
        f"is 0 by construction. <b>{REFERENCE} only (1.000)</b>: {REFERENCE} in every scenario, whose normalised "
        f"score is exactly 1.000 because scores are divided by the {REFERENCE} mean."))
    truncated = comparison[comparison["protocol"] != "all"]
    if len(truncated):
        rows = [[r["allocator"], r["group"], r["protocol"],
                 f"{_num(r['difference'], sign=True)} {_ci(r['difference_ci_low'], r['difference_ci_high'], True)}",
                 _p(r["p_value"]), f"{_int(r['n_heuristic'])} / {_int(r['n_uniform'])}", note(r, f)]
                for _, r in truncated.iterrows() for f in [facts.get((r["allocator"], r["group"]))]]
        parts.append(_table(["allocator", "game", "protocol", "gain [95% CI]", "p", "n", "note"], rows,
                            text=(0, 1, 2, 6)))
        parts.append(_p_note("The paper's truncated protocol (<b>top&lt;k&gt;</b>: the k best scores per scenario "
                             "and regime, Student t-test), a labelled extra that shows how truncation biases the "
                             "comparison; read the <b>all</b> rows above."))

    anova = study_dir.read_table(Table.ANOVA)
    parts.append("<h3>ANOVA across regimes, per scenario</h3>")
    if anova is None:
        parts.append(_pending("ANOVA"))
    else:
        rows = [[r["scenario"], r["regimes"], _num(r["f"]), _p(r["p_value"]),
                 "—" if r["df_between"] < 0 else f"{int(r['df_between'])}, {int(r['df_within'])}",
                 _reason(r["note"])] for _, r in anova.iterrows()]
        parts.append(_table(["scenario", "regimes", "F", "p", "df", "note"], rows, text=(0, 1, 5)))

    benefit, correlation = study_dir.read_table(Table.BENEFIT), study_dir.read_table(Table.CORRELATION)
    parts.append("<h3>LoI vs population-play benefit, per game</h3>")
    if benefit is None or correlation is None:
        return parts + [_pending("benefit and correlation")]
    parts.append(_figure(
        lambda: figures.benefit_figure(benefit, correlation), "LoI vs benefit",
        "One point per scenario: its corrected LoI against the benefit of population play, (mean score of the "
        f"most expensive regime − mean {REFERENCE} score) / 2 on normalised scores, as in the paper. Red: the "
        "least-squares line. Title: Pearson r with its 95% CI (Fisher z) over the game's scenarios."))
    rows = [[r["game"], f"{_num(r['r'], 2)} {_ci(r['ci_low'], r['ci_high'], digits=2)}", _p(r["p_value"]), _int(r["n"]),
             _reason(r["note"])] for _, r in correlation.iterrows()]
    parts.append(_table(["game", "r [95% CI]", "p", "scenarios", "note"], rows, text=(0, 4)))
    rows = [[r["scenario"], r["game"], _num(r["loi"]), r["regime"] or "—", _num(r["benefit"], sign=True),
             _reason(r["note"])] for _, r in benefit.iterrows()]
    parts.append(_table(["scenario", "game", "corrected LoI", "regime", "benefit", "note"], rows, text=(0, 1, 3, 5)))
    return parts + _predictors_section(study_dir, benefit)


def _predictors_section(study_dir: StudyDir, benefit: pd.DataFrame) -> list[str]:
    """Each interaction metric against the benefit: one panel per metric and the comparison's table."""
    from loi.report import figures

    metrics, predictors = study_dir.read_table(Table.METRICS), study_dir.read_table(Table.PREDICTORS)
    if metrics is None or predictors is None:
        return []
    parts = ["<h3>Which interaction metric predicts the benefit</h3>", _figure(
        lambda: figures.metric_benefit_figure(metrics, benefit, predictors), "metrics vs benefit",
        "One panel per metric: its score (null-corrected where it has a permutation null) against the benefit. "
        "Pooled r uses only each game's own ordering (ranks or z-scores within game), since a metric's level "
        "differs between games; CIs: bootstrap over scenarios; p: permutations within game.")]
    rows = [[r["metric"], r["group"], r["method"], f"{_num(r['r'], 2)} {_ci(r['ci_low'], r['ci_high'], digits=2)}",
             _p(r["p_value"]), _int(r["n"]), _reason(r["note"])] for _, r in predictors.iterrows()]
    parts.append(_table(["metric", "group", "method", "r [95% CI]", "p", "scenarios", "note"], rows,
                        text=(0, 1, 2, 6)))
    gains = study_dir.read_table(Table.PREDICTOR_GAINS)
    if gains is not None:
        rows = [[r["metric"], r["group"], f"{_num(r['difference'], sign=True)} {_ci(r['ci_low'], r['ci_high'])}",
                 _p(r["p_value"]), _reason(r["note"])] for _, r in gains.iterrows()]
        parts.append(_table(["metric", "group", "greedy (cross-fitted) − uniform [95% CI]", "p", "note"], rows,
                            text=(0, 1, 4)))
    return parts


def _run_section(status: list[dict[str, Any]], study: dict[str, Any], config: dict[str, Any]) -> list[str]:
    parts = ["<h2>Run</h2>"]
    parts.append(_table(["stage", "status", "seconds"], [
        [s["description"],
         # The report stage is the one writing this file.
         "done" if s["done"] else "this report" if s["stage"] == "report" else "pending",
         _seconds((s["summary"] or {}).get("seconds"))] for s in status], text=(0, 1)))
    parts.append("<h2>Config and versions</h2>")
    parts.append(f"<pre>{html.escape(json.dumps(study.get('versions', {}), indent=2))}</pre>")
    config_view = {k: v for k, v in config.items() if k != "definitions"}
    parts.append(f"<pre>{html.escape(json.dumps(config_view, indent=2, sort_keys=True))}</pre>")
    if config.get("definitions"):
        parts.append(f"<p class='note'>User definitions:</p><pre>{html.escape(config['definitions'])}</pre>")
    parts.append(f"<p class='note'>config hash {html.escape(str(study.get('config_hash')))}</p>")
    return parts


def build_report(run_dir: str | Path) -> str:
    """The report of ``run_dir`` as an HTML string."""
    from loi.pipeline.run import study_status

    run_dir = Path(run_dir)
    study_dir = StudyDir(run_dir)
    study = study_dir.read_study()
    config = study.get("config", {})
    menu = {k: float(v) for k, v in config.get("menu", {}).items()}
    confidence = float((config.get("evaluation") or {}).get("confidence", 0.95))
    alpha = answer.alpha_of(config)
    status = study_status(run_dir)

    loi, crossplay, scores, comparison = (study_dir.read_table(t) for t in (Table.LOI, Table.CROSSPLAY, Table.SCORES,
                                                                           Table.COMPARISON))
    allocation, crossfit = answer.read_allocations(run_dir), study_dir.read_table(Table.ALLOCATION_CROSSFIT)

    parts = [f"<h1>loi study “{html.escape(str(study.get('name')))}”</h1>"]
    parts += _banners(config, status)
    if config.get("allocate_per") == "suite":
        parts += _suite_section(run_dir)
    benefit, correlation = study_dir.read_table(Table.BENEFIT), study_dir.read_table(Table.CORRELATION)
    parts += _answer_section(loi, allocation, comparison, benefit, correlation, config, menu, alpha)
    parts += _loi_section(loi)
    parts += _crossplay_sections(crossplay)
    parts += _curves_section(_curves(run_dir))
    parts += _allocation_section(allocation, crossfit, config, menu)
    parts += _tournament_section(scores, menu, confidence)
    parts += _statistics_section(study_dir, allocation, comparison, menu, alpha)
    parts += _run_section(status, study, config)
    title = html.escape(f"loi report: {study.get('name')}")
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{title}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``run_dir`` (default ``RUN_DIR/report.html``) atomically."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise LoiError(f"run directory not found: {run_dir}")
    out = Path(out) if out is not None else StudyDir(run_dir).report_file
    text = build_report(run_dir)
    with atomic_write(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out
