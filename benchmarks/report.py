"""`forecast report` over a big watchlist: the page's size and the time to write it.

Makes N synthetic 5,000-row tickers (default 500) as benchmarks/universe.py does (GARCH volatility clustering,
consistent OHLC), trains one pool on them (default network size, few epochs: a forecast costs the same after 2 epochs
as after 200), logs a next-session forecast for each of their last CHART_SESSIONS sessions (a
nightly `predict` for half a year: the detail charts at their fullest, the track record and live coverage filled),
then runs, alternately, REPEATS times each: `forecast report` (worker processes, one per core), `forecast report
--jobs 1` (this process only), and `forecast predict --days 1 --format csv` on the same home for scale. Each is timed
as a whole process, a cron job's view: wall time, and CPU time (user + system, its workers included), which a busy
machine inflates less. Targets (issue 16): at most 2 MB and 5 s for 500 tickers on 2 cores.

    python benchmarks/report.py [--tickers 500] [--days 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from universe import fill, forecast  # noqa: E402 (the universe benchmark's synthetic tickers)

from forecaster.data.prediction_log import record_predictions  # noqa: E402
from forecaster.data.store import Store  # noqa: E402
from forecaster.views.report import CHART_SESSIONS  # noqa: E402

REPEATS = 3


def log_forecasts(home: Path, names: list[str]) -> int:
    """CHART_SESSIONS next-session forecasts per ticker, each "no move" with a ±2.5% band, as `predict` logs them."""
    store = Store(home)
    rows = []
    for name in names:
        bars = store.read_bars(name)
        for i in range(len(bars) - CHART_SESSIONS, len(bars)):
            close = float(bars.adj_close[i - 1])
            rows.append({"ticker": name, "as_of": str(bars.dates[i - 1]), "date": str(bars.dates[i]), "horizon": 1,
                         "forecast": close, "lower": close * 0.975, "upper": close * 1.025, "last_close": close})
    record_predictions(store, rows)
    return len(rows)


def timed(*args, home: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of `forecast ARGS` (universe.forecast), the CPU time of its worker processes included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = forecast(*args, home=home)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="forecast-report-"))
    try:
        home, page = root / "watchlist", root / "report.html"
        names = [f"W{i:04d}" for i in range(args.tickers)]
        fill(home, names, args.rows)
        # one pool for all: a short training is as costly to show
        forecast("train", "--model", "pooled", "--epochs", "2", home=home)
        logged = log_forecasts(home, names)
        forecast("predict", "W0000", home=home)  # fills the calendar cache and the OS file cache
        commands = {"forecast report": ("report", "--days", args.days, "--out", page),
                    "forecast report --jobs 1": ("report", "--days", args.days, "--out", page, "--jobs", "1"),
                    "forecast predict --days 1": ("predict", "--days", "1", "--format", "csv")}
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        load = os.getloadavg()[0]
        for _ in range(REPEATS):
            for name, command in commands.items():
                times[name].append(timed(*command, home=home))
        print(f"{args.tickers} synthetic tickers x {args.rows} rows, {logged} logged forecasts, --days {args.days}; "
              f"{os.cpu_count()} cores, load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
        print(f"  report.html: {page.stat().st_size / 1e6:.2f} MB (target <= 2 MB; the test fails above 5 MB)")
        for name, runs in times.items():
            walls, cpus = [wall for wall, _ in runs], [cpu for _, cpu in runs]
            print(f"  {name:26} wall median {statistics.median(walls):5.2f} s ({min(walls):5.2f}-{max(walls):5.2f}), "
                  f"CPU median {statistics.median(cpus):5.2f} s over {REPEATS} runs")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
