"""Training driver: generations, checkpoints, exact resume, learning curves.

The run directory (``--out DIR``) is laid out by :class:`~loi.training.rundir.RunDir`:
``run.json``, ``train_state.msgpack``, ``curves.parquet`` and one checkpoint per
(seed, member, generation). Seeds are ``--seeds K`` -> 0..K-1, drawn from
``--seed``; members are 0 for sp/fcp. Each policy checkpoint's
metadata holds scenario, regime, member, seed, base_seed, generation,
num_generations, step (env steps per member) and config_hash.

Per generation the files are written in that order (checkpoints, curves, then
the snapshot), each atomically, so after a crash the snapshot names the last
complete generation and a re-run with the same ``DIR`` resumes from it; the
result is bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np
import pandas as pd

from loi.agents.checkpoint import save_checkpoint
from loi.errors import LoiError
from loi.training.config import TrainConfig
from loi.training.curves import curves_frame, final_performance
from loi.training.pool import load_pool, select_pool
from loi.training.ppo import Trainer, make_env, make_train
from loi.training.rundir import RunDir
from loi.training.snapshot import load_state, save_state


def checkpoint_path(out: str | os.PathLike, seed: int, member: int, generation: int) -> Path:
    """The checkpoint of (seed, member) after ``generation`` in run directory ``out``."""
    return RunDir(out).checkpoint(seed, member, generation)


@dataclass(frozen=True)
class GenerationDone:
    """Progress report passed to ``on_generation`` after every generation."""

    generation: int  # 0-based index of the generation just finished
    num_generations: int
    env_steps: int  # env steps simulated so far by this process (all seeds, members)
    total_env_steps: int  # env steps of the whole run
    seconds: float  # wall time of this process's generations so far (compile excluded)


@dataclass(frozen=True)
class TrainingResult:
    out: Path
    env_steps: int  # env steps of the generations done so far (all seeds and members)
    seconds: float  # wall time of the generations run by this call (compile excluded)
    compile_seconds: float
    resumed_from: int  # generations already done when this call started
    members: list[dict[str, Any]] = field(default_factory=list)
    curves: pd.DataFrame | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "env_steps": self.env_steps,
            "seconds": round(self.seconds, 3),
            "compile_seconds": round(self.compile_seconds, 3),
            "members": self.members,
        }


def _run_record(config: TrainConfig, seed: int, pool_paths: list[Path]) -> dict[str, Any]:
    return {
        "config": config.to_dict(),
        "config_hash": config.config_hash(),
        "base_seed": seed,
        "pool": [str(p) for p in pool_paths],
    }


def _pool_key(paths: list[Path]) -> tuple:
    """Pool identity for the compile cache: paths plus file sizes and mtimes."""
    out = []
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            raise LoiError(f"fcp pool checkpoint {p} (listed in {RunDir.RUN_FILE}) is missing") from None
        out.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(out)


@functools.lru_cache(maxsize=8)
def _compiled(config: TrainConfig, pool_key: tuple) -> tuple[Trainer, Callable, Callable]:
    """The trainer, its compiled ``init`` and a lazy compiled ``generation``,
    memoised so that repeated runs of one config in a process (resume, a
    pipeline's seeds, tests) compile once."""
    pool = None
    if pool_key or config.pool_bots:
        pool = load_pool([Path(p) for p, _, _ in pool_key], config.scenario, bots=config.pool_bots,
                         env=make_env(config))
    trainer = make_train(config, pool=pool)
    key = jax.random.PRNGKey(0)
    # Default optimisation on purpose: compiled at LLVM O0, the vmapped batched QR of the
    # orthogonal initialiser deadlocked the 2-thread CPU pool (seen in `loi run`).
    init = jax.jit(trainer.init).lower(key).compile()

    @functools.lru_cache(maxsize=1)
    def compile_generation():
        return jax.jit(trainer.generation).lower(jax.eval_shape(trainer.init, key)).compile()

    return trainer, init, compile_generation


def train_run(
    config: TrainConfig,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    pool_dir: str | os.PathLike | None = None,
    stop_after: int | None = None,
    on_generation: Callable[[GenerationDone], None] | None = None,
    on_compiled: Callable[[float], None] | None = None,
) -> TrainingResult:
    """Train ``config`` into ``out``, resuming if ``out`` holds an unfinished run
    of the same config and seed. ``stop_after`` ends after that many generations
    in total (for tests of resume); ``pool_dir`` is the SP run an fcpN learner
    trains against (its N - len(config.pool_bots) checkpoints; none needed when
    bots fill the pool)."""
    out = Path(out)
    run = RunDir(out)
    regime = config.regime_spec
    pool_checkpoints = regime.size - len(config.pool_bots) if regime.kind == "fcp" else 0
    if pool_checkpoints and pool_dir is None:
        raise LoiError(f"regime {regime} needs --pool DIR: a self-play run directory to draw partners from")
    if regime.kind != "fcp" and pool_dir is not None:
        raise LoiError(f"--pool is only for fcpN regimes, not {regime}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise LoiError(f"seed must be a non-negative integer, got {seed!r}")

    make_env(config)  # an unknown scenario fails before anything is written
    record = run.read_metadata()
    if record is not None:
        expected = _run_record(config, seed, [])
        if record.get("config_hash") != expected["config_hash"] or record.get("base_seed") != seed:
            raise LoiError(
                f"{out} already holds a different training run (config hash {record.get('config_hash')}, "
                f"seed {record.get('base_seed')}); use another --out directory"
            )
        pool_paths = [Path(p) for p in record.get("pool", [])]
    else:
        if out.exists() and not out.is_dir():
            raise LoiError(f"--out {out} exists and is not a directory")
        pool_paths = select_pool(pool_dir, pool_checkpoints) if pool_checkpoints else []
        run.write_metadata(_run_record(config, seed, pool_paths))

    trainer, init, compile_generation = _compiled(config, _pool_key(pool_paths))
    key = jax.random.PRNGKey(seed)
    state_file = run.state_file
    start = 0
    curves = pd.DataFrame()
    if state_file.is_file():
        template = jax.eval_shape(trainer.init, key)
        state, info = load_state(state_file, template)
        start = int(info["generations_done"])
        saved = run.read_curves()
        if saved is not None:
            curves = saved[saved["generation"] < start]
    else:
        state = init(key)

    stop = config.num_generations if stop_after is None else min(stop_after, config.num_generations)
    num_members, num_seeds = regime.num_members, config.num_seeds
    steps_per_generation = config.steps_per_generation * num_members * num_seeds
    total_env_steps = config.num_updates * config.steps_per_update * num_members * num_seeds

    compile_seconds = 0.0
    if start < stop:
        t0 = time.perf_counter()
        generation = compile_generation()
        compile_seconds = time.perf_counter() - t0
        if on_compiled is not None:
            on_compiled(compile_seconds)

    frames = [curves] if len(curves) else []
    seconds = 0.0
    network_description = trainer.network.describe()
    for g in range(start, stop):
        t0 = time.perf_counter()
        state, metrics = generation(state)
        state, metrics = jax.device_get((state, metrics))
        seconds += time.perf_counter() - t0
        step = (g + 1) * config.steps_per_generation
        for s in range(num_seeds):
            for m in range(num_members):
                params = jax.tree_util.tree_map(lambda x: x[s, m], state.params)
                metadata = {
                    "scenario": config.scenario,
                    "regime": str(regime),
                    "member": m,
                    "seed": s,
                    "base_seed": seed,
                    "generation": g,
                    "num_generations": config.num_generations,
                    "step": step,
                    "config_hash": config.config_hash(),
                }
                path = run.checkpoint(s, m, g)
                path.parent.mkdir(parents=True, exist_ok=True)
                save_checkpoint(path, params, metadata, network_description)
        frames.append(curves_frame(metrics, config, g))
        curves = pd.concat(frames, ignore_index=True)
        frames = [curves]
        run.write_curves(curves)
        save_state(state_file, state, {"generations_done": g + 1, "config_hash": config.config_hash()})
        if on_generation is not None:
            on_generation(GenerationDone(g, config.num_generations, (g + 1 - start) * steps_per_generation,
                                         total_env_steps, seconds))

    if not len(curves):
        saved = run.read_curves()
        curves = curves if saved is None else saved
    members = []
    if len(curves):
        done = int(curves["generation"].max()) + 1
        summary = final_performance(curves)
        for row in summary.itertuples(index=False):
            members.append({
                "seed": int(row.seed),
                "member": int(row.member),
                "mean_episode_return": None if np.isnan(row.mean_episode_return) else float(row.mean_episode_return),
                "mean_return_per_step": float(row.mean_return_per_step),
                "checkpoints": [str(run.checkpoint(int(row.seed), int(row.member), g)) for g in range(done)],
            })
    return TrainingResult(
        out=out,
        env_steps=max(start, stop) * steps_per_generation,
        seconds=seconds,
        compile_seconds=compile_seconds,
        resumed_from=start,
        members=members,
        curves=curves,
    )
