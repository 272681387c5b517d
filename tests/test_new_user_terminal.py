"""What a new user reads in an 80-column terminal: every command's --help says every word of its
docstring and option help (nothing eaten as rich markup, nothing cut with an ellipsis), flags
without a type, arguments named as the text names them; `loi envs` shows whole names; `loi run`'s
progress keeps each stage on one line with its ETA."""

from __future__ import annotations

import io
import re

import pytest
from typer.testing import CliRunner


BOX = "│╭╮╰╯─┃━┏┓┗┛┡┩╇┳┻┃"


def _commands() -> dict:
    import typer

    from loi.cli.main import app

    return dict(typer.main.get_command(app).commands)


def _help_at_80(monkeypatch, *args: str) -> str:
    from loi.cli.main import app

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERMINAL_WIDTH", "80")
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def _words(text: str) -> list[str]:
    return text.translate({ord(c): " " for c in BOX}).split()


def _prose(text: str) -> str:
    """What the help should say: the docstring's words, as a reader reads them."""
    return " ".join(text.split())


@pytest.mark.parametrize("name", sorted(_commands()))
def test_help_at_80_columns_says_every_word_of_the_docstring_and_option_help(monkeypatch, name: str) -> None:
    command = _commands()[name]
    rendered = _help_at_80(monkeypatch, name)
    lines = rendered.splitlines()
    assert max(len(line) for line in lines) <= 80, rendered
    assert "…" not in rendered, rendered  # no help text, type or name cut short
    assert "<bool>" not in rendered and "<list" not in rendered and "{" not in rendered, rendered
    words = _words(rendered)
    # The command's own text (not boxed): the same words in the same order, wrapped by the terminal
    # at 80 columns, not where the source happened to break its lines.
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    intro = " ".join(" ".join(lines[start:next(i for i, line in enumerate(lines) if line.lstrip().startswith("╭"))])
                     .split())
    assert intro == _prose(command.callback.__doc__), intro
    for param in command.params:
        if param.help:
            expected = _prose(param.help.replace("\\[", "["))
            missing = [w for w in expected.split() if w not in words]
            assert not missing, f"{name} {param.name}: {missing} not shown\n{rendered}"
    # Arguments are named in the usage line as the docstrings name them (TABLE, not {table}).
    usage = next(line for line in lines if "Usage:" in line)
    for param in command.params:
        if param.param_type_name == "argument":
            shown = param.name.upper() if param.required else f"[{param.name.upper()}]"
            assert shown in usage.split(), usage


def test_a_bracketed_word_in_help_is_shown_not_eaten_as_markup(monkeypatch) -> None:
    rendered = " ".join(_words(_help_at_80(monkeypatch, "run")))
    assert "A factorial config ([settings]) runs each setting" in rendered
    rendered = " ".join(_words(_help_at_80(monkeypatch, "envs")))
    assert "TOML file of extra [games.*] / [layouts.*]" in rendered


def test_measure_help_names_the_default_estimator_and_every_ci_method(monkeypatch) -> None:
    from loi.metrics import CI_METHODS, DEFAULT_ESTIMATOR

    rendered = " ".join(_words(_help_at_80(monkeypatch, "measure")))
    assert f"{DEFAULT_ESTIMATOR} (the default" in rendered
    for method in CI_METHODS:
        assert re.search(rf"\b{method}\b", rendered), method


def test_envs_at_80_columns_shows_every_name_whole(monkeypatch) -> None:
    import loi.envs
    from loi.cli.main import app

    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["envs"])
    assert result.exit_code == 0, result.output
    shown = {line.strip() for line in result.output.splitlines()}
    assert set(loi.envs.names()) <= shown and "…" not in result.output


def test_run_progress_keeps_each_stage_on_one_line_with_its_eta_at_80_columns() -> None:
    from rich.console import Console

    from loi.cli.commands_run import _terminal_progress
    from loi.pipeline.progress import ProgressTracker
    from loi.pipeline.run import STAGES, StageEvent

    buffer = io.StringIO()
    console = Console(file=buffer, width=80, force_terminal=True, color_system=None)
    tracker = ProgressTracker(dict(STAGES))
    progress, on_event = _terminal_progress(console, tracker, transient=False)
    on_event(StageEvent("train_sp", 1, "skip"))
    on_event(StageEvent("loi", 2, "start", total=1))
    on_event(StageEvent("loi", 2, "done"))
    on_event(StageEvent("train_allocated", 4, "start", total=8))
    on_event(StageEvent("train_allocated", 4, "job", label="prisoners_dilemma/medium pp5 and a long label"))
    console.print(progress.get_renderable())
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    assert all(len(line) <= 80 for line in lines), lines
    running = [line for line in lines if line.startswith("4/7")]
    assert len(running) == 1 and "1/8" in running[0] and "ETA" in running[0], lines
