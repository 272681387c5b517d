"""``eta2``: the share of the ego's return variance explained by co-player identity.

Per block, eta^2 = SS_between / SS_total of the ego's returns grouped by co-player (the sample
eta^2 of a one-way ANOVA), averaged over blocks with equal weights as the LoI is. A block whose
returns are all equal has nothing to explain and counts as 0. Like a plug-in MI, eta^2 is biased
up at small samples (E = (C - 1) / (N - 1) under independence), so the permutation null (co-player
labels shuffled within block) gives its null mean and the null-corrected value, and the p-value
for eta^2 > 0. Interval: the cluster bootstrap-t over blocks with 5 or more blocks
(``estimators.block_bootstrap_interval``), else the episode bootstrap within co-player, re-centred
on the estimate (``estimators.bootstrap_interval``, ``"centered"``).
"""

from __future__ import annotations

import numpy as np

from loi.metrics.estimators import (MIN_BLOCKS_FOR_CLUSTER_BOOTSTRAP, NAN_INTERVAL, block_bootstrap_interval,
                                    bootstrap_interval)
from loi.metrics.interaction.groups import Block, draws, scenario_blocks
from loi.metrics.interaction.registry import TABLE, InteractionMetric, register
from loi.metrics.result import MetricResult

NAME = "eta2"


def block_eta2(block: Block, values: np.ndarray | None = None) -> np.ndarray:
    between, within = block.sums_of_squares(values)
    total = between + within
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, between / np.where(total > 0, total, 1.0), 0.0)


def _resampled(blocks: list[Block], draw, size: int) -> np.ndarray:
    """Mean over blocks of eta^2 of ``size`` resampled blocks (``draw(block, rng, n)``)."""
    out = np.zeros(size)
    for block in blocks:
        done = 0
        for chunk in draws(size, block.n):
            out[done:done + chunk] += block_eta2(block, draw(block, chunk))
            done += chunk
    return out / len(blocks)


def measure(rows, *, permutations: int = 1000, bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0,
            **_options) -> dict[str, MetricResult]:
    blocks = scenario_blocks(rows, NAME)
    block_values = np.array([float(block_eta2(b)) for b in blocks])
    statistic = float(block_values.mean())
    null_seed, bootstrap_seed = np.random.SeedSequence(seed).spawn(2)
    null_mean = pvalue = float("nan")
    if permutations:
        rng = np.random.default_rng(null_seed)
        null = _resampled(blocks, lambda b, n: b.permuted(rng, n), permutations)
        null_mean = float(null.mean())
        pvalue = float((1 + np.count_nonzero(null >= statistic - 1e-12 * max(1.0, statistic))) / (1 + permutations))
    interval, interval_method = NAN_INTERVAL, ""
    if bootstrap:
        rng = np.random.default_rng(bootstrap_seed)
        if len(blocks) >= MIN_BLOCKS_FOR_CLUSTER_BOOTSTRAP:
            interval = block_bootstrap_interval(block_values, bootstrap, confidence, rng)
            interval_method = "cluster bootstrap-t over blocks"
        else:
            replicates = _resampled(blocks, lambda b, n: b.bootstrapped(rng, n), bootstrap)
            interval = bootstrap_interval(statistic, replicates, confidence, "centered")
            interval_method = "episode bootstrap (centered)"
    method = "; ".join(filter(None, [interval_method, "permutation p" if permutations else ""]))
    return {NAME: MetricResult(NAME, statistic, interval, null_mean, pvalue, sum(b.n for b in blocks), len(blocks),
                               method)}


METRIC = register(InteractionMetric(
    name=NAME, needs=TABLE, outputs=(NAME,), measure=measure,
    description="share of the ego's return variance explained by co-player identity (SS_between / SS_total, "
                "per block, averaged), null-corrected by permutation",
))
