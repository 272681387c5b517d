"""Schema of the long-format reward table: one row per episode.

Every stage that produces returns (the authors' NPZ files, cross-play rollouts,
fixed-Bob tournaments) writes this table; every estimator reads it. Required
columns name the scenario, the two policies and the ego's return; optional
columns carry checkpoints, seeds and the training regime. Any further columns
(``game``, ``layout``, ``eval_seed``, ...) are kept as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from loi.errors import LoiError

SCENARIO = "scenario"
EGO = "ego"
COPLAYER = "coplayer"
EPISODE = "episode"
EGO_RETURN = "ego_return"
COPLAYER_RETURN = "coplayer_return"
EGO_CHECKPOINT = "ego_checkpoint"
COPLAYER_CHECKPOINT = "coplayer_checkpoint"
COPLAYER_SEED = "coplayer_seed"
REGIME = "regime"
EVAL_SEED = "eval_seed"
# Whether the co-player is the ego's own training partner: a policy of the ego's own training run
# and seed (self-play: the ego's lineage at any checkpoint; population play: its population's
# members). ``loi evaluate`` writes it; the ``xp_gap`` metric compares these rows with the rest.
OWN_PARTNER = "own_partner"

REQUIRED_COLUMNS: tuple[str, ...] = (SCENARIO, EGO, COPLAYER, EPISODE, EGO_RETURN)

# Canonical kind of every known column: "str", "int", "float" or "bool".
COLUMN_KINDS: dict[str, str] = {
    SCENARIO: "str",
    EGO: "str",
    COPLAYER: "str",
    EPISODE: "int",
    EGO_RETURN: "float",
    COPLAYER_RETURN: "float",
    EGO_CHECKPOINT: "int",
    COPLAYER_CHECKPOINT: "int",
    COPLAYER_SEED: "int",
    REGIME: "str",
    OWN_PARTNER: "bool",
}
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMN_KINDS if c not in REQUIRED_COLUMNS)
RETURN_COLUMNS: tuple[str, ...] = (EGO_RETURN, COPLAYER_RETURN)
# What identifies one episode: no two rows may agree on all of these that the table has (a
# duplicated row would count as a second episode and fake dependence on the co-player).
EPISODE_KEY: tuple[str, ...] = (SCENARIO, REGIME, EGO, EGO_CHECKPOINT, COPLAYER, COPLAYER_SEED,
                                COPLAYER_CHECKPOINT, EVAL_SEED, EPISODE)


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def _as_str(column: pd.Series, name: str, where: str) -> pd.Series:
    if isinstance(column.dtype, pd.CategoricalDtype):
        used = set(column.dropna().unique())
        unused = [c for c in column.cat.categories if c not in used]
        if unused and name == COPLAYER:
            raise LoiError(f"{where}co-player {unused[0]!r} has no episodes")
    missing = int(column.isna().sum())
    if missing:
        raise LoiError(f"{where}column {name!r} has {missing} missing value(s)")
    if column.dtype == object and not all(isinstance(v, (str, int, np.integer)) for v in column):
        raise LoiError(f"{where}column {name!r} must hold names (strings or integers)")
    out = column.astype("str")
    if (out.str.len() == 0).any():
        raise LoiError(f"{where}column {name!r} has {int((out.str.len() == 0).sum())} empty name(s)")
    return out


def _numeric(column: pd.Series, name: str, where: str, kind: str) -> pd.Series:
    if column.dtype == object:  # e.g. numbers mixed with None; strings are rejected below
        try:
            column = pd.to_numeric(column, errors="raise")
        except (ValueError, TypeError):
            pass
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        raise LoiError(f"{where}column {name!r} must be {kind}, got dtype {column.dtype}")
    return column


def _as_float(column: pd.Series, name: str, where: str) -> pd.Series:
    column = _numeric(column, name, where, "numeric")
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        raise LoiError(f"{where}column {name!r} has {int(bad.sum())} NaN/inf value(s) of {len(values)} rows")
    return pd.Series(values, index=column.index, name=name)


def _as_int(column: pd.Series, name: str, where: str) -> pd.Series:
    column = _numeric(column, name, where, "integer")
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = int(np.isnan(values).sum())
    if missing:
        raise LoiError(f"{where}column {name!r} has {missing} missing value(s)")
    if not np.array_equal(values, np.round(values)) or np.any(np.abs(values) > 2**53):
        raise LoiError(f"{where}column {name!r} must hold whole numbers")
    return pd.Series(values.astype(np.int64), index=column.index, name=name)


def _as_bool(column: pd.Series, name: str, where: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(column) and not column.isna().any():
        return column.astype(bool)
    text = column.astype("str").str.strip().str.lower()
    known = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}
    unknown = ~text.isin(list(known))
    if unknown.any():
        raise LoiError(f"{where}column {name!r} must hold true/false, got {column[unknown].iloc[0]!r}")
    return text.map(known).astype(bool)


_CONVERT = {"str": _as_str, "float": _as_float, "int": _as_int, "bool": _as_bool}


def validate_table(table: pd.DataFrame, *, source: str | None = None) -> pd.DataFrame:
    """Check a reward table and return a clean copy with canonical dtypes.

    Required columns become ``str`` / ``int64`` / ``float64`` (see
    ``COLUMN_KINDS``); unknown extra columns pass through untouched and the
    index is reset. Raises ``LoiError`` naming the problem (``source`` is
    prefixed to the message, e.g. the file name): missing columns, NaN/inf
    returns, a co-player with no episodes, non-numeric returns, an empty table.
    """
    where = _where(source)
    if not isinstance(table, pd.DataFrame):
        raise LoiError(f"{where}expected a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise LoiError(f"{where}missing required column(s): {', '.join(missing)}")
    if table.columns.duplicated().any():
        dup = table.columns[table.columns.duplicated()][0]
        raise LoiError(f"{where}duplicate column {dup!r}")
    if len(table) == 0:
        raise LoiError(f"{where}the table has no rows")
    clean = table.reset_index(drop=True).copy()
    for name, kind in COLUMN_KINDS.items():
        if name in clean.columns:
            clean[name] = _CONVERT[kind](clean[name], name, where)
    _check_unique_episodes(clean, where)
    return clean


def _check_unique_episodes(table: pd.DataFrame, where: str) -> None:
    key = [c for c in EPISODE_KEY if c in table.columns]
    packed = np.zeros(len(table), dtype=np.int64)
    for column in key:  # mixed-radix code of the key; rows are unique iff their codes are
        codes, uniques = pd.factorize(table[column])
        if (len(uniques) + 1) * float(packed.max(initial=0) + 1) >= 2.0**62:
            packed = pd.factorize(pd.MultiIndex.from_arrays([packed, codes]))[0].astype(np.int64)
        else:
            packed = packed * len(uniques) + codes
    order = np.argsort(packed, kind="stable")
    repeated = np.flatnonzero(packed[order][1:] == packed[order][:-1])
    if len(repeated):
        # Equal keys keep table order (stable sort): the later row of each equal pair is a repeat.
        first = int(order[repeated + 1].min())
        earlier = int(np.flatnonzero(packed == packed[first])[0])
        values = (table[c].iloc[first] for c in key)
        label = ", ".join(f"{c}={v.item() if isinstance(v, np.generic) else v!r}" for c, v in zip(key, values))
        raise LoiError(f"{where}duplicate episode ({label}) at rows {earlier} and {first}; "
                       f"{len(repeated)} row(s) repeat the key ({', '.join(key)}) of an earlier row")


def block_labels(table: pd.DataFrame) -> np.ndarray:
    """Integer block of every row for the LoI: the ego, refined by
    ``coplayer_seed`` (the paper's ego checkpoint x co-player seed blocks) and
    by ``regime`` (egos of different regimes are different agents) when those
    columns exist. Codes follow the sorted order of the (regime, ego, seed) labels."""
    packed = np.zeros(len(table), dtype=np.int64)
    for column in (REGIME, EGO, COPLAYER_SEED):
        if column in table.columns:
            codes, uniques = pd.factorize(table[column], sort=True)
            packed = packed * len(uniques) + codes  # lexicographic order of the label tuples
    return pd.factorize(packed, sort=True)[0].astype(np.int64)
