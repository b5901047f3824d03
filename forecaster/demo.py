"""`forecast demo`: the whole pipeline, offline, on the sample data bundled with the package."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

from forecaster.data.fetch_jobs import SAMPLE_TICKERS, read_sample
from forecaster.data.store import Store
from forecaster.data.updates import update_ticker
from forecaster.jobs import JobRunner, JobWatcher
from forecaster.model.serving import TrainingConfig
from forecaster.pipeline import evaluate_tickers, forecast_and_log, train_models
from forecaster.risk.evaluate import METHODS
from forecaster.text import plural
from forecaster.views.output import Terminal

EVALUATED = "MSFT"


class _EpochBar(JobWatcher):
    """The demo's jobs run one at a time here (jobs.JobRunner); a network trained alone advances `advance`."""

    def __init__(self, advance):
        self.advance = advance

    def running(self, names: list[str], epochs: int | None):
        return contextlib.nullcontext(lambda *args, **kwargs: self.advance() if epochs is not None else None)


def run_demo_in(home: Path | None, epochs: int, terminal: Terminal) -> None:
    """`forecast demo`: run the pipeline in `home`, kept, or (None) in a temporary home removed afterwards."""
    import shutil
    import tempfile

    from forecaster.errors import UsageError

    if epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {epochs}")
    if home is not None:
        check_demo_home(Store(home))
    directory = Path(tempfile.mkdtemp(prefix="forecast-demo-")) if home is None else home
    try:
        run_demo(directory, epochs, terminal, keep=home is not None)
    finally:
        if home is None:
            shutil.rmtree(directory, ignore_errors=True)


def check_demo_home(store: Store) -> None:
    """UsageError when the home holds anything the demo would not have made (`not_the_demos`): the demo imports the
    sample over what is stored and retrains the pool on the sample alone, so a home of the user's would lose its
    tickers' models. An empty home, or one a demo ran in before, is fine."""
    from forecaster.errors import UsageError

    found = not_the_demos(store)
    if found:
        raise UsageError(f"--home {store.home} is not empty: it holds {'; '.join(found)}, which the demo would "
                         "retrain or mix its sample into; give a new folder, or no --home (a temporary one)")


def not_the_demos(store: Store) -> list[str]:
    """What the home holds that the demo does not make, in words ('data of AAPL, KO', 'models of AAPL',
    'forecast.toml'): tickers stored but not from the bundled sample, models of other tickers or of their own
    (the demo's pool serves the sample), forecasts of other tickers in the log, a settings file. [] for an empty
    home or a demo's. A file that cannot be read counts as the user's."""
    from forecaster.data.prediction_log import read_predictions
    from forecaster.errors import ForecastError
    from forecaster.model.serving import model_kinds
    from forecaster.text import first_names

    def from_the_sample(ticker: str) -> bool:
        try:
            return ticker in SAMPLE_TICKERS and store.fetch_info(ticker).get("source") == "sample"
        except ForecastError:
            return False

    def logged() -> list[str]:
        try:
            return sorted({row["ticker"] for row in read_predictions(store)} - set(SAMPLE_TICKERS))
        except ForecastError:
            return ["(a log that cannot be read)"]

    found = {"data of": [t for t in store.tickers() if not from_the_sample(t)],
             "models of": sorted(t for t, kind in model_kinds(store).items()
                                 if t not in SAMPLE_TICKERS or kind != "pooled"),
             "forecasts of": logged()}
    listed = [f"{what} {first_names(names)}" for what, names in found.items() if names]
    return listed + ([store.config_path.name] if store.config_path.exists() else [])


def run_demo(home: Path, epochs: int, terminal: Terminal, keep: bool) -> None:
    """Run the pipeline in `home`, reporting on stdout (`forecast demo > demo.txt` keeps the report); `keep` says
    whether the home outlives the demo (otherwise the report names none of its files)."""
    say = terminal.say
    store = Store(home)
    say(f"forecast demo in {store.home if keep else 'a temporary home'}\n")

    say("1. Import the bundled sample (forecast fetch --sample)")
    for ticker in SAMPLE_TICKERS:
        result = update_ticker(store, ticker, lambda stored, t=ticker: read_sample(t), source="sample")
        say(f"   {ticker:6} {result.rows} daily bars, {result.first_date} .. {result.last_date}")

    config = TrainingConfig(epochs=epochs, patience=5, model="pooled")
    tickers = list(SAMPLE_TICKERS)
    say(f"\n2. Train one network on all three, pooled (forecast train --model pooled --epochs {epochs} --patience 5;"
        "\n   by default, 'forecast train' calibrates them against the network shipped with forecaster instead)")
    with terminal.progress("   training the pool", total=epochs) as advance:
        outcome = train_models(store, tickers, config, run_jobs=JobRunner(store, 1, epochs=epochs,
                                                                          watcher=_EpochBar(advance)))
    for row in outcome.rows:
        say(f"   {row['ticker']:6} {row['rows']} rows; network share of the mean {row['network share']:.2f}, of the "
            f"scale {row['scale share']:.2f}")
    say(f"   ({outcome.rows[0]['epochs']} {plural(outcome.rows[0]['epochs'], 'epoch')}; a share of 0 means the "
        "network found no reliable signal there and the model falls back on naive or on the volatility baseline)")

    bars = store.read_bars(EVALUATED)
    test_start = str(bars.dates[int(len(bars) * 0.8)])
    say(f"\n3. Walk-forward test from {test_start}, a pool trained on the three before it (forecast evaluate "
        f"--model pooled --test-start {test_start})")
    with terminal.progress("   training the pool", total=epochs) as advance:
        outcome = evaluate_tickers(store, tickers, config, dt.date.fromisoformat(test_start), [1],
                                   run_jobs=JobRunner(store, 1), callback=lambda *args: advance())
    say("   Point forecasts: RMSE relative to naive (below 1 is better). 90% intervals: coverage, and interval score")
    say("   relative to the RiskMetrics interval of naive (below 1: narrower or fewer misses)")
    point = []  # the model's RMSE over naive's, per ticker evaluated: what the closing line says
    for evaluation in outcome.rows:
        report = evaluation.report()
        naive = report["naive"]
        point.append(report["model"]["rmse"] / naive["rmse"])
        say(f"   {report['ticker']}, {report['n']} trading days:")
        for method in METHODS:
            metrics = report[method]
            direction = metrics["directional_accuracy"]
            score = metrics["interval_score"] / naive["interval_score"]
            say(f"     {method:6} RMSE {metrics['rmse'] / naive['rmse']:.4f} x naive; coverage "
                f"{metrics['coverage']:.2f}, score {score:.4f} x RiskMetrics"
                + ("" if direction is None else f"; direction {direction:.2f}"))

    say("\n4. Forecast the next 5 sessions (forecast predict --days 5)")
    for ticker in SAMPLE_TICKERS:
        predictions, failures, log_error = forecast_and_log(store, [ticker], 5)
        if failures or log_error is not None:
            raise failures[0][1] if failures else log_error
        rows = predictions[0].rows
        say(f"   {ticker:6} last close {rows[0]['as_of']}: {rows[0]['last_close']:.2f}")
        for row in rows:
            say(f"          {row['date']}  {row['forecast']:9.2f}  [{row['lower']:.2f}, {row['upper']:.2f}]")
    if keep:
        say(f"\nForecasts were logged in {store.predictions_path}.")
    else:
        say("\nThe temporary home is removed now; 'forecast demo --home DIR' keeps its data, models and log.")
    ratios = ", ".join(f"{ratio:.4f}" for ratio in point)
    say("Daily prices are close to a random walk: the point forecast is no better than naive, or hardly, and says so")
    say(f"(its RMSE above: {ratios} x naive's);")
    say("what the network can forecast is the size of the next moves, which its intervals show.")
