"""The compiled resampling of the histogram estimators: the statistics of the numpy estimators on
exactly the drawn tables, the draws the module specifies, resamples that depend only on
(seed, index), and the same null distribution as numpy's whole-table draws."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ReferenceDraws
from scipy import stats

from loi.metrics import estimators, resampling
from loi.metrics.histogram import miller_madow_statistic, paper_statistic
from loi.metrics.kernels import TableResampler

TABLES = {
    # unequal co-players (one with a single episode), a zero cell in every row
    "unequal": np.array([[0, 1, 0, 0, 0], [2, 0, 3, 1, 1], [9, 12, 0, 8, 11]]),
    "one bin": np.array([[4], [6]]),
    "wide": np.random.default_rng(0).poisson(1.5, size=(6, 20)) + np.eye(6, 20, dtype=np.int64),
}


@pytest.mark.parametrize("name", TABLES)
@pytest.mark.parametrize("statistic", [paper_statistic, miller_madow_statistic])
def test_statistics_are_the_numpy_statistics_of_the_drawn_tables(name, statistic):
    table = TABLES[name]
    resampler = TableResampler(table, miller_madow=statistic is miller_madow_statistic)
    null = np.stack([resampler.null_table(3, r) for r in range(40)])
    boot = np.stack([resampler.bootstrap_table(3, r) for r in range(40)])
    np.testing.assert_allclose(resampler.null(3, 40), statistic(null), rtol=0, atol=1e-12)
    np.testing.assert_allclose(resampler.bootstrap(3, 40), statistic(boot), rtol=0, atol=1e-12)
    # Null tables keep both margins; bootstrap tables the co-players' sizes, inside their support.
    assert (null.sum(2) == table.sum(1)).all() and (null.sum(1) == table.sum(0)).all()
    assert (boot.sum(2) == table.sum(1)).all() and (boot[:, table == 0] == 0).all()
    assert len({t.tobytes() for t in null}) > 1 or name == "one bin"


def test_null_tables_count_the_specified_relabelling():
    # The co-player labels of the rows listed by bin, shuffled by Fisher-Yates on the stream of
    # (seed, resample), counted per bin.
    table = TABLES["unequal"]
    resampler = TableResampler(table, miller_madow=False)
    slot_class = np.repeat(np.arange(3), table.sum(1))
    bin_of_row = np.repeat(np.arange(5), table.sum(0))
    for resample in range(20):
        labels = ReferenceDraws(11, resample).shuffled(slot_class)
        expected = np.zeros_like(table)
        np.add.at(expected, (labels, bin_of_row), 1)
        np.testing.assert_array_equal(resampler.null_table(11, resample), expected)


def test_bootstrap_tables_are_the_specified_draws_rejections_included():
    # Co-player c's row t takes its member below(n_c), drawn one at a time on the stream of
    # (seed, resample), co-player after co-player. With 10^5 episodes a word is rejected about
    # once per resample: the kernel draws the members together and must redo them from there.
    table = np.array([[30_000, 50_000, 20_000], [3, 0, 4]])
    resampler = TableResampler(table, miller_madow=False)
    member_bins = [np.repeat(np.arange(3), row) for row in table]
    rejections = []
    for resample in range(3):
        draws = ReferenceDraws(5, resample)
        expected = np.zeros_like(table)
        for c, bins in enumerate(member_bins):
            picked = [bins[draws.below(len(bins))] for _ in range(len(bins))]
            expected[c] = np.bincount(picked, minlength=3)
        np.testing.assert_array_equal(resampler.bootstrap_table(5, resample), expected)
        rejections.append(draws.rejected)
    assert any(rejections)


def test_resamples_depend_only_on_seed_and_index():
    resampler = TableResampler(TABLES["wide"], miller_madow=True)
    for draw in (resampler.null, resampler.bootstrap):
        whole = draw(8, 10)
        np.testing.assert_array_equal(whole, np.concatenate([draw(8, 4), draw(8, 6, offset=4)]))
        assert not np.array_equal(whole, draw(9, 10))


def test_kernels_and_numpy_tables_give_the_same_null_and_bootstrap(monkeypatch):
    # A block picks the kernels when its table has many cells for its rows; forced the other way,
    # numpy's whole-table draws must give the same distributions (two-sample Kolmogorov-Smirnov).
    rng = np.random.default_rng(4)
    coplayer = np.repeat(np.arange(5), 60)
    bins = np.minimum((rng.normal(coplayer * 0.3, 1.0) * 3 + 8).astype(int).clip(0), 15)
    block = estimators._HistogramBlock(coplayer, bins, 5, paper_statistic)
    assert not block.null_tables and not block.bootstrap_tables
    kernel_null, kernel_boot = block.null(rng, 4000), block.bootstrap(rng, 4000)
    monkeypatch.setattr(resampling, "null_tables_are_cheaper", lambda *shape: True)
    monkeypatch.setattr(resampling, "bootstrap_tables_are_cheaper", lambda *shape: True)
    forced = estimators._HistogramBlock(coplayer, bins, 5, paper_statistic)
    assert forced.null_tables and forced.bootstrap_tables
    numpy_null, numpy_boot = forced.null(rng, 4000), forced.bootstrap(rng, 4000)
    assert stats.ks_2samp(kernel_null, numpy_null).pvalue > 1e-3
    assert stats.ks_2samp(kernel_boot, numpy_boot).pvalue > 1e-3
    # Not vacuous: a shift of a fifth of the null's spread is detected.
    assert stats.ks_2samp(kernel_null, numpy_null + numpy_null.std() / 5).pvalue < 1e-6


def test_cost_model_picks_numpy_tables_for_few_cells_and_many_rows():
    assert resampling.null_tables_are_cheaper(100_000, 2, 10)
    assert resampling.bootstrap_tables_are_cheaper(100_000, 2, 10)
    assert not resampling.null_tables_are_cheaper(10_000, 10, 44)  # the issue table's scenario
    assert not resampling.bootstrap_tables_are_cheaper(10_000, 10, 44)
