"""The benefit over SP split by the kind of held-out Bob (loi.pipeline.statistics.partner_benefit_table),
on a hand-built tournament: every SP ego scores 10 + o with the two held-out SP seeds and 2 + o with
the bot, every fcp2 ego 10 + o and 6 + o (o = -1, 0, +1 per ego). So with SP seeds the benefit is 0,
with the bot (6 / 2 - 1) / 2 = 1, pooled over the three Bobs (26/3 / (22/3) - 1) / 2 = 1/11."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loi.errors import LoiError
from loi.pipeline.evaluate import partner_kinds
from loi.pipeline.statistics import PARTNER_KIND, partner_benefit_table

SEEDS, BOT = ("heldout/seed_0/member_0/gen_002", "heldout/seed_1/member_0/gen_002"), "bots:specialist?target=2"


def _tournament() -> pd.DataFrame:
    rows = []
    for regime, with_bot in (("sp", 2.0), ("fcp2", 6.0)):
        for i, offset in enumerate((-1.0, 0.0, 1.0)):
            for bob in (*SEEDS, BOT):
                for episode in range(4):
                    value = (with_bot if bob == BOT else 10.0) + offset
                    rows.append({"scenario": "matrix/pure_coordination_3x3", "regime": regime,
                                 "ego": f"{regime}/seed_{i}", "coplayer": bob, "episode": episode,
                                 "ego_return": value})
    table = pd.DataFrame(rows)
    table[PARTNER_KIND] = partner_kinds(table["coplayer"])
    return table


def test_benefit_per_partner_kind_and_pooled_closed_form() -> None:
    table = partner_benefit_table(_tournament()).set_index(PARTNER_KIND)
    assert list(table.index) == ["bots", "sp_seeds", "pooled"] and set(table["regime"]) == {"fcp2"}
    assert table["bobs"].to_dict() == {"bots": 1, "sp_seeds": 2, "pooled": 3}
    assert table.loc["sp_seeds", "benefit"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["bots", "benefit"] == pytest.approx(1.0)
    assert table.loc["pooled", "benefit"] == pytest.approx(1 / 11)
    # Raw benefit and Welch's interval over the egos' means (3 egos a regime), halved.
    for kind, sp_means, fcp_means in (("bots", [1, 2, 3], [5, 6, 7]), ("pooled", [19 / 3, 22 / 3, 25 / 3],
                                                                        [23 / 3, 26 / 3, 29 / 3])):
        ci = stats.ttest_ind(fcp_means, sp_means, equal_var=False).confidence_interval(0.95)
        assert table.loc[kind, "benefit_raw"] == pytest.approx((np.mean(fcp_means) - np.mean(sp_means)) / 2)
        assert table.loc[kind, ["benefit_raw_ci_low", "benefit_raw_ci_high"]].tolist() == \
            pytest.approx([ci.low / 2, ci.high / 2])
    for kind in ("bots", "sp_seeds", "pooled"):  # the normalised benefit's (Fieller) interval holds its estimate
        low, high = table.loc[kind, ["benefit_ci_low", "benefit_ci_high"]]
        assert low < table.loc[kind, "benefit"] + 1e-12 and table.loc[kind, "benefit"] - 1e-12 < high
    assert (table["egos"] == 3).all() and (table["reference_egos"] == 3).all()


def test_a_tournament_without_partner_kinds_is_refused() -> None:
    with pytest.raises(LoiError, match="partner_kind"):
        partner_benefit_table(_tournament().drop(columns=[PARTNER_KIND]))
