"""``loi envs`` and ``loi render``: list environments, watch a random episode.

JAX is imported inside ``render`` only, so ``loi envs`` and ``loi --help`` stay fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from loi.cli.app import app

_POLICY_HELP = ("Policy of agent_0 (blue): random, collectI, bots:NAME (e.g. bots:tit_for_tat), a "
                "checkpoint file, or a run directory of one seed (its final checkpoint).")
_DEFS_HELP = "TOML file of extra [games.*] / [layouts.*] to register first (see examples/custom_game.toml)."


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
            "games": {g.name: {"row_payoff": g.row_payoff, "col_payoff": g.col_payoff, "roles": g.roles,
                               "max_steps": g.max_steps, "grid": dict(g.grid)} for g in games.values()},
            "layouts": {lay.name: list(lay.rows) for lay in layouts.values()},
        }))
        return
    from rich.console import Console
    from rich.markup import escape

    # The names are what this command is for: each on a line of its own, never cut or wrapped by
    # rich (soft_wrap), under a line naming its game and the row player's payoffs.
    console = Console()
    for g in games.values():
        envs_of_g = [n for n in names if n == f"matrix/{g.name}" or n.split("/")[0] == g.name]
        payoff = " ".join(str([int(v) if v.is_integer() else v for v in row]) for row in g.row_payoff)
        console.print(f"[bold]{escape(g.name)}[/bold]: row player's payoffs {escape(payoff)}", highlight=False,
                      soft_wrap=True)
        for name in envs_of_g:
            console.print(f"  {name}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def render(
    name: str = typer.Argument(..., help="Grid environment GAME/LAYOUT, e.g. stag_hunt/medium."),
    out: Path = typer.Option(Path("episode.gif"), "--out", "-o", help="Output GIF path."),
    policy: str = typer.Option("random", "--policy", help=_POLICY_HELP),
    partner: Optional[str] = typer.Option(None, "--partner", help="Policy of agent_1 (default: --policy's)."),
    steps: int = typer.Option(200, "--steps", help="Steps to record."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same GIF)."),
    fps: int = typer.Option(10, "--fps", help="Frames per second."),
    cell: int = typer.Option(24, "--cell", help="Pixels per map cell (a legend is drawn beneath the map)."),
    definitions: Optional[Path] = typer.Option(None, "--definitions", "-d", help=_DEFS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """Record an episode of GAME/LAYOUT as an animated GIF: a pair of policies (bots, baselines or
    trained checkpoints) or, by default, two random players."""
    from loi.errors import LoiError

    if steps < 1 or fps < 1 or cell < 2:
        raise LoiError("--steps and --fps must be >= 1 and --cell >= 2")
    from loi.tables import check_writable

    check_writable(out)  # missing, file-blocked or read-only destination: before the episode is played
    from loi.cli.outputs import refuse_input_overwrite

    partner = policy if partner is None else partner
    refuse_input_overwrite(out, [definitions, *(Path(p) for p in (policy, partner) if Path(p).is_file())])
    _load(definitions)
    import loi.envs
    from loi.envs.grid_game import GridGame
    from loi.envs.render import gif_bytes, legend, render_rgb, with_legend
    from loi.evaluation import pair_rollout, resolve_policy
    from loi.tables.io import atomic_write

    env = loi.envs.make(name)
    if not isinstance(env, GridGame):
        raise LoiError(f"{name!r} is a matrix game; render needs a grid game GAME/LAYOUT")
    players = [resolve_policy(spec, env) for spec in (policy, partner)]
    import jax

    rollout = pair_rollout(env, *players, steps, jax.random.key(seed))
    frames = [render_rgb(env, rollout.state(i), cell) for i in range(steps + 1)]
    key = legend(frames[0].shape[1], env.num_strategies, cell)
    data = gif_bytes([with_legend(f, key) for f in frames], fps)
    with atomic_write(out) as tmp:  # the user's umask, never a partial file
        tmp.write_bytes(data)
    path = out
    interactions = int(rollout.interacted.sum())
    summary = {"out": str(path), "env": name, "policy": players[0].name, "partner": players[1].name,
               "steps": steps, "frames": len(frames), "seed": seed, "interactions": interactions,
               "returns": [float(r) for r in rollout.rewards.sum(axis=0)]}
    if as_json:
        print(json.dumps(summary))
    else:
        from rich.console import Console
        from rich.markup import escape

        Console().print(f"wrote [bold]{escape(str(path))}[/bold]: {len(frames)} frames of {escape(name)}, "
                        f"{escape(players[0].name)} with {escape(players[1].name)}, {interactions} interactions",
                        highlight=False)
