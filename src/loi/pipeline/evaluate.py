"""The pipeline's two evaluations as reward tables, on top of ``loi.evaluation``.

- :func:`loi_crossplay_table`: the paper's LoI protocol on one scenario's SP
  seeds (late checkpoints of every seed as egos, the other seeds' checkpoints
  at the paper's training stages as co-players).
- :func:`tournament_table`: the final ego of every seed and member of every
  regime against the scenario's held-out Bobs.

Policy names are relative to the run directory (``sp/seed_0/member_0/gen_004``),
so two run directories of the same study hold identical tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import pandas as pd


def _env(scenario: str, env: dict[str, Any]):
    import loi.envs

    return loi.envs.scored(loi.envs.make(scenario, **env))


def loi_crossplay_table(scenario: str, sp_dir: Path, *, env: dict[str, Any], episodes: int, ego_checkpoints: int,
                        seed: int, ego_seeds: int | None = None, chunk_size: int = 256) -> pd.DataFrame:
    """Reward table of the paper's LoI protocol on the SP run in ``sp_dir``."""
    from loi.evaluation import protocol_policies, protocol_table

    egos, coplayers = protocol_policies([sp_dir], ego_checkpoints=ego_checkpoints, ego_seeds=ego_seeds)
    return protocol_table(_env(scenario, env), egos, coplayers, episodes=episodes, key=jax.random.PRNGKey(seed),
                          chunk_size=chunk_size)


SP_SEEDS, BOTS = "sp_seeds", "bots"  # the kinds of held-out Bob


def partner_kinds(coplayers: pd.Series) -> pd.Series:
    """The kind of each held-out Bob named in a tournament table: ``bots`` (Melting Pot bots,
    ``bots:NAME``) or ``sp_seeds`` (checkpoints of the held-out SP run)."""
    from loi.agents.bots import is_bot

    return coplayers.map(lambda name: BOTS if is_bot(name) else SP_SEEDS)


def tournament_table(scenario: str, regime_dirs: dict[str, Path], heldout_dir: Path | None, *, env: dict[str, Any],
                     bob_stages: int, episodes: int, seed: int, bots: tuple[str, ...] = (),
                     chunk_size: int = 256) -> pd.DataFrame:
    """Reward table (with a ``regime`` column) of every final ego vs the held-out Bobs:
    checkpoints of the held-out SP run (``heldout_dir``; None: none) and Melting Pot ``bots``."""
    from loi.evaluation import bot_policy, fixed_bob_tournament, held_out_bobs, tournament_egos

    import dataclasses

    environment = _env(scenario, env)
    # Labelled by the study's regime name: a variant (pp5-generational, fcp5-bots) trains its base
    # regime, which is what its checkpoints record.
    egos = [dataclasses.replace(p, info={**p.info, "regime": regime})
            for regime, run_dir in regime_dirs.items() for p in tournament_egos([run_dir])]
    bobs = held_out_bobs([heldout_dir], stages=bob_stages) if heldout_dir is not None else []
    bobs += [bot_policy(b, environment) for b in bots]
    return fixed_bob_tournament(environment, egos, bobs, episodes=episodes, key=jax.random.PRNGKey(seed),
                                chunk_size=chunk_size)
