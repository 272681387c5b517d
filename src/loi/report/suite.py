"""The suite study's answer: where diversity pays off, which metric predicts it, across budgets.

A suite run (``allocate_per = "suite"``, e.g. examples/suite.toml) ends with the tables this
module reads: the benefit of every regime over SP per partner kind (``benefit_by_partner``), the
per-scenario benefit of the costliest menu regime (``benefit``), every interaction metric
(``metrics``), every metric's correlation with that benefit (``predictors``) and the budget
frontier (``frontier``). :func:`export_suite` copies them to a results folder (CSV, with the
config and git revision) and renders ``summary.md`` from those files; :func:`suite_answer`
applies the decision rule fixed in examples/suite.toml's header:

1. diversity pays off in a scenario when the pooled benefit of the costliest menu regime has a
   CI above 0;
2. a metric predicts that benefit when its Spearman correlation across scenarios has a CI above
   0; the best is the largest; "better than LoI" only where the paired bootstrap CI of the
   difference excludes 0;
3. a metric-driven allocator beats uniform at a budget when its gain's CI lies above 0.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from loi.pipeline.studydir import StudyDir, Table
from loi.report.summary import number

POOLED, SP_SEEDS, BOTS = "pooled", "sp_seeds", "bots"  # partner kinds (loi.pipeline.statistics, .evaluate)
METHOD = "spearman"  # the decision rule's correlation
LOI = "loi"
# The tables a suite's answer reads, as committed (CSV) and in a run directory.
SUITE_TABLES = (Table.BENEFIT, Table.BENEFIT_BY_PARTNER, Table.METRICS, Table.PREDICTORS, Table.FRONTIER)
MANIFEST, MARKDOWN, FIGURE = "manifest.json", "summary.md", "frontier.png"
DIFFERENCE_RESAMPLES = 2000


@dataclass(frozen=True)
class SuiteAnswer:
    """The decision rule applied to a suite's tables; ``.sentences`` says it in words."""

    target: str  # the regime whose benefit is predicted (the costliest menu regime)
    pays_off: list[str]  # scenarios whose pooled target benefit CI lies above 0
    measured: list[str]  # scenarios with a normalised target benefit
    unmeasured: list[str]  # scenarios without one (loi.allocation.unnormalisable), the reason in the tables
    predictors: pd.DataFrame  # per metric: spearman/pearson r with CIs, the difference to LoI with its CI
    best_metric: str | None
    beats_uniform: dict[str, list[float]] = field(default_factory=dict)  # "allocator(metric)" -> budgets

    @property
    def sentences(self) -> list[str]:
        return [self._diversity(), self._prediction(), self._budget()]

    def _diversity(self) -> str:
        n = len(self.measured)
        if not self.pays_off:
            text = (f"Diversity did not pay off: in none of the {n} scenarios with a measured benefit does "
                    f"{self.target}'s benefit over SP (pooled over held-out SP seeds and bots) have a CI above 0")
        else:
            text = (f"Diversity paid off in {len(self.pays_off)} of {n} scenarios ({self.target}'s benefit over SP, "
                    f"pooled over held-out partners, CI above 0): {', '.join(self.pays_off)}")
        if self.unmeasured:
            text += (f"; {len(self.unmeasured)} scenario(s) have no normalised benefit (scores below 0, not a "
                     f"ratio scale, or no positive SP mean): {', '.join(self.unmeasured)}")
        return text + "."

    def _prediction(self) -> str:
        rows = self.predictors.dropna(subset=["spearman"])
        if rows.empty:
            return "No metric could be correlated with the benefit (fewer than 3 scenarios with both)."
        predicting = rows[rows["spearman_ci_low"] > 0]["metric"].tolist()
        best = rows.loc[rows["spearman"].idxmax()]
        text = (f"The metric that tracks the benefit best is {best['metric']} (Spearman r "
                f"{number(best['spearman'], 2, sign=True)} [{number(best['spearman_ci_low'], 2, sign=True)}, "
                f"{number(best['spearman_ci_high'], 2, sign=True)}], n = {int(best['n'])})")
        text += (f"; metrics whose correlation CI lies above 0: {', '.join(predicting)}" if predicting
                 else "; no metric's correlation CI lies above 0, so none predicts the benefit on this evidence")
        better = rows[rows["difference_ci_low"] > 0]["metric"].tolist()
        worse = rows[rows["difference_ci_high"] < 0]["metric"].tolist()
        if better:
            text += f"; better than LoI (paired CI above 0): {', '.join(better)}"
        if worse:
            text += f"; worse than LoI (paired CI below 0): {', '.join(worse)}"
        if not better and not worse:
            text += "; none differs from LoI by more than the paired CI allows"
        return text + "."

    def _budget(self) -> str:
        if not self.beats_uniform:
            return ("No metric-driven allocator beats uniform at any budget (no gain CI above 0); the oracle line in "
                    "the frontier shows what knowing the benefits would have been worth.")
        parts = [f"{name} at budget {', '.join(f'{b:g}' for b in budgets)}" for name, budgets in
                 sorted(self.beats_uniform.items())]
        return "Metric-driven allocators that beat uniform (gain CI above 0): " + "; ".join(parts) + "."


def _target(benefit: pd.DataFrame) -> str:
    regimes = [r for r in benefit["regime"].dropna().unique() if r]
    return regimes[0] if len(regimes) == 1 else "the costliest menu regime"


def predictor_rows(metrics: pd.DataFrame, benefit: pd.DataFrame, predictors: pd.DataFrame, *, seed: int = 0,
                   confidence: float = 0.95) -> pd.DataFrame:
    """Per metric: its Spearman and Pearson correlation with the benefit (from the predictors
    table) and the paired bootstrap difference of its Spearman correlation from LoI's."""
    from loi.errors import LoiError
    from loi.metrics.stats import correlation_difference

    values = metrics.pivot_table(index="scenario", columns="metric", values="score", aggfunc="first")
    target = benefit.set_index("scenario")["benefit"].astype(float)
    rows = []
    for metric in sorted(predictors["metric"].unique()):
        row: dict = {"metric": metric}
        for method in ("spearman", "pearson"):
            found = predictors[(predictors["metric"] == metric) & (predictors["method"] == method)]
            first = found.iloc[0] if len(found) else None
            row[method] = float(first["r"]) if first is not None else math.nan
            row[f"{method}_ci_low"] = float(first["ci_low"]) if first is not None else math.nan
            row[f"{method}_ci_high"] = float(first["ci_high"]) if first is not None else math.nan
            if method == METHOD:
                row["n"] = int(first["n"]) if first is not None else 0
        row.update(difference=math.nan, difference_ci_low=math.nan, difference_ci_high=math.nan)
        if metric != LOI and LOI in values.columns and metric in values.columns:
            both = pd.concat([values[metric], values[LOI], target], axis=1, keys=["x1", "x2", "y"]).dropna()
            both = both[np.isfinite(both).all(axis=1)]
            try:
                diff = correlation_difference(both["x1"], both["x2"], both["y"], method=METHOD, confidence=confidence,
                                              resamples=DIFFERENCE_RESAMPLES, seed=seed)
                row.update(difference=diff.statistic, difference_ci_low=diff.confidence_interval.low,
                           difference_ci_high=diff.confidence_interval.high)
            except LoiError:
                pass  # too few scenarios or a constant metric: no difference, shown as n/a
        rows.append(row)
    return pd.DataFrame(rows)


METRIC_DRIVEN = ("greedy", "one_sigma", "proportional")


def suite_answer(tables: dict[Table, pd.DataFrame], *, seed: int = 0, confidence: float = 0.95) -> SuiteAnswer:
    """The decision rule (module docstring) on a suite's tables."""
    benefit, partner = tables[Table.BENEFIT], tables[Table.BENEFIT_BY_PARTNER]
    target = _target(benefit)
    pooled = partner[(partner["partner_kind"] == POOLED) & (partner["regime"] == target)]
    measured = pooled[np.isfinite(pooled["benefit_ci_low"].astype(float))]
    pays_off = measured[measured["benefit_ci_low"].astype(float) > 0]["scenario"].tolist()
    unmeasured = sorted(set(benefit["scenario"]) - set(measured["scenario"]))
    predictors = predictor_rows(tables[Table.METRICS], benefit, tables[Table.PREDICTORS], seed=seed,
                                confidence=confidence)
    ranked = predictors.dropna(subset=["spearman"])
    best = str(ranked.loc[ranked["spearman"].idxmax(), "metric"]) if len(ranked) else None
    frontier = tables.get(Table.FRONTIER)
    beats: dict[str, list[float]] = {}
    if frontier is not None:
        driven = frontier[frontier["allocator"].isin(METRIC_DRIVEN) & (frontier["gain_ci_low"].astype(float) > 0)]
        for row in driven.itertuples(index=False):
            beats.setdefault(f"{row.allocator}({row.metric})", []).append(float(row.budget))
    return SuiteAnswer(target, pays_off, measured["scenario"].tolist(), unmeasured, predictors, best,
                       {k: sorted(v) for k, v in beats.items()})


# ----------------------------------------------------------------------------- committed results


def read_folder(folder: str | Path) -> dict[Table, pd.DataFrame]:
    """The suite tables committed in ``folder`` (CSV)."""
    folder = Path(folder)
    out = {}
    for table in SUITE_TABLES:
        path = folder / f"{table.value}.csv"
        if path.is_file():
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
            if "note" in frame.columns:
                frame["note"] = frame["note"].astype(object).fillna("")
            out[table] = frame
    return out


def read_run(run_dir: str | Path) -> dict[Table, pd.DataFrame]:
    """The suite tables of a run directory (those its stages have written)."""
    study = StudyDir(run_dir)
    return {t: f for t in SUITE_TABLES if (f := study.read_table(t)) is not None}


def export_suite(run_dir: str | Path, folder: str | Path, config_text: str) -> SuiteAnswer:
    """Write a finished suite run's tables (CSV), its manifest (the config text, git revision,
    seconds per stage) and ``summary.md`` + ``frontier.png`` rendered from those files."""
    from loi.pipeline.run import git_revision
    from loi.tables.io import atomic_write

    study = StudyDir(run_dir)
    record = study.read_study()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in read_run(run_dir).items():
        with atomic_write(folder / f"{table.value}.csv") as tmp:
            frame.to_csv(tmp, index=False)
    stages = {}
    for path in sorted((study.path / study.STAGES).glob("*.json")):
        if not path.name.endswith(".progress.json"):
            stages[path.stem] = json.loads(path.read_text()).get("seconds")
    manifest = {"study": record.get("name"), "config": config_text, "config_hash": record.get("config_hash"),
                "git_revision": record.get("versions", {}).get("git"), "versions": record.get("versions", {}),
                "summary_git_revision": git_revision(), "stage_seconds": stages}
    with atomic_write(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    render_figure(folder)
    with atomic_write(folder / MARKDOWN) as tmp:
        tmp.write_text(suite_markdown(folder))
    return suite_answer(read_folder(folder))


def render_figure(folder: str | Path, out: str | Path | None = None) -> Path:
    """``frontier.png`` from the folder's ``frontier.csv`` (the README's figure)."""
    from loi.report.figures import frontier_figure

    folder = Path(folder)
    return frontier_figure(pd.read_csv(folder / f"{Table.FRONTIER.value}.csv", keep_default_na=False,
                                       na_values=[""]), out if out is not None else folder / FIGURE)


def _ci(value, low, high, digits: int = 2) -> str:
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    return f"{number(float(value), digits, sign=True)} [{number(float(low), digits, sign=True)}, " \
           f"{number(float(high), digits, sign=True)}]"


def _benefit_table(partner: pd.DataFrame, benefit: pd.DataFrame, target: str) -> list[str]:
    regimes = [target] + sorted(r for r in partner["regime"].unique() if r != target)
    kinds = [k for k in (POOLED, SP_SEEDS, BOTS) if k in set(partner["partner_kind"])]
    header = ["scenario", "LoI"] + [f"{target} vs {k.replace('_', ' ')}" for k in kinds]
    header += [f"{r} pooled" for r in regimes[1:]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    loi = benefit.set_index("scenario")["loi"]

    def cell(scenario: str, kind: str, regime: str) -> str:
        row = partner[(partner["scenario"] == scenario) & (partner["partner_kind"] == kind)
                      & (partner["regime"] == regime)]
        if row.empty:
            return "-"
        r = row.iloc[0]
        if math.isfinite(float(r["benefit"])):
            return _ci(r["benefit"], r["benefit_ci_low"], r["benefit_ci_high"])
        return f"raw {_ci(r['benefit_raw'], r['benefit_raw_ci_low'], r['benefit_raw_ci_high'])}"

    for scenario in benefit["scenario"]:
        cells = [f"`{scenario}`", number(float(loi[scenario]), 3)]
        cells += [cell(scenario, k, target) for k in kinds] + [cell(scenario, POOLED, r) for r in regimes[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _predictor_table(predictors: pd.DataFrame) -> list[str]:
    lines = ["| metric | Spearman r [95% CI] | Pearson r [95% CI] | scenarios | Spearman r - LoI's [95% CI] |",
             "|---|---|---|---|---|"]
    for r in predictors.sort_values("spearman", ascending=False, na_position="last").itertuples(index=False):
        lines.append(f"| {r.metric} | {_ci(r.spearman, r.spearman_ci_low, r.spearman_ci_high)} | "
                     f"{_ci(r.pearson, r.pearson_ci_low, r.pearson_ci_high)} | {r.n} | "
                     f"{'-' if r.metric == LOI else _ci(r.difference, r.difference_ci_low, r.difference_ci_high)} |")
    return lines


def _frontier_table(frontier: pd.DataFrame) -> list[str]:
    names = frontier.assign(name=[a if not isinstance(m, str) or not m else f"{a}({m})"
                                  for a, m in zip(frontier["allocator"], frontier["metric"])])
    budgets = sorted(names["budget"].unique())
    order = list(dict.fromkeys(names["name"]))
    lines = ["| allocator | " + " | ".join(f"budget {b:g}" for b in budgets) + " |",
             "|---|" + "---|" * len(budgets)]
    for name in order:
        rows = names[names["name"] == name].set_index("budget")
        cells = [_ci(rows.loc[b, "mean_score"], rows.loc[b, "ci_low"], rows.loc[b, "ci_high"], 3)
                 if b in rows.index else "-" for b in budgets]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def suite_markdown(folder: str | Path) -> str:
    """The README's section body, rendered only from the committed files of ``folder``."""
    folder = Path(folder)
    tables = read_folder(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    answer = suite_answer(tables)
    run, summary = manifest.get("git_revision"), manifest.get("summary_git_revision", manifest.get("git_revision"))
    revisions = f"git revision `{run}`" if summary == run else f"run at git revision `{run}`, summarised at `{summary}`"
    lines = [f"The answer (decision rule of examples/suite.toml's header, computed from the tables below; "
             f"{revisions}):", ""]
    lines += [f"- {s}" for s in answer.sentences]
    seconds = sum(v for v in manifest.get("stage_seconds", {}).values() if v)
    lines += ["", f"Wall time recorded by the run's stage markers: {seconds / 60:.0f} min (a stage resumed after an "
              f"interruption records its last part only).", "",
              f"Benefit over SP per scenario ((regime - SP) / 2 on SP-normalised fixed-Bob scores, Fieller's 95% CI "
              f"over egos; by held-out partner kind and pooled; \"raw\": the unnormalised benefit where scores go below 0 "
              f"or SP's mean is not positive):", ""]
    lines += _benefit_table(tables[Table.BENEFIT_BY_PARTNER], tables[Table.BENEFIT], answer.target)
    lines += ["", f"Each interaction metric (from SP-only cross-play) as a predictor of {answer.target}'s pooled "
              "benefit across scenarios (bootstrap CIs over scenarios):", ""]
    lines += _predictor_table(answer.predictors)
    if Table.FRONTIER in tables:
        lines += ["", "The budget frontier: mean SP-normalised held-out score over the scenarios of each "
                  "allocation, with its 95% CI (budget in agent-trainings over the suite; the oracle knows the "
                  "measured benefits, an in-sample upper bound):", ""]
        lines += _frontier_table(tables[Table.FRONTIER])
        lines += ["", f"![score against budget, one line per allocator](docs/results/suite/{FIGURE})"]
    return "\n".join(lines) + "\n"
