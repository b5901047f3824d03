"""What the store holds, for `forecast list`.

One row per stored ticker, typed for JSON: `source` is where its data came from as data/TICKER.json records it
("yahoo", "csv:FILE NAME", "sample"; null when unknown), `data` is "ok" or "unreadable", and `model` is null when the
ticker has no model, the kind of model serving it otherwise (MODEL_KINDS; "per-ticker" today), or "unreadable" for
a damaged one.
"""

from __future__ import annotations

import json

from forecaster.errors import ForecastError
from forecaster.guards import check_meta
from forecaster.store import Store, read_stored_text

PER_TICKER = "per-ticker"  # a model of the ticker's own, in models/TICKER/
MODEL_KINDS = (PER_TICKER,)


def inventory(store: Store) -> list[dict]:
    """One row per stored ticker: its source, rows, first/last date, fetched_at, and its model's kind and dates."""
    rows = []
    for ticker in store.tickers():
        info = store.fetch_info(ticker)
        row = {"ticker": ticker, "source": info.get("source"), "data": "ok", "rows": None, "first_date": None,
               "last_date": None, "fetched_at": info.get("fetched_at"), "model": None, "trained_at": None,
               "model_until": None}
        try:
            bars = store.read_bars(ticker)
            row.update(rows=len(bars), first_date=bars.first_date, last_date=bars.last_date)
        except ForecastError:
            row["data"] = "unreadable"
        row.update(model_state(store, ticker))
        rows.append(row)
    return rows


def model_state(store: Store, ticker: str) -> dict:
    """{'model', 'trained_at', 'model_until'} of the ticker's model (see the module docstring)."""
    meta_path = store.model_dir(ticker) / "meta.json"
    if not (meta_path.exists() or meta_path.is_symlink()):
        return {}
    try:
        meta = json.loads(read_stored_text(meta_path, ""))
        check_meta(meta, meta_path)
        return {"model": PER_TICKER, "trained_at": meta["created_at"], "model_until": meta["training"]["last_date"]}
    except (OSError, ValueError, KeyError, TypeError, ForecastError):
        return {"model": "unreadable"}
