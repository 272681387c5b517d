"""``icc``: ICC(1), the intraclass correlation of the ego's returns within co-player, with its F-test.

One-way random-effects model, co-player nested within block (ego x co-player seed x regime): the
between- and within-co-player sums of squares are pooled over blocks, MSB = SSB / sum(C_b - 1),
MSW = SSW / sum(N_b - C_b), and

    ICC(1) = (MSB - MSW) / (MSB + (n0 - 1) MSW),   n0 = sum_b (N_b - sum_c n_bc^2 / N_b) / sum_b (C_b - 1)

(n0 is the co-players' mean episode count, adjusted for unequal counts; with one block this is the
textbook ICC(1) of Shrout & Fleiss 1979). F = MSB / MSW tests ICC = 0 (p from F(dfB, dfW)); the
interval is the F-based one (exact for normal returns and equal counts):
F_L = F / F_{1-a/2}(dfB, dfW), F_U = F * F_{1-a/2}(dfW, dfB), ICC = (F_X - 1) / (F_X + n0 - 1).
ICC(1) estimates var(co-player effect) / (var(effect) + var(episode)), is about unbiased at 0 and
can be negative; it has no permutation null.
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from loi.metrics.interaction.groups import scenario_blocks
from loi.metrics.interaction.registry import TABLE, InteractionMetric, register
from loi.metrics.result import ConfidenceInterval, MetricResult

NAME = "icc"


def icc_from_mean_squares(msb: float, msw: float, n0: float) -> float:
    if msw == 0.0:
        return 1.0 if msb > 0 else float("nan")
    return float((msb - msw) / (msb + (n0 - 1.0) * msw))


def measure(rows, *, confidence: float = 0.95, **_options) -> dict[str, MetricResult]:
    blocks = scenario_blocks(rows, NAME)
    between = within = df_between = df_within = n0_sum = 0.0
    for b in blocks:
        ssb, ssw = b.sums_of_squares()
        between, within = between + float(ssb), within + float(ssw)
        df_between += b.groups - 1
        df_within += b.n - b.groups
        n0_sum += b.n - float((b.sizes.astype(np.float64) ** 2).sum()) / b.n
    msb, msw, n0 = between / df_between, within / df_within, n0_sum / df_between
    statistic = icc_from_mean_squares(msb, msw, n0)
    note = ""
    if msw > 0:
        f = msb / msw
        pvalue = float(scipy.stats.f.sf(f, df_between, df_within))
        tail = 1.0 - (1.0 - confidence) / 2.0
        f_low = f / scipy.stats.f.ppf(tail, df_between, df_within)
        f_high = f * scipy.stats.f.ppf(tail, df_within, df_between)
        interval = ConfidenceInterval(float((f_low - 1) / (f_low + n0 - 1)), float((f_high - 1) / (f_high + n0 - 1)))
    elif msb > 0:  # every co-player's episodes identical, co-players differ: perfectly explained
        pvalue, interval, note = 0.0, ConfidenceInterval(1.0, 1.0), "no within-co-player variance"
    else:
        pvalue, interval, note = float("nan"), ConfidenceInterval(float("nan"), float("nan")), "constant returns"
    return {NAME: MetricResult(NAME, statistic, interval, float("nan"), pvalue, sum(b.n for b in blocks),
                               len(blocks), f"F-test (df {int(df_between)}, {int(df_within)}); F-based interval",
                               note)}


METRIC = register(InteractionMetric(
    name=NAME, needs=TABLE, outputs=(NAME,), measure=measure,
    description="ICC(1): share of return variance due to a random co-player effect (one-way random effects, "
                "co-player nested in block), F-test and F-based interval",
))
