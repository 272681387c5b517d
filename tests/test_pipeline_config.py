"""Study configs: validation with one-line errors, nothing written for a bad config."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from conftest import run_cli
from loi.errors import LoiError
from loi.pipeline.config import load_config, study_config, study_from_dict

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PACKAGED = Path(__file__).resolve().parents[1] / "src" / "loi" / "pipeline" / "quick.toml"

BASE = {"games": ["prisoners_dilemma"], "layouts": ["small", "medium"],
        "training": {"steps": 40_000, "generations": 4}}


def _config(**changes):
    doc = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key].update(value)
        else:
            doc[key] = value
    return study_config(doc)


def test_embedded_quick_config_is_the_shipped_example() -> None:
    assert PACKAGED.read_text() == (EXAMPLES / "quick.toml").read_text()
    quick = load_config()
    assert quick == load_config(EXAMPLES / "quick.toml")
    assert quick.name == "quick" and len(quick.games) == 2 and len(quick.layouts) == 2
    paper = load_config(EXAMPLES / "paper.toml")
    assert len(paper.scenarios) == 16 and paper.training.sp_seeds == 5
    assert paper.menu_costs == {"sp": 1.0, "pp3": 3.0, "pp5": 5.0} and paper.budget == 12.0


def test_defaults_and_round_trip() -> None:
    config = _config()
    assert config.scenarios == ("prisoners_dilemma/small", "prisoners_dilemma/medium")
    assert config.menu_costs == {"sp": 1.0, "pp3": 3.0, "pp5": 5.0}
    assert config.budget == 6.0  # the uniform regime (pp3) in both layouts
    assert config.allocator == "one_sigma"
    again = study_from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.config_hash() == config.config_hash()
    # The executor does not change results, so not the hash either; the seed does.
    assert _config(seed=1).config_hash() != config.config_hash()
    matrix = _config(layouts=["matrix", "small"])
    assert matrix.scenarios == ("matrix/prisoners_dilemma", "prisoners_dilemma/small")
    assert set(matrix.game_of.values()) == {"prisoners_dilemma"}


def test_length_multiplier_lengthens_only_the_named_regimes() -> None:
    from loi.pipeline.plan import train_config

    config = _config(training={"length_multiplier": {"pp5": 2}})
    pp5, pp3, sp = (train_config(config, "prisoners_dilemma/small", r, 1) for r in ("pp5", "pp3", "sp"))
    assert (pp5.total_steps, pp5.num_generations) == (80_000, 8)
    assert (pp3.total_steps, pp3.num_generations) == (sp.total_steps, sp.num_generations) == (40_000, 4)
    assert study_from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.config_hash() != _config().config_hash()
    # Absent, the key leaves the hash of a config as it was before the key existed.
    assert "length_multiplier" not in _config().to_dict()["training"]


@pytest.mark.parametrize("changes, message", [
    ({"games": ["prisoners_dilema"]}, r"unknown game 'prisoners_dilema'; valid games: .*chicken, prisoners_dilemma"),
    ({"layouts": ["small", "huge"]}, r"unknown layout 'huge'; valid layouts: .*small"),
    ({"budget": 1}, r"budget 1 is smaller than the cheapest allocation \(2"),
    ({"budget": 1000}, r"budget 1000 is above the costliest allocation \("),
    ({"training": {"steps": -5}}, r"training.steps must be an integer >= 1, got -5"),
    ({"training": {"generatons": 3}}, r"unknown config key training.'generatons'"),
    ({"colour": "red"}, r"unknown config key 'colour'"),
    ({"menu": {"sp": 1, "px3": 3}}, r"unknown regime 'px3'"),
    ({"menu": {"pp3": 3, "pp5": 5}}, r"must include 'sp'"),
    ({"uniform": "pp4"}, r"uniform regime 'pp4' is not in the menu"),
    ({"allocator": "greedy"}, r"greedy .* evaluation.greedy_from"),
    ({"allocator": "best"}, r"unknown allocator 'best'; valid: one_sigma, proportional, greedy"),
    ({"env": {"min_step": 5}}, r"\[env\] for prisoners_dilemma/small: unknown parameter 'min_step'"),
    ({"training": {"steps": 10}}, r"total_steps \(10\) is less than one update per generation"),
    ({"evaluation": {"estimator": "ksg"}}, r"unknown evaluation.estimator 'ksg'"),
    ({"heldout": {"stages": 9}}, r"heldout.stages \(9\) exceeds training.generations \(4\)"),
    ({"training": {"length_multiplier": {"sp": 2}}}, r"length_multiplier: sp is the SP baseline"),
    ({"training": {"length_multiplier": {"pp4": 2}}}, r"length_multiplier names 'pp4', which is not in the menu"),
    ({"training": {"length_multiplier": {"pp3": 0}}}, r"training.length_multiplier.pp3 must be an integer >= 1"),
    ({"training": {"length_multiplier": 2}}, r"length_multiplier must be a table"),
])
def test_invalid_configs_name_the_problem(changes, message) -> None:
    with pytest.raises(LoiError, match=message):
        _config(**changes)


def test_definitions_file_adds_layouts_and_its_errors_name_the_file(tmp_path: Path) -> None:
    config = load_config(DATA / "pipeline_tiny.toml")
    assert "prisoners_dilemma/tiny" in config.scenarios and "[layouts.tiny]" in config.definitions
    bad = tmp_path / "layouts.toml"
    bad.write_text('[layouts.broken]\nmap = """\nWWW\nWn W\nWWW\n"""\n')
    doc = {**BASE, "layouts": ["broken"], "definitions": str(bad)}
    with pytest.raises(LoiError, match=str(bad)):
        study_config(doc)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ('games = ["prisoners_dilemma", "tetris"]\nlayouts = ["small"]\n', "unknown game 'tetris'; valid games:"),
    ('games = ["prisoners_dilemma"]\nlayouts = ["small", "medium"]\nbudget = 1\n',
     "budget 1 is smaller than the cheapest allocation"),
    ('games = ["prisoners_dilemma"]\nlayouts = ["small"]\n[training]\nsteps = -1\n',
     "training.steps must be an integer >= 1"),
    ('games = ["prisoners_dilemma"]\nlayouts = ["bad"]\ndefinitions = "defs.toml"\n', "defs.toml"),
])
def test_cli_rejects_a_bad_config_with_one_line_and_writes_nothing(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "defs.toml").write_text('[layouts.bad]\nmap = "WWW"\n')
    out = tmp_path / "run"
    result = run_cli("run", _write(tmp_path, text), "--out", out, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("loi: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stdout == ""
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_cli_rejects_a_run_dir_of_another_study(tmp_path: Path) -> None:
    from loi.pipeline.run import open_run_dir

    out = tmp_path / "run"
    open_run_dir(_config(seed=1), out)
    shutil.copy(DATA / "pipeline_tiny.toml", tmp_path)
    shutil.copy(DATA / "pipeline_tiny_layouts.toml", tmp_path)
    result = run_cli("run", tmp_path / "pipeline_tiny.toml", "--out", out)
    assert result.returncode == 2 and "holds a different study" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["study.json"]


def test_toml_examples_parse() -> None:
    for path in EXAMPLES.glob("*.toml"):
        tomllib.loads(path.read_text())


def test_training_network_and_options_pass_through_to_every_job() -> None:
    from dataclasses import fields

    from loi.agents.networks import PRESETS, NetworkConfig
    from loi.pipeline.plan import train_config
    from loi.training.config import TrainConfig

    network = {"preset": "gru", "core_size": 32, "conv_features": [8], "prev_reward": True}
    config = _config(training={"network": network, "ent_coef": 0.02, "gae_lambda": 0.9, "update_epochs": 2})
    job = train_config(config, "prisoners_dilemma/small", "pp3", 1)
    assert job.network == NetworkConfig(kind="gru", core_size=32, conv_features=(8,), prev_reward=True)
    assert (job.ent_coef, job.gae_lambda, job.update_epochs) == (0.02, 0.9, 2)
    again = study_from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and train_config(again, "prisoners_dilemma/small", "pp3", 1) == job
    # A preset by name, and the legacy network fields directly under [training].
    assert train_config(_config(training={"network": "authors"}), "prisoners_dilemma/small", "sp", 1).network \
        == PRESETS["authors"]
    legacy = _config(training={"network": "cnn", "hidden": [32], "conv_features": [4]})
    assert train_config(legacy, "prisoners_dilemma/small", "sp", 1).network == NetworkConfig(
        kind="cnn", hidden=(32,), conv_features=(4,))
    # Every TrainConfig field the study does not set per job is accepted, with no hand-kept list.
    per_job = {"scenario", "regime", "num_seeds", "total_steps", "num_generations", "network", "env_overrides"}
    for field in fields(TrainConfig):
        if field.name not in per_job:
            value = getattr(TrainConfig("prisoners_dilemma/small"), field.name)
            assert getattr(train_config(_config(training={field.name: value}), "prisoners_dilemma/small", "sp", 1),
                           field.name) == value
    with pytest.raises(LoiError, match=r"training.network: unknown network keys: width"):
        _config(training={"network": {"kind": "gru", "width": 3}})
    with pytest.raises(LoiError, match=r"training.network: unknown network 'rnn'"):
        _config(training={"network": "rnn"})
