"""The track record: every forecast `predict` makes, in `data/predictions.csv`.

Columns: ticker, as_of (last data date), date (forecast session), horizon (1..N), forecast, lower, upper, level
(of the interval [lower, upper]), last_close (the adjusted close at as_of that the forecast started from),
created_at. Logs written before the level was recorded have no level column: their forecasts were made at 0.90.
A new forecast for the same (ticker, as_of, date, level) replaces the earlier row; one at another level is logged
beside it (a one-off `predict --level 0.98` keeps the cron job's 90% band: forecaster.risk.track scores one band per
key, at the level asked for). Appends read, merge and atomically rewrite the file under the 'predictions' lock, so
concurrent cron jobs never lose or duplicate rows.

An empty file is an empty log. A row that no forecast can have written — one cut short (fewer fields than the
header: a value missing), a ticker not written as forecast writes symbols (`ko` for KO), a date that is not
YYYY-MM-DD, a number that is not positive and finite, a horizon below 1, a lower bound above the upper one, another
forecast for the key of an earlier row made at the same time (which one counts?) — makes the log damaged
(exit 3, the row and the column named), whichever command reads it. Of two rows with one key made at different
times (logs joined by hand), the later made counts, here as in forecaster.risk.track.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import math

from forecaster.data.files import repeated_column, repeated_column_message
from forecaster.data.store import Store, atomic_write_text, normalize_ticker, read_stored_text, utc_now
from forecaster.errors import CorruptFile, UsageError

COLUMNS = ("ticker", "as_of", "date", "horizon", "forecast", "lower", "upper", "level", "last_close",
           "created_at")
NUMBERS = ("forecast", "lower", "upper", "level", "last_close")
PRICES = ("forecast", "lower", "upper", "last_close")
KEY = ("ticker", "as_of", "date", "level")  # one logged band per key


def key_of(row: dict) -> tuple:
    """A row's KEY, the level as a number (a row read back, one being logged and a log without levels agree)."""
    return row["ticker"], str(row["as_of"]), str(row["date"]), round(float(row["level"]), 9)
UNRECORDED_LEVEL = 0.90  # the level of forecasts logged without one (older logs, rows given without a level)


def read_predictions(store: Store) -> list[dict]:
    """All logged forecasts (numbers as floats, horizon as int), in file order; [] if there is no log yet. A log
    without a level column (written before there was one) reads as level 0.90."""
    path = store.predictions_path
    advice = "fix it or move it away (forecast then starts a new log)"
    try:
        text = read_stored_text(path, advice)
    except FileNotFoundError:
        return []
    if not text.strip():  # an empty file (created, or emptied, by hand) holds no forecasts: an empty log
        return []
    if "\x00" in text:
        raise CorruptFile(f"{path} is damaged: it contains binary data; {advice}")
    reader = csv.DictReader(io.StringIO(text))
    try:
        columns = reader.fieldnames or []
        repeated = repeated_column(columns, COLUMNS)
        if repeated:
            raise CorruptFile(f"{path}: {repeated_column_message(repeated)}; {advice}")
        missing = [c for c in COLUMNS if c not in columns and c != "level"]
        if missing:
            raise CorruptFile(f"{path}: missing column(s) {', '.join(missing)}; {advice}")
        unrecorded = {} if "level" in columns else {"level": UNRECORDED_LEVEL}
        rows = []
        dates: set[str] = set()  # the dates already found valid (a log repeats a few hundred of them)
        made: dict[tuple, tuple[int, dict]] = {}  # (key, created_at) -> its first row and that row
        for line, row in enumerate(reader, start=2):
            cut = [column for column in columns if row[column] is None]  # csv's value for a field the row lacks
            if cut:
                raise CorruptFile(f"{path} row {line}: {cut[0]} is missing: the row has {len(columns) - len(cut)} of "
                                  f"the {len(columns)} fields (cut short?); fix or delete that row")
            row.update(unrecorded)
            rows.append(_parsed(row, f"{path} row {line}", dates))
            key = (*key_of(rows[-1]), row["created_at"])
            if key in made and made[key][1] != row:  # which one counts? neither is later
                shown = ", ".join(f"{value:g}" if isinstance(value, float) else value for value in key[:-1])
                raise CorruptFile(f"{path} row {line}: another forecast for the same {', '.join(KEY)} as row "
                                  f"{made[key][0]} ({shown}), made at the same time ({key[-1]}); "
                                  "forecast writes one: delete the wrong one")
            made.setdefault(key, (line, row))
    except csv.Error as error:
        raise CorruptFile(f"{path} is damaged: not a CSV file ({error}); {advice}") from None
    return rows


def _parsed(row: dict, where: str, dates: set[str]) -> dict:
    """A log row with its numbers parsed and checked; CorruptFile naming `where` (file and row), the column and the
    value otherwise."""
    fix = "fix or delete that row"
    ticker = row["ticker"]
    canonical = _symbol(ticker) if isinstance(ticker, str) else None
    if canonical != ticker:  # forecast writes each symbol one way: 'ko' beside 'KO' would be another ticker
        written = f" (forecast writes {canonical})" if canonical else ""
        raise CorruptFile(f"{where}: ticker {ticker!r} is not a ticker symbol as forecast writes it{written}; {fix}")
    parsed = dict(row)
    for key in ("horizon", *NUMBERS):
        text = row[key]
        try:
            parsed[key] = int(text) if key == "horizon" else float(text)
        except (TypeError, ValueError):
            kind = "a whole number" if key == "horizon" else "a number"
            raise CorruptFile(f"{where}: bad {key} {text!r} (not {kind}); {fix}") from None
    if parsed["horizon"] < 1:
        raise CorruptFile(f"{where}: horizon must be 1 or more (sessions ahead), got {row['horizon']}; {fix}")
    for key in PRICES:
        if not (math.isfinite(parsed[key]) and parsed[key] > 0):
            raise CorruptFile(f"{where}: {key} must be a positive finite number, got {row[key]}; {fix}")
    if not 0.0 < parsed["level"] < 1.0:  # also false for NaN
        raise CorruptFile(f"{where}: level {row['level']} is not between 0 and 1; {fix}")
    for key in ("as_of", "date"):
        text = row[key]
        if text not in dates:
            if not _is_date(text):
                raise CorruptFile(f"{where}: bad date {text!r} in {key} (expected YYYY-MM-DD); {fix}")
            dates.add(text)
    if parsed["lower"] > parsed["upper"]:
        raise CorruptFile(f"{where}: lower {row['lower']} is above upper {row['upper']}; {fix}")
    return parsed


@functools.lru_cache(maxsize=4096)
def _symbol(ticker: str) -> str | None:
    """The symbol as forecast writes it (normalize_ticker), or None; cached: a log names a few tickers many times."""
    try:
        return normalize_ticker(ticker)
    except UsageError:
        return None


def _is_date(text) -> bool:
    if not isinstance(text, str) or len(text) != 10 or text[4] != "-" or text[7] != "-":
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def record_predictions(store: Store, rows: list[dict]) -> list[dict]:
    """Add forecasts to the log, replacing earlier rows with the same (ticker, as_of, date, level); a row without a
    `level` is at 0.90. Returns the new log."""
    created = utc_now()
    with store.lock("predictions"):
        logged = sorted(read_predictions(store), key=lambda row: row["created_at"])  # stable: file order for ties
        merged = {key_of(row): row for row in logged}  # of two rows with one key, the later made
        for row in rows:
            new = {"level": UNRECORDED_LEVEL, **row, "created_at": created}
            merged[key_of(new)] = new
        ordered = sorted(merged.values(), key=lambda r: key_of(r))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in ordered:
            writer.writerow({**row, **{k: repr(float(row[k])) for k in NUMBERS}})
        atomic_write_text(store.predictions_path, out.getvalue())
    return ordered
