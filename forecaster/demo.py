"""`forecast demo`: the whole pipeline, offline, on the sample data bundled with the package."""

from __future__ import annotations

from pathlib import Path

from forecaster import sources
from forecaster.evaluate import METHODS, walk_forward
from forecaster.model import TrainingConfig
from forecaster.output import Terminal, plural
from forecaster.pipeline import predict_ticker, train_ticker
from forecaster.store import Store

EVALUATED = "MSFT"


def run_demo(home: Path, epochs: int, terminal: Terminal, keep: bool) -> None:
    """Run the pipeline in `home`, reporting on stdout (`forecast demo > demo.txt` keeps the report); `keep` says
    whether the home outlives the demo (otherwise the report names none of its files)."""
    say = terminal.say
    store = Store(home)
    say(f"forecast demo in {store.home if keep else 'a temporary home'}\n")

    say("1. Import the bundled sample (forecast fetch --sample)")
    for ticker in sources.SAMPLE_TICKERS:
        result = sources.update_ticker(store, ticker, lambda stored, t=ticker: sources.read_sample(t),
                                       source="sample")
        say(f"   {ticker:6} {result.rows} daily bars, {result.first_date} .. {result.last_date}")

    config = TrainingConfig(epochs=epochs, patience=5)
    say(f"\n2. Train an LSTM per ticker (forecast train --epochs {epochs} --patience 5)")
    for ticker in sources.SAMPLE_TICKERS:
        with terminal.progress(f"   training {ticker}", total=epochs) as advance:
            row = train_ticker(store, ticker, config, callback=lambda *args: advance())
        say(f"   {ticker:6} {row['epochs']} {plural(row['epochs'], 'epoch')}; validation RMSE "
            f"{row['val RMSE model']:.4f} vs naive {row['val RMSE naive']:.4f} (share of the network's forecast "
            f"kept: {row['network share']:.2f})")

    bars = store.read_bars(EVALUATED)
    test_start = str(bars.dates[int(len(bars) * 0.8)])
    say(f"\n3. Walk-forward test of {EVALUATED} on its last 20% (forecast evaluate {EVALUATED} "
        f"--test-start {test_start})")
    with terminal.progress(f"   training {EVALUATED}", total=epochs) as advance:
        evaluation = walk_forward(bars, EVALUATED, test_start, config, callback=lambda *args: advance())
    report = evaluation.report()
    naive = report["naive"]
    say(f"   {report['n']} trading days. Point forecasts: RMSE relative to naive (below 1 is better). 90% intervals:")
    say("   coverage, and interval score relative to the RiskMetrics interval of naive (below 1: narrower or fewer "
        "misses)")
    for method in METHODS:
        metrics = report[method]
        direction = metrics["directional_accuracy"]
        say(f"   {method:6} RMSE {metrics['rmse'] / naive['rmse']:.4f} x naive; interval coverage "
            f"{metrics['coverage']:.2f}, score {metrics['interval_score'] / naive['interval_score']:.4f} x RiskMetrics"
            + ("" if direction is None else f"; direction {direction:.2f}"))

    say("\n4. Forecast the next 5 sessions (forecast predict --days 5)")
    for ticker in sources.SAMPLE_TICKERS:
        rows = predict_ticker(store, ticker, 5).rows
        say(f"   {ticker:6} last close {rows[0]['as_of']}: {rows[0]['last_close']:.2f}")
        for row in rows:
            say(f"          {row['date']}  {row['forecast']:9.2f}  [{row['lower']:.2f}, {row['upper']:.2f}]")
    if keep:
        say(f"\nForecasts were logged in {store.predictions_path}.")
    else:
        say("\nThe temporary home is removed now; 'forecast demo --home DIR' keeps its data, models and log.")
    say("Daily prices are close to a random walk: the point forecast is barely better than naive, and says so;")
    say("what the network can forecast is the size of the next moves, which its intervals show.")
