"""``loi run``, ``loi status`` and ``loi report``: the whole study from one config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from loi.cli.app import app


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


@app.command()
def run(
    config: Optional[Path] = typer.Argument(None, help="Study config (TOML). Default: the embedded quick study "
                                                       "(examples/quick.toml)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default ./runs/<config name>); "
                                                                 "re-running resumes it."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout at the end."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="ADDRESS",
                                      help="Run the jobs as Ray tasks: auto, HOST:PORT, ray://HOST:PORT, or local "
                                           "(Ray inside this process). Overrides the config's `ray`."),
) -> None:
    """Run (or resume) the study: train SP, LoI, allocate, train, tournaments, statistics, report."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from loi.pipeline.config import load_config
    from loi.pipeline.run import STAGES, enable_compilation_cache, run_study
    from loi.report import write_report

    start = time.perf_counter()
    study = load_config(config)  # every config error surfaces here, before anything is written
    run_dir = out if out is not None else Path("runs") / study.name
    enable_compilation_cache()
    console = Console(stderr=True)  # progress on stderr: --json keeps stdout to the one object
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[job]}"), TimeElapsedColumn(), console=console, transient=as_json)
    tasks: dict[str, int] = {}

    def on_event(event) -> None:
        name = f"{event.index}/{len(STAGES)} {dict(STAGES)[event.stage]}"
        if event.kind == "skip":
            progress.add_task(f"{name} (done earlier)", total=1, completed=1, job="")
        elif event.kind == "start":
            tasks[event.stage] = progress.add_task(name, total=max(event.total, 1), job="")
            if event.total == 0:
                progress.update(tasks[event.stage], completed=1)
        elif event.kind == "job":
            progress.update(tasks[event.stage], advance=1, job=event.label)
        elif event.kind == "done":
            progress.update(tasks[event.stage], completed=progress.tasks[tasks[event.stage]].total, job="")

    executor = None
    if ray is not None:
        from loi.pipeline.executor import make_executor

        executor = make_executor("ray", ray)  # fails here (exit 2) if Ray is missing or unreachable
    try:
        with progress:
            result = run_study(study, run_dir, executor=executor, on_event=on_event, reporter=write_report)
    finally:
        if executor is not None:
            executor.close()
    seconds = time.perf_counter() - start
    summary = {"run_dir": str(result.run_dir), "report": str(result.report), "seconds": round(seconds, 3),
               **result.summary}
    if as_json:
        print(json.dumps(summary))
        return
    from rich.table import Table

    table = Table(title=f"{study.name}: LoI and allocation ({study.allocator})")
    for column in ("scenario", "LoI", "95% CI", "corrected", "p (LoI>0)", "allocated"):
        table.add_column(column, justify="left" if column in ("scenario", "allocated") else "right")
    for scenario, s in summary["scenarios"].items():
        table.add_row(scenario, _fmt(s.get("loi")), f"[{_fmt(s['ci'][0])}, {_fmt(s['ci'][1])}]",
                      _fmt(s.get("corrected")), _fmt(s.get("p_value")), str(s.get("allocated")))
    import sys

    out_console = Console(width=None if sys.stdout.isatty() else 132)  # piped: wide enough for the table
    out_console.print(table)
    c = summary["comparison"]
    if c:
        out_console.print(f"{study.allocator} vs uniform (scores / SP mean, all evaluations): "
                          f"{_fmt(c['heuristic'])} vs {_fmt(c['uniform'])}, Hedges' g {_fmt(c['effect_size'], 2)} "
                          f"[{_fmt(c['ci'][0], 2)}, {_fmt(c['ci'][1], 2)}], one-sided p = {_fmt(c['p_value'])}")
    out_console.print(f"report: {result.report}  ({seconds:.0f} s)")


@app.command()
def status(
    run_dir: Path = typer.Argument(..., help="A run directory written by loi run."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """Show which stages of a run are done and which are pending."""
    from loi.pipeline.run import study_status

    stages = study_status(run_dir)
    if as_json:
        print(json.dumps({"run_dir": str(run_dir), "stages": stages}, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"loi run {run_dir}")
    for column in ("#", "stage", "status", "seconds"):
        table.add_column(column)
    for i, s in enumerate(stages, start=1):
        seconds = (s["summary"] or {}).get("seconds")
        table.add_row(str(i), s["description"], "[green]done" if s["done"] else "[yellow]pending",
                      "" if seconds is None else f"{seconds:.1f}")
    Console().print(table)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run directory written by loi run."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file (default RUN_DIR/report.html)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """Write the self-contained HTML report of a run (finished or not)."""
    from loi.report import write_report

    path = write_report(run_dir, out)
    if as_json:
        print(json.dumps({"report": str(path)}))
    else:
        print(f"wrote {path}")
