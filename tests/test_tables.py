"""Reward-table schema, loaders, atomic writes and the authors' NPZ layouts."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loi.errors import LoiError
from loi.tables import (
    REQUIRED_COLUMNS,
    atomic_write,
    check_writable,
    block_labels,
    cross_play_table,
    fixed_bob_scores,
    parse_cross_play_name,
    parse_tournament_name,
    read_npz,
    read_table,
    tournament_table,
    validate_table,
    write_table,
)


def small_table(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame({
        "scenario": ["pd/S"] * n,
        "ego": ["ego0", "ego1"] * (n // 2),
        "coplayer": ["a", "a", "b", "b", "c", "c"][:n],
        "episode": np.arange(n),
        "ego_return": np.linspace(1.0, 2.0, n),
        "note": ["x"] * n,
    })


# ---------------------------------------------------------------- schema

def test_validate_gives_canonical_dtypes_and_keeps_extra_columns():
    raw = small_table().assign(episode=lambda d: d.episode.astype(float), ego_return=lambda d: d.ego_return.astype("float32"),
                               coplayer_seed=[0, 0, 1, 1, 2, 2])
    clean = validate_table(raw)
    assert clean["episode"].dtype == np.int64
    assert clean["coplayer_seed"].dtype == np.int64
    assert clean["ego_return"].dtype == np.float64
    assert pd.api.types.is_string_dtype(clean["scenario"])
    assert list(clean["note"]) == ["x"] * 6
    assert list(clean.columns) == list(raw.columns)


def test_integer_names_become_strings():
    clean = validate_table(small_table().assign(ego=[0, 1, 0, 1, 0, 1]))
    assert list(clean["ego"]) == ["0", "1", "0", "1", "0", "1"]


def test_missing_columns_are_named():
    with pytest.raises(LoiError, match="missing required column.*coplayer, ego_return"):
        validate_table(small_table().drop(columns=["coplayer", "ego_return"]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_returns_say_column_and_count(bad):
    table = small_table()
    table.loc[[1, 4], "ego_return"] = bad
    with pytest.raises(LoiError, match=r"'ego_return' has 2 NaN/inf value\(s\) of 6 rows"):
        validate_table(table)


def test_non_finite_coplayer_return_is_rejected_too():
    table = small_table().assign(coplayer_return=[1.0, np.nan, 1, 1, 1, 1])
    with pytest.raises(LoiError, match="'coplayer_return' has 1 NaN/inf"):
        validate_table(table)


def test_coplayer_without_episodes():
    table = small_table()
    table["coplayer"] = pd.Categorical(table["coplayer"], categories=["a", "b", "c", "ghost"])
    with pytest.raises(LoiError, match="co-player 'ghost' has no episodes"):
        validate_table(table)


@pytest.mark.parametrize("column, value, message", [
    ("ego_return", "abc", "'ego_return' must be numeric"),
    ("episode", 1.5, "'episode' must hold whole numbers"),
    ("episode", "one", "'episode' must be integer"),
    ("coplayer", None, "'coplayer' has 1 missing"),
    ("ego", "", "'ego' has 1 empty name"),
])
def test_wrong_values(column, value, message):
    table = small_table().astype({column: object})
    table.loc[2, column] = value
    with pytest.raises(LoiError, match=message):
        validate_table(table)


def test_empty_table_and_non_frame():
    with pytest.raises(LoiError, match="no rows"):
        validate_table(small_table().iloc[:0])
    with pytest.raises(LoiError, match="DataFrame"):
        validate_table({"scenario": []})


def test_block_labels_use_coplayer_seed_when_present():
    table = validate_table(small_table().assign(coplayer_seed=[1, 1, 0, 0, 1, 1]))
    # (ego, seed) pairs in sorted order: (ego0,0)=0 (ego0,1)=1 (ego1,0)=2 (ego1,1)=3
    assert block_labels(table).tolist() == [1, 3, 0, 2, 1, 3]
    assert block_labels(validate_table(small_table())).tolist() == [0, 1, 0, 1, 0, 1]
    # egos of different regimes are different agents
    regimes = validate_table(small_table().assign(regime=["SP5", "SP5", "SP5", "PP3", "PP3", "PP3"]))
    assert block_labels(regimes).tolist() == [2, 3, 2, 1, 0, 1]


# ---------------------------------------------------------------- files

@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_write_read_round_trip(tmp_path, suffix):
    path = write_table(small_table(), tmp_path / f"t{suffix}")
    back = read_table(path)
    pd.testing.assert_frame_equal(back, validate_table(small_table()))
    assert [p.name for p in tmp_path.iterdir()] == [f"t{suffix}"]  # no temp file left


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["s1", "s/2"]), st.text(min_size=1, max_size=4),
                          st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=30))
def test_parquet_round_trip_is_exact(tmp_path_factory, rows):
    table = pd.DataFrame(rows, columns=["scenario", "coplayer", "ego_return"]).assign(
        ego="e", episode=range(len(rows)))
    path = tmp_path_factory.mktemp("rt") / "t.parquet"
    write_table(table, path)
    pd.testing.assert_frame_equal(read_table(path), validate_table(table))


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_text("new")
            raise RuntimeError("boom")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_write_table_invalid_leaves_no_file(tmp_path):
    with pytest.raises(LoiError):
        write_table(small_table().assign(ego_return=np.nan), tmp_path / "t.parquet")
    assert list(tmp_path.iterdir()) == []


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(LoiError, match="no such file"):
        read_table(tmp_path / "absent.parquet")
    garbled = tmp_path / "garbled.parquet"
    garbled.write_bytes(b"PAR1 this is not parquet at all")
    with pytest.raises(LoiError, match=r"cannot read .*garbled\.parquet"):
        read_table(garbled)
    other = tmp_path / "t.xlsx"
    other.write_text("x")
    with pytest.raises(LoiError, match="unknown table format '.xlsx'"):
        read_table(other)
    with pytest.raises(LoiError, match="is a directory"):
        read_table(tmp_path)
    bad_csv = tmp_path / "nan.csv"
    small_table().assign(ego_return=[1, 2, None, 4, 5, 6]).to_csv(bad_csv, index=False)
    with pytest.raises(LoiError, match=r"nan\.csv: column 'ego_return' has 1 NaN"):
        read_table(bad_csv)


# ---------------------------------------------------------------- NPZ layouts

def test_file_names():
    assert parse_cross_play_name("prisoners_dilemma_M_5M_2.npz").__dict__ == dict(game="prisoners_dilemma", layout="M", tag="5M_2")
    assert parse_cross_play_name("chicken_L_5M.npz").scenario == "chicken/L"
    assert parse_cross_play_name("nolayout.npz") is None
    assert parse_tournament_name("pure_coordination_O_FCP5.npz").__dict__ == dict(game="pure_coordination", layout="O", tag="FCP5")


def write_cross_play(path: Path, shape=(1, 2, 3, 4, 5, 2), checkpoints=(0, 3, 7, 9)) -> np.ndarray:
    rewards = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) / 10
    np.savez(path, rewards=rewards, checkpoints=np.array(checkpoints))
    return rewards


def test_cross_play_rows_match_the_tensor(tmp_path):
    rewards = write_cross_play(tmp_path / "my_game_Big_10M_3.npz", shape=(2, 2, 3, 4, 5, 2))
    table = cross_play_table(tmp_path / "my_game_Big_10M_3.npz")
    assert len(table) == 2 * 2 * 3 * 4 * 5
    assert set(table["scenario"]) == {"my_game/Big"} and set(table["run"]) == {"10M_3"}
    row = table[(table.eval_seed == 1) & (table.ego == "ego1") & (table.coplayer == "seed2/gen7") & (table.episode == 4)]
    assert len(row) == 1
    assert row.ego_return.item() == rewards[1, 1, 2, 2, 4, 0]
    assert row.coplayer_return.item() == rewards[1, 1, 2, 2, 4, 1]
    assert (row.ego_checkpoint.item(), row.coplayer_checkpoint.item(), row.coplayer_seed.item()) == (1, 7, 2)
    # every tensor entry appears exactly once
    assert np.array_equal(np.sort(table.ego_return), np.sort(rewards[..., 0].ravel()))


def test_tournament_rows_and_bob_average(tmp_path):
    rng = np.random.default_rng(1)
    rewards = rng.uniform(0, 100, size=(3, 4, 10))
    np.savez(tmp_path / "stag_hunt_S_PP3.npz", rewards=rewards)
    table = read_npz(tmp_path / "stag_hunt_S_PP3.npz")  # told apart from cross_play by its 3 axes
    pd.testing.assert_frame_equal(table, tournament_table(tmp_path / "stag_hunt_S_PP3.npz"))
    assert set(table.regime) == {"PP3"} and set(table.scenario) == {"stag_hunt/S"}
    assert table[(table.ego == "ego2") & (table.coplayer == "bob3") & (table.episode == 7)].ego_return.item() == rewards[2, 3, 7]
    scores = fixed_bob_scores(table)
    assert len(scores) == 30
    got = scores.set_index(["ego", "episode"]).score
    for e in range(3):
        for ep in range(10):
            assert got[(f"ego{e}", ep)] == pytest.approx(rewards[e, :, ep].mean(), rel=1e-12)


@pytest.mark.parametrize("arrays, message", [
    (dict(rewards=np.zeros((1, 2, 3, 4, 5))), r"shape \(1, 2, 3, 4, 5\), expected 6 axes"),
    (dict(rewards=np.zeros((1, 2, 3, 4, 5, 3)), checkpoints=np.arange(4)), "player.*size 3"),
    (dict(rewards=np.zeros((1, 2, 3, 4, 5, 2))), "missing key 'checkpoints'"),
    (dict(rewards=np.zeros((1, 2, 3, 4, 5, 2)), checkpoints=np.arange(5)), r"'checkpoints' has shape \(5,\)"),
    (dict(returns=np.zeros(3)), "missing key 'rewards'"),
    (dict(rewards=np.full((1, 2, 3, 4, 5, 2), np.nan), checkpoints=np.arange(4)), "240 NaN/inf"),
])
def test_bad_npz_contents(tmp_path, arrays, message):
    path = tmp_path / "g_S_5M.npz"
    np.savez(path, **arrays)
    with pytest.raises(LoiError, match=message) as info:
        read_table(path)
    assert "g_S_5M.npz" in str(info.value)


def test_truncated_and_garbage_npz(tmp_path):
    good = tmp_path / "good_S_5M.npz"
    write_cross_play(good)
    truncated = tmp_path / "trunc_S_5M.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for path in (truncated, tmp_path / "junk_S_5M.npz"):
        if not path.exists():
            path.write_bytes(b"\x00not a zip")
        with pytest.raises(LoiError, match=rf"cannot read .*{path.name}: truncated or not an NPZ"):
            cross_play_table(path)
    # a zip whose member is cut short
    cut = tmp_path / "cut_S_5M.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(cut, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data[: len(data) // 2] if info.filename == "rewards.npy" else data)
    with pytest.raises(LoiError, match="cut_S_5M.npz"):
        read_table(cut)


def test_authors_cross_play_file(paper_data):
    path = paper_data / "cross_play" / "chicken_S_5M_2.npz"
    rewards = np.load(path)["rewards"]
    table = read_table(path)
    assert len(table) == rewards[..., 0].size == 1080
    assert set(table.coplayer_checkpoint) == {0, 2, 4, 6, 8, 12, 16, 20, 24}
    assert table.groupby(["ego", "coplayer_seed"]).coplayer.nunique().eq(9).all()
    assert np.array_equal(table.ego_return.to_numpy(), rewards[..., 0].ravel())


def test_required_columns_constant():
    assert REQUIRED_COLUMNS == ("scenario", "ego", "coplayer", "episode", "ego_return")


# ---------------------------------------------------------------- duplicates, delimiters, destinations

unique_rows = st.lists(st.tuples(st.sampled_from(["s1", "s/2"]), st.sampled_from(["e0", "e1"]),
                                 st.sampled_from(["a", "b", "c"]), st.integers(0, 5),
                                 st.floats(-1e6, 1e6, allow_nan=False)),
                       min_size=1, max_size=30, unique_by=lambda r: r[:4])


@settings(max_examples=40, deadline=None)
@given(unique_rows, st.data())
def test_a_repeated_episode_key_is_refused_naming_the_first_repeat(rows, data):
    table = pd.DataFrame(rows, columns=["scenario", "ego", "coplayer", "episode", "ego_return"])
    validate_table(table)  # unique keys pass
    repeat = data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=5, unique=True))
    doubled = pd.concat([table, table.iloc[repeat].assign(ego_return=0.5)], ignore_index=True)
    first = len(rows)  # the earliest row whose key appeared before
    s, e, c, ep, _ = rows[repeat[0]]
    with pytest.raises(LoiError, match=(rf"duplicate episode \(scenario='{s}', ego='{e}', coplayer='{c}', "
                                        rf"episode={ep}\) at rows {repeat[0]} and {first}")):
        validate_table(doubled)
    # A column that tells the copies apart (the authors' eval_seed) makes them distinct episodes.
    validate_table(doubled.assign(eval_seed=[0] * len(rows) + [1] * len(repeat)))


@settings(max_examples=20, deadline=None)
@given(unique_rows, st.sampled_from([(";", "semicolon"), ("\t", "tab"), ("|", "pipe")]))
def test_a_csv_with_another_delimiter_names_it(tmp_path_factory, rows, separator):
    sep, name = separator
    path = tmp_path_factory.mktemp("sep") / "t.csv"
    pd.DataFrame(rows, columns=["scenario", "ego", "coplayer", "episode", "ego_return"]).to_csv(path, sep=sep,
                                                                                               index=False)
    with pytest.raises(LoiError, match=f"looks {name}-separated"):
        read_table(path)


def test_atomic_write_refuses_unwritable_destinations_in_one_line(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for target, message in [(blocker / "out.parquet", "file.txt is a file, not a directory"),
                            (blocker / "a" / "out.parquet", "file.txt is a file, not a directory"),
                            (tmp_path / "none" / "out.parquet", "does not exist"),
                            (tmp_path, "is a directory")]:
        with pytest.raises(LoiError, match=message):
            with atomic_write(target):
                raise AssertionError("the body must not run")
        with pytest.raises(LoiError, match=message):
            check_writable(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]
