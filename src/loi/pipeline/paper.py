"""The paper's whole analysis from the authors' released tensors.

Per game found in ``DATA_DIR/cross_play``: per layout the paper-protocol LoI
(with its permutation-null mean and the null-corrected value), the one-way
ANOVA of fixed-Bob scores over SP5 / PP3 / PP5 and the population-play
benefit; per game the Pearson correlation of LoI and benefit, the one-sigma
allocation, and the heuristic-vs-uniform comparison on all evaluations (pooled,
and with every scenario weighted equally) and with the paper's top-30
truncation. Numpy/scipy only (no JAX).
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from loi.allocation import PP3, PP5, SP5, AllocationComparison, compare_allocations, one_sigma
from loi.errors import LoiError
from loi.metrics import LoIResult
from loi.metrics.stats import AnovaResult, CorrelationResult, one_way_anova, pearson
from loi.metrics.table import loi_record, measure_table
from loi.tables.npz import cross_play_table, parse_cross_play_name, tournament_table
from loi.tables.schema import REGIME
from loi.tables.scores import SCORE, fixed_bob_scores

PAPER_TOP = 30
# Comparison on all evaluations with every scenario weighted equally (not in the paper).
SCENARIO_WEIGHTED = "all_scenario_weighted"
ANOVA_REGIMES = (SP5, PP3, PP5)
# The paper's layouts in its own order; other layout names follow, sorted.
_LAYOUT_ORDER = ("S", "M", "L", "O")


@dataclass(frozen=True)
class LayoutAnalysis:
    """One scenario (game x layout). ``anova``/``benefit`` are None when the
    tournament files for SP5, PP3 and PP5 are not all present."""

    layout: str
    scenario: str
    loi: LoIResult
    anova: AnovaResult | None
    benefit: float | None
    regime_means: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class GameAnalysis:
    game: str
    run: str
    layouts: dict[str, LayoutAnalysis]
    correlation: CorrelationResult | None
    allocation: dict[str, str]
    # "all", "top30" (the paper's protocol) and "all_scenario_weighted"; empty without tournaments
    comparisons: dict[str, AllocationComparison]


@dataclass(frozen=True)
class PaperAnalysis:
    data_dir: Path
    games: dict[str, GameAnalysis]
    permutations: int
    seed: int

    def to_json(self) -> dict:
        """The ``loi paper --json`` object (NaN becomes null)."""
        return {
            "data_dir": str(self.data_dir),
            "permutations": self.permutations,
            "seed": self.seed,
            "games": {name: _game_json(g) for name, g in self.games.items()},
        }


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _game_json(game: GameAnalysis) -> dict:
    layouts = {}
    for name, lay in game.layouts.items():
        # The LoI fields under loi_record's names (as `loi measure --json`), then the rest.
        record = loi_record(lay.scenario, lay.loi)
        layouts[name] = {
            **{k: _num(v) if isinstance(v, float) else v for k, v in record.items() if k != "scenario"},
            "anova_f": _num(lay.anova.statistic) if lay.anova else None,
            "anova_p": _num(lay.anova.pvalue) if lay.anova else None,
            "benefit": _num(lay.benefit),
            "regime_means": {k: _num(v) for k, v in lay.regime_means.items()},
        }
    comparisons = {}
    for key, comp in game.comparisons.items():
        comparisons[key] = {
            "uniform": comp.uniform_mean,
            "heuristic": comp.heuristic_mean,
            "p": _num(comp.pvalue),
            "test": "student" if comp.test.equal_var else "welch",
            "weighting": comp.weighting,
            "difference": _num(comp.difference.statistic),
            "difference_ci": [_num(comp.difference.confidence_interval.low),
                              _num(comp.difference.confidence_interval.high)],
            "hedges_g": _num(comp.hedges_g.statistic),
            "hedges_g_ci": [_num(comp.hedges_g.confidence_interval.low),
                            _num(comp.hedges_g.confidence_interval.high)],
            "n_heuristic": comp.n_heuristic,
            "n_uniform": comp.n_uniform,
        }
    corr = game.correlation
    return {
        "run": game.run,
        "layouts": layouts,
        "pearson_r": _num(corr.statistic) if corr else None,
        "pearson_p": _num(corr.pvalue) if corr else None,
        "allocation": dict(game.allocation),
        "comparison": comparisons,
    }


def _layout_key(layout: str) -> tuple[int, str]:
    return (_LAYOUT_ORDER.index(layout) if layout in _LAYOUT_ORDER else len(_LAYOUT_ORDER), layout)


def read_manifest(data_dir: Path) -> dict[str, str]:
    """``[cross_play_run]`` of ``DATA_DIR/manifest.toml`` (game -> run); {} if absent."""
    path = data_dir / "manifest.toml"
    if not path.exists():
        return {}
    try:
        manifest = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as err:
        raise LoiError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    runs = manifest.get("cross_play_run", {})
    if not isinstance(runs, dict) or not all(isinstance(v, str) for v in runs.values()):
        raise LoiError(f"{path}: [cross_play_run] must map game names to run names (strings)")
    return dict(runs)


def discover_cross_play(data_dir: str | os.PathLike) -> dict[str, tuple[str, dict[str, Path]]]:
    """game -> (run, {layout: cross_play file}) for every game in
    ``DATA_DIR/cross_play``; the run comes from the manifest, else the run
    whose suffix sorts last."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise LoiError(f"{data_dir} is not a directory")
    folder = data_dir / "cross_play"
    if not folder.is_dir():
        raise LoiError(f"{data_dir} has no cross_play/ directory")
    found: dict[str, dict[str, dict[str, Path]]] = {}  # game -> run -> layout -> path
    for path in sorted(folder.glob("*.npz")):
        name = parse_cross_play_name(path)
        if name is None:
            raise LoiError(f"{path}: name does not match {{game}}_{{layout}}_{{run}}.npz")
        found.setdefault(name.game, {}).setdefault(name.tag, {})[name.layout] = path
    if not found:
        raise LoiError(f"{folder} holds no .npz files")
    manifest = read_manifest(data_dir)
    games = {}
    for game in sorted(found):
        runs = found[game]
        run = manifest.get(game, sorted(runs)[-1])
        if run not in runs:
            raise LoiError(f"manifest.toml selects run {run!r} for {game}, but cross_play/ has only "
                           f"{', '.join(sorted(runs))}")
        games[game] = (run, dict(sorted(runs[run].items(), key=lambda kv: _layout_key(kv[0]))))
    return games


def tournament_scores(data_dir: str | os.PathLike, game: str, layout: str,
                      regimes: set[str] = frozenset(ANOVA_REGIMES)) -> pd.DataFrame | None:
    """Fixed-Bob scores of one scenario's ``regimes`` (None unless every file is present)."""
    paths = {r: Path(data_dir) / "tournament" / f"{game}_{layout}_{r}.npz" for r in sorted(regimes)}
    if not all(p.exists() for p in paths.values()):
        return None
    return fixed_bob_scores(pd.concat([tournament_table(p) for p in paths.values()], ignore_index=True))


def analyse_paper_data(data_dir: str | os.PathLike, *, permutations: int = 1000, bootstrap: int = 1000,
                       seed: int = 0, top: int = PAPER_TOP, resamples: int = 10_000,
                       confidence: float = 0.95,
                       progress: Callable[[int, int], None] | None = None) -> PaperAnalysis:
    """Run the paper's analysis on every game in ``data_dir`` (layout in the
    paper data README). ``permutations``/``bootstrap`` go to the LoI,
    ``resamples`` to the bootstrap CIs of the allocation comparison, ``top`` is
    the paper's truncation for the labelled ``top{top}`` comparison.
    ``progress(done, total)`` is called as scenarios (game x layout) finish."""
    data_dir = Path(data_dir)
    if top < 2:
        raise LoiError(f"top must be >= 2, got {top}")
    games = {}
    found = discover_cross_play(data_dir)
    total, finished = sum(len(files) for _, files in found.values()), 0
    for game, (run, files) in found.items():
        table = pd.concat([cross_play_table(p) for p in files.values()], ignore_index=True)
        report = None if progress is None else (lambda done, _, before=finished: progress(before + done, total))
        loi = measure_table(table, estimator="paper", permutations=permutations, bootstrap=bootstrap,
                            confidence=confidence, seed=seed, progress=report)
        finished += len(files)
        layouts: dict[str, LayoutAnalysis] = {}
        scores: dict[str, pd.DataFrame] = {}
        for layout in files:
            scenario = f"{game}/{layout}"
            frame = tournament_scores(data_dir, game, layout)
            anova, benefit, means = None, None, {}
            if frame is not None:
                scores[layout] = frame
                groups = {r: frame.loc[frame[REGIME] == r, SCORE].to_numpy() for r in ANOVA_REGIMES}
                anova = one_way_anova(*groups.values())
                means = {r: float(v.mean()) for r, v in groups.items()}
                benefit = (means[PP5] - means[SP5]) / 2
            layouts[layout] = LayoutAnalysis(layout, scenario, loi[scenario], anova, benefit, means)

        values = {layout: lay.loi.statistic for layout, lay in layouts.items()}
        allocation = one_sigma(values)
        with_benefit = [lay for lay in layouts.values() if lay.benefit is not None]
        correlation = None
        if len(with_benefit) >= 3:
            correlation = pearson([lay.loi.statistic for lay in with_benefit],
                                  [lay.benefit for lay in with_benefit], confidence=confidence)
        comparisons = {}
        if len(scores) == len(layouts):
            frame = pd.concat(scores.values(), ignore_index=True)
            by_scenario = {f"{game}/{layout}": regime for layout, regime in allocation.items()}
            for key, k, weighting in (("all", None, "pooled"), (f"top{top}", top, "pooled"),
                                      (SCENARIO_WEIGHTED, None, "scenario")):
                comparisons[key] = compare_allocations(frame, by_scenario, top=k, weighting=weighting,
                                                       confidence=confidence, resamples=resamples, seed=seed)
        games[game] = GameAnalysis(game, run, layouts, correlation, allocation, comparisons)
    return PaperAnalysis(data_dir, games, permutations, seed)


def loi_values(analysis: PaperAnalysis) -> dict[str, dict[str, float]]:
    """game -> layout -> paper-protocol LoI (a convenience for reports)."""
    return {g: {l: float(lay.loi.statistic) for l, lay in ga.layouts.items()} for g, ga in analysis.games.items()}


__all__ = ["GameAnalysis", "LayoutAnalysis", "PaperAnalysis", "analyse_paper_data", "discover_cross_play",
           "loi_values", "read_manifest", "tournament_scores"]
