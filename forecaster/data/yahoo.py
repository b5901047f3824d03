"""Yahoo Finance, through yfinance: a ticker's daily bars (`fetch_yahoo`), paced politely (`Pacer`), retried when
Yahoo rate-limits, and the update of a stored history (`yahoo_update`: incremental, or whole when Yahoo re-adjusted
it). yfinance and pandas are imported only when Yahoo is asked, so other commands start fast.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from pathlib import Path

import numpy as np

from forecaster.data.bars import Bars, InvalidBars, bars_from_columns
from forecaster.errors import DataUnavailable, NetworkError

REFETCH_DAYS = 10  # an incremental fetch asks again for this many calendar days before the last stored date
BAR_FINAL_HOUR = 18  # a bar dated today counts as final from this hour, exchange time
RATE_LIMIT_BACKOFF = (5.0, 20.0)  # seconds to wait before the 2nd and 3rd attempt when Yahoo answers HTTP 429


def configure_yfinance(cache_dir: Path) -> None:
    """Raise errors instead of logging them, keep yfinance's caches inside the home, silence its chatter."""
    import logging

    import yfinance as yf

    yf.config.debug.hide_exceptions = False
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        yf.set_tz_cache_location(str(cache_dir))
    except OSError:
        pass  # a read-only home: yfinance then runs without its cache
    logging.getLogger("yfinance").setLevel(logging.CRITICAL)


def yahoo_session():
    """The HTTP session for Yahoo requests: curl_cffi impersonating a browser, as yfinance itself would use."""
    from curl_cffi import requests as curl_requests

    return curl_requests.Session(impersonate="chrome")


def fetch_yahoo(
    ticker: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    session=None,
    now: dt.datetime | None = None,
    allow_empty: bool = False,
    pacer: Pacer | None = None,
) -> Bars:
    """Daily bars of `ticker` from Yahoo Finance, `start` to `end` inclusive (None: from the first / to the latest).

    Bars dated today are dropped until BAR_FINAL_HOUR exchange time (they are still forming). When Yahoo rate-limits
    (HTTP 429), the request is retried after the pauses in RATE_LIMIT_BACKOFF before giving up. No rows at all means an
    unknown or delisted symbol, unless `allow_empty` (the user asked for a date range that may hold no session).
    `session` is the HTTP session yfinance uses (tests pass a fake one); `now` overrides the clock (tests); `pacer`
    spaces the requests.
    """
    kwargs: dict = {"interval": "1d", "auto_adjust": False, "actions": False}
    if start is None and end is None:
        kwargs["period"] = "max"
    else:
        kwargs["start"] = (start or dt.date(1900, 1, 1)).isoformat()
        if end is not None:
            kwargs["end"] = (end + dt.timedelta(days=1)).isoformat()  # yfinance's end is exclusive
    for delay in (*RATE_LIMIT_BACKOFF, None):
        if pacer is not None:
            pacer.wait()
        try:
            frame = _history(ticker, session, kwargs)
            break
        except _RateLimited:
            if delay is None:
                raise NetworkError(f"{ticker}: Yahoo Finance is rate limiting requests (still after "
                                   f"{len(RATE_LIMIT_BACKOFF)} retries); wait a few minutes and try again") from None
            time.sleep(delay)
    if frame is None or frame.empty:  # yfinance may raise "prices missing" or return an empty frame
        if allow_empty:
            return Bars.empty()
        raise _unknown_symbol(ticker)
    try:
        return _bars_from_frame(frame, ticker, now)
    except InvalidBars as error:
        raise DataUnavailable(f"{ticker}: Yahoo Finance sent invalid data ({error.message})") from None


class Pacer:
    """Spaces requests at least 1/`rate` seconds apart (`rate` requests per second), so a watchlist of hundreds of
    symbols stays politely under Yahoo's rate limit instead of running into it."""

    def __init__(self, rate: float, clock=time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / rate
        self.clock, self.sleep = clock, sleep
        self._last: float | None = None

    def wait(self) -> None:
        if self._last is not None:
            pause = self._last + self.interval - self.clock()
            if pause > 0:
                self.sleep(pause)
        self._last = self.clock()


class _RateLimited(Exception):
    """HTTP 429 from Yahoo: worth retrying after a pause."""


def _unknown_symbol(ticker: str) -> DataUnavailable:
    return DataUnavailable(f"{ticker}: no data on Yahoo Finance (unknown or delisted symbol?)")


def _history(ticker: str, session, kwargs: dict):
    """One yfinance history request, its errors translated: unknown symbol, no network, rate limit.

    Returns the frame, or None when Yahoo knows the symbol but has no prices in the range asked.
    """
    import yfinance as yf
    from yfinance import exceptions as yf_errors

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return yf.Ticker(ticker, session=session).history(**kwargs)
    except yf_errors.YFRateLimitError:
        raise _RateLimited from None
    except (yf_errors.YFTzMissingError, yf_errors.YFPricesMissingError) as error:
        if _network_failed(error):
            raise NetworkError(f"{ticker}: cannot reach Yahoo Finance; check the network connection or proxy settings "
                               "(HTTPS_PROXY)") from None
        if isinstance(error, yf_errors.YFPricesMissingError):
            return None
        raise _unknown_symbol(ticker) from None
    except yf_errors.YFException as error:
        raise DataUnavailable(f"{ticker}: Yahoo Finance error: {error}") from None
    except OSError as error:  # curl_cffi's and requests' HTTP and connection errors are OSErrors
        if _http_status(error) == 404:
            raise _unknown_symbol(ticker) from None
        if _http_status(error) == 429:
            raise _RateLimited from None
        raise NetworkError(f"{ticker}: cannot reach Yahoo Finance ({_connection_problem(error)}); check the network "
                           "connection or proxy settings (HTTPS_PROXY)") from None


def _bars_from_frame(frame, ticker: str, now: dt.datetime | None) -> Bars:
    import pandas as pd

    frame = frame.dropna(subset=["Open", "High", "Low", "Close"])
    index = frame.index
    zone = getattr(index, "tz", None)
    if zone is not None:
        current = pd.Timestamp(now) if now is not None else pd.Timestamp.now(tz="UTC")
        if current.tzinfo is None:
            current = current.tz_localize("UTC")
        current = current.tz_convert(zone)
        today = current.normalize().tz_localize(None)
        dates = index.tz_localize(None).normalize()
        final = (dates < today) | ((dates == today) & (current.hour >= BAR_FINAL_HOUR))
        frame = frame[np.asarray(final)]
        index = frame.index.tz_localize(None)
    adj = frame["Adj Close"] if "Adj Close" in frame else frame["Close"]
    volume = frame["Volume"].fillna(0) if "Volume" in frame else np.zeros(len(frame))
    open_, high, low, close = (frame[name].to_numpy(float) for name in ("Open", "High", "Low", "Close"))
    # Yahoo's history has the odd bar whose Open or Close lies a tick outside its High-Low range; widen such a
    # range to hold them rather than refuse decades of history for one print. A range with High below Low is
    # broken, not imprecise: it is left for validation to refuse.
    sound = high >= low
    high = np.where(sound, np.maximum.reduce([high, open_, close]), high)
    low = np.where(sound, np.minimum.reduce([low, open_, close]), low)
    return bars_from_columns(
        index.normalize().values.astype("datetime64[D]"), open_, high, low, close, np.asarray(adj, dtype=float),
        np.asarray(volume, dtype=float), source=f"Yahoo Finance data for {ticker}",
    )


def _http_status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def _network_failed(error: BaseException) -> bool:
    """True when yfinance reported 'missing data' only because the HTTP requests never got through."""
    seen = error
    while seen is not None:
        if isinstance(seen, OSError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _connection_problem(error: BaseException) -> str:
    """A few words for what went wrong with the connection, instead of curl's long message."""
    text = f"{type(error).__name__} {error}".lower()
    for words, problem in (("resolve", "the host name could not be resolved"), ("timeout", "the connection timed out"),
                           ("timed out", "the connection timed out"), ("proxy", "the proxy failed"),
                           ("ssl", "the secure connection failed"), ("certificate", "the secure connection failed")):
        if words in text:
            return problem
    return "the connection failed"


def yahoo_update(ticker: str, stored: Bars, *, start: dt.date | None, end: dt.date | None, session=None,
                 now: dt.datetime | None = None, pacer: Pacer | None = None) -> Bars:
    """The bars to merge into `stored` from Yahoo: incremental, or the whole history when it was re-adjusted.

    Without `start`, a ticker already stored is asked only from REFETCH_DAYS before its last bar. Yahoo restates the
    whole adjusted history after every dividend (Adj Close) and split (all prices); when the overlap with what is
    stored shows that, the full history is fetched instead, so that old and new rows share one adjustment basis and
    no false jump appears where they meet.
    """
    allow_empty = start is not None or end is not None
    if start is not None or not len(stored):
        return fetch_yahoo(ticker, start=start, end=end, session=session, now=now, allow_empty=allow_empty,
                           pacer=pacer)
    since = stored.dates[-1].astype(dt.date) - dt.timedelta(days=REFETCH_DAYS)
    incoming = fetch_yahoo(ticker, start=since, end=end, session=session, now=now, allow_empty=allow_empty,
                           pacer=pacer)
    if restated(stored, incoming):
        return fetch_yahoo(ticker, end=end, session=session, now=now, allow_empty=allow_empty,
                           pacer=pacer)
    return incoming


def restated(stored: Bars, incoming: Bars, tolerance: float = 1e-6) -> bool:
    """True when the overlapping days' Close or Adj Close differ in more than a revised last bar or two: the
    history was re-adjusted for a dividend or split."""
    overlap = np.isin(stored.dates, incoming.dates)
    if overlap.sum() < 3:
        return False
    old = stored.take(overlap)
    new = incoming.take(np.isin(incoming.dates, old.dates))
    older = slice(None, -2)  # the last two stored bars may be legitimately revised
    for column_old, column_new in ((old.adj_close, new.adj_close), (old.close, new.close)):
        if np.any(np.abs(column_new[older] / column_old[older] - 1) > tolerance):
            return True
    return False
