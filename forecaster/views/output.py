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
from forecaster.text import Notice, clean_number, plain_number, rows_to_csv

SIGNIFICANT_DIGITS = 4  # the fewest significant digits a table shows of a nonzero number
MAX_DECIMALS = 10  # beyond this a column is shown in scientific notation
NAMES_SHOWN = 5  # tickers named in a summary line


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
                shown = ", ".join(tickers[:NAMES_SHOWN])
                if len(tickers) > NAMES_SHOWN:
                    shown += f" and {len(tickers) - NAMES_SHOWN} more"
                self.error(f"{group[0][1].message} ({len(tickers)} tickers: {shown})")

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
        names = ", ".join(notice.ticker for notice in members[:NAMES_SHOWN])
        if len(members) > NAMES_SHOWN:
            names += f" and {len(members) - NAMES_SHOWN} more"
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

