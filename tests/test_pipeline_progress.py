"""Progress of `loi run`: per-stage ETA, the compiling state, plain log lines and the
end-of-run summary at 80 columns (the end-to-end run is in test_pipeline_run.py)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from loi.pipeline.progress import ProgressTracker, format_seconds, stage_eta, watch_compilation
from loi.pipeline.run import STAGES, StageEvent


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _tracker() -> tuple[ProgressTracker, Clock]:
    clock = Clock()
    return ProgressTracker(dict(STAGES), clock=clock), clock


def test_eta_is_elapsed_per_finished_job_times_the_jobs_left() -> None:
    tracker, clock = _tracker()
    tracker(StageEvent("train_sp", 1, "skip"))
    tracker(StageEvent("loi", 2, "start", total=4))
    stages, _, _, now = tracker.snapshot()
    assert stage_eta(stages[1], now) is None  # no job done yet: no estimate
    clock.now = 30.0
    tracker(StageEvent("loi", 2, "job", label="g/a"))
    clock.now = 40.0
    tracker(StageEvent("loi", 2, "job", label="g/b"))
    stages, _, _, now = tracker.snapshot()
    assert [s.state for s in stages] == ["done earlier", "running"]
    assert stage_eta(stages[1], now) == pytest.approx(40.0)  # 40 s for 2 jobs, 2 left
    assert tracker.log_line() == ("stage 2/7 cross-play -> LoI per scenario: 2/4 jobs, elapsed 0:40, ETA 0:40 "
                                  "- last: g/b")
    clock.now = 50.0
    tracker(StageEvent("loi", 2, "done"))
    stages, _, _, now = tracker.snapshot()
    assert stages[1].state == "done" and stage_eta(stages[1], now) == 0.0 and stages[1].done == 4
    assert tracker.log_line() == "2/7 stages finished"


def test_the_tracker_says_what_is_compiling_and_for_how_long() -> None:
    tracker, clock = _tracker()
    tracker(StageEvent("train_sp", 1, "start", total=2))
    clock.now = 5.0
    tracker.compile_started("jit(train)")
    tracker.compile_started("inner")  # tracing nests: the outer name is kept
    clock.now = 17.0
    assert tracker.log_line().endswith("ETA ? - compiling jit(train) (0:12)")
    tracker.compile_finished()
    assert tracker.compiling == "jit(train)"
    clock.now = 20.0
    tracker.compile_finished()
    assert tracker.compiling is None and tracker.snapshot()[0][0].compile_seconds == pytest.approx(15.0)
    assert "compiling" not in tracker.log_line()


def test_watch_compilation_hears_jax_compile_a_new_program_and_then_stops_listening() -> None:
    tracker, _ = _tracker()
    names = []
    original = tracker.compile_started
    tracker.compile_started = lambda name: (names.append(name), original(name))  # type: ignore[method-assign]
    with watch_compilation(tracker):
        jax.jit(lambda x: jnp.sin(x) * 3.25 + 0.5)(jnp.arange(7.0)).block_until_ready()
    assert names and tracker.compiling is None  # every phase that started also ended
    heard = len(names)
    jax.jit(lambda x: jnp.cos(x) - 1.75)(jnp.arange(5.0)).block_until_ready()
    assert len(names) == heard


@pytest.mark.parametrize("seconds, text", [(None, "?"), (0, "0:00"), (75.4, "1:15"), (3725, "1:02:05")])
def test_format_seconds(seconds, text) -> None:
    assert format_seconds(seconds) == text


def test_the_summary_table_fits_80_columns_without_cutting_scenario_names() -> None:
    from rich.console import Console

    from loi.cli.commands_run import SUMMARY_WIDTH, summary_table

    names = ["prisoners_dilemma/obstacle", "pure_coordination/medium", "matrix/chicken"]
    scenarios = {n: {"loi": -0.123, "ci": [-0.456, 0.789], "corrected": 0.012, "p_value": 0.005, "allocated": "pp5"}
                 for n in names}
    console = Console(width=SUMMARY_WIDTH, record=True)
    console.print(summary_table("paper", "one_sigma", scenarios))
    text = console.export_text()
    assert "…" not in text and max(len(line.rstrip()) for line in text.splitlines()) <= SUMMARY_WIDTH
    for name in names:
        assert f" {name} " in text and "-0.123 [-0.456, 0.789]" in text
