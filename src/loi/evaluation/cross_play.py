"""Cross-play: every ego policy against every co-player policy, full episodes.

One compiled program plays a block of (ego, co-player) pairs: the block's lanes
are ``[egos, co-players, seats, streams]``; each lane plays its episodes one
after another with ``env.step_env`` inside a ``lax.while_loop`` until all its
episodes have ended (episodes end at different times; finished lanes idle).
The ego network is applied to all lanes of one ego at once and the co-player
network to all lanes of one co-player, so each step is a few small matmuls per
policy rather than one matrix-vector product per lane.

Determinism: every episode's randomness comes from
:func:`episode_key` ``(key, ego index, co-player index, seat, episode)`` and the
step index inside it, never from the lane or block it ran in; so the same key
gives bitwise the same result, and ``chunk_size``, ``streams`` and the grouping
of policies do not change which episodes are played. One caveat: XLA's CPU
matmuls round the last bit differently for different batch sizes, so a
network's logits (and the grid games' payoffs ``x·A·y``) can differ by an ulp
between block shapes; a sampled action changes only if it sits within that
ulp of a tie (of order 1e-8 per action), and returns then agree to float32
rounding. Forcing fixed-size policy batches removes the first effect but
halved throughput (measured), so it is not done.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from loi.errors import LoiError
from loi.evaluation.policies import Policy, no_carry

SEAT_NAMES = ("row", "column")  # ego as agent_0 (row player) / agent_1 (column player)


def episode_key(key: jax.Array, ego: int, coplayer: int, seat: int, episode: int) -> jax.Array:
    """The key of one episode; its reset uses ``fold_in(k, 0)`` and step ``t``
    (0-based) ``fold_in(k, t + 1)``, split into (env, ego, co-player) keys."""
    for index in (ego, coplayer, seat, episode):
        key = jax.random.fold_in(key, index)
    return key


@dataclass(frozen=True)
class CrossPlayResult:
    """Per-episode outcomes; arrays are ``[egos, co-players, seats, episodes]``
    (strategies add a trailing strategy axis). ``ego_strategy`` /
    ``coplayer_strategy`` are the mean strategies (normalised inventories, or
    the one-hot actions of a matrix game) over the episode's interactions
    (``nan`` without interactions). ``truncated`` marks episodes cut at
    ``max_episode_steps`` instead of ending by the environment's rule.
    ``interactions`` and the strategies are None for an environment without
    interactions (``env.has_interactions`` False, e.g. a JaxMARL env)."""

    scenario: str
    egos: tuple[Policy, ...]
    coplayers: tuple[Policy, ...]
    seats: tuple[int, ...]
    ego_return: np.ndarray
    coplayer_return: np.ndarray
    length: np.ndarray
    interactions: np.ndarray | None
    ego_strategy: np.ndarray | None
    coplayer_strategy: np.ndarray | None
    truncated: np.ndarray

    @property
    def episodes(self) -> int:
        return int(self.ego_return.shape[-1])

    @property
    def env_steps(self) -> int:
        return int(self.length.sum())

    def to_table(self):
        """The long-format reward table (``loi.tables`` schema): one row per
        episode. ``episode`` numbers ``seat * episodes + e`` so that (ego,
        co-player, episode) is unique. Checkpoint columns are added when every
        policy has the information: ``ego_checkpoint`` / ``coplayer_checkpoint``
        (training generation), ``coplayer_seed`` (one id per (run, seed) of the
        co-players, the LoI's block), ``regime`` (the ego's)."""
        from loi.evaluation.table import cross_play_frame

        return cross_play_frame(self)


def _family_key(policy: Policy):
    leaves, treedef = jax.tree_util.tree_flatten(policy.params)
    return (policy.act, policy.init_carry, treedef, tuple((np.shape(x), np.asarray(x).dtype.str) for x in leaves))


def _group(policies: Sequence[Policy]) -> list[list[int]]:
    families: dict[Any, list[int]] = {}
    for i, p in enumerate(policies):
        families.setdefault(_family_key(p), []).append(i)
    return list(families.values())


def _stack(policies: Sequence[Policy], indices: Sequence[int]):
    return jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]),
                                  *[policies[i].params for i in indices])


def _agent_obs(obs: dict, agents: Sequence[str], seat: jax.Array) -> tuple[jax.Array, jax.Array]:
    first, second = obs[agents[0]], obs[agents[1]]
    row = (seat == 0)[:, None]
    return jnp.where(row, first, second), jnp.where(row, second, first)


@functools.lru_cache(maxsize=64)
def _block_program(env, ego_act, coplayer_act, num_egos: int, num_coplayers: int, seats: tuple[int, ...],
                   streams: int, episodes: int, num_strategies: int, ego_init: Callable = no_carry,
                   coplayer_init: Callable = no_carry, has_interactions: bool = True) -> Callable:
    """The jitted program for one block shape (cached: blocks of a matrix reuse it).

    Every lane carries each policy's memory (``init_carry``); a lane's first
    step of an episode passes ``reset``, which zeroes it, so an episode's
    actions never depend on the lane's earlier episodes."""
    agents = tuple(env.agents)
    ns = len(seats)
    lanes = num_egos * num_coplayers * ns * streams
    pairs = num_egos * num_coplayers * ns  # output rows (pair x seat)
    k = num_strategies
    # Static lane coordinates, lane order [ego, co-player, seat, stream].
    grid = np.indices((num_egos, num_coplayers, ns, streams)).reshape(4, -1)
    lane_ego, lane_cop, lane_seat_idx, lane_stream = (jnp.asarray(g) for g in grid)
    lane_seat = jnp.asarray(np.asarray(seats))[lane_seat_idx]
    lane_row = jnp.asarray((grid[0] * num_coplayers + grid[1]) * ns + grid[2])  # output row

    def program(ego_params, coplayer_params, ego_ids, coplayer_ids, key, max_steps):
        pair_keys = jax.vmap(lambda e, c, s: _pair_key(key, e, c, s))(
            ego_ids[lane_ego], coplayer_ids[lane_cop], lane_seat)

        def reset(lane_episode):
            keys = jax.vmap(lambda pk, n: jax.random.fold_in(jax.random.fold_in(pk, n), 0))(
                pair_keys, lane_episode)
            return jax.vmap(env.reset)(keys)

        def by_ego(x):
            return x.reshape(num_egos, -1, *x.shape[1:])

        # Co-player lanes regrouped per co-player: [co-player, ego, seat, stream].
        def by_coplayer(x):
            x = x.reshape(num_egos, num_coplayers, ns * streams, *x.shape[1:])
            return jnp.swapaxes(x, 0, 1).reshape(num_coplayers, num_egos * ns * streams, *x.shape[3:])

        def act(obs, step_keys, memory, reset):
            ego_carry, cop_carry, ego_reward, cop_reward = memory
            ego_obs, cop_obs = _agent_obs(obs, agents, lane_seat)
            ego_carry, ego_a = jax.vmap(ego_act)(ego_params, ego_carry, by_ego(ego_obs), by_ego(ego_reward),
                                                 by_ego(reset), by_ego(step_keys[:, 1]))
            cop_carry, cop_a = jax.vmap(coplayer_act)(coplayer_params, cop_carry, by_coplayer(cop_obs),
                                                      by_coplayer(cop_reward), by_coplayer(reset),
                                                      by_coplayer(step_keys[:, 2]))
            cop_a = jnp.swapaxes(cop_a.reshape(num_coplayers, num_egos, ns * streams), 0, 1).reshape(-1)
            ego_a = ego_a.reshape(-1)
            row = lane_seat == 0
            actions = {agents[0]: jnp.where(row, ego_a, cop_a), agents[1]: jnp.where(row, cop_a, ego_a)}
            return actions, (ego_carry, cop_carry)

        def body(loop):
            (obs, state, episode, t, acc, out), memory = loop
            step_keys = jax.vmap(lambda pk, n, s: jax.random.split(
                jax.random.fold_in(jax.random.fold_in(pk, n), s + 1), 3))(pair_keys, episode, t)
            actions, carries = act(obs, step_keys, memory, t == 0)
            obs, state, rewards, dones, infos = jax.vmap(env.step_env)(step_keys[:, 0], state, actions)
            row = lane_seat == 0
            r0, r1 = rewards[agents[0]], rewards[agents[1]]
            memory = (*carries, jnp.where(row, r0, r1).astype(jnp.float32), jnp.where(row, r1, r0).astype(jnp.float32))
            acc = {
                **acc,
                "ego_return": acc["ego_return"] + jnp.where(row, r0, r1),
                "coplayer_return": acc["coplayer_return"] + jnp.where(row, r1, r0),
            }
            if has_interactions:
                interacted = infos["interacted"]
                x, y = infos["row_strategy"], infos["col_strategy"]
                hit = interacted[:, None]
                acc["interactions"] = acc["interactions"] + interacted.astype(jnp.int32)
                acc["ego_strategy"] = acc["ego_strategy"] + jnp.where(row[:, None], x, y) * hit
                acc["coplayer_strategy"] = acc["coplayer_strategy"] + jnp.where(row[:, None], y, x) * hit
            t = t + 1
            ended = dones["__all__"]
            truncated = (t >= max_steps) & ~ended
            ended = ended | truncated
            # Grid episodes end only at multiples of end_interval, so most steps skip this branch.
            return jax.lax.cond(jnp.any(ended), end_episodes, lambda c: c[:6],
                                (obs, state, episode, t, acc, out, ended, truncated)), memory

        def end_episodes(carry):
            obs, state, episode, t, acc, out, ended, truncated = carry
            write = ended & (episode < episodes)
            # Lanes not writing (still running, or done with all their episodes) hit a spare column.
            slot = jnp.where(write, episode, episodes)
            finished = {**acc, "length": t, "truncated": truncated}
            out = {name: out[name].at[lane_row, slot].set(finished[name]) for name in out}
            episode = jnp.where(ended, episode + streams, episode)
            fresh_obs, fresh_state = reset(episode)
            choose = lambda new, old: jnp.where(ended.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
            obs = jax.tree_util.tree_map(choose, fresh_obs, obs)
            state = jax.tree_util.tree_map(choose, fresh_state, state)
            acc = jax.tree_util.tree_map(lambda a: choose(jnp.zeros_like(a), a), acc)
            t = jnp.where(ended, 0, t)
            return obs, state, episode, t, acc, out

        def cond(loop):
            return jnp.any(loop[0][2] < episodes)

        episode = lane_stream.astype(jnp.int32)
        obs, state = reset(episode)
        acc = {
            "ego_return": jnp.zeros((lanes,), jnp.float32),
            "coplayer_return": jnp.zeros((lanes,), jnp.float32),
        }
        if has_interactions:
            acc["interactions"] = jnp.zeros((lanes,), jnp.int32)
            acc["ego_strategy"] = jnp.zeros((lanes, k), jnp.float32)
            acc["coplayer_strategy"] = jnp.zeros((lanes, k), jnp.float32)
        out = {name: jnp.zeros((pairs, episodes + 1) + v.shape[1:], v.dtype) for name, v in acc.items()}
        out["length"] = jnp.zeros((pairs, episodes + 1), jnp.int32)
        out["truncated"] = jnp.zeros((pairs, episodes + 1), bool)
        t = jnp.zeros((lanes,), jnp.int32)
        per_policy = lambda init, n: jax.tree_util.tree_map(  # noqa: E731
            lambda x: jnp.broadcast_to(x, (n,) + x.shape), init(lanes // n))
        memory = (per_policy(ego_init, num_egos), per_policy(coplayer_init, num_coplayers),
                  jnp.zeros((lanes,), jnp.float32), jnp.zeros((lanes,), jnp.float32))
        loop, _ = jax.lax.while_loop(cond, body, ((obs, state, episode, t, acc, out), memory))
        return {name: v[:, :episodes].reshape((num_egos, num_coplayers, ns, episodes) + v.shape[2:])
                for name, v in loop[5].items()}

    return jax.jit(program)


def _pair_key(key, ego, coplayer, seat):
    for index in (ego, coplayer, seat):
        key = jax.random.fold_in(key, index)
    return key


def _check_policies(env, policies: Sequence[Policy], role: str) -> tuple[Policy, ...]:
    if isinstance(policies, Policy):
        policies = [policies]
    policies = tuple(policies)
    if not policies:
        raise LoiError(f"cross-play needs at least one {role} policy")
    obs_dim = int(env.observation_space(env.agents[0]).shape[0])
    num_actions = int(env.action_space(env.agents[0]).n)
    names = set()
    for p in policies:
        if not isinstance(p, Policy):
            raise LoiError(f"{role} policies must be loi.evaluation.Policy objects, got {type(p).__name__}")
        if p.obs_dim is not None and p.obs_dim != obs_dim:
            raise LoiError(f"{role} {p.name!r} expects observations of size {p.obs_dim}, "
                           f"{env.name} has {obs_dim}")
        if p.num_actions is not None and p.num_actions != num_actions:
            raise LoiError(f"{role} {p.name!r} has {p.num_actions} actions, {env.name} has {num_actions}")
        if p.name in names:
            raise LoiError(f"two {role} policies are named {p.name!r}; names must be unique")
        names.add(p.name)
    return policies


def resolve_seats(env, seats: str | Sequence[int]) -> tuple[int, ...]:
    """``"auto"``: both seats when the game's payoffs are not symmetric in
    position (``B != A^T``) or the env has no game (a JaxMARL env), else the row seat; ``"both"``; ``"row"``;
    ``"column"``; or a sequence of seat indices (0 row, 1 column)."""
    if isinstance(seats, str):
        if seats == "auto":
            game = getattr(env, "game", None)
            if game is None:  # no payoff matrices to check (e.g. a JaxMARL env): assume positions differ
                return (0, 1)
            symmetric = np.array_equal(np.asarray(game.col_payoff), np.asarray(game.row_payoff).T)
            return (0,) if symmetric else (0, 1)
        named = {"both": (0, 1), "row": (0,), "column": (1,)}
        if seats not in named:
            raise LoiError(f"seats must be auto, both, row, column or a list of 0/1, got {seats!r}")
        return named[seats]
    values = tuple(int(s) for s in seats)
    if not values or len(set(values)) != len(values) or not set(values) <= {0, 1}:
        raise LoiError(f"seats must be distinct values among 0 (row) and 1 (column), got {seats!r}")
    return values


def _positive(name: str, value: Any, allow_none: bool = False) -> None:
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise LoiError(f"{name} must be a positive integer, got {value!r}")


def cross_play(env, egos: Sequence[Policy], coplayers: Sequence[Policy], episodes: int, key: jax.Array, *,
               seats: str | Sequence[int] = "auto", chunk_size: int = 1024, streams: int = 1,
               max_episode_steps: int | None = None,
               on_chunk: Callable[[int, int], None] | None = None) -> CrossPlayResult:
    """Play every ego against every co-player, ``episodes`` full episodes per
    pair and seat.

    ``chunk_size`` bounds the (ego, co-player) pairs of one compiled call (the
    memory), ``streams`` how many of a pair's episodes run side by side (the
    rest run one after another in the same lane). Neither changes the result.
    ``max_episode_steps`` cuts episodes longer than that (flagged
    ``truncated``; default: play until the environment ends them).
    ``on_chunk(pairs_done, pairs_total)`` is called after every block.
    """
    egos = _check_policies(env, egos, "ego")
    coplayers = _check_policies(env, coplayers, "co-player")
    _positive("episodes", episodes)
    _positive("chunk_size", chunk_size)
    _positive("streams", streams)
    _positive("max_episode_steps", max_episode_steps, allow_none=True)
    seat_tuple = resolve_seats(env, seats)
    streams = min(int(streams), int(episodes))
    k = int(env.num_strategies)
    has_interactions = bool(getattr(env, "has_interactions", True))
    shape = (len(egos), len(coplayers), len(seat_tuple), int(episodes))
    results = {name: np.zeros(shape, dtype) for name, dtype in
               (("ego_return", np.float32), ("coplayer_return", np.float32), ("length", np.int32),
                ("truncated", bool))}
    if has_interactions:
        results["interactions"] = np.zeros(shape, np.int32)
        for name in ("ego_strategy", "coplayer_strategy"):
            results[name] = np.zeros(shape + (k,), np.float32)

    # A traced argument (not static), so every cap shares one compiled program.
    cap = np.iinfo(np.int32).max
    max_steps = jnp.int32(cap if max_episode_steps is None else min(int(max_episode_steps), cap))
    total, done = len(egos) * len(coplayers), 0
    for ego_family in _group(egos):
        ego_stack = _stack(egos, ego_family)
        for cop_family in _group(coplayers):
            cop_stack = _stack(coplayers, cop_family)
            nc = min(len(cop_family), int(chunk_size))
            ne = max(1, min(len(ego_family), int(chunk_size) // nc))
            ego, cop = egos[ego_family[0]], coplayers[cop_family[0]]
            program = _block_program(env, ego.act, cop.act, ne, nc, seat_tuple, streams, int(episodes), k,
                                     ego.init_carry, cop.init_carry, has_interactions)
            for e0 in range(0, len(ego_family), ne):
                for c0 in range(0, len(cop_family), nc):
                    # Pad a short last block by repeating its first policy (results dropped).
                    e_pos = np.arange(e0, e0 + ne)
                    c_pos = np.arange(c0, c0 + nc)
                    e_real, c_real = e_pos < len(ego_family), c_pos < len(cop_family)
                    e_pos, c_pos = np.where(e_real, e_pos, e0), np.where(c_real, c_pos, c0)
                    ego_ids = np.asarray(ego_family)[e_pos]
                    cop_ids = np.asarray(cop_family)[c_pos]
                    out = program(jax.tree_util.tree_map(lambda x: x[e_pos], ego_stack),
                                  jax.tree_util.tree_map(lambda x: x[c_pos], cop_stack),
                                  jnp.asarray(ego_ids, jnp.int32), jnp.asarray(cop_ids, jnp.int32), key,
                                  max_steps)
                    out = jax.device_get(out)
                    rows, cols = ego_ids[e_real], cop_ids[c_real]
                    for name, values in out.items():
                        results[name][np.ix_(rows, cols)] = np.asarray(values)[np.ix_(e_real, c_real)]
                    done += int(e_real.sum()) * int(c_real.sum())
                    if on_chunk is not None:
                        on_chunk(done, total)

    if has_interactions:
        interactions = results["interactions"][..., None]
        with np.errstate(invalid="ignore", divide="ignore"):
            for name in ("ego_strategy", "coplayer_strategy"):
                results[name] = np.where(interactions > 0, results[name] / np.maximum(interactions, 1), np.nan)
    else:  # not measured: absent, not zero
        results.update(interactions=None, ego_strategy=None, coplayer_strategy=None)
    return CrossPlayResult(scenario=env.name, egos=egos, coplayers=coplayers, seats=seat_tuple, **results)
