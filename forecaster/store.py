"""Where everything lives, and how it is written safely.

One home directory holds it all: `--home DIR`, else `$FORECAST_HOME`, else the current directory::

    HOME/data/TICKER.csv        daily bars (see forecaster.bars for the format)
    HOME/data/TICKER.json       when and from where the bars were last fetched
    HOME/data/predictions.csv   every forecast ever made (the track record)
    HOME/models/TICKER/         a trained model: weights.npz + meta.json
    HOME/.locks/                lock files (one per ticker, one for the predictions log)
    HOME/.cache/yfinance/       yfinance's own caches

Every write goes to a temporary file in the target's directory, is flushed and fsynced, then atomically renamed over
the target, so a reader sees either the old file or the new one and a kill never leaves a half-written file. Writers
of one ticker serialise on that ticker's lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from forecaster.bars import Bars, InvalidBars, format_csv, read_csv
from forecaster.errors import CorruptFile, DataUnavailable, LockTimeout, UsageError

HOME_ENV = "FORECAST_HOME"
LOCK_TIMEOUT_ENV = "FORECAST_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 120.0
PREDICTIONS_FILE = "predictions.csv"

# Letters, digits and the punctuation Yahoo symbols use (^GSPC, BRK-B, EURUSD=X, 0700.HK); no path separators, no
# leading dot, at most 20 characters: a ticker can never name a path outside the store.
_TICKER = re.compile(r"[A-Z0-9^][A-Z0-9.^=\-]{0,19}")


def normalize_ticker(ticker: str) -> str:
    """The canonical (upper-case) symbol, or UsageError if `ticker` is not a plausible symbol."""
    symbol = ticker.strip().upper()
    if not _TICKER.fullmatch(symbol) or ".." in symbol:
        shown = ticker if len(ticker) <= 30 else ticker[:27] + "..."
        raise UsageError(
            f"invalid ticker symbol {shown!r}: use 1-20 letters, digits and . - ^ = (e.g. MSFT, ^GSPC, BRK-B)"
        )
    return symbol


def resolve_home(home: Path | str | None = None) -> Path:
    """The home directory: `home`, else $FORECAST_HOME, else the current directory. Created if missing."""
    if home is None:
        home = os.environ.get(HOME_ENV) or os.getcwd()
    path = Path(home).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"home {path} is not a directory (set by --home or ${HOME_ENV})")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create home {path}: {error.strerror}") from None
    return path


class Store:
    """The files under one home directory."""

    def __init__(self, home: Path | str | None = None):
        self.home = resolve_home(home)
        self.data_dir = self.home / "data"
        self.models_dir = self.home / "models"
        self.locks_dir = self.home / ".locks"
        self.cache_dir = self.home / ".cache"

    # ----------------------------------------------------------------------------------------------------- paths
    def bars_path(self, ticker: str) -> Path:
        return self.data_dir / f"{normalize_ticker(ticker)}.csv"

    def fetch_info_path(self, ticker: str) -> Path:
        return self.data_dir / f"{normalize_ticker(ticker)}.json"

    def model_dir(self, ticker: str) -> Path:
        return self.models_dir / normalize_ticker(ticker)

    @property
    def predictions_path(self) -> Path:
        return self.data_dir / PREDICTIONS_FILE

    # ----------------------------------------------------------------------------------------------------- locks
    @contextlib.contextmanager
    def lock(self, name: str, timeout: float | None = None) -> Iterator[None]:
        """Hold the named inter-process lock (a ticker symbol, or 'predictions').

        Raises LockTimeout after `timeout` seconds (default $FORECAST_LOCK_TIMEOUT or 120).
        """
        from filelock import FileLock, Timeout

        if timeout is None:
            timeout = float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT))
        _make_dir(self.locks_dir)
        lock = FileLock(self.locks_dir / f"{name}.lock")
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise LockTimeout(
                f"{name} is locked by another forecast process (waited {timeout:g} s); try again later"
            ) from None
        except OSError as error:
            raise UsageError(f"cannot create a lock file in {self.locks_dir}: {error.strerror or error}") from None
        try:
            yield
        finally:
            lock.release()

    # ------------------------------------------------------------------------------------------------------ bars
    def tickers(self) -> list[str]:
        """Stored tickers, sorted."""
        if not self.data_dir.is_dir():
            return []
        found = []
        for path in self.data_dir.glob("*.csv"):
            if path.name == PREDICTIONS_FILE:
                continue
            try:
                found.append(normalize_ticker(path.stem))
            except UsageError:
                continue
        return sorted(found)

    def has_bars(self, ticker: str) -> bool:
        return self.bars_path(ticker).is_file()

    def read_bars(self, ticker: str) -> Bars:
        """The stored bars of `ticker`; DataUnavailable if none, CorruptFile if the file is damaged."""
        path = self.bars_path(ticker)
        if not path.is_file():
            raise DataUnavailable(
                f"no data for {normalize_ticker(ticker)} in {self.data_dir}; run 'forecast fetch {ticker}' first"
            )
        return self._read_bars_file(path, ticker)

    def read_bars_or_empty(self, ticker: str) -> Bars:
        path = self.bars_path(ticker)
        return self._read_bars_file(path, ticker) if path.is_file() else Bars.empty()

    def _read_bars_file(self, path: Path, ticker: str) -> Bars:
        try:
            return read_csv(path)
        except InvalidBars as error:
            raise CorruptFile(
                f"{error.message} — fix or delete the file, then run 'forecast fetch {ticker}'"
            ) from None

    def write_bars(self, ticker: str, bars: Bars) -> None:
        """Replace the stored bars of `ticker` atomically (call with the ticker's lock held)."""
        atomic_write_text(self.bars_path(ticker), format_csv(bars))

    def record_fetch(self, ticker: str, source: str) -> None:
        """Note when and from where `ticker` was last fetched (call with the ticker's lock held)."""
        info = {"fetched_at": utc_now(), "source": source}
        atomic_write_text(self.fetch_info_path(ticker), json.dumps(info, indent=2) + "\n")

    def fetch_info(self, ticker: str) -> dict:
        """{'fetched_at', 'source'} of the last write, or {} when unknown or unreadable."""
        try:
            info = json.loads(self.fetch_info_path(ticker).read_text())
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create {path}: {error.strerror}") from None


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old or the new content, never a mix or a prefix.

    Stale temporary files of `path` left by a killed writer are removed first; callers hold the lock that guards
    `path`, so no live writer owns them.
    """
    path = Path(path)
    _make_dir(path.parent)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()
    try:
        descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise UsageError(f"cannot write in {path.parent}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(error, OSError):
            raise UsageError(f"cannot write {path}: {error.strerror or error}") from None
        raise
    _fsync_directory(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_directory(path: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
