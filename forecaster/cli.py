"""The `forecast` command line: a thin layer over the library.

Library errors (`ForecastError`) become one line on stderr and the exit code they carry, in `main` only; anything
unexpected is an internal error (traceback with --debug or FORECAST_DEBUG=1). Heavy libraries (pandas, yfinance,
scikit-learn, matplotlib) are imported inside the commands that need them, so `predict` starts fast.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import inspect
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from forecaster.errors import ExitCode, ForecastError, UsageError
from forecaster.output import Format, Terminal, plural

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


def _session(home: Path | None, quiet: bool, debug: bool):
    """(store, terminal, config) of a command: the home, how to print, and HOME/forecast.toml."""
    from forecaster.config import load_config
    from forecaster.store import Store, lock_timeout

    lock_timeout()  # a bad $FORECAST_LOCK_TIMEOUT is a usage error before any work, not one per ticker
    store = Store(home)
    return store, Terminal(quiet=quiet, debug=debug or _debug_from_environment()), load_config(store.home)


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
    return {"parallel.jobs": "the number of cores", "parallel.scheduler": "none: this machine"}.get(
        setting.name, str(setting.default))


def _debug_from_environment() -> bool:
    return os.environ.get("FORECAST_DEBUG", "") not in ("", "0")


def _parse_date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r} is not a date (expected YYYY-MM-DD)") from None


def _finish(failures: list[tuple[str, ForecastError]], done: int, terminal: Terminal) -> None:
    """Report per-ticker failures of a multi-ticker command and exit with the right code."""
    for ticker, error in failures:
        if terminal.debug:
            traceback.print_exception(error)
        terminal.error(error.message if ticker in error.message else f"{ticker}: {error.message}")
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
@app.command()
@_with_settings("fetch")
def fetch(
    tickers: Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols, e.g. MSFT ^GSPC BRK-B [default: the "
                                                            "watchlist and every stored ticker].",
                                                            show_default=False)] = None,
    start: Annotated[Optional[str], typer.Option(help="First date to fetch (YYYY-MM-DD) [default: all history, "
                                                      "then incremental]", show_default=False)] = None,
    end: Annotated[Optional[str], typer.Option(help="Last date to fetch, inclusive (YYYY-MM-DD).",
                                               show_default=False)] = None,
    csv: Annotated[Optional[Path], typer.Option("--csv", help="Import this CSV file (columns Date,Open,High,Low,"
                                                "Close,[Adj Close,]Volume) for the one TICKER given.",
                                                show_default=False)] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Import the sample data bundled with forecaster "
                                                          "(^GSPC, MSFT, IBM).")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Replace the stored history with what is fetched or "
                                          "imported, even where it rewrites past days (another series).")] = False,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
    *,
    given: dict,
) -> None:
    """Download daily prices from Yahoo Finance (or import a CSV or the bundled sample) into the local store."""
    from forecaster import sources
    from forecaster.calendar import exchange_for, exchange_today
    from forecaster.store import normalize_ticker

    tickers = list(dict.fromkeys(normalize_ticker(t) for t in tickers or []))
    start_date, end_date = _parse_date(start, "--start"), _parse_date(end, "--end")
    sources.check_dates(start_date, end_date)
    if sample and (tickers or csv):
        raise UsageError("--sample takes no tickers and no --csv")
    if csv is not None and len(tickers) != 1:
        raise UsageError("--csv imports one ticker: give exactly one TICKER")
    store, terminal, config = _session(home, quiet, debug)
    if not sample and not tickers:
        tickers = config.watchlist_and(store.tickers())
        if not tickers:
            raise UsageError(f"give one or more tickers, or --sample (or list a watchlist in {config.path}: "
                             "tickers = [\"MSFT\", ...])")

    if sample:
        jobs = {t: (lambda stored, t=t: sources.read_sample(t)) for t in sources.SAMPLE_TICKERS}
        source = "sample"
    elif csv is not None:
        today = exchange_today(exchange_for(tickers[0]))
        incoming = sources.import_csv_bars(csv, start_date, end_date, today)  # validated before any lock is taken
        jobs = {tickers[0]: lambda stored: incoming}
        source = f"csv:{csv.name}"
    else:
        sources.configure_yfinance(store.cache_dir / "yfinance")
        session = sources.yahoo_session()
        pacer = sources.Pacer(config.value("fetch.rate", given.get("rate")))
        jobs = {t: (lambda stored, t=t: sources.yahoo_update(t, stored, start=start_date, end=end_date,
                                                             session=session, pacer=pacer))
                for t in tickers}
        source = "yahoo"

    results, failures = [], []
    with terminal.progress("Fetching", total=len(jobs)) as advance:
        for ticker, get_bars in jobs.items():
            try:
                result = sources.update_ticker(store, ticker, get_bars, source=source, replace=replace)
            except ForecastError as error:
                failures.append((ticker, error))
                advance(status=f"{ticker} failed")
                continue
            results.append(result)
            advance(status=ticker)
            for note in result.notes:
                terminal.warn(note)
            if not terminal.shows_progress:
                terminal.info(f"{ticker}: {result.rows} {plural(result.rows, 'row')} to {result.last_date} "
                              f"({result.added} added)")
    if results and not quiet:
        rows = [{"ticker": r.ticker, "rows": r.rows, "first date": r.first_date, "last date": r.last_date,
                 "rows added": r.added, "rows changed": r.changed} for r in results]
        terminal.results(rows, list(rows[0]), title="Fetched")
    _finish(failures, len(results), terminal)


# -------------------------------------------------------------------------------------------------------- list
@app.command("list")
def list_(
    format: FormatOption = Format.table,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Show the stored tickers: rows, date range, when last fetched, and their models."""
    from forecaster.inventory import inventory

    store, terminal, _ = _session(home, quiet, debug)
    rows = inventory(store)
    if not rows and format is Format.table:
        terminal.info(f"Nothing stored in {store.home} yet: try 'forecast fetch MSFT' or 'forecast fetch --sample'.")
        return
    columns = ["ticker", "rows", "first_date", "last_date", "fetched_at", "model", "trained_at", "model_until"]
    terminal.results(rows, columns, format, title=f"Stored in {store.home}")


# ------------------------------------------------------------------------------------------------------- train
def _run_jobs(terminal: Terminal, store, config, given: dict, function, names: list[str], arguments: dict,
              describe) -> tuple[list, list[tuple[str, ForecastError]]]:
    """Run `function(ticker=T, **arguments)` for every ticker with forecaster.parallel, as --jobs / --scheduler (or
    forecast.toml) say, with one progress bar over tickers (over epochs when one ticker trains here). Returns the
    results and the failures, each in the order of `names`; `describe(result)` is a ticker's line for logs."""
    from forecaster.parallel import default_jobs, run_per_ticker

    jobs = config.value("parallel.jobs", given.get("jobs")) or default_jobs()
    scheduler = config.value("parallel.scheduler", given.get("scheduler"))
    done: dict[str, object] = {}
    failed: dict[str, ForecastError] = {}
    here_alone = len(names) == 1 and not scheduler
    progress = (_epoch_progress(terminal, names[0], arguments["config"].epochs) if here_alone
                else terminal.progress("Working", total=len(names)))
    with progress as advance:
        if here_alone:
            arguments = {**arguments, "callback": advance}
        for outcome in run_per_ticker(function, names, arguments, jobs=jobs, store=store, scheduler=scheduler):
            if outcome.error is not None:
                failed[outcome.ticker] = outcome.error
            else:
                done[outcome.ticker] = outcome.result
                if not terminal.shows_progress:
                    terminal.info(describe(outcome.result))
            if not here_alone:
                advance(status=outcome.ticker + (" failed" if outcome.error else ""))
    return [done[n] for n in names if n in done], [(n, failed[n]) for n in names if n in failed]


@contextlib.contextmanager
def _epoch_progress(terminal: Terminal, ticker: str, epochs: int):
    """Yields a training callback that drives a progress bar (on a terminal) for one ticker."""
    with terminal.progress(f"Training {ticker}", total=epochs) as advance:
        def callback(epoch, train_loss, val_loss):
            advance(status=f"epoch {epoch}  train {train_loss:.4f}  val {val_loss:.4f}")
        yield callback


@app.command()
@_with_settings("train", "parallel")
def train(
    tickers: Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols [default: the watchlist and every "
                                                            "stored ticker].", show_default=False)] = None,
    until: Annotated[Optional[str], typer.Option(help="Train on data up to this date only (YYYY-MM-DD).",
                                                 show_default=False)] = None,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
    *,
    given: dict,
) -> None:
    """Train an LSTM per ticker on its stored prices and save it under models/."""
    from forecaster.model import TrainingConfig
    from forecaster.pipeline import require_tickers, train_ticker

    until_date = _parse_date(until, "--until")
    store, terminal, config = _session(home, quiet, debug)
    training = TrainingConfig.from_settings(config, given)
    names = require_tickers(tickers or [], config.watchlist_and(store.tickers()),
                            "price data in the store yet: run 'forecast fetch TICKER' first")
    results, failures = _run_jobs(
        terminal, store, config, given, train_ticker, names, {"store": store, "config": training, "until": until_date},
        lambda row: f"{row['ticker']}: trained {row['epochs']} {plural(row['epochs'], 'epoch')} on {row['rows']} "
                    f"rows to {row['until']}")
    for row in results:
        for note in row.pop("notes", []):
            terminal.info(note)
    if results and not quiet:
        terminal.results(results, list(results[0]), title="Trained (validation: last 15% of the training span)")
    _finish(failures, len(results), terminal)


# ----------------------------------------------------------------------------------------------------- predict
@app.command()
def predict(
    tickers: Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols [default: the watchlist and every "
                                                            "ticker with a model].", show_default=False)] = None,
    days: Annotated[int, typer.Option(help="Trading sessions to forecast.")] = 1,
    format: FormatOption = Format.table,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Forecast the next trading sessions with the saved models (and log them in data/predictions.csv)."""
    from forecaster.pipeline import check_days, model_tickers, predict_tickers, require_tickers

    check_days(days)
    store, terminal, config = _session(home, quiet, debug)
    names = require_tickers(tickers or [], config.watchlist_and(model_tickers(store)),
                            "models in the store yet: run 'forecast train' first")
    predictions, failures = predict_tickers(store, names, days)
    rows = [row for prediction in predictions for row in prediction.rows]
    for prediction in predictions:
        for note in prediction.warnings.values():
            terminal.warn(note)
        if prediction.live_record:
            terminal.info(prediction.live_record)
    shown = [{**row, **{k: round(row[k], 4) for k in ("forecast", "lower", "upper")}} for row in rows]
    columns = ["ticker", "as_of", "date", "horizon", "forecast", "lower", "upper"]
    _results(terminal, shown, columns, format, "Forecast of the adjusted close, with 90% intervals", failures, names)
    _finish(failures, len(names) - len(failures), terminal)


# ---------------------------------------------------------------------------------------------------- evaluate
@app.command()
@_with_settings("train", "parallel")
def evaluate(
    tickers: Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols [default: the watchlist and every "
                                                            "stored ticker].", show_default=False)] = None,
    test_start: Annotated[str, typer.Option("--test-start", help="First day of the test period (YYYY-MM-DD): "
                                            "train before it, forecast every day from it.", show_default=False)] = "",
    horizon: Annotated[int, typer.Option(help="Sessions ahead: each test day is forecast from data up to this many "
                                              "sessions before it.")] = 1,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format (table or json).")] = Format.table,
    predictions: Annotated[Optional[Path], typer.Option(help="Write the daily forecasts to this CSV file (with "
                                                        "several tickers, put {ticker} in its name).",
                                                        show_default=False)] = None,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
    *,
    given: dict,
) -> None:
    """Walk-forward test: the LSTM against naive and linear forecasts, each day from the day before."""
    from forecaster.evaluate import PREDICTION_COLUMNS, check_horizon, summary_rows
    from forecaster.model import TrainingConfig
    from forecaster.output import rows_to_csv
    from forecaster.pipeline import evaluate_ticker, require_tickers
    from forecaster.store import atomic_write_text

    if not test_start:
        raise UsageError("--test-start DATE is required: the first day of the test period")
    start = _parse_date(test_start, "--test-start")
    check_horizon(horizon)
    if format is Format.csv:
        raise UsageError("evaluate prints table or json; use --predictions FILE for the daily CSV")
    store, terminal, config = _session(home, quiet, debug)
    training = TrainingConfig.from_settings(config, given)
    names = require_tickers(tickers or [], config.watchlist_and(store.tickers()),
                            "price data in the store yet: run 'forecast fetch TICKER' first")
    if predictions is not None and len(names) > 1 and "{ticker}" not in str(predictions):
        raise UsageError("--predictions with several tickers needs {ticker} in the file name, e.g. eval-{ticker}.csv")
    outputs = {n: store.check_output(Path(str(predictions).replace("{ticker}", n.replace("^", ""))))
               for n in names} if predictions is not None else {}
    results, failures = _run_jobs(
        terminal, store, config, given, evaluate_ticker, names, {"store": store, "config": training,
                                                                 "test_start": start, "horizon": horizon},
        lambda result: f"{result[0]['ticker']}: evaluated on {result[0]['n']} days")
    for report, daily in results:
        if report["ticker"] in outputs:
            atomic_write_text(outputs[report["ticker"]], rows_to_csv(daily, PREDICTION_COLUMNS))
    reports = [report for report, _ in results]
    if format is Format.json:
        if reports or failures:
            terminal.document(reports[0] if len(names) == 1 and reports else reports)
    elif reports:
        rows = summary_rows(reports)
        if len(reports) == 1:
            rows = [{k: v for k, v in row.items() if k != "ticker"} for row in rows]
            title = (f"{reports[0]['ticker']}: {reports[0]['n']} trading days from {reports[0]['test_start']}, "
                     f"{horizon} {plural(horizon, 'session')} ahead")
        else:
            title = f"Walk-forward from {start}, {horizon} {plural(horizon, 'session')} ahead (vs naive < 1: better)"
        terminal.results(rows, list(rows[0]), title=title)
    _finish(failures, len(results), terminal)


# ------------------------------------------------------------------------------------------------------ config
@app.command("config")
def config_(
    format: FormatOption = Format.table,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Show the effective settings (watchlist, fetch, train and parallel defaults) and where each comes from."""
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
    since: Annotated[Optional[str], typer.Option(help="Only forecasts for dates on or after this one (YYYY-MM-DD).",
                                                 show_default=False)] = None,
    format: FormatOption = Format.table,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Score every logged forecast whose date has come against what happened and against naive, and backtest the
    tails of its intervals."""
    from forecaster.errors import DataUnavailable
    from forecaster.predictions import read_predictions
    from forecaster.track import COLUMNS, TAIL_COLUMNS, score_ticker

    since_date = _parse_date(since, "--since")
    store, terminal, _ = _session(home, quiet, debug)
    log = read_predictions(store)
    logged = sorted({row["ticker"] for row in log})
    from forecaster.pipeline import require_tickers

    names = require_tickers(tickers or [], logged, f"forecasts logged in {store.predictions_path} yet: run "
                                                   "'forecast predict' (the record builds up as days pass)")
    rows, failures = [], []
    for ticker in names:
        try:
            if ticker not in logged:
                raise DataUnavailable(f"no logged forecasts for {ticker}; run 'forecast predict {ticker}' first")
            rows.extend(score_ticker(ticker, log, store.read_bars(ticker),
                                     since_date.isoformat() if since_date else None, tails=True))
        except ForecastError as error:
            failures.append((ticker, error))
    title = "Live track record (ratio < 1: better than naive)"
    if format is Format.table:  # two tables: one would be too wide to read
        _results(terminal, rows, COLUMNS, format, title, failures, names)
        _results(terminal, rows, ["ticker", "horizon", "n", *TAIL_COLUMNS], format, "Tails of the intervals (hits: "
                 "actual beyond its bound; kupiec_p < 0.05: too many or too few hits)", failures, names)
    else:
        _results(terminal, rows, COLUMNS + TAIL_COLUMNS, format, title, failures, names)
    _finish(failures, len(names) - len(failures), terminal)


# -------------------------------------------------------------------------------------------------------- plot
@app.command()
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
) -> None:
    """Draw recent prices, the next days' forecast with its 90% band, past forecasts and an evaluation (PNG)."""
    from forecaster.plot import plot_ticker

    store, terminal, _ = _session(home, quiet, debug)
    path = plot_ticker(store, ticker, out=out, last=last, days=days, evaluation=evaluation)
    terminal.info(f"wrote {path}")


# ------------------------------------------------------------------------------------------------------ report
@app.command()
@_with_settings("predict.level", "parallel.jobs")
def report(
    tickers: Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols [default: the watchlist and every "
                                                            "ticker with a model].", show_default=False)] = None,
    out: Annotated[Path, typer.Option(help="The page to write.")] = Path("report.html"),
    days: Annotated[int, typer.Option(help="Trading sessions of forecast to show.")] = 5,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
    *,
    given: dict,
) -> None:
    """Write one self-contained HTML page of the watchlist: forecasts, bands, volatility, flags, track record."""
    from forecaster.pipeline import model_tickers, require_tickers
    from forecaster.report import write_report

    store, terminal, config = _session(home, quiet, debug)
    names = require_tickers(tickers or [], config.watchlist_and(model_tickers(store)),
                            "models in the store yet: run 'forecast train' first")
    path, page = write_report(store, names, out, days=days, level=config.value("predict.level", given.get("level")),
                              jobs=config.value("parallel.jobs", given.get("jobs")))
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


def main(argv: list[str] | None = None) -> int:
    """The console entry point: run one command, return its exit code (see errors.ExitCode)."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args or _debug_from_environment()
    if not debug:
        warnings.filterwarnings("ignore")
        # ... and in the processes we start (joblib's workers, its resource tracker), whose stderr is ours
        os.environ.setdefault("PYTHONWARNINGS", "ignore")
    _prepare_streams()
    terminal = Terminal()
    try:
        code = int(app(args=args, prog_name="forecast", standalone_mode=False) or 0)
        if code == ExitCode.INTERRUPTED:  # Typer turns KeyboardInterrupt into a silent exit code 130
            terminal.error("interrupted")
        return code
    except ForecastError as error:
        if debug:
            traceback.print_exc()
        terminal.error(error.message)
        return int(error.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        terminal.error("interrupted")
        return int(ExitCode.INTERRUPTED)
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
