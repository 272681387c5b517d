"""PPO self-play, population-play and fictitious co-play training.

>>> config = TrainConfig("prisoners_dilemma/small", regime="pp3", num_seeds=2)   # doctest: +SKIP
>>> state, metrics = make_train(config)(jax.random.PRNGKey(0))                    # pure, jit-able
>>> result = train_run(config, "runs/pd_small_pp3", seed=0)                        # checkpoints + resume

See :mod:`loi.training.run` for the run-directory layout.
"""

from loi.training.config import Regime, TrainConfig, parse_regime
from loi.training.curves import curves_frame, final_performance
from loi.training.pool import load_pool, policy_checkpoints, select_pool
from loi.training.ppo import PartnerPool, Trainer, TrainState, UpdateMetrics, make_train
from loi.training.run import GenerationDone, TrainingResult, checkpoint_path, train_run

__all__ = [
    "GenerationDone",
    "PartnerPool",
    "Regime",
    "TrainConfig",
    "TrainState",
    "Trainer",
    "TrainingResult",
    "UpdateMetrics",
    "checkpoint_path",
    "curves_frame",
    "final_performance",
    "load_pool",
    "make_train",
    "parse_regime",
    "policy_checkpoints",
    "select_pool",
    "train_run",
]
