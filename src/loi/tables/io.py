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


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    >>> with atomic_write("out.parquet") as tmp:   # doctest: +SKIP
    ...     df.to_parquet(tmp)

    If the body raises, the temporary file is removed and ``path`` is left
    untouched (absent, or its previous content).
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise LoiError(f"cannot write {path}: directory {directory} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the permissions of an
        # ordinary file (0666 minus the umask), as ``open`` would.
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
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
