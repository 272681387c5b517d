"""What a study trains: per-job seeds, the roles of its training runs, the regimes each
scenario trains, and (built by :mod:`loi.pipeline.config`, which checks every one when it
validates a config) the :class:`~loi.training.TrainConfig` of every training job. Where the runs
live: :class:`loi.pipeline.studydir.StudyDir`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

# The job configs are built where the config is validated (the check builds every one); they are
# part of what a study trains, so they are found here too.
from loi.pipeline.config import applies, has_bots, heldout_bots, train_config

if TYPE_CHECKING:  # pragma: no cover
    from loi.pipeline.config import StudyConfig

__all__ = ["HELDOUT", "SP", "applies", "derived_seed", "has_bots", "heldout_bots", "train_config",
           "trained_regimes"]

SP = "sp"
HELDOUT = "heldout"


def derived_seed(base: int, *labels: str) -> int:
    """A 31-bit seed that depends only on ``base`` and ``labels`` (stable across
    processes and independent of which other jobs exist)."""
    digest = hashlib.blake2b("|".join(labels).encode("utf-8"), digest_size=8).digest()
    state = np.random.SeedSequence([int(base), int.from_bytes(digest, "little")]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


def trained_regimes(config: "StudyConfig", allocated: dict[str, str]) -> dict[str, list[str]]:
    """Scenario -> regimes stage 4 trains (SP comes from stage 1 and is not listed): the menu
    (``train = "menu"``) or the allocated and uniform regimes, then the config's
    ``extra_regimes`` where the scenario has what they need (:func:`loi.pipeline.config.applies`)."""
    out = {}
    for scenario in config.scenarios:
        if config.train == "menu":
            wanted = list(config.menu_costs)
        else:
            wanted = [config.uniform, allocated[scenario]]
        wanted += [r for r in config.extra_regimes if applies(config, scenario, r)]
        out[scenario] = [r for r in dict.fromkeys(wanted) if r != SP]
    return out
