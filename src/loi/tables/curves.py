"""loi's own learning curves (a training run's ``curves.parquet``): how a regime's training
return moved between two generations, in the shape of :func:`loi.tables.authors_logs.return_change`
so that loi's learners and the authors' read side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from loi.errors import LoiError

# The per-update columns of a curves table that this reads (loi.training's curve rows).
UNIT = ("seed", "member")
VALUE = "mean_return_per_step"


def curve_return_change(curves: pd.DataFrame, early: int, late: int, *, value: str = VALUE,
                        confidence: float = 0.95) -> pd.DataFrame:
    """Per (scenario, regime) of ``curves``: ``value`` averaged over each trained member's
    updates in generation ``early`` and in ``late`` (0-based), the change per member and its t
    interval over members (a member of one seed is one unit; every member of a PP population
    trains). Columns: scenario, regime, members, return_early, return_late, change,
    change_ci_low, change_ci_high."""
    missing = sorted({"scenario", "regime", "generation", value, *UNIT} - set(curves.columns))
    if missing:
        raise LoiError(f"a curves table needs the columns {', '.join(missing)}")
    rows = []
    for (scenario, regime), group in curves.groupby(["scenario", "regime"], sort=True):
        if group["generation"].max() < late:
            raise LoiError(f"{scenario} {regime}: the curves end at generation {int(group['generation'].max())}, "
                           f"before {late}")
        per_unit = group.groupby([*UNIT, "generation"])[value].mean().unstack("generation")
        change = (per_unit[late] - per_unit[early]).to_numpy(dtype=float)
        change = change[np.isfinite(change)]
        low = high = np.nan
        if change.size >= 2 and np.ptp(change) > 0:
            low, high = stats.t.interval(confidence, change.size - 1, change.mean(), stats.sem(change))
        rows.append({"scenario": scenario, "regime": regime, "members": int(change.size),
                     "return_early": float(per_unit[early].mean()), "return_late": float(per_unit[late].mean()),
                     "change": float(change.mean()) if change.size else np.nan,
                     "change_ci_low": float(low), "change_ci_high": float(high)})
    return pd.DataFrame(rows)


__all__ = ["curve_return_change"]
