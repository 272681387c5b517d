"""The authors' training logs: how their learners' training return moved generation by generation.

Their repository (github.com/ThomasChen98/Level-of-Influence) keeps, beside the evaluation
tensors, one log per training run in ``MARL/SP_logs/`` and ``MARL/PP_logs/``:
``{game code}{population size}{layout}.npz`` (``pd5s``: prisoners_dilemma, 5 members, small)
with ``policy_reward_mean`` of shape (seeds, 2 agents, iterations) as RLlib reported it after
every training iteration (agent 0 is the learner, their ``policies_to_train=["agent_0"]``).
A generation is ``checkpoint_freq`` = 125 iterations (their MARL/PP_train.py line 129 and
MARL/SP_train.py line 130). Numpy only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from loi.errors import LoiError
from loi.tables.npz import GAME, LAYOUT
from loi.tables.schema import REGIME

ITERATIONS_PER_GENERATION = 125  # the authors' checkpoint_freq
GAME_CODES = {"pd": "prisoners_dilemma", "c": "chicken", "pc": "pure_coordination", "sh": "stag_hunt"}
LAYOUT_CODES = {"s": "S", "m": "M", "l": "L", "o": "O"}
_NAME = re.compile(r"^(?P<game>[a-z]+?)(?P<size>\d+)(?P<layout>[smlo])$")


def parse_log_name(path: str | os.PathLike) -> tuple[str, int, str] | None:
    """``pd5s.npz`` -> ("prisoners_dilemma", 5, "S"); None for any other name."""
    m = _NAME.match(Path(path).stem)
    if m is None or m["game"] not in GAME_CODES:
        return None
    return GAME_CODES[m["game"]], int(m["size"]), LAYOUT_CODES[m["layout"]]


def generation_returns(path: str | os.PathLike,
                       iterations_per_generation: int = ITERATIONS_PER_GENERATION) -> np.ndarray:
    """[seeds, generations]: the learner's (agent 0's) mean reported training return over each
    generation's iterations (NaN where RLlib reported none)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            rewards = np.asarray(npz["policy_reward_mean"], dtype=np.float64)
    except (OSError, ValueError, KeyError) as err:
        raise LoiError(f"cannot read {path}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    if rewards.ndim != 3 or rewards.shape[1] != 2:
        raise LoiError(f"{path}: 'policy_reward_mean' has shape {rewards.shape}, expected (seeds, 2, iterations)")
    seeds, _, iterations = rewards.shape
    if iterations % iterations_per_generation:
        raise LoiError(f"{path}: {iterations} iterations is not a whole number of {iterations_per_generation}-"
                       "iteration generations")
    learner = rewards[:, 0, :].reshape(seeds, iterations // iterations_per_generation, iterations_per_generation)
    with np.errstate(all="ignore"):  # an all-NaN generation stays NaN
        return np.nanmean(learner, axis=-1) if np.isfinite(learner).any() else np.full(learner.shape[:2], np.nan)


def return_change(logs_dir: str | os.PathLike, early: int, late: int, *, confidence: float = 0.95) -> pd.DataFrame:
    """For every log under ``logs_dir`` (searched recursively) that reaches generation ``late``
    (0-based): the learner's training return at generation ``early`` and ``late``, their
    difference averaged over seeds and its t interval over seeds. Columns: game, layout, regime
    (``PP5``, ``SP5``; from the folder: PP_logs / SP_logs), seeds, return_early, return_late,
    change, change_ci_low, change_ci_high, file."""
    rows = []
    for path in sorted(Path(logs_dir).rglob("*.npz")):
        name = parse_log_name(path)
        kind = "PP" if "PP_logs" in path.parts else "SP" if "SP_logs" in path.parts else None
        if name is None or kind is None:
            continue
        per_generation = generation_returns(path)
        if per_generation.shape[1] <= late:
            continue
        change = per_generation[:, late] - per_generation[:, early]
        change = change[np.isfinite(change)]
        low = high = np.nan
        if change.size >= 2 and np.ptp(change) > 0:
            low, high = stats.t.interval(confidence, change.size - 1, change.mean(), stats.sem(change))
        game, size, layout = name
        rows.append({GAME: game, LAYOUT: layout, REGIME: f"{kind}{size}", "seeds": int(change.size),
                     "return_early": float(np.nanmean(per_generation[:, early])),
                     "return_late": float(np.nanmean(per_generation[:, late])),
                     "change": float(change.mean()) if change.size else np.nan,
                     "change_ci_low": float(low), "change_ci_high": float(high),
                     "file": path.relative_to(logs_dir).as_posix()})
    if not rows:
        raise LoiError(f"{logs_dir} holds no training log (MARL/PP_logs/*.npz, MARL/SP_logs/*.npz) that reaches "
                       f"generation {late}")
    return pd.DataFrame(rows)


def return_change_markdown(table: pd.DataFrame, games: tuple[str, ...] | None = None, regime: str = "PP5") -> str:
    """The README's table of :func:`return_change` rows of ``regime``: one row per game, one
    column per layout (S, M, L, O), each "change [95% CI]" of the learner's training return."""
    rows = table[table[REGIME] == regime]
    games = games or tuple(dict.fromkeys(rows[GAME]))
    layouts = [l for l in LAYOUT_CODES.values() if l in set(rows[LAYOUT])]
    lines = ["| game | " + " | ".join(layouts) + " |", "|---|" + "---|" * len(layouts)]
    for game in games:
        cells = []
        for layout in layouts:
            row = rows[(rows[GAME] == game) & (rows[LAYOUT] == layout)]
            if row.empty:
                cells.append("")
                continue
            r = row.iloc[0]
            ci = "" if not np.isfinite(r["change_ci_low"]) else f" [{r['change_ci_low']:+.1f}, {r['change_ci_high']:+.1f}]"
            cells.append(f"{r['return_early']:.1f} → {r['return_late']:.1f}: {r['change']:+.1f}{ci}")
        lines.append(f"| {game} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = ["GAME_CODES", "ITERATIONS_PER_GENERATION", "generation_returns", "parse_log_name", "return_change",
           "return_change_markdown"]
