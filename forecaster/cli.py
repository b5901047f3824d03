"""The `forecast` command line: a thin layer over the library.

Library errors (`ForecastError`) become one line on stderr and the exit code they carry, in `main` only; anything
unexpected is an internal error (traceback with --debug or FORECAST_DEBUG=1). In a command over several tickers, one
ticker's failure, whatever it is, is reported for that ticker as it happens and the others go on (exit 4). SIGTERM
and SIGHUP stop a command as Ctrl-C does (exit 143 and 129, one line: forecaster.process). Each command parses its
arguments, makes one call into the library (forecaster.commands) and prints the result (forecaster.views.output).
Heavy libraries (pandas, yfinance, scikit-learn, matplotlib) are imported inside the commands that need them, so
`predict` starts fast.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from forecaster import commands
from forecaster.commands import parse_date
from forecaster.errors import ExitCode, ForecastError, UsageError
from forecaster.process import debug_requested, prepare_streams, silence_warnings, stop_signals_interrupt
from forecaster.views import output
from forecaster.views.output import Format, JobProgress, ReportFormat, Terminal

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
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors (also FORECAST_DEBUG=1); also "
                                                        "accepted after the command.")] = False,
) -> None:
    """Forecast stock prices with a NumPy LSTM, judged honestly against the naive forecast."""
    if debug:  # `forecast --debug list`: the command's sessions (and worker processes) read it from the environment
        os.environ["FORECAST_DEBUG"] = "1"


def _session(home: Path | None, quiet: bool, debug: bool, verbose: bool = False):
    """(store, terminal, config) of a command: the home, how to print, and HOME/forecast.toml."""
    store, config = commands.open_home(home)
    return store, Terminal(quiet=quiet, debug=debug or debug_requested(), verbose=verbose), config


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
            annotation=Annotated[Optional[s.kind], typer.Option(s.option, help=f"{s.help} [default: {s.shown_default}]",
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


def _finish(failures: list[tuple[str, ForecastError]], done: int, terminal: Terminal, reported=(),
            incomplete: bool = False) -> None:
    """Report a multi-ticker command's failures (views.output.finish) and exit with its code, if it failed."""
    code = output.finish(terminal, failures, done, reported, incomplete)
    if code is not None:
        raise typer.Exit(code)


# ------------------------------------------------------------------------------------------------------- fetch
StartOption = Annotated[Optional[str], typer.Option(help="First date to fetch (YYYY-MM-DD) [default: all history, "
                                                         "then incremental].", show_default=False)]
EndOption = Annotated[Optional[str], typer.Option(help="Last date to fetch, inclusive (YYYY-MM-DD) [default: the "
                                                       "latest].", show_default=False)]
ImportStartOption = Annotated[Optional[str], typer.Option("--start", help="First date to import from the files "
                                                                     "(YYYY-MM-DD) [default: their first row].",
                                                                show_default=False)]
ImportEndOption = Annotated[Optional[str], typer.Option("--end", help="Last date to import from the files, inclusive "
                                                                 "(YYYY-MM-DD) [default: their last row].",
                                                        show_default=False)]
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
    start_date, end_date = parse_date(start, "--start"), parse_date(end, "--end")
    store, terminal, config = _session(home, quiet, debug, verbose)
    plan = commands.plan_fetch(store, config, tickers, start=start_date, end=end_date, csv=csv, sample=sample,
                               rate=given.get("rate"))
    _store_all(terminal, store, plan, replace, "Fetching", "Fetched")


def _store_all(terminal: Terminal, store, plan, replace: bool, action: str, title: str) -> None:
    """Run fetch or import jobs (commands.store_all) with one progress bar and print what was stored."""
    with output.storing(terminal, action, plan.notes, len(plan.jobs)) as each:
        stored = commands.store_all(store, plan, replace, each)
    output.show_stored(terminal, stored, title)
    _finish(stored.failures, len(stored.results), terminal, reported=True)


# ------------------------------------------------------------------------------------------------------ import
@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="CSV files, or folders of .csv and .txt files. Each file's name "
                                                     "gives its ticker: abr_b.us.txt -> ABR-B (see docs/commands.md).",
                                                show_default=False)],
    start: ImportStartOption = None,
    end: ImportEndOption = None,
    replace: ReplaceOption = False,
    home: HomeOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    debug: DebugOption = False,
) -> None:
    """Import many CSV files in one run (a folder of them), each for the ticker its file name gives."""
    plan = commands.plan_import(paths, start=parse_date(start, "--start"), end=parse_date(end, "--end"))
    store, terminal, _ = _session(home, quiet, debug, verbose)
    _store_all(terminal, store, plan, replace, "Importing", "Imported")


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
    store, terminal, _ = _session(home, quiet, debug)
    removal = commands.remove(store, tickers, None if yes else output.removal_confirmation(terminal, store.home))
    output.show_removal(terminal, removal)
    _finish(removal.failures, len(removal.removed), terminal)


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
    output.show_inventory(terminal, *inventory(store), format, store.home)


# ------------------------------------------------------------------------------------------------------- check
@app.command()
def check(
    format: FormatOption = Format.table,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Check the whole store, read-only: every problem with its file and the command that fixes it (exit 3 when
    there is one)."""
    terminal = Terminal(quiet=quiet, debug=debug or debug_requested())
    store, problems = commands.check(home)
    code = output.show_check(terminal, store.home, problems, format)
    if code is not None:
        raise typer.Exit(code)


# ------------------------------------------------------------------------------------------------------- train
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
    until_date = parse_date(until, "--until")
    store, terminal, config = _session(home, quiet, debug, verbose)
    training = commands.train(store, config, tickers, until=until_date, given=given,
                               watcher=JobProgress(terminal, logs=True))
    output.show_training(terminal, training.outcome)
    _finish(training.outcome.failures, len(training.outcome.rows), terminal, reported=training.reported)


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
    store, terminal, config = _session(home, quiet, debug, verbose)
    forecasts = commands.predict(store, config, tickers, days=days, given=given)
    output.show_forecasts(terminal, forecasts, format)
    _finish(forecasts.failures, len(forecasts.names) - len(forecasts.failures), terminal,
            incomplete=forecasts.log_error is not None)


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
    portfolio: Annotated[Optional[Path], typer.Option(help="Backtest the one-day value at risk and expected "
                                                      "shortfall of the holdings in this CSV file (ticker,shares) "
                                                      "instead; --level is then the VaR's [default: [portfolio] "
                                                      "level, 0.99].", show_default=False)] = None,
    home: HomeOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    debug: DebugOption = False,
    *,
    given: dict,
) -> None:
    """Walk-forward test: the model against naive, linear, GARCH, GJR and HAR forecasts, each day from the past."""
    if not test_start:
        raise UsageError("--test-start DATE is required: the first day of the test period")
    start = parse_date(test_start, "--test-start")
    store, terminal, config = _session(home, quiet, debug, verbose)
    if portfolio is not None:
        evaluation = commands.evaluate_portfolio(store, config, holdings=portfolio, test_start=start, given=given,
                                                 watcher=JobProgress(terminal), tickers=tickers, horizons=horizon,
                                                 unseen=unseen, predictions=predictions)
        return output.show_portfolio_evaluation(terminal, evaluation, format)
    run = commands.evaluate(store, config, tickers, test_start=start, horizons=horizon, unseen=unseen,
                            predictions=predictions, given=given, watcher=JobProgress(terminal))
    output.show_evaluation(terminal, run, format)
    _finish(run.outcome.failures, run.evaluated, terminal, reported=run.reported)


# --------------------------------------------------------------------------------------------------- portfolio
@app.command()
@_with_settings("portfolio")
def portfolio(
    holdings: Annotated[Optional[Path], typer.Option(help="A CSV file of the holdings (columns ticker,shares; "
                                                     "negative shares: short) [default: [portfolio] holdings in "
                                                     "forecast.toml].", show_default=False)] = None,
    days: Annotated[int, typer.Option(help="Trading sessions ahead.")] = 1,
    format: FormatOption = Format.table,
    home: HomeOption = None,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    debug: DebugOption = False,
    *,
    given: dict,
) -> None:
    """Value at risk and expected shortfall of your holdings, and each holding's share of them."""
    store, terminal, config = _session(home, quiet, debug, verbose)
    output.show_portfolio(terminal, commands.portfolio(store, config, holdings=holdings, days=days, given=given),
                          format)


# ------------------------------------------------------------------------------------------------------ config
@app.command("config")
def config_(
    format: FormatOption = Format.table,
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Show the effective settings (the watchlist, the holdings and every default) and where each comes from."""
    store, terminal, config = _session(home, quiet, debug)
    output.show_settings(terminal, commands.settings(config), config, format)


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
    since_date = parse_date(since, "--since")
    store, terminal, config = _session(home, quiet, debug)
    scores = commands.score(store, config, tickers, since=since_date)
    output.show_scores(terminal, scores, format, store.predictions_path)
    _finish(scores.failures, scores.scored, terminal)


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
    store, terminal, config = _session(home, quiet, debug)
    path = commands.plot(store, config, ticker, out=out, last=last, days=days, evaluation=evaluation, given=given)
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
    store, terminal, config = _session(home, quiet, debug)
    path, page = commands.report(store, config, tickers, out=out, days=days, given=given)
    output.show_report(terminal, path, page)
    _finish(page.failures, len(page.tickers), terminal,
            incomplete=page.log_error is not None or page.portfolio_error is not None)


# -------------------------------------------------------------------------------------------------------- demo
@app.command()
def demo(
    home: Annotated[Optional[Path], typer.Option("--home", help="Run in this home and keep it: a new or empty "
                                                 "folder, or a demo's [default: a temporary home, removed "
                                                 "afterwards].", show_default=False)] = None,
    epochs: Annotated[int, typer.Option(help="Training epochs (few: it is a demonstration).")] = 30,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Run the whole pipeline offline on the bundled sample: import, train, evaluate against naive, predict."""
    from forecaster.demo import run_demo_in

    run_demo_in(home, epochs, Terminal(quiet=quiet, debug=debug))


# -------------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """The console entry point: run one command, return its exit code (see errors.ExitCode)."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = debug_requested(args)
    if not debug:
        silence_warnings()
    prepare_streams()
    with stop_signals_interrupt():
        return _run(args, debug)


def _run(args: list[str], debug: bool) -> int:
    terminal = Terminal()
    try:
        code = int(app(args=args, prog_name="forecast", standalone_mode=False) or 0)
        if code == ExitCode.INTERRUPTED:  # Typer turns KeyboardInterrupt into a silent exit code 130
            return output.interrupted(terminal)
        return code
    except (KeyboardInterrupt, typer.Abort):
        return output.interrupted(terminal)
    except typer.TyperException as error:  # command-line usage errors, raised by Typer's parser
        return output.usage_error(terminal, error)
    except Exception as error:  # ForecastError, a broken pipe, no memory, a bug: one line and its exit code
        return output.ended_by(terminal, error, debug)
