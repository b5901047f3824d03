"""Issue 25's targets: backtests of 50 random portfolios' one-day VaR and ES on the development panel.

From a folder of daily histories (default ../shared/universe), 50 portfolios of 10 tickers each drawn at random
(seed fixed), equal value on the test start and held at those shares, the last one with its last three holdings short.
Every ticker is calibrated once against the newest shipped vintage whose data ends before the test start (as
`forecast evaluate --portfolio` does), then each portfolio is walked forward (forecaster.risk.portfolio_backtest)
beside RiskMetrics' multivariate EWMA and historical simulation. Prints, for each method: the pooled hit rate of the
VaR at --level, the portfolios whose Kupiec test rejects at 5%, those in the Basel green zone, those whose ES test
(Acerbi–Székely Z2 at 97.5%) rejects at 5%, and the geometric mean over portfolios of the pinball loss at 1 - level
against the model's; then the wall time.

    python benchmarks/portfolio.py [--data-dir DIR] [--portfolios 50] [--size 10] [--test-start 2015-01-02]
        [--level 0.99] [--lam 0.99] [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecaster.data.bars import read_csv  # noqa: E402
from forecaster.data.fetch_jobs import symbol_from_file_name  # noqa: E402
from forecaster.errors import ForecastError  # noqa: E402
from forecaster.model.serving import TrainingConfig  # noqa: E402
from forecaster.model.training import add_ticker  # noqa: E402
from forecaster.model.vintages import latest  # noqa: E402
from forecaster.pipeline import for_vintage, forecast_history  # noqa: E402
from forecaster.risk import portfolio as joint  # noqa: E402
from forecaster.risk.portfolio_backtest import BACKTEST_METHODS, backtest_summary, daily_forecasts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "universe")
    parser.add_argument("--portfolios", type=int, default=50)
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--test-start", default="2015-01-02")
    parser.add_argument("--level", type=float, default=0.99)
    parser.add_argument("--lam", type=float, default=joint.CORRELATION_LAMBDA, help="the correlation's EWMA λ")
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--no-tail-correction", action="store_true", help="the elliptical shape alone")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    began = time.perf_counter()
    test_start = dt.date.fromisoformat(args.test_start)
    vintage = latest(test_start)
    model = vintage.load()
    config = for_vintage(model, TrainingConfig(), [])
    histories = {}
    for path in sorted(args.data_dir.glob("*.csv")):
        ticker = symbol_from_file_name(path.name)
        bars = read_csv(path)
        try:
            model = add_ticker(model, ticker, bars.before(test_start), None, config)
        except ForecastError as error:
            print(f"skipped {ticker}: {error.message}")
            continue
        histories[ticker] = forecast_history(model, ticker, model.data(ticker, bars, None), test_start)
    prepared = time.perf_counter() - began
    rng = np.random.default_rng(args.seed)
    names = sorted(histories)
    results = []
    for number in range(args.portfolios):
        chosen = [names[i] for i in rng.choice(len(names), args.size, replace=False)]
        start = {t: histories[t].price[np.searchsorted(histories[t].dates, np.datetime64(test_start, "D"))]
                 for t in chosen}
        shares = {t: 10_000.0 / start[t] for t in chosen}
        if number == args.portfolios - 1:
            for t in chosen[-3:]:
                shares[t] = -shares[t]
        daily = daily_forecasts(shares, {t: histories[t] for t in chosen}, args.level, args.test_start,
                                args.lam, not args.no_tail_correction)
        results.append({"tickers": chosen, "shares": shares, "days": len(daily.pnl),
                        "summary": backtest_summary(daily, args.level)})
    elapsed = time.perf_counter() - began
    report(results, args.level)
    print(f"{len(histories)} tickers calibrated and forecast in {prepared:.0f} s; {args.portfolios} portfolios "
          f"walked forward; {elapsed:.0f} s in all")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float) + "\n")


def report(results: list[dict], level: float) -> None:
    n = len(results)
    for method in BACKTEST_METHODS:
        hits = sum(r["summary"][method]["var"]["hits"] for r in results)
        days = sum(r["days"] for r in results)
        kupiec = sum(1 for r in results if (r["summary"][method]["var"]["kupiec_p"] or 1) < 0.05)
        green = sum(1 for r in results if r["summary"][method]["var"]["traffic_light"] == "green")
        es_rejects = sum(1 for r in results if r["summary"][method]["es"]["p_value"] < 0.05)
        ratio = math.exp(np.mean([math.log(r["summary"][method]["pinball"] / r["summary"]["model"]["pinball"])
                                  for r in results]))
        print(f"{method:12s} VaR {level:g}: hit rate {100 * hits / days:.2f}% ({hits} of {days}); Kupiec rejects "
              f"{kupiec}/{n}; Basel green {green}/{n}; ES {100 * 0.975:g}% Z2 rejects {es_rejects}/{n}; pinball "
              f"{ratio:.4f} x the model's")


if __name__ == "__main__":
    main()
