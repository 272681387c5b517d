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
                                            help="LoI estimator: paper, miller-madow or knn (default: the "
                                                 "most accurate measured, see README)."),
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
                                               help="Estimator option KEY=VALUE, repeatable: e.g. k=5 (knn), "
                                                    "bins=50 or value_range=0,100 (paper, miller-madow), "
                                                    "ci_method=blocks|centered|basic|percentile."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """LoI of every scenario of a reward table, with CI, null mean, corrected LoI and p-value."""
    from loi.errors import LoiError
    from loi.metrics import DEFAULT_ESTIMATOR
    from loi.metrics.table import loi_rows, measure_table
    from loi.tables import atomic_write, check_writable, read_table

    name = estimator or DEFAULT_ESTIMATOR
    options = _parse_options(option or [])
    if workers < 0:
        raise LoiError(f"--workers must be >= 0, got {workers}")
    if output is not None:
        if output.suffix.lower() not in (".parquet", ".pq", ".csv"):
            raise LoiError(f"cannot write {output}: expected a .parquet or .csv file name")
        check_writable(output)  # before the work, not after it
    reward_table = read_table(table)
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
    records = {row["scenario"]: {k: _json_value(v) for k, v in row.items() if k not in ("scenario", "estimator")}
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
    return notes


@app.command()
def paper(
    data_dir: Path = typer.Argument(..., help="Directory with cross_play/, tournament/ and manifest.toml."),
    permutations: int = typer.Option(1000, "--permutations", help="Permutation-null draws for the LoI."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the LoI CI (0: skip)."),
    top: int = typer.Option(30, "--top", help="The paper's truncation for the labelled top-k comparison."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same result)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """The paper's full analysis (LoI, ANOVA, PP benefit, Pearson r, one-sigma
    allocation, heuristic vs uniform) for every game in DATA_DIR."""
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
        for column in ("layout", "LoI [95% CI]", "null mean", "corrected [95% CI]", "p (LoI>0)", "ANOVA F",
                       "ANOVA p", "PP benefit", "one-sigma"):
            view.add_column(column, justify="left" if column in ("layout", "one-sigma") else "right")
        for layout, v in g["layouts"].items():
            view.add_row(layout, f"{_fmt(v['loi'])}{_above(v['loi'], v)} [{_fmt(v['ci_low'])}, {_fmt(v['ci_high'])}]",
                         _fmt(v["null_mean"]),
                         f"{_fmt(v['corrected'])} [{_fmt(v['corrected_ci_low'])}, {_fmt(v['corrected_ci_high'])}]",
                         _fmt_p(v["p_value"]), _fmt(v["anova_f"], 2), _fmt_p(v["anova_p"]),
                         _fmt(v["benefit"], 2), g["allocation"][layout])
        console.print(view)
        console.print(f"Pearson r(LoI, PP benefit) = {_fmt(g['pearson_r'])}, p = {_fmt_p(g['pearson_p'])}")
        if g["comparison"]:
            comp = Table(title=f"{game}: one-sigma allocation vs uniform PP3 (scores / SP5 mean)")
            for column in ("evaluations", "test", "uniform", "heuristic", "difference [95% CI]",
                           "Hedges' g [95% CI]", "one-sided p", "n (H/U)"):
                comp.add_column(column, justify="left" if column in ("evaluations", "test") else "right")
            labels = {"all": ("all", "Welch"), "all_scenario_weighted": ("all, scenarios equal", "Welch-Satt.")}
            for key, c in g["comparison"].items():
                label, test = labels.get(key, (f"{key} (paper)", "Student"))
                comp.add_row(label, test, _fmt(c["uniform"]), _fmt(c["heuristic"]),
                             f"{_fmt(c['difference'])} [{_fmt(c['difference_ci'][0])}, {_fmt(c['difference_ci'][1])}]",
                             f"{_fmt(c['hedges_g'], 2)} [{_fmt(c['hedges_g_ci'][0], 2)}, {_fmt(c['hedges_g_ci'][1], 2)}]",
                             _fmt_p(c["p"]), f"{c['n_heuristic']}/{c['n_uniform']}")
            console.print(comp)
        console.print()
    console.print("LoI: the paper's protocol (histogram plug-in). null mean: its value with the co-player labels "
                  "shuffled, i.e. its bias at this sample size; corrected = LoI - null mean, with the LoI's CI "
                  "shifted by the same amount.", highlight=False)
