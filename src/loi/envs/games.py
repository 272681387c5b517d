"""Payoff matrices: the four games of the paper and user-defined k x k games.

``row_payoff`` (A) pays the row player (``agent_0``), ``col_payoff`` (B) the
column player (``agent_1``); both are indexed ``[row strategy, column strategy]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from loi.errors import LoiError

Matrix = tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class Game:
    """A two-player normal-form game; hashable so environments can be jit-static."""

    name: str
    row_payoff: Matrix
    col_payoff: Matrix

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
) -> Game:
    """Validate and build a game; ``col_payoff`` defaults to ``row_payoff`` transposed."""
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
    return Game(name=name, row_payoff=a, col_payoff=b)


# SPEC §3; B = A^T for all four (symmetric games).
BUILTIN_GAMES: dict[str, Game] = {
    g.name: g
    for g in (
        make_game("prisoners_dilemma", [[3, 0], [5, 1]]),
        make_game("chicken", [[3, 2], [5, 0]]),
        make_game("stag_hunt", [[4, 0], [2, 2]]),
        make_game("pure_coordination", [[1, 0], [0, 1]]),
    )
}
