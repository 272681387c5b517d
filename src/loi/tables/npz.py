"""The authors' released NPZ tensors, converted to the long reward table.

Two layouts (see the paper data README):

* cross_play ``{game}_{layout}_{run}.npz``: ``rewards`` of shape
  (eval seed, ego checkpoint, co-player seed, co-player checkpoint, episode,
  player) and ``checkpoints`` (the co-player generations);
* tournament ``{game}_{layout}_{regime}.npz``: ``rewards`` of shape
  (trained egos, held-out Bobs, episodes).

File names: the game may contain underscores, the layout and the regime may
not, and a cross-play run starts with a digit (``5M``, ``5M_2``). A name that
does not follow the pattern still loads; its scenario is the file's stem.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from loi.errors import LoiError
from loi.tables.schema import (
    COPLAYER,
    COPLAYER_CHECKPOINT,
    COPLAYER_RETURN,
    COPLAYER_SEED,
    EGO,
    EGO_CHECKPOINT,
    EGO_RETURN,
    EPISODE,
    EVAL_SEED,
    REGIME,
    SCENARIO,
    validate_table,
)

GAME = "game"
LAYOUT = "layout"
RUN = "run"
# The regimes as the authors' tournament files name them (``{game}_{layout}_{regime}.npz``), and
# their cost in agent-trainings (the study's menu calls them sp / pp3 / pp5).
SP5, PP3, PP5 = "SP5", "PP3", "PP5"
AUTHORS_MENU: dict[str, float] = {SP5: 1.0, PP3: 3.0, PP5: 5.0}

_CROSS_PLAY_NAME = re.compile(r"^(?P<game>.+?)_(?P<layout>[^_]+)_(?P<run>\d[^.]*)$")
_TOURNAMENT_NAME = re.compile(r"^(?P<game>.+)_(?P<layout>[^_]+)_(?P<regime>[^_]+)$")


@dataclass(frozen=True)
class NpzName:
    """What a file name says: game, layout and the run (cross_play) or regime."""

    game: str
    layout: str
    tag: str

    @property
    def scenario(self) -> str:
        return f"{self.game}/{self.layout}"


def parse_cross_play_name(path: str | os.PathLike) -> NpzName | None:
    """``chicken_L_5M_2.npz`` -> NpzName("chicken", "L", "5M_2"); None if no match."""
    m = _CROSS_PLAY_NAME.match(Path(path).stem)
    return NpzName(m["game"], m["layout"], m["run"]) if m else None


def parse_tournament_name(path: str | os.PathLike) -> NpzName | None:
    """``prisoners_dilemma_S_PP3.npz`` -> NpzName("prisoners_dilemma", "S", "PP3")."""
    m = _TOURNAMENT_NAME.match(Path(path).stem)
    return NpzName(m["game"], m["layout"], m["regime"]) if m else None


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise LoiError(f"cannot read {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            # Materialise every array now: a truncated member fails here, not later.
            return {key: np.asarray(npz[key]) for key in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, zipfile.LargeZipFile) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise LoiError(f"cannot read {path}: truncated or not an NPZ file ({reason})") from err


def _rewards(arrays: dict[str, np.ndarray], path: Path, ndim: int, layout: str) -> np.ndarray:
    if "rewards" not in arrays:
        raise LoiError(f"{path}: missing key 'rewards' (found: {', '.join(sorted(arrays)) or 'none'})")
    rewards = arrays["rewards"]
    if rewards.ndim != ndim:
        raise LoiError(f"{path}: 'rewards' has shape {rewards.shape}, expected {ndim} axes ({layout})")
    if not np.issubdtype(rewards.dtype, np.number) or np.issubdtype(rewards.dtype, np.complexfloating):
        raise LoiError(f"{path}: 'rewards' must be real numbers, got dtype {rewards.dtype}")
    if rewards.size == 0:
        raise LoiError(f"{path}: 'rewards' is empty (shape {rewards.shape})")
    bad = ~np.isfinite(rewards)
    if bad.any():
        raise LoiError(f"{path}: 'rewards' has {int(bad.sum())} NaN/inf value(s)")
    return rewards.astype(np.float64, copy=False)


_CROSS_PLAY_AXES = "(eval seed, ego checkpoint, co-player seed, co-player checkpoint, episode, player)"


def cross_play_table(path: str | os.PathLike) -> pd.DataFrame:
    """Long table of an authors' cross_play NPZ file.

    One row per (eval seed, ego checkpoint, co-player seed, co-player
    checkpoint, episode): ``ego`` = ``ego{e}``, ``coplayer`` =
    ``seed{s}/gen{generation}``, ``ego_checkpoint`` = e, ``coplayer_checkpoint``
    = the generation, plus ``coplayer_seed``, ``eval_seed``, ``coplayer_return``,
    ``game``, ``layout`` and ``run`` (from the file name).
    """
    path = Path(path)
    return _cross_play(_load_arrays(path), path)


def _cross_play(arrays: dict[str, np.ndarray], path: Path) -> pd.DataFrame:
    rewards = _rewards(arrays, path, 6, _CROSS_PLAY_AXES)
    n_eval, n_ego, n_seed, n_ckpt, n_ep, n_player = rewards.shape
    if n_player != 2:
        raise LoiError(f"{path}: 'rewards' last axis (player) has size {n_player}, expected 2 (ego, co-player)")
    if "checkpoints" not in arrays:
        raise LoiError(f"{path}: missing key 'checkpoints' (the co-player generations)")
    generations = arrays["checkpoints"]
    if generations.shape != (n_ckpt,):
        raise LoiError(f"{path}: 'checkpoints' has shape {generations.shape}, expected ({n_ckpt},) "
                       "to match the co-player checkpoint axis of 'rewards'")
    if not np.issubdtype(generations.dtype, np.integer):
        if not (np.issubdtype(generations.dtype, np.floating) and np.all(generations == np.round(generations))):
            raise LoiError(f"{path}: 'checkpoints' must hold integer generations")
    generations = generations.astype(np.int64)

    # Row-major index grids over the first five axes, flattened in C order like rewards.
    ev, eg, se, ck, ep = (g.ravel() for g in np.indices((n_eval, n_ego, n_seed, n_ckpt, n_ep)))
    gen = generations[ck]
    name = parse_cross_play_name(path)
    ego_names = np.array([f"ego{e}" for e in range(n_ego)], dtype=object)
    coplayer_names = np.array(
        [[f"seed{s}/gen{g}" for g in generations] for s in range(n_seed)], dtype=object
    )
    table = pd.DataFrame(
        {
            SCENARIO: name.scenario if name else path.stem,
            EGO: ego_names[eg],
            COPLAYER: coplayer_names[se, ck],
            EPISODE: ep,
            EGO_RETURN: rewards[..., 0].ravel(),
            COPLAYER_RETURN: rewards[..., 1].ravel(),
            EGO_CHECKPOINT: eg,
            COPLAYER_CHECKPOINT: gen,
            COPLAYER_SEED: se,
            EVAL_SEED: ev,
            GAME: name.game if name else path.stem,
            LAYOUT: name.layout if name else "",
            RUN: name.tag if name else "",
        }
    )
    return validate_table(table, source=str(path))


def tournament_table(path: str | os.PathLike) -> pd.DataFrame:
    """Long table of an authors' tournament (fixed-Bob) NPZ file.

    One row per (ego, Bob, episode): ``ego`` = ``ego{i}``, ``coplayer`` =
    ``bob{b}``, ``regime`` from the file name, plus ``game`` and ``layout``.
    """
    path = Path(path)
    return _tournament(_load_arrays(path), path)


def _tournament(arrays: dict[str, np.ndarray], path: Path) -> pd.DataFrame:
    rewards = _rewards(arrays, path, 3, "(trained egos, held-out Bobs, episodes)")
    n_ego, n_bob, n_ep = rewards.shape
    eg, bob, ep = (g.ravel() for g in np.indices(rewards.shape))
    name = parse_tournament_name(path)
    table = pd.DataFrame(
        {
            SCENARIO: name.scenario if name else path.stem,
            EGO: np.array([f"ego{i}" for i in range(n_ego)], dtype=object)[eg],
            COPLAYER: np.array([f"bob{b}" for b in range(n_bob)], dtype=object)[bob],
            EPISODE: ep,
            EGO_RETURN: rewards.ravel(),
            REGIME: name.tag if name else path.stem,
            GAME: name.game if name else path.stem,
            LAYOUT: name.layout if name else "",
        }
    )
    return validate_table(table, source=str(path))


def read_npz(path: str | os.PathLike) -> pd.DataFrame:
    """Either layout, told apart by the shape of ``rewards`` (6 axes: cross_play,
    3 axes: tournament)."""
    path = Path(path)
    arrays = _load_arrays(path)
    if "rewards" in arrays and arrays["rewards"].ndim == 3:
        return _tournament(arrays, path)
    return _cross_play(arrays, path)  # raises the precise error for any other shape
