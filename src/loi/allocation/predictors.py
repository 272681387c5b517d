"""Which interaction metric predicts where diversity pays off: the predictor comparison.

Given per-scenario metric values and per-scenario diversity benefits (e.g. (PP5 - SP5) / 2 of a
study, or of the authors' tournaments), :func:`compare_predictors` answers, per metric:

- **correlation with the benefit**, Pearson and Spearman, within each game and pooled over games.
  The pooled values use only each game's internal ordering: Spearman on ranks taken within each
  game and centred per game, Pearson on values standardised within each game (z-scores). A
  metric's level differs between games for reasons unrelated to the benefit (the paper warns LoI
  is not comparable across games), and so does the benefit's; pooling raw values would let those
  level differences make or break the correlation. The price: between-game information is
  discarded, so the pooled value says whether the metric orders the scenarios *of a game* as the
  benefit does, nothing about which game to favour. Intervals: percentile bootstrap over scenarios
  (resampled within game; resamples whose metric or benefit is constant are left out, counted in
  ``used``); p-values: permutations of the benefits within game (exact when all of them are few,
  else Monte Carlo), two-sided. With 4 scenarios per game, a per-game p cannot go below 1/12 and
  its interval is wide: that is the data's size, not the method's.
- **allocation gain over uniform**, when the metric drives the greedy allocator cross-fitted
  across games (:func:`loi.allocation.greedy.crossfit_greedy`: each game allocated with
  score-vs-metric lines fitted on the other games only), compared with the uniform allocation on
  all evaluations (:func:`loi.allocation.compare_allocations`: SP-normalised scores, Welch,
  bootstrap CI of the difference), pooled over games and per game. With ``transform="rank"``
  (default) the lines are fitted on within-game ranks scaled to [0, 1], for the same reason the
  pooled correlation uses them; ``"raw"`` fits on the values (as the study's ``greedy_crossfit``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from loi.allocation.compare import compare_allocations, normalised_scores, unnormalisable
from loi.allocation.greedy import crossfit_greedy
from loi.allocation.menu import DEFAULT_MENU, validate_menu
from loi.errors import LoiError
from loi.tables.schema import REGIME, SCENARIO
from loi.tables.scores import SCORE

POOLED = "pooled"  # the group name of the pooled (within-game) correlation and the all-games gain
METHODS = ("pearson", "spearman")
TRANSFORMS = ("rank", "raw")
CORRELATION_COLUMNS = ("metric", "group", "method", "r", "ci_low", "ci_high", "p_value", "n", "used", "note")
GAIN_COLUMNS = ("metric", "group", "difference", "ci_low", "ci_high", "p_value", "heuristic", "uniform",
                "n_heuristic", "n_uniform", "note")
ALLOCATION_COLUMNS = ("metric", "game", "scenario", "value", "regime")
# Exact permutation p-values when the within-game permutations number at most this.
EXACT_PERMUTATIONS = 50_000


@dataclass(frozen=True)
class PredictorComparison:
    """The comparison's three tables (pandas), one row per (metric, group, ...).

    ``correlations``: ``CORRELATION_COLUMNS``, group = a game or ``"pooled"``; ``method`` pearson
    or spearman; ``used``: bootstrap resamples with a defined correlation. ``gains``:
    ``GAIN_COLUMNS`` (heuristic minus uniform on SP-normalised scores, Welch one-sided p), group
    ``"pooled"`` (all games) or a game; empty without ``scores``. ``allocations``: the cross-fitted
    greedy allocation per metric (``ALLOCATION_COLUMNS``).
    """

    correlations: pd.DataFrame
    gains: pd.DataFrame
    allocations: pd.DataFrame
    transform: str
    confidence: float

    def to_json(self) -> dict:
        """JSON-ready (nan -> None): ``{"transform", "confidence", "correlations": [...],
        "gains": [...], "allocations": [...]}``, each a list of records."""
        def records(frame: pd.DataFrame) -> list[dict]:
            return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
                    for row in frame.to_dict("records")]

        return {"transform": self.transform, "confidence": self.confidence,
                "correlations": records(self.correlations), "gains": records(self.gains),
                "allocations": records(self.allocations)}


# ----------------------------------------------------------------------------- inputs


def metric_values(metrics) -> dict[str, dict[str, float]]:
    """metric -> scenario -> value, from a mapping or the long metrics table (its ``score``)."""
    if isinstance(metrics, pd.DataFrame):
        for column in ("scenario", "metric", "score"):
            if column not in metrics.columns:
                raise LoiError(f"the metrics table has no {column!r} column")
        out: dict[str, dict[str, float]] = {}
        for row in metrics.itertuples(index=False):
            out.setdefault(str(row.metric), {})[str(row.scenario)] = float(row.score)
        return out
    return {str(m): {str(s): float(v) for s, v in values.items()} for m, values in metrics.items()}


def _within_game_ranks(values: np.ndarray, game_codes: np.ndarray) -> np.ndarray:
    """Average ranks within each game, centred on the game's mean rank (last axis)."""
    out = np.empty_like(values, dtype=np.float64)
    for code in np.unique(game_codes):
        cols = game_codes == code
        ranks = scipy.stats.rankdata(values[..., cols], axis=-1)
        out[..., cols] = ranks - ranks.mean(axis=-1, keepdims=True)
    return out


def _within_game_z(values: np.ndarray, game_codes: np.ndarray) -> np.ndarray:
    out = np.empty_like(values, dtype=np.float64)
    for code in np.unique(game_codes):
        cols = game_codes == code
        part = values[..., cols]
        sd = part.std(axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[..., cols] = np.where(sd > 0, (part - part.mean(axis=-1, keepdims=True)) / sd, np.nan)
    return out


def _rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis; nan where either row is constant (or holds nan)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((xc**2).sum(axis=-1) * (yc**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=-1) / denominator
    return np.where(denominator > 1e-12 * np.maximum(1.0, np.abs(x).max(axis=-1) * np.abs(y).max(axis=-1)), r,
                    np.nan)


def _correlation(x: np.ndarray, y: np.ndarray, codes: np.ndarray, method: str) -> np.ndarray:
    """The correlation of ``x`` and ``y`` (last axis) after the within-game transform of ``method``."""
    if len(np.unique(codes)) == 1 and method == "pearson":
        return _rowwise_pearson(x, y)  # one game: plain Pearson (z-scoring would not change it)
    transform = _within_game_ranks if method == "spearman" else _within_game_z
    return _rowwise_pearson(transform(x, codes), transform(y, codes))


def _within_game_permutations(codes: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Index arrays ``(m, n)`` permuting positions within each game: all of them when there are at
    most ``EXACT_PERMUTATIONS``, else ``size`` uniform draws (the identity first)."""
    groups = [np.flatnonzero(codes == c) for c in np.unique(codes)]
    count = math.prod(math.factorial(len(g)) for g in groups)
    n = len(codes)
    if count <= EXACT_PERMUTATIONS:
        per_group = [list(itertools.permutations(g)) for g in groups]
        out = np.empty((count, n), dtype=np.int64)
        for row, choice in enumerate(itertools.product(*per_group)):
            for group, order in zip(groups, choice):
                out[row, group] = order
        return out
    out = np.tile(np.arange(n), (size + 1, 1))
    for group in groups:
        out[1:, group] = rng.permuted(np.broadcast_to(group, (size, len(group))), axis=1)
    return out


def _correlation_row(metric: str, group: str, method: str, x: np.ndarray, y: np.ndarray, codes: np.ndarray, *,
                     confidence: float, resamples: int, permutations: int, rng: np.random.Generator) -> dict:
    row = {"metric": metric, "group": group, "method": method, "r": np.nan, "ci_low": np.nan, "ci_high": np.nan,
           "p_value": np.nan, "n": int(len(x)), "used": 0, "note": ""}
    smallest = min(np.count_nonzero(codes == c) for c in np.unique(codes))
    if smallest < 3:
        row["note"] = f"a correlation needs at least 3 scenarios per game; the smallest game has {smallest}"
        return row
    r = float(_correlation(x[None], y[None], codes, method)[0])
    if not np.isfinite(r):
        row["note"] = "undefined: the metric or the benefit is constant within a game"
        return row
    row["r"] = r
    # Bootstrap: scenarios resampled with replacement within each game.
    index = np.empty((resamples, len(x)), dtype=np.int64)
    for c in np.unique(codes):
        cols = np.flatnonzero(codes == c)
        index[:, cols] = cols[rng.integers(0, len(cols), size=(resamples, len(cols)))]
    draws = _correlation(x[index], y[index], codes, method)
    finite = draws[np.isfinite(draws)]
    row["used"] = int(finite.size)
    if finite.size:
        tail = (1.0 - confidence) / 2.0
        row["ci_low"], row["ci_high"] = (float(v) for v in np.quantile(finite, [tail, 1.0 - tail]))
    order = _within_game_permutations(codes, rng, permutations)
    null = _correlation(np.broadcast_to(x, order.shape), y[order], codes, method)
    row["p_value"] = float(np.mean(np.abs(null) >= abs(r) - 1e-12))
    return row


# ----------------------------------------------------------------------------- allocation gain


def _fit_values(values: Mapping[str, float], games: Mapping[str, str], transform: str) -> dict[str, float]:
    if transform == "raw":
        return dict(values)
    out = {}
    for game in sorted({games[s] for s in values}):
        names = sorted(s for s in values if games[s] == game)
        ranks = scipy.stats.rankdata([values[s] for s in names])
        scale = max(len(names) - 1, 1)
        out.update({s: float((rank - 1) / scale) for s, rank in zip(names, ranks)})
    return out


def _gain_row(metric: str, group: str, scores: pd.DataFrame, allocation: Mapping[str, str], uniform: str,
              reference: str, confidence: float, resamples: int, seed: int) -> dict:
    row = {"metric": metric, "group": group, "difference": np.nan, "ci_low": np.nan, "ci_high": np.nan,
           "p_value": np.nan, "heuristic": np.nan, "uniform": np.nan, "n_heuristic": 0, "n_uniform": 0, "note": ""}
    if all(regime == uniform for regime in allocation.values()):
        row["note"] = "same allocation as uniform"
        row["difference"] = 0.0
        return row
    subset = scores[scores[SCENARIO].isin(list(allocation))]
    try:
        c = compare_allocations(subset, allocation, uniform=uniform, reference=reference, confidence=confidence,
                                resamples=resamples, seed=seed)
    except LoiError as err:
        row["note"] = str(err)
        return row
    low, high = c.difference.confidence_interval
    row.update(difference=c.difference.statistic, ci_low=low, ci_high=high, p_value=c.pvalue,
               heuristic=c.heuristic_mean, uniform=c.uniform_mean, n_heuristic=c.n_heuristic,
               n_uniform=c.n_uniform)
    return row


# ----------------------------------------------------------------------------- the comparison


def compare_predictors(metrics: Mapping[str, Mapping[str, float]] | pd.DataFrame, benefit: Mapping[str, float],
                       games: Mapping[str, str], *, scores: pd.DataFrame | None = None,
                       menu: Mapping[str, float] = DEFAULT_MENU, uniform: str = "pp3", reference: str = "sp",
                       budget: Mapping[str, float] | float | None = None, transform: str = "rank",
                       confidence: float = 0.95, resamples: int = 2000, permutations: int = 10_000,
                       comparison_resamples: int = 2000, seed: int = 0) -> PredictorComparison:
    """Compare interaction metrics as predictors of the diversity benefit (module docstring).

    Parameters
    ----------
    metrics:
        ``{metric: {scenario: value}}``, or the long metrics table (``loi.metrics.METRIC_COLUMNS``:
        its ``score`` column, the null-corrected value, is used). Scenarios without a finite
        value for a metric are left out of that metric's rows.
    benefit:
        ``{scenario: benefit}``, e.g. (mean PP5 - mean SP5) / 2 after averaging over Bobs.
    games:
        ``{scenario: game}``; correlations are per game and pooled within game.
    scores:
        Optional per-evaluation scores (``scenario``, ``regime``, ``score``: ``loi.tables.
        fixed_bob_scores``) with every ``menu`` regime in every scenario: then the cross-fitted
        greedy allocation gain over ``uniform`` is computed per metric (needs 2+ games).
    menu, uniform, reference:
        The regimes and their costs, the uniform baseline regime, and the regime scores are
        normalised by (its mean per scenario): ``sp`` / ``pp3`` / ``pp5`` at 1 / 3 / 5 by default;
        ``loi paper`` passes the authors' names (``loi.tables.AUTHORS_MENU``: SP5 / PP3 / PP5).
    budget:
        Per game (mapping) or the same for every game; default the uniform regime's cost times the
        game's scenarios (the uniform allocation's cost).
    transform:
        ``"rank"`` (default) or ``"raw"``: what the greedy lines are fitted on (module docstring).
    confidence, resamples, permutations, comparison_resamples, seed:
        Interval level; bootstrap resamples and permutations of the correlations; bootstrap
        resamples of each allocation comparison; the seed of every draw (same seed, same result).

    Returns
    -------
    PredictorComparison
        ``.correlations``, ``.gains``, ``.allocations`` (pandas), ``.to_json()``.
    """
    if transform not in TRANSFORMS:
        raise LoiError(f"unknown transform {transform!r}; expected one of {', '.join(TRANSFORMS)}")
    if not 0.0 < confidence < 1.0:
        raise LoiError(f"confidence must be in (0, 1), got {confidence}")
    for name, value in (("resamples", resamples), ("permutations", permutations),
                        ("comparison_resamples", comparison_resamples)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise LoiError(f"{name} must be a positive integer, got {value!r}")
    values_by_metric = metric_values(metrics)
    if not values_by_metric:
        raise LoiError("no metric values to compare")
    benefit = {str(s): float(v) for s, v in benefit.items() if np.isfinite(v)}
    games = {str(s): str(g) for s, g in games.items()}
    menu = validate_menu(menu)
    rng = np.random.default_rng(seed)
    correlation_rows, gain_rows, allocation_rows = [], [], []
    for metric, values in values_by_metric.items():
        names = sorted(s for s, v in values.items() if np.isfinite(v) and s in benefit)
        missing = [s for s in names if s not in games]
        if missing:
            raise LoiError(f"scenario {missing[0]!r} has no game")
        x = np.array([values[s] for s in names])
        y = np.array([benefit[s] for s in names])
        game_of = [games[s] for s in names]
        codes = pd.factorize(pd.Series(game_of), sort=True)[0]
        groups = [(game, codes == code) for code, game in enumerate(sorted(set(game_of)))]
        if len(groups) > 1:
            groups.append((POOLED, np.ones(len(names), dtype=bool)))
        for group, mask in groups:
            for method in METHODS:
                correlation_rows.append(_correlation_row(metric, group, method, x[mask], y[mask], codes[mask],
                                                         confidence=confidence, resamples=resamples,
                                                         permutations=permutations, rng=rng))
        if scores is None or len(set(game_of)) < 2:
            continue
        ratio_scale = set(scores[SCENARIO]) - set(unnormalisable(scores, reference))
        scored = {s: values[s] for s in sorted(s for s, v in values.items() if np.isfinite(v)) if s in ratio_scale}
        per_game = {g: sum(1 for s in scored if games[s] == g) for g in {games[s] for s in scored}}
        game_budget = budget if budget is not None else {g: menu[uniform] * n for g, n in per_game.items()}
        normalised = normalised_scores(scores[scores[SCENARIO].isin(list(scored))], reference)
        means = normalised.groupby([SCENARIO, REGIME], sort=True)[SCORE].mean()
        allocation = crossfit_greedy(_fit_values(scored, games, transform), means.to_dict(), games, game_budget,
                                     menu, metric=metric)
        allocation_rows += [{"metric": metric, "game": games[s], "scenario": s, "value": scored[s], "regime": r}
                            for s, r in allocation.items()]
        gain_rows.append(_gain_row(metric, POOLED, scores, allocation, uniform, reference, confidence,
                                   comparison_resamples, seed))
        for game in sorted(per_game):
            part = {s: r for s, r in allocation.items() if games[s] == game}
            gain_rows.append(_gain_row(metric, game, scores, part, uniform, reference, confidence,
                                       comparison_resamples, seed))
    return PredictorComparison(
        correlations=pd.DataFrame(correlation_rows, columns=list(CORRELATION_COLUMNS)),
        gains=pd.DataFrame(gain_rows, columns=list(GAIN_COLUMNS)),
        allocations=pd.DataFrame(allocation_rows, columns=list(ALLOCATION_COLUMNS)),
        transform=transform, confidence=float(confidence))
