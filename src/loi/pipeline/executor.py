"""Where independent jobs run: the Executor interface and the local backend.

A :class:`Job` names a pure function by its import path plus plain-data
arguments, so it pickles and can run in another process or on another machine
(a Ray backend, issue 7, implements the same two methods). A job writes its
outputs into the run directory atomically and returns a small JSON-able
summary; running it twice gives the same files (finished outputs are reused).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any, Protocol

from loi.pipeline.job import Job  # the job itself lives below every backend (Ray's imports it too)

__all__ = ["Executor", "Job", "LocalExecutor", "make_executor"]


class Executor(Protocol):
    def submit(self, job: Job) -> Future: ...

    def map(self, jobs: Iterable[Job], on_done: Callable[[Job, Any], None] | None = None) -> list[Any]: ...


class LocalExecutor:
    """Runs jobs one after another in this process (JAX already uses every core)."""

    def submit(self, job: Job) -> Future:
        future: Future = Future()
        try:
            future.set_result(job())
        except BaseException as err:  # the caller sees it through future.result()
            future.set_exception(err)
        return future

    def map(self, jobs: Iterable[Job], on_done: Callable[[Job, Any], None] | None = None) -> list[Any]:
        results = []
        for job in jobs:
            result = job()  # errors propagate at once: later jobs would fail the same way
            results.append(result)
            if on_done is not None:
                on_done(job, result)
        return results


def make_executor(name: str, address: str | None = None) -> Executor:
    """``local``, or ``ray`` at ``address`` (None/"local": a Ray instance in this process)."""
    from loi.errors import LoiError

    if name == "local":
        return LocalExecutor()
    if name == "ray":
        from loi.pipeline.ray_executor import RayExecutor  # LoiError with the install hint without Ray

        return RayExecutor(None if address in (None, "local") else address)
    raise LoiError(f"unknown executor {name!r}; available: local, ray")
