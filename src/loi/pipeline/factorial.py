"""A factorial study: one base study and named settings, each changing a few keys.

    name = "why"
    games = ["prisoners_dilemma", "chicken"]
    ...                                    # any study key: the base every setting starts from
    [settings.faithful]
    description = "recurrent agents, the authors' generational schedule"
    [settings.feedforward]
    description = "as faithful, feed-forward agents"
    training = { network = "mlp" }         # merged into the base, table by table

Every setting is a whole study (``loi run`` runs them one after another into
``OUT/{setting}``, each resumable) and is validated before anything runs.
:func:`factorial_summary` gathers the settings' tables side by side, optionally
beside the authors' values computed from their released data, into small CSV
tables with a manifest (config text, git revision, wall times) that are meant to
be committed; :func:`markdown_summary` renders them for the README.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loi.errors import LoiError
from loi.pipeline.config import StudyConfig, read_toml, study_config
from loi.tables.io import atomic_write

SETTINGS = "settings"
AUTHORS = "authors"  # the setting name of the rows computed from the authors' released data
SUMMARY_TABLES = ("scenarios", "correlations", "allocations", "decisions")
_GATHERED = SUMMARY_TABLES[:3]  # one part per setting (and the authors); decisions follow from them
# r(LoI, benefit) as loi computes it (null-corrected LoI, SP-normalised benefit), and as the paper did
# (raw LoI, raw (PP5 - SP5) / 2), the latter for the authors' rows only.
CORRELATION_PROTOCOLS = ("corrected LoI vs normalised benefit", "paper: raw LoI vs raw benefit")
MANIFEST = "manifest.json"
MARKDOWN = "summary.md"  # the README's tables, rendered from the CSVs by markdown_summary


@dataclass(frozen=True)
class Setting:
    name: str
    description: str
    overrides: str  # the setting's table as JSON (what it changes from the base)
    study: StudyConfig


@dataclass(frozen=True)
class Factorial:
    name: str
    settings: tuple[Setting, ...]
    text: str  # the config file's text (recorded in the manifest)
    source: str | None = None

    def select(self, names: list[str] | None) -> tuple[Setting, ...]:
        """The named settings in config order (None: all); an unknown name is an error."""
        if not names:
            return self.settings
        known = {s.name for s in self.settings}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise LoiError(f"unknown setting {unknown[0]!r}; settings: {', '.join(s.name for s in self.settings)}")
        return tuple(s for s in self.settings if s.name in names)


def is_authors(setting: str) -> bool:
    """Rows computed from the authors' data: ``authors`` (their tournament/ folder) and
    ``authors_SUFFIX`` (their tournament_SUFFIX/, e.g. authors_25gen at matched training)."""
    return setting == AUTHORS or setting.startswith(AUTHORS + "_")


def authors_setting(folder: str) -> str:
    """The summary's setting name of the authors' rows from one tournament folder."""
    from loi.pipeline.paper import TOURNAMENT

    return AUTHORS if folder == TOURNAMENT else AUTHORS + folder[len(TOURNAMENT):]


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def factorial_config(doc: dict[str, Any], *, text: str = "", base: Path | None = None,
                     source: str | None = None) -> Factorial:
    """Validate a factorial document: every setting must be a valid study."""
    settings = doc.get(SETTINGS)
    if not isinstance(settings, dict) or not settings:
        raise LoiError(f"[{SETTINGS}] must hold at least one [{SETTINGS}.NAME] table")
    base_doc = {k: v for k, v in doc.items() if k != SETTINGS}
    name = str(base_doc.get("name", "study"))
    out = []
    for setting, table in settings.items():
        if not isinstance(table, dict):
            raise LoiError(f"[{SETTINGS}.{setting}] must be a table, got {table!r}")
        if not setting or not all(c.isalnum() or c in "-_" for c in setting):
            raise LoiError(f"setting names use letters, digits, '-' or '_', got {setting!r}")
        if is_authors(setting):
            raise LoiError(f"setting names {AUTHORS!r} and {AUTHORS}_* are reserved for the authors' values in the "
                           "summary")
        description = table.get("description", "")
        if not isinstance(description, str):
            raise LoiError(f"[{SETTINGS}.{setting}] description must be a string")
        overrides = {k: v for k, v in table.items() if k != "description"}
        if "name" in overrides:
            raise LoiError(f"[{SETTINGS}.{setting}] cannot rename the study (its runs are named {name}-{setting})")
        merged = _merge(base_doc, overrides)
        merged["name"] = f"{name}-{setting}"
        try:
            study = study_config(merged, base=base, source=source)
        except LoiError as err:
            raise LoiError(f"[{SETTINGS}.{setting}]: {err}") from None
        out.append(Setting(setting, description, json.dumps(overrides, sort_keys=True, default=str), study))
    return Factorial(name, tuple(out), text, source)


def describe_study(study: StudyConfig) -> str:
    """One line on what a study trains: agents, schedule, length, scenarios."""
    network = dict(study.training.network).get("kind", "mlp")
    schedule = dict(study.training.options).get("pp_schedule", "concurrent")
    return (f"{network.upper()} agents, {schedule} schedule, {study.training.steps:,} steps per member; "
            f"{len(study.games)} games x {len(study.layouts)} layouts")


def single_study(study: StudyConfig, text: str) -> Factorial:
    """A plain study as a factorial of one setting named after it (so its run gets the same
    committed summary tables as a factorial's settings)."""
    return Factorial(study.name, (Setting(study.name, describe_study(study), "{}", study),), text, study.source)


def load_study_or_factorial(path: str | Path | None) -> StudyConfig | Factorial:
    """A study config, or a factorial one when the file has a [settings] table."""
    doc, text, source, base = read_toml(path)
    if SETTINGS in doc:
        return factorial_config(doc, text=text, base=base, source=source)
    return study_config(doc, base=base, source=source)


# ----------------------------------------------------------------------------- summary


def _labelled_correlations(correlation: pd.DataFrame, setting: str) -> pd.DataFrame:
    """A ``correlation_table`` (per game and pooled as ``all``) as summary rows of loi's protocol."""
    correlations = correlation[["game", "r", "ci_low", "ci_high", "p_value", "n", "note"]].copy()
    correlations.insert(0, "setting", setting)
    correlations.insert(2, "protocol", CORRELATION_PROTOCOLS[0])
    return correlations


def _setting_tables(setting: str, run_dir: Path) -> dict[str, pd.DataFrame] | None:
    from loi.pipeline.run import read_run_table

    loi = read_run_table(run_dir, "loi")
    benefit = read_run_table(run_dir, "benefit")
    correlation = read_run_table(run_dir, "correlation")
    comparison = read_run_table(run_dir, "comparison")
    allocation = read_run_table(run_dir, "allocation")
    if any(t is None for t in (loi, benefit, correlation, comparison, allocation)):
        return None  # the setting's statistics stage has not finished
    loi = loi.set_index("scenario")
    chosen = allocation[allocation["chosen"]].set_index("scenario")["regime"]
    scenarios = pd.DataFrame({
        "setting": setting,
        "scenario": benefit["scenario"],
        "game": benefit["game"],
        "loi": benefit["scenario"].map(loi["corrected"]).to_numpy(),
        "loi_ci_low": benefit["scenario"].map(loi["corrected_ci_low"]).to_numpy(),
        "loi_ci_high": benefit["scenario"].map(loi["corrected_ci_high"]).to_numpy(),
        "loi_estimator": benefit["scenario"].map(loi["estimator"]).to_numpy(),
        "benefit_regime": benefit["regime"],
        **{c: benefit[c] for c in ("benefit", "benefit_ci_low", "benefit_ci_high", "benefit_raw",
                                    "benefit_raw_ci_low", "benefit_raw_ci_high")},
        "allocated": benefit["scenario"].map(chosen).to_numpy(),
    })
    correlations = _labelled_correlations(correlation, setting)
    # An allocator that chose the uniform allocation has nothing to compare: say so in the row.
    uniform = allocation[allocation["allocator"] == "uniform"].set_index("scenario")["regime"]
    same: dict[tuple[str, str], bool] = {}
    games = dict(zip(benefit["scenario"], benefit["game"]))
    for allocator, rows in allocation[allocation["allocator"] != "uniform"].groupby("allocator"):
        picks = dict(zip(rows["scenario"], rows["regime"]))
        for group in ["all", *sorted(set(games.values()))]:
            members = [s for s in picks if group == "all" or games.get(s) == group]
            same[(allocator, group)] = all(picks[s] == uniform.get(s) for s in members)
    allocations = comparison[["allocator", "group", "protocol", "uniform", "heuristic", "difference",
                              "difference_ci_low", "difference_ci_high", "p_value", "n_heuristic", "n_uniform",
                              "note"]].copy()
    allocations.insert(0, "setting", setting)
    allocations.insert(4, "same_as_uniform", [same.get((a, g), False) for a, g in
                                              zip(allocations["allocator"], allocations["group"])])
    return {"scenarios": scenarios, "correlations": correlations, "allocations": allocations}


def authors_tables(data_dir: str | Path, games: tuple[str, ...], *, confidence: float = 0.95,
                   permutations: int = 1000, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The same three tables computed from the authors' released data (``loi paper``'s
    analysis, their histogram LoI) for those of ``games`` the data holds (the authors released
    three of their four games: no stag_hunt), benefits with the intervals of
    :func:`loi.pipeline.statistics.population_benefit`."""
    from loi.metrics.stats import pearson
    from loi.pipeline.paper import ANOVA_REGIMES, analyse_paper_data, tournament_scores
    from loi.pipeline.statistics import correlation_table, population_benefit

    analysis = analyse_paper_data(data_dir, permutations=permutations, bootstrap=permutations, seed=seed,
                                  confidence=confidence, predictors=False)
    present = [g for g in games if g in analysis.games]
    if not present:
        raise LoiError(f"the authors' data in {data_dir} has none of the games {', '.join(games)} "
                       f"(it has {', '.join(sorted(analysis.games))})")
    games = tuple(present)
    sp, top = ANOVA_REGIMES[0], ANOVA_REGIMES[-1]
    scenario_rows, correlation_rows, allocation_rows = [], [], []
    layout_names = {"S": "small", "M": "medium", "L": "large", "O": "obstacle"}
    for folder in analysis.tournaments or ():
        setting = authors_setting(folder.name)
        for game in games:
            ga = analysis.games[game]
            tournament = ga.tournaments[folder.name]
            raw_benefits, raw_lois = [], []
            for layout, lay in ga.layouts.items():
                scores = tournament_scores(data_dir, game, layout, folder=folder.name)
                row = {"setting": setting, "scenario": f"{game}/{layout_names.get(layout, layout)}", "game": game,
                       "loi": lay.loi.corrected, "loi_ci_low": lay.loi.corrected_confidence_interval.low,
                       "loi_ci_high": lay.loi.corrected_confidence_interval.high, "loi_estimator": lay.loi.estimator,
                       "benefit_regime": "pp5", "allocated": ga.allocation.get(layout, "").lower()}
                if scores is not None:
                    b = population_benefit(scores, top, sp, confidence=confidence)
                    means = scores.groupby("regime")["score"].mean()
                    row.update(benefit=float(means[top] / means[sp] - 1) / 2,
                               **{k: b[k] for k in ("benefit_ci_low", "benefit_ci_high", "benefit_raw",
                                                    "benefit_raw_ci_low", "benefit_raw_ci_high")})
                    raw_benefits.append(tournament.layouts[layout].benefit)
                    raw_lois.append(lay.loi.statistic)
                scenario_rows.append(row)
            # The paper's protocol per game (loi's, per game and pooled, comes from correlation_table below).
            corr = {"setting": setting, "game": game, "protocol": CORRELATION_PROTOCOLS[1], "r": math.nan,
                    "ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan, "n": len(raw_benefits), "note": ""}
            if len(raw_benefits) >= 3:
                result = pearson(raw_lois, raw_benefits, confidence=confidence)
                corr.update(r=result.statistic, ci_low=result.confidence_interval.low,
                            ci_high=result.confidence_interval.high, p_value=result.pvalue)
            correlation_rows.append(corr)
            for key, comp in tournament.comparisons.items():
                if key not in ("all",) and not key.startswith("top"):
                    continue
                allocation_rows.append({
                    "setting": setting, "allocator": "one_sigma", "group": game,
                    "protocol": key, "same_as_uniform": False, "uniform": comp.uniform_mean,
                    "heuristic": comp.heuristic_mean, "difference": comp.difference.statistic,
                    "difference_ci_low": comp.difference.confidence_interval.low,
                    "difference_ci_high": comp.difference.confidence_interval.high, "p_value": comp.pvalue,
                    "n_heuristic": comp.n_heuristic, "n_uniform": comp.n_uniform, "note": ""})
    scenarios = pd.DataFrame(scenario_rows)
    parts = [pd.DataFrame(correlation_rows)]
    if "benefit" in scenarios:  # absent when the data has no tournaments
        for setting, rows in reversed(list(scenarios.groupby("setting", sort=False))):
            parts.insert(0, _labelled_correlations(correlation_table(rows.dropna(subset=["benefit"])), setting))
    correlations = pd.concat(parts, ignore_index=True)
    return {"scenarios": scenarios, "correlations": correlations, "allocations": pd.DataFrame(allocation_rows)}


def decision_table(scenarios: pd.DataFrame, correlations: pd.DataFrame) -> pd.DataFrame:
    """examples/why.toml's pre-registered decision, per setting: (a) the PP5 benefit's CI
    lies above 0 in at least half of the scenarios, (b) the pooled r(LoI, benefit)'s CI
    (loi's protocol, game ``all``) lies above 0; the effect is reproduced when both hold.
    Beside them: the mean benefit, the median CI half-width (the size a scenario resolves)
    and, where the authors' rows are present, in how many scenarios the CI lies wholly below
    the authors' benefit for the same scenario (their effect size ruled out there), out of the
    scenarios the authors' data covers."""
    rows = []
    authors = scenarios[scenarios["setting"] == AUTHORS].set_index("scenario")["benefit"].astype(float)
    for setting, part in scenarios.groupby("setting", sort=False):
        # Scenarios whose CI lies wholly below the authors' benefit there: the paper's effect size excluded.
        theirs = part["scenario"].map(authors).astype(float).to_numpy()
        below_authors = part["benefit_ci_high"].astype(float) < theirs
        above = int((part["benefit_ci_low"].astype(float) > 0).sum())  # an unmeasured CI (NaN) is not above
        pooled = correlations[(correlations["setting"] == setting) & (correlations["game"] == "all")
                              & (correlations["protocol"] == CORRELATION_PROTOCOLS[0])]
        r, low, high = (pooled.iloc[0][["r", "ci_low", "ci_high"]].astype(float) if not pooled.empty
                        else (math.nan, math.nan, math.nan))
        benefit_above = bool(len(part) > 0 and above >= len(part) / 2)
        r_above = bool(np.isfinite(low) and low > 0)
        # The size of benefit a scenario could resolve: half its CI's width (median over scenarios).
        half_widths = (part["benefit_ci_high"].astype(float) - part["benefit_ci_low"].astype(float)) / 2
        rows.append({"setting": setting, "scenarios": len(part), "benefit_ci_above_0": above,
                     "benefit_mean": float(part["benefit"].astype(float).mean()),
                     "benefit_ci_half_width_median": float(half_widths.median()),
                     "authors_benefit_excluded": int(below_authors.sum()) if setting != AUTHORS else 0,
                     "authors_benefit_compared": int(np.isfinite(theirs).sum()) if setting != AUTHORS else 0,
                     "benefit_rule": benefit_above, "pooled_r": r, "pooled_r_ci_low": low, "pooled_r_ci_high": high,
                     "correlation_rule": r_above, "reproduced": benefit_above and r_above})
    return pd.DataFrame(rows)


def stage_seconds(run_dir: Path) -> float:
    """Wall seconds of a run's finished stages (a stage interrupted and resumed counts its last attempt)."""
    from loi.pipeline.run import study_status

    return float(sum((s["summary"] or {}).get("seconds", 0.0) for s in study_status(run_dir) if s["done"]))


def factorial_summary(factorial: Factorial, out: str | Path, *, paper_data: str | Path | None = None,
                      results: str | Path | None = None, single: bool = False) -> dict[str, pd.DataFrame]:
    """Gather every finished setting's tables (and the authors' values from
    ``paper_data``) into ``OUT/summary/{scenarios,correlations,allocations}.csv``
    plus ``manifest.json``; the same files go to ``results`` when given. Settings run in
    ``OUT/{setting}``; with ``single`` (a :func:`single_study`), ``OUT`` is the one run.
    A setting whose run is not under ``OUT`` (run on another machine) keeps its rows and
    manifest entry from the summary already in ``results``, when that summary ran the same
    study (same config hash)."""
    out = Path(out)

    def run_dir(setting: Setting) -> Path:
        return out if single else out / setting.name

    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in _GATHERED}
    done, pending, entries = [], [], []
    for setting in factorial.settings:
        tables = _setting_tables(setting.name, run_dir(setting))
        if tables is not None:
            entries.append({"name": setting.name, "description": setting.description,
                            "changes": json.loads(setting.overrides), "config_hash": setting.study.config_hash(),
                            "seconds": round(stage_seconds(run_dir(setting)), 1),
                            "git_revision": _run_revision(run_dir(setting))})
        elif results is not None and (committed := _committed_setting(Path(results), setting)) is not None:
            tables, entry = committed
            entries.append(entry)
        else:
            pending.append(setting.name)
            continue
        done.append(setting)
        for name in _GATHERED:
            frames[name].append(tables[name])
    if not done:
        raise LoiError(f"no setting of {factorial.name} has finished its statistics under {out}")
    if paper_data is not None:
        games = tuple(dict.fromkeys(g for s in done for g in s.study.games))
        authors = authors_tables(paper_data, games, confidence=done[0].study.evaluation.confidence)
        for name in _GATHERED:
            frames[name].append(authors[name])
    summary = {name: pd.concat(parts, ignore_index=True) for name, parts in frames.items()}
    summary["decisions"] = decision_table(summary["scenarios"], summary["correlations"])
    from loi.pipeline.run import versions

    manifest = {
        "factorial": factorial.name,
        "settings": entries,
        "pending": pending,
        "authors": None if paper_data is None else (
            "loi paper's analysis of the authors' released tensors: "
            + ", ".join(sorted(set(summary["scenarios"].loc[summary["scenarios"]["setting"] == AUTHORS, "game"])))
            + "; rows authors_SUFFIX: the same from their tournament_SUFFIX/ folder"),
        "versions": versions(),
        "config": factorial.text,
    }
    for folder in [out / "summary"] + ([Path(results)] if results is not None else []):
        _write_summary(folder, summary, manifest)
    return summary


def _run_revision(run_dir: Path) -> str:
    from loi.pipeline.run import read_study

    return read_study(run_dir).get("versions", {}).get("git", "unknown")


def _committed_setting(results: Path, setting: Setting) -> tuple[dict[str, pd.DataFrame], dict[str, Any]] | None:
    """``setting``'s rows and manifest entry in the summary already written to ``results``,
    if it holds that setting with the same config hash (else None)."""
    if not (results / MANIFEST).is_file():
        return None
    manifest = json.loads((results / MANIFEST).read_text())
    entry = next((e for e in manifest.get("settings", []) if e.get("name") == setting.name), None)
    if entry is None or entry.get("config_hash") != setting.study.config_hash():
        return None
    tables = {}
    for name in _GATHERED:
        frame = pd.read_csv(results / f"{name}.csv", dtype={"note": str})
        tables[name] = frame[frame["setting"] == setting.name].reset_index(drop=True)
    return tables, entry


def _write_summary(folder: Path, summary: dict[str, pd.DataFrame], manifest: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in summary.items():
        with atomic_write(folder / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_write(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    with atomic_write(folder / MARKDOWN) as tmp:  # read from the CSVs just written, as the README is
        tmp.write_text(markdown_summary(folder))


def refresh_authors(folder: str | Path, paper_data: str | Path, *, confidence: float = 0.95) -> dict[str, pd.DataFrame]:
    """Recompute the authors' rows of a written summary (``factorial_summary``'s folder) from
    their data, for the games those rows hold, keeping every other setting's rows as they are (its
    run folders need not exist); the decisions and the markdown follow, the manifest is kept."""
    folder = Path(folder)
    kept = {name: pd.read_csv(folder / f"{name}.csv", dtype={"note": str})
            for name in _GATHERED}
    scenarios = kept["scenarios"]
    games = tuple(dict.fromkeys(scenarios.loc[scenarios["setting"].map(is_authors), "game"]))
    if not games:
        raise LoiError(f"{folder} has no rows of the authors' values to refresh")
    authors = authors_tables(paper_data, games, confidence=confidence)
    summary = {name: pd.concat([kept[name][~kept[name]["setting"].map(is_authors)], authors[name]],
                               ignore_index=True)
               for name in _GATHERED}
    summary["decisions"] = decision_table(summary["scenarios"], summary["correlations"])
    _write_summary(folder, summary, json.loads((folder / MANIFEST).read_text()))
    return summary


# ----------------------------------------------------------------------------- markdown


def _ci(point: float, low: float, high: float, digits: int = 3) -> str:
    if not np.isfinite(point):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{point:.{digits}f}"
    return f"{point:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def settings_markdown(manifest: dict[str, Any]) -> list[str]:
    """What each setting changed, its wall time (finished stages) and code revision; the pending ones."""
    lines = ["| setting | what it is | wall time | git revision |", "|---|---|---|---|"]
    for s in manifest["settings"]:
        lines.append(f"| {s['name']} | {s['description']} | {s['seconds'] / 60:.1f} min | "
                     f"`{str(s['git_revision'])[:12]}` |")
    if manifest["pending"]:
        lines += ["", f"Not run yet: {', '.join(manifest['pending'])}."]
    return lines


def decision_markdown(decisions: pd.DataFrame) -> list[str]:
    """The decision table's rows, each setting's rules compared with the first setting's
    (the reference a factorial varies one factor at a time from)."""
    with_authors = bool((decisions["setting"] == AUTHORS).any())
    header = ["setting", "(a) PP5 benefit CI above 0", "mean PP5 benefit (median CI half-width)"]
    header += ["CI below the authors' benefit"] * with_authors
    header += ["(b) pooled r(LoI, benefit) [95% CI]", "reproduced", "changes from the first setting"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    yes = {True: "yes", False: "no"}
    studied = decisions[~decisions["setting"].map(is_authors)]
    reference = studied.iloc[0] if not studied.empty else None
    for row in decisions.itertuples(index=False):
        change = ""
        if reference is not None and not is_authors(row.setting) and row.setting != reference["setting"]:
            flips = [rule for rule, column in (("(a)", "benefit_rule"), ("(b)", "correlation_rule"))
                     if bool(getattr(row, column)) != bool(reference[column])]
            change = "flips " + " and ".join(flips) if flips else "neither rule flips"
        cells = [row.setting, f"{row.benefit_ci_above_0} of {row.scenarios}: {yes[bool(row.benefit_rule)]}",
                 f"{row.benefit_mean:.3f} (±{row.benefit_ci_half_width_median:.3f})"]
        if with_authors:
            cells.append("" if row.setting == AUTHORS else
                         f"{row.authors_benefit_excluded} of {row.authors_benefit_compared}")
        cells += [f"{_ci(row.pooled_r, row.pooled_r_ci_low, row.pooled_r_ci_high, digits=2)}: "
                  f"{yes[bool(row.correlation_rule)]}", yes[bool(row.reproduced)], change]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_summary(folder: str | Path) -> str:
    """The README's tables from a summary folder's CSVs: per setting and game the
    mean PP benefit, r(LoI, benefit) with CI, and the allocation gain vs uniform
    on all evaluations; then the per-scenario rows."""
    folder = Path(folder)
    scenarios = pd.read_csv(folder / "scenarios.csv")
    # An all-empty note column reads back as float NaN; read it as text.
    correlations = pd.read_csv(folder / "correlations.csv", dtype={"note": str}).fillna({"note": ""})
    allocations = pd.read_csv(folder / "allocations.csv", dtype={"note": str}).fillna({"note": ""})
    decisions = pd.read_csv(folder / "decisions.csv")
    order = list(dict.fromkeys(scenarios["setting"]))
    lines = settings_markdown(json.loads((folder / MANIFEST).read_text())) + [""]
    lines += decision_markdown(decisions) + [""]
    lines += ["| setting | game | PP5 benefit, normalised (mean of layouts) | r(LoI, benefit) [95% CI] | "
             "allocation gain vs uniform, all evaluations [95% CI], p |",
             "|---|---|---|---|---|"]
    for setting in order:
        for game in sorted(scenarios.loc[scenarios["setting"] == setting, "game"].unique()):
            part = scenarios[(scenarios["setting"] == setting) & (scenarios["game"] == game)]
            corr = correlations[(correlations["setting"] == setting) & (correlations["game"] == game)
                                & (correlations["protocol"] == CORRELATION_PROTOCOLS[0])]
            alloc = allocations[(allocations["setting"] == setting) & (allocations["group"] == game)
                                & (allocations["protocol"] == "all")]
            r = "n/a" if corr.empty else _ci(*corr.iloc[0][["r", "ci_low", "ci_high"]].astype(float), digits=2)
            gains = []
            for row in alloc.itertuples(index=False):
                text = _ci(row.difference, row.difference_ci_low, row.difference_ci_high)
                if np.isfinite(row.p_value):
                    text += f", p = {row.p_value:.3g}"
                if row.same_as_uniform:
                    text = "same allocation as uniform"
                gains.append(f"{row.allocator}: {text}")
            lines.append(f"| {setting} | {game} | {part['benefit'].mean():.3f} | {r} | "
                         f"{'; '.join(gains) or 'n/a'} |")
    lines += ["", "| setting | scenario | LoI [95% CI] | PP5 benefit, normalised [95% CI] | "
              "PP5 benefit, raw [95% CI] | allocated |", "|---|---|---|---|---|---|"]
    for row in scenarios.itertuples(index=False):
        lines.append(f"| {row.setting} | {row.scenario} | {_ci(row.loi, row.loi_ci_low, row.loi_ci_high)} | "
                     f"{_ci(row.benefit, row.benefit_ci_low, row.benefit_ci_high)} | "
                     f"{_ci(row.benefit_raw, row.benefit_raw_ci_low, row.benefit_raw_ci_high, 2)} | "
                     f"{row.allocated if isinstance(row.allocated, str) else ''} |")
    return "\n".join(lines) + "\n"
