"""Plain text the library makes, whoever shows it: notices about tickers, plurals, clean numbers and CSV.

The library's modules (data, model, risk, pipeline) word their notes and messages with these; the CLI's printing
(forecaster.views.output) and the Python API (forecaster.api) show them. Only the standard library is imported here.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

CLEAN_DIGITS = 12  # significant digits of the numbers in CSV and JSON output
NAMES_SHOWN = 5  # names in a summary line: the first five, then how many more


@dataclass(frozen=True)
class Notice:
    """One ticker's warning. Notices of one kind are shown as one summary line when there are several of them.

    `kind` names what their tickers have in common (e.g. "data more than 5 days old"; default: the message without
    its "TICKER: " prefix, so identical warnings group by themselves); `advice` says what to do about all of them;
    `flag`, what a program reads (forecaster.pipeline's STALE_DATA, OLD_MODEL, MARKET).
    """

    ticker: str
    message: str
    kind: str = ""
    advice: str = ""
    flag: str = ""

    @property
    def group(self) -> str:
        return self.kind or self.message.removeprefix(f"{self.ticker}: ")


def clean_number(value: float) -> float:
    """`value` rounded to CLEAN_DIGITS significant digits (see the module docstring); non-finite values as they are."""
    return float(f"{value:.{CLEAN_DIGITS}g}") if math.isfinite(value) else value


def rows_to_csv(rows: list[dict], columns: list[str]) -> str:
    """CSV text of `rows`: floats clean (CLEAN_DIGITS significant digits), None and non-finite numbers empty."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: _csv_value(value) for key, value in row.items()} for row in rows)
    return out.getvalue()


def _csv_value(value):
    if isinstance(value, float):
        return repr(clean_number(value)) if math.isfinite(value) else ""
    if isinstance(value, list):  # a list of words (the watchlist): space-separated in its cell
        return " ".join(map(str, value))
    return value


def plain_number(value: float) -> str:
    """A float as a person writes it: 0.00001 rather than 1e-05 (the shortest digits that give the same float)."""
    from decimal import Decimal

    if not math.isfinite(value):
        return str(value)
    text = format(Decimal(repr(value)), "f")
    return text.removesuffix(".0") if text.endswith(".0") else text


def plural(count: int, word: str, plural_form: str | None = None) -> str:
    """'1 epoch', '2 epochs' (the number is not included: f"{n} {plural(n, 'epoch')}")."""
    return word if count == 1 else (plural_form or word + "s")


def first_names(names: list[str], shown: int = NAMES_SHOWN) -> str:
    """'AAPL, AMZN, GOOG, META, MSFT and 495 more': the first `shown` of `names`, then how many more there are."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
