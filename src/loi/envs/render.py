"""RGB frames of grid-game states and animated GIFs of random-policy episodes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from loi.envs.grid_game import GridGame, GridState
from loi.errors import LoiError

_FLOOR = (20, 20, 24)
_WALL = (110, 110, 110)
# Melting Pot's resource colours (green = 1, red = 2), then distinct extras for k > 2.
_RESOURCE = [(30, 225, 185), (225, 30, 70), (240, 200, 40), (90, 120, 255), (230, 120, 230),
             (255, 150, 60), (150, 230, 60), (60, 200, 230), (200, 200, 200)]
_PLAYER = [(50, 100, 230), (230, 120, 40)]


def render_rgb(env: GridGame, state: GridState, cell: int = 12) -> np.ndarray:
    """The whole map as ``uint8[rows*cell, cols*cell, 3]``.

    Walls grey, resources as inset squares in their type colour, players as
    blue (agent_0) / orange (agent_1) squares with a white bar on the side they
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
    timeout = int(state.timeout)
    if timeout == 0 or timeout > env.removal_steps:
        dim = 0.45 if timeout > 0 else 1.0
        bar = max(cell // 6, 1)
        for p in range(2):
            r, c = env.row_col(state.position[p])
            y, x = r * cell, c * cell
            frame[y + 1:y + cell - 1, x + 1:x + cell - 1] = np.array(_PLAYER[p]) * dim
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
        ka, kb, ks = jax.random.split(key, 3)
        actions = {"agent_0": env.action_space().sample(ka), "agent_1": env.action_space().sample(kb)}
        _, state, _, _, infos = env.step(ks, state, actions)
        return state, (state, infos["interacted"])

    key_reset, key_steps = jax.random.split(jax.random.key(seed))
    _, first = env.reset(key_reset)
    _, (states, interacted) = jax.jit(lambda s, k: jax.lax.scan(body, s, jax.random.split(k, steps)))(
        first, key_steps
    )
    states = jax.tree.map(lambda f, s: np.concatenate([np.asarray(f)[None], np.asarray(s)]), first, states)
    return states, np.asarray(interacted)


def write_gif(frames: list[np.ndarray], out: str | Path, fps: int = 10) -> Path:
    """Write frames as an animated GIF atomically (temp file + ``os.replace``)."""
    from PIL import Image

    if not frames:
        raise LoiError("no frames to write")
    out = Path(out)
    if not out.parent.exists():
        raise LoiError(f"output directory does not exist: {out.parent}")
    images = [Image.fromarray(f) for f in frames]
    fd, tmp = tempfile.mkstemp(suffix=".gif", dir=out.parent, prefix=f".{out.name}.")
    os.close(fd)
    try:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(1000 / fps), loop=0)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
