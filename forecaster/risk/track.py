"""The live track record: every logged forecast whose date has come, scored against what happened.

For each ticker and horizon: how many logged forecasts have their actual price stored (`n`), how many are for a
session still ahead (`pending`) and how many are for a session that has passed but whose price is not stored yet
(`awaiting_data`: run `forecast fetch`); RMSE and MAE of the forecasts and of the naive forecast that was available
when each was made (the as_of close); their ratio; directional accuracy; and the share of actual prices inside
[lower, upper].

With `tails`, the backtest of each bound (forecaster.risk.backtest), at the level each forecast was made at:
- `hits_lower`, `hits_upper`: actual prices below `lower`, above `upper`; `expected_per_tail`: Σ_i (1 - level_i)/2,
  the number of hits a correct interval has in each tail on average.
- `kupiec_p_lower`, `kupiec_p_upper`: Kupiec's proportion-of-failures p-value of each tail. Kupiec's test assumes
  one tail probability; forecasts made at different levels are tested per level and the statistics added
  (Σ_g LR_g ~ χ²(G), G levels: `backtest.combined_kupiec`), which with one level, the usual case, is Kupiec's test.
  A level takes part once its forecasts expect at least MIN_EXPECTED_HITS = 5 hits per tail (100 forecasts at
  0.90, 500 at 0.98); without such a level the p-value is None. Below that, the χ² approximation misjudges the
  test's size: summed exactly over the binomial distribution of the hits, a test at 5% rejects a correct interval
  1.6-3.4% of the time for 1-2 expected hits (it cannot reject too few hits) and 8-15% for 2-3 (no hit at all is
  already "significant"), but 3.3-7.7% from 5 expected hits on (the χ² rule of thumb of at least 5 expected
  counts). Forecasts more than 1 day ahead made on consecutive days overlap, so their hits cluster by
  construction: their p-values are rougher.
- `traffic_light`: the Basel zone ("green", "yellow", "red") of the lower tail of the last 250 scored 1-day
  forecasts made at level 0.98 (a 99% Value at Risk: Basel's calibration); None for other horizons, or with fewer
  than 250 such forecasts.

Adjusted closes are revised backwards after every dividend, so each logged forecast is first restated on today's
adjustment basis: multiplied by (stored adjusted close at as_of) / (last_close logged with it). numpy only at
import, and scipy only with `tails` (`forecast score`): `predict` shows the live ratio and must start fast.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from forecaster.data.bars import Bars
from forecaster.risk.backtest import (
    BASEL_LEVEL,
    BASEL_TAIL,
    TAILS,
    combined_kupiec,
    hits,
    tail_probability,
    traffic_light_zone,
)

COLUMNS = ["ticker", "horizon", "n", "pending", "awaiting_data", "rmse", "naive_rmse", "ratio", "mae", "naive_mae",
           "directional_accuracy", "coverage"]
TAIL_COLUMNS = ["expected_per_tail", "hits_lower", "hits_upper", "kupiec_p_lower", "kupiec_p_upper", "traffic_light"]
MIN_EXPECTED_HITS = 5  # per tail and level, for a Kupiec p-value (see the module docstring)


def latest_rows(predictions: list[dict], level: float | None = None) -> list[dict]:
    """One row per (ticker, as_of, date), in that order: the band logged at `level` where there is one (the log
    keeps one per level: a one-off `predict --level` beside the cron job's), else the latest created."""
    def rank(row: dict) -> tuple:
        return (level is not None and round(float(row["level"]), 9) == round(level, 9), row.get("created_at", ""))

    chosen: dict[tuple, dict] = {}
    for row in predictions:
        key = (row["ticker"], row["as_of"], row["date"])
        if key not in chosen or rank(row) >= rank(chosen[key]):
            chosen[key] = row
    return [chosen[key] for key in sorted(chosen)]


def resolved(ticker: str, predictions: list[dict], bars: Bars, since: str | None = None,
             level: float | None = None) -> list[dict]:
    """The ticker's logged forecasts (one per as_of and date: `latest_rows` at `level`) whose date has a stored
    price: each restated on today's adjustment basis, with `actual` (the adjusted close of its date) and `naive` (the
    adjusted close at its as_of)."""
    mine = [row for row in latest_rows(predictions, level)
            if row["ticker"] == ticker and (since is None or row["date"] >= since)]
    if not mine or not len(bars):
        return []
    as_of, date = (_positions(bars, [row[key] for row in mine]) for key in ("as_of", "date"))
    rows = []
    for row, i, j in zip(mine, as_of, date, strict=True):
        if i < 0 or j < 0:
            continue
        naive = float(bars.adj_close[i])
        rebase = naive / row["last_close"]
        rows.append({**row, "forecast": row["forecast"] * rebase, "lower": row["lower"] * rebase,
                     "upper": row["upper"] * rebase, "naive": naive, "actual": float(bars.adj_close[j])})
    return rows


def _positions(bars: Bars, dates: list[str]) -> np.ndarray:
    """The row of each ISO date in `bars`, -1 where there is none."""
    wanted = np.array(dates, dtype="datetime64[D]")
    found = np.minimum(np.searchsorted(bars.dates, wanted), len(bars) - 1)
    return np.where(bars.dates[found] == wanted, found, -1)


def score_ticker(ticker: str, predictions: list[dict], bars: Bars, since: str | None = None,
                 today: str | None = None, tails: bool = False, level: float | None = None) -> list[dict]:
    """Score one ticker's logged forecasts against `bars`, one band per as_of and date (the one at `level` where
    logged, else the latest made: `latest_rows`); one result per horizon, in horizon order: the COLUMNS, and with
    `tails` the TAIL_COLUMNS too.

    `today` (ISO date, default the local date) separates forecasts still pending from those awaiting data."""
    mine = [r for r in latest_rows(predictions, level)
            if r["ticker"] == ticker and (since is None or r["date"] >= since)]
    known = resolved(ticker, mine, bars)
    scored = {(r["as_of"], r["date"]) for r in known}
    today = today or dt.date.today().isoformat()
    results = []
    for horizon in sorted({r["horizon"] for r in mine}):
        unscored = [r for r in mine if r["horizon"] == horizon and (r["as_of"], r["date"]) not in scored]
        pending = sum(1 for r in unscored if r["date"] > today)
        group = [r for r in known if r["horizon"] == horizon]
        results.append({"ticker": ticker, "horizon": horizon, "pending": pending,
                        "awaiting_data": len(unscored) - pending, **_metrics(group),
                        **(_tail_backtests(group, horizon) if tails else {})})
    return results


def score_tickers(store, names: list[str], predictions: list[dict], since: dt.date | None = None,
                  level: float | None = None) -> tuple[list[dict], list[tuple[str, Exception]]]:
    """`score_ticker` with tails for each of `names` against its stored bars: (rows, failures as (ticker,
    ForecastError)). A ticker with no logged forecast, unreadable data or any other failure is a failure of its
    own; the others are scored."""
    from forecaster.errors import DataUnavailable, failure_of

    logged = {row["ticker"] for row in predictions}
    rows, failures = [], []
    for ticker in names:
        try:
            if ticker not in logged:
                raise DataUnavailable(f"no logged forecasts for {ticker}; run 'forecast predict {ticker}' first")
            rows.extend(score_ticker(ticker, predictions, store.read_bars(ticker),
                                     since.isoformat() if since else None, tails=True, level=level))
        except Exception as error:
            failures.append((ticker, failure_of(error, ticker)))
    return rows, failures


def _metrics(rows: list[dict]) -> dict:
    if not rows:
        return {"n": 0, "rmse": None, "naive_rmse": None, "ratio": None, "mae": None, "naive_mae": None,
                "directional_accuracy": None, "coverage": None}
    forecast, lower, upper, naive, actual = (np.array([r[k] for r in rows])
                                             for k in ("forecast", "lower", "upper", "naive", "actual"))
    rmse = float(np.sqrt(np.mean((forecast - actual) ** 2)))
    naive_rmse = float(np.sqrt(np.mean((naive - actual) ** 2)))
    predicted_move, actual_move = np.sign(forecast - naive), np.sign(actual - naive)
    both = (predicted_move != 0) & (actual_move != 0)
    return {
        "n": len(rows),
        "rmse": rmse,
        "naive_rmse": naive_rmse,
        "ratio": rmse / naive_rmse if naive_rmse > 0 else None,
        "mae": float(np.mean(np.abs(forecast - actual))),
        "naive_mae": float(np.mean(np.abs(naive - actual))),
        "directional_accuracy": float(np.mean(predicted_move[both] == actual_move[both])) if both.any() else None,
        "coverage": float(np.mean((actual >= lower) & (actual <= upper))),
    }


def _tail_backtests(rows: list[dict], horizon: int) -> dict:
    """The TAIL_COLUMNS of one horizon's scored forecasts (in date order); see the module docstring."""
    actual = np.array([r["actual"] for r in rows], dtype=float)
    probability = np.array([tail_probability(r["level"]) for r in rows])  # p_i of each forecast's tails
    tested = [p for p in np.unique(probability) if round(p * np.sum(probability == p), 6) >= MIN_EXPECTED_HITS]
    bounds = {tail: np.array([r[tail] for r in rows], dtype=float) for tail in TAILS}
    hit = {tail: hits(actual, bound, tail) for tail, bound in bounds.items()}
    tests = {tail: combined_kupiec([(int(np.sum(h[probability == p])), int(np.sum(probability == p)), float(p))
                                    for p in tested]) for tail, h in hit.items()}
    basel = probability == BASEL_TAIL
    return {
        "expected_per_tail": round(float(probability.sum()), 6),
        "hits_lower": int(hit["lower"].sum()),
        "hits_upper": int(hit["upper"].sum()),
        "kupiec_p_lower": tests["lower"].p_value if tests["lower"] else None,
        "kupiec_p_upper": tests["upper"].p_value if tests["upper"] else None,
        "traffic_light": (traffic_light_zone(actual[basel], bounds["lower"][basel], BASEL_LEVEL)
                          if horizon == 1 else None),
    }
