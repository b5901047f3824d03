"""What the store holds, for `forecast list`."""

from __future__ import annotations

import json

from forecaster.errors import ForecastError
from forecaster.store import Store


def inventory(store: Store) -> list[dict]:
    """One row per stored ticker: rows, first/last date, fetched_at, and its model's training date if any."""
    rows = []
    for ticker in store.tickers():
        row = {"ticker": ticker, "rows": None, "first_date": None, "last_date": None,
               "fetched_at": store.fetch_info(ticker).get("fetched_at"),
               "model": "no", "trained_at": None, "model_until": None}
        try:
            bars = store.read_bars(ticker)
            row.update(rows=len(bars), first_date=bars.first_date, last_date=bars.last_date)
        except ForecastError:
            row["first_date"] = "unreadable"
        meta_path = store.model_dir(ticker) / "meta.json"
        if meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text())
                row.update(model="yes", trained_at=meta["created_at"], model_until=meta["training"]["last_date"])
            except (OSError, ValueError, KeyError, TypeError):
                row["model"] = "unreadable"
        rows.append(row)
    return rows
