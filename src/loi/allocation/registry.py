"""The allocator registry: every budget allocator behind one signature.

An allocator splits a budget over scenarios::

    allocate(scores, budget, menu, context) -> {scenario: regime}

``scores``: scenario -> the allocating interaction metric's score (allocators that ignore it,
like ``uniform``, still receive it: it names the scenarios); ``menu``: regime -> cost;
``context``: an :class:`AllocationContext` with what some allocators need beyond the scores.
Each allocator lives in one module of this package, registers itself with
:func:`register_allocator` beside its rule, and states its own preconditions (``menu_check``:
the menu and budget, checked when a study config is read; ``input_check``: what the context must
hold, checked when it runs; :meth:`Allocator.available` gives either's reason). Calling a registered :class:`Allocator` validates scores, menu and budget once for
all of them and checks that the result stays within the budget.

Adding an allocator: one module in ``loi/allocation/`` that calls :func:`register_allocator`
(it is found and imported by :func:`get_allocator`), and its test.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loi.allocation.menu import TOLERANCE, allocation_cost, validate_budget, validate_menu, validate_scores
from loi.errors import LoiError

if TYPE_CHECKING:  # pragma: no cover
    from loi.allocation.greedy import BenefitCurve


@dataclass(frozen=True)
class AllocationContext:
    """What allocators may need besides the scores, budget and menu.

    ``groups``: scenario -> group (the study: its game); None: the scenarios form one group.
    ``seed``: the seed of randomised allocators. ``metric``: the allocating metric's name (words
    errors). ``uniform``: the regime of the uniform allocation (None: the costliest regime that
    fits the budget). ``curve``: greedy's fitted benefit curve, one for every scenario or one per
    scenario (cross-fitted). ``benefits``: (scenario, regime) -> measured mean (SP-normalised)
    score, what the in-sample oracle maximises.
    """

    groups: Mapping[str, str] | None = None
    seed: int = 0
    metric: str = "loi"
    uniform: str | None = None
    curve: BenefitCurve | Mapping[str, BenefitCurve] | None = None
    benefits: Mapping[tuple[str, str], float] | None = None

    def group_of(self, scenario: str) -> str:
        if self.groups is None:
            return ""
        if scenario not in self.groups:
            raise LoiError(f"scenario {scenario!r} has no group (game)")
        return str(self.groups[scenario])

    def curve_for(self, scenario: str) -> BenefitCurve | None:
        """The benefit curve that predicts ``scenario`` (None: no curve for it)."""
        if self.curve is None or hasattr(self.curve, "predict"):
            return self.curve  # type: ignore[return-value]
        return self.curve.get(scenario)


Rule = Callable[[dict[str, float], float, dict[str, float], AllocationContext], dict[str, str]]
MenuCheck = Callable[[dict[str, float], float | None, int | None], str | None]
InputCheck = Callable[[dict[str, float], AllocationContext, float | None, int | None], str | None]


@dataclass(frozen=True)
class Allocator:
    """A registered allocator: call it as ``allocator(scores, budget, menu, context)``.

    ``in_sample``: it sees the measured outcomes it is judged on (an upper bound, not a rule one
    could apply before training). ``study``: a study config may choose it (it needs nothing that
    exists only after training). ``uses_scores``: it reads the metric's scores. ``stochastic``: its
    allocation depends on ``context.seed`` (the frontier averages many seeds).
    """

    name: str
    rule: Rule
    summary: str
    menu_check: MenuCheck | None = None
    input_check: InputCheck | None = None
    in_sample: bool = False
    study: bool = False
    uses_scores: bool = True
    stochastic: bool = False

    def menu_problem(self, menu: Mapping[str, float], budget: float | None = None,
                     n_scenarios: int | None = None) -> str | None:
        """Why this allocator cannot serve ``menu`` (and ``budget`` over ``n_scenarios``), or None."""
        return None if self.menu_check is None else self.menu_check(dict(menu), budget, n_scenarios)

    def check(self, menu: Mapping[str, float], budget: float | None = None, n_scenarios: int | None = None) -> None:
        """The config-time check: LoiError, one line naming the problem."""
        problem = self.menu_problem(validate_menu(menu), budget, n_scenarios)
        if problem is not None:
            raise LoiError(f"allocator {self.name} {problem}")

    def available(self, menu: Mapping[str, float], context: AllocationContext | None = None,
                  budget: float | None = None, n_scenarios: int | None = None) -> str | None:
        """None when it can run on ``menu`` with ``context`` (and ``budget``), else the reason."""
        menu = validate_menu(menu)
        problem = self.menu_problem(menu, budget, n_scenarios)
        if problem is None and self.input_check is not None:
            problem = self.input_check(menu, context or AllocationContext(), budget, n_scenarios)
        return problem

    def __call__(self, scores: Mapping[str, float], budget: float, menu: Mapping[str, float],
                 context: AllocationContext | None = None) -> dict[str, str]:
        context = context or AllocationContext()
        values = validate_scores(scores, context.metric)
        menu = validate_menu(menu)
        budget = validate_budget(budget, len(values), menu)
        problem = self.available(menu, context, budget, len(values))
        if problem is not None:
            raise LoiError(f"allocator {self.name} {problem}")
        allocation = self.rule(values, budget, menu, context)
        spent = allocation_cost(allocation, menu)
        if set(allocation) != set(values) or spent > budget + TOLERANCE:  # a bug in the rule, not bad input
            raise AssertionError(f"allocator {self.name} returned an invalid allocation (cost {spent:g} "
                                 f"for a budget of {budget:g})")
        return {s: allocation[s] for s in values}


_REGISTRY: dict[str, Allocator] = {}


def register_allocator(name: str, rule: Rule, *, summary: str, menu_check: MenuCheck | None = None,
                       input_check: InputCheck | None = None, in_sample: bool = False, study: bool = False,
                       uses_scores: bool = True, stochastic: bool = False) -> Allocator:
    """Register ``rule`` under ``name`` (LoiError if the name is taken) and return the allocator."""
    if not name or not all(c.isalnum() or c == "_" for c in name):
        raise LoiError(f"an allocator name uses letters, digits and '_', got {name!r}")
    if name in _REGISTRY:
        raise LoiError(f"allocator {name!r} is already registered")
    allocator = Allocator(name, rule, summary, menu_check, input_check, in_sample, study, uses_scores, stochastic)
    _REGISTRY[name] = allocator
    return allocator


_loaded = False


def _load() -> None:
    """Import every module of this package once, so each allocator has registered itself."""
    global _loaded
    if _loaded:
        return
    import loi.allocation as package  # its __init__ imports the built-in allocators, in order

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    _loaded = True


def get_allocator(name: str) -> Allocator:
    """The registered allocator ``name``; LoiError listing the known ones otherwise."""
    _load()
    if name not in _REGISTRY:
        raise LoiError(f"unknown allocator {name!r}; known: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def allocator_names(*, study: bool = False) -> tuple[str, ...]:
    """Registered allocator names, in registration order; ``study``: only those a study config
    may choose."""
    _load()
    return tuple(n for n, a in _REGISTRY.items() if a.study or not study)


def allocate(name: str, scores: Mapping[str, float], budget: float, menu: Mapping[str, float],
             context: AllocationContext | None = None, **fields: Any) -> dict[str, str]:
    """``get_allocator(name)(scores, budget, menu, context)``; keyword ``fields`` build (or
    replace fields of) the context."""
    if fields:
        from dataclasses import replace

        context = replace(context or AllocationContext(), **fields)
    return get_allocator(name)(scores, budget, menu, context)
