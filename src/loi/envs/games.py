"""Payoff matrices and rules: the paper's four games, Melting Pot's other 2-player
in-the-matrix games, and user-defined k x k games.

``row_payoff`` (A) pays the row player, ``col_payoff`` (B) the column player;
both are indexed ``[row strategy, column strategy]``. A k x k game has k
resource types on the grid (map digits 1..k; ``a`` cells draw one of the k).

Who is the row player: in the matrix games ``agent_0``. In the grid games, for
a game without ``roles`` the player whose beam started the interaction (Melting
Pot's ``GameInteractionZapper``); for a game with ``roles`` (the row role's
name, the column role's name; Melting Pot's ``DyadicRole``) the seat holding the
row role, whoever fired, and only a row-role and a column-role player interact.

``grid`` holds the grid game's parameters in which a game's Melting Pot
substrate differs from the settings its in-the-matrix substrates share (the
defaults of :class:`loi.envs.grid_game.GridGame`); an explicit argument to
``make`` overrides both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from loi.envs.grid_parameters import check_parameters
from loi.errors import LoiError

Matrix = tuple[tuple[float, ...], ...]

# Melting Pot's maxEpisodeLengthFrames of the *_in_the_matrix__repeated substrates (stag hunt: 2500).
DEFAULT_MAX_STEPS = 5000


@dataclass(frozen=True)
class Game:
    """A two-player normal-form game; hashable so environments can be jit-static."""

    name: str
    row_payoff: Matrix
    col_payoff: Matrix
    # The grid game's episode cap (Melting Pot's ``maxEpisodeLengthFrames`` for the built-ins).
    max_steps: int = DEFAULT_MAX_STEPS
    # (row role, column role) names, or None: the zapper is the row player (module docstring).
    roles: tuple[str, str] | None = None
    # Sorted (GridGame parameter, value) pairs: this game's defaults for the grid game.
    grid: tuple[tuple[str, Any], ...] = ()

    @property
    def num_strategies(self) -> int:
        """k: strategies, and resource types on the grid."""
        return len(self.row_payoff)

    def grid_default(self, parameter: str, default: Any) -> Any:
        """This game's value of a grid-game parameter, else ``default``."""
        return dict(self.grid).get(parameter, default)


def _as_matrix(name: str, which: str, values: Sequence[Sequence[float]]) -> Matrix:
    try:
        rows = tuple(tuple(float(v) for v in row) for row in values)
    except (TypeError, ValueError) as err:
        raise LoiError(f"game {name!r}: {which} payoff must be a list of numeric rows ({err})") from None
    k = len(rows)
    if k < 2:
        raise LoiError(f"game {name!r}: {which} payoff needs at least 2 strategies, got {k}")
    if any(len(row) != k for row in rows):
        shape = [len(row) for row in rows]
        raise LoiError(f"game {name!r}: {which} payoff must be square k x k, got rows of lengths {shape}")
    if not all(math.isfinite(v) for row in rows for v in row):
        raise LoiError(f"game {name!r}: {which} payoff contains NaN or infinity")
    return rows


def make_game(
    name: str,
    row_payoff: Sequence[Sequence[float]],
    col_payoff: Sequence[Sequence[float]] | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    roles: Sequence[str] | None = None,
    grid: Mapping[str, Any] | None = None,
) -> Game:
    """Validate and build a game; ``col_payoff`` defaults to ``row_payoff`` transposed;
    ``max_steps`` caps the grid game's episodes; ``roles`` names the row and the column
    role; ``grid`` sets the game's defaults of grid-game parameters (``{"end_probability": 0.2}``)."""
    if not isinstance(name, str) or not name or "/" in name:
        raise LoiError(f"game name must be a non-empty string without '/', got {name!r}")
    a = _as_matrix(name, "row", row_payoff)
    if col_payoff is None:
        b = tuple(zip(*a))
    else:
        b = _as_matrix(name, "column", col_payoff)
        if len(b) != len(a):
            raise LoiError(
                f"game {name!r}: row payoff is {len(a)}x{len(a)} but column payoff is {len(b)}x{len(b)}"
            )
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
        raise LoiError(f"game {name!r}: max_steps must be a positive integer, got {max_steps!r}")
    if roles is not None:
        roles = tuple(roles) if isinstance(roles, (list, tuple)) else roles
        if (not isinstance(roles, tuple) or len(roles) != 2 or not all(isinstance(r, str) and r for r in roles)
                or roles[0] == roles[1]):
            raise LoiError(f"game {name!r}: roles must be two different names (row role, column role), "
                           f"got {roles!r}")
    settings = _grid_settings(name, grid)
    return Game(name=name, row_payoff=a, col_payoff=b, max_steps=max_steps, roles=roles, grid=settings)


def _grid_settings(name: str, grid: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    if grid is None:
        return ()
    if not isinstance(grid, Mapping):
        raise LoiError(f"game {name!r}: grid must be a table of grid-game parameters, got {type(grid).__name__}")
    try:
        check_parameters(dict(grid))
    except LoiError as err:
        raise LoiError(f"game {name!r}: grid: {err}") from None
    return tuple(sorted(dict(grid).items()))


# The one-shot substrates' rules (running_with_scissors_in_the_matrix__one_shot.py): the
# episode ends after the first interaction (endEpisodeOnFirstInteraction), with no stochastic
# interval ending, resources that never regrow (regenerationRate 0, regenerationDelay 1000;
# no SpawnResourcesWhenAllPlayersZapped), framesTillRespawn 100, maxEpisodeLengthFrames 1000.
ONE_SHOT = {"end_on_interaction": True, "end_probability": 0.0, "regrowth_probability": 0.0,
            "regrowth_delay": 1000, "regrow_when_removed": False, "respawn_steps": 100}
ONE_SHOT_MAX_STEPS = 1000
_ROCK_PAPER_SCISSORS = [[0, -10, 10], [10, 0, -10], [-10, 10, 0]]
# running_with_scissors_in_the_matrix__repeated.py: regenerationDelay 15, termination 0.2.
_RUNNING_WITH_SCISSORS = {"regrowth_delay": 15, "end_probability": 0.2}

# SPEC §3 and meltingpot/configs/substrates/*_in_the_matrix__{repeated,one_shot}.py (Melting
# Pot 2.4.1). B = A^T unless given. The paper's pure coordination is the 2x2 one; Melting Pot's
# own substrate plays the 3x3 one (on its 3-resource map, layout ``meltingpot_pure_coordination``,
# which rationalizable coordination and running with scissors share).
BUILTIN_GAMES: dict[str, Game] = {
    g.name: g
    for g in (
        make_game("prisoners_dilemma", [[3, 0], [5, 1]]),
        make_game("chicken", [[3, 2], [5, 0]]),
        make_game("stag_hunt", [[4, 0], [2, 2]], max_steps=2500),
        make_game("pure_coordination", [[1, 0], [0, 1]]),
        make_game("pure_coordination_3x3", [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
        # Asymmetric: players 0, 2, ... hold the row role ("bach_fan", blue), 1, 3, ... the
        # column role; ties are broken at random (TheMatrix randomTieBreaking).
        make_game("bach_or_stravinsky", [[3, 0], [0, 2]], [[2, 0], [0, 3]],
                  roles=("bach_fan", "stravinsky_fan"), grid={"random_tie_breaking": True}),
        make_game("rationalizable_coordination", [[1, 0, 0], [0, 2, 0], [0, 0, 3]]),
        make_game("running_with_scissors", _ROCK_PAPER_SCISSORS, grid=_RUNNING_WITH_SCISSORS),
        make_game("running_with_scissors_one_shot", _ROCK_PAPER_SCISSORS, max_steps=ONE_SHOT_MAX_STEPS,
                  grid=ONE_SHOT),
    )
}
