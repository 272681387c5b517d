"""Who sits where: the regime's matchup, and per-episode bookkeeping.

A :class:`Matchup` says, for one regime on an N-seat game, which seats of each
environment the learner occupies (its *slots*: every seat in self-play, one
drawn seat in ppN, ``learner_seats`` drawn seats in fcpN) and whether drawn
partners fill the other seats, each seat drawing its own partner. The rollout
step in :mod:`loi.training.ppo` is written once against it: gather the
learner's observations and rewards from its seats, the partners' from theirs,
scatter both sides' actions into the joint action.

Layout: a per-environment value with one entry per learner seat or per partner
seat carries that axis only when there is more than one such seat, so two
players keep one seat index and one partner index per environment.

:class:`EpisodeLog` is the LogWrapper-style episode accumulator (PureJaxRL
``wrappers.LogWrapper``): every seat's return, length and interactions,
emitted when an episode ends and zeroed for the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp

from loi.training.config import Regime


@dataclass(frozen=True)
class Matchup:
    """``seats``: players per environment; ``slots``: learning seats per
    environment; ``num_partners``: candidates each partner seat draws from at
    every episode start (0: no partner, the learner holds every seat)."""

    slots: int
    num_partners: int
    seats: int = 2

    @property
    def has_partner(self) -> bool:
        return self.num_partners > 0

    @property
    def partner_seats_count(self) -> int:
        return self.seats - self.slots

    @property
    def seat_axes(self) -> tuple[int, ...]:
        """The trailing axis of the drawn ``seat`` per environment (none for one learner seat)."""
        return () if self.slots == 1 or not self.has_partner else (self.slots,)

    @property
    def partner_axes(self) -> tuple[int, ...]:
        """The trailing axis of per-partner values per environment (none for one partner seat)."""
        q = self.partner_seats_count
        return () if q == 1 or not self.has_partner else (q,)

    def learner_seats(self, seat: jax.Array) -> jax.Array:
        """int32[..., slots]: the seats the learner plays, from the drawn ``seat``."""
        if not self.has_partner:
            batch = seat.shape[: seat.ndim - len(self.seat_axes)]
            return jnp.broadcast_to(jnp.arange(self.seats, dtype=jnp.int32), batch + (self.seats,))
        return seat if self.seat_axes else seat[..., None]

    def partner_seats(self, seat: jax.Array) -> jax.Array:
        """int32[..., seats - slots]: the other seats in increasing order."""
        q = self.partner_seats_count
        if not self.seat_axes:  # one learner seat s: 0..s-1, then s+1..N-1
            j = jnp.arange(q, dtype=jnp.int32)
            return j + (j >= seat[..., None]).astype(jnp.int32)
        seat_ids = jnp.arange(self.seats, dtype=jnp.int32)
        taken = jnp.any(seat_ids == seat[..., :, None], axis=-2)
        return jnp.argsort(taken, axis=-1, stable=True)[..., :q].astype(jnp.int32)

    def learner_view(self, per_seat: jax.Array, seat: jax.Array) -> jax.Array:
        """``per_seat[..., seats, *rest]`` at the learner's seats -> ``[..., slots, *rest]``."""
        # Self-play holds every seat in order: no gather on the feed-forward fast path.
        return per_seat if not self.has_partner else at_seats(per_seat, self.learner_seats(seat))

    def partner_view(self, per_seat: jax.Array, seat: jax.Array) -> jax.Array:
        """``per_seat[..., seats, *rest]`` at the partners' seats -> ``[..., *partner_axes, *rest]``."""
        seats = self.partner_seats(seat)
        view = at_seats(per_seat, seats)
        return view if self.partner_axes else jnp.squeeze(view, axis=seats.ndim - 1)

    def joint(self, learner_action: jax.Array, seat: jax.Array, partner_action: jax.Array | None) -> jax.Array:
        """int32[..., seats]: the learner's actions at its seats, the partners' at theirs."""
        if not self.has_partner:
            return learner_action
        partner_action = partner_action if self.partner_axes else partner_action[..., None]
        return joint_actions(learner_action, self.learner_seats(seat), partner_action, self.partner_seats(seat),
                             self.seats)

    def draw(self, key: jax.Array, shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
        """``(partner, seat)`` of fresh episodes: each partner seat's candidate uniform over the
        candidates, the learner's seats a uniform draw of ``slots`` distinct seats."""
        if not self.has_partner:
            return jnp.zeros(shape, jnp.int32), jnp.zeros(shape, jnp.int32)
        k_partner, k_seat = jax.random.split(key)
        partner = jax.random.randint(k_partner, shape + self.partner_axes, 0, self.num_partners, dtype=jnp.int32)
        if not self.seat_axes:
            seat = jax.random.randint(k_seat, shape, 0, self.seats, dtype=jnp.int32)
        else:  # the first slots of a uniform random order of the seats, kept in seat order
            order = jnp.argsort(jax.random.uniform(k_seat, shape + (self.seats,)), axis=-1)
            seat = jnp.sort(order[..., : self.slots], axis=-1).astype(jnp.int32)
        return partner, seat


def regime_matchup(regime: Regime, schedule: str = "concurrent", seats: int = 2, learner_seats: int = 1) -> Matchup:
    """sp: the learner in every seat; ppN: one drawn seat, a population member drawn for each
    other seat; fcpN: ``learner_seats`` drawn seats, a frozen-pool partner drawn for each other
    seat. Under the generational schedule sp too learns in one seat, its partner a frozen copy of
    itself."""
    if regime.kind == "sp" and schedule == "concurrent":
        return Matchup(slots=seats, num_partners=0, seats=seats)
    return Matchup(slots=learner_seats if regime.kind == "fcp" else 1, num_partners=regime.size, seats=seats)


def at_seats(per_seat: jax.Array, seats: jax.Array) -> jax.Array:
    """``per_seat[..., N, *rest]`` read at ``seats[..., n]`` -> ``[..., n, *rest]``."""
    index = seats.reshape(seats.shape + (1,) * (per_seat.ndim - seats.ndim))
    return jnp.take_along_axis(per_seat, index, axis=seats.ndim - 1)


def joint_actions(learner_action: jax.Array, learner_seats: jax.Array, partner_action: jax.Array | None,
                  partner_seats: jax.Array | None, num_seats: int) -> jax.Array:
    """int32[..., num_seats]: ``learner_action[..., n]`` at ``learner_seats[..., n]``,
    ``partner_action[..., q]`` at ``partner_seats[..., q]`` (0 where neither sits)."""
    joint = jnp.zeros(learner_action.shape[:-1] + (num_seats,), jnp.int32)
    seat_ids = jnp.arange(num_seats, dtype=jnp.int32)
    placed = [] if partner_action is None else [(partner_action, partner_seats)]
    for action, seats in placed + [(learner_action, learner_seats)]:
        for slot in range(action.shape[-1]):
            joint = jnp.where(seat_ids == seats[..., slot : slot + 1], action[..., slot : slot + 1], joint)
    return joint


class EpisodeLog(NamedTuple):
    """Running totals of the current episode of each environment."""

    returns: jax.Array  # f32[..., N]: every seat's return
    length: jax.Array  # i32[...]
    # i32[..., N]: each seat's interactions; i32[...] with two players, whose seats share every one
    interactions: jax.Array


def interaction_axes(num_seats: int) -> tuple[int, ...]:
    """The seat axis of per-seat interaction counts: none for two players (both seats take part
    in every interaction), else one entry per seat."""
    return () if num_seats == 2 else (num_seats,)


def episode_log(shape: tuple[int, ...], num_seats: int = 2) -> EpisodeLog:
    return EpisodeLog(jnp.zeros(shape + (num_seats,), jnp.float32), jnp.zeros(shape, jnp.int32),
                      jnp.zeros(shape + interaction_axes(num_seats), jnp.int32))


def _keep(x: jax.Array, keep: jax.Array) -> jax.Array:
    """``x`` zeroed where ``keep`` (i32[...], 0 or 1) is 0, over any trailing seat axis of ``x``."""
    return x * keep.reshape(keep.shape + (1,) * (x.ndim - keep.ndim)).astype(x.dtype)


def log_step(log: EpisodeLog, rewards: jax.Array, interacted: jax.Array, done: jax.Array) -> tuple[EpisodeLog, EpisodeLog]:
    """``(log for the next step, the totals including this step)``; the first is
    zeroed where ``done``, the second is the finished episode there. ``interacted``
    has the layout of ``log.interactions``."""
    totals = EpisodeLog(log.returns + rewards, log.length + 1, log.interactions + interacted.astype(jnp.int32))
    keep = 1 - done.astype(jnp.int32)
    nxt = EpisodeLog(_keep(totals.returns, keep), totals.length * keep, _keep(totals.interactions, keep))
    return nxt, totals
