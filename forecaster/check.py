"""`forecast check`: whether a home is healthy before the night's run, every problem named with its file and its fix.

Read-only: it reads every price file and its data/TICKER.json, every model (the pool, the tickers' own, the shipped
vintages), the prediction log and forecast.toml, through the readers every command uses (Store.read_bars,
Store.fetch_info, Model.load and Vintage.load with guards.check_meta, read_predictions, load_config), so a file is
a problem here exactly when a command would refuse it. It takes no lock and writes nothing of the store (the cache of
parsed price files under .cache/ may be filled, as by any read). A folder that is no home at all (none there, or
nothing of forecast's in it: a mistyped --home or $FORECAST_HOME) is an error, Store.require_home, not a healthy
home. Each problem is one `Problem`:

- a file that cannot be read or is damaged (a price file, data/TICKER.json, a model, a vintage, the log,
  forecast.toml), a data/TICKER.json that is missing (where the data came from is unknown), and a price file that
  changed since it was stored (Store.changed_since_written: cut back or edited by hand), each with the repair its
  source gives (fetch_jobs.update_advice: a sample file is restored by 'fetch --sample');
- a ticker whose data changed since its model was calibrated (guards.changed_training_data, the rule `predict`
  refuses such a model by), or whose data is another series than the one it was calibrated on, with the same dates
  (guards.other_training_series: check only, it hashes the history), and a model section of a ticker with no data
  (a pool from another home);
- a stored ticker that no model serves and that no shipped network can serve either (too short, no real OHLC, too
  still for any model: the rule is `predict`'s own, pipeline.unservable), and a watchlist ticker with no data;
- data older than `predict`'s staleness rule (pipeline.STALE_AFTER_DAYS);
- weights files no meta.json names, and temporary files a killed write left (`.NAME.xxxx.tmp`) older than
  STALE_TEMP_SECONDS (a younger one may be a write under way).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from forecaster.data.store import Store, normalize_ticker, stored_entries
from forecaster.errors import CorruptFile, ForecastError, ModelMissing, UsageError

COLUMNS = ["path", "ticker", "problem", "fix"]
STALE_TEMP_SECONDS = 3600  # a temporary file older than this is no write under way (writes take seconds)


@dataclass(frozen=True)
class Problem:
    path: str  # the file, relative to the home when it is inside it
    ticker: str | None  # the ticker it concerns, if one
    problem: str  # what is wrong
    fix: str  # what to run or do about it

    def row(self) -> dict:
        return asdict(self)


class _Found:
    def __init__(self, store: Store):
        self.store = store
        self.problems: list[Problem] = []

    def add(self, path: Path, ticker: str | None, problem: str, fix: str) -> None:
        self.problems.append(Problem(self.shown(path), ticker, problem, fix))

    def shown(self, path: Path) -> str:
        try:
            return str(Path(path).relative_to(self.store.home))
        except ValueError:
            return str(path)


def check_home(store: Store, today: dt.date | None = None) -> list[Problem]:
    """Every problem of the home `store` (see the module docstring), in the order: settings, data, models, vintages,
    the log, leftover files; [] when it is healthy. DataUnavailable when `store` is no home at all
    (Store.require_home: a mistyped --home or $FORECAST_HOME)."""
    store.require_home()
    found = _Found(store)
    watchlist = _settings(found)
    bars = _data(found, today or dt.date.today())
    for ticker in watchlist:
        if ticker not in bars and not store.has_bars(ticker):
            found.add(store.config_path, ticker, f"{ticker} is on the watchlist, but no data is stored for it",
                      f"run 'forecast fetch {ticker}' (or import its file), or take it off the watchlist")
    named = _models(found, bars)
    _unserved(found, bars)
    _vintages(found)
    _log(found)
    _leftovers(found, named)
    return found.problems


# ------------------------------------------------------------------------------------------------ the parts
def _settings(found: _Found) -> list[str]:
    """forecast.toml's watchlist, its problem added when it cannot be read."""
    from forecaster.config import load_config

    try:
        return load_config(found.store.home).tickers
    except UsageError as error:
        found.add(found.store.config_path, None, error.message,
                  "fix the line named (see docs/configuration.md), or move the file away")
        return []


def _data(found: _Found, today: dt.date) -> dict:
    """Ticker -> its bars, for each stored ticker whose price file is sound; each price file's and each
    data/TICKER.json's problems added, and data older than predict's staleness rule."""
    from forecaster.data.fetch_jobs import update_advice
    from forecaster.pipeline import STALE_AFTER_DAYS

    store, readable = found.store, {}
    for ticker in store.tickers():
        advice = update_advice(store, ticker)
        sidecar = store.fetch_info_path(ticker)
        try:
            readable[ticker] = bars = store.read_bars(ticker)
        except ForecastError as error:
            found.add(store.bars_path(ticker), ticker, error.message, advice.repair)
        else:
            if advice.damaged is None and store.changed_since_written(ticker):
                found.add(store.bars_path(ticker), ticker, f"{found.shown(store.bars_path(ticker))} changed since it "
                          f"was stored (cut back or edited?): its SHA-256 is not the one {found.shown(sidecar)} "
                          f"records; it holds {len(bars)} rows, {bars.first_date} to {bars.last_date}", advice.repair)
            age = (today - dt.date.fromisoformat(bars.last_date)).days
            if age > STALE_AFTER_DAYS:
                found.add(store.bars_path(ticker), ticker, f"{advice.data} ends {bars.last_date}, {age} days ago "
                          f"(more than {STALE_AFTER_DAYS})", advice.one)
        repair = (f"run 'forecast fetch {ticker} --csv FILE' with the file it came from, or 'forecast fetch {ticker}' "
                  "if it came from Yahoo")
        if advice.damaged is not None:
            found.add(sidecar, ticker, advice.damaged.message, repair)
        elif not os.path.lexists(sidecar):
            found.add(sidecar, ticker, f"{found.shown(sidecar)} is missing: where {ticker}'s data came from is "
                      "unknown (it counts as Yahoo's)", repair)
    return readable


def _models(found: _Found, bars: dict) -> dict[Path, str | None]:
    """Check every model under models/: model folder -> the weights file its meta.json names (None: it cannot be
    read, so no weights file there is known to be an orphan)."""
    from forecaster.model.serving import NO_DATA_FIX, POOL, Model, recalibrate_advice, served_without_data

    store, named = found.store, {}
    try:
        folders = [path for path in stored_entries(store.models_dir) if path.is_dir()]
    except CorruptFile as error:
        found.add(store.models_dir, None, error.message, "give the user running forecast read and search permission")
        return named
    for folder in folders:
        name = folder.name
        if name != POOL:
            try:
                name = normalize_ticker(name)
            except UsageError:
                continue  # not a model folder of forecast's
        retrain = "run 'forecast train' to retrain it" if name == POOL else f"run 'forecast train {name}' to retrain it"
        try:
            model = Model.load(store, name)
        except ModelMissing:
            named[folder] = ""
            continue
        except ForecastError as error:
            found.add(folder / "meta.json", None if name == POOL else name, error.message, retrain)
            named[folder] = None
            continue
        named[folder] = model.meta["weights_file"]
        for ticker in model.tickers:
            if ticker not in bars:
                if not store.has_bars(ticker):
                    found.add(folder / "meta.json", ticker, served_without_data(store, ticker, model),
                              NO_DATA_FIX.format(ticker=ticker))
                continue
            try:
                model.check_data(ticker, bars[ticker])
                model.check_series(ticker, bars[ticker], _history_replaced_at(store, ticker))
            except ForecastError as error:
                found.add(folder / "meta.json", ticker, error.message,
                          recalibrate_advice(ticker, len(bars[ticker]), model.window))
    return named


def _history_replaced_at(store: Store, ticker: str) -> str | None:
    """When the ticker's stored history was last replaced by another series (None: unknown; a damaged
    data/TICKER.json is a problem of its own)."""
    try:
        return store.history_replaced_at(ticker)
    except CorruptFile:
        return None


def _unserved(found: _Found, bars: dict) -> None:
    """Stored tickers that no model of the home serves and no shipped network can serve either."""
    from forecaster.model.serving import model_kinds
    from forecaster.pipeline import unservable

    served = model_kinds(found.store)
    for ticker, error in unservable(found.store, [t for t in bars if t not in served]).items():
        found.add(found.store.bars_path(ticker), ticker, error.message, _serve_advice(ticker, error))


def _serve_advice(ticker: str, error: ForecastError) -> str:
    from forecaster.model.guards import TooStill

    if isinstance(error, TooStill):  # no model can be made of its data: training again is no fix
        return error.fix
    if "--model per-ticker" in error.message:
        return f"run 'forecast train {ticker} --model per-ticker'"
    if "history" in error.message:
        return f"fetch or import more history of {ticker} (the problem says how much)"
    return f"run 'forecast train {ticker}'"


def _vintages(found: _Found) -> None:
    from forecaster.model.vintages import repair_advice, vintages

    for vintage in vintages():
        try:
            vintage.load()
        except ForecastError as error:
            found.add(vintage.directory / "meta.json", None, error.message, repair_advice())


def _log(found: _Found) -> None:
    from forecaster.data.prediction_log import read_predictions

    try:
        read_predictions(found.store)
    except ForecastError as error:
        found.add(found.store.predictions_path, None, error.message,
                  "fix or delete the row named, or move the log away (forecast then starts a new one)")


def _leftovers(found: _Found, named: dict[Path, str | None]) -> None:
    """Weights files no model uses, and temporary files of writes that were killed."""
    store = found.store
    for folder, weights in named.items():
        if weights is None:
            continue
        for path in sorted(folder.glob("weights-*.npz")):
            if path.name != weights:
                what = "no meta.json names it" if weights else "its folder has no meta.json"
                found.add(path, None, f"an orphaned weights file: {what}",
                          "delete it (no model uses it; the next save of this model removes it too)")
    now = time.time()
    for folder in [store.home, store.data_dir, store.models_dir, *named]:
        for path in sorted(Path(folder).glob(".*.*.tmp")):
            try:
                age = now - path.lstat().st_mtime
            except OSError:
                continue
            if age > STALE_TEMP_SECONDS:
                found.add(path, None, f"a temporary file left by a write that was killed {age / 3600:.0f} hours ago",
                          "delete it (the next write in its folder removes it too)")
