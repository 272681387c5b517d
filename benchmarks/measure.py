"""Throughput of level_of_influence on a 10^6-row table (1000 permutations + 1000 bootstrap).

100 scenarios x 20 blocks x 9 co-players x 55 episodes = 990,000 rows; one level_of_influence
call per scenario (the loop over scenarios is the only Python loop). Prints seconds and rows/s
per estimator, and the ratio to the default estimator measured in the same run.

    python benchmarks/measure.py                       # all estimators, all 100 scenarios
    python benchmarks/measure.py --estimators knn --scenarios 10   # a tenth of the table
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from loi.metrics import DEFAULT_ESTIMATOR, ESTIMATORS, level_of_influence

BLOCKS, COPLAYERS, EPISODES = 20, 9, 55


def synthetic_table(scenarios: int, seed: int = 0):
    """One (returns, coplayer, block) triple per scenario; returns on [0, 100]."""
    rng = np.random.default_rng(seed)
    block, coplayer, _ = np.indices((BLOCKS, COPLAYERS, EPISODES)).reshape(3, -1)
    tables = []
    for _ in range(scenarios):
        means = rng.uniform(30, 70, size=(BLOCKS, COPLAYERS))
        returns = np.clip(rng.normal(means[block, coplayer], 8.0), 0, 100)
        tables.append((returns, coplayer, block))
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=100)
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), choices=ESTIMATORS)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    tables = synthetic_table(args.scenarios)
    rows = sum(len(t[0]) for t in tables)
    print(f"{rows:,} rows ({args.scenarios} scenarios x {BLOCKS} blocks x {COPLAYERS} co-players x {EPISODES} episodes), "
          f"{args.permutations} permutations + {args.bootstrap} bootstrap")
    # Wall time is what a user waits; CPU time of this process is also printed because a shared
    # machine inflates wall time (numpy here is single-threaded, so CPU <= wall when alone).
    seconds, cpu = {}, {}
    for estimator in args.estimators:
        start, start_cpu = time.perf_counter(), time.process_time()
        for returns, coplayer, block in tables:
            level_of_influence(returns, coplayer, block, estimator=estimator,
                               permutations=args.permutations, bootstrap=args.bootstrap)
        seconds[estimator] = time.perf_counter() - start
        cpu[estimator] = time.process_time() - start_cpu
    reference = seconds.get(DEFAULT_ESTIMATOR)
    for estimator, elapsed in seconds.items():
        ratio = f"  {elapsed / reference:5.2f}x the default ({DEFAULT_ESTIMATOR})" if reference else ""
        print(f"{estimator:<14} {elapsed:8.2f} s wall ({cpu[estimator]:7.2f} s CPU)  "
              f"{rows / elapsed:10,.0f} rows/s{ratio}")


if __name__ == "__main__":
    main()
