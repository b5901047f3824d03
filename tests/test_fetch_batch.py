"""`forecast fetch` over a watchlist of 100+ symbols: paced, retried on rate limits, every failure listed, exit 4.

Yahoo is the fake session of tests/fake_yahoo.py, answered through yfinance's real parsing.
"""

import json

import numpy as np
import pytest

from conftest import random_walk_bars
from fake_yahoo import FakeYahoo, reset_yfinance
from forecaster.data.yahoo import Pacer

N_TICKERS = 120
UNKNOWN = ["NOPE1", "NOPE2"]  # not on Yahoo: in the middle of the watchlist
RATE_LIMITED_ONCE = ["T030", "T031", "T090"]  # answered 429 once, then served
RATE_LIMITED_ALWAYS = ["T060"]  # answered 429 on every attempt


@pytest.fixture
def watchlist_yahoo(monkeypatch, tmp_path, isolated_home):
    reset_yfinance(tmp_path / "yf-cache")
    tickers = [f"T{i:03d}" for i in range(N_TICKERS)]
    fake = FakeYahoo({**{t: random_walk_bars(40, seed=i, start="2024-03-01") for i, t in enumerate(tickers)},
                      "^GSPC": random_walk_bars(40, seed=999, start="2024-03-01")})  # the market index
    fake.rate_limited_by_ticker = {**dict.fromkeys(RATE_LIMITED_ONCE, 1), **dict.fromkeys(RATE_LIMITED_ALWAYS, 9)}
    monkeypatch.setattr("forecaster.data.yahoo.yahoo_session", lambda: fake)
    monkeypatch.setattr("forecaster.data.yahoo.RATE_LIMIT_BACKOFF", (0.01, 0.02))
    watchlist = tickers[:50] + UNKNOWN + tickers[50:]
    (isolated_home / "forecast.toml").write_text(
        f"tickers = {json.dumps(watchlist)}\n\n[fetch]\nrate = 100\n\n[train]\nmarket = \"^GSPC\"\n")
    yield fake, tickers
    reset_yfinance(tmp_path / "yf-cache")


def test_fetch_without_tickers_updates_the_whole_watchlist_and_lists_every_failure(cli, watchlist_yahoo,
                                                                                    isolated_home):
    fake, tickers = watchlist_yahoo
    result = cli("fetch")
    assert result.code == 4
    stored = sorted(p.stem for p in (isolated_home / "data").glob("T*.csv"))
    assert stored == sorted(set(tickers) - set(RATE_LIMITED_ALWAYS))
    assert (isolated_home / "data" / "^GSPC.csv").is_file()  # the market index the models learn from comes along
    errors = [line for line in result.err.splitlines() if line.startswith("Error: ")]
    assert errors == [
        "Error: NOPE1: no data on Yahoo Finance (unknown or delisted symbol?)",
        "Error: NOPE2: no data on Yahoo Finance (unknown or delisted symbol?)",
        "Error: T060: Yahoo Finance is rate limiting requests (still after 2 retries); wait a few minutes and try "
        "again",
        f"Error: 3 of {N_TICKERS + 3} tickers failed: NOPE1, NOPE2, T060",
    ]
    assert f"{N_TICKERS - 1} rows" not in result.out  # the summary table is per ticker
    assert result.out.count("\n│ T") == N_TICKERS - 1


def test_without_a_market_setting_a_bare_fetch_leaves_the_index_alone(cli, watchlist_yahoo, isolated_home):
    fake, tickers = watchlist_yahoo
    (isolated_home / "forecast.toml").write_text(f"tickers = {json.dumps(tickers[:3])}\n\n[fetch]\nrate = 100\n")
    assert cli("fetch", "-q").code == 0
    assert sorted(p.name for p in (isolated_home / "data").glob("*.csv")) == ["T000.csv", "T001.csv", "T002.csv"]


def test_requests_are_paced_at_the_configured_rate(cli, watchlist_yahoo):
    fake, _ = watchlist_yahoo
    fake.rate_limited_by_ticker = {}  # yfinance itself re-sends a request at once after a 429: not ours to pace
    assert cli("fetch", "--rate", "50", "-q").code == 4
    gaps = np.diff(fake.history_times)
    assert len(gaps) == N_TICKERS  # one history request per known symbol (the market's among them)
    # 50 requests per second: 20 ms apart. The fake notes each request after yfinance has prepared it, so single
    # gaps jitter by a few ms either way; the spacing as a whole cannot.
    assert np.median(gaps) >= 0.019 and gaps.min() >= 0.010
    assert fake.history_times[-1] - fake.history_times[0] >= 0.02 * N_TICKERS * 0.95


def test_a_second_fetch_of_the_watchlist_is_incremental_and_stored_yahoo_tickers_join_it(cli, watchlist_yahoo,
                                                                                        isolated_home, tmp_path):
    fake, tickers = watchlist_yahoo
    assert cli("fetch", "-q").code == 4
    fake.bars_by_ticker["ZZZ"] = random_walk_bars(30, seed=99, start="2024-03-01")
    assert cli("fetch", "ZZZ", "-q").code == 0  # from Yahoo, not on the watchlist
    extra = tmp_path / "extra.csv"
    from forecaster.data.bars import format_csv

    extra.write_text(format_csv(random_walk_bars(30, seed=98, start="2024-03-01")))
    assert cli("fetch", "YYY", "--csv", extra, "-q").code == 0  # imported from a file
    fake.calls.clear()
    result = cli("fetch")
    assert result.code == 4  # the unknown and the always-limited symbols still fail
    asked = {url.rsplit("/", 1)[1] for url, params in fake.calls if "period1" in params}
    assert "ZZZ" in asked and "T000" in asked  # the watchlist and every ticker stored from Yahoo ...
    assert "YYY" not in asked  # ... but not one imported from a file, which Yahoo would not know (or replace)
    assert ("not fetched from Yahoo, imported from files or the sample: YYY (update them with 'forecast import "
            "FILE...' or 'forecast fetch TICKER --csv FILE')") in result.err.splitlines()
    first_asked = {url.rsplit("/", 1)[1]: int(params["period1"]) for url, params in fake.calls if "period1" in params}
    assert first_asked["T000"] > 1_700_000_000  # incremental: from shortly before the last stored bar


def test_the_pacer_spaces_calls_by_the_interval():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(0.5, clock=lambda: now[0], sleep=sleep)
    pacer.wait()  # the first request goes at once
    now[0] += 0.5
    pacer.wait()  # half a second later: waits 1.5 s more
    now[0] += 3.0
    pacer.wait()  # long after: no wait
    assert slept == [1.5]


@pytest.mark.parametrize("value, message", [("0", "--rate must be between 0.01 and 100, got 0.0"),
                                            ("-1", "--rate must be between 0.01 and 100, got -1.0"),
                                            ("0.0001", "--rate must be between 0.01 and 100, got 0.0001")])
def test_a_bad_rate_is_a_usage_error(cli, watchlist_yahoo, value, message):
    result = cli("fetch", "--rate", value)
    assert (result.code, result.err) == (2, f"Error: {message}\n")
