"""The typer application every command module registers on.

Command modules import heavy dependencies (JAX, pandas) inside their functions
so that ``loi --help`` and the numpy-only commands start fast.
"""

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def help_prose(text: str | None) -> str | None:
    """Help text as typer's rich renderer should get it: each paragraph (blank-line separated) on
    one line, so that the terminal wraps it at its own width and not where the source wrapped, and
    rich markup escaped, so that "[settings]" is shown and not eaten as a style tag."""
    if text is None:
        return None
    import inspect

    from rich.markup import escape

    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(escape(" ".join(line.strip() for line in p.splitlines())) for p in paragraphs)


def _readable_parameter(param) -> None:
    """Names a reader can match with the help text: arguments in capitals (TABLE, as the
    docstrings write them), no ``<bool>`` after a flag, a repeatable option named by its value."""
    param.help = help_prose(getattr(param, "help", None))
    if isinstance(param, TyperArgument) and param.metavar is None:
        param.metavar = param.name.upper()
    elif isinstance(param, TyperOption) and param.metavar is None:
        if param.is_flag:
            param.metavar = ""
        elif param.multiple:
            param.metavar = param.name.upper()


class _ReadableHelp:
    """Help of every loi command (and of ``loi`` itself) that reads cleanly in an 80-column
    terminal: prose re-wrapped by the terminal, markup escaped, click-style usage
    (``loi measure [OPTIONS] TABLE``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.help = help_prose(self.help)
        for param in self.params:
            _readable_parameter(param)

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            _readable_parameter(option)
        return option

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar + ("..." if param.nargs != 1 else "")
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class LoiCommand(_ReadableHelp, TyperCommand):
    pass


class LoiGroup(_ReadableHelp, TyperGroup):
    def collect_usage_pieces(self, ctx) -> list[str]:
        return TyperGroup.collect_usage_pieces(self, ctx)


class _LoiTyper(typer.Typer):
    """A Typer whose commands are :class:`LoiCommand` unless they ask for another class."""

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or LoiCommand, **kwargs)


app = _LoiTyper(
    name="loi",
    cls=LoiGroup,
    help="Level of Influence (LoI): measure agent interaction in MARL and "
    "allocate training compute where it pays off.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def check_directory_writable(path, what: str = "--out"):
    """One-line LoiError unless ``path`` is, or can become, a writable directory: it is not a
    file, no existing ancestor is a file, and the nearest existing one accepts a new file.
    Called before any work whose output goes there."""
    import os
    import tempfile
    from pathlib import Path

    from loi.errors import LoiError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise LoiError(f"{what} {path}: it is a file, not a directory")
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise LoiError(f"{what} {path}: {existing} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".loi-", suffix=".probe", dir=existing)
    except OSError as err:
        raise LoiError(f"{what} {path}: cannot write in {existing} ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(probe)
    return path
