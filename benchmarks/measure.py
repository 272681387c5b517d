"""Seconds of ``measure_table`` on a 10^6-row table (1000 permutations + 1000 bootstrap), against
scikit-learn's ``mutual_info_classif`` doing the same work, measured in the same run.

Two tables of ~10^6 rows (the loop over scenarios is the only Python loop):

* ``issue``: 100 scenarios x 1 block x 10 co-players x 1000 episodes (the table of issue 14);
  the default interval is then the episode (half-sample) bootstrap;
* ``paper``: 100 scenarios x 20 blocks x 9 co-players x 55 episodes (the paper's blocks, more
  episodes); the default interval is then the cluster bootstrap over the 20 blocks.

Each estimator runs three ways: one process; ``--workers`` threads over scenarios
(``measure_table(workers=N)``: the compiled kernels release the GIL); one process with the kNN
kernels' numba ``prange`` loops over resamples (knn only); each line's ratio is to the first of
``--modes``. The scikit-learn baseline is the same resampling done with ``mutual_info_classif``
(kNN MI of a continuous feature and a class label, Ross 2014 as well): a few permutations (n
rows) and half-samples (n/2 rows) of one scenario, timed and scaled to the whole table's
100 x (1000 + 1000) estimates. Also prints CPU seconds and the peak resident memory.

    python benchmarks/measure.py                                  # both tables, all estimators
    python benchmarks/measure.py --tables issue --scenarios 20    # a fifth of the issue table
    python benchmarks/measure.py --tables issue --round 1         # integer returns (ties)
    python benchmarks/measure.py --tables issue --estimators knn --modes workers   # the README's figure
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import time
from functools import partial

import numpy as np
import pandas as pd

from loi.metrics import DEFAULT_ESTIMATOR, ESTIMATORS, kernels
from loi.metrics.table import measure_table

SHAPES = {"issue": (1, 10, 1000), "paper": (20, 9, 55)}  # blocks, co-players, episodes per scenario


def synthetic_table(scenarios: int, shape: str = "issue", seed: int = 0) -> pd.DataFrame:
    """A long reward table; returns on [0, 100] with co-player means drawn per block."""
    blocks, coplayers, episodes = SHAPES[shape]
    rng = np.random.default_rng(seed)
    block, coplayer, episode = np.indices((blocks, coplayers, episodes)).reshape(3, -1)
    frames = []
    for s in range(scenarios):
        means = rng.uniform(30, 70, size=(blocks, coplayers))
        frames.append(pd.DataFrame({
            "scenario": f"s{s:03d}", "ego": np.char.add("ego", block.astype(str)),
            "coplayer": np.char.add("c", coplayer.astype(str)), "episode": episode,
            "ego_return": np.clip(rng.normal(means[block, coplayer], 8.0), 0, 100),
        }))
    return pd.concat(frames, ignore_index=True)


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux)


def timed(function) -> tuple[float, float, object]:
    start, start_cpu = time.perf_counter(), cpu_seconds()
    out = function()
    return time.perf_counter() - start, cpu_seconds() - start_cpu, out


def sklearn_seconds(table: pd.DataFrame, scenarios: int, permutations: int, bootstrap: int, draws: int) -> float:
    """mutual_info_classif on ``draws`` permutations and half-samples of the first block of the
    first scenario, scaled to every block of every scenario."""
    from sklearn.feature_selection import mutual_info_classif

    first = table[(table["scenario"] == table["scenario"].iloc[0]) & (table["ego"] == table["ego"].iloc[0])]
    returns, labels = first["ego_return"].to_numpy()[:, None], first["coplayer"].to_numpy()
    blocks = table.groupby("scenario")["ego"].nunique().iloc[0]
    rng = np.random.default_rng(0)
    call = partial(mutual_info_classif, discrete_features=False, n_neighbors=3, random_state=0)
    start = time.perf_counter()
    for _ in range(draws):
        call(returns, rng.permutation(labels))
    per_permutation = (time.perf_counter() - start) / draws
    start = time.perf_counter()
    for _ in range(draws):
        half = rng.permutation(len(labels))[: len(labels) // 2]
        call(returns[half], labels[half])
    per_half_sample = (time.perf_counter() - start) / draws
    # The cluster bootstrap (>= 5 blocks) resamples block estimates: no kNN work.
    bootstrap_work = bootstrap * per_half_sample if blocks < 5 else 0.0
    return scenarios * blocks * (permutations * per_permutation + bootstrap_work)


@contextlib.contextmanager
def kernels_parallel(parallel: bool):
    """Within: the knn kernels' resampling entry points run their numba ``prange`` loops."""
    saved = kernels.null_statistics, kernels.half_sample_statistics
    if parallel:
        kernels.null_statistics = partial(saved[0], parallel=True)
        kernels.half_sample_statistics = partial(saved[1], parallel=True)
    try:
        yield
    finally:
        kernels.null_statistics, kernels.half_sample_statistics = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=100)
    parser.add_argument("--tables", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), choices=ESTIMATORS)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="threads of the 'workers' mode")
    parser.add_argument("--sklearn-draws", type=int, default=5, help="scikit-learn calls timed, then scaled")
    parser.add_argument("--modes", nargs="+", default=["1 process", "workers", "numba prange"],
                        choices=["1 process", "workers", "numba prange"])
    parser.add_argument("--round", type=float, default=0.0, metavar="STEP",
                        help="round returns to multiples of STEP: tied returns, as games with discrete rewards give")
    args = parser.parse_args()
    common = dict(permutations=args.permutations, bootstrap=args.bootstrap, seed=0)
    # Compile (or load the cached) kernels outside the timings.
    for estimator in args.estimators:
        for parallel in (False, True) if "numba prange" in args.modes and estimator == "knn" else (False,):
            with kernels_parallel(parallel):
                measure_table(synthetic_table(1, "issue"), estimator=estimator, permutations=2, bootstrap=2)
    for shape in args.tables:
        table = synthetic_table(args.scenarios, shape)
        if args.round:
            table["ego_return"] = np.round(table["ego_return"] / args.round) * args.round
        blocks, coplayers, episodes = SHAPES[shape]
        rounded = f", returns rounded to multiples of {args.round:g}" if args.round else ""
        print(f"[{shape}] {len(table):,} rows ({args.scenarios} scenarios x {blocks} blocks x {coplayers} co-players"
              f" x {episodes} episodes), {args.permutations} permutations + {args.bootstrap} bootstrap{rounded}",
              flush=True)
        seconds, labels = {}, {}
        for estimator in args.estimators:
            reference = None
            for mode in args.modes:
                if mode == "numba prange" and estimator != "knn":
                    continue
                run = partial(measure_table, table, estimator=estimator, **common)
                label = mode
                if mode == "workers":
                    run = partial(run, workers=args.workers)
                    label = f"{args.workers} threads"
                with kernels_parallel(mode == "numba prange"):
                    wall, cpu, results = timed(run)
                if reference is None:
                    reference = results
                else:  # every way gives the same numbers
                    assert all(results[s].statistic == reference[s].statistic and
                               results[s].null_mean == reference[s].null_mean for s in reference), mode
                seconds[(estimator, mode)], labels[mode] = wall, label
                base = seconds[(estimator, args.modes[0])]
                print(f"  {estimator:<13} {label:<13} {wall:8.2f} s wall ({cpu:7.2f} s CPU)  "
                      f"{len(table) / wall:10,.0f} rows/s  {base / wall:5.2f}x {labels[args.modes[0]]}", flush=True)
        if "knn" in args.estimators:
            scaled = sklearn_seconds(table, args.scenarios, args.permutations, args.bootstrap, args.sklearn_draws)
            best = min(v for (e, _), v in seconds.items() if e == "knn")
            print(f"  scikit-learn mutual_info_classif, same work (scaled from {args.sklearn_draws} + "
                  f"{args.sklearn_draws} calls): {scaled:9.1f} s -> knn here is {scaled / best:6.1f}x faster "
                  f"(fastest way, {DEFAULT_ESTIMATOR} default)", flush=True)
    print(f"peak resident memory {peak_gb():.2f} GiB")


if __name__ == "__main__":
    main()
