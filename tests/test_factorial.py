"""Factorial configs: settings merged into one base study, run one after another
by ``loi run``, gathered side by side into committed-size summary tables."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_STUDY
from loi.errors import LoiError
from loi.pipeline.config import load_config, study_config
from loi.pipeline.factorial import (AUTHORS, CORRELATION_PROTOCOLS, SUMMARY_TABLES, factorial_config,
                                    markdown_summary)

DATA = Path(__file__).parent / "data"
TINY = (DATA / "pipeline_tiny.toml").read_text()
SETTINGS = """
[settings.concurrent]
description = "the tiny study as it is"

[settings.generational]
description = "the authors' schedule"
training = { pp_schedule = "generational" }
"""
# The settings the end-to-end run below makes: the second changes only the statistics, so both
# train the tiny study's programs, which test_pipeline_run compiled into the run's cache
# (conftest); a setting that changes training (as SETTINGS' does) is a config-level test above.
RUN_SETTINGS = """
[settings.concurrent]
description = "the tiny study as it is"

[settings.fewer_permutations]
description = "fewer permutations for LoI's bias correction"
evaluation = { permutations = 10 }
"""
RUN_NAMES = ["concurrent", "fewer_permutations"]


def _factorial_file(tmp_path: Path, settings: str = SETTINGS) -> Path:
    text = TINY.replace('definitions = "pipeline_tiny_layouts.toml"',
                        f'definitions = "{(DATA / "pipeline_tiny_layouts.toml").as_posix()}"')
    path = tmp_path / "factorial.toml"
    path.write_text(text + settings)
    return path


def _doc(tmp_path: Path, settings: str = SETTINGS) -> dict:
    return tomllib.loads(_factorial_file(tmp_path, settings).read_text())


def test_settings_change_only_their_keys(tmp_path: Path) -> None:
    factorial = factorial_config(_doc(tmp_path))
    concurrent, generational = factorial.settings
    assert (concurrent.name, generational.name) == ("concurrent", "generational")
    assert (concurrent.study.name, generational.study.name) == ("tiny-concurrent", "tiny-generational")
    assert dict(generational.study.training.options)["pp_schedule"] == "generational"
    assert "pp_schedule" not in dict(concurrent.study.training.options)
    # A nested table is merged key by key: the base's other [training] keys stay.
    assert generational.study.training.steps == concurrent.study.training.steps == 1536
    assert generational.study.training.network == concurrent.study.training.network
    assert concurrent.study.config_hash() != generational.study.config_hash()
    # The base study alone is what the concurrent setting runs (bar its name).
    base = study_config({**{k: v for k, v in _doc(tmp_path).items() if k != "settings"}, "name": "tiny-concurrent"})
    assert base.config_hash() == concurrent.study.config_hash()
    assert [s.name for s in factorial.select(["generational"])] == ["generational"]
    with pytest.raises(LoiError, match="unknown setting 'fast'; settings: concurrent, generational"):
        factorial.select(["fast"])


@pytest.mark.parametrize("settings,message", [
    ("[settings.bad]\ntraining = { pp_schedule = 'sometimes' }\n", r"\[settings.bad\]: .*unknown pp_schedule"),
    ("[settings.bad]\nlayouts = ['nowhere']\n", r"\[settings.bad\]: .*nowhere"),
    ("[settings.authors]\n", "reserved"),
    ("[settings.authors_25gen]\n", "reserved"),
    ("[settings.renamed]\nname = 'other'\n", "cannot rename"),
    ("[settings]\n", "at least one"),
    ("[settings.'two words']\n", "setting names"),
])
def test_a_bad_setting_is_named_before_anything_runs(tmp_path: Path, settings: str, message: str) -> None:
    with pytest.raises(LoiError, match=message):
        factorial_config(_doc(tmp_path, settings))


def test_a_factorial_is_not_a_plain_study(tmp_path: Path, cli) -> None:
    path = _factorial_file(tmp_path)
    with pytest.raises(LoiError, match="factorial config"):
        load_config(path)
    result = cli("run", DATA / "pipeline_tiny.toml", "--setting", "x", "--out", tmp_path / "r")
    assert result.returncode == 2 and "for factorial configs" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "r").exists()
    result = cli("run", path, "--setting", "nope", "--out", tmp_path / "r")
    assert result.returncode == 2 and "unknown setting 'nope'" in result.stderr
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def factorial_run(tmp_path_factory) -> tuple[Path, Path, dict]:
    from conftest import run_cli

    tmp = tmp_path_factory.mktemp("factorial")
    out, results = tmp / "runs", tmp / "results"
    result = run_cli("run", _factorial_file(tmp, RUN_SETTINGS), "--out", out, "--results", results, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return out, results, json.loads(result.stdout)


@TINY_STUDY  # one worker makes the module-scoped run once (and the tiny study's compiles: conftest)
def test_every_setting_runs_as_its_own_study(factorial_run) -> None:
    out, _, summary = factorial_run
    assert set(summary["settings"]) == set(RUN_NAMES)
    for name in RUN_NAMES:
        study = json.loads((out / name / "study.json").read_text())
        assert study["name"] == f"tiny-{name}"
        assert study["versions"]["git"]  # the code's revision is recorded with every run
        assert (out / name / "report.html").is_file()
    configs = {name: json.loads((out / name / "study.json").read_text())["config"] for name in RUN_NAMES}
    assert configs["fewer_permutations"]["evaluation"] == {**configs["concurrent"]["evaluation"], "permutations": 10}
    assert configs["fewer_permutations"]["training"] == configs["concurrent"]["training"]


@TINY_STUDY
def test_summary_tables_hold_every_setting_beside_the_runs_own_tables(factorial_run) -> None:
    out, results, _ = factorial_run
    for folder in (out / "summary", results):
        assert sorted(p.name for p in folder.iterdir()) == sorted([f"{n}.csv" for n in SUMMARY_TABLES]
                                                                  + ["manifest.json", "summary.md"])
    scenarios = pd.read_csv(results / "scenarios.csv")
    assert sorted(scenarios["setting"].unique()) == RUN_NAMES
    for setting in RUN_NAMES:
        own = pd.read_parquet(out / setting / "tables" / "benefit.parquet").set_index("scenario")
        loi = pd.read_parquet(out / setting / "tables" / "loi.parquet").set_index("scenario")
        rows = scenarios[scenarios["setting"] == setting].set_index("scenario")
        assert set(rows.index) == {"matrix/prisoners_dilemma", "prisoners_dilemma/tiny"}
        for scenario, row in rows.iterrows():
            assert row["benefit"] == pytest.approx(own.loc[scenario, "benefit"], rel=1e-5)
            assert row["loi"] == pytest.approx(loi.loc[scenario, "corrected"], rel=1e-5, abs=1e-9)
    manifest = json.loads((results / "manifest.json").read_text())
    assert [s["name"] for s in manifest["settings"]] == RUN_NAMES
    assert manifest["settings"][1]["changes"] == {"evaluation": {"permutations": 10}}
    assert all(s["seconds"] > 0 and s["git_revision"] for s in manifest["settings"])
    assert "[settings.fewer_permutations]" in manifest["config"] and manifest["pending"] == []
    text = markdown_summary(results)
    assert (results / "summary.md").read_text() == text
    assert text.count("| fewer_permutations | prisoners_dilemma/tiny |") == 1
    assert text.count("| concurrent | prisoners_dilemma |") == 1


@TINY_STUDY
def test_a_setting_run_elsewhere_keeps_its_committed_rows(factorial_run, tmp_path: Path) -> None:
    """Settings whose runs are not on this machine keep the rows of the summary in --results
    when it ran the same study; a changed setting is pending instead."""
    import shutil

    from loi.pipeline.factorial import factorial_summary

    _, results, _ = factorial_run
    committed = tmp_path / "committed"
    shutil.copytree(results, committed)
    before = {name: pd.read_csv(committed / f"{name}.csv") for name in SUMMARY_TABLES}
    factorial = factorial_config(_doc(tmp_path, RUN_SETTINGS))
    factorial_summary(factorial, tmp_path / "no_runs", results=committed)
    for name in SUMMARY_TABLES:
        pd.testing.assert_frame_equal(pd.read_csv(committed / f"{name}.csv"), before[name])
    manifest = json.loads((committed / "manifest.json").read_text())
    assert [s["name"] for s in manifest["settings"]] == RUN_NAMES
    assert manifest["pending"] == []
    changed = factorial_config(_doc(tmp_path, RUN_SETTINGS.replace("permutations = 10", "permutations = 11")))
    factorial_summary(changed, tmp_path / "no_runs", results=committed)
    manifest = json.loads((committed / "manifest.json").read_text())
    assert [s["name"] for s in manifest["settings"]] == ["concurrent"] and manifest["pending"] == ["fewer_permutations"]
    assert set(pd.read_csv(committed / "scenarios.csv")["setting"]) == {"concurrent"}


def test_authors_values_come_from_their_data(tmp_path: Path, paper_data: Path) -> None:
    from loi.pipeline.factorial import authors_tables
    from loi.pipeline.paper import analyse_paper_data

    # stag_hunt is not in the authors' release: its rows are left out, the others computed.
    tables = authors_tables(paper_data, ("chicken", "stag_hunt"), permutations=200)
    assert set(tables["scenarios"]["game"]) == {"chicken"}
    # One row group per tournament folder: the released (PP 50 generations) and matched training.
    assert list(dict.fromkeys(tables["scenarios"]["setting"])) == [AUTHORS, "authors_25gen"]
    matched = tables["scenarios"][tables["scenarios"]["setting"] == "authors_25gen"].set_index("scenario")
    assert matched.loc["chicken/large", "benefit_raw"] == pytest.approx(3.81, abs=5e-3)  # the data README's
    assert matched.loc["chicken/large", "benefit_raw_ci_low"] == pytest.approx(2.0, abs=0.05)
    tables = {name: frame[frame["setting"] == AUTHORS] for name, frame in tables.items()}
    with pytest.raises(LoiError, match="none of the games stag_hunt"):
        authors_tables(paper_data, ("stag_hunt",), permutations=10)
    analysis = analyse_paper_data(paper_data, permutations=200, bootstrap=200)
    scenarios = tables["scenarios"].set_index("scenario")
    for layout, name in (("S", "small"), ("M", "medium"), ("L", "large"), ("O", "obstacle")):
        lay = analysis.games["chicken"].layouts[layout]
        row = scenarios.loc[f"chicken/{name}"]
        assert row["setting"] == AUTHORS
        assert row["benefit_raw"] == pytest.approx(lay.benefit)  # the paper's (PP5 - SP5) / 2
        assert row["benefit_raw_ci_low"] < row["benefit_raw"] < row["benefit_raw_ci_high"]
        assert row["loi"] == pytest.approx(lay.loi.corrected)
    # The paper data's reference: r(LoI, PP benefit) = 0.99 for chicken (raw benefit, raw LoI); the
    # summary correlates the corrected LoI with the normalised benefit, so it is close, not equal.
    corr = tables["correlations"].set_index("protocol")
    # The paper's protocol reproduces its r = 0.99 for chicken (the paper data README's reference).
    assert corr.loc[CORRELATION_PROTOCOLS[1], "r"] == pytest.approx(0.990, abs=5e-4)
    assert corr.loc[CORRELATION_PROTOCOLS[0], "n"] == 4 and corr.loc[CORRELATION_PROTOCOLS[0], "r"] > 0.8


def test_decision_rule_counts_ci_above_zero_and_needs_the_pooled_r_above_zero() -> None:
    from loi.pipeline.factorial import decision_markdown, decision_table

    def scenario_rows(setting: str, lows: list[float]) -> list[dict]:
        # benefit = low + 0.1 and a CI 0.2 wide: the half width is 0.1 wherever the CI is measured
        return [{"setting": setting, "scenario": f"g/{i}", "benefit": low + 0.1, "benefit_ci_low": low,
                 "benefit_ci_high": low + 0.2} for i, low in enumerate(lows)]

    scenarios = pd.DataFrame(scenario_rows("base", [0.1, 0.2, -0.1, float("nan")])  # 2 of 4: (a) holds
                             + scenario_rows("other", [0.1, -0.2, -0.1, 0.0])  # 1 of 4 (0.0 is not above)
                             + scenario_rows(AUTHORS, [0.3, 0.4, 0.5, -0.1]))
    protocol = CORRELATION_PROTOCOLS[0]
    correlations = pd.DataFrame([
        {"setting": "base", "game": "all", "protocol": protocol, "r": 0.8, "ci_low": 0.2, "ci_high": 0.95},
        {"setting": "base", "game": "g", "protocol": protocol, "r": -0.9, "ci_low": -0.99, "ci_high": -0.5},
        {"setting": "other", "game": "all", "protocol": protocol, "r": 0.5, "ci_low": -0.3, "ci_high": 0.9},
        {"setting": AUTHORS, "game": "all", "protocol": CORRELATION_PROTOCOLS[1], "r": 0.9, "ci_low": 0.5,
         "ci_high": 0.99},  # the paper's protocol does not count
    ])
    decisions = decision_table(scenarios, correlations).set_index("setting")
    assert decisions.loc["base", ["benefit_ci_above_0", "benefit_rule", "correlation_rule", "reproduced"]].tolist() \
        == [2, True, True, True]
    assert decisions.loc["other", ["benefit_ci_above_0", "benefit_rule", "correlation_rule", "reproduced"]].tolist() \
        == [1, False, False, False]
    assert decisions.loc[AUTHORS, ["benefit_ci_above_0", "benefit_rule", "correlation_rule"]].tolist() \
        == [3, True, False]
    assert np.isnan(decisions.loc[AUTHORS, "pooled_r"])
    assert decisions.loc["base", "benefit_mean"] == pytest.approx((0.2 + 0.3 + 0.0) / 3)  # NaN left out
    assert decisions.loc["other", "benefit_mean"] == pytest.approx((0.1 - 0.2 - 0.1 + 0.0) / 4 + 0.1)
    assert decisions["benefit_ci_half_width_median"].tolist() == pytest.approx([0.1, 0.1, 0.1])
    lines = decision_markdown(decisions.reset_index())
    # base's CI highs 0.3, 0.4, 0.1 lie below the authors' 0.4, 0.5, 0.6 (the unmeasured 4th does not count)
    assert decisions["authors_benefit_excluded"].tolist() == [3, 3, 0]
    assert lines[2].startswith("| base | 2 of 4: yes | 0.167 (±0.100) | 3 of 4 | 0.80 [0.20, 0.95]: yes | yes |")
    assert lines[3].endswith("| flips (a) and (b) |")
    assert lines[4].endswith("| no |  |")  # the authors' row is not a change from the first setting
    assert decisions["authors_benefit_compared"].tolist() == [4, 4, 0]
    # A scenario the authors' data does not cover (their release has no stag_hunt) is not compared.
    uncovered = pd.DataFrame([{"setting": "base", "scenario": "h/0", "benefit": 0.1, "benefit_ci_low": -0.1,
                               "benefit_ci_high": 0.3}])
    wider = decision_table(pd.concat([scenarios, uncovered], ignore_index=True), correlations).set_index("setting")
    assert wider.loc["base", ["scenarios", "authors_benefit_excluded", "authors_benefit_compared"]].tolist() == [5, 3, 4]
    assert "| 3 of 4 |" in decision_markdown(wider.reset_index())[2]
