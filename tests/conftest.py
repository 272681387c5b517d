"""Shared test fixtures: the CLI as a user runs it, and the authors' data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The authors' released tensors live beside the checkout (never copied into it).
PAPER_DATA = Path(os.environ.get("LOI_PAPER_DATA", REPO.parent / "shared" / "paper-data"))


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``loi ARGS`` in a fresh interpreter, exactly as the console script does."""
    return subprocess.run(
        [sys.executable, "-m", "loi.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def paper_data() -> Path:
    if not (PAPER_DATA / "cross_play").is_dir():
        pytest.skip(f"authors' paper data not found at {PAPER_DATA} (set LOI_PAPER_DATA)")
    return PAPER_DATA
