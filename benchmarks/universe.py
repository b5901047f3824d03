"""A nightly retrain of a big watchlist: tickers per hour serially and with --jobs, and 500 tickers' predict.

Makes N synthetic tickers of 5,000 daily rows each with realistic volatility clustering (GARCH(1,1) with Student-t
shocks, persistence 0.98, about 1.6% daily volatility) and consistent OHLC (an overnight gap, an intraday move, and a
high-low range that grows with the day's volatility), then in one run:

1. `forecast train --jobs 1` on all N (default settings), timed;
2. the same with `--jobs J` (default 2) in a fresh home, timed, and checks the models are bit-identical;
3. copies the N trained tickers to 500 (data and models under new names) and times `forecast predict --days 1` over
   all of them, as a cron job would run it.

Reports tickers per hour, the speed-up of --jobs over serial, and the projected wall time of a 500-ticker retrain.
Targets (issue 10): 500 tickers in at most 30 minutes on 2 cores, speed-up at least 1.7, predict under 10 s.

    python benchmarks/universe.py [--tickers 40] [--jobs 2] [--rows 5000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from forecaster.bars import Bars, format_csv


def synthetic_bars(rows: int, seed: int) -> Bars:
    """`rows` business days ending last Friday-ish, GARCH(1,1)-t returns and OHLC consistent with them."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 0.0256e-4 * 2, 0.08, 0.90  # persistence 0.98, long-run daily variance ~2.6e-4 (1.6%)
    shocks = rng.standard_t(5, rows) / np.sqrt(5 / 3)
    variance = np.empty(rows)
    returns = np.empty(rows)
    level = omega / (1 - alpha - beta)
    for t in range(rows):
        variance[t] = level
        returns[t] = np.sqrt(level) * shocks[t] + 0.0002
        level = omega + alpha * returns[t] ** 2 + beta * level
    sigma = np.sqrt(variance)
    gap = 0.3 * returns + 0.2 * sigma * rng.standard_normal(rows)  # part of the move happens overnight
    close = 50 * np.exp(np.cumsum(returns))
    previous = np.concatenate([[50.0], close[:-1]])
    open_ = previous * np.exp(gap)
    spread = sigma * np.abs(rng.standard_normal((2, rows))) * 0.6
    high = np.maximum(open_, close) * np.exp(spread[0])
    low = np.minimum(open_, close) * np.exp(-spread[1])
    volume = np.round(1e6 * np.exp(0.3 * rng.standard_normal(rows) + 20 * np.abs(returns)))
    end = np.busday_offset(np.datetime64("today", "D"), -3, roll="backward")
    dates = np.busday_offset(end, np.arange(-rows + 1, 1), roll="backward")
    return Bars(dates, open_, high, low, close, close.copy(), volume)


def forecast(*args, home: Path) -> float:
    """Run `forecast ARGS --home HOME -q`; returns its wall time."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "forecaster", *map(str, args), "--home", str(home), "-q"], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def fill(home: Path, tickers: list[str], rows: int) -> None:
    (home / "data").mkdir(parents=True)
    for i, ticker in enumerate(tickers):
        (home / "data" / f"{ticker}.csv").write_text(format_csv(synthetic_bars(rows, seed=i)))


def copy_watchlist(home: Path, tickers: list[str], target: Path, count: int) -> list[str]:
    """`count` tickers W0000, W0001, ... in the home `target`, each a copy of one of `tickers` (data and model) in
    `home`, in turn. Returns their names."""
    (target / "data").mkdir(parents=True)
    (target / "models").mkdir()
    names = [f"W{i:04d}" for i in range(count)]
    for i, name in enumerate(names):
        source = tickers[i % len(tickers)]
        shutil.copy(home / "data" / f"{source}.csv", target / "data" / f"{name}.csv")
        shutil.copytree(home / "models" / source, target / "models" / name)
    return names


def models(home: Path, tickers: list[str]) -> dict:
    found = {}
    for ticker in tickers:
        meta = json.loads((home / "models" / ticker / "meta.json").read_text())
        meta.pop("created_at")
        weights = (home / "models" / ticker / meta["weights_file"]).read_bytes()
        found[ticker] = (json.dumps(meta, sort_keys=True), weights)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--watchlist", type=int, default=500, help="tickers to project to and to predict")
    args = parser.parse_args()
    tickers = [f"SYN{i:03d}" for i in range(args.tickers)]
    root = Path(tempfile.mkdtemp(prefix="forecast-universe-"))
    try:
        serial_home, parallel_home = root / "serial", root / "parallel"
        for home in (serial_home, parallel_home):
            fill(home, tickers, args.rows)
        serial = forecast("train", "--jobs", "1", home=serial_home)
        parallel = forecast("train", "--jobs", args.jobs, home=parallel_home)
        identical = models(serial_home, tickers) == models(parallel_home, tickers)
        epochs = [json.loads((serial_home / "models" / t / "meta.json").read_text())["training"]["epochs_run"]
                  for t in tickers]

        big = root / "watchlist"
        copy_watchlist(serial_home, tickers, big, args.watchlist)
        forecast("predict", "W0000", home=big)  # fills the calendar cache and the OS file cache
        predict = forecast("predict", "--days", "1", home=big)

        per_hour_serial, per_hour_parallel = 3600 * args.tickers / serial, 3600 * args.tickers / parallel
        print(f"{args.tickers} synthetic tickers x {args.rows} rows, default settings "
              f"(epochs run: median {int(np.median(epochs))}, {min(epochs)}-{max(epochs)})")
        print(f"  serial (--jobs 1):   {serial:7.1f} s   {per_hour_serial:6.0f} tickers/hour")
        print(f"  --jobs {args.jobs}:          {parallel:7.1f} s   {per_hour_parallel:6.0f} tickers/hour")
        print(f"  speed-up:            {serial / parallel:7.2f} x   (target >= 1.7)   models bit-identical: "
              f"{identical}")
        print(f"  projected {args.watchlist}-ticker retrain with --jobs {args.jobs}: "
              f"{args.watchlist / per_hour_parallel * 60:5.1f} min (target <= 30)")
        print(f"  predict --days 1 for {args.watchlist} tickers: {predict:5.1f} s (target < 10)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
