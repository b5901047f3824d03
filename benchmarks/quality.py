"""Forecast quality on real daily prices: `forecast evaluate` on every CSV file of a folder, against naive and the
standard volatility models.

For each TICKER.csv: import it into a temporary home (`forecast fetch TICKER --csv`), then run walk-forward
evaluations from the first trading day of the last 20% of its rows (`forecast evaluate --test-start`), at each of
`--horizons` (default 1, 5 and 20 sessions ahead), with the default training settings unless extra arguments are
given; two evaluations run at a time. Prints Markdown tables (the ones in the README): at h = 1 the RMSE ratios to
naive and the 90% interval-score ratios of the model to the RiskMetrics interval (naive: EWMA(0.94), ±1.645σ), to
GARCH(1,1)-t and to GJR-GARCH(1,1)-t; at longer horizons the coverage and the interval-score ratios; and the geometric
means over the tickers.

    python benchmarks/quality.py [--data-dir DIR] [--horizons 1,5,20] [--json OUT] [`forecast evaluate` options]

DIR defaults to ../shared/data beside the repository (the developers' data set; read in place, never bundled).
"""

from __future__ import annotations

import argparse
import concurrent.futures
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


def geometric_mean(values) -> float:
    values = list(values)
    return math.exp(sum(map(math.log, values)) / len(values))


def evaluate(home: str, ticker: str, test_start: str, horizon: int, options: list[str]) -> dict:
    started = time.perf_counter()
    done = forecast("evaluate", ticker, "--test-start", test_start, "--horizon", str(horizon), "--format", "json",
                    "--home", home, "--quiet", "--jobs", "1", *options)
    if done.returncode:
        sys.exit(f"evaluate {ticker} --horizon {horizon} failed: {done.stderr.strip()}")
    report = json.loads(done.stdout)
    report["seconds"] = time.perf_counter() - started
    print(f"{ticker} h={horizon}: done in {report['seconds']:.0f} s", file=sys.stderr)
    return report


def ratio(report: dict, metric: str, method: str, baseline: str) -> float:
    return report[method][metric] / report[baseline][metric]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--horizons", default="1,5,20", help="sessions ahead, comma-separated")
    parser.add_argument("--json", type=Path, help="also write the full reports here")
    args, evaluate_options = parser.parse_known_args()
    horizons = [int(h) for h in args.horizons.split(",")]
    files = sorted(args.data_dir.glob("*.csv"))
    if not files:
        sys.exit(f"no CSV files in {args.data_dir}")

    reports: dict[tuple[str, int], dict] = {}
    rows_of: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as home, concurrent.futures.ThreadPoolExecutor(2) as pool:
        jobs = {}
        for path in files:
            ticker = path.stem
            test_start, rows_of[ticker] = test_start_of(path)
            done = forecast("fetch", ticker, "--csv", str(path), "--home", home, "--quiet")
            if done.returncode:
                sys.exit(f"import of {path} failed: {done.stderr.strip()}")
            for horizon in horizons:
                jobs[(ticker, horizon)] = pool.submit(evaluate, home, ticker, test_start, horizon, evaluate_options)
        reports = {key: job.result() for key, job in jobs.items()}
    tickers = sorted(rows_of)

    first = horizons[0]
    print(f"h = {first}: RMSE ratios to naive; 90% interval score of the model relative to the RiskMetrics interval "
          "(EWMA ±1.645σ), GARCH-t and GJR-t")
    print()
    print("| ticker | rows | test from | test days | model/naive RMSE | linear/naive RMSE | model direction "
          "| model 90% coverage | score / EWMA | score / GARCH | score / GJR |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    columns: dict[str, list[float]] = {k: [] for k in ("rmse", "linear", "coverage", "ewma", "garch", "gjr")}
    for ticker in tickers:
        r = reports[(ticker, first)]
        values = {"rmse": ratio(r, "rmse", "model", "naive"), "linear": ratio(r, "rmse", "linear", "naive"),
                  "coverage": r["model"]["coverage"], "ewma": ratio(r, "interval_score", "model", "naive"),
                  "garch": ratio(r, "interval_score", "model", "garch"),
                  "gjr": ratio(r, "interval_score", "model", "gjr")}
        for key, value in values.items():
            columns[key].append(value)
        direction = r["model"]["directional_accuracy"]
        shown = "— (= naive)" if direction is None else f"{direction:.3f}"
        print(f"| {ticker} | {rows_of[ticker]} | {r['test_start']} | {r['n']} | {values['rmse']:.4f} | "
              f"{values['linear']:.4f} | {shown} | {values['coverage']:.3f} | {values['ewma']:.4f} | "
              f"{values['garch']:.4f} | {values['gjr']:.4f} |")
    means = {k: geometric_mean(v) for k, v in columns.items() if k != "coverage"}
    print(f"| geometric mean | | | | {means['rmse']:.4f} | {means['linear']:.4f} | | "
          f"{sum(columns['coverage']) / len(tickers):.3f} (mean) | {means['ewma']:.4f} | {means['garch']:.4f} | "
          f"{means['gjr']:.4f} |")
    print(f"\nworst model/naive RMSE ratio {max(columns['rmse']):.4f}; coverage {min(columns['coverage']):.3f} .. "
          f"{max(columns['coverage']):.3f}; model beats GJR-t on {sum(v < 1 for v in columns['gjr'])} of "
          f"{len(tickers)} tickers")

    if len(horizons) > 1:
        print()
        head = " | ".join(f"h={h} coverage | h={h} score / EWMA | h={h} score / GJR" for h in horizons[1:])
        print(f"| ticker | {head} |")
        print("|---" * (1 + 3 * (len(horizons) - 1)) + "|")
        later: dict[tuple[int, str], list[float]] = {}
        for ticker in tickers:
            cells = []
            for h in horizons[1:]:
                r = reports[(ticker, h)]
                values = (r["model"]["coverage"], ratio(r, "interval_score", "model", "naive"),
                          ratio(r, "interval_score", "model", "gjr"))
                for name, value in zip(("coverage", "ewma", "gjr"), values, strict=True):
                    later.setdefault((h, name), []).append(value)
                cells.append(f"{values[0]:.3f} | {values[1]:.4f} | {values[2]:.4f}")
            print(f"| {ticker} | {' | '.join(cells)} |")
        cells = [f"{min(later[(h, 'coverage')]):.3f}–{max(later[(h, 'coverage')]):.3f} | "
                 f"{geometric_mean(later[(h, 'ewma')]):.4f} | {geometric_mean(later[(h, 'gjr')]):.4f}"
                 for h in horizons[1:]]
        print(f"| range / geometric mean | {' | '.join(cells)} |")
    if args.json:
        args.json.write_text(json.dumps({f"{t}@{h}": r for (t, h), r in reports.items()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
