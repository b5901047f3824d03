"""Forecast quality on a panel of real daily histories: one `forecast evaluate` over every CSV file of a folder, the
same test start for all, against naive, linear, GARCH-t, GJR-t and the pooled HAR, at 1, 5 and 20 sessions ahead.

The protocol of the development panel (../shared/universe, 130 tickers): train on bars before 2015-01-02, walk
forward to the end of each file, default settings (no market index; with `--market ^GSPC`, the S&P 500 of
../shared/data/GSPC.csv or --market-csv is stored as ^GSPC). The files are read in place and written into a temporary
home; nothing is copied into the repository.

    python benchmarks/quality.py [--data-dir DIR] [--market-csv FILE] [--test-start DATE] [--horizons 1,5,20]
                                 [--jobs 2] [--json OUT] [--unseen K] [--short N] [`forecast evaluate` options]

Options after ours go to `forecast evaluate` (e.g. `--model per-ticker`, `--market ^GSPC`, `--seed 1`).
- `--unseen K`: also evaluate with K of the tickers (every len/K-th, sorted) kept out of the pool's training and
  calibrated against it as tickers it never saw, and compare their one-day scores with the pool that learned them.
- `--short N`: cut those K tickers to their last N sessions before the test start (the test period kept), and
  evaluate them trained with the rest.
- `--group N`: the tickers in groups of N (in name order), each group evaluated in a home of its own: `--group 1` is
  each ticker alone (the user with one ticker); `--short N` then cuts every ticker to its last N sessions before the
  test start. Evaluations run `--jobs` at a time.
- `--per-file`: the developers' eight files (../shared/data): each evaluated alone from the first day of its own last
  20%, as a pool of one (the files cover different years, so they cannot share one test start).
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
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))

from forecaster.data.bars import read_csv  # noqa: E402
from forecaster.data.store import Store  # noqa: E402


def geometric_mean(values) -> float:
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else math.nan


def fill(home: Path, files: list[Path], market_csv: Path | None, short: dict[str, int], test_start: str) -> None:
    """Write each file's bars into the home as the store would (a CSV import validates the same way)."""
    store = Store(home)
    start = np.datetime64(test_start, "D")
    for path in files:
        bars = read_csv(path)
        if path.stem in short:
            before = np.flatnonzero(bars.dates < start)
            bars = bars.take(slice(max(0, len(before) - short[path.stem]), None))
        store.write_bars(path.stem, bars)
    if market_csv is not None:
        store.write_bars("^GSPC", read_csv(market_csv))


def evaluate(home: Path, tickers: list[str], test_start: str, horizons: list[int], jobs: int,
             options: list[str]) -> tuple[list[dict], float]:
    started = time.perf_counter()
    args = [sys.executable, "-m", "forecaster", "evaluate", *tickers, "--test-start", test_start, "--format", "json",
            "--home", str(home), "--quiet", "--jobs", str(jobs), *[f"--horizon={h}" for h in horizons], *options]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode not in (0, 4):
        sys.exit(f"evaluate failed ({done.returncode}): {done.stderr.strip()}")
    if done.stderr.strip():
        print(done.stderr.strip(), file=sys.stderr)
    reports = json.loads(done.stdout)
    return (reports if isinstance(reports, list) else [reports]), time.perf_counter() - started


def ratio(report: dict, method: str, baseline: str, metric: str = "interval_score") -> float:
    return report[method][metric] / report[baseline][metric]


def summary(reports: list[dict], horizon: int, label: str) -> dict:
    group = [r for r in reports if r["horizon"] == horizon]
    coverage = np.array([r["model"]["coverage"] for r in group])
    level = group[0]["level"]
    half = 0.03 if horizon == 1 else 0.05  # the ranges at 90%: 0.87-0.93 at one day, 0.85-0.95 beyond
    low, high = round(level - half, 3), round(min(1.0, level + half), 3)
    gjr = [ratio(r, "model", "gjr") for r in group]
    point = [ratio(r, "model", "naive", "rmse") for r in group]
    return {
        "label": label, "h": horizon, "tickers": len(group),
        "score / RiskMetrics": geometric_mean(ratio(r, "model", "naive") for r in group),
        "score / HAR": geometric_mean(ratio(r, "model", "har") for r in group),
        "score / GJR-t": geometric_mean(gjr),
        "better than GJR-t": sum(v < 1 for v in gjr),
        "HAR / RiskMetrics": geometric_mean(ratio(r, "har", "naive") for r in group),
        "GJR-t / RiskMetrics": geometric_mean(ratio(r, "gjr", "naive") for r in group),
        "worst / RiskMetrics": max(ratio(r, "model", "naive") for r in group),
        "coverage": f"{coverage.min():.3f}-{coverage.max():.3f}",
        "coverage in range": f"{int(np.sum((coverage >= low) & (coverage <= high)))} of {len(group)} in "
                             f"[{low}, {high}]",
        "point / naive": geometric_mean(point), "worst point / naive": max(point),
    }


def tails(reports: list[dict], horizon: int, method: str = "model") -> dict:
    """The backtests of each tail over the tickers: pooled hit rate, the share of tickers whose hits Kupiec's and
    Christoffersen's conditional-coverage tests reject at 5%, red traffic lights, and the pinball loss against GJR-t's
    (geometric mean of the ratios)."""
    group = [r for r in reports if r["horizon"] == horizon]
    row = {"method": method, "h": horizon, "level": group[0]["level"]}
    for tail in ("lower", "upper"):
        backtests = [r[method]["tails"][tail] for r in group]
        days = sum(r["n"] for r in group)
        row[f"{tail} hit rate"] = f"{100 * sum(b['hits'] for b in backtests) / days:.2f}%"
        for key, name in (("kupiec_p", "Kupiec"), ("conditional_coverage_p", "CC")):
            rejected = sum(1 for b in backtests if b[key] is not None and b[key] < 0.05)
            row[f"{tail} {name} rejects"] = f"{rejected} of {len(group)}"
        row[f"{tail} pinball / GJR-t"] = geometric_mean(r[method]["tails"][tail]["pinball"] /
                                                         r["gjr"]["tails"][tail]["pinball"] for r in group)
    lights = [r[method]["tails"]["lower"].get("traffic_light") for r in group]
    if any(lights):
        row["traffic lights"] = ", ".join(f"{lights.count(z)} {z}" for z in ("green", "yellow", "red"))
    return row


def print_summary(rows: list[dict]) -> None:
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")


def print_tickers(reports: list[dict], horizon: int) -> None:
    print(f"\nPer ticker, {horizon} session(s) ahead:\n")
    print("| ticker | test days | model/naive RMSE | coverage | score / RiskMetrics | score / HAR | score / GJR-t |")
    print("|---|---|---|---|---|---|---|")
    for r in sorted((r for r in reports if r["horizon"] == horizon), key=lambda r: r["ticker"]):
        print(f"| {r['ticker']} | {r['n']} | {ratio(r, 'model', 'naive', 'rmse'):.4f} | {r['model']['coverage']:.3f} | "
              f"{ratio(r, 'model', 'naive'):.4f} | {ratio(r, 'model', 'har'):.4f} | {ratio(r, 'model', 'gjr'):.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--data-dir", type=Path, default=SHARED / "universe")
    parser.add_argument("--market-csv", type=Path, default=SHARED / "data" / "GSPC.csv")
    parser.add_argument("--test-start", default="2015-01-02")
    parser.add_argument("--horizons", default="1,5,20")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write every report here")
    parser.add_argument("--unseen", type=int, default=0)
    parser.add_argument("--short", type=int, default=0)
    parser.add_argument("--per-file", action="store_true")
    parser.add_argument("--group", type=int, default=0)
    parser.add_argument("--tickers", type=int, default=0, help="only the first N files (a quick look)")
    args, options = parser.parse_known_args()
    horizons = [int(h) for h in args.horizons.split(",")]
    files = sorted(args.data_dir.glob("*.csv"))
    if args.tickers:
        files = files[: args.tickers]
    if not files:
        sys.exit(f"no CSV files in {args.data_dir}")
    if args.per_file:
        return per_file(files, horizons, args, options)
    if args.group:
        return groups(files, horizons, args, options)
    tickers = [path.stem for path in files]
    chosen = tickers[:: max(1, len(tickers) // args.unseen)][: args.unseen] if args.unseen else []
    market = args.market_csv if "--market" in options and "none" not in options else None
    out: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as root:
        home = Path(root) / "panel"
        fill(home, files, market, {t: args.short for t in chosen} if args.short else {}, args.test_start)
        label = "short history" if args.short else "panel"
        out[label], seconds = evaluate(home, tickers, args.test_start, horizons, args.jobs, options)
        print(f"{label}: {len(tickers)} tickers evaluated in {seconds:.0f} s", file=sys.stderr)
        if args.unseen and not args.short:
            unseen = [f"--unseen={t}" for t in chosen]
            out["unseen"], seconds = evaluate(home, tickers, args.test_start, [1], args.jobs, [*options, *unseen])
            print(f"unseen: evaluated in {seconds:.0f} s", file=sys.stderr)
    rows = [summary(out[label], h, label) for h in horizons]
    if chosen:
        subset = [r for r in out[label] if r["ticker"] in chosen]
        rows += [summary(subset, h, f"{label}: the {len(chosen)} {'cut' if args.short else 'chosen'} tickers")
                 for h in horizons]
    if "unseen" in out:
        unseen_reports = [r for r in out["unseen"] if r["ticker"] in chosen]
        rows.append(summary(unseen_reports, 1, f"the {len(chosen)} tickers, unseen by the pool"))
        seen = {r["ticker"]: r["model"]["interval_score"] for r in out[label] if r["horizon"] == 1}
        change = [r["model"]["interval_score"] / seen[r["ticker"]] for r in unseen_reports]
        print(f"unseen / seen interval score on the {len(chosen)} tickers: geometric mean "
              f"{geometric_mean(change):.4f}, range {min(change):.4f}-{max(change):.4f}\n")
    print_summary(rows)
    print()
    print_summary([tails(out[label], h, method) for h in horizons for method in ("model", "gjr", "har")])
    print_tickers(out[label], horizons[0])
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


def groups(files: list[Path], horizons: list[int], args, options: list[str]) -> None:
    """The files in groups of `args.group`, each group evaluated in its own home, `args.jobs` evaluations at a time
    (each with --jobs 1)."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()
    batches = [files[i: i + args.group] for i in range(0, len(files), args.group)]
    with tempfile.TemporaryDirectory() as root:
        def one(batch: list[Path]) -> list[dict]:
            home = Path(root) / batch[0].stem
            fill(home, batch, None, {p.stem: args.short for p in batch} if args.short else {}, args.test_start)
            reports, _ = evaluate(home, [p.stem for p in batch], args.test_start, horizons, 1, options)
            return reports

        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            everything = [r for reports in pool.map(one, batches) for r in reports]
    label = ("each alone" if args.group == 1 else f"in homes of {args.group}") + (
        f", {args.short} sessions" if args.short else "")
    print(f"{label}: {len(files)} tickers evaluated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print_summary([summary(everything, h, label) for h in horizons])
    print()
    print_summary([tails(everything, h, method) for h in horizons for method in ("model", "gjr", "har")])
    print_tickers(everything, horizons[0])
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1) + "\n")


def per_file(files: list[Path], horizons: list[int], args, options: list[str]) -> None:
    rows, everything = [], []
    with tempfile.TemporaryDirectory() as root:
        for path in files:
            home = Path(root) / path.stem
            bars = read_csv(path)
            test_start = str(bars.dates[int(len(bars) * 0.8)])
            fill(home, [path], None, {}, test_start)
            reports, seconds = evaluate(home, [path.stem], test_start, horizons, args.jobs, options)
            print(f"{path.stem}: evaluated in {seconds:.0f} s", file=sys.stderr)
            everything.extend(reports)
    for h in horizons:
        rows.append(summary(everything, h, "eight files, each alone"))
    print_summary(rows)
    print_tickers(everything, horizons[0])
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1) + "\n")


if __name__ == "__main__":
    main()
