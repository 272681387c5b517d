"""loi.tables.curves: a regime's training-return change between two generations, on hand-built curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loi.errors import LoiError
from loi.tables.curves import curve_return_change


def _curves(changes: list[float], generations: int = 4, updates: int = 3) -> pd.DataFrame:
    # Member m's return per step is 1.0 in every update before the last generation, 1 + changes[m] in it.
    rows = []
    for member, change in enumerate(changes):
        for generation in range(generations):
            for update in range(updates):
                value = 1.0 + (change if generation == generations - 1 else 0.0)
                rows.append({"scenario": "chicken/small", "regime": "pp3", "seed": 0, "member": member,
                             "generation": generation, "update": update, "mean_return_per_step": value})
    return pd.DataFrame(rows)


def test_the_change_is_per_member_with_a_t_interval_over_members() -> None:
    changes = [0.1, 0.2, 0.4]
    row = curve_return_change(_curves(changes), 0, 3).iloc[0]
    assert (row["members"], row["return_early"]) == (3, pytest.approx(1.0))
    assert row["return_late"] == pytest.approx(1 + np.mean(changes))
    assert row["change"] == pytest.approx(np.mean(changes))
    low, high = stats.t.interval(0.95, 2, np.mean(changes), stats.sem(changes))
    assert (row["change_ci_low"], row["change_ci_high"]) == (pytest.approx(low), pytest.approx(high))


def test_curves_that_end_too_early_or_lack_columns_are_refused() -> None:
    with pytest.raises(LoiError, match="end at generation 3, before 9"):
        curve_return_change(_curves([0.1, 0.2]), 0, 9)
    with pytest.raises(LoiError, match="member"):
        curve_return_change(_curves([0.1, 0.2]).drop(columns="member"), 0, 3)


def test_a_commented_csv_reads_back_with_its_comment_line(tmp_path) -> None:
    from loi.tables.io import write_commented_csv

    table = pd.DataFrame({"scenario": ["a", "b"], "change": [0.5, -0.25]})
    path = write_commented_csv(table, tmp_path / "t.csv", "made by a test")
    assert path.read_text().splitlines()[0] == "# made by a test"
    pd.testing.assert_frame_equal(pd.read_csv(path, comment="#"), table)
