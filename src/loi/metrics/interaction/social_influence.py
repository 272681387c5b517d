"""``social_influence`` (Jaques et al. 2019): how much the ego's action moves the co-player's next one.

At each visited state, KL( p(b' | a) || sum_a'' pi(a'') p(b' | a'') ): the co-player's next-action
distribution given the ego's actual action ``a`` against its marginal over the ego's
counterfactual actions, weighted by the ego's own policy ``pi``; averaged over the states of
rollouts (nats). 0 exactly for a co-player that ignores the ego; ``H(pi)`` for one that copies the
ego's last action deterministically. Needs both policies (``POLICIES``): the counterfactuals come
from ``loi.evaluation.rollout_metrics``. Interval: cluster bootstrap over lanes, percentile.
There is no permutation null: the value is a property of the two policies, not an estimate of a
dependence from samples (its only sampling error is which states were visited).
"""

from __future__ import annotations

import numpy as np

from loi.metrics.estimators import NAN_INTERVAL
from loi.metrics.interaction.registry import POLICIES, InteractionMetric, register
from loi.metrics.interaction.rollout import RolloutRecord, lane_interval
from loi.metrics.result import MetricResult

NAME = "social_influence"
_TINY = 1e-30


def state_influence(record: RolloutRecord) -> np.ndarray:
    """``[T, L]`` influence of each step's actual ego action (nats)."""
    conditional = np.asarray(record.conditional, dtype=np.float64)
    marginal = np.einsum("tla,tlab->tlb", np.asarray(record.ego_probs, dtype=np.float64), conditional)
    actual = np.take_along_axis(conditional, np.asarray(record.ego_action)[..., None, None], axis=2)[:, :, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(actual > 0, actual * (np.log(np.maximum(actual, _TINY)) - np.log(np.maximum(marginal, _TINY))),
                         0.0)
    return np.maximum(terms.sum(-1), 0.0)  # a KL is >= 0; rounding can give -1e-17


def measure(record: RolloutRecord, *, bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0,
            **_options) -> dict[str, MetricResult]:
    influence = state_influence(record)[:-1]
    valid = record.valid
    counts = valid.sum(0).astype(np.float64)
    lane_means = np.where(counts > 0, (influence * valid).sum(0) / np.maximum(counts, 1), 0.0)
    statistic = float((influence * valid).sum() / max(valid.sum(), 1))
    interval = NAN_INTERVAL
    if bootstrap and record.lanes >= 2:
        interval = lane_interval(lane_means, counts, bootstrap, confidence, np.random.default_rng(seed))
    return {NAME: MetricResult(NAME, statistic, interval, n_episodes=int(valid.sum()), n_blocks=record.lanes,
                               method="states of rollouts; cluster bootstrap over lanes")}


METRIC = register(InteractionMetric(
    name=NAME, needs=POLICIES, outputs=(NAME,), measure=measure,
    description="KL between the co-player's next-action distribution given the ego's action and its marginal "
                "over the ego's counterfactual actions, averaged over visited states (Jaques et al. 2019)",
))
