"""``loi train``: PPO self-play / population-play / fictitious co-play training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from loi.cli.app import app


def _parse_override(text: str, option: str = "--env") -> tuple[str, object]:
    from loi.errors import LoiError

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise LoiError(f"{option} expects KEY=VALUE, got {text!r}")
    raw = raw.strip()
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return key.strip(), lowered == "true"
    for cast in (int, float):
        try:
            return key.strip(), cast(raw)
        except ValueError:
            pass
    return key.strip(), raw


def _network_option(text: str) -> tuple[str, object]:
    """KEY=VALUE of --network-option; a comma list (hidden=64,64) becomes a tuple of ints."""
    key, value = _parse_override(text, "--network-option")
    if isinstance(value, str) and "," in value:
        from loi.errors import LoiError

        try:
            value = tuple(int(v) for v in value.split(","))
        except ValueError:
            raise LoiError(f"--network-option {key} expects integers like 64,64, got {value!r}") from None
    elif isinstance(value, int) and key in ("hidden", "conv_features"):
        value = (value,)
    return key, value


def steps_rounding(config) -> str:
    """What --steps became, and why, when the run trains another number of steps ('' if not)."""
    trained = config.num_updates * config.steps_per_update
    if trained == config.total_steps:
        return ""
    updates = config.updates_per_generation
    return (f"--steps {config.total_steps:,} trains {trained:,} env steps per member per seed: a PPO update "
            f"takes --num-envs x --rollout-length = {config.num_envs} x {config.rollout_length} = "
            f"{config.steps_per_update:,} steps, and each of the {config.num_generations} generations makes the "
            f"same whole number of updates, the nearest to --steps: {config.num_generations} x {updates} "
            f"update{'s' if updates > 1 else ''}")


@app.command()
def train(
    scenario: str = typer.Argument(..., help="Environment: GAME/LAYOUT (e.g. prisoners_dilemma/small) or matrix/GAME."),
    regime: str = typer.Option("sp", "--regime", "-r", help="sp, ppN (population of N) or fcpN (pool of N)."),
    seeds: int = typer.Option(1, "--seeds", help="Independent training seeds (vmapped)."),
    steps: int = typer.Option(1_000_000, "--steps", help="Env steps per member per seed (rounded to whole updates)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory (resumed if it holds an unfinished run)."),
    generations: int = typer.Option(10, "--generations", "-g", help="Checkpoints (stages) over the run."),
    seed: int = typer.Option(0, "--seed", help="Base random seed (same seed, same result)."),
    pool: Optional[Path] = typer.Option(None, "--pool", help="fcpN: a self-play run directory to draw the frozen partners from."),
    pool_bots: List[str] = typer.Option([], "--pool-bot", metavar="bots:NAME", help="fcpN: a Melting Pot bot in the "
                                        "frozen pool (repeatable or comma-separated); --pool fills the rest."),
    network: str = typer.Option("mlp", "--network", help="Network preset: mlp, cnn (grid games), gru, lstm "
                                "(recurrent), authors (the paper's conv + LSTM 256)."),
    network_option: List[str] = typer.Option([], "--network-option", metavar="KEY=VALUE",
                                             help="Network field KEY=VALUE (repeatable), e.g. core_size=64, "
                                                  "prev_reward=true, encoder=cnn."),
    num_envs: int = typer.Option(64, "--num-envs", help="Parallel environments per member per seed."),
    rollout_length: int = typer.Option(128, "--rollout-length", help="Steps per environment per update."),
    learning_rate: float = typer.Option(1e-3, "--lr", help="Adam learning rate (linearly annealed)."),
    env_option: List[str] = typer.Option([], "--env", metavar="KEY=VALUE",
                                         help="Environment override KEY=VALUE (repeatable), e.g. min_steps=100."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object to stdout at the end."),
) -> None:
    """Train PPO agents and write checkpoints, learning curves and a resumable snapshot to --out."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from loi.agents.networks import network_config
    from loi.cli.app import check_directory_writable
    from loi.training import TrainConfig, train_run

    # Every argument is checked before any work: the environment first (the most basic), then the
    # config and the paths; train_run checks the rest before it compiles.
    import loi.envs
    from loi.cli.outputs import refuse_input_overwrite
    from loi.errors import LoiError

    loi.envs.make(scenario, **dict(_parse_override(o) for o in env_option))
    if pool is not None and not pool.is_dir():
        raise LoiError(f"--pool {pool}: no such directory (a self-play run directory)")
    check_directory_writable(out)
    refuse_input_overwrite(out, [pool], directory=True)

    config = TrainConfig(
        scenario=scenario,
        regime=regime,
        num_seeds=seeds,
        total_steps=steps,
        num_generations=generations,
        num_envs=num_envs,
        rollout_length=rollout_length,
        learning_rate=learning_rate,
        network=network_config({"preset": network, **dict(_network_option(o) for o in network_option)}),
        env_overrides=tuple(sorted(dict(_parse_override(o) for o in env_option).items())),
        pool_bots=tuple(b.strip() for value in pool_bots for b in value.split(",") if b.strip()),
    )
    # Progress goes to stderr so that --json leaves stdout to the one JSON object.
    console = Console(stderr=True)
    rounding = steps_rounding(config)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} steps"),
        TextColumn("{task.fields[rate]} steps/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=as_json,
        disable=not console.is_terminal,  # a log file gets the summary, not a bar's last frame
    )
    total = config.num_updates * config.steps_per_update * config.regime_spec.num_members * config.num_seeds
    with progress:
        task = progress.add_task(f"train {scenario} {config.regime_spec}: compiling", total=total, rate="-")

        def on_compiled(seconds: float) -> None:
            progress.update(task, description=f"train {scenario} {config.regime_spec}")
            if rounding:  # said once the arguments have all passed, so a refusal stays one line
                console.print(f"loi: note: {rounding}", markup=False, highlight=False, soft_wrap=True)

        def on_generation(done) -> None:
            rate = f"{done.env_steps / done.seconds:,.0f}" if done.seconds > 0 else "-"
            progress.update(task, completed=(done.generation + 1) / done.num_generations * done.total_env_steps,
                            rate=rate)

        try:
            result = train_run(config, out, seed=seed, pool_dir=pool, on_generation=on_generation,
                               on_compiled=on_compiled)
        except BaseException:
            progress.remove_task(task)  # an error leaves its one line, not a "compiling" bar above it
            progress.live.transient = True
            raise
        progress.update(task, completed=result.env_steps)

    if as_json:
        print(json.dumps(result.to_json()))
        return
    from rich.table import Table

    table = Table(title=f"{scenario} {config.regime_spec} -> {out}")
    for column in ("seed", "member", "mean episode return", "return / step", "checkpoints"):
        table.add_column(column, justify="right")
    for m in result.members:
        ret = m["mean_episode_return"]
        table.add_row(str(m["seed"]), str(m["member"]), "—" if ret is None else f"{ret:.3f}",
                      f"{m['mean_return_per_step']:.4f}", str(len(m["checkpoints"])))
    out_console = Console()
    out_console.print(table)
    rate = result.env_steps / result.seconds if result.seconds > 0 else float("nan")
    per_member = config.num_updates * config.steps_per_update
    out_console.print(f"{per_member:,} env steps per member per seed"
                      + (f" (--steps {steps:,} rounded to whole updates)" if rounding else "")
                      + f", {result.env_steps:,} in all; compile {result.compile_seconds:.1f} s; "
                      f"training {result.seconds:.1f} s ({rate:,.0f} steps/s); returns over the last 10% of updates")
