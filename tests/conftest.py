"""Shared test fixtures: the CLI as a user runs it, the authors' data, a pure-Python
reference of the compiled kernels' random draws, and one JAX compilation cache for the run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The authors' released tensors live beside the checkout (never copied into it).
PAPER_DATA = Path(os.environ.get("LOI_PAPER_DATA", REPO.parent / "shared" / "paper-data"))

_CACHE_VARIABLE = "JAX_COMPILATION_CACHE_DIR"
_owned_cache = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """One JAX persistent compilation cache for the whole run: this process, the pytest-xdist
    workers (they inherit the variable) and every process a test starts (``loi`` commands, study
    drivers, Ray workers) compile a program once and load it after that. The suite is mostly XLA
    compilation: the tiny study of tests/data alone compiles for ~110 of its ~135 CPU seconds,
    ~25 s with the cache warm. A fresh directory per run, removed at the end (set the variable
    to keep one between runs); ``loi``'s own cache (``enable_compilation_cache``) defers to it.
    The cache changes compile time only, never results."""
    if _CACHE_VARIABLE not in os.environ:  # set here by the controller; an xdist worker inherits it
        os.environ[_CACHE_VARIABLE] = tempfile.mkdtemp(prefix="loi-tests-jax-cache-")
        config.stash[_owned_cache] = os.environ[_CACHE_VARIABLE]
    import jax

    jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_VARIABLE])  # if jax was imported before


# Modules whose tests each compile training programs (tens of CPU seconds a test), heaviest first.
# They run before the rest, so that the suite ends on short tests: pytest-xdist hands out the
# ungrouped tests in collection order, and a long one handed out last keeps one worker busy
# while the other has nothing left to do.
_LONG_MODULES = ("test_training_grid", "test_memory", "test_generational", "test_training", "test_jaxmarl_adapter",
                 "test_evaluation", "test_agents", "test_evaluation_runs")
# Modules on the tiny study's worker (TINY_STUDY, below) beside those that mark themselves:
# pipeline_fcp.toml's sp and pp2 jobs on the matrix layout are pipeline_tiny.toml's (same
# [training] and [env]), so its run loads their programs (~35 CPU seconds less).
_TINY_STUDY_MODULES = ("test_pipeline_fcp",)


def _module(item: pytest.Item) -> str:
    return getattr(getattr(item, "module", None), "__name__", "")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(_LONG_MODULES)}
    items.sort(key=lambda item: rank.get(_module(item), len(rank)))
    for item in items:
        if _module(item) in _TINY_STUDY_MODULES and item.get_closest_marker("xdist_group") is None:
            item.add_marker(TINY_STUDY)


def pytest_unconfigure(config: pytest.Config) -> None:
    owned = config.stash.get(_owned_cache, None)
    if owned is not None:
        shutil.rmtree(owned, ignore_errors=True)
        os.environ.pop(_CACHE_VARIABLE, None)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``loi ARGS`` in a fresh interpreter, exactly as the console script does."""
    return subprocess.run(
        [sys.executable, "-m", "loi.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


# The end-to-end `loi run` tests of tests/data/pipeline_tiny.toml's study (test_factorial's first
# setting, test_pipeline_run; test_pipeline_fcp joins them above) run on one pytest-xdist worker (pyproject's --dist loadgroup), one
# module after the other: the first compiles the study's programs into the run's compilation
# cache, the second loads them (~25 CPU seconds instead of ~135); on two workers both would compile
# them at the same time. Each module's run is made once (module-scoped fixtures).
TINY_STUDY = pytest.mark.xdist_group("tiny_study")


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
