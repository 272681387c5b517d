"""Steps to the learning plateau, per scenario: how long must `paper.toml` train?

Trains self-play (the regime the LoI protocol and the held-out Bobs come from)
on every scenario with a CONSTANT learning rate, so a flat curve means the
agents stopped improving and not that the step size was annealed to zero, and
records the mean return per step after every PPO update. The settling step
(``loi.metrics.plateau.settling_step``: the smoothed curve stays within 10 % of
its range around its final level from there on) is reported per seed, and the
strict companion, how much the seed-mean curve still moved in the last fifth of
the run (as a fraction of its range).

Writes ``OUT/curves.parquet`` (every update, every seed), ``OUT/plateau.json``
and ``OUT/plateau.png`` (one panel per scenario, the settling steps marked).
``--summarize-only`` recomputes the last two from ``curves.parquet``.

    python benchmarks/plateau.py --out runs/plateau                  # 16 scenarios x 1M steps x 2 seeds
    python benchmarks/plateau.py --games chicken --layouts small --steps 200000 --out /tmp/p
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

GAMES = ("prisoners_dilemma", "chicken", "stag_hunt", "pure_coordination")
LAYOUTS = ("small", "medium", "large", "obstacle")


def train_curve(scenario: str, steps: int, seeds: int, generations: int, num_envs: int, rollout: int,
                shared_torso: bool, update_epochs: int):
    import jax
    import numpy as np

    from loi.agents import NetworkConfig
    from loi.training import TrainConfig, make_train

    config = TrainConfig(scenario, regime="sp", num_seeds=seeds, total_steps=steps, num_generations=generations,
                         num_envs=num_envs, rollout_length=rollout, anneal_lr=False, update_epochs=update_epochs,
                         network=NetworkConfig(shared_torso=shared_torso))
    trainer = make_train(config)
    t0 = time.perf_counter()
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    generation = jax.jit(trainer.generation).lower(state).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    per_step = []
    for _ in range(generations):
        state, metrics = generation(state)
        per_step.append(np.asarray(metrics.reward_per_step)[:, :, 0])  # [U, S] (member 0)
    seconds = time.perf_counter() - t0
    curve = np.concatenate(per_step)  # [updates, seeds]
    env_steps = (np.arange(curve.shape[0]) + 1) * config.steps_per_update
    return env_steps, curve, compile_s, seconds


def summarize(curves, timing: dict, record: dict, out: Path) -> None:
    """plateau.json and plateau.png from the per-update curves (all seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from loi.metrics.plateau import settling_step

    scenarios = list(dict.fromkeys(curves["scenario"]))
    summary = {}
    for scenario in scenarios:
        part = curves[curves["scenario"] == scenario]
        per_seed = [settling_step(g["env_steps"], g["mean_return_per_step"]) for _, g in part.groupby("seed")]
        mean = part.groupby("env_steps")["mean_return_per_step"].mean()
        pooled = settling_step(mean.index.to_numpy(), mean.to_numpy())
        summary[scenario] = {
            "settling_step_per_seed": [r.step for r in per_seed],
            "reached_per_seed": [r.reached for r in per_seed],
            "settling_step_seed_mean": pooled.step,
            "late_change_seed_mean": pooled.late_change,
            "initial_return_per_step": float(mean.iloc[: max(1, len(mean) // 20)].mean()),
            "final_return_per_step": pooled.final,
            **timing.get(scenario, {}),
        }
        print(f"{scenario:28s} settles at {[r.step for r in per_seed]} (reached {[r.reached for r in per_seed]}); "
              f"last fifth moved {100 * pooled.late_change:+.1f}% of the range; return/step "
              f"{summary[scenario]['initial_return_per_step']:.4f} -> {pooled.final:.4f}", flush=True)
    settled = [v["settling_step_per_seed"] for v in summary.values()]
    record = {**record, "latest_settling_step": max(
        (max(s) if None not in s else float("inf")) for s in settled),
        "largest_late_change": max(v["late_change_seed_mean"] for v in summary.values()),
        "scenarios": summary}
    (out / "plateau.json").write_text(json.dumps(record, indent=2))

    games = list(dict.fromkeys(s.split("/")[0] for s in scenarios))
    cols = int(np.ceil(len(scenarios) / len(games)))
    fig, axes = plt.subplots(len(games), cols, figsize=(3.6 * cols, 2.6 * len(games)), squeeze=False,
                             layout="constrained")
    for ax, scenario in zip(axes.ravel(), scenarios):
        part = curves[curves["scenario"] == scenario]
        for s, group in part.groupby("seed"):
            ax.plot(group["env_steps"], group["mean_return_per_step"], lw=0.8, label=f"seed {s}")
            step = summary[scenario]["settling_step_per_seed"][s]
            if step is not None:
                ax.axvline(step, color=ax.lines[-1].get_color(), ls="--", lw=0.8)
        ax.set_title(f"{scenario} (last fifth {100 * summary[scenario]['late_change_seed_mean']:+.0f}%)", fontsize=9)
        ax.set_xlabel("env steps")
        ax.set_ylabel("return / step")
    axes.ravel()[0].legend(fontsize=7)
    torso = "shared torso" if record.get("shared_torso") else "separate actor/critic"
    fig.suptitle(f"Self-play learning curves, constant lr, {torso} (dashed: settling step)")
    fig.savefig(out / "plateau.png", dpi=90)
    print(f"latest settling step over all scenarios and seeds: {record['latest_settling_step']:,.0f} env steps; "
          f"largest late change {100 * record['largest_late_change']:+.1f}% -> {out}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", nargs="+", default=list(GAMES))
    parser.add_argument("--layouts", nargs="+", default=list(LAYOUTS))
    parser.add_argument("--steps", type=int, default=1_000_000, help="env steps per seed")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--generations", type=int, default=10, help="progress reports (no effect on the result)")
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--rollout", type=int, default=128)
    parser.add_argument("--shared-torso", action="store_true", help="one torso for actor and critic")
    parser.add_argument("--update-epochs", type=int, default=4, help="PPO epochs per update (the trainer's default: 4)")
    parser.add_argument("--summarize-only", action="store_true",
                        help="recompute plateau.json/png from OUT/curves.parquet (no training)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import pandas as pd

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.summarize_only:
        previous = json.loads((out / "plateau.json").read_text()) if (out / "plateau.json").is_file() else {}
        timing_keys = ("compile_s", "train_s", "samples_per_s")
        timing = {k: {t: v[t] for t in timing_keys if t in v} for k, v in previous.get("scenarios", {}).items()}
        record = {k: v for k, v in previous.items() if k not in ("scenarios", "latest_settling_step")}
        summarize(pd.read_parquet(out / "curves.parquet"), timing, record, out)
        return
    rows, timing = [], {}
    started = time.perf_counter()
    for scenario in (f"{g}/{layout}" for g in args.games for layout in args.layouts):
        steps, curve, compile_s, seconds = train_curve(scenario, args.steps, args.seeds, args.generations,
                                                       args.num_envs, args.rollout, args.shared_torso,
                                                       args.update_epochs)
        timing[scenario] = {"compile_s": compile_s, "train_s": seconds,
                            "samples_per_s": 2 * args.seeds * int(steps[-1]) / seconds}  # SP: both seats learn
        for s in range(curve.shape[1]):
            rows.append(pd.DataFrame({"scenario": scenario, "seed": s, "env_steps": steps,
                                      "mean_return_per_step": curve[:, s]}))
        print(f"{scenario}: trained in {seconds:.0f} s + {compile_s:.0f} s compile", file=sys.stderr, flush=True)
    curves = pd.concat(rows, ignore_index=True)
    curves.to_parquet(out / "curves.parquet", index=False)
    record = {"steps": args.steps, "seeds": args.seeds, "num_envs": args.num_envs, "rollout": args.rollout,
              "anneal_lr": False, "shared_torso": args.shared_torso,
              "update_epochs": args.update_epochs, "wall_s": time.perf_counter() - started}
    summarize(curves, timing, record, out)


if __name__ == "__main__":
    main()
