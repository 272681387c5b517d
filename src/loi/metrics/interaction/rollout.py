"""What the rollout metrics read: both players' actions, and the co-player's next-action
distributions under counterfactual ego actions, along rollouts of independent lanes.

``loi.evaluation.rollout_metrics.collect_rollouts`` fills it (JAX); ``social_influence`` and
``action_mi`` reduce it (numpy). Arrays are ``[T, L, ...]``: step ``t`` of lane ``l``; lanes are
independent (each its own episodes), so they are the blocks the intervals resample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loi.errors import LoiError


@dataclass(frozen=True)
class RolloutRecord:
    """Rollouts of one (ego, co-player) pair.

    ego_probs: ``[T, L, A]``, the ego's action distribution at each visited state.
    conditional: ``[T, L, A, B]``, the co-player's distribution over its next action (step t + 1)
        had the ego taken each action ``a`` at step t, the co-player's action at t and everything
        else (its carry, the environment's randomness) as they were.
    ego_action, coplayer_action: ``[T, L]`` int, the actions taken.
    ends: ``[T, L]`` bool, the episode ended at step t (its next observation starts a new episode,
        so neither the influence nor the action pair of step t means anything).
    """

    ego_probs: np.ndarray
    conditional: np.ndarray
    ego_action: np.ndarray
    coplayer_action: np.ndarray
    ends: np.ndarray

    def __post_init__(self) -> None:
        steps, lanes, actions = np.shape(self.ego_probs)
        if np.shape(self.conditional)[:3] != (steps, lanes, actions):
            raise LoiError(f"conditional has shape {np.shape(self.conditional)}, expected ({steps}, {lanes}, "
                           f"{actions}, co-player actions)")
        for name in ("ego_action", "coplayer_action", "ends"):
            if np.shape(getattr(self, name)) != (steps, lanes):
                raise LoiError(f"{name} has shape {np.shape(getattr(self, name))}, expected ({steps}, {lanes})")
        if steps < 2:
            raise LoiError(f"rollouts need at least 2 steps, got {steps}")

    @property
    def lanes(self) -> int:
        return int(np.shape(self.ego_action)[1])

    @property
    def valid(self) -> np.ndarray:
        """``[T - 1, L]``: steps t whose next step belongs to the same episode."""
        return ~np.asarray(self.ends[:-1], dtype=bool)


def lane_interval(lane_values: np.ndarray, lane_weights: np.ndarray, resamples: int, confidence: float,
                  rng: np.random.Generator):
    """Percentile interval of a weighted mean over lanes, lanes resampled (the cluster bootstrap)."""
    from loi.metrics.result import ConfidenceInterval

    count = len(lane_values)
    pick = rng.integers(0, count, size=(resamples, count))
    weights = lane_weights[pick]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (lane_values[pick] * weights).sum(1) / weights.sum(1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(means, [tail, 1.0 - tail])
    return ConfidenceInterval(float(low), float(high))
