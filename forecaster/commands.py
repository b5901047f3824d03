"""Each command of forecaster as one library call, with plain arguments and plain results.

The CLI (forecaster.cli) parses its arguments, makes one of these calls and prints what comes back; the Python API
(forecaster.api.Home) makes the same calls and returns DataFrames. So each rule of a command is written once, here or
below: the default set of tickers (`tickers_with_data`, `tickers_with_models`), what a bare `fetch` fetches
(`plan_fetch`), where jobs run (`job_runner`), what `evaluate` writes and returns, and what a batch with failures
amounts to (errors.batch_failure).

`given` is what the caller set of forecaster.config's settings (key -> value, e.g. {"epochs": 2}); forecast.toml or
the setting's default decides the rest. Imports stay light: `predict` starts without pandas or scipy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from forecaster.config import Config, load_config
from forecaster.data.store import Store, normalize_ticker
from forecaster.errors import ForecastError, UsageError, failure_of
from forecaster.jobs import JobRunner, JobWatcher

PREDICTION_COLUMNS = ["ticker", "as_of", "date", "horizon", "forecast", "lower", "upper", "level", "volatility",
                      "model"]  # the columns of predict's CSV and JSON (its table: the first seven and volatility)
STORED_COLUMNS = ["ticker", "rows", "first date", "last date", "rows added", "rows changed"]  # fetch's, import's
INVENTORY_COLUMNS = ["ticker", "source", "data", "rows", "first_date", "last_date", "fetched_at", "model",
                     "trained_at", "model_until"]


def open_home(home: Path | str | None) -> tuple[Store, Config]:
    """The store at `home` (None: $FORECAST_HOME, else the current directory) and its forecast.toml. A bad
    $FORECAST_LOCK_TIMEOUT or $FORECAST_VINTAGES is a UsageError here, before any work, rather than one per ticker."""
    from forecaster.data.store import lock_timeout
    from forecaster.model.vintages import vintages_dir

    lock_timeout()
    vintages_dir()
    store = Store(home)
    return store, load_config(store.home)


def parse_date(value: str | dt.date | None, name: str) -> dt.date | None:
    """A date argument (YYYY-MM-DD, or a date; a datetime, pandas' Timestamp too, is its date); UsageError naming
    the argument `name` when it is none."""
    if isinstance(value, dt.datetime):
        return value.date()
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} {value!r} is not a date (expected YYYY-MM-DD)") from None


# ------------------------------------------------------------------------------------------ tickers, jobs
def tickers_with_data(store: Store, config: Config, tickers: list[str] | None) -> list[str]:
    """`tickers` (each once), or by default the watchlist and every stored ticker: what train and evaluate do."""
    from forecaster.pipeline import require_tickers

    return require_tickers(tickers or [], config.watchlist_and(store.tickers()),
                           f"price data in {store.home} yet: run 'forecast fetch TICKER' first")


def tickers_with_models(store: Store, config: Config, tickers: list[str] | None) -> list[str]:
    """`tickers` (each once), or by default the watchlist and every ticker a model serves: what predict and report
    do."""
    from forecaster.pipeline import model_tickers, require_tickers

    return require_tickers(tickers or [], config.watchlist_and(model_tickers(store)),
                           f"models in {store.home} yet: run 'forecast train' first")


def job_runner(store: Store, config: Config, given: dict, *, epochs: int | None = None, serial: bool = False,
               watcher: JobWatcher | None = None) -> JobRunner:
    """The runner of a command's per-ticker jobs: --jobs (else forecast.toml's, else the number of cores, or one
    job at a time when `serial`) and --scheduler (else $FORECAST_SCHEDULER or forecast.toml's); both checked now."""
    from forecaster.parallel import default_jobs

    jobs = config.value("parallel.jobs", given.get("jobs")) or (1 if serial else default_jobs())
    scheduler = config.value("parallel.scheduler", given.get("scheduler"))
    return JobRunner(store, jobs, scheduler, epochs, watcher or JobWatcher())


def training_config(config: Config, given: dict):
    """The training options (model.serving.TrainingConfig) from `given`, forecast.toml and the defaults, checked."""
    from forecaster.model.serving import TrainingConfig

    training = TrainingConfig.from_settings(config, given)
    training.check()
    return training


# ------------------------------------------------------------------------------------------- fetch, import
@dataclass
class FetchPlan:
    jobs: list  # data.fetch_jobs.FetchJob, to run with data.fetch_jobs.fetch_all
    notes: list[str] = field(default_factory=list)  # status lines for the user before the jobs run


def plan_fetch(store: Store, config: Config, tickers: list[str] | None = None, *, start: dt.date | None = None,
               end: dt.date | None = None, csv: Path | None = None, sample: bool = False,
               rate: float | None = None) -> FetchPlan:
    """What `fetch` does: the bundled sample, one CSV file for the one ticker given, or Yahoo Finance updates of
    `tickers` (by default: the watchlist, every stored ticker and the market index, but those imported from files
    or the sample, which are named in a note) paced at `rate` (else forecast.toml's)."""
    from forecaster.data import fetch_jobs

    tickers = list(dict.fromkeys(normalize_ticker(t) for t in tickers or []))
    fetch_jobs.check_dates(start, end)
    if sample and (tickers or csv):
        raise UsageError("--sample takes no tickers and no --csv")
    if csv is not None and len(tickers) != 1:
        raise UsageError("--csv imports one ticker: give exactly one TICKER")
    rate = config.value("fetch.rate", rate)
    if sample:
        return FetchPlan(fetch_jobs.sample_jobs())
    if csv is not None:
        return FetchPlan([fetch_jobs.csv_job(tickers[0], csv, start, end)])  # validated before any lock is taken
    plan = FetchPlan([])
    if not tickers:
        market = config.value("train.market")
        tickers, imported, damaged = fetch_jobs.bare_fetch_tickers(store, config.watchlist_and,
                                                                 None if market == "none" else market)
        plan.jobs.extend(damaged)  # jobs of tickers whose data/TICKER.json is damaged: each fails, naming it
        if imported:
            plan.notes.append(f"not fetched from Yahoo, imported from files or the sample: {', '.join(imported)} "
                              "(update them with 'forecast import FILE...' or 'forecast fetch TICKER --csv FILE')")
        if not tickers and not imported and not damaged:
            raise UsageError(f"give one or more tickers, or --sample (or list a watchlist in {config.path}: "
                             "tickers = [\"MSFT\", ...])")
    if (note := fetch_jobs.duration_note(len(tickers), rate)) is not None:
        plan.notes.append(note)
    plan.jobs[:0] = fetch_jobs.yahoo_jobs(store, tickers, start, end, rate) if tickers else []
    return plan


def plan_import(paths: list[Path], *, start: dt.date | None = None, end: dt.date | None = None) -> FetchPlan:
    """What `import` does: one job per file of `paths` (folders: their .csv and .txt files)."""
    from forecaster.data import fetch_jobs

    fetch_jobs.check_dates(start, end)
    return FetchPlan(fetch_jobs.import_jobs(paths, start, end))


@dataclass
class Stored:
    results: list = field(default_factory=list)  # data.updates.FetchResult of each ticker stored
    failures: list[tuple[str, ForecastError]] = field(default_factory=list)
    notices: list = field(default_factory=list)  # text.Notice about the data stored (a damaged file set aside, ...)

    @property
    def rows(self) -> list[dict]:
        return [stored_row(result) for result in self.results]


def store_all(store: Store, plan: FetchPlan, replace: bool = False, each=None) -> Stored:
    """Run the jobs of a fetch or an import one after another; `each(job, result, error)` is called as each ends
    (result or error None). One ticker's failure never stops the others."""
    from forecaster.data.fetch_jobs import fetch_all

    stored = Stored()
    for job, result, error in fetch_all(store, plan.jobs, replace):
        if error is None:
            stored.results.append(result)
            stored.notices.extend(result.notes)
            if result.new_history and (removed := _models_of_replaced_history_removed(store, result.ticker)):
                stored.notices.append(removed)
        else:
            stored.failures.append((job.ticker, error))
        if each is not None:
            each(job, result, error)
    return stored


def _models_of_replaced_history_removed(store: Store, ticker: str):
    """Take `ticker` out of the pool and remove its own model, both calibrated on the series another has just
    replaced (fetch or import --replace): a model of one history never serves another. A notice saying so, or None
    when no model served it."""
    from forecaster.model.serving import drop_from_pool
    from forecaster.text import Notice

    done = [what for what in [drop_from_pool(store, ticker)] if what]
    own = store.remove_own_model(ticker)
    if own is not None:
        done.append(f"its own model removed ({own.relative_to(store.home)})")
    if not done:
        return None
    return Notice(ticker, f"{ticker}: another series replaced its history, so what was calibrated on the old one "
                          f"goes: {'; '.join(done)}; run 'forecast train {ticker}' to calibrate it on the new one",
                  kind="histories replaced by another series, their models removed",
                  advice="run 'forecast train' to calibrate them on their new histories")


def stored_row(result) -> dict:
    """A row of fetch's and import's table for one ticker stored (a data.updates.FetchResult)."""
    values = (result.ticker, result.rows, result.first_date, result.last_date, result.added, result.changed)
    return dict(zip(STORED_COLUMNS, values, strict=True))


# ------------------------------------------------------------------------------------------------- remove
@dataclass
class Removal:
    removed: dict[str, str] = field(default_factory=dict)  # ticker -> what was done, in words
    failures: list[tuple[str, ForecastError]] = field(default_factory=list)
    cancelled: bool = False  # `confirm` said no: nothing was removed


def remove(store: Store, tickers: list[str], confirm=None) -> Removal:
    """Delete the tickers' data, fetch information and models (the prediction log keeps its rows). `confirm(stored)`
    is asked first, when given: False cancels."""
    from forecaster.data.inventory import remove_ticker, stored_among

    names = list(dict.fromkeys(normalize_ticker(t) for t in tickers))
    stored, failures = stored_among(store, names)
    if stored and confirm is not None and not confirm(stored):
        return Removal(cancelled=True)
    removal = Removal(failures=failures)
    for ticker in stored:
        try:
            removal.removed[ticker] = remove_ticker(store, ticker)
        except Exception as error:
            removal.failures.append((ticker, failure_of(error, ticker)))
    removal.failures.sort(key=lambda failure: names.index(failure[0]))
    return removal


# -------------------------------------------------------------------------------------------------- train
@dataclass
class Training:
    outcome: object  # pipeline.BatchOutcome: rows are train's table
    reported: list[ForecastError]  # the failures the job runner's watcher saw as they happened


def train(store: Store, config: Config, tickers: list[str] | None = None, *, until: dt.date | None = None,
          given: dict, serial: bool = False, watcher: JobWatcher | None = None) -> Training:
    """Train the models of `tickers` (by default the watchlist and every stored ticker; named tickers are calibrated
    against a stored pool)."""
    from forecaster.pipeline import train_models

    training = training_config(config, given)
    run_jobs = job_runner(store, config, given, epochs=training.epochs, serial=serial, watcher=watcher)
    names = tickers_with_data(store, config, tickers)
    outcome = train_models(store, names, training, until=until, calibrate_named=bool(tickers), run_jobs=run_jobs)
    return Training(outcome, run_jobs.failed)


# ------------------------------------------------------------------------------------------------ predict
@dataclass
class Forecasts:
    names: list[str]  # the tickers asked for
    level: float
    predictions: list  # pipeline.Prediction, one per ticker forecast
    failures: list[tuple[str, ForecastError]]
    log_error: ForecastError | None = None  # the forecasts could not be logged (they are made all the same)

    @property
    def rows(self) -> list[dict]:
        return [row for prediction in self.predictions for row in prediction.rows]


def predict(store: Store, config: Config, tickers: list[str] | None = None, *, days: int = 1, given: dict) -> Forecasts:
    """Forecast the next `days` sessions of `tickers` (by default the watchlist and every ticker with a model) and
    log them."""
    from forecaster.pipeline import check_days, forecast_and_log

    check_days(days)
    max_age = config.value("predict.max_model_age_days", given.get("max_model_age_days"))
    level = config.value("predict.level", given.get("level"))
    names = tickers_with_models(store, config, tickers)
    predictions, failures, log_error = forecast_and_log(store, names, days, level, max_model_age_days=max_age)
    return Forecasts(names, level, predictions, failures, log_error)


# ----------------------------------------------------------------------------------------------- evaluate
@dataclass
class EvaluationRun:
    start: dt.date
    horizons: list[int]
    level: float
    several: bool  # several tickers or horizons: a list of reports, not one
    outcome: object  # pipeline.BatchOutcome: rows are risk.evaluate.Evaluation
    reports: list[dict]  # Evaluation.report() of each
    reported: list[ForecastError]  # the failures the job runner's watcher saw as they happened

    @property
    def evaluated(self) -> int:
        """How many tickers were evaluated (at every horizon or some)."""
        return len({report["ticker"] for report in self.reports})


def evaluate(store: Store, config: Config, tickers: list[str] | None = None, *, test_start: dt.date,
             horizons: list[int] | None = None, unseen: list[str] | None = None, predictions: Path | str | None = None,
             given: dict, serial: bool = False, watcher: JobWatcher | None = None) -> EvaluationRun:
    """Walk-forward evaluations of `tickers` (by default the watchlist and every stored ticker, and the `unseen`
    ones, which the pool does not train on) from `test_start` at each of `horizons` (default [1]); the daily forecasts
    are written to `predictions` ({ticker} in its name for several tickers or horizons), checked before any work."""
    from forecaster.data.store import atomic_write_text
    from forecaster.pipeline import evaluate_tickers
    from forecaster.risk.evaluate import check_horizon, prediction_paths, prediction_tables

    horizons = list(dict.fromkeys(horizons or [1]))
    for horizon in horizons:
        check_horizon(horizon)
    level = config.value("predict.level", given.get("level"))
    training = training_config(config, given)
    watcher = watcher or JobWatcher()
    run_jobs = job_runner(store, config, given, epochs=training.epochs, serial=serial, watcher=watcher)
    kept_out = tuple(dict.fromkeys(normalize_ticker(t) for t in unseen or []))
    names = list(dict.fromkeys([*tickers_with_data(store, config, tickers), *kept_out]))
    several = len(names) > 1 or len(horizons) > 1
    outputs = {ticker: store.check_output(path) for ticker, path in
               prediction_paths(None if predictions is None else str(predictions), names, several).items()}
    with watcher.pool_training(training.epochs) as callback:
        outcome = evaluate_tickers(store, names, training, test_start, horizons, level, unseen=kept_out,
                                   run_jobs=run_jobs, callback=callback)
    for ticker, text in prediction_tables(outcome.rows).items():
        if ticker in outputs:
            atomic_write_text(outputs[ticker], text)
    return EvaluationRun(test_start, horizons, level, several, outcome,
                         [evaluation.report() for evaluation in outcome.rows], run_jobs.failed)


# -------------------------------------------------------------------------------------------------- score
@dataclass
class Scores:
    names: list[str]  # the tickers scored: those asked for, else every ticker in the log
    rows: list[dict]  # risk.track.COLUMNS and TAIL_COLUMNS
    failures: list[tuple[str, ForecastError]]

    @property
    def scored(self) -> int:
        """How many tickers were scored."""
        return len(self.names) - len(self.failures)


def score(store: Store, config: Config, tickers: list[str] | None = None, *, since: dt.date | None = None) -> Scores:
    """Score the logged forecasts of `tickers` (by default every ticker in the log) whose dates have come, the band
    at the configured predict.level where several were logged; nothing logged and no tickers asked for is an empty
    Scores, not a failure."""
    from forecaster.data.prediction_log import read_predictions
    from forecaster.pipeline import require_tickers
    from forecaster.risk.track import score_tickers

    log = read_predictions(store)
    logged = sorted({row["ticker"] for row in log})
    if not tickers and not logged:
        return Scores([], [], [])
    names = require_tickers(tickers, logged, "") if tickers else logged
    rows, failures = score_tickers(store, names, log, since, config.value("predict.level"))
    return Scores(names, rows, failures)


# --------------------------------------------------------------------------------------------------- plot
def plot(store: Store, config: Config, ticker: str, *, out: Path | None = None, last: int = 120, days: int = 5,
         evaluation: Path | None = None, given: dict) -> Path:
    """Draw `ticker`'s picture (views.plot) and write it to `out` (default ./TICKER.png): the path written. Its band
    is at the `given` level, else forecast.toml's predict.level."""
    from forecaster.views.plot import plot_ticker

    return plot_ticker(store, ticker, out=out, last=last, days=days, evaluation=evaluation,
                       level=config.value("predict.level", given.get("level")))


# ------------------------------------------------------------------------------------------ report, config
def report(store: Store, config: Config, tickers: list[str] | None = None, *, out: Path | str = "report.html",
           days: int = 5, given: dict, serial: bool = False):
    """Write the HTML page of `tickers` (by default the watchlist and every ticker with a model), with a portfolio
    section when forecast.toml sets [portfolio] holdings, to `out`: (the path written, the views.report.Report
    shown). Worker processes for a large page as `job_runner` says."""
    from forecaster.views.report import write_report

    names = tickers_with_models(store, config, tickers)
    return write_report(store, names, Path(out), days=days, level=config.value("predict.level", given.get("level")),
                        jobs=config.value("parallel.jobs", given.get("jobs")) or (1 if serial else None),
                        max_model_age_days=config.value("predict.max_model_age_days",
                                                        given.get("max_model_age_days")),
                        holdings=config.holdings, var_level=config.value("portfolio.level"),
                        alert_var=config.value("portfolio.alert_var"))


def check(home: Path | str | None) -> tuple[Store, list]:
    """(the store at `home`, every problem of it: forecaster.check.Problem); read-only, and a forecast.toml that
    cannot be read is one of the problems rather than an error."""
    from forecaster.check import check_home

    store = Store(home)
    return store, check_home(store)


def settings(config: Config) -> list[dict]:
    """The effective settings, a row each (setting, value, source), the watchlist first (as a list of symbols)."""
    from forecaster.config import SETTINGS

    source = str(config.path) if config.exists else "default"
    rows = [{"setting": "tickers", "value": list(config.tickers), "source": source}]
    for setting in SETTINGS:
        value, where = config.resolve(setting.name)
        rows.append({"setting": setting.name, "value": setting.shown_default if value is None else value,
                     "source": where})
        if setting.name == "portfolio.level":  # the holdings, a table rather than a setting, beside their section's
            holdings = config.holdings
            rows.append({"setting": "portfolio.holdings",
                         "value": [f"{h.ticker} {h.shares:g}" for h in holdings.items] if holdings else [],
                         "source": source if holdings else "default"})
    return rows


# ---------------------------------------------------------------------------------------------- portfolio
HOLDING_COLUMNS = ["ticker", "shares", "value", "weight", "component_var", "component_es", "marginal_var",
                   "standalone_var"]  # a holding's row in `portfolio`'s JSON and CSV


def holdings_of(config: Config, path: Path | str | None):
    """The holdings in `path` (a CSV file `ticker,shares`), else forecast.toml's [portfolio] holdings; UsageError
    when there are none."""
    from forecaster.data.holdings import read_holdings_file

    if path is not None:
        return read_holdings_file(path)
    if config.holdings is None:
        raise UsageError(f"no holdings: give --holdings FILE (CSV with columns ticker,shares) or set [portfolio] "
                         f"holdings in {config.path}")
    return config.holdings


@dataclass
class Portfolio:
    forecast: object  # pipeline.PortfolioForecast
    alert: str | None  # the warning when the VaR passes [portfolio] alert_var


def portfolio(store: Store, config: Config, *, holdings: Path | str | None = None, days: int = 1,
              given: dict) -> Portfolio:
    """The value at risk and expected shortfall of the holdings (`holdings` file, else forecast.toml's) over the
    next `days` sessions, and each holding's share of them; with the alert line when [portfolio] alert_var is
    passed."""
    from forecaster.pipeline import portfolio_forecast

    forecast = portfolio_forecast(store, holdings_of(config, holdings), days,
                                  config.value("portfolio.level", given.get("level")),
                                  max_model_age_days=config.value("predict.max_model_age_days"))
    return Portfolio(forecast, forecast.risk.alert(config.value("portfolio.alert_var", given.get("alert_var"))))


def evaluate_portfolio(store: Store, config: Config, *, holdings: Path | str, test_start: dt.date, given: dict,
                       watcher: JobWatcher | None = None, tickers=None, horizons=None, unseen=None,
                       predictions=None):
    """The walk-forward backtest of the holdings' one-day VaR and ES from `test_start` (pipeline
    .PortfolioEvaluation); `given`'s level is the VaR's. `evaluate`'s other arguments do not go with it: a
    UsageError when any is given."""
    from forecaster.pipeline import evaluate_portfolio as backtest

    if tickers or horizons or unseen or predictions:
        raise UsageError("--portfolio backtests the holdings in its file, one day ahead: give no tickers, "
                         "--horizon, --unseen or --predictions with it")

    training = training_config(config, given)
    watcher = watcher or JobWatcher()
    with watcher.pool_training(training.epochs) as callback:
        return backtest(store, holdings_of(config, holdings), training, test_start,
                        config.value("portfolio.level", given.get("level")), callback=callback)
