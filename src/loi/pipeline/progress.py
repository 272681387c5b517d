"""How far a running study is: jobs done per stage, an ETA, and whether JAX is compiling.

:class:`ProgressTracker` is the ``on_event`` hook of :func:`loi.pipeline.run.run_study`;
it keeps the state that ``loi run`` draws (a live bar on a terminal, plain log lines
when the output goes to a file). The ETA of a stage is its elapsed time per finished
job times the jobs left, so it also holds when an executor runs jobs side by side.
:func:`watch_compilation` feeds it JAX's own tracing / lowering / XLA-compile events
(``jax.monitoring``), so a long first job reads "compiling", not "stuck".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# JAX records a scalar (the start time) when each phase starts and a duration when it
# ends (jax._src.dispatch.log_elapsed_time); the three phases of turning a function into
# an executable, in order. Tracing nests (inner jits), so the tracker counts depth.
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")


@dataclass
class StageProgress:
    """One stage as the tracker has seen it (times from the tracker's clock)."""

    stage: str
    index: int
    total: int = 0
    done: int = 0
    started: float | None = None
    finished: float | None = None
    skipped: bool = False
    last_label: str = ""
    compile_seconds: float = 0.0

    @property
    def state(self) -> str:
        if self.skipped:
            return "done earlier"
        if self.finished is not None:
            return "done"
        return "pending" if self.started is None else "running"


def stage_eta(stage: StageProgress, now: float) -> float | None:
    """Seconds left in ``stage``: elapsed per finished job times the jobs left
    (None until a job has finished; 0 once the stage is done)."""
    if stage.finished is not None or stage.skipped:
        return 0.0
    if stage.started is None or stage.done == 0 or stage.total <= 0:
        return None
    return (now - stage.started) / stage.done * max(stage.total - stage.done, 0)


def format_seconds(seconds: float | None) -> str:
    """``75`` -> ``1:15``, ``3725`` -> ``1:02:05``; None -> ``?``."""
    if seconds is None:
        return "?"
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class ProgressTracker:
    """Collects :class:`~loi.pipeline.run.StageEvent` s and JAX compile events.

    Call it with each event (it is the ``on_event`` hook); read it from any thread
    with :meth:`snapshot` and :meth:`log_line`. ``descriptions``: stage -> text.
    """

    descriptions: dict[str, str]
    clock: Callable[[], float] = time.monotonic
    stages: dict[str, StageProgress] = field(default_factory=dict)
    current: str | None = None
    compiling: str | None = None  # name of the outermost function being compiled
    compile_since: float | None = None
    _depth: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, event) -> None:
        now = self.clock()
        with self._lock:
            stage = self.stages.setdefault(event.stage, StageProgress(event.stage, event.index))
            if event.kind == "skip":
                stage.skipped = True
            elif event.kind == "start":
                stage.total, stage.started = max(event.total, 0), now
                self.current = event.stage
            elif event.kind == "job":
                stage.done += 1
                stage.last_label = event.label
            elif event.kind == "done":
                stage.done, stage.finished = max(stage.done, stage.total), now
                if self.current == event.stage:
                    self.current = None

    def compile_started(self, name: str) -> None:
        with self._lock:
            if self._depth == 0:
                self.compiling, self.compile_since = name, self.clock()
            self._depth += 1

    def compile_finished(self) -> None:
        with self._lock:
            self._depth = max(self._depth - 1, 0)
            if self._depth == 0 and self.compile_since is not None:
                if self.current is not None and self.current in self.stages:
                    self.stages[self.current].compile_seconds += self.clock() - self.compile_since
                self.compiling, self.compile_since = None, None

    def snapshot(self) -> tuple[list[StageProgress], str | None, float | None, float]:
        """(stages in order, the function being compiled or None, since when, now)."""
        with self._lock:
            stages = sorted((StageProgress(**vars(s)) for s in self.stages.values()), key=lambda s: s.index)
            return stages, self.compiling, self.compile_since, self.clock()

    def log_line(self) -> str:
        """One plain line for a log file: the running stage, jobs, elapsed, ETA, compiling."""
        stages, compiling, since, now = self.snapshot()
        running = [s for s in stages if s.state == "running"]
        if not running:
            finished = [s for s in stages if s.state in ("done", "done earlier")]
            return f"{len(finished)}/{len(self.descriptions)} stages finished"
        stage = running[-1]
        parts = [f"stage {stage.index}/{len(self.descriptions)} {self.descriptions.get(stage.stage, stage.stage)}:",
                 f"{stage.done}/{stage.total} jobs,", f"elapsed {format_seconds(now - stage.started)},",
                 f"ETA {format_seconds(stage_eta(stage, now))}"]
        if compiling is not None and since is not None:
            parts.append(f"- compiling {compiling} ({format_seconds(now - since)})")
        elif stage.last_label:
            parts.append(f"- last: {stage.last_label}")
        return " ".join(parts)


@contextmanager
def watch_compilation(tracker: ProgressTracker) -> Iterator[None]:
    """Report JAX's compile phases of this process to ``tracker`` while inside."""
    import jax.monitoring as monitoring

    def on_start(event: str, value: float, **kwargs) -> None:
        if event in COMPILE_EVENTS:
            tracker.compile_started(str(kwargs.get("fun_name", "")) or "a program")

    def on_end(event: str, seconds: float, **kwargs) -> None:
        if event in COMPILE_EVENTS:
            tracker.compile_finished()

    monitoring.register_scalar_listener(on_start)
    monitoring.register_event_duration_secs_listener(on_end)
    try:
        yield
    finally:
        monitoring.unregister_scalar_listener(on_start)
        monitoring.unregister_event_duration_listener(on_end)
