"""RGB frames of grid-game states and animated GIFs of random-policy episodes."""

from __future__ import annotations

import numpy as np

from loi.envs.grid_game import GridGame, GridState
from loi.errors import LoiError

_FLOOR = (20, 20, 24)
_WALL = (110, 110, 110)
# Melting Pot's resource colours (green = 1, red = 2), then distinct extras for k > 2.
_RESOURCE = [(30, 225, 185), (225, 30, 70), (240, 200, 40), (90, 120, 255), (230, 120, 230),
             (255, 150, 60), (150, 230, 60), (60, 200, 230), (200, 200, 200)]
_PLAYER = [(50, 100, 230), (230, 120, 40)]


def _player_colour(seat: int) -> tuple[int, int, int]:
    """agent_0 blue, agent_1 orange (as in the 2-player frames); further seats evenly spaced hues."""
    if seat < len(_PLAYER):
        return _PLAYER[seat]
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((seat * 0.61803398875) % 1.0, 0.7, 0.9)
    return int(r * 255), int(g * 255), int(b * 255)


def render_rgb(env: GridGame, state: GridState, cell: int = 12) -> np.ndarray:
    """The whole map as ``uint8[rows*cell, cols*cell, 3]``.

    Walls grey, resources as inset squares in their type colour, players as
    blue (agent_0) / orange (agent_1) / other hues (further seats) squares with a white bar on the side they
    face; frozen players are drawn dimmed, removed players not at all.
    """
    if not isinstance(env, GridGame):
        raise LoiError(f"rendering needs a grid game, got {type(env).__name__}")
    t = env._tables
    rows, cols = env.layout.height, env.layout.width
    img = np.empty((rows, cols, 3), np.uint8)
    img[:] = _FLOOR
    for r, line in enumerate(env.layout.rows):
        for c, ch in enumerate(line):
            if ch == "W":
                img[r, c] = _WALL
    frame = np.repeat(np.repeat(img, cell, 0), cell, 1)
    inset = max(cell // 4, 1)
    timer = np.asarray(state.resource_timer)
    kinds = np.asarray(state.resource_type)
    for i, pos in enumerate(t.resource_cell):
        if timer[i] == 0:
            r, c = env.row_col(pos)
            frame[r * cell + inset:(r + 1) * cell - inset, c * cell + inset:(c + 1) * cell - inset] = \
                _RESOURCE[int(kinds[i]) % len(_RESOURCE)]
    # (a timeout set as one number, as a 2-player state once held it, applies to every player)
    visible = np.broadcast_to(np.asarray(env.players_visible(state)), (env.num_players,))
    frozen = np.broadcast_to(np.asarray(env.players_frozen(state)), (env.num_players,))
    bar = max(cell // 6, 1)
    for p in range(env.num_players):
        if not visible[p]:
            continue
        dim = 0.45 if frozen[p] else 1.0
        r, c = env.row_col(state.position[p])
        y, x = r * cell, c * cell
        frame[y + 1:y + cell - 1, x + 1:x + cell - 1] = np.array(_player_colour(p)) * dim
        o = int(state.orientation[p])
        sl = {0: (slice(y + 1, y + 1 + bar), slice(x + 1, x + cell - 1)),
              1: (slice(y + 1, y + cell - 1), slice(x + cell - 1 - bar, x + cell - 1)),
              2: (slice(y + cell - 1 - bar, y + cell - 1), slice(x + 1, x + cell - 1)),
              3: (slice(y + 1, y + cell - 1), slice(x + 1, x + 1 + bar))}[o]
        frame[sl] = 255
    return frame


def random_episode_states(env: GridGame, steps: int, seed: int = 0) -> tuple[GridState, np.ndarray]:
    """States of a ``steps``-step random-policy rollout (stacked, first = reset) and
    the per-step ``interacted`` flags."""
    import jax

    def body(state, key):
        *keys, ks = jax.random.split(key, env.num_agents + 1)
        actions = {agent: env.action_space().sample(k) for agent, k in zip(env.agents, keys)}
        _, state, _, _, infos = env.step(ks, state, actions)
        return state, (state, infos["interacted"])

    key_reset, key_steps = jax.random.split(jax.random.key(seed))
    _, first = env.reset(key_reset)
    _, (states, interacted) = jax.jit(lambda s, k: jax.lax.scan(body, s, jax.random.split(k, steps)))(
        first, key_steps
    )
    states = jax.tree.map(lambda f, s: np.concatenate([np.asarray(f)[None], np.asarray(s)]), first, states)
    return states, np.asarray(interacted)


def legend(width: int, num_types: int, cell: int) -> np.ndarray:
    """The key drawn under every frame, ``uint8[h, width, 3]``: the two players
    (dimmed while frozen, white bar = facing), each resource type, walls."""
    from PIL import Image, ImageDraw, ImageFont

    entries = [(_PLAYER[0], "agent_0"), (_PLAYER[1], "agent_1")]
    entries += [(_RESOURCE[k % len(_RESOURCE)], f"resource {k + 1}") for k in range(num_types)]
    entries += [(_WALL, "wall"), (tuple(int(v * 0.45) for v in _PLAYER[0]), "frozen")]
    size = max(10, cell // 2)
    font = ImageFont.load_default(size=size)
    swatch, gap, line = size, size // 2, size + size // 2
    widths = [swatch + gap + int(font.getlength(text)) + 2 * gap for _, text in entries]
    rows, x = [[]], 0
    for entry, w in zip(entries, widths):
        if x + w > width and rows[-1]:
            rows.append([])
            x = 0
        rows[-1].append((entry, w))
        x += w
    image = Image.new("RGB", (width, line * len(rows) + gap), _FLOOR)
    draw = ImageDraw.Draw(image)
    for r, row in enumerate(rows):
        x, y = gap, gap + r * line
        for (colour, text), w in row:
            draw.rectangle([x, y, x + swatch - 1, y + swatch - 1], fill=tuple(int(v) for v in colour))
            draw.text((x + swatch + gap, y + swatch // 2), text, fill=(230, 230, 230), font=font, anchor="lm")
            x += w
    return np.asarray(image)


def with_legend(frame: np.ndarray, key: np.ndarray) -> np.ndarray:
    """``frame`` with ``key`` (from :func:`legend`) beneath it."""
    return np.concatenate([frame, key], axis=0)


def gif_bytes(frames: list[np.ndarray], fps: int = 10) -> bytes:
    """Frames as an animated GIF, in memory (``loi render`` writes it with
    loi.tables.io.atomic_write: a temp file renamed into place, user's umask)."""
    import io

    from PIL import Image

    if not frames:
        raise LoiError("no frames to write")
    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return buffer.getvalue()
