"""The `forecast` command line: a thin layer over the library.

Library errors (`ForecastError`) become one line on stderr and the exit code they carry, in `main` only; anything
unexpected is an internal error (traceback with --debug or FORECAST_DEBUG=1). Heavy libraries (pandas, yfinance,
scikit-learn, matplotlib) are imported inside the commands that need them, so `predict` starts fast.
"""

from __future__ import annotations

import contextlib
import datetime as dt
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
    from forecaster.store import Store, lock_timeout

    lock_timeout()  # a bad $FORECAST_LOCK_TIMEOUT is a usage error before any work, not one per ticker
    return Store(home), Terminal(quiet=quiet, debug=debug or _debug_from_environment())


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
def fetch(
    tickers: Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols, e.g. MSFT ^GSPC BRK-B.",
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
    if not sample and not tickers:
        raise UsageError("give one or more tickers, or --sample")
    store, terminal = _session(home, quiet, debug)

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

        jobs = {t: (lambda stored, t=t: sources.yahoo_update(t, stored, start=start_date, end=end_date,
                                                             session=session))
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

    store, terminal = _session(home, quiet, debug)
    rows = inventory(store)
    if not rows and format is Format.table:
        terminal.info(f"Nothing stored in {store.home} yet: try 'forecast fetch MSFT' or 'forecast fetch --sample'.")
        return
    columns = ["ticker", "rows", "first_date", "last_date", "fetched_at", "model", "trained_at", "model_until"]
    terminal.results(rows, columns, format, title=f"Stored in {store.home}")


# ------------------------------------------------------------------------------------------------------- train
TickersArgument = Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols [default: every stored one].",
                                                                 show_default=False)]
WindowOption = Annotated[int, typer.Option(help="Trading days in each input window.")]
HiddenOption = Annotated[int, typer.Option(help="LSTM hidden units per layer.")]
LayersOption = Annotated[int, typer.Option(help="Stacked LSTM layers.")]
EpochsOption = Annotated[int, typer.Option(help="Maximum training epochs.")]
BatchOption = Annotated[int, typer.Option("--batch-size", help="Windows per mini-batch.")]
LrOption = Annotated[float, typer.Option("--lr", help="Adam learning rate.")]
PatienceOption = Annotated[int, typer.Option(help="Stop after this many epochs without validation improvement "
                                                  "(0: never stop early).")]
SeedOption = Annotated[int, typer.Option(help="Random seed: same seed and data give the same model.")]
FeaturesOption = Annotated[str, typer.Option(help="Inputs per day: 'returns' (log return) or 'ohlcv' (also "
                                                  "intraday range and volume change).")]


def _config(window, hidden, layers, epochs, batch_size, lr, patience, seed, features):
    from forecaster.model import TrainingConfig
    from forecaster.windows import FEATURE_SETS

    if features not in FEATURE_SETS:
        raise UsageError(f"--features must be one of {', '.join(FEATURE_SETS)}, got {features!r}")
    config = TrainingConfig(window=window, hidden=hidden, layers=layers, epochs=epochs, batch_size=batch_size,
                            lr=lr, patience=patience, seed=seed, features=features)
    config.check()
    return config


@contextlib.contextmanager
def _epoch_progress(terminal: Terminal, ticker: str, epochs: int):
    """Yields a training callback that drives a progress bar (on a terminal) for one ticker."""
    with terminal.progress(f"Training {ticker}", total=epochs) as advance:
        def callback(epoch, train_loss, val_loss):
            advance(status=f"epoch {epoch}  train {train_loss:.4f}  val {val_loss:.4f}")
        yield callback


@app.command()
def train(
    tickers: TickersArgument = None,
    window: WindowOption = 30,
    hidden: HiddenOption = 64,
    layers: LayersOption = 1,
    epochs: EpochsOption = 200,
    batch_size: BatchOption = 64,
    lr: LrOption = 1e-3,
    patience: PatienceOption = 10,
    seed: SeedOption = 0,
    until: Annotated[Optional[str], typer.Option(help="Train on data up to this date only (YYYY-MM-DD).",
                                                 show_default=False)] = None,
    features: FeaturesOption = "returns",
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Train an LSTM per ticker on its stored prices and save it under models/."""
    from forecaster.pipeline import require_tickers, train_ticker

    config = _config(window, hidden, layers, epochs, batch_size, lr, patience, seed, features)
    until_date = _parse_date(until, "--until")
    store, terminal = _session(home, quiet, debug)
    names = require_tickers(tickers or [], store.tickers(),
                            "price data in the store yet: run 'forecast fetch TICKER' first")
    results, failures = [], []
    for ticker in names:
        try:
            with _epoch_progress(terminal, ticker, config.epochs) as callback:
                results.append(train_ticker(store, ticker, config, until_date, callback))
            if not terminal.shows_progress:
                row = results[-1]
                terminal.info(f"{ticker}: trained {row['epochs']} {plural(row['epochs'], 'epoch')} on {row['rows']} "
                              f"rows to {row['until']}")
        except ForecastError as error:
            failures.append((ticker, error))
    if results and not quiet:
        terminal.results(results, list(results[0]), title="Trained (validation: last 15% of the training span)")
    _finish(failures, len(results), terminal)


# ----------------------------------------------------------------------------------------------------- predict
@app.command()
def predict(
    tickers: Annotated[Optional[list[str]], typer.Argument(help="Ticker symbols [default: every one with a model].",
                                                            show_default=False)] = None,
    days: Annotated[int, typer.Option(help="Trading sessions to forecast.")] = 1,
    format: FormatOption = Format.table,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Forecast the next trading sessions with the saved models (and log them in data/predictions.csv)."""
    from forecaster.pipeline import check_days, model_tickers, predict_ticker, require_tickers

    check_days(days)
    store, terminal = _session(home, quiet, debug)
    names = require_tickers(tickers or [], model_tickers(store), "models in the store yet: run 'forecast train' first")
    rows, failures = [], []
    for ticker in names:
        try:
            prediction = predict_ticker(store, ticker, days)
        except ForecastError as error:
            failures.append((ticker, error))
            continue
        rows.extend(prediction.rows)
        for note in prediction.warnings:
            terminal.warn(note)
        if prediction.live_record:
            terminal.info(prediction.live_record)
    shown = [{**row, **{k: round(row[k], 4) for k in ("forecast", "lower", "upper")}} for row in rows]
    columns = ["ticker", "as_of", "date", "horizon", "forecast", "lower", "upper"]
    _results(terminal, shown, columns, format, "Forecast of the adjusted close, with 90% intervals", failures, names)
    _finish(failures, len(names) - len(failures), terminal)


# ---------------------------------------------------------------------------------------------------- evaluate
@app.command()
def evaluate(
    ticker: Annotated[str, typer.Argument(help="Ticker symbol.", show_default=False)],
    test_start: Annotated[str, typer.Option("--test-start", help="First day of the test period (YYYY-MM-DD): "
                                            "train before it, forecast every day from it.", show_default=False)],
    window: WindowOption = 30,
    hidden: HiddenOption = 64,
    layers: LayersOption = 1,
    epochs: EpochsOption = 200,
    batch_size: BatchOption = 64,
    lr: LrOption = 1e-3,
    patience: PatienceOption = 10,
    seed: SeedOption = 0,
    features: FeaturesOption = "returns",
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format (table or json).")] = Format.table,
    predictions: Annotated[Optional[Path], typer.Option(help="Write the daily forecasts to this CSV file.",
                                                        show_default=False)] = None,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Walk-forward test: the LSTM against naive and linear forecasts, each day from the day before."""
    from forecaster.evaluate import METHODS, walk_forward
    from forecaster.output import rows_to_csv
    from forecaster.store import atomic_write_text, normalize_ticker

    ticker = normalize_ticker(ticker)
    config = _config(window, hidden, layers, epochs, batch_size, lr, patience, seed, features)
    start = _parse_date(test_start, "--test-start")
    if format is Format.csv:
        raise UsageError("evaluate prints table or json; use --predictions FILE for the daily CSV")
    store, terminal = _session(home, quiet, debug)
    predictions_path = store.check_output(predictions) if predictions is not None else None
    bars = store.read_bars(ticker)
    with _epoch_progress(terminal, ticker, config.epochs) as callback:
        evaluation = walk_forward(bars, ticker, start.isoformat(), config, callback)
    if predictions_path is not None:
        columns = ["date", "actual", "model", "lower", "upper", "naive", "linear"]
        atomic_write_text(predictions_path, rows_to_csv(evaluation.prediction_rows(), columns))
    report = evaluation.report()
    if format is Format.json:
        terminal.document(report)
        return
    naive_rmse = report["naive"]["rmse"]
    rows = [{"method": method, "RMSE": report[method]["rmse"], "vs naive": report[method]["rmse"] / naive_rmse,
             "MAE": report[method]["mae"], "MAPE %": report[method]["mape"],
             "direction": report[method]["directional_accuracy"], "90% coverage": report[method]["coverage"]}
            for method in METHODS]
    terminal.results(rows, list(rows[0]), title=f"{ticker}: {report['n']} trading days from {report['test_start']}")


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
    """Score every logged forecast whose date has come against what happened, and against naive."""
    from forecaster.errors import DataUnavailable
    from forecaster.predictions import read_predictions
    from forecaster.track import COLUMNS, score_ticker

    since_date = _parse_date(since, "--since")
    store, terminal = _session(home, quiet, debug)
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
                                     since_date.isoformat() if since_date else None))
        except ForecastError as error:
            failures.append((ticker, error))
    _results(terminal, rows, COLUMNS, format, "Live track record (ratio < 1: better than naive)", failures, names)
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

    store, terminal = _session(home, quiet, debug)
    path = plot_ticker(store, ticker, out=out, last=last, days=days, evaluation=evaluation)
    terminal.info(f"wrote {path}")


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
