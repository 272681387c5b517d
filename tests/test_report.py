"""The HTML report: self-contained, every figure loads in headless Chromium.

The report is built here from a synthetic run directory (tables written by
hand, no training), so this test needs no JAX; the end-to-end test in
test_pipeline_run.py checks the report of a real run the same way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from loi.pipeline.allocate import allocation_table
from loi.pipeline.statistics import anova_table, benefit_table, comparison_table, correlation_table

CHROMIUM = "/usr/bin/chromium"
SCENARIOS = ["g/a", "g/b", "g/c", "h/a"]
GAMES = {"g/a": "g", "g/b": "g", "g/c": "g", "h/a": "h"}
MENU = {"sp": 1.0, "pp3": 3.0, "pp5": 5.0}

# Injected into a copy of the report: records script errors and console.error /
# console.warn calls, then writes the image check into the DOM for --dump-dom.
_CHECK = """<script>
var loiErrors = [];
window.addEventListener('error', function (e) { loiErrors.push('error: ' + (e.message || e.type)); }, true);
['error', 'warn'].forEach(function (level) {
  var original = console[level];
  console[level] = function () { loiErrors.push(level + ': ' + Array.prototype.join.call(arguments, ' '));
                                 original.apply(console, arguments); };
});
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                     .map(function (i) { return i.alt; });
  var out = document.createElement('pre');
  out.id = 'loi-check';
  out.textContent = JSON.stringify({images: images.length, broken: broken, errors: loiErrors,
                                    widths: images.map(function (i) { return i.naturalWidth; })});
  document.body.appendChild(out);
});
</script>"""


def chromium_or_skip() -> str:
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    reason = f"{CHROMIUM} not found (Debian package 'chromium')"
    if os.environ.get("LOI_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"LOI_REQUIRE_CHROMIUM=1 but {reason}")
    pytest.skip(reason)


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    base = [chromium_or_skip(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=180)


def check_in_chromium(report: Path, workdir: Path) -> dict:
    """Open ``report`` headless: returns the in-page check (images, broken,
    errors); asserts no console message; saves ``workdir/report.png``."""
    html = report.read_text(encoding="utf-8")
    assert re.search(r"(src|href)\s*=\s*['\"](https?:|//)", html) is None, "the report loads an external resource"
    checked = workdir / "checked.html"
    checked.write_text(html.replace("<head>", "<head>" + _CHECK, 1), encoding="utf-8")
    dump = _chromium(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", "--dump-dom",
                      checked.as_uri()], workdir / "profile-dom")
    assert dump.returncode == 0, dump.stderr[-2000:]
    match = re.search(r'<pre id="loi-check">(.*?)</pre>', dump.stdout, re.S)
    assert match, "the page's load handler did not run"
    result = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    console = [line for line in dump.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    assert result["errors"] == [] and result["broken"] == [], result
    shot = workdir / "report.png"
    screenshot = _chromium(["--window-size=1280,3000", f"--screenshot={shot}", report.resolve().as_uri()],
                           workdir / "profile-shot")
    assert screenshot.returncode == 0, screenshot.stderr[-2000:]
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    return result


def _parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def synthetic_run(run_dir: Path) -> Path:
    """A finished run directory with plausible tables, written directly."""
    from loi.pipeline.run import STAGES, versions

    rng = np.random.default_rng(0)
    config = {"name": "synthetic", "budget": 9.0, "menu": MENU, "allocator": "one_sigma", "uniform": "pp3",
              "seed": 0, "definitions": None}
    (run_dir / "stages").mkdir(parents=True)
    (run_dir / "study.json").write_text(json.dumps({"name": "synthetic", "config_hash": "0" * 16, "config": config,
                                                    "versions": versions()}))
    for stage, _ in STAGES:
        (run_dir / "stages" / f"{stage}.json").write_text(json.dumps({"seconds": 1.5}))
    tables = run_dir / "tables"
    loi_values = dict(zip(SCENARIOS, [0.05, 0.4, 0.9, 0.3]))
    _parquet(pd.DataFrame([{"scenario": s, "game": GAMES[s], "estimator": "knn", "loi": v + 0.1,
                            "ci_low": v - 0.05, "ci_high": v + 0.3, "null_mean": 0.1, "corrected": v,
                            "p_value": 0.01, "episodes": 96, "blocks": 4} for s, v in loi_values.items()]),
             tables / "loi.parquet")
    crossplay = [{"scenario": s, "ego": f"sp/seed_{e}/member_0/gen_004",
                  "coplayer": f"sp/seed_{c}/member_0/gen_{g:03d}",
                  "episode": k, "ego_return": float(rng.normal(10 + 5 * loi_values[s] * g, 2)), "coplayer_seed": c}
                 for s in SCENARIOS for e in range(3) for c in range(3) if c != e for g in range(5) for k in range(4)]
    _parquet(pd.DataFrame(crossplay), tables / "crossplay.parquet")
    allocation = allocation_table(loi_values, games=GAMES, menu=MENU, budget=9.0, uniform="pp3", chosen="one_sigma")
    _parquet(allocation, tables / "allocation.parquet")
    scores = pd.DataFrame([{"scenario": s, "regime": r, "ego": f"{r}/e{i}", "episode": k,
                            "score": float(rng.normal(1 + MENU[r] * loi_values[s] / 5, 0.2))}
                           for s in SCENARIOS for r in MENU for i in range(3) for k in range(5)])
    _parquet(scores, tables / "scores.parquet")
    _parquet(anova_table(scores), tables / "anova.parquet")
    benefit = benefit_table(scores, loi_values, GAMES, MENU)
    _parquet(benefit, tables / "benefit.parquet")
    _parquet(correlation_table(benefit), tables / "correlation.parquet")
    _parquet(comparison_table(scores, allocation, GAMES, uniform="pp3", top=5, confidence=0.95, seed=0,
                              resamples=100), tables / "comparison.parquet")
    for s in SCENARIOS:
        for role in ("sp", "heldout", "pp3", "pp5"):
            # 5 generations x 4 updates; the return per step rises for 12 updates, then stays flat.
            rows = [{"scenario": s, "seed": seed, "member": 0, "generation": u // 4, "update": u + 1,
                     "env_steps": 250 * (u + 1), "mean_episode_return": float(u // 4 + rng.normal(0, 0.3)),
                     "mean_return_per_step": min(u, 12) / 100 + float(rng.normal(0, 0.001))}
                    for seed in range(2) for u in range(20)]
            _parquet(pd.DataFrame(rows), run_dir / "train" / s / role / "curves.parquet")
    return run_dir


def test_report_of_a_finished_run_is_self_contained_and_complete(tmp_path: Path) -> None:
    from loi.report import write_report

    run_dir = synthetic_run(tmp_path / "run")
    path = write_report(run_dir)
    assert path == run_dir / "report.html" and oct(path.stat().st_mode & 0o044) == oct(0o044)
    html = path.read_text()
    for heading in ("Level of Influence", "Ego returns per co-player", "Cross-play heatmaps", "Learning curves",
                    "Allocation", "Fixed-Bob tournaments", "Statistics", "Config and versions"):
        assert f"<h2>{heading}</h2>" in html
    assert html.count("<img ") == 6 and "could not be drawn" not in html and "not finished" not in html
    assert "top5" in html and "jax" in html and "python" in html
    # Plateau table: the synthetic return per step rises for 12 updates (3000 env steps), then is flat.
    from loi.report.html import _curves, _plateau_table

    plateau = _plateau_table(_curves(run_dir))
    assert len(plateau) == len(SCENARIOS) * 4 and plateau["plateau_reached"].all() and "last_fifth_change" in html
    assert plateau["settling_step"].between(2500, 3250).all() and (plateau["last_fifth_change"].abs() < 0.02).all()
    result = check_in_chromium(path, tmp_path)
    assert result["images"] == 6 and min(result["widths"]) > 100


def test_report_of_an_unfinished_run_says_what_is_pending(tmp_path: Path) -> None:
    run_dir = synthetic_run(tmp_path / "run")
    shutil.rmtree(run_dir / "tables")
    shutil.rmtree(run_dir / "train")
    for stage in ("loi", "statistics"):
        (run_dir / "stages" / f"{stage}.json").unlink()
    result = run_cli("report", run_dir, "--json")
    assert result.returncode == 0, result.stderr
    path = Path(json.loads(result.stdout)["report"])
    html = path.read_text()
    assert html.count("stage not finished yet") == 6 and "<img " not in html
    assert "pending" in html


def test_report_of_a_directory_that_is_not_a_run_fails_cleanly(tmp_path: Path) -> None:
    result = run_cli("report", tmp_path)
    assert result.returncode == 2 and "not a loi run directory" in result.stderr
    assert not (tmp_path / "report.html").exists()


def test_the_chromium_check_catches_a_broken_figure_and_console_errors(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head><title>x</title></head><body>"
                    "<img alt='broken' src='data:image/png;base64,AAAA'></body></html>")
    with pytest.raises(AssertionError, match="broken"):
        check_in_chromium(page, tmp_path)
    noisy = tmp_path / "noisy.html"
    noisy.write_text("<!DOCTYPE html><html><head><title>x</title></head><body>"
                     "<script>console.error('boom')</script></body></html>")
    with pytest.raises(AssertionError, match="boom"):
        check_in_chromium(noisy, tmp_path)
