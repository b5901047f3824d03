"""What the store holds, for `forecast list`, and taking tickers out of it, for `forecast remove`.

One row per stored ticker, typed for JSON: `source` is where its data came from as data/TICKER.json records it
("yahoo", "csv:FILE NAME", "sample"; null when unknown, "unreadable" when that file is damaged), `data` is "ok" or
"unreadable", and `model` is null when the ticker has no model, the model serving it otherwise ("pooled",
"per-ticker" or "shipped <date>": Model.label), or "unreadable" for a damaged one; `trained_at` when the ticker was
trained or calibrated (its section's `training.calibrated_at`; the model's `created_at` for models written before
that was recorded) and `model_until` the last date of the ticker's data it was trained or calibrated on.
"""

from __future__ import annotations

from forecaster.data.store import Store, stored_exists
from forecaster.errors import CorruptFile, DataUnavailable, ForecastError
from forecaster.model.guards import check_built


def inventory(store: Store) -> tuple[list[dict], list[CorruptFile]]:
    """(one row per stored ticker (see the module docstring), the damaged data/TICKER.json files, for the caller to
    name); each model's metadata is read once for its rows, however many tickers it serves."""
    from forecaster.model.calibration import TickerCalibration
    from forecaster.model.serving import POOL, label_of, model_kinds

    kinds = model_kinds(store)
    metas: dict[str, dict | None] = {}
    rows, damaged = [], []
    for ticker in store.tickers():
        try:
            info = store.fetch_info(ticker)
        except CorruptFile as error:
            info = {"source": "unreadable"}
            damaged.append(error)
        row = {"ticker": ticker, "source": info.get("source"), "data": "ok", "rows": None, "first_date": None,
               "last_date": None, "fetched_at": info.get("fetched_at"), "model": kinds.get(ticker),
               "trained_at": None, "model_until": None}
        try:
            bars = store.read_bars(ticker)
            row.update(rows=len(bars), first_date=bars.first_date, last_date=bars.last_date)
        except ForecastError:
            row["data"] = "unreadable"
        if row["model"] is not None:
            folder = POOL if row["model"] == "pooled" else ticker
            if folder not in metas:
                metas[folder] = _meta(store, folder)
            try:
                meta = metas[folder]
                section = meta["tickers"][ticker]
                row.update(trained_at=section["training"].get("calibrated_at") or meta["created_at"],
                           model=label_of(meta), model_until=TickerCalibration.from_json(section).last_date)
            except (KeyError, TypeError):
                row["model"] = "unreadable"
        rows.append(row)
    return rows, damaged


def _meta(store: Store, folder: str) -> dict | None:
    """A model's metadata if it is sound (model.serving.read_meta, and the kind its folder holds: guards.check_built),
    else None; its weights are not read."""
    from forecaster.model.serving import POOL, read_meta

    try:
        path = store.models_dir / folder / "meta.json"
        meta = read_meta(path, "", folder)
        check_built(meta, path, "", window=None, pooled=folder == POOL)  # the kind its folder holds
        return meta
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ForecastError):
        return None


def stored_among(store: Store, names: list[str]) -> tuple[list[str], list[tuple[str, ForecastError]]]:
    """(the tickers of `names` with data, a model or a place in the pool; a failure for each of the others)."""
    from forecaster.model.serving import model_kinds

    served = model_kinds(store)
    stored = [t for t in names if store.has_bars(t) or _model_folder_there(store, t) or t in served]
    return stored, [(t, DataUnavailable(f"nothing stored for {t} in {store.home}")) for t in names if t not in stored]


def _model_folder_there(store: Store, ticker: str) -> bool:
    """Whether `ticker` has a folder under models/, or may have one (models/ cannot be searched: removing it then
    says why it cannot)."""
    try:
        return stored_exists(store.model_dir(ticker))
    except CorruptFile:
        return True


def remove_ticker(store: Store, ticker: str) -> str:
    """Delete a ticker's data, fetch information and model, and take it out of the pool first (Store.remove);
    returns what was done, in words: what happened to the pool, and the paths removed (empty: nothing)."""
    from forecaster.model.serving import POOL, drop_from_pool

    pool: list[str | None] = []
    removed = store.remove(ticker, first=lambda: pool.append(drop_from_pool(store, ticker, locked=True)),
                           holding=POOL)
    done = [change for change in pool if change]
    if removed:
        done.append("removed " + ", ".join(str(path.relative_to(store.home)) for path in removed))
    return "; ".join(done)
