"""Fixed-Bob tournaments: trained egos against held-out co-players ("Bobs").

The egos of SP / PP / FCP runs (their final policies) play held-out Bobs:
checkpoints of separate self-play runs at several training stages, never seen
in training. The reward table carries a ``regime`` column; per scenario the
summary gives each regime's generalization score (the ego's return averaged
over the Bobs first, as the paper does), a one-way ANOVA across regimes and
the population-play benefit ``(mean ppN - mean sp) / 2`` (the paper's
definition, SPEC §1).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Callable, Sequence

import jax
import numpy as np
import pandas as pd

from loi.errors import LoiError
from loi.evaluation.cross_play import cross_play
from loi.evaluation.policies import Policy, checkpoint_policy, run_checkpoints, run_policies
from loi.metrics.stats import AnovaResult, one_way_anova
from loi.tables.schema import REGIME, SCENARIO
from loi.tables.scores import SCORE, fixed_bob_scores

DEFAULT_BOB_STAGES = 4


def tournament_egos(run_dirs: Sequence[str | os.PathLike], generations: Sequence[int] = (-1,)) -> list[Policy]:
    """Every seed and member of each run at ``generations`` (default: the final one)."""
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    return [p for run in run_dirs for p in run_policies(run, generations)]


def held_out_bobs(run_dirs: Sequence[str | os.PathLike], stages: int = DEFAULT_BOB_STAGES) -> list[Policy]:
    """``stages`` checkpoints of every seed (member 0) of the held-out self-play
    runs, evenly spaced over training and ending at the final generation (the
    untrained generation 0 is skipped when there is room)."""
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
        raise LoiError(f"stages must be a positive integer, got {stages!r}")
    bobs = []
    for run in run_dirs:
        checkpoints = run_checkpoints(run)
        for seed in sorted({s for s, m, _ in checkpoints if m == 0}):
            generations = sorted(g for s, m, g in checkpoints if s == seed and m == 0)
            n = len(generations)
            if n > stages:
                picks = np.unique(np.round(np.linspace(0, n - 1, stages + 1)[1:]).astype(int))
            else:
                picks = np.arange(n)
            bobs += [checkpoint_policy(checkpoints[(seed, 0, generations[i])]) for i in picks]
    return bobs


def fixed_bob_tournament(env, egos: Sequence[Policy], bobs: Sequence[Policy], *, episodes: int, key: jax.Array,
                         chunk_size: int = 1024, streams: int = 1, max_episode_steps: int | None = None,
                         on_chunk: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Every ego against every Bob; the reward table with a ``regime`` column
    (the ego's training regime; a baseline ego's regime is its name)."""
    egos = [p if "regime" in p.info else dataclasses.replace(p, info={**p.info, "regime": p.name}) for p in egos]
    ego_names, bob_names = {p.name for p in egos}, {p.name for p in bobs}
    if ego_names & bob_names:
        raise LoiError(f"Bobs must be held out: {sorted(ego_names & bob_names)[0]!r} is also an ego")
    result = cross_play(env, egos, bobs, episodes, key, chunk_size=chunk_size, streams=streams,
                        max_episode_steps=max_episode_steps, on_chunk=on_chunk)
    return result.to_table()


@dataclass(frozen=True)
class TournamentSummary:
    """One scenario's fixed-Bob statistics. ``scores`` has one row per (regime,
    ego, episode); ``anova`` is ``None`` with fewer than 2 regimes (or
    when undefined: every group constant);
    ``pp_benefit[r] = (mean r - mean sp) / 2`` for every non-``sp`` regime
    (empty without an ``sp`` regime)."""

    scenario: str
    means: dict[str, float]
    counts: dict[str, int]
    anova: AnovaResult | None
    pp_benefit: dict[str, float] = field(default_factory=dict)
    scores: pd.DataFrame | None = field(default=None, repr=False)


def tournament_summary(table: pd.DataFrame, *, regimes: Sequence[str] | None = None,
                       baseline: str = "sp") -> dict[str, TournamentSummary]:
    """Per-scenario generalization scores, ANOVA across ``regimes`` (default:
    all in the table) and benefit over the ``baseline`` regime."""
    scores = fixed_bob_scores(table)
    summaries = {}
    for scenario, rows in scores.groupby(SCENARIO, sort=True, observed=True):
        present = sorted(rows[REGIME].unique())
        chosen = list(regimes) if regimes is not None else present
        missing = [r for r in chosen if r not in present]
        if missing:
            raise LoiError(f"scenario {scenario!r}: regime {missing[0]!r} not in the table ({', '.join(present)})")
        groups = {r: rows.loc[rows[REGIME] == r, SCORE].to_numpy(np.float64) for r in chosen}
        means = {r: float(v.mean()) for r, v in groups.items()}
        anova = None
        if len(groups) >= 2 and all(v.size >= 2 for v in groups.values()):
            try:
                anova = one_way_anova(*groups.values())
            except LoiError:  # undefined, e.g. every group constant
                anova = None
        benefit = {}
        if baseline in means:
            benefit = {r: (m - means[baseline]) / 2 for r, m in means.items() if r != baseline}
        summaries[str(scenario)] = TournamentSummary(str(scenario), means, {r: int(v.size) for r, v in groups.items()},
                                                     anova, benefit, rows.reset_index(drop=True))
    return summaries
