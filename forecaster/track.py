"""The live track record: every logged forecast whose date has come, scored against what happened.

For each ticker and horizon: how many logged forecasts have their actual price stored (`n`), how many are for a
session still ahead (`pending`) and how many are for a session that has passed but whose price is not stored yet
(`awaiting_data`: run `forecast fetch`); RMSE and MAE of the forecasts and of the naive forecast that was available
when each was made (the as_of close); their ratio; directional accuracy; and the share of actual prices inside
[lower, upper].

Adjusted closes are revised backwards after every dividend, so each logged forecast is first restated on today's
adjustment basis: multiplied by (stored adjusted close at as_of) / (last_close logged with it). numpy only: `predict`
shows the live ratio and must start fast.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from forecaster.bars import Bars

COLUMNS = ["ticker", "horizon", "n", "pending", "awaiting_data", "rmse", "naive_rmse", "ratio", "mae", "naive_mae",
           "directional_accuracy", "coverage"]


def latest_rows(predictions: list[dict]) -> list[dict]:
    """One row per (ticker, as_of, date): the latest created, in (ticker, as_of, date) order."""
    chosen: dict[tuple, dict] = {}
    for row in predictions:
        key = (row["ticker"], row["as_of"], row["date"])
        if key not in chosen or row.get("created_at", "") >= chosen[key].get("created_at", ""):
            chosen[key] = row
    return [chosen[key] for key in sorted(chosen)]


def resolved(ticker: str, predictions: list[dict], bars: Bars, since: str | None = None) -> list[dict]:
    """The ticker's logged forecasts whose date has a stored price: each restated on today's adjustment basis, with
    `actual` (the adjusted close of its date) and `naive` (the adjusted close at its as_of)."""
    mine = [row for row in latest_rows(predictions)
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
                 today: str | None = None) -> list[dict]:
    """Score one ticker's logged forecasts against `bars`; one result per horizon, in horizon order.

    `today` (ISO date, default the local date) separates forecasts still pending from those awaiting data."""
    mine = [r for r in latest_rows(predictions)
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
                        "awaiting_data": len(unscored) - pending, **_metrics(group)})
    return results


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
