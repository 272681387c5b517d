"""The study configuration: one TOML file, validated into frozen dataclasses.

    name = "quick"
    seed = 0
    games = ["prisoners_dilemma", "stag_hunt"]
    layouts = ["small", "medium"]          # GAME/LAYOUT scenarios; "matrix" = the repeated matrix game
    scenarios = ["chicken/small", "matrix/pure_coordination_3x3", "jaxmarl:overcooked/cramped_room"]
                                           # instead of games x layouts: any list of scenarios
    allocate_per = "game"                  # "game": each game's scenarios share a budget (the paper);
                                           #  "suite": one budget over every scenario (``budget`` is then
                                           #  the suite's)
    extra_regimes = ["pp5-generational", "fcp5-bots"]  # trained and reported beside the menu, never
                                           #  allocated; fcpN-bots only where the game has bots
    definitions = "my_games.toml"          # optional user [games.*]/[layouts.*], relative to this file
    allocator = "one_sigma"                # one_sigma | proportional | greedy
    uniform = "pp3"                        # the baseline allocation (every scenario)
    budget = 12                            # per game, in menu cost units (default: uniform everywhere)
    train = "menu"                         # "menu": every menu regime everywhere; "allocated": only
                                           #  the chosen regime, the uniform one and sp
    executor = "local"
    smoke = true                           # a smoke test: the report's banner says its numbers are not results
    [menu]        sp = 1, pp3 = 3, pp5 = 5 (regime names as ``loi train --regime``; cost in agent-trainings)
    [training]    steps, generations, sp_seeds, seeds, and any other TrainConfig field (num_envs, learning_rate, ...)
                  length_multiplier = { pp3 = 2, pp5 = 2 }: those regimes train that many times the steps
                  and generations (as the authors' released PP3/PP5); sp, its LoI co-players and the
                  held-out Bobs keep [training]'s length
    [training.network]  preset = "gru" and/or NetworkConfig fields (kind, hidden, core_size, ...);
                  or network = "NAME" (a preset: mlp, cnn, gru, lstm, authors)
    [env]         environment overrides for every scenario (e.g. min_steps = 100)
    [heldout]     seeds, stages: held-out Bobs = stages checkpoints of each of seeds separate SP seeds;
                  bots = ["bots:tit_for_tat", ...]: Melting Pot bots as further Bobs (seeds = 0: bots only)
    [evaluation]  episodes, ego_checkpoints, ego_seeds, tournament_episodes, estimator, permutations, bootstrap,
                  confidence, ci_method, top, greedy_from

Allocation is per game (the scenarios of one game share the game's budget), as
in the paper. Every problem raises one ``LoiError`` line naming the key.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loi.errors import LoiError

if TYPE_CHECKING:  # pragma: no cover
    from loi.training.config import TrainConfig

EXECUTORS = ("local", "ray")
TRAIN_MODES = ("menu", "allocated")
DEFAULT_MENU = {"sp": 1.0, "pp3": 3.0, "pp5": 5.0}
TOP_KEYS = {"name", "seed", "games", "layouts", "scenarios", "allocate_per", "extra_regimes", "definitions",
            "allocator", "uniform", "budget", "train", "executor", "ray", "menu", "training", "env", "heldout",
            "evaluation", "smoke"}
SUITE = "suite"  # allocate_per's value, and the allocation group of every scenario of such a study
ALLOCATE_PER = ("game", SUITE)

# [training] keys of ours; every other TrainConfig field passes straight through (see _training),
# except those the study sets per job.
_TRAINING_KEYS = {"steps", "generations", "sp_seeds", "seeds", "network", "length_multiplier"}
_SET_PER_JOB = {"scenario", "regime", "num_seeds", "total_steps", "num_generations", "network", "env_overrides"}


def scenario_name(game: str, layout: str) -> str:
    """The environment name of a game on a layout (``matrix/GAME`` for the matrix layout)."""
    return f"matrix/{game}" if layout == "matrix" else f"{game}/{layout}"


def split_scenario(scenario: str) -> tuple[str, str]:
    """``(game, layout)`` of a scenario name, the inverse of :func:`scenario_name`
    (``jaxmarl:overcooked/cramped_room?k=v`` -> ``("jaxmarl:overcooked", "cramped_room?k=v")``)."""
    first, _, rest = scenario.partition("/")
    if first == "matrix":
        return rest, "matrix"
    return first, rest


@dataclass(frozen=True)
class TrainingSettings:
    steps: int = 200_000  # env steps per trained member per seed
    generations: int = 10  # checkpoints over a run
    sp_seeds: int = 5  # independent SP seeds per scenario: SP5 in the paper; also the LoI co-players
    seeds: int = 1  # seeds of every other regime (a PP-n seed yields n egos)
    network: tuple[tuple[str, Any], ...] = ()  # NetworkConfig fields that differ from its defaults
    options: tuple[tuple[str, Any], ...] = ()  # further TrainConfig fields
    # (regime, factor): regimes trained ``factor`` times ``steps`` and ``generations``
    length_multiplier: tuple[tuple[str, int], ...] = ()

    def length_of(self, regime: str) -> int:
        """How many times [training]'s steps and generations ``regime`` trains."""
        return dict(self.length_multiplier).get(regime, 1)


@dataclass(frozen=True)
class HeldoutSettings:
    seeds: int = 5  # separate SP seeds, never seen in training (default: training.sp_seeds); 0: bots only
    stages: int = 2  # checkpoints per seed, spread over training
    bots: tuple[str, ...] = ()  # Melting Pot bots (bots:NAME, loi.agents.bots) among the Bobs


@dataclass(frozen=True)
class EvaluationSettings:
    episodes: int = 6  # LoI cross-play: episodes per (ego, co-player checkpoint)
    ego_checkpoints: int = 4  # LoI cross-play: the last generations of each SP seed used as egos
    ego_seeds: int | None = None  # LoI cross-play: egos from the first n SP seeds (None: all; the paper: 1)
    tournament_episodes: int = 20  # fixed-Bob: episodes per (ego, Bob)
    estimator: str = "knn"
    permutations: int = 500
    bootstrap: int = 500
    confidence: float = 0.95
    ci_method: str = "auto"  # LoI bootstrap interval (loi.metrics.CI_METHODS)
    top: int = 30  # the paper's truncated comparison (labelled extra)
    greedy_from: str | None = None  # a previous run dir whose scores fit the greedy benefit curve


@dataclass(frozen=True)
class StudyConfig:
    """A validated study. ``scenarios`` is ``GAME/LAYOUT`` for every game x layout."""

    name: str
    seed: int
    games: tuple[str, ...]
    layouts: tuple[str, ...]
    menu: tuple[tuple[str, float], ...]  # (regime, cost), sorted by cost
    allocator: str
    uniform: str
    budget: float  # per game
    train: str
    executor: str
    training: TrainingSettings
    env: tuple[tuple[str, Any], ...]
    heldout: HeldoutSettings
    evaluation: EvaluationSettings
    definitions: str | None = None  # the definitions file's text (copied into the run dir)
    ray: str | None = None  # Ray address for executor "ray" (None: a Ray instance in this process)
    smoke: bool = False  # a smoke test (smoke = true): sized to check the stages run, not for results
    source: str | None = field(default=None, compare=False)  # where the config was read from
    scenario_list: tuple[str, ...] = ()  # ``scenarios = [...]``: these instead of games x layouts
    allocate_per: str = "game"  # "game" or "suite": the scenarios that share one budget
    extra_regimes: tuple[str, ...] = ()  # trained and reported beside the menu, never allocated

    @property
    def scenarios(self) -> tuple[str, ...]:
        if self.scenario_list:
            return self.scenario_list
        return tuple(scenario_name(g, lay) for g in self.games for lay in self.layouts)

    @property
    def game_of(self) -> dict[str, str]:
        """Scenario -> its game (correlations are per game; so is allocation unless allocate_per = "suite")."""
        return {s: split_scenario(s)[0] for s in self.scenarios}

    @property
    def allocation_group(self) -> dict[str, str]:
        """Scenario -> the group whose scenarios share one budget: its game, or ``suite`` for all."""
        return {s: SUITE for s in self.scenarios} if self.allocate_per == SUITE else self.game_of

    @property
    def trained_regimes(self) -> tuple[str, ...]:
        """The menu's regimes then the extra ones (each scenario trains those that apply to it)."""
        return tuple(dict.fromkeys((*self.menu_costs, *self.extra_regimes)))

    @property
    def menu_costs(self) -> dict[str, float]:
        return dict(self.menu)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("source")
        out["menu"] = dict(self.menu)
        out["env"] = dict(self.env)
        out["training"]["options"] = dict(self.training.options)
        out["training"]["network"] = dict(self.training.network)
        if self.heldout.bots:
            out["heldout"]["bots"] = list(self.heldout.bots)
        else:  # absent, as before the key existed: the hashes of earlier studies stay as they were
            out["heldout"].pop("bots")
        if self.training.length_multiplier:
            out["training"]["length_multiplier"] = dict(self.training.length_multiplier)
        else:  # absent, as before the key existed: the hashes of earlier studies stay as they were
            out["training"].pop("length_multiplier")
        # Absent at their defaults, as before these keys existed (the same reason).
        for key, default in (("scenario_list", ()), ("allocate_per", "game"), ("extra_regimes", ())):
            if out[key] == default or list(out[key]) == list(default):
                out.pop(key)
            elif isinstance(out[key], tuple):
                out[key] = list(out[key])
        return out

    def config_hash(self) -> str:
        """Stable hash of everything that changes results (the executor does not)."""
        data = self.to_dict()
        data.pop("executor")
        data.pop("ray")
        data.pop("smoke")  # a label for the report, not a setting
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- validation helpers


def _unknown(table: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise LoiError(f"unknown config key {where}{extra[0]!r}; valid keys: {', '.join(sorted(allowed))}")


def _int(value: Any, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LoiError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _flag(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise LoiError(f"{key} must be true or false, got {value!r}")
    return value


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LoiError(f"{key} must be a finite number, got {value!r}")
    return float(value)


def _str(value: Any, key: str, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise LoiError(f"{key} must be a non-empty string, got {value!r}")
    if choices is not None and value not in choices:
        raise LoiError(f"unknown {key} {value!r}; valid: {', '.join(choices)}")
    return value


def _names(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise LoiError(f"{key} must be a non-empty list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise LoiError(f"{key} lists a name twice: {value!r}")
    return tuple(value)


def _table(doc: dict, key: str) -> dict:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise LoiError(f"[{key}] must be a table, got {value!r}")
    return value


# ----------------------------------------------------------------------------- sections


def _menu(doc: dict) -> tuple[tuple[str, float], ...]:
    from loi.training.config import parse_regime

    raw = _table(doc, "menu") or DEFAULT_MENU
    menu: dict[str, float] = {}
    for name, cost in raw.items():
        regime = str(parse_regime(name))  # LoiError for an unknown regime name
        if regime in menu:
            raise LoiError(f"menu lists regime {regime!r} twice")
        value = _number(cost, f"menu.{name}")
        if value < 0:
            raise LoiError(f"menu.{name} must be >= 0, got {cost!r}")
        menu[regime] = value
    if "sp" not in menu:
        # Stage 1 trains SP everywhere (LoI co-players); it is the reference of the normalised scores.
        raise LoiError("the menu must include 'sp' (the self-play reference every scenario trains)")
    return tuple(sorted(menu.items(), key=lambda item: (item[1], item[0])))


def _network_settings(raw: dict, legacy: dict) -> tuple[tuple[str, Any], ...]:
    """``[training.network]`` (or ``network = "PRESET"``) plus network fields given
    directly under ``[training]`` -> the fields that differ from NetworkConfig's defaults."""
    from loi.agents.networks import NetworkConfig, network_config

    spec = raw.get("network", {})
    if isinstance(spec, str):
        spec = {"preset": spec}
    if not isinstance(spec, dict):
        raise LoiError(f"training.network must be a preset name or a table, got {spec!r}")
    try:
        resolved = network_config({**legacy, **spec})
    except LoiError as err:
        raise LoiError(f"training.network: {err}") from None
    defaults = asdict(NetworkConfig())
    return tuple((k, v) for k, v in sorted(asdict(resolved).items()) if v != defaults[k])


def _training(doc: dict) -> TrainingSettings:
    from dataclasses import fields

    from loi.agents.networks import NetworkConfig
    from loi.training.config import TrainConfig

    raw = _table(doc, "training")
    passthrough = {f.name for f in fields(TrainConfig)} - _SET_PER_JOB
    network_fields = {f.name for f in fields(NetworkConfig)}
    _unknown(raw, _TRAINING_KEYS | passthrough | network_fields, "training.")
    defaults = TrainingSettings()
    options = {k: raw[k] for k in sorted(passthrough & set(raw))}
    for k, v in options.items():
        if isinstance(v, list):
            options[k] = tuple(v)
    return TrainingSettings(
        steps=_int(raw.get("steps", defaults.steps), "training.steps", 1),
        generations=_int(raw.get("generations", defaults.generations), "training.generations", 1),
        sp_seeds=_int(raw.get("sp_seeds", defaults.sp_seeds), "training.sp_seeds", 2),
        seeds=_int(raw.get("seeds", defaults.seeds), "training.seeds", 1),
        network=_network_settings(raw, {k: raw[k] for k in network_fields & set(raw)}),
        options=tuple(options.items()),
        length_multiplier=_length_multiplier(raw.get("length_multiplier", {})),
    )


def _length_multiplier(value: Any) -> tuple[tuple[str, int], ...]:
    from loi.training.config import parse_regime

    if not isinstance(value, dict):
        raise LoiError(f"training.length_multiplier must be a table of regime = factor, got {value!r}")
    out = []
    for regime, factor in sorted(value.items()):
        parse_regime(regime)
        if regime == "sp":
            raise LoiError("training.length_multiplier: sp is the SP baseline and the LoI co-player set; "
                           "its length is [training] steps and generations")
        out.append((regime, _int(factor, f"training.length_multiplier.{regime}", 1)))
    return tuple(out)


def _heldout(doc: dict, generations: int, sp_seeds: int) -> HeldoutSettings:
    raw = _table(doc, "heldout")
    _unknown(raw, {"seeds", "stages", "bots"}, "heldout.")
    bots = _names(raw["bots"], "heldout.bots") if "bots" in raw else ()
    if any(not b.startswith("bots:") for b in bots):
        raise LoiError(f"heldout.bots must name Melting Pot bots (bots:NAME), got {list(bots)!r}")
    # Default: as many seeds as the SP run, so the held-out run is the same compiled program
    # (one compile per scenario instead of two; the compile dominates short studies).
    out = HeldoutSettings(seeds=_int(raw.get("seeds", sp_seeds), "heldout.seeds", 0 if bots else 1),
                          stages=_int(raw.get("stages", HeldoutSettings.stages), "heldout.stages", 1), bots=bots)
    if out.stages > generations:
        raise LoiError(f"heldout.stages ({out.stages}) exceeds training.generations ({generations})")
    return out


def _evaluation(doc: dict, base: Path | None) -> EvaluationSettings:
    from loi.metrics import CI_METHODS, ESTIMATORS

    raw = _table(doc, "evaluation")
    d = EvaluationSettings()
    _unknown(raw, set(asdict(d)), "evaluation.")
    confidence = _number(raw.get("confidence", d.confidence), "evaluation.confidence")
    if not 0 < confidence < 1:
        raise LoiError(f"evaluation.confidence must be in (0, 1), got {confidence}")
    greedy_from = raw.get("greedy_from")
    if greedy_from is not None:
        path = Path(_str(greedy_from, "evaluation.greedy_from")).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        from loi.pipeline.studydir import StudyDir, Table

        scores = StudyDir(path).table(Table.SCORES)
        if not scores.is_file():
            raise LoiError(f"evaluation.greedy_from: {path} is not a finished loi run (no {scores.relative_to(path)})")
        greedy_from = str(path.resolve())
    return EvaluationSettings(
        episodes=_int(raw.get("episodes", d.episodes), "evaluation.episodes", 2),
        ego_checkpoints=_int(raw.get("ego_checkpoints", d.ego_checkpoints), "evaluation.ego_checkpoints", 1),
        ego_seeds=None if raw.get("ego_seeds") is None else _int(raw["ego_seeds"], "evaluation.ego_seeds", 1),
        tournament_episodes=_int(raw.get("tournament_episodes", d.tournament_episodes),
                                 "evaluation.tournament_episodes", 1),
        estimator=_str(raw.get("estimator", d.estimator), "evaluation.estimator", ESTIMATORS),
        # >= 1: the allocators read the null-corrected LoI, which needs the permutation null.
        permutations=_int(raw.get("permutations", d.permutations), "evaluation.permutations", 1),
        bootstrap=_int(raw.get("bootstrap", d.bootstrap), "evaluation.bootstrap", 0),
        confidence=confidence,
        ci_method=_str(raw.get("ci_method", d.ci_method), "evaluation.ci_method", CI_METHODS),
        top=_int(raw.get("top", d.top), "evaluation.top", 2),
        greedy_from=greedy_from,
    )


def _definitions(doc: dict, base: Path | None) -> str | None:
    if "definitions" not in doc:
        return None
    path = Path(_str(doc["definitions"], "definitions")).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    from loi.envs import load_definitions

    try:
        load_definitions(path, register_them=False)  # validates every entry, registers nothing
    except LoiError as err:
        raise LoiError(err if str(path) in str(err) else f"definitions {path}: {err}") from None
    return path.read_text(encoding="utf-8")


def register_definitions(text: str | None) -> None:
    """Register a config's user games/layouts in this process (idempotent)."""
    if not text:
        return
    import tempfile

    from loi.envs import load_definitions

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "definitions.toml"
        path.write_text(text, encoding="utf-8")
        load_definitions(path)


def _check_scenarios(games: tuple[str, ...], layouts: tuple[str, ...], env: dict[str, Any]) -> None:
    import loi.envs

    known_games, known_layouts = loi.envs.games(), loi.envs.layouts()
    # An external environment (``jaxmarl:NAME``) has its own layouts: building it checks them.
    own = [g for g in games if not g.startswith("jaxmarl:")]
    for g in own:
        if g not in known_games:
            raise LoiError(f"unknown game {g!r}; valid games: {', '.join(sorted(known_games))}")
    for lay in layouts if own else ():
        if lay != "matrix" and lay not in known_layouts:
            raise LoiError(f"unknown layout {lay!r}; valid layouts: {', '.join(sorted(known_layouts))}, matrix")
    for g in games:
        for lay in layouts:
            try:
                loi.envs.make(scenario_name(g, lay), **env)
            except LoiError as err:
                raise LoiError(f"[env] for {scenario_name(g, lay)}: {err}") from None


def _scenarios(doc: dict, env: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """``(games, layouts, scenario_list)``: from ``games`` x ``layouts``, or from ``scenarios``
    (then games and layouts list the distinct ones, in order)."""
    if "scenarios" not in doc:
        games = _names(doc.get("games"), "games")
        layouts = _names(doc.get("layouts"), "layouts")
        _check_scenarios(games, layouts, env)
        return games, layouts, ()
    if "games" in doc or "layouts" in doc:
        raise LoiError("give either scenarios or games and layouts, not both")
    scenarios = _names(doc["scenarios"], "scenarios")
    for scenario in scenarios:
        game, layout = split_scenario(scenario)
        if not game or not layout:
            raise LoiError(f"scenarios: {scenario!r} is not GAME/LAYOUT, matrix/GAME or jaxmarl:ENV/LAYOUT")
        _check_scenarios((game,), (layout,), env)
    split = [split_scenario(s) for s in scenarios]
    return (tuple(dict.fromkeys(g for g, _ in split)), tuple(dict.fromkeys(lay for _, lay in split)), scenarios)


def _group_size(scenarios: list[str] | tuple[str, ...], allocate_per: str) -> int:
    """How many scenarios share one budget; per game they must be as many in every game."""
    if allocate_per == "suite":
        return len(scenarios)
    sizes = {}
    for s in scenarios:
        game = split_scenario(s)[0]
        sizes[game] = sizes.get(game, 0) + 1
    if len(set(sizes.values())) > 1:
        raise LoiError(f"allocate_per = \"game\" needs as many scenarios in every game (a budget per game), got "
                       f"{sizes}; use allocate_per = \"suite\"")
    return next(iter(sizes.values()))


def _extra_regimes(doc: dict, menu: dict[str, float]) -> tuple[str, ...]:
    from loi.training.config import parse_regime

    if "extra_regimes" not in doc:
        return ()
    extra = tuple(str(parse_regime(r)) for r in _names(doc["extra_regimes"], "extra_regimes"))
    if set(extra) & set(menu):
        raise LoiError(f"extra_regimes lists {sorted(set(extra) & set(menu))[0]!r}, which is in the menu already")
    return extra


def _budget(doc: dict, menu: dict[str, float], uniform: str, group_size: int) -> float:
    """The budget of each group of ``group_size`` scenarios (a game's, or the suite's)."""
    from loi.allocation.menu import validate_budget

    if "budget" not in doc:
        return menu[uniform] * group_size
    # Above the costliest allocation no allocation could spend it, so arms would differ in cost.
    return validate_budget(_number(doc["budget"], "budget"), group_size, menu, upper=True,
                           scenarios="scenarios sharing a budget")


def _study_allocators() -> tuple[str, ...]:
    from loi.allocation import allocator_names

    return allocator_names(study=True)


def _check_allocator(allocator: str, menu: dict[str, float], evaluation: EvaluationSettings, budget: float,
                     n_layouts: int) -> None:
    from loi.allocation import get_allocator

    get_allocator(allocator).check(menu, budget, n_layouts)  # the allocator's own menu and budget needs
    if allocator == "greedy" and evaluation.greedy_from is None:
        raise LoiError("allocator greedy fits its benefit-vs-LoI curve on a previous run: set "
                       "evaluation.greedy_from = RUN_DIR (or use one_sigma / proportional)")


def study_config(doc: dict[str, Any], *, base: Path | None = None, source: str | None = None) -> StudyConfig:
    """Validate a parsed TOML document (``base``: directory relative paths start from)."""
    if not isinstance(doc, dict):
        raise LoiError("the config must be a TOML table")
    _unknown(doc, TOP_KEYS, "")
    name = _str(doc.get("name", "study"), "name")
    if not all(c.isalnum() or c in "-_." for c in name):
        raise LoiError(f"name must use letters, digits, '-', '_' or '.', got {name!r}")
    seed = _int(doc.get("seed", 0), "seed", 0)
    definitions = _definitions(doc, base)
    register_definitions(definitions)
    env = _table(doc, "env")
    games, layouts, scenario_list = _scenarios(doc, env)
    allocate_per = _str(doc.get("allocate_per", "game"), "allocate_per", ALLOCATE_PER)
    group_size = _group_size(scenario_list or [scenario_name(g, lay) for g in games for lay in layouts],
                               allocate_per)
    menu = dict(_menu(doc))
    uniform = str(doc.get("uniform", "pp3"))
    if uniform not in menu:
        raise LoiError(f"uniform regime {uniform!r} is not in the menu ({', '.join(menu)})")
    allocator = _str(doc.get("allocator", "one_sigma"), "allocator", _study_allocators())
    training = _training(doc)
    unknown = [r for r, _ in training.length_multiplier if r not in menu]
    if unknown:
        raise LoiError(f"training.length_multiplier names {unknown[0]!r}, which is not in the menu ({', '.join(menu)})")
    evaluation = _evaluation(doc, base)
    if evaluation.ego_seeds is not None and evaluation.ego_seeds > training.sp_seeds:
        raise LoiError(f"evaluation.ego_seeds ({evaluation.ego_seeds}) exceeds training.sp_seeds ({training.sp_seeds})")
    if evaluation.ego_checkpoints > training.generations:
        raise LoiError(f"evaluation.ego_checkpoints ({evaluation.ego_checkpoints}) exceeds training.generations "
                       f"({training.generations})")
    _check_allocator(allocator, menu, evaluation, _budget(doc, menu, uniform, group_size), group_size)
    config = StudyConfig(
        name=name,
        seed=seed,
        games=games,
        layouts=layouts,
        menu=tuple(menu.items()),
        allocator=allocator,
        uniform=uniform,
        budget=_budget(doc, menu, uniform, group_size),
        train=_str(doc.get("train", "menu"), "train", TRAIN_MODES),
        executor=_str(doc.get("executor", "ray" if doc.get("ray") is not None else "local"), "executor", EXECUTORS),
        ray=_ray_address(doc.get("ray")),
        training=training,
        env=tuple(sorted(env.items())),
        heldout=_heldout(doc, training.generations, training.sp_seeds),
        evaluation=evaluation,
        definitions=definitions,
        smoke=_flag(doc.get("smoke", False), "smoke"),
        source=source,
        scenario_list=scenario_list,
        allocate_per=allocate_per,
        extra_regimes=_extra_regimes(doc, menu),
    )
    for scenario in config.scenarios:
        if not config.heldout.seeds and not has_bots(config, scenario):
            raise LoiError(f"heldout.seeds = 0 leaves {scenario} without held-out Bobs: it has no bots")
    if config.heldout.bots:
        import loi.envs
        from loi.agents.bots import parse_bot

        for scenario in config.scenarios:
            if not has_bots(config, scenario):
                continue  # bots play the games with resource types; the others meet held-out SP seeds only
            k = loi.envs.make(scenario, **env).num_strategies
            for bot in config.heldout.bots:
                try:
                    parse_bot(bot, k)
                except LoiError as err:
                    raise LoiError(f"heldout.bots for {scenario}: {err}") from None
    # Build every training config once so that its own checks (e.g. steps too small for one
    # update per generation) fail now, before anything is written.
    for scenario in config.scenarios:
        for regime in config.trained_regimes:
            if not applies(config, scenario, regime):
                continue
            try:
                train_config(config, scenario, regime, 1)
            except LoiError as err:
                raise LoiError(f"[training] for {scenario} {regime}: {err}") from None
    return config


def _ray_address(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise LoiError(f"ray must be a Ray address ('auto', 'local', 'HOST:PORT', 'ray://HOST:PORT'), got {value!r}")
    return value


def read_toml(path: str | Path | None = None) -> tuple[dict[str, Any], str, str, Path | None]:
    """``(document, text, source, base directory)`` of a config file; ``None``: the embedded quick study."""
    if path is None:
        from importlib.resources import files

        text, source, base = (files("loi.pipeline") / "quick.toml").read_text(encoding="utf-8"), "quick.toml", None
    else:
        path = Path(path)
        if path.is_dir():
            raise LoiError(f"config {path} is a directory, not a TOML file")
        if not path.is_file():
            raise LoiError(f"config file not found: {path}")
        text, source, base = path.read_text(encoding="utf-8"), str(path), path.resolve().parent
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise LoiError(f"{source}: not valid TOML ({err})") from None
    return doc, text, source, base


def load_config(path: str | Path | None = None) -> StudyConfig:
    """Read and validate a study TOML file; ``None``: the embedded quick study."""
    doc, _, source, base = read_toml(path)
    if "settings" in doc:
        raise LoiError(f"{source} is a factorial config ([settings]): run it with `loi run`")
    return study_config(doc, base=base, source=source)


def study_from_dict(data: dict[str, Any]) -> StudyConfig:
    """Rebuild a validated config from :meth:`StudyConfig.to_dict` (what jobs receive)."""
    data = dict(data)
    training = dict(data["training"])
    training["options"] = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in training["options"].items())
    training["network"] = tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                       for k, v in training["network"].items()))
    training["length_multiplier"] = tuple(sorted(training.get("length_multiplier", {}).items()))
    evaluation = dict(data["evaluation"])
    return StudyConfig(
        name=data["name"], seed=data["seed"], games=tuple(data["games"]), layouts=tuple(data["layouts"]),
        menu=tuple(data["menu"].items()), allocator=data["allocator"], uniform=data["uniform"],
        budget=data["budget"], train=data["train"], executor=data["executor"],
        training=TrainingSettings(**training), env=tuple(sorted(data["env"].items())),
        heldout=HeldoutSettings(**{**data["heldout"], "bots": tuple(data["heldout"].get("bots", ()))}),
        evaluation=EvaluationSettings(**evaluation),
        definitions=data.get("definitions"), ray=data.get("ray"), smoke=bool(data.get("smoke", False)),
        scenario_list=tuple(data.get("scenario_list", ())), allocate_per=data.get("allocate_per", "game"),
        extra_regimes=tuple(data.get("extra_regimes", ())),
    )


# ----------------------------------------------------------------------------- the study's jobs


def train_config(config: StudyConfig, scenario: str, regime: str, num_seeds: int) -> "TrainConfig":
    """The training config of one (scenario, regime) job of the study."""
    from loi.agents.networks import NetworkConfig
    from loi.training.config import BOTS_VARIANT, TrainConfig, parse_regime

    length = config.training.length_of(regime)
    options = dict(config.training.options)
    spec = parse_regime(regime)
    if spec.variant != BOTS_VARIANT:  # [training] pool_bots fill the pools of the fcpN-bots regimes only
        options.pop("pool_bots", None)
    if spec.variant and spec.variant != BOTS_VARIANT:  # pp5-generational: this regime's own schedule
        options["pp_schedule"] = spec.variant
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


def has_bots(config: StudyConfig, scenario: str) -> bool:
    """Whether Melting Pot's bots play ``scenario`` (a game with resource types; JaxMARL's do not)."""
    import loi.envs

    return int(getattr(loi.envs.make(scenario, **dict(config.env)), "num_strategies", 0) or 0) >= 2


def applies(config: StudyConfig, scenario: str, regime: str) -> bool:
    """An ``fcpN-bots`` regime needs bots for its pool; every other regime trains anywhere."""
    from loi.training.config import BOTS_VARIANT, parse_regime

    return parse_regime(regime).variant != BOTS_VARIANT or has_bots(config, scenario)


def heldout_bots(config: StudyConfig, scenario: str) -> tuple[str, ...]:
    """The [heldout] bots that play ``scenario`` (none where the game has no bots)."""
    return config.heldout.bots if config.heldout.bots and has_bots(config, scenario) else ()
