"""Coverage of the LoI bootstrap intervals, per estimator x ci_method, by simulation.

R | Pi=c ~ N(mu_c, sd_c^2), 9 co-players, 20 blocks (the paper's layout), a fresh table per
replicate. Each interval's coverage is counted against two targets:

* ``MI``: the true mutual information (numerical integration) -- the estimand of ``knn``;
* ``E[est]``: the estimator's own expectation at this sample size (Monte-Carlo mean of the
  estimate over the replicates) -- the only thing the ``paper`` estimator can target (its bias
  is ~1 nat at the paper's size), and what ``miller-madow`` targets up to its residual bias.

The scenario ``blocks differ`` gives every block its own co-player spread (shift drawn from
{0, 1, ..., 6} per block), so blocks are a sample from a population of ego x seed blocks and the
true MI is the mean over that population; an interval that resamples only episodes within
blocks cannot see that variation.

    python benchmarks/interval_coverage.py                        # paper size, 100 replicates
    python benchmarks/interval_coverage.py --episodes 55 --replicates 40 --estimators knn
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimator_accuracy import BLOCKS, COPLAYERS, scenarios, true_mi  # noqa: E402

from loi.metrics import ESTIMATORS, level_of_influence  # noqa: E402

OFFSETS = np.arange(COPLAYERS) - (COPLAYERS - 1) / 2
BLOCK_SHIFTS = np.arange(7.0)  # "blocks differ": each block draws its shift from these


def designs() -> dict[str, tuple]:
    """name -> (draw(rng, block, coplayer) -> returns, true MI)."""
    out = {}
    picked = ("independent", "medium (shift 3)", "strong (shift 8)", "spread (sd 2..10)")
    for name, (means, sds) in scenarios().items():
        if name in picked:
            out[name] = (lambda rng, block, coplayer, m=means, s=sds: rng.normal(m[coplayer], s[coplayer]),
                         true_mi(means, sds))

    def differ(rng, block, coplayer):
        shift = rng.choice(BLOCK_SHIFTS, size=BLOCKS)
        return rng.normal(50 + shift[block] * OFFSETS[coplayer], 10.0)

    truth = float(np.mean([true_mi(50 + s * OFFSETS, np.full(COPLAYERS, 10.0)) for s in BLOCK_SHIFTS]))
    out["blocks differ"] = (differ, truth)
    return out


def simulate(episodes: int, replicates: int, bootstrap: int, estimators, confidence: float):
    block, coplayer, _ = np.indices((BLOCKS, COPLAYERS, episodes)).reshape(3, -1)
    rows = []
    for name, (draw, truth) in designs().items():
        estimates = {e: [] for e in estimators}
        intervals = {(e, m): [] for e in estimators for m in ("blocks", "centered", "basic", "percentile")}
        for replicate in range(replicates):
            returns = draw(np.random.default_rng(replicate), block, coplayer)
            for estimator in estimators:
                common = dict(estimator=estimator, permutations=0, bootstrap=bootstrap, confidence=confidence,
                              seed=replicate)
                episode = level_of_influence(returns, coplayer, block, ci_method="percentile", **common)
                cluster = level_of_influence(returns, coplayer, block, ci_method="blocks", **common)
                centered = level_of_influence(returns, coplayer, block, ci_method="centered", **common)
                theta, (low, high) = episode.statistic, (episode.confidence_interval.low, episode.confidence_interval.high)
                estimates[estimator].append(theta)
                intervals[(estimator, "percentile")].append((low, high))
                # Same replicates, reversed around the estimate (what ci_method="basic" computes).
                intervals[(estimator, "basic")].append((2 * theta - high, 2 * theta - low))
                intervals[(estimator, "blocks")].append((cluster.confidence_interval.low, cluster.confidence_interval.high))
                intervals[(estimator, "centered")].append((centered.confidence_interval.low,
                                                          centered.confidence_interval.high))
        for (estimator, method), pairs in intervals.items():
            pairs = np.asarray(pairs)
            expected = float(np.mean(estimates[estimator]))
            covers = lambda target: float(np.mean((pairs[:, 0] <= target) & (target <= pairs[:, 1])))  # noqa: E731
            rows.append((episodes, name, truth, expected, estimator, method, covers(truth), covers(expected),
                         float(np.mean(pairs[:, 1] - pairs[:, 0]))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, nargs="+", default=[6], help="episodes per co-player per block")
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), choices=ESTIMATORS)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"{COPLAYERS} co-players x {BLOCKS} blocks, {args.replicates} replicates, {args.bootstrap} bootstrap, "
          f"{args.confidence:.0%} intervals; coverage against the true MI and against E[estimate]")
    print(f"{'episodes':>8}  {'scenario':<18} {'MI':>6} {'E[est]':>6}  {'estimator':<12} {'ci_method':<10} "
          f"{'cov MI':>6} {'cov E':>6} {'width':>6}")
    for episodes in args.episodes:
        for n, name, truth, expected, estimator, method, cov_mi, cov_e, width in simulate(
                episodes, args.replicates, args.bootstrap, args.estimators, args.confidence):
            print(f"{n:>8}  {name:<18} {truth:6.3f} {expected:6.3f}  {estimator:<12} {method:<10} "
                  f"{cov_mi:6.2f} {cov_e:6.2f} {width:6.3f}", flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
