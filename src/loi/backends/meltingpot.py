"""The real Melting Pot 2.x 2-player "*_in_the_matrix__repeated" and "__one_shot" substrates,
and the N-player "*_in_the_matrix__arena" ones, as an optional backend.

Install with ``bash scripts/install_meltingpot.sh`` (a separate venv, no TensorFlow, no bot
assets). Everything here is numpy plus Melting Pot, imported only when used; without it,
:func:`require` raises :class:`LoiError`.

What this module knows of Melting Pot, each read from the substrate's own settings (the
config module's ``lab2d_settings_builder`` output), never copied:

- :func:`substrate_settings` builds a substrate's settings with an optional custom ASCII map
  (the way the paper's authors changed ``ASCII_MAP`` in the config modules) and custom payoff
  matrices of size ``k <= `` the substrate's own number of resources.
- :func:`loi_rows` translates a substrate's map into loi's map symbols (``W n a 1-9``).
- :func:`rule_settings` reads a substrate's rules (view, beam, freeze, respawn, regrowth,
  ending, tie-breaking, roles, cap) under the names of loi's grid-game parameters.
- :func:`view_palette` / :func:`parse_view` turn a player's ``RGB`` observation into the cell
  view a scripted policy reads: terrain codes (-1 wall, 0 floor, j >= 1 resource of type j)
  and where other players are; :func:`policy_window` says where the 5x5 window around the
  player lies in a larger view (the arenas' 11x11).
- :func:`play_episode` plays one episode with a per-step policy callback and returns what the
  parity benchmark measures, counting interactions (and who took part) from the substrate's
  ``interaction`` events.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from loi.errors import LoiError

INSTALL_HINT = "run `bash scripts/install_meltingpot.sh` and use .venv-meltingpot/bin/python"
SPRITE_SIZE = 8  # pixels per cell in the substrates' RGB views (the_matrix configs: spriteSize)
WALL, FLOOR = -1, 0


def available() -> bool:
    """Whether the Melting Pot substrates can be imported here."""
    try:
        require()
    except LoiError:
        return False
    return True


def require():
    """The ``meltingpot.configs.substrates`` module, or a LoiError saying how to install it."""
    try:
        from meltingpot.configs import substrates  # noqa: PLC0415
        from meltingpot.utils.substrates import builder  # noqa: F401, PLC0415
    except ImportError as err:
        raise LoiError(f"Melting Pot is not installed ({err}); {INSTALL_HINT}") from None
    return substrates


ONE_SHOT_SUFFIX = "_one_shot"


def substrate_name(game: str, arena: bool = False) -> str:
    """``GAME_in_the_matrix__repeated``, or ``GAME_in_the_matrix__one_shot`` for ``GAME_one_shot``,
    or with ``arena`` ``GAME_in_the_matrix__arena`` (``pure_coordination_3x3``: Melting Pot's
    pure coordination arena, which plays the 3x3 game)."""
    if arena:
        return f"{game.removesuffix('_3x3')}_in_the_matrix__arena"
    if game.endswith(ONE_SHOT_SUFFIX):
        return f"{game[: -len(ONE_SHOT_SUFFIX)]}_in_the_matrix__one_shot"
    return f"{game}_in_the_matrix__repeated"


def _components(obj: Mapping[str, Any]) -> dict[str, dict]:
    return {c["component"]: c.setdefault("kwargs", {}) for c in obj["components"]}


def substrate_settings(
    game: str,
    *,
    rows: Sequence[str] | None = None,
    row_payoff: Sequence[Sequence[float]] | None = None,
    col_payoff: Sequence[Sequence[float]] | None = None,
    roles: Sequence[str] | None = None,
    arena: bool = False,
) -> dict:
    """The lab2d settings of ``game``'s substrate (:func:`substrate_name`) for two players, with
    the map replaced by ``rows`` (loi symbols: ``W`` wall, ``n`` spawn, ``1``-``9`` resource,
    ``a`` random type, space floor) and the payoffs by ``row_payoff`` / ``col_payoff`` if given.
    ``roles``: the players' roles (default ``("default", "default")``: in bach or stravinsky,
    player 1 the row role and player 2 the column role). ``arena``: the game's arena substrate,
    with its own players and roles (``default_player_roles``, 8) unless ``roles`` says otherwise."""
    substrates = require()
    name = substrate_name(game, arena)
    if name not in substrates.SUBSTRATES:
        raise LoiError(f"Melting Pot has no substrate {name!r}")
    config = substrates.get_config(name)
    if roles is not None:
        roles = tuple(roles)
    else:
        roles = tuple(config.default_player_roles) if arena else ("default",) * 2
    settings = copy.deepcopy(dict(config.lab2d_settings_builder(roles=roles, config=config)))
    sim = settings["simulation"]
    resources = _resource_prefab_names(sim)
    if row_payoff is not None:
        k = len(row_payoff)
        if k > len(resources):
            raise LoiError(f"{name} has {len(resources)} resource types; a {k}x{k} game needs more")
        matrix = _components(sim["scene"])["TheMatrix"]
        matrix["matrix"] = [list(map(float, r)) for r in row_payoff]
        cols = col_payoff if col_payoff is not None else np.asarray(row_payoff).T
        matrix["columnPlayerMatrix"] = [list(map(float, r)) for r in cols]
        everything = np.concatenate([np.ravel(row_payoff), np.ravel(cols)])
        lo, hi = float(everything.min()), float(everything.max())
        edges = np.linspace(lo, hi + 1e-6 * max(1.0, abs(hi)), 6)  # 5 indicator colours
        matrix["resultIndicatorColorIntervals"] = [[float(a), float(b)] for a, b in zip(edges, edges[1:])]
        for obj in sim["gameObjects"]:
            comps = _components(obj)
            if "GameInteractionZapper" in comps:
                comps["GameInteractionZapper"]["numResources"] = k
            for metric in comps.get("AvatarMetricReporter", {}).get("metrics", []):
                if metric["name"] == "INTERACTION_INVENTORIES":
                    metric["shape"] = (2, k)
        resources = resources[:k]
    if rows is not None:
        k = len(resources)
        used = {int(c) for r in rows for c in r if c.isdigit()}
        if used and max(used) > k:
            raise LoiError(f"the map uses resource type {max(used)}, the game has {k}")
        prefab_map = {"W": "wall", "n": "spawn_point", "a": {"type": "choice", "list": list(resources)}}
        prefab_map.update({str(j + 1): resources[j] for j in range(k)})
        sim["charPrefabMap"] = prefab_map
        sim["map"] = "\n" + "\n".join(r.replace(".", " ") for r in rows) + "\n"
    elif row_payoff is not None:
        choice = next((v for v in sim["charPrefabMap"].values() if isinstance(v, Mapping)), None)
        if choice is not None:
            choice["list"] = list(resources)
    return settings


def _resource_prefab_names(sim: Mapping[str, Any]) -> list[str]:
    """Resource prefabs in class order (1, 2, ...)."""
    by_class = {}
    for name, prefab in sim["prefabs"].items():
        comps = _components(prefab)
        if "Resource" in comps:
            by_class[int(comps["Resource"]["resourceClass"])] = name
    return [by_class[c] for c in sorted(by_class)]


def loi_rows(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The substrate's map in loi's symbols (resource class j -> digit j, a choice -> ``a``)."""
    sim = settings["simulation"]
    classes = {name: j + 1 for j, name in enumerate(_resource_prefab_names(sim))}
    symbol = {" ": " "}
    for char, prefab in sim["charPrefabMap"].items():
        if isinstance(prefab, Mapping):
            symbol[char] = "a"
        elif prefab == "wall":
            symbol[char] = "W"
        elif prefab == "spawn_point":
            symbol[char] = "n"
        elif prefab in classes:
            symbol[char] = str(classes[prefab])
        else:
            raise LoiError(f"map symbol {char!r} ({prefab}) has no loi equivalent")
    lines = [line for line in sim["map"].split("\n") if line.strip()]
    return tuple("".join(symbol[c] for c in line) for line in lines)


def _avatars(sim: Mapping[str, Any]) -> list[dict[str, dict]]:
    """The components of each avatar game object, in player order."""
    avatars = [_components(obj) for obj in sim["gameObjects"] if "Avatar" in _components(obj)]
    return sorted(avatars, key=lambda comps: int(comps["Avatar"]["index"]))


# What loi's grid game assumes of every substrate: the settings all 2-player in-the-matrix
# substrates of Melting Pot 2.4.1 share, and which loi does not model otherwise.
_ASSUMED_ZAPPER = {"reset_winner_inventory": True, "reset_loser_inventory": True, "losingPlayerDies": True,
                   "winningPlayerDies": True}
_ASSUMED_MATRIX = {"disallowUnreadyInteractions": True}


def rule_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A substrate's rules, named as loi's grid-game parameters (``loi.envs.grid_parameters``)
    plus ``max_steps`` and ``row_role`` (per player, whether it holds the row role; None
    without ``DyadicRole``). Raises LoiError on a setting loi's grid game does not model."""
    sim = settings["simulation"]
    scene = _components(sim["scene"])
    matrix = scene["TheMatrix"]
    for key, value in _ASSUMED_MATRIX.items():
        if bool(matrix.get(key, False)) != value:
            raise LoiError(f"TheMatrix {key} = {matrix.get(key)!r}: loi's grid game assumes {value}")
    if matrix.get("zeroInitialInventory", False):
        raise LoiError("TheMatrix zeroInitialInventory: loi's grid game starts inventories at one of each")
    avatars = _avatars(sim)
    zappers = [a["GameInteractionZapper"] for a in avatars]
    views = [a["Avatar"]["view"] for a in avatars]
    if any(z != zappers[0] for z in zappers) or any(v != views[0] for v in views):
        raise LoiError("the players' zappers or views differ; loi's grid game gives both the same")
    zapper, view = zappers[0], views[0]
    for key, value in _ASSUMED_ZAPPER.items():
        if zapper.get(key) != value:
            raise LoiError(f"GameInteractionZapper {key} = {zapper.get(key)!r}: loi's grid game assumes {value}")
    for key in ("rewardMultiplier", "rewardFloor", "rewardFromZappingUnreadyPlayer"):
        if key in zapper:
            raise LoiError(f"GameInteractionZapper {key} is set: loi's grid game does not model it")
    if view["left"] != view["right"] or view.get("centered", False):
        raise LoiError(f"view {view}: loi's grid game has a symmetric, uncentred view")
    resources = [_components(sim["prefabs"][name]) for name in _resource_prefab_names(sim)]
    regrowth = {(r["Resource"]["regenerationDelay"], r["Resource"]["regenerationRate"],
                 r["Destroyable"]["initialHealth"]) for r in resources}
    if len(regrowth) != 1:
        raise LoiError(f"the resource types regrow or break differently ({sorted(regrowth)})")
    (delay, rate, health), = regrowth
    ending = scene.get("StochasticIntervalEpisodeEnding")
    roles = [a.get("DyadicRole") for a in avatars]
    return {
        "view_ahead": int(view["forward"]), "view_behind": int(view["backward"]),
        "view_width": int(view["left"]) + int(view["right"]) + 1,
        "beam_length": int(zapper["beamLength"]), "beam_radius": int(zapper["beamRadius"]),
        "cooldown_steps": int(zapper["cooldownTime"]), "freeze_steps": int(zapper.get("freezeOnInteraction", 0)),
        "respawn_steps": int(zapper["framesTillRespawn"]),
        "end_on_interaction": bool(zapper.get("endEpisodeOnFirstInteraction", False)),
        "resource_health": int(health), "regrowth_delay": int(delay), "regrowth_probability": float(rate),
        "regrow_when_removed": all("SpawnResourcesWhenAllPlayersZapped" in a for a in avatars),
        "random_tie_breaking": bool(matrix.get("randomTieBreaking", False)),
        "min_steps": int(ending["minimumFramesPerEpisode"]) if ending else None,
        "end_interval": int(ending["intervalLength"]) if ending else None,
        "end_probability": float(ending["probabilityTerminationPerInterval"]) if ending else 0.0,
        "max_steps": max_steps(settings),
        "row_role": None if all(r is None for r in roles) else tuple(bool(r["rowPlayer"]) for r in roles),
    }


def num_players(settings: Mapping[str, Any]) -> int:
    return len(_avatars(settings["simulation"]))


def num_resources(settings: Mapping[str, Any]) -> int:
    return len(_components(settings["simulation"]["scene"])["TheMatrix"]["matrix"])


def max_steps(settings: Mapping[str, Any]) -> int:
    return int(settings["maxEpisodeLengthFrames"])


@dataclass(frozen=True)
class ViewPalette:
    """Base colours (RGB) that identify what a cell of a player's view shows."""

    wall: tuple[int, int, int]
    partners: tuple[tuple[int, int, int], ...]  # the other players' avatars
    resources: tuple[tuple[int, int, int], ...]  # by class, 1-based order


def view_palette(settings: Mapping[str, Any], player: int = 0) -> ViewPalette:
    """The colours of walls, each resource type and the other players' avatars as ``player``
    (0-based) sees them: the "Other" sprite where avatars are drawn self-versus-other, else
    every other avatar's own colour (bach or stravinsky: blue the row role, orange the column
    role; the arenas: one colour per player, each seeing itself as "Self")."""
    sim = settings["simulation"]

    def base(palette) -> tuple[int, int, int]:
        return tuple(int(v) for v in palette["*"][:3])

    wall = base(_components(sim["prefabs"]["wall"])["Appearance"]["palettes"][0])
    resources = tuple(
        base(_components(sim["prefabs"][name])["Appearance"]["palettes"][0])
        for name in _resource_prefab_names(sim)[: num_resources(settings)]
    )
    avatars = _avatars(sim)
    extra = avatars[player].get("AdditionalSprites", {})
    names = list(extra.get("customSpriteNames", ()))
    if "Other" in names:
        partners = (base(extra["customPalettes"][names.index("Other")]),)
    else:
        own = base(extra["customPalettes"][names.index("Self")]) if "Self" in names else None
        own = own or base(avatars[player]["Appearance"]["palettes"][0])
        partners = tuple(dict.fromkeys(base(a["Appearance"]["palettes"][0])
                                       for i, a in enumerate(avatars) if i != player))
        if own in partners:
            raise LoiError("two avatars have the same colour; the partner cannot be told apart")
    if set(partners) & {wall, *resources}:
        raise LoiError("an avatar has the colour of a wall or a resource; the view cannot be parsed")
    return ViewPalette(wall=wall, partners=partners, resources=resources)


def policy_window(settings: Mapping[str, Any], ahead: int = 3, half_width: int = 2) -> tuple[int, int]:
    """(row, column) in cells of the top-left corner of the window of ``ahead`` cells ahead, one
    behind and ``half_width`` to each side of the player, in the substrate's view (forward F,
    left L: the player at row F, column L); (0, 0) for the repeated substrates' 5x5 view."""
    view = _avatars(settings["simulation"])[0]["Avatar"]["view"]
    if view["forward"] < ahead or view["backward"] < 1 or view["left"] < half_width:
        raise LoiError(f"view {view} does not hold the policy's window ({ahead} ahead, {half_width} aside)")
    return int(view["forward"]) - ahead, int(view["left"]) - half_width


def parse_view(rgb: np.ndarray, palette: ViewPalette) -> tuple[np.ndarray, np.ndarray]:
    """``(terrain i32[H, W], partner bool[H, W])`` from a player's ``RGB`` view (or a window of
    it): a cell shows another player / a wall / resource j when any of its pixels has that
    base colour. Row 0 is the farthest ahead, column 0 the far left (in the 5x5 window the
    player stands at row 3, column 2)."""
    h, w = rgb.shape[0] // SPRITE_SIZE, rgb.shape[1] // SPRITE_SIZE
    rgb = rgb.astype(np.uint32)
    packed = ((rgb[:, :, 0] << 16) | (rgb[:, :, 1] << 8) | rgb[:, :, 2]).reshape(h, SPRITE_SIZE, w, SPRITE_SIZE)

    def shows(color) -> np.ndarray:
        r, g, b = color
        return np.any(packed == ((r << 16) | (g << 8) | b), axis=(1, 3))

    terrain = np.zeros((h, w), np.int32)
    for j, color in enumerate(palette.resources):
        terrain[shows(color)] = j + 1
    terrain[shows(palette.wall)] = WALL
    return terrain, np.any([shows(color) for color in palette.partners], axis=0)


@dataclass(frozen=True)
class EpisodeRecord:
    """What one episode contributes to the parity statistics."""

    length: int
    interactions: int  # pairs that interacted
    first_interactions: int  # the interactions player 1 took part in
    reward: float  # every player's absolute rewards, summed over the episode
    first_reward: float  # player 1's rewards (signed), summed over the episode
    dominant_share: float  # sum over interacting players of max_k strategy_k
    strategies: int  # number of interacting-player strategies in dominant_share (2 per interaction)
    reward_delay: float  # sum over interactions of the steps from the interaction to its reward
    delays: int  # interactions whose reward arrived (and was not zero for both partners)


PolicyFn = Callable[[int, np.ndarray, np.ndarray, bool], int]


def _event_fields(values) -> dict[str, Any]:
    items = list(values)[1:]  # the first entry is the payload type (b"dict")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in zip(items[::2], items[1::2])}


def play_episode(
    game: str,
    settings: Mapping[str, Any],
    policy: PolicyFn,
    seed: int,
    *,
    max_frames: int | None = None,
    arena: bool = False,
) -> EpisodeRecord:
    """Play one episode of ``game``'s substrate built from ``settings`` (``arena``: its arena
    substrate's). ``policy(player, terrain, partner, collected) -> action index`` (into the
    substrate's action set) is called for every player (0-based) every step, on the 5x5
    window of its parsed view (:func:`policy_window`); ``collected`` = the player has
    collected a resource since its last reset (its inventory exceeds the starting one)."""
    substrates = require()
    from meltingpot.utils.substrates import builder  # noqa: PLC0415

    settings = dict(settings)
    if max_frames is not None:
        settings["maxEpisodeLengthFrames"] = int(max_frames)
    action_set = [dict(a) for a in substrates.get_config(substrate_name(game, arena)).action_set]
    players = range(num_players(settings))
    palettes = [view_palette(settings, player) for player in players]
    row0, col0 = (SPRITE_SIZE * x for x in policy_window(settings))
    window = (slice(row0, row0 + 5 * SPRITE_SIZE), slice(col0, col0 + 5 * SPRITE_SIZE))
    k = num_resources(settings)
    env = builder.builder(settings, env_seed=int(seed) + 1)
    try:
        timestep = env.reset()
        start = None
        length = interactions = first_interactions = strategies = delays = 0
        reward = first_reward = dominant = delay = 0.0
        # Per player: the step of its last interaction whose reward is still due (None: none),
        # and its partner in it. A player takes part in one interaction at a time (frozen, then
        # removed, until the reward is paid); one that pays nothing to either partner (a tie at
        # zero in a zero-sum game) is overwritten by the partners' next.
        pending: dict[int, int | None] = dict.fromkeys(players)
        mate: dict[int, int] = {}
        while True:
            obs = timestep.observation
            actions = {}
            for player in players:
                inventory = np.asarray(obs[f"{player + 1}.INVENTORY"])
                if start is None:
                    start = inventory.copy()
                rgb = np.asarray(obs[f"{player + 1}.RGB"])[window]
                terrain, partner = parse_view(rgb, palettes[player])
                collected = bool(inventory.sum() > start.sum())
                chosen = action_set[int(policy(player, terrain, partner, collected))]
                for part in ("move", "turn", "interact"):
                    actions[f"{player + 1}.{part}"] = chosen.get(part, 0)
            timestep = env.step(actions)
            length += 1
            paid = [float(timestep.observation[f"{player + 1}.REWARD"]) for player in players]
            reward += sum(abs(r) for r in paid)
            first_reward += paid[0]
            for player in players:
                if paid[player] != 0.0 and pending[player] is not None:
                    delay += length - pending[player]
                    delays += 1
                    pending[player] = pending[mate[player]] = None
            for event_name, values in env.events():
                if event_name != "interaction":
                    continue
                fields = _event_fields(values)
                row, col = int(fields["row_player_idx"]) - 1, int(fields["col_player_idx"]) - 1  # Lua's 1-based
                interactions += 1
                first_interactions += 0 in (row, col)
                pending[row] = pending[col] = length
                mate[row], mate[col] = col, row
                for side in ("row_inventory", "col_inventory"):
                    inv = np.asarray(fields[side], float)[:k]
                    dominant += float(inv.max() / inv.sum())
                    strategies += 1
            if timestep.last():
                break
    finally:
        env.close()
    return EpisodeRecord(length, interactions, first_interactions, reward, first_reward, dominant, strategies,
                         delay, delays)
