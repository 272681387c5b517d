"""Grid "in the matrix" games (Melting Pot's *_in_the_matrix__repeated and __one_shot
substrates for two players; ``num_players`` N >= 2 and the __arena substrates, loi.envs.arena).

The rules are Melting Pot 2.x's (meltingpot/lua/levels/the_matrix/components.lua,
the substrate configs, and the dmlab2d engine's frame order), step for step:

- A k x k game has k resource types (``game.num_strategies``; map digits 1..k,
  ``a`` cells draw one of the k at reset). Inventories start at one of each type
  and are reset to that after an interaction; walking onto a resource adds one.
  A player is *ready* once it has collected a resource since its last reset
  (Melting Pot's ``playerCollectedAtLeastOneResource``): inventory total > k.
- Each step the players move (in random order; neither may enter the other's
  cell), then fire. The beam (``GameInteractionZapper``, length 3, radius 1)
  covers the side lanes 0-2 cells ahead (the cells beside the player
  included) and the centre lane 1-3 ahead, each lane stopped by a wall, a
  player or a resource. A resource in the beam loses one health (3) and stops
  the beam, unless that hit destroys it. The beams fire in random order, and
  only the first one to reach the other player counts: if both players are
  ready they interact, the one who fired being the row player. In a game with
  roles (``game.roles``, Melting Pot's ``DyadicRole``) the row player is the
  seat holding the row role (``roles``, per seat), and players holding the same
  role never interact. Strategies are the normalised inventories (x, y; never
  pure, since inventories start at one of each) and the rewards ``x·A·y`` and
  ``x·B·y``. The row player wins if its reward is higher or equal (or, with
  ``random_tie_breaking``, on a tie by a coin flip) and then has its inventory
  reset at once.
- The cool-down (2) counts down only on steps a player is on the map and free
  to act, so it pauses while frozen or removed and carries over a respawn.
- Timeline of an interaction at step k: both frozen with the result shown on
  their avatars (observations k+1 .. k+16); at k+17 rewards are paid, both
  inventories reset and both players removed; at k+18 every resource regrows
  (no player on the map; unless ``regrow_when_removed`` is off) and, with
  ``end_on_interaction`` (the one-shot substrates), the episode ends; at k+23
  both respawn at random free spawn points (``respawn_steps`` = 5).
- Resources regrow like Melting Pot's ``Resource``: from the 11th step after
  collection (or destruction) on, each step with probability 0.02, unless a
  player stood on the cell at the start of the step (``regrowth_delay`` + 1,
  ``regrowth_probability``; running with scissors: 16th step).
- Episodes end as in ``loi.envs.ending``: first possible end after step 1099,
  capped at the game's ``max_steps`` (5000; 2500 for stag hunt; 1000 one-shot);
  ``end_probability`` 0 turns the interval ending off.

With N players (Melting Pot's arena substrates), only pairs interact, as
GameInteractionZapper:onHit resolves it: the players move one after another in random order
(none enters a cell another player on the map holds); the beams, queued in random order, hit
the first player of each lane (left lanes, right lanes, centre: dmlab2d's Grid::HitBeamActual);
a hit on a player already hit this step does nothing; otherwise the hit player is marked and,
unless the zapper is marked already (it hit or was hit before), the zapper is marked too and the
two interact if the hit player is not frozen, both are ready and their roles (if any) differ. A
player's beam fires even when an earlier beam of the step took it into an interaction (the beams
are queued before any lands). Each pair follows the timeline below on its own timer; inventories,
rewards and cool-downs are per player; partners respawn on random spawn points that no player on
the map holds. For two players these rules are the 2-player rules, draw for draw.

Every rule parameter defaults to the game's ``grid`` setting, else to the value
Melting Pot's substrates share (``loi.envs.grid_parameters``).

Observation (``env.obs_layout`` names every part): the egocentric view (3 cells
ahead, 1 behind, 5 wide; Melting Pot's avatar sprites do not rotate, so the
partner's facing is not shown) with one channel each for walls, resource types,
the partner, the readiness mark on avatars (one step after the collection that
made them ready, as Melting Pot draws it; with N players the "partner" channel shows every
other player, and the marks each avatar's own), the result shown during the freeze,
and its reward value; then the own inventory, READY_TO_SHOOT (1 − cool-down
left / cool-down) and INTERACTION_INVENTORIES (own then partner on the frame of
an interaction, −1 otherwise); in a game with roles, whether the observer holds
the row role. A removed player sees an empty view.

Speed: the state is a handful of small integer arrays; everything that depends
only on the map (wall-resolved move targets, the beam's lanes, the static part
of every egocentric view) is precomputed per (cell, orientation), so a step is
a few row gathers plus elementwise arithmetic, with no per-cell scatters.

Cell positions are flat indices into the map padded with walls on every side
(``env.position(row, col)`` / ``env.row_col(pos)`` convert). Orientation: 0
north (up), 1 east, 2 south, 3 west.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from loi.envs.arena import ARENA, ARENAS, DEFAULT_PLAYERS
from loi.envs.base import AGENTS, MultiAgentEnv, agent_names, dones_of, per_agent
from loi.envs.ending import episode_ends, validate_ending
from loi.envs.games import Game
from loi.envs.grid_parameters import MELTINGPOT_DEFAULTS, check_parameters
from loi.envs.layouts import Layout
from loi.envs.spaces import Box, Discrete
from loi.errors import LoiError

# Actions, in Melting Pot's order.
NOOP, FORWARD, BACKWARD, STEP_LEFT, STEP_RIGHT, TURN_LEFT, TURN_RIGHT, INTERACT = range(8)
NUM_ACTIONS = 8
# Direction of each move action relative to the facing direction (quarter turns clockwise).
_MOVE_ROTATION = np.array([0, 0, 2, 3, 1, 0, 0, 0])
_IS_MOVE = np.array([0, 1, 1, 1, 1, 0, 0, 0], bool)
_TURN = np.array([0, 0, 0, 0, 0, -1, 1, 0])
# (d_row, d_col) of facing north, east, south, west.
_DIRECTIONS = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])


@struct.dataclass
class GridState:
    """N = ``env.num_players``; every per-player array is indexed by seat (agent_i is i)."""

    position: jax.Array  # i32[N] flat padded cell of each player
    orientation: jax.Array  # i32[N] 0 N, 1 E, 2 S, 3 W
    inventory: jax.Array  # i32[N, k] resources held, per type (starts at 1 each)
    cooldown: jax.Array  # i32[N] steps until the beam can fire again
    # i32[N] per player, 0: playing; else counts down from env.interaction_timeout after its
    # interaction (see GridGame's phase helpers: frozen, then removed, then respawn at 1 -> 0).
    # The two partners of an interaction share their value.
    timeout: jax.Array
    pending_rewards: jax.Array  # f32[N] rewards of the last interaction (paid at the end of the freeze)
    interaction_inventory: jax.Array  # i32[N, k] inventories at the last interaction, before any reset
    partner: jax.Array  # i32[N] partner in the last interaction, -1 before the first one
    ready_cue: jax.Array  # bool[N] ready at the start of the last step (what the avatar mark shows)
    resource_timer: jax.Array  # i32[R] 0: present; > 1 steps of delay left; 1: may regrow each step
    resource_health: jax.Array  # i32[R] zaps left before the resource is destroyed
    resource_type: jax.Array  # i32[R] 0-based type of each resource cell this episode
    episode_step: jax.Array  # i32[]
    # f32[2, k, k] row and column payoff and i32[] episode cap. Carried in the state, not baked
    # into the program as constants, so one compiled program serves every game on a layout.
    payoff: jax.Array
    max_steps: jax.Array


@dataclass(frozen=True)
class ObservationLayout:
    """Where everything is in a grid game's flat observation (one owner for every offset).

    ``obs[view]`` reshaped to ``view_shape`` is the egocentric view: row 0 farthest ahead,
    column 0 far left, the observer at ``self_cell``. Channel indices: ``wall``,
    ``resources`` (type 1..k), ``partner``, ``ready`` (readiness mark on an avatar: the
    observer's own at ``self_cell``, the partner's where it stands), ``result_shown`` and
    ``result`` (the avatar's interaction reward, during the freeze). After the view: the own
    inventory (k entries, one per resource type), ``ready_to_shoot``, the interaction
    inventories (2k), and, in a game with roles only, ``row_role``: 1 when the observer holds
    the row role, else 0 (Melting Pot shows it as the colour of the observer's own avatar).
    """

    view_shape: tuple[int, int, int]
    self_cell: tuple[int, int]
    wall: int
    resources: slice
    partner: int
    ready: int
    result_shown: int
    result: int
    inventory: slice
    ready_to_shoot: int
    interaction_inventories: slice  # 2k entries: own inventory, then the partner's
    row_role: int | None = None  # index of the role entry; None in a game without roles

    @property
    def view(self) -> slice:
        h, w, c = self.view_shape
        return slice(0, h * w * c)

    @property
    def num_types(self) -> int:
        """k: resource types (view channels ``resources``, inventory entries)."""
        return self.inventory.stop - self.inventory.start

    @property
    def size(self) -> int:
        end = self.interaction_inventories.stop
        return end if self.row_role is None else max(end, self.row_role + 1)

    def parse(self, obs):
        """The named parts of one or a batch of observations (numpy or JAX arrays)."""
        lead = obs.shape[:-1]
        parts = {
            "view": obs[..., self.view].reshape(lead + self.view_shape),
            "inventory": obs[..., self.inventory],
            "ready_to_shoot": obs[..., self.ready_to_shoot],
            "interaction_inventories": obs[..., self.interaction_inventories].reshape(lead + (2, self.num_types)),
        }
        if self.row_role is not None:
            parts["row_role"] = obs[..., self.row_role]
        return parts


class _Tables(NamedTuple):
    """Everything that depends only on the map (numpy; constants under jit)."""

    padded_width: int
    wall: np.ndarray  # bool[cells]
    move_target: np.ndarray  # i32[cells * 4] cell reached moving in a direction, or the cell itself
    view_code: np.ndarray  # i32[cells * 4, V] static view: resource index 0..R-1, R empty, R+1 wall
    view_offset: np.ndarray  # i32[4, V] flat offset of every view cell, per orientation
    beam_cells: np.ndarray  # i32[cells * 4, B] beam cells lane by lane, -1 past a wall
    beam_prerequisite: np.ndarray  # bool[B, B]: slot j must be unblocked for slot i to be reached
    cell_resource: np.ndarray  # i32[cells] resource index of a cell, R for none
    resource_cell: np.ndarray  # i32[R]
    resource_fixed_type: np.ndarray  # i32[R] 0-based, -1 for 'a' (random at reset)
    spawn_cell: np.ndarray  # i32[S]


class _Draws(NamedTuple):
    """The random quantities of one step (or reset), N players."""

    end: jax.Array  # f32[] uniform: stochastic episode ending
    move_order: jax.Array  # i32[N] the players in the order they move
    fire_order: jax.Array  # i32[N] the players in the order their beams fire
    regrowth: jax.Array  # u32[] seed of the per-resource regrowth trials
    spawn: jax.Array  # u32[N] 16-bit uniforms: each player's spawn point, if it (re)spawns
    facing: jax.Array  # i32[N] facings at (re)spawn
    random_types: jax.Array  # i32[>=2] types of the 'a' cells
    row_wins_tie: jax.Array  # bool[N]: the coin of random tie-breaking, read at the row player


def _in_order(body, carry, xs):
    """``body(carry, x)`` applied for each x of ``xs`` (a pytree of arrays, leading axis) in turn;
    the final carry. ``lax.scan`` keeps the program one body long whatever the player count."""
    return jax.lax.scan(lambda c, x: (body(c, x), None), carry, xs)[0]


def _mix32(x: jax.Array) -> jax.Array:
    """A 32-bit integer hash (lowbias32): independent-looking words from one seed word."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


@dataclass(frozen=True)
class GridGame(MultiAgentEnv):
    """A grid "in the matrix" game; parameters default to Melting Pot's values."""

    game: Game
    layout: Layout
    # Rule parameters: None takes the game's ``grid`` value, else Melting Pot's shared setting
    # (loi.envs.grid_parameters.MELTINGPOT_DEFAULTS, which documents each); resolved at
    # construction, so an env always holds concrete values.
    view_ahead: int | None = None
    view_behind: int | None = None
    view_width: int | None = None
    beam_length: int | None = None
    beam_radius: int | None = None
    cooldown_steps: int | None = None
    freeze_steps: int | None = None
    respawn_steps: int | None = None
    end_on_interaction: bool | None = None
    resource_health: int | None = None
    regrowth_delay: int | None = None
    regrowth_probability: float | None = None
    regrow_when_removed: bool | None = None
    random_tie_breaking: bool | None = None
    min_steps: int | None = None
    end_interval: int | None = None
    end_probability: float | None = None
    max_steps: int | None = None  # None: the game's cap
    # Role of each seat (agent_0, agent_1, ...), for a game with roles: None gives the first
    # num_players // 2 seats the row role and the others the column role (Melting Pot's
    # default roles: bach_fan, stravinsky_fan for 2 players; 4 + 4 in the 8-player arena).
    roles: tuple[str, ...] | None = None
    # N >= 2 players, agent_0 .. agent_{N-1} (at most one per spawn point).
    num_players: int = 2

    def __post_init__(self) -> None:
        for field, default in MELTINGPOT_DEFAULTS.items():
            if getattr(self, field) is None:
                object.__setattr__(self, field, self.game.grid_default(field, default))
        check_parameters({field: getattr(self, field) for field in MELTINGPOT_DEFAULTS})
        validate_ending(self.min_steps, self.end_interval, self.end_probability or 1.0, self.max_steps)
        n = self.num_players
        spawns = sum(row.count("n") for row in self.layout.rows)
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 2 <= n <= spawns:
            raise LoiError(f"num_players must be an integer from 2 to the {spawns} spawn points of layout "
                           f"{self.layout.name!r}, got {n!r}")
        object.__setattr__(self, "num_players", int(n))
        game_roles = self.game.roles
        if self.roles is not None:
            if game_roles is None:
                raise LoiError(f"game {self.game.name!r} has no roles; roles= applies to games with roles")
            seats = tuple(self.roles) if isinstance(self.roles, (list, tuple)) else self.roles
            if not isinstance(seats, tuple) or len(seats) != n or not set(seats) <= set(game_roles):
                raise LoiError(f"roles must name the role of each of the {n} seats, each one of "
                               f"{list(game_roles)}, got {self.roles!r}")
            object.__setattr__(self, "roles", seats)
        elif game_roles is not None:
            object.__setattr__(self, "roles", (game_roles[0],) * (n // 2) + (game_roles[1],) * (n - n // 2))
        k = self.game.num_strategies
        if self.layout.max_resource_type > k:
            raise LoiError(
                f"layout {self.layout.name!r} uses resource type {self.layout.max_resource_type} "
                f"but game {self.game.name!r} has only {k} strategies"
            )

    # -- description ------------------------------------------------------
    @property
    def name(self) -> str:
        """``GAME/arena`` when this is the game's Melting Pot arena (its map and rules, any player
        count; loi.envs.arena), else ``GAME/LAYOUT``; with ``?num_players=N`` when N is not
        that name's default (8, 2), so that ``make(env.name)`` builds this env again up to
        keyword overrides of other parameters."""
        spec = ARENAS.get(self.game.name)
        params = {field: getattr(self, field) for field in spec.parameters()} if spec else {}
        if spec is not None and spec.describes(self.layout.name, params):
            base, players = f"{self.game.name}/{ARENA}", DEFAULT_PLAYERS
        else:
            base, players = f"{self.game.name}/{self.layout.name}", 2
        return base if self.num_players == players else f"{base}?num_players={self.num_players}"

    @property
    def agents(self) -> tuple[str, ...]:
        return agent_names(self.num_players)

    @property
    def num_agents(self) -> int:
        return self.num_players

    @property
    def num_strategies(self) -> int:
        return self.game.num_strategies

    @property
    def episode_cap(self) -> int:
        return int(self.game.max_steps if self.max_steps is None else self.max_steps)

    @cached_property
    def obs_layout(self) -> ObservationLayout:
        k = self.num_strategies
        h, w = self.view_ahead + 1 + self.view_behind, self.view_width
        c = 1 + k + 4  # wall, types, partner, ready, result shown, result
        v = h * w * c
        return ObservationLayout(
            view_shape=(h, w, c), self_cell=(self.view_ahead, w // 2), wall=0,
            resources=slice(1, 1 + k), partner=1 + k, ready=2 + k, result_shown=3 + k, result=4 + k,
            inventory=slice(v, v + k), ready_to_shoot=v + k,
            interaction_inventories=slice(v + k + 1, v + 3 * k + 1),
            row_role=None if self.roles is None else v + 3 * k + 1,
        )

    @property
    def row_seat(self) -> int | None:
        """In a game with roles, the seat holding the row role (None in a game without roles, where
        the zapper is the row player, and where both seats hold the same role: they never interact)."""
        if self.roles is None:
            return None
        rows = [seat for seat, role in enumerate(self.roles) if role == self.game.roles[0]]
        return rows[0] if len(rows) == 1 else None

    @property
    def roles_interact(self) -> bool:
        """Whether some seats' roles let them interact (always, in a game without roles)."""
        return self.roles is None or len(set(self.roles)) > 1

    @cached_property
    def _row_role(self) -> np.ndarray | None:
        """bool[N]: each seat holds the row role (None in a game without roles)."""
        return None if self.roles is None else np.array([r == self.game.roles[0] for r in self.roles])

    @property
    def num_channels(self) -> int:
        return self.obs_layout.view_shape[2]

    @property
    def view_shape(self) -> tuple[int, int, int]:
        return self.obs_layout.view_shape

    @property
    def obs_dim(self) -> int:
        return self.obs_layout.size

    def action_space(self, agent: str = AGENTS[0]) -> Discrete:
        return Discrete(NUM_ACTIONS)

    def observation_space(self, agent: str = AGENTS[0]) -> Box:
        # Interaction inventories are -1 off the interaction frame; the result value may be negative.
        low = min(-1.0, *(v for row in self.game.row_payoff + self.game.col_payoff for v in row))
        return Box(low, float(np.iinfo(np.int32).max), (self.obs_dim,))

    def beam_view_mask(self) -> np.ndarray:
        """bool[H, W]: the view cells an unobstructed beam covers (``_beam_lanes``)."""
        h, w, _ = self.view_shape
        me_row, me_col = self.obs_layout.self_cell
        mask = np.zeros((h, w), bool)
        for side, r, first, length in self._beam_lanes():
            for dist in range(first, first + length):
                row, col = me_row - dist, me_col + side * r
                if 0 <= row < h and 0 <= col < w:
                    mask[row, col] = True
        return mask

    @property
    def num_resources(self) -> int:
        return len(self._tables.resource_cell)

    # -- the interaction timeline (values of ``state.timeout``) -----------------
    @property
    def interaction_timeout(self) -> int:
        """``timeout`` after the step of an interaction; it then drops by one per step."""
        return self.freeze_steps + self.respawn_steps + 2

    def players_visible(self, state: GridState) -> jax.Array:
        """bool[N]: whether each player is on the map (partners share their timeline)."""
        return self._visible(state.timeout)

    def players_frozen(self, state: GridState) -> jax.Array:
        """bool[N]: whether each player is frozen after an interaction (on the map, not acting)."""
        return self._frozen(state.timeout)

    def showing_result(self, state: GridState) -> jax.Array:
        return self._showing(state.timeout)

    def _visible(self, timeout: jax.Array) -> jax.Array:
        return (timeout == 0) | (timeout > self.respawn_steps + 1)

    def _frozen(self, timeout: jax.Array) -> jax.Array:
        return timeout > self.respawn_steps + 1

    def _showing(self, timeout: jax.Array) -> jax.Array:
        return (timeout >= self.respawn_steps + 2) & (timeout < self.interaction_timeout)

    def _timeline(self, state: GridState) -> jax.Array:
        """The timers the step reads: i32[N], or for two players, who always share one timeline,
        i32[1] (it broadcasts against every per-player array, at the cost of one timer)."""
        return state.timeout[:1] if self.num_players == 2 else state.timeout

    @property
    def _pad(self) -> int:
        return max(self.view_ahead, self.view_behind, self.view_width // 2,
                   self.beam_length, self.beam_radius) + 1

    def position(self, row: int, col: int) -> int:
        """Flat cell index of map cell (row, col)."""
        return (row + self._pad) * self._tables.padded_width + col + self._pad

    def row_col(self, position) -> tuple[int, int]:
        """Map (row, col) of a flat cell index."""
        r, c = divmod(int(position), self._tables.padded_width)
        return r - self._pad, c - self._pad

    # -- static tables ----------------------------------------------------
    def _beam_lanes(self) -> list[tuple[int, int, int, int]]:
        """Melting Pot's beam (dmlab2d ``Grid::HitBeamActual``), lane by lane in its order:
        (side, distance sideways, first cell ahead, cells); left lanes, right lanes, centre.
        The side lane r starts beside the player and is ``beam_length - r + 1`` long."""
        lanes = [(side, r, 0, self.beam_length - r + 1) for side in (-1, 1)
                 for r in range(1, self.beam_radius + 1)]
        return lanes + [(0, 0, 1, self.beam_length)]

    @cached_property
    def _tables(self) -> _Tables:
        p = self._pad
        rows = self.layout.rows
        h, w = len(rows) + 2 * p, len(rows[0]) + 2 * p
        grid = np.full((h, w), "W")
        grid[p:-p, p:-p] = np.array([list(r) for r in rows])
        flat = grid.reshape(-1)
        cells = h * w
        wall = flat == "W"
        resource_cell = np.flatnonzero(np.isin(flat, list("a123456789")))
        fixed = np.array([-1 if flat[c] == "a" else int(flat[c]) - 1 for c in resource_cell], np.int32)
        num_res = len(resource_cell)
        code = np.full(cells, num_res, np.int32)  # EMPTY
        code[wall] = num_res + 1  # WALL
        code[resource_cell] = np.arange(num_res)

        rr, cc = np.divmod(np.arange(cells), w)
        # Wall-resolved targets: moving into a wall (or off the map) leaves you in place.
        move_target = np.empty((cells, 4), np.int32)
        for d, (dr, dc) in enumerate(_DIRECTIONS):
            tr, tc = np.clip(rr + dr, 0, h - 1), np.clip(cc + dc, 0, w - 1)
            target = tr * w + tc
            move_target[:, d] = np.where(wall[target], np.arange(cells), target)

        # View: row 0 is the farthest ahead, column 0 the far left.
        ahead = self.view_ahead - np.arange(self.view_ahead + 1 + self.view_behind)
        right = np.arange(self.view_width) - self.view_width // 2
        view_offset = np.empty((4, ahead.size * right.size), np.int64)
        for o, (fr, fc) in enumerate(_DIRECTIONS):
            rgt_r, rgt_c = _DIRECTIONS[(o + 1) % 4]
            dr = ahead[:, None] * fr + right[None, :] * rgt_r
            dc = ahead[:, None] * fc + right[None, :] * rgt_c
            view_offset[o] = (dr * w + dc).reshape(-1)
        # Positions near the padded edge are never occupied; clip keeps the table in range.
        view_cells = np.clip(np.arange(cells)[:, None, None] + view_offset[None], 0, cells - 1)
        view_code = code[view_cells].reshape(cells * 4, -1)

        # Beam: every lane has beam_length slots. A wall stops its lane (the slots from it on
        # are -1); a wall beside the player also stops the lanes farther out on that side.
        lanes = self._beam_lanes()
        slots = self.beam_length
        beam = np.full((cells, 4, len(lanes), slots), -1, np.int64)
        for o, (fr, fc) in enumerate(_DIRECTIONS):
            rgt_r, rgt_c = _DIRECTIONS[(o + 1) % 4]
            side_open = {-1: np.ones(cells, bool), 1: np.ones(cells, bool)}
            for li, (side, r, first, length) in enumerate(lanes):
                open_ = side_open[side].copy() if side else np.ones(cells, bool)
                for i in range(length):
                    dist = first + i
                    tr = np.clip(rr + dist * fr + side * r * rgt_r, 0, h - 1)
                    tc = np.clip(cc + dist * fc + side * r * rgt_c, 0, w - 1)
                    target = tr * w + tc
                    open_ &= ~wall[target]
                    beam[:, o, li, i] = np.where(open_, target, -1)
                    if side and i == 0:
                        side_open[side] &= ~wall[target]
        beam_cells = beam.reshape(cells * 4, len(lanes) * slots).astype(np.int32)
        # Dynamic blockers (players, resources) act the same way: a slot is reached only if
        # no earlier slot of its lane, and no first slot of an inner lane on its side, blocks.
        prerequisite = np.zeros((len(lanes) * slots, len(lanes) * slots), bool)
        for li, (side, r, _, _) in enumerate(lanes):
            for i in range(slots):
                prerequisite[li * slots + i, li * slots: li * slots + i] = True
                for lj, (side_j, r_j, _, _) in enumerate(lanes):
                    if side and side_j == side and r_j < r:
                        prerequisite[li * slots + i, lj * slots] = True
        cell_resource = np.full(cells, num_res, np.int32)
        cell_resource[resource_cell] = np.arange(num_res)

        return _Tables(
            padded_width=w,
            wall=wall,
            move_target=move_target.reshape(-1),
            view_code=view_code.astype(np.int32),
            view_offset=view_offset.astype(np.int32),
            beam_cells=beam_cells,
            beam_prerequisite=prerequisite,
            cell_resource=cell_resource,
            resource_cell=resource_cell.astype(np.int32),
            resource_fixed_type=fixed,
            spawn_cell=np.flatnonzero(flat == "n").astype(np.int32),
        )

    # -- randomness -------------------------------------------------------
    # Random bits are expensive next to the rest of a step, so each step draws only a few
    # 32-bit words and carves every random quantity it may need (auto-reset included) from them.
    @cached_property
    def _random_cells(self) -> np.ndarray:
        """For each resource, its index among the 'a' cells (-1 for fixed types)."""
        fixed = self._tables.resource_fixed_type
        return np.where(fixed < 0, np.cumsum(fixed < 0) - 1, -1).astype(np.int32)

    @property
    def _num_words(self) -> int:
        num_random = int(np.sum(self._tables.resource_fixed_type < 0))
        return 3 + (num_random + 1) // 2

    def _draw(self, key: jax.Array) -> _Draws:
        w = jax.random.bits(key, (self._num_words,), jnp.uint32)
        k = self.num_strategies
        n = self.num_players
        # 16-bit chunks for the 'a' types; (chunk * k) >> 16 is uniform on 0..k-1 up to 2^-16.
        if self._num_words > 3:
            chunks = jnp.stack([w[3:] & 0xFFFF, w[3:] >> 16], axis=1).reshape(-1)
            types = ((chunks * k) >> 16).astype(jnp.int32)
        else:  # no 'a' cells on this map
            types = jnp.zeros((1,), jnp.int32)
        if n == 2:
            # Two players: one bit each decides who moves / fires first, as the 2-player game
            # always drew them (tests/test_envs_unchanged.py holds its rollouts).
            pair = jnp.array([0, 1], jnp.int32)
            move_order = jnp.where((w[0] & 1) == 1, pair, 1 - pair)
            fire_order = jnp.where((w[0] & 2) == 2, pair, 1 - pair)
            spawn = jnp.stack([w[2] >> 16, w[2] & 0xFFFF])
            facing = jnp.stack([(w[0] >> 2) & 3, (w[0] >> 4) & 3]).astype(jnp.int32)
            row_wins_tie = jnp.broadcast_to((w[0] & 64) == 64, (2,))  # bit 6, unused above
        else:
            # N players: random orders as the ranks of N random words, and a word per player
            # for its spawn point (low 16 bits), facing (2 bits) and tie coin (1 bit).
            x = jax.random.bits(jax.random.fold_in(key, 1), (3 * n,), jnp.uint32)
            move_order = jnp.argsort(x[:n]).astype(jnp.int32)
            fire_order = jnp.argsort(x[n:2 * n]).astype(jnp.int32)
            spawn = x[2 * n:] & 0xFFFF
            facing = ((x[2 * n:] >> 16) & 3).astype(jnp.int32)
            row_wins_tie = ((x[2 * n:] >> 18) & 1) == 1
        return _Draws(
            end=((w[0] >> 8).astype(jnp.float32) + 0.5) * (1.0 / (1 << 24)),
            move_order=move_order,
            fire_order=fire_order,
            regrowth=w[1],
            spawn=spawn,
            facing=facing,
            random_types=types,
            row_wins_tie=row_wins_tie,
        )

    def _regrows(self, seed: jax.Array) -> jax.Array:
        """bool[R]: each resource's regrowth trial of this step succeeds (independent per resource)."""
        index = jnp.arange(self.num_resources, dtype=jnp.uint32)
        word = _mix32(seed ^ _mix32(index * jnp.uint32(0x9E3779B9) + jnp.uint32(1)))
        threshold = int(round(float(self.regrowth_probability) * (1 << 24)))
        return (word >> 8) < jnp.uint32(min(threshold, 1 << 24))

    def _place(self, d: _Draws, spawning: jax.Array, position: jax.Array, on_map: jax.Array) -> jax.Array:
        """i32[N]: the players in ``spawning`` placed on random spawn points that no player on the
        map (``on_map``, at ``position``) and no player placed before holds; the others stay.
        Seat by seat, each takes the j-th free point (j uniform) counting on from the point the
        previous one took (from the first point for the first one): uniform over the free
        points, and for two players the same draws the 2-player game always made."""
        spawn = jnp.asarray(self._tables.spawn_cell)
        s = spawn.shape[0]
        if self.num_players == 2:
            # Two players share one timeline, so they (re)spawn together or not at all and
            # nobody else holds a point: the rule below, in closed form.
            first = ((d.spawn[0] * s) >> 16).astype(jnp.int32)
            second = (first + 1 + ((d.spawn[1] * (s - 1)) >> 16).astype(jnp.int32)) % s
            return jnp.where(spawning, spawn[jnp.stack([first, second])], position)
        slots = jnp.arange(s)
        taken = jnp.any((spawn[None, :] == position[:, None]) & on_map[:, None], axis=0)

        def place_one(carry, seat):
            position, taken, start = carry
            order = (start + slots) % s
            free = ~taken[order]
            j = ((d.spawn[seat] * jnp.sum(free).astype(jnp.uint32)) >> 16).astype(jnp.int32)
            pick = order[jnp.argmax(jnp.cumsum(free) > j)]
            position = position.at[seat].set(jnp.where(spawning[seat], spawn[pick], position[seat]))
            taken = taken | ((slots == pick) & spawning[seat])
            start = jnp.where(spawning[seat], (pick + 1) % s, start)
            return position, taken, start

        seats = jnp.arange(self.num_players)
        return _in_order(place_one, (position, taken, jnp.int32(0)), seats)[0]

    # -- the MultiAgentEnv hooks --------------------------------------------
    def _params(self):
        payoff = jnp.asarray([self.game.row_payoff, self.game.col_payoff], jnp.float32)
        return payoff, jnp.int32(self.episode_cap)

    def _params_of(self, state: GridState):
        return state.payoff, state.max_steps

    def _initial_state(self, key: jax.Array, params) -> GridState:
        payoff, max_steps = params
        d = self._draw(key)
        t = self._tables
        k, n = self.num_strategies, self.num_players
        everyone = jnp.ones((n,), bool)
        position = self._place(d, everyone, jnp.zeros((n,), jnp.int32), ~everyone)
        fixed = jnp.asarray(t.resource_fixed_type)
        drawn = d.random_types[jnp.maximum(jnp.asarray(self._random_cells), 0)]
        num_res = fixed.shape[0]
        return GridState(
            position=position,
            orientation=d.facing,
            inventory=jnp.ones((n, k), jnp.int32),
            cooldown=jnp.zeros((n,), jnp.int32),
            timeout=jnp.zeros((n,), jnp.int32),
            pending_rewards=jnp.zeros((n,), jnp.float32),
            interaction_inventory=jnp.ones((n, k), jnp.int32),
            partner=jnp.full((n,), -1, jnp.int32),
            ready_cue=jnp.zeros((n,), bool),
            resource_timer=jnp.zeros((num_res,), jnp.int32),
            resource_health=jnp.full((num_res,), self.resource_health, jnp.int32),
            resource_type=jnp.where(fixed >= 0, fixed, drawn),
            episode_step=jnp.int32(0),
            payoff=payoff,
            max_steps=max_steps,
        )

    # -- beams --------------------------------------------------------------
    def _beam_cells(self, origin, facing) -> jax.Array:
        """i32[B]: the cells of a beam from cell ``origin`` facing ``facing``, lane by lane in
        Melting Pot's order (``beam_length`` slots a lane; -1 past a wall)."""
        return jnp.asarray(self._tables.beam_cells)[origin * 4 + facing]

    def _beam_reach(self, cells, player, present, health):
        """(bool[B] the slots the beam over ``cells`` reaches, i32[R] the damage it does to each
        resource); ``player``: bool[B] a player stands on the slot. Players always stop the beam;
        a resource does unless this hit destroys it."""
        t = self._tables
        valid = cells >= 0
        res = jnp.asarray(t.cell_resource)[jnp.maximum(cells, 0)]  # [B], R for none
        has_res = valid & jnp.concatenate([present, jnp.zeros((1,), bool)])[res]
        res_health = jnp.concatenate([health, jnp.zeros((1,), jnp.int32)])[res]
        blocks = player | (has_res & (res_health > 1))
        reached = valid & ~jnp.any(jnp.asarray(t.beam_prerequisite) & blocks[None, :], axis=1)
        hit_res = reached & has_res
        damage = jnp.sum(hit_res[:, None] & (res[:, None] == jnp.arange(self.num_resources)), axis=0)
        return reached, damage.astype(jnp.int32)

    def _beam_victims(self, shooter, position, facing, on_map, present, health):
        """One beam of ``shooter`` among N players: (i32[L] the player it hits in each lane, -1
        none, in Melting Pot's lane order; i32[R] the damage it does to each resource)."""
        cells = self._beam_cells(position[shooter], facing[shooter])
        others = self._others(shooter)
        # [B, N-1]: which other player stands on each beam cell
        occupant = (cells >= 0)[:, None] & (cells[:, None] == position[others][None, :]) & on_map[others][None, :]
        reached, damage = self._beam_reach(cells, jnp.any(occupant, axis=1), present, health)
        # A player stops its lane, so each lane reaches at most one.
        hit = (reached[:, None] & occupant).reshape(len(self._beam_lanes()), self.beam_length, -1)
        lane_hit = jnp.any(hit, axis=(1, 2))
        victim = jnp.where(lane_hit, others[jnp.argmax(jnp.any(hit, axis=1), axis=1)], -1)
        return victim.astype(jnp.int32), damage

    def _others(self, me):
        """i32[N-1]: the seats other than ``me``, in seat order from ``me + 1`` on."""
        n = self.num_players
        return (me + 1 + jnp.arange(n - 1)) % n

    # -- one step, in parts: two players (``_pair``) and N players (``_many``) ----------------
    # Two players always share one timeline and each one's partner is the other seat, so their
    # rules reduce to closed forms on scalars and constant seats: the same draws and results
    # (tests/test_envs_unchanged.py) at the cost of the 2-player game before N players.
    def _moves_pair(self, d: _Draws, position, wanted, on_map) -> jax.Array:
        """i32[2]: ``_moves_many`` for two players (``on_map`` is not needed: both players are
        on the map or neither is, and then neither moves)."""
        p0_first = jnp.where(wanted[0] == position[1], position[0], wanted[0])
        p1_second = jnp.where(wanted[1] == p0_first, position[1], wanted[1])
        p1_first = jnp.where(wanted[1] == position[0], position[1], wanted[1])
        p0_second = jnp.where(wanted[0] == p1_first, position[0], wanted[0])
        return jnp.where(d.move_order[0] == 0, jnp.stack([p0_first, p1_second]), jnp.stack([p0_second, p1_first]))

    def _moves_many(self, d: _Draws, position, wanted, on_map) -> jax.Array:
        """i32[N]: each player at ``wanted`` or ``position``: they move one after another in
        random order, and no one enters a cell a player on the map holds."""
        seat = jnp.arange(self.num_players)

        def move_one(new_pos, mover):
            me = seat == mover
            target = wanted[mover]
            blocked = jnp.any((new_pos == target) & on_map & ~me)
            return jnp.where(me & ~blocked, target, new_pos)

        return _in_order(move_one, position, d.move_order)

    def _rewards(self, x, y, payoff):
        """(row reward, column reward) of row strategy ``x`` against column strategy ``y``
        (the last axis of each), with ``payoff`` f32[2, k, k]. Elementwise, not ``x @ A @ y``:
        under vmap a matmul's rounding depends on the batch size, and evaluation results must
        not depend on chunking."""
        joint = x[..., :, None] * y[..., None, :]
        return jnp.sum(joint * payoff[0], axis=(-2, -1)), jnp.sum(joint * payoff[1], axis=(-2, -1))

    def _row_wins(self, row_reward, col_reward, coin):
        """The row player wins ties (or ``coin`` does, with random tie-breaking)."""
        if self.random_tie_breaking:
            return (row_reward > col_reward) | ((row_reward == col_reward) & coin)
        return row_reward >= col_reward

    def _interact_pair(self, d: _Draws, fires, ready, frozen, position, facing, on_map, present, health,
                       strategy, payoff):
        """``_interact_many`` for two players: the first beam to reach the other player marks
        both; they interact if both are ready and their roles differ (the other one cannot be
        frozen: its partner would be the shooter, who then does not fire). ``interacted`` is
        bool[1], the pair's one timeline."""
        first = d.fire_order[0]
        reach, destroyed = [], jnp.zeros_like(present)
        for shooter in (first, 1 - first):  # the two beams, in their random order
            cells = self._beam_cells(position[shooter], facing[shooter])
            player = (cells >= 0) & (cells == position[1 - shooter])
            reached, damage = self._beam_reach(cells, player, present, health)
            damage = jnp.where(fires[shooter], damage, 0)
            gone = (damage > 0) & (health == 1)
            destroyed = destroyed | gone
            health = jnp.where(gone, self.resource_health, health - damage)
            reach.append(fires[shooter] & jnp.any(reached & player))
        interacted = (reach[0] | reach[1]) & jnp.all(ready) & self.roles_interact
        # The row player: the zapper, or in a game with roles the row-role seat.
        row = jnp.where(reach[0], first, 1 - first) if self.row_seat is None else self.row_seat
        row_reward, col_reward = self._rewards(strategy[row], strategy[1 - row], payoff)
        is_row = jnp.arange(2) == row
        reset_now = interacted & self._row_wins(row_reward, col_reward, d.row_wins_tie[0]) & is_row
        partner = jnp.where(interacted, np.array([1, 0], np.int32), -1)
        return (health, destroyed, interacted[None], partner, jnp.where(is_row, row_reward, col_reward),
                reset_now, strategy[::-1])

    def _interact_many(self, d: _Draws, fires, ready, frozen, position, facing, on_map, present, health,
                       strategy, payoff):
        """The beams and the interactions they start: (i32[R] resource health, bool[R] resources
        destroyed, bool[N] interacted, i32[N] partner (-1 none), f32[N] interaction rewards,
        bool[N] inventories reset at once, f32[N, k] the partners' strategies).

        The beams fire in random order, each hitting the first player of each lane in lane
        order (GameInteractionZapper:onHit, _preventExtraSimultaneousInteraction): a hit on a
        player already hit this step does nothing; else the hit player is marked, and unless
        the zapper is marked too (it already hit or was hit), the zapper is marked and the two
        interact if the hit one is not frozen, both are ready and, in a game with roles, their
        roles differ. The row player (the zapper, or in a game with roles the row-role player)
        wins ties, or a coin does with random tie-breaking; a winning row player has its
        inventory reset at once (Melting Pot's _resolve resets only a winning row player before
        the freeze ends)."""
        n = self.num_players
        seat = jnp.arange(n)
        row_role = None if self._row_role is None else jnp.asarray(self._row_role)

        def fire_one(carry, shooter):
            health, destroyed, marked, partner, zapper = carry
            victims, damage = self._beam_victims(shooter, position, facing, on_map, present, health)
            damage = jnp.where(fires[shooter], damage, 0)
            gone = (damage > 0) & (health == 1)
            destroyed = destroyed | gone
            health = jnp.where(gone, self.resource_health, health - damage)
            # The lanes' victims are distinct players, so each lane's hit is fresh if its victim
            # was not marked before this beam; the first fresh hit resolves, if the zapper was
            # not marked before either, and marks the zapper.
            victim = jnp.maximum(victims, 0)
            fresh = fires[shooter] & (victims >= 0) & ~marked[victim]  # [L]
            resolves = fresh & (jnp.cumsum(fresh) == 1) & ~marked[shooter]
            meet = resolves & ~frozen[victim] & ready[shooter] & ready[victim]
            if row_role is not None:
                meet = meet & (row_role[shooter] != row_role[victim])
            met, other = jnp.any(meet), jnp.sum(jnp.where(meet, victim, 0))
            marked = marked | jnp.any((seat[:, None] == victim[None, :]) & fresh[None, :], axis=1)
            marked = marked | ((seat == shooter) & jnp.any(fresh))
            partner = jnp.where(met & (seat == shooter), other, jnp.where(met & (seat == other), shooter, partner))
            zapper = zapper | (met & (seat == shooter))
            return health, destroyed, marked, partner, zapper

        beams = (health, jnp.zeros_like(present), jnp.zeros((n,), bool), jnp.full((n,), -1, jnp.int32),
                 jnp.zeros((n,), bool))
        health, destroyed, _, partner, zapper = _in_order(fire_one, beams, d.fire_order)
        interacted = partner >= 0
        other = jnp.maximum(partner, 0)  # rows of players without a partner are masked by ``interacted``
        is_row = zapper if row_role is None else row_role
        mate = strategy[other]
        # [N, k]: each player's pair, row then column
        x, y = jnp.where(is_row[:, None], strategy, mate), jnp.where(is_row[:, None], mate, strategy)
        row_reward, col_reward = self._rewards(x, y, payoff)
        row_wins = self._row_wins(row_reward, col_reward, d.row_wins_tie[jnp.where(is_row, seat, other)])
        reset_now = interacted & row_wins & is_row
        return (health, destroyed, interacted, partner, jnp.where(is_row, row_reward, col_reward),
                reset_now, mate)

    def _transition(self, key: jax.Array, state: GridState, actions: dict[str, jax.Array]):
        d = self._draw(key)
        t = self._tables
        k, n = self.num_strategies, self.num_players
        pair = n == 2
        respawn_steps = self.respawn_steps
        timers = self._timeline(state)  # [N], or [1] for two players
        action = jnp.stack([jnp.asarray(actions[a], jnp.int32) for a in self.agents])
        action = jnp.clip(action, 0, NUM_ACTIONS - 1)
        playing = timers == 0
        action = jnp.where(playing, action, NOOP)
        on_map = self._visible(timers)

        # Move (random order; no one enters a cell a player on the map holds), then turn.
        pos, facing = state.position, state.orientation
        direction = (facing + jnp.asarray(_MOVE_ROTATION)[action]) % 4
        wanted = jnp.asarray(t.move_target)[pos * 4 + direction]
        wanted = jnp.where(jnp.asarray(_IS_MOVE)[action], wanted, pos)
        new_pos = (self._moves_pair if pair else self._moves_many)(d, pos, wanted, on_map)
        moved = new_pos != pos
        facing = (facing + jnp.asarray(_TURN)[action]) % 4

        # Collection: entering a cell whose resource was present at the start of the step.
        present = state.resource_timer == 0
        res_cell = jnp.asarray(t.resource_cell)
        entered = (res_cell[None, :] == new_pos[:, None]) & moved[:, None] & present[None, :]  # [N, R]
        got_type = jnp.sum(entered * state.resource_type[None, :], axis=1)
        got_any = jnp.any(entered, axis=1)
        inventory = state.inventory + (got_any[:, None] & (got_type[:, None] == jnp.arange(k))).astype(jnp.int32)
        ready = jnp.sum(inventory, axis=1) > k
        total = jnp.sum(inventory, axis=1).astype(jnp.float32)
        strategy = inventory.astype(jnp.float32) / total[:, None]

        # Beams: the cool-down counts down instead of firing; both only while playing.
        fires = (action == INTERACT) & (state.cooldown == 0)
        cooldown = jnp.where(playing & (state.cooldown > 0), state.cooldown - 1,
                             jnp.where(fires, self.cooldown_steps, state.cooldown))
        health, destroyed, interacted, partner, payoff, reset_now, mate = (
            self._interact_pair if pair else self._interact_many)(
            d, fires, ready, self._frozen(timers), new_pos, facing, on_map, present, state.resource_health,
            strategy, state.payoff)

        # The timeline after an interaction, one timer per player, shared by the two partners.
        deliver = timers == respawn_steps + 2  # rewards, inventory reset, removal
        respawn = timers == 1
        timeout = jnp.where(interacted, self.interaction_timeout, jnp.maximum(timers - 1, 0))
        rewards = jnp.where(deliver, state.pending_rewards, 0.0)
        pending = jnp.where(interacted, payoff, state.pending_rewards)
        interaction_inventory = jnp.where(interacted[:, None], inventory, state.interaction_inventory)
        inventory = jnp.where((reset_now | deliver)[:, None], 1, inventory)

        # Regrowth: delay, then a trial per step unless a player stood on the cell; with
        # regrow_when_removed, every resource comes back while no player is on the map.
        occupied = jnp.any((res_cell[None, :] == pos[:, None]) & on_map[:, None], axis=0)
        timer = state.resource_timer
        trial = timer == 1
        timer = jnp.where(trial, jnp.where(self._regrows(d.regrowth) & ~occupied, 0, 1),
                          jnp.maximum(timer - 1, 0))
        if self.regrow_when_removed:
            timer = jnp.where(jnp.any(on_map), timer, 0)
        timer = jnp.where(jnp.any(entered, axis=0) | destroyed, self.regrowth_delay + 1, timer)
        # Respawn on spawn points free of the players who stay on the map.
        position = self._place(d, respawn, new_pos, self._visible(timeout) & ~respawn)

        step = state.episode_step + 1
        done = episode_ends(step, d.end, self.min_steps, self.end_interval, self.end_probability,
                            state.max_steps)
        if self.end_on_interaction:
            # Melting Pot ends the episode on the frame after the interaction's effects (k + 18).
            done = done | jnp.any(timers == respawn_steps + 1)
        new_state = GridState(
            position=position,
            orientation=jnp.where(respawn, d.facing, facing),
            inventory=inventory,
            cooldown=cooldown,
            timeout=jnp.broadcast_to(timeout, (n,)),
            pending_rewards=pending,
            interaction_inventory=interaction_inventory,
            partner=jnp.where(interacted, partner, state.partner),
            ready_cue=jnp.sum(state.inventory, axis=1) > k,
            resource_timer=timer,
            resource_health=health,
            resource_type=state.resource_type,
            episode_step=step,
            payoff=state.payoff,
            max_steps=state.max_steps,
        )
        played = jnp.where(interacted[:, None], strategy, 0.0)
        infos = {
            "interacted": interacted[0],
            "row_strategy": played[0],
            "col_strategy": jnp.where(interacted[0], mate[0], 0.0),
            "episode_step": step,
            "partner": partner,
            "strategy": played,
        }
        return new_state, per_agent(rewards, self.agents), dones_of(done, self.agents), infos

    # -- observation: two players (``_pair``) and N players (``_many``) ---------------------
    def _observe(self, state: GridState) -> dict[str, jax.Array]:
        if self.num_players == 2:
            # Built per agent (not as one [2, obs_dim] array then split): XLA fuses each
            # agent's observation into one loop, the split version costs ~2x more.
            return {agent: self._observe_pair(state, i) for i, agent in enumerate(self.agents)}
        obs = jax.vmap(self._observe_many, in_axes=(None, 0))(state, jnp.arange(self.num_players))
        return per_agent(obs, self.agents)

    def _observe_pair(self, state: GridState, me: int) -> jax.Array:
        """``_observe_many`` for two players: the other one is seat ``1 - me`` (a constant) and
        the pair's shared timer one scalar."""
        other = 1 - me
        timer = state.timeout[0]
        visible, result = self._visible(timer), self._showing(timer)
        terrain, cells = self._terrain(state, me)
        partner = (cells == state.position[other]) & visible
        own = self._own_cell
        avatar = partner | own
        ready_mark = (partner & state.ready_cue[other]) | (own & state.ready_cue[me])
        value = jnp.where(partner, state.pending_rewards[other], state.pending_rewards[me])
        view = self._view(terrain, partner, ready_mark & ~result, avatar & result, value)
        return self._observation(state, me, view, visible, np.array([me, other]), timer == self.interaction_timeout)

    def _observe_many(self, state: GridState, me) -> jax.Array:
        """Player ``me``'s observation (a traced seat): the "partner" channel shows every other
        player on the map, the marks each avatar's own."""
        others = self._others(me)
        visible, result = self._visible(state.timeout), self._showing(state.timeout)
        terrain, cells = self._terrain(state, me)
        # [V, N-1]: which other player stands on each view cell
        at = (cells[:, None] == state.position[others][None, :]) & visible[others][None, :]
        partner = jnp.any(at, axis=1)
        own = self._own_cell
        ready_mark = (jnp.any(at & (state.ready_cue & ~result)[others][None, :], axis=1)
                      | (own & state.ready_cue[me] & ~result[me]))
        shown = jnp.any(at & result[others][None, :], axis=1) | (own & result[me])
        value = jnp.where(partner, jnp.sum(jnp.where(at, state.pending_rewards[others][None, :], 0.0), axis=1),
                          state.pending_rewards[me])
        view = self._view(terrain, partner, ready_mark, shown, value)
        last_partner = jnp.stack([me, jnp.maximum(state.partner[me], 0)])
        return self._observation(state, me, view, visible[me], last_partner,
                                 state.timeout[me] == self.interaction_timeout)

    @cached_property
    def _own_cell(self) -> np.ndarray:
        """bool[V]: the observer's own cell in the flat view."""
        h, w, _ = self.obs_layout.view_shape
        return np.arange(h * w) == self.obs_layout.self_cell[0] * w + self.obs_layout.self_cell[1]

    def _terrain(self, state: GridState, me):
        """(i32[V] the terrain channel of each view cell of player ``me``: wall, 1 + type for a
        present resource, -1 none; i32[V] the view cells)."""
        t = self._tables
        pos, facing = state.position[me], state.orientation[me]
        code = jnp.asarray(t.view_code)[pos * 4 + facing]  # [V]: resource index / EMPTY / WALL
        res_channel = jnp.where(state.resource_timer == 0, state.resource_type + 1, -1)
        res_channel = jnp.concatenate([res_channel, jnp.array([-1, self.obs_layout.wall], jnp.int32)])  # EMPTY, WALL
        return res_channel[code], pos + jnp.asarray(t.view_offset)[facing]

    def _view(self, terrain, partner, ready, shown, value) -> jax.Array:
        """f32[V, C]: the view from the terrain channel and the bool[V] avatar marks (another
        player, readiness mark, result shown) and f32[V] result values."""
        lay = self.obs_layout
        # One fused comparison per channel builds [wall, types 1..k, partner, ready, result shown].
        channel = jnp.arange(lay.view_shape[2])
        view = (
            (terrain[:, None] == channel)
            | (partner[:, None] & (channel == lay.partner))
            | (ready[:, None] & (channel == lay.ready))
            | (shown[:, None] & (channel == lay.result_shown))
        ).astype(jnp.float32)
        return view + (shown[:, None] & (channel == lay.result)) * value[:, None]

    def _observation(self, state: GridState, me, view, visible, pair, at_interaction) -> jax.Array:
        """The flat observation of player ``me`` (``obs_layout``) from its view; ``pair``: the
        seats (me, last partner) whose inventories show on the frame of an interaction."""
        lay = self.obs_layout
        view = jnp.where(visible, view, 0.0)  # a removed player sees nothing
        ready_to_shoot = (1.0 - state.cooldown[me] / self.cooldown_steps) if self.cooldown_steps else jnp.float32(1)
        inventories = jnp.where(at_interaction, state.interaction_inventory[pair], -1)
        parts = [
            view.reshape(-1), state.inventory[me].astype(jnp.float32),
            jnp.reshape(ready_to_shoot, (1,)).astype(jnp.float32),
            inventories.reshape(-1).astype(jnp.float32),
        ]
        if lay.row_role is not None:
            parts.append(jnp.asarray(self._row_role, jnp.float32)[me][None])
        return jnp.concatenate(parts)
