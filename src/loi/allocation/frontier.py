"""The budget frontier: what each allocator buys at each budget (the paper's second open question).

For a suite whose every menu regime was trained in every scenario, :func:`budget_frontier`
allocates each budget with every registered allocator (the metric-driven ones once per interaction
metric) and scores each allocation by its **mean SP-normalised held-out score over scenarios**:
``(1/S) sum_s mean(scenario s, regime A(s)) / mean(scenario s, reference)``, each scenario counting
once, each ego once within its cell (its episodes averaged first).

Honesty rules:

- ``greedy`` never sees the scores it is judged on: its benefit-vs-metric lines for a scenario are
  fitted on the other groups only (leave one game out when ``groups`` holds two or more games,
  otherwise leave one scenario out).
- ``oracle`` picks the allocation with the best measured scores: it is in-sample by definition, an
  upper bound (``in_sample`` is True on its rows).
- ``random`` is the mean over ``draws`` seeded draws (each a uniform draw among the allocations
  spending the most the budget allows): the expected score of an uninformed allocation.
- ``uniform`` is the costliest single regime whose cost in every scenario fits the budget; every
  row's gain is over it, at the same budget.

Intervals: a stratified bootstrap over egos. Egos are the independent units (one ego's episodes
share its policy); cells (scenario x regime) are independent trainings, so each cell's egos are
resampled separately, and the reference cell with them: the normalisation is a ratio of resampled
means, which carries the SP mean's uncertainty without a delta-method approximation. One set of
draws serves every allocator and budget, so a gain over uniform is a paired difference (cells
both allocations share cancel) -- what per-allocation t intervals cannot give without the
covariances. Percentile intervals; seeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from loi.allocation.greedy import crossfit_curves
from loi.allocation.menu import validate_budget, validate_menu
from loi.allocation.predictors import TRANSFORMS, _fit_values, metric_values
from loi.allocation.registry import AllocationContext, allocator_names, get_allocator
from loi.errors import LoiError
from loi.tables.schema import EGO, REGIME, SCENARIO
from loi.tables.scores import SCORE

FRONTIER_COLUMNS = ("budget", "allocator", "metric", "mean_score", "ci_low", "ci_high", "gain_vs_uniform",
                    "gain_ci_low", "gain_ci_high", "cost_spent", "allocation", "in_sample")
UNIFORM = "uniform"


@dataclass(frozen=True)
class Frontier:
    """The frontier's rows (``table``, ``FRONTIER_COLUMNS``; ``metric`` is "" for allocators that
    ignore the metrics) and how they were made. ``leave_out``: what greedy's lines left out
    ("game" or "scenario"); ``notes``: metrics or allocators left out, and why."""

    table: pd.DataFrame
    budgets: tuple[float, ...]
    menu: dict[str, float]
    scenarios: tuple[str, ...]
    leave_out: str
    transform: str
    draws: int
    resamples: int
    confidence: float
    seed: int
    notes: tuple[str, ...] = ()


def default_budgets(menu: Mapping[str, float], n_scenarios: int, points: int = 9) -> tuple[float, ...]:
    """``points`` evenly spaced budgets from the cheapest regime everywhere to the costliest."""
    if points < 2:
        raise LoiError(f"a frontier needs at least 2 budget points, got {points}")
    costs = validate_menu(menu).values()
    return tuple(float(b) for b in np.linspace(min(costs) * n_scenarios, max(costs) * n_scenarios, points))


def _ego_means(scores: pd.DataFrame, scenarios: Sequence[str], regimes: Sequence[str]) -> list[list[np.ndarray]]:
    """Per (scenario, regime): one mean score per ego (per row when the table has no ego column)."""
    for column in (SCENARIO, REGIME, SCORE):
        if column not in scores.columns:
            raise LoiError(f"scores table is missing column {column!r}")
    frame = scores if EGO in scores.columns else scores.assign(**{EGO: np.arange(len(scores))})
    means = frame.groupby([SCENARIO, REGIME, EGO], observed=True, sort=True)[SCORE].mean()
    cells = []
    for s in scenarios:
        row = []
        for r in regimes:
            try:
                values = means.loc[(s, r)].to_numpy(dtype=np.float64)
            except KeyError:
                raise LoiError(f"scenario {s!r} has no scores for regime {r!r} (the frontier needs every menu "
                               "regime trained in every scenario)") from None
            row.append(values)
        cells.append(row)
    return cells


def _normalised_draws(cells: list[list[np.ndarray]], ref: int, resamples: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Point estimates (S, R) and bootstrap draws (B, S, R) of every cell mean over its scenario's
    reference mean; the reference cell is resampled with the others."""
    point = np.array([[c.mean() for c in row] for row in cells])
    draws = np.empty((resamples, *point.shape))
    for i, row in enumerate(cells):
        for j, c in enumerate(row):
            draws[:, i, j] = c[rng.integers(0, c.size, size=(resamples, c.size))].mean(axis=1)
    zero = np.flatnonzero(point[:, ref] == 0)
    if zero.size:
        raise LoiError(f"scenario {zero[0]} has a reference mean of 0: scores cannot be normalised by it")
    with np.errstate(divide="ignore", invalid="ignore"):
        return point / point[:, [ref]], draws / draws[:, :, [ref]]


def budget_frontier(scores: pd.DataFrame, metrics: pd.DataFrame | Mapping[str, Mapping[str, float]],
                    menu: Mapping[str, float], *, budgets: Sequence[float] | None = None, points: int = 9,
                    groups: Mapping[str, str] | None = None, reference: str = "sp",
                    allocators: Sequence[str] | None = None, transform: str = "rank", draws: int = 200,
                    confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> Frontier:
    """The mean SP-normalised held-out score of every allocator at every budget (module docstring).

    ``scores``: one row per evaluation (``scenario``, ``regime``, ``ego``, ``score``; e.g.
    ``loi.tables.fixed_bob_scores``), every ``menu`` regime and ``reference`` in every scenario.
    ``metrics``: the long metrics table (``scenario``, ``metric``, ``score``; e.g.
    ``loi.metrics.measure_metrics``) or ``{metric: {scenario: value}}``; a metric without a finite
    value in every scenario drives no allocator (said in ``notes``). ``budgets``: default
    :func:`default_budgets` (``points`` of them) over the whole suite, which is allocated as one
    pool. ``groups``: scenario -> game (one_sigma runs within each, greedy leaves one out);
    default one group. ``allocators``: registered names (default all). ``transform``: what greedy's
    lines are fitted on, within-group ranks scaled to [0, 1] (``"rank"``, as
    :func:`loi.allocation.compare_predictors`) or the values (``"raw"``).
    """
    if transform not in TRANSFORMS:
        raise LoiError(f"unknown transform {transform!r}; expected one of {', '.join(TRANSFORMS)}")
    if not 0.0 < confidence < 1.0:
        raise LoiError(f"confidence must be in (0, 1), got {confidence}")
    for name, value in (("draws", draws), ("resamples", resamples)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise LoiError(f"{name} must be a positive integer, got {value!r}")
    menu = validate_menu(menu)
    scenarios = tuple(sorted(str(s) for s in scores[SCENARIO].unique())) if SCENARIO in scores.columns else ()
    if not scenarios:
        raise LoiError("the scores table has no scenarios")
    n = len(scenarios)
    group_of = {s: str(groups[s]) for s in scenarios} if groups is not None else {s: "" for s in scenarios}
    if groups is not None and any(s not in groups for s in scenarios):
        raise LoiError(f"scenario {next(s for s in scenarios if s not in groups)!r} has no group (game)")
    several = len(set(group_of.values())) >= 2
    leave_out = "game" if several else "scenario"
    fit_groups = group_of if several else {s: s for s in scenarios}
    budgets = tuple(sorted({validate_budget(b, n, menu) for b in budgets})) if budgets is not None else \
        default_budgets(menu, n, points)
    names = tuple(allocators) if allocators is not None else allocator_names()
    specs = [get_allocator(a) for a in names]

    regimes = list(menu) + ([reference] if reference not in menu else [])
    rng = np.random.default_rng(seed)
    point, boot = _normalised_draws(_ego_means(scores, scenarios, regimes), regimes.index(reference), resamples, rng)
    column = {r: j for j, r in enumerate(regimes)}
    benefits = {(s, r): float(point[i, column[r]]) for i, s in enumerate(scenarios) for r in menu}
    # Only in-sample allocators (the oracle) are handed the measured benefits.
    context = AllocationContext(groups=group_of if groups is not None else None, seed=seed)
    measured = replace(context, benefits=benefits)

    driven, notes = _metric_inputs(metrics, scenarios, group_of, fit_groups, benefits, menu, transform, leave_out,
                                   context)
    blank = dict.fromkeys(scenarios, 0.0)  # allocators that ignore the scores still need the scenarios
    cells = _Cells(scenarios, column, point, boot)
    alpha = (1.0 - confidence) / 2.0
    rows = []
    for b_index, budget in enumerate(budgets):
        base_point, base_boot = cells.score(get_allocator(UNIFORM)(blank, budget, menu, context))
        for spec in specs:
            if spec.uses_scores:  # greedy reads the values its lines were fitted on, the others the scores
                runs = [(m, fitted if spec.name == "greedy" else raw, ctx) for m, (raw, fitted, ctx) in driven.items()]
            else:
                runs = [("", blank, measured if spec.in_sample else context)]
            for metric, values, ctx in runs:
                if spec.available(menu, ctx, budget, n) is not None:
                    continue
                if spec.stochastic:  # the expected allocation over seeded draws: regime frequencies per scenario
                    counts = np.zeros(point.shape)
                    for k in range(draws):
                        draw = int(np.random.SeedSequence([seed, b_index, k]).generate_state(1)[0])
                        counts[np.arange(n), cells.columns(spec(values, budget, menu, replace(ctx, seed=draw)))] += 1
                    frequency = counts / draws
                    mean_point, mean_boot = cells.expected(frequency)
                    spent = float((frequency * np.array([menu.get(r, np.nan) for r in regimes])).sum())
                    text = f"mean of {draws} seeded draws"
                else:
                    allocation = spec(values, budget, menu, ctx)
                    mean_point, mean_boot = cells.score(allocation)
                    spent = float(sum(menu[r] for r in allocation.values()))
                    text = " ".join(f"{s}={allocation[s]}" for s in scenarios)
                gain = mean_boot - base_boot
                rows.append({
                    "budget": float(budget), "allocator": spec.name, "metric": metric, "mean_score": mean_point,
                    "ci_low": float(np.nanquantile(mean_boot, alpha)),
                    "ci_high": float(np.nanquantile(mean_boot, 1 - alpha)),
                    "gain_vs_uniform": mean_point - base_point, "gain_ci_low": float(np.nanquantile(gain, alpha)),
                    "gain_ci_high": float(np.nanquantile(gain, 1 - alpha)), "cost_spent": spent,
                    "allocation": text, "in_sample": bool(spec.in_sample)})
    return Frontier(pd.DataFrame(rows, columns=list(FRONTIER_COLUMNS)), budgets, menu, scenarios, leave_out,
                    transform, int(draws), int(resamples), float(confidence), int(seed), tuple(notes))


def _metric_inputs(metrics, scenarios: Sequence[str], group_of: Mapping[str, str], fit_groups: Mapping[str, str],
                   benefits: Mapping[tuple[str, str], float], menu: dict[str, float], transform: str, leave_out: str,
                   context: AllocationContext):
    """Per metric with a finite value everywhere: its scores, the values greedy's cross-fitted
    lines were fitted on (within-group ranks with ``transform="rank"``) and its context with those
    lines; none depends on the budget. And the notes on what was left out."""
    notes: list[str] = []
    driven: dict[str, tuple[dict[str, float], dict[str, float], AllocationContext]] = {}
    for metric, values in metric_values(metrics).items():
        lacking = [s for s in scenarios if not np.isfinite(values.get(s, np.nan))]
        if lacking:
            notes.append(f"metric {metric} drives no allocator: no finite value for scenario {lacking[0]!r}")
            continue
        raw = {s: float(values[s]) for s in scenarios}
        fitted = _fit_values(raw, group_of, transform)
        try:
            curves = crossfit_curves(fitted, benefits, fit_groups, menu, what=leave_out)
        except LoiError as err:  # e.g. a single scenario: nothing to fit on but itself
            curves = None
            notes.append(f"greedy on {metric}: {err}")
        driven[metric] = (raw, fitted, replace(context, metric=metric, curve=curves))
    return driven, notes


@dataclass(frozen=True)
class _Cells:
    """Normalised cell means: point estimates (S, R) and bootstrap draws (B, S, R)."""

    scenarios: Sequence[str]
    column: Mapping[str, int]
    point: np.ndarray
    boot: np.ndarray

    def columns(self, allocation: Mapping[str, str]) -> np.ndarray:
        return np.array([self.column[allocation[s]] for s in self.scenarios])

    def score(self, allocation: Mapping[str, str]) -> tuple[float, np.ndarray]:
        """The allocation's mean normalised score over scenarios: point estimate and draws."""
        rows, index = np.arange(len(self.scenarios)), self.columns(allocation)
        return float(self.point[rows, index].mean()), self.boot[:, rows, index].mean(axis=1)

    def expected(self, frequency: np.ndarray) -> tuple[float, np.ndarray]:
        """The same for a random allocation with regime ``frequency`` (S, R) per scenario."""
        return float((frequency * self.point).sum(axis=1).mean()), (self.boot * frequency).sum(axis=2).mean(axis=1)
