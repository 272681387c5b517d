"""PPO training throughput: env-steps/s (compile separate), peak RSS, and the
wall time of one scenario's full training set, against baselines in the same run.

    python benchmarks/train_throughput.py                 # default: 2 generations x 131k steps per member
    python benchmarks/train_throughput.py --steps 262144 --generations 2
    python benchmarks/train_throughput.py --networks mlp,gru,lstm --no-full-set   # SP and PP5 per network
    python benchmarks/train_throughput.py --networks mlp,gru --breakdown          # + where the time goes

``--networks`` (presets of ``loi.agents.PRESETS``) adds SP and PP5 rows per
network on the grid scenario, with the ratio to the feed-forward (``mlp``) row
of the same regime. ``--breakdown`` also runs PP5 with 2 PPO epochs instead of
4: the difference is 2 epochs of updates, so the rollout's share is
``t4 - 2 * (t4 - t2)``, measured, not profiled.

Each configuration runs in its own subprocess (so peak RSS is its own); the
throughput of a configuration is measured over its generations after an
explicit ahead-of-time compile. Baselines measured in the same run:

- the same trainer on ``matrix/prisoners_dilemma`` (the cheapest environment:
  what the trainer alone costs),
- the same trainer on JaxMARL's 2-player STORM (prisoner's dilemma payoffs) and on
  Overcooked (``--overcooked LAYOUT``, with JaxMARL IPPO's batch sizes and shaped reward),
  through ``loi.envs.jaxmarl_adapter``, when ``jaxmarl`` imports (the ``jaxmarl`` extra);
- with ``--jaxmarl-ippo SCRIPT``: JaxMARL's own IPPO for Overcooked (the script of a JaxMARL
  checkout, not part of loi) on the same layout and steps, and loi's ratio to it.

    python benchmarks/train_throughput.py --no-full-set --steps 262144 \
        --jaxmarl-ippo JAXMARL/baselines/IPPO/ippo_ff_overcooked.py

The full-set wall time (SP x5 seeds, PP3, PP5, 4 held-out Bob seeds, at
``--full-steps`` env steps per agent) is EXTRAPOLATED from the measured
throughput of each run plus its measured compile time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SCENARIO = "prisoners_dilemma/medium"
STORM = "jaxmarl:storm_2p"  # JaxMARL's STORM (prisoner's dilemma payoffs) through loi.envs.jaxmarl_adapter
# JaxMARL's Overcooked as its IPPO baseline trains it (baselines/IPPO/config/ippo_ff_overcooked.yaml:
# 16 envs x 128 steps, 4 epochs x 4 minibatches, shaped reward); both sides learn from both seats.
OVERCOOKED_SIZES = {"num_envs": 16, "rollout_length": 128, "epochs": 4, "minibatches": 4}


def _sizes(scenario: str, epochs: int) -> dict:
    """Batch sizes of a run: loi's defaults, or JaxMARL IPPO's for Overcooked (and its epochs)."""
    if scenario.startswith("jaxmarl:overcooked"):
        return OVERCOOKED_SIZES
    return {"num_envs": 64, "rollout_length": 128, "epochs": epochs, "minibatches": 4}


def run_one(scenario: str, regime: str, seeds: int, steps: int, generations: int, network: str = "mlp",
            epochs: int = 4) -> dict:
    import jax

    from loi.training import TrainConfig, make_train

    sizes = _sizes(scenario, epochs)
    config = TrainConfig(scenario, regime=regime, num_seeds=seeds, total_steps=steps, num_generations=generations,
                         network=network, update_epochs=sizes["epochs"], num_envs=sizes["num_envs"],
                         rollout_length=sizes["rollout_length"], num_minibatches=sizes["minibatches"])
    trainer = make_train(config)
    t0 = time.perf_counter()
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    jax.block_until_ready(state)
    generation = jax.jit(trainer.generation).lower(state).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(generations):
        state, metrics = generation(state)
        jax.block_until_ready((state, metrics))
    seconds = time.perf_counter() - t0
    env_steps = config.num_updates * config.steps_per_update * config.regime_spec.num_members * seeds
    return _record(scenario, regime, seeds, network, sizes["epochs"], env_steps, seconds, compile_s)


def _record(scenario, regime, seeds, network, epochs, env_steps, seconds, compile_s) -> dict:
    return {"scenario": scenario, "regime": regime, "seeds": seeds, "network": network, "epochs": epochs,
            "env_steps": env_steps, "seconds": seconds, "steps_per_s": env_steps / seconds, "compile_s": compile_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def load_ippo_module(script: str):
    """JaxMARL's IPPO script (``baselines/IPPO/ippo_ff_overcooked.py`` of a JaxMARL checkout) as a
    module. Its per-update ``wandb.log`` callback goes to a stand-in that drops the metrics (as the
    experiment-tracking call it is, it is not part of training); hydra and omegaconf, imported by the
    script's command-line entry point only, get stand-ins where they are not installed."""
    import importlib.util
    import types

    sys.modules["wandb"] = types.SimpleNamespace(log=lambda *a, **k: None, init=lambda *a, **k: None)
    for name, attributes in (("hydra", {"main": lambda **k: (lambda f: f)}), ("omegaconf", {"OmegaConf": None})):
        try:
            __import__(name)
        except ImportError:
            sys.modules[name] = types.SimpleNamespace(**attributes)
    spec = importlib.util.spec_from_file_location("jaxmarl_ippo_ff_overcooked", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ippo_config(layout: str, steps: int, epochs: int = OVERCOOKED_SIZES["epochs"]) -> dict:
    """JaxMARL IPPO's Overcooked config (its ``config/ippo_ff_overcooked.yaml``) at ``steps``."""
    from jaxmarl.environments.overcooked import overcooked_layouts

    sizes = OVERCOOKED_SIZES
    return {"LR": 2.5e-4, "NUM_ENVS": sizes["num_envs"], "NUM_STEPS": sizes["rollout_length"],
            "TOTAL_TIMESTEPS": steps, "UPDATE_EPOCHS": epochs, "NUM_MINIBATCHES": sizes["minibatches"],
            "GAMMA": 0.99, "GAE_LAMBDA": 0.95, "CLIP_EPS": 0.2, "ENT_COEF": 0.01, "VF_COEF": 0.5,
            "MAX_GRAD_NORM": 0.5, "REW_SHAPING_HORIZON": steps / 2, "ACTIVATION": "tanh",
            "ENV_NAME": "overcooked", "ENV_KWARGS": {"layout": overcooked_layouts[layout]}, "ANNEAL_LR": True}


def run_jaxmarl_ippo(script: str, layout: str, steps: int) -> dict:
    """JaxMARL's own IPPO on ``layout`` with its config's sizes: its ``make_train`` compiled ahead
    of time, then timed."""
    import jax

    module = load_ippo_module(script)
    sizes = OVERCOOKED_SIZES
    config = ippo_config(layout, steps)
    key = jax.random.PRNGKey(0)
    t0 = time.perf_counter()
    train = jax.jit(module.make_train(config)).lower(key).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(train(key))
    seconds = time.perf_counter() - t0
    env_steps = config["NUM_UPDATES"] * sizes["rollout_length"] * sizes["num_envs"]
    return _record(f"JaxMARL IPPO {layout}", "sp", 1, "mlp", sizes["epochs"], env_steps, seconds, compile_s)


def spawn(scenario: str, regime: str, seeds: int, network: str, epochs: int, steps: int,
          generations: int, ippo_script: str | None = None) -> dict | None:
    if ippo_script is not None:
        cmd = [sys.executable, __file__, "--ippo-one", ippo_script, scenario, "--steps", str(steps)]
    else:
        cmd = [sys.executable, __file__, "--one", scenario, regime, str(seeds), "--steps", str(steps),
               "--generations", str(generations), "--network", network, "--epochs", str(epochs)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"  {scenario} {regime}: failed\n{proc.stderr[-2000:]}", file=sys.stderr, flush=True)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=131072 * 2, help="env steps per member per seed")
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--full-steps", type=int, default=1_000_000, help="steps per agent for the full-set estimate")
    parser.add_argument("--no-full-set", action="store_true", help="skip the SP x5 / SP x4 / PP3 runs")
    parser.add_argument("--networks", default="mlp", help="comma-separated network presets (SP + PP5 rows each)")
    parser.add_argument("--breakdown", action="store_true", help="also PP5 at 2 epochs: rollout vs update time")
    parser.add_argument("--overcooked", default="cramped_room",
                        help="Overcooked layout of the JaxMARL rows (needs the jaxmarl extra); '' skips them")
    parser.add_argument("--jaxmarl-ippo", metavar="SCRIPT",
                        help="JaxMARL's baselines/IPPO/ippo_ff_overcooked.py (from a JaxMARL checkout; needs "
                             "distrax): timed on the same layout and steps, beside loi's trainer")
    parser.add_argument("--one", nargs=3, metavar=("SCENARIO", "REGIME", "SEEDS"), help=argparse.SUPPRESS)
    parser.add_argument("--ippo-one", nargs=2, metavar=("SCRIPT", "LAYOUT"), help=argparse.SUPPRESS)
    parser.add_argument("--network", default="mlp", help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        scenario, regime, seeds = args.one
        print(json.dumps(run_one(scenario, regime, int(seeds), args.steps, args.generations, args.network,
                                 args.epochs)))
        return
    if args.ippo_one:
        print(json.dumps(run_jaxmarl_ippo(*args.ippo_one, args.steps)))
        return
    networks = [n.strip() for n in args.networks.split(",") if n.strip()]

    print(f"load average before: {os.getloadavg()[0]:.2f}  (cores: {os.cpu_count()})")
    runs = [("matrix/prisoners_dilemma", "sp", 1, "mlp", 4)]  # baseline: the trainer on the cheapest env
    for network in networks:
        runs += [(SCENARIO, "sp", 1, network, 4), (SCENARIO, "pp5", 1, network, 4)]
        if args.breakdown:
            runs.append((SCENARIO, "pp5", 1, network, 2))
    if not args.no_full_set:
        # SP x5 and the 4 Bobs as vmapped seeds, then PP3 (feed-forward).
        runs += [(SCENARIO, "sp", 5, "mlp", 4), (SCENARIO, "sp", 4, "mlp", 4), (SCENARIO, "pp3", 1, "mlp", 4)]
    overcooked = ippo = None  # loi's Overcooked run and JaxMARL IPPO's on the same layout
    try:
        import jaxmarl  # noqa: F401

        runs.insert(1, (STORM, "sp", 1, "mlp", 4))
        if args.overcooked:
            overcooked = (f"jaxmarl:overcooked/{args.overcooked}?reward_shaping=1", "sp", 1, "mlp", 4)
            runs.insert(2, overcooked)
            if args.jaxmarl_ippo:
                ippo = (args.overcooked, "sp", 1, "mlp", 4)
                runs.insert(3, ippo)
    except Exception as err:  # optional extra; any import failure means skip
        print(f"JaxMARL rows skipped: jaxmarl does not import ({type(err).__name__}: {err})")
    results = {}
    for run in runs:
        result = spawn(*run, args.steps, args.generations, ippo_script=args.jaxmarl_ippo if run == ippo else None)
        if result is not None:
            results[run] = result
            print(f"  done: {run[0]} {run[1]} x{run[2]} {run[3]} ({run[4]} epochs): "
                  f"{result['steps_per_s']:,.0f} env-steps/s, compile {result['compile_s']:.1f} s", flush=True)
    base = results.get(("matrix/prisoners_dilemma", "sp", 1, "mlp", 4))
    print(f"\n{'scenario':28} {'regime':6} {'seeds':>5} {'network':8} {'epochs':>6} {'env-steps/s':>12} "
          f"{'vs matrix':>9} {'vs mlp':>6} {'compile s':>9} {'peak RSS MB':>11}")
    for run, r in results.items():
        scenario, regime, seeds, network, epochs = r["scenario"], *run[1:]
        ratio = r["steps_per_s"] / base["steps_per_s"] if base else float("nan")
        ff = results.get((run[0], regime, seeds, "mlp", epochs))
        vs_ff = r["steps_per_s"] / ff["steps_per_s"] if ff else float("nan")
        print(f"{scenario:28} {regime:6} {seeds:>5} {network:8} {epochs:>6} {r['steps_per_s']:>12,.0f} "
              f"{ratio:>9.2f} {vs_ff:>6.2f} {r['compile_s']:>9.1f} {r['peak_rss_mb']:>11,.0f}")
    if ippo in results and overcooked in results:
        ours, theirs = results[overcooked], results[ippo]
        print(f"\nOvercooked {args.overcooked}, the same sizes: loi's trainer {ours['steps_per_s']:,.0f} env-steps/s, "
              f"JaxMARL's IPPO {theirs['steps_per_s']:,.0f}: ratio {ours['steps_per_s'] / theirs['steps_per_s']:.2f}x "
              f"(compile {ours['compile_s']:.1f} s vs {theirs['compile_s']:.1f} s)")
    if args.breakdown:
        print("\nwhere PP5's time goes (t4, t2: seconds per 1M env steps at 4 and 2 PPO epochs)")
        for network in networks:
            four, two = results.get((SCENARIO, "pp5", 1, network, 4)), results.get((SCENARIO, "pp5", 1, network, 2))
            if four and two:
                t4, t2 = 1e6 / four["steps_per_s"], 1e6 / two["steps_per_s"]
                epoch = (t4 - t2) / 2
                rollout = t4 - 4 * epoch
                print(f"  {network:8} t4 {t4:6.1f} s  t2 {t2:6.1f} s  -> rollout {rollout:6.1f} s "
                      f"({rollout / t4:.0%}), 4 epochs of updates {4 * epoch:6.1f} s ({4 * epoch / t4:.0%})")
    full = [(SCENARIO, "sp", 5, "mlp", 4), (SCENARIO, "pp3", 1, "mlp", 4), (SCENARIO, "pp5", 1, "mlp", 4),
            (SCENARIO, "sp", 4, "mlp", 4)]
    if all(run in results for run in full):
        total = 0.0
        for run in full:
            r = results[run]
            members = int(run[1][2:]) if run[1].startswith("pp") else 1
            total += r["compile_s"] + args.full_steps * members * run[2] / r["steps_per_s"]
        print(f"\nfull set (SP x5, PP3, PP5, 4 Bobs) at {args.full_steps:,} steps per agent on {SCENARIO}: "
              f"{total:,.0f} s = {total / 60:.1f} min (extrapolated from the throughput measured above)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
