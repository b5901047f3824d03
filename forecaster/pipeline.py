"""The product's jobs, one ticker at a time: train and save a model, forecast the next sessions, evaluate.

The CLI calls these and presents their results; they raise ForecastError subclasses for anything a user can fix.
Imports stay light here: `predict` runs without pandas, scikit-learn or yfinance.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

import numpy as np

from forecaster.bars import Bars
from forecaster.calendar import exchange_for, next_sessions
from forecaster.errors import DataUnavailable, ForecastError, UsageError
from forecaster.model import Forecaster, TrainingConfig, train
from forecaster.output import plural
from forecaster.predictions import record_predictions
from forecaster.store import Store, normalize_ticker
from forecaster.track import score_ticker

STALE_AFTER_DAYS = 5
MAX_DAYS = 1000  # sessions ahead: about four years, more than any exchange calendar publishes


def train_ticker(store: Store, ticker: str, config: TrainingConfig, until: dt.date | None = None,
                 callback=None) -> dict:
    """Train on the stored bars (up to `until`, inclusive) and save the model. Returns a summary row.

    A job of forecaster.parallel: it may run in a worker process or on a cluster, so it takes and returns plain
    data."""
    ticker = normalize_ticker(ticker)
    stored = store.read_bars(ticker)
    bars = stored.until(until) if until is not None else stored
    if not len(bars):
        raise UsageError(f"--until {until} is before the first stored date of {ticker} ({stored.first_date})")
    forecaster, _ = train(bars, config, ticker, callback=callback)
    with store.lock(f"{ticker}.model"):
        forecaster.save(store, ticker)
    with contextlib.suppress(ForecastError):  # only warms the calendar cache for predict; the model is saved
        next_sessions(bars.last_date, 1, exchange_for(ticker), store.cache_dir)
    meta = forecaster.meta
    validation = meta["validation"]
    return {
        "ticker": ticker,
        "rows": meta["training"]["rows"],
        "until": meta["training"]["last_date"],
        "epochs": meta["training"]["epochs_run"],
        "best epoch": meta["training"]["best_epoch"],
        "val RMSE model": validation["rmse_model"],
        "val RMSE naive": validation["rmse_naive"],
        "ratio": validation["rmse_model"] / validation["rmse_naive"],
        "network share": meta["calibration"]["network_share"],
        "volatility": meta["volatility"]["method"] + (f" {meta['volatility']['network_share']:g}"
                                                      if meta["volatility"]["method"] == "network" else ""),
        "notes": meta["notes"],  # for the user, not a column
    }


def evaluate_ticker(store: Store, ticker: str, config: TrainingConfig, test_start: dt.date, horizon: int = 1,
                    callback=None) -> tuple[dict, list[dict]]:
    """Walk-forward evaluation of `ticker` from `test_start`, `horizon` sessions ahead (see forecaster.evaluate):
    (report, daily rows). A job of forecaster.parallel, like `train_ticker`."""
    from forecaster.evaluate import walk_forward

    ticker = normalize_ticker(ticker)
    evaluation = walk_forward(store.read_bars(ticker), ticker, test_start.isoformat(), config, callback, horizon)
    return evaluation.report(), evaluation.prediction_rows()


def check_days(days: int) -> None:
    """UsageError unless 1 <= days <= MAX_DAYS (the calendar may allow fewer: see calendar.next_sessions)."""
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"--days must be between 1 and {MAX_DAYS}, got {days}")


STALE_DATA, OLD_MODEL = "stale data", "old model"  # the kinds of a Prediction's warnings


@dataclass
class Prediction:
    ticker: str
    rows: list[dict]  # ticker, as_of, date, horizon, forecast, lower, upper, last_close
    warnings: dict[str, str]  # kind (STALE_DATA, OLD_MODEL) -> one line for the user
    bars: Bars  # the stored bars it was made from
    live_record: str | None = None  # one line on the live track record of 1-day forecasts, once there is one


def forecast_tickers(store: Store, tickers: list[str], days: int,
                     today: dt.date | None = None) -> tuple[list[Prediction], list[tuple[str, ForecastError]]]:
    """Forecast the next `days` sessions of every ticker after its last stored bar, without logging them (`predict`
    logs them, `report` shows them). Returns the predictions and the failures."""
    check_days(days)
    predictions, failures = [], []
    for ticker in tickers:
        try:
            predictions.append(_forecast_ticker(store, normalize_ticker(ticker), days, today or dt.date.today()))
        except ForecastError as error:
            failures.append((ticker, error))
    return predictions, failures


def predict_tickers(store: Store, tickers: list[str], days: int,
                    today: dt.date | None = None) -> tuple[list[Prediction], list[tuple[str, ForecastError]]]:
    """`forecast_tickers`, then log all the forecasts at once (one lock, one rewrite of the log, however many
    tickers). Returns the predictions and the failures."""
    predictions, failures = forecast_tickers(store, tickers, days, today)
    if predictions:
        logged = record_predictions(store, [row for prediction in predictions for row in prediction.rows])
        by_ticker: dict[str, list[dict]] = {}
        for row in logged:
            by_ticker.setdefault(row["ticker"], []).append(row)
        for prediction in predictions:
            prediction.live_record = _live_record(prediction.ticker, by_ticker.get(prediction.ticker, []),
                                                  prediction.bars)
    return predictions, failures


def predict_ticker(store: Store, ticker: str, days: int, today: dt.date | None = None) -> Prediction:
    """`predict_tickers` for one ticker: its Prediction, or its ForecastError raised."""
    predictions, failures = predict_tickers(store, [ticker], days, today)
    if failures:
        raise failures[0][1]
    return predictions[0]


def _forecast_ticker(store: Store, ticker: str, days: int, today: dt.date) -> Prediction:
    forecaster = Forecaster.load(store, ticker)
    bars = store.read_bars(ticker)
    as_of = bars.last_date
    rows = forecast_sessions(store, ticker, forecaster, bars, days)
    warnings = {}
    age = (today - dt.date.fromisoformat(as_of)).days
    if age > STALE_AFTER_DAYS:
        warnings[STALE_DATA] = (f"{ticker}: data ends {as_of}, {age} {plural(age, 'day')} ago; run 'forecast fetch "
                                f"{ticker}' to update")
    trained_until = forecaster.meta["training"]["last_date"]
    if trained_until < as_of:
        newer = int(np.sum(bars.dates > np.datetime64(trained_until, "D")))
        warnings[OLD_MODEL] = (f"{ticker}: model trained on data to {trained_until}, {newer} newer "
                               f"{plural(newer, 'row is', 'rows are')} stored; run 'forecast train {ticker}' to "
                               "retrain")
    return Prediction(ticker, rows, warnings, bars)


def forecast_sessions(store: Store, ticker: str, forecaster: Forecaster, bars, days: int) -> list[dict]:
    """The forecasts for the `days` sessions after the last bar: ticker, as_of, date, horizon, forecast, lower,
    upper, last_close."""
    sessions = next_sessions(bars.last_date, days, exchange_for(ticker), store.cache_dir)
    last_close = float(bars.adj_close[-1])
    return [{"ticker": ticker, "as_of": bars.last_date, "date": date, **forecast, "last_close": last_close}
            for date, forecast in zip(sessions, forecaster.forecast(bars, days), strict=True)]


def _live_record(ticker: str, logged: list[dict], bars) -> str | None:
    scores = [s for s in score_ticker(ticker, logged, bars) if s["horizon"] == 1 and s["n"] and s["ratio"]]
    if not scores:
        return None
    score = scores[0]
    return (f"{ticker}: live record of 1-day forecasts: RMSE {score['ratio']:.4f} x naive over {score['n']} "
            f"{plural(score['n'], 'day')} ('forecast score {ticker}' for more)")


def model_tickers(store: Store) -> list[str]:
    """Tickers that have a saved model."""
    if not store.models_dir.is_dir():
        return []
    return sorted(p.name for p in store.models_dir.iterdir() if (p / "meta.json").is_file())


def require_tickers(tickers: list[str], available: list[str], what: str) -> list[str]:
    if tickers:
        return list(dict.fromkeys(normalize_ticker(t) for t in tickers))  # 'ibm IBM' is one ticker
    if not available:
        raise DataUnavailable(f"no {what}")
    return available
