"""The `forecast` command line: a thin layer over the library.

Library errors (`ForecastError`) become one line on stderr and the exit code they carry, in `main` only; anything
unexpected is an internal error (traceback with --debug or FORECAST_DEBUG=1). Heavy libraries (pandas, yfinance,
scikit-learn, matplotlib) are imported inside the commands that need them, so `predict` starts fast.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from forecaster.errors import ExitCode, ForecastError, UsageError
from forecaster.output import Format, Terminal

app = typer.Typer(
    name="forecast",
    help="Forecast stock prices with a NumPy LSTM, judged honestly against the naive forecast.",
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


def _session(home: Path | None, quiet: bool):
    from forecaster.store import Store

    return Store(home), Terminal(quiet=quiet)


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
        terminal.error(error.message if error.message.startswith(ticker) else f"{ticker}: {error.message}")
    if not failures:
        return
    if done == 0 and len(failures) == 1:
        raise typer.Exit(int(failures[0][1].exit_code))
    names = ", ".join(ticker for ticker, _ in failures)
    terminal.error(f"{len(failures)} of {len(failures) + done} tickers failed: {names}")
    raise typer.Exit(int(ExitCode.PARTIAL if done else max(error.exit_code for _, error in failures)))


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
    home: HomeOption = None,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Download daily prices from Yahoo Finance (or import a CSV or the bundled sample) into the local store."""
    from forecaster import sources
    from forecaster.store import normalize_ticker

    tickers = [normalize_ticker(t) for t in tickers or []]
    start_date, end_date = _parse_date(start, "--start"), _parse_date(end, "--end")
    sources.check_dates(start_date, end_date)
    if sample and (tickers or csv):
        raise UsageError("--sample takes no tickers and no --csv")
    if csv is not None and len(tickers) != 1:
        raise UsageError("--csv imports one ticker: give exactly one TICKER")
    if not sample and not tickers:
        raise UsageError("give one or more tickers, or --sample")
    store, terminal = _session(home, quiet)

    if sample:
        jobs = {t: (lambda stored, t=t: sources.read_sample(t)) for t in sources.SAMPLE_TICKERS}
        source = "sample"
    elif csv is not None:
        incoming = sources.import_csv_bars(csv, start_date, end_date)  # validated before any lock is taken
        jobs = {tickers[0]: lambda stored: incoming}
        source = f"csv:{csv.name}"
    else:
        sources.configure_yfinance(store.cache_dir / "yfinance")
        session = sources.yahoo_session()

        def from_yahoo(stored, ticker):
            return sources.fetch_yahoo(
                ticker, start=sources.incremental_start(stored, start_date), end=end_date, session=session,
                allow_empty=start_date is not None or end_date is not None,
            )

        jobs = {t: (lambda stored, t=t: from_yahoo(stored, t)) for t in dict.fromkeys(tickers)}
        source = "yahoo"

    results, failures = [], []
    with terminal.progress("Fetching", total=len(jobs)) as advance:
        for ticker, get_bars in jobs.items():
            try:
                result = sources.update_ticker(store, ticker, get_bars, source=source)
            except ForecastError as error:
                failures.append((ticker, error))
                advance(status=f"{ticker} failed")
                continue
            results.append(result)
            advance(status=ticker)
            if not terminal.shows_progress:
                terminal.info(f"{ticker}: {result.rows} rows to {result.last_date} ({result.added} added)")
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

    store, terminal = _session(home, quiet)
    rows = inventory(store)
    if not rows and format is Format.table:
        terminal.info(f"Nothing stored in {store.home} yet: try 'forecast fetch MSFT' or 'forecast fetch --sample'.")
        return
    columns = ["ticker", "rows", "first_date", "last_date", "fetched_at", "model", "trained_at", "model_until"]
    terminal.results(rows, columns, format, title=f"Stored in {store.home}")


# -------------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """The console entry point: run one command, return its exit code (see errors.ExitCode)."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args or os.environ.get("FORECAST_DEBUG", "") not in ("", "0")
    if not debug:
        warnings.filterwarnings("ignore")
    terminal = Terminal()
    try:
        code = app(args=args, prog_name="forecast", standalone_mode=False)
        return int(code or 0)
    except ForecastError as error:
        if debug:
            traceback.print_exc()
        terminal.error(error.message)
        return int(error.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        terminal.error("interrupted")
        return int(ExitCode.INTERRUPTED)
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
