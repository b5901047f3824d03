"""Everything the CLI prints: result tables (table / json / csv on stdout), progress and notes (stderr).

`Terminal` is created once per command; tests build one "as cron" (no TTY) or "as a person" (a TTY).
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


@dataclass
class Terminal:
    """Where output goes and how chatty to be. `quiet` keeps only errors (and results on stdout)."""

    quiet: bool = False
    debug: bool = False  # show tracebacks of errors
    stderr_tty: bool = field(default_factory=lambda: sys.stderr.isatty())

    def error(self, message: str) -> None:
        """One line on stderr, whatever the verbosity."""
        sys.stderr.write(f"Error: {message}\n")
        sys.stderr.flush()

    def warn(self, message: str) -> None:
        if not self.quiet:
            sys.stderr.write(f"Warning: {message}\n")
            sys.stderr.flush()

    def info(self, message: str) -> None:
        """A progress or status line on stderr (never in --quiet)."""
        if not self.quiet:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()

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
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(description, total=total, status="")

            def advance(n: int = 1, status: str = "") -> None:
                bar.update(task, advance=n, status=status)

            yield advance

    def results(self, rows: list[dict], columns: list[str], fmt: Format = Format.table, title: str | None = None,
                ) -> None:
        """Print result rows on stdout in the chosen format (tables with `title`, json as a list of objects)."""
        if fmt is Format.json:
            sys.stdout.write(json.dumps([{c: row.get(c) for c in columns} for row in rows], indent=2) + "\n")
        elif fmt is Format.csv:
            sys.stdout.write(rows_to_csv(rows, columns))
        else:
            sys.stdout.write(render_table(rows, columns, title))
        sys.stdout.flush()

    def document(self, value) -> None:
        """A JSON document on stdout."""
        sys.stdout.write(json.dumps(value, indent=2) + "\n")


def rows_to_csv(rows: list[dict], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def render_table(rows: list[dict], columns: list[str], title: str | None = None) -> str:
    """A rich table as text (no colour codes when stdout is not a terminal; ASCII lines where stdout's encoding
    cannot draw boxes). Each float column has one precision: 2 decimals when it holds values of 100 or more,
    else 4."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.HEAVY_HEAD if _can_encode("┏━╇") else box.ASCII)
    formats = {}
    for column in columns:
        values = [row.get(column) for row in rows]
        numeric = any(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        large = any(isinstance(v, float) and math.isfinite(v) and abs(v) >= 100 for v in values)
        formats[column] = "{:,.2f}" if large else "{:.4f}"
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_cell(row.get(column), formats[column]) for column in columns))
    console = Console(file=io.StringIO(), width=200, force_terminal=sys.stdout.isatty())
    console.print(table)
    return console.file.getvalue()


def _cell(value, float_format: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return float_format.format(value + 0.0) if value else "0"  # a zero is 0, never -0.0000
    return str(value)


def _can_encode(text: str) -> bool:
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def plural(count: int, word: str, plural_form: str | None = None) -> str:
    """'1 epoch', '2 epochs' (the number is not included: f"{n} {plural(n, 'epoch')}")."""
    return word if count == 1 else (plural_form or word + "s")
