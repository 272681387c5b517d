"""Reward tables: the long-format schema, loaders (Parquet, CSV, the authors'
NPZ tensors) and atomic writes. Plain numpy/pandas; never imports JAX."""

from loi.tables.io import atomic_write, check_writable, read_table, write_table
from loi.tables.npz import (
    AUTHORS_MENU,
    PP3,
    PP5,
    SP5,
    cross_play_table,
    parse_cross_play_name,
    parse_tournament_name,
    read_npz,
    tournament_table,
)
from loi.tables.schema import (
    COLUMN_KINDS,
    COPLAYER,
    COPLAYER_CHECKPOINT,
    COPLAYER_RETURN,
    COPLAYER_SEED,
    EGO,
    EGO_CHECKPOINT,
    EGO_RETURN,
    EPISODE,
    EPISODE_KEY,
    EVAL_SEED,
    OPTIONAL_COLUMNS,
    OWN_PARTNER,
    REGIME,
    REQUIRED_COLUMNS,
    SCENARIO,
    block_labels,
    validate_table,
)
from loi.tables.scores import SCORE, fixed_bob_scores

__all__ = [
    "AUTHORS_MENU", "COLUMN_KINDS", "COPLAYER", "COPLAYER_CHECKPOINT", "COPLAYER_RETURN", "COPLAYER_SEED", "EGO",
    "EGO_CHECKPOINT", "EGO_RETURN", "EPISODE", "EPISODE_KEY", "EVAL_SEED", "OPTIONAL_COLUMNS", "OWN_PARTNER", "PP3",
    "PP5", "REGIME", "REQUIRED_COLUMNS", "SCENARIO", "SCORE", "SP5", "atomic_write", "check_writable", "block_labels", "cross_play_table",
    "fixed_bob_scores", "parse_cross_play_name", "parse_tournament_name", "read_npz", "read_table", "tournament_table",
    "validate_table", "write_table",
]
