"""The user with one ticker and the shipped network: whole-process wall times in a fresh home.

A synthetic ticker of 5,000 sessions (benchmarks/universe.py's GARCH-like generator) is stored in a fresh temporary
home; then, each as cron runs it (a fresh process, median of `--runs` after one untimed run):
- `forecast predict T --days 1` before any training: the shipped vintage serves it, calibrated as it is forecast;
- `forecast train T`: calibrated against the shipped vintage and saved as the home's pool (target <= 5 s);
- `forecast predict T --days 1` after it (the saved calibration read back).

    python benchmarks/shipped.py [--rows 5000] [--runs 5]
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
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    forecast = [sys.executable, "-m", "forecaster"]
    with tempfile.TemporaryDirectory() as root:
        home = Path(root) / "home"
        source = Path(root) / "T.csv"
        source.write_text(format_csv(synthetic_bars(args.rows, seed=1)))
        subprocess.run([*forecast, "fetch", "T", "--csv", str(source), "--home", str(home), "-q"], check=True)
        predict = [*forecast, "predict", "T", "--days", "1", "--home", str(home), "-q"]
        figures = {"predict, served on the fly": wall_times(predict, args.runs),
                   "train (calibrated against the shipped vintage)":
                       wall_times([*forecast, "train", "T", "--home", str(home), "-q"], args.runs),
                   "predict, after train": wall_times(predict, args.runs)}
    for name, times in figures.items():
        print(f"{name}: median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}) over "
              f"{args.runs} runs, {args.rows} rows")
    train = statistics.median(figures["train (calibrated against the shipped vintage)"])
    print(f"target: train <= 5 s: {'meets' if train <= 5 else 'MISSES'}")


if __name__ == "__main__":
    main()
