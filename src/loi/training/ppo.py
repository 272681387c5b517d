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
  pool of N checkpoints (passed to :func:`make_train`).

Partner actions are computed for every candidate partner and selected per
environment (cost: one extra forward pass per candidate), which keeps the draw
per episode rather than per rollout: a partner or seat never changes mid-episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from loi.agents.networks import ActorCritic, init_params, make_network
from loi.errors import LoiError
from loi.training.config import TrainConfig

AGENTS = ("agent_0", "agent_1")


@dataclass(frozen=True)
class PartnerPool:
    """Frozen partners for fictitious co-play: params stacked on a leading axis."""

    network: ActorCritic
    params: Any

    @property
    def size(self) -> int:
        return int(jax.tree_util.tree_leaves(self.params)[0].shape[0])


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
    episode_return: jax.Array  # f32 [S, M, E, slots]
    episode_length: jax.Array  # i32 [S, M, E]
    episode_interactions: jax.Array  # i32 [S, M, E]
    key: jax.Array  # [S, 2]
    update: jax.Array  # i32 [S]: completed updates


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array


class UpdateMetrics(NamedTuple):
    """Per update, per member (leading axes added by scan/vmap: [U, S, M])."""

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
    if pool is not None and (pool.network.obs_dim, pool.network.num_actions) != (network.obs_dim, network.num_actions):
        raise LoiError("the frozen pool's checkpoints were trained on a different observation/action space")

    num_members = regime.num_members
    num_partners = regime.size  # candidates: the population (pp), the pool (fcp); 1 = self (sp)
    self_play = regime.kind == "sp"
    slots = 2 if self_play else 1  # learning seats per environment
    num_envs, horizon = config.num_envs, config.rollout_length
    k = int(env.num_strategies)
    batch_size = num_envs * horizon * slots
    minibatch_size = batch_size // config.num_minibatches
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
    apply_members = jax.vmap(network.apply)  # params [M], obs [M, ...]

    def draw_pairing(key, shape):
        k_partner, k_seat = jax.random.split(key)
        if self_play:
            return jnp.zeros(shape, jnp.int32), jnp.zeros(shape, jnp.int32)
        partner = jax.random.randint(k_partner, shape, 0, num_partners, dtype=jnp.int32)
        seat = jax.random.randint(k_seat, shape, 0, 2, dtype=jnp.int32)
        return partner, seat

    # ---- one seed: init -------------------------------------------------
    def init_seed(key):
        key, k_params, k_env, k_pair = jax.random.split(key, 4)
        # lax.map, not vmap: a batched QR (the orthogonal initialiser under vmap) can
        # deadlock XLA's CPU thread pool on 2 cores; init runs once, so sequential is free.
        params = jax.lax.map(lambda kk: init_params(network, kk), jax.random.split(k_params, num_members))
        opt_state = jax.vmap(optimizer.init)(params)
        obs, env_state = env_reset(jax.random.split(k_env, num_members * num_envs).reshape(num_members, num_envs, -1))
        partner, seat = draw_pairing(k_pair, (num_members, num_envs))
        return TrainState(
            params=params,
            opt_state=opt_state,
            env_state=env_state,
            obs=obs,
            partner=partner,
            seat=seat,
            episode_return=jnp.zeros((num_members, num_envs, slots), jnp.float32),
            episode_length=jnp.zeros((num_members, num_envs), jnp.int32),
            episode_interactions=jnp.zeros((num_members, num_envs), jnp.int32),
            key=key,
            update=jnp.int32(0),
        )

    # ---- one seed: rollout ---------------------------------------------
    def partner_logits(params, partner_obs, partner):
        """Logits of each env's partner: every candidate evaluated, one selected."""
        if regime.kind == "pp":
            # candidate c's logits on every member's envs: [C, M, E, A]
            all_logits = jax.vmap(lambda p: network.apply(p, partner_obs)[0])(params)
        else:
            all_logits = jax.vmap(lambda p: pool.network.apply(p, partner_obs)[0])(pool.params)
        return jnp.take_along_axis(all_logits, partner[None, ..., None], axis=0)[0]

    def env_step_fn(carry, _):
        state, stats = carry
        key, k_act, k_partner, k_env, k_pair = jax.random.split(state.key, 5)
        obs0, obs1 = state.obs[AGENTS[0]], state.obs[AGENTS[1]]
        if self_play:
            learner_obs = jnp.stack([obs0, obs1], axis=2)  # [M, E, 2, D]
        else:
            member_first = (state.seat == 0)[..., None]
            learner_obs = jnp.where(member_first, obs0, obs1)[:, :, None]  # [M, E, 1, D]
        logits, value = apply_members(state.params, learner_obs)
        action = jax.random.categorical(k_act, logits).astype(jnp.int32)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[..., None], -1)[..., 0]
        if self_play:
            a0, a1 = action[..., 0], action[..., 1]
        else:
            partner_obs = jnp.where(member_first, obs1, obs0)
            p_action = jax.random.categorical(k_partner, partner_logits(state.params, partner_obs, state.partner))
            p_action = p_action.astype(jnp.int32)
            a0 = jnp.where(state.seat == 0, action[..., 0], p_action)
            a1 = jnp.where(state.seat == 0, p_action, action[..., 0])
        step_keys = jax.random.split(k_env, num_members * num_envs).reshape(num_members, num_envs, -1)
        obs, env_state, rewards, dones, infos = env_step(step_keys, state.env_state, {AGENTS[0]: a0, AGENTS[1]: a1})
        r0, r1 = rewards[AGENTS[0]].astype(jnp.float32), rewards[AGENTS[1]].astype(jnp.float32)
        done = dones["__all__"]
        interacted = infos["interacted"]
        if self_play:
            reward = jnp.stack([r0, r1], axis=2)
            strategy = infos["row_strategy"] + infos["col_strategy"]  # both seats learn
            strategy_count = 2 * interacted.astype(jnp.float32)
        else:
            reward = jnp.where(state.seat == 0, r0, r1)[..., None]
            strategy = jnp.where((state.seat == 0)[..., None], infos["row_strategy"], infos["col_strategy"])
            strategy_count = interacted.astype(jnp.float32)
        strategy = strategy * interacted[..., None]
        agreement = (infos["row_strategy"] * infos["col_strategy"]).sum(-1) * strategy_count

        episode_return = state.episode_return + reward
        episode_length = state.episode_length + 1
        episode_interactions = state.episode_interactions + interacted.astype(jnp.int32)
        done_f = done.astype(jnp.float32)
        new_partner, new_seat = draw_pairing(k_pair, done.shape)
        partner = jnp.where(done, new_partner, state.partner)
        seat = jnp.where(done, new_seat, state.seat)
        stats = UpdateMetrics(
            episodes=stats.episodes + slots * done_f.sum(-1),
            return_sum=stats.return_sum + (episode_return.sum(-1) * done_f).sum(-1),
            length_sum=stats.length_sum + slots * (episode_length * done_f).sum(-1),
            interaction_sum=stats.interaction_sum + slots * (episode_interactions * done_f).sum(-1),
            reward_per_step=stats.reward_per_step + reward.sum((-1, -2)),
            strategy_sum=stats.strategy_sum + strategy.sum(1),
            interaction_steps=stats.interaction_steps + strategy_count.sum(-1),
            agreement_sum=stats.agreement_sum + agreement.sum(-1),
            partner_episodes=stats.partner_episodes
            + (jax.nn.one_hot(new_partner, num_partners) * done_f[..., None]).sum(1),
            loss_total=stats.loss_total,
            entropy=stats.entropy,
        )
        keep = 1 - done_f
        state = state.replace(
            env_state=env_state,
            obs=obs,
            partner=partner,
            seat=seat,
            episode_return=episode_return * keep[..., None],
            episode_length=(episode_length * keep).astype(jnp.int32),
            episode_interactions=(episode_interactions * keep).astype(jnp.int32),
            key=key,
        )
        transition = Transition(
            learner_obs, action, log_prob, value, reward, jnp.broadcast_to(done[..., None], reward.shape)
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

    def loss_fn(params, batch: Transition, advantages, targets):
        logits, value = network.apply(params, batch.obs)
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

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def update_member(params, opt_state, traj: Transition, advantages, targets, key):
        flat = jax.tree_util.tree_map(lambda x: x.reshape((batch_size,) + x.shape[3:]), (traj, advantages, targets))

        def epoch(carry, k):
            params, opt_state = carry
            order = jax.random.permutation(k, batch_size)
            shuffled = jax.tree_util.tree_map(
                lambda x: x[order].reshape((config.num_minibatches, minibatch_size) + x.shape[1:]), flat
            )

            def minibatch(carry, mb):
                params, opt_state = carry
                (loss, entropy), grads = grad_fn(params, *mb)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), (loss, entropy)

            return jax.lax.scan(minibatch, (params, opt_state), shuffled)

        (params, opt_state), (loss, entropy) = jax.lax.scan(
            epoch, (params, opt_state), jax.random.split(key, config.update_epochs)
        )
        return params, opt_state, loss.mean(), entropy.mean()

    # ---- one seed: one update -------------------------------------------
    def update_seed(state: TrainState, _):
        zeros = lambda *shape: jnp.zeros((num_members,) + shape, jnp.float32)  # noqa: E731
        stats = UpdateMetrics(
            zeros(), zeros(), zeros(), zeros(), zeros(), zeros(k), zeros(), zeros(), zeros(num_partners), zeros(), zeros()
        )
        (state, stats), traj = jax.lax.scan(env_step_fn, (state, stats), None, length=horizon)
        # traj leaves: [T, M, E, slots, ...] -> per member [M, T, E, slots, ...]
        traj = jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 0, 1), traj)
        if self_play:
            last_obs = jnp.stack([state.obs[AGENTS[0]], state.obs[AGENTS[1]]], axis=2)
        else:
            last_obs = jnp.where((state.seat == 0)[..., None], state.obs[AGENTS[0]], state.obs[AGENTS[1]])[:, :, None]
        _, last_value = apply_members(state.params, last_obs)
        advantages, targets = jax.vmap(gae)(traj, last_value)
        key, k_update = jax.random.split(state.key)
        params, opt_state, loss, entropy = jax.vmap(update_member)(
            state.params, state.opt_state, traj, advantages, targets, jax.random.split(k_update, num_members)
        )
        stats = stats._replace(
            reward_per_step=stats.reward_per_step / (num_envs * horizon * slots), loss_total=loss, entropy=entropy
        )
        state = state.replace(params=params, opt_state=opt_state, key=key, update=state.update + 1)
        return state, stats

    def generation_seed(state: TrainState):
        return jax.lax.scan(update_seed, state, None, length=config.updates_per_generation)

    def init(key: jax.Array) -> TrainState:
        return jax.lax.map(init_seed, jax.random.split(key, config.num_seeds))  # see init_seed

    def generation(state: TrainState) -> tuple[TrainState, UpdateMetrics]:
        state, metrics = jax.vmap(generation_seed)(state)  # metrics [S, U, ...]
        return state, jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), metrics)

    return Trainer(config=config, env=env, network=network, init=init, generation=generation)
