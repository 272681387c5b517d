"""A :class:`Job`: one unit of independent work, by import path, so that it pickles.

Below every executor backend (``loi.pipeline.executor`` re-exports it; the Ray backend imports it
from here, so that the executor module can import the backend without an import cycle).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Job:
    """``function`` ("module:name") called with ``kwargs``; ``label`` is for progress."""

    function: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    def __call__(self) -> Any:
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)(**self.kwargs)
