"""`forecast portfolio` over a large book: whole-process wall time with N holdings (issue 25: 500 in at most 3 s).

N synthetic tickers (benchmarks/universe.py's GARCH-t generator, 2,500 sessions each) are stored in a fresh temporary
home and calibrated against the shipped network (`forecast train`), then `forecast portfolio --holdings FILE -q`
runs as cron runs it, a fresh process each time: the median of `--runs` after one untimed run, and beside it
`forecast predict` of the same tickers, the work each holding's forecast takes on its own.

    python benchmarks/portfolio_speed.py [--holdings 500] [--rows 2500] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from predict_startup import wall_times  # noqa: E402
from universe import synthetic_bars  # noqa: E402

from forecaster.data.bars import format_csv  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--holdings", type=int, default=500)
    parser.add_argument("--rows", type=int, default=2500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    forecast = [sys.executable, "-m", "forecaster"]
    with tempfile.TemporaryDirectory() as root:
        home = Path(root) / "home"
        (home / "data").mkdir(parents=True)
        tickers = [f"S{i:04d}" for i in range(args.holdings)]
        for i, ticker in enumerate(tickers):
            (home / "data" / f"{ticker}.csv").write_text(format_csv(synthetic_bars(args.rows, seed=i)))
        subprocess.run([*forecast, "train", "--home", str(home), "-q"], check=True)
        holdings = Path(root) / "holdings.csv"
        holdings.write_text("ticker,shares\n" + "".join(f"{t},{(-1) ** i * (10 + i)}\n"
                                                        for i, t in enumerate(tickers)))
        figures = {
            "portfolio": wall_times([*forecast, "portfolio", "--holdings", str(holdings), "--home", str(home), "-q"],
                                    args.runs),
            "predict (the same tickers)": wall_times([*forecast, "predict", "--home", str(home), "-q"], args.runs)}
    for name, times in figures.items():
        print(f"{name}: median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}) over "
              f"{args.runs} runs, {args.holdings} holdings of {args.rows} rows")
    median = statistics.median(figures["portfolio"])
    print(f"target: portfolio of {args.holdings} <= 3 s: {'meets' if median <= 3 else 'MISSES'}")


if __name__ == "__main__":
    main()
