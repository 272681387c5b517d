"""Fixed-Bob generalization scores from a tournament reward table."""

from __future__ import annotations

import pandas as pd

from loi.errors import LoiError
from loi.tables.schema import EGO, EGO_RETURN, EPISODE, REGIME, SCENARIO

SCORE = "score"


def fixed_bob_scores(table: pd.DataFrame) -> pd.DataFrame:
    """One generalization score per (scenario, regime, ego, episode): the ego's
    return averaged over the held-out Bobs first, as the paper does.

    Returns columns ``scenario, regime, ego, episode, score``. Requires the
    ``regime`` column (tournament tables have it).
    """
    if REGIME not in table.columns:
        raise LoiError("a tournament table needs a 'regime' column")
    keys = [SCENARIO, REGIME, EGO, EPISODE]
    scores = table.groupby(keys, sort=True, observed=True)[EGO_RETURN].mean()
    return scores.rename(SCORE).reset_index()
