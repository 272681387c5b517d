"""`loi run` with an fcpN-bots regime on the menu and two games: the fcp learner trains
against a frozen pool of a checkpoint of the study's own SP run and a bot, the
tournaments hold two bots beside the held-out SP seeds (``[heldout] bots``), and
the statistics stage cross-fits the greedy allocator (each game allocated from the
other game's lines) and splits the benefit by partner kind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

CONFIG = Path(__file__).parent / "data" / "pipeline_fcp.toml"
SCENARIOS = {"matrix/prisoners_dilemma", "matrix/stag_hunt"}


def test_fcp_menu_entry_and_crossfit_greedy_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "loi.cli.main", "run", str(CONFIG), "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert set(summary["scenarios"]) == SCENARIOS

    for scenario in SCENARIOS:
        fcp = out / "train" / scenario / "fcp2-bots"
        record = json.loads((fcp / "run.json").read_text())
        assert record["config"]["regime"] == "fcp2"  # the variant trains its base regime, bots in its pool
        assert sorted(p.stem for p in fcp.glob("seed_0/member_0/gen_*")) == ["gen_000", "gen_001", "gen_002"]
        # The frozen partners: one checkpoint of the study's SP run, then the bot.
        assert len(record["pool"]) == 1 and "/sp/seed_" in record["pool"][0]
        assert record["config"]["pool_bots"] == ["bots:tit_for_tat"]

    scores = pd.read_parquet(out / "tables" / "scores.parquet")
    # One fcp learner (seeds = 1), two pp2 members, two sp seeds per scenario: all against the same 4 Bobs.
    egos = scores.groupby(["scenario", "regime"])["ego"].nunique().to_dict()
    assert egos == {(s, r): n for s in SCENARIOS for r, n in (("fcp2-bots", 1), ("pp2", 2), ("sp", 2))}
    tournament = pd.read_parquet(out / "tables" / "tournament.parquet")
    bots = ["bots:specialist", "bots:specialist?target=2"]
    for scenario, bobs in tournament.groupby("scenario")["coplayer"]:
        seeds = sorted(b for b in set(bobs) if b.startswith("heldout/"))
        assert len(seeds) == 4 and sorted(set(bobs) - set(seeds)) == bots  # 2 seeds x 2 stages, 2 bots
    # Every ego meets every Bob equally often.
    assert tournament.groupby(["scenario", "ego"])["coplayer"].value_counts().nunique() == 1
    # Against the always-cooperating bot every round of the prisoner's dilemma pays 3 or 5, against the
    # defecting one 0 or 1: the bots are played, not stand-ins.
    pd_rows = tournament[tournament["scenario"] == "matrix/prisoners_dilemma"]
    per_round = pd_rows["ego_return"] / pd_rows["episode_length"]
    assert per_round[pd_rows["coplayer"] == bots[0]].between(3, 5).all()
    assert per_round[pd_rows["coplayer"] == bots[1]].between(0, 1).all()
    by_kind = pd.read_parquet(out / "tables" / "benefit_by_partner.parquet")
    assert set(by_kind["partner_kind"]) == {"sp_seeds", "bots", "pooled"}
    assert set(by_kind["regime"]) == {"fcp2-bots", "pp2"}
    assert by_kind.groupby(["scenario", "regime"]).size().to_dict() == {(s, r): 3 for s in SCENARIOS
                                                                        for r in ("fcp2-bots", "pp2")}
    assert by_kind.set_index("partner_kind")["bobs"].to_dict() == {"sp_seeds": 4, "bots": 2, "pooled": 6}
    measured = by_kind.dropna(subset=["benefit_raw_ci_low"])  # 1 fcp2 ego: no interval, a note says why
    assert set(measured["regime"]) == {"pp2"} and (measured["benefit_raw_ci_low"] <= measured["benefit_raw"]).all()
    # Pooled over all Bobs it is the study's benefit (the most expensive regime, pp2, over sp).
    benefit = pd.read_parquet(out / "tables" / "benefit.parquet").set_index("scenario")
    pooled = by_kind[(by_kind["partner_kind"] == "pooled") & (by_kind["regime"] == "pp2")].set_index("scenario")
    for column in ("benefit", "benefit_ci_low", "benefit_ci_high", "benefit_raw"):
        assert pooled[column].to_dict() == pytest.approx(benefit.loc[pooled.index, column].to_dict(), nan_ok=True)

    crossfit = pd.read_parquet(out / "tables" / "allocation_crossfit.parquet")
    assert set(crossfit["scenario"]) == SCENARIOS and set(crossfit["allocator"]) == {"greedy_crossfit"}
    assert (crossfit.groupby("game")["cost"].sum() <= 2.0).all()  # budget: fcp2 (cost 2) in each game's layout
    comparison = pd.read_parquet(out / "tables" / "comparison.parquet")
    assert {"greedy_crossfit", "proportional", "one_sigma"} <= set(comparison["allocator"])
    assert "greedy_crossfit" in (out / "report.html").read_text()
    # The budget frontier over both scenarios: at every budget the in-sample oracle buys at least
    # what uniform buys (it maximises the measured scores that uniform's allocation is one of).
    frontier = pd.read_parquet(out / "tables" / "frontier.parquet")
    assert {"oracle", "uniform", "random", "proportional"} <= set(frontier["allocator"])
    best = frontier.pivot_table(index="budget", columns="allocator", values="mean_score")
    assert (best["oracle"] >= best["uniform"] - 1e-9).all() and (best["oracle"] >= best["random"] - 1e-9).all()
