"""The allocator registry: one signature, each allocator's own checks, and the new allocators
(uniform, random, oracle) against independent expectations."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loi.allocation import (
    DEFAULT_MENU,
    AllocationContext,
    allocate,
    allocation_cost,
    allocator_names,
    crossfit_greedy,
    fit_benefit_curve,
    get_allocator,
    greedy,
    one_sigma,
    proportional,
    register_allocator,
)
from loi.allocation import registry
from loi.errors import LoiError

REFERENCE = Path(__file__).parent / "data" / "allocation_reference.json"


def test_every_allocator_is_registered_and_a_study_chooses_among_three() -> None:
    assert allocator_names() == ("one_sigma", "proportional", "greedy", "uniform", "random", "oracle")
    assert allocator_names(study=True) == ("one_sigma", "proportional", "greedy")
    assert get_allocator("oracle").in_sample and not get_allocator("greedy").in_sample
    with pytest.raises(LoiError, match="unknown allocator 'best'; known: one_sigma, proportional, greedy"):
        get_allocator("best")


# ------------------------------------------------- unchanged against the functions before the registry

def _cases():
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("index", range(40))
def test_results_are_those_of_the_functions_before_the_registry(index: int) -> None:
    """tests/data/allocation_reference.json: outputs of the pre-registry one_sigma / proportional /
    greedy / crossfit_greedy on seeded inputs (the paper's SP5 / PP3 / PP5 renamed sp / pp3 / pp5)."""
    case = _cases()[index]
    score, menu, budget = case["score"], case["menu"], case["budget"]
    assert one_sigma(score) == case["one_sigma"]
    assert allocate("one_sigma", score, 3.0 * len(score), DEFAULT_MENU) == case["one_sigma"]
    assert proportional(score, budget, menu) == case["proportional"]
    assert proportional(score, 3.0 * len(score)) == case["proportional_paper"]
    x = np.tile([0.0, 1.0], len(menu))
    regimes = np.repeat(list(menu), 2)
    curve = fit_benefit_curve(x, regimes, [case["lines"][r][0] + case["lines"][r][1] * v for r, v in zip(regimes, x)])
    assert greedy(score, budget, menu, curve) == case["greedy"]
    assert allocate("greedy", score, budget, menu, curve=curve) == case["greedy"]
    if "crossfit" in case:
        means = {(s, r): m for s, r, m in case["means"]}
        assert crossfit_greedy(score, means, case["games"], case["game_budget"], menu) == case["crossfit"]


def test_one_sigma_runs_within_each_group_of_the_context() -> None:
    scores = {"a/1": 0.0, "a/2": 1.0, "a/3": 1.0, "a/4": 2.0, "b/1": 5.0, "b/2": 9.0, "b/3": 9.0, "b/4": 13.0}
    groups = {s: s[0] for s in scores}
    both = allocate("one_sigma", scores, 24.0, DEFAULT_MENU, groups=groups)
    alone = {**one_sigma({s: v for s, v in scores.items() if s[0] == "a"}),
             **one_sigma({s: v for s, v in scores.items() if s[0] == "b"})}
    assert both == alone and both["a/4"] == both["b/4"] == "pp5"
    assert one_sigma(scores)["b/1"] == "pp3"  # pooled, game a's scores all sit below the mean


def test_one_sigma_maps_the_rule_onto_any_evenly_spaced_menu_by_cost() -> None:
    menu = {"fcp2": 2.0, "sp": 1.0, "pp3": 3.0}
    assert one_sigma({"a": 0.0, "b": 1.0, "c": 1.0, "d": 2.0}, menu) == {"a": "sp", "b": "fcp2", "c": "fcp2",
                                                                          "d": "pp3"}


def test_checks_name_the_problem_in_one_line() -> None:
    with pytest.raises(LoiError, match=r"^allocator one_sigma needs a menu of three regimes with evenly spaced"):
        get_allocator("one_sigma").check({"sp": 1, "pp2": 2, "pp5": 5})
    with pytest.raises(LoiError, match=r"spends the middle cost in every scenario \(12\), above the budget 8"):
        get_allocator("one_sigma").check(DEFAULT_MENU, 8.0, 4)
    get_allocator("one_sigma").check(DEFAULT_MENU, 12.0, 4)
    assert "benefit curve" in get_allocator("greedy").available(DEFAULT_MENU, AllocationContext())
    assert "measured benefit" in get_allocator("oracle").available(DEFAULT_MENU)
    assert get_allocator("uniform").available(DEFAULT_MENU, AllocationContext(uniform="pp5"), 10.0, 2) is None
    assert "above the budget" in get_allocator("uniform").available(DEFAULT_MENU, AllocationContext(uniform="pp5"),
                                                                    9.0, 2)
    with pytest.raises(LoiError, match="smaller than the cheapest allocation"):
        allocate("random", {"a": 0.0, "b": 0.0}, 1.0, DEFAULT_MENU)


def test_the_study_config_rejects_a_one_sigma_menu_without_evenly_spaced_costs() -> None:
    from loi.pipeline.config import study_config

    doc = {"games": ["prisoners_dilemma"], "layouts": ["small", "medium"], "allocator": "one_sigma",
           "menu": {"sp": 1, "pp2": 2, "pp5": 5}, "uniform": "pp2", "training": {"steps": 40_000, "generations": 4}}
    with pytest.raises(LoiError) as err:
        study_config(doc)
    assert str(err.value) == ("allocator one_sigma needs a menu of three regimes with evenly spaced costs "
                              "(like sp=1, pp3=3, pp5=5), got {'sp': 1.0, 'pp2': 2.0, 'pp5': 5.0}")
    assert "\n" not in str(err.value)


# ------------------------------------------------- uniform

def test_uniform_is_the_context_regime_or_else_the_costliest_that_fits() -> None:
    scores = dict.fromkeys("abc", 0.0)
    assert allocate("uniform", scores, 9.0, DEFAULT_MENU, uniform="pp3") == dict.fromkeys("abc", "pp3")
    assert allocate("uniform", scores, 14.9, DEFAULT_MENU) == dict.fromkeys("abc", "pp3")
    assert allocate("uniform", scores, 15.0, DEFAULT_MENU) == dict.fromkeys("abc", "pp5")
    assert allocate("uniform", scores, 3.0, DEFAULT_MENU) == dict.fromkeys("abc", "sp")
    with pytest.raises(LoiError, match=r"allocator uniform spends 15 \(pp5 in every scenario\), above the budget 9"):
        allocate("uniform", scores, 9.0, DEFAULT_MENU, uniform="pp5")


# ------------------------------------------------- random

def _max_spend(n: int, menu: dict[str, float], budget: float) -> float:
    return max(sum(c) for c in itertools.product(menu.values(), repeat=n) if sum(c) <= budget + 1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.lists(st.integers(1, 7), min_size=1, max_size=4, unique=True), st.floats(0, 1),
       st.integers(0, 2**31 - 1))
def test_random_spends_the_most_that_fits_and_is_reproducible(n, costs, where, seed) -> None:
    menu = {f"r{c}": float(c) for c in costs}
    scores = {f"s{i}": 0.0 for i in range(n)}
    budget = min(costs) * n + where * (max(costs) - min(costs)) * n
    first = allocate("random", scores, budget, menu, seed=seed)
    assert allocate("random", scores, budget, menu, seed=seed) == first
    assert allocation_cost(first, menu) == pytest.approx(_max_spend(n, menu, budget))
    assert allocation_cost(first, menu) <= budget + 1e-9


def test_random_draws_uniformly_among_the_allocations_of_that_cost() -> None:
    menu = {"sp": 1.0, "pp2": 2.0, "pp3": 3.0}
    scores = dict.fromkeys("abc", 0.0)
    # Cost 6 (the most that fits 6.5) over three scenarios: the 7 orderings of (1, 2, 3) and (2, 2, 2).
    counts = Counter(tuple(allocate("random", scores, 6.5, menu, seed=k).values()) for k in range(3500))
    expected = {c for c in itertools.product(menu, repeat=3) if sum(menu[r] for r in c) == 6}
    assert set(counts) == expected and len(expected) == 7
    assert max(abs(v / 3500 - 1 / 7) for v in counts.values()) < 0.03  # ~4.5 binomial SDs


# ------------------------------------------------- oracle

def _brute_force(benefits, names, menu, budget):
    best = -np.inf
    for choice in itertools.product(menu, repeat=len(names)):
        if sum(menu[r] for r in choice) <= budget + 1e-9:
            best = max(best, sum(benefits[(n, r)] for n, r in zip(names, choice)))
    return best


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 5), st.lists(st.floats(0.25, 6.0), min_size=1, max_size=4), st.floats(0, 1),
       st.integers(0, 2**31 - 1))
def test_oracle_equals_brute_force(n, costs, where, seed) -> None:
    rng = np.random.default_rng(seed)
    menu = {f"r{i}": round(c, 2) for i, c in enumerate(costs)}
    names = [f"s{i}" for i in range(n)]
    benefits = {(s, r): float(rng.normal()) for s in names for r in menu}
    lo, hi = min(menu.values()) * n, max(menu.values()) * n
    budget = lo + where * (hi - lo)
    allocation = allocate("oracle", dict.fromkeys(names, 0.0), budget, menu, benefits=benefits)
    assert allocation_cost(allocation, menu) <= budget + 1e-9
    total = sum(benefits[(s, r)] for s, r in allocation.items())
    assert total == pytest.approx(_brute_force(benefits, names, menu, budget), abs=1e-9)


def test_oracle_needs_every_cell() -> None:
    with pytest.raises(LoiError, match="no measured benefit of 'pp5' in scenario 'a'"):
        allocate("oracle", {"a": 0.0}, 5.0, DEFAULT_MENU, benefits={("a", "sp"): 1.0, ("a", "pp3"): 1.0})


# ------------------------------------------------- adding one

@pytest.fixture
def cheapest_first():
    """An allocator defined here, as a new module would: registered, then removed again."""
    def rule(values, budget, menu, context):
        return dict.fromkeys(values, next(iter(menu)))

    yield register_allocator("cheapest_first", rule, summary="the cheapest regime everywhere", uses_scores=False)
    registry._REGISTRY.pop("cheapest_first")


def test_a_registered_allocator_is_called_like_the_others(cheapest_first) -> None:
    assert "cheapest_first" in allocator_names() and "cheapest_first" not in allocator_names(study=True)
    assert allocate("cheapest_first", {"a": 1.0, "b": 2.0}, 2.0, DEFAULT_MENU) == {"a": "sp", "b": "sp"}
    with pytest.raises(LoiError, match="already registered"):
        register_allocator("cheapest_first", cheapest_first.rule, summary="again")


def test_a_rule_that_overspends_is_a_bug_not_an_input_error() -> None:
    broke = registry.Allocator("broke", lambda values, budget, menu, context: dict.fromkeys(values, "pp5"), "test")
    with pytest.raises(AssertionError, match="invalid allocation"):
        broke({"a": 1.0}, 3.0, DEFAULT_MENU)
