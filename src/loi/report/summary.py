"""The answer of a run in sentences: where the budget went and whether it paid off.

Everything here reads the run's tables (``loi``, ``allocation``, ``comparison``)
and computes no statistic of its own: the gains, intervals and p-values are the
statistics stage's (:mod:`loi.pipeline.statistics`). What it adds is what a
reader needs to trust a row of the comparison table:

- **identical to uniform**: an allocator that chose exactly the uniform
  allocation; its comparison is empty (difference 0 by construction);
- **reference only**: an allocation of SP everywhere; its scores are the SP
  scores, whose mean is exactly 1 because every score is divided by the SP mean;
- **unequal cost**: an allocation that spends less (or more) than uniform,
  which a gain has to be read against.

``loi run`` prints the same sentences as the report's summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pandas as pd

from loi.pipeline.studydir import StudyDir, Table

UNIFORM_ALLOCATOR = "uniform"  # the allocator name of the baseline rows of the allocation table
ALL_GAMES = "all"  # the comparison table's pooled group
_FRACTIONS = {Fraction(1, 2): "half", Fraction(1, 3): "a third", Fraction(2, 3): "two thirds",
              Fraction(1, 4): "a quarter", Fraction(3, 4): "three quarters", Fraction(1, 5): "a fifth"}


@dataclass(frozen=True)
class AllocatorSummary:
    """One allocator in one group (a game, or ``all``)."""

    allocator: str
    group: str
    allocation: dict[str, str]  # scenario -> regime
    cost: float
    uniform_cost: float
    identical_to_uniform: bool
    reference_only: bool
    gain: float  # mean normalised score minus uniform's (NaN: not available)
    gain_low: float
    gain_high: float
    p_value: float  # one-sided, gain > 0
    note: str  # why the comparison is not available ('' when it is)
    sentence: str
    alpha: float  # a one-sided p below it counts as a difference

    @property
    def beat_uniform(self) -> bool:
        # Both tests must agree: the one-sided t-test and the bootstrap interval of the gain.
        return self.significant and self.gain_low > 0

    @property
    def significant(self) -> bool:
        return not self.vacuous and math.isfinite(self.p_value) and self.p_value < self.alpha

    @property
    def worse_than_uniform(self) -> bool:
        # The test is one-sided (gain > 0); p above 1 - alpha is the mirror test's significance.
        return (not self.vacuous and math.isfinite(self.p_value) and self.p_value > 1 - self.alpha
                and self.gain_high < 0)

    @property
    def vacuous(self) -> bool:
        return self.identical_to_uniform


@dataclass(frozen=True)
class GameSummary:
    group: str
    ranking: str
    allocators: tuple[AllocatorSummary, ...]
    verdict: str


def short_scenario(scenario: str, game: str) -> str:
    """``stag_hunt/small`` in game ``stag_hunt`` -> ``small`` (``matrix/g`` -> ``matrix``)."""
    parts = [p for p in str(scenario).split("/") if p != game]
    return "/".join(parts) or str(scenario)


def number(value: float, digits: int = 3, sign: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def cost(value: float) -> str:
    return f"{value:g}"


def p_text(p: float) -> str:
    if not math.isfinite(p):
        return "p n/a"
    return f"p = {p:.2g}" if p < 0.001 else f"p = {p:.3f}"


def cost_ratio(cost_value: float, uniform_cost: float) -> str:
    """``2, 6`` -> ``a third of the cost``; ``9, 6`` -> ``1.5x the cost``."""
    if not (math.isfinite(cost_value) and math.isfinite(uniform_cost)) or uniform_cost <= 0:
        return "at an unknown cost"
    ratio = cost_value / uniform_cost
    if math.isclose(ratio, 1.0):
        return "at the same cost"
    fraction = Fraction(ratio).limit_denominator(5)
    if math.isclose(float(fraction), ratio, rel_tol=1e-9) and fraction in _FRACTIONS:
        return f"at {_FRACTIONS[fraction]} of the cost"
    return f"at {ratio:.2g}× the cost"


def allocation_text(allocation: dict[str, str], game: str | None) -> str:
    """``{"g/a": "sp", "g/b": "pp5"}`` -> ``a sp, b pp5``; one regime everywhere -> ``sp everywhere``;
    over several games, regime counts (``pp3 in 3 scenarios, pp5 in 1``)."""
    regimes = sorted(set(allocation.values()))
    if len(allocation) > 1 and len(regimes) == 1:
        return f"{regimes[0]} everywhere"
    if game is None:
        counts = pd.Series(list(allocation.values())).value_counts()
        return ", ".join(f"{r} in {n} scenario{'s' if n > 1 else ''}" for r, n in sorted(counts.items()))
    return ", ".join(f"{short_scenario(s, game)} {r}" for s, r in sorted(allocation.items()))


def _comparison_row(comparison: pd.DataFrame | None, allocator: str, group: str) -> pd.Series | None:
    if comparison is None:
        return None
    rows = comparison[(comparison["allocator"] == allocator) & (comparison["group"] == group)
                      & (comparison["protocol"] == "all")]
    return rows.iloc[0] if len(rows) else None


def allocator_summary(allocator: str, group: str, allocation: dict[str, str], uniform: dict[str, str],
                      menu: dict[str, float], comparison: pd.DataFrame | None, reference: str,
                      alpha: float) -> AllocatorSummary:
    scenarios = sorted(allocation)
    spent = float(sum(menu.get(allocation[s], math.nan) for s in scenarios))
    uniform_spent = float(sum(menu.get(uniform.get(s, ""), math.nan) for s in scenarios))
    identical = all(allocation[s] == uniform.get(s) for s in scenarios)
    reference_only = all(allocation[s] == reference for s in scenarios)
    row = _comparison_row(comparison, allocator, group)
    gain = low = high = p = math.nan
    note = "the statistics stage has not run" if comparison is None else "not in the comparison table"
    if row is not None:
        gain, low, high, p = (float(row[c]) for c in ("difference", "difference_ci_low", "difference_ci_high",
                                                       "p_value"))
        note = str(row.get("note", "") or "") if not math.isfinite(gain) else ""
        if not math.isfinite(gain) and not note:
            note = "the statistic is undefined on these scores"
    game = None if group == ALL_GAMES else group
    words = [f"{allocator} chose {allocation_text(allocation, game)}",
             f"(cost {cost(spent)}, uniform {cost(uniform_spent)})"]
    if identical:
        words.append("— exactly the uniform allocation: this comparison is empty (its difference is 0 by "
                     "construction, not evidence)")
    else:
        if note:
            words.append(f"— gain over uniform not available: {note}")
        else:
            words.append(f"— gain over uniform {number(gain, sign=True)} [{number(low, sign=True)}, "
                         f"{number(high, sign=True)}], one-sided {p_text(p)}, {cost_ratio(spent, uniform_spent)}")
        if reference_only:
            words.append(f"; its normalised score is exactly 1.000 by construction (scores are divided by the "
                         f"{reference} mean), so the gain is {reference}'s own lead over uniform")
    sentence = " ".join(words).replace(" ;", ";") + "."
    return AllocatorSummary(allocator, group, dict(allocation), spent, uniform_spent, identical, reference_only,
                            gain, low, high, p, note, sentence, alpha)


def _ranking(loi: pd.DataFrame | None, scenarios: list[str], game: str | None) -> str:
    if loi is None:
        return "LoI: the LoI stage has not run."
    rows = loi[loi["scenario"].isin(scenarios)]
    if rows.empty:
        return "LoI: no scenario measured."
    corrected = "corrected_ci_low" in rows.columns
    value, low, high = ("corrected", "corrected_ci_low", "corrected_ci_high") if corrected else \
        ("loi", "ci_low", "ci_high")
    rows = rows.sort_values(value, ascending=False)
    items = [f"{short_scenario(r['scenario'], game) if game else r['scenario']} {number(r[value])} "
             f"[{number(r[low])}, {number(r[high])}]" for _, r in rows.iterrows()]
    what = "null-corrected LoI" if corrected else "LoI"
    text = f"{what} (nats, 95% CI), highest first: {' > '.join(items)}"
    if len(rows) > 1:
        lows, highs = rows[low].to_numpy(), rows[high].to_numpy()
        separated = all(lows[i] > highs[i + 1] for i in range(len(rows) - 1))
        text += (": every step of the ranking is resolved" if separated else
                 ": the intervals overlap, so the ranking is not resolved")
    return text + "."


def _verdict(group: str, allocators: list[AllocatorSummary]) -> str:
    where = "Over all games" if group == ALL_GAMES else f"In {group}"
    if not allocators:
        return f"{where}: no allocator other than uniform was compared."
    if all(a.vacuous for a in allocators):
        return (f"{where}: every allocator chose the uniform allocation, so nothing was compared and this run "
                f"does not answer the allocation question.")
    winners = [a for a in allocators if a.beat_uniform]
    losers = [a for a in allocators if a.worse_than_uniform]
    parts = []
    if winners:
        parts.append("; ".join(f"{a.allocator} beat uniform by {number(a.gain, sign=True)} "
                               f"[{number(a.gain_low, sign=True)}, {number(a.gain_high, sign=True)}] "
                               f"{cost_ratio(a.cost, a.uniform_cost)}" for a in winners))
    else:
        tried = [a for a in allocators if not (a.vacuous or a.significant or a.worse_than_uniform)
                 and math.isfinite(a.gain)]
        detail = ", ".join(f"{a.allocator} {number(a.gain, sign=True)} [{number(a.gain_low, sign=True)}, "
                           f"{number(a.gain_high, sign=True)}], {p_text(a.p_value)}" for a in tried)
        parts.append("no allocator beat uniform" + (f" ({detail})" if detail else ""))
    unresolved = [a for a in allocators if a.significant and not a.beat_uniform]
    if unresolved:
        parts.append(", ".join(f"{a.allocator} ({number(a.gain, sign=True)}, {p_text(a.p_value)})"
                               for a in unresolved)
                     + (" passed the t-test but its bootstrap CI includes 0" if len(unresolved) == 1 else
                        " passed the t-test but their bootstrap CIs include 0"))
    if losers:
        parts.append(", ".join(a.allocator for a in losers) + " did worse than uniform")
    vacuous = [a.allocator for a in allocators if a.vacuous]
    if vacuous:
        parts.append(f"{' and '.join(vacuous)} chose the uniform allocation itself (no comparison)")
    reference = [a.allocator for a in allocators if a.reference_only and not a.vacuous]
    if reference:
        parts.append(f"{' and '.join(reference)} trained SP only, whose score is 1.000 by construction")
    return f"{where}: " + "; ".join(parts) + "."


def allocator_summaries(allocation: pd.DataFrame, comparison: pd.DataFrame | None, *, menu: dict[str, float],
                        reference: str = "sp", alpha: float = 0.05) -> dict[tuple[str, str], AllocatorSummary]:
    """(allocator, group) -> its summary, for every game and the pooled group ``all``
    (the comparison table's groups); ``uniform`` itself is not listed."""
    uniform_rows = allocation[allocation["allocator"] == UNIFORM_ALLOCATOR]
    uniform = dict(zip(uniform_rows["scenario"], uniform_rows["regime"]))
    out = {}
    for allocator in sorted(a for a in allocation["allocator"].unique() if a != UNIFORM_ALLOCATOR):
        rows = allocation[allocation["allocator"] == allocator]
        for group in [*sorted(rows["game"].unique()), ALL_GAMES]:
            chosen = rows if group == ALL_GAMES else rows[rows["game"] == group]
            out[allocator, group] = allocator_summary(allocator, group, dict(zip(chosen["scenario"], chosen["regime"])),
                                                      uniform, menu, comparison, reference, alpha)
    return out


def summarize_run(loi: pd.DataFrame | None, allocation: pd.DataFrame | None, comparison: pd.DataFrame | None, *,
                  menu: dict[str, float], reference: str = "sp", alpha: float = 0.05) -> list[GameSummary]:
    """Per game (and pooled, group ``all``, when there are several games): the LoI
    ranking, every allocator's allocation, cost and gain over uniform, and a verdict.
    ``alpha``: the level at which a one-sided p-value counts as a gain."""
    if allocation is None:
        games = sorted(loi["game"].unique()) if loi is not None and "game" in loi.columns else []
        return [GameSummary(g, _ranking(loi, list(loi.loc[loi["game"] == g, "scenario"]), g), (),
                            "The allocation stage has not run.") for g in games]
    summaries = allocator_summaries(allocation, comparison, menu=menu, reference=reference, alpha=alpha)
    games = sorted(allocation["game"].unique())
    out = []
    for group in games + ([ALL_GAMES] if len(games) > 1 else []):
        mine = tuple(summary for (_, g), summary in sorted(summaries.items()) if g == group)
        scenarios = sorted(allocation.loc[allocation["game"] == group, "scenario"].unique())
        ranking = "" if group == ALL_GAMES else _ranking(loi, scenarios, group)
        out.append(GameSummary(group, ranking, mine, _verdict(group, list(mine))))
    return out


def read_allocations(run_dir: Path) -> pd.DataFrame | None:
    """The run's allocation table with the statistics stage's cross-fitted greedy rows, if any."""
    study = StudyDir(run_dir)
    allocation, crossfit = study.read_table(Table.ALLOCATION), study.read_table(Table.ALLOCATION_CROSSFIT)
    if allocation is not None and crossfit is not None:
        allocation = pd.concat([allocation, crossfit], ignore_index=True)
    return allocation


def alpha_of(config: dict) -> float:
    """The significance level of a study: 1 - its evaluation.confidence."""
    return round(1 - float((config.get("evaluation") or {}).get("confidence", 0.95)), 10)


def summarize_run_dir(run_dir: str | Path) -> list[GameSummary]:
    """:func:`summarize_run` of whatever stages of ``run_dir`` are finished."""
    study = StudyDir(run_dir)
    config = study.read_study().get("config", {})
    menu = {k: float(v) for k, v in config.get("menu", {}).items()}
    return summarize_run(study.read_table(Table.LOI), read_allocations(study.path),
                         study.read_table(Table.COMPARISON), menu=menu, alpha=alpha_of(config))


def is_smoke(config: dict) -> bool:
    """A smoke-test config says so with ``smoke = true`` (examples/quick.toml does)."""
    return bool(config.get("smoke", False))
