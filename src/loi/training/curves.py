"""Learning curves: per-update, per-member metrics as a long table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from loi.training.config import TrainConfig
from loi.training.ppo import UpdateMetrics


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def curves_frame(metrics: UpdateMetrics, config: TrainConfig, generation: int) -> pd.DataFrame:
    """One row per (update, seed, member) of one generation's ``metrics``
    (numpy arrays shaped [U, S, M, ...]).

    Columns: scenario, regime, seed, member, generation, update (1-based, global),
    env_steps (per member), episodes, mean_episode_return, mean_episode_length,
    interactions_per_episode, mean_return_per_step, strategy_agreement (mean
    row.col strategy product at interactions; 1 = same pure strategy),
    strategy_0..k-1 (the member's mean strategy at interaction; these three kinds of column
    are absent for an env without interactions), partner_0..P-1
    (episodes started with each partner), loss, entropy.
    """
    # None fields (an env without interactions, see UpdateMetrics) have no columns.
    m = {name: np.asarray(value, dtype=np.float64) for name, value in metrics._asdict().items() if value is not None}
    num_updates, num_seeds, num_members = m["episodes"].shape
    u, s, mem = np.meshgrid(np.arange(num_updates), np.arange(num_seeds), np.arange(num_members), indexing="ij")
    update = generation * config.updates_per_generation + u.ravel() + 1
    episodes = m["episodes"].ravel()
    columns = {
        "scenario": config.scenario,
        "regime": str(config.regime_spec),
        "seed": s.ravel(),
        "member": mem.ravel(),
        "generation": generation,
        "update": update,
        "env_steps": update * config.steps_per_update,
        "episodes": episodes,
        "mean_episode_return": _ratio(m["return_sum"].ravel(), episodes),
        "mean_episode_length": _ratio(m["length_sum"].ravel(), episodes),
    }
    if "interaction_sum" in m:
        columns["interactions_per_episode"] = _ratio(m["interaction_sum"].ravel(), episodes)
    columns["mean_return_per_step"] = m["reward_per_step"].ravel()
    if "interaction_sum" in m:
        columns["strategy_agreement"] = _ratio(m["agreement_sum"].ravel(), m["interaction_steps"].ravel())
        interactions = m["interaction_steps"].reshape(-1, 1)
        strategy = _ratio(m["strategy_sum"].reshape(len(episodes), -1), interactions)
        for i in range(strategy.shape[1]):
            columns[f"strategy_{i}"] = strategy[:, i]
    partners = m["partner_episodes"].reshape(len(episodes), -1)
    for j in range(partners.shape[1]):
        columns[f"partner_{j}"] = partners[:, j]
    columns["loss"] = m["loss_total"].ravel()
    columns["entropy"] = m["entropy"].ravel()
    frame = pd.DataFrame(columns)
    int_cols = ["seed", "member", "generation", "update", "env_steps", "episodes"]
    int_cols += [f"partner_{j}" for j in range(partners.shape[1])]
    return frame.astype({c: "int64" for c in int_cols})


def final_performance(curves: pd.DataFrame, fraction: float = 0.1) -> pd.DataFrame:
    """Per (seed, member): mean episode return and mean return per step over the
    last ``fraction`` of updates (episode-weighted for the episode return)."""
    last_update = int(curves["update"].max())
    first = last_update - max(1, math.ceil(fraction * last_update)) + 1
    tail = curves[curves["update"] >= first].copy()
    tail["return_sum"] = (tail["mean_episode_return"] * tail["episodes"]).fillna(0.0)
    grouped = tail.groupby(["seed", "member"], sort=True)
    out = grouped.agg(episodes=("episodes", "sum"), return_sum=("return_sum", "sum"),
                      mean_return_per_step=("mean_return_per_step", "mean")).reset_index()
    out["mean_episode_return"] = _ratio(out["return_sum"].to_numpy(), out["episodes"].to_numpy())
    return out[["seed", "member", "episodes", "mean_episode_return", "mean_return_per_step"]]
