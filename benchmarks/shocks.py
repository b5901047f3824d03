"""The days that matter: how often each method's 90% band misses the day after a shock, on the tickers that have most.

Issue 23's shock panel: from a folder of daily histories (default ../shared/universe-train), the N tickers with the
most close-to-close moves beyond 10% before 2017 (the small and volatile ones), evaluated as tickers the network never
saw: a vintage is built (scripts/build_vintages.py's build_vintage) from the other histories, strictly before the
test start, and `forecast evaluate` calibrates each of the N against it (FORECAST_VINTAGES), one session ahead, writing
its daily bands (--predictions). Then, for the model and every baseline, the share of test days outside the band:
over all days, on the days after a close-to-close move beyond 10% and beyond 20%, and after an overnight gap (open
against the previous close) beyond 10%; with the interval score against RiskMetrics and the tickers' coverage.

    python benchmarks/shocks.py [--data-dir DIR] [--tickers 100] [--test-start 2015-01-02] [--jobs 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
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

from forecaster.data.bars import read_csv  # noqa: E402
from forecaster.data.fetch_jobs import symbol_from_file_name  # noqa: E402
from forecaster.data.store import Store  # noqa: E402
from forecaster.errors import ForecastError  # noqa: E402
from forecaster.model.serving import TrainingConfig  # noqa: E402
from forecaster.model.vintages import build_vintage  # noqa: E402

METHODS = ("model", "naive", "garch", "gjr", "har")
SHOCKS = (("all days", None), ("after a move beyond 10%", ("move", 0.10)), ("after a move beyond 20%", ("move", 0.20)),
          ("after a gap beyond 10%", ("gap", 0.10)))


def read_folder(folder: Path) -> dict:
    bars = {}
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in (".csv", ".txt") and p.stem[:1] != "."):
        try:
            bars[symbol_from_file_name(path.name)] = read_csv(path)
        except ForecastError:
            continue
    return bars


def shock_counts(bars, before: np.datetime64) -> int:
    close = bars.adj_close[bars.dates < before]
    return int(np.sum(np.abs(np.diff(np.log(close))) > math.log(1.10))) if len(close) > 1 else 0


def shock_tickers(universe: dict, start: np.datetime64, count: int) -> list[str]:
    """The shock panel: the `count` tickers with the most close-to-close moves beyond 10% before 2017 that trade on
    and more than 60 sessions before `start`."""
    ranked = sorted(universe, key=lambda t: -shock_counts(universe[t], np.datetime64("2017-01-01")))
    return [t for t in ranked if universe[t].dates[-1] >= start and np.sum(universe[t].dates < start) > 60][:count]


def misses(path: Path, bars, method: str) -> dict[str, tuple[int, int]]:
    """shock kind -> (days outside the band, days) for one ticker's --predictions file."""
    prefix = "" if method == "model" else f"{method}_"
    dates = {str(d): i for i, d in enumerate(bars.dates)}
    close, open_ = bars.adj_close, bars.open * bars.adj_close / np.where(bars.close > 0, bars.close, 1)
    out = {name: [0, 0] for name, _ in SHOCKS}
    with path.open() as handle:
        for row in csv.DictReader(handle):
            i = dates[row["date"]]  # the day forecast; the shock is the day before it (its origin, i - 1)
            if i < 2:
                continue
            outside = not float(row[f"{prefix}lower"]) <= float(row["actual"]) <= float(row[f"{prefix}upper"])
            move = abs(math.log(close[i - 1] / close[i - 2]))
            gap = abs(math.log(open_[i - 1] / close[i - 2])) if open_[i - 1] > 0 else 0.0
            for name, rule in SHOCKS:
                if rule is None or (rule[0] == "move" and move > math.log(1 + rule[1])) or (
                        rule[0] == "gap" and gap > math.log(1 + rule[1])):
                    out[name][0] += outside
                    out[name][1] += 1
    return {name: tuple(value) for name, value in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "universe-train")
    parser.add_argument("--tickers", type=int, default=100)
    parser.add_argument("--test-start", default="2015-01-02")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="write the vintage, home and daily bands here (kept) for analysis")
    args = parser.parse_args()
    start = dt.date.fromisoformat(args.test_start)
    universe = read_folder(args.data_dir)
    chosen = shock_tickers(universe, np.datetime64(start), args.tickers)
    with tempfile.TemporaryDirectory() as scratch:
        root = str(args.keep or scratch)
        Path(root).mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        others = {t: b for t, b in universe.items() if t not in chosen}
        vintage, _ = build_vintage(others, start, TrainingConfig(market="none"), Path(root) / "vintages")
        print(f"vintage {vintage.name} from {len(others)} other histories in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)
        home = Path(root) / "home"
        store = Store(home)
        for ticker in chosen:
            store.write_bars(ticker, universe[ticker])
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "forecaster", "evaluate", *chosen, "--test-start", args.test_start, "-f", "json",
             "--home", str(home), "-q", "--jobs", str(args.jobs), "--predictions", f"{root}/p-{{ticker}}.csv"],
            capture_output=True, text=True, env={**__import__("os").environ, "FORECAST_VINTAGES": str(vintage.parent)})
        if done.returncode not in (0, 4):
            sys.exit(f"evaluate failed ({done.returncode}): {done.stderr.strip()}")
        reports = json.loads(done.stdout)
        print(f"{len(reports)} of {len(chosen)} tickers evaluated in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)
        totals = {m: {name: [0, 0] for name, _ in SHOCKS} for m in METHODS}
        for report in reports:
            ticker = report["ticker"]
            for method in METHODS:
                for name, (outside, days) in misses(Path(root) / f"p-{ticker.replace('^', '')}.csv",
                                                    universe[ticker], method).items():
                    totals[method][name][0] += outside
                    totals[method][name][1] += days
    print("| method | " + " | ".join(f"missed {name}" for name, _ in SHOCKS) + " |")
    print("|---|" + "---|" * len(SHOCKS))
    for method in METHODS:
        cells = [f"{100 * o / d:.1f}% ({o} of {d})" if d else "—" for o, d in totals[method].values()]
        print(f"| {method} | " + " | ".join(cells) + " |")
    ratios = [r["model"]["interval_score"] / r["naive"]["interval_score"] for r in reports]
    coverage = np.array([r["model"]["coverage"] for r in reports])
    print(f"\nmodel / RiskMetrics interval score (geometric mean over {len(reports)} tickers): "
          f"{math.exp(np.mean(np.log(ratios))):.4f}; coverage in 0.87-0.93 on "
          f"{int(np.sum((coverage >= 0.87) & (coverage <= 0.93)))} of {len(reports)}")


if __name__ == "__main__":
    main()
