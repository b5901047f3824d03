"""Fetching from Yahoo Finance through yfinance's real request and parsing code, against a fake HTTP server."""

import datetime as dt

import pytest

from conftest import sample_bars, snapshot
from fake_yahoo import FakeYahoo, _open_timestamp
from forecaster.data.bars import Bars, format_csv
from forecaster.data.yahoo import configure_yfinance, fetch_yahoo
from forecaster.errors import DataUnavailable, NetworkError


@pytest.fixture
def msft():
    return sample_bars("MSFT")


def test_full_history_parses_to_the_served_bars(yahoo, msft, tmp_path):
    configure_yfinance(tmp_path / "cache")
    bars = fetch_yahoo("MSFT", session=yahoo)
    assert bars.equals(msft)


def test_end_is_inclusive_and_start_is_sent_as_period1(yahoo, tmp_path):
    configure_yfinance(tmp_path / "cache")
    bars = fetch_yahoo("MSFT", start=dt.date(2013, 2, 20), end=dt.date(2013, 2, 26), session=yahoo)
    assert bars.dates.astype(str).tolist() == ["2013-02-20", "2013-02-21", "2013-02-22", "2013-02-25", "2013-02-26"]
    (params,) = yahoo.chart_calls("MSFT")
    assert int(params["period2"]) == _open_timestamp(dt.date(2013, 2, 27)) - 9 * 3600 - 1800  # midnight, exclusive


def test_todays_forming_bar_is_dropped_until_evening(yahoo, msft, tmp_path):
    configure_yfinance(tmp_path / "cache")
    last_day = dt.datetime(2013, 3, 1, 15, 0)  # 10:00 in New York: the 2013-03-01 bar is still forming
    midday = fetch_yahoo("MSFT", session=yahoo, now=last_day.replace(tzinfo=dt.timezone.utc))
    assert midday.last_date == "2013-02-28"
    evening = fetch_yahoo("MSFT", session=yahoo, now=dt.datetime(2013, 3, 1, 23, 30, tzinfo=dt.timezone.utc))
    assert evening.last_date == "2013-03-01"


def test_unknown_ticker(yahoo, tmp_path):
    configure_yfinance(tmp_path / "cache")
    with pytest.raises(DataUnavailable) as error:
        fetch_yahoo("NOPE", session=yahoo)
    assert error.value.message == "NOPE: no data on Yahoo Finance (unknown or delisted symbol?)"


def test_empty_response_is_unknown_ticker_unless_a_range_was_asked(yahoo, tmp_path):
    configure_yfinance(tmp_path / "cache")
    yahoo.bars_by_ticker["GONE"] = Bars(*(c[:1] for c in sample_bars("MSFT").columns()))
    with pytest.raises(DataUnavailable, match="GONE: no data on Yahoo Finance"):
        fetch_yahoo("GONE", start=dt.date(2020, 1, 1), session=yahoo)
    assert len(fetch_yahoo("GONE", start=dt.date(2020, 1, 1), session=yahoo, allow_empty=True)) == 0


@pytest.fixture
def no_backoff_wait(monkeypatch):
    pauses = []
    monkeypatch.setattr("forecaster.data.yahoo.time.sleep", pauses.append)
    return pauses


def test_rate_limit_backs_off_then_says_wait(tmp_path, no_backoff_wait):
    configure_yfinance(tmp_path / "cache")
    with pytest.raises(NetworkError) as error:
        fetch_yahoo("MSFT", session=FakeYahoo({}, mode="rate_limited"))
    assert error.value.message == ("MSFT: Yahoo Finance is rate limiting requests (still after 2 retries); wait a few "
                                   "minutes and try again")
    assert no_backoff_wait == [5.0, 20.0]


def test_a_passing_rate_limit_is_ridden_out(yahoo, msft, tmp_path, no_backoff_wait):
    configure_yfinance(tmp_path / "cache")
    yahoo.rate_limited_charts = 2  # yfinance retries once by itself (with a new crumb); then we pause and retry
    assert fetch_yahoo("MSFT", session=yahoo).equals(msft)
    assert no_backoff_wait == [5.0]


@pytest.mark.parametrize("attempt", range(3))  # yfinance changes behaviour after its first two failures
def test_no_network_is_reported_as_such_not_as_delisted(tmp_path, attempt):
    configure_yfinance(tmp_path / "cache")
    for _ in range(attempt + 1):
        with pytest.raises(NetworkError) as error:
            fetch_yahoo("MSFT", session=FakeYahoo({}, mode="offline"))
    assert error.value.message.startswith("MSFT: cannot reach Yahoo Finance")


# ------------------------------------------------------------------------------- through the command line
def test_first_fetch_stores_full_history(cli, yahoo, isolated_home, msft):
    result = cli("fetch", "MSFT")
    assert result.code == 0, result.err
    stored = (isolated_home / "data" / "MSFT.csv").read_text().splitlines()
    assert stored[0] == "Date,Open,High,Low,Close,Adj Close,Volume"
    assert len(stored) == len(msft) + 1
    assert "MSFT" in result.out and "3270" in result.out


def test_incremental_fetch_asks_from_shortly_before_last_date_and_takes_revisions(cli, yahoo, isolated_home, msft):
    yahoo.bars_by_ticker["MSFT"] = msft.take(slice(0, len(msft) - 5))
    assert cli("fetch", "MSFT").code == 0
    revised_close = msft.close.copy()
    revised_close[-6] += 0.01  # the last bar we stored gets revised upstream
    yahoo.bars_by_ticker["MSFT"] = Bars(msft.dates, msft.open, msft.high, msft.low, revised_close,
                                        msft.adj_close, msft.volume)
    yahoo.calls.clear()
    result = cli("fetch", "MSFT")
    assert result.code == 0, result.err
    (params,) = yahoo.chart_calls("MSFT")
    last_stored = msft.dates[-6].astype(dt.date)
    asked_from = dt.datetime.fromtimestamp(int(params["period1"]), dt.timezone.utc).date()
    assert asked_from == last_stored - dt.timedelta(days=10)
    stored = (isolated_home / "data" / "MSFT.csv").read_text().splitlines()
    assert len(stored) == len(msft) + 1
    assert stored[-6].split(",")[4] == repr(float(revised_close[-6]))
    assert "MSFT: 3270 rows to 2013-03-01 (5 added)" in result.err


@pytest.mark.parametrize(
    ("mode", "ticker", "code", "message"),
    [
        ("ok", "NOPE", 3, "Error: NOPE: no data on Yahoo Finance (unknown or delisted symbol?)\n"),
        ("rate_limited", "MSFT", 3,
         "Error: MSFT: Yahoo Finance is rate limiting requests (still after 2 retries); wait a few minutes and try "
         "again\n"),
    ],
)
def test_fetch_failures_exit_3_with_one_line_and_leave_store_unchanged(cli, yahoo, isolated_home, mode, ticker,
                                                                        code, message, no_backoff_wait):
    assert cli("fetch", "--sample").code == 0
    before = snapshot(isolated_home)
    yahoo.mode = mode
    result = cli("fetch", ticker)
    assert (result.code, result.err, result.out) == (code, message, "")
    assert snapshot(isolated_home) == before


def test_offline_fetch_exits_3_and_changes_nothing(cli, yahoo, isolated_home):
    assert cli("fetch", "--sample").code == 0
    before = snapshot(isolated_home)
    yahoo.mode = "offline"
    result = cli("fetch", "MSFT")
    assert result.code == 3
    assert result.err == ("Error: MSFT: cannot reach Yahoo Finance (the host name could not be resolved); check the "
                          "network connection or proxy settings (HTTPS_PROXY)\n")
    assert result.err.count("\n") == 1
    assert snapshot(isolated_home) == before


def test_one_failing_ticker_does_not_stop_the_others(cli, yahoo, isolated_home):
    result = cli("fetch", "NOPE", "MSFT")
    assert result.code == 4
    assert (isolated_home / "data" / "MSFT.csv").is_file()
    assert not (isolated_home / "data" / "NOPE.csv").exists()
    assert result.err.splitlines() == [  # each failure as it happens, the count at the end
        "Error: NOPE: no data on Yahoo Finance (unknown or delisted symbol?)",
        "MSFT: 3270 rows to 2013-03-01 (3270 added)",
        "Error: 1 of 2 tickers failed: NOPE",
    ]


def test_yfinance_caches_stay_inside_the_home(cli, yahoo, isolated_home):
    assert cli("fetch", "MSFT").code == 0
    assert (isolated_home / ".cache" / "yfinance").is_dir()


def test_invalid_bars_from_yahoo_are_refused_not_stored(cli, yahoo, isolated_home, msft):
    high = msft.high.copy()
    high[5] = 45.5  # Yahoo serves a bar with High below Low (91)
    yahoo.bars_by_ticker["MSFT"] = Bars(msft.dates, msft.open, high, msft.low, msft.close, msft.adj_close,
                                        msft.volume)
    result = cli("fetch", "MSFT")
    assert (result.code, result.out) == (3, "")
    assert result.err == ("Error: MSFT: Yahoo Finance sent invalid data (Yahoo Finance data for MSFT row 6: High "
                          "45.5 is below Low 91)\n")
    assert not (isolated_home / "data" / "MSFT.csv").exists()


def test_a_dividend_restating_history_triggers_a_full_refetch(cli, yahoo, isolated_home, msft):
    yahoo.bars_by_ticker["MSFT"] = msft.take(slice(0, len(msft) - 5))
    assert cli("fetch", "MSFT").code == 0
    # A dividend since: Yahoo now serves every earlier Adj Close 1% lower, plus five new days.
    restated = Bars(msft.dates, msft.open, msft.high, msft.low, msft.close, msft.adj_close * 0.99, msft.volume)
    yahoo.bars_by_ticker["MSFT"] = restated
    yahoo.calls.clear()
    result = cli("fetch", "MSFT")
    assert result.code == 0, result.err
    incremental, full = yahoo.chart_calls("MSFT")
    assert int(full["period1"]) < int(incremental["period1"])
    stored = (isolated_home / "data" / "MSFT.csv").read_text()
    assert stored == format_csv(restated)  # one adjustment basis throughout: no false jump at the seam
    assert "MSFT: 3270 rows to 2013-03-01 (5 added)" in result.err


def test_a_revised_last_bar_alone_does_not_refetch_everything(cli, yahoo, msft):
    yahoo.bars_by_ticker["MSFT"] = msft.take(slice(0, len(msft) - 5))
    assert cli("fetch", "MSFT").code == 0
    close = msft.close.copy()
    close[-6] *= 1.001
    yahoo.bars_by_ticker["MSFT"] = Bars(msft.dates, msft.open, msft.high, msft.low, close, msft.adj_close,
                                        msft.volume)
    yahoo.calls.clear()
    assert cli("fetch", "MSFT").code == 0
    assert len(yahoo.chart_calls("MSFT")) == 1
