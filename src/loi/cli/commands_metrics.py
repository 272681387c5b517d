"""``loi measure`` and ``loi paper``: LoI from reward tables and the paper's analysis.

Heavy imports (pandas, scipy, the estimators) happen inside the commands so
that ``loi --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Optional

import typer

from loi.cli.app import app


def _num(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _fmt_p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.2e}" if value < 1e-3 else f"{value:.3f}"


def _parse_options(pairs: list[str]) -> dict:
    """``["k=5", "value_range=0,100"]`` -> ``{"k": 5, "value_range": (0.0, 100.0)}``."""
    from loi.errors import LoiError

    def scalar(text: str):
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise LoiError(f"--option expects KEY=VALUE, got {pair!r}")
        key = key.strip().replace("-", "_")
        if "," in value:
            parts = [scalar(v.strip()) for v in value.split(",")]
            if not all(isinstance(v, (int, float)) for v in parts):
                raise LoiError(f"--option {key}: expected numbers separated by commas, got {value!r}")
            options[key] = tuple(float(v) for v in parts)
        else:
            options[key] = scalar(value.strip())
    return options


@contextlib.contextmanager
def progress_bar(what: str):
    """A ``progress(done, total)`` callback drawing a rich bar with an ETA on stderr, or ``None``
    when stderr is not a terminal: stdout (``--json``) is never touched, and the bar disappears
    when the work ends."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _console():
    import sys

    from rich.console import Console

    # Piped output (no terminal to measure) gets a width that fits the tables.
    return Console(width=None if sys.stdout.isatty() else 140)


@app.command()
def measure(
    table: Path = typer.Argument(..., help="Reward table: .parquet, .csv, or an authors' cross_play .npz file."),
    estimator: Optional[str] = typer.Option(None, "--estimator", "-e",
                                            help="LoI estimator: knn (the default, the most accurate measured: "
                                                 "see README), paper or miller-madow."),
    permutations: int = typer.Option(1000, "--permutations", help="Permutation-null draws (0: skip)."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the CI (0: skip)."),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence level of the CI."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same result)."),
    sequential: int = typer.Option(0, "--sequential", metavar="H",
                                   help="Sequential p-values (Besag & Clifford): stop a scenario's permutations "
                                        "at the H-th null draw reaching its LoI (0: draw them all)."),
    workers: int = typer.Option(0, "--workers", "-j",
                                help="Scenarios run in parallel threads (0: one per core when the work is "
                                     "large enough to be worth splitting)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Also write the per-scenario results to this .parquet/.csv file."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-O", metavar="KEY=VALUE",
                                               help="Estimator option KEY=VALUE, repeatable: k=5 (knn, the "
                                                    "default estimator; default k=3), bins=50 or "
                                                    "value_range=0,100 (paper, miller-madow; returns outside "
                                                    "the range are dropped and counted), ci_method=auto, "
                                                    "blocks, centered, basic or percentile (default auto)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
    metric: Optional[list[str]] = typer.Option(None, "--metric", "-m", metavar="NAME",
                                               help="Interaction metric, repeatable: loi, eta2, icc, xp_gap "
                                                    "(one row per scenario and metric; default: LoI only, "
                                                    "in the LoI table)."),
) -> None:
    """LoI (or other interaction metrics) of every scenario of a reward table, with CI, null mean,
    corrected value and p-value."""
    from loi.errors import LoiError
    from loi.metrics import DEFAULT_ESTIMATOR
    from loi.metrics.table import dropped_rows, loi_rows, measure_table
    from loi.cli.outputs import refuse_input_overwrite
    from loi.tables import atomic_write, check_writable, read_table

    name = estimator or DEFAULT_ESTIMATOR
    options = _parse_options(option or [])
    if workers < 0:
        raise LoiError(f"--workers must be >= 0, got {workers}")
    if output is not None:
        if output.suffix.lower() not in (".parquet", ".pq", ".csv"):
            raise LoiError(f"cannot write {output}: expected a .parquet or .csv file name")
        check_writable(output)  # before the work, not after it
        refuse_input_overwrite(output, [table], option="--output")
    reward_table = read_table(table)
    _warn_about_options(reward_table, name, options)
    if metric:
        _measure_metrics(reward_table, metric, estimator=name, permutations=permutations, bootstrap=bootstrap,
                         confidence=confidence, seed=seed, sequential=sequential, workers=workers or None,
                         options=options, output=output, as_json=as_json)
        return
    with progress_bar(f"LoI ({name})") as progress:
        results = measure_table(reward_table, estimator=name, permutations=permutations, bootstrap=bootstrap,
                                confidence=confidence, seed=seed, sequential=sequential,
                                workers=workers or None, progress=progress, **options)
    frame = loi_rows(results)
    if output is not None:
        with atomic_write(output) as tmp:
            if output.suffix.lower() == ".csv":
                frame.to_csv(tmp, index=False)
            else:
                frame.to_parquet(tmp, index=False)
    dropped = dropped_rows(reward_table, results)
    records = {row["scenario"]: {**{k: _json_value(v) for k, v in row.items() if k not in ("scenario", "estimator")},
                                 "dropped": dropped.get(row["scenario"], (0, 0))[0]}
               for row in frame.to_dict("records")}
    if as_json:
        print(json.dumps({"estimator": name, "confidence": confidence, "scenarios": records}))
        return

    from rich.table import Table

    view = Table(title=f"Level of Influence ({name} estimator, nats)")
    columns = ["scenario", "LoI", f"{confidence:.0%} CI", "max", "null mean", f"corrected [{confidence:.0%} CI]",
               "p (LoI>0)", "episodes"]
    if sequential:
        columns.insert(-1, "permutations")
    for column in columns:
        view.add_column(column, justify="left" if column == "scenario" else "right")
    for scenario, v in records.items():
        cells = [scenario, _fmt(v["loi"]) + _above(v["loi"], v), f"[{_fmt(v['ci_low'])}, {_fmt(v['ci_high'])}]" +
                 (" ^" if v["interval_capped"] else ""), _fmt(v["loi_max"]), _fmt(v["null_mean"]),
                 f"{_fmt(v['corrected'])}{_above(v['corrected'], v)} "
                 f"[{_fmt(v['corrected_ci_low'])}, {_fmt(v['corrected_ci_high'])}]",
                 _fmt_p(v["p_value"]), str(v["episodes"])]
        if sequential:
            cells.insert(-1, str(v["permutations"]))
        view.add_row(*cells)
    console = _console()
    console.print(view)
    for line in _measure_notes(records):
        console.print(line, highlight=False)
    if output is not None:
        console.print(f"wrote {output}")


def _write_frame(frame, output: Path) -> None:
    from loi.tables import atomic_write

    with atomic_write(output) as tmp:
        if output.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)


def _measure_metrics(reward_table, names: list[str], *, estimator: str, permutations: int, bootstrap: int,
                     confidence: float, seed: int, sequential: int, workers: int | None, options: dict,
                     output: Optional[Path], as_json: bool) -> None:
    """``loi measure --metric``: the long metrics table (``loi.metrics.METRIC_COLUMNS``), one row per
    scenario and metric output, written, printed as JSON or as a table."""
    from loi.metrics import measure_metrics
    from loi.metrics.interaction import table_metric

    for name in names:
        table_metric(name)  # an unknown or rollout metric fails before any work
    with progress_bar("metrics") as progress:
        frame = measure_metrics(reward_table, names, permutations=permutations, bootstrap=bootstrap,
                                confidence=confidence, seed=seed, estimator=estimator, workers=workers,
                                progress=progress, sequential=sequential, **options)
    if output is not None:
        _write_frame(frame, output)
    scenarios: dict[str, dict] = {}
    for row in frame.to_dict("records"):
        scenarios.setdefault(row["scenario"], {})[row["metric"]] = {
            k: _json_value(v) for k, v in row.items() if k not in ("scenario", "metric")}
    if as_json:
        print(json.dumps({"metrics": list(dict.fromkeys(frame["metric"])), "estimator": estimator,
                          "confidence": confidence, "scenarios": scenarios}))
        return
    from rich.table import Table

    view = Table(title="Interaction metrics")
    for column in ("scenario", "metric", "value", f"{confidence:.0%} CI", "null mean", "score", "p", "blocks",
                   "note"):
        view.add_column(column, justify="left" if column in ("scenario", "metric", "note") else "right")
    for scenario, by_metric in scenarios.items():
        for name, v in by_metric.items():
            view.add_row(scenario, name, _fmt(v["statistic"]), f"[{_fmt(v['ci_low'])}, {_fmt(v['ci_high'])}]",
                         _fmt(v["null_mean"]), _fmt(v["score"]), _fmt_p(v["p_value"]), str(v["blocks"]), v["note"])
    console = _console()
    console.print(view)
    console.print("score = value - null mean where the metric has a permutation null (loi, eta2), else the value: "
                  "what allocators read. p: permutation p (loi, eta2, xp_gap), F-test (icc).", highlight=False)
    if output is not None:
        console.print(f"wrote {output}")


def _interval_text(point, interval, digits: int = 3) -> str:
    if interval is None:
        return _fmt(point, digits)
    return f"{_fmt(point, digits)} [{_fmt(interval[0], digits)}, {_fmt(interval[1], digits)}]"


def _print_tournaments(console, game: str, g: dict) -> None:
    """``loi paper``'s fixed-Bob statistics of one game, every tournament folder side by side."""
    from rich.table import Table

    tournaments = g["tournaments"]
    if not tournaments:
        return
    per_layout = Table(title=f"{game}: fixed-Bob tournaments, PP5 benefit = (PP5 - SP5) / 2 [95% CI over egos]")
    for column in ("tournament", "layout", "ANOVA F", "ANOVA p", "PP5 benefit", "training"):
        per_layout.add_column(column, justify="left" if column in ("tournament", "layout", "training") else "right")
    per_game = Table(title=f"{game}: r(LoI, PP5 benefit) and one-sigma vs uniform PP3 (scores / SP5 mean)")
    for column in ("tournament", "r [95% CI]", "all evaluations: diff [95% CI], p",
                   f"{next((k for k in g['comparison'] if k.startswith('top')), 'top30')} (paper): diff, p"):
        per_game.add_column(column, justify="left" if column == "tournament" else "right")
    for t in tournaments.values():
        if t["missing"]:
            per_layout.add_row(t["label"], "-", "", "", "missing: no SP5/PP3/PP5 files for this game", "")
            per_game.add_row(t["label"], "missing", "", "")
            continue
        training = t["training_note"] or ("matched" if t["generations"] else "unknown")
        for layout, v in t["layouts"].items():
            per_layout.add_row(t["label"], layout, _fmt(v["anova_f"], 2), _fmt_p(v["anova_p"]),
                               _interval_text(v["benefit"], v["benefit_ci"], 2), training)
        comparisons = [(key, c) for key, c in t["comparison"].items() if key != "all_scenario_weighted"]
        cells = [f"{_interval_text(c['difference'], c['difference_ci'])}, p = {_fmt_p(c['p'])}"
                 for _, c in comparisons]
        per_game.add_row(t["label"], _interval_text(t["pearson_r"], t["pearson_ci"], 2), *(cells or ["", ""]))
    console.print(per_layout)
    console.print(per_game)


def _print_predictors(console, result: dict) -> None:
    """``loi paper``'s predictor comparison: each interaction metric against the PP5 benefit,
    per tournament folder (Spearman within game and pooled, the cross-fitted greedy gain)."""
    from rich.table import Table

    labels = {t["folder"]: t["label"] for t in result["tournaments"]}
    for folder, comparison in result["predictors"].items():
        correlations = [r for r in comparison["correlations"] if r["method"] == "spearman"]
        groups = list(dict.fromkeys(r["group"] for r in correlations))
        view = Table(title=f"Which metric predicts the PP5 benefit? {labels.get(folder, folder)}: Spearman r "
                           "[95% CI] (pooled: ranks within game), and the cross-fitted greedy allocation "
                           "minus uniform PP3")
        view.add_column("metric", justify="left")
        for group in groups:
            view.add_column(group, justify="right")
        view.add_column("greedy - uniform [95% CI], p", justify="right")
        gains = {r["metric"]: r for r in comparison["gains"] if r["group"] == "pooled"}
        for metric in dict.fromkeys(r["metric"] for r in correlations):
            cells = []
            for group in groups:
                r = next(x for x in correlations if x["metric"] == metric and x["group"] == group)
                cells.append(f"{_interval_text(r['r'], [r['ci_low'], r['ci_high']], 2)}, p = {_fmt_p(r['p_value'])}")
            gain = gains.get(metric)
            cells.append("" if gain is None else gain["note"] or
                         f"{_interval_text(gain['difference'], [gain['ci_low'], gain['ci_high']])}, "
                         f"p = {_fmt_p(gain['p_value'])}")
            view.add_row(metric, *cells)
        console.print(view)
    if result["predictors"]:
        console.print("Metrics: null-corrected scores (loi.metrics.interaction); the full rows are in --json "
                      "(metrics, predictors).", highlight=False)


def _json_value(value):
    """A ``to_dict`` value (pandas gives Python scalars) for JSON: nan/inf become null."""
    return _num(value) if isinstance(value, float) else value


def _above(value, record) -> str:
    """The mark of a value above the row's maximum (explained under the table)."""
    return " *" if value is not None and record["loi_max"] is not None and value > record["loi_max"] else ""


def _measure_notes(records: dict) -> list[str]:
    """What the table's marks and the corrected column mean (printed under it)."""
    notes = ["max: the largest possible LoI, the entropy of the co-player distribution (ln C for C equally "
             "likely co-players). corrected = LoI - null mean: the estimate minus what the estimator gives "
             "when the return does not depend on the co-player (its bias at this sample size); its CI is the "
             "LoI's CI shifted by the same amount. A negative null mean makes it larger than the LoI."]
    if any(_above(v["loi"], v) or _above(v["corrected"], v) for v in records.values()):
        notes.append("* above the maximum: the estimator's finite-sample bias near perfect separation, not "
                     "information; the CIs (which target the MI) lie at or below the maximum.")
    if any(v["interval_capped"] for v in records.values()):
        notes.append("^ CI cut at the maximum: the LoI cannot exceed it, so the cut loses no coverage.")
    dropped = [f"{scenario} {v['dropped']} of {v['episodes'] + v['dropped']}" for scenario, v in records.items()
               if v["dropped"]]
    if dropped:
        notes.append("Returns outside value_range were dropped (the paper's protocol), episodes per scenario: "
                     + "; ".join(dropped) + ". The LoI is of the episodes kept.")
    return notes


def _warn_about_options(reward_table, estimator: str, options: dict) -> None:
    """One stderr line per estimator option that will not do what it says (before the work)."""
    import sys

    from loi.metrics.table import knn_k_warning

    if estimator == "knn" and isinstance(options.get("k"), int) and options["k"] >= 1:
        line = knn_k_warning(reward_table, options["k"])
        if line:
            print(f"loi: warning: {line}", file=sys.stderr)


@app.command()
def paper(
    data_dir: Path = typer.Argument(..., help="Directory with cross_play/, tournament/ (and any tournament_*/ "
                                    "beside it) and an optional manifest.toml."),
    permutations: int = typer.Option(1000, "--permutations", help="Permutation-null draws for the LoI."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the LoI CI (0: skip)."),
    top: int = typer.Option(30, "--top", help="The paper's truncation for the labelled top-k comparison."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same result)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """The paper's full analysis (LoI, ANOVA, PP benefit, Pearson r, one-sigma
    allocation, heuristic vs uniform) for every game in DATA_DIR, every tournament
    folder side by side with its training lengths, and the interaction metrics
    compared as predictors of the PP5 benefit in each folder."""
    from loi.pipeline.paper import analyse_paper_data

    with progress_bar("paper analysis") as progress:
        analysis = analyse_paper_data(data_dir, permutations=permutations, bootstrap=bootstrap, seed=seed, top=top,
                                      progress=progress)
    result = analysis.to_json()
    if as_json:
        print(json.dumps(result))
        return

    from rich.table import Table

    console = _console()
    for game, g in result["games"].items():
        view = Table(title=f"{game} (cross-play run {g['run']})")
        for column in ("layout", "LoI [95% CI]", "null mean", "corrected [95% CI]", "p (LoI>0)", "one-sigma"):
            view.add_column(column, justify="left" if column in ("layout", "one-sigma") else "right")
        for layout, v in g["layouts"].items():
            view.add_row(layout, f"{_fmt(v['loi'])}{_above(v['loi'], v)} [{_fmt(v['ci_low'])}, {_fmt(v['ci_high'])}]",
                         _fmt(v["null_mean"]),
                         f"{_fmt(v['corrected'])} [{_fmt(v['corrected_ci_low'])}, {_fmt(v['corrected_ci_high'])}]",
                         _fmt_p(v["p_value"]), g["allocation"][layout])
        console.print(view)
        _print_tournaments(console, game, g)
        console.print()
    _print_predictors(console, result)
    console.print("LoI: the paper's protocol (histogram plug-in). null mean: its value with the co-player labels "
                  "shuffled, i.e. its bias at this sample size; corrected = LoI - null mean, with the LoI's CI "
                  "shifted by the same amount.", highlight=False)
