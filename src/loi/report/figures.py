"""The report's matplotlib figures, each returned as PNG bytes.

Every function takes the run's tables (pandas) and draws one figure with the
non-interactive Agg backend; nothing touches the screen or the network.
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

from loi.errors import LoiError  # noqa: E402
from loi.metrics.plateau import PlateauResult, settling_step  # noqa: E402

REGIME_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _grid(n: int, width: float = 4.0, height: float = 3.0, cols: int = 4):
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, layout="constrained")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _short(policy: str) -> str:
    """``sp/seed_1/member_0/gen_003`` -> ``sp s1 m0 g3`` (tick labels)."""
    parts = str(policy).split("/")
    out = [parts[0]]
    for part in parts[1:]:
        name, _, number = part.rpartition("_")
        out.append(f"{name[:1]}{int(number)}" if number.isdigit() and name else part)
    return " ".join(out)


def regime_colour(regimes: list[str]) -> dict[str, str]:
    return {r: REGIME_COLOURS[i % len(REGIME_COLOURS)] for i, r in enumerate(regimes)}


def loi_figure(loi: pd.DataFrame) -> bytes:
    """LoI per scenario: estimate with its bootstrap CI, the permutation-null mean,
    and the null-corrected value."""
    loi = loi.sort_values("scenario")
    y = np.arange(len(loi))
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(loi) + 1.4), layout="constrained")
    # The CI is drawn as a segment, not an error bar: a percentile bootstrap interval of a
    # biased estimator need not contain the point estimate.
    ax.hlines(y, loi["ci_low"], loi["ci_high"], color="#4c72b0", lw=2, alpha=0.6, label="95% bootstrap CI")
    ax.scatter(loi["loi"], y, marker="o", color="#4c72b0", zorder=3, label="LoI")
    ax.scatter(loi["null_mean"], y, marker="|", s=200, color="#c44e52", label="permutation null mean")
    ax.scatter(loi["corrected"], y, marker="D", s=25, color="#55a868", label="corrected (LoI - null)")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, loi["scenario"])
    ax.invert_yaxis()
    ax.set_xlabel(f"nats ({loi['estimator'].iloc[0]} estimator)")
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Level of Influence per scenario")
    return _png(fig)


def ridge_figure(crossplay: pd.DataFrame, max_coplayers: int = 12) -> bytes:
    """Per scenario, the ego's return distribution against each co-player
    (one ridge per co-player checkpoint), as in the paper's figures."""
    scenarios = sorted(crossplay["scenario"].unique())
    fig, axes = _grid(len(scenarios), 4.2, 4.2)
    for ax, scenario in zip(axes, scenarios):
        rows = crossplay[crossplay["scenario"] == scenario]
        coplayers = sorted(rows["coplayer"].unique())
        if len(coplayers) > max_coplayers:  # keep the figure readable: evenly spaced subset
            coplayers = [coplayers[i] for i in np.linspace(0, len(coplayers) - 1, max_coplayers).astype(int)]
        lo, hi = float(rows["ego_return"].min()), float(rows["ego_return"].max())
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, 31)
        centres = (edges[:-1] + edges[1:]) / 2
        for i, coplayer in enumerate(coplayers):
            counts, _ = np.histogram(rows.loc[rows["coplayer"] == coplayer, "ego_return"], bins=edges)
            density = counts / max(counts.max(), 1) * 0.9
            base = len(coplayers) - 1 - i
            colour = plt.cm.viridis(i / max(len(coplayers) - 1, 1))
            ax.fill_between(centres, base, base + density, color=colour, alpha=0.75, step="mid")
            ax.plot(centres, base + density, color="black", lw=0.5, drawstyle="steps-mid")
        ax.set_yticks(np.arange(len(coplayers))[::-1], [_short(c) for c in coplayers], fontsize=6)
        ax.set_xlabel("ego episode return")
        ax.set_title(scenario, fontsize=9)
    fig.suptitle("Ego return per co-player (LoI cross-play)")
    return _png(fig)


def heatmap_figure(crossplay: pd.DataFrame) -> bytes:
    """Per scenario, mean ego return for every (ego, co-player) pair."""
    scenarios = sorted(crossplay["scenario"].unique())
    fig, axes = _grid(len(scenarios), 4.2, 3.6)
    for ax, scenario in zip(axes, scenarios):
        rows = crossplay[crossplay["scenario"] == scenario]
        matrix = rows.pivot_table(index="ego", columns="coplayer", values="ego_return", aggfunc="mean")
        image = ax.imshow(matrix.to_numpy(), aspect="auto", cmap="magma")
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set_yticks(np.arange(len(matrix.index)), [_short(e) for e in matrix.index], fontsize=6)
        ax.set_xticks([])
        ax.set_xlabel(f"{matrix.shape[1]} co-player checkpoints")
        ax.set_title(scenario, fontsize=9)
    fig.suptitle("Cross-play: mean ego return")
    return _png(fig)


def role_curve(part: pd.DataFrame) -> tuple[pd.DataFrame, PlateauResult | None]:
    """One (scenario, role)'s learning curve: per update, env steps and the mean /
    min / max over seeds and members of the return per step; and the settling of
    the mean curve (None when there are too few updates to judge). The figure and
    the report's plateau table both read it, so they always agree."""
    stats = part.groupby("update").agg(steps=("env_steps", "max"), mean=("mean_return_per_step", "mean"),
                                       low=("mean_return_per_step", "min"), high=("mean_return_per_step", "max"))
    try:
        plateau = settling_step(stats["steps"].to_numpy(), stats["mean"].to_numpy())
    except LoiError:
        plateau = None
    return stats, plateau


def curves_figure(curves: pd.DataFrame) -> bytes:
    """Learning curves: return per step after every update vs env steps, per role
    (line: mean over seeds and members; band: min..max over them; dotted line: the
    settling step of the mean curve, the quantity the report's plateau table gives).
    Return per step rather than episode return: episode lengths are random, so the
    episode return is the same signal with more noise."""
    scenarios = sorted(curves["scenario"].unique())
    roles = sorted(curves["role"].unique())
    colours = regime_colour(roles)
    fig, axes = _grid(len(scenarios), 4.2, 3.0)
    for ax, scenario in zip(axes, scenarios):
        rows = curves[curves["scenario"] == scenario]
        for role in roles:
            part = rows[rows["role"] == role]
            if part.empty:
                continue
            stats, plateau = role_curve(part)
            ax.plot(stats["steps"], stats["mean"], color=colours[role], label=role, linewidth=1)
            ax.fill_between(stats["steps"], stats["low"], stats["high"], color=colours[role], alpha=0.12)
            if plateau is not None and plateau.step is not None:
                ax.axvline(plateau.step, color=colours[role], linestyle=":", linewidth=1)
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.set_xlabel("env steps per member")
        ax.set_ylabel("return per step")
        ax.set_title(scenario, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle("Learning curves (every update; dotted: settling step)")
    return _png(fig)


def allocation_figure(allocation: pd.DataFrame, menu: dict[str, float]) -> bytes:
    """LoI of every scenario, coloured by the regime each allocator gives it."""
    allocators = sorted(allocation["allocator"].unique(), key=lambda a: (a != "uniform", a))
    regimes = sorted(menu, key=lambda r: (menu[r], r))
    colours = regime_colour(regimes)
    fig, axes = _grid(len(allocators), 4.0, 0.35 * allocation["scenario"].nunique() + 1.5)
    for ax, allocator in zip(axes, allocators):
        rows = allocation[allocation["allocator"] == allocator].sort_values("scenario")
        y = np.arange(len(rows))
        ax.barh(y, rows["loi"], color=[colours.get(r, "grey") for r in rows["regime"]])
        for yi, (regime, loi) in enumerate(zip(rows["regime"], rows["loi"])):
            ax.text(loi, yi, f" {regime}", va="center", fontsize=7)
        ax.set_yticks(y, rows["scenario"], fontsize=7)
        ax.invert_yaxis()
        ax.axvline(0, color="grey", lw=0.8)
        chosen = " (chosen)" if rows["chosen"].any() else ""
        ax.set_title(f"{allocator}{chosen}: cost {rows['cost'].sum():g}", fontsize=9)
        ax.set_xlabel("corrected LoI (nats)")
    fig.suptitle("Allocation of the budget per allocator")
    return _png(fig)


def tournament_figure(scores: pd.DataFrame, menu: dict[str, float]) -> bytes:
    """Fixed-Bob generalization scores per regime, per scenario (box + points)."""
    scenarios = sorted(scores["scenario"].unique())
    fig, axes = _grid(len(scenarios), 3.6, 3.0)
    for ax, scenario in zip(axes, scenarios):
        rows = scores[scores["scenario"] == scenario]
        regimes = sorted(rows["regime"].unique(), key=lambda r: (menu.get(r, math.inf), r))
        data = [rows.loc[rows["regime"] == r, "score"].to_numpy() for r in regimes]
        ax.boxplot(data, tick_labels=regimes, showmeans=True)
        rng = np.random.default_rng(0)
        for i, values in enumerate(data, start=1):
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(values)), values, s=4, alpha=0.4, color="black")
        ax.set_ylabel("score vs held-out Bobs")
        ax.set_title(scenario, fontsize=9)
    fig.suptitle("Fixed-Bob tournament scores per regime")
    return _png(fig)
