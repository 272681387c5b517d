"""PPO for two-player games, vectorised over seeds and population members.

PureJaxRL style: one update = a ``lax.scan`` rollout of ``rollout_length`` steps
over ``num_envs`` environments per member, GAE, then ``update_epochs`` epochs of
``num_minibatches`` clipped-PPO minibatch steps (adam + global-norm clipping).
A generation is a ``lax.scan`` of ``updates_per_generation`` updates; the whole
state carries a leading seed axis and a member axis, both ``vmap``-ed.

Regimes (the member sits in one seat; the partner in the other):

- ``sp``: one parameter set plays both seats; both seats' transitions train it.
- ``ppN``: N members with their own parameters. At the start of every episode
  each environment draws its partner uniformly from the population (the member
  itself included) and the member's seat uniformly from {row, column}.
- ``fcpN``: one learner; partners drawn per episode the same way from a frozen
  pool of N partners (passed to :func:`make_train`): checkpoints and/or
  Melting Pot bots (:mod:`loi.agents.bots`, their puppeteer state carried
  per environment like a recurrent partner's memory).

``pp_schedule = "generational"`` (sp and ppN) is the authors' schedule
(their ``MARL/PP_train.py``): at the start of every generation each member
draws one population member uniformly (itself included; in sp, itself) and
plays the whole generation against a frozen copy of that member's parameters
as they were then. Only the learner's seat trains (sp included), the
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
environment (cost: one extra forward pass per candidate), which keeps the draw
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
from loi.envs.base import AGENTS
from loi.errors import LoiError
from loi.training.config import FROZEN_PARTNER_SCHEDULES, TrainConfig
from loi.training.matchup import EpisodeLog, episode_log, log_step, regime_matchup


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
    partner: jax.Array  # i32 [S, M, E]: partner index (population member or pool entry)
    seat: jax.Array  # i32 [S, M, E]: 0 = member is agent_0 (row player)
    first: jax.Array  # bool [S, M, E]: ``obs`` is the first of an episode
    last_reward: jax.Array  # f32 [S, M, E, 2]: both seats' rewards of the step that produced ``obs``
    learner_carry: Any  # [S, M, E, slots, ...]: the learner's memory at each of its seats (() if feed-forward)
    partner_carry: Any  # [S, M, E, ...]: the drawn partner's memory (() without one or if feed-forward)
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
    return_sum: jax.Array  # sum of the member's returns over completed episodes
    length_sum: jax.Array
    interaction_sum: jax.Array
    reward_per_step: jax.Array  # mean reward per member-seat step in the rollout
    strategy_sum: jax.Array  # [k] member's strategy summed over interactions
    interaction_steps: jax.Array  # steps with an interaction (denominator of the mix)
    agreement_sum: jax.Array  # sum over interactions of row_strategy . col_strategy (1 = same pure strategy)
    partner_episodes: jax.Array  # [P] episodes started with each partner
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


def _per_agent(obs: dict) -> jax.Array:
    """dict agent -> [..., D]  ->  [..., 2, D] (seat order)."""
    return jnp.stack([obs[AGENTS[0]], obs[AGENTS[1]]], axis=-2)


def make_train(config: TrainConfig, pool: PartnerPool | None = None, env: Any = None) -> Trainer:
    """Build the PPO trainer for ``config`` (``pool`` is required for fcpN)."""
    regime = config.regime_spec
    if regime.kind == "fcp":
        if pool is None:
            raise LoiError(f"regime {regime} needs a frozen pool of self-play checkpoints")
        if pool.size != regime.size:
            raise LoiError(f"regime {regime} needs {regime.size} pool checkpoints, got {pool.size}")
    elif pool is not None:
        raise LoiError(f"regime {regime} takes no frozen pool")
    env = env if env is not None else make_env(config)
    if tuple(env.agents) != AGENTS:
        raise LoiError(f"training supports two-player environments with agents {AGENTS}, got {tuple(env.agents)}")
    network = make_network(env, config.network)
    if pool is not None and pool.network is not None and \
            (pool.network.obs_dim, pool.network.num_actions) != (network.obs_dim, network.num_actions):
        raise LoiError("the frozen pool's checkpoints were trained on a different observation/action space")
    num_pool_networks = pool.num_networks if pool is not None else 0
    pool_bots = pool is not None and pool.num_bots > 0

    generational = config.pp_schedule in FROZEN_PARTNER_SCHEDULES
    lineage = config.pp_schedule == "lineage"
    matchup = regime_matchup(regime, config.pp_schedule)
    num_members = regime.num_members
    num_candidates = regime.size  # partner_episodes' width: the population (pp), the pool (fcp); 1 (sp)
    slots = matchup.slots
    partner_network = pool.network if pool is not None and pool.network is not None else network
    recurrent = network.recurrent
    num_envs, horizon = config.num_envs, config.rollout_length
    k = int(env.num_strategies)
    # Envs without loi's interactions (a JaxMARL env): the interaction metrics are left out (None).
    has_interactions = bool(getattr(env, "has_interactions", True))
    batch_size = num_envs * horizon * slots
    minibatch_size = batch_size // config.num_minibatches
    sequences = num_envs * slots  # recurrent minibatches: whole rollouts (TrainConfig checks the divisibility)
    grad_steps_per_update = config.update_epochs * config.num_minibatches

    def schedule(count):
        frac = 1.0 - (count // grad_steps_per_update) / config.num_updates
        return config.learning_rate * frac

    optimizer = optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adam(schedule if config.anneal_lr else config.learning_rate, eps=1e-5),
    )

    env_reset = jax.vmap(jax.vmap(env.reset))  # keys [M, E]
    env_step = jax.vmap(jax.vmap(env.step))

    def learner_step(params, carry, obs, reward, reset):
        """Members' logits/values/carries: params [M], the rest [M, E, slots, ...]."""
        return jax.vmap(lambda p, c, o, r, d: policy_step(network, p, c, o, r, d))(params, carry, obs, reward, reset)

    def partner_init_carry():
        carry = init_carry(partner_network, (num_members, num_envs))
        if pool_bots:  # the bots' puppeteer state beside the checkpoints' memory
            from loi.agents.bots import init_carry as bot_init_carry

            return carry, bot_init_carry((num_members, num_envs))
        return carry

    # ---- one seed: init -------------------------------------------------
    def init_seed(key):
        key, k_params, k_env, k_pair = jax.random.split(key, 4)
        # lax.map, not vmap: a batched QR (the orthogonal initialiser under vmap) can
        # deadlock XLA's CPU thread pool on 2 cores; init runs once, so sequential is free.
        params = jax.lax.map(lambda kk: init_params(network, kk), jax.random.split(k_params, num_members))
        opt_state = jax.vmap(optimizer.init)(params)
        obs, env_state = env_reset(jax.random.split(k_env, num_members * num_envs).reshape(num_members, num_envs, -1))
        partner, seat = matchup.draw(k_pair, (num_members, num_envs))
        return TrainState(
            params=params,
            opt_state=opt_state,
            env_state=env_state,
            obs=obs,
            partner=partner,
            seat=seat,
            first=jnp.ones((num_members, num_envs), bool),
            last_reward=jnp.zeros((num_members, num_envs, 2), jnp.float32),
            learner_carry=init_carry(network, (num_members, num_envs, slots)),
            partner_carry=partner_init_carry() if matchup.has_partner else (),
            frozen_params=params if generational else (),  # replaced at the first generation's start
            log=episode_log((num_members, num_envs)),
            key=key,
            update=jnp.int32(0),
        )

    # ---- one seed: rollout ---------------------------------------------
    def partner_act(state: TrainState, partner_obs, key):
        """Each environment's drawn partner acts: every candidate evaluated on the
        environment's partner memory, the drawn one's logits and memory kept."""
        reward = matchup.partner_view(state.last_reward, state.seat)
        if generational:  # one frozen partner per member: no candidates to select from
            logits, _, carry = jax.vmap(lambda p, c, o, r, d: policy_step(partner_network, p, c, o, r, d))(
                state.frozen_params, state.partner_carry, partner_obs, reward, state.first)
            action = jax.random.categorical(key, logits).astype(jnp.int32)
            return with_action(carry, action), action
        if pool_bots:
            return mixed_pool_act(state, partner_obs, reward, key)
        candidates = state.params if regime.kind == "pp" else pool.params

        def candidate(p):
            logits, _, carry = policy_step(partner_network, p, state.partner_carry, partner_obs, reward, state.first)
            return logits, carry

        all_logits, all_carry = jax.vmap(candidate)(candidates)  # [C, M, E, ...]
        pick = lambda x: jnp.take_along_axis(  # noqa: E731
            x, state.partner.reshape((1,) + state.partner.shape + (1,) * (x.ndim - 3)), axis=0)[0]
        action = jax.random.categorical(key, pick(all_logits)).astype(jnp.int32)
        return with_action(jax.tree_util.tree_map(pick, all_carry), action), action

    def mixed_pool_act(state: TrainState, partner_obs, reward, key):
        """A pool with bots: every checkpoint and every bot acts on the environment's
        partner memory (the checkpoints') and puppeteer state (the bots'); the drawn
        partner's action and memory are kept."""
        net_carry, bot_carry = state.partner_carry
        k_net, k_bot = jax.random.split(key)

        def pick_from(x, index):
            return jnp.take_along_axis(x, index.reshape((1,) + index.shape + (1,) * (x.ndim - 3)), axis=0)[0]

        is_bot = state.partner >= num_pool_networks
        action = jnp.zeros(state.partner.shape, jnp.int32)
        if num_pool_networks:
            def candidate(p):
                logits, _, carry = policy_step(partner_network, p, net_carry, partner_obs, reward, state.first)
                return logits, carry

            all_logits, all_carry = jax.vmap(candidate)(pool.params)
            index = jnp.minimum(state.partner, num_pool_networks - 1)
            net_action = jax.random.categorical(k_net, pick_from(all_logits, index)).astype(jnp.int32)
            net_carry = jax.tree_util.tree_map(lambda x: pick_from(x, index), all_carry)
            action = net_action
        # Bots act on the flattened batch of environments, one key each.
        batch = state.partner.shape
        flat = lambda x: x.reshape((-1,) + x.shape[len(batch):])  # noqa: E731
        keys = jax.random.split(k_bot, int(np.prod(batch)))
        flat_carry = jax.tree_util.tree_map(flat, bot_carry)

        def bot(p):
            return pool.bot_act(p, flat_carry, flat(partner_obs), flat(reward), flat(state.first), keys)

        bot_carries, bot_actions = jax.vmap(bot)(pool.bot_params)  # [B, M*E, ...]
        bot_index = jnp.maximum(flat(state.partner) - num_pool_networks, 0)
        take = lambda x: jnp.take_along_axis(  # noqa: E731
            x, bot_index.reshape((1,) + bot_index.shape + (1,) * (x.ndim - 2)), axis=0)[0]
        bot_carry = jax.tree_util.tree_map(lambda x: take(x).reshape(batch + x.shape[2:]), bot_carries)
        action = jnp.where(is_bot, take(bot_actions).reshape(batch), action)
        return (with_action(net_carry, action), bot_carry), action

    def env_step_fn(carry, _):
        state, stats = carry
        key, k_act, k_partner, k_env, k_pair = jax.random.split(state.key, 5)
        per_agent_obs = _per_agent(state.obs)  # [M, E, 2, D]
        learner_obs = matchup.learner_view(per_agent_obs, state.seat)  # [M, E, slots, D]
        reward_in = matchup.learner_view(state.last_reward, state.seat)
        reset = jnp.broadcast_to(state.first[..., None], reward_in.shape)
        logits, value, learner_carry = learner_step(state.params, state.learner_carry, learner_obs, reward_in, reset)
        action = jax.random.categorical(k_act, logits).astype(jnp.int32)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[..., None], -1)[..., 0]
        learner_carry = with_action(learner_carry, action)
        partner_carry, p_action = state.partner_carry, None
        if matchup.has_partner:
            partner_obs = matchup.partner_view(per_agent_obs, state.seat)
            partner_carry, p_action = partner_act(state, partner_obs, k_partner)
        joint = matchup.joint(action, state.seat, p_action)
        step_keys = jax.random.split(k_env, num_members * num_envs).reshape(num_members, num_envs, -1)
        obs, env_state, rewards, dones, infos = env_step(
            step_keys, state.env_state, {AGENTS[0]: joint[..., 0], AGENTS[1]: joint[..., 1]})
        rewards = jnp.stack([rewards[AGENTS[0]], rewards[AGENTS[1]]], axis=-1).astype(jnp.float32)  # [M, E, 2]
        done = dones["__all__"]
        interacted = infos["interacted"] if has_interactions else jnp.zeros(done.shape, bool)
        row_strategy, col_strategy = ((infos["row_strategy"], infos["col_strategy"]) if has_interactions
                                      else (jnp.zeros(done.shape + (k,)),) * 2)
        reward = matchup.learner_view(rewards, state.seat)
        log, finished = log_step(state.log, rewards, interacted, done)

        done_f = done.astype(jnp.float32)
        strategies = jnp.stack([row_strategy, col_strategy], axis=-2)  # [M, E, 2, k]
        strategy = matchup.learner_view(strategies, state.seat).sum(-2) * interacted[..., None]
        strategy_count = slots * interacted.astype(jnp.float32)
        agreement = (row_strategy * col_strategy).sum(-1) * strategy_count
        new_partner, new_seat = matchup.draw(k_pair, done.shape)
        if generational:  # the generation's partner stays; only the seat is redrawn
            new_partner = state.partner
        stats = UpdateMetrics(
            episodes=stats.episodes + slots * done_f.sum(-1),
            return_sum=stats.return_sum + (matchup.learner_view(finished.returns, state.seat).sum(-1) * done_f).sum(-1),
            length_sum=stats.length_sum + slots * (finished.length * done_f).sum(-1),
            interaction_sum=stats.interaction_sum + slots * (finished.interactions * done_f).sum(-1),
            reward_per_step=stats.reward_per_step + reward.sum((-1, -2)),
            strategy_sum=stats.strategy_sum + strategy.sum(1),
            interaction_steps=stats.interaction_steps + strategy_count.sum(-1),
            agreement_sum=stats.agreement_sum + agreement.sum(-1),
            partner_episodes=stats.partner_episodes
            + (jax.nn.one_hot(new_partner, num_candidates) * done_f[..., None]).sum(1),
            loss_total=stats.loss_total,
            entropy=stats.entropy,
        )
        transition = Transition(
            learner_obs, action, log_prob, value, reward, jnp.broadcast_to(done[..., None], reward.shape),
            reward_in if recurrent else None, reset if recurrent else None,
        )
        state = state.replace(
            env_state=env_state,
            obs=obs,
            partner=jnp.where(done, new_partner, state.partner),
            seat=jnp.where(done, new_seat, state.seat),
            first=done,
            last_reward=rewards,
            learner_carry=learner_carry,
            partner_carry=partner_carry,
            log=log,
            key=key,
        )
        return (state, stats), transition

    # ---- one member: PPO update ----------------------------------------
    def gae(traj: Transition, last_value):
        def step(carry, t):
            advantage, next_value = carry
            nonterminal = 1.0 - t.done.astype(jnp.float32)
            delta = t.reward + config.gamma * next_value * nonterminal - t.value
            advantage = delta + config.gamma * config.gae_lambda * nonterminal * advantage
            return (advantage, t.value), advantage

        _, advantages = jax.lax.scan(
            step, (jnp.zeros_like(last_value), last_value), traj, reverse=True
        )
        return advantages, advantages + traj.value

    def ppo_loss(logits, value, batch: Transition, advantages, targets):
        log_probs = jax.nn.log_softmax(logits)
        log_prob = jnp.take_along_axis(log_probs, batch.action[..., None], -1)[..., 0]
        value_clipped = batch.value + (value - batch.value).clip(-config.clip_eps, config.clip_eps)
        value_loss = 0.5 * jnp.maximum((value - targets) ** 2, (value_clipped - targets) ** 2).mean()
        ratio = jnp.exp(log_prob - batch.log_prob)
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        actor_loss = -jnp.minimum(
            ratio * advantages, ratio.clip(1.0 - config.clip_eps, 1.0 + config.clip_eps) * advantages
        ).mean()
        entropy = -(jnp.exp(log_probs) * log_probs).sum(-1).mean()
        total = actor_loss + config.vf_coef * value_loss - config.ent_coef * entropy
        return total, entropy

    def loss_fn(params, batch: Transition, advantages, targets):
        logits, value = network.apply(params, batch.obs)
        return ppo_loss(logits, value, batch, advantages, targets)

    def sequence_loss_fn(params, carry0, batch: Transition, advantages, targets):
        logits, value = sequence_logits(network, params, carry0, batch.obs, batch.action, batch.reward_in,
                                        batch.reset)
        return ppo_loss(logits, value, batch, advantages, targets)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    sequence_grad_fn = jax.value_and_grad(sequence_loss_fn, has_aux=True)

    def optimise(params, opt_state, minibatches, grad, key):
        """``update_epochs`` epochs over ``minibatches(key) -> [num_minibatches, ...]`` batches."""

        def epoch(carry, k):
            def minibatch(carry, mb):
                params, opt_state = carry
                (loss, entropy), grads = grad(params, *mb)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), (loss, entropy)

            return jax.lax.scan(minibatch, carry, minibatches(k))

        (params, opt_state), (loss, entropy) = jax.lax.scan(
            epoch, (params, opt_state), jax.random.split(key, config.update_epochs)
        )
        return params, opt_state, loss.mean(), entropy.mean()

    def update_member(params, opt_state, carry0, traj: Transition, advantages, targets, key):
        """traj leaves [T, E, slots, ...]; carry0 [E, slots, ...]: the memory before step 0."""
        if not recurrent:
            flat = jax.tree_util.tree_map(lambda x: x.reshape((batch_size,) + x.shape[3:]),
                                          (traj, advantages, targets))

            def minibatches(k):
                order = jax.random.permutation(k, batch_size)
                return jax.tree_util.tree_map(
                    lambda x: x[order].reshape((config.num_minibatches, minibatch_size) + x.shape[1:]), flat)

            return optimise(params, opt_state, minibatches, grad_fn, key)

        # Whole rollouts, one per (environment, seat): time stays axis 1 of every minibatch.
        seqs = jax.tree_util.tree_map(lambda x: x.reshape((horizon, sequences) + x.shape[3:]),
                                      (traj, advantages, targets))
        starts = jax.tree_util.tree_map(lambda x: x.reshape((sequences,) + x.shape[2:]), carry0)
        per_minibatch = sequences // config.num_minibatches

        def minibatches(k):
            order = jax.random.permutation(k, sequences)
            split = lambda x, axis: jnp.moveaxis(  # noqa: E731
                jnp.take(x, order, axis=axis).reshape(
                    x.shape[:axis] + (config.num_minibatches, per_minibatch) + x.shape[axis + 1:]), axis, 0)
            return (jax.tree_util.tree_map(lambda x: split(x, 0), starts),
                    *jax.tree_util.tree_map(lambda x: split(x, 1), seqs))

        return optimise(params, opt_state, minibatches, sequence_grad_fn, key)

    # ---- one seed: one update -------------------------------------------
    def update_seed(state: TrainState, _):
        zeros = lambda *shape: jnp.zeros((num_members,) + shape, jnp.float32)  # noqa: E731
        stats = UpdateMetrics(
            zeros(), zeros(), zeros(), zeros(), zeros(), zeros(k), zeros(), zeros(), zeros(num_candidates), zeros(),
            zeros()
        )
        carry0 = state.learner_carry
        (state, stats), traj = jax.lax.scan(env_step_fn, (state, stats), None, length=horizon)
        # traj leaves: [T, M, E, slots, ...] -> per member [M, T, E, slots, ...]
        traj = jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 0, 1), traj)
        last_reward = matchup.learner_view(state.last_reward, state.seat)
        _, last_value, _ = learner_step(state.params, state.learner_carry,
                                        matchup.learner_view(_per_agent(state.obs), state.seat), last_reward,
                                        jnp.broadcast_to(state.first[..., None], last_reward.shape))
        advantages, targets = jax.vmap(gae)(traj, last_value)
        key, k_update = jax.random.split(state.key)
        params, opt_state, loss, entropy = jax.vmap(update_member)(
            state.params, state.opt_state, carry0, traj, advantages, targets,
            jax.random.split(k_update, num_members)
        )
        stats = stats._replace(
            reward_per_step=stats.reward_per_step / (num_envs * horizon * slots), loss_total=loss, entropy=entropy
        )
        if not has_interactions:  # not measured: absent, not zero
            stats = stats._replace(interaction_sum=None, strategy_sum=None, interaction_steps=None, agreement_sum=None)
        state = state.replace(params=params, opt_state=opt_state, key=key, update=state.update + 1)
        return state, stats

    def start_generation(state: TrainState) -> TrainState:
        """Generational schedules: each member draws its frozen partner for this
        generation, and every environment starts a new episode with it; under
        ``lineage`` the member also continues from the drawn member's weights."""
        key, k_pick, k_env, k_pair = jax.random.split(state.key, 4)
        pick = jax.random.randint(k_pick, (num_members,), 0, num_members, dtype=jnp.int32)
        drawn = lambda tree: jax.tree_util.tree_map(lambda x: x[pick], tree)  # noqa: E731
        frozen = drawn(state.params)
        if lineage:
            state = state.replace(params=frozen, opt_state=drawn(state.opt_state))
        obs, env_state = env_reset(jax.random.split(k_env, num_members * num_envs).reshape(num_members, num_envs, -1))
        _, seat = matchup.draw(k_pair, (num_members, num_envs))
        return state.replace(
            frozen_params=frozen,
            env_state=env_state,
            obs=obs,
            partner=jnp.broadcast_to(pick[:, None], (num_members, num_envs)),
            seat=seat,
            first=jnp.ones((num_members, num_envs), bool),
            last_reward=jnp.zeros((num_members, num_envs, 2), jnp.float32),
            learner_carry=init_carry(network, (num_members, num_envs, slots)),
            partner_carry=partner_init_carry(),
            log=episode_log((num_members, num_envs)),
            key=key,
        )

    def generation_seed(state: TrainState):
        if generational:
            state = start_generation(state)
        return jax.lax.scan(update_seed, state, None, length=config.updates_per_generation)

    def init(key: jax.Array) -> TrainState:
        return jax.lax.map(init_seed, jax.random.split(key, config.num_seeds))  # see init_seed

    def generation(state: TrainState) -> tuple[TrainState, UpdateMetrics]:
        state, metrics = jax.vmap(generation_seed)(state)  # metrics [S, U, ...]
        return state, jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), metrics)

    return Trainer(config=config, env=env, network=network, init=init, generation=generation)
