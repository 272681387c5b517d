"""The report's matplotlib figures, each returned as PNG bytes.

Every function takes the run's tables (pandas) and draws one figure with the
non-interactive Agg backend; nothing touches the screen or the network.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

from loi.errors import LoiError  # noqa: E402
from loi.metrics.plateau import PlateauResult, settling_step  # noqa: E402
from loi.training.rundir import parse_policy_name  # noqa: E402

REGIME_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")
DPI = 90
# Text sizes in points at DPI: a figure is drawn at most about FIGURE_WIDTH inches wide, so that
# in the report's 1200-px column it is shown at nearly its own size and its labels stay readable.
FIGURE_WIDTH = 12.0
TICK_SIZE, LABEL_SIZE, TITLE_SIZE = 9, 10, 11
plt.rcParams.update({"font.size": LABEL_SIZE, "axes.titlesize": TITLE_SIZE, "axes.labelsize": LABEL_SIZE,
                     "xtick.labelsize": TICK_SIZE, "ytick.labelsize": TICK_SIZE, "legend.fontsize": TICK_SIZE,
                     "figure.titlesize": TITLE_SIZE + 1})


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _grid(n: int, width: float = 4.0, height: float = 3.0, cols: int = 4):
    """``n`` panels, ``cols`` per row at most, each ``width`` x ``height`` inches but
    together no wider than FIGURE_WIDTH."""
    cols = max(1, min(cols, n))
    width = min(width, FIGURE_WIDTH / cols)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, layout="constrained")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _columns(n: int) -> int:
    """Panels per row: 2 for a handful of scenarios (large enough to read), else 4."""
    return 2 if n <= 4 else 4


def _short(policy: str) -> str:
    """``sp/seed_1/member_0/gen_003`` -> ``sp s1 m0 g3`` (tick labels); other names as they are."""
    parsed = parse_policy_name(policy)
    if parsed is None:
        return str(policy).replace("/", " ")
    run, seed, member, generation = parsed
    return f"{run} s{seed} m{member} g{generation}"


def regime_colour(regimes: list[str]) -> dict[str, str]:
    return {r: REGIME_COLOURS[i % len(REGIME_COLOURS)] for i, r in enumerate(regimes)}


def loi_figure(loi: pd.DataFrame) -> bytes:
    """LoI per scenario: estimate with its bootstrap CI, the permutation-null mean,
    and the null-corrected value."""
    loi = loi.sort_values("scenario")
    y = np.arange(len(loi))
    fig, ax = plt.subplots(figsize=(8.0, 0.45 * len(loi) + 1.6), layout="constrained")
    # The CI is drawn as a segment, not an error bar: a percentile bootstrap interval of a
    # biased estimator need not contain the point estimate.
    ax.hlines(y, loi["ci_low"], loi["ci_high"], color="#4c72b0", lw=2, alpha=0.6, label="95% CI of LoI")
    ax.scatter(loi["loi"], y, marker="o", color="#4c72b0", zorder=3, label="LoI")
    ax.scatter(loi["null_mean"], y, marker="|", s=200, color="#c44e52", label="permutation-null mean")
    ax.scatter(loi["corrected"], y, marker="D", s=25, color="#55a868", label="corrected (LoI - null)")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, loi["scenario"])
    ax.invert_yaxis()
    ax.set_xlabel(f"nats ({loi['estimator'].iloc[0]} estimator)")
    # Below the axes: inside, a legend covers the right end of some interval.
    fig.legend(loc="outside lower center", ncols=4, frameon=False)
    ax.set_title("Level of Influence per scenario")
    return _png(fig)


def ridge_figure(crossplay: pd.DataFrame, max_coplayers: int = 12) -> bytes:
    """Per scenario, the ego's return distribution against each co-player
    (one ridge per co-player checkpoint), as in the paper's figures."""
    scenarios = sorted(crossplay["scenario"].unique())
    fig, axes = _grid(len(scenarios), 5.5, 4.4, cols=_columns(len(scenarios)))
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
        ax.set_yticks(np.arange(len(coplayers))[::-1], [_short(c) for c in coplayers])
        ax.set_xlabel("ego episode return")
        ax.set_title(scenario)
    fig.suptitle("Ego return per co-player (LoI cross-play)")
    return _png(fig)


def heatmap_figure(crossplay: pd.DataFrame) -> bytes:
    """Per scenario, mean ego return for every (ego, co-player) pair; pairs never
    played (the protocol skips the ego's own seed) are grey."""
    scenarios = sorted(crossplay["scenario"].unique())
    fig, axes = _grid(len(scenarios), 5.5, 3.8, cols=_columns(len(scenarios)))
    cmap = plt.get_cmap("magma").with_extremes(bad="#d9d9d9")
    for ax, scenario in zip(axes, scenarios):
        rows = crossplay[crossplay["scenario"] == scenario]
        matrix = rows.pivot_table(index="ego", columns="coplayer", values="ego_return", aggfunc="mean")
        image = ax.imshow(np.ma.masked_invalid(matrix.to_numpy(dtype=float)), aspect="auto", cmap=cmap)
        fig.colorbar(image, ax=ax, shrink=0.8, label="mean ego return")
        ax.set_yticks(np.arange(len(matrix.index)), [_short(e) for e in matrix.index])
        ax.set_xticks([])
        ax.set_xlabel(f"{matrix.shape[1]} co-player checkpoints (grey: not played)")
        ax.set_title(scenario)
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
    fig, axes = _grid(len(scenarios), 5.5, 3.4, cols=_columns(len(scenarios)))
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
        ax.set_title(scenario)
        ax.legend()
    fig.suptitle("Learning curves (every update; dotted: settling step)")
    return _png(fig)


def allocation_figure(allocation: pd.DataFrame, menu: dict[str, float], budget: float) -> bytes:
    """LoI of every scenario, coloured by the regime each allocator gives it; each
    panel's title gives its cost per game against the per-game ``budget``."""
    allocators = sorted(allocation["allocator"].unique(), key=lambda a: (a != "uniform", a))
    regimes = sorted(menu, key=lambda r: (menu[r], r))
    colours = regime_colour(regimes)
    fig, axes = _grid(len(allocators), 5.5, 0.4 * allocation["scenario"].nunique() + 1.7,
                      cols=min(3, len(allocators)))
    for ax, allocator in zip(axes, allocators):
        rows = allocation[allocation["allocator"] == allocator].sort_values("scenario")
        y = np.arange(len(rows))
        ax.barh(y, rows["loi"], color=[colours.get(r, "grey") for r in rows["regime"]])
        for yi, (regime, loi) in enumerate(zip(rows["regime"], rows["loi"])):
            ax.text(max(loi, 0), yi, f" {regime}", va="center")
        ax.set_yticks(y, rows["scenario"])
        ax.invert_yaxis()
        ax.axvline(0, color="grey", lw=0.8)
        ax.margins(x=0.25)
        chosen = " (chosen)" if rows["chosen"].any() else ""
        per_game = rows.groupby("game")["cost"].sum()
        costs = ", ".join(f"{c:g}" for c in per_game)
        ax.set_title(f"{allocator}{chosen}\ncost per game {costs} (budget {budget:g})")
        ax.set_xlabel("corrected LoI (nats)")
    fig.suptitle("Allocation of the budget per allocator")
    return _png(fig)


def tournament_figure(scores: pd.DataFrame, menu: dict[str, float]) -> bytes:
    """Fixed-Bob generalization scores per regime, per scenario (box + points)."""
    from matplotlib.lines import Line2D

    scenarios = sorted(scores["scenario"].unique())
    fig, axes = _grid(len(scenarios), 4.0, 3.2, cols=3 if len(scenarios) <= 6 else 4)
    for ax, scenario in zip(axes, scenarios):
        rows = scores[scores["scenario"] == scenario]
        regimes = sorted(rows["regime"].unique(), key=lambda r: (menu.get(r, math.inf), r))
        data = [rows.loc[rows["regime"] == r, "score"].to_numpy() for r in regimes]
        ax.boxplot(data, tick_labels=regimes, showmeans=True)
        rng = np.random.default_rng(0)
        for i, values in enumerate(data, start=1):
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(values)), values, s=4, alpha=0.4, color="black")
        ax.set_ylabel("score vs held-out Bobs")
        ax.set_title(scenario)
    # The markers of matplotlib's boxplot(showmeans=True): orange median line, green triangle mean.
    fig.legend(handles=[Line2D([], [], color="C1", label="median"),
                        Line2D([], [], marker="^", color="green", linestyle="", label="mean"),
                        Line2D([], [], marker="o", color="black", alpha=0.4, linestyle="", markersize=3,
                               label="one evaluation")],
               loc="outside lower center", ncols=3, frameon=False)
    fig.suptitle("Fixed-Bob tournament scores per regime")
    return _png(fig)


def _interval_rows(ax, y, values, lows, highs, hollow, colour) -> None:
    ax.hlines(y, lows, highs, color=colour, lw=2, alpha=0.7)
    face = ["white" if h else colour for h in hollow]
    ax.scatter(values, y, marker="o", s=36, facecolors=face, edgecolors=colour, zorder=3)


def answer_figure(loi: pd.DataFrame, summaries) -> bytes:
    """The summary's figure: per game, the corrected LoI of its scenarios with their
    CIs (ranked), and every allocator's gain over uniform with its CI; hollow:
    an allocation identical to uniform (nothing compared); right margin: cost."""
    from loi.report.summary import ALL_GAMES, short_scenario

    games = [g for g in summaries if g.group != ALL_GAMES]
    height = max(max(len(g.allocators) for g in games) if games else 1,
                 max(int((loi["game"] == g.group).sum()) for g in games) if games else 1)
    fig, axes = plt.subplots(len(games), 2, figsize=(9.5, (0.42 * height + 1.4) * len(games)), squeeze=False,
                             layout="constrained")
    corrected = "corrected_ci_low" in loi.columns
    value, low, high = ("corrected", "corrected_ci_low", "corrected_ci_high") if corrected else \
        ("loi", "ci_low", "ci_high")
    for (left, right), game in zip(axes, games):
        rows = loi[loi["game"] == game.group].sort_values(value, ascending=False)
        y = np.arange(len(rows))
        _interval_rows(left, y, rows[value], rows[low], rows[high], [False] * len(rows), "#55a868")
        left.set_yticks(y, [short_scenario(s, game.group) for s in rows["scenario"]])
        left.invert_yaxis()
        left.axvline(0, color="grey", lw=0.8)
        left.set_xlabel(f"{'corrected ' if corrected else ''}LoI (nats), 95% CI")
        left.set_title(f"{game.group}: LoI, highest first")
        allocators = list(game.allocators)
        y = np.arange(len(allocators))
        finite = [a for a in allocators if math.isfinite(a.gain)]
        _interval_rows(right, [i for i, a in enumerate(allocators) if math.isfinite(a.gain)],
                       [a.gain for a in finite], [a.gain_low for a in finite], [a.gain_high for a in finite],
                       [a.vacuous for a in finite], "#4c72b0")
        labels = []
        for a in allocators:
            tag = " (= uniform)" if a.vacuous else " (n/a)" if not math.isfinite(a.gain) else ""
            labels.append(f"{a.allocator}{tag}")
        right.set_yticks(y, labels)
        right.invert_yaxis()
        right.axvline(0, color="grey", lw=0.8)
        for i, a in enumerate(allocators):
            right.annotate(f"cost {a.cost:g}/{a.uniform_cost:g}", (1.0, i), xycoords=("axes fraction", "data"),
                           xytext=(4, 0), textcoords="offset points", va="center")
        right.set_xlabel("gain over uniform (score / SP mean), 95% CI")
        right.set_title(f"{game.group}: allocators vs uniform")
    return _png(fig)


def gains_figure(comparison: pd.DataFrame, vacuous: set[tuple[str, str]]) -> bytes:
    """Forest plot of every row of the comparison table: gain over uniform with its
    CI, per allocator and group, one colour per protocol; hollow: ``(allocator,
    group)`` in ``vacuous`` (allocation identical to uniform)."""
    rows = comparison[np.isfinite(comparison["difference"])].reset_index(drop=True)
    protocols = sorted(rows["protocol"].unique(), key=lambda p: (p != "all", p))
    colours = dict(zip(protocols, ("#4c72b0", "#dd8452", "#55a868", "#8172b3")))
    fig, ax = plt.subplots(figsize=(8.5, 0.32 * len(rows) + 1.6), layout="constrained")
    labels = []
    for i, r in rows.iterrows():
        hollow = (r["allocator"], r["group"]) in vacuous
        _interval_rows(ax, [i], [r["difference"]], [r["difference_ci_low"]], [r["difference_ci_high"]], [hollow],
                       colours[r["protocol"]])
        # Each label says its protocol where it is not the default, so a row is told apart without its colour.
        protocol = "" if r["protocol"] == "all" else f" · {r['protocol']} (paper)"
        labels.append(f"{r['allocator']} · {r['group']}{protocol}{' (= uniform)' if hollow else ''}")
    ax.set_yticks(np.arange(len(rows)), labels)
    ax.invert_yaxis()
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("gain over uniform (score / SP mean), 95% CI")
    from matplotlib.lines import Line2D

    fig.legend(handles=[Line2D([], [], color=colours[p], marker="o", label=f"protocol {p}") for p in protocols],
               loc="outside lower center", ncols=len(protocols), frameon=False)
    ax.set_title("Allocations vs uniform")
    return _png(fig)


def benefit_figure(benefit: pd.DataFrame, correlation: pd.DataFrame) -> bytes:
    """Per game, population-play benefit against LoI, one point per scenario, with
    the least-squares line and Pearson r with its CI (from the correlation table)."""
    from loi.report.summary import short_scenario

    games = sorted(benefit["game"].unique())
    fig, axes = _grid(len(games), 4.6, 3.6, cols=min(3, len(games)))
    by_game = correlation.set_index("game")
    for ax, game in zip(axes, games):
        rows = benefit[(benefit["game"] == game) & np.isfinite(benefit["benefit"])]
        ax.scatter(rows["loi"], rows["benefit"], color="#4c72b0", zorder=3)
        for _, r in rows.iterrows():
            ax.annotate(short_scenario(r["scenario"], game), (r["loi"], r["benefit"]), xytext=(4, 3),
                        textcoords="offset points")
        if len(rows) >= 2 and rows["loi"].nunique() >= 2:
            slope, intercept = np.polyfit(rows["loi"], rows["benefit"], 1)
            xs = np.linspace(rows["loi"].min(), rows["loi"].max(), 2)
            ax.plot(xs, slope * xs + intercept, color="#c44e52", lw=1, label="least squares")
        ax.axhline(0, color="grey", lw=0.8)
        ax.margins(0.2)
        c = by_game.loc[game] if game in by_game.index else None
        if c is not None and math.isfinite(c["r"]):
            ax.set_title(f"{game}\nr = {c['r']:.2f} [{c['ci_low']:.2f}, {c['ci_high']:.2f}], n = {int(c['n'])}")
        else:
            ax.set_title(f"{game}\nr not available ({len(rows)} scenarios)")
        ax.set_xlabel("corrected LoI (nats)")
        ax.set_ylabel("benefit (score / SP mean)")
    fig.suptitle("LoI vs population-play benefit, per game")
    return _png(fig)


def metric_benefit_figure(metrics: pd.DataFrame, benefit: pd.DataFrame, correlations: pd.DataFrame) -> bytes:
    """One panel per interaction metric: its score (``loi.metrics.METRIC_COLUMNS``) against the
    population-play benefit, one point per scenario coloured by game; title: the predictor
    comparison's Spearman r [CI] pooled within game (or the game's own with one game)."""
    names = list(dict.fromkeys(metrics["metric"]))
    games = sorted(benefit["game"].unique())
    colours = {g: REGIME_COLOURS[i % len(REGIME_COLOURS)] for i, g in enumerate(games)}
    fig, axes = _grid(len(names), 4.0, 3.4, cols=min(4, len(names)))
    values = benefit.set_index("scenario")
    group = "pooled" if len(games) > 1 else games[0]
    for ax, name in zip(axes, names):
        rows = metrics[metrics["metric"] == name].set_index("scenario")
        common = [s for s in rows.index if s in values.index and np.isfinite(values.loc[s, "benefit"])]
        for game in games:
            mine = [s for s in common if values.loc[s, "game"] == game]
            ax.scatter(rows.loc[mine, "score"], values.loc[mine, "benefit"], color=colours[game], label=game, zorder=3)
        ax.axhline(0, color="grey", lw=0.8)
        ax.margins(0.15)
        c = correlations[(correlations["metric"] == name) & (correlations["group"] == group)
                         & (correlations["method"] == "spearman")]
        if len(c) and math.isfinite(c["r"].iloc[0]):
            r = c.iloc[0]
            ax.set_title(f"{name}\nSpearman r = {r['r']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]")
        else:
            ax.set_title(f"{name}\nr not available")
        ax.set_xlabel(f"{name} (score)")
        ax.set_ylabel("benefit (score / SP mean)")
    if len(games) > 1:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(games), frameon=False)
    fig.suptitle("Interaction metrics vs population-play benefit" + (" (r within game, pooled)" if len(games) > 1
                                                                      else ""))
    return _png(fig)


def frontier_figure(table: pd.DataFrame, path: str | Path) -> Path:
    """The budget frontier (``loi.allocation.budget_frontier``'s table, or its CSV): the mean
    SP-normalised held-out score against the budget (left) and the gain over uniform at the same
    budget (right), one line per allocator (and metric) with its CI band; the in-sample oracle
    dashed. Writes the PNG to ``path`` and returns it."""
    if table.empty:
        raise LoiError("the frontier table is empty: nothing to draw")
    metric = table["metric"].fillna("").astype(str)  # "" (read back from CSV as NaN): metric-free allocators
    labels = table["allocator"].astype(str) + np.where(metric != "", " (" + metric + ")", "")
    palette = plt.get_cmap("tab20")
    fixed = {"uniform": "black", "random": "grey", "oracle": "#c44e52"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 4.6), layout="constrained")
    for i, label in enumerate(dict.fromkeys(labels)):
        rows = table[labels == label].sort_values("budget")
        allocator = str(rows["allocator"].iloc[0])
        colour = fixed.get(allocator, palette(i % 20))
        in_sample = str(rows["in_sample"].iloc[0]).lower() == "true"
        for ax, (mean, low, high) in ((left, ("mean_score", "ci_low", "ci_high")),
                                      (right, ("gain_vs_uniform", "gain_ci_low", "gain_ci_high"))):
            ax.plot(rows["budget"], rows[mean], "--" if in_sample else "-", marker="o", ms=3, color=colour,
                    label=label + (" [in-sample]" if in_sample else ""))
            ax.fill_between(rows["budget"], rows[low], rows[high], color=colour, alpha=0.12, lw=0)
    for ax in (left, right):
        ax.set_xlabel("budget (agent-trainings over the suite)")
    left.set_ylabel("mean held-out score / SP mean")
    left.set_title("Score bought at each budget (95% CI)")
    right.axhline(0, color="grey", lw=0.8)
    right.set_ylabel("gain over uniform (score / SP mean)")
    right.set_title("Gain over uniform at the same budget (95% CI)")
    fig.legend(*left.get_legend_handles_labels(), loc="outside right center", frameon=False)
    fig.suptitle("Budget frontier per allocator")
    path = Path(path)
    path.write_bytes(_png(fig))
    return path
