"""Actor-critic networks (flax) for the built-in and user-defined games.

Two encoders over the flat float32 observation every ``loi`` environment emits:

- ``"mlp"``: the flat vector straight into separate actor and critic MLPs
  (PureJaxRL's default; fastest on CPU).
- ``"cnn"``: a small convolutional encoder (3x3 "SAME" convolutions, written
  as a dense layer over 3x3 patches for CPU speed) over the egocentric grid
  view (the first ``H*W*C`` entries, ``env.view_shape``), flattened and
  concatenated with the rest of the observation (inventory, ready flag), then
  the same heads.

A recurrent core is not implemented: every built-in game's observation already
carries what the policy needs (the matrix games show the previous joint action).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen.initializers import constant, orthogonal

from loi.errors import LoiError

_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}
KINDS = ("mlp", "cnn")


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture hyperparameters (environment-independent)."""

    kind: str = "mlp"
    hidden: tuple[int, ...] = (64, 64)
    conv_features: tuple[int, ...] = (16,)
    activation: str = "tanh"
    shared_torso: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LoiError(f"network kind must be one of {KINDS}, got {self.kind!r}")
        if self.activation not in _ACTIVATIONS:
            raise LoiError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {self.activation!r}")
        # Accept lists (from TOML/JSON) but store tuples so the config stays hashable.
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "conv_features", tuple(int(f) for f in self.conv_features))
        if not self.hidden or min(self.hidden) < 1:
            raise LoiError(f"hidden sizes must be positive integers, got {self.hidden}")
        if not isinstance(self.shared_torso, bool):
            raise LoiError(f"shared_torso must be true or false, got {self.shared_torso!r}")
        if self.kind == "cnn" and (not self.conv_features or min(self.conv_features) < 1):
            raise LoiError(f"conv_features must be positive integers, got {self.conv_features}")


def _mlp(x: jax.Array, hidden: Sequence[int], act, out: int, out_scale: float, name: str) -> jax.Array:
    for i, width in enumerate(hidden):
        x = act(nn.Dense(width, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0), name=f"{name}_{i}")(x))
    return nn.Dense(out, kernel_init=orthogonal(out_scale), bias_init=constant(0.0), name=f"{name}_out")(x)


def _patches3x3(x: jax.Array) -> jax.Array:
    """[B, H, W, C] -> [B, H, W, 9C]: each cell's 3x3 neighbourhood (zero padded).

    A 3x3 "SAME" convolution is then one Dense layer over the patches. On CPU
    this matmul is ~100x faster than XLA's convolution (and its gradient) on
    views this small (5x5).
    """
    h, w = x.shape[1], x.shape[2]
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return jnp.concatenate([padded[:, i : i + h, j : j + w] for i in range(3) for j in range(3)], axis=-1)


class ActorCritic(nn.Module):
    """``apply(params, obs[..., obs_dim]) -> (logits[..., num_actions], value[...])``."""

    num_actions: int
    obs_dim: int
    view_shape: tuple[int, int, int] | None = None
    config: NetworkConfig = NetworkConfig()

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        act = _ACTIVATIONS[self.config.activation]
        x = obs
        if self.config.kind == "cnn":
            h, w, c = self.view_shape
            batch = obs.shape[:-1]
            view = obs[..., : h * w * c].reshape((-1, h, w, c))
            for i, features in enumerate(self.config.conv_features):
                view = act(nn.Dense(features, kernel_init=orthogonal(np.sqrt(2)), name=f"conv_{i}")(_patches3x3(view)))
            view = view.reshape(batch + (-1,))
            x = jnp.concatenate([view, obs[..., h * w * c :]], axis=-1)
        if self.config.shared_torso:
            # One torso, two linear heads: half the FLOPs of separate towers.
            x = _mlp(x, self.config.hidden[:-1], act, self.config.hidden[-1], np.sqrt(2), "torso")
            x = act(x)
            logits = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01), name="actor_out")(x)
            value = nn.Dense(1, kernel_init=orthogonal(1.0), name="critic_out")(x)
        else:
            # Separate towers: the PureJaxRL default, more stable than a shared torso.
            logits = _mlp(x, self.config.hidden, act, self.num_actions, 0.01, "actor")
            value = _mlp(x, self.config.hidden, act, 1, 1.0, "critic")
        return logits, jnp.squeeze(value, -1)

    def describe(self) -> dict[str, Any]:
        """Everything needed to rebuild this network (stored in checkpoints)."""
        return {
            "num_actions": int(self.num_actions),
            "obs_dim": int(self.obs_dim),
            "view_shape": None if self.view_shape is None else [int(d) for d in self.view_shape],
            **{k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.config).items()},
        }


def make_network(env: Any, config: NetworkConfig | None = None) -> ActorCritic:
    """The actor-critic for ``env``'s first agent (both seats share spaces)."""
    config = config or NetworkConfig()
    agent = env.agents[0]
    (obs_dim,) = env.observation_space(agent).shape
    view_shape = getattr(env, "view_shape", None)
    if config.kind == "cnn" and view_shape is None:
        raise LoiError("network kind 'cnn' needs a grid game (this environment has no view_shape); use 'mlp'")
    return ActorCritic(
        num_actions=int(env.action_space(agent).n),
        obs_dim=int(obs_dim),
        view_shape=None if view_shape is None else tuple(int(d) for d in view_shape),
        config=config,
    )


def network_from_description(description: dict[str, Any]) -> ActorCritic:
    """Rebuild the network ``ActorCritic.describe()`` described."""
    try:
        view = description["view_shape"]
        config = NetworkConfig(
            kind=description["kind"],
            hidden=tuple(description["hidden"]),
            conv_features=tuple(description["conv_features"]),
            activation=description["activation"],
            shared_torso=bool(description.get("shared_torso", False)),
        )
        return ActorCritic(
            num_actions=int(description["num_actions"]),
            obs_dim=int(description["obs_dim"]),
            view_shape=None if view is None else tuple(int(d) for d in view),
            config=config,
        )
    except (KeyError, TypeError) as err:
        raise LoiError(f"malformed network description in checkpoint: {err}") from None


def init_params(network: ActorCritic, key: jax.Array) -> Any:
    """Fresh parameters for ``network``."""
    return network.init(key, jnp.zeros((network.obs_dim,), jnp.float32))
