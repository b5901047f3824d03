"""Walk-forward evaluation: the LSTM against the naive forecast and a linear (ridge) model, on the same windows.

The models are trained on bars strictly before the test start. Then, for every trading day d from the test start on,
each method forecasts the adjusted close of d from the window ending the day before: no forecast sees its own day or
anything later. Scalers, shrinkage and interval calibration all come from the training span.

Metrics, in price units over the test days: RMSE, MAE, MAPE (%), directional accuracy (share of days whose predicted
move from the previous close has the sign of the actual move) and the
coverage of each method's 90% interval. Directional accuracy counts the days on which both the forecast and the
price moved; it is None for a method that never predicts a move (naive, or a model shrunk all the way to naive).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.bars import Bars
from forecaster.errors import UsageError
from forecaster.model import Dataset, TrainingConfig, interval_quantiles, train
from forecaster.output import plural
from forecaster.windows import build_series

METHODS = ("model", "naive", "linear")


@dataclass
class Evaluation:
    ticker: str
    test_start: str
    dates: np.ndarray  # (n,) test days
    actual: np.ndarray  # (n,) adjusted close
    previous: np.ndarray  # (n,) adjusted close of the day before
    forecasts: dict[str, np.ndarray]  # method -> (n,) forecast of the adjusted close
    intervals: dict[str, tuple[np.ndarray, np.ndarray]]  # method -> (lower, upper)

    def metrics(self) -> dict[str, dict]:
        return {method: score(self.forecasts[method], *self.intervals[method], self.actual, self.previous)
                for method in METHODS}

    def report(self) -> dict:
        return {"ticker": self.ticker, "test_start": self.test_start, "n": len(self.dates), **self.metrics()}

    def prediction_rows(self) -> list[dict]:
        lower, upper = self.intervals["model"]
        return [{"date": str(d), "actual": a, "model": m, "lower": lo, "upper": up, "naive": nv, "linear": ln}
                for d, a, m, lo, up, nv, ln in zip(self.dates, self.actual.tolist(), self.forecasts["model"].tolist(),
                                                   lower.tolist(), upper.tolist(), self.forecasts["naive"].tolist(),
                                                   self.forecasts["linear"].tolist(), strict=True)]


def walk_forward(bars: Bars, ticker: str, test_start: str, config: TrainingConfig, callback=None) -> Evaluation:
    """Train on bars before `test_start`, then forecast every later day from the day before (see module doc)."""
    start = np.datetime64(test_start, "D")
    if len(bars) == 0 or start > bars.dates[-1]:
        raise UsageError(f"--test-start {test_start} is after the last stored date of {ticker} ({bars.last_date})")
    if start <= bars.dates[0]:
        raise UsageError(f"--test-start {test_start} is not after the first stored date of {ticker} "
                         f"({bars.first_date}): nothing to train on")
    training_bars = bars.before(start)
    if len(training_bars) < config.min_rows:
        raise UsageError(
            f"{ticker} has {len(training_bars)} {plural(len(training_bars), 'row')} before --test-start "
            f"{test_start}; training with --window {config.window} needs at least {config.min_rows} (choose a later "
            "--test-start or a smaller --window)"
        )
    forecaster, data = train(training_bars, config, ticker, callback=callback)

    series = build_series(bars, config.features)  # the whole history; windows below end before each test day
    test_days = np.flatnonzero(series.dates >= start)
    ends = test_days - 1  # the window for day d ends on day d-1
    previous, actual = series.price[ends], series.price[test_days]
    sigma = series.volatility[ends]

    model_returns = forecaster.predict_returns(series, ends)
    linear = _fit_linear(data)
    linear_returns = _linear_returns(linear, data, series, ends)

    cal = forecaster.meta["calibration"]
    val_ends, val_sigma = data.ends_val, data.series.volatility[data.ends_val]
    val_actual = data.targets(val_ends)
    naive_q = interval_quantiles(val_actual, val_sigma)
    linear_q = interval_quantiles(val_actual - _linear_returns(linear, data, data.series, val_ends), val_sigma)
    centres = {"model": model_returns, "naive": np.zeros(len(ends)), "linear": linear_returns}
    quantiles = {"model": (cal["z_lower"], cal["z_upper"]), "naive": naive_q, "linear": linear_q}
    forecasts = {m: previous * np.exp(centres[m]) for m in METHODS}
    intervals = {m: (previous * np.exp(centres[m] + quantiles[m][0] * sigma),
                     previous * np.exp(centres[m] + quantiles[m][1] * sigma)) for m in METHODS}
    return Evaluation(ticker, str(series.dates[test_days[0]]), series.dates[test_days], actual, previous, forecasts,
                      intervals)


def _fit_linear(data: Dataset):
    """Ridge regression on the flattened training windows, the same inputs and targets as the LSTM."""
    from sklearn.linear_model import Ridge

    X = data.windows(data.ends_train).reshape(len(data.ends_train), -1)
    return Ridge(alpha=1.0).fit(X, data.scaled_targets(data.ends_train))


def _linear_returns(linear, data: Dataset, series, ends: np.ndarray) -> np.ndarray:
    return linear.predict(data.windows(ends, series).reshape(len(ends), -1)) * data.y_scale + data.y_mean


def score(forecast, lower, upper, actual, previous) -> dict:
    """RMSE, MAE, MAPE (%), directional accuracy and interval coverage of price forecasts."""
    from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, mean_squared_error

    predicted_move, actual_move = np.sign(forecast - previous), np.sign(actual - previous)
    both_moved = (predicted_move != 0) & (actual_move != 0)
    direction = None
    if both_moved.any():
        direction = float(np.mean(predicted_move[both_moved] == actual_move[both_moved]))
    return {
        "rmse": float(np.sqrt(mean_squared_error(actual, forecast))),
        "mae": float(mean_absolute_error(actual, forecast)),
        "mape": float(100 * mean_absolute_percentage_error(actual, forecast)),
        "directional_accuracy": direction,
        "coverage": float(np.mean((actual >= lower) & (actual <= upper))),
    }
