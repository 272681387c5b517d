"""The grid games that existed before the K-type, role and one-shot rules were added play
exactly as before: fixed-seed rollouts hash to digests recorded on the code before that
change (commit 8824d18). A digest covers every observation, reward, done flag and info of the
rollout (the keys every environment has, ``INFO_KEYS``), bit for bit, so any change to a draw,
a rule or an observation layout shows. The state is left out since the N-player rules
(issue 30) keep a timer per player; these digests were re-recorded without it on the code
before that change (commit 8fe417b), which still held the state digests above.
``BEFORE_N_PLAYERS`` adds five more games recorded on 8fe417b itself: the 2-player games play bit
for bit as before ``GridGame`` took ``num_players``.

If a deliberate rule change breaks one, re-record it only together with a parity rerun
(benchmarks/meltingpot_parity.py) showing the game still matches Melting Pot.
"""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import loi.envs
from loi.envs.base import INFO_KEYS
from loi.envs.grid_game import FORWARD, INTERACT, NUM_ACTIONS

STEPS = 400
# Episodes of a few hundred steps, so that each rollout crosses auto-resets; the freeze and
# respawn at their Melting Pot lengths, so that the interaction timeline is in every digest.
SHORT = {"min_steps": 100, "end_interval": 20, "end_probability": 0.5}

# Every game of the paper, each on another layout; the 3x3 game with its third type drawn
# into the 'a' cells.
DIGESTS = {
    "prisoners_dilemma/small": "a79792d1be46df70f769c48c14146c871fe87546cb12b7bbba77c674b8faa78c",
    "chicken/large": "35d478cee1376485ff3fd6e263d3993b4c5ca959d1c1f7d7192cecc1a1cababa",
    "stag_hunt/medium": "c4e71361b6565571b493cef7b8705b236e7f17dd3b110dcfad49df0248d71eb0",
    "pure_coordination/obstacle": "4d4b464af770419271763fbc2ecd49cadf66047f03ffc240b4908b6a873d2720",
    "pure_coordination_3x3/medium": "5e31f4e0fa5a335c682192f60b91a1dea27f47fadaf1b067e8585f2855b07dd8",
}


def rollout_digest(env, steps: int = STEPS, seed: int = 0) -> tuple[str, int]:
    """(sha256 of a ``steps``-step auto-resetting rollout, its number of interactions). Each
    player fires with probability 0.3, walks forward with 0.3, else takes a uniform action.
    Plain jitted ``env.step`` calls: one compile each, much cheaper than a scanned rollout."""
    rng = np.random.default_rng(seed)
    keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(seed), steps + 1)))
    digest = hashlib.sha256()

    def record(tree):
        for leaf in jax.tree.leaves(tree):
            arr = np.asarray(leaf)
            digest.update(str((arr.dtype, arr.shape)).encode())
            digest.update(np.ascontiguousarray(arr).tobytes())

    obs, state = env.reset(jax.random.wrap_key_data(keys[0]))
    record(obs)
    interactions = 0
    for t in range(steps):
        u = rng.random(2)
        act = np.where(u < 0.3, INTERACT, np.where(u < 0.6, FORWARD, rng.integers(0, NUM_ACTIONS, 2)))
        actions = {a: jnp.int32(act[i]) for i, a in enumerate(env.agents)}
        out = env.step(jax.random.wrap_key_data(keys[t + 1]), state, actions)
        obs, _, rewards, dones, infos = out
        record((obs, rewards, dones, {key: infos[key] for key in INFO_KEYS}))
        state = out[1]
        interactions += int(out[4]["interacted"])
    return digest.hexdigest(), interactions


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_existing_games_roll_out_bit_identically(name):
    env = loi.envs.make(name, **SHORT)
    digest, interactions = rollout_digest(env)
    assert interactions >= 1  # the rollout reaches the interaction rules
    assert digest == DIGESTS[name]


# Recorded on commit 8fe417b (before num_players): a paper layout each for two paper games, a
# game with roles on Melting Pot's map, a 3x3 zero-sum game, and a one-shot game (its own cap and
# ending), rolled out for STEPS_BEFORE steps (default 300); on Melting Pot's own maps at the
# games' own ending (random play is sparse there: longer rollouts).
BEFORE_N_PLAYERS = {
    "prisoners_dilemma/medium": "50fa6ee88919e62156999411062cda8ab7ce8be1e8806d207d14ffa80a0dad0b",
    "stag_hunt/obstacle": "e0b12d4becdd83c3529b1ed2a0c5d003263ed100a7c9226fc882cb3e235d7a94",
    "bach_or_stravinsky/meltingpot": "3cb46c7e3e3c2872a6bd702bb00a7a23d7423350a6a8cf56228826bd068ed21f",
    "running_with_scissors/meltingpot_pure_coordination":
        "9742a9b3dec0391991535b78f519d52dd8bde5a734755955bce6252a0dea6efd",
    "running_with_scissors_one_shot/meltingpot_one_shot":
        "8e88449d1e9e0791de407dcefa5e79e8125022ca272c9b78a06290fc67edc1a5",
}
STEPS_BEFORE = {"prisoners_dilemma/medium": 300, "stag_hunt/obstacle": 1000}


@pytest.mark.parametrize("name", sorted(BEFORE_N_PLAYERS))
def test_two_player_games_roll_out_as_before_the_n_player_rules(name):
    env = loi.envs.make(name, **({} if "meltingpot" in name else SHORT))
    digest, interactions = rollout_digest(env, STEPS_BEFORE.get(name, 2500))
    assert interactions >= 1  # the rollout reaches the interaction rules
    assert digest == BEFORE_N_PLAYERS[name]
