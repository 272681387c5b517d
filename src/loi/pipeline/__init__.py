"""The whole study from one config: train, measure LoI, allocate, evaluate, report.

>>> config = load_config("examples/quick.toml")      # doctest: +SKIP
>>> result = run_study(config, "runs/quick")          # resumable; writes runs/quick/report.html

Importing this package loads no JAX: the stages import it when they run.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Executor", "Job", "LocalExecutor", "STAGES", "StudyConfig", "StudyResult", "load_config", "run_study",
           "study_status", "summarize"]

_LAZY = {
    "Executor": "loi.pipeline.executor", "Job": "loi.pipeline.executor", "LocalExecutor": "loi.pipeline.executor",
    "STAGES": "loi.pipeline.run", "StudyResult": "loi.pipeline.run", "run_study": "loi.pipeline.run",
    "study_status": "loi.pipeline.run", "summarize": "loi.pipeline.run",
    "StudyConfig": "loi.pipeline.config", "load_config": "loi.pipeline.config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'loi.pipeline' has no attribute {name!r}")
