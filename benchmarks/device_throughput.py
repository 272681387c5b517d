"""Training env-steps/s on this machine's accelerator (or CPU) at batch sizes that fill it, and
the paper study's wall time extrapolated from them. Run through ``benchmarks/device.sh``.

    python benchmarks/device_throughput.py                       # GPU sizes: 2048 envs x 128 steps
    python benchmarks/device_throughput.py --num-envs 8 --rollout-length 8 --updates 2   # a CPU check

Measured: SP (``sp_seeds`` seeds vmapped, as a study trains them) and PP5, MLP and GRU, on the
study's first scenario, each compiled ahead of time and then timed over ``--updates`` updates.
Extrapolated: every member the study trains (per scenario its SP seeds, held-out Bob seeds and
every regime of its menu) at ``--steps-per-member`` env steps (the authors' 5M by default), at the
throughput measured for that kind of regime and the study's network (SP rows for SP and Bobs, PP5
rows for ppN and fcpN), plus each distinct program's compile time once; evaluation is left out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def measure(scenario: str, regime: str, seeds: int, network: str, num_envs: int, rollout_length: int,
            updates: int) -> dict:
    """Env steps per second (all seeds and members) of ``updates`` PPO updates, compile apart."""
    import jax

    from loi.training import TrainConfig, make_train

    config = TrainConfig(scenario, regime=regime, num_seeds=seeds, network=network, num_envs=num_envs,
                         rollout_length=rollout_length, num_generations=1,
                         total_steps=updates * num_envs * rollout_length)
    trainer = make_train(config)
    t0 = time.perf_counter()
    state = jax.block_until_ready(jax.jit(trainer.init)(jax.random.PRNGKey(0)))
    generation = jax.jit(trainer.generation).lower(state).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(generation(state))
    seconds = time.perf_counter() - t0
    env_steps = config.num_updates * config.steps_per_update * config.regime_spec.num_members * seeds
    return {"regime": regime, "seeds": seeds, "network": network, "num_envs": num_envs,
            "steps_per_s": env_steps / seconds, "compile_s": compile_s, "env_steps": env_steps}


def study_members(study_path: Path) -> tuple[str, str, int, dict[str, int]]:
    """``(first scenario, the study's network preset, SP seeds, trained members by kind "sp" / "pp"
    over all scenarios)``; a regime trained ``length_multiplier`` times as long counts that often."""
    from loi.agents.networks import PRESETS
    from loi.pipeline.config import load_config
    from loi.pipeline.plan import train_config
    from loi.training.config import parse_regime

    study = load_config(study_path)
    scenario = study.scenarios[0]
    network = train_config(study, scenario, "sp", 1).network
    preset = next((name for name, config in PRESETS.items() if config == network), None)
    if preset is None:
        print(f"{study_path}: its network is no preset ({network}); measure it with a preset", file=sys.stderr)
        sys.exit(2)
    members = {"sp": study.training.sp_seeds + study.heldout.seeds, "pp": 0}
    for regime in study.trained_regimes:
        spec = parse_regime(regime)
        if spec.kind != "sp":
            members["pp"] += spec.num_members * study.training.seeds * study.training.length_of(regime)
    return scenario, preset, study.training.sp_seeds, {kind: n * len(study.scenarios) for kind, n in members.items()}


def extrapolate(rows: list[dict], members: dict[str, int], network: str, steps_per_member: int) -> float:
    """Seconds to train every member at ``steps_per_member``: SP rows' throughput for the SP and Bob
    members, PP5 rows' for the population and pool members, plus those two programs' compile."""
    by_kind = {("sp" if r["regime"] == "sp" else "pp"): r for r in rows if r["network"] == network}
    return sum(members[kind] * steps_per_member / by_kind[kind]["steps_per_s"] + by_kind[kind]["compile_s"]
               for kind in members if members[kind])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default=str(REPO / "examples" / "paper.toml"))
    parser.add_argument("--num-envs", type=int, default=2048, help="environments per member (GPU: thousands)")
    parser.add_argument("--rollout-length", type=int, default=128)
    parser.add_argument("--updates", type=int, default=4, help="timed updates per configuration")
    parser.add_argument("--steps-per-member", type=int, default=5_000_000)
    parser.add_argument("--networks", default="mlp,gru")
    parser.add_argument("--json", help="also write the rows and the estimate here")
    args = parser.parse_args()
    for name in ("num_envs", "rollout_length", "updates", "steps_per_member"):
        if getattr(args, name) < 1:
            print(f"--{name.replace('_', '-')} must be a positive integer", file=sys.stderr)
            sys.exit(2)
    import jax

    scenario, network, sp_seeds, members = study_members(Path(args.study))
    networks = [n.strip() for n in args.networks.split(",") if n.strip()]
    if network not in networks:
        networks.append(network)
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}); scenario {scenario}; "
          f"{args.num_envs} envs x {args.rollout_length} steps per member", flush=True)
    rows = []
    for net in networks:
        for regime, seeds in (("sp", sp_seeds), ("pp5", 1)):
            row = measure(scenario, regime, seeds, net, args.num_envs, args.rollout_length, args.updates)
            rows.append(row)
            print(f"  {regime:4} x{seeds} {net:4}: {row['steps_per_s']:>14,.0f} env-steps/s  "
                  f"(compile {row['compile_s']:.1f} s)", flush=True)
    seconds = extrapolate(rows, members, network, args.steps_per_member)
    print(f"study {Path(args.study).name}: {members['sp']} SP/Bob members and {members['pp']} population/pool "
          f"members at {args.steps_per_member:,} steps each, {network}: {seconds / 60:,.1f} min of training "
          f"(extrapolated; evaluation not included)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "members": members, "network": network,
                                               "steps_per_member": args.steps_per_member,
                                               "training_seconds": seconds}, indent=1) + "\n")


if __name__ == "__main__":
    main()
