"""The store: one home, safe ticker names, atomic writes, per-ticker locks."""

import os

import pytest

from conftest import random_walk_bars
from forecaster.data.store import Store, atomic_write_text, normalize_ticker
from forecaster.errors import CorruptFile, DataUnavailable, LockTimeout, UsageError, WriteFailed


@pytest.mark.parametrize("ticker", ["^GSPC", "BRK-B", "EURUSD=X", "0700.HK", "msft", "A"])
def test_plausible_tickers_are_accepted(ticker):
    assert normalize_ticker(ticker) == ticker.upper()


@pytest.mark.parametrize("ticker", ["../x", "/etc/x", "A B", "", " ", "X" * 200, ".", "..", ".hidden", "A/B",
                                    "A\\B", "A\x00B", "ABC..D"])
def test_implausible_tickers_are_refused(ticker):
    with pytest.raises(UsageError, match="invalid ticker symbol"):
        normalize_ticker(ticker)


def test_home_is_option_then_environment_then_cwd(tmp_path, monkeypatch, isolated_home):
    assert Store().home == isolated_home
    assert Store(tmp_path / "elsewhere").home == tmp_path / "elsewhere"
    monkeypatch.delenv("FORECAST_HOME")
    assert Store().home == tmp_path / "work"


def test_home_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is not a directory"):
        Store(tmp_path / "file")


def test_bars_round_trip_through_the_store():
    store = Store()
    bars = random_walk_bars(30)
    store.write_bars("abc", bars)
    store.record_fetch("abc", "csv:abc.csv")
    assert store.read_bars("ABC").equals(bars)
    assert store.tickers() == ["ABC"]
    assert store.fetch_info("ABC")["source"] == "csv:abc.csv"


def test_missing_and_corrupt_bars_say_what_to_do():
    store = Store()
    with pytest.raises(DataUnavailable, match=r"no data for MSFT .*run 'forecast fetch MSFT' first"):
        store.read_bars("MSFT")
    store.data_dir.mkdir()
    store.bars_path("MSFT").write_text("Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1,2,x,1,1,1\n")
    with pytest.raises(CorruptFile) as error:
        store.read_bars("MSFT")
    assert error.value.message == (
        f"{store.bars_path('MSFT')} row 2: bad Low 'x' (not a number); run 'forecast fetch MSFT' (or 'forecast "
        "fetch MSFT --csv FILE') to replace it"
    )


def test_atomic_write_replaces_whole_file_and_cleans_stale_temp_files(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    target = folder / "f.txt"
    stale = folder / ".f.txt.abc123.tmp"
    stale.write_text("left by a killed writer")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in folder.iterdir()) == ["f.txt"]


def test_failed_atomic_write_leaves_old_content(tmp_path, monkeypatch):
    folder = tmp_path / "folder"
    folder.mkdir()
    target = folder / "f.txt"
    target.write_text("old")

    def crash(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(WriteFailed, match=f"cannot write {target}: No space left on device"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in folder.iterdir()) == ["f.txt"]


def test_lock_times_out_with_a_clear_message():
    store = Store()
    with store.lock("MSFT"):
        with pytest.raises(LockTimeout) as error:
            with store.lock("MSFT", timeout=0.05):
                pass
    assert error.value.message == "MSFT is locked by another forecast process (waited 0.05 s); try again later"
    with store.lock("MSFT", timeout=0.05):
        pass


def test_a_relative_home_is_made_absolute_before_it_goes_anywhere(cli, tmp_path, monkeypatch):
    """Absolute, because it also goes to processes with another working directory (Dask workers)."""
    monkeypatch.chdir(tmp_path)
    assert Store("wl").home == tmp_path / "wl"
    result = cli("list", "--home", "wl")
    assert result.err == f"Nothing stored in {tmp_path / 'wl'} yet: try 'forecast fetch MSFT' or 'forecast fetch " \
                         "--sample'.\n"
