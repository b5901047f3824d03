"""The product's jobs: train the models of a watchlist, forecast the next sessions, evaluate walk-forward.

The CLI calls these and presents their results; they raise ForecastError subclasses for anything a user can fix, and
report per-ticker failures as (ticker, error) pairs so that one ticker never stops the others.

Training (`train_models`), as [train] model says:
- `pooled` (the default): one network on the windows of every ticker, saved as models/_pool/. Given no tickers it
  (re)trains the pool on the watchlist and every stored ticker; given tickers while a pool exists, it calibrates them
  against that pool (forecaster.model.training.add_ticker: seconds, no retraining), newcomers and members alike. Tickers
  whose data has no real OHLC (under `auto` features) cannot share the pool's range inputs and get models of their
  own, with a note. Pooled training removes its members' own models, so that each ticker is served by one model.
- `per-ticker`: a model of its own for each ticker (a pool of one), side by side in worker processes (`run_jobs`).

Imports stay light here: `predict` runs without pandas, scikit-learn, scipy or yfinance.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from forecaster.data.bars import Bars
from forecaster.data.calendar import exchange_for, next_sessions
from forecaster.data.prediction_log import record_predictions
from forecaster.data.store import Store, normalize_ticker, stored_exists
from forecaster.errors import CorruptFile, DataUnavailable, ForecastError, ModelMissing, UsageError, failure_of
from forecaster.model.calibration import CALIBRATED_HORIZONS
from forecaster.model.guards import TooStill, check_band, check_forecasts, check_trainable
from forecaster.model.panel import Market, TickerData
from forecaster.model.serving import (
    NO_DATA_FIX,
    POOL,
    Model,
    TrainingConfig,
    check_level,
    pool_members,
    pool_meta,
    served_without_data,
    serving_model,
    too_short,
)
from forecaster.risk.track import score_ticker
from forecaster.text import Notice, plural

STALE_AFTER_DAYS = 5
STALE_DATA, OLD_MODEL, MARKET = "stale data", "old model", "market"  # the kinds of a forecast's warnings (Notice.flag)
# sessions ahead predict forecasts at most: the longest horizon whose intervals were measured right on the
# development panel (docs/accuracy.md: at 60 sessions 92.1% inside a 90% interval, 0.999 x RiskMetrics; at 250,
# 94.3% and 1.075: too wide and worse than RiskMetrics, so not offered)
MAX_FORECAST_DAYS = 60


@dataclass
class BatchOutcome:
    """What a command over several tickers did (train, evaluate): a row per ticker done, the failures, notes for
    the user, the tickers left for models of their own, and a line for logs."""

    rows: list = field(default_factory=list)
    failures: list[tuple[str, ForecastError]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    own: list[str] = field(default_factory=list)
    log: str | None = None


# -------------------------------------------------------------------------------------------------- the market
def market_bars(store: Store, market: str | None, until: dt.date | None = None,
                before: dt.date | None = None) -> tuple[tuple[str, Bars] | None, str | None]:
    """((symbol, bars) of the market index, cut like the tickers' bars), or (None, a one-line note why not)."""
    if market is None:
        return None, None
    if not store.has_bars(market):
        return None, (f"the market index {market} is not stored, so the model learns without it (run "
                      f"'forecast fetch {market}', or set market = \"none\" in forecast.toml)")
    bars = store.read_bars(market)
    if until is not None:
        bars = bars.until(until)
    if before is not None:
        bars = bars.before(before)
    if len(bars) < 2:
        return None, f"the market index {market} has no history before the cut-off, so the model learns without it"
    return (market, bars), None


# ------------------------------------------------------------------------------------------------------- train
POOL_JOB = "the pool"  # the name the pool's training job goes by among per-ticker jobs


def train_models(store: Store, names: list[str], config: TrainingConfig, *, until: dt.date | None = None,
                 calibrate_named: bool = False, run_jobs) -> BatchOutcome:
    """Train (or calibrate) the models of `names` as the module docstring describes. `run_jobs(function, names,
    arguments) -> (results, failures)` runs jobs with forecaster.parallel: each ticker's own model, and the pool's
    training as one job (here, or on a Dask cluster; a job run here alone gets a `callback` for its epochs);
    `calibrate_named`: the tickers were named by the user."""
    config.check()
    arguments = {"store": store, "config": config, "until": until}
    if config.model == "per-ticker":
        return _own_models(run_jobs, names, arguments, BatchOutcome())
    if calibrate_named and _pool_has_others(store, names):
        outcome = BatchOutcome()
        bars = _read_training_bars(store, names, until, outcome)
        market, _ = market_bars(store, config.market_ticker, until=until)
        _calibrate_against_pool(store, bars, market, config, outcome)
        return outcome
    results, failures = run_jobs(train_pool, [POOL_JOB], {**arguments, "names": names})
    if failures:  # the pool job itself failed: every ticker it was to serve with it
        return BatchOutcome(failures=[(ticker, failures[0][1]) for ticker in names])
    outcome = results[0]
    if outcome.own:
        _own_models(run_jobs, outcome.own, arguments, outcome)
    return outcome


def _own_models(run_jobs, names: list[str], arguments: dict, outcome: BatchOutcome) -> BatchOutcome:
    results, failures = run_jobs(train_ticker, names, arguments)
    for row in results:
        notes = row.pop("notes", [])
        outcome.notes.extend(n for n in notes if not any(said.startswith(n) for said in outcome.notes))
        row.pop("log", None)
    outcome.rows.extend(results)
    outcome.failures.extend(failures)
    return outcome


def train_pool(store: Store, ticker: str, names: list[str], config: TrainingConfig, until: dt.date | None = None,
               callback=None) -> BatchOutcome:
    """Train the pool on `names` and save it (a job of forecaster.parallel, named `ticker`, POOL_JOB): tickers
    without real OHLC (under `auto` features) are left in `own` for models of their own, tickers too short to join
    are failures. Its members' own models are removed once the pool is saved."""
    from forecaster.model.training import pool_features

    stored_exists(store.models_dir / POOL / "meta.json")  # a pool folder that cannot be searched fails before training
    before = pool_members(store)  # to see, when saving, what changed in the stored pool while this one trained
    outcome = BatchOutcome()
    bars = _read_training_bars(store, names, until, outcome)
    market, note = market_bars(store, config.market_ticker, until=until)
    members = {}
    for name, history in bars.items():
        try:
            check_trainable(history, name)
            features, notes = pool_features(config, {name: history})
        except Exception as error:  # one ticker's trouble, a bug included, is that ticker's
            outcome.failures.append((name, failure_of(error, name)))
            continue
        if features != "range" and config.features == "auto":
            outcome.own.append(name)
            outcome.notes.append(f"{notes[name]}: it gets a model of its own")
        elif len(history) < config.min_join_rows:
            outcome.failures.append((name, UsageError(too_short(name, len(history), config.window))))
        else:
            members[name] = history
    if not members:
        return outcome
    try:
        model = _new_pool(members, market, config, until, callback, outcome)
    except ForecastError as error:
        outcome.failures.extend((name, error) for name in members)
        return outcome
    if model is None:
        return outcome
    model, degenerate = _without_degenerate_bands(model, members, market)
    outcome.failures.extend(degenerate)
    with store.lock(POOL):
        model = _with_changes_since(store, model, before, market, config, until, outcome)
        model = _keeping_what_failed(store, model, outcome)
        members = {name: history for name, history in members.items() if name in model.meta["tickers"]}
        if not members:
            return outcome
        model.save(store, POOL)
    for name in members:  # the pool serves them now: their own models, if any, go
        store.remove_own_model(name)
    outcome.rows.extend(summary_row(model, name) for name in members)
    training = model.meta["training"]
    if model.meta.get("vintage"):
        outcome.log = (f"the pool: {len(members)} {plural(len(members), 'ticker')} calibrated against the network "
                       f"{model.label} ({training['tickers']} histories)")
        note = None  # the shipped network takes no market inputs
    else:
        outcome.log = (f"the pool: trained {training['epochs_run']} {plural(training['epochs_run'], 'epoch')} on "
                       f"{len(members)} {plural(len(members), 'ticker')} to {training['last_date']}")
    outcome.notes.extend([*([note] if note else []), *model.meta["notes"]])
    _warm_calendars(store, members)
    return outcome


def _new_pool(members: dict[str, Bars], market, config: TrainingConfig, until: dt.date | None, callback,
              outcome: BatchOutcome) -> Model | None:
    """The pool of `members`: with [train] model = shipped, the newest shipped vintage whose data ends by `until`
    with each member calibrated against it (a member that cannot be is a failure; None when none can); otherwise, or
    when no vintage is that old, a network trained on them (with a note saying so)."""
    from forecaster.model.training import add_ticker, train_model
    from forecaster.model.vintages import latest

    before = None if until is None else until + dt.timedelta(days=1)
    vintage = latest(before) if config.model == "shipped" else None
    if vintage is None:
        model = train_model(members, market, config, "pooled", callback=callback)
        if config.model == "shipped":
            outcome.notes.append(no_vintage_note(before))
        return model
    model = vintage.load()
    config = for_vintage(model, config, outcome.notes)
    for name, history in members.items():
        try:
            model = add_ticker(model, name, history, None, config)
        except Exception as error:  # one ticker's trouble, a bug included, is that ticker's
            outcome.failures.append((name, failure_of(error, name)))
    return model if model.meta["tickers"] else None


NETWORK_OPTIONS = ("window", "hidden", "layers", "epochs", "batch_size", "lr", "patience", "seed", "market")


def for_vintage(model: Model, config: TrainingConfig, notes: list[str]) -> TrainingConfig:
    """The options a ticker is calibrated against a shipped vintage with: the vintage's window and no market (it
    learned without one); a note names the network options set otherwise, which shape only a network trained on the
    home's tickers."""
    from forecaster.config import BY_NAME

    changed = [f"--{key.replace('_', '-')}" for key in NETWORK_OPTIONS
               if getattr(config, key) != BY_NAME[f"train.{key}"].default]
    if changed:
        notes.append(f"{', '.join(changed)} shape a network trained on the home's tickers (--model pooled or "
                     f"per-ticker), not the shipped one: {model.label} keeps its own")
    return dataclasses.replace(config, window=model.window, market="none")


def no_vintage_note(before: dt.date | None) -> str:
    """Why a pool was trained on the home's tickers though [train] model = shipped."""
    if before is None:
        return "no shipped network is installed: the pool is trained on the home's tickers instead"
    return (f"no shipped network was trained on data ending before {before}: the pool is trained on the home's "
            "tickers instead")


def _with_changes_since(store: Store, model: Model, before: set[str], market, config: TrainingConfig,
                        until: dt.date | None, outcome: BatchOutcome) -> Model:
    """`model`, a pool about to be saved, with what finished in the stored pool while it trained (call under the
    pool's lock; `before`: the stored pool's tickers when training began), so that a retrain never undoes it:
    tickers taken out of the pool since (`remove`), or whose data is gone, are left out; tickers calibrated against
    the stored pool since (`train NEW`) are calibrated against this one, a note saying so."""
    from forecaster.model.training import add_ticker

    now = pool_members(store)
    sections = model.meta["tickers"]
    gone = {t for t in sections if (t in before and t not in now) or not store.has_bars(t)}
    if gone:
        model = Model(model.network, {**model.meta, "tickers": {t: s for t, s in sections.items() if t not in gone}})
    joined = []
    for ticker in sorted(now - before - set(sections)):
        try:
            model = add_ticker(model, ticker, _cut(store.read_bars(ticker), ticker, until), market, config)
            joined.append(ticker)
        except ForecastError as error:
            outcome.failures.append((ticker, error))
    if joined:
        outcome.notes.append(f"{', '.join(joined)}: calibrated against the stored pool while this one trained, now "
                             "calibrated against this one")
    return model


def _keeping_what_failed(store: Store, model: Model, outcome: BatchOutcome) -> Model:
    """`model`, a pool about to be saved, with the stored pool's calibration of each ticker that failed this run
    (unreadable data, a band that would have no width, ...), when both pools are the same shipped network: its
    previous calibration is as good as it was, and a retrain never loses what it could not redo (call under the
    pool's lock). A network trained on the home's tickers is new each time: what was calibrated against the old one
    cannot stay."""
    vintage = model.meta.get("vintage")
    failed = {name for name, _ in outcome.failures} - set(model.meta["tickers"])
    if not vintage or not failed:
        return model
    try:
        stored = pool_meta(store)
    except (ModelMissing, CorruptFile):
        return model
    kept = sorted(failed & set(stored["tickers"])) if stored.get("vintage") == vintage else []
    if not kept:
        return model
    outcome.notes.append(f"{', '.join(kept)}: {plural(len(kept), 'its', 'their')} previous calibration against "
                         f"{model.label} stays (this run could not redo it)")
    tickers = {**model.meta["tickers"], **{name: stored["tickers"][name] for name in kept}}
    return Model(model.network, {**model.meta, "tickers": tickers})


def _without_degenerate_bands(model: Model, members: dict[str, Bars],
                              market) -> tuple[Model, list[tuple[str, ForecastError]]]:
    """The model without the tickers whose intervals would have no width (guards.check_band), and their failures:
    no model with a degenerate band is ever saved."""
    market_data = Market.from_bars(*market) if market is not None else None
    failures = []
    for name, history in members.items():
        try:
            check_band(model.forecast([(name, history)], market_data, max(CALIBRATED_HORIZONS), 0.90)[name], name)
        except ForecastError as error:
            failures.append((name, error))
    if failures:
        failed = {name for name, _ in failures}
        model = Model(model.network, {**model.meta, "tickers": {t: section for t, section in
                                                                 model.meta["tickers"].items() if t not in failed}})
    return model, failures


def train_ticker(store: Store, ticker: str, config: TrainingConfig, until: dt.date | None = None,
                 callback=None) -> dict:
    """Train a ticker's own model on its stored bars (up to `until`, inclusive) and save it: a job of
    forecaster.parallel (it may run in a worker process or on a cluster, so it takes and returns plain data)."""
    from forecaster.model.training import train_model

    ticker = normalize_ticker(ticker)
    bars = _cut(store.read_bars(ticker), ticker, until)
    check_trainable(bars, ticker)
    market, note = market_bars(store, config.market_ticker, until=until)
    model = train_model({ticker: bars}, market, config, "per-ticker", callback=callback)
    model, degenerate = _without_degenerate_bands(model, {ticker: bars}, market)
    if degenerate:
        raise degenerate[0][1]
    with store.lock(f"{ticker}.model"):
        model.save(store, ticker)
    _warm_calendars(store, {ticker: bars})
    epochs = model.meta["training"]["epochs_run"]
    return {**summary_row(model, ticker), "notes": [*model.meta["notes"], *([note] if note else [])],
            "log": f"{ticker}: trained {epochs} {plural(epochs, 'epoch')} on {len(bars)} rows to {bars.last_date}"}


def summary_row(model: Model, ticker: str) -> dict:
    """A ticker's row of `train`'s table."""
    calibration = model.calibration(ticker)
    training = model.meta["training"]
    label = model.label if calibration.member or model.meta.get("vintage") else "pooled (calibrated)"
    return {"ticker": ticker, "model": label, "rows": calibration.rows, "until": calibration.last_date,
            # a shipped network's epochs were run when it was built, not by this training: none to show
            "epochs": None if model.meta.get("vintage") else training["epochs_run"],
            "best epoch": None if model.meta.get("vintage") else training["best_epoch"],
            "network share": calibration.network_share, "scale share": calibration.scale_share,
            "persistence": calibration.persistence}


def _pool_has_others(store: Store, named: list[str]) -> bool:
    """Whether a stored pool serves tickers beyond `named` (then the named ones are calibrated against it rather than
    the pool retrained on them alone, which would discard what it learned from the others)."""
    from forecaster.model.serving import model_kinds

    members = {ticker for ticker, kind in model_kinds(store).items() if kind == "pooled"}
    return bool(members - set(named))


def _calibrate_against_pool(store: Store, bars: dict[str, Bars], market, config: TrainingConfig,
                            outcome: BatchOutcome) -> None:
    """Calibrate each ticker against the stored pool and save the pool once with all of them."""
    from forecaster.model.training import add_ticker

    with store.lock(POOL):
        model = Model.load(store, POOL)
        added = []
        for ticker, history in bars.items():
            try:
                model = add_ticker(model, ticker, history, market, config)
                added.append(ticker)
            except ForecastError as error:
                outcome.failures.append((ticker, error))
        if added:
            model.save(store, POOL)
    for ticker in added:
        store.remove_own_model(ticker)
        outcome.rows.append(summary_row(model, ticker))
    if added:
        training = model.meta["training"]
        outcome.notes.append(f"calibrated against the pool trained on {training['tickers']} "
                             f"{plural(training['tickers'], 'ticker')} to {training['last_date']} (run 'forecast "
                             "train' without tickers to retrain the pool)")


def _read_training_bars(store: Store, names: list[str], until: dt.date | None,
                        outcome: BatchOutcome) -> dict[str, Bars]:
    bars = {}
    for ticker in names:
        try:
            bars[normalize_ticker(ticker)] = _cut(store.read_bars(ticker), ticker, until)
        except ForecastError as error:
            outcome.failures.append((ticker, error))
    return bars


def _cut(stored: Bars, ticker: str, until: dt.date | None) -> Bars:
    bars = stored.until(until) if until is not None else stored
    if not len(bars):
        raise UsageError(f"--until {until} is before the first stored date of {ticker} ({stored.first_date})")
    return bars


def _warm_calendars(store: Store, bars: dict[str, Bars]) -> None:
    """Fill the trading-calendar cache `predict` reads (the models are saved; this only saves predict a second)."""
    for ticker, history in bars.items():
        with contextlib.suppress(ForecastError):
            next_sessions(history.last_date, 1, exchange_for(ticker), store.cache_dir)


# ----------------------------------------------------------------------------------------------------- predict
def check_days(days: int) -> None:
    """UsageError unless 1 <= days <= MAX_FORECAST_DAYS (the calendar may allow fewer: see calendar.next_sessions)."""
    if not 1 <= days <= MAX_FORECAST_DAYS:
        raise UsageError(f"--days must be between 1 and {MAX_FORECAST_DAYS} (the longest horizon whose intervals are "
                         f"measured), got {days}")


@dataclass
class Prediction:
    ticker: str
    rows: list[dict]  # ticker, as_of, date, horizon, forecast, lower, upper, level, volatility, model, last_close
    warnings: list[Notice]  # stale data, model older than data, market missing or older than the data
    bars: Bars  # the stored bars it was made from
    live_record: str | None = None  # one line on the live track record of 1-day forecasts, once there is one


def forecast_tickers(store: Store, tickers: list[str], days: int, level: float = 0.90, today: dt.date | None = None,
                     max_model_age_days: int | None = None,
                     ) -> tuple[list[Prediction], list[tuple[str, ForecastError]]]:
    """Forecast the next `days` sessions of every ticker after its last stored bar, at interval `level`, without
    logging them (`predict` logs them, `report` shows them). The pool is read once for all its tickers. Returns the
    predictions and the failures: one ticker's failure, whatever it is, never stops the others (errors.failure_of).

    Warns when the data is more than STALE_AFTER_DAYS old (STALE_DATA), when it goes more than `max_model_age_days`
    past the model's training data (OLD_MODEL: a model retrained on that cadence never warns; None: the default of
    [predict] max_model_age_days), and when the market index the model needs is missing or older than the ticker's
    data (MARKET)."""
    from forecaster.config import BY_NAME

    check_days(days)
    check_level(level)
    if max_model_age_days is None:
        max_model_age_days = BY_NAME["predict.max_model_age_days"].default
    today = today or dt.date.today()
    predictions, failures = [], []
    for ticker, result in _serve_and_forecast(store, tickers, days, level).items():
        if isinstance(result, ForecastError):
            failures.append((ticker, result))
            continue
        model, kind, bars, rows, notes = result
        predictions.append(Prediction(ticker, rows, [*notes, *_warnings(store, ticker, model, bars, today,
                                                                         max_model_age_days)], bars))
    return predictions, failures


def forecast_and_log(store: Store, tickers: list[str], days: int, level: float = 0.90, today: dt.date | None = None,
                     max_model_age_days: int | None = None,
                     ) -> tuple[list[Prediction], list[tuple[str, ForecastError]], ForecastError | None]:
    """`forecast_tickers`, then log all the forecasts at once (one lock, one rewrite of the log, however many
    tickers), with each ticker's live record. Returns the predictions, the failures, and why the forecasts could not
    be logged (the log damaged, the disk full, the home read-only, its lock held too long), or None: the forecasts
    are made whether or not they can be logged, and the caller shows them."""
    predictions, failures = forecast_tickers(store, tickers, days, level, today, max_model_age_days)
    if not predictions:
        return predictions, failures, None
    try:
        logged = record_predictions(store, [row for prediction in predictions for row in prediction.rows])
    except ForecastError as error:
        return predictions, failures, error
    by_ticker: dict[str, list[dict]] = {}
    for row in logged:
        by_ticker.setdefault(row["ticker"], []).append(row)
    for prediction in predictions:
        prediction.live_record = _live_record(prediction.ticker, by_ticker.get(prediction.ticker, []),
                                              prediction.bars)
    return predictions, failures, None


def _serve_and_forecast(store: Store, tickers: list[str], days: int, level: float) -> dict[str, object]:
    """ticker -> (model, kind, bars, rows, notes) of its forecast, or its ForecastError (a name that is no ticker
    symbol fails alone): the pool is read once for all the tickers it serves, the others by their own models."""
    results, served = _serve_each(store, tickers)
    markets: dict[str, tuple[Market | None, list[str]]] = {}
    for model, kind, items in served.values():
        market, market_note = _market_for(store, model, markets)
        for ticker, bars in items:
            try:
                rows = _dated(store, ticker, bars, model.forecast([(ticker, bars)], market, days, level)[ticker], kind)
            except Exception as error:  # one ticker's trouble, a bug included, never sinks the others
                results[ticker] = failure_of(error, ticker)
                continue
            results[ticker] = (model, kind, bars, rows, _market_notes(ticker, model, market, market_note, bars))
    return {ticker: results[ticker] for ticker in dict.fromkeys(_or_itself(t) for t in tickers) if ticker in results}


def _market_notes(ticker: str, model: Model, market: Market | None, market_note: str | None,
                  bars: Bars) -> list[Notice]:
    notes = [Notice(ticker, f"{ticker}: {market_note}", kind=market_note, flag=MARKET)] if market_note else []
    if market is not None and market.dates[-1] < bars.dates[-1]:
        notes.append(Notice(ticker, f"{ticker}: the market index {model.market_ticker} ends "
                                    f"{market.dates[-1]}, before {bars.last_date}: the last day's market "
                                    "inputs are missing", kind=f"data newer than the market index "
                                                               f"{model.market_ticker}'s",
                            advice=f"run 'forecast fetch {model.market_ticker}'", flag=MARKET))
    return notes


def _serve_each(store: Store, tickers: list[str]) -> tuple[dict[str, ForecastError], dict]:
    """(ticker -> why no model can serve it, id -> (model, kind, [(ticker, bars)]) of the others): the home's pool
    or the ticker's own model, else the newest shipped vintage with the ticker calibrated against it here."""
    results: dict[str, object] = {}
    pool, pool_error = _pool(store)
    served: dict[int, tuple[Model, str, list[tuple[str, Bars]]]] = {}
    for name in tickers:
        ticker = name
        try:
            ticker = normalize_ticker(name)
            model, kind = serving_model(store, ticker, pool)
            if not store.has_bars(ticker):  # a pool from another home, say: fetching is one way, removing another
                raise DataUnavailable(f"{ticker}: {served_without_data(store, ticker, model)}; "
                                      f"{NO_DATA_FIX.format(ticker=ticker)}")
            bars = store.read_bars(ticker)
            model.check_data(ticker, bars)
        except ModelMissing as error:
            results[ticker] = pool_error if pool_error is not None else error
            continue
        except Exception as error:
            results[ticker] = failure_of(error, ticker)
            continue
        served.setdefault(id(model), (model, kind, []))[2].append((ticker, bars))
    unserved = _trainable(store, [t for t, error in results.items()
                                  if isinstance(error, ModelMissing) and store.has_bars(t)], results)
    if unserved:
        shipped = _calibrated_on_vintage(store, unserved, results, keep_reasons=pool is not None)
        if shipped is not None:
            served[id(shipped)] = shipped
    return results, served


def _calibrated_on_vintage(store: Store, tickers: list[str], results: dict[str, object], keep_reasons: bool):
    """(the newest shipped vintage with `tickers` calibrated against it, its label, [(ticker, bars)]) for tickers
    that no model of the home serves (calibrated here, for this forecast only: `forecast train` saves it), or None
    when no vintage is installed. A ticker that cannot be calibrated keeps its failure in `results`: why the home's
    pool cannot serve it (`keep_reasons`), else why the vintage cannot."""
    from forecaster.model.training import add_ticker
    from forecaster.model.vintages import latest

    vintage = latest()
    if vintage is None:
        return None
    try:
        model = vintage.load()
    except ForecastError as error:
        results.update({ticker: error for ticker in tickers})
        return None
    config = for_vintage(model, TrainingConfig(), [])  # the defaults: nothing to note
    items = []
    for ticker in tickers:
        try:
            bars = store.read_bars(ticker)
            model = add_ticker(model, ticker, bars, None, config)
        except UsageError as error:  # too short, no real OHLC: still no model, and what it would take
            if not keep_reasons:
                results[ticker] = ModelMissing(f"no model for {ticker}: {error.message.removeprefix(f'{ticker}: ')}")
            continue
        except Exception as error:
            results[ticker] = failure_of(error, ticker)
            continue
        del results[ticker]
        items.append((ticker, bars))
    return (model, model.label, items) if items else None


def unservable(store: Store, tickers: list[str]) -> dict[str, ForecastError]:
    """Of stored `tickers` that no model of the home serves, those that the shipped network cannot serve either, as
    `predict` would calibrate them against it (too short, no real OHLC, too still, no vintage installed), with
    why."""
    results: dict[str, object] = {
        ticker: ModelMissing(f"no model serves {ticker}, and no shipped network is installed to calibrate it "
                             f"against; run 'forecast train {ticker}'") for ticker in tickers}
    trainable = _trainable(store, list(tickers), results)
    if trainable:
        _calibrated_on_vintage(store, trainable, results, keep_reasons=False)
    return results


def _trainable(store: Store, tickers: list[str], results: dict[str, object]) -> list[str]:
    """Those of `tickers` (no model of the home serves them) that a model could be made of; each of the others,
    too still for any model (guards.check_trainable), has that as its reason in `results`, with what can succeed
    instead, whatever else was said of it: 'forecast train' would fail for it too."""
    trainable = []
    for ticker in tickers:
        try:
            check_trainable(store.read_bars(ticker), ticker)
        except TooStill as error:
            results[ticker] = error
            continue
        except ForecastError:
            pass  # data that cannot be read: the reason given stands, and serving it says why
        trainable.append(ticker)
    return trainable


def _or_itself(name: str) -> str:
    """The ticker symbol `name` stands for, or `name` itself when it is none (a stray folder under models/)."""
    try:
        return normalize_ticker(name)
    except UsageError:
        return name


def _pool(store: Store) -> tuple[Model | None, ForecastError | None]:
    """The pool, read once (None and why, when there is none or it cannot be read)."""
    try:
        return Model.load(store, POOL), None
    except ModelMissing:
        return None, None
    except ForecastError as error:
        return None, error


def _market_for(store: Store, model: Model, cache: dict) -> tuple[Market | None, str | None]:
    """The market inputs a model was trained with, from the stored bars (read once per run), or None and why."""
    ticker = model.market_ticker
    if ticker is None:
        return None, None
    if ticker not in cache:
        if store.has_bars(ticker):
            cache[ticker] = (Market.from_bars(ticker, store.read_bars(ticker)), None)
        else:
            cache[ticker] = (None, f"the market index {ticker} is not stored, so the forecast goes without its "
                                   f"inputs (run 'forecast fetch {ticker}')")
    return cache[ticker]


def _dated(store: Store, ticker: str, bars: Bars, forecasts: list[dict], kind: str) -> list[dict]:
    """The forecast rows with their sessions; each has passed guards.check_forecasts, the last check before anything
    is shown, plotted or logged."""
    sessions = next_sessions(bars.last_date, len(forecasts), exchange_for(ticker), store.cache_dir)
    last_close = float(bars.adj_close[-1])
    rows = [{"ticker": ticker, "as_of": bars.last_date, "date": date, **forecast, "model": kind,
             "last_close": last_close} for date, forecast in zip(sessions, forecasts, strict=True)]
    check_forecasts(rows, ticker)
    return rows


def _warnings(store: Store, ticker: str, model: Model, bars: Bars, today: dt.date,
              max_model_age_days: int) -> list[Notice]:
    warnings = []
    as_of = bars.last_date
    age = (today - dt.date.fromisoformat(as_of)).days
    if age > STALE_AFTER_DAYS:
        from forecaster.data.fetch_jobs import update_advice

        advice = update_advice(store, ticker)
        warnings.append(Notice(ticker, f"{ticker}: data ends {as_of}, {age} {plural(age, 'day')} ago; {advice.one}",
                               kind=f"{advice.data} more than {STALE_AFTER_DAYS} days old", advice=advice.many,
                               flag=STALE_DATA))
        if advice.damaged is not None:  # where the data came from is unknown: the advice above is Yahoo's
            warnings.append(Notice(ticker, f"{ticker}: {advice.damaged.message}",
                                   kind="damaged data/TICKER.json files (where the data came from is unknown)",
                                   advice="re-import their files with 'forecast fetch TICKER --csv FILE', or run "
                                          "'forecast fetch TICKER' for Yahoo's, to rewrite them", flag=STALE_DATA))
    trained_until = model.calibration(ticker).last_date
    if (dt.date.fromisoformat(as_of) - dt.date.fromisoformat(trained_until)).days > max_model_age_days:
        newer = int(np.sum(bars.dates > np.datetime64(trained_until, "D")))
        warnings.append(Notice(
            ticker, f"{ticker}: model trained on data to {trained_until}, {newer} newer "
                    f"{plural(newer, 'row is', 'rows are')} stored; run 'forecast train {ticker}' to retrain",
            kind=f"models trained on data more than {max_model_age_days} "
                 f"{plural(max_model_age_days, 'day')} older than the stored data",
            advice="run 'forecast train' to retrain them", flag=OLD_MODEL))
    return warnings


def _live_record(ticker: str, logged: list[dict], bars) -> str | None:
    scores = [s for s in score_ticker(ticker, logged, bars) if s["horizon"] == 1 and s["n"] and s["ratio"]]
    if not scores:
        return None
    score = scores[0]
    return (f"{ticker}: live record of 1-day forecasts: RMSE {score['ratio']:.4f} x naive over {score['n']} "
            f"{plural(score['n'], 'day')} ('forecast score {ticker}' for more)")


def model_tickers(store: Store) -> list[str]:
    """What a bare `predict` or `report` covers: the tickers the home's models serve and, once there is any model (a
    shipped vintage serves a ticker without one, calibrated as it is forecast), every stored ticker, so that one no
    model can serve (its data damaged, a pool from another home) fails by name rather than dropping out silently."""
    from forecaster.model.serving import model_kinds
    from forecaster.model.vintages import latest

    served = set(model_kinds(store))
    if served or latest() is not None:
        served.update(store.tickers())
    return sorted(served)


def require_tickers(tickers: list[str], available: list[str], what: str) -> list[str]:
    if tickers:
        return list(dict.fromkeys(normalize_ticker(t) for t in tickers))  # 'ibm IBM' is one ticker
    if not available:
        raise DataUnavailable(f"no {what}")
    return available


# ---------------------------------------------------------------------------------------------------- evaluate
def evaluate_tickers(store: Store, names: list[str], config: TrainingConfig, test_start: dt.date,
                     horizons: list[int], level: float = 0.90, *, unseen: tuple[str, ...] = (), run_jobs,
                     callback=None) -> BatchOutcome:
    """Walk-forward evaluations of `names` from `test_start` at each horizon (forecaster.risk.evaluate): `rows` holds an
    Evaluation per ticker and horizon. Pooled: one pool trained on every ticker's bars before the test start (the
    `unseen` ones excepted: they are calibrated against it as tickers it never saw); per-ticker: each ticker's own
    model, side by side (`run_jobs`)."""
    from forecaster.risk.evaluate import check_horizon

    config.check()
    check_level(level)
    for horizon in horizons:
        check_horizon(horizon)
    arguments = {"store": store, "config": config, "test_start": test_start, "horizons": horizons, "level": level}
    if unseen and config.model != "pooled":
        raise UsageError("--unseen keeps tickers out of a pool: it needs --model pooled")
    if config.model == "per-ticker":
        results, failures = run_jobs(evaluate_own_model, names, arguments)
        return BatchOutcome([e for evaluations in results for e in evaluations], list(failures))
    from forecaster.model.vintages import latest

    outcome = BatchOutcome()
    vintage = latest(test_start) if config.model == "shipped" else None
    members, own = _evaluation_members(store, names, config, test_start, outcome,
                                       alone=len(names) == 1 and vintage is None, shipped=vintage is not None)
    if own:
        outcome.notes.extend(f"{note}: it is evaluated with a model of its own" for note in own.values())
        results, failures = run_jobs(evaluate_own_model, list(own), arguments)
        outcome.rows.extend(e for evaluations in results for e in evaluations)
        outcome.failures.extend(failures)
    if not members:
        return outcome
    if vintage is not None:  # every ticker is one the network never saw, calibrated on its bars before the test
        unseen = tuple(members)
    learners = {t: b for t, b in members.items() if t not in unseen}
    if not learners and vintage is None:
        if members:
            outcome.failures.extend((t, UsageError("every evaluated ticker is --unseen: the pool has nothing to "
                                                   "learn from")) for t in members)
        return outcome
    market, note = market_bars(store, config.market_ticker, before=test_start)
    outcome.notes.extend([note] if note else [])
    from forecaster.model.training import add_ticker, train_model
    from forecaster.risk.evaluate import walk_forward

    try:
        if vintage is not None:
            model = vintage.load()
            config = for_vintage(model, config, outcome.notes)
            outcome.notes.append(f"the network is {vintage.name}'s (trained on {model.meta['vintage']['tickers']} "
                                 f"histories, all before {test_start})")
        else:
            model = train_model({t: b.before(test_start) for t, b in learners.items()}, market, config, "pooled",
                                callback=callback)
            if config.model == "shipped":
                outcome.notes.append(no_vintage_note(test_start))
    except ForecastError as error:
        outcome.failures.extend((t, error) for t in members)
        return outcome
    for ticker in [t for t in members if t in unseen]:
        try:
            model = add_ticker(model, ticker, members[ticker].before(test_start), market, config)
        except ForecastError as error:
            outcome.failures.append((ticker, error))
            del members[ticker]
    baselines, failures = run_jobs(no_network_job, list(members), {**arguments, "features": model.features,
                                                                 "window": config.window})
    outcome.failures.extend(failures)
    evaluated = {row["ticker"]: row["bounds"] for row in baselines}
    full_market = Market.from_bars(market[0], store.read_bars(market[0])) if market else None
    har_pool = list(learners) if learners else list(evaluated)  # the home's HAR is pooled over its own tickers
    outcome.rows.extend(walk_forward(model, {t: members[t] for t in evaluated}, full_market, test_start, horizons,
                                     level, evaluated, har_pool))
    return outcome


def evaluate_own_model(store: Store, ticker: str, config: TrainingConfig, test_start: dt.date,
                       horizons: list[int], level: float, callback=None) -> list:
    """A ticker's walk-forward evaluations with a model of its own (a job of forecaster.parallel)."""
    from forecaster.model.training import train_model
    from forecaster.risk.evaluate import check_test_start, no_network_bounds, walk_forward

    ticker = normalize_ticker(ticker)
    bars = store.read_bars(ticker)
    training = check_test_start(bars, ticker, test_start.isoformat(), config.min_rows, config.window)
    market, _ = market_bars(store, config.market_ticker, before=test_start)
    model = train_model({ticker: training}, market, config, "per-ticker", callback=callback)
    bounds = no_network_bounds(bars, model.features, test_start.isoformat(), horizons, config.window, level)
    full_market = Market.from_bars(market[0], store.read_bars(market[0])) if market else None
    return walk_forward(model, {ticker: bars}, full_market, test_start, horizons, level, {ticker: bounds}, [ticker])


def no_network_job(store: Store, ticker: str, config: TrainingConfig, test_start: dt.date, horizons: list[int],
                   level: float, features: str, window: int, callback=None) -> dict:
    """A ticker's bounds of the methods that need no network (risk.evaluate.NO_NETWORK: naive, linear, GARCH, GJR): a
    job of forecaster.parallel."""
    from forecaster.risk.evaluate import no_network_bounds

    bars = store.read_bars(ticker)
    return {"ticker": ticker, "bounds": no_network_bounds(bars, features, test_start.isoformat(), horizons, window,
                                                           level)}


def _evaluation_members(store: Store, names: list[str], config: TrainingConfig, test_start: dt.date,
                        outcome: BatchOutcome, alone: bool, shipped: bool) -> tuple[dict[str, Bars], dict[str, str]]:
    """(the tickers that evaluate in the pool: their full bars, the tickers that need a model of their own: notes),
    the others as failures (no data, a test start outside their data, too little history: a ticker `alone` trains a
    network on its own windows, and needs more of them than one that joins a pool; with the `shipped` network, whose
    window is its own, a smaller --window is no way out)."""
    from forecaster.model.training import pool_features
    from forecaster.risk.evaluate import check_test_start

    members, own = {}, {}
    needed = config.min_rows if alone else config.min_join_rows
    for ticker in names:
        try:
            bars = store.read_bars(ticker)
            training = check_test_start(bars, ticker, test_start.isoformat(), needed, config.window,
                                        window_helps=not shipped)
            check_trainable(training, ticker)
            features, note = pool_features(config, {ticker: training})
        except ForecastError as error:
            outcome.failures.append((ticker, error))
            continue
        if features != "range" and config.features == "auto":
            own[ticker] = note[ticker]
        else:
            members[ticker] = bars
    return members, own


# --------------------------------------------------------------------------------------------------- portfolio
@dataclass
class PortfolioForecast:
    risk: object  # forecaster.risk.portfolio.PortfolioRisk
    as_of: str  # the newest last date of the holdings' data
    served_by: list[str]  # the models' labels
    notes: list[Notice] = field(default_factory=list)
    path: tuple | None = None  # (dates, P&L, VaR) of the last days, when asked for (`path_sessions`)

    def document(self) -> dict:
        """`forecast portfolio -f json`'s document: the totals, the holdings, the date and the model."""
        return {**self.risk.as_dict(), "as_of": self.as_of, "model": ", ".join(self.served_by)}


def portfolio_forecast(store: Store, holdings, days: int = 1, level: float | None = None, today: dt.date | None = None,
                       max_model_age_days: int | None = None, path_sessions: int = 0) -> PortfolioForecast:
    """The value at risk and expected shortfall of `holdings` (data.holdings.Holdings) over the next `days` sessions
    at `level` (forecaster.risk.portfolio), from each holding's forecast as `predict` makes it; the first holding
    that cannot be forecast fails the whole (a VaR without one of its holdings would be wrong). With the warnings
    `predict` gives of each holding (stale data, a model older than its data) and of one whose data ends before the
    others'. With `path_sessions`, also the `path` of about that many last days the holdings all traded: each day's
    one-day VaR made the evening before by the models as they stand now (for a chart; `evaluate_portfolio` is the
    walk-forward test, with models that saw nothing of the days they forecast)."""
    from forecaster.config import BY_NAME
    from forecaster.risk.portfolio import (
        CORRELATION_WINDOW,
        MIN_CORRELATION_DAYS,
        TAIL_WINDOW,
        HoldingForecast,
        JointForecast,
        shrunk_correlation,
    )

    check_days(days)
    level = check_var_level(level)
    if max_model_age_days is None:
        max_model_age_days = BY_NAME["predict.max_model_age_days"].default
    shares = dict(zip(holdings.tickers, holdings.shares, strict=True))
    forecasts, residuals, last_dates, labels, notes, datas = {}, {}, {}, [], [], {}
    markets: dict = {}
    for model, kind, items in _served_holdings(store, holdings):
        labels.append(kind)
        market, market_note = _market_for(store, model, markets)
        for ticker, bars in items:
            data = model.data(ticker, bars, market)
            datas[ticker] = (model, data)
            if len(data) < model.window:
                raise DataUnavailable(f"{ticker}: {len(bars)} rows of history are fewer than the model's window of "
                                      f"{model.window}")
            means, variance, _ = model.paths([(ticker, data, np.array([len(data) - 1]))], days)[0]
            forecasts[ticker] = HoldingForecast(ticker, shares[ticker], float(data.series.price[-1]),
                                                float(means[0, -1]), float(np.sqrt(variance[0, -1])),
                                                model.calibration(ticker).quantiles, days)
            residuals[ticker] = (data.series.dates[1:], data.series.returns[1:] / data.baseline.sigma[:-1])
            last_dates[ticker] = bars.last_date
            notes.extend(_market_notes(ticker, model, market, market_note, bars))
            notes.extend(_warnings(store, ticker, model, bars, today or dt.date.today(), max_model_age_days))
    dates = np.unique(np.concatenate([d for d, _ in residuals.values()]))[-TAIL_WINDOW:]
    matrix = np.full((len(dates), len(holdings.tickers)), np.nan)
    for column, ticker in enumerate(holdings.tickers):
        own_dates, z = residuals[ticker]
        found = np.isin(own_dates, dates)
        matrix[np.searchsorted(dates, own_dates[found]), column] = z[found]
        recent = int(np.isfinite(matrix[-CORRELATION_WINDOW:, column]).sum())
        if recent < MIN_CORRELATION_DAYS:
            raise DataUnavailable(f"{ticker}: {recent} of its days fall in the portfolio's last "
                                  f"{min(len(dates), CORRELATION_WINDOW)} sessions, fewer than the "
                                  f"{MIN_CORRELATION_DAYS} its correlations need; run 'forecast fetch {ticker}' to "
                                  "update it, or leave it out")
    correlation, shrinkage = shrunk_correlation(matrix[-CORRELATION_WINDOW:])
    joint = JointForecast.build([forecasts[t] for t in holdings.tickers], correlation, shrinkage, matrix)
    as_of = max(last_dates.values())
    for ticker in holdings.tickers:
        if last_dates[ticker] < as_of:
            notes.append(Notice(ticker, f"{ticker}: data ends {last_dates[ticker]}, before the others' {as_of}: it is "
                                        f"valued at that day's close", kind="holdings whose data ends before the "
                                                                            "others'",
                                advice="run 'forecast fetch' to update them", flag=STALE_DATA))
    path = None
    if path_sessions:
        from forecaster.risk.portfolio_backtest import model_var_path

        start = max(data.series.dates[max(0, len(data) - path_sessions)] for _, data in datas.values())
        histories = {ticker: forecast_history(model, ticker, data, start) for ticker, (model, data) in datas.items()}
        path = model_var_path(shares, histories, level, str(start))
    return PortfolioForecast(joint.risk(level, days), as_of, list(dict.fromkeys(labels)), notes, path)


def _served_holdings(store: Store, holdings) -> list[tuple[Model, str, list[tuple[str, Bars]]]]:
    """(model, label, [(ticker, bars)]) serving every holding, as `predict` would; the first holding that no model
    can serve (or that is not stored) raises why: a portfolio's risk without one of its holdings would be wrong."""
    holdings.check_stored(store.has_bars)
    failures, served = _serve_each(store, holdings.tickers)
    for ticker in holdings.tickers:
        if ticker in failures:
            raise failures[ticker]
    return list(served.values())


def check_var_level(level: float | None) -> float:
    """The value-at-risk level, [portfolio] level's default when None; UsageError outside its bounds."""
    from forecaster.config import BY_NAME

    setting = BY_NAME["portfolio.level"]
    if level is None:
        return setting.default
    try:
        return setting.check(level)
    except ValueError as error:
        raise UsageError(f"{setting.option} {error}") from None


@dataclass
class PortfolioEvaluation:
    test_start: str
    level: float
    served_by: str
    daily: object  # forecaster.risk.portfolio_backtest.DailyForecasts
    summary: dict  # method -> backtest_summary's
    notes: list[str] = field(default_factory=list)

    def document(self) -> dict:
        """`forecast evaluate --portfolio FILE -f json`'s document: the model's backtest as `portfolio`, the
        baselines' under `baselines`."""
        return {"test_start": self.test_start, "test_end": str(self.daily.dates[-1]), "days": len(self.daily.pnl),
                "model": self.served_by,
                "portfolio": self.summary["model"],
                "baselines": {method: s for method, s in self.summary.items() if method != "model"}}


def evaluate_portfolio(store: Store, holdings, config: TrainingConfig, test_start: dt.date, level: float | None = None,
                       callback=None) -> PortfolioEvaluation:
    """Walk-forward backtests of the portfolio's one-day VaR and ES from `test_start` (forecaster.risk
    .portfolio_backtest), every forecast from a model fitted before it: the newest shipped vintage whose data ends
    before `test_start` with each holding calibrated on its bars before it, or (`pooled`, or no such vintage) a pool
    trained on the holdings' bars before it, as `evaluate` does."""
    from forecaster.model.training import add_ticker, train_model
    from forecaster.model.vintages import latest
    from forecaster.risk.evaluate import check_test_start
    from forecaster.risk.portfolio_backtest import backtest_summary, daily_forecasts

    level = check_var_level(level)
    config.check()
    holdings.check_stored(store.has_bars)
    notes: list[str] = []
    if config.model == "per-ticker":  # one network joins the holdings: the shipped one, as a new home's default
        notes.append("models of their own are not backtested together: the portfolio is evaluated with the shipped "
                     "network (--model pooled: one trained on the holdings)")
        config = dataclasses.replace(config, model="shipped")
    vintage = latest(test_start) if config.model == "shipped" else None
    bars = {}
    for ticker in holdings.tickers:
        bars[ticker] = store.read_bars(ticker)
        check_test_start(bars[ticker], ticker, test_start.isoformat(),
                         config.min_rows if vintage is None else config.min_join_rows, config.window,
                         window_helps=vintage is None)
    market, note = market_bars(store, config.market_ticker, before=test_start)
    notes.extend([note] if note else [])
    if vintage is not None:
        model = vintage.load()
        config = for_vintage(model, config, notes)
        for ticker in holdings.tickers:
            model = add_ticker(model, ticker, bars[ticker].before(test_start), market, config)
    else:
        if config.model == "shipped":
            notes.append(no_vintage_note(test_start).replace("the home's tickers", "the holdings"))
        model = train_model({t: b.before(test_start) for t, b in bars.items()}, market, config, "pooled",
                            callback=callback)
    full_market = Market.from_bars(market[0], store.read_bars(market[0])) if market else None
    histories = {t: forecast_history(model, t, model.data(t, bars[t], full_market), test_start)
                 for t in holdings.tickers}
    shares = dict(zip(holdings.tickers, holdings.shares, strict=True))
    daily = daily_forecasts(shares, histories, level, test_start.isoformat())
    ends = {ticker: bars[ticker].last_date for ticker in holdings.tickers}
    first_end = min(ends, key=ends.get)
    if ends[first_end] < max(ends.values()):
        notes.append(f"the test ends {ends[first_end]}, where {first_end}'s data does (the others' goes on to "
                     f"{max(ends.values())})")
    return PortfolioEvaluation(test_start.isoformat(), level, model.label, daily, backtest_summary(daily, level),
                               notes)


def forecast_history(model: Model, ticker: str, data: TickerData, test_start: dt.date):
    """The model's one-session forecasts of each of the ticker's days from `test_start` on (ForecastHistory), from
    its inputs and baseline (`model.data`)."""
    from forecaster.risk.portfolio_backtest import ForecastHistory

    series = data.series
    first = max(int(np.searchsorted(series.dates, np.datetime64(test_start, "D"))), model.window)
    ends = np.arange(first - 1, len(series) - 1)
    mean, spread = np.full(len(series), np.nan), np.full(len(series), np.nan)
    if len(ends):
        means, variance, _ = model.paths([(ticker, data, ends)], 1)[0]
        mean[ends + 1], spread[ends + 1] = means[:, 0], np.sqrt(variance[:, 0])
    residual = np.concatenate([[np.nan], series.returns[1:] / data.baseline.sigma[:-1]])
    return ForecastHistory(ticker, series.dates, series.price, series.returns, mean, spread, residual,
                           model.calibration(ticker).quantiles)
