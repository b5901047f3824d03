"""The longest forecast `predict` gives, over a panel: finite, ordered, widening, and not drifting from the last close.

Issue 23: every horizon `predict` accepts must be measured or refused. `forecast predict --days N` stops at
MAX_FORECAST_DAYS (the longest horizon whose intervals docs/accuracy.md measures); this script imports a folder of
histories (default ../shared/universe, the 130-ticker development panel, which the shipped networks never saw) into a
fresh home and runs, as a user would, `forecast predict --days MAX_FORECAST_DAYS -f json` over all of them (each
calibrated on the fly against the newest shipped vintage), then checks every row: bounds finite and
0 < lower < forecast < upper, each ticker's band widening with the horizon, and how far the forecast at the cap sits
from the last close (target: the median within 1%).

    python benchmarks/horizon_cap.py [--data-dir DIR] [--days N]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecaster.data.store import Store  # noqa: E402
from forecaster.pipeline import MAX_FORECAST_DAYS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "universe")
    parser.add_argument("--days", type=int, default=MAX_FORECAST_DAYS)
    args = parser.parse_args()
    forecast = [sys.executable, "-m", "forecaster"]
    with tempfile.TemporaryDirectory() as root:
        home = ["--home", str(Path(root) / "home")]
        subprocess.run([*forecast, "import", str(args.data_dir), *home, "-q"], check=True)
        started = time.perf_counter()
        done = subprocess.run([*forecast, "predict", "--days", str(args.days), "-f", "json", *home, "-q"],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - started
        store = Store(Path(root) / "home")
        last_close = {ticker: float(store.read_bars(ticker).adj_close[-1]) for ticker in store.tickers()}
    if done.returncode != 0:
        sys.exit(f"predict failed ({done.returncode}): {done.stderr.strip()}")
    rows = json.loads(done.stdout)
    by_ticker: dict[str, list[dict]] = {}
    for row in rows:
        by_ticker.setdefault(row["ticker"], []).append(row)
    bad, narrowing, drift = [], [], []
    for ticker, mine in sorted(by_ticker.items()):
        mine.sort(key=lambda row: row["horizon"])
        for row in mine:
            values = [row["lower"], row["forecast"], row["upper"], row["volatility"]]
            if not (all(math.isfinite(v) for v in values) and 0 < row["lower"] < row["forecast"] < row["upper"]):
                bad.append(f"{ticker} h={row['horizon']}: {values}")
        widths = [row["upper"] - row["lower"] for row in mine]
        if any(b <= a for a, b in zip(widths, widths[1:], strict=False)):
            narrowing.append(ticker)
        drift.append(abs(mine[-1]["forecast"] / last_close[ticker] - 1))
    drift = np.array(drift)
    print(f"{len(by_ticker)} tickers, {len(rows)} rows, predict --days {args.days} in {seconds:.1f} s (whole process)")
    print(f"finite and ordered: {len(rows) - len(bad)} of {len(rows)} rows" + "".join(f"\n  {b}" for b in bad[:10]))
    print(f"band widening with the horizon: {len(by_ticker) - len(narrowing)} of {len(by_ticker)} tickers"
          + (f" (not: {', '.join(narrowing[:10])})" if narrowing else ""))
    print(f"|forecast / last close - 1| at {args.days} sessions: median {100 * np.median(drift):.2f}%, "
          f"largest {100 * drift.max():.2f}% (target: median <= 1%: "
          f"{'meets' if np.median(drift) <= 0.01 else 'MISSES'})")


if __name__ == "__main__":
    main()
