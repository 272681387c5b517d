"""The Melting Pot parity benchmark: its policy, parsers and statistics (no Melting Pot
needed), and a short run against the real substrates (marked ``meltingpot``; skipped, with
the reason, where ``bash scripts/install_meltingpot.sh`` has not been run)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import loi.envs
from loi.backends import meltingpot as mp
from loi.errors import LoiError

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "meltingpot_parity.py"


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("meltingpot_parity", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("meltingpot_parity", module)
    spec.loader.exec_module(module)
    return module


par = _load_benchmark()
NO_RANDOM = np.array([0.9, 0.9, 0.0])  # no turn, no exploration step


_jitted_policy = jax.jit(lambda *args: par.scripted_action(jnp, *args))


@pytest.mark.parametrize("xp", [np, jnp], ids=["numpy", "jax"])
def test_scripted_policy_decisions(xp):
    policy = _jitted_policy if xp is jnp else lambda *args: par.scripted_action(np, *args)
    act = lambda target, terrain, partner, collected, u=NO_RANDOM: int(  # noqa: E731
        policy(xp.asarray(target), xp.asarray(terrain), xp.asarray(partner), xp.asarray(collected), xp.asarray(u)))
    terrain, partner = np.zeros((5, 5), np.int32), np.zeros((5, 5), bool)
    # Nothing in view: walk forward; a wall right ahead: turn right.
    assert act(1, terrain, partner, False) == par.FORWARD
    walled = terrain.copy()
    walled[2, 2] = par.WALL
    assert act(1, walled, partner, False) == par.TURN_RIGHT
    # Resource 1 two cells ahead: forward; beside on the left: step left; behind: backward.
    for (r, c), expected in {(1, 2): par.FORWARD, (3, 1): par.STEP_LEFT, (3, 4): par.STEP_RIGHT,
                             (4, 2): par.BACKWARD}.items():
        t = terrain.copy()
        t[r, c] = 1
        assert act(1, t, partner, False) == expected, (r, c)
    # A type-2 resource is ignored by collect1 and sought by collect2.
    t = terrain.copy()
    t[3, 0] = 2
    assert act(1, t, partner, False) == par.FORWARD
    assert act(2, t, partner, False) == par.STEP_LEFT
    # The nearest resource wins.
    t = terrain.copy()
    t[0, 2], t[3, 3] = 1, 1
    assert act(1, t, partner, False) == par.STEP_RIGHT
    # The partner in reach: zap only once a resource was collected. Reach: centre lane 1-3
    # ahead, side lanes 0-2 ahead.
    for (r, c), in_reach in {(0, 2): True, (2, 2): True, (3, 1): True, (1, 3): True,
                             (0, 1): False, (4, 2): False, (3, 0): False}.items():
        p = partner.copy()
        p[r, c] = True
        assert (act(1, terrain, p, True) == par.INTERACT) == in_reach, (r, c)
        assert act(1, terrain, p, False) != par.INTERACT
    # Random: the third uniform picks the action.
    assert [act(0, terrain, partner, True, np.array([0.5, 0.5, u])) for u in (0.0, 0.49, 0.99)] == [0, 3, 7]


def test_statistics_against_hand_computed_values():
    records = {"length": np.array([1000.0, 2000.0]), "interactions": np.array([10.0, 30.0]),
               "first_interactions": np.array([10.0, 30.0]),
               "reward": np.array([40.0, 120.0]), "first_reward": np.array([-5.0, 45.0]),
               "dominant_share": np.array([14.0, 36.0]),
               "strategies": np.array([20.0, 60.0]), "reward_delay": np.array([170.0, 510.0]),
               "delays": np.array([10.0, 30.0])}
    fig = par.summarise(records)
    assert fig["length"].value == 1500 and math.isclose(fig["length"].se, 500.0)
    assert fig["min_length"].value == 1000
    # 40 interactions in 3000 steps; residuals 10 - 40/3 and 30 - 80/3; SE = sqrt(2 * sum r^2) / 3000.
    r = np.array([10 - 40 / 3, 30 - 80 / 3])
    assert math.isclose(fig["interactions_per_1000"].value, 40 / 3)
    assert math.isclose(fig["interactions_per_1000"].se, 1000 * math.sqrt(2 * np.sum(r**2)) / 3000)
    assert math.isclose(fig["reward_per_interaction"].value, 160 / 80)
    assert fig["reward_per_interaction"].se == 0.0  # both episodes pay 2 per interaction
    # First player: 40 / 40 = 1; residuals -5 - 10 = -15 and 45 - 30 = 15: SE = sqrt(2 * 450) / 40.
    assert fig["first_reward_per_interaction"].value == 1.0
    assert math.isclose(fig["first_reward_per_interaction"].se, math.sqrt(2 * 450) / 40)
    assert math.isclose(fig["dominant_share"].value, 50 / 80)
    assert fig["reward_delay"].value == 17.0 and fig["reward_delay"].se == 0.0
    # No interaction at all: undefined, and two undefined figures agree.
    none = par.summarise({**records, "interactions": np.zeros(2), "strategies": np.zeros(2)})
    assert math.isnan(none["reward_per_interaction"].value)
    assert par.agrees(none["reward_per_interaction"], none["reward_per_interaction"])


def test_agreement_rule_is_three_standard_errors_or_five_percent():
    F = par.Figure
    assert par.agrees(F(104.9, 0.0), F(100.0, 0.0)) and not par.agrees(F(105.1, 0.0), F(100.0, 0.0))
    # SE of the difference sqrt(3^2 + 4^2) = 5, so 3 SE = 15.
    assert par.agrees(F(114.9, 3.0), F(100.0, 4.0)) and not par.agrees(F(115.1, 3.0), F(100.0, 4.0))
    assert not par.agrees(F(math.nan, 0.0), F(1.0, 0.0))


def test_minimum_rule():
    # 1199 vs 1099 is 9 %: it passes only when 1199 is a plausible minimum of 6 draws from the
    # other sample: P = (share of lengths >= 1199)^6.
    long_tail = np.array([1099.0] + [1500.0] * 63)  # 63/64 >= 1199: P = 0.91
    assert par.minimum_agrees(long_tail, np.array([1199.0] * 6))
    short = np.array([1099.0] * 40 + [1500.0] * 24)  # 24/64 >= 1199: P = 0.375^6 = 0.0028
    assert par.minimum_agrees(short, np.array([1199.0] * 6))
    shorter = np.array([1099.0] * 41 + [1500.0] * 23)  # P = 0.359^6 = 0.0021 < 0.0027
    assert not par.minimum_agrees(shorter, np.array([1199.0] * 6))
    assert par.minimum_agrees(np.array([1099.0, 2000.0]), np.array([1140.0, 3000.0]))  # within 5 %


def test_parse_view_of_a_synthetic_rgb_frame():
    palette = mp.ViewPalette(wall=(95, 95, 95), partners=((200, 100, 50), (1, 0, 103)),
                             resources=((30, 225, 185), (225, 30, 70)))
    rgb = np.zeros((40, 40, 3), np.uint8)

    def paint(r, c, color, pixels=1):
        rgb[8 * r + 3, 8 * c : 8 * c + pixels] = color

    paint(0, 0, palette.wall, 8)
    paint(1, 2, palette.resources[0])
    paint(2, 4, palette.resources[1], 3)
    paint(0, 3, palette.partners[0])
    paint(3, 0, palette.partners[1])  # any other player's colour (the arenas)
    paint(4, 1, (96, 95, 95))  # a near-miss colour means nothing
    terrain, partner = mp.parse_view(rgb, palette)
    expected = np.zeros((5, 5), np.int32)
    expected[0, 0], expected[1, 2], expected[2, 4] = mp.WALL, 1, 2
    np.testing.assert_array_equal(terrain, expected)
    np.testing.assert_array_equal(np.argwhere(partner), [[0, 3], [3, 0]])


def _prefab(*components):
    return {"components": [{"component": name, "kwargs": kwargs} for name, kwargs in components]}


def test_view_palette_tells_the_partner_per_player():
    # Self-versus-other avatars (an "Other" sprite) look the same to both players; avatars drawn
    # in their own colours (bach or stravinsky: no AdditionalSprites) show each the other's.
    blue, orange = (50, 100, 200, 255), (200, 100, 50, 255)
    prefabs = {"wall": _prefab(("Appearance", {"palettes": [{"*": (95, 95, 95, 255)}]}))}
    for j, color in ((1, (123, 231, 255, 255)), (2, (255, 163, 123, 255))):
        prefabs[f"resource_class{j}"] = _prefab(("Appearance", {"palettes": [{"*": color}]}),
                                                ("Resource", {"resourceClass": j}))
    scene = _prefab(("TheMatrix", {"matrix": [[3, 0], [0, 2]]}))

    def avatar(index, color, other=None):
        parts = [("Avatar", {"index": index}), ("Appearance", {"palettes": [{"*": color}]})]
        if other is not None:
            parts.append(("AdditionalSprites", {"customSpriteNames": ["Self", "Other"],
                                                "customPalettes": [{"*": blue}, {"*": other}]}))
        return _prefab(*parts)

    marker = _prefab(("StateManager", {}))
    own_colours = {"simulation": {"prefabs": prefabs, "scene": scene,
                                  "gameObjects": [avatar(2, orange), marker, avatar(1, blue)]}}
    assert mp.view_palette(own_colours, 0).partners == (orange[:3],)
    assert mp.view_palette(own_colours, 1).partners == (blue[:3],)
    assert mp.view_palette(own_colours, 0).resources == ((123, 231, 255), (255, 163, 123))
    other = {"simulation": {"prefabs": prefabs, "scene": scene,
                            "gameObjects": [avatar(1, (1, 2, 3), orange), avatar(2, (4, 5, 6), orange)]}}
    assert mp.view_palette(other, 0).partners == mp.view_palette(other, 1).partners == (orange[:3],)
    same = {"simulation": {"prefabs": prefabs, "scene": scene, "gameObjects": [avatar(1, blue), avatar(2, blue)]}}
    with pytest.raises(LoiError, match="same colour"):
        mp.view_palette(same, 0)
    # The arenas: every avatar in its own colour, each seeing itself as a "Self" sprite.
    colours = [(1, 0, 103, 255), (213, 255, 0, 255), (255, 0, 86, 255)]

    def arena_avatar(index):
        return _prefab(("Avatar", {"index": index}), ("Appearance", {"palettes": [{"*": colours[index - 1]}]}),
                       ("AdditionalSprites", {"customSpriteNames": ["Self"], "customPalettes": [{"*": blue}]}))

    arena = {"simulation": {"prefabs": prefabs, "scene": scene, "gameObjects": [arena_avatar(i) for i in (3, 1, 2)]}}
    assert mp.view_palette(arena, 1).partners == (colours[0][:3], colours[2][:3])
    grey = {"simulation": {"prefabs": prefabs, "scene": scene,
                           "gameObjects": [arena_avatar(1), avatar(2, (95, 95, 95, 255))]}}
    with pytest.raises(LoiError, match="wall or a resource"):
        mp.view_palette(grey, 0)


def test_substrate_names_of_repeated_and_one_shot_games():
    assert mp.substrate_name("bach_or_stravinsky") == "bach_or_stravinsky_in_the_matrix__repeated"
    assert mp.substrate_name("stag_hunt", arena=True) == "stag_hunt_in_the_matrix__arena"
    assert mp.substrate_name("pure_coordination_3x3", arena=True) == "pure_coordination_in_the_matrix__arena"
    assert mp.substrate_name("running_with_scissors_one_shot") == "running_with_scissors_in_the_matrix__one_shot"


def test_loi_view_matches_the_map_around_the_player():
    env = par.loi_env("stag_hunt", "large")
    obs, state = env.reset(jax.random.key(3))
    terrain, partner, inventory = (np.asarray(x) for x in par.loi_view(env, obs["agent_0"]))
    rows = env.layout.rows
    r0, c0 = env.row_col(state.position[0])
    facing = int(state.orientation[0])
    fr, fc = [(-1, 0), (0, 1), (1, 0), (0, -1)][facing]
    rr, rc = [(-1, 0), (0, 1), (1, 0), (0, -1)][(facing + 1) % 4]
    r1, c1 = env.row_col(state.position[1])
    for i in range(5):
        for j in range(5):
            ahead, right = par.VIEW_AHEAD - i, j - par.VIEW_HALF_WIDTH
            r, c = r0 + ahead * fr + right * rr, c0 + ahead * fc + right * rc
            inside = 0 <= r < len(rows) and 0 <= c < len(rows[0])
            symbol = rows[r][c] if inside else "W"
            if symbol == "W":
                assert terrain[i, j] == par.WALL
            elif symbol.isdigit():
                assert terrain[i, j] == int(symbol)
            elif symbol == "a":
                assert terrain[i, j] in (1, 2)
            else:
                assert terrain[i, j] == 0
            assert partner[i, j] == ((r, c) == (r1, c1))
    assert inventory.shape == (env.num_strategies,)


def test_loi_rollouts_count_what_the_env_reports():
    env = loi.envs.make("prisoners_dilemma/small", min_steps=300)
    rec = par.loi_rollouts(env, "collect1", episodes=4, steps=600, seed=0)
    assert rec["length"].shape == (4,)
    assert np.all((rec["length"] >= 300) & (rec["length"] <= 600))
    assert np.all(rec["interactions"] > 0)
    np.testing.assert_array_equal(rec["strategies"], 2 * rec["interactions"])
    # Every interaction's reward arrives after the freeze, except perhaps one cut by the end.
    assert np.all(rec["delays"] >= rec["interactions"] - 1)
    assert np.all(rec["reward_delay"] >= rec["delays"] * env.freeze_steps)
    share = rec["dominant_share"] / rec["strategies"]
    assert np.all((share > 0.5) & (share <= 1.0))


def test_loi_view_of_the_arena_is_the_window_around_the_player():
    # The arena's 11x11 view (9 ahead, 1 behind, 5 aside): the policy reads the 5x5 window of
    # 3 ahead, 1 behind and 2 aside, as in the repeated substrates' view.
    env = par.loi_env("prisoners_dilemma", par.ARENA_MAP)
    lay = env.obs_layout
    assert lay.view_shape[:2] == (11, 11) and lay.self_cell == (9, 5)
    h, w, c = lay.view_shape
    view = np.zeros((h, w, c), np.float32)
    view[6, 3, lay.wall] = 1  # 3 ahead, 2 left: the window's corner
    view[10, 7, lay.resources.start + 1] = 1  # 1 behind, 2 right: resource type 2
    view[8, 5, lay.partner] = 1  # 1 ahead
    view[5, 5, lay.partner] = view[9, 0, lay.wall] = 1  # outside the window
    obs = np.zeros(lay.size, np.float32)
    obs[lay.view] = view.reshape(-1)
    terrain, partner, _ = (np.asarray(x) for x in par.loi_view(env, obs))
    expected_terrain = np.zeros((5, 5), int)
    expected_terrain[0, 0], expected_terrain[4, 4] = par.WALL, 2
    np.testing.assert_array_equal(terrain, expected_terrain)
    np.testing.assert_array_equal(np.argwhere(partner), [[2, 2]])


def test_loi_arena_rollouts_count_pairs_and_their_delays():
    # 8 players on the arena, scripted: interactions are pairs (two strategies each), player 1
    # takes part in some of them, and each pair's reward arrives after the freeze and the
    # respawn wait's start (17 steps: the 2-player timeline), once per pair.
    env = loi.envs.make("prisoners_dilemma/arena", min_steps=300, end_interval=100, end_probability=1.0)
    rec = par.loi_rollouts(env, "collect1", episodes=3, steps=400, seed=1)
    assert np.all((rec["length"] >= 300) & (rec["length"] <= 400))
    assert np.all(rec["interactions"] > 0) and np.all(rec["interactions"] == np.round(rec["interactions"]))
    np.testing.assert_array_equal(rec["strategies"], 2 * rec["interactions"])
    assert np.all(rec["first_interactions"] <= rec["interactions"])
    assert np.all(rec["delays"] <= rec["interactions"]) and np.all(rec["delays"] >= 1)
    np.testing.assert_array_equal(rec["reward_delay"], (env.freeze_steps + 1) * rec["delays"])


def test_rows_option_and_section_writing(tmp_path):
    assert par.parse_rows("chicken/default/random, stag_hunt/large/collect2") == [
        ("chicken", "default", "random"), ("stag_hunt", "large", "collect2")]
    for bad in ("chicken/default", "chicken//random", "chicken/default/collect"):
        with pytest.raises(SystemExit):
            par.parse_rows(bad)
    doc = tmp_path / "parity.md"
    doc.write_text("# Title\n\nintro\n\n## A\n\nold a\n\n## B\n\nold b\n")
    par.write_section(doc, "A", "## A\n\nnew a\n")  # replaced in place, B kept
    assert doc.read_text() == "# Title\n\nintro\n\n## A\n\nnew a\n\n## B\n\nold b\n"
    par.write_section(doc, "B", "## B\n\nnew b\n")  # the last section
    par.write_section(doc, "C", "## C\n\nnew c\n")  # appended
    assert doc.read_text() == "# Title\n\nintro\n\n## A\n\nnew a\n\n## B\n\nnew b\n\n## C\n\nnew c\n"
    assert [p.name for p in tmp_path.iterdir()] == ["parity.md"]  # no temporary file left


def test_backend_reports_a_missing_melting_pot():
    if mp.available():
        pytest.skip("Melting Pot is installed here")
    with pytest.raises(LoiError, match="install_meltingpot.sh"):
        mp.substrate_settings("prisoners_dilemma")


@pytest.mark.meltingpot
def test_short_parity_run_against_melting_pot():
    if not mp.available():
        pytest.skip("Melting Pot is not installed: run `bash scripts/install_meltingpot.sh`, then "
                    "`.venv-meltingpot/bin/python -m pytest -m meltingpot`")
    settings = mp.substrate_settings("prisoners_dilemma", rows=("WWWWWW", "Wn  nW", "W 21 W", "W 12 W", "Wn  nW",
                                                                 "WWWWWW"), row_payoff=((3, 0), (5, 1)))
    assert mp.loi_rows(settings) == ("WWWWWW", "Wn  nW", "W 21 W", "W 12 W", "Wn  nW", "WWWWWW")
    rec = par.mp_rollouts("prisoners_dilemma", settings, "collect1", episodes=2, seed=0)
    # Melting Pot's own rules: ends at 1099 + 100 j or the cap; inventories start at [1, 1], so
    # no interacting strategy is pure.
    assert np.all(((rec["length"] - 1099) % 100 == 0) | (rec["length"] == mp.max_steps(settings)))
    assert np.all(rec["interactions"] > 0)
    assert np.all(rec["dominant_share"] / rec["strategies"] < 1.0)
    # Every payoff is x A y for mixed x, y: strictly between the matrix's extremes.
    per = rec["reward"].sum() / (2 * rec["interactions"].sum())
    assert 0 < per < 5
    # loi's built-in Melting Pot maps, games (the stock 3x3 pure coordination) and rules are
    # the substrates' own.
    from loi.envs import registry

    layouts, games = registry.layouts(), registry.games()
    for game, layout, loi_game in (("prisoners_dilemma", "meltingpot", "prisoners_dilemma"),
                                   ("chicken", "meltingpot", "chicken"),
                                   ("stag_hunt", "meltingpot_stag_hunt", "stag_hunt"),
                                   ("pure_coordination", "meltingpot_pure_coordination", "pure_coordination_3x3"),
                                   ("bach_or_stravinsky", "meltingpot", "bach_or_stravinsky"),
                                   ("rationalizable_coordination", "meltingpot_pure_coordination",
                                    "rationalizable_coordination"),
                                   ("running_with_scissors", "meltingpot_pure_coordination", "running_with_scissors"),
                                   ("running_with_scissors_one_shot", "meltingpot_one_shot",
                                    "running_with_scissors_one_shot")):
        stock = mp.substrate_settings(game)
        assert layouts[layout].rows == mp.loi_rows(stock), layout
        matrix = next(c["kwargs"] for c in stock["simulation"]["scene"]["components"]
                      if c["component"] == "TheMatrix")
        np.testing.assert_array_equal(games[loi_game].row_payoff, matrix["matrix"])
        np.testing.assert_array_equal(games[loi_game].col_payoff,
                                      matrix.get("columnPlayerMatrix", np.transpose(matrix["matrix"])))
        rules = mp.rule_settings(stock)
        env = loi.envs.make(f"{loi_game}/{layout}")
        assert env.episode_cap == rules.pop("max_steps"), game
        row_role = rules.pop("row_role")
        assert row_role == (None if env.roles is None else tuple(r == env.game.roles[0] for r in env.roles)), game
        if rules["end_probability"] == 0.0:  # no interval ending: its other two settings are moot
            rules = {k: v for k, v in rules.items() if k not in ("min_steps", "end_interval")}
        assert {k: getattr(env, k) for k in rules} == rules, game
    # The whole benchmark path, one short row.
    assert par.main(["--games", "prisoners_dilemma", "--maps", "small", "--policies", "random",
                     "--episodes", "2", "--loi-episodes", "8"]) == 0
    # The one-shot substrate: an episode ends 18 steps after its only interaction, or at the cap.
    settings = mp.substrate_settings("running_with_scissors_one_shot")
    rec = par.mp_rollouts("running_with_scissors_one_shot", settings, "collect1", episodes=2, seed=0)
    assert np.all(rec["interactions"] <= 1) and np.all(rec["interactions"] + (rec["length"] == 1000) >= 1)
    assert np.all(rec["reward_delay"] == 17 * rec["delays"])
