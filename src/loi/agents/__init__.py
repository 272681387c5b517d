"""Actor-critic policies: networks, acting, and checkpoints.

>>> network = make_network(env, NetworkConfig(kind="mlp"))       # doctest: +SKIP
>>> ckpt = load_checkpoint("run/seed_0/member_0/gen_0004.msgpack")  # doctest: +SKIP
>>> carry = init_carry(ckpt.network, 1)                             # doctest: +SKIP
>>> carry, action = act(ckpt.network, ckpt.params, carry, obs, reward, reset, key)  # doctest: +SKIP
"""

from loi.agents.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from loi.agents.networks import (PRESETS, ActorCritic, NetworkConfig, init_params, make_network, network_config,
                                 network_from_description)
from loi.agents.policy import (Memory, act, greedy_action, init_carry, policy_step, sample_action, sequence_logits,
                               with_action)

__all__ = [
    "PRESETS",
    "ActorCritic",
    "Memory",
    "act",
    "init_carry",
    "network_config",
    "policy_step",
    "sequence_logits",
    "with_action",
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
