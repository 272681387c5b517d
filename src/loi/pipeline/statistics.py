"""Stage 6: the study's statistics from its tables (numpy/scipy/pandas only).

- ANOVA of the fixed-Bob scores across the trained regimes, per scenario;
- benefit of population play per scenario, (mean of the most expensive
  regime - mean SP) / 2 on SP-normalised scores (the paper: (PP5 - SP5) / 2),
  and its Pearson correlation with the LoI across the scenarios of each game;
- every allocation vs the uniform one, on ALL evaluations (Welch, Hedges' g,
  bootstrap CIs), and the paper's truncated top-k protocol as a labelled extra;
- with bots among the held-out Bobs: the benefit of every regime over SP per
  partner kind (held-out SP seeds, bots) and pooled over all Bobs.

A statistic that is undefined on the data (e.g. constant scores, fewer than 3
scenarios for a correlation) is reported as NaN with the reason in ``note``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from loi.allocation import compare_allocations, normalised_scores, unnormalisable
from loi.errors import LoiError
from loi.metrics.stats import one_way_anova, pearson, ratio_of_means, welch_t_test
from loi.tables.schema import EGO, REGIME, SCENARIO
from loi.tables.scores import SCORE, fixed_bob_scores

NAN = float("nan")
PARTNER_KIND = "partner_kind"  # a tournament table's Bob kind (loi.pipeline.evaluate.partner_kinds)
POOLED = "pooled"  # every Bob, whatever its kind


def anova_table(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario: F, p and degrees of freedom across its regimes."""
    rows = []
    for scenario, group in scores.groupby(SCENARIO, sort=True):
        regimes = sorted(group[REGIME].unique())
        row = {"scenario": scenario, "regimes": ",".join(regimes), "f": NAN, "p_value": NAN,
               "df_between": -1, "df_within": -1, "note": ""}
        try:
            result = one_way_anova(*[group.loc[group[REGIME] == r, SCORE].to_numpy() for r in regimes])
            row.update(f=result.statistic, p_value=result.pvalue, df_between=result.df_between,
                       df_within=result.df_within)
        except LoiError as err:
            row["note"] = str(err)
        rows.append(row)
    return pd.DataFrame(rows)


def _ego_means(group: pd.DataFrame, regime: str) -> np.ndarray:
    """One mean score per ego: episodes of one ego are not independent draws, egos are."""
    return group.loc[group[REGIME] == regime].groupby(EGO, observed=True)[SCORE].mean().to_numpy(dtype=float)


def population_benefit(group: pd.DataFrame, regime: str, reference: str = "sp", *,
                       confidence: float = 0.95) -> dict[str, float | int | str]:
    """(mean ``regime`` - mean ``reference``) / 2 on one scenario's raw scores
    (the paper's (PP5 - SP5)/2), and the same relative to the reference mean
    (the SP-normalised benefit), each with an interval over egos: Welch's t for
    the raw difference, Fieller's for the ratio (it carries the SP mean's own
    uncertainty). Each ego's evaluations are averaged first."""
    top, ref = _ego_means(group, regime), _ego_means(group, reference)
    row: dict[str, float | int | str] = {
        "benefit_raw": NAN, "benefit_raw_ci_low": NAN, "benefit_raw_ci_high": NAN,
        "benefit_ci_low": NAN, "benefit_ci_high": NAN, "egos": int(top.size), "reference_egos": int(ref.size),
        "note": ""}
    if top.size < 2 or ref.size < 2:
        row["note"] = (f"an interval needs at least 2 egos of each regime; {regime} has {top.size}, "
                       f"{reference} has {ref.size}")
        if top.size and ref.size:
            row["benefit_raw"] = float(top.mean() - ref.mean()) / 2
        return row
    row["benefit_raw"] = float(top.mean() - ref.mean()) / 2
    if np.ptp(top) > 0 or np.ptp(ref) > 0:
        ci = welch_t_test(top, ref, alternative="two-sided", confidence=confidence).confidence_interval
        row.update(benefit_raw_ci_low=ci.low / 2, benefit_raw_ci_high=ci.high / 2)
    else:
        row.update(benefit_raw_ci_low=row["benefit_raw"], benefit_raw_ci_high=row["benefit_raw"])
    try:
        ratio = ratio_of_means(top, ref, confidence=confidence)
        row.update(benefit_ci_low=(ratio.confidence_interval.low - 1) / 2,
                   benefit_ci_high=(ratio.confidence_interval.high - 1) / 2, note=ratio.note)
    except LoiError as err:
        row["note"] = str(err)
    return row


def benefit_table(scores: pd.DataFrame, loi: Mapping[str, float], games: Mapping[str, str],
                  menu: Mapping[str, float], reference: str = "sp", *, confidence: float = 0.95) -> pd.DataFrame:
    """Per scenario: LoI and the population-play benefit of the most expensive
    trained menu regime over ``reference``: ``benefit`` on SP-normalised scores (its
    interval ``benefit_ci_*``) and ``benefit_raw`` on raw scores, both / 2 (see
    :func:`population_benefit`)."""
    rows = []
    left_out = unnormalisable(scores, reference)  # raw benefit only (their reason in ``note``)
    normalised = normalised_scores(scores[~scores[SCENARIO].isin(list(left_out))], reference)
    for scenario in sorted(scores[SCENARIO].unique()):
        row = {"scenario": scenario, "game": games[scenario], "loi": float(loi[scenario]),
               "regime": "", "benefit": NAN, "benefit_ci_low": NAN, "benefit_ci_high": NAN,
               "benefit_raw": NAN, "benefit_raw_ci_low": NAN, "benefit_raw_ci_high": NAN,
               "egos": 0, "reference_egos": 0, "note": ""}
        raw = scores[scores[SCENARIO] == scenario]
        means = raw.groupby(REGIME)[SCORE].mean()
        others = [r for r in means.index if r != reference and r in menu]  # extra regimes: not allocated
        if not others:
            row["note"] = "only the reference regime was trained"
        else:
            top = max(others, key=lambda r: (menu.get(r, math.inf), r))
            row.update(regime=top)
            row.update(population_benefit(raw, top, reference, confidence=confidence))
            if scenario in left_out:
                row.update(benefit_ci_low=NAN, benefit_ci_high=NAN, note=left_out[scenario])
            else:
                ratio = normalised[normalised[SCENARIO] == scenario].groupby(REGIME)[SCORE].mean()
                row["benefit"] = float(ratio[top] - ratio[reference]) / 2
        rows.append(row)
    return pd.DataFrame(rows)


def partner_benefit_table(tournament: pd.DataFrame, reference: str = "sp", *,
                          confidence: float = 0.95) -> pd.DataFrame:
    """Per scenario, partner kind and regime other than ``reference``: that regime's benefit
    over ``reference`` with the Bobs of one kind only (the tournament's ``partner_kind``
    column; each ego's return averaged over that kind's Bobs first, as the scores are), then
    with all of them (kind ``pooled``, the study's scores). ``benefit`` is on scores
    normalised by the reference's mean of the same Bobs, both / 2 as in
    :func:`population_benefit`, whose intervals (Fieller's over egos for the normalised
    benefit, Welch's for the raw one) it carries."""
    if PARTNER_KIND not in tournament.columns:
        raise LoiError(f"a tournament table needs a {PARTNER_KIND!r} column to split the benefit by partner")
    kinds = sorted(tournament[PARTNER_KIND].unique())
    subsets = [(kind, tournament[tournament[PARTNER_KIND] == kind]) for kind in kinds]
    subsets.append((POOLED, tournament))
    rows = []
    for kind, subset in subsets:
        scores = fixed_bob_scores(subset)
        left_out = unnormalisable(scores, reference)
        for scenario, group in scores.groupby(SCENARIO, sort=True):
            means = group.groupby(REGIME)[SCORE].mean()
            bobs = int(subset.loc[subset[SCENARIO] == scenario, "coplayer"].nunique())
            for regime in sorted(r for r in means.index if r != reference):
                row = {"scenario": scenario, PARTNER_KIND: kind, "regime": regime, "bobs": bobs, "benefit": NAN,
                       "benefit_ci_low": NAN, "benefit_ci_high": NAN}
                if reference not in means.index:
                    row["note"] = f"no {reference} egos"
                elif scenario in left_out:
                    row.update(population_benefit(group, regime, reference, confidence=confidence))
                    row.update(benefit_ci_low=NAN, benefit_ci_high=NAN, note=left_out[scenario])
                else:
                    row["benefit"] = float(means[regime] / means[reference] - 1) / 2
                    row.update(population_benefit(group, regime, reference, confidence=confidence))
                rows.append(row)
    columns = ["scenario", PARTNER_KIND, "regime", "bobs", "benefit", "benefit_ci_low", "benefit_ci_high",
               "benefit_raw", "benefit_raw_ci_low", "benefit_raw_ci_high", "egos", "reference_egos", "note"]
    return pd.DataFrame(rows, columns=columns).sort_values("scenario", kind="stable", ignore_index=True)


def correlation_table(benefit: pd.DataFrame) -> pd.DataFrame:
    """Pearson r(LoI, benefit) across the scenarios of each game, and pooled
    over every scenario (game ``all``)."""
    rows = []
    groups = [(game, group) for game, group in benefit.groupby("game", sort=True)]
    if len(groups) > 1:
        groups.append(("all", benefit))
    for game, group in groups:
        group = group[np.isfinite(group["benefit"])]
        row = {"game": game, "r": NAN, "p_value": NAN, "ci_low": NAN, "ci_high": NAN, "n": len(group), "note": ""}
        if len(group) < 3:  # pearson's own message names its arguments, not the scenarios
            row["note"] = (f"a correlation needs at least 3 scenarios with a measured benefit; "
                           f"{game} has {len(group)}")
            rows.append(row)
            continue
        try:
            result = pearson(group["loi"].to_numpy(), group["benefit"].to_numpy())
            row.update(r=result.statistic, p_value=result.pvalue, ci_low=result.confidence_interval.low,
                       ci_high=result.confidence_interval.high)
        except LoiError as err:
            row["note"] = str(err)
        rows.append(row)
    return pd.DataFrame(rows)


def score_summary_table(scores: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per (scenario, regime): evaluations, egos, mean score, sd, and the t-interval
    of the mean, each evaluation counted as an independent draw (as the allocation
    comparison's Welch test counts them; evaluations of one ego are not fully
    independent, so the interval is a lower bound on the uncertainty)."""
    import scipy.stats

    rows = []
    for (scenario, regime), group in scores.groupby([SCENARIO, REGIME], sort=True):
        values = group[SCORE].to_numpy(dtype=float)
        n, mean = len(values), float(values.mean())
        sd = float(values.std(ddof=1)) if n > 1 else NAN
        half = float(scipy.stats.t.ppf((1 + confidence) / 2, n - 1) * sd / math.sqrt(n)) if n > 1 else NAN
        rows.append({"scenario": scenario, "regime": regime, "n": n, "egos": int(group["ego"].nunique()),
                     "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half})
    return pd.DataFrame(rows)


def comparison_table(scores: pd.DataFrame, allocations: pd.DataFrame, games: Mapping[str, str], *, uniform: str,
                     top: int,
                     confidence: float, seed: int, resamples: int = 2000, reference: str = "sp") -> pd.DataFrame:
    """Every allocator's allocation vs ``uniform``, pooled over all scenarios
    (group ``all``) and per game; protocol ``all`` (default) and ``top{k}``."""
    rows = []
    trained = set(zip(scores[SCENARIO], scores[REGIME]))
    left_out = unnormalisable(scores, reference)
    dropped = f"left out ({'; '.join(f'{s}: {why}' for s, why in left_out.items())})" if left_out else ""
    for allocator, chosen in allocations[allocations["allocator"] != "uniform"].groupby("allocator", sort=True):
        mapping = {s: r for s, r in zip(chosen["scenario"], chosen["regime"]) if s not in left_out}
        if not mapping:
            continue
        groups = {"all": mapping}
        for game in sorted({games[s] for s in mapping}):
            groups[game] = {s: r for s, r in mapping.items() if games[s] == game}
        for group, allocation in groups.items():
            for protocol_top in (None, top):
                row = {"allocator": allocator, "group": group,
                       "protocol": "all" if protocol_top is None else f"top{protocol_top}",
                       "uniform": NAN, "heuristic": NAN, "difference": NAN, "difference_ci_low": NAN,
                       "difference_ci_high": NAN, "effect_size": NAN, "ci_low": NAN, "ci_high": NAN,
                       "p_value": NAN, "n_heuristic": 0, "n_uniform": 0,
                       "note": dropped if group == "all" else ""}  # a left-out scenario's game has no group
                missing = [f"{s}:{r}" for s, r in allocation.items() if (s, r) not in trained]
                if missing:
                    row["note"] = "; ".join(filter(None, [f"not trained: {', '.join(missing)}", row["note"]]))
                    rows.append(row)
                    continue
                subset = scores[scores[SCENARIO].isin(list(allocation))]
                try:
                    c = compare_allocations(subset, allocation, uniform=uniform, reference=reference,
                                            top=protocol_top, confidence=confidence, resamples=resamples,
                                            seed=seed)
                    row.update(uniform=c.uniform_mean, heuristic=c.heuristic_mean,
                               difference=c.difference.statistic,
                               difference_ci_low=c.difference.confidence_interval.low,
                               difference_ci_high=c.difference.confidence_interval.high,
                               effect_size=c.hedges_g.statistic, ci_low=c.hedges_g.confidence_interval.low,
                               ci_high=c.hedges_g.confidence_interval.high, p_value=c.pvalue,
                               n_heuristic=c.n_heuristic, n_uniform=c.n_uniform)
                except LoiError as err:
                    row["note"] = "; ".join(filter(None, [str(err), row["note"]]))
                rows.append(row)
    return pd.DataFrame(rows)
