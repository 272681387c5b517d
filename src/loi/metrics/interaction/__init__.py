"""Interaction metrics: one family, one interface, one long table.

Every metric is a file of this package registered in :mod:`.registry` with what it needs (a reward
table, rollouts, both policies) and returns :class:`loi.metrics.result.MetricResult` objects
(``.statistic``, ``.confidence_interval``, ``.null_mean``, ``.pvalue``, ``.score``). Table metrics:
``loi``, ``eta2``, ``icc``, ``xp_gap`` (outputs ``xp_gap`` and ``xp_gap_relative``); rollout metrics
(statistics here, rollouts in ``loi.evaluation.rollout_metrics``): ``social_influence``,
``action_mi``. :func:`measure_metrics` measures table metrics on every scenario of a reward table
into one long table (:data:`METRIC_COLUMNS`), one row per scenario and metric output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from loi.errors import LoiError
# Importing a metric's file registers it; this order is the order of metric_names().
from loi.metrics.interaction import level_of_influence  # noqa: I001
from loi.metrics.interaction import eta2, icc, xp_gap  # noqa: F401
from loi.metrics.interaction import social_influence  # noqa: F401
from loi.metrics.interaction import action_mi  # noqa: F401
from loi.metrics.interaction.rollout import RolloutRecord
from loi.metrics.interaction.registry import (NEEDS, POLICIES, ROLLOUTS, TABLE, InteractionMetric, get_metric,
                                              metric_names, register, table_metric)
from loi.metrics.result import LoIResult, MetricResult
from loi.tables.schema import SCENARIO, validate_table

# Columns of the long metrics table (``loi measure --metric``, a study's ``metrics`` table).
METRIC_COLUMNS: tuple[str, ...] = (
    "scenario", "metric", "statistic", "ci_low", "ci_high", "null_mean", "corrected", "corrected_ci_low",
    "corrected_ci_high", "score", "p_value", "episodes", "blocks", "method", "note",
)


def metric_record(scenario: str, result: MetricResult) -> dict:
    """One result as a row of the long metrics table (nan where not computed)."""
    low, high = result.confidence_interval
    corrected_low, corrected_high = result.corrected_confidence_interval
    return {"scenario": scenario, "metric": result.metric, "statistic": float(result.statistic),
            "ci_low": float(low), "ci_high": float(high), "null_mean": float(result.null_mean),
            "corrected": float(result.corrected), "corrected_ci_low": float(corrected_low),
            "corrected_ci_high": float(corrected_high), "score": float(result.score),
            "p_value": float(result.pvalue), "episodes": int(result.n_episodes), "blocks": int(result.n_blocks),
            "method": result.method, "note": result.note}


def metric_rows(results: Sequence[tuple[str, MetricResult]]) -> pd.DataFrame:
    """``(scenario, result)`` pairs as the long metrics table."""
    return pd.DataFrame([metric_record(s, r) for s, r in results], columns=list(METRIC_COLUMNS))


def measure_metrics(table: pd.DataFrame, metrics: Sequence[str] | None = None, *, permutations: int = 1000,
                    bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0, estimator: str | None = None,
                    workers: int | None = 1, progress: Callable[[int, int], None] | None = None,
                    loi_results: Mapping[str, LoIResult] | None = None, **loi_options) -> pd.DataFrame:
    """Table metrics of every scenario of a reward table, as the long metrics table.

    ``metrics``: names (``loi``, ``eta2``, ``icc``, ``xp_gap``); a named metric the data cannot
    give (``xp_gap`` without own-partner rows) is an error. ``None``: every table metric the
    table can give, the others left out. ``estimator``, ``workers`` and ``loi_options``
    (``ci_method``, ``sequential``, estimator options) go to the LoI (``loi.metrics.table.
    measure_table``, whose numbers these are); the other metrics draw their resamples from
    ``scenario_seed(seed, scenario + "/" + metric)``. ``loi_results``: the LoI of every scenario,
    already measured (``measure_table``'s), used instead of measuring it again. Rows: by scenario,
    then in ``metrics`` order.
    """
    from loi.metrics.table import measure_table, scenario_seed

    explicit = metrics is not None
    names = list(dict.fromkeys(metrics)) if explicit else list(metric_names(TABLE))
    if not names:
        raise LoiError("no metric named")
    chosen = [table_metric(n) for n in names]
    clean = validate_table(table)
    scenarios = {str(name): rows for name, rows in clean.groupby(SCENARIO, sort=True)}
    usable: dict[str, list[str]] = {}
    for metric in chosen:
        for scenario, rows in scenarios.items():
            reason = metric.applicable(rows)
            if reason is None:
                usable.setdefault(metric.name, []).append(scenario)
            elif explicit:
                raise LoiError(f"metric {metric.name!r} cannot be measured on scenario {scenario!r}: {reason}")
    results: dict[tuple[str, str], dict[str, MetricResult]] = {}
    total = sum(len(v) for v in usable.values())
    done = 0
    if "loi" in usable:
        from loi.metrics import DEFAULT_ESTIMATOR

        measured = dict(loi_results) if loi_results is not None else measure_table(
            clean, estimator=estimator or DEFAULT_ESTIMATOR, permutations=permutations, bootstrap=bootstrap,
            confidence=confidence, seed=seed, workers=workers, **loi_options)
        for scenario, result in measured.items():
            results[(scenario, "loi")] = {"loi": level_of_influence.from_loi_result(result)}
        done += len(measured)
        if progress:
            progress(done, total)
    for metric in chosen:
        if metric.name == "loi":
            continue
        for scenario in usable.get(metric.name, []):
            try:
                results[(scenario, metric.name)] = metric.measure(
                    scenarios[scenario], permutations=permutations, bootstrap=bootstrap, confidence=confidence,
                    seed=scenario_seed(seed, f"{scenario}/{metric.name}"))
            except LoiError as err:
                raise LoiError(f"scenario {scenario!r}: {err}") from None
            done += 1
            if progress:
                progress(done, total)
    ordered = [(scenario, result) for scenario in scenarios for metric in chosen
               for result in results.get((scenario, metric.name), {}).values()]
    return metric_rows(ordered)


def metric_scores(rows: pd.DataFrame, metric: str) -> dict[str, float]:
    """``scenario -> score`` of one metric output from the long metrics table (what allocators read)."""
    chosen = rows[rows["metric"] == metric]
    if chosen.empty:
        known = ", ".join(dict.fromkeys(rows["metric"])) or "none"
        raise LoiError(f"the metrics table has no {metric!r} rows (it has: {known})")
    values = chosen.set_index("scenario")["score"]
    return {str(s): float(v) for s, v in values.items() if np.isfinite(v)}


__all__ = [
    "METRIC_COLUMNS", "NEEDS", "POLICIES", "ROLLOUTS", "TABLE", "InteractionMetric", "MetricResult", "RolloutRecord",
    "get_metric", "measure_metrics", "metric_names", "metric_record", "metric_rows", "metric_scores", "register",
    "table_metric",
]
