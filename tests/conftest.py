"""Shared test fixtures: the CLI as a user runs it, the authors' data, and a pure-Python
reference of the compiled kernels' random draws."""

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


class ReferenceDraws:
    """The random draws ``loi.metrics.kernels`` specifies, one at a time in pure Python: the
    splitmix64 stream of ``(seed, resample)`` and Lemire's bounded integers with rejection.
    ``rejected``: whether a word has been rejected (a draw took two)."""

    MASK, GOLDEN = (1 << 64) - 1, 0x9E3779B97F4A7C15

    @classmethod
    def output(cls, z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & cls.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & cls.MASK
        return z ^ (z >> 31)

    def __init__(self, seed: int, resample: int) -> None:
        self.state = self.output(self.output((seed + self.GOLDEN) & self.MASK) ^ ((resample * self.GOLDEN) & self.MASK))
        self.rejected = False

    def word(self) -> int:
        self.state = (self.state + self.GOLDEN) & self.MASK
        return self.output(self.state)

    def below(self, bound: int) -> int:
        product = (self.word() >> 32) * bound
        if product & 0xFFFFFFFF < bound:  # near a rejection
            while product & 0xFFFFFFFF < (2**32 - bound) % bound:
                self.rejected = True
                product = (self.word() >> 32) * bound
        return product >> 32

    def shuffled(self, items) -> list:
        """``items`` in the Fisher-Yates order of ``kernels._shuffle_labels``: position ``i``, from
        the last down to 1, swapped with ``below(i + 1)``."""
        items = list(items)
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]
        return items
