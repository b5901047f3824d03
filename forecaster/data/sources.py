"""Where bars come from: Yahoo Finance (through yfinance), a local CSV file, or the sample bundled in the package.

Each source returns validated `Bars`; `update_ticker` merges them into the store under the ticker's lock.
yfinance and pandas are imported only when Yahoo is asked, so other commands start fast.
"""

from __future__ import annotations

import datetime as dt
import gzip
import time
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from forecaster.data.bars import (
    MAX_DAILY_FACTOR,
    Bars,
    InvalidBars,
    bars_from_columns,
    large_moves,
    merge,
    parse_csv,
    read_csv,
)
from forecaster.data.store import Store, normalize_ticker
from forecaster.errors import CorruptFile, DataUnavailable, NetworkError, UsageError
from forecaster.text import Notice

SAMPLE_TICKERS = {"^GSPC": "GSPC.csv.gz", "MSFT": "MSFT.csv.gz", "IBM": "IBM.csv.gz"}
CONFLICT_TOLERANCE = 1e-3  # a daily log return that moves by more than this (0.1%) was rewritten, not re-adjusted
CONFLICT_MIN_DAYS = 3  # a revised last bar or two moves up to this many returns ...
CONFLICT_SHARE = 0.02  # ... and a few ex-dividend days in a long overlap up to this share
REVISION_WARNING = 0.05  # a revision that changes a daily move by more than this (5%) is stored with a warning
DATES_SHOWN = 3  # dates named in a warning
REFETCH_DAYS = 10  # an incremental fetch asks again for this many calendar days before the last stored date
BAR_FINAL_HOUR = 18  # a bar dated today counts as final from this hour, exchange time
RATE_LIMIT_BACKOFF = (5.0, 20.0)  # seconds to wait before the 2nd and 3rd attempt when Yahoo answers HTTP 429


@dataclass(frozen=True)
class FetchResult:
    ticker: str
    rows: int
    first_date: str | None
    last_date: str | None
    added: int
    changed: int
    notes: tuple[Notice, ...] = ()  # things the user should know: a damaged file set aside, implausible moves


def update_ticker(store: Store, ticker: str, get_bars, *, source: str, replace: bool = False,
                  path: str | None = None) -> FetchResult:
    """Merge the bars returned by `get_bars(stored_bars)` into the store, atomically, under the ticker's lock.

    Refused (UsageError, nothing written) when the new bars would rewrite the stored history beyond a re-adjustment
    (see `history_conflict`), unless `replace`: then they replace it whole; and when nothing would be stored at all.
    A stored file that cannot be read is treated as absent (`get_bars` gets no bars, so Yahoo sends the whole
    history) and kept as TICKER.csv.damaged. data/TICKER.json is rewritten with every change, and also when nothing
    changed but it is missing or damaged (a re-import repairs it). Stored, with a notice: daily moves no real stock
    shows, and revisions that change daily moves by more than REVISION_WARNING (see `implausible_changes`).
    """
    ticker = normalize_ticker(ticker)
    notes = []
    with store.lock(ticker):
        try:
            stored = store.read_bars_or_empty(ticker)
            damaged = False
        except CorruptFile as error:
            stored, damaged = Bars.empty(), error
        incoming = get_bars(Bars.empty() if replace else stored)
        if not replace:
            conflict = history_conflict(stored, incoming)
            if conflict:
                raise UsageError(f"{ticker}: {conflict}; nothing was changed (rerun with --replace to replace the "
                                 "stored history)")
        merged, added, changed = merge(stored, incoming)
        if replace:  # the stored rows incoming lacks are dropped, not kept
            merged, changed = incoming, changed + int(np.sum(~np.isin(stored.dates, incoming.dates)))
        if not len(merged):
            raise UsageError(f"{ticker}: no rows to store (none in the dates asked for); nothing was changed")
        notes.extend(implausible_changes(ticker, Bars.empty() if replace else stored, incoming, merged))
        if damaged:
            aside = store.set_aside(store.bars_path(ticker))
            notes.append(Notice(ticker, f"{ticker}: the damaged {aside.name.removesuffix('.damaged')} was replaced "
                                        f"and kept as {aside} ({damaged.message.split(';')[0]})",
                                kind="damaged data files replaced, each kept as data/TICKER.csv.damaged"))
        if added or changed or replace or damaged or not store.has_bars(ticker):
            store.write_bars(ticker, merged, source=source, path=path)  # the bars and where from, as one unit
        elif source == "yahoo" or not store.has_fetch_info(ticker) or (
                path and store.fetch_info(ticker).get("path") != path):
            store.record_fetch(ticker, source, path)  # nothing new, but checked now, or where it came from was lost
    return FetchResult(ticker, len(merged), merged.first_date, merged.last_date, added, changed, tuple(notes))


def history_conflict(stored: Bars, incoming: Bars) -> str | None:
    """Why merging `incoming` would rewrite the stored history rather than extend or re-adjust it, or None.

    A dividend or split re-adjusts a whole span by one factor, which leaves its daily returns as they were; a revised
    last bar or two changes a couple of returns. So the test is on the daily log returns of Close and Adj Close over
    the days both hold: more than CONFLICT_MIN_DAYS (and more than CONFLICT_SHARE of them) moving by over
    CONFLICT_TOLERANCE means a different series (another ticker's file, a wrong column, a bad source).
    """
    common, change, was, now = _move_changes(stored, incoming)
    moved = change > CONFLICT_TOLERANCE
    count = int(moved.sum())
    if count <= max(CONFLICT_MIN_DAYS, CONFLICT_SHARE * len(moved)):
        return None
    i = int(moved.argmax())
    return (f"the new data changes the daily moves of {count} of the {len(moved)} days already stored (from "
            f"{common[i + 1]}: stored {100 * was[i]:+.2f}%, new {100 * now[i]:+.2f}%), which no dividend or split "
            "re-adjustment does: is it another series?")


def _move_changes(stored: Bars, incoming: Bars) -> tuple[np.ndarray, ...]:
    """Over the dates both hold: (dates, how much each daily move changed, the stored and the new log return of Adj
    Close); a move is the log return into a date from the date before, so each array but `dates` is one shorter.
    The change is the larger one of Close's and Adj Close's log returns."""
    common = np.intersect1d(stored.dates, incoming.dates)
    if len(common) < 2:
        return common, np.zeros(0), np.zeros(0), np.zeros(0)
    old, new = np.searchsorted(stored.dates, common), np.searchsorted(incoming.dates, common)
    change = np.zeros(len(common) - 1)
    for before, after in ((stored.adj_close[old], incoming.adj_close[new]), (stored.close[old], incoming.close[new])):
        change = np.maximum(change, np.abs(np.diff(np.log(after)) - np.diff(np.log(before))))
    return common, change, np.diff(np.log(stored.adj_close[old])), np.diff(np.log(incoming.adj_close[new]))


def implausible_changes(ticker: str, stored: Bars, incoming: Bars, merged: Bars) -> list[Notice]:
    """Notices about what merging `incoming` into `stored` (giving `merged`) stores that is possible but hardly
    plausible, naming the dates: daily moves of the adjusted close beyond MAX_DAILY_FACTOR into or out of a new or
    changed row (see bars.large_moves), and revisions of stored bars that change a daily move by more than
    REVISION_WARNING. Both are what an unadjusted split or another series' file looks like."""
    notices = []
    moves = large_moves(merged, _new_dates(stored, incoming))
    if moves:
        date, before, after = moves[0]
        factor = f"x{after / before:.3g}" if after > before else f"/{before / after:.3g}"
        more = f" and on {_dates([m[0] for m in moves[1:]])}" if len(moves) > 1 else ""
        notices.append(Notice(ticker, f"{ticker}: the adjusted close moves from {before:.6g} to {after:.6g} "
                                      f"({factor}) on {date}{more}: no stock moves that much in a day; an unadjusted "
                                      "split, or a wrong file? Stored anyway",
                              kind=f"daily moves beyond x{MAX_DAILY_FACTOR:g} or /{MAX_DAILY_FACTOR:g} stored",
                              advice="an unadjusted split, or a wrong file? Check the data (--verbose names the "
                                     "dates)"))
    common, change, was, now = _move_changes(stored, incoming)
    revised = np.flatnonzero(change > REVISION_WARNING)
    if len(revised):
        i = int(revised[0])
        notices.append(Notice(
            ticker, f"{ticker}: the new data changes the daily move of {_dates([common[j + 1] for j in revised])} by "
                    f"more than {REVISION_WARNING:.0%} (on {common[i + 1]}: stored {100 * was[i]:+.2f}%, new "
                    f"{100 * now[i]:+.2f}%); stored anyway: is there a split not adjusted for, or a wrong file?",
            kind=f"revised bars that change daily moves by more than {REVISION_WARNING:.0%}",
            advice="a split not adjusted for, or a wrong file? Check the data (--verbose names the dates)"))
    return notices


def _new_dates(stored: Bars, incoming: Bars) -> np.ndarray:
    """The dates of `incoming` rows that are not already stored exactly so (added or revised)."""
    known = np.flatnonzero(np.isin(incoming.dates, stored.dates))
    where = np.searchsorted(stored.dates, incoming.dates[known])
    same = np.zeros(len(incoming), dtype=bool)
    same[known] = np.logical_and.reduce([new[known] == old[where] for new, old in
                                         zip(incoming.columns()[1:], stored.columns()[1:], strict=True)])
    return incoming.dates[~same]


def _dates(dates: list) -> str:
    """'2024-03-04, 2024-03-05, 2024-03-06 and 4 more'."""
    shown = ", ".join(str(date) for date in dates[:DATES_SHOWN])
    return shown + (f" and {len(dates) - DATES_SHOWN} more" if len(dates) > DATES_SHOWN else "")


# --------------------------------------------------------------------------------------------------- local files
def read_sample(ticker: str) -> Bars:
    """The bundled sample history of `ticker` (one of SAMPLE_TICKERS)."""
    name = SAMPLE_TICKERS[ticker]
    data = resources.files("forecaster.data").joinpath("sample_data", name).read_bytes()
    return parse_csv(gzip.decompress(data).decode("utf-8"), f"sample {name}")


def import_csv_bars(path: Path, start: dt.date | None = None, end: dt.date | None = None,
                    today: dt.date | None = None) -> Bars:
    """Bars of a CSV file between `start` and `end`; a row dated after `today` (at the exchange) is refused."""
    return _between(read_csv(path, latest=today), start, end)


def _between(bars: Bars, start: dt.date | None, end: dt.date | None) -> Bars:
    mask = np.ones(len(bars), dtype=bool)
    if start is not None:
        mask &= bars.dates >= np.datetime64(start, "D")
    if end is not None:
        mask &= bars.dates <= np.datetime64(end, "D")
    return bars.take(mask)


# ---------------------------------------------------------------------------------------------------- Yahoo
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


def check_dates(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and start > end:
        raise UsageError(f"--start {start} is after --end {end}")


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
