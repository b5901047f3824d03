"""Where everything lives, and how it is written safely.

One home directory holds it all: `--home DIR`, else `$FORECAST_HOME`, else the current directory (created by the
first write, never by a command that only reads)::

    HOME/forecast.toml          the watchlist and option defaults (see forecaster.config), written by the user
    HOME/data/TICKER.csv        daily bars (see forecaster.data.bars for the format)
    HOME/data/TICKER.json       when and from where the bars were last fetched
    HOME/data/predictions.csv   every forecast ever made (the track record)
    HOME/models/TICKER/         a trained model: weights.npz + meta.json
    HOME/.locks/                lock files (one per ticker, one for the predictions log)
    HOME/.cache/yfinance/       yfinance's own caches
    HOME/.cache/bars/           the parsed price files, by their content (forecaster.data.bars_cache)

Every write goes to a temporary file in the target's directory, is flushed and fsynced, then atomically renamed over
the target, so a reader sees either the old file or the new one and a kill never leaves a half-written file. Writers
of one ticker serialise on that ticker's lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from forecaster.data import bars_cache
from forecaster.data.bars import Bars, InvalidBars, format_csv, parse_csv
from forecaster.data.files import NotAFile, check_output_file, expand_user, read_regular
from forecaster.errors import CorruptFile, DataUnavailable, LockTimeout, UsageError, WriteFailed

HOME_ENV = "FORECAST_HOME"
LOCK_TIMEOUT_ENV = "FORECAST_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 120.0
PREDICTIONS_FILE = "predictions.csv"
CONFIG_FILE = "forecast.toml"

# Letters, digits and the punctuation Yahoo symbols use (^GSPC, BRK-B, EURUSD=X, 0700.HK); no path separators, no
# leading dot, at most 20 characters: a ticker can never name a path outside the store. The punctuation joins parts
# or marks an index: no symbol ends with it (a file name such as btu_.us.txt gives none).
_TICKER = re.compile(r"[A-Z0-9^][A-Z0-9.^=\-]{0,19}")


def normalize_ticker(ticker: str) -> str:
    """The canonical (upper-case) symbol, or UsageError if `ticker` is not a plausible symbol."""
    symbol = ticker.strip().upper()
    shown = ticker if len(ticker) <= 30 else ticker[:27] + "..."
    if not _TICKER.fullmatch(symbol) or ".." in symbol:
        raise UsageError(
            f"invalid ticker symbol {shown!r}: use 1-20 letters, digits and . - ^ = (e.g. MSFT, ^GSPC, BRK-B)"
        )
    if len(symbol) > 1 and not symbol[-1].isalnum():
        raise UsageError(f"invalid ticker symbol {shown!r}: a symbol ends with a letter or digit, not "
                         f"{symbol[-1]!r} (e.g. BRK-B, 0700.HK)")
    return symbol


def resolve_home(home: Path | str | None = None) -> Path:
    """The home directory, absolute: `home`, else $FORECAST_HOME, else the current directory. Not created here: the
    first write creates it (every write makes its folders), so a command that only reads (list, config, check) never
    leaves an empty folder behind a mistyped --home or $FORECAST_HOME.

    Absolute, because the path also goes to processes that do not share our working directory (Dask workers)."""
    if home is None:
        home = os.environ.get(HOME_ENV) or os.getcwd()
    path = Path(os.path.abspath(expand_user(home)))
    if path.exists() and not path.is_dir():
        raise UsageError(f"home {path} is not a directory (set by --home or ${HOME_ENV})")
    return path


class Store:
    """The files under one home directory."""

    def __init__(self, home: Path | str | None = None):
        self.home = resolve_home(home)
        self.data_dir = self.home / "data"
        self.models_dir = self.home / "models"
        self.locks_dir = self.home / ".locks"
        self.cache_dir = self.home / ".cache"
        self.bars_cache_dir = self.cache_dir / "bars"
        self.config_path = self.home / CONFIG_FILE

    def require_home(self) -> None:
        """DataUnavailable (exit 3) unless the home is one: a folder holding data/, models/ or forecast.toml. A
        mistyped --home or $FORECAST_HOME names no such folder, or one that holds nothing of forecast's; `check`
        must not call it healthy."""
        where = f"check --home or ${HOME_ENV}"
        if not stored_exists(self.home):
            raise DataUnavailable(f"no forecaster home at {self.home}: no such folder ({where})")
        if not any(stored_exists(path) for path in (self.data_dir, self.models_dir, self.config_path)):
            raise DataUnavailable(f"no forecaster home at {self.home}: it holds no data/, models/ or {CONFIG_FILE} "
                                  f"({where}, or run 'forecast fetch TICKER' to start one there)")

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
            timeout = lock_timeout()
        _make_dir(self.locks_dir)
        lock = FileLock(self.locks_dir / f"{name}.lock")
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise LockTimeout(
                f"{name} is locked by another forecast process (waited {timeout:g} s); try again later"
            ) from None
        except OSError as error:
            raise WriteFailed(f"cannot create a lock file in {self.locks_dir}: {error.strerror or error}") from None
        try:
            yield
        finally:
            lock.release()

    # ------------------------------------------------------------------------------------------------------ bars
    def tickers(self) -> list[str]:
        """Stored tickers, sorted, each once (a hand-made data/ibm.csv beside IBM.csv is still one ticker)."""
        if not self.data_dir.is_dir():
            return []
        found = set()
        for path in self.data_dir.glob("*.csv"):
            if path.name == PREDICTIONS_FILE:
                continue
            try:
                found.add(normalize_ticker(path.stem))
            except UsageError:
                continue
        return sorted(found)

    # ---------------------------------------------------------------------------------------------- outputs
    def check_output(self, path: Path) -> Path:
        """`path` resolved, for a file the user asked us to write (a plot, a page, evaluation rows); UsageError when
        it lies inside the store's own folders (data/, models/, .locks/, .cache/), which only forecast itself
        writes, exists and is not a regular file (a directory, a FIFO, a device), or goes into a folder that does
        not exist, which is not created (see forecaster.data.files)."""
        resolved = expand_user(path).resolve()
        if resolved == self.config_path.resolve():
            raise UsageError(f"{path} is the home's settings file; write the output somewhere else")
        for folder in (self.data_dir, self.models_dir, self.locks_dir, self.cache_dir):
            if resolved == folder.resolve() or folder.resolve() in resolved.parents:
                raise UsageError(f"{path} is inside the store's {folder.name}/ folder, which forecast manages; "
                                 "write the output somewhere else")
        check_output_file(path)
        return resolved

    def has_bars(self, ticker: str) -> bool:
        """True when the ticker's data file exists, readable or not (a directory in its place is a damaged file)."""
        return os.path.lexists(self.bars_path(ticker))

    def read_bars(self, ticker: str) -> Bars:
        """The stored bars of `ticker`; DataUnavailable if none, CorruptFile if the file is damaged (or is not a
        file: a directory, a FIFO)."""
        try:
            return self._read_bars_file(self.bars_path(ticker), ticker)
        except FileNotFoundError:
            raise DataUnavailable(
                f"no data for {normalize_ticker(ticker)} in {self.data_dir}; run 'forecast fetch {ticker}' first"
            ) from None

    def read_bars_or_empty(self, ticker: str) -> Bars:
        try:
            return self._read_bars_file(self.bars_path(ticker), ticker)
        except FileNotFoundError:
            return Bars.empty()

    def _read_bars_file(self, path: Path, ticker: str) -> Bars:
        """The bars in `path`, from the cache of parsed files when it holds these bytes (forecaster.data.bars_cache)."""
        repair = replace_advice(ticker)
        data = read_stored_bytes(path, repair)
        ticker, content_digest = normalize_ticker(ticker), bars_cache.digest(data)
        bars = bars_cache.load(self.bars_cache_dir, ticker, content_digest)
        if bars is None:
            try:
                bars = parse_csv(decode_stored_text(data, path, repair), str(path))
            except InvalidBars as error:
                raise CorruptFile(f"{error.message}; {repair}") from None
            bars_cache.save(self.bars_cache_dir, ticker, content_digest, bars)
        # no market anywhere is past tomorrow (UTC): a later bar was written by hand or by a wrong clock
        if len(bars) and str(bars.dates[-1]) > (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat():
            raise CorruptFile(f"{path}: its last row is dated {bars.dates[-1]}, in the future; {repair}")
        return bars

    def set_aside(self, path: Path) -> Path:
        """Rename a damaged stored file to PATH.damaged (replacing an older one), so that it is kept but no longer
        read; returns the new name."""
        aside = path.with_name(path.name + ".damaged")
        try:
            os.replace(path, aside)
        except OSError as error:
            raise CorruptFile(f"cannot move the damaged {path} aside: {error.strerror}") from None
        return aside

    def write_bars(self, ticker: str, bars: Bars, source: str | None = None, path: str | None = None,
                   new_history: bool = False) -> None:
        """Replace the stored bars of `ticker` atomically (call with the ticker's lock held); with `source`, and
        data/TICKER.json with them, as one unit: data/TICKER.json is written first, naming the SHA-256 of the new
        bars and, when the source changes, the source and SHA-256 of the bars they replace; `fetch_info` then goes
        by the data file's content, so a kill between the two writes leaves the old bars with their own source.
        `new_history`: the bars are another series than the stored ones, not an extension, revision or
        re-adjustment of them (--replace over updates.history_conflict); data/TICKER.json records when
        (`history_replaced_at`), and keeps it through later writes."""
        data = format_csv(bars).encode("utf-8")
        if source is not None:
            self._write_fetch_info(ticker, source, hashlib.sha256(data).hexdigest(), path, new_history=new_history)
        atomic_write_bytes(self.bars_path(ticker), data)
        bars_cache.save(self.bars_cache_dir, normalize_ticker(ticker), bars_cache.digest(data), bars)

    def record_fetch(self, ticker: str, source: str, path: str | None = None) -> None:
        """Note when and from where `ticker` was last fetched, its bars unchanged (call with the ticker's lock
        held), with the SHA-256 of its data file as this fetch found it in agreement with its source."""
        self._write_fetch_info(ticker, source, self._bars_digest(ticker), path, replacing=False)

    def _write_fetch_info(self, ticker: str, source: str, digest: str | None, path: str | None = None,
                          replacing: bool = True, new_history: bool = False) -> None:
        """`digest`: the SHA-256 of the data file described (None: it cannot be read); `path`: the file imported (its
        absolute path), which advice to re-import it names; `replacing`: a data file of `digest` is about to replace
        the stored one (`write_bars`), whose source is kept under "replaces" when it changes; `new_history`: see
        `write_bars`."""
        symbol = normalize_ticker(ticker)
        try:
            before = {key: value for key, value in self._fetch_record(symbol).items() if key != "replaces"}
        except CorruptFile:
            before = {}
        info: dict = {"fetched_at": utc_now(), "source": source, **({"path": path} if path else {})}
        if digest is not None:
            info["sha256"] = digest
        replaced_at = info["fetched_at"] if new_history else before.get("history_replaced_at")
        if replaced_at is not None:
            info["history_replaced_at"] = replaced_at
        if digest is not None and replacing:
            stored = self._bars_digest(symbol)
            if stored not in (None, digest) and before.get("source") != source:
                info["replaces"] = {**before, "sha256": stored}
        atomic_write_text(self.fetch_info_path(ticker), json.dumps(info, indent=2) + "\n")

    def _bars_digest(self, ticker: str) -> str | None:
        """The SHA-256 of the stored data file, or None when there is none or it cannot be read."""
        try:
            return hashlib.sha256(read_regular(self.bars_path(ticker))).hexdigest()
        except (OSError, NotAFile):
            return None

    def fetch_info(self, ticker: str) -> dict:
        """{'fetched_at', 'source'} of the stored bars, and 'path' of a file imported (see `check_fetch_info`), or {}
        when there is none (a home from before sources were recorded, a file put in data/ by hand); CorruptFile
        naming the file when it cannot be read or holds anything else, for the caller to decide whether the ticker
        fails or falls back. When the last write changed the source and the data file is still the one it replaces
        (a kill came between the two writes: see `write_bars`), the source of that data."""
        info = self._fetch_record(normalize_ticker(ticker))
        return {key: info[key] for key in ("fetched_at", "source", "path") if key in info}

    def changed_since_written(self, ticker: str) -> bool:
        """True when the data file is not the one the last fetch or import stored or checked: its SHA-256 is not the
        one data/TICKER.json records (it was cut back or edited since). False when it is, or when there is nothing
        to compare: no SHA-256 recorded (a home from before they were, a file put in data/ by hand) or no data file
        that reads. CorruptFile when data/TICKER.json is damaged."""
        symbol = normalize_ticker(ticker)
        recorded, digest = self._fetch_record(symbol).get("sha256"), self._bars_digest(symbol)
        return None not in (recorded, digest) and digest != recorded

    def history_replaced_at(self, ticker: str) -> str | None:
        """When the stored series last replaced another (see `write_bars`), or None: never since it was first
        stored (or since data/TICKER.json recorded it). CorruptFile when data/TICKER.json is damaged."""
        return self._fetch_record(normalize_ticker(ticker)).get("history_replaced_at")

    def _fetch_record(self, symbol: str) -> dict:
        """data/TICKER.json, checked (`check_fetch_info`), as it describes the data file (see `fetch_info`); {} when
        there is none."""
        path = self.fetch_info_path(symbol)
        repair = (f"re-import the file it came from with 'forecast fetch {symbol} --csv FILE', or run 'forecast fetch "
                  f"{symbol}' if it came from Yahoo, to rewrite it")
        try:
            text = read_stored_text(path, repair)
        except FileNotFoundError:
            return {}
        try:
            info = json.loads(text)
        except ValueError as error:
            raise CorruptFile(f"{path} is damaged: not JSON ({error.msg}, line {error.lineno}); {repair}") from None
        problem = check_fetch_info(info)
        if problem is not None:
            raise CorruptFile(f"{path} is damaged: {problem}; {repair}")
        replaced = info.get("replaces")
        if replaced is not None and self._bars_digest(symbol) == replaced["sha256"] != info.get("sha256"):
            return replaced
        return info

    def has_fetch_info(self, ticker: str) -> bool:
        """True when data/TICKER.json exists and is sound: a write of the ticker's data rewrites it otherwise."""
        try:
            return bool(self.fetch_info(ticker))
        except CorruptFile:
            return False

    def remove_own_model(self, ticker: str) -> Path | None:
        """Delete the ticker's own model (models/TICKER/) under its model lock, meta.json first, so that a reader
        never finds metadata naming deleted weights; the folder removed, or None when there was none."""
        ticker = normalize_ticker(ticker)
        folder = self.model_dir(ticker)
        with self.lock(f"{ticker}.model"):
            if not folder.exists():
                return None
            (folder / "meta.json").unlink(missing_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
        return folder

    def remove(self, ticker: str, first=None, holding: str | None = None) -> list[Path]:
        """Delete the ticker's data, fetch information, a damaged data file kept aside and its model, under the
        ticker's locks (a concurrent fetch or train finishes first, or waits and then finds nothing), and then the
        lock `holding` if given (the pool's: a retrain saving meanwhile sees the ticker in the pool with its data, or
        in neither); `first()`, run under those locks before anything is deleted, may take the ticker out of what
        else holds it (the pool). The model's meta.json goes first, so that a reader never finds metadata naming
        deleted weights. The prediction log keeps its rows: it is the record of what was forecast. Returns the paths
        removed (empty: nothing was stored)."""
        ticker = normalize_ticker(ticker)
        removed = []
        with self.lock(ticker), self.lock(f"{ticker}.model"), \
                (self.lock(holding) if holding else contextlib.nullcontext()):
            if first is not None:
                first()
            model = self.model_dir(ticker)
            data = self.bars_path(ticker)
            paths = [model / "meta.json", *stored_entries(model), model, data, data.with_name(data.name + ".damaged"),
                     self.fetch_info_path(ticker)]
            for path in dict.fromkeys(paths):
                if not os.path.lexists(path):
                    continue
                try:
                    if path == model and path.is_dir() and not path.is_symlink():
                        path.rmdir()  # emptied above
                    elif path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)  # a damaged file that is a folder
                    else:
                        path.unlink()
                except OSError as error:
                    raise UsageError(f"{ticker}: cannot remove {path}: {error.strerror or error}") from None
                removed.append(path)
            bars_cache.forget(self.bars_cache_dir, ticker)
        return removed


def replace_advice(ticker: str) -> str:
    """How to replace a ticker's damaged data file when where it came from is not known here."""
    return f"run 'forecast fetch {ticker}' (or 'forecast fetch {ticker} --csv FILE') to replace it"


FETCH_SOURCES = ("yahoo", "sample")  # with "csv:FILE NAME": the sources data/TICKER.json may name


def check_fetch_info(info, replaced: bool = False) -> str | None:
    """What is wrong with the content of a data/TICKER.json, or None: a JSON object whose `source`, if there, is
    "yahoo", "sample" or "csv:FILE NAME", whose `path` (of the file imported), if there, is a string, whose
    `fetched_at` and `history_replaced_at`, if there, are ISO dates and times, whose `sha256`, if
    there (required in `replaces`), is a SHA-256 in hex, and whose `replaces`, if there, is such an object too (the
    source of the data the last write replaced: see Store.write_bars). Other keys are ignored."""
    where, whose = ("its replaces", "in replaces, its ") if replaced else ("it", "its ")
    if not isinstance(info, dict):
        return f"{where} holds {_json_kind(info)}, not an object"
    source = info.get("source", "yahoo")
    if not (isinstance(source, str) and (source in FETCH_SOURCES or (source.startswith("csv:") and source[4:]))):
        return f"{whose}source is {json.dumps(source)[:40]}, not \"yahoo\", \"sample\" or \"csv:FILE NAME\""
    for key in ("fetched_at", "history_replaced_at"):
        when = info.get(key, "2000-01-01T00:00:00")
        try:
            datetime.fromisoformat(when)
        except (TypeError, ValueError):
            return f"{whose}{key} is {json.dumps(when)[:40]}, not a date and time"
    path = info.get("path", "file")
    if not (isinstance(path, str) and path):
        return f"{whose}path is {json.dumps(path)[:40]}, not the path of a file"
    digest = info.get("sha256", "0" * 64 if not replaced else None)
    if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
        return f"{whose}sha256 is {json.dumps(digest)[:40]}, not a SHA-256 in hex"
    if "replaces" in info and not replaced:
        return check_fetch_info(info["replaces"], replaced=True)
    return None


def _json_kind(value) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}.get(
        type(value), "null")


def lock_timeout() -> float:
    """Seconds to wait for a lock: $FORECAST_LOCK_TIMEOUT, else DEFAULT_LOCK_TIMEOUT."""
    value = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not value:
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise UsageError(f"${LOCK_TIMEOUT_ENV} must be a number of seconds (0 or more), got {value!r}")
    return seconds


def read_stored_bytes(path: Path, advice: str) -> bytes:
    """The bytes of a file forecast wrote; CorruptFile naming the file, the reason and `advice` when it cannot be
    read (FileNotFoundError passes through: callers decide what a missing file means)."""
    try:
        return read_regular(path)
    except FileNotFoundError:
        raise
    except NotAFile as error:
        reason = f"is {error.kind}, not a file"
    except PermissionError:
        if (folder := _unsearchable_folder(path)) is not None:
            raise CorruptFile(_folder_denied(folder)) from None
        reason = "cannot be read (permission denied)"
    except OSError as error:
        reason = f"cannot be read ({error.strerror or error})"
    raise CorruptFile(f"{path} {reason}; {advice}")


def stored_exists(path: Path) -> bool:
    """Whether anything is at `path` in the store, readable or not (as os.path.lexists: a directory, a FIFO or a
    dangling symlink in a file's place counts, and reading it says what is wrong). CorruptFile naming the folder
    when a folder on the way cannot be searched (no permission): the path is not absent, and Path.exists would
    raise PermissionError."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except PermissionError:
        raise CorruptFile(_folder_denied(_unsearchable_folder(path) or Path(path).parent)) from None
    except OSError as error:
        raise CorruptFile(f"{path} cannot be read ({error.strerror or error})") from None
    return True


def stored_entries(folder: Path) -> list[Path]:
    """The entries of a folder of the store, sorted ([] when it does not exist); CorruptFile naming it when it
    cannot be listed (no permission)."""
    try:
        return sorted(Path(folder).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    except PermissionError:
        raise CorruptFile(_folder_denied(_unsearchable_folder(folder) or Path(folder))) from None
    except OSError as error:
        raise CorruptFile(f"{folder} cannot be read ({error.strerror or error})") from None


def _folder_denied(folder: Path) -> str:
    return (f"the folder {folder} cannot be read (permission denied); the user running forecast needs read and "
            "search permission on it")


def _unsearchable_folder(path: Path) -> Path | None:
    """The folder on the way to `path` that denies looking into it (the first from the root), or None when each
    folder on the way lets us through (then `path` itself is what cannot be read)."""
    path = Path(os.path.abspath(path))
    for step in [*reversed(path.parents), path][1:]:
        try:
            os.lstat(step)
        except PermissionError:
            return step.parent
        except OSError:
            return None
    return None


def read_stored_text(path: Path, advice: str) -> str:
    """`read_stored_bytes` decoded as UTF-8 (a leading BOM is dropped); CorruptFile when it is not UTF-8 text."""
    return decode_stored_text(read_stored_bytes(path, advice), path, advice)


def decode_stored_text(data: bytes, path: Path, advice: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CorruptFile(f"{path} is damaged: not UTF-8 text (byte {error.start}); {advice}") from None


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _make_dir(path: Path) -> None:
    """Create the folder `path` of the store if it is missing: UsageError when a file is in its way (a home laid out
    wrong), WriteFailed when it cannot be written (a read-only or full file system, no permission)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise UsageError(f"cannot create {path}: {error.strerror}") from None
    except OSError as error:
        raise WriteFailed(f"cannot create {path}: {error.strerror}") from None


_WORKING_FOR: int | None = None  # in a worker process: the pid of the run it works for (see `work_for`)


def work_for(parent_pid: int) -> None:
    """Declare this process a worker of the run `parent_pid`: from now on, a write finds that run gone (killed,
    even by SIGKILL) and ends this process instead of replacing any file, so no worker outlives its run's
    decisions (forecaster.parallel calls it in every local worker process)."""
    global _WORKING_FOR
    _WORKING_FOR = parent_pid


def _orphaned() -> bool:
    """True in a worker whose run has died: it has been handed to another parent (init or a subreaper)."""
    return _WORKING_FOR is not None and os.getppid() != _WORKING_FOR


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old or the new content, never a mix or a prefix; WriteFailed
    (the old content intact) when it cannot be written.

    Stale temporary files of `path` left by a killed writer are removed first; callers hold the lock that guards
    `path`, so no live writer owns them. A worker whose run has died (see `work_for`) exits instead of replacing
    the file.
    """
    path = Path(path)
    _make_dir(path.parent)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()
    try:
        descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise WriteFailed(f"cannot write in {path.parent}: {error.strerror}") from None
    try:
        os.chmod(temp_name, _mode_for(path))
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if _orphaned():
            os.unlink(temp_name)
            os._exit(1)  # nobody is left to report to, and nothing may change after the run's death
        os.replace(temp_name, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(error, OSError):
            raise WriteFailed(f"cannot write {path}: {error.strerror or error}") from None
        raise
    _fsync_directory(path.parent)


def _mode_for(path: Path) -> int:
    """The permission bits a rewritten `path` should have: those of the file it replaces, else what the umask
    gives a new file (mkstemp's 0600 would silently take a shared home's or a web-served plot's permissions away)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_directory(path: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
