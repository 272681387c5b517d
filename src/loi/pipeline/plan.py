"""What a study trains: per-job seeds, the roles of its training runs, and the
:class:`~loi.training.TrainConfig` of every training job. Where the runs live:
:class:`loi.pipeline.studydir.StudyDir`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from loi.pipeline.config import StudyConfig
    from loi.training.config import TrainConfig

SP = "sp"
HELDOUT = "heldout"


def derived_seed(base: int, *labels: str) -> int:
    """A 31-bit seed that depends only on ``base`` and ``labels`` (stable across
    processes and independent of which other jobs exist)."""
    digest = hashlib.blake2b("|".join(labels).encode("utf-8"), digest_size=8).digest()
    state = np.random.SeedSequence([int(base), int.from_bytes(digest, "little")]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


def train_config(config: "StudyConfig", scenario: str, regime: str, num_seeds: int) -> "TrainConfig":
    """The training config of one (scenario, regime) job of the study."""
    from loi.agents.networks import NetworkConfig
    from loi.training.config import TrainConfig

    from loi.training.config import parse_regime

    length = config.training.length_of(regime)
    options = dict(config.training.options)
    if parse_regime(regime).kind != "fcp":  # [training] pool_bots fill the fcpN pools only
        options.pop("pool_bots", None)
    return TrainConfig(
        scenario=scenario,
        regime=regime,
        num_seeds=num_seeds,
        total_steps=config.training.steps * length,
        num_generations=config.training.generations * length,
        network=NetworkConfig(**dict(config.training.network)),
        env_overrides=config.env,
        **options,
    )


def trained_regimes(config: "StudyConfig", allocated: dict[str, str]) -> dict[str, list[str]]:
    """Scenario -> regimes stage 4 trains (SP comes from stage 1 and is not listed)."""
    out = {}
    for scenario in config.scenarios:
        if config.train == "menu":
            wanted = list(config.menu_costs)
        else:
            wanted = [config.uniform, allocated[scenario]]
        out[scenario] = [r for r in dict.fromkeys(wanted) if r != SP]
    return out
