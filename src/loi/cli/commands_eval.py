"""``loi evaluate``: cross-play of checkpoints and baselines into a reward table."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import List, Optional

import typer

from loi.cli.app import app


def _split(values: List[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _generations(text: Optional[str]) -> list[int] | None:
    from loi.errors import LoiError

    if text is None:
        return None
    try:
        return [int(v) for v in _split([text])]
    except ValueError:
        raise LoiError(f"--generations expects comma-separated integers (e.g. 0,4,-1), got {text!r}") from None


@app.command()
def evaluate(
    egos: List[str] = typer.Option(..., "--egos", metavar="POLICY",
                                   help="Ego policies: run directories, checkpoint files or "
                                   "baseline:NAME (random, collect1, collect2, always1, ...) or Melting Pot "
                                   "bots:NAME?key=value (tit_for_tat, grim_trigger, specialist?target=2, ...); "
                                   "repeatable or comma-separated."),
    coplayers: List[str] = typer.Option(..., "--coplayers", metavar="POLICY",
                                        help="Co-player policies, same forms as --egos."),
    episodes: int = typer.Option(6, "--episodes", "-k", help="Episodes per (ego, co-player) pair and seat."),
    out: Path = typer.Option(..., "--out", "-o", help="Reward table to write (.parquet or .csv)."),
    generations: Optional[str] = typer.Option(None, "--generations", "-g",
                                              help="Generations to take from run directories, e.g. 0,4,8 "
                                                   "(negative: from the end; default: all)."),
    ego_generations: Optional[str] = typer.Option(None, "--ego-generations",
                                                  help="Generations for the egos' runs (default: --generations)."),
    scenario: Optional[str] = typer.Option(None, "--scenario",
                                           help="Environment (default: the checkpoints' scenario; needed "
                                                "when all policies are baselines)."),
    env_option: List[str] = typer.Option([], "--env", metavar="KEY=VALUE",
                                         help="Environment override KEY=VALUE (repeatable; default: the training "
                                              "run's)."),
    seats: str = typer.Option("auto", "--seats", help="auto (both seats when the game is asymmetric), both, "
                                                      "row or column."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same table)."),
    chunk_size: int = typer.Option(1024, "--chunk-size", help="Most (ego, co-player) pairs per compiled call."),
    streams: int = typer.Option(1, "--streams", help="Episodes of a pair played side by side."),
    max_episode_steps: Optional[int] = typer.Option(None, "--max-episode-steps",
                                                    help="Cut longer episodes (flagged 'truncated')."),
    greedy: bool = typer.Option(False, "--greedy", help="Trained policies take their most probable action."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout."),
) -> None:
    """Play every ego against every co-player and write the long-format reward table
    (then: loi measure TABLE)."""
    from loi.errors import LoiError

    # Cheap checks first, before JAX is imported.
    if out.suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise LoiError(f"cannot write {out}: expected a .parquet or .csv file name")
    from loi.tables import check_writable

    check_writable(out)  # a missing, file-blocked or read-only destination fails before any episode
    ego_specs, cop_specs = _split(egos), _split(coplayers)
    if not ego_specs or not cop_specs:
        raise LoiError("--egos and --coplayers each need at least one policy")
    scripted = lambda spec: spec.startswith(("baseline:", "bots:"))  # noqa: E731
    for spec in ego_specs + cop_specs:
        if not scripted(spec) and not Path(spec).exists():
            raise LoiError(f"{spec}: not a run directory, checkpoint file, baseline:NAME or bots:NAME")
    from loi.cli.outputs import refuse_input_overwrite

    refuse_input_overwrite(out, [s for s in ego_specs + cop_specs if not scripted(s)])
    if scenario is None and all(scripted(s) for s in ego_specs + cop_specs):
        raise LoiError("baselines and bots need an environment: give --scenario NAME (e.g. stag_hunt/small)")
    gens = _generations(generations)
    ego_gens = _generations(ego_generations) if ego_generations is not None else gens

    import jax
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from loi.cli.commands_train import _parse_override
    from loi.evaluation import cross_play, policies_env, resolve_policies
    from loi.evaluation.policies import is_scripted
    from loi.tables import write_table

    overrides = dict(_parse_override(o) for o in env_option)

    trained = resolve_policies([s for s in ego_specs if not is_scripted(s)], generations=ego_gens, greedy=greedy)
    trained += resolve_policies([s for s in cop_specs if not is_scripted(s)], generations=gens, greedy=greedy)
    env = policies_env(trained, scenario, **overrides)
    ego_policies = resolve_policies(ego_specs, env, generations=ego_gens, greedy=greedy)
    cop_policies = resolve_policies(cop_specs, env, generations=gens, greedy=greedy)

    console = Console(stderr=True)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.completed:,.0f}/{task.total:,.0f} pairs"),
                        TextColumn("{task.fields[rate]} pairs/s"), TimeElapsedColumn(),
                        console=console, transient=as_json)
    total_pairs = len(ego_policies) * len(cop_policies)
    start = time.perf_counter()
    with progress:
        task = progress.add_task(f"evaluate {env.name}", total=total_pairs, rate="-")

        def on_chunk(done: int, total: int) -> None:
            elapsed = time.perf_counter() - start
            progress.update(task, completed=done, rate=f"{done / elapsed:,.1f}" if elapsed > 0 else "-")

        result = cross_play(env, ego_policies, cop_policies, episodes, jax.random.PRNGKey(seed), seats=seats,
                            chunk_size=chunk_size, streams=streams, max_episode_steps=max_episode_steps,
                            on_chunk=on_chunk)
    seconds = time.perf_counter() - start
    table = result.to_table()
    write_table(table, out)

    n_episodes = int(result.length.size)
    summary = {
        "out": str(out),
        "scenario": env.name,
        "egos": len(ego_policies),
        "coplayers": len(cop_policies),
        "seats": list(result.seats),
        "episodes": n_episodes,
        "rows": int(len(table)),
        "env_steps": result.env_steps,
        "truncated": int(result.truncated.sum()),
        "seconds": round(seconds, 3),
        "pairs_per_s": round(total_pairs / seconds, 3),
        "episodes_per_s": round(n_episodes / seconds, 3),
        "env_steps_per_s": round(result.env_steps / seconds, 1),
        "mean_ego_return": float(table["ego_return"].mean()),
    }
    if as_json:
        print(json.dumps(summary))
        return
    from rich.table import Table

    # Interaction counts exist only for environments that report them (loi's grid games).
    columns = [c for c in ("ego_return", "coplayer_return", "interactions") if c in table.columns]
    by_coplayer = table.groupby("coplayer", sort=False)[columns].mean()
    view = Table(title=f"{env.name}: mean over egos and episodes, per co-player")
    view.add_column("co-player", justify="left")
    for column in columns:
        view.add_column(column.replace("coplayer", "co-player").replace("_", " "), justify="right")
    shown = by_coplayer.head(30)
    for name, row in shown.iterrows():
        view.add_row(str(name), *(f"{row[c]:.3f}" if c != "interactions" else f"{row[c]:.2f}" for c in columns))
    out_console = Console()
    out_console.print(view)
    if len(by_coplayer) > len(shown):
        out_console.print(f"... and {len(by_coplayer) - len(shown)} more co-players")
    out_console.print(f"{n_episodes:,} episodes, {result.env_steps:,} env steps in {seconds:.1f} s "
                      f"({summary['episodes_per_s']:,.1f} episodes/s, {summary['env_steps_per_s']:,.0f} steps/s) "
                      f"-> {out}")
