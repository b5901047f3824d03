"""Daily price bars: the in-memory table, its CSV file format, validation and merging.

Deliberately free of pandas so that `forecast predict` starts fast: a ticker's history is a few thousand rows, which
Python's csv module parses in milliseconds.

File format (one file per ticker, UTF-8, header first, rows sorted by date, no duplicate dates)::

    Date,Open,High,Low,Close,Adj Close,Volume
    2013-02-28,27.81,28.19,27.71,27.8,25.91,53404000

Floats are written in Python's shortest round-trip form, so reading and writing a file is lossless.

A header naming one of the columns twice (in any case) is refused (InvalidBars, naming the column). What cannot be a
price history is refused (InvalidBars, naming the row): a non-finite or non-positive price, a
price above MAX_PRICE, a date before MIN_DATE, a bar whose Open or Close lies outside its High-Low range, and any bar
whose prices on the adjusted basis, or whose log return, are not finite numbers (they would make every forecast
NaN or infinite). What is possible but implausible — a daily move of the adjusted close by more than a factor
MAX_DAILY_FACTOR — is found by `large_moves` for the caller to warn about.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forecaster.data.files import read_input_file, repeated_column, repeated_column_message
from forecaster.errors import UsageError

COLUMNS = ("Date", "Open", "High", "Low", "Close", "Adj Close", "Volume")
REQUIRED_COLUMNS = ("Date", "Open", "High", "Low", "Close", "Volume")  # Adj Close defaults to Close
OHLC_TOLERANCE = 1e-7  # relative slack for Open and Close against [Low, High]: float artefacts, not real breaches
MIN_DATE = np.datetime64("1900-01-01", "D")  # no daily price history starts earlier: an older date is a wrong format
# A price above this is not a price in any currency (it exceeds the world's wealth counted in dollars, about 5e14),
# and leaves no room for the arithmetic of a forecast (price x exp(move)) before it overflows.
MAX_PRICE = 1e15
# A daily move of the adjusted close by more than this factor, up or down (+400%, or -80%), is beyond what real
# listed stocks show, bar a handful of collapses and squeezes; it is what an unadjusted split or reverse split of 5:1
# or more, a price in the wrong unit (cents for dollars), or another ticker's rows look like. Stored, with a warning.
MAX_DAILY_FACTOR = 5.0


class InvalidBars(UsageError):
    """Rows that break the format's rules; the message names the source and the row."""


@dataclass(frozen=True)
class Bars:
    """Daily bars sorted by date, one row per trading day.

    Attributes are parallel 1-D arrays of length n: `dates` is datetime64[D]; prices are float64; `volume` is float64
    (it holds integers; float keeps NaN-free arithmetic simple for features).
    """

    dates: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adj_close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.dates)

    @classmethod
    def empty(cls) -> Bars:
        return cls(np.array([], dtype="datetime64[D]"), *(np.array([], dtype=np.float64) for _ in range(6)))

    @property
    def first_date(self) -> str | None:
        return str(self.dates[0]) if len(self) else None

    @property
    def last_date(self) -> str | None:
        return str(self.dates[-1]) if len(self) else None

    def columns(self) -> tuple[np.ndarray, ...]:
        return (self.dates, self.open, self.high, self.low, self.close, self.adj_close, self.volume)

    def take(self, index) -> Bars:
        """Rows selected by a boolean mask, an index array or a slice."""
        return Bars(*(column[index] for column in self.columns()))

    def until(self, last_date) -> Bars:
        """Rows dated on or before `last_date` (a date string or datetime64)."""
        return self.take(self.dates <= np.datetime64(last_date, "D"))

    def before(self, date) -> Bars:
        """Rows dated strictly before `date`."""
        return self.take(self.dates < np.datetime64(date, "D"))

    def equals(self, other: Bars) -> bool:
        return len(self) == len(other) and all(
            np.array_equal(a, b) for a, b in zip(self.columns(), other.columns(), strict=True)
        )


def bars_from_columns(dates, open_, high, low, close, adj_close, volume, *, source: str, rows=None,
                      latest=None) -> Bars:
    """Validate parallel columns and return sorted Bars.

    `rows` gives each entry's row number in `source` for error messages (default: 1-based position). Exact duplicate
    rows are merged; the same date with different values is refused. With `latest` (a date), a bar dated after it
    is refused: a day that has not happened yet has no prices.
    """
    dates = np.asarray(dates, dtype="datetime64[D]")
    values = [np.asarray(c, dtype=np.float64) for c in (open_, high, low, close, adj_close, volume)]
    rows = np.arange(1, len(dates) + 1) if rows is None else np.asarray(rows)
    if latest is not None and len(dates):
        future = dates > np.datetime64(latest, "D")
        if future.any():
            i = future.argmax()
            raise InvalidBars(f"{source} row {rows[i]}: Date {dates[i]} is in the future (today is {latest} at "
                              "the exchange)")
    if len(dates) and (dates < MIN_DATE).any():
        i = (dates < MIN_DATE).argmax()
        raise InvalidBars(f"{source} row {rows[i]}: Date {dates[i]} is before {str(MIN_DATE)[:4]}: no daily price "
                          "history starts that early (a wrong date format?)")
    names = ("Open", "High", "Low", "Close", "Adj Close", "Volume")
    for name, column in zip(names, values, strict=True):
        bad = ~np.isfinite(column)
        if bad.any():
            raise InvalidBars(f"{source} row {rows[bad.argmax()]}: {name} is not a finite number")
        limit_ok = column >= 0 if name == "Volume" else column > 0
        if not limit_ok.all():
            i = (~limit_ok).argmax()
            need = "not be negative" if name == "Volume" else "be positive"
            raise InvalidBars(f"{source} row {rows[i]}: {name} must {need}, got {_number(column[i])}")
        if name != "Volume" and (column > MAX_PRICE).any():
            i = (column > MAX_PRICE).argmax()
            raise InvalidBars(f"{source} row {rows[i]}: {name} {_number(column[i])} cannot be a price (above "
                              f"{MAX_PRICE:.0e})")
    open_, high, low, close = values[:4]
    high_below_low = high < low
    if high_below_low.any():
        i = high_below_low.argmax()
        raise InvalidBars(f"{source} row {rows[i]}: High {_number(high[i])} is below Low {_number(low[i])}")
    for name, column in (("Open", open_), ("Close", close)):
        outside = (column > high * (1 + OHLC_TOLERANCE)) | (column < low * (1 - OHLC_TOLERANCE))
        if outside.any():
            i = outside.argmax()
            raise InvalidBars(f"{source} row {rows[i]}: {name} {_number(column[i])} is outside the day's range "
                              f"[Low {_number(low[i])}, High {_number(high[i])}]")
    order = np.argsort(dates, kind="stable")
    dates, rows = dates[order], rows[order]
    values = [c[order] for c in values]
    _check_log_prices(dates, values, rows, source)
    if len(dates) > 1:
        same = np.flatnonzero(dates[1:] == dates[:-1])
        keep = np.ones(len(dates), dtype=bool)
        for i in same:
            if any(c[i] != c[i + 1] for c in values):
                first, second = sorted((int(rows[i]), int(rows[i + 1])))
                raise InvalidBars(
                    f"{source} rows {first} and {second}: date {dates[i]} appears twice with different values"
                )
            keep[i + 1] = False
        dates = dates[keep]
        values = [c[keep] for c in values]
    return Bars(dates, *values)


def _check_log_prices(dates, values, rows, source: str) -> None:
    """InvalidBars unless everything the models take the log of is a positive finite number: Open, High and Low on
    the adjusted basis (times Adj Close / Close) and every log return of Adj Close (rows sorted by date)."""
    with np.errstate(all="ignore"):
        open_, high, low, close, adjusted = values[:5]
        factor = adjusted / close
        logs = [np.log(column) for column in (open_ * factor, high * factor, low * factor, adjusted)]
    bad = ~np.logical_and.reduce([np.isfinite(column) for column in logs])  # finite logs: finite log returns too
    if bad.any():
        i = int(bad.argmax())
        raise InvalidBars(f"{source} row {rows[i]}: the prices of {dates[i]} are out of any usable range (their log "
                          "or log return is not a finite number)")


def large_moves(bars: Bars, dates=None) -> list[tuple[str, float, float]]:
    """The days on which the adjusted close moved by more than MAX_DAILY_FACTOR up or down: (date, previous close,
    close). With `dates`, only the moves into or out of those dates (the rows just added or changed)."""
    if len(bars) < 2:
        return []
    ratio = bars.adj_close[1:] / bars.adj_close[:-1]
    large = (ratio > MAX_DAILY_FACTOR) | (ratio < 1 / MAX_DAILY_FACTOR)
    if dates is not None:
        touched = np.isin(bars.dates, np.asarray(dates, dtype="datetime64[D]"))
        large &= touched[1:] | touched[:-1]
    return [(str(bars.dates[i + 1]), float(bars.adj_close[i]), float(bars.adj_close[i + 1]))
            for i in np.flatnonzero(large)]


def parse_csv(text: str, source: str, latest=None) -> Bars:
    """Parse and validate CSV text with the columns of `COLUMNS` (any order, extra columns ignored).

    Raises InvalidBars naming `source` and the file row (the header is row 1) of the first problem; `latest` as in
    `bars_from_columns`.
    """
    if not text.strip():
        raise InvalidBars(f"{source} is empty")
    fast = _parse_canonical(text, source, latest)
    if fast is not None:
        return fast
    if "\x00" in text:
        raise InvalidBars(f"{source} is not a CSV file (it contains binary data)")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except csv.Error as error:
        raise InvalidBars(f"{source} is not a CSV file ({error})") from None
    index = {name.strip().lower(): i for i, name in enumerate(header)}
    if len(header) < 2:
        raise InvalidBars(f"{source} is not a CSV file (no comma-separated header; expected {','.join(COLUMNS)})")
    _check_columns_once(header, source)
    missing = [name for name in REQUIRED_COLUMNS if name.lower() not in index]
    if missing:
        raise InvalidBars(f"{source}: missing column(s) {', '.join(missing)} (expected {','.join(COLUMNS)})")
    adj_index = index.get("adj close")
    wanted = [index[name.lower()] for name in REQUIRED_COLUMNS]
    dates, rows = [], []
    numbers: list[list[float]] = [[] for _ in range(6)]  # Open High Low Close AdjClose Volume
    try:
        for line_number, record in enumerate(reader, start=2):
            if not record or all(not field.strip() for field in record):
                continue
            if len(record) != len(header):
                raise InvalidBars(
                    f"{source} row {line_number}: expected {len(header)} fields, found {len(record)}"
                )
            fields = [record[i].strip() for i in wanted]
            dates.append(_parse_date(fields[0], source, line_number))
            for slot, name, field in zip((0, 1, 2, 3, 5), REQUIRED_COLUMNS[1:], fields[1:], strict=True):
                numbers[slot].append(_parse_number(field, name, source, line_number))
            if adj_index is None:
                numbers[4].append(numbers[3][-1])
            else:
                numbers[4].append(_parse_number(record[adj_index].strip(), "Adj Close", source, line_number))
            rows.append(line_number)
    except csv.Error as error:
        raise InvalidBars(f"{source} is not a CSV file ({error})") from None
    if not dates:
        raise InvalidBars(f"{source} has a header but no rows")
    return bars_from_columns(dates, *numbers, source=source, rows=rows, latest=latest)


def _check_columns_once(header: list[str], source: str) -> None:
    """InvalidBars naming the column when one of COLUMNS is in the header more than once, in any case (two Close
    columns): which one holds the prices is anyone's guess, so neither is read."""
    repeated = repeated_column(header, COLUMNS)
    if repeated:
        raise InvalidBars(f"{source}: {repeated_column_message(repeated)}")


def _parse_canonical(text: str, source: str, latest) -> Bars | None:
    """The bars of a file in exactly `format_csv`'s layout (what the store writes), parsed in C by numpy: five
    times faster than row by row, which `predict` over hundreds of tickers feels. None for anything else, or
    anything invalid, so that the row-by-row parser handles it and names the row."""
    header = ",".join(COLUMNS) + "\n"
    if not text.startswith(header):
        return None
    body = text[len(header):]
    if not body.strip():
        return None
    try:
        numbers = np.loadtxt(io.StringIO(body), delimiter=",", usecols=range(1, 7), dtype=np.float64, ndmin=2)
        dates = np.array([line[:10] for line in body.splitlines()], dtype="datetime64[D]")
        if len(dates) != len(numbers) or not len(dates):
            return None
        return bars_from_columns(dates, *numbers.T, source=source, latest=latest)
    except (ValueError, InvalidBars):
        return None


def read_csv(path: Path, latest=None) -> Bars:
    """Read and validate a CSV file of bars (see `parse_csv`); a FIFO or device is refused, never read."""
    raw = read_input_file(Path(path), "a CSV file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidBars(f"{path} is not a CSV file (not UTF-8 text)") from None
    return parse_csv(text, str(path), latest)


def format_csv(bars: Bars) -> str:
    """The canonical file text for `bars` (lossless: `parse_csv(format_csv(b))` equals `b`)."""
    out = io.StringIO()
    out.write(",".join(COLUMNS) + "\n")
    prices = zip(bars.open.tolist(), bars.high.tolist(), bars.low.tolist(), bars.close.tolist(),
                 bars.adj_close.tolist(), strict=True)
    for date, price_row, volume in zip(bars.dates.astype(str), prices, bars.volume.tolist(), strict=True):
        out.write(f"{date},{','.join(map(repr, price_row))},{_number(volume)}\n")
    return out.getvalue()


def merge(stored: Bars, incoming: Bars) -> tuple[Bars, int, int]:
    """Merge `incoming` into `stored`; incoming rows win on dates present in both (revised bars).

    Returns (merged bars, rows added, rows changed).
    """
    if not len(stored):
        return incoming, len(incoming), 0
    overlap = np.isin(stored.dates, incoming.dates)
    kept = stored.take(~overlap)
    dates = np.concatenate([kept.dates, incoming.dates])
    order = np.argsort(dates, kind="stable")
    merged = Bars(*(np.concatenate([a, b])[order] for a, b in zip(kept.columns(), incoming.columns(), strict=True)))
    replaced = stored.take(overlap)
    replaced_in_incoming = incoming.take(np.isin(incoming.dates, replaced.dates))
    changed = sum(
        1 for i in range(len(replaced))
        if any(a[i] != b[i] for a, b in zip(replaced.columns()[1:], replaced_in_incoming.columns()[1:], strict=True))
    )
    return merged, len(incoming) - int(overlap.sum()), changed


def _parse_date(field: str, source: str, row: int) -> np.datetime64:
    text = field[:10] if len(field) > 10 and field[10] in " T" else field
    try:
        if len(text) != 10:
            raise ValueError
        return np.datetime64(text, "D")
    except ValueError:
        raise InvalidBars(f"{source} row {row}: bad Date {field!r} (expected YYYY-MM-DD)") from None


def _parse_number(field: str, name: str, source: str, row: int) -> float:
    try:
        value = float(field)
    except ValueError:
        raise InvalidBars(f"{source} row {row}: bad {name} {field!r} (not a number)") from None
    if not math.isfinite(value):
        raise InvalidBars(f"{source} row {row}: bad {name} {field!r} (not a finite number)")
    return value


def _number(value: float) -> str:
    """A float as written in files and messages: integers without '.0' (up to 1e16; beyond, 1e+308)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else repr(float(value))
