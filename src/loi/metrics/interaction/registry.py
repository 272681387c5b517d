"""The registry of interaction metrics: each declares what it needs and how it is measured.

A metric is one file in this package that builds an :class:`InteractionMetric` and passes it to
:func:`register`; :mod:`loi.metrics.interaction` imports every such file, so ``get_metric(name)``
and ``metric_names()`` find it. What a metric needs decides where it can run:

- ``TABLE``: a long reward table (``loi.tables.schema``), one scenario's rows at a time
  (``loi measure --metric``, a study's LoI stage);
- ``ROLLOUTS``: the actions of both players in rollouts (``loi.evaluation.rollout_metrics``);
- ``POLICIES``: both policies' action distributions at visited states, for counterfactuals
  (``loi.evaluation.rollout_metrics``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loi.errors import LoiError

TABLE = "reward table"
ROLLOUTS = "rollouts with both players' actions"
POLICIES = "both policies (counterfactual actions)"
NEEDS = (TABLE, ROLLOUTS, POLICIES)


@dataclass(frozen=True)
class InteractionMetric:
    """One interaction metric.

    ``measure(data, *, permutations, bootstrap, confidence, seed, **options)`` returns
    ``{output name: MetricResult}`` (most metrics have one output, named like the metric;
    ``xp_gap`` has ``xp_gap`` and ``xp_gap_relative``). ``data`` is one scenario's validated
    rows for a ``TABLE`` metric, a rollout record (``loi.metrics.interaction.rollout``) otherwise.
    ``applicable(data)`` returns ``None`` when the data suffices, else the reason in a few words.
    """

    name: str
    needs: str
    outputs: tuple[str, ...]
    description: str
    measure: Callable[..., dict]
    applicable: Callable[[object], str | None] = lambda data: None


_METRICS: dict[str, InteractionMetric] = {}


def register(metric: InteractionMetric) -> InteractionMetric:
    """Add ``metric`` to the registry (a name can be registered once)."""
    if metric.needs not in NEEDS:
        raise ValueError(f"metric {metric.name!r}: needs must be one of {NEEDS}")
    if metric.name in _METRICS and _METRICS[metric.name] is not metric:
        raise ValueError(f"metric {metric.name!r} is registered twice")
    _METRICS[metric.name] = metric
    return metric


def metric_names(needs: str | None = None) -> tuple[str, ...]:
    """Registered metric names in registration order, optionally only those needing ``needs``."""
    return tuple(n for n, m in _METRICS.items() if needs is None or m.needs == needs)


def get_metric(name: str) -> InteractionMetric:
    """The metric called ``name`` (LoiError naming the known ones otherwise)."""
    if name not in _METRICS:
        raise LoiError(f"unknown metric {name!r}; known metrics: {', '.join(_METRICS)}")
    return _METRICS[name]


def table_metric(name: str) -> InteractionMetric:
    """``get_metric`` for a metric measured from a reward table (LoiError for a rollout metric)."""
    metric = get_metric(name)
    if metric.needs != TABLE:
        raise LoiError(f"metric {name!r} needs {metric.needs}, not a reward table "
                       f"(table metrics: {', '.join(metric_names(TABLE))})")
    return metric
