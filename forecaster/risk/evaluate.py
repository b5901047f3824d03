"""Walk-forward evaluation: the model against the naive forecast, a linear (ridge) model, GARCH-type volatility models
and the pooled HAR, all on the same days, at one interval level.

Every model is trained on bars strictly before the test start: a pool on every evaluated ticker's bars and the
market's, all cut at that date (forecaster.model.training). Then, for every trading day d from the test start on, each
method forecasts the adjusted close of d from data up to the origin t = d - H, H sessions earlier: no forecast sees its
own day or anything after its origin. Scalers, shrinkage, calibration, the HAR and the GARCH parameters come from the
training span only; the GARCH variance is then filtered forward with its parameters held fixed.

Methods, each a `ForecastMethod`: fitted on the bars before the test start, then asked at each horizon for a point
forecast and a central interval at `level` of the H-day log return R = log(P_d / P_t) (`Bounds`) at every test day:

- model (`Network`): the network's mean path and calibrated, mean-reverting volatility path
  (forecaster.model.serving), every ticker's windows passed through the network in one batch per horizon;
- naive (`Naive`): no move, with the RiskMetrics interval ±z σ_t sqrt(H), σ the EWMA(0.94) of squared returns, z
  the normal quantile of the level;
- linear (`Linear`): ridge regression of R on the flattened window of the ticker's features (direct H-day forecast;
  fitted on the first 85% of the training windows), its interval from the quantiles of its residuals on the other
  15% scaled by σ_t sqrt(H);
- garch, gjr (`Garch`, `Gjr`): GARCH(1,1) and GJR-GARCH(1,1) with Student-t errors (the `arch` package): constant
  mean, interval ±q_ν sqrt(V) with V the forecast H-day variance and q_ν the unit-variance t quantile;
- har (`Har`): the pool's log-HAR on the range alone (model.baseline's σ_HAR: no network, no correction), with the same
  variance path and pooled, partially pooled quantiles as the model (forecaster.model.calibration) — the bar a network
  has to clear.

`walk_forward` puts them together, given a trained model and the bounds of the methods that need no network
(`no_network_bounds`, a per-ticker job: naive, linear, GARCH, GJR). The reports, the columns of the daily forecasts
(`PREDICTION_COLUMNS`) and the summary tables follow the order of `METHODS`.

Metrics over the test days: RMSE, MAE, MAPE (%) of the price forecasts, directional accuracy (over the days on which
both the forecast and the price moved; None for a method that never predicts a move), and of the interval its
coverage, mean width (in log-return units) and interval (Winkler) score, (u - l) + 2/α (l - R)⁺ + 2/α (R - u)⁺ on
log returns with α = 1 - level: lower is better. And each bound's backtest (forecaster.risk.backtest): hits against the
expected number, Kupiec, Christoffersen and DQ p-values and the pinball loss; for a 99% lower bound (level 0.98) the
Basel traffic light of the last 250 days.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from forecaster.data.bars import Bars
from forecaster.errors import UsageError
from forecaster.model.calibration import Evidence, calibrate_newcomer, calibrate_pool, quantile_at
from forecaster.model.panel import Market, TickerData
from forecaster.model.serving import Model
from forecaster.model.volatility import cumulative_variance, garch_forecasts, interval_score, long_run_variance
from forecaster.model.windows import Series, build_series
from forecaster.text import plural

MAX_HORIZON = 250  # the longest horizon evaluate measures: beyond what predict offers, to show where it ends
LINEAR_VALIDATION = 0.15
Bounds = tuple[np.ndarray, np.ndarray, np.ndarray]  # (centre, lower, upper) of the H-day log return at each test day


@dataclass
class TestDays:
    """The days a ticker is tested on, `horizon` sessions ahead: test days d (n,) and their origins d - H, indices
    into the ticker's series (its bars minus the first)."""

    days: np.ndarray
    horizon: int

    @property
    def origins(self) -> np.ndarray:
        return self.days - self.horizon


def test_days(dates: np.ndarray, start: np.datetime64, horizon: int, window: int, ticker: str) -> TestDays:
    days = np.flatnonzero(dates >= start)
    days = days[days - horizon >= window - 1]
    if not len(days):
        raise UsageError(f"no test day of {ticker} has an origin {horizon} {plural(horizon, 'session')} before it")
    return TestDays(days, horizon)


@dataclass
class Evaluation:
    ticker: str
    test_start: str
    horizon: int
    level: float
    dates: np.ndarray  # (n,) test days
    actual: np.ndarray  # (n,) adjusted close
    previous: np.ndarray  # (n,) adjusted close at the origin, `horizon` sessions before
    bounds: dict[str, Bounds]  # each method's name -> its bounds, in the order of METHODS
    served_by: str = ""  # the model evaluated: "pooled", "per-ticker" or "shipped <date>" (Model.label)

    def metrics(self) -> dict[str, dict]:
        return {method: score(*bounds, self.actual, self.previous, self.level, self.horizon)
                for method, bounds in self.bounds.items()}

    def report(self) -> dict:
        return {"ticker": self.ticker, "test_start": self.test_start, "horizon": self.horizon, "level": self.level,
                "n": len(self.dates), "served_by": self.served_by, **self.metrics()}

    def prediction_rows(self) -> list[dict]:
        """Per test day: date, actual, origin close, and each method's forecast with its interval (prices)."""
        rows = []
        prices = {method: [self.previous * np.exp(b) for b in bounds] for method, bounds in self.bounds.items()}
        for i, date in enumerate(self.dates):
            row = {"date": str(date), "horizon": self.horizon, "level": self.level,
                   "origin_close": float(self.previous[i]), "actual": float(self.actual[i])}
            for method, method_prices in prices.items():
                row.update((column, float(price[i]))
                           for column, price in zip(method_columns(method), method_prices, strict=True))
            rows.append(row)
        return rows


def prediction_paths(template: str | None, tickers: list[str], several: bool) -> dict[str, Path]:
    """Where `--predictions TEMPLATE` writes each ticker's daily forecasts: TEMPLATE with {ticker} replaced by the
    symbol (without ^); UsageError when several tickers or horizons would share one file."""
    if template is None:
        return {}
    if several and "{ticker}" not in template:
        raise UsageError("--predictions with several tickers or horizons needs {ticker} in the file name, e.g. "
                         "eval-{ticker}.csv")
    return {ticker: Path(template.replace("{ticker}", ticker.replace("^", ""))) for ticker in tickers}


def prediction_tables(evaluations: list[Evaluation]) -> dict[str, str]:
    """Each ticker's daily forecasts of every horizon as CSV text (PREDICTION_COLUMNS)."""
    from forecaster.text import rows_to_csv

    daily: dict[str, list[dict]] = {}
    for evaluation in evaluations:
        daily.setdefault(evaluation.ticker, []).extend(evaluation.prediction_rows())
    return {ticker: rows_to_csv(rows, PREDICTION_COLUMNS) for ticker, rows in daily.items()}


def summary_table(reports: list[dict], test_start: str, level: float, horizons: list[int]) -> tuple[list[dict], str]:
    """The rows of `evaluate`'s table (a row per ticker, horizon and method; the geometric means over several
    tickers) and its title."""
    rows = summary_rows(reports)
    tickers = sorted({r["ticker"] for r in reports})
    percent = f"{100 * level:g}%"
    if len(tickers) == 1:
        return rows, (f"{reports[0]['ticker']}: {reports[0]['n']} trading {plural(reports[0]['n'], 'day')} from "
                      f"{reports[0]['test_start']}, {percent} intervals (vs naive < 1: better)")
    return rows + geometric_summary(reports), (
        f"Walk-forward from {test_start}, {percent} intervals, {', '.join(map(str, horizons))} "
        f"{plural(horizons[-1], 'session')} ahead (vs naive < 1: better)")


def check_horizon(horizon: int) -> None:
    if not 1 <= horizon <= MAX_HORIZON:
        raise UsageError(f"--horizon must be between 1 and {MAX_HORIZON}, got {horizon}")


def check_test_start(bars: Bars, ticker: str, test_start: str, min_rows: int, window: int,
                     window_helps: bool = True) -> Bars:
    """The bars before the test start, refused when the test start is outside the data or leaves too few (the advice
    names a smaller --window only where it would help: `window_helps`)."""
    start = np.datetime64(test_start, "D")
    if len(bars) == 0 or start > bars.dates[-1]:
        raise UsageError(f"--test-start {test_start} is after the last stored date of {ticker} ({bars.last_date})")
    if start <= bars.dates[0]:
        raise UsageError(f"--test-start {test_start} is not after the first stored date of {ticker} "
                         f"({bars.first_date}): nothing to train on")
    training = bars.before(start)
    if len(training) < min_rows:
        raise UsageError(f"{ticker} has {len(training)} row{'' if len(training) == 1 else 's'} before --test-start "
                         f"{test_start}; training with --window {window} needs at least {min_rows} (choose a later "
                         f"--test-start{' or a smaller --window' if window_helps else ''})")
    return training


# ------------------------------------------------------------------------------------------------ the methods
class ForecastMethod(Protocol):
    """A method of the evaluation: fitted on one ticker's bars strictly before the test start (when it is made, or
    once when first asked), then asked for its `Bounds` at the test days of each horizon."""

    name: str  # its key in the reports; its columns in the daily forecasts are `method_columns(name)`

    def bounds(self, days: TestDays, level: float) -> Bounds:
        ...


class Naive:
    """No move, with the RiskMetrics interval ±z σ_t sqrt(H)."""

    name = "naive"

    def __init__(self, series: Series, first_test: int, window: int):
        self.volatility = series.volatility  # an EWMA: σ_t sees nothing after t

    def bounds(self, days: TestDays, level: float) -> Bounds:
        from scipy import stats

        z = float(stats.norm.ppf((1 + level) / 2))
        sigma = self.volatility[days.origins] * math.sqrt(days.horizon)
        return np.zeros(len(days.origins)), -z * sigma, z * sigma


class Linear:
    """Ridge regression of the H-day return on the window of the ticker's features, a regression per horizon, each
    fitted on the training windows (those before `first_test`) when asked; its interval from the quantiles of its
    residuals on the last LINEAR_VALIDATION of them, in units of σ_t sqrt(H)."""

    name = "linear"

    def __init__(self, series: Series, first_test: int, window: int):
        self.series, self.first_test, self.window = series, first_test, window

    def bounds(self, days: TestDays, level: float) -> Bounds:
        from sklearn.linear_model import Ridge

        series, window, horizon = self.series, self.window, days.horizon
        train_days = series.features[:self.first_test]
        mean, scale = train_days.mean(axis=0), train_days.std(axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        total = np.concatenate([[0.0], np.cumsum(series.returns)])

        def windows(ends):
            offsets = np.arange(-window + 1, 1)
            return ((series.features[ends[:, None] + offsets] - mean) / scale).reshape(len(ends), -1)

        ends = np.arange(window - 1, self.first_test - horizon)
        if len(ends) < 10:
            raise UsageError("too little history before --test-start for the linear baseline")
        target = total[ends + horizon + 1] - total[ends + 1]
        split = len(ends) - max(5, int(len(ends) * LINEAR_VALIDATION))
        ridge = Ridge(alpha=1.0).fit(windows(ends[:split]), target[:split])
        held_out = ends[split:]
        residual = (target[split:] - ridge.predict(windows(held_out))) / (series.volatility[held_out]
                                                                          * math.sqrt(horizon))
        q_low, q_high = np.quantile(residual, [(1 - level) / 2, (1 + level) / 2])
        centre = ridge.predict(windows(days.origins))
        sigma = series.volatility[days.origins] * math.sqrt(horizon)
        return centre, centre + float(q_low) * sigma, centre + float(q_high) * sigma


class Garch:
    """GARCH(1,1) with Student-t errors: fitted once, on the returns before `first_test`, when first asked; then
    filtered forward with its parameters held fixed (model.volatility.garch_forecasts)."""

    name = "garch"
    asymmetric = False

    def __init__(self, series: Series, first_test: int, window: int):
        self.returns, self.first_test = series.returns, first_test
        self.params = None  # the fitted parameters, once asked

    def bounds(self, days: TestDays, level: float) -> Bounds:
        from forecaster.model.volatility import student_quantile

        mean, variance, self.params = garch_forecasts(self.returns, self.first_test, days.origins, days.horizon,
                                                      self.asymmetric, self.params)
        half = student_quantile(float(self.params["nu"]), level) * np.sqrt(variance)
        return mean, mean - half, mean + half


class Gjr(Garch):
    """GJR-GARCH(1,1) with Student-t errors, as `Garch`."""

    name = "gjr"
    asymmetric = True


NO_NETWORK = (Naive, Linear, Garch, Gjr)  # the methods fitted on a ticker's bars alone: `no_network_bounds`


def no_network_bounds(bars: Bars, features: str, test_start: str, horizons: list[int], window: int,
                      level: float) -> dict[int, dict[str, Bounds]]:
    """horizon -> {name: Bounds} of each NO_NETWORK method, fitted on the ticker's bars before the test start (a
    per-ticker job of forecaster.parallel: it takes and returns plain data)."""
    series = build_series(bars, features)
    start = np.datetime64(test_start, "D")
    first_test = int(np.flatnonzero(series.dates >= start)[0])
    methods: list[ForecastMethod] = [method(series, first_test, window) for method in NO_NETWORK]
    out = {}
    for horizon in horizons:
        days = test_days(series.dates, start, horizon, window, "")
        out[horizon] = {method.name: method.bounds(days, level) for method in methods}
    return out


class Har:
    """The pool's log-HAR alone (σ_HAR of model.baseline: no network, no correction), with the model's variance path
    and its own calibration (`calibrate_har`)."""

    name = "har"

    def __init__(self, data: TickerData, calibration: dict):
        self.sigma, self.calibration = data.baseline.har, calibration

    def bounds(self, days: TestDays, level: float) -> Bounds:
        long_run = long_run_variance(self.sigma)
        origins = days.origins
        variance = cumulative_variance(self.sigma[origins] ** 2, long_run[origins], self.calibration["persistence"],
                                       days.horizon)
        low, high = quantile_at(self.calibration["quantiles"], days.horizon, level)
        spread = np.sqrt(variance)
        return np.zeros(len(origins)), low * spread, high * spread


def har_evidence(model: Model, data: TickerData, training_days: int) -> Evidence:
    """The HAR baseline's evidence on a ticker's training span: σ_HAR with no network (m = s = 0), every window
    held out."""
    from forecaster.model.calibration import CALIBRATION_WINDOWS

    ends = np.arange(model.window - 1, training_days - 1)[-CALIBRATION_WINDOWS:]
    return Evidence.build(ends, np.zeros((len(ends), 2)), data.baseline.har, data.series.returns,
                          np.ones(len(ends), dtype=bool))


def calibrate_har(model: Model, datas: dict[str, TickerData], training_days: dict[str, int],
                  members: list[str]) -> dict[str, dict]:
    """Each ticker's calibration of the HAR baseline: pooled over the pool's members, the others calibrated against
    that as newcomers."""
    evidence = {t: har_evidence(model, datas[t], training_days[t]) for t in datas}
    pooled, calibrations = calibrate_pool({t: evidence[t] for t in members}, None)
    for ticker in datas:
        if ticker not in calibrations:
            calibrations[ticker] = calibrate_newcomer(evidence[ticker], pooled, None)
    return calibrations


class Network:
    """The trained model: the network's mean and calibrated volatility paths at each horizon's test days, computed
    for every ticker at once by `networks` (one batched pass through the network, as predict serves it)."""

    name = "model"

    def __init__(self, model: Model, ticker: str, paths: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]):
        self.model, self.ticker = model, ticker
        self.paths = paths  # horizon -> (origins, centre, spread): the H-day mean and its standard deviation

    def bounds(self, days: TestDays, level: float) -> Bounds:
        origins, centre, spread = self.paths[days.horizon]
        if not np.array_equal(origins, days.origins):
            raise ValueError(f"{self.ticker}: the network's paths were computed for other test days")
        low, high = self.model.quantiles(self.ticker, days.horizon, level)
        return centre, centre + low * spread, centre + high * spread


def networks(model: Model, datas: dict[str, TickerData], days: dict[str, dict[int, TestDays]],
             horizons: list[int]) -> dict[str, Network]:
    """Each ticker's `Network` for its test `days` (ticker -> horizon -> TestDays): its paths from one batched
    network pass per horizon over every ticker's windows."""
    paths: dict[str, dict] = {ticker: {} for ticker in datas}
    for horizon in horizons:
        items = [(ticker, data, days[ticker][horizon].origins) for ticker, data in datas.items()]
        for (ticker, _, origins), (means, variance, _) in zip(items, model.paths(items, horizon), strict=True):
            paths[ticker][horizon] = (origins, means[:, -1], np.sqrt(variance[:, -1]))
    return {ticker: Network(model, ticker, by_horizon) for ticker, by_horizon in paths.items()}


METHODS = tuple(method.name for method in (Network, *NO_NETWORK, Har))  # the order of reports, columns and tables


def method_columns(method: str) -> tuple[str, str, str]:
    """A method's columns in the daily forecasts (centre, lower, upper, as prices): the model's are 'model', 'lower'
    and 'upper', every other method's NAME, NAME_lower and NAME_upper."""
    prefix = "" if method == Network.name else f"{method}_"
    return method, f"{prefix}lower", f"{prefix}upper"


# the columns of the daily forecasts: the first ones in the order the file has had since it held three methods, then
# the others' three each
FIRST_COLUMNS = ["date", "horizon", "level", "actual", "model", "lower", "upper", "naive", "linear", "origin_close",
                 "naive_lower", "naive_upper", "linear_lower", "linear_upper"]
PREDICTION_COLUMNS = [*FIRST_COLUMNS, *(column for method in METHODS for column in method_columns(method)
                                        if column not in FIRST_COLUMNS)]


# ----------------------------------------------------------------------------------------------- together
def walk_forward(model: Model, bars_by_ticker: dict[str, Bars], market: Market | None, test_start: dt.date,
                 horizons: list[int], level: float, no_network: dict[str, dict[int, dict[str, Bounds]]],
                 har_members: list[str]) -> list[Evaluation]:
    """Every ticker's Evaluation at each horizon (ticker by ticker, horizons in order): the trained model's and the
    HAR's bounds (calibrated over `har_members`, the others as newcomers), beside the bounds of the methods that need
    no network (`no_network_bounds` of each ticker)."""
    start = np.datetime64(test_start, "D")
    datas = {t: model.data(t, bars, market) for t, bars in bars_by_ticker.items()}
    training_days = {t: len(bars.before(test_start)) - 1 for t, bars in bars_by_ticker.items()}
    har = calibrate_har(model, datas, training_days, [t for t in har_members if t in datas])
    days: dict[str, dict[int, TestDays]] = {t: {} for t in datas}
    for horizon in horizons:
        for ticker, data in datas.items():
            days[ticker][horizon] = test_days(data.series.dates, start, horizon, model.window, ticker)
    served = networks(model, datas, days, horizons)
    out = []
    for ticker, data in datas.items():
        methods: list[ForecastMethod] = [served[ticker], Har(data, har[ticker])]
        for horizon, ticker_days in days[ticker].items():
            bounds = {**no_network[ticker][horizon], **{m.name: m.bounds(ticker_days, level) for m in methods}}
            series = data.series
            out.append(Evaluation(ticker, str(series.dates[ticker_days.days[0]]), horizon, level,
                                  series.dates[ticker_days.days], series.price[ticker_days.days],
                                  series.price[ticker_days.origins], {name: bounds[name] for name in METHODS},
                                  model.label))
    return out


def summary_rows(reports: list[dict]) -> list[dict]:
    """One table row per ticker, horizon and method: errors and interval scores, each also relative to naive's."""
    rows = []
    for report in reports:
        naive = report["naive"]
        for method in METHODS:
            metrics = report[method]
            rows.append({"ticker": report["ticker"], "h": report["horizon"], "method": method,
                         "RMSE": metrics["rmse"], "vs naive": metrics["rmse"] / naive["rmse"],
                         "direction": metrics["directional_accuracy"], "coverage": metrics["coverage"],
                         "width": metrics["width"], "interval score": metrics["interval_score"],
                         "score vs naive": metrics["interval_score"] / naive["interval_score"],
                         "hits low/high": f"{metrics['tails']['lower']['hits']}/{metrics['tails']['upper']['hits']}",
                         "expected": metrics["tails"]["lower"]["expected"]})
    return rows


def geometric_summary(reports: list[dict]) -> list[dict]:
    """Per horizon and method, over the tickers: geometric means of the RMSE and interval-score ratios to naive, the
    mean coverage, and on how many tickers the method's interval score beats naive's."""
    rows = []
    for horizon in sorted({r["horizon"] for r in reports}):
        group = [r for r in reports if r["horizon"] == horizon]
        for method in METHODS:
            rmse = [r[method]["rmse"] / r["naive"]["rmse"] for r in group]
            scores = [r[method]["interval_score"] / r["naive"]["interval_score"] for r in group]
            rows.append({"ticker": f"all {len(group)} (geometric mean)", "h": horizon, "method": method,
                         "vs naive": _geometric_mean(rmse),
                         "coverage": float(np.mean([r[method]["coverage"] for r in group])),
                         "score vs naive": _geometric_mean(scores),
                         "better than naive": f"{sum(s < 1 for s in scores)} of {len(group)}"})
    return rows


def _geometric_mean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.exp(np.mean(np.log(values)))) if len(values) and np.all(values > 0) else math.nan


def score(centre, lower, upper, actual, previous, level: float, horizon: int = 1) -> dict:
    """RMSE, MAE, MAPE (%), directional accuracy of the price forecasts; coverage, mean width, interval score of the
    interval, and each bound's backtest (`backtest.tail_backtest`, whose tests take every `horizon`-th day), from
    (centre, lower, upper) log returns from `previous`."""
    from forecaster.risk.backtest import tail_backtest, traffic_light_zone

    forecast = previous * np.exp(centre)
    predicted_move, actual_move = np.sign(forecast - previous), np.sign(actual - previous)
    both_moved = (predicted_move != 0) & (actual_move != 0)
    direction = float(np.mean(predicted_move[both_moved] == actual_move[both_moved])) if both_moved.any() else None
    outcome = np.log(actual / previous)
    error = forecast - actual
    tails = {tail: tail_backtest(outcome, bound, tail, level, horizon)
             for tail, bound in (("lower", lower), ("upper", upper))}
    zone = traffic_light_zone(outcome, lower, level) if horizon == 1 else None
    if zone is not None:
        tails["lower"]["traffic_light"] = zone
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "mape": float(100 * np.mean(np.abs(error / actual))),
        "directional_accuracy": direction,
        "coverage": float(np.mean((outcome >= lower) & (outcome <= upper))),
        "width": float(np.mean(upper - lower)),
        "interval_score": interval_score(lower, upper, outcome, level),
        "tails": tails,
    }
