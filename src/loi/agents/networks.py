"""Actor-critic networks (flax) for the built-in and user-defined games.

Encoders over the flat float32 observation every ``loi`` environment emits:

- ``"mlp"``: the flat vector straight into separate actor and critic MLPs
  (PureJaxRL's default; fastest on CPU).
- ``"cnn"``: a small convolutional encoder (3x3 "SAME" convolutions, written
  as a dense layer over 3x3 patches for CPU speed) over the egocentric grid
  view (the first ``H*W*C`` entries, ``env.view_shape``), flattened and
  concatenated with the rest of the observation (inventory, ready flag), then
  the same heads.

Recurrent kinds (``"gru"``, ``"lstm"``): the encoder (``encoder = "mlp"``: the
flat observation; ``"cnn"``: the conv encoder above), a shared ReLU/tanh torso
``hidden``, then a recurrent core of ``core_size`` units fed the torso's
features, the one-hot previous action (``prev_action``) and the previous reward
(``prev_reward``); linear actor and critic heads read the core's output. The
core runs over a leading time axis (one step when acting, a whole rollout when
training); only its ``h -> gates`` product is sequential, everything else is
one batched matmul per layer. ``PRESETS["authors"]`` is the paper's RLlib
model (``MARL/PP_train.py``): conv encoder, fc 64-64, a 256 layer, LSTM 256
fed the previous action.

Observation shapes: an environment whose observation starts with an image says so with
``view_shape`` (the grid games' egocentric view; a JaxMARL env's ``H, W, C`` image, see
``loi.envs.jaxmarl_adapter``); ``"cnn"`` and ``encoder = "cnn"`` need one. ``kind = "auto"``
(preset ``"auto"``) and ``encoder = "auto"`` choose for the environment when the network is
built: the conv encoder where there is an image, the MLP over the flat vector otherwise; the
checkpoint stores the choice made.
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
FEED_FORWARD_KINDS = ("mlp", "cnn")
RECURRENT_KINDS = ("gru", "lstm")
AUTO = "auto"  # resolved by make_network: the conv encoder for image observations, else the MLP
KINDS = FEED_FORWARD_KINDS + RECURRENT_KINDS + (AUTO,)
ENCODERS = ("mlp", "cnn", AUTO)


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture hyperparameters (environment-independent).

    ``encoder``, ``core_size``, ``prev_action`` and ``prev_reward`` apply to
    the recurrent kinds; ``shared_torso`` to the feed-forward ones (a recurrent
    network always shares its torso and core between actor and critic, as
    PureJaxRL's ``ppo_rnn`` and RLlib's LSTM wrapper do)."""

    kind: str = "mlp"
    hidden: tuple[int, ...] = (64, 64)
    conv_features: tuple[int, ...] = (16,)
    activation: str = "tanh"
    shared_torso: bool = False
    encoder: str = "mlp"
    core_size: int = 64
    prev_action: bool = True
    prev_reward: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LoiError(f"network kind must be one of {KINDS}, got {self.kind!r}")
        if self.activation not in _ACTIVATIONS:
            raise LoiError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {self.activation!r}")
        if self.encoder not in ENCODERS:
            raise LoiError(f"network encoder must be one of {ENCODERS}, got {self.encoder!r}")
        # Accept lists (from TOML/JSON) but store tuples so the config stays hashable.
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "conv_features", tuple(int(f) for f in self.conv_features))
        if not self.hidden or min(self.hidden) < 1:
            raise LoiError(f"hidden sizes must be positive integers, got {self.hidden}")
        for name in ("shared_torso", "prev_action", "prev_reward"):
            if not isinstance(getattr(self, name), bool):
                raise LoiError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.core_size, bool) or not isinstance(self.core_size, int) or self.core_size < 1:
            raise LoiError(f"core_size must be a positive integer, got {self.core_size!r}")
        if self.uses_conv and (not self.conv_features or min(self.conv_features) < 1):
            raise LoiError(f"conv_features must be positive integers, got {self.conv_features}")
        if self.kind not in RECURRENT_KINDS and self.encoder != "mlp":
            raise LoiError(f"encoder applies to recurrent kinds {RECURRENT_KINDS}; for a feed-forward conv "
                           "network use kind 'cnn'")

    @property
    def recurrent(self) -> bool:
        return self.kind in RECURRENT_KINDS

    @property
    def uses_conv(self) -> bool:
        return self.kind == "cnn" or self.encoder == "cnn"


# Named architectures for ``loi train --network NAME``, a study's ``[training.network] preset``
# and :func:`network_config`. "gru" is the recurrent default (README, "Networks": measured).
PRESETS: dict[str, NetworkConfig] = {
    "mlp": NetworkConfig(),
    "cnn": NetworkConfig(kind="cnn"),
    "gru": NetworkConfig(kind="gru"),
    "lstm": NetworkConfig(kind="lstm"),
    "auto": NetworkConfig(kind=AUTO),
    # The authors' RLlib model (MARL/PP_train.py): conv encoder, fc 64-64 and a 256 post-layer
    # (ReLU), LSTM of 256 cells fed the previous action, not the previous reward.
    "authors": NetworkConfig(kind="lstm", encoder="cnn", conv_features=(16,), hidden=(64, 64, 256),
                             activation="relu", core_size=256, prev_action=True, prev_reward=False),
}


def network_config(spec: "str | dict[str, Any] | NetworkConfig | None" = None) -> NetworkConfig:
    """A :class:`NetworkConfig` from a preset name, a dict of fields (with an
    optional ``preset`` key that the other fields override), or a config."""
    if spec is None:
        return NetworkConfig()
    if isinstance(spec, NetworkConfig):
        return spec
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise LoiError(f"unknown network {spec!r}; presets: {', '.join(PRESETS)}")
        return PRESETS[spec]
    if not isinstance(spec, dict):
        raise LoiError(f"network must be a preset name or a table of fields, got {type(spec).__name__}")
    fields = dict(spec)
    base = network_config(fields.pop("preset")) if "preset" in fields else NetworkConfig()
    known = {f.name for f in dataclasses.fields(NetworkConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise LoiError(f"unknown network keys: {', '.join(unknown)} (known: preset, {', '.join(sorted(known))})")
    try:
        return dataclasses.replace(base, **fields)
    except TypeError as err:
        raise LoiError(f"bad network config: {err}") from None


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


def _gru(h: jax.Array, x_gates: jax.Array, h_gates: jax.Array) -> jax.Array:
    """One GRU step (Cho et al. 2014, the "reset after" form of cuDNN/flax) from
    precomputed input and hidden projections ``[..., 3H]`` (order r, z, n)."""
    xr, xz, xn = jnp.split(x_gates, 3, axis=-1)
    hr, hz, hn = jnp.split(h_gates, 3, axis=-1)
    r = nn.sigmoid(xr + hr)
    z = nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    return (1.0 - z) * n + z * h


def _lstm(c: jax.Array, gates: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One LSTM step from the summed projections ``[..., 4H]`` (order i, f, g, o)."""
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
    return c, nn.sigmoid(o) * jnp.tanh(c)


def _over_time(step, core: Any, inputs: tuple) -> tuple[Any, jax.Array]:
    """``lax.scan`` of ``step`` over the leading (time) axis; a single step (acting) without a loop."""
    if inputs[0].shape[0] == 1:
        core, out = step(core, jax.tree_util.tree_map(lambda x: x[0], inputs))
        return core, out[None]
    return jax.lax.scan(step, core, inputs)


class ActorCritic(nn.Module):
    """Feed-forward kinds: ``apply(params, obs[..., obs_dim]) -> (logits[..., A], value[...])``.

    Recurrent kinds: ``apply(params, obs[T, ..., D], core, prev_action[T, ...],
    prev_reward[T, ...], reset[T, ...]) -> (logits[T, ..., A], value[T, ...],
    core)``: ``core`` (leaves ``[..., core_size]``; ``(c, h)`` for an LSTM) is the
    state before step 0 and is returned after step T-1; where ``reset`` is true
    the state, previous action and previous reward are zeroed first (the first
    step of an episode). ``prev_action`` is the action taken before each step
    (int32; only read when ``prev_action`` is on)."""

    num_actions: int
    obs_dim: int
    view_shape: tuple[int, int, int] | None = None
    config: NetworkConfig = NetworkConfig()

    @property
    def recurrent(self) -> bool:
        return self.config.recurrent

    def _encode(self, obs: jax.Array, act) -> jax.Array:
        if not self.config.uses_conv:
            return obs
        h, w, c = self.view_shape
        batch = obs.shape[:-1]
        view = obs[..., : h * w * c].reshape((-1, h, w, c))
        for i, features in enumerate(self.config.conv_features):
            view = act(nn.Dense(features, kernel_init=orthogonal(np.sqrt(2)), name=f"conv_{i}")(_patches3x3(view)))
        view = view.reshape(batch + (-1,))
        return jnp.concatenate([view, obs[..., h * w * c :]], axis=-1)

    @nn.compact
    def __call__(self, obs: jax.Array, core: Any = None, prev_action: jax.Array | None = None,
                 prev_reward: jax.Array | None = None, reset: jax.Array | None = None):
        act = _ACTIVATIONS[self.config.activation]
        x = self._encode(obs, act)
        if self.config.recurrent:
            return self._recurrent(x, act, core, prev_action, prev_reward, reset)
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

    def _recurrent(self, x, act, core, prev_action, prev_reward, reset):
        cfg = self.config
        size = cfg.core_size
        for i, width in enumerate(cfg.hidden):
            x = act(nn.Dense(width, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0), name=f"torso_{i}")(x))
        keep = 1.0 - reset.astype(jnp.float32)[..., None]
        inputs = [x]
        if cfg.prev_action:
            inputs.append(jax.nn.one_hot(prev_action, self.num_actions, dtype=jnp.float32) * keep)
        if cfg.prev_reward:
            inputs.append(prev_reward.astype(jnp.float32)[..., None] * keep)
        x = jnp.concatenate(inputs, axis=-1)
        gates = 3 if cfg.kind == "gru" else 4
        # The input projection of every step at once; only h @ w_h is inside the scan.
        x_gates = nn.Dense(gates * size, kernel_init=orthogonal(1.0), bias_init=constant(0.0), name="core_in")(x)
        w_h = self.param("core_h", orthogonal(1.0), (size, gates * size))
        if cfg.kind == "gru":
            b_h = self.param("core_h_bias", constant(0.0), (gates * size,))

            def step(h, inp):
                xg, r = inp
                h = jnp.where(r[..., None], 0.0, h)
                h = _gru(h, xg, h @ w_h + b_h)
                return h, h

        else:
            # Forget-gate bias 1 (Jozefowicz et al. 2015), added here so core_in stays a plain Dense.
            forget = jnp.zeros((gates * size,)).at[size : 2 * size].set(1.0)

            def step(carry, inp):
                c, h = carry
                xg, r = inp
                c = jnp.where(r[..., None], 0.0, c)
                h = jnp.where(r[..., None], 0.0, h)
                c, h = _lstm(c, xg + h @ w_h + forget)
                return (c, h), h

        core, out = _over_time(step, core, (x_gates, reset))
        logits = nn.Dense(self.num_actions, kernel_init=orthogonal(0.01), bias_init=constant(0.0),
                          name="actor_out")(out)
        value = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=constant(0.0), name="critic_out")(out)
        return logits, jnp.squeeze(value, -1), core

    def initial_core(self, batch_shape: tuple[int, ...] = ()) -> Any:
        """The zero state of the recurrent core (``()`` for feed-forward kinds)."""
        if not self.config.recurrent:
            return ()
        zeros = jnp.zeros(tuple(batch_shape) + (self.config.core_size,), jnp.float32)
        return zeros if self.config.kind == "gru" else (zeros, zeros)

    def describe(self) -> dict[str, Any]:
        """Everything needed to rebuild this network (stored in checkpoints)."""
        return {
            "num_actions": int(self.num_actions),
            "obs_dim": int(self.obs_dim),
            "view_shape": None if self.view_shape is None else [int(d) for d in self.view_shape],
            **{k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.config).items()},
        }


def resolve_network(config: NetworkConfig, view_shape: Any) -> NetworkConfig:
    """``config`` with ``"auto"`` replaced for an observation with (``view_shape``) or
    without (``None``) an image: ``"cnn"`` / encoder ``"cnn"``, else ``"mlp"``."""
    conv = view_shape is not None
    if config.kind == AUTO:
        config = dataclasses.replace(config, kind="cnn" if conv else "mlp")
    if config.encoder == AUTO:
        config = dataclasses.replace(config, encoder="cnn" if conv else "mlp")
    return config


def make_network(env: Any, config: NetworkConfig | str | dict | None = None) -> ActorCritic:
    """The actor-critic for ``env``'s first agent (both seats share spaces);
    ``config`` as :func:`network_config` takes it (``"auto"`` resolved for ``env``)."""
    agent = env.agents[0]
    shape = tuple(env.observation_space(agent).shape)
    if len(shape) != 1:
        raise LoiError(f"networks take flat observations; {getattr(env, 'name', 'this environment')} gives shape "
                       f"{shape} (wrap it with loi.envs.wrap, which flattens images and records view_shape)")
    (obs_dim,) = shape
    view_shape = getattr(env, "view_shape", None)
    config = resolve_network(network_config(config), view_shape)
    if config.uses_conv and view_shape is None:
        raise LoiError(f"a 'cnn' network or encoder needs a grid game or another image observation; "
                       f"{getattr(env, 'name', 'this environment')} gives a flat vector (no view_shape): "
                       "use 'mlp' or 'auto'")
    return ActorCritic(
        num_actions=int(env.action_space(agent).n),
        obs_dim=int(obs_dim),
        view_shape=None if view_shape is None else tuple(int(d) for d in view_shape),
        config=config,
    )


def network_from_description(description: dict[str, Any]) -> ActorCritic:
    """Rebuild the network ``ActorCritic.describe()`` described (descriptions
    written before a field existed get that field's default)."""
    try:
        view = description["view_shape"]
        fields = {f.name for f in dataclasses.fields(NetworkConfig)}
        config = NetworkConfig(**{k: tuple(v) if isinstance(v, list) else v
                                  for k, v in description.items() if k in fields})
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
    obs = jnp.zeros((network.obs_dim,), jnp.float32)
    if not network.recurrent:
        return network.init(key, obs)
    step = jnp.zeros((1, 1), jnp.int32)
    return network.init(key, obs[None, None], network.initial_core((1,)), step, step.astype(jnp.float32),
                        step.astype(bool))
