"""``loi run``, ``loi status`` and ``loi report``: the whole study from one config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.progress import ProgressColumn

from loi.cli.app import app


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


LOG_EVERY = 5.0  # seconds between progress lines when the output is not a terminal
SUMMARY_WIDTH = 80  # the summary printed at the end fits this many columns


class _LiveColumn(ProgressColumn):
    """A rich column that reads the tracker at every refresh (ETA, compiling)."""

    def __init__(self, tracker, render, table_column=None):
        super().__init__(table_column=table_column)
        self.tracker, self.draw = tracker, render

    def render(self, task):
        return self.draw(self.tracker, task.fields.get("stage"))


def _eta_text(tracker, stage_name):
    from rich.text import Text

    from loi.pipeline.progress import format_seconds, stage_eta

    stages, _, _, now = tracker.snapshot()
    stage = next((s for s in stages if s.stage == stage_name), None)
    if stage is None or stage.state != "running":
        return Text("")
    return Text(f"ETA {format_seconds(stage_eta(stage, now))}", style="cyan")


def _status_text(tracker, stage_name):
    from rich.text import Text

    from loi.pipeline.progress import format_seconds

    stages, compiling, since, now = tracker.snapshot()
    stage = next((s for s in stages if s.stage == stage_name), None)
    if stage is None or stage.state != "running":
        return Text("")
    if compiling is not None and since is not None:
        return Text(f"compiling {compiling[:28]} {format_seconds(now - since)}", style="yellow")
    return Text(stage.last_label[:40], style="dim")


# Columns of a stage's progress line besides its description and status: the bar, "jobs done/jobs",
# the elapsed time, "ETA h:mm:ss", with a space between columns.
_BAR_WIDTH, _FIXED_WIDTH = 10, 10 + 1 + 7 + 1 + 7 + 1 + 11 + 1


def _terminal_progress(console, tracker, transient: bool):
    """A live bar per stage (rich), with the tracker's ETA and compile state, one line per stage at
    the terminal's width: the description and the status are cut (with an ellipsis) to what the bar,
    the counts, the elapsed time and the ETA leave, never wrapped onto a line of their own."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Column

    from loi.pipeline.run import STAGES

    room = max(console.width - _FIXED_WIDTH - 2, 20)  # the description's and the status's together
    described = min(45, (room * 3) // 5)

    def cut(width: int) -> Column:
        return Column(no_wrap=True, overflow="ellipsis", max_width=width)

    progress = Progress(TextColumn("[bold]{task.description}", table_column=cut(described)),
                        BarColumn(bar_width=_BAR_WIDTH), MofNCompleteColumn(table_column=Column(no_wrap=True)),
                        TimeElapsedColumn(table_column=Column(no_wrap=True)),
                        _LiveColumn(tracker, _eta_text, Column(no_wrap=True)),
                        _LiveColumn(tracker, _status_text, cut(room - described)), console=console,
                        transient=transient)
    tasks: dict[str, int] = {}

    def on_event(event) -> None:
        tracker(event)
        name = f"{event.index}/{len(STAGES)} {dict(STAGES)[event.stage]}"
        if event.kind == "skip":
            progress.add_task(f"{name} (done earlier)", total=1, completed=1, stage=event.stage)
        elif event.kind == "start":
            tasks[event.stage] = progress.add_task(name, total=max(event.total, 1), stage=event.stage)
            if event.total == 0:
                progress.update(tasks[event.stage], completed=1)
        elif event.kind == "job":
            progress.update(tasks[event.stage], advance=1)
        elif event.kind == "done":
            progress.update(tasks[event.stage], completed=progress.tasks[tasks[event.stage]].total)

    return progress, on_event


class _LogProgress:
    """Plain, timestamped progress lines for a log file: one per stage event, and the
    running stage's state every ``every`` seconds from a background thread."""

    def __init__(self, console, tracker, every: float):
        import threading

        self.console, self.tracker, self.every = console, tracker, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="loi-progress", daemon=True)

    def _print(self, line: str) -> None:
        import time

        self.console.print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", markup=False, highlight=False,
                           soft_wrap=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.every):
            self._print(self.tracker.log_line())

    def on_event(self, event) -> None:
        from loi.pipeline.progress import format_seconds
        from loi.pipeline.run import STAGES

        self.tracker(event)
        name = f"stage {event.index}/{len(STAGES)} {dict(STAGES)[event.stage]}"
        if event.kind == "skip":
            self._print(f"{name}: done earlier, skipped")
        elif event.kind == "start":
            self._print(f"{name}: started, {event.total} job{'s' if event.total != 1 else ''}")
        elif event.kind == "done":
            stage = next(s for s in self.tracker.snapshot()[0] if s.stage == event.stage)
            self._print(f"{name}: done in {format_seconds(stage.finished - stage.started)}")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def summary_table(name: str, allocator: str, scenarios: dict):
    """The end-of-run table, readable at SUMMARY_WIDTH columns: scenario names are
    never cut (rich would shorten them to ``prisoners_dil…``)."""
    from rich import box
    from rich.table import Table

    table = Table(title=f"{name}: LoI per scenario (nats), regime of the {allocator} allocation",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, title_justify="left")
    table.add_column("scenario", no_wrap=True)
    table.add_column("LoI [95% CI]", justify="right", no_wrap=True)
    table.add_column("corrected", justify="right", no_wrap=True)  # LoI - null mean, as everywhere else
    table.add_column("p", justify="right", no_wrap=True)
    table.add_column("regime", no_wrap=True)
    for scenario, s in scenarios.items():
        table.add_row(scenario, f"{_fmt(s.get('loi'))} [{_fmt(s['ci'][0])}, {_fmt(s['ci'][1])}]",
                      _fmt(s.get("corrected")), _fmt(s.get("p_value")), str(s.get("allocated")))
    return table


@app.command()
def run(
    config: Optional[Path] = typer.Argument(None, help="Study config (TOML). Default: the embedded quick study "
                                                       "(examples/quick.toml). A factorial config ([settings]) "
                                                       "runs each setting as a study into OUT/SETTING."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default ./runs/<config name>); "
                                                                 "re-running resumes it."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout at the end."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="ADDRESS",
                                      help="Run the jobs as Ray tasks: auto, HOST:PORT, ray://HOST:PORT, or local "
                                           "(Ray inside this process). Overrides the config's `ray`."),
    log_every: float = typer.Option(LOG_EVERY, "--log-every", metavar="SECONDS",
                                    help="When stderr is not a terminal (nohup, a batch job): seconds between "
                                         "plain progress lines."),
    setting: Optional[list[str]] = typer.Option(None, "--setting", metavar="NAME",
                                                help="Factorial configs: run only this setting (repeatable)."),
    paper_data: Optional[Path] = typer.Option(None, "--paper-data", metavar="DIR",
                                              help="Add the authors' values, computed from their released data, "
                                                   "to the summary tables."),
    results: Optional[Path] = typer.Option(None, "--results", metavar="DIR",
                                           help="Also write the summary tables (CSV, manifest, markdown) here "
                                                "(e.g. docs/results/why); a factorial config always writes them "
                                                "to OUT/summary."),
) -> None:
    """Run (or resume) the study: train SP, LoI, allocate, train, tournaments, statistics, report.

    Progress goes to stderr: on a terminal a bar per stage with its ETA (from the jobs done
    and their times) and what JAX is compiling; otherwise plain log lines. A factorial
    config runs its settings one after another, then writes OUT/summary/ (CSV tables of
    every finished setting side by side, and a manifest with the config and git revision)."""
    import time

    from loi.errors import LoiError
    from loi.pipeline.factorial import Factorial, factorial_summary, load_study_or_factorial, markdown_summary

    if not log_every > 0:
        raise LoiError(f"--log-every must be > 0 seconds, got {log_every}")
    start = time.perf_counter()
    from loi.cli.app import check_directory_writable

    if config is not None and config.is_dir():
        raise LoiError(f"config {config} is a directory, not a TOML file")
    loaded = load_study_or_factorial(config)  # every config error surfaces here, before anything is written
    from loi.cli.outputs import refuse_input_overwrite

    check_directory_writable(out if out is not None else Path("runs") / loaded.name)
    refuse_input_overwrite(out if out is not None else Path("runs") / loaded.name, [config, paper_data],
                           directory=True)
    if results is not None:
        check_directory_writable(results, "--results")
        refuse_input_overwrite(results, [config, paper_data], option="--results", directory=True)
    if paper_data is not None and not paper_data.is_dir():
        raise LoiError(f"--paper-data {paper_data} is not a directory")
    if paper_data is not None and results is None and not isinstance(loaded, Factorial):
        raise LoiError("--paper-data goes into the summary tables: give --results DIR too")
    if not isinstance(loaded, Factorial):
        if setting:
            raise LoiError("--setting is for factorial configs (with [settings])")
        run_dir = out if out is not None else Path("runs") / loaded.name
        summary = _run_one(loaded, run_dir, as_json=as_json, ray=ray, log_every=log_every, start=start)
        if results is not None and loaded.allocate_per == "suite":
            from loi.pipeline.config import read_toml
            from loi.report.suite import MARKDOWN, export_suite

            export_suite(run_dir, results, read_toml(config)[1])
            if not as_json:
                print((results / MARKDOWN).read_text(), end="")
                print(f"summary: {results}")
        elif results is not None:
            from loi.pipeline.config import read_toml
            from loi.pipeline.factorial import single_study

            factorial_summary(single_study(loaded, read_toml(config)[1]), run_dir, paper_data=paper_data,
                              results=results, single=True)
            if not as_json:
                print(markdown_summary(results), end="")
                print(f"summary: {run_dir / 'summary'} and {results}")
        if as_json:
            print(json.dumps(summary))
        return
    root = out if out is not None else Path("runs") / loaded.name
    chosen = loaded.select(setting)
    summaries = {}
    for index, one in enumerate(chosen, start=1):
        if not as_json:
            print(f"setting {index}/{len(chosen)}: {one.name} ({one.description or 'no description'})")
        summaries[one.name] = _run_one(one.study, root / one.name, as_json=as_json, ray=ray, log_every=log_every,
                                       start=time.perf_counter())
    factorial_summary(loaded, root, paper_data=paper_data, results=results)
    if as_json:
        print(json.dumps({"run_dir": str(root), "summary": str(root / "summary"), "settings": summaries,
                          "seconds": round(time.perf_counter() - start, 3)}))
        return
    print(markdown_summary(root / "summary"), end="")
    print(f"summary: {root / 'summary'}" + (f" and {results}" if results is not None else ""))


def _run_one(study, run_dir: Path, *, as_json: bool, ray: Optional[str], log_every: float, start: float) -> dict:
    """One study with progress on stderr; its summary printed (unless ``as_json``) and returned."""
    import contextlib
    import sys
    import time

    from rich.console import Console

    from loi.pipeline.progress import ProgressTracker, watch_compilation
    from loi.pipeline.compilation import enable_compilation_cache
    from loi.pipeline.run import STAGES, run_study
    from loi.report import write_report

    enable_compilation_cache()
    console = Console(stderr=True)  # progress on stderr: --json keeps stdout to the one object
    tracker = ProgressTracker(dict(STAGES))
    if console.is_terminal:
        display, on_event = _terminal_progress(console, tracker, transient=as_json)
    else:
        logger = _LogProgress(console, tracker, log_every)
        display, on_event = logger, logger.on_event

    executor = None
    if ray is not None:
        from loi.pipeline.executor import make_executor

        executor = make_executor("ray", ray)  # fails here (exit 2) if Ray is missing or unreachable
    try:
        with display, watch_compilation(tracker) if executor is None else contextlib.nullcontext():
            result = run_study(study, run_dir, executor=executor, on_event=on_event, reporter=write_report)
    finally:
        if executor is not None:
            executor.close()
    seconds = time.perf_counter() - start
    summary = {"run_dir": str(result.run_dir), "report": str(result.report), "seconds": round(seconds, 3),
               **result.summary}
    if as_json:
        return summary
    from loi.report.summary import ALL_GAMES, headline_of_run_dir, summarize_run_dir

    out_console = Console(width=min(Console().width, 100) if sys.stdout.isatty() else SUMMARY_WIDTH)
    out_console.print(summary_table(study.name, study.allocator, summary["scenarios"]))
    # The report's headline (it says when the config is a smoke test), then each game's verdict.
    for sentence in headline_of_run_dir(result.run_dir).sentences:
        out_console.print(sentence, markup=False, highlight=False)
    for game in summarize_run_dir(result.run_dir):
        if game.group != ALL_GAMES:  # the pooled verdict is the headline's budget sentence
            out_console.print(game.verdict, markup=False, highlight=False)
    out_console.print(f"report: {result.report}  ({seconds:.0f} s)", markup=False, highlight=False)
    return summary


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
        state = "[green]done" if s["done"] else "[yellow]pending"
        if s["progress"]:  # running, or interrupted: the file cannot tell which
            p = s["progress"]
            state = f"[yellow]{p['done']}/{p['total']} jobs at {p['written']}"
        table.add_row(str(i), s["description"], state, "" if seconds is None else f"{seconds:.1f}")
    Console().print(table)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run directory written by loi run."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file (default RUN_DIR/report.html)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """Write the self-contained HTML report of a run (finished or not)."""
    from loi.errors import LoiError
    from loi.report import write_report

    if out is not None:
        # An HTML name: every other file in a run directory is one of the report's inputs.
        if out.suffix.lower() not in (".html", ".htm"):
            raise LoiError(f"--out {out}: expected an .html file name")
        from loi.cli.outputs import refuse_input_overwrite

        refuse_input_overwrite(out, [run_dir])
    path = write_report(run_dir, out)
    if as_json:
        print(json.dumps({"report": str(path)}))
    else:
        print(f"wrote {path}")
