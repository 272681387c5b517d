"""`loi paper`: the paper's analysis, checked against the data README's reference values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from loi.errors import LoiError
from loi.pipeline.paper import analyse_paper_data, discover_cross_play

from conftest import run_cli

# /work/shared/paper-data/README.md, layouts S, M, L, O.
REFERENCE_LOI = {
    "chicken": [1.291, 1.364, 1.438, 1.227],
    "prisoners_dilemma": [1.377, 1.385, 1.180, 1.100],
    "pure_coordination": [1.117, 1.071, 0.975, 0.976],
}
REFERENCE_ALLOCATION = {
    "chicken": ["PP3", "PP3", "PP5", "SP5"],
    "prisoners_dilemma": ["PP3", "PP5", "PP3", "SP5"],
    "pure_coordination": ["PP5", "PP3", "SP5", "PP3"],
}
PD_ANOVA_F = [72.48, 288.7, 75.46, 43.89]
PD_BENEFIT = [7.05, 9.47, 3.79, 3.24]
# The README's tournament_25gen/ section: PP5 benefit per layout, 50 generations (tournament/) and
# 25 (tournament_25gen/), with Welch 95 % CIs over egos, halved, where it gives them.
RELEASED_BENEFIT = {"prisoners_dilemma": PD_BENEFIT, "chicken": [1.41, 3.83, 4.93, 0.08],
                    "pure_coordination": [1.80, 1.02, 0.91, 0.30]}
MATCHED_BENEFIT = {"prisoners_dilemma": [4.46, -2.37, 1.38, 0.52], "chicken": [-0.86, 1.65, 3.81, 0.62],
                   "pure_coordination": [0.63, 0.24, 0.05, -0.25]}
MATCHED_CI = {("prisoners_dilemma", "S"): [-1.2, 10.1], ("prisoners_dilemma", "M"): [-5.6, 0.9],
              ("prisoners_dilemma", "L"): [-0.8, 3.6], ("prisoners_dilemma", "O"): [-1.7, 2.8],
              ("chicken", "L"): [2.0, 5.7]}


@pytest.fixture(scope="module")
def paper_json(paper_data):
    proc = run_cli("paper", paper_data, "--json", "--permutations", "200", "--bootstrap", "0")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_reproduces_the_reference_values(paper_json):
    games = paper_json["games"]
    assert sorted(games) == sorted(REFERENCE_LOI)
    assert {g: v["run"] for g, v in games.items()} == {
        "chicken": "5M_2", "prisoners_dilemma": "5M_2", "pure_coordination": "5M"}
    for game, expected in REFERENCE_LOI.items():
        layouts = games[game]["layouts"]
        assert list(layouts) == ["S", "M", "L", "O"]
        assert [round(layouts[l]["loi"], 3) for l in "SMLO"] == expected, game
        assert [games[game]["allocation"][l] for l in "SMLO"] == REFERENCE_ALLOCATION[game], game
    pd_ = games["prisoners_dilemma"]
    f = [pd_["layouts"][l]["anova_f"] for l in "SMLO"]
    assert [round(v, 2) for v in f[:1] + f[2:]] == PD_ANOVA_F[:1] + PD_ANOVA_F[2:]
    assert round(f[1], 1) == PD_ANOVA_F[1]
    assert [round(pd_["layouts"][l]["benefit"], 2) for l in "SMLO"] == PD_BENEFIT
    assert round(pd_["pearson_r"], 3) == 0.939 and round(pd_["pearson_p"], 3) == 0.061


def test_reproduces_the_matched_training_reference_values(paper_json):
    """Every figure of the data README's tournament_25gen/ section, from the data."""
    assert [(t["folder"], t["generations"].get("PP5"), t["generations"].get("SP5"))
            for t in paper_json["tournaments"]] == [("tournament", 50, 25), ("tournament_25gen", 25, 25)]
    for game, g in paper_json["games"].items():
        released, matched = g["tournaments"]["tournament"], g["tournaments"]["tournament_25gen"]
        assert not released["missing"] and not matched["missing"]
        assert [round(released["layouts"][l]["benefit"], 2) for l in "SMLO"] == RELEASED_BENEFIT[game], game
        assert [round(matched["layouts"][l]["benefit"], 2) for l in "SMLO"] == MATCHED_BENEFIT[game], game
        # The released folder's numbers are the game's own (same column names), and say how PP trained.
        assert [released["layouts"][l]["benefit"] for l in "SMLO"] == [g["layouts"][l]["benefit"] for l in "SMLO"]
        assert released["training_note"] == "PP5 trained 50 generations, SP5 25"
        assert matched["training_note"] == ""
    for (game, layout), ci in MATCHED_CI.items():
        got = paper_json["games"][game]["tournaments"]["tournament_25gen"]["layouts"][layout]["benefit_ci"]
        assert [round(v, 1) for v in got] == ci, (game, layout)
    pd_ = paper_json["games"]["prisoners_dilemma"]
    assert round(pd_["tournaments"]["tournament"]["pearson_r"], 2) == 0.94
    # The README's 0.03 is r against its LoI table (3 decimals); at full precision r = 0.024.
    loi3 = [round(pd_["layouts"][l]["loi"], 3) for l in "SMLO"]
    matched = [pd_["tournaments"]["tournament_25gen"]["layouts"][l]["benefit"] for l in "SMLO"]
    assert round(float(np.corrcoef(loi3, matched)[0, 1]), 2) == 0.03
    assert abs(pd_["tournaments"]["tournament_25gen"]["pearson_r"] - 0.03) < 0.01


def test_predictor_comparison_at_both_training_lengths(paper_json):
    """The table metrics as predictors of the PP5 benefit, per tournament folder (issue: metrics)."""
    labels = ["loi (knn)", "loi (paper)", "eta2", "icc"]
    rows = {(r["scenario"], r["metric"]) for r in paper_json["metrics"]}
    assert len(rows) == len(paper_json["metrics"]) == 4 * 12 and {m for _, m in rows} == set(labels)
    assert set(paper_json["predictors"]) == {"tournament", "tournament_25gen"}
    pooled = {}
    for folder, comparison in paper_json["predictors"].items():
        rows = [r for r in comparison["correlations"] if r["method"] == "spearman"]
        assert {(r["metric"], r["group"]) for r in rows} == {
            (m, g) for m in labels for g in ("chicken", "prisoners_dilemma", "pure_coordination", "pooled")}
        pooled[folder] = {r["metric"]: r for r in rows if r["group"] == "pooled"}
        assert {r["metric"] for r in comparison["gains"] if r["group"] == "pooled"} == set(labels)
    # With PP trained twice as long the consistent metrics order every game's benefit perfectly;
    # at matched training they do not (the README's metrics section).
    for metric in ("loi (knn)", "eta2", "icc"):
        assert pooled["tournament"][metric]["r"] == pytest.approx(1.0)
        assert pooled["tournament"][metric]["p_value"] < 1e-3
        assert pooled["tournament_25gen"][metric]["r"] < 0.8 and pooled["tournament_25gen"][metric]["p_value"] > 0.05


def test_null_correction_and_comparisons(paper_json):
    for game in paper_json["games"].values():
        for layout in game["layouts"].values():
            # the plug-in's own bias is most of the reported LoI (SPEC section 2)
            assert 0.5 < layout["null_mean"] < layout["loi"]
            assert layout["corrected"] == pytest.approx(layout["loi"] - layout["null_mean"])
            # the corrected interval is the LoI's shifted by the null mean (loi_record's names)
            if layout["ci_low"] is not None:
                assert layout["corrected_ci_low"] == pytest.approx(layout["ci_low"] - layout["null_mean"])
            # paper's maximum mean_c log(N / n_c): ln 9, more where out-of-range returns were dropped
            assert layout["loi"] < np.log(9) - 1e-12 < layout["loi_max"] < np.log(9) + 0.01
            assert not layout["above_max"]
            assert layout["anova_p"] < 0.01
        comparison = game["comparison"]
        assert set(comparison) == {"all", "top30", "all_scenario_weighted"}
        assert comparison["all"]["n_uniform"] == 120 and comparison["top30"]["n_uniform"] == 120
        assert comparison["all"]["n_heuristic"] > 120 and comparison["top30"]["n_heuristic"] == 120
        # the finding: truncating to the top 30 is what makes the heuristic look better
        assert comparison["top30"]["p"] < comparison["all"]["p"]
        assert comparison["all"]["p"] > 0.05


# ---------------------------------------------------------------- any game, any layout names

def write_game(root: Path, game: str, layouts=("A", "B", "C"), runs=("1M", "2M"), tournament=True,
               bad_run: str | None = None) -> None:
    rng = np.random.default_rng(0)
    (root / "cross_play").mkdir(parents=True, exist_ok=True)
    (root / "tournament").mkdir(exist_ok=True)
    for i, layout in enumerate(layouts):
        for run in runs:
            shape = (1, 2, 3, 4, 6, 2)
            if run == bad_run:
                rewards = np.zeros((2, 2))  # wrong shape: fails loudly if ever selected
            else:
                mu = 30 + (i + 1) * 8 * np.arange(4)[None, None, None, :, None, None]
                rewards = np.clip(rng.normal(mu, 4, size=shape), 0, 100)
            np.savez(root / "cross_play" / f"{game}_{layout}_{run}.npz", rewards=rewards,
                     checkpoints=np.array([0, 4, 8, 12]))
        if tournament:
            for regime, (n_ego, n_ep, shift) in {"SP5": (5, 20, 0), "PP3": (3, 10, 2), "PP5": (5, 10, 3 * i)}.items():
                np.savez(root / "tournament" / f"{game}_{layout}_{regime}.npz",
                         rewards=rng.normal(50 + shift, 3, size=(n_ego, 4, n_ep)))


def test_any_game_and_the_last_run_by_default(tmp_path):
    write_game(tmp_path, "stag_hunt", bad_run="1M")
    analysis = analyse_paper_data(tmp_path, permutations=20, bootstrap=0, resamples=200)
    game = analysis.games["stag_hunt"]
    assert game.run == "2M" and list(game.layouts) == ["A", "B", "C"]
    # benefit = (mean PP5 - mean SP5) / 2 by construction grows with the layout index
    benefits = [game.layouts[l].benefit for l in "ABC"]
    assert benefits == sorted(benefits)
    scores = np.load(tmp_path / "tournament" / "stag_hunt_B_PP5.npz")["rewards"].mean(axis=1)
    assert game.layouts["B"].regime_means["PP5"] == pytest.approx(scores.mean())
    assert game.correlation is not None and set(game.comparisons) == {"all", "top30", "all_scenario_weighted"}
    again = analyse_paper_data(tmp_path, permutations=20, bootstrap=0, resamples=200)
    assert json.dumps(again.to_json()) == json.dumps(analysis.to_json())  # same seed, same numbers


def test_manifest_selects_the_run(tmp_path):
    write_game(tmp_path, "stag_hunt", bad_run="2M")
    (tmp_path / "manifest.toml").write_text('[cross_play_run]\nstag_hunt = "1M"\n')
    assert discover_cross_play(tmp_path)["stag_hunt"][0] == "1M"
    assert analyse_paper_data(tmp_path, permutations=5, bootstrap=0, resamples=100).games["stag_hunt"].run == "1M"
    (tmp_path / "manifest.toml").write_text('[cross_play_run]\nstag_hunt = "9M"\n')
    with pytest.raises(LoiError, match="selects run '9M' for stag_hunt"):
        discover_cross_play(tmp_path)
    (tmp_path / "manifest.toml").write_text("[cross_play_run\n")
    with pytest.raises(LoiError, match="manifest.toml"):
        discover_cross_play(tmp_path)


def test_without_tournaments_only_loi(tmp_path):
    write_game(tmp_path, "g", tournament=False, runs=("1M",))
    result = analyse_paper_data(tmp_path, permutations=5, bootstrap=0).to_json()["games"]["g"]
    assert result["comparison"] == {} and result["pearson_r"] is None
    assert all(v["anova_f"] is None and v["loi"] > 0 for v in result["layouts"].values())


def _copy_tournament(root: Path, folder: str, game: str, shift: float = 0.0) -> None:
    """A second tournament folder: ``game``'s files of tournament/ with PP5 shifted by ``shift``."""
    (root / folder).mkdir()
    for path in (root / "tournament").glob(f"{game}_*.npz"):
        rewards = np.load(path)["rewards"]
        np.savez(root / folder / path.name, rewards=rewards + (shift if path.stem.endswith("PP5") else 0.0))


def test_every_tournament_folder_side_by_side(tmp_path):
    write_game(tmp_path, "g", runs=("1M",))
    write_game(tmp_path, "h", runs=("1M",))
    _copy_tournament(tmp_path, "tournament_long", "g", shift=4.0)  # h is missing from this folder
    (tmp_path / "manifest.toml").write_text(
        '[tournaments.tournament_long]\nlabel = "PP trained longer"\ngenerations = { SP5 = 10, PP3 = 20, PP5 = 20 }\n')
    analysis = analyse_paper_data(tmp_path, permutations=5, bootstrap=0, resamples=200)
    assert [(t.name, t.label) for t in analysis.tournaments] == [("tournament", "tournament"),
                                                                 ("tournament_long", "PP trained longer")]
    g, h = analysis.games["g"], analysis.games["h"]
    base, long = g.tournaments["tournament"], g.tournaments["tournament_long"]
    for layout in "ABC":  # benefit = (PP5 - SP5) / 2: the shift of 4 adds 2
        assert long.layouts[layout].benefit == pytest.approx(base.layouts[layout].benefit + 2.0)
        low, high = long.layouts[layout].benefit_ci
        assert low < long.layouts[layout].benefit < high
    assert base.folder.training_note("PP5") == ""  # lengths unknown: nothing claimed
    assert long.folder.training_note("PP5") == "PP5 trained 20 generations, SP5 10"
    assert h.tournaments["tournament_long"].missing and not h.tournaments["tournament"].missing
    result = analysis.to_json()["games"]["h"]["tournaments"]["tournament_long"]
    assert result["missing"] and result["layouts"] == {} and result["pearson_r"] is None
    proc = run_cli("paper", tmp_path, "--permutations", "5", "--bootstrap", "0")
    assert proc.returncode == 0, proc.stderr
    assert "PP5 trained 20 generations, SP5 10" in proc.stdout and "missing" in proc.stdout


@pytest.mark.parametrize("manifest, message", [
    ('[tournaments.tournament_x]\nlabel = "x"\n', r"\[tournaments.tournament_x\] names no folder"),
    ('[tournaments.tournament]\ngenerations = { SP5 = 0 }\n', r"generations must map regimes to whole numbers"),
    ('[tournaments.tournament]\ncolour = "red"\n', r"takes label"),
])
def test_bad_tournament_manifest(tmp_path, manifest, message):
    write_game(tmp_path, "g", runs=("1M",))
    (tmp_path / "manifest.toml").write_text(manifest)
    with pytest.raises(LoiError, match=message):
        analyse_paper_data(tmp_path, permutations=5, bootstrap=0)


def test_bad_data_dir(tmp_path):
    with pytest.raises(LoiError, match="is not a directory"):
        discover_cross_play(tmp_path / "absent")
    proc = run_cli("paper", tmp_path, "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "no cross_play/" in proc.stderr
    write_game(tmp_path, "g", runs=("1M",), bad_run="1M")
    proc = run_cli("paper", tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("loi: error: ") and proc.stderr.count("\n") == 1
    assert "g_A_1M.npz" in proc.stderr
