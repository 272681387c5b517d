"""PPO self-play, population-play and fictitious co-play training.

>>> config = TrainConfig("prisoners_dilemma/small", regime="pp3", num_seeds=2)   # doctest: +SKIP
>>> state, metrics = make_train(config)(jax.random.PRNGKey(0))                    # pure, jit-able
>>> result = train_run(config, "runs/pd_small_pp3", seed=0)                        # checkpoints + resume

See :mod:`loi.training.rundir` for the run-directory layout. Names load on first
use, so reading a run directory (:class:`RunDir`) loads no JAX.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Regime": "loi.training.config", "TrainConfig": "loi.training.config", "parse_regime": "loi.training.config",
    "curves_frame": "loi.training.curves", "final_performance": "loi.training.curves",
    "load_pool": "loi.training.pool", "policy_checkpoints": "loi.training.pool", "select_pool": "loi.training.pool",
    "PartnerPool": "loi.training.ppo", "Trainer": "loi.training.ppo", "TrainState": "loi.training.ppo",
    "UpdateMetrics": "loi.training.ppo", "make_train": "loi.training.ppo",
    "GenerationDone": "loi.training.run", "TrainingResult": "loi.training.run", "checkpoint_path": "loi.training.run",
    "train_run": "loi.training.run",
    "Checkpoint": "loi.training.rundir", "RunDir": "loi.training.rundir", "parse_policy_name": "loi.training.rundir",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'loi.training' has no attribute {name!r}")
