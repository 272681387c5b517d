"""Scripted movement on a grid game's egocentric view (no learned puppet).

Melting Pot's bots are puppets: a learned navigation policy that follows the
puppeteer's goal. Its weights ship only in Melting Pot's bot assets, so here a
goal becomes a move by script, from what the player sees
(``GridGame.obs_layout`` parses every part of the observation):

- *collect*: step toward the nearest visible resource of the target type;
- *interact*: turn and step until the partner stands where the beam reaches,
  then fire (when the beam is cooled down);
- with nothing to go for in view: explore (mostly forward, turning at walls and
  now and then at random).

A bot's steps avoid cells with a wall, the partner or a resource of another type
(walking over one would change the inventory its goal is about); with every
useful step blocked it turns.

The scripted ``baseline:collectI`` policies (``loi.evaluation.policies``) use
the same helpers.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from loi.envs.grid_game import BACKWARD, FORWARD, INTERACT, NOOP, STEP_LEFT, STEP_RIGHT, TURN_LEFT, TURN_RIGHT

# Probability per step that exploring turns (left or right at random) instead of going forward.
EXPLORE_TURN = 0.2
_FAR = 10**6


@dataclass(frozen=True, eq=False)
class ViewGeometry:
    """Egocentric coordinates of every view cell (numpy constants): ``ahead``
    (cells in front of the observer, negative behind) and ``right`` (negative:
    left), their Manhattan ``distance``, and ``in_beam``: the cells an
    unobstructed beam covers."""

    layout: object  # the env's ObservationLayout
    ahead: np.ndarray  # i32[H*W]
    right: np.ndarray  # i32[H*W]
    distance: np.ndarray  # i32[H*W]
    in_beam: np.ndarray  # bool[H*W]

    @classmethod
    def of(cls, env) -> "ViewGeometry":
        layout = env.obs_layout
        h, w, _ = layout.view_shape
        me_row, me_col = layout.self_cell
        ahead = (me_row - np.arange(h))[:, None] * np.ones((1, w), int)
        right = np.ones((h, 1), int) * (np.arange(w) - me_col)[None, :]
        return cls(layout=layout, ahead=ahead.reshape(-1), right=right.reshape(-1),
                   distance=(np.abs(ahead) + np.abs(right)).reshape(-1), in_beam=env.beam_view_mask().reshape(-1))

    def wall_ahead(self, view: jax.Array) -> jax.Array:
        me_row, me_col = self.layout.self_cell
        return view[me_row - 1, me_col, self.layout.wall] > 0 if me_row >= 1 else jnp.bool_(False)

    def nearest(self, mask: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(any, ahead, right)`` of the nearest cell of ``mask`` (bool[H, W])."""
        flat = mask.reshape(-1)
        index = jnp.argmin(jnp.where(flat, jnp.asarray(self.distance), _FAR))
        return jnp.any(flat), jnp.asarray(self.ahead)[index], jnp.asarray(self.right)[index]


def random_turn(key: jax.Array) -> jax.Array:
    return jnp.where(jax.random.bernoulli(key), TURN_LEFT, TURN_RIGHT)


def toward(ahead: jax.Array, right: jax.Array, wall_ahead: jax.Array, turn: jax.Array) -> jax.Array:
    """A move toward the cell ``ahead``/``right`` of the observer: forward while
    it lies ahead (and no wall blocks), else sideways, else back."""
    return jnp.where(
        (ahead > 0) & ~wall_ahead, FORWARD,
        jnp.where(right > 0, STEP_RIGHT, jnp.where(right < 0, STEP_LEFT, jnp.where(ahead < 0, BACKWARD, turn))))


def explore(wall_ahead: jax.Array, turn: jax.Array, key: jax.Array) -> jax.Array:
    """Mostly forward, turning at walls and now and then at random."""
    return jnp.where(wall_ahead | (jax.random.uniform(key) < EXPLORE_TURN), turn, FORWARD)


def face_partner(ahead: jax.Array, right: jax.Array, wall_ahead: jax.Array, turn: jax.Array) -> jax.Array:
    """A move that brings a partner seen ``ahead``/``right`` (not yet in the
    beam) into the beam, which points forward: turn toward it when it is beside
    or behind, close in sideways when it is off the beam's lanes, else go forward."""
    beside_or_behind = ahead <= 0
    turn_toward = jnp.where(right > 0, TURN_RIGHT, jnp.where(right < 0, TURN_LEFT, turn))
    sideways = jnp.where(right > 0, STEP_RIGHT, STEP_LEFT)
    return jnp.where(beside_or_behind, turn_toward,
                     jnp.where(jnp.abs(right) > 1, sideways, jnp.where(wall_ahead, sideways, FORWARD)))


# The four steps as (action, cells ahead, cells right), in order of preference on ties.
_STEPS = ((FORWARD, 1, 0), (STEP_RIGHT, 0, 1), (STEP_LEFT, 0, -1), (BACKWARD, -1, 0))


def _open_steps(geometry: ViewGeometry, blocked: jax.Array) -> jax.Array:
    """bool[4]: which of ``_STEPS`` lead to a cell not ``blocked`` (bool[H, W]) inside the view."""
    me_row, me_col = geometry.layout.self_cell
    h, w = blocked.shape
    open_ = []
    for _, ahead, right in _STEPS:
        row, col = me_row - ahead, me_col + right
        open_.append(~blocked[row, col] if 0 <= row < h and 0 <= col < w else jnp.bool_(False))
    return jnp.stack(open_)


def safe_step(open_steps: jax.Array, ahead: jax.Array, right: jax.Array, turn: jax.Array) -> jax.Array:
    """The open step that ends nearest to the cell ``ahead``/``right``; ``turn`` when none is open."""
    distance = jnp.stack([jnp.abs(ahead - a) + jnp.abs(right - r) for _, a, r in _STEPS])
    best = jnp.argmin(jnp.where(open_steps, distance, _FAR))
    actions = jnp.asarray([a for a, _, _ in _STEPS])
    return jnp.where(jnp.any(open_steps), actions[best], turn)


def goal_action(geometry: ViewGeometry, obs: jax.Array, target: jax.Array, interact: jax.Array,
                key: jax.Array) -> jax.Array:
    """The move of one player (``obs`` f32[D]) pursuing a goal: collect resource
    ``target`` (0-based), or, with ``interact``, fire at the partner."""
    layout = geometry.layout
    parts = layout.parse(obs)
    view = parts["view"]
    k_turn, k_explore = jax.random.split(key)
    turn = random_turn(k_turn)

    resources = view[..., layout.resources] > 0  # [H, W, k]
    partner = view[..., layout.partner] > 0
    other_type = jnp.any(resources & (jnp.arange(resources.shape[-1]) != target), axis=-1)
    open_steps = _open_steps(geometry, (view[..., layout.wall] > 0) | partner | other_type)
    wander = explore(~open_steps[0], turn, k_explore)

    seen_resource, r_ahead, r_right = geometry.nearest(resources[..., target])
    collect = jnp.where(seen_resource, safe_step(open_steps, r_ahead, r_right, turn), wander)

    seen_partner, p_ahead, p_right = geometry.nearest(partner)
    in_reach = jnp.any(partner.reshape(-1) & jnp.asarray(geometry.in_beam))
    cooled = parts["ready_to_shoot"] >= 1
    # Partner beside or behind: turn toward it (the beam points forward); else step to the cell
    # just short of it, which brings it into the beam's lanes.
    facing = face_partner(p_ahead, p_right, ~open_steps[0], turn)
    closing = safe_step(open_steps, p_ahead - 1, p_right, turn)
    approach = jnp.where(seen_partner, jnp.where(p_ahead <= 0, facing, closing), wander)
    engage = jnp.where(in_reach, jnp.where(cooled, INTERACT, NOOP), approach)
    return jnp.where(interact, engage, collect).astype(jnp.int32)
