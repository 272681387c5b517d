"""Do loi's agents learn to deliver soups in Overcooked? Self-play with a study's own training.

Trains self-play on each layout with the training of a study config (default
``examples/overcooked.toml``: its ``[training]`` and ``[env]``, the shaped reward included), then
plays every generation's checkpoint with itself on the environment evaluation scores
(``loi.envs.scored``: the sparse reward only, ``DELIVERY_REWARD`` = 20 to both players per soup
delivered) and counts soups per episode, beside two uniformly random players. Needs the
``jaxmarl`` extra.

Writes ``OUT/soups.csv`` (one row per layout x generation: env steps per member, soups per
episode with its standard error over the episodes, the shaped training return of that
generation: the episode-weighted mean over its updates) and ``OUT/soups.png`` (one panel per layout). Training runs go to
``--runs`` and resume there; ``--summarize-only`` redraws the figure from ``soups.csv``.

    python benchmarks/overcooked_soups.py --out docs/results/overcooked        # 5 layouts
    python benchmarks/overcooked_soups.py --layouts cramped_room --steps 300000 --out /tmp/soups
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
COLUMNS = ["layout", "policy", "generation", "env_steps", "episodes", "soups_per_episode", "soups_se",
           "shaped_training_return"]


def soups_of(env, policy, episodes: int, seed: int, delivery_reward: float) -> tuple[float, float, int]:
    """Mean and standard error of soups per episode of ``policy`` playing with itself."""
    import jax

    from loi.evaluation.cross_play import cross_play

    result = cross_play(env, [policy], [policy], episodes, jax.random.PRNGKey(seed))
    soups = np.asarray(result.ego_return, np.float64).ravel() / delivery_reward
    if not np.allclose(soups, np.round(soups)):  # a shaped term would leave fractions of a soup
        raise SystemExit(f"{env.name}: scored returns are not whole soups: {sorted(set(soups.tolist()))[:5]}")
    return float(soups.mean()), float(soups.std(ddof=1) / np.sqrt(len(soups))), len(soups)


def layout_rows(study, layout: str, runs: Path, episodes: int, steps: int | None) -> list[dict]:
    from dataclasses import replace

    from jaxmarl.environments.overcooked.overcooked import DELIVERY_REWARD

    from loi.evaluation.policies import baseline_policy, policies_env, run_policies
    from loi.pipeline.plan import train_config
    from loi.training.rundir import RunDir
    from loi.training.run import train_run

    config = train_config(study, f"jaxmarl:overcooked/{layout}", "sp", 1)
    if steps is not None:
        config = replace(config, total_steps=steps)
    out = runs / layout
    start = time.perf_counter()
    train_run(config, out, seed=0)
    print(f"{layout}: trained {config.total_steps:,} steps ({time.perf_counter() - start:.0f} s)", flush=True)
    curves = RunDir(out).read_curves()
    # Episodes (400 steps) span several 128-step rollouts, so an update may end none: a generation's
    # training return is the episode-weighted mean over its updates, its steps those at its end.
    curves = curves.assign(return_sum=curves["mean_episode_return"].fillna(0.0) * curves["episodes"])
    by_generation = curves.groupby("generation")
    per_generation = pd.DataFrame({"env_steps": by_generation["env_steps"].max(),
                         "mean_episode_return": by_generation["return_sum"].sum() / by_generation["episodes"].sum()})
    policies = run_policies(out)
    env = policies_env(policies)
    rows = []
    mean, se, n = soups_of(env, baseline_policy("random", env), episodes, 0, DELIVERY_REWARD)
    rows.append(dict(layout=layout, policy="random", generation=-1, env_steps=0, episodes=n,
                     soups_per_episode=mean, soups_se=se, shaped_training_return=np.nan))
    for policy in policies:
        generation = int(policy.info["generation"])
        mean, se, n = soups_of(env, policy, episodes, generation + 1, DELIVERY_REWARD)
        rows.append(dict(layout=layout, policy="self-play", generation=generation,
                         env_steps=int(per_generation.loc[generation, "env_steps"]), episodes=n,
                         soups_per_episode=mean, soups_se=se,
                         shaped_training_return=float(per_generation.loc[generation, "mean_episode_return"])))
        print(f"  generation {generation}: {mean:.2f} +- {se:.2f} soups per episode", flush=True)
    return rows


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layouts = list(dict.fromkeys(table["layout"]))
    fig, axes = plt.subplots(1, len(layouts), figsize=(3.2 * len(layouts), 2.8), squeeze=False, sharey=True)
    for ax, layout in zip(axes[0], layouts):
        rows = table[table["layout"] == layout]
        trained = rows[rows["policy"] == "self-play"]
        ax.errorbar(trained["env_steps"] / 1e6, trained["soups_per_episode"], yerr=1.96 * trained["soups_se"],
                    marker="o", capsize=2, label="self-play")
        random = rows[rows["policy"] == "random"]["soups_per_episode"]
        if len(random):
            ax.axhline(float(random.iloc[0]), color="grey", linestyle="--", label="random")
        ax.set_title(layout, fontsize=9)
        ax.set_xlabel("env steps (M)")
    axes[0][0].set_ylabel("soups per episode (95% CI)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=HERE.parent / "examples" / "overcooked.toml")
    parser.add_argument("--layouts", default=None, help="comma-separated (default: the config's layouts)")
    parser.add_argument("--steps", type=int, default=None, help="env steps per member (default: the config's)")
    parser.add_argument("--episodes", type=int, default=16, help="episodes per checkpoint and seat")
    parser.add_argument("--runs", type=Path, default=Path("runs/overcooked_soups"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--summarize-only", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    table_path = args.out / "soups.csv"
    if not args.summarize_only:
        from loi.pipeline.config import load_config

        study = load_config(args.config)
        layouts = args.layouts.split(",") if args.layouts else list(study.layouts)
        rows = []
        for layout in layouts:
            rows += layout_rows(study, layout, args.runs, args.episodes, args.steps)
        table = pd.DataFrame(rows, columns=COLUMNS)
        tmp = table_path.with_name(table_path.name + ".tmp")
        table.to_csv(tmp, index=False, float_format="%.4f")
        tmp.replace(table_path)
    table = pd.read_csv(table_path)
    plot(table, args.out / "soups.png")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
