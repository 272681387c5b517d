"""The paper's whole analysis from the authors' released tensors.

Per game found in ``DATA_DIR/cross_play``: per layout the paper-protocol LoI
(with its permutation-null mean and the null-corrected value), the one-way
ANOVA of fixed-Bob scores over SP5 / PP3 / PP5 and the population-play
benefit; per game the Pearson correlation of LoI and benefit, the one-sigma
allocation, and the heuristic-vs-uniform comparison on all evaluations (pooled,
and with every scenario weighted equally) and with the paper's top-30
truncation. Numpy/scipy only (no JAX).

The fixed-Bob statistics are computed for every tournament folder of the data
directory side by side: ``tournament/`` and each ``tournament_*/`` beside it
(the authors' data holds ``tournament_25gen/``: the same tournaments with every
regime trained 25 generations, where the released PP3/PP5 trained 50). How long
each regime of a folder trained comes from ``[tournaments.FOLDER]`` in
``DATA_DIR/manifest.toml`` or, for the authors' own files (recognised by their
SHA-256, ``authors_release.toml``), from the authors' code; where a regime
trained longer than SP5 the output says so beside its numbers.
"""

from __future__ import annotations

import hashlib
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from loi.allocation import AllocationComparison, compare_allocations, compare_predictors, one_sigma
from loi.allocation.predictors import PredictorComparison
from loi.errors import LoiError
from loi.metrics import LoIResult
from loi.metrics.stats import AnovaResult, CorrelationResult, one_way_anova, pearson
from loi.metrics.table import loi_record, measure_table
from loi.pipeline.statistics import population_benefit
from loi.tables.npz import (AUTHORS_MENU, PP3, PP5, SP5, cross_play_table, parse_cross_play_name,
                            parse_tournament_name, tournament_table)
from loi.tables.schema import REGIME
from loi.tables.scores import SCORE, fixed_bob_scores

PAPER_TOP = 30
# The table metrics compared as predictors of the PP5 benefit: (label, metric, LoI estimator).
# "loi (paper)" is the analysis' own histogram LoI; xp_gap needs own-partner rows the tensors lack.
PREDICTOR_METRICS = (("loi (knn)", "loi", "knn"), ("loi (paper)", "loi", "paper"), ("eta2", "eta2", None),
                     ("icc", "icc", None))
# Comparison on all evaluations with every scenario weighted equally (not in the paper).
SCENARIO_WEIGHTED = "all_scenario_weighted"
ANOVA_REGIMES = (SP5, PP3, PP5)
# The paper's layouts in its own order; other layout names follow, sorted.
_LAYOUT_ORDER = ("S", "M", "L", "O")
TOURNAMENT = "tournament"  # the folder of fixed-Bob tensors; further ones are named tournament_*
_AUTHORS_RELEASE = Path(__file__).with_name("authors_release.toml")


@dataclass(frozen=True)
class TournamentFolder:
    """One folder of fixed-Bob tensors: its ``name`` (the folder's), a ``label``, the
    training ``generations`` of each regime where known ({} when not) and where those
    lengths come from (``source``)."""

    name: str
    label: str
    generations: dict[str, int] = field(default_factory=dict)
    source: str = ""

    def training_note(self, regime: str, reference: str = SP5) -> str:
        """E.g. "PP5 trained 50 generations, SP5 25" where ``regime`` trained longer or
        shorter than ``reference``; "" where they match or a length is unknown."""
        mine, theirs = self.generations.get(regime), self.generations.get(reference)
        if mine is None or theirs is None or mine == theirs:
            return ""
        return f"{regime} trained {mine} generations, {reference} {theirs}"


@dataclass(frozen=True)
class TournamentLayout:
    """One scenario's fixed-Bob statistics in one tournament folder."""

    anova: AnovaResult
    benefit: float
    benefit_ci: tuple[float, float]  # Welch's interval over egos, halved like the benefit
    regime_means: dict[str, float]


@dataclass(frozen=True)
class TournamentAnalysis:
    """One game's fixed-Bob statistics in one folder; ``layouts`` holds the layouts whose
    SP5, PP3 and PP5 files are all present (empty: the game is missing from the folder)."""

    folder: TournamentFolder
    layouts: dict[str, TournamentLayout]
    correlation: CorrelationResult | None
    comparisons: dict[str, AllocationComparison]

    @property
    def missing(self) -> bool:
        return not self.layouts


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
    benefit_ci: tuple[float, float] | None = None


@dataclass(frozen=True)
class GameAnalysis:
    game: str
    run: str
    layouts: dict[str, LayoutAnalysis]
    correlation: CorrelationResult | None
    allocation: dict[str, str]
    # "all", "top30" (the paper's protocol) and "all_scenario_weighted"; empty without tournaments
    comparisons: dict[str, AllocationComparison]
    # Every tournament folder's statistics, by folder name; the fields above repeat the first one's
    tournaments: dict[str, TournamentAnalysis] = field(default_factory=dict)


@dataclass(frozen=True)
class PaperAnalysis:
    data_dir: Path
    games: dict[str, GameAnalysis]
    permutations: int
    seed: int
    tournaments: tuple[TournamentFolder, ...] = ()
    # Interaction metrics per scenario (loi.metrics.METRIC_COLUMNS, metric = a PREDICTOR_METRICS
    # label) and, per tournament folder, how well each predicts the PP5 benefit there.
    metrics: pd.DataFrame | None = None
    predictors: dict[str, PredictorComparison] = field(default_factory=dict)

    def to_json(self) -> dict:
        """The ``loi paper --json`` object (NaN becomes null)."""
        return {
            "data_dir": str(self.data_dir),
            "permutations": self.permutations,
            "seed": self.seed,
            "tournaments": [{"folder": t.name, "label": t.label, "generations": dict(t.generations),
                             "source": t.source} for t in self.tournaments],
            "games": {name: _game_json(g) for name, g in self.games.items()},
            "metrics": [] if self.metrics is None else [
                {k: _num(v) if isinstance(v, float) else v for k, v in row.items()}
                for row in self.metrics.to_dict("records")],
            "predictors": {folder: comparison.to_json() for folder, comparison in self.predictors.items()},
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
            "benefit_ci": _interval(lay.benefit_ci),
            "regime_means": {k: _num(v) for k, v in lay.regime_means.items()},
        }
    corr = game.correlation
    return {
        "run": game.run,
        "layouts": layouts,
        "pearson_r": _num(corr.statistic) if corr else None,
        "pearson_p": _num(corr.pvalue) if corr else None,
        "pearson_ci": _interval(corr.confidence_interval) if corr else None,
        "allocation": dict(game.allocation),
        "comparison": _comparisons_json(game.comparisons),
        "tournaments": {name: _tournament_json(t) for name, t in game.tournaments.items()},
    }


def _interval(interval) -> list[float | None] | None:
    """A (low, high) pair or a ConfidenceInterval as [low, high] (None stays None)."""
    if interval is None:
        return None
    low, high = (interval.low, interval.high) if hasattr(interval, "low") else interval
    return [_num(low), _num(high)]


def _tournament_json(analysis: TournamentAnalysis) -> dict:
    """One folder's statistics of one game, under the column names of the game's own."""
    folder, corr = analysis.folder, analysis.correlation
    layouts = {
        name: {"anova_f": _num(lay.anova.statistic), "anova_p": _num(lay.anova.pvalue),
               "benefit": _num(lay.benefit), "benefit_ci": _interval(lay.benefit_ci),
               "regime_means": {k: _num(v) for k, v in lay.regime_means.items()},
               "training_note": folder.training_note(PP5)}
        for name, lay in analysis.layouts.items()}
    return {
        "label": folder.label,
        "missing": analysis.missing,
        "generations": dict(folder.generations),
        "training_note": folder.training_note(PP5),
        "layouts": layouts,
        "pearson_r": _num(corr.statistic) if corr else None,
        "pearson_p": _num(corr.pvalue) if corr else None,
        "pearson_ci": _interval(corr.confidence_interval) if corr else None,
        "comparison": _comparisons_json(analysis.comparisons),
    }


def _comparisons_json(comparisons: dict[str, AllocationComparison]) -> dict:
    out = {}
    for key, comp in comparisons.items():
        out[key] = {
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
    return out


def _layout_key(layout: str) -> tuple[int, str]:
    return (_LAYOUT_ORDER.index(layout) if layout in _LAYOUT_ORDER else len(_LAYOUT_ORDER), layout)


def _manifest(data_dir: Path) -> tuple[Path, dict]:
    path = data_dir / "manifest.toml"
    if not path.exists():
        return path, {}
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as err:
        raise LoiError(f"cannot read {path}: {str(err).splitlines()[0]}") from None


def read_manifest(data_dir: Path) -> dict[str, str]:
    """``[cross_play_run]`` of ``DATA_DIR/manifest.toml`` (game -> run); {} if absent."""
    path, manifest = _manifest(data_dir)
    runs = manifest.get("cross_play_run", {})
    if not isinstance(runs, dict) or not all(isinstance(v, str) for v in runs.values()):
        raise LoiError(f"{path}: [cross_play_run] must map game names to run names (strings)")
    return dict(runs)


def _authors_release(files: list[Path]) -> TournamentFolder | None:
    """The authors' release that every one of ``files`` belongs to (by SHA-256), if any."""
    known = tomllib.loads(_AUTHORS_RELEASE.read_text(encoding="utf-8"))
    common: set[str] | None = None
    for path in files:
        entry = known["files"].get(hashlib.sha256(path.read_bytes()).hexdigest())
        if entry is None:
            return None
        common = set(entry["releases"]) if common is None else common & set(entry["releases"])
    if not common or len(common) != 1:
        return None
    release = known["releases"][common.pop()]
    return TournamentFolder("", release["label"], dict(release["generations"]),
                            f"the authors' code at {release['commit']}: {release['source']}")


def discover_tournaments(data_dir: str | os.PathLike) -> tuple[TournamentFolder, ...]:
    """``tournament/`` (when present) then every ``tournament_*/`` folder, sorted, each with
    its label and training lengths: from ``[tournaments.FOLDER]`` of the manifest
    (``label = "..."``, ``generations = { SP5 = 25, PP5 = 50, ... }``), else from the
    authors' release the files are, else unknown (label: the folder's name)."""
    data_dir = Path(data_dir)
    path, manifest = _manifest(data_dir)
    declared = manifest.get("tournaments", {})
    if not isinstance(declared, dict):
        raise LoiError(f"{path}: [tournaments] must hold one [tournaments.FOLDER] table per folder")
    folders = sorted(p for p in data_dir.glob(f"{TOURNAMENT}_*") if p.is_dir())
    if (data_dir / TOURNAMENT).is_dir():
        folders.insert(0, data_dir / TOURNAMENT)
    unknown = sorted(set(declared) - {p.name for p in folders})
    if unknown:
        raise LoiError(f"{path}: [tournaments.{unknown[0]}] names no folder of {data_dir}")
    out = []
    for folder in folders:
        entry = declared.get(folder.name)
        if entry is not None:
            out.append(_declared_folder(path, folder.name, entry))
            continue
        recognised = _authors_release(sorted(folder.glob("*.npz")))
        if recognised is not None:
            out.append(TournamentFolder(folder.name, recognised.label, recognised.generations, recognised.source))
        else:
            out.append(TournamentFolder(folder.name, folder.name, {}, ""))
    return tuple(out)


def _declared_folder(path: Path, name: str, entry) -> TournamentFolder:
    where = f"{path}: [tournaments.{name}]"
    if not isinstance(entry, dict) or set(entry) - {"label", "generations"}:
        raise LoiError(f"{where} takes label = \"...\" and generations = {{ REGIME = N, ... }}")
    label = entry.get("label", name)
    generations = entry.get("generations", {})
    if not isinstance(label, str):
        raise LoiError(f"{where}: label must be a string, got {label!r}")
    if not isinstance(generations, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in generations.values()):
        raise LoiError(f"{where}: generations must map regimes to whole numbers >= 1, got {generations!r}")
    return TournamentFolder(name, label, dict(generations), f"{path.name} [tournaments.{name}]")


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
                      regimes: set[str] = frozenset(ANOVA_REGIMES), folder: str = TOURNAMENT) -> pd.DataFrame | None:
    """Fixed-Bob scores of one scenario's ``regimes`` in ``folder`` (None unless every file is present)."""
    paths = {r: Path(data_dir) / folder / f"{game}_{layout}_{r}.npz" for r in sorted(regimes)}
    if not all(p.exists() for p in paths.values()):
        return None
    return fixed_bob_scores(pd.concat([tournament_table(p) for p in paths.values()], ignore_index=True))


def analyse_tournaments(data_dir: Path, folder: TournamentFolder, game: str, lois: dict[str, float],
                        allocation: dict[str, str], *, top: int = PAPER_TOP, confidence: float = 0.95,
                        resamples: int = 10_000, seed: int = 0) -> TournamentAnalysis:
    """One game's fixed-Bob statistics in one folder: per layout of ``lois`` (layout ->
    LoI) the ANOVA over SP5/PP3/PP5, the PP5 benefit (PP5 - SP5)/2 with Welch's interval
    over egos halved, the regime means; across layouts r(LoI, benefit) and the
    ``allocation``'s comparison with uniform PP3 (all evaluations, top-``top``, scenarios
    weighted equally) when every layout has its files."""
    layouts: dict[str, TournamentLayout] = {}
    scores: dict[str, pd.DataFrame] = {}
    for layout in lois:
        frame = tournament_scores(data_dir, game, layout, folder=folder.name)
        if frame is None:
            continue
        scores[layout] = frame
        groups = {r: frame.loc[frame[REGIME] == r, SCORE].to_numpy() for r in ANOVA_REGIMES}
        benefit = population_benefit(frame, PP5, SP5, confidence=confidence)
        layouts[layout] = TournamentLayout(
            anova=one_way_anova(*groups.values()), benefit=float(benefit["benefit_raw"]),
            benefit_ci=(float(benefit["benefit_raw_ci_low"]), float(benefit["benefit_raw_ci_high"])),
            regime_means={r: float(v.mean()) for r, v in groups.items()})
    correlation = None
    if len(layouts) >= 3:
        correlation = pearson([lois[l] for l in layouts], [lay.benefit for lay in layouts.values()],
                              confidence=confidence)
    comparisons = {}
    if layouts and len(scores) == len(lois):
        frame = pd.concat(scores.values(), ignore_index=True)
        by_scenario = {f"{game}/{layout}": regime for layout, regime in allocation.items()}
        for key, k, weighting in (("all", None, "pooled"), (f"top{top}", top, "pooled"),
                                  (SCENARIO_WEIGHTED, None, "scenario")):
            comparisons[key] = compare_allocations(frame, by_scenario, uniform=PP3, reference=SP5, top=k,
                                                   weighting=weighting, confidence=confidence, resamples=resamples,
                                                   seed=seed)
    return TournamentAnalysis(folder, layouts, correlation, comparisons)


def analyse_paper_data(data_dir: str | os.PathLike, *, permutations: int = 1000, bootstrap: int = 1000,
                       seed: int = 0, top: int = PAPER_TOP, resamples: int = 10_000,
                       confidence: float = 0.95, predictors: bool = True,
                       progress: Callable[[int, int], None] | None = None) -> PaperAnalysis:
    """Run the paper's analysis on every game in ``data_dir`` (layout in the
    paper data README). ``permutations``/``bootstrap`` go to the LoI (and the
    other interaction metrics), ``resamples`` to the bootstrap CIs of the
    allocation comparison, ``top`` is the paper's truncation for the labelled
    ``top{top}`` comparison. With ``predictors`` (and tournaments), the table
    metrics of ``PREDICTOR_METRICS`` are measured and compared as predictors of
    the PP5 benefit in every tournament folder (:func:`compare_predictors`).
    ``progress(done, total)`` is called as scenarios (game x layout) finish."""
    data_dir = Path(data_dir)
    if top < 2:
        raise LoiError(f"top must be >= 2, got {top}")
    games = {}
    found = discover_cross_play(data_dir)
    folders = discover_tournaments(data_dir)
    scenarios = sum(len(files) for _, files in found.values())
    # Progress: the histogram LoI, then (with predictors) loi (knn), eta2 and icc of each scenario.
    total, finished = scenarios * (4 if predictors and folders else 1), 0
    tables = []
    for game, (run, files) in found.items():
        table = pd.concat([cross_play_table(p) for p in files.values()], ignore_index=True)
        tables.append(table)
        report = None if progress is None else (lambda done, _, before=finished: progress(before + done, total))
        loi = measure_table(table, estimator="paper", permutations=permutations, bootstrap=bootstrap,
                            confidence=confidence, seed=seed, progress=report)
        finished += len(files)
        lois = {layout: float(loi[f"{game}/{layout}"].statistic) for layout in files}
        allocation = one_sigma(lois, AUTHORS_MENU)  # in the authors' regime names
        tournaments = {folder.name: analyse_tournaments(data_dir, folder, game, lois, allocation, top=top,
                                                        confidence=confidence, resamples=resamples, seed=seed)
                       for folder in folders}
        first = next(iter(tournaments.values()), None)
        layouts = {}
        for layout in files:
            stats = first.layouts.get(layout) if first is not None else None
            layouts[layout] = LayoutAnalysis(
                layout, f"{game}/{layout}", loi[f"{game}/{layout}"], stats.anova if stats else None,
                stats.benefit if stats else None, stats.regime_means if stats else {},
                stats.benefit_ci if stats else None)
        games[game] = GameAnalysis(game, run, layouts, first.correlation if first else None, allocation,
                                   first.comparisons if first else {}, tournaments)
    metrics, comparisons = None, {}
    if predictors and folders:
        report = None if progress is None else (lambda done, _: progress(scenarios + done, total))
        metrics = _predictor_metrics(pd.concat(tables, ignore_index=True), games, permutations=permutations,
                                     bootstrap=bootstrap, confidence=confidence, seed=seed, progress=report)
        comparisons = _compare_predictors(data_dir, games, folders, metrics, confidence=confidence, seed=seed)
    return PaperAnalysis(data_dir, games, permutations, seed, folders, metrics, comparisons)


def _predictor_metrics(table: pd.DataFrame, games: dict[str, GameAnalysis], *, permutations: int, bootstrap: int,
                       confidence: float, seed: int, progress) -> pd.DataFrame:
    """The ``PREDICTOR_METRICS`` of every scenario, labelled; the paper's LoI is the analysis' own."""
    from loi.metrics import measure_metrics

    measured = measure_metrics(table, ["loi", "eta2", "icc"], permutations=permutations, bootstrap=bootstrap,
                               confidence=confidence, seed=seed, estimator="knn", workers=None, progress=progress)
    paper = measure_metrics(table, ["loi"], estimator="paper", permutations=permutations, bootstrap=bootstrap,
                            confidence=confidence, seed=seed, workers=None,
                            loi_results={lay.scenario: lay.loi for g in games.values() for lay in g.layouts.values()})
    return pd.concat([measured.replace({"metric": {"loi": PREDICTOR_METRICS[0][0]}}),
                      paper.assign(metric=PREDICTOR_METRICS[1][0])], ignore_index=True)


def _compare_predictors(data_dir: Path, games: dict[str, GameAnalysis], folders: tuple[TournamentFolder, ...],
                        metrics: pd.DataFrame, *, confidence: float, seed: int) -> dict[str, PredictorComparison]:
    """Per tournament folder: each metric against the PP5 benefit of the scenarios it holds."""
    out = {}
    for folder in folders:
        benefit, game_of, frames = {}, {}, []
        for game, analysis in games.items():
            tournament = analysis.tournaments[folder.name]
            if set(tournament.layouts) != set(analysis.layouts):
                continue  # the cross-fitted allocation needs every scenario of a game
            for layout, stats in tournament.layouts.items():
                scenario = f"{game}/{layout}"
                benefit[scenario], game_of[scenario] = stats.benefit, game
                frames.append(tournament_scores(data_dir, game, layout, folder=folder.name))
        if len(set(game_of.values())) < 2:
            continue
        values = {label: metrics[metrics["metric"] == label].set_index("scenario")["score"]
                  .reindex(list(benefit)).to_dict() for label, _, _ in PREDICTOR_METRICS}
        out[folder.name] = compare_predictors(values, benefit, game_of, scores=pd.concat(frames, ignore_index=True),
                                              menu=AUTHORS_MENU, uniform=PP3, reference=SP5, confidence=confidence,
                                              seed=seed)
    return out


def loi_values(analysis: PaperAnalysis) -> dict[str, dict[str, float]]:
    """game -> layout -> paper-protocol LoI (a convenience for reports)."""
    return {g: {l: float(lay.loi.statistic) for l, lay in ga.layouts.items()} for g, ga in analysis.games.items()}


__all__ = ["GameAnalysis", "LayoutAnalysis", "PaperAnalysis", "TournamentAnalysis", "TournamentFolder",
           "TournamentLayout", "analyse_paper_data", "analyse_tournaments", "discover_cross_play",
           "discover_tournaments", "loi_values", "read_manifest", "tournament_scores"]
