"""Milliseconds of the kNN kernels on one scenario of the issue table (10 co-players x 1000
episodes): 1000 relabellings (permutation null) and 1000 half-samples (bootstrap), one process.

With ``--against FILE`` (another version of ``src/loi/metrics/kernels.py``, e.g. from a checkout
of an earlier revision), both versions run on the same values, alternated ``--repeats`` times, and
the script prints the median of the per-pair time ratios (the machine is shared and noisy:
absolute times drift, alternated pairs much less) and the largest difference between their
statistics (the same draws: equal to ~1e-13).

    python benchmarks/knn_kernels.py
    git worktree add /tmp/old REV                # an earlier revision, e.g. 2bd15d6
    python benchmarks/knn_kernels.py --against /tmp/old/src/loi/metrics/kernels.py
    python benchmarks/knn_kernels.py --against /tmp/old/src/loi/metrics/kernels.py --round 1   # ties
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from measure import synthetic_table

from loi.metrics import kernels
from loi.metrics.estimators import _KnnBlock


def load_kernels(path: Path):
    """The module at ``path``, imported from a copy in a folder of its own, named by the file's
    content: numba caches compiled functions beside the source file, and an entry written when the
    file was imported under another module name (as ``loi.metrics.kernels`` of its own checkout)
    would be loaded with that module's globals, which crashes. The name is stable, so the copy's
    cache serves later runs."""
    source = path.read_bytes()
    name = "kernels_" + hashlib.blake2b(source, digest_size=6).hexdigest()
    copy = Path(tempfile.gettempdir()) / "loi-knn-kernels" / name / f"{name}.py"
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        partial = copy.with_suffix(".partial")
        partial.write_bytes(source)
        partial.replace(copy)
    spec = importlib.util.spec_from_file_location(name, copy)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def first_scenario(round_to: float) -> _KnnBlock:
    """The first scenario of ``benchmarks/measure.py``'s issue table, as the knn estimator holds
    it (sorted returns, class layouts, digamma table)."""
    table = synthetic_table(1, "issue")
    if round_to:
        table["ego_return"] = np.round(table["ego_return"] / round_to) * round_to
    coplayer = pd.factorize(table["coplayer"], sort=True)[0]
    return _KnnBlock(coplayer, table["ego_return"].to_numpy(), int(coplayer.max()) + 1, k=3)


def run(module, block: _KnnBlock, resamples: int):
    """(null seconds, half-sample seconds, null statistics, half-sample statistics)."""
    sorted_values = module.SortedValues(block.values)
    start = time.perf_counter()
    null = module.null_statistics(sorted_values, block.slot_class, block.n_coplayers, block.k, block.psi, 7, resamples)
    middle = time.perf_counter()
    half = module.half_sample_statistics(sorted_values, block.members, block.class_start, block.k, block.psi, 7,
                                         resamples)
    return middle - start, time.perf_counter() - middle, null, half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another kernels.py to time in the same run")
    parser.add_argument("--resamples", type=int, default=200, help="per timing (scaled to 1000 in the output)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--round", type=float, default=0.0, metavar="STEP", help="round returns to multiples of STEP")
    args = parser.parse_args()
    block = first_scenario(args.round)
    versions = {"this checkout": kernels}
    if args.against:
        versions[str(args.against)] = load_kernels(args.against)
    for module in versions.values():  # compile, or load the cached compilation
        run(module, block, 2)
    times = {name: [] for name in versions}
    outputs = {}
    for _ in range(args.repeats):
        for name, module in versions.items():
            null_seconds, half_seconds, null, half = run(module, block, args.resamples)
            times[name].append((null_seconds, half_seconds))
            outputs[name] = (null, half)
    scale = 1000 * 1000 / args.resamples  # ms per 1000 resamples
    tied = f", returns rounded to multiples of {args.round:g}" if args.round else ""
    print(f"one scenario: {block.n_coplayers} co-players x {len(block.values) // block.n_coplayers} episodes{tied}; "
          f"medians of {args.repeats}")
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
