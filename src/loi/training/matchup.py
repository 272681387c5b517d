"""Who sits where: the regime's matchup, and per-episode bookkeeping.

A :class:`Matchup` says, for one regime, which seats of each environment the
learner occupies (its *slots*: both seats in self-play, one drawn seat
otherwise) and whether a drawn partner fills the other seat. The rollout step
in :mod:`loi.training.ppo` is written once against it: gather the learner's
observations and rewards from its seats, scatter the learner's and partner's
actions into the joint action. :class:`EpisodeLog` is the LogWrapper-style
episode accumulator (PureJaxRL ``wrappers.LogWrapper``): returns of both seats,
length and interactions, emitted when an episode ends and zeroed for the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from loi.training.config import Regime

SEATS = 2


@dataclass(frozen=True)
class Matchup:
    """``slots``: learning seats per environment; ``num_partners``: candidates
    a partner is drawn from at every episode start (0: no partner, self-play)."""

    slots: int
    num_partners: int

    @property
    def has_partner(self) -> bool:
        return self.num_partners > 0

    def learner_seats(self, seat: jax.Array) -> jax.Array:
        """int32[..., slots]: the seats the learner plays, from the drawn ``seat``."""
        if not self.has_partner:
            return jnp.broadcast_to(jnp.arange(SEATS, dtype=jnp.int32), seat.shape + (SEATS,))
        return seat[..., None]

    def learner_view(self, per_seat: jax.Array, seat: jax.Array) -> jax.Array:
        """``per_seat[..., 2, *rest]`` at the learner's seats -> ``[..., slots, *rest]``."""
        # Self-play holds every seat in order: no gather on the feed-forward fast path.
        return per_seat if not self.has_partner else at_seats(per_seat, self.learner_seats(seat))

    def partner_view(self, per_seat: jax.Array, seat: jax.Array) -> jax.Array:
        """``per_seat[..., 2, *rest]`` at the partner's seat -> ``[..., *rest]``."""
        return jnp.squeeze(at_seats(per_seat, 1 - seat[..., None]), axis=seat.ndim)

    def joint(self, learner_action: jax.Array, seat: jax.Array, partner_action: jax.Array | None) -> jax.Array:
        """int32[..., 2]: the learner's actions at its seats, the partner's elsewhere."""
        if not self.has_partner:
            return learner_action
        return joint_actions(learner_action, self.learner_seats(seat), partner_action)

    def draw(self, key: jax.Array, shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
        """``(partner, seat)`` of fresh episodes: uniform over candidates and seats."""
        if not self.has_partner:
            return jnp.zeros(shape, jnp.int32), jnp.zeros(shape, jnp.int32)
        k_partner, k_seat = jax.random.split(key)
        partner = jax.random.randint(k_partner, shape, 0, self.num_partners, dtype=jnp.int32)
        seat = jax.random.randint(k_seat, shape, 0, SEATS, dtype=jnp.int32)
        return partner, seat


def regime_matchup(regime: Regime, schedule: str = "concurrent") -> Matchup:
    """sp: the learner in both seats; ppN / fcpN: one drawn seat, a partner drawn
    from the population / the frozen pool in the other. Under the generational
    schedule sp too learns in one seat, its partner a frozen copy of itself."""
    if regime.kind == "sp" and schedule == "concurrent":
        return Matchup(slots=SEATS, num_partners=0)
    return Matchup(slots=1, num_partners=regime.size)


def at_seats(per_seat: jax.Array, seats: jax.Array) -> jax.Array:
    """``per_seat[..., 2, *rest]`` read at ``seats[..., n]`` -> ``[..., n, *rest]``."""
    index = seats.reshape(seats.shape + (1,) * (per_seat.ndim - seats.ndim))
    return jnp.take_along_axis(per_seat, index, axis=seats.ndim - 1)


def joint_actions(learner_action: jax.Array, learner_seats: jax.Array, partner_action: jax.Array | None) -> jax.Array:
    """int32[..., 2]: the learner's actions at its seats, the partner's elsewhere."""
    shape = learner_action.shape[:-1] + (SEATS,)
    joint = jnp.zeros(shape, jnp.int32) if partner_action is None else jnp.broadcast_to(partner_action[..., None], shape)
    seat_ids = jnp.arange(SEATS, dtype=jnp.int32)
    for slot in range(learner_action.shape[-1]):
        joint = jnp.where(seat_ids == learner_seats[..., slot : slot + 1], learner_action[..., slot : slot + 1], joint)
    return joint


class EpisodeLog(NamedTuple):
    """Running totals of the current episode of each environment."""

    returns: jax.Array  # f32[..., 2]: both seats' returns
    length: jax.Array  # i32[...]
    interactions: jax.Array  # i32[...]


def episode_log(shape: tuple[int, ...]) -> EpisodeLog:
    return EpisodeLog(jnp.zeros(shape + (SEATS,), jnp.float32), jnp.zeros(shape, jnp.int32),
                      jnp.zeros(shape, jnp.int32))


def log_step(log: EpisodeLog, rewards: jax.Array, interacted: jax.Array, done: jax.Array) -> tuple[EpisodeLog, EpisodeLog]:
    """``(log for the next step, the totals including this step)``; the first is
    zeroed where ``done``, the second is the finished episode there."""
    totals = EpisodeLog(log.returns + rewards, log.length + 1, log.interactions + interacted.astype(jnp.int32))
    keep = 1 - done.astype(jnp.int32)
    nxt = EpisodeLog(totals.returns * keep[..., None].astype(jnp.float32), totals.length * keep,
                     totals.interactions * keep)
    return nxt, totals
