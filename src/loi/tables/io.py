"""Reading and writing reward tables; atomic file writes.

Every file ``loi`` writes goes through :func:`atomic_write`: the content is
written to a temporary file in the destination's directory and moved into
place with ``os.replace``, so a crash or a bad input never leaves a partial
file where a complete one is expected.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from loi.errors import LoiError
from loi.tables.schema import validate_table

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv",)
NPZ_SUFFIXES = (".npz",)
_SEPARATOR_NAMES = {";": "semicolon", "\t": "tab", "|": "pipe"}


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: str | os.PathLike) -> Path:
    """Raise a one-line LoiError unless a file can be created at ``path``: its directory exists,
    is a directory and accepts a new file (tried with a temporary file, removed at once). Call it
    before long work whose result goes to ``path``. Returns ``path``."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise LoiError(f"cannot write {path}: it is a directory")
    if not directory.exists():
        ancestor = next((a for a in directory.parents if a.exists()), None)
        if ancestor is not None and not ancestor.is_dir():
            raise LoiError(f"cannot write {path}: {ancestor} is a file, not a directory")
        raise LoiError(f"cannot write {path}: directory {directory} does not exist")
    if not directory.is_dir():
        raise LoiError(f"cannot write {path}: {directory} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=directory)
    except OSError as err:
        raise LoiError(f"cannot write {path}: {err.strerror or err} (directory {directory})") from None
    os.close(fd)
    os.unlink(probe)
    return path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    >>> with atomic_write("out.parquet") as tmp:   # doctest: +SKIP
    ...     df.to_parquet(tmp)

    If the body raises, the temporary file is removed and ``path`` is left
    untouched (absent, or its previous content). A destination that cannot be
    written (see :func:`check_writable`) is a LoiError.
    """
    path = check_writable(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as err:
        raise LoiError(f"cannot write {path}: {err.strerror or err}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the permissions of an
        # ordinary file (0666 minus the umask), as ``open`` would.
        os.chmod(tmp, 0o666 & ~_current_umask())
        try:
            os.replace(tmp, path)
        except OSError as err:
            raise LoiError(f"cannot write {path}: {err.strerror or err}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: str | os.PathLike) -> dict:
    """Read a JSON record that ``loi`` wrote (run/study metadata); a one-line
    LoiError naming the file if it is unreadable or not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise LoiError(f"cannot read {path}: {err}") from None


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a reward table from ``.parquet``/``.pq``, ``.csv`` or an
    authors' ``.npz`` file (cross_play or tournament layout, converted on the fly).

    Raises ``LoiError`` naming the file for an unknown suffix, an unreadable or
    garbled file, or a table that fails :func:`validate_table`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise LoiError(f"cannot read {path}: no such file")
    if path.is_dir():
        raise LoiError(f"cannot read {path}: it is a directory, expected a table file")
    if suffix in NPZ_SUFFIXES:
        from loi.tables.npz import read_npz

        return read_npz(path)
    try:
        if suffix in PARQUET_SUFFIXES:
            table = pd.read_parquet(path)
        elif suffix in CSV_SUFFIXES:
            table = pd.read_csv(path)
        else:
            raise LoiError(f"cannot read {path}: unknown table format {suffix or '(no suffix)'!r}; "
                           "expected .parquet, .csv or .npz")
    except LoiError:
        raise
    except Exception as err:  # pyarrow/pandas raise many types for garbled input
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise LoiError(f"cannot read {path}: {reason}") from err
    if suffix in CSV_SUFFIXES and len(table.columns) == 1 and any(sep in str(table.columns[0]) for sep in ";\t|"):
        sep = next(sep for sep in ";\t|" if sep in str(table.columns[0]))
        raise LoiError(f"cannot read {path}: it has one column named {str(table.columns[0])[:60]!r}; "
                       f"it looks {_SEPARATOR_NAMES[sep]}-separated, but loi reads comma-separated CSV")
    return validate_table(table, source=str(path))


def write_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Validate ``table`` and write it atomically as Parquet (or CSV for a
    ``.csv`` suffix). Returns the path written."""
    path = Path(path)
    clean = validate_table(table)
    suffix = path.suffix.lower()
    if suffix not in PARQUET_SUFFIXES + CSV_SUFFIXES:
        raise LoiError(f"cannot write {path}: expected a .parquet or .csv file name")
    with atomic_write(path) as tmp:
        if suffix in CSV_SUFFIXES:
            clean.to_csv(tmp, index=False)
        else:
            clean.to_parquet(tmp, index=False)
    return path


def write_commented_csv(table: pd.DataFrame, path: str | os.PathLike, comment: str) -> Path:
    """Write ``table`` as CSV after one ``# comment`` line (what made it), atomically; read it
    back with ``pd.read_csv(path, comment="#")``."""
    path = Path(path)
    with atomic_write(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"# {comment}\n")
            table.to_csv(f, index=False, float_format="%.4g")
    return path
