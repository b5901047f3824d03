"""A stand-in for Yahoo Finance's HTTP API, so yfinance's real request and parsing code runs offline.

`FakeYahoo` is a curl_cffi Session whose `request` answers from in-memory bars instead of the network:
`/v8/finance/chart/{TICKER}` serves chart JSON built from the bars (honouring period1/period2 or range), the cookie
and crumb handshake answers harmlessly, and every call is recorded so tests can assert what was asked.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo

import curl_cffi.requests as curl_requests
from curl_cffi.requests.exceptions import ConnectionError as CurlConnectionError
from curl_cffi.requests.models import Response

from forecaster.data.bars import Bars

NEW_YORK = ZoneInfo("America/New_York")
OPEN_SECONDS = 9 * 3600 + 30 * 60  # Yahoo's daily timestamps are the 09:30 session open


class FakeYahoo(curl_requests.Session):
    """Serves `bars_by_ticker`; `mode` can be 'ok', 'offline' (connection errors) or 'rate_limited' (HTTP 429).

    In 'ok' mode, the next `rate_limited_charts` history requests are answered with HTTP 429 first, and so are the
    first `rate_limited_by_ticker[T]` history requests for ticker T. `history_times` records when each history
    request arrived (time.monotonic()).
    """

    def __init__(self, bars_by_ticker: dict[str, Bars] | None = None, mode: str = "ok"):
        super().__init__()
        self.bars_by_ticker = dict(bars_by_ticker or {})
        self.mode = mode
        self.rate_limited_charts = 0
        self.rate_limited_by_ticker: dict[str, int] = {}
        self.history_times: list[float] = []
        self.calls: list[tuple[str, dict]] = []

    def chart_calls(self, ticker: str) -> list[dict]:
        """The query parameters of every history request (not the time-zone probes) for `ticker`."""
        return [
            params for url, params in self.calls
            if url.endswith(f"/v8/finance/chart/{ticker}") and "period1" in params
        ]

    def request(self, method, url, params=None, **kwargs):  # noqa: D401 - curl_cffi's signature
        params = dict(params or {})
        self.calls.append((url, params))
        if self.mode == "offline":
            raise CurlConnectionError(f"Failed to connect to {urlparse(url).hostname} port 443: Could not resolve host")
        if self.mode == "rate_limited":
            return _response(url, 429, "Too Many Requests\r\n")
        path = urlparse(url).path
        if "/v1/test/getcrumb" in path:
            return _response(url, 200, "fake-crumb")
        if "/v8/finance/chart/" in path and "period1" in params:
            self.history_times.append(time.monotonic())
            ticker = unquote(path.rsplit("/", 1)[1])
            if self.rate_limited_charts > 0 or self.rate_limited_by_ticker.get(ticker, 0) > 0:
                if self.rate_limited_charts > 0:
                    self.rate_limited_charts -= 1
                else:
                    self.rate_limited_by_ticker[ticker] -= 1
                return _response(url, 429, "Too Many Requests\r\n")
        if "/v8/finance/chart/" in path:
            ticker = unquote(path.rsplit("/", 1)[1])
            return self._chart(url, ticker, params)
        return _response(url, 404, "Not Found")

    def _chart(self, url: str, ticker: str, params: dict) -> Response:
        bars = self.bars_by_ticker.get(ticker)
        if bars is None:
            body = {"chart": {"result": None, "error": {
                "code": "Not Found", "description": "No data found, symbol may be delisted"}}}
            return _response(url, 404, json.dumps(body))
        timestamps = [_open_timestamp(d) for d in bars.dates.astype(dt.date)]
        if "period1" in params:
            low, high = int(params["period1"]), int(params.get("period2") or 2**62)
            keep = [i for i, t in enumerate(timestamps) if low <= t < high]
        elif params.get("range") == "1d":
            keep = list(range(len(timestamps)))[-1:]
        else:
            keep = list(range(len(timestamps)))
        return _response(url, 200, json.dumps(chart_json(ticker, bars, keep)))


def chart_json(ticker: str, bars: Bars, keep: list[int]) -> dict:
    """Yahoo's v8 chart response for the rows `keep` of `bars`."""
    def column(values):
        return [float(values[i]) for i in keep]

    meta = {
        "currency": "USD", "symbol": ticker, "instrumentType": "EQUITY", "exchangeName": "NYQ",
        "exchangeTimezoneName": "America/New_York", "timezone": "EST", "gmtoffset": -18000, "priceHint": 2,
        "regularMarketTime": _open_timestamp(bars.dates[-1].astype(dt.date)) + 6 * 3600 + 60,
        "dataGranularity": "1d", "range": "",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
    }
    result = {"meta": meta}
    if keep:
        result["timestamp"] = [_open_timestamp(bars.dates[i].astype(dt.date)) for i in keep]
        result["indicators"] = {
            "quote": [{"open": column(bars.open), "high": column(bars.high), "low": column(bars.low),
                       "close": column(bars.close), "volume": [int(bars.volume[i]) for i in keep]}],
            "adjclose": [{"adjclose": column(bars.adj_close)}],
        }
    else:
        result["indicators"] = {"quote": [{}], "adjclose": [{}]}
    return {"chart": {"result": [result], "error": None}}


def _open_timestamp(day: dt.date) -> int:
    opening = dt.datetime.combine(day, dt.time(9, 30), tzinfo=NEW_YORK)
    return int(opening.timestamp())


def _response(url: str, status: int, text: str) -> Response:
    response = Response()
    response.url = url
    response.status_code = status
    response.ok = 200 <= status < 400
    response.content = text.encode()
    response.reason = "OK" if response.ok else "Error"
    return response


def reset_yfinance(cache_dir) -> None:
    """Forget yfinance's process-wide state (caches, singletons, counters) between tests."""
    import yfinance as yf
    import yfinance.base
    import yfinance.cache
    import yfinance.data

    yf.set_tz_cache_location(str(cache_dir))
    yfinance.cache._TzCacheManager._tz_cache = None
    yfinance.cache._CookieCacheManager._Cookie_cache = None
    yfinance.data.YfData.cache_get.cache_clear()
    yfinance.data.SingletonMeta._instances.clear()
    yfinance.base._tz_info_fetch_ctr = 0
