"""User-defined games and layouts from a TOML file.

    [games.battle_of_the_sexes]
    row_payoff = [[3, 0], [0, 2]]
    col_payoff = [[2, 0], [0, 3]]      # optional; defaults to row_payoff transposed
    max_steps = 5000                   # optional: the grid game's episode cap (Melting Pot's default)
    roles = ["bach_fan", "stravinsky_fan"]  # optional: row and column role (grid: the row-role seat is the row player)

    [games.battle_of_the_sexes.grid]   # optional: the game's defaults of grid-game parameters
    random_tie_breaking = true

    [layouts.corridor]
    map = '''
    WWWWWWWWW
    Wn 1a2 nW
    WWWWWWWWW
    '''

Every entry is validated (``make_game`` / ``make_layout``) before anything is
registered, so a bad file registers nothing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from loi.envs.games import Game, make_game
from loi.envs.layouts import Layout, make_layout
from loi.envs.registry import register
from loi.errors import LoiError


@dataclass(frozen=True)
class Definitions:
    """Games and layouts read from one file."""

    games: tuple[Game, ...]
    layouts: tuple[Layout, ...]


def _table(doc: dict, key: str, path: Path) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise LoiError(f"{path}: [{key}.NAME] entries must be tables")
    return value


def load_definitions(path: str | Path, *, register_them: bool = True, overwrite: bool = False) -> Definitions:
    """Read ``[games.*]`` and ``[layouts.*]`` from a TOML file and (by default) register them."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LoiError(f"definitions file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise LoiError(f"{path}: not valid TOML ({err})") from None
    unknown = sorted(set(doc) - {"games", "layouts"})
    if unknown:
        raise LoiError(f"{path}: unknown top-level key {unknown[0]!r} (expected 'games' and 'layouts')")
    games = []
    for name, entry in _table(doc, "games", path).items():
        extra = sorted(set(entry) - {"row_payoff", "col_payoff", "max_steps", "roles", "grid"})
        if extra or "row_payoff" not in entry:
            raise LoiError(f"{path}: game {name!r} needs row_payoff (and optional col_payoff, max_steps, roles, "
                           f"grid), got keys {sorted(entry)}")
        cap = {"max_steps": entry["max_steps"]} if "max_steps" in entry else {}
        if "grid" in entry and "max_steps" in entry["grid"]:
            raise LoiError(f"{path}: game {name!r}: max_steps belongs in the game's table, not in its grid")
        games.append(make_game(name, entry["row_payoff"], entry.get("col_payoff"), roles=entry.get("roles"),
                               grid=entry.get("grid"), **cap))
    layouts = []
    for name, entry in _table(doc, "layouts", path).items():
        if set(entry) != {"map"} or not isinstance(entry["map"], (str, list)):
            raise LoiError(f"{path}: layout {name!r} needs exactly one key, map = a string or list of rows")
        layouts.append(make_layout(name, entry["map"]))
    if not games and not layouts:
        raise LoiError(f"{path}: defines no [games.*] or [layouts.*]")
    if register_them:
        for definition in (*games, *layouts):
            register(definition, overwrite=overwrite)
    return Definitions(games=tuple(games), layouts=tuple(layouts))
