"""Melting Pot's stochastic interval episode ending, shared by every env.

Melting Pot's ``StochasticIntervalEpisodeEnding`` (meltingpot/lua/modules/
component_library.lua) counts ``t = 1`` at reset and ``t + 1`` during step
``n`` (1-based), and may end the episode from step ``min_steps`` on, at the
steps where ``t`` is a multiple of ``interval``: after step ``n`` with
``n >= min_steps`` and ``(n + 1) % interval == 0``, with ``probability``. With
its defaults (1000, 100, 0.1) the first possible end is after step 1099, then
1199, ... The substrate's ``maxEpisodeLengthFrames`` caps the length: the
episode always ends after step ``max_steps``.
"""

from __future__ import annotations

import jax

from loi.errors import LoiError


def validate_ending(min_steps: int, interval: int, probability: float, max_steps: int | None = None) -> None:
    if int(min_steps) < 1:
        raise LoiError(f"min_steps must be >= 1, got {min_steps}")
    if int(interval) < 1:
        raise LoiError(f"end_interval must be >= 1, got {interval}")
    if not (0.0 < float(probability) <= 1.0):
        raise LoiError(f"end_probability must be in (0, 1], got {probability}")
    if max_steps is not None and int(max_steps) < 1:
        raise LoiError(f"max_steps must be >= 1, got {max_steps}")


def first_end(min_steps: int, interval: int) -> int:
    """The first step after which the episode may end."""
    return int(min_steps) + (-(int(min_steps) + 1)) % int(interval)


def episode_ends(episode_step: jax.Array, uniform: jax.Array, min_steps: int, interval: int,
                 probability: float, max_steps: jax.Array | int | None = None) -> jax.Array:
    """Whether the episode ends after its ``episode_step``-th step (1-based)."""
    at_check = (episode_step >= min_steps) & ((episode_step + 1) % interval == 0)
    ends = at_check & (uniform < probability)
    return ends if max_steps is None else ends | (episode_step >= max_steps)


def expected_length(min_steps: int, interval: int, probability: float, max_steps: int | None = None) -> float:
    """Mean episode length under this ending rule (closed form)."""
    first, p = first_end(min_steps, interval), float(probability)
    if max_steps is None:
        return first + interval * (1.0 - p) / p
    if max_steps <= first:
        return float(max_steps)
    # Candidates first + j*interval below the cap end with p (1-p)^j; otherwise the cap ends it.
    below = (int(max_steps) - 1 - first) // interval + 1  # candidates strictly before the cap
    q = 1.0 - p
    mean = sum((first + j * interval) * p * q**j for j in range(below))
    return mean + int(max_steps) * q**below
