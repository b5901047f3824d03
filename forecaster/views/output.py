"""Everything the CLI prints: result tables (table / json / csv on stdout), progress and notes (stderr).

The plain text the library makes itself (notices, plurals, clean numbers, CSV) is in forecaster.text.
`Terminal` is created once per command; tests build one "as cron" (no TTY) or "as a person" (a TTY).

Numbers: a table shows each float column with one number of decimals, enough for every nonzero value of the column
to keep SIGNIFICANT_DIGITS significant digits (so a sub-penny price 0.009945 is not 0.0099), and at least 2 (a column
with values of 100 or more) or 4 (others); a column that also holds words (`forecast config`'s values) shows each
number as it was given (0.00001, not 0.0000). CSV and JSON carry numbers rounded to 12 significant digits: the float
noise of arithmetic goes (0.29920000000000185 is 0.2992), and far more digits stay than any price or score means.
JSON is always valid JSON: a non-finite number, which no command should produce, becomes null, not NaN.

Warnings about many tickers: notices of one kind are one summary line with a count and the first few tickers
(`Terminal.notices`); --verbose, or a JSON result, shows one line per ticker.
"""

from __future__ import annotations

import io
import json
import math
import sys
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from enum import Enum

from forecaster.errors import ForecastError, InternalFailure
from forecaster.jobs import JobWatcher
from forecaster.text import Notice, clean_number, first_names, plain_number, plural, rows_to_csv

SIGNIFICANT_DIGITS = 4  # the fewest significant digits a table shows of a nonzero number
MAX_DECIMALS = 10  # beyond this a column is shown in scientific notation


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class ReportFormat(str, Enum):
    """The formats of a command whose result is a report rather than rows (`evaluate`)."""

    table = "table"
    json = "json"


@dataclass
class Terminal:
    """Where output goes and how chatty to be. `quiet` keeps only errors (and results on stdout); `verbose` shows
    every ticker's warning instead of one summary line per kind."""

    quiet: bool = False
    debug: bool = False  # show tracebacks of errors
    verbose: bool = False
    stderr_tty: bool = field(default_factory=lambda: sys.stderr.isatty())
    stdin_tty: bool = field(default_factory=lambda: sys.stdin is not None and sys.stdin.isatty())
    _live: object = field(default=None, repr=False)  # the console of a progress bar on screen, if any

    def _line(self, text: str) -> None:
        """One line on stderr, above a progress bar if one is showing."""
        if self._live is not None:
            self._live.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def error(self, message: str) -> None:
        """One line on stderr, whatever the verbosity."""
        self._line(f"Error: {message}")

    def warn(self, message: str) -> None:
        if not self.quiet:
            self._line(f"Warning: {message}")

    def alert(self, message: str) -> None:
        """A warning the user asked for (a threshold they set): on stderr whatever the verbosity, -q included."""
        self._line(f"Warning: {message}")

    def info(self, message: str) -> None:
        """A progress or status line on stderr (never in --quiet)."""
        if not self.quiet:
            self._line(message)

    def notices(self, notices: list[Notice], every: bool = False, warning: bool = True) -> None:
        """Warnings (or, not `warning`, status lines) about tickers: one line each with --verbose (or `every`: a JSON
        result's reader wants them all), else one summary line per kind that several tickers share."""
        for line in summarize(notices, every or self.verbose):
            (self.warn if warning else self.info)(line)

    def failure(self, ticker: str, error: ForecastError) -> None:
        """One ticker's failure as one line naming the ticker (and its traceback first, with --debug)."""
        if self.debug:
            if isinstance(error, InternalFailure):
                sys.stderr.write(error.details)
            else:
                import traceback

                traceback.print_exception(error)
        message = error.message if ticker in error.message else f"{ticker}: {error.message}"
        if isinstance(error, InternalFailure) and not self.debug:
            message += " (rerun with --debug for details)"
        self.error(message)

    def failures(self, failures: list[tuple[str, ForecastError]], reported=()) -> None:
        """The failures of a batch but those already `reported` (True: all, or a collection of the errors), a line
        each; one cause shared by several tickers (a damaged pool serves them all) is one line naming them."""
        shared: dict[str, list[tuple[str, ForecastError]]] = {}
        for ticker, error in failures:
            if reported is not True and not any(error is seen for seen in reported):
                shared.setdefault(error.message, []).append((ticker, error))
        for group in shared.values():
            if len(group) == 1:
                self.failure(*group[0])
            else:
                tickers = [ticker for ticker, _ in group]
                self.error(f"{group[0][1].message} ({len(tickers)} tickers: {first_names(tickers)})")

    def confirm(self, question: str) -> bool | None:
        """Ask a yes/no question on the terminal: True for yes, False for anything else, None when nobody can
        answer (stdin is not a terminal), so that the caller refuses rather than guesses."""
        if not self.stdin_tty:
            return None
        sys.stderr.write(f"{question} [y/N] ")
        sys.stderr.flush()
        answer = sys.stdin.readline()
        return answer.strip().lower() in ("y", "yes")

    def say(self, message: str) -> None:
        """A line of a report on stdout (the demo's), kept by `> file`."""
        sys.stdout.write(message + "\n")
        sys.stdout.flush()

    @property
    def shows_progress(self) -> bool:
        """Live progress bars only for a person at a terminal."""
        return self.stderr_tty and not self.quiet

    @contextmanager
    def progress(self, description: str, total: int | None):
        """A rich progress bar on a terminal; elsewhere a no-op. Yields `advance(n=1, **fields)`."""
        if not self.shows_progress:
            yield lambda *args, **kwargs: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[status]}"), TimeElapsedColumn()]
        console = Console(stderr=True)
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(description, total=total, status="")

            def advance(n: int = 1, status: str = "") -> None:
                bar.update(task, advance=n, status=status)

            self._live = console
            try:
                yield advance
            finally:
                self._live = None

    def results(self, rows: list[dict], columns: list[str], fmt: Format = Format.table, title: str | None = None,
                ) -> None:
        """Print result rows on stdout in the chosen format (tables with `title`, json as a list of objects)."""
        if fmt is Format.json:
            sys.stdout.write(to_json([{c: row.get(c) for c in columns} for row in rows]) + "\n")
        elif fmt is Format.csv:
            sys.stdout.write(rows_to_csv(rows, columns))
        else:
            sys.stdout.write(render_table(rows, columns, title))
        sys.stdout.flush()

    def document(self, value) -> None:
        """A JSON document on stdout."""
        sys.stdout.write(to_json(value) + "\n")


# ------------------------------------------------------------------------------------ what each command prints
def ended_by(terminal: Terminal, error: Exception, debug: bool) -> int:
    """What ended a command, in one line, and its exit code (errors.ExitCode): a ForecastError's message and code;
    standard output closed under us; out of memory; anything else is a bug (tracebacks with `debug`)."""
    import traceback

    from forecaster.errors import ExitCode

    if isinstance(error, ForecastError):
        if debug:
            traceback.print_exception(error)
        terminal.error(error.message)
        return int(error.exit_code)
    if isinstance(error, BrokenPipeError):  # e.g. `forecast list | head -1`, or stdout closed while we printed
        from forecaster.process import discard_stdout

        discard_stdout()
        terminal.error("standard output was closed before all results were written")
        return int(ExitCode.UNAVAILABLE)
    if isinstance(error, MemoryError):
        terminal.error("not enough memory for this job (try a smaller --hidden, --window or --batch-size)")
        return int(ExitCode.UNAVAILABLE)
    if debug:
        traceback.print_exception(error)
    where = "" if debug else " (rerun with --debug for details)"
    terminal.error(f"internal error: {type(error).__name__}: {error}{where}")
    return int(ExitCode.INTERNAL)


def usage_error(terminal: Terminal, error) -> int:
    """A command line Typer's parser refused (a typer.TyperException), in one line naming the command's --help (no
    arguments at all: the help itself); the usage exit code."""
    from forecaster.errors import ExitCode

    if type(error).__name__ == "NoArgsIsHelpError":
        sys.stderr.write(error.format_message() + "\n")
    else:
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "forecast"
        terminal.error(f"{error.format_message()} (see '{command} --help')")
    return int(ExitCode.USAGE)


def interrupted(terminal: Terminal) -> int:
    """The interruption (Ctrl-C, or the signal that stopped us) in one line; its exit code."""
    from forecaster.errors import ExitCode
    from forecaster.process import STOP_SIGNALS, stopped_by

    if (name := stopped_by()) is not None:
        terminal.error(f"stopped by {name}")
        return int(STOP_SIGNALS[name])
    terminal.error("interrupted")
    return int(ExitCode.INTERRUPTED)


def finish(terminal: Terminal, failures: list[tuple[str, ForecastError]], done: int, reported=(),
           incomplete: bool = False) -> int | None:
    """Report the per-ticker failures of a multi-ticker command (but those already `reported` as they happened:
    True for all, or a collection of the errors), then the count; the exit code (None: success): 4 when some tickers
    succeeded, else the failures' own code (errors.batch_failure); 4 too when nothing failed but the forecasts could
    not be logged, a report's portfolio not forecast (`incomplete`: exit 4 even without failures)."""
    from forecaster.errors import ExitCode, TickersFailed, batch_failure

    terminal.failures(failures, reported)
    error = batch_failure(failures, done)
    if error is None:
        return int(ExitCode.PARTIAL) if incomplete else None
    if isinstance(error, TickersFailed):
        terminal.error(error.message)
    return int(error.exit_code)


def batch_results(terminal: Terminal, rows: list[dict], columns: list[str], fmt: Format, title: str,
                  failures: list, names: list[str]) -> None:
    """Print a multi-ticker command's results: json and csv always get a document (`[]` when empty), so scripts
    can parse it; a table is left out only when every ticker failed (the errors say why)."""
    if rows or fmt is not Format.table or len(failures) < len(names):
        terminal.results(rows, columns, fmt, title=title)


@contextmanager
def storing(terminal: Terminal, action: str, notes: list[str], total: int):
    """Fetch's or import's progress: its plan's notes, then one bar; yields `each(job, result, error)` for
    commands.store_all, which prints each failure as it happens (and, without a bar, each ticker stored)."""
    from forecaster.text import plural

    for note in notes:
        terminal.info(note)
    with terminal.progress(action, total=total) as advance:
        def each(job, result, error):
            if error is not None:
                terminal.failure(job.ticker, error)
            elif not terminal.shows_progress:
                terminal.info(f"{result.ticker}: {result.rows} {plural(result.rows, 'row')} to {result.last_date} "
                              f"({result.added} added)")
            advance(status=job.ticker + (" failed" if error is not None else ""))

        yield each


def show_stored(terminal: Terminal, stored, title: str) -> None:
    """What a fetch or an import stored (a commands.Stored): the warnings summarised, and a table."""
    terminal.notices(stored.notices)
    if stored.results and not terminal.quiet:
        terminal.results(stored.rows, list(stored.rows[0]), title=title)


def removal_confirmation(terminal: Terminal, home):
    """`remove`'s question before it deletes (commands.remove's `confirm`): UsageError when nobody can answer."""
    from forecaster.errors import UsageError

    def confirm(stored: list[str]) -> bool:
        answer = terminal.confirm(f"Remove {', '.join(stored)} from {home} (price data and models)?")
        if answer is None:
            raise UsageError("remove deletes data: add --yes to confirm when not at a terminal")
        return answer

    return confirm


def show_removal(terminal: Terminal, removal) -> None:
    """What `remove` did (a commands.Removal): a line per ticker removed, or that nothing was."""
    if removal.cancelled:
        terminal.info("nothing was removed")
    for ticker, what in removal.removed.items():
        terminal.info(f"{ticker}: {what}")


def show_inventory(terminal: Terminal, rows: list[dict], damaged: list, fmt: Format, home) -> None:
    """`list`'s rows (data.inventory), after a warning per damaged data/TICKER.json; an empty table is a hint."""
    from forecaster.commands import INVENTORY_COLUMNS

    for error in damaged:
        terminal.warn(error.message)
    if not rows and fmt is Format.table:
        terminal.info(f"Nothing stored in {home} yet: try 'forecast fetch MSFT' or 'forecast fetch --sample'.")
        return
    terminal.results(rows, INVENTORY_COLUMNS, fmt, title=f"Stored in {home}")


def show_settings(terminal: Terminal, rows: list[dict], config, fmt: Format) -> None:
    """`config`'s rows (commands.settings), after a line when there is no forecast.toml."""
    if not config.exists:
        terminal.info(f"no {config.path}: every setting has its default (see docs/configuration.md for an example "
                      "file)")
    terminal.results(rows, ["setting", "value", "source"], fmt, title="Effective settings")


def show_check(terminal: Terminal, home, problems: list, fmt: Format) -> int | None:
    """`check`'s result: a healthy line, or the problems (forecaster.check.Problem) and the exit code, 3."""
    from forecaster.check import COLUMNS
    from forecaster.errors import ExitCode

    if not problems:
        if fmt is Format.table:
            terminal.info(f"{home} is healthy: every file reads back sound")
        else:
            terminal.results([], COLUMNS, fmt)
        return None
    terminal.results([problem.row() for problem in problems], COLUMNS, fmt, title=f"Problems in {home}")
    terminal.error(f"{len(problems)} {plural(len(problems), 'problem')} found in {home}")
    return int(ExitCode.UNAVAILABLE)


def show_training(terminal: Terminal, outcome) -> None:
    """What `train` did (a pipeline.BatchOutcome): its notes, and a table of the models."""
    terminal.notices([Notice("", note) for note in outcome.notes], warning=False)
    if outcome.rows and not terminal.quiet:
        terminal.results(outcome.rows, list(outcome.rows[0]),
                         title="Trained (validation: the last 15% of each ticker's windows)")


def show_forecasts(terminal: Terminal, forecasts, fmt: Format) -> None:
    """`predict`'s forecasts (a commands.Forecasts): warnings and live records (each ticker's with a JSON result),
    the rows, and why they were not logged, if they were not."""
    from forecaster.commands import PREDICTION_COLUMNS

    predictions = forecasts.predictions
    terminal.notices([note for prediction in predictions for note in prediction.warnings], every=fmt is Format.json)
    terminal.notices([Notice(p.ticker, p.live_record, kind="live records of 1-day forecasts",
                             advice="see 'forecast score'") for p in predictions if p.live_record],
                     every=fmt is Format.json, warning=False)
    columns = [*PREDICTION_COLUMNS[:7], "volatility"] if fmt is Format.table else PREDICTION_COLUMNS
    batch_results(terminal, forecasts.rows, columns, fmt, f"Forecast of the adjusted close, with "
                  f"{100 * forecasts.level:g}% intervals (volatility: annualised %)", forecasts.failures,
                  forecasts.names)
    if forecasts.log_error is not None:  # the forecasts are shown all the same: only their record is missing
        terminal.error(f"the forecasts were not logged: {forecasts.log_error.message}")


def show_evaluation(terminal: Terminal, run, fmt: ReportFormat) -> None:
    """`evaluate`'s result (a commands.EvaluationRun): notes, a line per ticker without a bar, then one report (a
    JSON document, one for one ticker at one horizon) or the summary table."""
    from forecaster.risk.evaluate import summary_table
    from forecaster.text import plural

    outcome, reports, horizons = run.outcome, run.reports, run.horizons
    terminal.notices([Notice("", note) for note in outcome.notes], warning=False)
    if not terminal.shows_progress:
        for report in reports:
            if report["horizon"] == horizons[0]:
                terminal.info(f"{report['ticker']}: evaluated on {report['n']} {plural(report['n'], 'day')}")
    if fmt is ReportFormat.json:
        if reports or outcome.failures:
            terminal.document(reports[0] if not run.several and reports else reports)
    elif reports:
        rows, title = summary_table(reports, str(run.start), run.level, horizons)
        terminal.results(rows, list(dict.fromkeys(key for row in rows for key in row)), title=title)


def show_scores(terminal: Terminal, scores, fmt: Format, log_path) -> None:
    """`score`'s record (a commands.Scores): in a table, two tables (one would be too wide to read); nothing logged
    yet is an empty report, with a line saying so."""
    from forecaster.risk.track import COLUMNS, TAIL_COLUMNS

    title = "Live track record (ratio < 1: better than naive)"
    tails_title = "Tails of the intervals (hits: actual beyond its bound; kupiec_p < 0.05: too many or too few hits)"
    rows, failures, names = scores.rows, scores.failures, scores.names
    if not names:
        terminal.info(f"no forecasts logged in {log_path} yet: run 'forecast predict' (the record builds up as "
                      "days pass)")
        terminal.results([], COLUMNS + ([] if fmt is Format.table else TAIL_COLUMNS), fmt, title=title)
    elif fmt is Format.table:
        batch_results(terminal, rows, COLUMNS, fmt, title, failures, names)
        batch_results(terminal, rows, ["ticker", "horizon", "n", *TAIL_COLUMNS], fmt, tails_title, failures, names)
    else:
        batch_results(terminal, rows, COLUMNS + TAIL_COLUMNS, fmt, title, failures, names)


def show_report(terminal: Terminal, path, page) -> None:
    """What `report` wrote (a views.report.Report at `path`), in one line, and why its forecasts were not logged."""
    from forecaster.text import plural

    terminal.info(f"wrote {path}: {len(page.tickers)} {plural(len(page.tickers), 'ticker')}, "
                  f"{len(page.failure_lines)} {plural(len(page.failure_lines), 'failure')}, "
                  f"{len(page.warnings)} {plural(len(page.warnings), 'warning')}")
    if page.log_error is not None:
        terminal.error(page.log_error.message)
    if page.portfolio_error is not None:
        terminal.error(f"portfolio: {page.portfolio_error.message}")
    elif page.portfolio is not None and page.portfolio.alert:
        terminal.alert(page.portfolio.alert)


class JobProgress(JobWatcher):
    """A command's per-ticker jobs as a person or cron sees them (forecaster.jobs): one progress bar over tickers
    (over epochs when one network trains here), each failure reported as it happens, and with `logs` each finished
    job's line for logs (cron mail)."""

    def __init__(self, terminal: Terminal, logs: bool = False):
        self.terminal, self.logs = terminal, logs

    def running(self, names: list[str], epochs: int | None):
        if epochs is not None:
            return epoch_progress(self.terminal, names[0], epochs)
        return self.terminal.progress("Working", total=len(names))

    def finished(self, outcome) -> None:
        if outcome.error is not None:
            self.terminal.failure(outcome.ticker, outcome.error)
            return
        result = outcome.result
        line = result.get("log") if isinstance(result, dict) else getattr(result, "log", None)
        if self.logs and not self.terminal.shows_progress and line:
            self.terminal.info(line)

    def pool_training(self, epochs: int):
        return _PoolProgress(self.terminal, epochs)


@contextmanager
def epoch_progress(terminal: Terminal, what: str, epochs: int):
    """Yields a training callback that drives a progress bar (on a terminal) for one network."""
    with terminal.progress(f"Training {what}", total=epochs) as advance:
        def callback(epoch, train_loss, val_loss):
            advance(status=f"epoch {epoch}  train {train_loss:.4f}  val {val_loss:.4f}")
        yield callback


class _PoolProgress:
    """The pool's epoch progress bar, opened at its first epoch (after any per-ticker jobs' bars have closed)."""

    def __init__(self, terminal: Terminal, epochs: int):
        self.terminal, self.epochs = terminal, epochs
        self.stack = ExitStack()
        self.callback = None

    def __call__(self, epoch, train_loss, val_loss):
        if self.callback is None:
            self.callback = self.stack.enter_context(epoch_progress(self.terminal, "the pool", self.epochs))
        self.callback(epoch, train_loss, val_loss)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stack.close()


def summarize(notices: list[Notice], every: bool = False) -> list[str]:
    """The warning lines for `notices`: each message with `every`, else one line per kind shared by several tickers
    (kinds in order of first appearance): "<kind>: 12 tickers (AAA, BBB, CCC, DDD, EEE and 7 more); <advice>"."""
    if every:
        return [notice.message for notice in notices]
    groups: dict[str, list[Notice]] = {}
    for notice in notices:
        groups.setdefault(notice.group, []).append(notice)
    lines = []
    for group, members in groups.items():
        if len(members) == 1:
            lines.append(members[0].message)
            continue
        names = first_names([notice.ticker for notice in members])
        advice = f"; {members[0].advice}" if members[0].advice else ""
        lines.append(f"{group}: {len(members)} tickers ({names}){advice} (--verbose lists each)")
    return lines


def to_json(value) -> str:
    """`value` as an indented JSON document: floats clean, non-finite ones null, so the result always parses."""
    return json.dumps(_json_ready(value), indent=2, allow_nan=False)


def _json_ready(value):
    if isinstance(value, float):
        return clean_number(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return value


def render_table(rows: list[dict], columns: list[str], title: str | None = None) -> str:
    """A rich table as text (no colour codes when stdout is not a terminal; ASCII lines where stdout's encoding
    cannot draw boxes). Each float column has one precision (see `column_format`); a column of numbers is
    right-aligned, one that also holds words or lists (shown space-separated) left-aligned."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.HEAVY_HEAD if _can_encode("┏━╇") else box.ASCII)
    formats = {}
    for column in columns:
        values = [row.get(column) for row in rows]
        numeric = any(isinstance(v, int | float) and not isinstance(v, bool) for v in values) and not any(
            isinstance(v, str | list) for v in values)  # words beside numbers (a setting's values): left, as text
        formats[column] = column_format(values)
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_cell(row.get(column), formats[column]) for column in columns))
    console = Console(file=io.StringIO(), width=200, force_terminal=sys.stdout.isatty())
    console.print(table)
    return console.file.getvalue()


def column_format(values: list) -> str | None:
    """The format of a table column's floats: the fewest decimals (at least 2 when the column holds values of 100 or
    more, else 4) that keep SIGNIFICANT_DIGITS significant digits of its smallest nonzero value; scientific notation
    beyond MAX_DECIMALS. None for a column that also holds words: its numbers are shown as given."""
    if any(isinstance(v, str | list) for v in values):
        return None
    sizes = [abs(v) for v in values if isinstance(v, float) and math.isfinite(v) and v != 0]
    if not sizes:
        return "{:.4f}"
    decimals = max(2 if max(sizes) >= 100 else 4, SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(min(sizes))))
    if decimals > MAX_DECIMALS:
        return f"{{:.{SIGNIFICANT_DIGITS - 1}e}}"
    return f"{{:,.{decimals}f}}" if max(sizes) >= 100 else f"{{:.{decimals}f}}"


def _cell(value, float_format: str | None) -> str:
    if value is None or value == []:
        return "-"
    if isinstance(value, list):  # a list of words (the watchlist), wrapped within the column
        return " ".join(map(str, value))
    if isinstance(value, float):
        if not value:
            return "0"  # a zero is 0, never -0.0000
        return float_format.format(value + 0.0) if float_format else plain_number(value)
    return str(value)


def _can_encode(text: str) -> bool:
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True



# ---------------------------------------------------------------------------------------------- portfolio
def show_portfolio(terminal: Terminal, result, fmt: Format) -> None:
    """`portfolio`'s risk (a commands.Portfolio): notes, the alert, then the totals and the holdings (json: one
    document; csv: a row per holding and a TOTAL row; table: the totals in the title, largest component VaR
    first)."""
    from forecaster.commands import HOLDING_COLUMNS

    forecast = result.forecast
    risk = forecast.risk
    terminal.notices(forecast.notes, every=fmt is Format.json)
    if result.alert:
        terminal.alert(result.alert)
    document = forecast.document()
    if fmt is Format.json:
        terminal.document(document)
        return
    rows = [dict(holding) for holding in document["holdings"]]
    if fmt is Format.csv:
        total = {"ticker": "TOTAL", "shares": None, "value": risk.value, "weight": sum(r["weight"] for r in rows),
                 "component_var": risk.var, "component_es": risk.es, "marginal_var": None, "standalone_var": None}
        terminal.results([*rows, total], HOLDING_COLUMNS, fmt)
        return
    rows.sort(key=lambda row: -row["component_var"])
    shown = [{"ticker": r["ticker"], "shares": r["shares"], "value": r["value"], "weight %": 100 * r["weight"],
              "VaR": r["component_var"], "ES": r["component_es"], "marginal VaR": r["marginal_var"],
              "alone VaR": r["standalone_var"]} for r in rows]
    title = (f"Portfolio as of {forecast.as_of}: value {risk.value:,.2f}; {risk.days}-day {100 * risk.level:g}% "
             f"value at risk {risk.var:,.2f} ({risk.var_percent:.2f}%), expected shortfall {risk.es:,.2f} "
             f"({risk.es_percent:.2f}%); volatility {risk.volatility:.1f}% a year; diversification ratio "
             f"{risk.diversification_ratio:.2f}")
    terminal.results(shown, list(shown[0]), title=title)


def show_portfolio_evaluation(terminal: Terminal, evaluation, fmt: ReportFormat) -> None:
    """`evaluate --portfolio`'s backtest (a pipeline.PortfolioEvaluation): notes, then a JSON document or a table
    of the model and the baselines."""
    terminal.notices([Notice("", note) for note in evaluation.notes], warning=False)
    summary = evaluation.summary
    if fmt is ReportFormat.json:
        terminal.document(evaluation.document())
        return
    rows = [{"method": method, "VaR hits": s["var"]["hits"], "expected": s["var"]["expected"],
             "Kupiec p": s["var"]["kupiec_p"], "Christoffersen p": s["var"]["christoffersen_p"],
             "cond. coverage p": s["var"]["conditional_coverage_p"], "traffic light": s["var"]["traffic_light"],
             "DQ p": s["var"]["dq_p"], "ES Z2": s["es"]["statistic"], "ES p": s["es"]["p_value"],
             "pinball": s["pinball"]} for method, s in summary.items()]
    days = len(evaluation.daily.pnl)
    title = (f"Portfolio backtest from {evaluation.test_start} to {evaluation.daily.dates[-1]}, {days} "
             f"{plural(days, 'day')}: one-day VaR at "
             f"{100 * evaluation.level:g}%, ES at {100 * summary['model']['es']['level']:g}% (model: "
             f"{evaluation.served_by})")
    terminal.results(rows, list(rows[0]), title=title)
