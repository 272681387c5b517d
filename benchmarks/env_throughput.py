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
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="prisoners_dilemma/medium")
    parser.add_argument("--matrix", default="matrix/prisoners_dilemma")
    parser.add_argument("--batch-sizes", default="1,64,1024,4096")
    parser.add_argument("--steps", type=int, default=200, help="scan length per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-storm", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

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
    ratios = {}
    if "jaxmarl/storm_2p" in results:
        for ours, theirs in zip(results[args.env], results["jaxmarl/storm_2p"]):
            ratios[ours["batch"]] = ours["steps_per_s"] / theirs["steps_per_s"]
        if not args.json:
            for b, ratio in ratios.items():
                print(f"ratio {args.env} / storm_2p at batch {b:5d}: {ratio:.2f}x")
    meta = {"jax": jax.__version__, "backend": jax.default_backend(), "cpu_count": os.cpu_count(),
            "load_avg": os.getloadavg()}
    if args.json:
        print(json.dumps({"meta": meta, "results": results, "ratio_vs_storm": ratios}))
    else:
        print(f"# {meta}")


if __name__ == "__main__":
    main()
