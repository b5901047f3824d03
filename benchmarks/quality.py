"""Forecast quality on real daily prices: `forecast evaluate` on every CSV file of a folder, against naive.

For each TICKER.csv: import it into a temporary home (`forecast fetch TICKER --csv`), then run a walk-forward
evaluation from the first trading day of the last 20% of its rows (`forecast evaluate --test-start`), with the
default training settings unless extra arguments are given. Prints a Markdown table (the one in the README) and the
geometric mean of the model/naive RMSE ratios.

    python benchmarks/quality.py [--data-dir DIR] [--json OUT] [any `forecast evaluate` options, e.g. --seed 1]

DIR defaults to ../shared/data beside the repository (the developers' data set; read in place, never bundled).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_start_of(path: Path) -> tuple[str, int]:
    """The date of the first row of the last 20% of the file's rows, and the row count."""
    with open(path, newline="") as handle:
        dates = [row["Date"] for row in csv.DictReader(handle)]
    return dates[int(len(dates) * 0.8)], len(dates)


def forecast(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forecaster", *args], capture_output=True, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--json", type=Path, help="also write the full reports here")
    args, evaluate_options = parser.parse_known_args()
    files = sorted(args.data_dir.glob("*.csv"))
    if not files:
        sys.exit(f"no CSV files in {args.data_dir}")

    reports = []
    with tempfile.TemporaryDirectory() as home:
        for path in files:
            ticker = path.stem
            test_start, rows = test_start_of(path)
            done = forecast("fetch", ticker, "--csv", str(path), "--home", home, "--quiet")
            if done.returncode:
                sys.exit(f"import of {path} failed: {done.stderr.strip()}")
            started = time.perf_counter()
            done = forecast("evaluate", ticker, "--test-start", test_start, "--format", "json", "--home", home,
                            "--quiet", *evaluate_options)
            if done.returncode:
                sys.exit(f"evaluate {ticker} failed: {done.stderr.strip()}")
            report = json.loads(done.stdout)
            report["rows"] = rows
            report["seconds"] = time.perf_counter() - started
            reports.append(report)
            print(f"{ticker}: done in {report['seconds']:.0f} s", file=sys.stderr)

    print("| ticker | rows | test from | test days | model/naive RMSE | linear/naive RMSE | model direction "
          "| model 90% coverage |")
    print("|---|---|---|---|---|---|---|---|")
    ratios, linear_ratios, coverages = [], [], []
    for r in reports:
        ratio = r["model"]["rmse"] / r["naive"]["rmse"]
        linear = r["linear"]["rmse"] / r["naive"]["rmse"]
        ratios.append(ratio)
        linear_ratios.append(linear)
        coverages.append(r["model"]["coverage"])
        direction = r["model"]["directional_accuracy"]
        shown = "— (= naive)" if direction is None else f"{direction:.3f}"
        print(f"| {r['ticker']} | {r['rows']} | {r['test_start']} | {r['n']} | {ratio:.4f} | {linear:.4f} | "
              f"{shown} | {r['model']['coverage']:.3f} |")
    geometric = math.exp(sum(map(math.log, ratios)) / len(ratios))
    geometric_linear = math.exp(sum(map(math.log, linear_ratios)) / len(linear_ratios))
    print(f"| geometric mean | | | | {geometric:.4f} | {geometric_linear:.4f} | | "
          f"{sum(coverages) / len(coverages):.3f} (mean) |")
    print(f"\nworst model/naive ratio {max(ratios):.4f}; coverage range {min(coverages):.3f} .. {max(coverages):.3f}")
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2) + "\n")


if __name__ == "__main__":
    main()
