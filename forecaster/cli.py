"""The `forecast` command line: a thin layer over the library.

Library errors (`ForecastError`) become one line on stderr and the exit code they carry, in `main` only; anything
unexpected is an internal error (traceback with --debug or FORECAST_DEBUG=1). In a command over several tickers, one
ticker's failure, whatever it is, is reported for that ticker as it happens and the others go on (exit 4). SIGTERM
and SIGHUP stop a command as Ctrl-C does (exit 143 and 129, one line). Heavy libraries (pandas, yfinance,
scikit-learn, matplotlib) are imported inside the commands that need them, so `predict` starts fast.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import inspect
import os
import signal
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from forecaster.errors import ExitCode, ForecastError, InternalFailure, UsageError
from forecaster.views.output import Format, Notice, ReportFormat, Terminal, plural

app = typer.Typer(
    name="forecast",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

HomeOption = Annotated[
    Optional[Path],
    typer.Option("--home", help="Home directory for data/ and models/ [default: $FORECAST_HOME, else the current "
                                "directory]", show_default=False),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only results and errors (for cron).")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Print every ticker's warning (without it: one "
                                                                      "summary line per kind of warning).")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors (also FORECAST_DEBUG=1).")]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


def _show_version(value: bool) -> None:
    if value:
        from forecaster import __version__

        sys.stdout.write(f"forecast {__version__}\n")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.", is_eager=True,
                                          callback=_show_version)] = False,
) -> None:
    """Forecast stock prices with a NumPy LSTM, judged honestly against the naive forecast."""


def _session(home: Path | None, quiet: bool, debug: bool, verbose: bool = False):
    """(store, terminal, config) of a command: the home, how to print, and HOME/forecast.toml."""
    from forecaster.config import load_config
    from forecaster.data.store import Store, lock_timeout

    lock_timeout()  # a bad $FORECAST_LOCK_TIMEOUT is a usage error before any work, not one per ticker
    store = Store(home)
    terminal = Terminal(quiet=quiet, debug=debug or _debug_from_environment(), verbose=verbose)
    return store, terminal, load_config(store.home)


def _with_settings(*sections: str):
    """Give a command one option per setting of `sections` (declared once, in forecaster.config.SETTINGS).

    The options default to None, "not given", so that forecast.toml or the setting's default decides; the command
    receives those that were given as one keyword argument, `given` (key -> value).
    """
    from forecaster.config import settings_of

    settings = settings_of(*sections)

    def decorate(command):
        signature = inspect.signature(command, eval_str=True)
        added = [inspect.Parameter(
            s.key, inspect.Parameter.KEYWORD_ONLY, default=None,
            annotation=Annotated[Optional[s.kind], typer.Option(s.option, help=f"{s.help} [default: {_shown(s)}]",
                                                                show_default=False)]) for s in settings]
        kept = [p for p in signature.parameters.values() if p.name != "given"]

        @functools.wraps(command)
        def with_settings(*args, **kwargs):
            given = {s.key: kwargs.pop(s.key) for s in settings if kwargs.get(s.key) is not None}
            for s in settings:
                kwargs.pop(s.key, None)
            return command(*args, given=given, **kwargs)

        with_settings.__signature__ = signature.replace(parameters=[*kept, *added])
        with_settings.__annotations__ = {**{k: v for k, v in command.__annotations__.items() if k != "given"},
                                         **{p.name: p.annotation for p in added}}
        return with_settings

    return decorate


def _shown(setting) -> str:
    """A setting's default as help and `forecast config` show it."""
    from forecaster.views.output import plain_number

    default = plain_number(setting.default) if isinstance(setting.default, float) else str(setting.default)
    return {"parallel.jobs": "the number of cores", "parallel.scheduler": "none: this machine"}.get(
        setting.name, default)


def _debug_from_environment() -> bool:
    return os.environ.get("FORECAST_DEBUG", "") not in ("", "0")


def _parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r} is not a date (expected YYYY-MM-DD)") from None


def _report_failure(terminal: Terminal, ticker: str, error: ForecastError) -> None:
    """One ticker's failure as one line naming the ticker (and its traceback first, with --debug)."""
    if terminal.debug:
        if isinstance(error, InternalFailure):
            sys.stderr.write(error.details)
        else:
            traceback.print_exception(error)
    message = error.message if ticker in error.message else f"{ticker}: {error.message}"
    if isinstance(error, InternalFailure) and not terminal.debug:
        message += " (rerun with --debug for details)"
    terminal.error(message)


def _finish(failures: list[tuple[str, ForecastError]], done: int, terminal: Terminal, reported=()) -> None:
    """Report the per-ticker failures of a multi-ticker command (but those already `reported` as they happened:
    True for all, or a collection of the errors), then the count, and exit with the right code: 4 when some tickers
    succeeded, else the failures' own code. One cause shared by several tickers (a damaged pool serves them all) is
    one line naming them."""
    shared: dict[str, list[tuple[str, ForecastError]]] = {}
    for ticker, error in failures:
        if reported is not True and not any(error is seen for seen in reported):
            shared.setdefault(error.message, []).append((ticker, error))
    for group in shared.values():
        if len(group) == 1:
            _report_failure(terminal, *group[0])
        else:
            tickers = [ticker for ticker, _ in group]
            shown = ", ".join(tickers[:5]) + (f" and {len(tickers) - 5} more" if len(tickers) > 5 else "")
            terminal.error(f"{group[0][1].message} ({len(tickers)} tickers: {shown})")
    if not failures:
        return
    if done == 0 and len(failures) == 1:
        raise typer.Exit(int(failures[0][1].exit_code))
    names = ", ".join(ticker for ticker, _ in failures)
    terminal.error(f"{len(failures)} of {len(failures) + done} tickers failed: {names}")
    raise typer.Exit(int(ExitCode.PARTIAL if done else max(error.exit_code for _, error in failures)))


def _results(terminal: Terminal, rows: list[dict], columns: list[str], format: Format, title: str,
             failures: list, names: list[str]) -> None:
    """Print a multi-ticker command's results: json and csv always get a document (`[]` when empty), so scripts
    can parse it; a table is left out only when every ticker failed (the errors say why)."""
    if rows or format is not Format.table or len(failures) < len(names):
        terminal.results(rows, columns, format, title=title)


# ------------------------------------------------------------------------------------------------------- fetch
StartOption = Annotated[Optional[str], typer.Option(help="First date to fetch (YYYY-MM-DD) [default: all history, "
                                                         "then incremental].", show_default=False)]
EndOption = Annotated[Optional[str], typer.Option(help="Last date to fetch, inclusive (YYYY-MM-DD) [default: the "
                                                       "latest].", show_default=False)]
ReplaceOption = Annotated[bool, typer.Option("--replace", help="Replace the stored history with what is fetched or "
                                             "imported, even where it rewrites past days (another series).")]


@app.command()
@_with_settings("fetch")
def fetch(
    tickers: Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols, e.g. MSFT ^GSPC BRK-B [default: the "
                                                            "watchlist and every stored ticker fetched from Yahoo].",
                                                            show_default=False)] = None,
    start: StartOption = None,
    end: EndOption = None,
    csv: Annotated[Optional[Path], typer.Option("--csv", help="Import this CSV file (columns Date,Open,High,Low,"
                                                "Close,[Adj Close,]Volume) for the one TICKER given.",
                                                show_default=False)] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Import the sample data bundled with forecaster "
                                                          "(^GSPC, MSFT, IBM).")] = False,
    replace: ReplaceOption = False,
    home: HomeOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    debug: DebugOption = False,
    *,
    given: dict,
) -> None:
    """Download daily prices from Yahoo Finance (or import a CSV or the bundled sample) into the local store."""
    from forecaster.data import fetching, sources
    from forecaster.data.store import normalize_ticker

    tickers = list(dict.fromkeys(normalize_ticker(t) for t in tickers or []))
    start_date, end_date = _parse_date(start, "--start"), _parse_date(end, "--end")
    sources.check_dates(start_date, end_date)
    if sample and (tickers or csv):
        raise UsageError("--sample takes no tickers and no --csv")
    if csv is not None and len(tickers) != 1:
        raise UsageError("--csv imports one ticker: give exactly one TICKER")
    store, terminal, config = _session(home, quiet, debug, verbose)
    rate = config.value("fetch.rate", given.get("rate"))
    if sample:
        jobs = fetching.sample_jobs()
    elif csv is not None:
        jobs = [fetching.csv_job(tickers[0], csv, start_date, end_date)]  # validated before any lock is taken
    else:
        damaged = []  # jobs of tickers whose data/TICKER.json is damaged: each fails, naming it
        if not tickers:
            market = config.value("train.market")
            tickers, imported, damaged = fetching.bare_fetch_tickers(store, config.watchlist_and,
                                                                     None if market == "none" else market)
            if imported:
                terminal.info(f"not fetched from Yahoo, imported from files or the sample: {', '.join(imported)} "
                              "(update them with 'forecast import FILE...' or 'forecast fetch TICKER --csv FILE')")
            if not tickers and not imported and not damaged:
                raise UsageError(f"give one or more tickers, or --sample (or list a watchlist in {config.path}: "
                                 "tickers = [\"MSFT\", ...])")
        if (note := fetching.duration_note(len(tickers), rate)) is not None:
            terminal.info(note)
        jobs = [*(fetching.yahoo_jobs(store, tickers, start_date, end_date, rate) if tickers else []), *damaged]
    _store_all(terminal, store, jobs, replace, "Fetching", "Fetched")


def _store_all(terminal: Terminal, store, jobs: list, replace: bool, action: str, title: str) -> None:
    """Run fetch or import jobs (data.fetching) with one progress bar, each failure printed as it happens, the
    warnings summarised, and a table of what was stored."""
    from forecaster.data.fetching import fetch_all

    results, failures, notices = [], [], []
    with terminal.progress(action, total=len(jobs)) as advance:
        for job, result, error in fetch_all(store, jobs, replace):
            if error is not None:
                failures.append((job.ticker, error))
                _report_failure(terminal, job.ticker, error)
                advance(status=f"{job.ticker} failed")
                continue
            results.append(result)
            notices.extend(result.notes)
            advance(status=job.ticker)
            if not terminal.shows_progress:
                terminal.info(f"{result.ticker}: {result.rows} {plural(result.rows, 'row')} to {result.last_date} "
                              f"({result.added} added)")
    terminal.notices(notices)
    if results and not terminal.quiet:
        rows = [{"ticker": r.ticker, "rows": r.rows, "first date": r.first_date, "last date": r.last_date,
                 "rows added": r.added, "rows changed": r.changed} for r in results]
        terminal.results(rows, list(rows[0]), title=title)
    _finish(failures, len(results), terminal, reported=True)


# ------------------------------------------------------------------------------------------------------ import
@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="CSV files, or folders of .csv and .txt files. Each file's name "
                                                     "gives its ticker: abr_b.us.txt -> ABR-B (see the README).",
                                                show_default=False)],
    start: StartOption = None,
    end: EndOption = None,
    replace: ReplaceOption = False,
    home: HomeOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    debug: DebugOption = False,
) -> None:
    """Import many CSV files in one run (a folder of them), each for the ticker its file name gives."""
    from forecaster.data import fetching, sources

    start_date, end_date = _parse_date(start, "--start"), _parse_date(end, "--end")
    sources.check_dates(start_date, end_date)
    store, terminal, _ = _session(home, quiet, debug, verbose)
    _store_all(terminal, store, fetching.import_jobs(paths, start_date, end_date), replace, "Importing", "Imported")


# ------------------------------------------------------------------------------------------------------ remove
@app.command()
def remove(
    tickers: Annotated[list[str], typer.Argument(help="Ticker symbols to remove.", show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Remove without asking (required when not at a terminal, "
                                                          "e.g. in cron).")] = False,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Delete tickers from the store: their price data, fetch information and models (the prediction log keeps its
    rows)."""
    from forecaster.data.inventory import remove_ticker, stored_among
    from forecaster.data.store import normalize_ticker
    from forecaster.errors import failure_of

    names = list(dict.fromkeys(normalize_ticker(t) for t in tickers))
    store, terminal, _ = _session(home, quiet, debug)
    stored, failures = stored_among(store, names)
    if stored and not yes:
        answer = terminal.confirm(f"Remove {', '.join(stored)} from {store.home} (price data and models)?")
        if answer is None:
            raise UsageError("remove deletes data: add --yes to confirm when not at a terminal")
        if not answer:
            terminal.info("nothing was removed")
            return
    done = 0
    for ticker in stored:
        try:
            what = remove_ticker(store, ticker)
        except Exception as error:
            failures.append((ticker, failure_of(error, ticker)))
            continue
        done += 1
        terminal.info(f"{ticker}: {what}")
    _finish(sorted(failures, key=lambda failure: names.index(failure[0])), done, terminal)


# -------------------------------------------------------------------------------------------------------- list
@app.command("list")
def list_(
    format: FormatOption = Format.table,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Show the stored tickers: where their data came from, rows, date range, when last fetched, and their models."""
    from forecaster.data.inventory import inventory

    store, terminal, _ = _session(home, quiet, debug)
    rows, damaged = inventory(store)
    for error in damaged:
        terminal.warn(error.message)
    if not rows and format is Format.table:
        terminal.info(f"Nothing stored in {store.home} yet: try 'forecast fetch MSFT' or 'forecast fetch --sample'.")
        return
    columns = ["ticker", "source", "data", "rows", "first_date", "last_date", "fetched_at", "model", "trained_at",
               "model_until"]
    terminal.results(rows, columns, format, title=f"Stored in {store.home}")


# ------------------------------------------------------------------------------------------------------- train
def _job_runner(terminal: Terminal, store, config, given: dict, epochs: int, describe):
    """`run_jobs(function, names, arguments) -> (results, failures)` for the library: per-ticker jobs with
    forecaster.parallel, as --jobs / --scheduler (or forecast.toml) say, with one progress bar over tickers (over
    epochs when one ticker trains here). Each failure is reported as it happens (and kept in `run_jobs.reported`,
    for `_finish`); `describe(result)` is a ticker's line for logs."""
    from forecaster.parallel import default_jobs, run_per_ticker

    jobs = config.value("parallel.jobs", given.get("jobs")) or default_jobs()
    scheduler = config.value("parallel.scheduler", given.get("scheduler"))

    def run_jobs(function, names: list[str], arguments: dict):
        done: dict[str, object] = {}
        failed: dict[str, ForecastError] = {}
        here_alone = len(names) == 1 and not scheduler
        progress = (_epoch_progress(terminal, names[0], epochs) if here_alone
                    else terminal.progress("Working", total=len(names)))
        with progress as advance:
            if here_alone:
                arguments = {**arguments, "callback": advance}
            for outcome in run_per_ticker(function, names, arguments, jobs=jobs, store=store, scheduler=scheduler):
                if outcome.error is not None:
                    failed[outcome.ticker] = outcome.error
                    _report_failure(terminal, outcome.ticker, outcome.error)
                    run_jobs.reported.append(outcome.error)
                else:
                    done[outcome.ticker] = outcome.result
                    if not terminal.shows_progress and describe(outcome.result):
                        terminal.info(describe(outcome.result))
                if not here_alone:
                    advance(status=outcome.ticker + (" failed" if outcome.error else ""))
        return [done[n] for n in names if n in done], [(n, failed[n]) for n in names if n in failed]

    run_jobs.reported = []
    return run_jobs


@contextlib.contextmanager
def _epoch_progress(terminal: Terminal, what: str, epochs: int):
    """Yields a training callback that drives a progress bar (on a terminal) for one network."""
    with terminal.progress(f"Training {what}", total=epochs) as advance:
        def callback(epoch, train_loss, val_loss):
            advance(status=f"epoch {epoch}  train {train_loss:.4f}  val {val_loss:.4f}")
        yield callback


def _log_line(result) -> str | None:
    """A finished job's line for logs (cron mail), if it has one."""
    return result.get("log") if isinstance(result, dict) else getattr(result, "log", None)


class _PoolProgress:
    """The pool's epoch progress bar, opened at its first epoch (after any per-ticker jobs' bars have closed)."""

    def __init__(self, terminal: Terminal, epochs: int):
        self.terminal, self.epochs = terminal, epochs
        self.stack = contextlib.ExitStack()
        self.callback = None

    def __call__(self, epoch, train_loss, val_loss):
        if self.callback is None:
            self.callback = self.stack.enter_context(_epoch_progress(self.terminal, "the pool", self.epochs))
        self.callback(epoch, train_loss, val_loss)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stack.close()


@app.command()
@_with_settings("train", "parallel")
def train(
    tickers: Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols [default: the watchlist and every "
                                                            "stored ticker; with a pool, named tickers are "
                                                            "calibrated against it].", show_default=False)] = None,
    until: Annotated[Optional[str], typer.Option(help="Train on data up to this date only (YYYY-MM-DD) [default: all "
                                                      "the stored data].", show_default=False)] = None,
    home: HomeOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    debug: DebugOption = False,
    *,
    given: dict,
) -> None:
    """Train the models (one pooled network for the watchlist, or one per ticker) and save them under models/."""
    from forecaster.model.serving import TrainingConfig
    from forecaster.pipeline import require_tickers, train_models

    until_date = _parse_date(until, "--until")
    store, terminal, config = _session(home, quiet, debug, verbose)
    training = TrainingConfig.from_settings(config, given)
    training.check()
    run_jobs = _job_runner(terminal, store, config, given, training.epochs, _log_line)  # checks --jobs, --scheduler
    names = require_tickers(tickers or [], config.watchlist_and(store.tickers()),
                            f"price data in {store.home} yet: run 'forecast fetch TICKER' first")
    outcome = train_models(store, names, training, until=until_date, calibrate_named=bool(tickers), run_jobs=run_jobs)
    terminal.notices([Notice("", note) for note in outcome.notes], warning=False)
    if outcome.rows and not quiet:
        terminal.results(outcome.rows, list(outcome.rows[0]),
                         title="Trained (validation: the last 15% of each ticker's windows)")
    _finish(outcome.failures, len(outcome.rows), terminal, reported=run_jobs.reported)


# ----------------------------------------------------------------------------------------------------- predict
@app.command()
@_with_settings("predict")
def predict(
    tickers: Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols [default: the watchlist and every "
                                                            "ticker with a model].", show_default=False)] = None,
    days: Annotated[int, typer.Option(help="Trading sessions to forecast.")] = 1,
    format: FormatOption = Format.table,
    home: HomeOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    debug: DebugOption = False,
    *,
    given: dict,
) -> None:
    """Forecast the next trading sessions with the saved models (and log them in data/predictions.csv)."""
    from forecaster.pipeline import check_days, model_tickers, predict_tickers, require_tickers

    check_days(days)
    store, terminal, config = _session(home, quiet, debug, verbose)
    max_age = config.value("predict.max_model_age_days", given.get("max_model_age_days"))
    level = config.value("predict.level", given.get("level"))
    names = require_tickers(tickers or [], config.watchlist_and(model_tickers(store)),
                            f"models in {store.home} yet: run 'forecast train' first")
    predictions, failures, log_error = predict_tickers(store, names, days, level, max_model_age_days=max_age)
    rows = [row for prediction in predictions for row in prediction.rows]
    terminal.notices([note for prediction in predictions for note in prediction.warnings],
                     every=format is Format.json)
    terminal.notices([Notice(p.ticker, p.live_record, kind="live records of 1-day forecasts",
                             advice="see 'forecast score'") for p in predictions if p.live_record],
                     every=format is Format.json, warning=False)
    columns = ["ticker", "as_of", "date", "horizon", "forecast", "lower", "upper"]
    if format is Format.table:
        columns.append("volatility")
    else:
        columns.extend(["level", "volatility", "model"])
    _results(terminal, rows, columns, format, f"Forecast of the adjusted close, with {_percent(level)} intervals "
             "(volatility: annualised %)", failures, names)
    if log_error is not None:  # the forecasts are shown all the same: only their record is missing
        terminal.error(f"the forecasts were not logged: {log_error.message}")
    _finish(failures, len(names) - len(failures), terminal)
    if log_error is not None:
        raise typer.Exit(int(ExitCode.PARTIAL))


def _percent(level: float) -> str:
    return f"{100 * level:g}%"


# ---------------------------------------------------------------------------------------------------- evaluate
@app.command()
@_with_settings("train", "parallel", "predict.level")
def evaluate(
    tickers: Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols [default: the watchlist and every "
                                                            "stored ticker].", show_default=False)] = None,
    test_start: Annotated[str, typer.Option("--test-start", help="First day of the test period (YYYY-MM-DD): "
                                            "train before it, forecast every day from it.", show_default=False)] = "",
    horizon: Annotated[Optional[list[int]], typer.Option(help="Sessions ahead: each test day is forecast from data "
                                                         "up to this many sessions before it; repeat for several "
                                                         "[default: 1].", show_default=False)] = None,
    unseen: Annotated[Optional[list[str]], typer.Option(help="A ticker to keep out of the pool's training and "
                                                        "calibrate against it, as one it never saw; repeatable.",
                                                        show_default=False)] = None,
    format: Annotated[ReportFormat, typer.Option("--format", "-f", help="Output format.")] = ReportFormat.table,
    predictions: Annotated[Optional[Path], typer.Option(help="Write the daily forecasts to this CSV file (with "
                                                        "several tickers, put {ticker} in its name).",
                                                        show_default=False)] = None,
    home: HomeOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    debug: DebugOption = False,
    *,
    given: dict,
) -> None:
    """Walk-forward test: the model against naive, linear, GARCH, GJR and HAR forecasts, each day from the past."""
    from forecaster.data.store import atomic_write_text, normalize_ticker
    from forecaster.model.serving import TrainingConfig
    from forecaster.pipeline import evaluate_models, require_tickers
    from forecaster.risk.evaluate import check_horizon, prediction_paths, prediction_tables, summary_table

    if not test_start:
        raise UsageError("--test-start DATE is required: the first day of the test period")
    start = _parse_date(test_start, "--test-start")
    horizons = list(dict.fromkeys(horizon or [1]))
    for h in horizons:
        check_horizon(h)
    store, terminal, config = _session(home, quiet, debug, verbose)
    level = config.value("predict.level", given.get("level"))
    training = TrainingConfig.from_settings(config, given)
    training.check()
    run_jobs = _job_runner(terminal, store, config, given, training.epochs, lambda result: None)
    names = require_tickers(tickers or [], config.watchlist_and(store.tickers()),
                            f"price data in {store.home} yet: run 'forecast fetch TICKER' first")
    kept_out = tuple(dict.fromkeys(normalize_ticker(t) for t in unseen or []))
    names = list(dict.fromkeys([*names, *kept_out]))
    several = len(names) > 1 or len(horizons) > 1
    outputs = {ticker: store.check_output(path) for ticker, path in
               prediction_paths(None if predictions is None else str(predictions), names, several).items()}
    with _PoolProgress(terminal, training.epochs) as progress:
        outcome = evaluate_models(store, names, training, start, horizons, level, unseen=kept_out,
                                  run_jobs=run_jobs, callback=progress)
    terminal.notices([Notice("", note) for note in outcome.notes], warning=False)
    for ticker, text in prediction_tables(outcome.rows).items():
        if ticker in outputs:
            atomic_write_text(outputs[ticker], text)
    reports = [evaluation.report() for evaluation in outcome.rows]
    if not terminal.shows_progress:
        for report in reports:
            if report["horizon"] == horizons[0]:
                terminal.info(f"{report['ticker']}: evaluated on {report['n']} {plural(report['n'], 'day')}")
    if format is ReportFormat.json:
        if reports or outcome.failures:
            terminal.document(reports[0] if not several and reports else reports)
    elif reports:
        rows, title = summary_table(reports, str(start), level, horizons)
        terminal.results(rows, _columns(rows), title=title)
    _finish(outcome.failures, len({r["ticker"] for r in reports}), terminal, reported=run_jobs.reported)


def _columns(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row))


# ------------------------------------------------------------------------------------------------------ config
@app.command("config")
def config_(
    format: FormatOption = Format.table,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Show the effective settings (watchlist, fetch, train, parallel and predict defaults) and where each comes
    from."""
    from forecaster.config import SETTINGS

    store, terminal, config = _session(home, quiet, debug)
    source = str(config.path) if config.exists else "default"
    rows = [{"setting": "tickers", "value": " ".join(config.tickers) or None, "source": source}]
    for setting in SETTINGS:
        value, where = config.resolve(setting.name)
        rows.append({"setting": setting.name, "value": _shown(setting) if value is None else value, "source": where})
    if not config.exists:
        terminal.info(f"no {config.path}: every setting has its default (see the README for an example file)")
    terminal.results(rows, ["setting", "value", "source"], format, title="Effective settings")


# ------------------------------------------------------------------------------------------------------- score
@app.command()
def score(
    tickers: Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols [default: every ticker in the "
                                                            "prediction log].", show_default=False)] = None,
    since: Annotated[Optional[str], typer.Option(help="Only forecasts for dates on or after this one (YYYY-MM-DD) "
                                                      "[default: all].", show_default=False)] = None,
    format: FormatOption = Format.table,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Score every logged forecast whose date has come against what happened and against naive, and backtest the
    tails of its intervals."""
    from forecaster.data.predictions import read_predictions
    from forecaster.pipeline import require_tickers
    from forecaster.risk.track import COLUMNS, TAIL_COLUMNS, score_tickers

    since_date = _parse_date(since, "--since")
    store, terminal, _ = _session(home, quiet, debug)
    log = read_predictions(store)
    logged = sorted({row["ticker"] for row in log})
    title = "Live track record (ratio < 1: better than naive)"
    tails_title = "Tails of the intervals (hits: actual beyond its bound; kupiec_p < 0.05: too many or too few hits)"

    def show(rows, failures, names):
        if not names:
            terminal.results([], COLUMNS + ([] if format is Format.table else TAIL_COLUMNS), format, title=title)
        elif format is Format.table:  # two tables: one would be too wide to read
            _results(terminal, rows, COLUMNS, format, title, failures, names)
            _results(terminal, rows, ["ticker", "horizon", "n", *TAIL_COLUMNS], format, tails_title, failures, names)
        else:
            _results(terminal, rows, COLUMNS + TAIL_COLUMNS, format, title, failures, names)

    if not tickers and not logged:  # nothing to report yet is an empty report, not a failure
        terminal.info(f"no forecasts logged in {store.predictions_path} yet: run 'forecast predict' (the record "
                      "builds up as days pass)")
        show([], [], [])
        return
    names = require_tickers(tickers, logged, "") if tickers else logged
    rows, failures = score_tickers(store, names, log, since_date)
    show(rows, failures, names)
    _finish(failures, len(names) - len(failures), terminal)


# -------------------------------------------------------------------------------------------------------- plot
@app.command()
@_with_settings("predict.level")
def plot(
    ticker: Annotated[str, typer.Argument(help="Ticker symbol.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option(help="Picture to write, in the format of its suffix: .png, .svg, "
                                                ".pdf, .jpg or .eps [default: TICKER.png in the current directory].",
                                                show_default=False)] = None,
    last: Annotated[int, typer.Option(help="Trading days of history to show.")] = 120,
    days: Annotated[int, typer.Option(help="Sessions of forecast to show (when a model exists).")] = 5,
    evaluation: Annotated[Optional[Path], typer.Option(help="A 'forecast evaluate --predictions' file to plot "
                                                       "below: walk-forward model against naive.",
                                                       show_default=False)] = None,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
    *,
    given: dict,
) -> None:
    """Draw recent prices, the next days' forecast with its band, past forecasts and an evaluation (a picture in the
    format its suffix names)."""
    from forecaster.views.plot import plot_ticker

    store, terminal, config = _session(home, quiet, debug)
    path = plot_ticker(store, ticker, out=out, last=last, days=days, evaluation=evaluation,
                       level=config.value("predict.level", given.get("level")))
    terminal.info(f"wrote {path}")


# ------------------------------------------------------------------------------------------------------ report
@app.command()
@_with_settings("predict", "parallel.jobs")
def report(
    tickers: Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols [default: the watchlist and every "
                                                            "ticker with a model].", show_default=False)] = None,
    out: Annotated[Path, typer.Option(help="The page to write.")] = Path("report.html"),
    days: Annotated[int, typer.Option(help="Trading sessions of forecast to show (at most 60).")] = 5,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
    *,
    given: dict,
) -> None:
    """Write one self-contained HTML page of the watchlist: forecasts, bands, volatility, flags, track record."""
    from forecaster.pipeline import model_tickers, require_tickers
    from forecaster.views.report import write_report

    store, terminal, config = _session(home, quiet, debug)
    names = require_tickers(tickers or [], config.watchlist_and(model_tickers(store)),
                            f"models in {store.home} yet: run 'forecast train' first")
    path, page = write_report(store, names, out, days=days, level=config.value("predict.level", given.get("level")),
                              jobs=config.value("parallel.jobs", given.get("jobs")),
                              max_model_age_days=config.value("predict.max_model_age_days",
                                                              given.get("max_model_age_days")))
    terminal.info(f"wrote {path}: {len(page.tickers)} {plural(len(page.tickers), 'ticker')}, "
                  f"{len(page.failure_lines)} {plural(len(page.failure_lines), 'failure')}, "
                  f"{len(page.warnings)} {plural(len(page.warnings), 'warning')}")
    if page.log_error is not None:
        terminal.error(page.log_error.message)
    _finish(page.failures, len(page.tickers), terminal)
    if page.log_error is not None:
        raise typer.Exit(int(ExitCode.PARTIAL))


# -------------------------------------------------------------------------------------------------------- demo
@app.command()
def demo(
    home: Annotated[Optional[Path], typer.Option("--home", help="Run in this home and keep it [default: a "
                                                 "temporary home, removed afterwards].", show_default=False)] = None,
    epochs: Annotated[int, typer.Option(help="Training epochs (few: it is a demonstration).")] = 30,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Run the whole pipeline offline on the bundled sample: import, train, evaluate against naive, predict."""
    import shutil
    import tempfile

    from forecaster.demo import run_demo

    if epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {epochs}")
    temporary = home is None
    directory = Path(tempfile.mkdtemp(prefix="forecast-demo-")) if temporary else home
    try:
        run_demo(directory, epochs, Terminal(quiet=quiet, debug=debug), keep=not temporary)
    finally:
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)


# -------------------------------------------------------------------------------------------------------- main
class _ClosedOutput:
    """Stands in for a standard stream that was closed when the process started (`forecast ... >&-`): the command
    runs, and only printing fails, as a broken pipe would."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        raise BrokenPipeError("standard output is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError("standard output is closed")


def _prepare_streams() -> None:
    """Never fail on a character the output encoding lacks (PYTHONIOENCODING=ascii, a C locale): replace it."""
    if sys.stdout is None:
        sys.stdout = _ClosedOutput()
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="replace")


# SIGTERM (kill, systemd, a batch system's time limit) and SIGHUP (the terminal closed) stop a command as Ctrl-C does:
# a KeyboardInterrupt, so joblib stops the workers and every write in progress is abandoned whole, then one line and
# the exit code shells report for a signal, 128 + its number.
STOP_SIGNALS = {"SIGTERM": ExitCode.TERMINATED, "SIGHUP": ExitCode.HANGUP}
_stopped_by: list[int] = []  # the signal that stopped this command, if one did


def _stop(signum: int, frame) -> None:
    _stopped_by.append(signum)
    signal.signal(signum, signal.SIG_IGN)  # a repeat of it must not interrupt the clean-up
    raise KeyboardInterrupt


def _catch_stop_signals() -> dict:
    """Install `_stop` for STOP_SIGNALS (not for one the process was started to ignore, as under nohup); returns
    the handlers it replaced, for `main` to put back."""
    replaced = {}
    if threading.current_thread() is not threading.main_thread():
        return replaced
    for name in STOP_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is not signal.SIG_IGN:
            replaced[signum] = signal.signal(signum, _stop)
    return replaced


def _interrupted(terminal: Terminal) -> int:
    """Report the interruption (Ctrl-C, or the signal that stopped us) in one line; its exit code."""
    if _stopped_by:
        name = signal.Signals(_stopped_by[-1]).name
        terminal.error(f"stopped by {name}")
        return int(STOP_SIGNALS[name])
    terminal.error("interrupted")
    return int(ExitCode.INTERRUPTED)


def main(argv: list[str] | None = None) -> int:
    """The console entry point: run one command, return its exit code (see errors.ExitCode)."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args or _debug_from_environment()
    if not debug:
        warnings.filterwarnings("ignore")
        # ... and in the processes we start (joblib's workers, its resource tracker), whose stderr is ours
        os.environ.setdefault("PYTHONWARNINGS", "ignore")
    _prepare_streams()
    _stopped_by.clear()
    handlers = _catch_stop_signals()
    try:
        return _run(args, debug)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def _run(args: list[str], debug: bool) -> int:
    terminal = Terminal()
    try:
        code = int(app(args=args, prog_name="forecast", standalone_mode=False) or 0)
        if code == ExitCode.INTERRUPTED:  # Typer turns KeyboardInterrupt into a silent exit code 130
            return _interrupted(terminal)
        return code
    except ForecastError as error:
        if debug:
            traceback.print_exc()
        terminal.error(error.message)
        return int(error.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        return _interrupted(terminal)
    except BrokenPipeError:  # e.g. `forecast list | head -1`, or stdout closed while we printed
        with contextlib.suppress(OSError):  # no second error when Python flushes stdout at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        terminal.error("standard output was closed before all results were written")
        return int(ExitCode.UNAVAILABLE)
    except MemoryError:
        terminal.error("not enough memory for this job (try a smaller --hidden, --window or --batch-size)")
        return int(ExitCode.UNAVAILABLE)
    except typer.TyperException as error:  # command-line usage errors, raised by Typer's parser
        if type(error).__name__ == "NoArgsIsHelpError":
            sys.stderr.write(error.format_message() + "\n")
        else:
            context = getattr(error, "ctx", None)
            command = context.command_path if context is not None else "forecast"
            terminal.error(f"{error.format_message()} (see '{command} --help')")
        return int(ExitCode.USAGE)
    except Exception as error:  # a bug: one line, traceback only with --debug
        if debug:
            traceback.print_exc()
        where = "" if debug else " (rerun with --debug for details)"
        terminal.error(f"internal error: {type(error).__name__}: {error}{where}")
        return int(ExitCode.INTERNAL)
