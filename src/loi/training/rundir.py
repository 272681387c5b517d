"""The layout of one training run directory (``loi train --out DIR``), in one place.

    DIR/run.json                                  config, config hash, base seed, fcp pool
    DIR/train_state.msgpack                       full state after the last finished generation
    DIR/curves.parquet                            learning curves, one row per (seed, member, update)
    DIR/seed_{s}/member_{m}/gen_{g:03d}.msgpack   policy checkpoint after generation g (0-based)

``s`` indexes the seeds of the run, ``m`` the population member (0 for sp/fcp).
A checkpoint's policy name is ``{DIR name}/seed_{s}/member_{m}/gen_{g:03d}``.
Listing accepts only the exact names the writer produces: anything else under
``DIR`` (``gen_final.msgpack``, ``seed_01/``, temporary files) is not a checkpoint.
This module loads no JAX, so the pipeline and the report can read run
directories cheaply.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from loi.errors import LoiError
from loi.tables.io import atomic_write, read_json

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_CHECKPOINT = re.compile(r"^seed_(\d+)/member_(\d+)/gen_(\d+)$")


@dataclass(frozen=True, order=True)
class Checkpoint:
    """One policy checkpoint of a run; ordered by (seed, member, generation)."""

    seed: int
    member: int
    generation: int
    path: Path = field(compare=False)

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.seed, self.member, self.generation)


@dataclass(frozen=True)
class RunDir:
    """One training run directory: its file paths, its checkpoints, its metadata."""

    path: Path
    RUN_FILE: ClassVar[str] = "run.json"
    STATE_FILE: ClassVar[str] = "train_state.msgpack"
    CURVES_FILE: ClassVar[str] = "curves.parquet"
    CHECKPOINT_PATTERN: ClassVar[str] = "seed_*/member_*/gen_*.msgpack"
    CHECKPOINT_SUFFIX: ClassVar[str] = ".msgpack"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def run_file(self) -> Path:
        return self.path / self.RUN_FILE

    @property
    def state_file(self) -> Path:
        return self.path / self.STATE_FILE

    @property
    def curves_file(self) -> Path:
        return self.path / self.CURVES_FILE

    # ------------------------------------------------------------------ checkpoints

    @staticmethod
    def _relative(seed: int, member: int, generation: int) -> str:
        for label, value in (("seed", seed), ("member", member), ("generation", generation)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"checkpoint {label} must be a non-negative integer, got {value!r}")
        return f"seed_{seed}/member_{member}/gen_{generation:03d}"

    def checkpoint(self, seed: int, member: int, generation: int) -> Path:
        """Where the policy of (seed, member) after ``generation`` is saved."""
        return self.path / (self._relative(seed, member, generation) + self.CHECKPOINT_SUFFIX)

    def policy_name(self, seed: int, member: int, generation: int) -> str:
        """The checkpoint's policy name: ``{run name}/seed_{s}/member_{m}/gen_{g:03d}``."""
        return f"{self.name}/{self._relative(seed, member, generation)}"

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint in the directory, sorted by (seed, member, generation);
        empty when there are none or the directory does not exist."""
        found = []
        for path in self.path.glob(self.CHECKPOINT_PATTERN):
            parsed = self._parse(path)
            if parsed is not None:
                found.append(parsed)
        return sorted(found)

    def require_checkpoints(self) -> list[Checkpoint]:
        """:meth:`checkpoints`, or a LoiError naming what is missing."""
        if not self.path.is_dir():
            raise LoiError(f"run directory not found: {self.path}")
        found = self.checkpoints()
        if not found:
            raise LoiError(f"no policy checkpoints ({self.CHECKPOINT_PATTERN}) under {self.path}")
        return found

    def _parse(self, path: Path) -> Checkpoint | None:
        try:
            relative = path.relative_to(self.path)
        except ValueError:
            return None
        if relative.suffix != self.CHECKPOINT_SUFFIX:
            return None
        match = _CHECKPOINT.match(relative.with_suffix("").as_posix())
        if match is None:
            return None
        seed, member, generation = (int(x) for x in match.groups())
        # Only the writer's own spelling: seed_01 or gen_4 would alias seed_1 / gen_004.
        if self.checkpoint(seed, member, generation) != path:
            return None
        return Checkpoint(seed, member, generation, path)

    @classmethod
    def of_checkpoint(cls, path: str | os.PathLike) -> tuple[RunDir, Checkpoint] | None:
        """The run directory and checkpoint record of a checkpoint file's path, or
        None when the path is not laid out as a run's checkpoint."""
        path = Path(path)
        if len(path.parts) < 4:  # e.g. given from inside the run directory: name the run by its real name
            path = path.absolute()
        run = cls(path.parent.parent.parent)
        parsed = run._parse(path)
        return None if parsed is None else (run, parsed)

    # ------------------------------------------------------------------ metadata and curves

    def read_metadata(self) -> dict[str, Any] | None:
        """``run.json`` (config, config_hash, base_seed, pool), or None if absent."""
        return read_json(self.run_file) if self.run_file.is_file() else None

    def write_metadata(self, record: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.run_file) as tmp:
            tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")

    def read_curves(self, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
        """The learning curves, or None before the first generation wrote them."""
        import pandas as pd

        if not self.curves_file.is_file():
            return None
        return pd.read_parquet(self.curves_file, columns=None if columns is None else list(columns))

    def write_curves(self, curves: pd.DataFrame) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.curves_file) as tmp:
            curves.to_parquet(tmp, index=False)


def parse_policy_name(name: str) -> tuple[str, int, int, int] | None:
    """``(run name, seed, member, generation)`` of a checkpoint's policy name
    (:meth:`RunDir.policy_name`), or None for any other name."""
    run, _, rest = str(name).partition("/")
    match = _CHECKPOINT.match(rest)
    if not run or match is None:
        return None
    seed, member, generation = (int(x) for x in match.groups())
    if RunDir(run).policy_name(seed, member, generation) != name:
        return None
    return run, seed, member, generation
