"""Heuristic vs uniform allocation, compared on fixed-Bob generalization scores."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.special
import scipy.stats

from loi.errors import LoiError
from loi.metrics.result import ConfidenceInterval
from loi.metrics.stats import EffectResult, TTestResult, hedges_g, mean_difference, student_t_test, welch_t_test
from loi.tables.schema import REGIME, SCENARIO
from loi.tables.scores import SCORE

ALL = "all"
TOP = "top"  # the paper's protocol: keep only the top-k scores per scenario and regime
POOLED, BALANCED = "pooled", "scenario"  # weighting of the scenarios inside each group


@dataclass(frozen=True)
class AllocationComparison:
    """Normalised scores of the heuristic allocation vs the uniform one.

    ``difference`` and ``hedges_g`` are heuristic minus uniform with bootstrap
    CIs; ``test`` is one-sided (heuristic > uniform): Welch for the ``all``
    protocol, Student for the paper's ``top{k}`` protocol. With
    ``weighting="scenario"`` every scenario counts equally in each group's
    mean (see :func:`compare_allocations`).
    """

    protocol: str
    weighting: str
    heuristic_mean: float
    uniform_mean: float
    difference: EffectResult
    hedges_g: EffectResult
    test: TTestResult
    n_heuristic: int
    n_uniform: int

    @property
    def pvalue(self) -> float:
        return self.test.pvalue


def unnormalisable(scores: pd.DataFrame, reference: str = "sp") -> dict[str, str]:
    """Scenario -> why its scores cannot be divided by ``reference``'s mean score, for every
    scenario that cannot. A ratio to the reference's mean means something only on a ratio scale:
    scores that cannot go below 0 and a reference mean above 0. A scenario with any score below 0
    (a zero-sum game such as running with scissors, whose SP mean is 0 up to noise: dividing by it
    gives benefits of any size) or without a positive reference mean is left out of every
    SP-normalised statistic; its raw benefit stays."""
    reasons = {}
    for scenario, group in scores.groupby(SCENARIO, sort=True, observed=True):
        values = group[SCORE].to_numpy(dtype=float)
        ref = group.loc[group[REGIME] == reference, SCORE].to_numpy(dtype=float)
        if (values < 0).any():
            reasons[str(scenario)] = "scores below 0 (not a ratio scale): no SP-normalised score"
        elif ref.size == 0:
            reasons[str(scenario)] = f"no {reference} scores to normalise by"
        elif not ref.mean() > 0:
            reasons[str(scenario)] = f"the {reference} mean score is 0: no SP-normalised score"
    return reasons


def normalised_scores(scores: pd.DataFrame, reference: str = "sp") -> pd.DataFrame:
    """Divide every score by the mean score of ``reference`` in its scenario."""
    for column in (SCENARIO, REGIME, SCORE):
        if column not in scores.columns:
            raise LoiError(f"scores table is missing column {column!r}")
    ref = scores[scores[REGIME] == reference].groupby(SCENARIO, observed=True)[SCORE].mean()
    missing = sorted(set(scores[SCENARIO]) - set(ref.index))
    if missing:
        raise LoiError(f"scenario {missing[0]!r} has no {reference} scores to normalise by")
    if (ref == 0).any():
        raise LoiError(f"scenario {ref.index[(ref == 0).to_numpy()][0]!r} has a {reference} mean of 0")
    out = scores.copy()
    out[SCORE] = out[SCORE] / out[SCENARIO].map(ref).to_numpy(dtype=np.float64)
    return out


def _cells(scores: pd.DataFrame, regime_of: Mapping[str, str], top: int | None, what: str) -> list[np.ndarray]:
    cells = []
    for scenario, regime in regime_of.items():
        values = scores.loc[(scores[SCENARIO] == scenario) & (scores[REGIME] == regime), SCORE].to_numpy()
        if values.size < 2:
            raise LoiError(f"{'no' if values.size == 0 else 'only one'} {regime} score(s) for scenario "
                           f"{scenario!r} ({what} group)")
        cells.append(np.sort(values)[::-1][:top] if top is not None else values)
    return cells


def compare_allocations(scores: pd.DataFrame, allocation: Mapping[str, str], *, uniform: str = "pp3",
                        reference: str = "sp", top: int | None = None, weighting: str = POOLED,
                        confidence: float = 0.95, resamples: int = 10_000, seed: int = 0) -> AllocationComparison:
    """Compare ``allocation`` (scenario -> regime) against ``uniform`` in every
    scenario, on scores normalised per scenario by the ``reference`` mean.

    ``scores``: one row per evaluation with ``scenario``, ``regime``, ``score``
    (see ``loi.tables.fixed_bob_scores``). Default: ALL evaluations pooled,
    one-sided Welch t-test. ``top=k`` reproduces the paper's protocol instead
    (keep the k highest scores per scenario and regime in each group,
    one-sided Student t-test); the result's ``protocol`` is then ``top{k}``.

    ``weighting="pooled"`` (the paper's) pools evaluations, so a scenario
    weighs by its evaluation count — with the paper's tensors an SP5 scenario
    brings 100 scores (normalised mean exactly 1) against 30 for PP3, which
    pulls the heuristic's mean towards 1. (The paper's tensors name their regimes SP5 / PP3 /
    PP5: ``loi paper`` passes those names as ``uniform`` and ``reference``.) ``weighting="scenario"`` gives each
    scenario equal weight: group mean = mean of scenario means, one-sided
    Welch-Satterthwaite t-test for that contrast of independent cell means,
    bootstrap CIs resampling within each scenario x regime cell, Hedges' g
    standardised by the pooled within-cell SD.
    """
    if not allocation:
        raise LoiError("the allocation is empty")
    if top is not None and top < 2:
        raise LoiError(f"top must be >= 2, got {top}")
    if weighting not in (POOLED, BALANCED):
        raise LoiError(f"unknown weighting {weighting!r}; expected {POOLED!r} or {BALANCED!r}")
    normalised = normalised_scores(scores, reference)
    heuristic = _cells(normalised, dict(allocation), top, "heuristic")
    baseline = _cells(normalised, {s: uniform for s in allocation}, top, "uniform")
    protocol = ALL if top is None else f"{TOP}{top}"
    if weighting == BALANCED:
        return _balanced(heuristic, baseline, protocol, confidence, resamples, seed)
    h, u = np.concatenate(heuristic), np.concatenate(baseline)
    test = (student_t_test if top is not None else welch_t_test)(h, u, alternative="greater", confidence=confidence)
    return AllocationComparison(
        protocol=protocol,
        weighting=POOLED,
        heuristic_mean=float(h.mean()),
        uniform_mean=float(u.mean()),
        difference=mean_difference(h, u, confidence=confidence, resamples=resamples, seed=seed),
        hedges_g=hedges_g(h, u, confidence=confidence, resamples=resamples, seed=seed),
        test=test,
        n_heuristic=int(h.size),
        n_uniform=int(u.size),
    )


def _balanced_stats(heuristic: list[np.ndarray], baseline: list[np.ndarray]):
    """(difference of mean-of-means, Hedges' g) along the last axis of each cell."""
    k = len(heuristic)
    diff = sum(c.mean(axis=-1) for c in heuristic) / k - sum(c.mean(axis=-1) for c in baseline) / k
    cells = heuristic + baseline
    dof = sum(c.shape[-1] - 1 for c in cells)
    pooled_sd = np.sqrt(sum((c.shape[-1] - 1) * c.var(axis=-1, ddof=1) for c in cells) / dof)
    j = np.exp(scipy.special.gammaln(dof / 2) - scipy.special.gammaln((dof - 1) / 2)) / np.sqrt(dof / 2)
    return diff, j * diff / pooled_sd


def _balanced(heuristic, baseline, protocol, confidence, resamples, seed) -> AllocationComparison:
    if not 0.0 < confidence < 1.0:
        raise LoiError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise LoiError(f"resamples must be >= 1, got {resamples}")
    k = len(heuristic)
    cells = heuristic + baseline
    diff, g = _balanced_stats(heuristic, baseline)
    if not np.isfinite(g):
        raise LoiError("every score cell is constant; the comparison is undefined")
    # Contrast sum_c w_c mean_c with w = +1/k (heuristic), -1/k (uniform): Welch-Satterthwaite.
    parts = np.array([c.var(ddof=1) / c.size / k**2 for c in cells])
    sizes = np.array([c.size for c in cells])
    se = float(np.sqrt(parts.sum()))
    df = float(parts.sum() ** 2 / np.sum(parts**2 / (sizes - 1))) if se > 0 else np.inf
    t = float(diff / se) if se > 0 else np.inf * np.sign(diff)
    test = TTestResult(t, float(scipy.stats.t.sf(t, df)), df, "greater", False,
                       ConfidenceInterval(float(diff - scipy.stats.t.ppf(confidence, df) * se), float("inf")))
    # Stratified bootstrap: resample within every scenario x regime cell, percentile interval.
    rng = np.random.default_rng(seed)
    draws = [c[rng.integers(0, c.size, size=(resamples, c.size))] for c in cells]
    with np.errstate(divide="ignore", invalid="ignore"):  # a constant resample gives g = nan, skipped
        boot_diff, boot_g = _balanced_stats(draws[:k], draws[k:])
    alpha = (1 - confidence) / 2

    def interval(values: np.ndarray) -> ConfidenceInterval:
        low, high = np.nanquantile(values, [alpha, 1 - alpha])
        return ConfidenceInterval(float(low), float(high))

    return AllocationComparison(
        protocol=protocol,
        weighting=BALANCED,
        heuristic_mean=float(np.mean([c.mean() for c in heuristic])),
        uniform_mean=float(np.mean([c.mean() for c in baseline])),
        difference=EffectResult(float(diff), interval(boot_diff), "percentile (stratified)", int(resamples)),
        hedges_g=EffectResult(float(g), interval(boot_g), "percentile (stratified)", int(resamples)),
        test=test,
        n_heuristic=int(sum(c.size for c in heuristic)),
        n_uniform=int(sum(c.size for c in baseline)),
    )
