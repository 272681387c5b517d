"""Melting Pot's stochastic interval episode ending, shared by every env.

The episode may end only after ``min_steps`` steps and then only at every
``interval``-th step: at step ``t = min_steps + j * interval`` (j = 0, 1, ...)
it ends with ``probability``. The length is therefore
``min_steps + interval * G`` with ``G ~ Geometric(probability)`` on {0, 1, ...};
``probability = 1`` gives a fixed length of ``min_steps``.
"""

from __future__ import annotations

import jax

from loi.errors import LoiError


def validate_ending(min_steps: int, interval: int, probability: float) -> None:
    if int(min_steps) < 1:
        raise LoiError(f"min_steps must be >= 1, got {min_steps}")
    if int(interval) < 1:
        raise LoiError(f"end_interval must be >= 1, got {interval}")
    if not (0.0 < float(probability) <= 1.0):
        raise LoiError(f"end_probability must be in (0, 1], got {probability}")


def episode_ends(
    episode_step: jax.Array, uniform: jax.Array, min_steps: int, interval: int, probability: float
) -> jax.Array:
    """Whether the episode ends after its ``episode_step``-th step (1-based)."""
    at_check = (episode_step >= min_steps) & ((episode_step - min_steps) % interval == 0)
    return at_check & (uniform < probability)


def expected_length(min_steps: int, interval: int, probability: float) -> float:
    """Mean episode length under this ending rule (closed form)."""
    return min_steps + interval * (1.0 - probability) / probability

