"""``loi envs`` and ``loi render``: list environments, watch a random episode.

JAX is imported inside ``render`` only, so ``loi envs`` and ``loi --help`` stay fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from loi.cli.app import app

# Backslashes: typer renders help as rich markup, which would swallow "[games.*]".
_DEFS_HELP = r"TOML file of extra \[games.*] / \[layouts.*] to register first (see examples/custom_game.toml)."


def _load(definitions: Optional[Path]) -> None:
    if definitions is not None:
        from loi.envs import load_definitions

        load_definitions(definitions)


@app.command()
def envs(
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help=_DEFS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """List every environment name (matrix/GAME and GAME/LAYOUT)."""
    import loi.envs

    _load(definitions)
    names = loi.envs.names()
    games, layouts = loi.envs.games(), loi.envs.layouts()
    if as_json:
        print(json.dumps({
            "names": names,
            "games": {g.name: {"row_payoff": g.row_payoff, "col_payoff": g.col_payoff} for g in games.values()},
            "layouts": {lay.name: list(lay.rows) for lay in layouts.values()},
        }))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="loi environments")
    table.add_column("game")
    table.add_column("A (row player)")
    table.add_column("names")
    for g in games.values():
        envs_of_g = [n for n in names if n == f"matrix/{g.name}" or n.split("/")[0] == g.name]
        payoff = " ".join(str([int(v) if v.is_integer() else v for v in row]) for row in g.row_payoff)
        table.add_row(g.name, payoff, ", ".join(envs_of_g))
    Console().print(table)


@app.command()
def render(
    name: str = typer.Argument(..., help="Grid environment GAME/LAYOUT, e.g. stag_hunt/medium."),
    out: Path = typer.Option(Path("episode.gif"), "--out", "-o", help="Output GIF path."),
    policy: str = typer.Option("random", "--policy", help="Policy of both players (only 'random')."),
    steps: int = typer.Option(200, "--steps", help="Steps to record."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same GIF)."),
    fps: int = typer.Option(10, "--fps", help="Frames per second."),
    cell: int = typer.Option(24, "--cell", help="Pixels per map cell (a legend is drawn beneath the map)."),
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help=_DEFS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """Record an episode of GAME/LAYOUT as an animated GIF."""
    from loi.errors import LoiError

    if policy != "random":
        raise LoiError(f"unknown policy {policy!r}; available: random")
    if steps < 1 or fps < 1 or cell < 2:
        raise LoiError("--steps and --fps must be >= 1 and --cell >= 2")
    from loi.tables import check_writable

    check_writable(out)  # missing, file-blocked or read-only destination: before the episode is played
    _load(definitions)
    import loi.envs
    from loi.envs.grid_game import GridGame
    from loi.envs.render import gif_bytes, legend, random_episode_states, render_rgb, with_legend
    from loi.tables.io import atomic_write

    env = loi.envs.make(name)
    if not isinstance(env, GridGame):
        raise LoiError(f"{name!r} is a matrix game; render needs a grid game GAME/LAYOUT")
    states, interacted = random_episode_states(env, steps, seed)
    import jax

    frames = [render_rgb(env, jax.tree.map(lambda x: x[i], states), cell) for i in range(steps + 1)]
    key = legend(frames[0].shape[1], env.num_strategies, cell)
    data = gif_bytes([with_legend(f, key) for f in frames], fps)
    with atomic_write(out) as tmp:  # the user's umask, never a partial file
        tmp.write_bytes(data)
    path = out
    interactions = int(interacted.sum())
    summary = {"out": str(path), "env": name, "steps": steps, "frames": len(frames), "seed": seed,
               "interactions": interactions}
    if as_json:
        print(json.dumps(summary))
    else:
        from rich.console import Console

        Console().print(f"wrote [bold]{path}[/bold]: {len(frames)} frames of {name}, {interactions} interactions")
