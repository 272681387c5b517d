"""Accuracy of the LoI estimators against the true mutual information.

Synthetic scenarios with a known I(R; Pi): R | Pi=c ~ N(mu_c, sigma_c^2), Pi uniform over 9
co-players, true MI by numerical integration (h(mixture) - mean_c h(N(mu_c, sigma_c^2))).
Blocks as in the paper (20 blocks, each with its own draw); each replicate draws a new scenario
table. For every estimator we report the bias and RMSE of the raw estimate and of the
null-corrected estimate (raw - permutation-null mean), over replicates.

    python benchmarks/estimator_accuracy.py                 # paper size and 55 episodes
    python benchmarks/estimator_accuracy.py --replicates 5  # quicker
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import integrate, stats

from loi.metrics import ESTIMATORS, level_of_influence

COPLAYERS = 9
BLOCKS = 20


def scenarios() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (means, sds) of the 9 co-players' return distributions (returns on ~[0, 100])."""
    offsets = np.arange(COPLAYERS) - (COPLAYERS - 1) / 2
    return {
        "independent": (np.full(COPLAYERS, 50.0), np.full(COPLAYERS, 10.0)),
        "weak (shift 1)": (50 + 1.0 * offsets, np.full(COPLAYERS, 10.0)),
        "medium (shift 3)": (50 + 3.0 * offsets, np.full(COPLAYERS, 10.0)),
        "strong (shift 8)": (50 + 8.0 * offsets, np.full(COPLAYERS, 6.0)),
        "spread (sd 2..10)": (np.full(COPLAYERS, 50.0), np.linspace(2.0, 10.0, COPLAYERS)),
    }


def true_mi(means: np.ndarray, sds: np.ndarray) -> float:
    def integrand(x):
        f = stats.norm.pdf(x, means, sds).mean()
        return -f * np.log(f) if f > 0 else 0.0

    low, high = (means - 12 * sds).min(), (means + 12 * sds).max()
    mixture, _ = integrate.quad(integrand, low, high, limit=500, points=sorted(set(means.tolist())))
    conditional = np.mean(0.5 * np.log(2 * np.pi * np.e * sds**2))
    return mixture - conditional


def run(episodes: int, replicates: int, permutations: int) -> list[tuple]:
    rows = []
    block, coplayer, _ = np.indices((BLOCKS, COPLAYERS, episodes)).reshape(3, -1)
    for name, (means, sds) in scenarios().items():
        truth = true_mi(means, sds)
        raw = {e: [] for e in ESTIMATORS}
        corrected = {e: [] for e in ESTIMATORS}
        for replicate in range(replicates):
            rng = np.random.default_rng(replicate)
            returns = rng.normal(means[coplayer], sds[coplayer])
            for estimator in ESTIMATORS:
                result = level_of_influence(
                    returns, coplayer, block, estimator=estimator,
                    permutations=permutations, bootstrap=0, seed=replicate,
                )
                raw[estimator].append(result.statistic)
                corrected[estimator].append(result.corrected)
        for estimator in ESTIMATORS:
            for kind, values in (("raw", raw[estimator]), ("corrected", corrected[estimator])):
                error = np.asarray(values) - truth
                rows.append((episodes, name, truth, f"{estimator} {kind}", error.mean(), np.sqrt((error**2).mean())))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, nargs="+", default=[6, 55], help="episodes per co-player per block")
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--permutations", type=int, default=100, help="null draws for the corrected value")
    args = parser.parse_args()
    start = time.perf_counter()
    summary: dict[tuple[int, str], list[float]] = {}
    print(f"{COPLAYERS} co-players x {BLOCKS} blocks, {args.replicates} replicates, {args.permutations} permutations")
    print(f"{'episodes':>8}  {'scenario':<18} {'true MI':>7}  {'estimator':<24} {'bias':>7} {'RMSE':>7}")
    for episodes in args.episodes:
        for n, name, truth, estimator, bias, rmse in run(episodes, args.replicates, args.permutations):
            print(f"{n:>8}  {name:<18} {truth:7.3f}  {estimator:<24} {bias:7.3f} {rmse:7.3f}")
            summary.setdefault((n, estimator), []).append(rmse)
    print("\nRMSE averaged over scenarios:")
    for (n, estimator), rmses in sorted(summary.items(), key=lambda item: (item[0][0], np.mean(item[1]))):
        print(f"{n:>8}  {estimator:<24} {np.mean(rmses):7.3f}")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
