"""A suite study's config: explicit scenario lists, one budget over the suite, extra regimes,
and the regime variants (pp5-generational, fcp5-bots) a study can train side by side."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from loi.errors import LoiError
from loi.pipeline.config import split_scenario, study_config, study_from_dict
from loi.pipeline.factorial import load_study_or_factorial
from loi.pipeline.plan import heldout_bots, train_config, trained_regimes
from loi.training.config import Regime, TrainConfig, parse_regime

ROOT = Path(__file__).resolve().parents[1]

BASE = {"name": "s", "training": {"steps": 4096, "generations": 4, "num_envs": 4, "rollout_length": 32}}


def _suite(**changes):
    doc = {**BASE, "scenarios": ["chicken/small", "chicken/medium", "matrix/pure_coordination_3x3"],
           "allocate_per": "suite", **changes}
    return study_config(doc)


def test_split_scenario_inverts_scenario_names() -> None:
    assert split_scenario("chicken/small") == ("chicken", "small")
    assert split_scenario("matrix/pure_coordination_3x3") == ("pure_coordination_3x3", "matrix")
    assert split_scenario("jaxmarl:overcooked/cramped_room?reward_shaping=1") == (
        "jaxmarl:overcooked", "cramped_room?reward_shaping=1")


def test_a_scenario_list_replaces_games_times_layouts() -> None:
    config = _suite()
    assert config.scenarios == ("chicken/small", "chicken/medium", "matrix/pure_coordination_3x3")
    assert config.games == ("chicken", "pure_coordination_3x3")
    assert config.game_of["matrix/pure_coordination_3x3"] == "pure_coordination_3x3"
    assert set(config.allocation_group.values()) == {"suite"}
    # The uniform allocation over all three scenarios is the default budget (pp3 = 3 each).
    assert config.budget == 9
    again = study_from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config


def test_per_game_budgets_need_as_many_scenarios_in_every_game() -> None:
    with pytest.raises(LoiError, match="as many scenarios in every game"):
        _suite(allocate_per="game")
    config = study_config({**BASE, "scenarios": ["chicken/small", "stag_hunt/small"]})
    assert config.allocation_group == config.game_of and config.budget == 3


@pytest.mark.parametrize("changes, message", [
    ({"games": ["chicken"]}, "either scenarios or games and layouts"),
    ({"scenarios": ["chicken"]}, "is not GAME/LAYOUT"),
    ({"scenarios": ["chicken/nowhere"]}, "unknown layout"),
    ({"allocate_per": "world"}, "unknown allocate_per"),
    ({"extra_regimes": ["pp3"]}, "in the menu already"),
    ({"extra_regimes": ["pp5-sideways"]}, "unknown variant"),
])
def test_bad_suite_keys_fail_with_one_line(changes, message) -> None:
    with pytest.raises(LoiError, match=message):
        _suite(**changes)


def test_configs_without_the_new_keys_keep_their_committed_hashes() -> None:
    # docs/results/why/manifest.json records the hashes of settings run before these keys existed.
    manifest = json.loads((ROOT / "docs/results/why/manifest.json").read_text())
    factorial = load_study_or_factorial(ROOT / "examples/why.toml")
    studies = {s.name: s.study for s in factorial.select(None)}
    for setting in manifest["settings"]:
        assert studies[setting["name"]].config_hash() == setting["config_hash"], setting["name"]


def test_regime_variants_parse_and_print_back() -> None:
    assert parse_regime("pp5-generational") == Regime("pp", 5, "generational")
    assert parse_regime("fcp5-bots") == Regime("fcp", 5, "bots")
    assert parse_regime("fcp5-bots").base == Regime("fcp", 5)
    for name in ("sp", "pp3", "fcp5", "pp5-generational", "sp-lineage", "fcp2-bots"):
        assert str(parse_regime(name)) == name
    with pytest.raises(LoiError, match="fcp takes bots"):
        parse_regime("fcp5-generational")
    with pytest.raises(LoiError, match="pp takes concurrent"):
        parse_regime("pp5-bots")


def test_a_variant_regime_trains_its_base_regime_with_the_field_it_names() -> None:
    config = TrainConfig(scenario="chicken/small", regime="pp5-generational")
    assert (config.regime, config.pp_schedule) == ("pp5", "generational")
    assert config == TrainConfig(scenario="chicken/small", regime="pp5", pp_schedule="generational")
    with pytest.raises(LoiError, match="names the generational schedule"):
        TrainConfig(scenario="chicken/small", regime="pp5-generational", pp_schedule="lineage")
    with pytest.raises(LoiError, match="none are listed"):
        TrainConfig(scenario="chicken/small", regime="fcp5-bots")
    bots = TrainConfig(scenario="chicken/small", regime="fcp5-bots", pool_bots=("bots:tit_for_tat",))
    assert (bots.regime, bots.pool_bots) == ("fcp5", ("bots:tit_for_tat",))


def test_the_study_gives_pool_bots_to_bots_variants_only_and_each_schedule_its_own() -> None:
    config = _suite(menu={"sp": 1, "fcp2": 3, "pp3": 3}, uniform="pp3", allocator="proportional",
                    extra_regimes=["pp3-generational", "fcp2-bots"],
                    training={**BASE["training"], "pool_bots": ["bots:tit_for_tat"]})
    assert config.trained_regimes == ("sp", "fcp2", "pp3", "pp3-generational", "fcp2-bots")
    assert train_config(config, "chicken/small", "fcp2", 1).pool_bots == ()
    assert train_config(config, "chicken/small", "fcp2-bots", 1).pool_bots == ("bots:tit_for_tat",)
    assert train_config(config, "chicken/small", "pp3", 1).pp_schedule == "concurrent"
    assert train_config(config, "chicken/small", "pp3-generational", 1).pp_schedule == "generational"
    plan = trained_regimes(config, {})
    assert plan["chicken/small"] == ["fcp2", "pp3", "pp3-generational", "fcp2-bots"]


def test_games_without_bots_skip_the_bots_variant_and_the_held_out_bots() -> None:
    pytest.importorskip("jaxmarl", reason="the jaxmarl extra (pip install -e '.[jaxmarl]') is not installed")
    config = study_config({**BASE, "scenarios": ["chicken/small", "jaxmarl:overcooked/cramped_room"],
                           "allocate_per": "suite", "extra_regimes": ["fcp2-bots"],
                           "menu": {"sp": 1, "fcp2": 3, "pp3": 3}, "allocator": "proportional",
                           "training": {**BASE["training"], "pool_bots": ["bots:tit_for_tat"]},
                           "heldout": {"seeds": 2, "bots": ["bots:coordinate_with_previous"]}})
    plan = trained_regimes(config, {})
    assert "fcp2-bots" in plan["chicken/small"] and "fcp2-bots" not in plan["jaxmarl:overcooked/cramped_room"]
    assert heldout_bots(config, "chicken/small") == ("bots:coordinate_with_previous",)
    assert heldout_bots(config, "jaxmarl:overcooked/cramped_room") == ()
    with pytest.raises(LoiError, match="without held-out Bobs"):
        study_config({**BASE, "scenarios": ["chicken/small", "jaxmarl:overcooked/cramped_room"],
                      "allocate_per": "suite", "heldout": {"seeds": 0, "bots": ["bots:coordinate_with_previous"]}})


def test_the_suite_example_is_a_valid_suite() -> None:
    doc = tomllib.loads((ROOT / "examples/suite.toml").read_text())
    assert doc["allocate_per"] == "suite" and len(doc["scenarios"]) == 16
    pytest.importorskip("jaxmarl", reason="examples/suite.toml has an Overcooked scenario: the jaxmarl extra")
    config = load_study_or_factorial(ROOT / "examples/suite.toml")
    assert config.budget == 4 * 16  # uniform fcp3 everywhere


def test_tournament_egos_carry_the_study_regime_name_not_their_checkpoints(monkeypatch) -> None:
    import loi.evaluation
    from loi.evaluation.policies import Policy
    from loi.pipeline import evaluate

    def egos(run_dirs):  # a variant's checkpoints record its base regime (pp5-generational trains pp5)
        return [Policy(name=f"{d}/seed_0/member_0/gen_003", act=None, params=None, info={"regime": "pp5"})
                for d in run_dirs]

    seen = {}
    monkeypatch.setattr(loi.evaluation, "tournament_egos", egos)
    monkeypatch.setattr(loi.evaluation, "held_out_bobs", lambda dirs, stages: [])
    monkeypatch.setattr(loi.evaluation, "fixed_bob_tournament",
                        lambda env, egos, bobs, **kw: seen.setdefault("egos", egos))
    evaluate.tournament_table("chicken/small", {"pp5": "pp5", "pp5-generational": "pp5-generational"}, None,
                              env={}, bob_stages=1, episodes=1, seed=0)
    assert [(p.name.split("/")[0], p.info["regime"]) for p in seen["egos"]] == [
        ("pp5", "pp5"), ("pp5-generational", "pp5-generational")]
