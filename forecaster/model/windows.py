"""From daily bars to per-day series: returns, features and volatility — causal by construction.

Notation: P_t is the adjusted close on trading day t and r_t = log(P_t / P_{t-1}) its log return. Every quantity
indexed t below uses data up to and including day t only.

- Open, High and Low are put on the adjusted close's basis by that day's factor P_t / Close_t, so that splits and
  dividends create no false gaps: O_t = Open_t P_t / Close_t.
- Features per day (F columns):
  `returns` -> [r_t];
  `range` -> [r_t, ρ_t, gap_t = log(O_t / P_{t-1}), intraday_t = log(P_t / O_t), log((V_t+1)/(V_{t-1}+1))]
  (gap + intraday = r_t), where ρ_t = log(max(log(High_t / Low_t), 1e-4)) is the log of the day's range: ranges
  are heavy-tailed and act multiplicatively on volatility, and their log made the interval scores about half a
  point better than the raw range on the developers' data set; the volume change, about a point better again, at
  seeds 0, 1 and 2 alike.
  `auto` (the default) is `range` where the data has real OHLC and `returns` where it does not (a close-only CSV
  import with Open = High = Low = Close on most days); asking for `range` on such data is a usage error.
- Volatilities known at t (see model.volatility): σ_t, the EWMA(0.94) of r² (RiskMetrics), and, with real OHLC,
  the EWMA(0.90) of Parkinson's range variance log(High/Low)²/(4 log 2), the log range log(High_t / Low_t) and the
  gap (the HAR's variance proxy, model.baseline).
  forecaster.model.panel turns a series into the network's scale-free inputs.

pandas is not used here: `predict` must start fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.data.bars import Bars
from forecaster.errors import UsageError
from forecaster.model.volatility import ewma, ewma_volatility, range_variance

FEATURE_SETS = {"returns": ("return",), "range": ("return", "range", "gap", "intraday", "volume_change")}
FEATURE_CHOICES = ("auto", *FEATURE_SETS)
NEEDS_OHLC = ("range",)
REAL_OHLC_SHARE = 0.5  # data has real OHLC when High > Low on at least this share of days
MIN_RANGE = 1e-4  # the log range of a day with High = Low (a halt, a stale quote) is taken as this
RANGE_LAMBDA = 0.90  # the range EWMA's decay: its daily values are less noisy than r², so fewer are averaged


@dataclass(frozen=True)
class Series:
    """Per-day arrays aligned with `dates` (the bars' dates minus the first, which has no return).

    dates (n,) datetime64[D]; price (n,) adjusted close P_t; features (n, F); returns (n,) r_t; volatility (n,) the
    EWMA σ_t of r²; range_volatility (n,) the EWMA of the range variance, log_range (n,) log(High_t / Low_t) and gap
    (n,) the overnight gap log(O_t / P_{t-1}), each None without real OHLC.
    """

    dates: np.ndarray
    price: np.ndarray
    features: np.ndarray
    returns: np.ndarray
    volatility: np.ndarray
    range_volatility: np.ndarray | None = None
    log_range: np.ndarray | None = None
    gap: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.dates)


def has_real_ohlc(bars: Bars) -> bool:
    """True unless Open = High = Low = Close on most days (a close-only import)."""
    return len(bars) > 1 and float(np.mean(bars.high > bars.low)) >= REAL_OHLC_SHARE


def resolve_features(requested: str, bars: Bars, ticker: str) -> tuple[str, str | None]:
    """(the feature set to use, a one-line note or None) for `requested` ('auto' or a FEATURE_SETS name)."""
    if requested not in FEATURE_CHOICES:
        raise UsageError(f"unknown feature set {requested!r}; choose one of {', '.join(FEATURE_CHOICES)}")
    real = has_real_ohlc(bars)
    if requested == "auto":
        if real:
            return "range", None
        return "returns", (f"{ticker}: the data has no real OHLC (High = Low on most days), so the model uses "
                           "returns only")
    if requested in NEEDS_OHLC and not real:
        flat = 100 * float(np.mean(bars.high <= bars.low)) if len(bars) else 100.0
        raise UsageError(f"--features {requested} needs real Open/High/Low prices, but {ticker} has High = Low on "
                         f"{flat:.0f}% of its days (a close-only import?); use --features returns")
    return requested, None


def build_series(bars: Bars, features: str = "returns") -> Series:
    if features not in FEATURE_SETS:
        raise UsageError(f"unknown feature set {features!r}; choose one of {', '.join(FEATURE_SETS)}")
    price = bars.adj_close
    returns = np.diff(np.log(price))
    factor = bars.adj_close / bars.close
    open_adjusted = bars.open * factor
    log_range = np.log(bars.high[1:] / bars.low[1:])
    gap = np.log(open_adjusted[1:] / price[:-1])
    wanted = FEATURE_SETS[features]
    columns = {"return": returns, "range": np.log(np.maximum(log_range, MIN_RANGE)), "gap": gap,
               "intraday": np.log(price[1:] / open_adjusted[1:]),
               "volume_change": np.diff(np.log(bars.volume + 1.0)) if "volume_change" in wanted else None}
    range_volatility, real_range, real_gap = None, None, None
    if has_real_ohlc(bars):
        range_volatility = np.sqrt(np.maximum(ewma(range_variance(log_range), RANGE_LAMBDA), 1e-12))
        real_range, real_gap = log_range, gap
    return Series(bars.dates[1:], price[1:], np.column_stack([columns[name] for name in wanted]),
                  returns, ewma_volatility(returns), range_volatility, real_range, real_gap)
