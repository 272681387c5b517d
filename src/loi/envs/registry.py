"""Environment names: ``matrix/GAME``, ``GAME/LAYOUT``, ``GAME/arena`` (Melting Pot's N-player
arena substrate of the game, :mod:`loi.envs.arena`), either with ``?num_players=N``, and ``jaxmarl:ENV_ID[/LAYOUT][?key=value&...]``
(any two-player JaxMARL environment, :mod:`loi.envs.jaxmarl_adapter`); user registration."""

from __future__ import annotations

import dataclasses
from typing import Any

from loi.envs.arena import ARENA, ARENAS, arena_spec
from loi.envs.games import BUILTIN_GAMES, Game
from loi.envs.jaxmarl_adapter import is_jaxmarl_name, make_jaxmarl
from loi.envs.layouts import BUILTIN_LAYOUTS, Layout
from loi.errors import LoiError

MATRIX = "matrix"
PLAYERS = "num_players"  # the query key of ``GAME/LAYOUT?num_players=N``

_games: dict[str, Game] = dict(BUILTIN_GAMES)
_layouts: dict[str, Layout] = dict(BUILTIN_LAYOUTS)


def games() -> dict[str, Game]:
    """Registered games by name (a copy)."""
    return dict(_games)


def layouts() -> dict[str, Layout]:
    """Registered layouts by name (a copy)."""
    return dict(_layouts)


def names() -> list[str]:
    """Every registered environment name: ``matrix/GAME``, then ``GAME/LAYOUT`` (the layouts
    whose resource types the game has strategies for), then ``GAME/arena``."""
    return [f"{MATRIX}/{g}" for g in _games] + [
        f"{g}/{lay}" for g, game in _games.items() for lay, layout in _layouts.items()
        if layout.max_resource_type <= game.num_strategies
    ] + [f"{g}/{ARENA}" for g in _games if g in ARENAS and ARENA not in _layouts]


def register(definition: Game | Layout, *, overwrite: bool = False) -> Game | Layout:
    """Add a user game or layout (built by ``make_game`` / ``make_layout``)."""
    if isinstance(definition, Game):
        table, kind = _games, "game"
    elif isinstance(definition, Layout):
        table, kind = _layouts, "layout"
        if definition.name == MATRIX:
            raise LoiError(f"layout name {MATRIX!r} is reserved")
    else:
        raise LoiError(f"register() takes a Game or a Layout, got {type(definition).__name__}")
    if definition.name in table and table[definition.name] != definition and not overwrite:
        raise LoiError(f"{kind} {definition.name!r} is already registered (pass overwrite=True)")
    table[definition.name] = definition
    return definition


def _lookup(table: dict, kind: str, value):
    if value is None or not isinstance(value, str):
        return value
    if value not in table:
        raise LoiError(f"unknown {kind} {value!r}; known: {', '.join(sorted(table))}")
    return table[value]


def make(name: str | None = None, *, game: Game | str | None = None,
         layout: Layout | str | None = None, **overrides: Any):
    """Build an environment.

    ``make("stag_hunt/large")``, ``make("matrix/chicken")``, or with objects:
    ``make(game=my_game, layout=my_layout)``, ``make("matrix", game=my_game)``.
    ``overrides`` replace environment parameters (e.g. ``min_steps=50``).
    ``make("prisoners_dilemma/arena")``: the game's Melting Pot arena, 8 players unless
    ``num_players=`` says otherwise (its map and rules: :mod:`loi.envs.arena`);
    ``make("prisoners_dilemma/arena?num_players=16")`` is ``num_players=16`` in the name, as
    ``env.name`` writes it, so ``make(env.name)`` builds ``env`` again (keyword overrides other
    than ``num_players`` are not part of the name).
    ``make("jaxmarl:overcooked/cramped_room")``: a JaxMARL environment (``overrides`` are its
    keyword options; see :mod:`loi.envs.jaxmarl_adapter`).
    """
    game_name = layout_name = None
    if is_jaxmarl_name(name):
        if game is not None or layout is not None:
            raise LoiError(f"{name!r} is a JaxMARL environment; it takes no game= or layout= objects")
        return make_jaxmarl(name, **overrides)
    if name is not None:
        if not isinstance(name, str):
            raise LoiError(f"environment name must be a string, got {type(name).__name__}")
        name, players = _player_query(name, overrides)
        if players is not None:
            overrides = {**overrides, PLAYERS: players}
        parts = name.split("/")
        if name == MATRIX:
            layout_name = MATRIX
        elif len(parts) == 2 and all(parts):
            first, second = parts
            game_name, layout_name = (second, MATRIX) if first == MATRIX else (first, second)
        else:
            raise LoiError(f"environment name must be GAME/LAYOUT, matrix/GAME or jaxmarl:ENV_ID, got {name!r}")
    game_obj = _lookup(_games, "game", game if game is not None else game_name)
    if game_obj is None:
        raise LoiError("make() needs a game: a name like 'stag_hunt/large' or game=...")
    if not isinstance(game_obj, Game):
        raise LoiError(f"game must be a Game or a registered name, got {type(game_obj).__name__}")
    if layout_name == MATRIX and layout is None:
        from loi.envs.matrix_game import MatrixGame

        return _build(MatrixGame, game_obj, overrides)
    # GAME/arena: the game's Melting Pot arena; a user layout named "arena" serves the games without one.
    if (layout if layout is not None else layout_name) == ARENA and (game_obj.name in ARENAS or ARENA not in _layouts):
        spec = arena_spec(game_obj.name)
        layout, overrides = spec.layout, {**spec.parameters(), **overrides}
    layout_obj = _lookup(_layouts, "layout", layout if layout is not None else layout_name)
    if layout_obj is None:
        raise LoiError("make() needs a layout for a grid game: 'GAME/LAYOUT' or layout=...")
    if not isinstance(layout_obj, Layout):
        raise LoiError(f"layout must be a Layout or a registered name, got {type(layout_obj).__name__}")
    from loi.envs.grid_game import GridGame

    return _build(GridGame, game_obj, overrides, layout=layout_obj)


def _player_query(name: str, overrides: dict[str, Any]) -> tuple[str, int | None]:
    """``GAME/LAYOUT?num_players=N`` -> ``("GAME/LAYOUT", N)`` (None without a query): the one
    parameter a grid game's name carries (``GridGame.name`` writes it when not the default)."""
    head, mark, query = name.partition("?")
    if not mark:
        return name, None
    key, eq, value = query.partition("=")
    if key != PLAYERS or not eq or not value.isdigit():
        raise LoiError(f"an environment name's query is ?{PLAYERS}=N (other parameters are keyword "
                       f"overrides), got {name!r}")
    if PLAYERS in overrides and overrides[PLAYERS] != int(value):
        raise LoiError(f"{name!r} and {PLAYERS}={overrides[PLAYERS]!r} disagree")
    return head, int(value)


def _build(cls, game: Game, overrides: dict[str, Any], **fixed):
    allowed = {f.name for f in dataclasses.fields(cls)} - {"game", "layout"}
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise LoiError(
            f"unknown parameter {unknown[0]!r} for {cls.__name__}; allowed: {', '.join(sorted(allowed))}"
        )
    try:
        return cls(game=game, **fixed, **overrides)
    except TypeError as err:
        raise LoiError(f"invalid parameters for {cls.__name__}: {err}") from None


def scored(env):
    """The environment evaluation plays: ``env`` with any training-only reward term
    (a JaxMARL env's ``reward_shaping``) removed; loi's own games are scored as trained."""
    strip = getattr(env, "scored", None)
    return strip() if callable(strip) else env
