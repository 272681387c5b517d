"""``loi measure`` and ``loi paper``: LoI from reward tables and the paper's analysis.

Heavy imports (pandas, scipy, the estimators) happen inside the commands so
that ``loi --help`` stays fast.
"""

from __future__ import annotations

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
        options[key] = tuple(float(scalar(v)) for v in value.split(",")) if "," in value else scalar(value.strip())
    return options


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
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Also write the per-scenario results to this .parquet/.csv file."),
    option: Optional[list[str]] = typer.Option(None, "--option", "-O", metavar="KEY=VALUE",
                                               help="Estimator option KEY=VALUE, repeatable: e.g. k=5 (knn), "
                                                    "bins=50 or value_range=0,100 (paper, miller-madow)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """LoI of every scenario of a reward table, with CI, null mean, corrected LoI and p-value."""
    import pandas as pd

    from loi.errors import LoiError
    from loi.metrics import DEFAULT_ESTIMATOR
    from loi.metrics.table import measure_table
    from loi.tables import atomic_write, read_table

    name = estimator or DEFAULT_ESTIMATOR
    options = _parse_options(option or [])
    if output is not None and output.suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise LoiError(f"cannot write {output}: expected a .parquet or .csv file name")
    results = measure_table(read_table(table), estimator=name, permutations=permutations,
                            bootstrap=bootstrap, confidence=confidence, seed=seed, **options)
    rows = {
        scenario: {
            "loi": _num(r.statistic),
            "ci": [_num(r.confidence_interval.low), _num(r.confidence_interval.high)],
            "null_mean": _num(r.null_mean),
            "corrected": _num(r.corrected),
            "p_value": _num(r.pvalue),
            "episodes": int(r.n_episodes),
        }
        for scenario, r in results.items()
    }
    if output is not None:
        frame = pd.DataFrame(
            [{"scenario": s, "estimator": name, "loi": v["loi"], "ci_low": v["ci"][0], "ci_high": v["ci"][1],
              "null_mean": v["null_mean"], "corrected": v["corrected"], "p_value": v["p_value"],
              "episodes": v["episodes"], "blocks": int(results[s].n_blocks)} for s, v in rows.items()]
        )
        with atomic_write(output) as tmp:
            if output.suffix.lower() == ".csv":
                frame.to_csv(tmp, index=False)
            else:
                frame.to_parquet(tmp, index=False)
    if as_json:
        print(json.dumps({"estimator": name, "scenarios": rows}))
        return

    from rich.table import Table

    view = Table(title=f"Level of Influence ({name} estimator, nats)")
    for column in ("scenario", "LoI", f"{confidence:.0%} CI", "null mean", "corrected", "p (LoI>0)", "episodes"):
        view.add_column(column, justify="left" if column == "scenario" else "right")
    for scenario, v in rows.items():
        view.add_row(scenario, _fmt(v["loi"]), f"[{_fmt(v['ci'][0])}, {_fmt(v['ci'][1])}]",
                     _fmt(v["null_mean"]), _fmt(v["corrected"]), _fmt_p(v["p_value"]), str(v["episodes"]))
    console = _console()
    console.print(view)
    if output is not None:
        console.print(f"wrote {output}")


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

    analysis = analyse_paper_data(data_dir, permutations=permutations, bootstrap=bootstrap, seed=seed, top=top)
    result = analysis.to_json()
    if as_json:
        print(json.dumps(result))
        return

    from rich.table import Table

    console = _console()
    for game, g in result["games"].items():
        view = Table(title=f"{game} (cross-play run {g['run']})")
        for column in ("layout", "LoI", "null mean", "corrected", "p (LoI>0)", "ANOVA F", "ANOVA p",
                       "PP benefit", "one-sigma"):
            view.add_column(column, justify="left" if column in ("layout", "one-sigma") else "right")
        for layout, v in g["layouts"].items():
            view.add_row(layout, _fmt(v["loi"]), _fmt(v["loi_null"]), _fmt(v["loi_corrected"]),
                         _fmt_p(v["loi_p_value"]), _fmt(v["anova_f"], 2), _fmt_p(v["anova_p"]),
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
