"""Environment throughput: env-steps/s of loi's JAX envs, and of JaxMARL's STORM.

Each env step is counted once (a 2-player step is one step). For every batch
size the whole rollout (random actions for both players, auto-resetting
``step``) runs inside one jitted ``lax.scan`` over ``vmap``-ed envs; compile time
is measured separately and the best of ``--repeats`` timed runs is reported.
Observations and rewards are folded into a checksum so XLA cannot skip computing them.

When ``jaxmarl`` is importable, the 2-player STORM (``storm_2p``, prisoner's
dilemma payoff) is measured in the same run with the same harness, and the
ratio loi / STORM is printed per batch size.

    python benchmarks/env_throughput.py                 # medium layout + matrix (+ STORM)
    python benchmarks/env_throughput.py --steps 500 --batch-sizes 4096 --json
    python benchmarks/env_throughput.py --against 8fe417b --env prisoners_dilemma/medium,stag_hunt/obstacle \\
        --batch-sizes 4096                              # this tree's envs against a revision's

``--meltingpot`` (run with ``.venv-meltingpot/bin/python``) times ``--env``'s real Melting Pot
substrate in the same run, stepped with uniform random actions for every player in one
process (no observation parsing: what the substrate itself costs; an N-player step is one
step), and prints loi / Melting Pot per batch size; for ``GAME/arena`` the arena substrate:

    .venv-meltingpot/bin/python benchmarks/env_throughput.py --env prisoners_dilemma/arena \\
        --matrix "" --no-storm --batch-sizes 1,64,1024 --meltingpot

``--against REV`` times each ``--env`` as this source tree builds it and as revision ``REV``
builds it (its ``src/`` exported with ``git archive``), each in its own worker process,
alternating the two run by run (A B A B ...), and prints the ratio this tree / REV with both
compile times (the jitted ``step``, and the rollout).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _rollout_fn(env, agents, num_actions: int, batch: int, steps: int):
    import jax
    import jax.numpy as jnp

    def checksum(tree):
        return sum(jnp.sum(x.astype(jnp.float32)) for x in jax.tree.leaves(tree))

    def run(key):
        key_reset, key_steps = jax.random.split(key)
        _, state = jax.vmap(env.reset)(jax.random.split(key_reset, batch))

        def body(carry, key):
            state, acc = carry
            key_actions, key_step = jax.random.split(key)
            a = jax.random.randint(key_actions, (len(agents), batch), 0, num_actions)
            actions = {agent: a[i] for i, agent in enumerate(agents)}
            obs, state, rewards, dones, _ = jax.vmap(env.step)(jax.random.split(key_step, batch), state, actions)
            return (state, acc + checksum(obs) + checksum(rewards)), None

        (_, acc), _ = jax.lax.scan(body, (state, jnp.float32(0)), jax.random.split(key_steps, steps))
        return acc

    return jax.jit(run)


def compile_rollout(env, agents, num_actions: int, batch: int, steps: int):
    """The jitted rollout, compiled, and its compile time in seconds."""
    import jax

    fn = _rollout_fn(env, agents, num_actions, batch, steps)
    t0 = time.perf_counter()
    compiled = fn.lower(jax.random.key(0)).compile()
    compile_s = time.perf_counter() - t0
    compiled(jax.random.key(0)).block_until_ready()  # warm-up
    return compiled, compile_s


def measure_interleaved(targets: dict, batch: int, steps: int, repeats: int) -> dict:
    """Best-of-``repeats`` steps/s per target; the targets' runs alternate so that
    load from other processes hits all of them alike (the ratio is what we report)."""
    import jax

    compiled = {name: compile_rollout(*spec, batch, steps) for name, spec in targets.items()}
    best = {name: float("inf") for name in targets}
    for r in range(repeats):
        for name, (fn, _) in compiled.items():
            t0 = time.perf_counter()
            fn(jax.random.key(r + 1)).block_until_ready()
            best[name] = min(best[name], time.perf_counter() - t0)
    return {name: {"batch": batch, "steps": steps, "compile_s": compiled[name][1], "run_s": best[name],
                   "steps_per_s": batch * steps / best[name]} for name in targets}


def meltingpot_steps_per_s(env_name: str, steps: int, seed: int = 0) -> dict:
    """Env steps/s of ``env_name``'s real Melting Pot substrate (``GAME/arena``: the arena
    substrate; ``GAME/default``: the repeated one), uniform random actions, auto-resetting."""
    from meltingpot.utils.substrates import builder

    from loi.backends import meltingpot as mp

    game, _, map_name = env_name.partition("/")
    arena = map_name == "arena"
    if not arena and map_name != "default":
        raise SystemExit(f"--meltingpot times GAME/arena or GAME/default, not {env_name!r}")
    settings = mp.substrate_settings(game, arena=arena)
    action_set = [dict(a) for a in mp.require().get_config(mp.substrate_name(game, arena)).action_set]
    players = mp.num_players(settings)
    rng = np.random.default_rng(seed)
    env = builder.builder(settings, env_seed=seed + 1)
    try:
        env.reset()
        t0 = time.perf_counter()
        for _ in range(steps):
            actions = {}
            for player, a in enumerate(rng.integers(0, len(action_set), players)):
                for part in ("move", "turn", "interact"):
                    actions[f"{player + 1}.{part}"] = action_set[a].get(part, 0)
            if env.step(actions).last():
                env.reset()
        seconds = time.perf_counter() - t0
    finally:
        env.close()
    return {"substrate": mp.substrate_name(game, arena), "players": players, "steps": steps,
            "steps_per_s": steps / seconds}


def storm_env():
    """JaxMARL's 2-player STORM with the prisoner's dilemma payoff, or None."""
    try:
        import jax.numpy as jnp
        import jaxmarl
    except Exception as err:  # noqa: BLE001 - any import failure means "not available"
        print(f"# jaxmarl not importable ({type(err).__name__}: {err}); STORM comparison skipped",
              file=sys.stderr)
        return None
    pd = jnp.array([[[3, 0], [5, 1]], [[3, 5], [0, 1]]])  # row player's A, column player's B
    return jaxmarl.make("storm_2p", payoff_matrix=pd)


# -- one source tree against another (--against) ------------------------------------------------
def export_src(revision: str, into: Path) -> Path:
    """``src/`` of ``revision`` written under ``into``; the path to put on PYTHONPATH."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", revision, "src"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def serve(env_name: str, batch: int, steps: int) -> None:
    """Worker: compile ``env_name``'s step and rollout, print one JSON line, then time one run
    per line read from stdin (the line is the run's seed) and print its seconds."""
    import jax
    import jax.numpy as jnp

    import loi
    import loi.envs

    env = loi.envs.make(env_name)
    _, state = env.reset(jax.random.key(0))
    actions = {agent: jnp.int32(0) for agent in env.agents}
    t0 = time.perf_counter()
    jax.jit(env.step).lower(jax.random.key(1), state, actions).compile()
    step_s = time.perf_counter() - t0
    fn, rollout_s = compile_rollout(env, env.agents, env.action_space().n, batch, steps)
    print(json.dumps({"loi": loi.__file__, "compile_step_s": step_s, "compile_rollout_s": rollout_s}), flush=True)
    for line in sys.stdin:
        t0 = time.perf_counter()
        fn(jax.random.key(int(line))).block_until_ready()
        print(time.perf_counter() - t0, flush=True)


def measure_against(revision: str, env_name: str, batch: int, steps: int, repeats: int) -> dict:
    """Best-of-``repeats`` steps/s of ``env_name`` on this tree and on ``revision``, alternating."""
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": REPO / "src", revision: export_src(revision, Path(tmp))}
        workers, info = {}, {}
        for label, src in trees.items():
            workers[label] = subprocess.Popen(
                [sys.executable, __file__, "--serve", env_name, "--batch-sizes", str(batch), "--steps", str(steps)],
                env={**os.environ, "PYTHONPATH": str(src)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            info[label] = json.loads(workers[label].stdout.readline())  # compiled one at a time
            if not info[label]["loi"].startswith(str(src)):
                raise SystemExit(f"worker for {label} imported loi from {info[label]['loi']}, not {src}")
        best = {label: float("inf") for label in trees}
        for r in range(repeats):
            for label, worker in workers.items():
                worker.stdin.write(f"{r + 1}\n")
                worker.stdin.flush()
                best[label] = min(best[label], float(worker.stdout.readline()))
        for worker in workers.values():
            worker.stdin.close()
            worker.wait()
    return {label: {**info[label], "steps_per_s": batch * steps / best[label]} for label in trees}


def report_against(args) -> None:
    for env_name in args.env.split(","):
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            r = measure_against(args.against, env_name, batch, args.steps, args.repeats)
            mine, theirs = r["this tree"], r[args.against]
            for label, x in r.items():
                print(f"{env_name:28s} {label:10s} batch {batch:5d}: {x['steps_per_s']:11.4g} steps/s "
                      f"(compile: step {x['compile_step_s']:.1f}s, rollout {x['compile_rollout_s']:.1f}s)", flush=True)
            print(f"ratio this tree / {args.against} {env_name} batch {batch}: "
                  f"{mine['steps_per_s'] / theirs['steps_per_s']:.3f}", flush=True)
    print(f"# load_avg {os.getloadavg()}, cpu_count {os.cpu_count()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="prisoners_dilemma/medium")
    parser.add_argument("--matrix", default="matrix/prisoners_dilemma")
    parser.add_argument("--batch-sizes", default="1,64,1024,4096")
    parser.add_argument("--steps", type=int, default=200, help="scan length per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-storm", action="store_true")
    parser.add_argument("--meltingpot", action="store_true",
                        help="also time --env's real Melting Pot substrate (needs .venv-meltingpot)")
    parser.add_argument("--meltingpot-steps", type=int, default=3000, help="steps of the Melting Pot timing")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--against", metavar="REV", help="time --env (comma-separated) on this tree and on REV")
    parser.add_argument("--serve", metavar="ENV", help=argparse.SUPPRESS)  # a worker of --against
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, int(args.batch_sizes), args.steps)
    if args.against:
        return report_against(args)

    import jax

    import loi.envs

    batches = [int(b) for b in args.batch_sizes.split(",")]
    targets = {}
    grid = loi.envs.make(args.env)
    targets[args.env] = (grid, grid.agents, grid.action_space().n)
    if args.matrix:
        matrix = loi.envs.make(args.matrix)
        targets[args.matrix] = (matrix, matrix.agents, matrix.action_space().n)
    if not args.no_storm and (storm := storm_env()) is not None:
        targets["jaxmarl/storm_2p"] = (storm, storm.agents, storm.action_space(storm.agents[0]).n)

    results = {name: [] for name in targets}
    for b in batches:
        for name, r in measure_interleaved(targets, b, args.steps, args.repeats).items():
            results[name].append(r)
            if not args.json:
                print(f"{name:28s} batch {r['batch']:5d}: {r['steps_per_s']:11.4g} steps/s "
                      f"(compile {r['compile_s']:.2f}s)", flush=True)
    ratios, vs_meltingpot = {}, {}
    if args.meltingpot:
        melting = meltingpot_steps_per_s(args.env, args.meltingpot_steps)
        for ours in results[args.env]:
            vs_meltingpot[ours["batch"]] = ours["steps_per_s"] / melting["steps_per_s"]
        if not args.json:
            print(f"{melting['substrate']:28s} ({melting['players']} players, one process): "
                  f"{melting['steps_per_s']:11.4g} steps/s over {melting['steps']} steps")
            for b, ratio in vs_meltingpot.items():
                print(f"ratio {args.env} / {melting['substrate']} at batch {b:5d}: {ratio:.1f}x")
    if "jaxmarl/storm_2p" in results:
        for ours, theirs in zip(results[args.env], results["jaxmarl/storm_2p"]):
            ratios[ours["batch"]] = ours["steps_per_s"] / theirs["steps_per_s"]
        if not args.json:
            for b, ratio in ratios.items():
                print(f"ratio {args.env} / storm_2p at batch {b:5d}: {ratio:.2f}x")
    meta = {"jax": jax.__version__, "backend": jax.default_backend(), "cpu_count": os.cpu_count(),
            "load_avg": os.getloadavg()}
    if args.json:
        print(json.dumps({"meta": meta, "results": results, "ratio_vs_storm": ratios,
                          "ratio_vs_meltingpot": vs_meltingpot}))
    else:
        print(f"# {meta}")


if __name__ == "__main__":
    main()
