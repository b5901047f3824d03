"""From daily bars to model inputs: features, sliding windows, targets and volatility — causal by construction.

Notation: P_t is the adjusted close on trading day t and r_t = log(P_t / P_{t-1}) its log return. Every quantity
indexed t below uses data up to and including day t only.

- Features per day (F columns): `returns` -> [r_t]; `ohlcv` -> [r_t, log(High_t / Low_t), log((V_t+1)/(V_{t-1}+1))].
  Ratios are scale-free, so raw (unadjusted) High/Low/Volume are fine across splits.
- A window ending at day t is the features of days t-W+1 .. t, shape (W, F); its target is r_{t+1}, the next
  day's log return. The price forecast is rebuilt as P_t exp(r̂), so the model never sees a price level.
- σ_t, an exponentially weighted volatility of r up to day t (RiskMetrics λ = 0.94), scales the forecast intervals.

pandas is not used here: `predict` must start fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.bars import Bars
from forecaster.errors import UsageError

FEATURE_SETS = {"returns": ("return",), "ohlcv": ("return", "range", "volume_change")}
EWMA_LAMBDA = 0.94


@dataclass(frozen=True)
class Series:
    """Per-day arrays aligned with `dates` (the bars' dates minus the first, which has no return).

    dates (n,) datetime64[D]; price (n,) adjusted close P_t; features (n, F); returns (n,) r_t; volatility (n,) σ_t.
    """

    dates: np.ndarray
    price: np.ndarray
    features: np.ndarray
    returns: np.ndarray
    volatility: np.ndarray

    def __len__(self) -> int:
        return len(self.dates)


def build_series(bars: Bars, features: str = "returns") -> Series:
    if features not in FEATURE_SETS:
        raise UsageError(f"unknown feature set {features!r}; choose one of {', '.join(FEATURE_SETS)}")
    price = bars.adj_close
    returns = np.diff(np.log(price))
    columns = [returns]
    if features == "ohlcv":
        columns.append(np.log(bars.high[1:] / bars.low[1:]))
        columns.append(np.diff(np.log(bars.volume + 1.0)))
    return Series(bars.dates[1:], price[1:], np.column_stack(columns), returns, ewma_volatility(returns))


def ewma_volatility(returns: np.ndarray, lam: float = EWMA_LAMBDA, warmup: int = 20) -> np.ndarray:
    """σ_t with σ²_t = λ σ²_{t-1} + (1-λ) r_t², started from the mean square of the first `warmup` returns.

    Causal except that the first `warmup` values share that starting level (those days never end a window).
    """
    n = len(returns)
    variance = np.empty(n)
    level = float(np.mean(returns[: max(1, min(warmup, n))] ** 2)) if n else 0.0
    for t in range(n):
        level = lam * level + (1 - lam) * returns[t] ** 2
        variance[t] = level
    return np.sqrt(np.maximum(variance, 1e-12))


def window_ends(series: Series, window: int) -> np.ndarray:
    """Indices t of every day that can end a full window (t >= window - 1)."""
    return np.arange(window - 1, len(series))


def windows_at(series: Series, ends: np.ndarray, window: int) -> np.ndarray:
    """The feature windows ending at days `ends`: (len(ends), window, F)."""
    offsets = np.arange(-window + 1, 1)
    return series.features[np.asarray(ends)[:, None] + offsets[None, :]]


def standardize(values: np.ndarray, mean, scale) -> np.ndarray:
    """(values - mean) / scale with the statistics of a fitted scaler (stored as plain lists in model metadata)."""
    return (values - np.asarray(mean)) / np.asarray(scale)
