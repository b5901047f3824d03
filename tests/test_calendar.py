"""Forecast dates are the exchange's real next sessions, served from a cache after the first look-up."""

import json

import pytest

from forecaster.data.calendar import exchange_for, next_sessions
from forecaster.errors import DataUnavailable


def test_nyse_sessions_skip_weekends_and_holidays(tmp_path):
    # 2012-12-25 Christmas; 2013-01-01 New Year's Day.
    assert next_sessions("2012-12-21", 5, "XNYS", tmp_path) == [
        "2012-12-24", "2012-12-26", "2012-12-27", "2012-12-28", "2012-12-31"]
    assert next_sessions("2012-12-31", 1, "XNYS", tmp_path) == ["2013-01-02"]
    # Hurricane Sandy closed the NYSE on 2012-10-29 and 30.
    assert next_sessions("2012-10-26", 2, "XNYS", tmp_path) == ["2012-10-31", "2012-11-01"]


def test_a_weekend_date_starts_from_the_next_session(tmp_path):
    assert next_sessions("2013-03-02", 1, "XNYS", tmp_path) == ["2013-03-04"]


def test_sessions_are_cached_and_the_cache_is_used(tmp_path):
    next_sessions("2013-03-01", 1, "XNYS", tmp_path)
    cache = tmp_path / "sessions-XNYS.json"
    data = json.loads(cache.read_text())
    assert data["exchange"] == "XNYS" and data["sessions"][0] == "1990-01-02"
    data["sessions"] = [s for s in data["sessions"] if s != "2013-03-04"]  # prove the cache is read
    cache.write_text(json.dumps(data))
    assert next_sessions("2013-03-01", 1, "XNYS", tmp_path) == ["2013-03-05"]


def test_a_broken_cache_is_rebuilt(tmp_path):
    (tmp_path / "sessions-XNYS.json").write_text("garbage")
    assert next_sessions("2013-03-01", 1, "XNYS", tmp_path) == ["2013-03-04"]


def test_dates_beyond_the_known_calendar_are_refused(tmp_path):
    with pytest.raises(DataUnavailable, match="the XNYS calendar known to exchange_calendars ends"):
        next_sessions("2090-01-01", 1, "XNYS", tmp_path)


@pytest.mark.parametrize(("ticker", "exchange"), [("MSFT", "XNYS"), ("^GSPC", "XNYS"), ("0700.HK", "XHKG"),
                                                  ("VOD.L", "XLON"), ("EURUSD=X", "24/5")])
def test_exchange_by_symbol_suffix(ticker, exchange):
    assert exchange_for(ticker) == exchange
