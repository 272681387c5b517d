"""Parity of loi's grid games with the real Melting Pot substrates, side by side.

The same policies play ``{game}_in_the_matrix__repeated`` (``GAME_one_shot``:
``GAME_in_the_matrix__one_shot``) in Melting Pot 2.4.1 and loi's ``game/layout`` on the same
maps (the paper's small / medium / large / obstacle, and each substrate's own default map, with
its payoffs and rules read from the substrate's config), and the script prints, per game x map x policy, with standard
errors: episode length (mean; min), interactions per 1000 steps, reward per interaction (the
absolute values of both players' delivered rewards / 2 per interaction: for the games with
non-negative payoffs simply their mean reward; running with scissors is zero-sum), the first
player's reward per interaction (signed: agent_0, Melting Pot's player 1, who holds the row
role in bach or stravinsky), the dominant-resource share at
interaction (mean over interacting players of max_k of their strategy: 1.0 = a pure
strategy), and the reward delay (steps from an interaction to the step its rewards arrive;
interactions paying nothing to either player are not counted). A row passes when every figure agrees within 3 standard errors of the difference
or 5 % of Melting Pot's value, whichever is larger; the minimum, which has no useful standard
error, passes when each side's minimum is a plausible minimum of the other side's lengths
(:func:`minimum_agrees`).

Policies, each written once (:func:`scripted_action`, for numpy and jax.numpy alike) on a 5x5
cell view that each side parses from its own observation (Melting Pot: the RGB view,
:func:`loi.backends.meltingpot.parse_view`; loi: the flat observation, :func:`loi_view`):

- ``random``: uniform over the 8 actions;
- ``collectK`` (K up to the game's number of resource types; rows of larger K are skipped):
  zap when it has collected a resource and the partner is in the beam's reach;
  else step toward the nearest visible resource of type K; else walk forward, turning at
  walls and at random; 10 % of steps a uniform action.

Melting Pot runs episode by episode in Python (about 1,000 env steps/s with the RGB parsing
here, on one core); loi runs all its episodes at once, vmapped, in one ``lax.scan``.

    .venv-meltingpot/bin/python benchmarks/meltingpot_parity.py                # everything
    .venv-meltingpot/bin/python benchmarks/meltingpot_parity.py --games prisoners_dilemma \\
        --maps small --policies random --episodes 4 --loi-episodes 32            # ~1 minute
    .venv-meltingpot/bin/python benchmarks/meltingpot_parity.py \\
        --rows stag_hunt/large/random,chicken/default/random --episodes 40 \\
        --out docs/results/meltingpot_parity.md --section "Rerun"              # a section of the doc
    python benchmarks/meltingpot_parity.py --loi-only --json                      # no Melting Pot

``--out`` writes the table, with the command that made it, the date and the source tree it
ran on, into a markdown file as the section ``--section`` (replacing a section of that title,
else appended; the other sections are kept), atomically.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import io
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

PAPER_MAPS = ("small", "medium", "large", "obstacle")
DEFAULT_MAP = "default"  # the substrate's own map
# The paper's four, then Melting Pot's other 2-player in-the-matrix substrates.
PAPER_GAMES = ("prisoners_dilemma", "chicken", "stag_hunt", "pure_coordination")
MORE_GAMES = ("bach_or_stravinsky", "rationalizable_coordination", "running_with_scissors",
              "running_with_scissors_one_shot")
GAMES = PAPER_GAMES + MORE_GAMES
POLICIES = ("random", "collect1", "collect2", "collect3")
# Action indices shared by loi and Melting Pot's the_matrix ACTION_SET.
NOOP, FORWARD, BACKWARD, STEP_LEFT, STEP_RIGHT, TURN_LEFT, TURN_RIGHT, INTERACT = range(8)
NUM_ACTIONS = 8
VIEW_AHEAD, VIEW_HALF_WIDTH = 3, 2  # the player's cell in the 5x5 view: row 3, column 2
WALL = -1
EXPLORE_EPSILON = 0.1
TOLERANCE_SE, TOLERANCE_REL = 3.0, 0.05
FIGURES = ("length", "min_length", "interactions_per_1000", "reward_per_interaction", "first_reward_per_interaction",
           "dominant_share", "reward_delay")
RECORDS = ("length", "interactions", "first_interactions", "reward", "first_reward", "dominant_share",
           "strategies", "reward_delay", "delays")
ARENA_MAP = "arena"  # the game's N-player arena substrate (loi's GAME/arena)


# ----------------------------------------------------------------------------- the policies


def policy_target(policy: str) -> int:
    """0 for ``random``, K for ``collectK``."""
    if policy == "random":
        return 0
    if policy.startswith("collect") and policy[7:].isdigit() and int(policy[7:]) >= 1:
        return int(policy[7:])
    raise SystemExit(f"unknown policy {policy!r} (random or collectK)")


def scripted_action(xp, target, terrain, partner, collected, uniforms):
    """One action of the policy ``collect{target}`` (``random`` when target is 0) from a 5x5
    cell view: ``terrain`` i32[5, 5] (-1 wall, 0 floor, j resource of type j), ``partner``
    bool[5, 5], ``collected`` (holds a collected resource), ``uniforms`` f32[3] in [0, 1).
    ``xp`` is numpy or jax.numpy; only operations both share are used."""
    ahead = VIEW_AHEAD - xp.arange(terrain.shape[0])[:, None]  # cells ahead (+) / behind (-)
    right = xp.arange(terrain.shape[1])[None, :] - VIEW_HALF_WIDTH
    # The beam's reach (Melting Pot's hitBeam, length 3, radius 1), ignoring what blocks it.
    reach = ((right == 0) & (ahead >= 1) & (ahead <= 3)) | ((xp.abs(right) == 1) & (ahead >= 0) & (ahead <= 2))
    zap = collected & xp.any(partner & reach)
    far = 99
    dist = xp.where((terrain == target) & ((ahead != 0) | (right != 0)), xp.abs(ahead) + xp.abs(right), far)
    nearest = xp.argmin(dist.reshape(-1))
    to_ahead = (ahead + 0 * right).reshape(-1)[nearest]
    to_right = (right + 0 * ahead).reshape(-1)[nearest]
    seek = xp.where(to_ahead > 0, FORWARD,
                    xp.where(to_right < 0, STEP_LEFT, xp.where(to_right > 0, STEP_RIGHT, BACKWARD)))
    wall_ahead = terrain[VIEW_AHEAD - 1, VIEW_HALF_WIDTH] == WALL
    explore = xp.where(uniforms[0] < 0.15, TURN_LEFT,
                       xp.where(uniforms[0] < 0.3, TURN_RIGHT, xp.where(wall_ahead, TURN_RIGHT, FORWARD)))
    action = xp.where(zap, INTERACT, xp.where(xp.min(dist) < far, seek, explore))
    uniform_action = xp.minimum(xp.floor(uniforms[2] * NUM_ACTIONS), NUM_ACTIONS - 1).astype(action.dtype)
    random_step = (target == 0) | (uniforms[1] < EXPLORE_EPSILON)
    return xp.where(random_step, uniform_action, action)


# ----------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Figure:
    value: float
    se: float  # nan when there are too few episodes


def _mean(x: np.ndarray) -> Figure:
    x = np.asarray(x, float)
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    return Figure(float(x.mean()), se)


def _ratio(num: np.ndarray, den: np.ndarray, scale: float = 1.0) -> Figure:
    """sum(num) / sum(den) over episodes, with its delta-method (cluster) standard error."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    if den.sum() <= 0:
        return Figure(math.nan, math.nan)
    r = num.sum() / den.sum()
    n = num.size
    if n < 2:
        return Figure(scale * r, math.nan)
    resid = num - r * den
    se = math.sqrt(n / (n - 1) * np.sum(resid**2)) / den.sum()
    return Figure(scale * float(r), scale * float(se))


def summarise(records: dict[str, np.ndarray]) -> dict[str, Figure]:
    """The parity figures from per-episode arrays (:data:`RECORDS`): ``length``,
    ``interactions`` (pairs), ``first_interactions`` (those the first player took part in),
    ``reward`` (every player's absolute rewards), ``first_reward`` (the first player's,
    signed), ``dominant_share`` (summed over interacting players),
    ``strategies`` (their count), ``reward_delay`` (summed) and ``delays`` (their count)."""
    length = np.asarray(records["length"], float)
    return {
        "length": _mean(length),
        "min_length": Figure(float(length.min()), math.nan),
        "interactions_per_1000": _ratio(records["interactions"], length, 1000.0),
        "reward_per_interaction": _ratio(records["reward"], 2.0 * np.asarray(records["interactions"], float)),
        "first_reward_per_interaction": _ratio(records["first_reward"], records["first_interactions"]),
        "dominant_share": _ratio(records["dominant_share"], records["strategies"]),
        "reward_delay": _ratio(records["reward_delay"], records["delays"]),
    }


def minimum_agrees(loi_lengths: np.ndarray, reference_lengths: np.ndarray) -> bool:
    """Whether two samples' shortest episodes are consistent. The minimum of a few episodes
    is often an interval or more past the first possible end, so it has no useful standard
    error; instead each side's minimum must be a plausible minimum of as many draws from the
    other side's lengths: P(all n draws >= it) >= 0.0027 (the two-sided 3-sigma tail), or
    the two agree within 5 %."""
    a, b = np.asarray(loi_lengths, float), np.asarray(reference_lengths, float)
    if abs(a.min() - b.min()) <= TOLERANCE_REL * b.min():
        return True
    tail = 2 * (1 - 0.9986501019683699)  # 2 * (1 - Phi(3))
    return min(np.mean(a >= b.min()) ** b.size, np.mean(b >= a.min()) ** a.size) >= tail


def agrees(loi: Figure, reference: Figure) -> bool:
    """Within 3 standard errors of the difference or 5 % of the reference, whichever is larger."""
    if math.isnan(loi.value) or math.isnan(reference.value):
        return math.isnan(loi.value) and math.isnan(reference.value)
    se = math.sqrt(np.nansum([loi.se**2, reference.se**2]))
    return abs(loi.value - reference.value) <= max(TOLERANCE_SE * se, TOLERANCE_REL * abs(reference.value))


# ----------------------------------------------------------------------------- loi's side


def loi_view(env, obs):
    """``(terrain i32[5, 5], partner bool[5, 5], inventory f32[k])`` from loi's flat observation
    of a grid game, read through ``env.obs_layout`` (the owner of every offset): the window of
    the view around the player that the policy reads (all of a 5x5 view; the arenas' is 11x11)."""
    import jax.numpy as jnp

    layout = env.obs_layout
    parts = layout.parse(obs)
    me_row, me_col = layout.self_cell
    top, left = me_row - VIEW_AHEAD, me_col - VIEW_HALF_WIDTH
    if top < 0 or left < 0 or layout.view_shape[0] < me_row + 2 or layout.view_shape[1] < me_col + 3:
        raise SystemExit(f"the scripted policy needs {VIEW_AHEAD} cells ahead, 1 behind and {VIEW_HALF_WIDTH} "
                         f"aside; {env.name}'s view is {layout.view_shape[:2]} with the player at {layout.self_cell}")
    view = parts["view"][..., top:top + 5, left:left + 5, :] > 0.5
    k = env.num_strategies
    types = jnp.arange(1, k + 1)
    resources = jnp.sum(view[..., layout.resources] * types, axis=-1)
    terrain = jnp.where(view[..., layout.wall], WALL, resources).astype(jnp.int32)
    return terrain, view[..., layout.partner], parts["inventory"]


def loi_rollouts(env, policy: str, episodes: int, steps: int, seed: int) -> dict[str, np.ndarray]:
    """Per-episode records of ``episodes`` episodes of ``env`` played by ``policy`` on both
    seats (every seat of an N-player game), all at once: one jitted ``lax.scan`` of ``steps``
    steps over vmapped envs (no
    auto-reset; an episode's records stop at its end; one still running at ``steps`` counts
    as ending there)."""
    import jax

    keys = jax.random.split(jax.random.key(seed), episodes)
    out = _loi_program(env, steps)(keys, policy_target(policy))
    return {name: np.asarray(v) for name, v in out.items()}


@functools.lru_cache(maxsize=None)
def _loi_program(env, steps: int):
    """The jitted, vmapped rollout of ``env`` (one per env and length; the policy is an argument)."""
    import jax
    import jax.numpy as jnp

    agents = env.agents

    def act(target, obs, start_inventory, key):
        terrain, partner, inventory = loi_view(env, obs)
        collected = jnp.sum(inventory) > jnp.sum(start_inventory)
        return scripted_action(jnp, target, terrain, partner, collected, jax.random.uniform(key, (3,)))

    def one_episode(key, target):
        key, reset_key = jax.random.split(key)
        obs, state = env.reset(reset_key)
        start = {a: loi_view(env, obs[a])[2] for a in agents}
        zero = jnp.float32(0)

        def body(carry, key):
            obs, state, alive, pending, mate, acc = carry
            keys = jax.random.split(key, len(agents) + 1)
            actions = {a: act(target, obs[a], start[a], keys[i]) for i, a in enumerate(agents)}
            obs, state, rewards, dones, infos = env.step_env(keys[-1], state, actions)
            # Per player, as Melting Pot's events count them (loi.backends.meltingpot.play_episode):
            # who interacted with whom, and for each pair the steps until either partner is paid.
            took_part = (infos["partner"] >= 0) & alive  # [N]
            dominant = jnp.sum(jnp.where(took_part, jnp.max(infos["strategy"], axis=1), 0.0))
            live = alive.astype(jnp.float32)
            reward = jnp.stack([rewards[a] for a in agents])
            delayed = alive & (reward != 0) & (pending >= 0)  # [N]
            # a pair's delay counts once: at the partner of a player paid first (the lower seat
            # when both are paid on one step)
            counted = delayed & ~(delayed[mate] & (mate < jnp.arange(len(agents))))
            done_pair = delayed | delayed[mate]
            acc = {
                "length": acc["length"] + live,
                "interactions": acc["interactions"] + jnp.sum(took_part) / 2,
                "first_interactions": acc["first_interactions"] + took_part[0],
                "reward": acc["reward"] + live * jnp.sum(jnp.abs(reward)),
                "first_reward": acc["first_reward"] + live * reward[0],
                "dominant_share": acc["dominant_share"] + dominant,
                "strategies": acc["strategies"] + jnp.sum(took_part),
                "reward_delay": acc["reward_delay"] + jnp.sum(jnp.where(counted, acc["length"] + 1 - pending, 0.0)),
                "delays": acc["delays"] + jnp.sum(counted),
            }
            pending = jnp.where(took_part, acc["length"], jnp.where(done_pair, -1.0, pending))
            mate = jnp.where(took_part, infos["partner"], mate)
            return (obs, state, alive & ~dones["__all__"], pending, mate, acc), None

        acc = {name: zero for name in RECORDS}
        n = len(agents)
        carry = (obs, state, jnp.bool_(True), jnp.full((n,), -1.0), jnp.zeros((n,), jnp.int32), acc)
        (*_, acc), _ = jax.lax.scan(body, carry, jax.random.split(key, steps))
        return acc

    return jax.jit(jax.vmap(one_episode, in_axes=(0, None)))


def loi_env(game: str, map_name: str, mp_settings=None):
    """loi's environment for ``game`` on ``map_name``: a paper layout with loi's own game, or
    ``default``: the substrate's own map, payoffs and rules, all translated from ``mp_settings``
    (so this row checks loi's rules against the substrate's, not against loi's defaults)."""
    import loi.envs
    from loi.envs.games import make_game
    from loi.envs.layouts import make_layout

    if map_name == ARENA_MAP:
        env = loi.envs.make(f"{game}/{ARENA_MAP}")
        if mp_settings is not None:
            check_arena(env, mp_settings)
        return env
    if map_name != DEFAULT_MAP:
        return loi.envs.make(f"{game}/{map_name}")
    from loi.backends import meltingpot as mp

    settings = mp_settings if mp_settings is not None else mp.substrate_settings(game)
    matrix = next(c["kwargs"] for c in settings["simulation"]["scene"]["components"] if c["component"] == "TheMatrix")
    rules = mp.rule_settings(settings)
    row_role = rules.pop("row_role")
    roles = None if row_role is None else ("row", "column")
    payoff = make_game(f"{game}_meltingpot", matrix["matrix"], matrix.get("columnPlayerMatrix"),
                       max_steps=rules.pop("max_steps"), roles=roles)
    seats = None if row_role is None else tuple("row" if r else "column" for r in row_role)
    parameters = {name: value for name, value in rules.items() if value is not None}
    return loi.envs.make(game=payoff, layout=make_layout(f"{game}_default", mp.loi_rows(settings)), roles=seats,
                         **parameters)


def check_arena(env, settings) -> None:
    """Stop unless loi's ``GAME/arena`` has the real arena substrate's map, players and rules
    (as :func:`loi.backends.meltingpot.rule_settings` reads them), so a row compares the rules'
    effects, not their settings."""
    from loi.backends import meltingpot as mp

    rules = mp.rule_settings(settings)
    row_role = rules.pop("row_role")
    want = {**rules, "num_players": mp.num_players(settings), "rows": mp.loi_rows(settings), "row_role": row_role}
    have = {**{name: getattr(env, name) for name in rules}, "max_steps": env.episode_cap,
            "num_players": env.num_players, "rows": env.layout.rows,
            "row_role": None if env.roles is None else tuple(r == env.game.roles[0] for r in env.roles)}
    differ = [f"{name}: Melting Pot {want[name]!r}, loi {have[name]!r}" for name in want if want[name] != have[name]]
    if differ:
        raise SystemExit(f"{env.name} is not the arena substrate: " + "; ".join(differ))


# ----------------------------------------------------------------------------- Melting Pot's side


def mp_settings(game: str, map_name: str):
    import loi.envs
    from loi.backends import meltingpot as mp

    if map_name == DEFAULT_MAP:
        return mp.substrate_settings(game)
    if map_name == ARENA_MAP:
        return mp.substrate_settings(game, arena=True)
    env = loi.envs.make(f"{game}/{map_name}")
    return mp.substrate_settings(game, rows=env.layout.rows, row_payoff=env.game.row_payoff,
                                 col_payoff=env.game.col_payoff)


def mp_rollouts(game: str, settings, policy: str, episodes: int, seed: int,
                arena: bool = False) -> dict[str, np.ndarray]:
    from loi.backends import meltingpot as mp

    target = policy_target(policy)
    rng = np.random.default_rng(seed)

    def act(player, terrain, partner, collected):
        return int(scripted_action(np, target, terrain, partner, collected, rng.random(3)))

    recs = [asdict(mp.play_episode(game, settings, act, seed * 100_003 + e, arena=arena)) for e in range(episodes)]
    return {name: np.array([r[name] for r in recs], float) for name in recs[0]}


# ----------------------------------------------------------------------------- the table


def _fmt(f: Figure, digits: int) -> str:
    if math.isnan(f.value):
        return "-"
    return f"{f.value:.{digits}f}" + ("" if math.isnan(f.se) else f"±{f.se:.{digits}f}")


DIGITS = {"length": 0, "min_length": 0, "interactions_per_1000": 2, "reward_per_interaction": 3,
          "first_reward_per_interaction": 3, "dominant_share": 3, "reward_delay": 2}
HEADERS = {"length": "length", "min_length": "min", "interactions_per_1000": "inter/1000",
           "reward_per_interaction": "reward/inter", "first_reward_per_interaction": "p1 reward/inter",
           "dominant_share": "dominant", "reward_delay": "delay"}


def print_table(rows: list[dict], out=sys.stdout, header: bool = True) -> None:
    names = [HEADERS[f] for f in FIGURES]
    if header:
        print("| game | map | policy | " + " | ".join(f"{n} MP / loi" for n in names) + " | pass |", file=out)
        print("|" + "---|" * (4 + len(FIGURES)), file=out)
    for row in rows:
        cells = []
        for f in FIGURES:
            mark = "" if row["agree"][f] else " ✗"
            loi_cell = _fmt(row["loi"][f], DIGITS[f])
            mp_cell = _fmt(row["meltingpot"][f], DIGITS[f]) if row["meltingpot"] else "n/a"
            cells.append(f"{mp_cell} / {loi_cell}{mark}")
        verdict = "n/a" if row["passes"] is None else ("yes" if row["passes"] else "**no**")
        print(f"| {row['game']} | {row['map']} | {row['policy']} | " + " | ".join(cells) + f" | {verdict} |",
              file=out)


def parse_rows(spec: str) -> list[tuple[str, str, str]]:
    """``game/map/policy,...`` as a list of triples (the ``--rows`` option)."""
    rows = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        parts = item.split("/")
        if len(parts) != 3 or not all(parts):
            raise SystemExit(f"--rows entry {item!r} is not game/map/policy")
        policy_target(parts[2])
        rows.append(tuple(parts))
    return rows


# What the figures depend on: a stamp names the commit and which of these differ from it.
SOURCES = ("src/loi/envs", "src/loi/backends/meltingpot.py", "benchmarks/meltingpot_parity.py")


def source_stamp() -> str:
    """``commit abc1234`` (+ the uncommitted changes among :data:`SOURCES`), or ``unknown tree``."""
    root = Path(__file__).resolve().parents[1]

    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        changed = sorted(set(git("diff", "--name-only", "HEAD", "--", *SOURCES).split()))
    except (OSError, subprocess.CalledProcessError):
        return "unknown tree"
    return f"commit {commit}" + (f", with uncommitted changes to {', '.join(changed)}" if changed else "")


def markdown_section(title: str, command: str, rows: list[dict], summary_line: str) -> str:
    table = io.StringIO()
    print_table(rows, out=table)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"## {title}\n\nProduced by `{command}` on {date}, {source_stamp()}. Cells: mean ± standard "
            f"error, Melting Pot / loi. ✗ marks a figure outside the target (3 standard errors or 5 %, "
            f"whichever is larger).\n\n{table.getvalue()}\n{summary_line}\n")


def write_section(path: Path, title: str, text: str) -> None:
    """Replace the ``## title`` section of ``path`` with ``text`` (append it if absent), atomically."""
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    heading = f"## {title}"
    start = next((i for i, line in enumerate(lines) if line.rstrip("\n") == heading), None)
    if start is None:
        before, after = lines, []
        if before and before[-1].strip():
            before = [*before, "\n"]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        before, after = lines[:start], lines[end:]
    body = text if not after else text + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write("".join(before) + body + "".join(after))
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--games", default=",".join(GAMES))
    p.add_argument("--maps", default=",".join(PAPER_MAPS + (DEFAULT_MAP,)))
    p.add_argument("--policies", default=",".join(POLICIES))
    p.add_argument("--rows", default=None,
                   help="game/map/policy,... to play just these rows (instead of games x maps x policies)")
    p.add_argument("--episodes", type=int, default=6, help="Melting Pot episodes per row")
    p.add_argument("--loi-episodes", type=int, default=64, help="loi episodes per row")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--loi-only", action="store_true", help="skip Melting Pot (its columns read n/a)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    p.add_argument("--out", type=Path, default=None, help="also write the table into this markdown file")
    p.add_argument("--section", default=None, help="the section title in --out (default: the games run)")
    args = p.parse_args(argv)
    if args.episodes < 2 or args.loi_episodes < 2:
        raise SystemExit("--episodes and --loi-episodes must be >= 2 (standard errors)")
    if args.rows is not None:
        wanted = parse_rows(args.rows)
    else:
        games, maps, policies = (s.split(",") for s in (args.games, args.maps, args.policies))
        for policy in policies:
            policy_target(policy)
        wanted = [(g, m, pol) for g in games for m in maps for pol in policies]
    if not wanted:
        raise SystemExit("no rows to play")
    if not args.loi_only:
        from loi.backends import meltingpot as mp
        from loi.errors import LoiError

        try:
            mp.require()
        except LoiError as err:
            raise SystemExit(str(err)) from None

    # Consecutive rows on one game and map share their environment.
    groups: list[tuple[str, str, list[str]]] = []
    for game, map_name, policy in wanted:
        if groups and groups[-1][:2] == (game, map_name):
            groups[-1][2].append(policy)
        else:
            groups.append((game, map_name, [policy]))

    rows, seconds = [], {"meltingpot": 0.0, "loi": 0.0}
    mp_steps = 0
    for game, map_name, policies in groups:
        settings = None if args.loi_only else mp_settings(game, map_name)
        if settings is None and map_name == DEFAULT_MAP and not _meltingpot_available():
            print(f"skipping {game}/{DEFAULT_MAP}: reading the substrate's map needs Melting Pot",
                  file=sys.stderr)
            continue
        env = loi_env(game, map_name, settings)
        # loi runs to the larger of the two caps, so a cap of its own that is too high shows.
        max_frames = env.episode_cap
        if settings is not None:
            from loi.backends import meltingpot as mp

            max_frames = max(max_frames, mp.max_steps(settings))
        for policy in policies:
            if policy_target(policy) > env.num_strategies:
                continue
            seed = args.seed + zlib.crc32(f"{game}/{map_name}/{policy}".encode()) % 100_000
            t0 = time.perf_counter()
            loi_rec = loi_rollouts(env, policy, args.loi_episodes, max_frames, seed)
            seconds["loi"] += time.perf_counter() - t0
            loi_fig = summarise(loi_rec)
            mp_fig = None
            if settings is not None:
                t0 = time.perf_counter()
                mp_rec = mp_rollouts(game, settings, policy, args.episodes, seed, arena=map_name == ARENA_MAP)
                seconds["meltingpot"] += time.perf_counter() - t0
                mp_steps += int(mp_rec["length"].sum())
                mp_fig = summarise(mp_rec)
            agree = {f: (agrees(loi_fig[f], mp_fig[f]) if mp_fig else True) for f in FIGURES}
            if mp_fig:
                agree["min_length"] = minimum_agrees(loi_rec["length"], mp_rec["length"])
            row = {"game": game, "map": map_name, "policy": policy, "loi": loi_fig, "meltingpot": mp_fig,
                   "agree": agree, "passes": all(agree.values()) if mp_fig else None,
                   "loi_truncated": int(np.sum(loi_rec["length"] >= max_frames))}
            rows.append(row)
            if not args.json:
                print_table([row], header=len(rows) == 1)
                sys.stdout.flush()
    passed = sum(bool(r["passes"]) for r in rows)
    summary = {"rows": len(rows), "passed": passed, "seconds": seconds, "meltingpot_steps": mp_steps,
               "meltingpot_steps_per_s": mp_steps / seconds["meltingpot"] if seconds["meltingpot"] else None}
    if args.loi_only:
        summary_line = f"loi only ({len(rows)} rows): {seconds['loi']:.0f} s (compile included)."
    else:
        summary_line = (f"{passed}/{len(rows)} rows within the target (3 SE or 5 %). Melting Pot: {mp_steps} "
                        f"steps in {seconds['meltingpot']:.0f} s; loi: {seconds['loi']:.0f} s (compile included).")
    if args.json:
        def plain(row):
            out = dict(row)
            for side in ("loi", "meltingpot"):
                out[side] = {f: asdict(v) for f, v in row[side].items()} if row[side] else None
            return out

        print(json.dumps({"rows": [plain(r) for r in rows], "summary": summary}, default=float))
    else:
        print(f"\n{summary_line}")
    if args.out is not None:
        python = ".venv-meltingpot/bin/python" if not args.loi_only else "python"
        command = f"{python} benchmarks/meltingpot_parity.py " + shlex.join(sys.argv[1:] if argv is None else argv)
        title = args.section or ", ".join(dict.fromkeys(g for g, _, _ in wanted))
        write_section(args.out, title, markdown_section(title, command.strip(), rows, summary_line))
    return 0


def _meltingpot_available() -> bool:
    from loi.backends import meltingpot as mp

    return mp.available()


if __name__ == "__main__":
    sys.exit(main())
