"""JAX multi-agent environments: repeated matrix games and the grid
"in the matrix" games of Melting Pot (JaxMARL-style functional API), and any
two-player JaxMARL environment (``make("jaxmarl:overcooked/cramped_room")``,
``wrap(my_env)``; optional extra ``loi[jaxmarl]``).

    env = loi.envs.make("stag_hunt/medium")
    obs, state = env.reset(key)
    obs, state, rewards, dones, infos = env.step(key, state, actions)
"""

from loi.envs.games import BUILTIN_GAMES, Game, make_game
from loi.envs.layouts import BUILTIN_LAYOUTS, Layout, make_layout
from loi.envs.registry import games, layouts, make, names, register, scored
from loi.envs.definitions import Definitions, load_definitions
from loi.envs.pettingzoo_adapter import to_pettingzoo
from loi.envs.jaxmarl_adapter import JaxMARLEnv, wrap


def render_rgb(env, state, cell: int = 12):
    """RGB frame of a grid-game state (see ``loi.envs.render.render_rgb``)."""
    from loi.envs.render import render_rgb as _render_rgb

    return _render_rgb(env, state, cell)


__all__ = [
    "BUILTIN_GAMES",
    "BUILTIN_LAYOUTS",
    "Definitions",
    "Game",
    "JaxMARLEnv",
    "Layout",
    "games",
    "layouts",
    "load_definitions",
    "make",
    "make_game",
    "make_layout",
    "names",
    "register",
    "render_rgb",
    "scored",
    "to_pettingzoo",
    "wrap",
]
