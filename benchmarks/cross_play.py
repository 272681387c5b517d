"""Cross-play throughput: the paper's LoI matrix for one scenario in one run.

Plays ``--egos`` x ``--coplayers`` policies (random-init actor-critics of the
size ``loi train`` uses, ``NetworkConfig()``) for ``--episodes`` full episodes
per pair on ``--scenario`` (default ``chicken/large`` with the environment's
own stochastic ending: 1000 steps, then every 100 steps ending with
probability 0.1), and reports episodes/s, env-steps/s, compile time and the
process's peak RSS.

Baseline, measured in the same run: the same program with the pairs evaluated
one at a time (``chunk_size=1``) on the first ``--baseline-pairs`` co-players
of the first ego. The ratio compares env-steps/s (compile excluded for both).

    python benchmarks/cross_play.py                      # 20 x 45 x 6 on chicken/large
    python benchmarks/cross_play.py --egos 4 --json      # a quick look
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def _peak_rss_gb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="chicken/large")
    parser.add_argument("--egos", type=int, default=20)
    parser.add_argument("--coplayers", type=int, default=45)
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--baseline-pairs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import jax

    import loi.envs
    from loi.agents import init_params, make_network
    from loi.evaluation import cross_play, network_policy

    env = loi.envs.make(args.scenario)
    network = make_network(env)  # NetworkConfig(): the size `loi train` trains by default
    init = jax.jit(lambda key: init_params(network, key))
    description = network.describe()

    def policies(prefix: str, count: int, offset: int):
        return [network_policy(f"{prefix}{i}", init(jax.random.PRNGKey(offset + i)), description) for i in range(count)]

    egos = policies("ego_", args.egos, 0)
    coplayers = policies("coplayer_", args.coplayers, 10_000)
    key = jax.random.PRNGKey(args.seed)

    def run(egos_, coplayers_, chunk_size):
        return cross_play(env, egos_, coplayers_, args.episodes, key, chunk_size=chunk_size, streams=args.streams)

    # Compile each program once on a tiny matrix of the same block shape is not possible (the block
    # shape is the matrix), so the first call's time includes compilation; it is measured separately
    # by lowering+compiling before the timed call.
    from loi.evaluation.cross_play import _block_program  # compile time only

    def compile_seconds(ne: int, nc: int) -> float:
        program = _block_program(env, egos[0].act, coplayers[0].act, ne, nc, (0,), min(args.streams, args.episodes),
                                 args.episodes, env.num_strategies)
        stack = lambda pols: jax.tree_util.tree_map(lambda *x: jax.numpy.stack(x), *[p.params for p in pols])
        start = time.perf_counter()
        program.lower(stack(egos[:ne]), stack(coplayers[:nc]), jax.numpy.arange(ne), jax.numpy.arange(nc),
                      key, jax.numpy.int32(2**31 - 1)).compile()
        return time.perf_counter() - start

    nc = min(args.coplayers, args.chunk_size)
    ne = max(1, min(args.egos, args.chunk_size // nc))
    batched_compile = compile_seconds(ne, nc)
    result, seconds = _timed(lambda: run(egos, coplayers, args.chunk_size))
    peak = _peak_rss_gb()

    base_cop = coplayers[: args.baseline_pairs]
    baseline_compile = compile_seconds(1, 1)
    base, base_seconds = _timed(lambda: run(egos[:1], base_cop, 1))
    # Same pairs, same keys: the batched run must have played exactly the same episodes. Returns
    # are compared to float32 rounding: the grid env's payoff x.A.y is a vmapped matmul whose
    # last bit depends on the batch size (XLA CPU), the trajectories do not.
    import numpy as np

    batched = lambda a: a[:1, : args.baseline_pairs]
    same = bool((base.length == batched(result.length)).all()
                and (base.interactions == batched(result.interactions)).all()
                and np.allclose(base.ego_return, batched(result.ego_return), rtol=1e-6, atol=1e-5))

    episodes = int(result.length.size)
    steps = result.env_steps
    report = {
        "scenario": args.scenario,
        "matrix": [args.egos, args.coplayers, args.episodes],
        "network": {k: description[k] for k in ("kind", "hidden")},
        "episodes": episodes,
        "env_steps": steps,
        "mean_episode_length": steps / episodes,
        "max_episode_length": int(result.length.max()),
        "compile_s": round(batched_compile, 2),
        "seconds": round(seconds, 2),
        "episodes_per_s": round(episodes / seconds, 2),
        "env_steps_per_s": round(steps / seconds, 1),
        "peak_rss_gb": round(peak, 3),
        "baseline": {
            "pairs": args.baseline_pairs,
            "episodes": int(base.length.size),
            "env_steps": base.env_steps,
            "compile_s": round(baseline_compile, 2),
            "seconds": round(base_seconds, 2),
            "env_steps_per_s": round(base.env_steps / base_seconds, 1),
        },
        "speedup_env_steps_per_s": round((steps / seconds) / (base.env_steps / base_seconds), 2),
        "baseline_matches_batched": same,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.scenario}: {args.egos} x {args.coplayers} x {args.episodes} episodes "
              f"({report['network']['kind']} {report['network']['hidden']}), mean length "
              f"{report['mean_episode_length']:.0f} steps (max {report['max_episode_length']})")
        print(f"  batched : {seconds:8.2f} s  {report['episodes_per_s']:8.2f} episodes/s  "
              f"{report['env_steps_per_s']:12,.0f} env-steps/s  (compile {batched_compile:.1f} s)")
        print(f"  baseline: {base_seconds:8.2f} s  {base.length.size / base_seconds:8.2f} episodes/s  "
              f"{report['baseline']['env_steps_per_s']:12,.0f} env-steps/s  "
              f"(one pair at a time, {args.baseline_pairs} pairs, compile {baseline_compile:.1f} s)")
        print(f"  speed-up (env-steps/s): {report['speedup_env_steps_per_s']:.1f}x; peak RSS {peak:.2f} GB; "
              f"baseline episodes identical to batched: {same}")
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
