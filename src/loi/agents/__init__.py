"""Actor-critic policies: networks, acting, and checkpoints.

>>> network = make_network(env, NetworkConfig(kind="mlp"))       # doctest: +SKIP
>>> ckpt = load_checkpoint("run/seed_0/member_0/gen_0004.msgpack")  # doctest: +SKIP
>>> action = sample_action(ckpt.network, ckpt.params, obs, key)     # doctest: +SKIP
"""

from loi.agents.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from loi.agents.networks import ActorCritic, NetworkConfig, init_params, make_network, network_from_description
from loi.agents.policy import greedy_action, sample_action

__all__ = [
    "ActorCritic",
    "Checkpoint",
    "NetworkConfig",
    "greedy_action",
    "init_params",
    "load_checkpoint",
    "make_network",
    "network_from_description",
    "sample_action",
    "save_checkpoint",
]
