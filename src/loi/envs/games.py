"""Payoff matrices: the four games of the paper and user-defined k x k games.

``row_payoff`` (A) pays the row player, ``col_payoff`` (B) the column player;
both are indexed ``[row strategy, column strategy]``. In the matrix games the
row player is ``agent_0``; in the grid games it is the player whose beam
started the interaction (Melting Pot's ``GameInteractionZapper``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

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

    @property
    def num_strategies(self) -> int:
        return len(self.row_payoff)


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
) -> Game:
    """Validate and build a game; ``col_payoff`` defaults to ``row_payoff`` transposed;
    ``max_steps`` caps the grid game's episodes."""
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
    return Game(name=name, row_payoff=a, col_payoff=b, max_steps=max_steps)


# SPEC §3 and meltingpot/configs/substrates/*_in_the_matrix__repeated.py; B = A^T for all
# (symmetric games). The paper's pure coordination is the 2x2 one; Melting Pot's own
# substrate plays the 3x3 one (on its 3-resource map, layout ``meltingpot_pure_coordination``).
BUILTIN_GAMES: dict[str, Game] = {
    g.name: g
    for g in (
        make_game("prisoners_dilemma", [[3, 0], [5, 1]]),
        make_game("chicken", [[3, 2], [5, 0]]),
        make_game("stag_hunt", [[4, 0], [2, 2]], max_steps=2500),
        make_game("pure_coordination", [[1, 0], [0, 1]]),
        make_game("pure_coordination_3x3", [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
    )
}
