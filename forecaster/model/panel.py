"""A pool's data as one structure: every ticker's daily network inputs, volatility baseline and returns, and the
windows cut from them on demand (all of them at once would be gigabytes for a big watchlist).

The inputs of day t are scale-free, so that one network can learn from every ticker (σ is forecaster.model.baseline's
volatility, known at the close of its day):

    return          r_t / σ_{t-1}              the day's move in units of the move expected for it
    range           ρ_t - log σ_{t-1}          the log of the day's high-low range, against that expectation
    gap, intraday   gap_t / σ_{t-1}, intraday_t / σ_{t-1}: the overnight and the trading-hours part of the move
    volume_change   log((V_t + 1) / (V_{t-1} + 1))
    level           log σ_t                    where volatility stands (against the ticker's usual, once standardised)
    correction      log c_t                    how far moves have lately run from the HAR (forecaster.model.baseline)
    market_return   r_m,t / σ_m,t-1            the market index's move that same day, in units of its own baseline
    market_range    ρ_m,t - log σ_m,t-1        (σ_m: the EWMA of its range variance), missing on a day it did not trade

(ρ, gap and intraday as in model.windows; without real OHLC only return, level and correction.) Each column is
then centred on the ticker's own training-span mean and divided by the pool's spread of that column: the standard
deviation around each ticker's own mean, over every ticker's training span (`pooled_spread`). The inputs are
scale-free, so one spread serves every ticker, and it keeps the inputs that move slowly (level, correction) in the
units the network learnt: a ticker whose history is one calm year would otherwise have them divided by that year's
small spread and blown up by the first storm. A missing value becomes 0, the mean. A window ending at day t is the
inputs of days t-W+1..t, shape (W, F); the network's targets are r_{t+1} / σ_t and 0, the log of the baseline in
those units (forecaster.model.losses).

Everything here is causal: a day's inputs and baseline use that day and earlier days only, of the ticker and of the
market (which is matched by date: a market row dated after the ticker's day is never used).

NumPy only: `predict` builds the last window of every ticker it forecasts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.data.bars import Bars
from forecaster.model.baseline import Har, TickerBaseline, har_terms, log_variance_proxy, shock_terms, ticker_baseline
from forecaster.model.windows import FEATURE_SETS, Series, build_series

OWN_INPUTS = {"range": ("return", "range", "gap", "intraday", "volume_change", "level", "correction"),
              "returns": ("return", "level", "correction")}
MARKET_INPUTS = ("market_return", "market_range")
MIN_SCALE = 1e-8


def input_names(features: str, market: bool) -> tuple[str, ...]:
    """The network's input columns for a feature set ('range' or 'returns'), with or without the market."""
    return OWN_INPUTS[features] + (MARKET_INPUTS if market else ())


@dataclass(frozen=True)
class Market:
    """The market index's same-day inputs by date: dates (m,), and r_m,t / σ_m,t-1 and ρ_m,t - log σ_m,t-1 (NaN without
    real OHLC) (m,) each."""

    ticker: str
    dates: np.ndarray
    move: np.ndarray
    range: np.ndarray

    @classmethod
    def from_bars(cls, ticker: str, bars: Bars) -> Market:
        series = build_series(bars, "returns")
        sigma = series.range_volatility if series.range_volatility is not None else series.volatility
        previous = np.concatenate([sigma[:1], sigma[:-1]])
        relative_range = (np.log(np.maximum(series.log_range, 1e-4)) - np.log(previous)
                          if series.log_range is not None else np.full(len(series), np.nan))
        return cls(ticker, series.dates, series.returns / previous, relative_range)

    @classmethod
    def missing(cls, ticker: str) -> Market:
        """A market with no rows: its inputs are missing on every day (a model trained with a market that is not
        stored here)."""
        return cls(ticker, np.array([], dtype="datetime64[D]"), np.empty(0), np.empty(0))

    def on(self, dates: np.ndarray) -> np.ndarray:
        """(n, 2): the market's inputs on each of `dates`, NaN where it has no row of that date."""
        where = np.minimum(np.searchsorted(self.dates, dates), max(len(self.dates) - 1, 0))
        found = (self.dates[where] == dates) if len(self.dates) else np.zeros(len(dates), dtype=bool)
        out = np.full((len(dates), len(MARKET_INPUTS)), np.nan)
        for column, values in enumerate((self.move, self.range)):
            out[found, column] = values[where[found]]
        return out


@dataclass
class TickerData:
    """One ticker's arrays, aligned with series.dates: the baseline, and the standardised inputs (n, F) float32."""

    ticker: str
    series: Series
    baseline: TickerBaseline
    inputs: np.ndarray

    def __len__(self) -> int:
        return len(self.series)

    def windows(self, ends: np.ndarray, window: int) -> np.ndarray:
        """The input windows ending at days `ends`: (len(ends), window, F)."""
        offsets = np.arange(-window + 1, 1)
        return self.inputs[np.asarray(ends)[:, None] + offsets[None, :]]

    def scaled_returns(self, ends: np.ndarray) -> np.ndarray:
        """r_{t+1} / σ_t for windows ending at `ends`: the network's target, in baseline units."""
        ends = np.asarray(ends)
        return self.series.returns[ends + 1] / self.baseline.sigma[ends]


def har_inputs(series: Series, features: str) -> tuple[np.ndarray, np.ndarray]:
    """(x (n,), HAR terms (n, 3)) of a series: what its level and baseline are computed from (the range with the
    `range` feature set, else returns)."""
    x = log_variance_proxy(series, use_range=features == "range")
    return x, har_terms(x)


def raw_inputs(series: Series, baseline: TickerBaseline, market: Market | None) -> np.ndarray:
    """The unstandardised inputs (n, F) of the module docstring, in `input_names` order (the feature set is the one
    `series` was built with)."""
    sigma = baseline.sigma
    previous = np.concatenate([sigma[:1], sigma[:-1]])
    features = "range" if series.features.shape[1] == len(FEATURE_SETS["range"]) else "returns"
    named = dict(zip(FEATURE_SETS[features], series.features.T, strict=True))
    columns = {"return": series.returns / previous, "level": np.log(sigma), "correction": np.log(baseline.correction)}
    if features == "range":
        columns.update({"range": named["range"] - np.log(previous), "gap": named["gap"] / previous,
                        "intraday": named["intraday"] / previous, "volume_change": named["volume_change"]})
    out = [columns[name] for name in OWN_INPUTS[features]]
    if market is not None:
        out.extend(market.on(series.dates).T)
    return np.column_stack(out)


def column_means(raw: np.ndarray) -> np.ndarray:
    """The mean (F,) of each column of `raw` (n, F), ignoring missing values; 0 for a column without values."""
    present = np.isfinite(raw)
    count = present.sum(axis=0)
    return np.where(count > 0, np.where(present, raw, 0.0).sum(axis=0) / np.maximum(count, 1), 0.0)


def pooled_spread(raws: list[np.ndarray]) -> np.ndarray:
    """The pool's spread (F,) of each column: sqrt(Σ_i Σ_t (x_it - x̄_i)² / Σ_i n_i) over the tickers' raw inputs
    (n_i, F), each around its own mean x̄_i, missing values left out; 1 for a column without spread."""
    squares, counts = np.zeros(raws[0].shape[1]), np.zeros(raws[0].shape[1])
    for raw in raws:
        present = np.isfinite(raw)
        squares += np.square(np.where(present, raw - column_means(raw), 0.0)).sum(axis=0)
        counts += present.sum(axis=0)
    spread = np.sqrt(squares / np.maximum(counts, 1))
    return np.where(spread > MIN_SCALE, spread, 1.0)


def standardize(raw: np.ndarray, mean, scale) -> np.ndarray:
    """(raw - mean) / scale as float32, a missing value as 0 (the mean)."""
    values = (raw - np.asarray(mean)) / np.asarray(scale)
    return np.where(np.isfinite(values), values, 0.0).astype(np.float32)


def ticker_data(ticker: str, bars: Bars, features: str, market: Market | None, har: Har, level: float,
                offset: float, shock_scale: float, scaler: tuple) -> TickerData:
    """A ticker's arrays from its bars, with its fitted level, offset, shock scale and scaler (from a model's
    calibration)."""
    series = build_series(bars, features)
    _, terms = har_inputs(series, features)
    baseline = ticker_baseline(series.returns, terms, shock_terms(series, features == "range"), level, offset,
                               shock_scale, har)
    return TickerData(ticker, series, baseline, standardize(raw_inputs(series, baseline, market), *scaler))
