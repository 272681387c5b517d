"""The authors' population-play schedule (``pp_schedule = "generational"``): per
generation each member trains against a frozen copy of one drawn member."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from loi.errors import LoiError
from loi.training import TrainConfig, make_train, train_run


def _tiny(regime: str, **kw) -> TrainConfig:
    return TrainConfig("matrix/prisoners_dilemma", regime=regime, num_seeds=2, total_steps=4 * 16 * 32,
                       num_envs=16, rollout_length=32, num_generations=4, num_minibatches=2,
                       env_overrides={"min_steps": 20}, pp_schedule="generational", **kw)


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def _generations(config: TrainConfig, seed: int = 0):
    """(params before, state after, metrics) of every generation, one by one."""
    trainer = make_train(config)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(seed))
    generation = jax.jit(trainer.generation)
    out = []
    for _ in range(config.num_generations):
        before = state.params
        state, metrics = generation(state)
        out.append((before, state, metrics))
    return out


def test_config_validates_the_schedule():
    with pytest.raises(LoiError, match="unknown pp_schedule"):
        TrainConfig("matrix/stag_hunt", pp_schedule="alternating")
    with pytest.raises(LoiError, match="frozen pool"):
        TrainConfig("matrix/stag_hunt", regime="fcp3", pp_schedule="generational")
    config = TrainConfig("matrix/stag_hunt", regime="pp3", pp_schedule="generational")
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.config_hash() != TrainConfig("matrix/stag_hunt", regime="pp3").config_hash()


def test_pp_partner_is_a_frozen_copy_of_a_member_drawn_each_generation():
    config = _tiny("pp3")
    picks = []
    for before, state, metrics in _generations(config, seed=3):
        partner = np.asarray(state.partner)  # [S, M, E]
        pick = partner[:, :, 0]
        assert (partner == pick[..., None]).all()  # one partner for all of a member's environments
        picks.append(pick)
        for frozen, live_before, live_after in zip(_leaves(state.frozen_params), _leaves(before),
                                                  _leaves(state.params)):
            for s in range(2):
                for m in range(3):
                    # The partner played the drawn member's parameters as they were at the generation's start...
                    np.testing.assert_array_equal(frozen[s, m], live_before[s, pick[s, m]])
        # ...while the learners themselves trained.
        assert any(not np.array_equal(a, b) for a, b in zip(_leaves(before), _leaves(state.params)))
        # Every episode of the generation was played with that one partner.
        episodes = np.asarray(metrics.partner_episodes).sum(0)  # [S, M, P]
        for s in range(2):
            for m in range(3):
                assert episodes[s, m, pick[s, m]] > 0
                assert episodes[s, m].sum() == episodes[s, m, pick[s, m]]
    picks = np.stack(picks)  # [G, S, M]
    assert set(np.unique(picks)) == {0, 1, 2}
    own = picks == np.arange(3)[None, None, :]
    assert own.any() and not own.all()  # itself included, not always itself


def test_sp_learns_one_seat_against_its_frozen_self():
    config = _tiny("sp", network="gru")  # recurrent: the learner's memory has one seat slot
    concurrent = make_train(TrainConfig.from_dict({**config.to_dict(), "pp_schedule": "concurrent"}))
    for before, state, metrics in _generations(config):
        assert {leaf.shape[:4] for leaf in _leaves(state.learner_carry)} == {(2, 1, 16, 1)}
        assert (np.asarray(state.partner) == 0).all()
        for frozen, live in zip(_leaves(state.frozen_params), _leaves(before)):
            np.testing.assert_array_equal(frozen, live)
        # Both seats are learned: the seat is drawn per episode.
        assert set(np.unique(np.asarray(state.seat))) == {0, 1}
    # One learning seat: each finished episode counts once, where concurrent self-play counts both seats.
    _, concurrent_metrics = concurrent.generation(jax.jit(concurrent.init)(jax.random.PRNGKey(0)))
    generational_episodes = np.asarray(metrics.episodes).sum()
    concurrent_episodes = np.asarray(concurrent_metrics.episodes).sum()
    assert concurrent_episodes % 2 == 0
    # Same environments and episode rule: about half as many counted episodes.
    assert 0.35 < generational_episodes / concurrent_episodes < 0.65


def test_generational_resume_equals_uninterrupted_bit_for_bit(tmp_path):
    config = _tiny("pp3")
    full = train_run(config, tmp_path / "full", seed=5)
    train_run(config, tmp_path / "part", seed=5, stop_after=2)
    resumed = train_run(config, tmp_path / "part", seed=5)
    assert resumed.resumed_from == 2
    files = lambda out: {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("gen_*.msgpack"))}  # noqa: E731
    assert files(tmp_path / "full") == files(tmp_path / "part")
    assert full.curves.equals(resumed.curves)


# sp is a slow test (a compile of its own, ~20 s of CPU): pp3, which draws its frozen partner among
# members that include itself, checks the same learning in the default suite, and
# test_sp_learns_one_seat_against_its_frozen_self checks sp's frozen self and its seats.
@pytest.mark.parametrize("regime", [pytest.param("sp", marks=pytest.mark.slow), "pp3"])
def test_generational_learners_defect_in_the_prisoners_dilemma(regime):
    """Against frozen partners the dominant strategy is still learned (A = [[3,0],[5,1]])."""
    config = TrainConfig("matrix/prisoners_dilemma", regime=regime, num_seeds=1, total_steps=150_000,
                         num_envs=64, rollout_length=64, num_generations=5, pp_schedule="generational")
    _, metrics = jax.jit(make_train(config))(jax.random.PRNGKey(0))
    tail = slice(-max(1, config.num_updates // 5), None)
    strategy = np.asarray(metrics.strategy_sum)[tail].sum(0)[0]  # [M, k]
    count = np.asarray(metrics.interaction_steps)[tail].sum(0)[0]  # [M]
    defect = strategy[:, 1] / count
    assert (defect > 0.9).all(), defect


def _replace_config(config: TrainConfig, **changes) -> TrainConfig:
    return TrainConfig.from_dict({**config.to_dict(), **changes})


def test_lineage_learner_continues_the_drawn_members_weights():
    """``lineage`` = the authors' restore: each generation a member starts from the drawn
    member's parameters (a learning rate of 1e-9 keeps the start visible after the generation)
    and trains against a frozen copy of them."""
    config = _replace_config(_tiny("pp3"), pp_schedule="lineage", learning_rate=1e-9)
    trainer = make_train(config)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(7))
    after, _ = jax.jit(trainer.generation)(state)
    pick = np.asarray(after.partner)[:, :, 0]  # [S, M]: each member's draw
    assert not (pick == np.arange(3)[None, :]).all()  # some member took over another's lineage
    for start, frozen, end in zip(_leaves(state.params), _leaves(after.frozen_params), _leaves(after.params)):
        for s in range(2):
            np.testing.assert_array_equal(frozen[s], start[s][pick[s]])
            np.testing.assert_allclose(end[s], start[s][pick[s]], rtol=0, atol=1e-6)
    moved = [np.abs(end[s][m] - start[s][m]).max() for start, end in zip(_leaves(state.params), _leaves(after.params))
             for s in range(2) for m in range(3) if pick[s, m] != m]
    assert max(moved) > 1e-3  # a member that drew another no longer holds its own weights


@pytest.mark.slow  # two compiles (~40 s); the property follows from a draw among one member
def test_lineage_self_play_is_generational_self_play():
    """With one member the draw is the member itself: sp trains bit for bit as under
    ``generational`` (so a study's SP seeds and held-out Bobs are the same under both)."""
    config = _tiny("sp")
    a = jax.jit(make_train(config))(jax.random.PRNGKey(1))[0]
    b = jax.jit(make_train(_replace_config(config, pp_schedule="lineage")))(jax.random.PRNGKey(1))[0]
    for x, y in zip(_leaves(a.params), _leaves(b.params)):
        np.testing.assert_array_equal(x, y)
