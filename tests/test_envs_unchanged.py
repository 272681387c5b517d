"""The grid games that existed before the K-type, role and one-shot rules were added play
exactly as before: fixed-seed rollouts hash to digests recorded on the code before that
change (commit 8824d18). A digest covers every observation, reward, done flag, info and
state of the rollout, bit for bit, so any change to a draw, a rule or an observation layout
shows.

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
from loi.envs.grid_game import FORWARD, INTERACT, NUM_ACTIONS

STEPS = 400
# Episodes of a few hundred steps, so that each rollout crosses auto-resets; the freeze and
# respawn at their Melting Pot lengths, so that the interaction timeline is in every digest.
SHORT = {"min_steps": 100, "end_interval": 20, "end_probability": 0.5}

# Every game of the paper, each on another layout; the 3x3 game with its third type drawn
# into the 'a' cells.
DIGESTS = {
    "prisoners_dilemma/small": "fe690dde3834f69f17fd18f60f33449692d56ce828edd524d896e5068147cc37",
    "chicken/large": "6701c2e3f822c1a18345c5167a7d00f2992dc8555634c220a994910f53801905",
    "stag_hunt/medium": "9877adb14b56167d35a46d8ce3248996b5f79cb80c12b09629733efe2f6ede90",
    "pure_coordination/obstacle": "874176a3bb105fa7472daa2826330d0481f20ef2d6452e41262c3d8733fbf1fd",
    "pure_coordination_3x3/medium": "3364dabd27fef1e9c1d8b3b01423933a885463f8880a730189e7e8ea8b5397be",
}


def rollout_digest(env, seed: int = 0) -> tuple[str, int]:
    """(sha256 of a ``STEPS``-step auto-resetting rollout, its number of interactions). Each
    player fires with probability 0.3, walks forward with 0.3, else takes a uniform action.
    Plain jitted ``env.step`` calls: one compile each, much cheaper than a scanned rollout."""
    rng = np.random.default_rng(seed)
    keys = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(seed), STEPS + 1)))
    digest = hashlib.sha256()

    def record(tree):
        for leaf in jax.tree.leaves(tree):
            arr = np.asarray(leaf)
            digest.update(str((arr.dtype, arr.shape)).encode())
            digest.update(np.ascontiguousarray(arr).tobytes())

    obs, state = env.reset(jax.random.wrap_key_data(keys[0]))
    record((obs, state))
    interactions = 0
    for t in range(STEPS):
        u = rng.random(2)
        act = np.where(u < 0.3, INTERACT, np.where(u < 0.6, FORWARD, rng.integers(0, NUM_ACTIONS, 2)))
        actions = {a: jnp.int32(act[i]) for i, a in enumerate(env.agents)}
        out = env.step(jax.random.wrap_key_data(keys[t + 1]), state, actions)
        record(out)
        state = out[1]
        interactions += int(out[4]["interacted"])
    return digest.hexdigest(), interactions


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_existing_games_roll_out_bit_identically(name):
    env = loi.envs.make(name, **SHORT)
    digest, interactions = rollout_digest(env)
    assert interactions >= 1  # the rollout reaches the interaction rules
    assert digest == DIGESTS[name]
