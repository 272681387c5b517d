"""ASCII map layouts: the paper's four and user-defined ones.

Symbols: ``W`` wall, ``n`` spawn point, ``1``-``9`` a resource of that type,
``a`` a resource whose type is drawn uniformly at reset, space or ``.`` empty
floor. Cells outside the map behave as walls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from loi.errors import LoiError

SYMBOLS = frozenset("Wna .123456789")


@dataclass(frozen=True)
class Layout:
    """A validated, rectangular ASCII map; hashable so envs can be jit-static."""

    name: str
    rows: tuple[str, ...]

    @property
    def height(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return len(self.rows[0])

    @property
    def max_resource_type(self) -> int:
        """Largest explicit resource digit (0 when the map only uses ``a``)."""
        return max((int(c) for row in self.rows for c in row if c.isdigit()), default=0)


def make_layout(name: str, ascii_map: str | Sequence[str]) -> Layout:
    """Parse and validate a map given as one multi-line string or a list of rows.

    Leading/trailing blank lines of a string are dropped; the rows must then all
    have the same length (trailing spaces count).
    """
    if not isinstance(name, str) or not name or "/" in name:
        raise LoiError(f"layout name must be a non-empty string without '/', got {name!r}")
    if isinstance(ascii_map, str):
        lines = ascii_map.split("\n")
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
    else:
        lines = list(ascii_map)
    if not lines:
        raise LoiError(f"layout {name!r}: the map is empty")
    if any(not isinstance(line, str) for line in lines):
        raise LoiError(f"layout {name!r}: map rows must be strings")
    widths = {len(line) for line in lines}
    if len(widths) != 1:
        raise LoiError(f"layout {name!r}: ragged map, row lengths {sorted(widths)} differ")
    for r, line in enumerate(lines):
        bad = set(line) - SYMBOLS
        if bad:
            raise LoiError(
                f"layout {name!r}: unknown symbol {sorted(bad)[0]!r} in row {r} "
                "(allowed: W n a 1-9 space .)"
            )
    spawns = sum(line.count("n") for line in lines)
    if spawns < 2:
        raise LoiError(f"layout {name!r}: needs at least 2 spawn points 'n', found {spawns}")
    if not any(c.isdigit() or c == "a" for line in lines for c in line):
        raise LoiError(f"layout {name!r}: has no resource cells (1-9 or a)")
    return Layout(name=name, rows=tuple(lines))


_MELTINGPOT_MAP = """
WWWWWWWWWWWWWWWWWWWWWWW
Wn         n         nW
W   WWW W  W  W WW    W
W    W 11a W a22 W    W
Wn  WW 11a W a22 WW  nW
W      11a   a22      W
W                     W
Wn WW  WW  n WW  WWW nW
W                     W
W      22a W a11      W
Wn   W 22a W a11 W   nW
W    W 22a W a11 WW   W
W  WWWW W  W  W WWW   W
Wn         n         nW
WWWWWWWWWWWWWWWWWWWWWWW
"""

_MELTINGPOT_STAG_HUNT_MAP = """
WWWWWWWWWWWWWWWWWWWWWWW
Wn         n         nW
W  2WWW W  W  W WW2   W
W    W 11a W 222 W    W
Wn  WW 11a W a22 WW  nW
W      1aa 2 a22      W
W  2               2  W
Wn WW  WW2 n WW  WWW nW
W   2            2    W
W      22a 2 aa1      W
Wn   W 22a W a11 W   nW
W   2W 222 W a11 WW   W
W  WWWW W  W  W WWW2  W
Wn         n         nW
WWWWWWWWWWWWWWWWWWWWWWW
"""

_MELTINGPOT_PURE_COORDINATION_MAP = """
WWWWWWWWWWWWWWWWWWWWWWW
Wn         n         nW
W   WWW W     W WW    W
W    W 11a   a22 W    W
Wn  WW 11a   a22 WW  nW
W      11a   a22      W
W                     W
Wn WW      n         nW
W             WWWW    W
W      33a W          W
Wn   W 33a W aaa W   nW
W    W 33a W aaa WW   W
W  WWWW W  W  W WWW   W
Wn         n         nW
WWWWWWWWWWWWWWWWWWWWWWW
"""

# running_with_scissors_in_the_matrix__one_shot.py, its r/p/s written 1/2/3.
_MELTINGPOT_ONE_SHOT_MAP = """
WWWWWWWWWWWWWWWWWWWWWWW
Wn 1  1  a   a  2  2 nW
W                     W
Wn 1  1  a   a  2  2 nW
W                     W
Wn 1  1  a   a  2  2 nW
W                     W
W     n    n    n     W
W                     W
Wn 3  3  a   a  a  a nW
W                     W
Wn 3  3  a   a  a  a nW
W                     W
Wn 3  3  a   a  a  a nW
WWWWWWWWWWWWWWWWWWWWWWW
"""

# The arena substrates' 25 x 24 maps (meltingpot/configs/substrates/*_in_the_matrix__arena.py,
# their spawn points 'P' written 'n'): prisoner's dilemma, chicken and bach or stravinsky share
# the first; stag hunt has its own; pure coordination, rationalizable coordination and running
# with scissors share the 3-type one (r/p/s written 1/2/3). loi.envs.arena owns their rules.
_MELTINGPOT_ARENA_MAP = """
WWWWWWWWWWWWWWWWWWWWWWWWW
Wnnnn      W W      nnnnW
Wnnnn               nnnnW
Wnnnn               nnnnW
Wnnnn               nnnnW
W                       W
W        11             W
W        11             W
W        aa             W
W    WW     W  222      W
WW    1a    W  222      W
WWW   1a  WWWWWWWWW     W
W     1a    111       WWW
W           111         W
W       aa W            W
W       22 W   WW       W
W       22     Waaa     W
W               222     W
W                       W
Wnnnn               nnnnW
Wnnnn               nnnnW
Wnnnn               nnnnW
Wnnnn         W     nnnnW
WWWWWWWWWWWWWWWWWWWWWWWWW
"""

_MELTINGPOT_ARENA_STAG_HUNT_MAP = """
WWWWWWWWWWWWWWWWWWWWWWWWW
Wnnnnnnn   W W   nnnnnnnW
Wnnnn               nnnnW
Wnnnn               nnnnW
Wnnnn       2222    nnnnW
Wn                     nW
Wn     222222   222    nW
Wn 2     11    11      nW
W  2     11  a     222  W
W    WW     W1 11a      W
WW    21 11 W  11a  2   W
WWW   21  WWWWWWWWW 2   W
W   2 aa    111  1a   WWW
W   2       111  1a     W
W       aa W        22  W
W  22   2a Waa WW       W
Wn      22     W222    nW
Wn              222    nW
Wn         222         nW
Wnnnn               nnnnW
Wnnnn               nnnnW
Wnnnn               nnnnW
Wnnnnnnn      W  nnnnnnnW
WWWWWWWWWWWWWWWWWWWWWWWWW
"""

_MELTINGPOT_ARENA_3_TYPES_MAP = """
WWWWWWWWWWWWWWWWWWWWWWWWW
Wnnnn      W W      nnnnW
Wnnnn               nnnnW
Wnnnn               nnnnW
Wnnnn               nnnnW
W             aa        W
W        11   aa        W
W        11             W
W        11             W
W    WW     W  222      W
WW    33    W  222      W
WWW   33  WWWWWWWWW     W
W     33    111       WWW
W           111         W
W       22 W            W
W       22 W   WW       W
W       22     W333     W
W               333     W
W          aa           W
Wnnnn      aa       nnnnW
Wnnnn               nnnnW
Wnnnn               nnnnW
Wnnnn         W     nnnnW
WWWWWWWWWWWWWWWWWWWWWWWWW
"""

# SPEC §3 (the paper's custom Melting Pot maps).
BUILTIN_LAYOUTS: dict[str, Layout] = {
    lay.name: lay
    for lay in (
        make_layout("small", ["WWWWWW", "Wn  nW", "W 21 W", "W 12 W", "Wn  nW", "WWWWWW"]),
        make_layout(
            "medium",
            ["WWWWWWWW", "Wn    nW", "W  21  W", "W  aa  W", "W  12  W", "Wn    nW", "WWWWWWWW"],
        ),
        make_layout(
            "large",
            [
                "WWWWWWWWWWWWW",
                "Wn         nW",
                "W    111    W",
                "W    2a2    W",
                "Wn         nW",
                "W    1a1    W",
                "W    222    W",
                "Wn         nW",
                "WWWWWWWWWWWWW",
            ],
        ),
        make_layout(
            "obstacle",
            [
                "WWWWWWWWWWWWW",
                "Wn    W    nW",
                "W  W 111 W  W",
                "W  W 2a2 W  W",
                "Wn    W    nW",
                "W  W 1a1 W  W",
                "W  W 222 W  W",
                "Wn    W    nW",
                "WWWWWWWWWWWWW",
            ],
        ),
        # Melting Pot's own 23 x 15 maps (meltingpot/configs/substrates/
        # *_in_the_matrix__repeated.py): prisoner's dilemma, chicken and bach or stravinsky
        # share the first; stag hunt has its own; pure coordination, rationalizable
        # coordination and running with scissors share the 3-type one (r/p/s written 1/2/3);
        # the one-shot running with scissors has its own.
        make_layout("meltingpot", _MELTINGPOT_MAP),
        make_layout("meltingpot_stag_hunt", _MELTINGPOT_STAG_HUNT_MAP),
        make_layout("meltingpot_pure_coordination", _MELTINGPOT_PURE_COORDINATION_MAP),
        make_layout("meltingpot_one_shot", _MELTINGPOT_ONE_SHOT_MAP),
        make_layout("meltingpot_arena", _MELTINGPOT_ARENA_MAP),
        make_layout("meltingpot_arena_stag_hunt", _MELTINGPOT_ARENA_STAG_HUNT_MAP),
        make_layout("meltingpot_arena_3_types", _MELTINGPOT_ARENA_3_TYPES_MAP),
    )
}
