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
# console.warn calls, then, on load, checks the images, that every image is a captioned
# figure, and that no element sticks out of its box or of the page at the window's width;
# the result is written into the DOM for --dump-dom.
_CHECK = """<script>
var loiErrors = [];
window.addEventListener('error', function (e) { loiErrors.push('error: ' + (e.message || e.type)); }, true);
['error', 'warn'].forEach(function (level) {
  var original = console[level];
  console[level] = function () { loiErrors.push(level + ': ' + Array.prototype.join.call(arguments, ' '));
                                 original.apply(console, arguments); };
});
function loiDescribe(el) {
  return el.tagName.toLowerCase() + ' "' + (el.textContent || el.alt || '').trim().slice(0, 50) + '"';
}
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                     .map(function (i) { return i.alt; });
  var uncaptioned = images.filter(function (i) {
    var figure = i.closest('figure'), caption = figure && figure.querySelector('figcaption');
    return !(caption && caption.textContent.trim().length >= 20);
  }).map(function (i) { return i.alt; });
  var page = document.documentElement.clientWidth, overflow = [];
  if (document.documentElement.scrollWidth > page + 1) overflow.push('page: ' + document.documentElement.scrollWidth);
  Array.prototype.forEach.call(document.body.querySelectorAll('*'), function (el) {
    var box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) return;
    if (box.right > page + 1) overflow.push(loiDescribe(el) + ' ends at ' + Math.round(box.right) + ' px');
    else if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
      overflow.push(loiDescribe(el) + ' content ' + el.scrollWidth + ' px in a ' + el.clientWidth + ' px box');
  });
  var out = document.createElement('pre');
  out.id = 'loi-check';
  out.textContent = JSON.stringify({images: images.length, broken: broken, errors: loiErrors, uncaptioned: uncaptioned,
                                    overflow: overflow, width: page, height: document.documentElement.scrollHeight,
                                    widths: images.map(function (i) { return i.naturalWidth; })});
  document.body.appendChild(out);
});
</script>"""
WIDTHS = (1400, 900)  # screenshot widths; the overflow check runs at the narrower one


def chromium_or_skip() -> str:
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    reason = f"{CHROMIUM} not found (Debian package 'chromium')"
    if os.environ.get("LOI_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"LOI_REQUIRE_CHROMIUM=1 but {reason}")
    pytest.skip(reason)


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    base = [chromium_or_skip(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
            "--hide-scrollbars", f"--user-data-dir={profile}"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=180)


def check_in_chromium(report: Path, workdir: Path) -> dict:
    """Open ``report`` headless at 900 px: returns the in-page check (images,
    broken, uncaptioned, overflow, errors) after asserting each is clean and no
    console message; saves whole-page screenshots ``workdir/report-{1400,900}.png``
    (kept as the test's artefacts; the paths are printed)."""
    html = report.read_text(encoding="utf-8")
    assert re.search(r"(src|href)\s*=\s*['\"](https?:|//)", html) is None, "the report loads an external resource"
    checked = workdir / "checked.html"
    checked.write_text(html.replace("<head>", "<head>" + _CHECK, 1), encoding="utf-8")
    dump = _chromium([f"--window-size={min(WIDTHS)},2000", "--enable-logging=stderr", "--v=0",
                      "--virtual-time-budget=15000", "--dump-dom", checked.as_uri()], workdir / "profile-dom")
    assert dump.returncode == 0, dump.stderr[-2000:]
    match = re.search(r'<pre id="loi-check">(.*?)</pre>', dump.stdout, re.S)
    assert match, "the page's load handler did not run"
    result = json.loads(match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                        .replace("&amp;", "&"))
    console = [line for line in dump.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    assert result["errors"] == [] and result["broken"] == [], result
    assert result["width"] <= min(WIDTHS), result["width"]
    assert result["uncaptioned"] == [], f"figures without a caption: {result['uncaptioned']}"
    assert result["overflow"] == [], f"text overflows its box at {min(WIDTHS)} px: {result['overflow'][:5]}"
    height = min(max(int(result["height"]) + 50, 600), 16000)
    for width in WIDTHS:
        shot = workdir / f"report-{width}.png"
        screenshot = _chromium([f"--window-size={width},{height}", f"--screenshot={shot}",
                                report.resolve().as_uri()], workdir / f"profile-shot-{width}")
        assert screenshot.returncode == 0, screenshot.stderr[-2000:]
        assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
    return result


def _parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def synthetic_run(run_dir: Path, smoke: bool = False) -> Path:
    """A finished run directory with plausible tables, written directly. Besides
    the allocator tables, ``allocation_crossfit`` holds a greedy allocation of SP
    everywhere (as a cross-fitted greedy gives when PP never paid)."""
    from loi.pipeline.run import STAGES, versions

    rng = np.random.default_rng(0)
    config = {"name": "synthetic", "budget": 9.0, "menu": MENU, "allocator": "one_sigma", "uniform": "pp3",
              "seed": 0, "definitions": None, "evaluation": {"confidence": 0.95}}
    if smoke:
        config["smoke"] = True
    (run_dir / "stages").mkdir(parents=True)
    (run_dir / "study.json").write_text(json.dumps({"name": "synthetic", "config_hash": "0" * 16, "config": config,
                                                    "versions": versions()}))
    for stage, _ in STAGES:
        (run_dir / "stages" / f"{stage}.json").write_text(json.dumps({"seconds": 1.5}))
    tables = run_dir / "tables"
    loi_values = dict(zip(SCENARIOS, [0.05, 0.4, 0.9, 0.3]))
    _parquet(pd.DataFrame([{"scenario": s, "game": GAMES[s], "estimator": "knn", "ci_method": "blocks",
                            "loi": v + 0.1, "ci_low": v - 0.05, "ci_high": v + 0.3, "null_mean": 0.1, "corrected": v,
                            "corrected_ci_low": v - 0.15, "corrected_ci_high": v + 0.2, "p_value": 0.01,
                            "episodes": 96, "blocks": 4} for s, v in loi_values.items()]),
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
    crossfit = pd.DataFrame([{"game": GAMES[s], "scenario": s, "loi": v, "allocator": "greedy_crossfit",
                              "regime": "sp", "cost": 1.0, "chosen": False} for s, v in loi_values.items()])
    _parquet(crossfit, tables / "allocation_crossfit.parquet")
    _parquet(comparison_table(scores, pd.concat([allocation, crossfit]), GAMES, uniform="pp3", top=5,
                              confidence=0.95, seed=0, resamples=100), tables / "comparison.parquet")
    for s in SCENARIOS:
        for role in ("sp", "heldout", "pp3", "pp5"):
            # 5 generations x 4 updates; the return per step rises for 12 updates, then stays flat.
            rows = [{"scenario": s, "seed": seed, "member": 0, "generation": u // 4, "update": u + 1,
                     "env_steps": 250 * (u + 1), "mean_episode_return": float(u // 4 + rng.normal(0, 0.3)),
                     "mean_return_per_step": min(u, 12) / 100 + float(rng.normal(0, 0.001))}
                    for seed in range(2) for u in range(20)]
            _parquet(pd.DataFrame(rows), run_dir / "train" / s / role / "curves.parquet")
    return run_dir


@pytest.fixture(scope="module")
def finished_report(tmp_path_factory) -> tuple[Path, Path]:
    """One synthetic finished run of a smoke config and its report (built once: the
    figures are most of the module's time)."""
    from loi.report import write_report

    run_dir = synthetic_run(tmp_path_factory.mktemp("report") / "run", smoke=True)
    return run_dir, write_report(run_dir)


def test_report_of_a_finished_run_is_self_contained_and_complete(finished_report, tmp_path: Path) -> None:
    run_dir, path = finished_report
    assert path == run_dir / "report.html" and oct(path.stat().st_mode & 0o044) == oct(0o044)
    html = path.read_text()
    headings = re.findall(r"<h2>(.*?)</h2>", html)
    assert headings == ["The answer", "Level of Influence", "Ego returns per co-player", "Cross-play heatmaps",
                        "Learning curves", "Allocation", "Fixed-Bob tournaments", "Statistics", "Run",
                        "Config and versions"]
    # Every figure, including the answer's, the forest plot and the LoI-vs-benefit scatter, with a caption.
    assert html.count("<img ") == 9 == html.count("<figcaption>") and "could not be drawn" not in html
    assert "not finished" not in html and "Unfinished run" not in html
    assert "top5" in html and "jax" in html and "python" in html
    # Plateau table: the synthetic return per step rises for 12 updates (3000 env steps), then is flat.
    from loi.report.html import _curves, _plateau_table

    plateau = _plateau_table(_curves(run_dir))
    assert len(plateau) == len(SCENARIOS) * 4 and plateau["plateau_reached"].all()
    assert plateau["settling_step"].between(2500, 3250).all() and (plateau["last_fifth_change"].abs() < 0.02).all()
    # ... printed as whole steps ("2,750"), not "2750.000".
    assert re.search(r"<td>[23],\d{3}</td>", html) and not re.search(r"<td>[23]\d{3}\.\d+</td>", html)
    result = check_in_chromium(path, tmp_path)
    assert result["images"] == 9 and min(result["widths"]) > 100


def test_report_says_in_words_why_a_statistic_is_missing_and_what_the_budget_is(finished_report) -> None:
    html = finished_report[1].read_text()
    # Game h has one scenario: no correlation, and the reader is told why in words.
    assert "not available: a correlation needs at least 3 scenarios with a measured benefit; h has 1" in html
    assert "observations, got" not in html
    assert "Budget: 9 per game, in menu cost units (sp 1, pp3 3, pp5 5)" in html
    # The cross-fitted greedy trained SP everywhere: its rows say why it scores 1.000.
    assert "sp only (1.000)</td>" in html and "exactly 1.000 by construction" in html


def test_a_smoke_config_says_so_in_the_banner(finished_report) -> None:
    from loi.pipeline.run import study_status
    from loi.report.html import _banners
    from loi.report.summary import is_smoke

    html = finished_report[1].read_text()
    banner = html.index("<div class='banner'><b>Smoke test.</b>")
    assert banner < html.index("<h2>The answer</h2>")  # above the answer, not buried below it
    assert is_smoke({"smoke": True}) and not is_smoke({}) and not is_smoke({"smoke": False})
    assert _banners({}, study_status(finished_report[0])) == []  # a finished, non-smoke run: no banner


def test_a_config_marks_itself_as_a_smoke_test_without_changing_its_hash(tmp_path: Path) -> None:
    from loi.errors import LoiError
    from loi.pipeline.config import load_config, study_from_dict

    quick = load_config()  # the embedded quick study says smoke = true
    assert quick.smoke and study_from_dict(quick.to_dict()).smoke
    text = (Path(__file__).parents[1] / "examples" / "quick.toml").read_text().replace("smoke = true", "smoke = false")
    (tmp_path / "plain.toml").write_text(text)
    plain = load_config(tmp_path / "plain.toml")
    assert not plain.smoke and plain.config_hash() == quick.config_hash()  # a label, not a setting
    (tmp_path / "bad.toml").write_text(text.replace("smoke = false", 'smoke = "yes"'))
    with pytest.raises(LoiError, match="smoke must be true or false"):
        load_config(tmp_path / "bad.toml")


def _answer_tables():
    """Game g: three scenarios, uniform pp3 (cost 9). Allocators: ``same`` is uniform,
    ``cheap`` is sp everywhere (cost 3), ``mixed`` spends 9 differently. Game h: one
    scenario where every allocator keeps pp3."""
    loi = pd.DataFrame({"scenario": ["g/a", "g/b", "g/c", "h/a"], "game": ["g", "g", "g", "h"],
                        "corrected": [0.1, 0.5, 0.3, 0.2], "corrected_ci_low": [0.0, 0.45, 0.2, 0.1],
                        "corrected_ci_high": [0.15, 0.6, 0.35, 0.3]})
    plan = {"uniform": ["pp3", "pp3", "pp3", "pp3"], "same": ["pp3", "pp3", "pp3", "pp3"],
            "cheap": ["sp", "sp", "sp", "pp3"], "mixed": ["sp", "pp5", "pp3", "pp3"]}
    allocation = pd.DataFrame([{"game": s[0], "scenario": s, "allocator": a, "regime": r, "cost": MENU[r],
                                "chosen": a == "mixed"}
                               for a, regimes in plan.items() for s, r in zip(loi["scenario"], regimes)])
    rows = []
    # (allocator, group): difference, CI, p; pooled rows for "all".
    stats = {("cheap", "g"): (0.06, 0.02, 0.10, 0.001), ("mixed", "g"): (0.03, -0.01, 0.07, 0.04),
             ("same", "g"): (0.0, -0.05, 0.05, 0.5), ("cheap", "h"): (0.0, -0.05, 0.05, 0.5),
             ("mixed", "h"): (0.0, -0.05, 0.05, 0.5), ("same", "h"): (0.0, -0.05, 0.05, 0.5),
             ("cheap", "all"): (0.05, 0.01, 0.09, 0.002), ("mixed", "all"): (-0.08, -0.12, -0.04, 0.999),
             ("same", "all"): (0.0, -0.05, 0.05, 0.5)}
    for (allocator, group), (d, low, high, p) in stats.items():
        rows.append({"allocator": allocator, "group": group, "protocol": "all", "difference": d,
                     "difference_ci_low": low, "difference_ci_high": high, "p_value": p, "note": ""})
    return loi, allocation, pd.DataFrame(rows)


def test_the_answer_calls_out_empty_sp_only_and_unequal_cost_comparisons() -> None:
    from loi.report.summary import ALL_GAMES, summarize_run

    loi, allocation, comparison = _answer_tables()
    games = {g.group: g for g in summarize_run(loi, allocation, comparison, menu=MENU)}
    assert list(games) == ["g", "h", ALL_GAMES]
    g = games["g"]
    assert g.ranking.startswith("null-corrected LoI (nats, 95% CI), highest first: b 0.500 [0.450, 0.600] > "
                                "c 0.300 [0.200, 0.350] > a 0.100 [0.000, 0.150]")
    assert g.ranking.endswith("every step of the ranking is resolved.")  # 0.45 > 0.35, 0.2 > 0.15
    by = {a.allocator: a for a in g.allocators}
    # cheap: sp everywhere, 3 of uniform's 9.
    assert (by["cheap"].cost, by["cheap"].uniform_cost) == (3.0, 9.0) and by["cheap"].reference_only
    assert "at a third of the cost" in by["cheap"].sentence and "exactly 1.000 by construction" in by["cheap"].sentence
    assert by["same"].identical_to_uniform and "this comparison is empty" in by["same"].sentence
    # mixed: p = 0.04 < 0.05 but its interval includes 0, so it is not called a win.
    assert by["mixed"].cost == 9.0 and not by["mixed"].beat_uniform and by["mixed"].significant
    assert g.verdict == ("In g: cheap beat uniform by +0.060 [+0.020, +0.100] at a third of the cost; mixed "
                         "(+0.030, p = 0.040) passed the t-test but its bootstrap CI includes 0; same chose the "
                         "uniform allocation itself (no comparison); cheap trained SP only, whose score is 1.000 "
                         "by construction.")
    assert games["h"].verdict.startswith("In h: every allocator chose the uniform allocation")  # cheap keeps pp3 in h
    pooled = games[ALL_GAMES]
    assert "mixed did worse than uniform" in pooled.verdict
    assert {a.allocator: a.cost for a in pooled.allocators} == {"cheap": 6.0, "mixed": 12.0, "same": 12.0}
    assert pooled.verdict.startswith("Over all games: cheap beat uniform by +0.050 [+0.010, +0.090] at half of "
                                     "the cost")
    # Over several games the allocation is counted, not listed.
    assert "chose pp3 in 1 scenario, sp in 3 scenarios (cost 6, uniform 12)" in {
        a.allocator: a for a in pooled.allocators}["cheap"].sentence


def test_the_verdict_gives_the_gains_when_no_allocator_beat_uniform() -> None:
    from loi.report.summary import summarize_run

    loi, allocation, comparison = _answer_tables()
    comparison.loc[comparison["allocator"] == "cheap", "p_value"] = 0.3
    comparison.loc[comparison["allocator"] == "mixed", "p_value"] = 0.2
    g = summarize_run(loi, allocation, comparison, menu=MENU)[0]
    assert g.verdict.startswith("In g: no allocator beat uniform (cheap +0.060 [+0.020, +0.100], p = 0.300, "
                                "mixed +0.030 [-0.010, +0.070], p = 0.200)")


def test_cost_ratio_in_words() -> None:
    from loi.report.summary import cost_ratio

    assert cost_ratio(2, 6) == "at a third of the cost"
    assert cost_ratio(6, 6) == "at the same cost"
    assert cost_ratio(3, 6) == "at half of the cost"
    assert cost_ratio(9, 6) == "at 1.5× the cost"
    assert cost_ratio(7, 9) == "at 0.78× the cost"


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
    assert "pending" in html and "Unfinished run" in html and "No answer yet" in html


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
    wide = tmp_path / "wide.html"
    wide.write_text("<!DOCTYPE html><html><head><title>x</title></head><body>"
                    f"<p style='white-space: nowrap'>{'overflowing text ' * 200}</p></body></html>")
    with pytest.raises(AssertionError, match="overflows its box at 900 px"):
        check_in_chromium(wide, tmp_path)
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    bare = tmp_path / "bare.html"
    bare.write_text("<!DOCTYPE html><html><head><title>x</title></head><body><img alt='bare' "
                    f"src='data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}'></body></html>")
    with pytest.raises(AssertionError, match="without a caption"):
        check_in_chromium(bare, tmp_path)
    noisy = tmp_path / "noisy.html"
    noisy.write_text("<!DOCTYPE html><html><head><title>x</title></head><body>"
                     "<script>console.error('boom')</script></body></html>")
    with pytest.raises(AssertionError, match="boom"):
        check_in_chromium(noisy, tmp_path)


def test_the_report_opens_with_whether_diversity_paid_off_with_its_ci(finished_report) -> None:
    import html as html_module

    run_dir, path = finished_report
    page = path.read_text()
    answer = page[page.index("<h2>The answer</h2>"):page.index("<h2>Level of Influence</h2>")]
    # The first thing under the heading is the verdict sentence; the table and the figure follow.
    first = html_module.unescape(re.match(r"<h2>The answer</h2><div class='answer'><p class='verdict'>(.*?)</p>",
                                          answer).group(1))
    assert answer.index("<table>") > answer.index("</p>") and answer.count("<img ") == 1
    benefit = pd.read_parquet(run_dir / "tables" / "benefit.parquet").sort_values("benefit")
    above = int((benefit["benefit_ci_low"] > 0).sum())
    assert first.startswith(f"Population play (pp5) paid off against self-play (sp) in only {above} of 4 scenarios")
    for _, r in benefit.iloc[[0, -1]].iterrows():  # the lowest and the highest, each with its CI
        assert (f"{r['benefit']:+.3f} [{r['benefit_ci_low']:+.3f}, {r['benefit_ci_high']:+.3f}] in {r['scenario']}"
                in first)
    # The budget sentence names the config's allocator; no game repeats its bullets in a bold verdict.
    assert "The config's allocator, one_sigma," in html_module.unescape(answer)
    assert answer.count("class='verdict'") == 1
