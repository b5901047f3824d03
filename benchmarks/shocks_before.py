"""The shock panel's bands on the history the calibration saw, beside the test: is the miss after a shock new?

benchmarks/shocks.py measures how often the 90% band misses the day after a shock in the test (from 2015-01-02).
This script takes the same N tickers and a vintage built without them (`shocks.py --keep DIR` leaves one in
DIR/vintages; without --vintage one is built, about five minutes), calibrates each ticker against it on its bars
before the test start as `forecast evaluate` does, and counts the band's misses, over all days and after a move
beyond 10% and 20% and an overnight gap beyond 10%, on two spans: the test, and the ticker's last 1,000 sessions
before it (the windows its calibration was estimated on). A band that is right before the test and wrong in it
says the test years differ from what the tickers' own history showed.

    python benchmarks/shocks_before.py [--vintage DIR/vintages/2014-12-31] [--data-dir DIR] [--tickers 100]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.shocks import read_folder, shock_tickers  # noqa: E402
from forecaster.model.calibration import CALIBRATION_WINDOWS  # noqa: E402
from forecaster.model.serving import Model, TrainingConfig  # noqa: E402
from forecaster.model.training import add_ticker  # noqa: E402
from forecaster.model.vintages import build_vintage  # noqa: E402

KINDS = ("all days", "after a move beyond 10%", "after a move beyond 20%", "after a gap beyond 10%")


def misses(model: Model, ticker: str, bars, origins: np.ndarray, totals: dict) -> None:
    """Add the ticker's 90% band misses on the days after `origins` to totals[kind] = [missed, days]."""
    data = model.data(ticker, bars, None)
    means, variance, _ = model.paths([(ticker, data, origins)], 1)[0]
    low, high = model.quantiles(ticker, 1, 0.90)
    series = data.series
    actual, centre, spread = series.returns[origins + 1], means[:, 0], np.sqrt(variance[:, 0])
    outside = (actual < centre + low * spread) | (actual > centre + high * spread)
    move, gap = np.abs(series.returns[origins]), np.abs(series.gap[origins])
    for kind, chosen in zip(KINDS, (np.ones(len(origins), dtype=bool), move > math.log(1.1), move > math.log(1.2),
                                    gap > math.log(1.1)), strict=True):
        totals[kind][0] += int(outside[chosen].sum())
        totals[kind][1] += int(chosen.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "universe-train")
    parser.add_argument("--vintage", type=Path, help="a vintage built without the shock tickers (shocks.py --keep)")
    parser.add_argument("--tickers", type=int, default=100)
    parser.add_argument("--test-start", default="2015-01-02")
    args = parser.parse_args()
    start = dt.date.fromisoformat(args.test_start)
    universe = read_folder(args.data_dir)
    chosen = shock_tickers(universe, np.datetime64(start), args.tickers)
    config = TrainingConfig(market="none")
    with tempfile.TemporaryDirectory() as root:
        folder = args.vintage
        if folder is None:
            others = {t: b for t, b in universe.items() if t not in chosen}
            folder, _ = build_vintage(others, start, config, Path(root) / "vintages")
        vintage = Model.read(folder, str(folder), "rebuild it with benchmarks/shocks.py --keep")
        spans = {"the test": {k: [0, 0] for k in KINDS}, "the 1,000 sessions before it": {k: [0, 0] for k in KINDS}}
        for ticker in chosen:
            bars = universe[ticker]
            model = add_ticker(vintage, ticker, bars.before(start), None, config)
            before = int(np.sum(bars.dates[1:] < np.datetime64(start)))  # the series' first test day
            last = len(bars) - 3  # the last origin with a known next return (the series has a day fewer)
            misses(model, ticker, bars, np.arange(before - 1, last + 1), spans["the test"])
            misses(model, ticker, bars, np.arange(max(model.window - 1, before - 1 - CALIBRATION_WINDOWS), before - 1),
                   spans["the 1,000 sessions before it"])
    print(f"{len(chosen)} shock tickers, 90% band, one session ahead: share of days missed")
    print("| span | " + " | ".join(KINDS) + " |")
    print("|---|" + "---|" * len(KINDS))
    for span, totals in spans.items():
        print(f"| {span} | " + " | ".join(f"{100 * o / d:.1f}% ({o} of {d})" if d else "—"
                                         for o, d in totals.values()) + " |")


if __name__ == "__main__":
    main()
