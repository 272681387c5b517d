"""Cost of a histogram block's resamples, drawn two ways, measured in the same run: whole tables by
numpy (``resampling.hypergeometric_tables`` / ``multinomial_tables``, cost per cell) and rows by
the compiled kernels (``kernels.TableResampler``, cost per row), each with its
statistic (``paper_statistic``). Prints, per table shape, microseconds per resample, numpy's
nanoseconds per (inner) cell, the kernels' per row, the ratio numpy / kernels, and which way
``resampling.null_tables_are_cheaper`` / ``bootstrap_tables_are_cheaper`` pick (their constants
come from these figures).

    python benchmarks/histogram_resampling.py
    python benchmarks/histogram_resampling.py --resamples 4000 --repeats 7
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from loi.metrics import resampling
from loi.metrics.histogram import paper_statistic
from loi.metrics.kernels import TableResampler

# (co-players, bins, episodes per co-player): the issue table's scenario (44 bins, as "auto"
# picks), the paper's block, few cells for many rows, many cells for few rows.
SHAPES = [(10, 44, 1000), (9, 12, 55), (2, 10, 50_000), (20, 60, 200)]


def random_table(rng: np.random.Generator, coplayers: int, bins: int, episodes: int) -> np.ndarray:
    """Co-player histograms of normal returns with co-player-specific means, ``bins`` equal bins."""
    means = rng.uniform(-1, 1, size=coplayers)
    values = rng.normal(means[:, None], 1.0, size=(coplayers, episodes))
    edges = np.linspace(values.min(), values.max(), bins + 1)[1:-1]
    codes = np.searchsorted(edges, values)
    return np.stack([np.bincount(row, minlength=bins) for row in codes])


def best_seconds(function, repeats: int) -> float:
    function()  # compiles, fills caches
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'shape (C x K x n_c)':>22} {'way':>10} {'numpy µs':>9} {'kernel µs':>9} {'ns/cell':>8} "
          f"{'ns/row':>7} {'ratio':>6}  pick")
    for coplayers, bins, episodes in SHAPES:
        table = random_table(rng, coplayers, bins, episodes)
        table = table[:, table.sum(0) > 0]
        rows, (_, occupied) = int(table.sum()), table.shape
        resampler = TableResampler(table, miller_madow=False)
        size = args.resamples

        def chunked(draw):
            return lambda: [paper_statistic(draw(chunk)) for chunk in resampling.chunk_sizes(size, table.size)]

        ways = [
            ("null", chunked(lambda chunk: resampling.hypergeometric_tables(rng, table.sum(1), table.sum(0), chunk)),
             lambda: resampler.null(1, size), (coplayers - 1) * (occupied - 1),
             resampling.null_tables_are_cheaper(rows, coplayers, occupied)),
            ("bootstrap", chunked(lambda chunk: resampling.multinomial_tables(rng, table, chunk)),
             lambda: resampler.bootstrap(1, size), coplayers * occupied,
             resampling.bootstrap_tables_are_cheaper(rows, coplayers, occupied)),
        ]
        for way, numpy_way, kernel_way, cells, tables_picked in ways:
            numpy_us = best_seconds(numpy_way, args.repeats) / size * 1e6
            kernel_us = best_seconds(kernel_way, args.repeats) / size * 1e6
            shape = f"{coplayers} x {occupied} x {episodes}"
            print(f"{shape:>22} {way:>10} {numpy_us:9.2f} {kernel_us:9.2f} {numpy_us * 1e3 / cells:8.1f} "
                  f"{kernel_us * 1e3 / rows:7.2f} {numpy_us / kernel_us:6.2f}  "
                  f"{'numpy tables' if tables_picked else 'kernels'}")


if __name__ == "__main__":
    main()
