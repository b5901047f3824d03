"""A big watchlist's nightly work: training over hundreds of tickers, and `predict` over all of them.

Makes N synthetic tickers of R daily rows each with realistic volatility clustering (GARCH(1,1) with Student-t
shocks, persistence 0.98, about 1.6% daily volatility, each ticker its own level) and consistent OHLC (an overnight
gap, an intraday move, and a high-low range that grows with the day's volatility), then:

1. `forecast train --jobs J` (default settings: each ticker calibrated against the shipped network), timed: the
   whole process, data reading included; then `forecast predict --days 1` over every ticker, as a cron job runs it,
   timed (after one warm-up run that fills the calendar cache and the OS file cache);
2. `forecast train --model pooled --jobs J` (a network trained on all of them), timed, and predict again;
3. with --compare-jobs, the pool trained again in a fresh home with `--jobs 1`, checked bit-identical;
4. with --per-ticker K: `forecast train --model per-ticker` of K tickers serially and with --jobs J, the tickers per
   hour and the projected time for N.

Targets (issues 14, 21): a pool of 500 tickers x 5,000 rows trained in at most 5 minutes on 2 cores, predict over
500 tickers in at most 5 s.

    python benchmarks/universe.py [--tickers 500] [--rows 5000] [--jobs 2] [--compare-jobs] [--per-ticker 0]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecaster.data.bars import Bars, format_csv  # noqa: E402


def synthetic_bars(rows: int, seed: int) -> Bars:
    """`rows` business days ending last Friday-ish, GARCH(1,1)-t returns and OHLC consistent with them."""
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.normal(0.0, 0.4))  # tickers differ in their volatility level
    omega, alpha, beta = 0.0256e-4 * 2 * scale**2, 0.08, 0.90  # persistence 0.98, long-run daily vol ~1.6% x scale
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


def pool_files(home: Path) -> tuple[str, bytes]:
    meta = json.loads((home / "models" / "_pool" / "meta.json").read_text())
    meta.pop("created_at")
    return json.dumps(meta, sort_keys=True), (home / "models" / "_pool" / meta["weights_file"]).read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--compare-jobs", action="store_true", help="train again with --jobs 1 and compare")
    parser.add_argument("--per-ticker", type=int, default=0, help="also time K tickers' own models")
    args = parser.parse_args()
    tickers = [f"SYN{i:03d}" for i in range(args.tickers)]
    root = Path(tempfile.mkdtemp(prefix="forecast-universe-"))
    try:
        home = root / "pool"
        fill(home, tickers, args.rows)
        shipped = forecast("train", "--jobs", args.jobs, home=home)
        print(f"{args.tickers} synthetic tickers x {args.rows} rows, default settings")
        print(f"  each calibrated against the shipped network (the default): {shipped:7.1f} s")
        forecast("predict", tickers[0], home=home)  # fills the calendar cache and the OS file cache
        predict = forecast("predict", "--days", "1", home=home)
        print(f"  predict --days 1 for {args.tickers} tickers: {predict:5.1f} s (target <= 5)")
        pooled = forecast("train", "--model", "pooled", "--jobs", args.jobs, home=home)
        meta = json.loads((home / "models" / "_pool" / "meta.json").read_text())
        print(f"  a network trained on all of them (--model pooled), --jobs {args.jobs}: {pooled:7.1f} s = "
              f"{pooled / 60:5.1f} min (target <= 5); "
              f"{meta['training']['epochs_run']} epochs (best {meta['training']['best_epoch']}), "
              f"{meta['training']['train_windows']:,} training windows")
        if args.compare_jobs:
            other = root / "serial"
            fill(other, tickers, args.rows)
            serial = forecast("train", "--model", "pooled", "--jobs", "1", home=other)
            same = pool_files(home) == pool_files(other)
            print(f"  the same with --jobs 1: {serial:7.1f} s; pool bit-identical: {same}")
            shutil.rmtree(other)
        predict = forecast("predict", "--days", "1", home=home)
        print(f"  predict --days 1 for {args.tickers} tickers, served by that network: {predict:5.1f} s")
        if args.per_ticker:
            chosen = tickers[: args.per_ticker]
            own = root / "own"
            fill(own, chosen, args.rows)
            serial = forecast("train", "--model", "per-ticker", "--jobs", "1", home=own)
            parallel = forecast("train", "--model", "per-ticker", "--jobs", args.jobs, home=own)
            hourly = 3600 * len(chosen) / parallel
            print(f"  per-ticker models of {len(chosen)} tickers: serial {serial:.1f} s, --jobs {args.jobs} "
                  f"{parallel:.1f} s (speed-up {serial / parallel:.2f}); {args.tickers} tickers projected "
                  f"{args.tickers / hourly * 60:.1f} min")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
