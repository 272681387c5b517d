"""Milliseconds of the kNN kernels on one scenario of the issue table (10 co-players x 1000
episodes): 1000 relabellings (permutation null) and 1000 half-samples (bootstrap), one process.

With ``--against FILE`` (another version of ``src/loi/metrics/kernels.py``, e.g. from a checkout
of an earlier revision), both versions run on the same values, alternated ``--repeats`` times, and
the script prints the median of the per-pair time ratios (the machine is shared and noisy:
absolute times drift, alternated pairs much less) and the largest difference between their
statistics (the same draws: equal to ~1e-13).

    python benchmarks/knn_kernels.py
    git worktree add /tmp/old b29ff12
    python benchmarks/knn_kernels.py --against /tmp/old/src/loi/metrics/kernels.py
    python benchmarks/knn_kernels.py --against /tmp/old/src/loi/metrics/kernels.py --round 1   # ties
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

from loi.metrics import kernels
from loi.metrics.knn import digamma_table


def load_kernels(path: Path):
    """The module at ``path``, registered under a name fixed by its path: numba's on-disk cache
    refers to the module by name when it loads a compiled function in a later run."""
    name = "kernels_" + hashlib.blake2b(str(path.resolve()).encode(), digest_size=6).hexdigest()
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def scenario(coplayers: int, episodes: int, round_to: float, seed: int = 0):
    """Sorted returns and co-players of one scenario of ``benchmarks/measure.py``'s issue table."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(30, 70, coplayers)
    coplayer = np.repeat(np.arange(coplayers), episodes)
    values = np.clip(rng.normal(means[coplayer], 8.0), 0, 100)
    if round_to:
        values = np.round(values / round_to) * round_to
    order = np.argsort(values, kind="stable")
    return values[order], coplayer[order]


def run(module, values, coplayer, coplayers: int, resamples: int):
    """(null seconds, half-sample seconds, null statistics, half-sample statistics)."""
    psi = digamma_table(len(values))
    sorted_values = module.SortedValues(values)
    slot_class = np.sort(coplayer)
    members = np.argsort(coplayer, kind="stable")
    class_start = np.concatenate([[0], np.cumsum(np.bincount(coplayer, minlength=coplayers))])
    start = time.perf_counter()
    null = module.null_statistics(sorted_values, slot_class, coplayers, 3, psi, 7, resamples)
    middle = time.perf_counter()
    half = module.half_sample_statistics(sorted_values, members, class_start, 3, psi, 7, resamples)
    return middle - start, time.perf_counter() - middle, null, half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another kernels.py to time in the same run")
    parser.add_argument("--coplayers", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--resamples", type=int, default=200, help="per timing (scaled to 1000 in the output)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--round", type=float, default=0.0, metavar="STEP", help="round returns to multiples of STEP")
    args = parser.parse_args()
    values, coplayer = scenario(args.coplayers, args.episodes, args.round)
    versions = {"this checkout": kernels}
    if args.against:
        versions[str(args.against)] = load_kernels(args.against)
    for module in versions.values():  # compile, or load the cached compilation
        run(module, values, coplayer, args.coplayers, 2)
    times = {name: [] for name in versions}
    outputs = {}
    for _ in range(args.repeats):
        for name, module in versions.items():
            null_seconds, half_seconds, null, half = run(module, values, coplayer, args.coplayers, args.resamples)
            times[name].append((null_seconds, half_seconds))
            outputs[name] = (null, half)
    scale = 1000 * 1000 / args.resamples  # ms per 1000 resamples
    tied = f", returns rounded to multiples of {args.round:g}" if args.round else ""
    print(f"one scenario: {args.coplayers} co-players x {args.episodes} episodes{tied}; medians of {args.repeats}")
    for name, pairs in times.items():
        null_ms, half_ms = np.median(np.array(pairs), axis=0) * scale
        print(f"  {name:<45} 1000 relabellings {null_ms:7.1f} ms   1000 half-samples {half_ms:7.1f} ms")
    if args.against:
        mine, theirs = (np.array(times[name]) for name in versions)
        ratio = np.median(theirs.sum(1) / mine.sum(1))
        null_ratio, half_ratio = np.median(theirs / mine, axis=0)
        (null, half), (other_null, other_half) = outputs.values()
        print(f"  this checkout is {ratio:.2f}x as fast (relabellings {null_ratio:.2f}x, half-samples "
              f"{half_ratio:.2f}x); largest difference in the statistics "
              f"{max(np.abs(null - other_null).max(), np.abs(half - other_half).max()):.1e}")


if __name__ == "__main__":
    main()
