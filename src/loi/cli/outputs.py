"""The one check that no command writes over its own input.

Every command that writes a file or a directory calls :func:`refuse_input_overwrite` with its
output and its inputs before any work, so that ``loi measure table.csv -o table.csv`` (or a
symlink or hard link to the table, or a run directory that holds the config) fails with one
line and leaves the input as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from loi.errors import LoiError


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # same device and inode: a symlink or a hard link counts
    except OSError:  # one of them does not exist (or cannot be examined): not the same file
        return False


def refuse_input_overwrite(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], *,
                           option: str = "--out", directory: bool = False) -> Path:
    """Raise a one-line LoiError when writing ``output`` could replace one of ``inputs``: it is
    the same file (the same path, a symlink to it, a hard link: the same inode), or, when
    ``directory`` (the command writes a directory there), the directory holds an input (or is
    one). ``None`` inputs and inputs that do not exist are skipped (their readers report them).
    Returns ``output``."""
    output = Path(output)
    for given in inputs:
        if given is None:
            continue
        source = Path(given)
        if not (source.exists() or source.is_symlink()):
            continue
        if _same_file(output, source):
            how = "" if output.absolute() == source.absolute() else " (the same file under another name)"
            raise LoiError(f"{option} {output} is the input {source}{how}: refusing to overwrite it; "
                           f"choose another output")
        if directory:
            out_real, source_real = output.resolve(), source.resolve()
            if out_real in source_real.parents:
                raise LoiError(f"{option} {output} contains the input {source}: refusing to write there; "
                               f"choose an output directory outside it")
    return output
