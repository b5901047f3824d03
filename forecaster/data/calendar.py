"""Trading sessions: which dates a forecast is for.

The sessions come from exchange_calendars (holidays and special closures included). Importing it costs about half a
second, too much for a cron job's `forecast predict`, so its answer is cached: the sessions from 1990 to the end of the
library's calendar (about a year ahead) are written once to `HOME/.cache/sessions-<EXCHANGE>.json` and read from there
while they cover the dates asked for; otherwise the library is asked again and the cache refreshed.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from pathlib import Path

import numpy as np

from forecaster.data.files import NotAFile, read_regular
from forecaster.data.store import atomic_write_text
from forecaster.errors import DataUnavailable, UsageError
from forecaster.text import plural

CACHE_START = "1990-01-01"
_RECENT = (dt.date.today() - dt.timedelta(days=30)).isoformat()  # a short calendar is enough to read its zone
# Yahoo symbol suffix -> exchange_calendars code; anything else trades on the New York Stock Exchange's calendar.
EXCHANGE_BY_SUFFIX = {
    ".L": "XLON", ".TO": "XTSE", ".DE": "XETR", ".F": "XFRA", ".PA": "XPAR", ".AS": "XAMS", ".MI": "XMIL",
    ".SW": "XSWX", ".HK": "XHKG", ".T": "XTKS", ".AX": "XASX", ".SA": "BVMF", ".MC": "XMAD", ".ST": "XSTO",
    ".KS": "XKRX", ".SS": "XSHG", ".SZ": "XSHG", ".NS": "XBOM", ".BO": "XBOM",
}


def exchange_for(ticker: str) -> str:
    """The exchange_calendars code for a Yahoo symbol: by suffix, 24/5 for currencies (=X), else XNYS."""
    if ticker.endswith("=X"):
        return "24/5"
    for suffix, code in EXCHANGE_BY_SUFFIX.items():
        if ticker.endswith(suffix):
            return code
    return "XNYS"


def next_sessions(after: str | np.datetime64, count: int, exchange: str, cache_dir: Path) -> list[str]:
    """The `count` trading sessions strictly after the date `after`, as ISO dates."""
    after = np.datetime64(after, "D")
    cache_path = Path(cache_dir) / f"sessions-{exchange.replace('/', '_')}.json"
    sessions = _cached_sessions(cache_path)
    if sessions is None or not _covers(sessions, after, count):
        sessions = _sessions_from_library(exchange)
        try:
            atomic_write_text(cache_path, json.dumps({"exchange": exchange,
                                                      "sessions": sessions.astype(str).tolist()}))
        except Exception:  # a read-only home still forecasts, just without the cache
            pass
    available = _sessions_after(sessions, after)
    if available < count:
        if available == 0:
            raise DataUnavailable(f"the {exchange} calendar known to exchange_calendars ends {sessions[-1]}, "
                                  f"before the data's last date {after} (upgrade exchange_calendars)")
        raise UsageError(f"--days {count} reaches past the end of the {exchange} calendar ({sessions[-1]}): at "
                         f"most {available} {plural(available, 'session')} can be forecast after {after}")
    start = int(np.searchsorted(sessions, after, side="right"))
    return sessions[start: start + count].astype(str).tolist()


def _covers(sessions: np.ndarray, after: np.datetime64, count: int) -> bool:
    return _sessions_after(sessions, after) >= count


def _sessions_after(sessions: np.ndarray, after: np.datetime64) -> int:
    """How many known sessions follow `after` (0 when `after` is outside the cached span)."""
    if not len(sessions) or after < sessions[0]:
        return 0
    return len(sessions) - int(np.searchsorted(sessions, after, side="right"))


def exchange_today(exchange: str, now: dt.datetime | None = None) -> dt.date:
    """Today's date where `exchange` trades (`now`, timezone-aware, overrides the clock)."""
    zone = _exchange_zone(exchange)
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(zone).date()


@functools.lru_cache(maxsize=None)
def _exchange_zone(exchange: str):
    import exchange_calendars

    return exchange_calendars.get_calendar(exchange, start=_RECENT).tz


def _cached_sessions(path: Path) -> np.ndarray | None:
    """The cached sessions, or None when the cache is missing or unusable (even a FIFO in its place: never read).
    Read once per process while the file is unchanged: `predict` asks for every ticker of a watchlist."""
    try:
        status = os.stat(path)
        key = (status.st_ino, status.st_size, status.st_mtime_ns)
        if _SESSIONS_READ.get(path, (None,))[0] != key:
            sessions = np.array(json.loads(read_regular(path))["sessions"], dtype="datetime64[D]")
            sessions.flags.writeable = False
            _SESSIONS_READ[path] = (key, sessions)
        return _SESSIONS_READ[path][1]
    except (OSError, NotAFile, ValueError, KeyError, TypeError):
        return None


_SESSIONS_READ: dict[Path, tuple[tuple[int, int, int], np.ndarray]] = {}


def _sessions_from_library(exchange: str) -> np.ndarray:
    import warnings

    import exchange_calendars

    with warnings.catch_warnings():  # pandas deprecation chatter from inside the library
        warnings.simplefilter("ignore")
        calendar = exchange_calendars.get_calendar(exchange, start=CACHE_START)
        return calendar.sessions.to_numpy().astype("datetime64[D]")
