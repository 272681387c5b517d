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

from loi.pipeline.config import SUITE
from loi.pipeline.studydir import StudyDir, Table
from loi.training.config import parse_regime

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


def _gain_text(a: AllocatorSummary) -> str:
    if not math.isfinite(a.gain):
        return f"gain not available: {a.note}" if a.note else "gain not available"
    return (f"{number(a.gain, sign=True)} [{number(a.gain_low, sign=True)}, {number(a.gain_high, sign=True)}], "
            f"{p_text(a.p_value)}")


def _verdict(group: str, allocators: list[AllocatorSummary]) -> str:
    where = "Over all games" if group == ALL_GAMES else f"In {group}"
    if not allocators:
        return f"{where}: no allocator other than uniform was compared."
    if all(a.vacuous for a in allocators):
        return (f"{where}: every allocator chose the uniform allocation, so nothing was compared and this run "
                f"does not answer the allocation question.")
    winners = [a for a in allocators if a.beat_uniform]
    losers = [a for a in allocators if a.worse_than_uniform]
    # Every allocator is named once, the config's included: winners, no difference, unresolved, worse, empty.
    tried = [a for a in allocators if not (a.vacuous or a.significant or a.worse_than_uniform)]
    parts = []
    if winners:
        parts.append("; ".join(f"{a.allocator} beat uniform by {number(a.gain, sign=True)} "
                               f"[{number(a.gain_low, sign=True)}, {number(a.gain_high, sign=True)}] "
                               f"{cost_ratio(a.cost, a.uniform_cost)}" for a in winners))
        if tried:
            parts.append(", ".join(f"{a.allocator} ({_gain_text(a)})" for a in tried) + " did not differ from uniform")
    else:
        detail = ", ".join(f"{a.allocator} {_gain_text(a)}" for a in tried)
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
        # A suite's one budget group is every scenario: the pooled group ``all`` says it.
        for group in [*sorted(g for g in rows["game"].unique() if g != SUITE), ALL_GAMES]:
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


# ----------------------------------------------------------------------------- the headline


@dataclass(frozen=True)
class Headline:
    """The report's first lines, in the order a reader asks: did diversity (population play) pay
    off, does LoI say where, where should the budget go, and how sure is all that."""

    diversity: str
    correlation: str
    budget: str
    certainty: str

    @property
    def sentences(self) -> list[str]:
        return [s for s in (self.diversity, self.correlation, self.budget, self.certainty) if s]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def _with_ci(value: float, low: float, high: float, digits: int = 3) -> str:
    return (f"{number(value, digits, sign=True)} [{number(low, digits, sign=True)}, "
            f"{number(high, digits, sign=True)}]")


def _measured_benefits(benefit: pd.DataFrame | None) -> pd.DataFrame:
    if benefit is None or benefit.empty:
        return pd.DataFrame(columns=["scenario", "regime", "benefit", "benefit_ci_low", "benefit_ci_high"])
    return benefit[benefit["benefit"].astype(float).map(math.isfinite)]


def diversity_sentence(benefit: pd.DataFrame | None, reference: str = "sp") -> str:
    """Did population play pay off: the benefit (PPn - SP) / 2 on SP-normalised scores
    (the statistics stage's ``benefit`` table) of every scenario, counted by where its CI lies,
    with the lowest and the highest named with their CIs."""
    if benefit is None:
        return "Whether population play paid off is not known yet: the statistics stage has not finished."
    rows = _measured_benefits(benefit)
    if rows.empty:
        notes = sorted({str(n) for n in benefit.get("note", pd.Series(dtype=str)) if str(n or "").strip()})
        return ("Whether population play paid off is not known: no scenario has a measured benefit"
                + (f" ({notes[0]})" if notes else "") + ".")
    regime = "/".join(sorted({str(r) for r in rows["regime"]}))
    kinds = {parse_regime(str(r)).kind for r in rows["regime"]}
    training = "Fictitious co-play" if kinds == {"fcp"} else "Population play" if kinds == {"pp"} else "Diverse-partner training"
    n = len(rows)
    low, high = rows["benefit_ci_low"].astype(float), rows["benefit_ci_high"].astype(float)
    above, below = int((low > 0).sum()), int((high < 0).sum())
    negative = int((rows["benefit"].astype(float) < 0).sum())
    if above > 0 and above >= n / 2:
        lead = f"{training} ({regime}) paid off against self-play ({reference})"
    elif above == 0 and below == 0:  # every CI includes 0: not shown either way
        lead = f"{training} ({regime}) was not shown to pay off against self-play ({reference})"
    elif above == 0:
        lead = f"{training} ({regime}) did not pay off against self-play ({reference})"
    else:
        lead = f"{training} ({regime}) paid off against self-play ({reference}) in only {above} of {n} scenarios"

    def word(k: int) -> str:
        return "none" if k == 0 else str(k)

    counts = (f"its benefit was below 0 in {word(negative)} of {n} scenario{'s' if n > 1 else ''}, its 95% CI above "
              f"0 in {word(above)} and below 0 in {word(below)}")
    ordered = rows.sort_values("benefit")
    first, last = ordered.iloc[0], ordered.iloc[-1]

    def cell(r) -> str:
        interval = _with_ci(float(r["benefit"]), float(r["benefit_ci_low"]), float(r["benefit_ci_high"]))
        return f"{interval} in {r['scenario']}"

    span = f"{cell(first)}" if n == 1 else f"from {cell(first)} to {cell(last)}"
    return (f"{lead}: {counts} ({span}; benefit = ({regime} − {reference}) / 2 on scores divided by the "
            f"{reference} mean).")


def correlation_sentence(correlation: pd.DataFrame | None) -> str:
    """Does the LoI say where population play pays: Pearson r(LoI, benefit) pooled over every
    scenario (the correlation table's group ``all``, or its one game)."""
    if correlation is None or correlation.empty:
        return ""
    pooled = correlation[correlation["game"] == ALL_GAMES]
    row = pooled.iloc[0] if len(pooled) else correlation.iloc[0] if len(correlation) == 1 else None
    if row is None:
        return ""
    where = "pooled over all games" if row["game"] == ALL_GAMES else f"in {row['game']}"
    r, low, high = (float(row[c]) for c in ("r", "ci_low", "ci_high"))
    if not math.isfinite(r):
        note = str(row.get("note", "") or "").strip()
        return f"Whether LoI predicts the benefit is not known {where}" + (f": {note}." if note else ".")
    stat = f"r(LoI, benefit) = {_with_ci(r, low, high, 2)} over {int(row['n'])} scenarios, {where}"
    if math.isfinite(low) and low > 0:
        return f"LoI predicted where it paid: {stat}."
    if math.isfinite(high) and high < 0:
        return f"LoI predicted the benefit with the wrong sign (higher LoI, lower benefit): {stat}."
    return f"LoI did not predict the benefit: {stat}, a CI that includes 0."


def _outcome(a: AllocatorSummary) -> str:
    if a.vacuous:
        return "chose the uniform allocation itself (no comparison)"
    if a.beat_uniform:
        return f"beat uniform by {_with_ci(a.gain, a.gain_low, a.gain_high)} {cost_ratio(a.cost, a.uniform_cost)}"
    if a.worse_than_uniform:
        return f"did worse than uniform ({_gain_text(a)})"
    if a.significant:
        return f"passed the t-test but its bootstrap CI includes 0 ({_gain_text(a)})"
    return f"did not differ from uniform ({_gain_text(a)})"


def budget_sentence(games: list[GameSummary], allocation: pd.DataFrame | None, allocator: str | None,
                    reference: str = "sp") -> str:
    """Where the budget should go: the allocation that beat uniform by the most, pooled over every
    game (or in the one game), or that none did; then the config's own allocator's outcome."""
    if allocation is None:
        return "Where the budget should go is not known yet: the allocation stage has not finished."
    pooled = next((g for g in games if g.group == ALL_GAMES), games[0] if len(games) == 1 else None)
    if pooled is None or not pooled.allocators:
        return ""
    game = None if pooled.group == ALL_GAMES else pooled.group
    uniform_rows = allocation[allocation["allocator"] == UNIFORM_ALLOCATOR]
    if game is not None:
        uniform_rows = uniform_rows[uniform_rows["game"] == game]
    uniform = allocation_text(dict(zip(uniform_rows["scenario"], uniform_rows["regime"])), game)
    winners = [a for a in pooled.allocators if a.beat_uniform]
    if winners:
        best = max(winners, key=lambda a: a.gain)
        text = (f"Where the budget should go: as {best.allocator} spent it "
                f"({allocation_text(best.allocation, game)}), which beat the uniform allocation ({uniform}) by "
                f"{_with_ci(best.gain, best.gain_low, best.gain_high)} {cost_ratio(best.cost, best.uniform_cost)}")
        if best.reference_only:
            text += (f"; that is {reference} alone, whose normalised score is 1.000 by construction: population "
                     f"play did not earn its cost here")
    else:
        best = None
        text = (f"Where the budget should go: no allocator beat the uniform allocation ({uniform}), so nothing "
                f"here says to move it")
    chosen = next((a for a in pooled.allocators if a.allocator == allocator), None)
    if chosen is None or chosen is best:
        return text + (f" ({allocator} is the config's allocator)." if chosen is not None else ".")
    return text + f". The config's allocator, {chosen.allocator}, {_outcome(chosen)}."


def certainty_sentence(benefit: pd.DataFrame | None, alpha: float, smoke: bool) -> str:
    """How sure: the size of benefit a scenario resolves (the median half-width of its CI), the
    rule an allocation gain has to pass, and a smoke test's warning."""
    words = []
    rows = _measured_benefits(benefit)
    if len(rows):
        half = ((rows["benefit_ci_high"].astype(float) - rows["benefit_ci_low"].astype(float)) / 2).median()
        if math.isfinite(half):
            words.append(f"How sure: a scenario's benefit CI reaches ±{half:.3f} around its estimate (median over "
                         f"{len(rows)} scenarios), so a smaller benefit would not show")
    rule = (f"an allocation's gain counts when its one-sided p is below {alpha:g} and its bootstrap CI excludes 0, "
            f"on all evaluations")
    text = (words[0] + "; " + rule + ".") if words else ("How sure: " + rule + ".")
    if smoke:
        text += " This is a smoke test (smoke = true): it checks that the stages run, so these numbers are not results."
    return text


def headline(benefit: pd.DataFrame | None, correlation: pd.DataFrame | None, allocation: pd.DataFrame | None,
             games: list[GameSummary], *, allocator: str | None, alpha: float, smoke: bool,
             reference: str = "sp") -> Headline:
    """The report's first lines from the run's tables (no statistic of its own)."""
    return Headline(diversity_sentence(benefit, reference), correlation_sentence(correlation),
                    budget_sentence(games, allocation, allocator, reference),
                    certainty_sentence(benefit, alpha, smoke))


# The tables the headline reads, and the config keys: what export_answer commits for the README.
ANSWER_TABLES = (Table.LOI, Table.ALLOCATION, Table.COMPARISON, Table.BENEFIT, Table.CORRELATION)
ANSWER_CONFIG = ("menu", "allocator", "evaluation", "smoke")
HEADLINE_FILE, ANSWER_CONFIG_FILE = "headline.md", "answer.json"


def _headline_from(tables: dict, config: dict) -> Headline:
    menu = {k: float(v) for k, v in config.get("menu", {}).items()}
    alpha = alpha_of(config)
    games = summarize_run(tables.get(Table.LOI), tables.get(Table.ALLOCATION), tables.get(Table.COMPARISON),
                          menu=menu, alpha=alpha)
    return headline(tables.get(Table.BENEFIT), tables.get(Table.CORRELATION), tables.get(Table.ALLOCATION), games,
                    allocator=config.get("allocator"), alpha=alpha, smoke=is_smoke(config))


def _run_tables(run_dir: str | Path) -> tuple[dict, dict]:
    study = StudyDir(run_dir)
    tables = {t: study.read_table(t) for t in ANSWER_TABLES}
    tables[Table.ALLOCATION] = read_allocations(study.path)  # with the cross-fitted greedy rows
    return tables, study.read_study().get("config", {})


def headline_of_run_dir(run_dir: str | Path) -> Headline:
    """:func:`headline` of whatever stages of ``run_dir`` are finished."""
    return _headline_from(*_run_tables(run_dir))


def headline_of_folder(folder: str | Path) -> Headline:
    """:func:`headline` of the tables :func:`export_answer` wrote to ``folder``."""
    import json

    folder = Path(folder)
    tables = {}
    for table in ANSWER_TABLES:
        path = folder / f"{table}.csv"
        tables[table] = pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else None
        if tables[table] is not None and "note" in tables[table].columns:
            tables[table]["note"] = tables[table]["note"].astype(object).fillna("")
    return _headline_from(tables, json.loads((folder / ANSWER_CONFIG_FILE).read_text()))


def export_answer(run_dir: str | Path, folder: str | Path) -> Headline:
    """Write the tables and config keys the headline reads (CSV, JSON) and the headline itself
    (``headline.md``, rendered back from those files) to ``folder``: the committed source of a
    headline the README quotes, which a test renders again and compares."""
    import json

    from loi.tables.io import atomic_write

    tables, config = _run_tables(run_dir)
    revision = StudyDir(run_dir).read_study().get("versions", {}).get("git")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in tables.items():
        if frame is not None:
            with atomic_write(folder / f"{table}.csv") as tmp:
                frame.to_csv(tmp, index=False)
    with atomic_write(folder / ANSWER_CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps({**{k: config[k] for k in ANSWER_CONFIG if k in config}, "git_revision": revision},
                                  indent=2, sort_keys=True) + "\n")
    result = headline_of_folder(folder)
    with atomic_write(folder / HEADLINE_FILE) as tmp:
        tmp.write_text(headline_markdown(result))
    return result


def headline_markdown(result: Headline) -> str:
    """The headline as the README quotes it: one paragraph per sentence."""
    return "\n\n".join(result.sentences) + "\n"
