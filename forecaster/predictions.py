"""The track record: every forecast `predict` makes, in `data/predictions.csv`.

Columns: ticker, as_of (last data date), date (forecast session), horizon (1..N), forecast, lower, upper,
last_close (the adjusted close at as_of that the forecast started from), created_at.
A new forecast for the same (ticker, as_of, date) replaces the earlier row. Appends read, merge and atomically
rewrite the file under the 'predictions' lock, so concurrent cron jobs never lose or duplicate rows.
"""

from __future__ import annotations

import csv
import io

from forecaster.errors import CorruptFile
from forecaster.store import Store, atomic_write_text, read_stored_text, utc_now

COLUMNS = ("ticker", "as_of", "date", "horizon", "forecast", "lower", "upper", "last_close",
           "created_at")
NUMBERS = ("forecast", "lower", "upper", "last_close")
KEY = ("ticker", "as_of", "date")


def read_predictions(store: Store) -> list[dict]:
    """All logged forecasts (numbers as floats, horizon as int), in file order; [] if there is no log yet."""
    path = store.predictions_path
    advice = "fix it or move it away (forecast then starts a new log)"
    try:
        text = read_stored_text(path, advice)
    except FileNotFoundError:
        return []
    if "\x00" in text:
        raise CorruptFile(f"{path} is damaged: it contains binary data; {advice}")
    reader = csv.DictReader(io.StringIO(text))
    try:
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CorruptFile(f"{path}: missing column(s) {', '.join(missing)}; {advice}")
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                rows.append({**row, "horizon": int(row["horizon"]), **{k: float(row[k]) for k in NUMBERS}})
            except (TypeError, ValueError):
                raise CorruptFile(f"{path} row {line}: bad number; fix or delete that row") from None
    except csv.Error as error:
        raise CorruptFile(f"{path} is damaged: not a CSV file ({error}); {advice}") from None
    return rows


def record_predictions(store: Store, rows: list[dict]) -> list[dict]:
    """Add forecasts to the log, replacing earlier rows with the same (ticker, as_of, date). Returns the new log."""
    created = utc_now()
    with store.lock("predictions"):
        merged = {tuple(row[k] for k in KEY): row for row in read_predictions(store)}
        for row in rows:
            merged[tuple(str(row[k]) for k in KEY)] = {**row, "created_at": created}
        ordered = sorted(merged.values(), key=lambda r: (r["ticker"], r["as_of"], r["date"]))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in ordered:
            writer.writerow({**row, **{k: repr(float(row[k])) for k in NUMBERS}})
        atomic_write_text(store.predictions_path, out.getvalue())
    return ordered
