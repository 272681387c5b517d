"""JAX's persistent compilation cache, shared by the study runner and its Ray workers."""

from __future__ import annotations

from pathlib import Path


def enable_compilation_cache(directory: str | Path | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache (unless one is already set):
    every training and evaluation program is compiled once per machine, not
    once per job and again on every resume. Default directory:
    ``$LOI_CACHE_DIR`` or ``~/.cache/loi/jax`` (``$XDG_CACHE_HOME`` honoured).
    The cache changes compile time only, never results."""
    import os

    import jax

    if jax.config.jax_compilation_cache_dir:
        return Path(jax.config.jax_compilation_cache_dir)
    if directory is None:
        xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        base = os.environ.get("LOI_CACHE_DIR") or xdg / "loi"
        directory = Path(base) / "jax"
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # an unwritable cache only costs compile time
    jax.config.update("jax_compilation_cache_dir", str(directory))
    return directory
