"""The grid game's rule parameters: their Melting Pot defaults and their checks (one owner for
both, used by :class:`loi.envs.grid_game.GridGame` and by a :class:`loi.envs.games.Game`'s
``grid`` settings, which this module lets games validate without importing the grid game).

The defaults are the settings Melting Pot 2.4.1's 2-player ``*_in_the_matrix__repeated``
substrates share (meltingpot/configs/substrates/*.py, meltingpot/lua/levels/the_matrix/
components.lua); a game whose substrate differs says so in its ``grid``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loi.envs.ending import validate_ending
from loi.errors import LoiError

MELTINGPOT_DEFAULTS: dict[str, Any] = {
    # Avatar view: forward 3, backward 1, left 2, right 2.
    "view_ahead": 3,
    "view_behind": 1,
    "view_width": 5,
    # GameInteractionZapper.
    "beam_length": 3,
    "beam_radius": 1,
    "cooldown_steps": 2,  # cooldownTime
    "freeze_steps": 16,  # freezeOnInteraction
    "respawn_steps": 5,  # framesTillRespawn: removed for respawn_steps + 1 observations
    "end_on_interaction": False,  # endEpisodeOnFirstInteraction (the one-shot substrates)
    # Resource and Destroyable.
    "resource_health": 3,  # initialHealth
    "regrowth_delay": 10,  # regenerationDelay
    "regrowth_probability": 0.02,  # regenerationRate
    # SpawnResourcesWhenAllPlayersZapped: every resource regrows while no player is on the map.
    "regrow_when_removed": True,
    # TheMatrix randomTieBreaking: a tie goes to a coin flip instead of the row player.
    "random_tie_breaking": False,
    # StochasticIntervalEpisodeEnding (loi.envs.ending); end_probability 0: none (one-shot).
    "min_steps": 1000,
    "end_interval": 100,
    "end_probability": 0.1,
}

_NON_NEGATIVE = ("view_ahead", "view_behind", "view_width", "beam_length", "beam_radius", "cooldown_steps",
                 "freeze_steps", "respawn_steps", "regrowth_delay")
_FLAGS = ("end_on_interaction", "regrow_when_removed", "random_tie_breaking")


def check_parameters(values: dict[str, Any]) -> None:
    """Raise LoiError naming the first unknown or invalid parameter of ``values`` (any subset of
    :data:`MELTINGPOT_DEFAULTS`' names)."""
    unknown = sorted(set(values) - set(MELTINGPOT_DEFAULTS))
    if unknown:
        raise LoiError(f"unknown grid parameter {unknown[0]!r}; allowed: {', '.join(sorted(MELTINGPOT_DEFAULTS))}")
    for field in _NON_NEGATIVE:
        value = values.get(field, 0)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise LoiError(f"{field} must be a non-negative integer, got {value!r}")
    for field in _FLAGS:
        if not isinstance(values.get(field, False), (bool, np.bool_)):
            raise LoiError(f"{field} must be true or false, got {values[field]!r}")
    view_width = values.get("view_width", 1)
    if view_width < 1 or view_width % 2 == 0:
        raise LoiError(f"view_width must be a positive odd number, got {view_width}")
    if values.get("beam_length", 1) < 1:
        raise LoiError(f"beam_length must be >= 1, got {values['beam_length']}")
    health = values.get("resource_health", 1)
    if not isinstance(health, (int, np.integer)) or isinstance(health, bool) or health < 1:
        raise LoiError(f"resource_health must be a positive integer, got {health!r}")
    for field in ("regrowth_probability", "end_probability"):
        value = values.get(field, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                or not 0.0 <= float(value) <= 1.0:
            raise LoiError(f"{field} must be a number in [0, 1], got {value!r}")
    for field in ("min_steps", "end_interval"):
        value = values.get(field, 1)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise LoiError(f"{field} must be an integer, got {value!r}")
    # The interval ending's own checks (min_steps, end_interval >= 1); its probability may be 0 here.
    validate_ending(values.get("min_steps", 1), values.get("end_interval", 1), 1.0)
