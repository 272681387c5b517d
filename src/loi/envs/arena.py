"""Melting Pot's arena substrates (``*_in_the_matrix__arena``) as N-player grid games.

``loi.envs.make("prisoners_dilemma/arena")`` builds the arena of a game: its map (the layouts
``meltingpot_arena*``), its rules and 8 players; any of them can be overridden
(``make("chicken/arena", num_players=16)``). The rules of N players are
:class:`loi.envs.grid_game.GridGame`'s.

What the configs say, read in google-deepmind/meltingpot at commit 81ee2e7
(``meltingpot/configs/substrates/*_in_the_matrix__arena.py``, ``.../the_matrix.py`` is not
used by them; ``meltingpot/lua/levels/the_matrix/components.lua``), against issue 30's figures:

- Players: ``default_player_roles`` is 8 players in every arena (issue: 8) and
  ``NUM_PLAYERS_UPPER_BOUND = 32`` colours in prisoner's dilemma (issue: up to 32); chicken
  and stag hunt colour their avatars from ``colors.human_readable`` instead. Bach or
  stravinsky: ``("bach_fan",) * 4 + ("stravinsky_fan",) * 4`` (issue: 4 + 4), which is
  GridGame's default seat roles (the first half row role).
- Map: 24 rows of 25 cells (issue: 24x25), spawn points ``P`` in the corners (64; stag hunt
  88). Prisoner's dilemma, chicken and bach or stravinsky share one map; stag hunt has its own
  (more hare than stag); pure coordination, rationalizable coordination and running with
  scissors share a 3-resource map.
- View: ``forward 9, backward 1, left 5, right 5``, not centred: 11x11 (issue: not given; the
  repeated substrates' is 5x5).
- Interval ending: from step 1000 (``minimumFramesPerEpisode``) every 100 steps with
  probability 0.15 in prisoner's dilemma (issue: 0.15), 0.1 in stag hunt, 0.2 in chicken, pure
  coordination, rationalizable coordination, bach or stravinsky and running with scissors
  (issue: 0.1-0.2); ``maxEpisodeLengthFrames`` 5000 in every arena, stag hunt included (its
  repeated substrate has 2500) (issue: 5000).
- Differences from the repeated substrates, all arenas: ``framesTillRespawn`` 50 (not 5),
  ``regenerationRate`` 0.04 (not 0.02), no ``SpawnResourcesWhenAllPlayersZapped`` (resources
  do not all come back while both players are away), running with scissors'
  ``regenerationDelay`` 10 (its repeated substrate: 15). The same: beam 3 long, radius 1,
  cool-down 2, ``freezeOnInteraction`` 16, both inventories reset and both players removed
  after an interaction, ``disallowUnreadyInteractions``, resource health 3, regeneration delay
  10, ``Taste`` and ``InteractionTaste`` with ``mostTastyResourceClass = -1`` (no reward).
- Pure coordination's arena plays the 3x3 game (``[[1,0,0],[0,1,0],[0,0,1]]``), loi's
  ``pure_coordination_3x3``; the paper's pure coordination is 2x2, so ``pure_coordination/arena``
  is refused with a pointer to ``pure_coordination_3x3/arena``.

Not modelled: the avatars' colours (every avatar has its own colour in Melting Pot's RGB
view; loi's view shows other players in one channel, see ``GridGame.obs_layout``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loi.errors import LoiError

ARENA = "arena"  # the pseudo-layout of ``GAME/arena``
DEFAULT_PLAYERS = 8

# What every arena substrate sets differently from GridGame's defaults (the repeated
# substrates'): the view, respawn, regrowth, the ending's cap; num_players.
_SHARED: dict[str, Any] = {
    "num_players": DEFAULT_PLAYERS,
    "view_ahead": 9, "view_behind": 1, "view_width": 11,
    "respawn_steps": 50,
    "regrowth_probability": 0.04, "regrowth_delay": 10,
    "regrow_when_removed": False,
    "max_steps": 5000,
}


@dataclass(frozen=True)
class ArenaSpec:
    """A game's arena substrate: its map (a registered layout) and its ending probability."""

    substrate: str
    layout: str
    end_probability: float

    def parameters(self) -> dict[str, Any]:
        """GridGame parameters of this arena."""
        return {**_SHARED, "end_probability": self.end_probability}

    def describes(self, layout: str, parameters: dict[str, Any]) -> bool:
        """Whether a grid game on ``layout`` with ``parameters`` (every field of the arena's
        :meth:`parameters` but ``num_players``) plays this arena's map and rules."""
        return layout == self.layout and all(
            parameters[key] == value for key, value in self.parameters().items() if key != "num_players")


ARENAS: dict[str, ArenaSpec] = {
    "prisoners_dilemma": ArenaSpec("prisoners_dilemma_in_the_matrix__arena", "meltingpot_arena", 0.15),
    "chicken": ArenaSpec("chicken_in_the_matrix__arena", "meltingpot_arena", 0.2),
    "bach_or_stravinsky": ArenaSpec("bach_or_stravinsky_in_the_matrix__arena", "meltingpot_arena", 0.2),
    "stag_hunt": ArenaSpec("stag_hunt_in_the_matrix__arena", "meltingpot_arena_stag_hunt", 0.1),
    "pure_coordination_3x3": ArenaSpec("pure_coordination_in_the_matrix__arena", "meltingpot_arena_3_types", 0.2),
    "rationalizable_coordination": ArenaSpec("rationalizable_coordination_in_the_matrix__arena",
                                             "meltingpot_arena_3_types", 0.2),
    "running_with_scissors": ArenaSpec("running_with_scissors_in_the_matrix__arena", "meltingpot_arena_3_types", 0.2),
}


def arena_spec(game: str) -> ArenaSpec:
    """The arena of ``game``, or a LoiError naming the games that have one."""
    if game == "pure_coordination":
        raise LoiError("Melting Pot's pure coordination arena plays the 3x3 game: use pure_coordination_3x3/arena")
    if game not in ARENAS:
        raise LoiError(f"game {game!r} has no Melting Pot arena; games with one: {', '.join(sorted(ARENAS))}")
    return ARENAS[game]
