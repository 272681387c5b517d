"""The typer application every command module registers on.

Command modules import heavy dependencies (JAX, pandas) inside their functions
so that ``loi --help`` and the numpy-only commands start fast.
"""

import typer

app = typer.Typer(
    name="loi",
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
