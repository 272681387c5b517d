"""PPO for N-player games, vectorised over seeds and population members.

PureJaxRL style: one update = a ``lax.scan`` rollout of ``rollout_length`` steps
over ``num_envs`` environments per member, GAE, then ``update_epochs`` epochs of
``num_minibatches`` clipped-PPO minibatch steps (adam + global-norm clipping).
A generation is a ``lax.scan`` of ``updates_per_generation`` updates; the whole
state carries a leading seed axis and a member axis, both ``vmap``-ed (an axis of one
entry is indexed instead, :func:`_over`). The pieces read top to bottom: the static
:class:`_Program`, init (``_init_seed``), the rollout (``_env_step``: ``_learner_act``,
``_partner_act``, ``_step_envs``, ``_step_totals``), the update (``_calculate_gae``,
``_update_member``, ``_optimise``, ``_ppo_loss``), then ``_update_step`` and
``_generation_seed``.

Regimes, on a game of ``env.num_agents`` seats (two: row and column):

- ``sp``: one parameter set plays every seat; every seat's transitions train it.
- ``ppN``: N members with their own parameters, each with its own environments.
  At the start of every episode each environment draws the member's seat
  uniformly and, for every other seat, a partner uniformly from the population
  (the member itself included). A member learns from its own seat (a partner
  seat is another member's forward pass, not its training data).
- ``fcpN``: one learner in ``learner_seats`` seats (drawn per episode, default
  one); every other seat draws its partner per episode the same way from a
  frozen pool of N partners (passed to :func:`make_train`): checkpoints and/or
  Melting Pot bots (:mod:`loi.agents.bots`, their puppeteer state carried
  per seat like a recurrent partner's memory).

``pp_schedule = "generational"`` (sp and ppN) is the authors' schedule
(their ``MARL/PP_train.py``): at the start of every generation each member
draws one population member uniformly (itself included; in sp, itself) and
plays the whole generation against a frozen copy of that member's parameters
as they were then (two-player games only). Only the learner's seat trains (sp included), the
environments restart with the new partner, and the seat is still drawn per
episode so that a member learns both roles (the authors' learner always sat
in seat 0).

``pp_schedule = "lineage"`` is that code as it ran: the authors' partner
restore (``ppo_dummy = ppo; ppo_dummy.restore(...)``, their PP_train.py lines
203-206) restored the drawn member's checkpoint into the learner too, so at
the start of every generation each member also takes over the drawn member's
parameters and optimiser state (with its step count) and trains on from that
lineage against a frozen copy of it. The draw sees every member as it was at
the generation's start; the authors trained members one after another, so a
member later in their loop could draw an earlier member's checkpoint of the
same generation.

Partner actions are computed for every candidate partner and selected per
partner seat (cost: one extra forward pass per candidate), which keeps the draw
per episode rather than per rollout: a partner or seat never changes mid-episode.
The seating is the regime's :class:`~loi.training.matchup.Matchup`, so one
rollout step serves every regime.

Recurrent networks (PureJaxRL ``ppo_rnn``): every learner seat and every
partner carries its own memory (reset at episode start; a drawn partner's
memory is the environment's, whichever candidate it is). The learner's memory
at the start of each rollout is stored with the batch; the update replays each
environment's whole rollout from it (back-propagation through the rollout) and
draws minibatches over environments, so time order is kept. Feed-forward
networks carry ``()`` and keep the flat per-sample minibatches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from loi.agents.networks import ActorCritic, init_params, make_network
from loi.agents.policy import init_carry, policy_step, sequence_logits, with_action
from loi.envs.base import agent_names
from loi.errors import LoiError
from loi.training.config import FROZEN_PARTNER_SCHEDULES, TrainConfig
from loi.training.matchup import EpisodeLog, Matchup, episode_log, interaction_axes, log_step, regime_matchup


@dataclass(frozen=True)
class PartnerPool:
    """Frozen partners for fictitious co-play: checkpoints of one ``network``
    (params stacked on a leading axis; ``network`` None when there are none),
    then bots (``bot_params`` stacked, played by ``bot_act``,
    :mod:`loi.agents.bots`). Partner index i < ``num_networks`` is checkpoint i,
    the rest are the bots in order."""

    network: ActorCritic | None
    params: Any
    bot_params: Any = None
    bot_act: Callable | None = None

    @property
    def num_networks(self) -> int:
        return 0 if self.network is None else int(jax.tree_util.tree_leaves(self.params)[0].shape[0])

    @property
    def num_bots(self) -> int:
        return 0 if self.bot_params is None else int(jax.tree_util.tree_leaves(self.bot_params)[0].shape[0])

    @property
    def size(self) -> int:
        return self.num_networks + self.num_bots


@struct.dataclass
class TrainState:
    """Everything a run needs to continue; every leaf has a leading seed axis,
    then (except ``key``/``update``) a member axis."""

    params: Any
    opt_state: Any
    env_state: Any  # [S, M, E, ...]
    obs: Any  # dict agent -> [S, M, E, obs_dim]
    # i32 [S, M, E, *partner_axes]: each partner seat's partner (population member or pool entry)
    partner: jax.Array
    seat: jax.Array  # i32 [S, M, E, *seat_axes]: the learner's seat(s); with two players 0 = agent_0 (row)
    first: jax.Array  # bool [S, M, E]: ``obs`` is the first of an episode
    last_reward: jax.Array  # f32 [S, M, E, N]: every seat's reward of the step that produced ``obs``
    learner_carry: Any  # [S, M, E, slots, ...]: the learner's memory at each of its seats (() if feed-forward)
    partner_carry: Any  # [S, M, E, *partner_axes, ...]: the drawn partners' memory (() without one or if feed-forward)
    frozen_params: Any  # [S, M, ...]: each member's frozen partner this generation (generational; else ())
    log: EpisodeLog  # [S, M, E, ...]: the running episode's totals
    key: jax.Array  # [S, 2]
    update: jax.Array  # i32 [S]: completed updates


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array
    reward_in: jax.Array | None  # recurrent only: the reward that came with ``obs`` (the previous step's)
    reset: jax.Array | None  # recurrent only: ``obs`` starts an episode


class UpdateMetrics(NamedTuple):
    """Per update, per member (leading axes added by scan/vmap: [U, S, M]). The four
    interaction fields are None for an env without interactions (``has_interactions`` False)."""

    episodes: jax.Array  # completed episodes (counted once per learning seat)
    # (return, length, interaction and strategy sums: over the learner's seats)
    return_sum: jax.Array  # sum of the member's returns over completed episodes
    length_sum: jax.Array
    interaction_sum: jax.Array
    reward_per_step: jax.Array  # mean reward per member-seat step in the rollout
    strategy_sum: jax.Array  # [k] member's strategy summed over interactions
    interaction_steps: jax.Array  # steps with an interaction (denominator of the mix)
    agreement_sum: jax.Array  # sum over interactions of row_strategy . col_strategy (1 = same pure strategy)
    partner_episodes: jax.Array  # [P] episodes started with each partner (once per partner seat)
    loss_total: jax.Array
    entropy: jax.Array


@dataclass(frozen=True)
class Trainer:
    """``make_train``'s result. ``trainer(key)`` runs the whole training (pure,
    jit-able); ``init`` + repeated ``generation`` do the same in steps that a
    driver can checkpoint between (the results are bit-identical either way when
    ``generation`` is the same compiled function)."""

    config: TrainConfig
    env: Any
    network: ActorCritic
    init: Callable[[jax.Array], TrainState]
    generation: Callable[[TrainState], tuple[TrainState, UpdateMetrics]]

    def __call__(self, key: jax.Array) -> tuple[TrainState, UpdateMetrics]:
        def body(state, _):
            return self.generation(state)

        state, metrics = jax.lax.scan(body, self.init(key), None, length=self.config.num_generations)
        # [G, U, ...] -> [G*U, ...]
        metrics = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), metrics)
        return state, metrics


def make_env(config: TrainConfig) -> Any:
    import loi.envs

    return loi.envs.make(config.scenario, **dict(config.env_overrides))


def _per_agent(env: Any, obs: dict) -> jax.Array:
    """dict agent -> [..., D]  ->  [..., N, D] (seat order)."""
    return jnp.stack([obs[agent] for agent in env.agents], axis=-2)


def _over(f: Callable, size: int) -> Callable:
    """``f`` mapped over a leading axis of ``size`` entries: ``vmap``, except for one entry, where
    ``f`` runs on the entry itself (a vmap over one entry still batches every op, and a batched
    matmul or gather is slower on CPU than the plain one; same results)."""
    if size != 1:
        return jax.vmap(f)

    def one(*args):
        out = f(*jax.tree_util.tree_map(lambda x: x[0], args))
        return jax.tree_util.tree_map(lambda x: x[None], out)

    return one


@dataclass(frozen=True)
class _Program:
    """What every piece of one training program reads: the config and what ``make_train``
    derived from it (all static: the pieces below are traced once per program)."""

    config: TrainConfig
    env: Any
    network: ActorCritic
    partner_network: ActorCritic  # the pool's network for fcpN with checkpoints, else ``network``
    pool: PartnerPool | None
    matchup: Matchup
    optimizer: optax.GradientTransformation
    num_members: int
    num_candidates: int  # partner_episodes' width: the population (pp), the pool (fcp); 1 (sp)
    generational: bool  # a frozen partner per generation (generational and lineage schedules)
    lineage: bool
    has_interactions: bool  # False for an env without loi's interactions (a JaxMARL env)

    @property
    def slots(self) -> int:
        return self.matchup.slots

    @property
    def seats(self) -> int:
        return self.matchup.seats

    @property
    def envs(self) -> tuple[int, int]:
        return (self.num_members, self.config.num_envs)

    @property
    def partner_envs(self) -> tuple[int, ...]:
        """The batch of partner seats: [M, E] with one partner seat, [M, E, N - slots] with more."""
        return self.envs + self.matchup.partner_axes

    @property
    def num_pool_networks(self) -> int:
        return self.pool.num_networks if self.pool is not None else 0

    @property
    def pool_bots(self) -> bool:
        return self.pool is not None and self.pool.num_bots > 0


def make_train(config: TrainConfig, pool: PartnerPool | None = None, env: Any = None) -> Trainer:
    """Build the PPO trainer for ``config`` (``pool`` is required for fcpN)."""
    env = env if env is not None else make_env(config)
    program = _program(config, pool, env)

    def init(key: jax.Array) -> TrainState:
        # lax.map, not vmap: a batched QR (the orthogonal initialiser under vmap) can
        # deadlock XLA's CPU thread pool on 2 cores; init runs once, so sequential is free.
        return jax.lax.map(lambda k: _init_seed(program, k), jax.random.split(key, config.num_seeds))

    def generation(state: TrainState) -> tuple[TrainState, UpdateMetrics]:
        state, metrics = _over(lambda s: _generation_seed(program, s), config.num_seeds)(state)  # [S, U, ...]
        return state, jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), metrics)

    return Trainer(config=config, env=env, network=program.network, init=init, generation=generation)


def _program(config: TrainConfig, pool: PartnerPool | None, env: Any) -> _Program:
    """Check the regime, pool and environment against each other; derive the static pieces."""
    regime = config.regime_spec
    if regime.kind == "fcp":
        if pool is None:
            raise LoiError(f"regime {regime} needs a frozen pool of self-play checkpoints")
        if pool.size != regime.size:
            raise LoiError(f"regime {regime} needs {regime.size} pool checkpoints, got {pool.size}")
    elif pool is not None:
        raise LoiError(f"regime {regime} takes no frozen pool")
    seats = _check_seats(config, env)
    network = make_network(env, config.network)
    if pool is not None and pool.network is not None and \
            (pool.network.obs_dim, pool.network.num_actions) != (network.obs_dim, network.num_actions):
        raise LoiError("the frozen pool's checkpoints were trained on a different observation/action space")
    return _Program(
        config=config, env=env, network=network,
        partner_network=pool.network if pool is not None and pool.network is not None else network,
        pool=pool, matchup=regime_matchup(regime, config.pp_schedule, seats, config.learner_seats),
        optimizer=_optimizer(config),
        num_members=regime.num_members, num_candidates=regime.size,
        generational=config.pp_schedule in FROZEN_PARTNER_SCHEDULES, lineage=config.pp_schedule == "lineage",
        has_interactions=bool(getattr(env, "has_interactions", True)),
    )


def _check_seats(config: TrainConfig, env: Any) -> int:
    """The environment's player count N, checked against the regime."""
    seats = len(env.agents)
    if seats < 2 or tuple(env.agents) != agent_names(seats):
        raise LoiError(f"training needs agents agent_0..agent_{{N-1}} with N >= 2, got {tuple(env.agents)}")
    if seats > 2 and config.pp_schedule != "concurrent":
        raise LoiError(f"pp_schedule {config.pp_schedule!r} is defined for two players; {env.name} has {seats}: "
                       "use the concurrent schedule")
    if config.learner_seats >= seats:
        raise LoiError(f"learner_seats ({config.learner_seats}) leaves no seat for the pool in {env.name}, "
                       f"which has {seats} players")
    return seats


def _optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Adam with global-norm clipping; the learning rate annealed linearly per update."""
    grad_steps_per_update = config.update_epochs * config.num_minibatches

    def schedule(count):
        frac = 1.0 - (count // grad_steps_per_update) / config.num_updates
        return config.learning_rate * frac

    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adam(schedule if config.anneal_lr else config.learning_rate, eps=1e-5),
    )


# ---- one seed: init and fresh episodes -----------------------------------


def _reset_envs(p: _Program, key: jax.Array):
    """``(obs, env_state)`` of fresh episodes in every environment, [M, E, ...]."""
    keys = jax.random.split(key, p.num_members * p.config.num_envs).reshape(p.envs + (-1,))
    return jax.vmap(jax.vmap(p.env.reset))(keys)


def _partner_init_carry(p: _Program) -> Any:
    carry = init_carry(p.partner_network, p.partner_envs)
    if p.pool_bots:  # the bots' puppeteer state beside the checkpoints' memory
        from loi.agents.bots import init_carry as bot_init_carry

        return carry, bot_init_carry(p.partner_envs)
    return carry


def _episode_start(p: _Program) -> dict:
    """The per-environment fields of a state whose every environment starts an episode."""
    return dict(
        first=jnp.ones(p.envs, bool),
        last_reward=jnp.zeros(p.envs + (p.seats,), jnp.float32),
        learner_carry=init_carry(p.network, p.envs + (p.slots,)),
        partner_carry=_partner_init_carry(p) if p.matchup.has_partner else (),
        log=episode_log(p.envs, p.seats),
    )


def _init_seed(p: _Program, key: jax.Array) -> TrainState:
    key, k_params, k_env, k_pair = jax.random.split(key, 4)
    params = jax.lax.map(lambda kk: init_params(p.network, kk), jax.random.split(k_params, p.num_members))
    obs, env_state = _reset_envs(p, k_env)
    partner, seat = p.matchup.draw(k_pair, p.envs)
    return TrainState(
        params=params, opt_state=jax.vmap(p.optimizer.init)(params), env_state=env_state, obs=obs,
        partner=partner, seat=seat,
        frozen_params=params if p.generational else (),  # replaced at the first generation's start
        key=key, update=jnp.int32(0), **_episode_start(p),
    )


# ---- one seed: rollout ------------------------------------------------------


class _LearnerStep(NamedTuple):
    """The learner at its seats for one step, [M, E, slots, ...]."""

    obs: jax.Array
    reward_in: jax.Array  # the reward that came with ``obs``
    reset: jax.Array  # ``obs`` starts an episode
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    carry: Any


def _learner_policy(p: _Program, params, carry, obs, reward, reset):
    """Members' ``(logits, value, carry)``: params [M], the rest [M, E, slots, ...]."""
    step = lambda pm, c, o, r, d: policy_step(p.network, pm, c, o, r, d)  # noqa: E731
    return _over(step, p.num_members)(params, carry, obs, reward, reset)


def _learner_inputs(p: _Program, state: TrainState, seats_obs: jax.Array):
    """``(obs, reward_in, reset)`` at the learner's seats."""
    reward_in = p.matchup.learner_view(state.last_reward, state.seat)
    reset = jnp.broadcast_to(state.first[..., None], reward_in.shape)
    return p.matchup.learner_view(seats_obs, state.seat), reward_in, reset


def _learner_act(p: _Program, state: TrainState, seats_obs: jax.Array, key: jax.Array) -> _LearnerStep:
    obs, reward_in, reset = _learner_inputs(p, state, seats_obs)
    logits, value, carry = _learner_policy(p, state.params, state.learner_carry, obs, reward_in, reset)
    action = jax.random.categorical(key, logits).astype(jnp.int32)
    log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[..., None], -1)[..., 0]
    return _LearnerStep(obs, reward_in, reset, action, log_prob, value, with_action(carry, action))


def _pick(x: jax.Array, index: jax.Array) -> jax.Array:
    """``x[index[...], ...]`` per environment: x [C, *batch, ...], index [*batch] -> [*batch, ...]."""
    return jnp.take_along_axis(x, index.reshape((1,) + index.shape + (1,) * (x.ndim - 1 - index.ndim)), axis=0)[0]


def _partner_act(p: _Program, state: TrainState, partner_obs: jax.Array, key: jax.Array):
    """Each environment's drawn partner acts: every candidate evaluated on the
    environment's partner memory, the drawn one's logits and memory kept."""
    reward = p.matchup.partner_view(state.last_reward, state.seat)
    first = _at_partner_seats(p, state.first)
    if p.generational:  # one frozen partner per member: no candidates to select from
        step = lambda pm, c, o, r, d: policy_step(p.partner_network, pm, c, o, r, d)  # noqa: E731
        logits, _, carry = _over(step, p.num_members)(state.frozen_params, state.partner_carry, partner_obs,
                                                      reward, first)
        action = jax.random.categorical(key, logits).astype(jnp.int32)
        return with_action(carry, action), action
    if p.pool_bots:
        return _mixed_pool_act(p, state, partner_obs, reward, first, key)
    candidates = state.params if p.config.regime_spec.kind == "pp" else p.pool.params

    def candidate(params):
        logits, _, carry = policy_step(p.partner_network, params, state.partner_carry, partner_obs, reward, first)
        return logits, carry

    all_logits, all_carry = _over(candidate, p.num_candidates)(candidates)  # [C, M, E, *partner_axes, ...]
    action = jax.random.categorical(key, _pick(all_logits, state.partner)).astype(jnp.int32)
    return with_action(jax.tree_util.tree_map(lambda x: _pick(x, state.partner), all_carry), action), action


def _at_partner_seats(p: _Program, per_env: jax.Array) -> jax.Array:
    """A per-environment value [M, E] repeated for every partner seat: [M, E, *partner_axes]."""
    return jnp.broadcast_to(per_env.reshape(per_env.shape + (1,) * len(p.matchup.partner_axes)), p.partner_envs)


def _mixed_pool_act(p: _Program, state: TrainState, partner_obs, reward, first, key):
    """A pool with bots: every checkpoint and every bot acts on the environment's
    partner memory (the checkpoints') and puppeteer state (the bots'); the drawn
    partner's action and memory are kept."""
    pool, num_networks = p.pool, p.num_pool_networks
    net_carry, bot_carry = state.partner_carry
    k_net, k_bot = jax.random.split(key)
    action = jnp.zeros(state.partner.shape, jnp.int32)
    if num_networks:
        def candidate(params):
            logits, _, carry = policy_step(p.partner_network, params, net_carry, partner_obs, reward, first)
            return logits, carry

        all_logits, all_carry = jax.vmap(candidate)(pool.params)
        index = jnp.minimum(state.partner, num_networks - 1)
        action = jax.random.categorical(k_net, _pick(all_logits, index)).astype(jnp.int32)
        net_carry = jax.tree_util.tree_map(lambda x: _pick(x, index), all_carry)
    # Bots act on the flattened batch of partner seats, one key each.
    batch = state.partner.shape
    flat = lambda x: x.reshape((-1,) + x.shape[len(batch):])  # noqa: E731
    keys = jax.random.split(k_bot, int(np.prod(batch)))
    flat_carry = jax.tree_util.tree_map(flat, bot_carry)

    def bot(params):
        return pool.bot_act(params, flat_carry, flat(partner_obs), flat(reward), flat(first), keys)

    bot_carries, bot_actions = jax.vmap(bot)(pool.bot_params)  # [B, M*E, ...]
    bot_index = jnp.maximum(flat(state.partner) - num_networks, 0)
    bot_carry = jax.tree_util.tree_map(lambda x: _pick(x, bot_index).reshape(batch + x.shape[2:]), bot_carries)
    action = jnp.where(state.partner >= num_networks, _pick(bot_actions, bot_index).reshape(batch), action)
    return (with_action(net_carry, action), bot_carry), action


def _step_envs(p: _Program, key: jax.Array, env_state, joint: jax.Array):
    """Every environment steps (auto-reset): ``(obs, env_state, rewards [M, E, N], done, infos)``."""
    keys = jax.random.split(key, p.num_members * p.config.num_envs).reshape(p.envs + (-1,))
    agents = p.env.agents
    obs, env_state, rewards, dones, infos = jax.vmap(jax.vmap(p.env.step))(
        keys, env_state, {agent: joint[..., i] for i, agent in enumerate(agents)})
    rewards = jnp.stack([rewards[agent] for agent in agents], axis=-1).astype(jnp.float32)
    return obs, env_state, rewards, dones["__all__"], infos


class _SeatInteractions(NamedTuple):
    """One step's interactions seat by seat, [M, E, N, ...]."""

    interacted: jax.Array  # bool [M, E, N]: the seat took part in an interaction
    strategy: jax.Array  # f32 [M, E, N, k]: its strategy there (zeros when none)
    partner_strategy: jax.Array  # f32 [M, E, N, k]: its partner's strategy there (zeros when none)


def _seat_interactions(p: _Program, infos: dict) -> _SeatInteractions:
    """Two players: both seats share the step's interaction (``interacted``, row and column
    strategies: every two-player env reports these); more: each seat's ``partner`` and
    ``strategy`` (:class:`loi.envs.base.PairInfo`)."""
    if p.seats == 2:
        row, col = infos["row_strategy"], infos["col_strategy"]
        interacted = jnp.broadcast_to(infos["interacted"][..., None], infos["interacted"].shape + (2,))
        return _SeatInteractions(interacted, jnp.stack([row, col], axis=-2), jnp.stack([col, row], axis=-2))
    if "partner" not in infos:
        raise LoiError(f"{p.env.name} has {p.seats} players but reports no per-player partners")
    partner, strategy = infos["partner"], infos["strategy"]
    interacted = partner >= 0
    mate = jnp.take_along_axis(strategy, jnp.maximum(partner, 0)[..., None], axis=-2)
    return _SeatInteractions(interacted, strategy, jnp.where(interacted[..., None], mate, 0.0))


def _log_interactions(p: _Program, infos: dict, done: jax.Array) -> jax.Array:
    """What :class:`EpisodeLog` counts this step: per seat, or per environment with two players."""
    if not p.has_interactions:
        return jnp.zeros(done.shape + interaction_axes(p.seats), bool)
    return infos["interacted"] if p.seats == 2 else infos["partner"] >= 0


class _Totals(NamedTuple):
    """A rollout's running sums per member, the :class:`UpdateMetrics` before the update
    (the interaction fields None for an env without interactions)."""

    episodes: jax.Array
    return_sum: jax.Array
    length_sum: jax.Array
    interaction_sum: jax.Array | None
    reward_sum: jax.Array
    strategy_sum: jax.Array | None
    interaction_steps: jax.Array | None
    agreement_sum: jax.Array | None
    partner_episodes: jax.Array


def _zero_totals(p: _Program) -> _Totals:
    zeros = lambda *shape: jnp.zeros((p.num_members,) + shape, jnp.float32)  # noqa: E731
    # The interaction fields: None (absent, not zero) for an env without interactions.
    measured = (lambda *shape: zeros(*shape)) if p.has_interactions else (lambda *shape: None)  # noqa: E731
    return _Totals(zeros(), zeros(), zeros(), measured(), zeros(), measured(int(p.env.num_strategies)), measured(),
                   measured(), zeros(p.num_candidates))


def _step_totals(p: _Program, state: TrainState, rewards, done, infos, finished, new_partner) -> _Totals:
    """One step's contribution to the rollout's sums: finished episodes at the learner's seats,
    its rewards, the interactions and strategies at its seats, the partners drawn for the next
    episodes (one draw per partner seat)."""
    slots, learner_view = p.slots, lambda x: p.matchup.learner_view(x, state.seat)  # noqa: E731
    done_f = done.astype(jnp.float32)
    drawn = jax.nn.one_hot(new_partner, p.num_candidates) * _at_partner_seats(p, done_f)[..., None]
    totals = dict(
        episodes=slots * done_f.sum(-1),
        return_sum=(learner_view(finished.returns).sum(-1) * done_f).sum(-1),
        length_sum=slots * (finished.length * done_f).sum(-1),
        reward_sum=learner_view(rewards).sum((-1, -2)),
        partner_episodes=drawn.reshape(p.envs + (-1, p.num_candidates)).sum((1, 2)),
        interaction_sum=None, strategy_sum=None, interaction_steps=None, agreement_sum=None,
    )
    if p.has_interactions:
        seat = _seat_interactions(p, infos)
        interacted = learner_view(seat.interacted).astype(jnp.float32)  # [M, E, slots]
        strategy = learner_view(seat.strategy) * interacted[..., None]
        agreement = (learner_view(seat.strategy) * learner_view(seat.partner_strategy)).sum(-1) * interacted
        interactions = finished.interactions if p.seats > 2 else \
            jnp.broadcast_to(finished.interactions[..., None], finished.interactions.shape + (2,))
        totals.update(
            interaction_sum=(learner_view(interactions).sum(-1) * done_f).sum(-1),
            strategy_sum=strategy.sum(-2).sum(1),
            interaction_steps=interacted.sum(-1).sum(-1),
            agreement_sum=agreement.sum(-1).sum(-1),
        )
    return _Totals(**totals)


def _next_matchups(p: _Program, state: TrainState, key: jax.Array, done: jax.Array):
    """``(drawn partners, partner, seat)`` of every environment's next step: redrawn where an
    episode ended (the generation's partner stays under the generational schedules; only the
    seat is redrawn)."""
    new_partner, new_seat = p.matchup.draw(key, done.shape)
    if p.generational:
        new_partner = state.partner
    at = lambda x: done.reshape(done.shape + (1,) * (x.ndim - done.ndim))  # noqa: E731
    return (new_partner, jnp.where(at(new_partner), new_partner, state.partner),
            jnp.where(at(new_seat), new_seat, state.seat))


def _env_step(p: _Program, carry: tuple[TrainState, _Totals], _):
    """One step of every environment: the learner and its partners act, the environments step,
    the rollout's sums grow; returns the learner's transition."""
    state, totals = carry
    key, k_act, k_partner, k_env, k_pair = jax.random.split(state.key, 5)
    seats_obs = _per_agent(p.env, state.obs)  # [M, E, N, D]
    learner = _learner_act(p, state, seats_obs, k_act)
    partner_carry, partner_action = state.partner_carry, None
    if p.matchup.has_partner:
        partner_obs = p.matchup.partner_view(seats_obs, state.seat)
        partner_carry, partner_action = _partner_act(p, state, partner_obs, k_partner)
    joint = p.matchup.joint(learner.action, state.seat, partner_action)
    obs, env_state, rewards, done, infos = _step_envs(p, k_env, state.env_state, joint)
    log, finished = log_step(state.log, rewards, _log_interactions(p, infos, done), done)
    drawn, partner, seat = _next_matchups(p, state, k_pair, done)
    totals = jax.tree_util.tree_map(jnp.add, totals, _step_totals(p, state, rewards, done, infos, finished, drawn))
    reward = p.matchup.learner_view(rewards, state.seat)
    recurrent = p.network.recurrent
    transition = Transition(
        learner.obs, learner.action, learner.log_prob, learner.value, reward,
        jnp.broadcast_to(done[..., None], reward.shape),
        learner.reward_in if recurrent else None, learner.reset if recurrent else None,
    )
    state = state.replace(env_state=env_state, obs=obs, partner=partner, seat=seat, first=done,
                          last_reward=rewards, learner_carry=learner.carry, partner_carry=partner_carry, log=log,
                          key=key)
    return (state, totals), transition


def _rollout(p: _Program, state: TrainState):
    """``rollout_length`` steps: ``(state, totals, traj)``, traj leaves [M, T, E, slots, ...]."""
    (state, totals), traj = jax.lax.scan(lambda c, x: _env_step(p, c, x), (state, _zero_totals(p)), None,
                                         length=p.config.rollout_length)
    return state, totals, jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 0, 1), traj)


# ---- one member: PPO update -------------------------------------------------


def _last_value(p: _Program, state: TrainState) -> jax.Array:
    """The members' value of the observation after the rollout (GAE's bootstrap), [M, E, slots]."""
    obs, reward_in, reset = _learner_inputs(p, state, _per_agent(p.env, state.obs))
    return _learner_policy(p, state.params, state.learner_carry, obs, reward_in, reset)[1]


def _calculate_gae(p: _Program, traj: Transition, last_value):
    """``(advantages, value targets)`` of one member's rollout (leaves [T, ...])."""
    gamma, lam = p.config.gamma, p.config.gae_lambda

    def step(carry, t):
        advantage, next_value = carry
        done, reward, value = t
        nonterminal = 1.0 - done.astype(jnp.float32)
        delta = reward + gamma * next_value * nonterminal - value
        advantage = delta + gamma * lam * nonterminal * advantage
        return (advantage, value), advantage

    _, advantages = jax.lax.scan(step, (jnp.zeros_like(last_value), last_value),
                                 (traj.done, traj.reward, traj.value), reverse=True)
    return advantages, advantages + traj.value


def _ppo_loss(p: _Program, logits, value, batch: Transition, advantages, targets):
    """Clipped PPO loss ``(total, entropy)`` (advantages normalised per minibatch)."""
    clip_eps = p.config.clip_eps
    log_probs = jax.nn.log_softmax(logits)
    log_prob = jnp.take_along_axis(log_probs, batch.action[..., None], -1)[..., 0]
    value_clipped = batch.value + (value - batch.value).clip(-clip_eps, clip_eps)
    value_loss = 0.5 * jnp.maximum((value - targets) ** 2, (value_clipped - targets) ** 2).mean()
    ratio = jnp.exp(log_prob - batch.log_prob)
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    actor_loss = -jnp.minimum(ratio * advantages, ratio.clip(1.0 - clip_eps, 1.0 + clip_eps) * advantages).mean()
    entropy = -(jnp.exp(log_probs) * log_probs).sum(-1).mean()
    total = actor_loss + p.config.vf_coef * value_loss - p.config.ent_coef * entropy
    return total, entropy


def _loss_fn(p: _Program, params, batch: Transition, advantages, targets):
    logits, value = p.network.apply(params, batch.obs)
    return _ppo_loss(p, logits, value, batch, advantages, targets)


def _sequence_loss_fn(p: _Program, params, carry0, batch: Transition, advantages, targets):
    """The recurrent loss: each sequence replayed from its memory before step 0 (time axis 0)."""
    logits, value = sequence_logits(p.network, params, carry0, batch.obs, batch.action, batch.reward_in,
                                    batch.reset)
    return _ppo_loss(p, logits, value, batch, advantages, targets)


def _update_minibatch(p: _Program, grad: Callable, carry, minibatch):
    params, opt_state = carry
    (loss, entropy), grads = grad(params, *minibatch)
    updates, opt_state = p.optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), (loss, entropy)


def _optimise(p: _Program, params, opt_state, minibatches: Callable, grad: Callable, key: jax.Array):
    """``update_epochs`` epochs over ``minibatches(key) -> [num_minibatches, ...]`` batches;
    ``(params, opt_state, mean loss, mean entropy)``."""

    def update_epoch(carry, k):
        return jax.lax.scan(lambda c, mb: _update_minibatch(p, grad, c, mb), carry, minibatches(k))

    (params, opt_state), (loss, entropy) = jax.lax.scan(
        update_epoch, (params, opt_state), jax.random.split(key, p.config.update_epochs))
    return params, opt_state, loss.mean(), entropy.mean()


def _flat_minibatches(p: _Program, data, key: jax.Array):
    """Feed-forward minibatches: every sample of the rollout shuffled, [num_minibatches, size, ...]."""
    size = jax.tree_util.tree_leaves(data)[0].shape[0]
    order = jax.random.permutation(key, size)
    n = p.config.num_minibatches
    return jax.tree_util.tree_map(lambda x: x[order].reshape((n, size // n) + x.shape[1:]), data)


def _sequence_minibatches(p: _Program, starts, seqs, key: jax.Array):
    """Recurrent minibatches: whole sequences shuffled, time kept as axis 1 of ``seqs``;
    ``(starts [n, per, ...], *seqs [n, T, per, ...])``."""
    sequences = jax.tree_util.tree_leaves(starts)[0].shape[0]
    order = jax.random.permutation(key, sequences)
    n = p.config.num_minibatches

    def split(x, axis):
        shuffled = jnp.take(x, order, axis=axis)
        return jnp.moveaxis(shuffled.reshape(x.shape[:axis] + (n, sequences // n) + x.shape[axis + 1:]), axis, 0)

    return (jax.tree_util.tree_map(lambda x: split(x, 0), starts),
            *jax.tree_util.tree_map(lambda x: split(x, 1), seqs))


def _update_member(p: _Program, params, opt_state, carry0, traj: Transition, advantages, targets, key):
    """One member's PPO epochs. traj leaves [T, E, slots, ...]; carry0 [E, slots, ...]: the memory
    before step 0. Feed-forward: flat per-sample minibatches; recurrent: whole rollouts, one per
    (environment, seat), so time order is kept."""
    horizon, rest = p.config.rollout_length, 3
    if not p.network.recurrent:
        flat = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[rest:]), (traj, advantages, targets))
        return _optimise(p, params, opt_state, lambda k: _flat_minibatches(p, flat, k),
                         jax.value_and_grad(lambda *a: _loss_fn(p, *a), has_aux=True), key)
    seqs = jax.tree_util.tree_map(lambda x: x.reshape((horizon, -1) + x.shape[rest:]), (traj, advantages, targets))
    starts = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), carry0)
    return _optimise(p, params, opt_state, lambda k: _sequence_minibatches(p, starts, seqs, k),
                     jax.value_and_grad(lambda *a: _sequence_loss_fn(p, *a), has_aux=True), key)


# ---- one seed: one update, one generation -----------------------------------


def _update_step(p: _Program, state: TrainState, _) -> tuple[TrainState, UpdateMetrics]:
    """A rollout, GAE, then every member's PPO epochs."""
    carry0 = state.learner_carry
    state, totals, traj = _rollout(p, state)
    advantages, targets = _over(lambda t, v: _calculate_gae(p, t, v), p.num_members)(traj, _last_value(p, state))
    key, k_update = jax.random.split(state.key)
    update = lambda *a: _update_member(p, *a)  # noqa: E731
    params, opt_state, loss, entropy = _over(update, p.num_members)(
        state.params, state.opt_state, carry0, traj, advantages, targets, jax.random.split(k_update, p.num_members))
    metrics = UpdateMetrics(
        episodes=totals.episodes, return_sum=totals.return_sum, length_sum=totals.length_sum,
        interaction_sum=totals.interaction_sum,
        reward_per_step=totals.reward_sum / (p.config.num_envs * p.config.rollout_length * p.slots),
        strategy_sum=totals.strategy_sum, interaction_steps=totals.interaction_steps,
        agreement_sum=totals.agreement_sum, partner_episodes=totals.partner_episodes, loss_total=loss,
        entropy=entropy,
    )
    return state.replace(params=params, opt_state=opt_state, key=key, update=state.update + 1), metrics


def _start_generation(p: _Program, state: TrainState) -> TrainState:
    """Generational schedules: each member draws its frozen partner for this
    generation, and every environment starts a new episode with it; under
    ``lineage`` the member also continues from the drawn member's weights."""
    key, k_pick, k_env, k_pair = jax.random.split(state.key, 4)
    pick = jax.random.randint(k_pick, (p.num_members,), 0, p.num_members, dtype=jnp.int32)
    drawn = lambda tree: jax.tree_util.tree_map(lambda x: x[pick], tree)  # noqa: E731
    frozen = drawn(state.params)
    if p.lineage:
        state = state.replace(params=frozen, opt_state=drawn(state.opt_state))
    obs, env_state = _reset_envs(p, k_env)
    _, seat = p.matchup.draw(k_pair, p.envs)
    return state.replace(frozen_params=frozen, env_state=env_state, obs=obs,
                         partner=jnp.broadcast_to(pick[:, None], p.envs), seat=seat, key=key, **_episode_start(p))


def _generation_seed(p: _Program, state: TrainState):
    if p.generational:
        state = _start_generation(p, state)
    return jax.lax.scan(lambda s, x: _update_step(p, s, x), state, None, length=p.config.updates_per_generation)
