"""``action_mi``: mutual information between the ego's action and the co-player's next action.

I(A_t ; B_{t+1}) over the steps of rollouts (pairs whose step t + 1 is in the same episode), the
plug-in MI of their joint counts with the Miller-Madow correction
(``histogram.miller_madow_statistic``), in nats. It is the sampled, policy-free counterpart of
``social_influence`` (whose average is this MI given the state). Permutation null: the co-player's
actions shuffled over the pairs of each lane (the null mean is the estimator's bias; p for MI > 0;
the shuffle also breaks each series' autocorrelation, so p is optimistic when both players' actions
persist in time). Interval: cluster bootstrap over lanes, percentile.
"""

from __future__ import annotations

import numpy as np

from loi.metrics.estimators import NAN_INTERVAL
from loi.metrics.histogram import miller_madow_statistic
from loi.metrics.interaction.registry import ROLLOUTS, InteractionMetric, register
from loi.metrics.interaction.rollout import RolloutRecord
from loi.metrics.result import ConfidenceInterval, MetricResult

NAME = "action_mi"


def _tables(ego: np.ndarray, coplayer: np.ndarray, sizes: tuple[int, int]) -> np.ndarray:
    """Joint counts ``[..., A, B]`` of rows of paired actions (``[..., n]`` each)."""
    a, b = sizes
    flat = ego * b + coplayer
    offsets = np.arange(flat.shape[0])[:, None] * (a * b) if flat.ndim == 2 else 0
    counts = np.bincount((flat + offsets).ravel(), minlength=flat.shape[0] * a * b if flat.ndim == 2 else a * b)
    return counts.reshape(*flat.shape[:-1], a, b)


def measure(record: RolloutRecord, *, permutations: int = 1000, bootstrap: int = 1000, confidence: float = 0.95,
            seed: int = 0, **_options) -> dict[str, MetricResult]:
    sizes = (np.shape(record.ego_probs)[2], np.shape(record.conditional)[3])
    valid = record.valid
    ego = np.asarray(record.ego_action)[:-1]
    nxt = np.asarray(record.coplayer_action)[1:]
    lanes = [(ego[valid[:, lane], lane], nxt[valid[:, lane], lane]) for lane in range(record.lanes)]
    pairs_ego = np.concatenate([e for e, _ in lanes])
    pairs_cop = np.concatenate([c for _, c in lanes])
    statistic = float(miller_madow_statistic(_tables(pairs_ego, pairs_cop, sizes)))
    null_seed, bootstrap_seed = np.random.SeedSequence(seed).spawn(2)
    null_mean = pvalue = float("nan")
    if permutations:
        rng = np.random.default_rng(null_seed)
        shuffled = np.concatenate([rng.permuted(np.broadcast_to(c, (permutations, len(c))), axis=1)
                                   for _, c in lanes], axis=1)
        null = miller_madow_statistic(_tables(np.broadcast_to(pairs_ego, shuffled.shape), shuffled, sizes))
        null_mean = float(null.mean())
        pvalue = float((1 + np.count_nonzero(null >= statistic - 1e-12)) / (1 + permutations))
    interval = NAN_INTERVAL
    if bootstrap and record.lanes >= 2:
        rng = np.random.default_rng(bootstrap_seed)
        per_lane = np.stack([_tables(e, c, sizes) for e, c in lanes])  # [L, A, B]
        pick = rng.integers(0, record.lanes, size=(bootstrap, record.lanes))
        draws = miller_madow_statistic(per_lane[pick].sum(1))
        tail = (1.0 - confidence) / 2.0
        low, high = np.quantile(draws, [tail, 1.0 - tail])
        interval = ConfidenceInterval(float(low), float(high))
    return {NAME: MetricResult(NAME, statistic, interval, null_mean, pvalue, int(len(pairs_ego)), record.lanes,
                               "Miller-Madow plug-in; cluster bootstrap over lanes; permutation p within lane")}


METRIC = register(InteractionMetric(
    name=NAME, needs=ROLLOUTS, outputs=(NAME,), measure=measure,
    description="mutual information between the ego's action and the co-player's next action in rollouts "
                "(Miller-Madow), null-corrected by permutation",
))
