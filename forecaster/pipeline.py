"""The product's jobs, one ticker at a time: train and save a model, forecast the next sessions, evaluate.

The CLI calls these and presents their results; they raise ForecastError subclasses for anything a user can fix.
Imports stay light here: `predict` runs without pandas, scikit-learn or yfinance.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

import numpy as np

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
    """Train on the stored bars (up to `until`, inclusive) and save the model. Returns a summary row."""
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
    }


@dataclass
class Prediction:
    rows: list[dict]  # ticker, as_of, date, horizon, forecast, lower, upper, last_close
    warnings: list[str]  # stale data, model older than data
    live_record: str | None  # one line on the live track record of 1-day forecasts, once there is one


def check_days(days: int) -> None:
    """UsageError unless 1 <= days <= MAX_DAYS (the calendar may allow fewer: see calendar.next_sessions)."""
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"--days must be between 1 and {MAX_DAYS}, got {days}")


def predict_ticker(store: Store, ticker: str, days: int, today: dt.date | None = None) -> Prediction:
    """Forecast the next `days` sessions after the last stored bar and log the forecasts."""
    check_days(days)
    ticker = normalize_ticker(ticker)
    forecaster = Forecaster.load(store, ticker)
    bars = store.read_bars(ticker)
    as_of = bars.last_date
    rows = forecast_sessions(store, ticker, forecaster, bars, days)
    warnings = []
    today = today or dt.date.today()
    age = (today - dt.date.fromisoformat(as_of)).days
    if age > STALE_AFTER_DAYS:
        warnings.append(f"{ticker}: data ends {as_of}, {age} {plural(age, 'day')} ago; run 'forecast fetch {ticker}' "
                        "to update")
    trained_until = forecaster.meta["training"]["last_date"]
    if trained_until < as_of:
        newer = int(np.sum(bars.dates > np.datetime64(trained_until, "D")))
        warnings.append(f"{ticker}: model trained on data to {trained_until}, {newer} newer "
                        f"{plural(newer, 'row is', 'rows are')} stored; run 'forecast train {ticker}' to retrain")
    logged = record_predictions(store, rows)
    return Prediction(rows, warnings, _live_record(ticker, logged, bars))


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
