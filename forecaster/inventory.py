"""What the store holds, for `forecast list`."""

from __future__ import annotations

import json

from forecaster.errors import ForecastError
from forecaster.store import Store


def inventory(store: Store) -> list[dict]:
    """One row per stored ticker: rows, first/last date, fetched_at, and the model serving it: its kind
    ("per-ticker" or "pooled", None without one, "unreadable" for a damaged one), when it was trained and the last
    date of the data it was trained or calibrated on."""
    from forecaster.model import POOL, model_kinds

    kinds = model_kinds(store)
    metas: dict[str, dict | None] = {}
    rows = []
    for ticker in store.tickers():
        row = {"ticker": ticker, "rows": None, "first_date": None, "last_date": None,
               "fetched_at": store.fetch_info(ticker).get("fetched_at"),
               "model": kinds.get(ticker), "trained_at": None, "model_until": None}
        try:
            bars = store.read_bars(ticker)
            row.update(rows=len(bars), first_date=bars.first_date, last_date=bars.last_date)
        except ForecastError:
            row["first_date"] = "unreadable"
        if row["model"] is not None:
            folder = POOL if row["model"] == "pooled" else ticker
            if folder not in metas:
                try:
                    metas[folder] = json.loads((store.models_dir / folder / "meta.json").read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    metas[folder] = None
            try:
                meta = metas[folder]
                row.update(trained_at=meta["created_at"], model_until=meta["tickers"][ticker]["training"]["last_date"])
            except (KeyError, TypeError):
                row["model"] = "unreadable"
        rows.append(row)
    return rows
