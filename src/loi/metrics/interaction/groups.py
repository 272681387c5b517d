"""One scenario's returns grouped by block and co-player, and the one-way ANOVA sums of squares.

Blocks are the LoI's (``loi.tables.block_labels``: ego x co-player seed x regime); within a block
the co-players are the groups. ``eta2`` and ``icc`` share this, and its resampling: co-player
labels shuffled within a block (the permutation null) and episodes redrawn within co-player and
block (the episode bootstrap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loi.errors import LoiError
from loi.metrics import resampling
from loi.tables.schema import COPLAYER, EGO_RETURN, block_labels


@dataclass(frozen=True)
class Block:
    """One block: returns sorted by co-player, the co-players' first rows and sizes."""

    values: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def groups(self) -> int:
        return len(self.sizes)

    def sums_of_squares(self, values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(between co-players, within co-players) sums of squares of ``values`` (``(..., n)``,
        default the block's own), laid out like the block's returns."""
        x = self.values if values is None else values
        mean = x.mean(axis=-1, keepdims=True)
        centred = x - mean  # centring first keeps the sums exact for large returns
        group_sums = np.add.reduceat(centred, self.starts, axis=-1)
        between = (group_sums**2 / self.sizes).sum(axis=-1)
        total = (centred**2).sum(axis=-1)
        return between, np.maximum(total - between, 0.0)

    def permuted(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``(size, n)`` returns with the co-player labels shuffled (returns permuted)."""
        return resampling.permuted_labels(rng, self.values, size)

    def bootstrapped(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``(size, n)`` returns redrawn with replacement within each co-player."""
        index = np.concatenate([start + rng.integers(0, count, size=(size, count))
                                for start, count in zip(self.starts, self.sizes)], axis=1)
        return self.values[index]


def scenario_blocks(rows: pd.DataFrame, what: str) -> list[Block]:
    """The blocks of one scenario's validated rows; LoiError when a block has fewer than 2
    co-players or no episode left over for the within-co-player variance."""
    block = block_labels(rows)
    coplayer = pd.factorize(rows[COPLAYER], sort=True)[0]
    values = rows[EGO_RETURN].to_numpy(dtype=np.float64)
    order = np.lexsort((values, coplayer, block))
    blocks = []
    for b in np.unique(block):
        index = order[block[order] == b]
        _, starts, sizes = np.unique(coplayer[index], return_index=True, return_counts=True)
        if len(sizes) < 2:
            raise LoiError(f"{what} needs at least 2 co-players in every block; block {int(b)} has {len(sizes)}")
        if len(index) <= len(sizes):
            raise LoiError(f"{what} needs more episodes than co-players in every block (within-co-player "
                           f"variance); block {int(b)} has {len(index)} episodes for {len(sizes)} co-players")
        blocks.append(Block(values[index], starts.astype(np.int64), sizes.astype(np.int64)))
    return blocks


def draws(total: int, per_draw: int) -> list[int]:
    """Chunks of resamples that bound memory (``resampling.chunk_sizes``)."""
    return resampling.chunk_sizes(total, per_draw) if total else []
