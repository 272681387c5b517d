"""`loi run` end to end on the tiny study; kill -9 mid-stage and resume.

Every run shares the test run's JAX compilation cache (conftest), so only the first
run of the tiny study anywhere in the suite pays compile time; the cache never
changes results.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import TINY_STUDY, run_cli
from test_report import check_in_chromium

# One worker runs the whole module (pytest-xdist --dist loadgroup): the module-scoped run is
# made once, not once per worker; the same worker runs the factorial's tiny study first (conftest).
pytestmark = TINY_STUDY

CONFIG = Path(__file__).parent / "data" / "pipeline_tiny.toml"
SCENARIOS = {"matrix/prisoners_dilemma", "prisoners_dilemma/tiny"}


@pytest.fixture(scope="module")
def cache_env() -> dict[str, str]:
    return dict(os.environ)  # JAX_COMPILATION_CACHE_DIR: the test run's cache (conftest)


def _loi(*args, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loi.cli.main", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, cache_env) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    result = _loi("run", CONFIG, "--out", out, "--json", "--log-every", "1", env=cache_env)
    assert result.returncode == 0, result.stderr[-3000:]
    (out.parent / "stderr.log").write_text(result.stderr)  # the progress log, for the test that reads it
    return out, json.loads(result.stdout)


def _tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    paths = sorted((run_dir / "tables").glob("*.parquet")) + sorted((run_dir / "jobs").glob("*/*.parquet"))
    paths += sorted((run_dir / "train").glob("*/*/*/curves.parquet"))
    return {str(p.relative_to(run_dir)): pd.read_parquet(p) for p in paths}


def test_json_summary_has_the_issue_shape(finished) -> None:
    out, summary = finished
    assert set(summary) == {"run_dir", "report", "seconds", "scenarios", "comparison"}
    assert summary["run_dir"] == str(out) and Path(summary["report"]) == out / "report.html"
    assert set(summary["scenarios"]) == SCENARIOS
    allocation = pd.read_parquet(out / "tables" / "allocation.parquet")
    chosen = allocation[allocation["chosen"]].set_index("scenario")["regime"].to_dict()
    loi = pd.read_parquet(out / "tables" / "loi.parquet").set_index("scenario")
    for scenario, s in summary["scenarios"].items():
        assert set(s) == {"loi", "ci", "corrected", "p_value", "allocated"}
        assert s["allocated"] == chosen[scenario] and s["allocated"] in ("sp", "pp2")
        assert s["loi"] == pytest.approx(loi.loc[scenario, "loi"])
        assert s["corrected"] == pytest.approx(loi.loc[scenario, "loi"] - loi.loc[scenario, "null_mean"])
        assert 0 < s["p_value"] <= 1 and len(s["ci"]) == 2
    assert set(summary["comparison"]) == {"uniform", "heuristic", "effect_size", "ci", "p_value"}
    # The budget (pp2 in both layouts) is respected by the chosen allocation.
    assert sum({"sp": 1, "pp2": 2}[r] for r in chosen.values()) <= 4


def test_every_stage_wrote_its_tables(finished) -> None:
    out, _ = finished
    status = run_cli("status", out, "--json")
    assert status.returncode == 0, status.stderr
    assert [s["done"] for s in json.loads(status.stdout)["stages"]] == [True] * 7
    crossplay = pd.read_parquet(out / "tables" / "crossplay.parquet")
    # The paper's protocol: egos never meet a co-player of their own seed; 3 episodes per pair and seat.
    assert set(crossplay["scenario"]) == SCENARIOS
    ego_seed = crossplay["ego"].str.extract(r"seed_(\d+)")[0]
    cop_seed = crossplay["coplayer"].str.extract(r"seed_(\d+)")[0]
    assert (ego_seed != cop_seed).all()
    scores = pd.read_parquet(out / "tables" / "scores.parquet")
    # menu training: sp (2 seeds) and pp2 (1 seed, 2 members) everywhere; 4 Bobs never used as egos.
    egos = scores.groupby(["scenario", "regime"])["ego"].nunique().to_dict()
    assert egos == {(s, r): 2 for s in SCENARIOS for r in ("sp", "pp2")}
    tournament = pd.read_parquet(out / "tables" / "tournament.parquet")
    assert tournament["coplayer"].str.startswith("heldout/").all()
    assert tournament.groupby("scenario")["coplayer"].nunique().to_dict() == {s: 4 for s in SCENARIOS}
    anova = pd.read_parquet(out / "tables" / "anova.parquet")
    assert set(anova["scenario"]) == SCENARIOS and (anova["regimes"] == "pp2,sp").all()
    comparison = pd.read_parquet(out / "tables" / "comparison.parquet")
    assert {"all", "top2"} <= set(comparison["protocol"])
    # Every table metric the SP-only cross-play gives (no own-partner rows: no xp_gap), LoI's numbers reused.
    metrics = pd.read_parquet(out / "tables" / "metrics.parquet")
    assert set(zip(metrics["scenario"], metrics["metric"])) == {(s, m) for s in SCENARIOS for m in ("loi", "eta2", "icc")}
    loi = pd.read_parquet(out / "tables" / "loi.parquet").set_index("scenario")
    assert metrics[metrics["metric"] == "loi"].set_index("scenario")["score"].to_dict() == loi["corrected"].to_dict()
    assert set(pd.read_parquet(out / "tables" / "predictors.parquet")["metric"]) == {"loi", "eta2", "icc"}


def test_report_of_the_run_opens_in_chromium(finished, tmp_path: Path) -> None:
    out, summary = finished
    html = Path(summary["report"]).read_text()
    assert html.count("<img ") == 10 and "could not be drawn" not in html
    assert "<b>Smoke test.</b>" in html  # pipeline_tiny.toml says smoke = true
    result = check_in_chromium(Path(summary["report"]), tmp_path)
    assert result["images"] == 10


def test_progress_goes_to_a_log_file_as_plain_lines(finished) -> None:
    out, _ = finished
    log = (out.parent / "stderr.log").read_text()
    assert "\x1b[" not in log  # stderr was a pipe: no terminal control codes, no live bar
    lines = log.splitlines()
    assert any(line.endswith("stage 1/7 train SP seeds and held-out Bobs: started, 4 jobs") for line in lines)
    assert sum("stage 7/7 report: done in" in line for line in lines) == 1
    # Heartbeats while a stage runs (every second here): jobs done, elapsed, ETA.
    beats = [line for line in lines if "jobs, elapsed" in line]
    assert beats and all(" ETA " in line for line in beats), lines[:20]


def test_the_text_summary_is_readable_at_80_columns(finished, cache_env) -> None:
    out, summary = finished
    again = _loi("run", CONFIG, "--out", out, env=cache_env)  # every stage is done: prints the summary only
    assert again.returncode == 0, again.stderr[-2000:]
    lines = again.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80 and "…" not in again.stdout
    for scenario in summary["scenarios"]:
        assert any(line.lstrip().startswith(scenario + " ") for line in lines), again.stdout
    words = " ".join(again.stdout.split())  # the sentences wrap at 80 columns
    assert "This is a smoke test (smoke = true)" in words and "In prisoners_dilemma: " in words
    assert "done earlier, skipped" in again.stderr


def test_rerunning_a_finished_run_skips_every_stage(finished, cache_env) -> None:
    out, summary = finished
    before = {p: p.stat().st_mtime_ns for p in (out / "tables").glob("*.parquet")}
    again = _loi("run", CONFIG, "--out", out, "--json", env=cache_env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["scenarios"] == summary["scenarios"]
    assert {p: p.stat().st_mtime_ns for p in (out / "tables").glob("*.parquet")} == before


def test_kill_9_mid_stage_then_rerun_gives_identical_tables(finished, cache_env, tmp_path: Path) -> None:
    reference, _ = finished
    out = tmp_path / "run"
    # Stage 4 has started: the first generation of the first pp2 training is on disk.
    target = out / "train" / "matrix" / "prisoners_dilemma" / "pp2" / "seed_0" / "member_0" / "gen_000.msgpack"
    process = subprocess.Popen([sys.executable, "-m", "loi.cli.main", "run", str(CONFIG), "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cache_env)
    try:
        deadline = time.monotonic() + 600
        while not target.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert target.exists(), "the run ended or timed out before the stage to interrupt started"
    status = json.loads(run_cli("status", out, "--json").stdout)
    done = {s["stage"]: s["done"] for s in status["stages"]}
    assert done["allocate"] and not done["train_allocated"] and not done["report"]
    # The half-done stage says how far it got; finished and unstarted stages have no progress line.
    progress = {s["stage"]: s["progress"] for s in status["stages"]}
    assert progress["allocate"] is None and progress["tournament"] is None
    assert 0 <= progress["train_allocated"]["done"] < progress["train_allocated"]["total"]
    text = run_cli("status", out).stdout
    assert f"{progress['train_allocated']['done']}/{progress['train_allocated']['total']} jobs at" in text

    resumed = _loi("run", CONFIG, "--out", out, "--json", env=cache_env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected, actual = _tables(reference), _tables(out)
    assert sorted(actual) == sorted(expected)
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(actual[name], frame, check_exact=True, obj=name)


def test_a_plain_study_writes_the_committed_summary_tables(finished, cache_env, tmp_path) -> None:
    from loi.pipeline.factorial import SUMMARY_TABLES, markdown_summary

    out, _ = finished
    results = tmp_path / "results"
    result = _loi("run", CONFIG, "--out", out, "--results", results, env=cache_env)  # finished: summarises only
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in results.iterdir()) == sorted([f"{n}.csv" for n in SUMMARY_TABLES]
                                                               + ["manifest.json", "summary.md"])
    manifest = json.loads((results / "manifest.json").read_text())
    (setting,) = manifest["settings"]
    study = json.loads((out / "study.json").read_text())
    assert setting["name"] == study["name"] == "tiny" and setting["git_revision"] == study["versions"]["git"]
    assert "agents" in setting["description"] and setting["seconds"] > 0
    assert manifest["config"] == CONFIG.read_text() and manifest["pending"] == []
    scenarios = pd.read_csv(results / "scenarios.csv").set_index("scenario")
    loi = pd.read_parquet(out / "tables" / "loi.parquet").set_index("scenario")
    assert set(scenarios.index) == SCENARIOS
    for scenario, row in scenarios.iterrows():
        assert row["loi"] == pytest.approx(loi.loc[scenario, "corrected"], rel=1e-5, abs=1e-9)
    assert (results / "summary.md").read_text() == markdown_summary(results)
    assert markdown_summary(results) in result.stdout
    refused = _loi("run", CONFIG, "--out", out, "--paper-data", tmp_path, env=cache_env)
    assert refused.returncode == 2 and "give --results DIR too" in refused.stderr and "Traceback" not in refused.stderr
