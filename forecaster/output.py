"""Everything the CLI prints: result tables (table / json / csv on stdout), progress and notes (stderr).

`Terminal` is created once per command; tests build one "as cron" (no TTY) or "as a person" (a TTY).
"""

from __future__ import annotations

import csv
import io
import json
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
    """A rich table as text (no colour codes when stdout is not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        numeric = any(isinstance(row.get(column), int | float) for row in rows)
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    console = Console(file=io.StringIO(), width=200, force_terminal=sys.stdout.isatty())
    console.print(table)
    return console.file.getvalue()


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.2f}"
    return str(value)
