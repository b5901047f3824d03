"""The cache of parsed price files: the CSV stays the truth, whatever happens to the file or to the cache."""

import numpy as np
import pytest

from conftest import random_walk_bars
from forecaster.data import bars_cache
from forecaster.data.bars import format_csv
from forecaster.data.store import Store
from forecaster.errors import CorruptFile


def entries(store: Store, ticker: str) -> list[str]:
    folder = store.bars_cache_dir / ticker
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_write_keeps_one_entry_named_by_the_files_content_and_reads_give_the_same_bars():
    store = Store()
    first, second = random_walk_bars(40, seed=1), random_walk_bars(50, seed=2)
    store.write_bars("ABC", first)
    store.write_bars("ABC", second)
    digest = bars_cache.digest(store.bars_path("ABC").read_bytes())
    assert entries(store, "ABC") == [f"{digest}.npy"]
    cached = store.read_bars("ABC")
    assert cached.equals(second)
    assert [c.dtype for c in cached.columns()] == [c.dtype for c in second.columns()]


def test_a_file_changed_by_hand_is_read_afresh():
    store = Store()
    store.write_bars("ABC", random_walk_bars(40, seed=1))
    edited = random_walk_bars(40, seed=3)
    store.bars_path("ABC").write_text(format_csv(edited))  # same name, same size class, other numbers
    assert store.read_bars("ABC").equals(edited)
    assert entries(store, "ABC") == [f"{bars_cache.digest(store.bars_path('ABC').read_bytes())}.npy"]


def test_a_hand_made_file_is_cached_on_first_read_and_a_damaged_one_is_still_refused():
    store = Store()
    store.data_dir.mkdir()
    bars = random_walk_bars(30)
    store.bars_path("ABC").write_text(format_csv(bars))
    assert entries(store, "ABC") == []
    assert store.read_bars("ABC").equals(bars)
    assert len(entries(store, "ABC")) == 1
    store.bars_path("ABC").write_text(format_csv(bars).replace(",", ";", 3))
    with pytest.raises(CorruptFile, match="run 'forecast fetch ABC'"):
        store.read_bars("ABC")


@pytest.mark.parametrize("damage", [b"", b"not numpy at all", b"\x93NUMPY\x01\x00garbage"])
def test_a_damaged_entry_is_ignored_and_replaced(damage):
    store = Store()
    bars = random_walk_bars(30)
    store.write_bars("ABC", bars)
    (entry,) = (store.bars_cache_dir / "ABC").iterdir()
    entry.write_bytes(damage)
    assert store.read_bars("ABC").equals(bars)
    assert np.load(entry).shape == (30, 7)


def test_an_entry_of_the_wrong_shape_or_order_is_ignored():
    store = Store()
    bars = random_walk_bars(30)
    store.write_bars("ABC", bars)
    (entry,) = (store.bars_cache_dir / "ABC").iterdir()
    for table in (np.zeros((30, 6)), np.zeros((0, 7)), np.ones((30, 7)), np.arange(30 * 7).reshape(30, 7) + 0.5):
        np.save(entry, table)
        assert store.read_bars("ABC").equals(bars)


def test_a_cache_that_cannot_be_written_only_costs_the_parse():
    store = Store()
    store.cache_dir.mkdir()
    store.bars_cache_dir.write_text("a file where the cache folder would be")
    bars = random_walk_bars(30)
    store.write_bars("ABC", bars)
    assert store.read_bars("ABC").equals(bars)


def test_remove_forgets_the_tickers_entries_and_only_its_own():
    store = Store()
    for ticker in ("BRK", "BRK-B"):
        store.write_bars(ticker, random_walk_bars(30))
    store.remove("BRK")
    assert not (store.bars_cache_dir / "BRK").exists()
    assert len(entries(store, "BRK-B")) == 1


def test_a_stored_bar_dated_in_the_future_is_a_damaged_file_named_with_the_way_out(cli, isolated_home, tmp_path):
    source = tmp_path / "ABC.csv"
    source.write_text(format_csv(random_walk_bars(120, seed=3)))
    assert cli("fetch", "ABC", "--csv", source, "-q").code == 0
    assert cli("train", "ABC", "--epochs", "1", "-q").code == 0
    stored = isolated_home / "data" / "ABC.csv"
    good = stored.read_text()
    last = good.splitlines()[-1]
    stored.write_text(good + "2099-01-02" + last[len("YYYY-MM-DD"):] + "\n")  # a hand edit, or a wrong clock
    for command in (["train", "ABC", "--epochs", "1"], ["predict", "ABC"]):
        result = cli(*command)
        assert result.code == 3
        assert result.err == (f"Error: {stored}: its last row is dated 2099-01-02, in the future; run 'forecast "
                              "fetch ABC' (or 'forecast fetch ABC --csv FILE') to replace it\n"), command
    assert cli("fetch", "ABC", "--csv", source, "-q").code == 0  # the way out: the file is set aside and replaced
    assert stored.read_text() == good and (isolated_home / "data" / "ABC.csv.damaged").exists()
