"""Walk-forward evaluation: the LSTM against the naive forecast, a linear (ridge) model and GARCH-type volatility
models, all on the same days.

The models are trained on bars strictly before the test start. Then, for every trading day d from the test start on,
each method forecasts the adjusted close of d from data up to the origin t = d - H, H sessions earlier (`horizon`):
no forecast sees its own day or anything after its origin. Scalers, shrinkage, volatility choice and interval
calibration come from the training span; the GARCH parameters are fitted on it and then held fixed while the
variance is filtered forward.

Methods, each with a point forecast and a 90% interval for the H-day log return R = log(P_d / P_t):

- model: the forecaster (mean path and calibrated, mean-reverting volatility path; see forecaster.model);
- naive: no move, with the RiskMetrics interval ±1.645 σ_t sqrt(H), σ the EWMA(0.94) of squared returns;
- linear: ridge regression of R on the flattened window (direct H-day forecast), its interval from the quantiles of
  its validation residuals scaled by σ_t sqrt(H);
- garch, gjr: GARCH(1,1) and GJR-GARCH(1,1) with Student-t errors (the `arch` package): constant mean, interval
  ±q_ν sqrt(V) with V the forecast H-day variance and q_ν the unit-variance t quantile.

Metrics over the test days: RMSE, MAE, MAPE (%) of the price forecasts, directional accuracy (over the days on which
both the forecast and the price moved; None for a method that never predicts a move), and of the 90% interval its
coverage, mean width (in log-return units) and interval (Winkler) score, (u - l) + 20 (l - R)⁺ + 20 (R - u)⁺ on log
returns: lower is better.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.bars import Bars
from forecaster.errors import UsageError
from forecaster.model import INTERVAL_LEVEL, Dataset, TrainingConfig, train
from forecaster.output import plural
from forecaster.volatility import garch_forecasts, interval_score, student_quantile
from forecaster.windows import build_series

METHODS = ("model", "naive", "linear", "garch", "gjr")
NORMAL_QUANTILE = 1.6448536269514722  # the 95% quantile of the standard normal: RiskMetrics' 90% interval
MAX_HORIZON = 250


@dataclass
class Evaluation:
    ticker: str
    test_start: str
    horizon: int
    dates: np.ndarray  # (n,) test days
    actual: np.ndarray  # (n,) adjusted close
    previous: np.ndarray  # (n,) adjusted close at the origin, `horizon` sessions before
    forecasts: dict[str, np.ndarray]  # method -> (n,) forecast of the adjusted close
    intervals: dict[str, tuple[np.ndarray, np.ndarray]]  # method -> (lower, upper) of the adjusted close

    def metrics(self) -> dict[str, dict]:
        return {method: score(self.forecasts[method], *self.intervals[method], self.actual, self.previous)
                for method in METHODS}

    def report(self) -> dict:
        return {"ticker": self.ticker, "test_start": self.test_start, "horizon": self.horizon, "n": len(self.dates),
                **self.metrics()}

    def prediction_rows(self) -> list[dict]:
        """Per test day: date, actual, and each method's forecast with its interval (model's as lower, upper)."""
        rows = []
        for i, date in enumerate(self.dates):
            row = {"date": str(date), "origin_close": float(self.previous[i]), "actual": float(self.actual[i]),
                   "horizon": self.horizon}
            for method in METHODS:
                lower, upper = self.intervals[method]
                prefix = "" if method == "model" else f"{method}_"
                row[method] = float(self.forecasts[method][i])
                row[f"{prefix}lower"], row[f"{prefix}upper"] = float(lower[i]), float(upper[i])
            rows.append(row)
        return rows


PREDICTION_COLUMNS = ["date", "actual", "model", "lower", "upper", "naive", "linear", "origin_close",
                      "naive_lower", "naive_upper", "linear_lower", "linear_upper", "garch", "garch_lower",
                      "garch_upper", "gjr", "gjr_lower", "gjr_upper", "horizon"]


def check_horizon(horizon: int) -> None:
    if not 1 <= horizon <= MAX_HORIZON:
        raise UsageError(f"--horizon must be between 1 and {MAX_HORIZON}, got {horizon}")


def summary_rows(reports: list[dict]) -> list[dict]:
    """One table row per ticker and method: errors and interval scores, each also relative to naive's."""
    rows = []
    for report in reports:
        naive = report["naive"]
        for method in METHODS:
            metrics = report[method]
            rows.append({"ticker": report["ticker"], "method": method, "RMSE": metrics["rmse"],
                         "vs naive": metrics["rmse"] / naive["rmse"], "MAE": metrics["mae"],
                         "direction": metrics["directional_accuracy"], "90% coverage": metrics["coverage"],
                         "width": metrics["width"], "interval score": metrics["interval_score"],
                         "score vs naive": metrics["interval_score"] / naive["interval_score"]})
    return rows


def walk_forward(bars: Bars, ticker: str, test_start: str, config: TrainingConfig, callback=None,
                 horizon: int = 1) -> Evaluation:
    """Train on bars before `test_start`, then forecast every later day from `horizon` sessions before it."""
    check_horizon(horizon)
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

    series = build_series(bars, forecaster.meta["features"])  # the whole history; windows end at each origin
    test_days = np.flatnonzero(series.dates >= start)
    test_days = test_days[test_days - horizon >= forecaster.window - 1]
    if not len(test_days):
        raise UsageError(f"no test day of {ticker} has an origin {horizon} {plural(horizon, 'session')} before it")
    origins = test_days - horizon
    previous, actual = series.price[origins], series.price[test_days]
    root_h = np.sqrt(horizon)

    means, variance = forecaster.paths(series, origins, horizon)
    low, high = forecaster.quantiles(horizon)
    centre, spread = means[:, -1], np.sqrt(variance[:, -1])
    bounds = {"model": (centre + low * spread, centre + high * spread)}
    centres = {"model": centre, "naive": np.zeros(len(origins))}
    sigma = series.volatility[origins] * root_h
    bounds["naive"] = (-NORMAL_QUANTILE * sigma, NORMAL_QUANTILE * sigma)

    linear = _fit_linear(data, horizon)
    centres["linear"] = _linear_returns(linear, data, series, origins, horizon)
    val_origins = data.ends_val[data.ends_val + horizon < len(data.series)]
    residual = (_cumulative(data.series.returns, val_origins, horizon)
                - _linear_returns(linear, data, data.series, val_origins, horizon))
    q_low, q_high = np.quantile(residual / (data.series.volatility[val_origins] * root_h),
                                [(1 - INTERVAL_LEVEL) / 2, (1 + INTERVAL_LEVEL) / 2])
    bounds["linear"] = (centres["linear"] + q_low * sigma, centres["linear"] + q_high * sigma)

    for method, asymmetric in (("garch", False), ("gjr", True)):
        mean, garch_variance, nu = garch_forecasts(series.returns, int(test_days[0]), origins, horizon, asymmetric)
        half = student_quantile(nu, INTERVAL_LEVEL) * np.sqrt(garch_variance)
        centres[method], bounds[method] = mean, (mean - half, mean + half)

    forecasts = {m: previous * np.exp(centres[m]) for m in METHODS}
    intervals = {m: (previous * np.exp(bounds[m][0]), previous * np.exp(bounds[m][1])) for m in METHODS}
    return Evaluation(ticker, str(series.dates[test_days[0]]), horizon, series.dates[test_days], actual, previous,
                      forecasts, intervals)


def _cumulative(returns: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """r_{t+1} + ... + r_{t+horizon} for each origin t."""
    total = np.concatenate([[0.0], np.cumsum(returns)])
    return total[origins + horizon + 1] - total[origins + 1]


def _fit_linear(data: Dataset, horizon: int):
    """Ridge regression of the next `horizon` days' log return on the flattened training windows (the LSTM's
    inputs), standardised like the LSTM's target."""
    from sklearn.linear_model import Ridge

    ends = data.ends_train[data.ends_train + horizon < len(data.series)]
    X = data.windows(ends).reshape(len(ends), -1)
    y = (_cumulative(data.series.returns, ends, horizon) - horizon * data.y_mean) / data.y_scale
    return Ridge(alpha=1.0).fit(X, y)


def _linear_returns(linear, data: Dataset, series, ends: np.ndarray, horizon: int) -> np.ndarray:
    """The ridge model's forecast of the next `horizon` days' log return from the windows ending at `ends`."""
    return linear.predict(data.windows(ends, series).reshape(len(ends), -1)) * data.y_scale + horizon * data.y_mean


def score(forecast, lower, upper, actual, previous) -> dict:
    """RMSE, MAE, MAPE (%), directional accuracy of price forecasts; coverage, mean width and interval score of the
    interval [lower, upper], the last two on log returns from `previous`."""
    from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, mean_squared_error

    predicted_move, actual_move = np.sign(forecast - previous), np.sign(actual - previous)
    both_moved = (predicted_move != 0) & (actual_move != 0)
    direction = None
    if both_moved.any():
        direction = float(np.mean(predicted_move[both_moved] == actual_move[both_moved]))
    log_lower, log_upper, outcome = np.log(lower / previous), np.log(upper / previous), np.log(actual / previous)
    return {
        "rmse": float(np.sqrt(mean_squared_error(actual, forecast))),
        "mae": float(mean_absolute_error(actual, forecast)),
        "mape": float(100 * mean_absolute_percentage_error(actual, forecast)),
        "directional_accuracy": direction,
        "coverage": float(np.mean((actual >= lower) & (actual <= upper))),
        "width": float(np.mean(log_upper - log_lower)),
        "interval_score": interval_score(log_lower, log_upper, outcome, INTERVAL_LEVEL),
    }
