"""Throughput of level_of_influence on a 10^6-row table (1000 permutations + 1000 bootstrap).

Two shapes of ~990,000 rows, one level_of_influence call per scenario (the loop over scenarios
is the only Python loop; ``--workers 2`` runs scenarios in a thread pool, numpy releases the
GIL in its heavy kernels):

* ``paper``: 100 scenarios x 20 blocks x 9 co-players x 55 episodes (the paper's blocks, more
  episodes); the default interval is then the cluster bootstrap over the 20 blocks;
* ``large``: 100 scenarios x 1 block x 9 co-players x 1100 episodes; the default interval is
  then the basic episode bootstrap.

Prints wall seconds, CPU seconds of the process and rows/s per estimator and shape, and the
ratio to the default estimator measured in the same run. ``--scenarios`` times a subset (the
printed rows/s are per row actually processed).

    python benchmarks/measure.py                                   # both shapes, all estimators
    python benchmarks/measure.py --estimators knn --scenarios 10   # a tenth of the table
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from loi.metrics import DEFAULT_ESTIMATOR, ESTIMATORS, level_of_influence

SHAPES = {"paper": (20, 9, 55), "large": (1, 9, 1100)}  # blocks, co-players, episodes per scenario


def synthetic_table(scenarios: int, shape: str = "paper", seed: int = 0):
    """One (returns, coplayer, block) triple per scenario; returns on [0, 100]."""
    blocks, coplayers, episodes = SHAPES[shape]
    rng = np.random.default_rng(seed)
    block, coplayer, _ = np.indices((blocks, coplayers, episodes)).reshape(3, -1)
    tables = []
    for _ in range(scenarios):
        means = rng.uniform(30, 70, size=(blocks, coplayers))
        returns = np.clip(rng.normal(means[block, coplayer], 8.0), 0, 100)
        tables.append((returns, coplayer, block))
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=100)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), choices=ESTIMATORS)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--ci-method", default="auto")
    parser.add_argument("--workers", type=int, default=1, help="threads running scenarios concurrently")
    args = parser.parse_args()
    # Wall time is what a user waits; CPU time of this process is also printed because a shared
    # machine inflates wall time.
    for shape in args.shapes:
        tables = synthetic_table(args.scenarios, shape)
        rows = sum(len(t[0]) for t in tables)
        blocks, coplayers, episodes = SHAPES[shape]
        print(f"[{shape}] {rows:,} rows ({args.scenarios} scenarios x {blocks} blocks x {coplayers} co-players x "
              f"{episodes} episodes), {args.permutations} permutations + {args.bootstrap} bootstrap, "
              f"ci_method={args.ci_method}, {args.workers} worker(s)")

        def one(table, estimator):
            returns, coplayer, block = table
            return level_of_influence(returns, coplayer, block, estimator=estimator, permutations=args.permutations,
                                      bootstrap=args.bootstrap, ci_method=args.ci_method)

        seconds, cpu = {}, {}
        for estimator in args.estimators:
            start, start_cpu = time.perf_counter(), time.process_time()
            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(one, tables, [estimator] * len(tables)))
            seconds[estimator] = time.perf_counter() - start
            cpu[estimator] = time.process_time() - start_cpu
        reference = seconds.get(DEFAULT_ESTIMATOR)
        for estimator, elapsed in seconds.items():
            ratio = f"  {elapsed / reference:5.2f}x the default ({DEFAULT_ESTIMATOR})" if reference else ""
            print(f"  {estimator:<14} {elapsed:8.2f} s wall ({cpu[estimator]:7.2f} s CPU)  "
                  f"{rows / elapsed:10,.0f} rows/s{ratio}", flush=True)


if __name__ == "__main__":
    main()
