"""The validated, frozen training configuration and the regime names."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from loi.agents.networks import NetworkConfig, network_config
from loi.errors import LoiError

_REGIME = re.compile(r"^(sp|pp|fcp)(\d*)(?:-([a-z_]+))?$")

# How an sp/ppN learner meets its partners (see loi.training.ppo): "concurrent" draws a live
# population member per episode; "generational" is the authors' MARL/PP_train.py as described: per
# generation a frozen copy of a drawn member (itself included; sp: itself), and only the learner's
# seat trains; "lineage" is that code as it ran: the learner also takes over the drawn member's
# weights and optimiser state (their restore, PP_train.py lines 203-206), so it continues that
# member's lineage in self-play against a frozen copy of it.
PP_SCHEDULES = ("concurrent", "generational", "lineage")
FROZEN_PARTNER_SCHEDULES = ("generational", "lineage")
# A regime name's variant (``pp5-generational``, ``fcp5-bots``): a study can train one regime in
# two ways side by side. sp/ppN take a pp schedule; fcpN takes "bots" (pool_bots in its pool).
BOTS_VARIANT = "bots"


@dataclass(frozen=True)
class Regime:
    """``kind`` is ``"sp"``, ``"pp"`` or ``"fcp"``; ``size`` the population (pp)
    or frozen-pool (fcp) size, 1 for sp; ``variant`` (may be empty) a pp schedule
    for sp/ppN or ``"bots"`` for fcpN."""

    kind: str
    size: int
    variant: str = ""

    @property
    def base(self) -> "Regime":
        """The regime without its variant."""
        return Regime(self.kind, self.size)

    @property
    def num_members(self) -> int:
        """Trained parameter sets per seed: the population for pp, else one."""
        return self.size if self.kind == "pp" else 1

    def __str__(self) -> str:
        name = "sp" if self.kind == "sp" else f"{self.kind}{self.size}"
        return f"{name}-{self.variant}" if self.variant else name


def parse_regime(name: str) -> Regime:
    """``"sp"`` -> SP; ``"pp3"`` -> population of 3; ``"fcp5"`` -> pool of 5;
    ``"pp5-generational"`` -> PP5 on the generational schedule; ``"fcp5-bots"`` ->
    FCP5 whose pool holds the config's ``pool_bots``."""
    match = _REGIME.match(str(name).strip().lower())
    if match is None:
        raise LoiError(f"unknown regime {name!r}: expected sp, ppN or fcpN (e.g. pp3, fcp5), optionally with a "
                       f"variant (pp5-generational, fcp5-bots)")
    kind, digits, variant = match.groups()
    variant = variant or ""
    valid = (BOTS_VARIANT,) if kind == "fcp" else PP_SCHEDULES
    if variant and variant not in valid:
        raise LoiError(f"unknown variant {variant!r} of regime {name!r}; {kind} takes {', '.join(valid)}")
    if kind == "sp":
        if digits:
            raise LoiError(f"unknown regime {name!r}: self-play takes no size (use 'sp')")
        return Regime("sp", 1, variant)
    if not digits or int(digits) < 1:
        raise LoiError(f"regime {name!r} needs a size >= 1, e.g. {kind}3")
    return Regime(kind, int(digits), variant)


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LoiError(f"{name} must be a positive integer, got {value!r}")


def _in_range(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        left = "(" if low_open else "["
        raise LoiError(f"{name} must be a number in {left}{low}, {high}], got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (besides the RNG seed).

    ``total_steps`` counts environment steps per trained member per seed; it is
    rounded to a whole number of updates per generation
    (``num_generations * updates_per_generation * num_envs * rollout_length``).
    Defaults are PureJaxRL's PPO settings, which learn on every built-in game.
    """

    scenario: str
    regime: str = "sp"
    num_seeds: int = 1
    total_steps: int = 1_000_000
    num_generations: int = 10
    num_envs: int = 64
    rollout_length: int = 128
    update_epochs: int = 4
    num_minibatches: int = 4
    learning_rate: float = 1e-3
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    network: NetworkConfig = field(default_factory=NetworkConfig)
    env_overrides: tuple[tuple[str, Any], ...] = ()
    pp_schedule: str = "concurrent"
    # fcpN only: Melting Pot bots (``bots:NAME``, loi.agents.bots) in the frozen pool, beside
    # N - len(pool_bots) checkpoints of a self-play run.
    pool_bots: tuple[str, ...] = ()
    # fcpN only: the seats the learner holds in each environment of an N-player game (drawn per
    # episode; the pool's partners sit in the other N - learner_seats).
    learner_seats: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.scenario, str) or not self.scenario:
            raise LoiError(f"scenario must be a name like 'prisoners_dilemma/small', got {self.scenario!r}")
        self._apply_variant(parse_regime(self.regime))
        for name in ("num_seeds", "total_steps", "num_generations", "num_envs", "rollout_length",
                     "update_epochs", "num_minibatches"):
            _positive_int(name, getattr(self, name))
        _in_range("learning_rate", self.learning_rate, 0.0, 1.0, low_open=True)
        for name in ("gamma", "gae_lambda"):
            _in_range(name, getattr(self, name), 0.0, 1.0)
        _in_range("clip_eps", self.clip_eps, 0.0, 1.0, low_open=True)
        for name in ("ent_coef", "vf_coef"):
            _in_range(name, getattr(self, name), 0.0, 1e3)
        _in_range("max_grad_norm", self.max_grad_norm, 0.0, 1e6, low_open=True)
        if not isinstance(self.anneal_lr, bool):
            raise LoiError(f"anneal_lr must be true or false, got {self.anneal_lr!r}")
        if self.pp_schedule not in PP_SCHEDULES:
            raise LoiError(f"unknown pp_schedule {self.pp_schedule!r}; valid: {', '.join(PP_SCHEDULES)}")
        if self.pp_schedule != "concurrent" and self.regime_spec.kind == "fcp":
            raise LoiError(f"pp_schedule {self.pp_schedule!r} applies to sp and ppN; {self.regime} already "
                           "trains against a frozen pool")
        self._check_pool_bots()
        _positive_int("learner_seats", self.learner_seats)
        if self.learner_seats != 1 and self.regime_spec.kind != "fcp":
            raise LoiError(f"learner_seats applies to fcpN; {self.regime} places its learner by itself")
        if isinstance(self.network, (dict, str)):  # a preset name or a table of fields (TOML, JSON, Python)
            object.__setattr__(self, "network", network_config(self.network))
        if not isinstance(self.network, NetworkConfig):
            raise LoiError(f"network must be a NetworkConfig, got {type(self.network).__name__}")
        overrides = dict(self.env_overrides) if not isinstance(self.env_overrides, dict) else self.env_overrides
        if not all(isinstance(k, str) for k in overrides):
            raise LoiError(f"env_overrides keys must be parameter names, got {sorted(map(str, overrides))}")
        # Lists (from TOML/JSON) become tuples so the config stays hashable (a jit/compile cache key).
        object.__setattr__(self, "env_overrides", tuple(sorted(
            (k, tuple(v) if isinstance(v, list) else v) for k, v in overrides.items())))
        if self.network.recurrent and self.num_envs % self.num_minibatches:
            raise LoiError(
                f"num_minibatches ({self.num_minibatches}) must divide num_envs ({self.num_envs}): a recurrent "
                "network's minibatches are whole rollouts of environments"
            )
        if (self.num_envs * self.rollout_length) % self.num_minibatches:
            raise LoiError(
                f"num_minibatches ({self.num_minibatches}) must divide num_envs * rollout_length "
                f"({self.num_envs * self.rollout_length})"
            )
        if self.total_steps < self.steps_per_update * self.num_generations:
            raise LoiError(
                f"total_steps ({self.total_steps}) is less than one update per generation: need at least "
                f"num_generations * num_envs * rollout_length = {self.steps_per_update * self.num_generations}"
            )

    def _apply_variant(self, regime: Regime) -> None:
        """A variant regime name becomes its base regime plus the field it stands for."""
        if not regime.variant:
            return
        if regime.variant == BOTS_VARIANT:
            if not self.pool_bots:
                raise LoiError(f"regime {regime} puts pool_bots in the pool, but none are listed")
        elif self.pp_schedule not in ("concurrent", regime.variant):
            raise LoiError(f"regime {regime} names the {regime.variant} schedule, but pp_schedule is "
                           f"{self.pp_schedule!r}")
        else:
            object.__setattr__(self, "pp_schedule", regime.variant)
        object.__setattr__(self, "regime", str(regime.base))

    def _check_pool_bots(self) -> None:
        bots = self.pool_bots
        if isinstance(bots, str) or not isinstance(bots, (tuple, list)) or not all(isinstance(b, str) for b in bots):
            raise LoiError(f"pool_bots must be a list of bot names (bots:NAME), got {bots!r}")
        object.__setattr__(self, "pool_bots", tuple(bots))
        if not bots:
            return
        regime = self.regime_spec
        if regime.kind != "fcp":
            raise LoiError(f"pool_bots are members of an fcpN pool; regime {regime} has no pool")
        if len(bots) > regime.size:
            raise LoiError(f"regime {regime} has a pool of {regime.size}, but {len(bots)} pool_bots are listed")
        if len(set(bots)) != len(bots):
            raise LoiError(f"pool_bots lists a bot twice: {list(bots)}")
        import loi.envs
        from loi.agents.bots import parse_bot

        env = loi.envs.make(self.scenario, **dict(self.env_overrides))
        names = [parse_bot(b, env.num_strategies).name for b in bots]  # LoiError for a bad name
        if len(set(names)) != len(names):
            raise LoiError(f"pool_bots lists the same bot twice: {list(bots)}")

    @property
    def regime_spec(self) -> Regime:
        return parse_regime(self.regime)

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.rollout_length

    @property
    def updates_per_generation(self) -> int:
        return max(1, round(self.total_steps / (self.steps_per_update * self.num_generations)))

    @property
    def num_updates(self) -> int:
        return self.updates_per_generation * self.num_generations

    @property
    def steps_per_generation(self) -> int:
        """Environment steps per member per seed in one generation."""
        return self.updates_per_generation * self.steps_per_update

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["network"] = {k: list(v) if isinstance(v, tuple) else v for k, v in out["network"].items()}
        out["env_overrides"] = {k: v for k, v in self.env_overrides}
        if self.pool_bots:
            out["pool_bots"] = list(self.pool_bots)
        else:  # absent, as before the field existed: earlier runs keep their config hash
            out.pop("pool_bots")
        if self.learner_seats == 1:  # absent at its default, for the same reason
            out.pop("learner_seats")
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LoiError(f"unknown training config keys: {', '.join(unknown)}")
        data = dict(data)
        if "network" in data:
            data["network"] = network_config(data["network"])
        if "env_overrides" in data:
            data["env_overrides"] = tuple(sorted(dict(data["env_overrides"]).items()))
        if "pool_bots" in data:
            data["pool_bots"] = tuple(data["pool_bots"])
        return cls(**data)

    def config_hash(self) -> str:
        """Short, stable hash of the whole config (stored in checkpoint metadata)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
