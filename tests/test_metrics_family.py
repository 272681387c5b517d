"""The interaction-metric family: registry, and the table metrics against closed forms and hand sums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from loi.errors import LoiError
from loi.metrics import get_metric, measure_metrics, metric_names
from loi.metrics.interaction import METRIC_COLUMNS, metric_scores, table_metric
from loi.metrics.table import loi_rows, measure_table


def table_of(groups: dict[str, list[float]], scenario: str = "s", ego: str = "ego0", **extra) -> pd.DataFrame:
    rows = [(scenario, ego, coplayer, e, float(v)) for coplayer, values in groups.items()
            for e, v in enumerate(values)]
    frame = pd.DataFrame(rows, columns=["scenario", "ego", "coplayer", "episode", "ego_return"])
    return frame.assign(**extra)


def sample_eta2(groups: list[np.ndarray]) -> float:
    """eta^2 = F dfB / (F dfB + dfW), from scipy's one-way ANOVA."""
    f = scipy.stats.f_oneway(*groups).statistic
    df_between, df_within = len(groups) - 1, sum(len(g) for g in groups) - len(groups)
    return f * df_between / (f * df_between + df_within)


def test_registry_lists_table_metrics_and_rejects_unknown_names():
    assert {"loi", "eta2", "icc", "xp_gap"} <= set(metric_names())
    assert get_metric("xp_gap").outputs == ("xp_gap", "xp_gap_relative")
    with pytest.raises(LoiError, match="unknown metric 'mi2'; known metrics: loi, eta2"):
        get_metric("mi2")
    assert table_metric("icc").name == "icc"


def test_eta2_equals_the_sample_eta2_of_a_gaussian_mixture_table():
    rng = np.random.default_rng(3)
    groups = {f"c{c}": rng.normal(10.0 * mean, 7.0, size=n) for c, (mean, n) in enumerate([(0, 9), (1, 6), (3, 11)])}
    rows = measure_metrics(table_of(groups), ["eta2"], permutations=0, bootstrap=0)
    assert list(rows.columns) == list(METRIC_COLUMNS) and len(rows) == 1
    assert rows["statistic"].iloc[0] == pytest.approx(sample_eta2(list(groups.values())), abs=1e-9)


def test_eta2_converges_to_the_population_value_and_its_null_is_the_small_sample_bias():
    # Means 0, 1, 2 (sd 1), equal weights: eta^2 = var(means) / (var(means) + 1) = (2/3) / (5/3) = 0.4.
    rng = np.random.default_rng(0)
    groups = {f"c{c}": rng.normal(c, 1.0, size=2000) for c in range(3)}
    row = measure_metrics(table_of(groups), ["eta2"], permutations=50, bootstrap=50).iloc[0]
    assert row["statistic"] == pytest.approx(0.4, abs=0.02)
    assert row["ci_low"] < row["statistic"] < row["ci_high"] and row["p_value"] == pytest.approx(1 / 51)
    # Under independence E[eta^2] = (C - 1) / (N - 1): the permutation null mean finds it.
    independent = {f"c{c}": rng.normal(0.0, 1.0, size=5) for c in range(4)}
    null = measure_metrics(table_of(independent), ["eta2"], permutations=4000, bootstrap=0).iloc[0]
    assert null["null_mean"] == pytest.approx(3 / 19, abs=0.01)
    assert null["corrected"] == pytest.approx(null["statistic"] - null["null_mean"], abs=1e-12)


def test_eta2_averages_blocks_with_equal_weights():
    rng = np.random.default_rng(1)
    blocks = [{f"c{c}": rng.normal(c * scale, 1.0, size=4 + c) for c in range(3)} for scale in (0.0, 1.0, 4.0)]
    table = pd.concat([table_of(g, ego=f"ego{i}") for i, g in enumerate(blocks)], ignore_index=True)
    row = measure_metrics(table, ["eta2"], permutations=0, bootstrap=0).iloc[0]
    assert row["blocks"] == 3
    assert row["statistic"] == pytest.approx(np.mean([sample_eta2(list(g.values())) for g in blocks]), abs=1e-12)


def test_icc_matches_the_hand_computation_and_shrout_fleiss():
    # Groups 1-3, 4-6, 7-9: SSB = 3 (3^2 + 0 + 3^2) = 54, SSW = 6, MSB = 27, MSW = 1, n0 = 3.
    row = measure_metrics(table_of({"a": [1, 2, 3], "b": [4, 5, 6], "c": [7, 8, 9]}), ["icc"]).iloc[0]
    assert row["statistic"] == pytest.approx((27 - 1) / (27 + 2 * 1), abs=1e-12)
    assert row["p_value"] == pytest.approx(scipy.stats.f.sf(27.0, 2, 6), rel=1e-12)
    low, high = 27 / scipy.stats.f.ppf(0.975, 2, 6), 27 * scipy.stats.f.ppf(0.975, 6, 2)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(((low - 1) / (low + 2), (high - 1) / (high + 2)))
    # Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges, BMS 11.24, WMS 6.26, ICC(1,1) = .17.
    ratings = {"t1": [9, 2, 5, 8], "t2": [6, 1, 3, 2], "t3": [8, 4, 6, 8], "t4": [7, 1, 2, 6], "t5": [10, 5, 6, 9],
               "t6": [6, 2, 4, 7]}
    published = measure_metrics(table_of(ratings), ["icc"]).iloc[0]
    assert round(published["statistic"], 2) == 0.17
    assert published["statistic"] == pytest.approx((11.2417 - 6.2639) / (11.2417 + 3 * 6.2639), abs=1e-4)


def test_icc_unbalanced_uses_the_adjusted_group_size():
    groups = {"a": [1.0, 2.0], "b": [4.0, 6.0, 5.0, 7.0], "c": [2.0, 3.0, 1.0]}
    values = [np.array(v) for v in groups.values()]
    n = np.array([len(v) for v in values])
    grand = np.concatenate(values).mean()
    msb = sum(len(v) * (v.mean() - grand) ** 2 for v in values) / 2
    msw = sum(((v - v.mean()) ** 2).sum() for v in values) / (n.sum() - 3)
    n0 = (n.sum() - (n**2).sum() / n.sum()) / 2
    row = measure_metrics(table_of(groups), ["icc"]).iloc[0]
    assert row["statistic"] == pytest.approx((msb - msw) / (msb + (n0 - 1) * msw), abs=1e-12)


def test_icc_interval_covers_the_true_icc_of_normal_random_effects():
    # ICC = 1 / (1 + 3) = 0.25 with effect variance 1 and episode variance 3; the F interval is exact.
    rng = np.random.default_rng(5)
    covered = 0
    table = table_of({f"c{c}": np.zeros(5) for c in range(8)})
    for _ in range(200):
        effects = np.repeat(rng.normal(0, 1, size=8), 5)
        rows = table.assign(ego_return=effects + rng.normal(0, np.sqrt(3), size=40))
        low, high = get_metric("icc").measure(rows)["icc"].confidence_interval
        covered += low <= 0.25 <= high
    assert 0.89 <= covered / 200 <= 0.99


def test_xp_gap_matches_the_hand_computation():
    own_a, other_a, own_b, other_b = [10.0, 12.0], [4.0, 6.0, 8.0], [20.0], [10.0, 14.0]
    table = pd.concat([
        table_of({"self": own_a}, ego="a", own_partner=True), table_of({"x": other_a}, ego="a", own_partner=False),
        table_of({"self": own_b}, ego="b", own_partner=True), table_of({"y": other_b}, ego="b", own_partner=False),
    ], ignore_index=True)
    rows = measure_metrics(table, ["xp_gap"], permutations=200, bootstrap=200).set_index("metric")
    # ego a: 11 - 6 = 5; ego b: 20 - 12 = 8; mean 6.5; own-partner level (11 + 20) / 2 = 15.5.
    assert rows.loc["xp_gap", "statistic"] == pytest.approx(6.5, abs=1e-12)
    assert rows.loc["xp_gap_relative", "statistic"] == pytest.approx(6.5 / 15.5, abs=1e-12)
    assert rows.loc["xp_gap", "blocks"] == 2 and rows.loc["xp_gap", "episodes"] == 8
    assert rows.loc["xp_gap", "ci_low"] <= 6.5 <= rows.loc["xp_gap", "ci_high"]


def test_xp_gap_needs_own_partner_rows():
    plain = table_of({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    with pytest.raises(LoiError, match="metric 'xp_gap' cannot be measured on scenario 's': no 'own_partner'"):
        measure_metrics(plain, ["xp_gap"])
    with pytest.raises(LoiError, match="no own-partner rows"):
        measure_metrics(plain.assign(own_partner=False), ["xp_gap"])
    # Every applicable metric: xp_gap left out.
    assert set(measure_metrics(plain, permutations=0, bootstrap=0, estimator="miller-madow")["metric"]) == {
        "loi", "eta2", "icc"}


def test_loi_rows_are_measure_table_numbers_and_scores_are_null_corrected():
    rng = np.random.default_rng(2)
    table = pd.concat([table_of({f"c{c}": rng.normal(c, 1, 8) for c in range(3)}, scenario=s) for s in "ab"])
    rows = measure_metrics(table, ["loi", "eta2"], permutations=30, bootstrap=30, seed=4)
    direct = loi_rows(measure_table(table, permutations=30, bootstrap=30, seed=4)).set_index("scenario")
    loi = rows[rows["metric"] == "loi"].set_index("scenario")
    for column in ("ci_low", "ci_high", "null_mean", "corrected", "corrected_ci_low", "p_value"):
        assert np.allclose(loi[column if column != "loi" else "statistic"], direct[column], rtol=0, atol=0)
    assert np.array_equal(loi["statistic"], direct["loi"])
    assert list(rows["scenario"]) == ["a", "a", "b", "b"] and list(rows["metric"]) == ["loi", "eta2"] * 2
    scores = metric_scores(rows, "eta2")
    eta2 = rows[rows["metric"] == "eta2"].set_index("scenario")
    assert scores == {s: pytest.approx(eta2.loc[s, "statistic"] - eta2.loc[s, "null_mean"]) for s in "ab"}
    with pytest.raises(LoiError, match="no 'icc' rows"):
        metric_scores(rows, "icc")


def test_a_block_with_one_coplayer_is_named():
    table = pd.concat([table_of({"a": [1.0, 2.0], "b": [3.0, 4.0]}, ego="e0"), table_of({"a": [1.0, 2.0]}, ego="e1")])
    with pytest.raises(LoiError, match="scenario 's': eta2 needs at least 2 co-players in every block"):
        measure_metrics(table, ["eta2"])


def test_own_partner_marks_the_ego_s_own_run_and_seed():
    from types import SimpleNamespace

    from loi.evaluation.table import own_partner

    def policy(run=None, seed=None):
        return SimpleNamespace(info={} if run is None else {"run": run, "seed": seed})

    egos = [policy("sp", 0), policy("sp", 1), policy("pp3", 0)]
    coplayers = [policy("sp", 0), policy("sp", 1), policy("pp3", 0), policy("pp3", 1), policy()]
    assert own_partner(egos, coplayers).tolist() == [
        [True, False, False, False, False], [False, True, False, False, False], [False, False, True, False, False]]
    assert own_partner([policy()], coplayers) is None  # a baseline ego has no training partner


def test_own_partner_column_reads_back_from_csv_as_booleans(tmp_path):
    from loi.tables import read_table

    table = table_of({"self": [3.0, 5.0], "x": [1.0, 2.0]}).assign(own_partner=[True, True, False, False])
    table.to_csv(tmp_path / "t.csv", index=False)
    rows = measure_metrics(read_table(tmp_path / "t.csv"), ["xp_gap"], permutations=0, bootstrap=0)
    assert rows.set_index("metric").loc["xp_gap", "statistic"] == pytest.approx(2.5)
    with pytest.raises(LoiError, match="column 'own_partner' must hold true/false, got 'maybe'"):
        measure_metrics(table.assign(own_partner=["maybe", True, False, False]), ["xp_gap"])
