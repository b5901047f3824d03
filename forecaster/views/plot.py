"""`forecast plot`: recent prices, the next days' forecast with its interval, past forecasts, an evaluation.

The evaluation panel draws a `forecast evaluate --predictions` file: the actual prices, the model's forecasts with
their interval at the level the file was made at (its `level` column; where the model adds its value), and the naive
forecast, labelled by how far ahead it was made (the file's `horizon` column; for older files without it, the horizon
whose closes the naive column repeats).

matplotlib is imported here only, with the non-interactive Agg backend, so it works headless and in cron.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from forecaster.data.bars import Bars
from forecaster.data.files import read_input_file, repeated_column, repeated_column_message
from forecaster.data.store import Store, atomic_write_bytes, normalize_ticker
from forecaster.errors import ModelMissing, UsageError

FIGURE_INCHES = (11, 6)
DPI = 100
MAX_LAST = 20_000  # trading days shown: about 80 years
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".jpg": "jpeg", ".jpeg": "jpeg", ".eps": "eps"}


def plot_ticker(store: Store, ticker: str, *, out: Path | None, last: int, days: int,
                evaluation: Path | None, level: float = 0.90) -> Path:
    """Draw TICKER's figure (see `render`) from the store and write it to `out` (default ./TICKER.png)."""
    from forecaster.data.prediction_log import read_predictions
    from forecaster.model.serving import check_level
    from forecaster.pipeline import check_days, forecast_tickers
    from forecaster.risk.track import resolved

    ticker = normalize_ticker(ticker)
    if not 2 <= last <= MAX_LAST:
        raise UsageError(f"--last must be between 2 and {MAX_LAST}, got {last}")
    check_days(days)
    check_level(level)
    path = output_path(store, out if out is not None else Path.cwd() / f"{ticker}.png")
    bars = store.read_bars(ticker)
    evaluation_rows = read_evaluation(evaluation) if evaluation is not None else None
    if evaluation_rows is not None:
        check_evaluation_is_of(evaluation, evaluation_rows, ticker, bars)
    predictions, failures = forecast_tickers(store, [ticker], days, level)
    if failures and not isinstance(failures[0][1], ModelMissing):  # no model serving it: a picture without a band
        raise failures[0][1]
    forecast_rows = predictions[0].rows if predictions else None
    first_shown = str(bars.dates[-min(last, len(bars))])
    logged = [r for r in resolved(ticker, read_predictions(store), bars, level=level) if r["date"] >= first_shown]
    atomic_write_bytes(path, render(ticker, bars, last=last, forecast_rows=forecast_rows, logged=logged,
                                    evaluation=evaluation_rows, file_format=FORMATS[path.suffix.lower()]))
    return path


def output_path(store: Store, out: Path) -> Path:
    """`out`, checked before any work: a file (Store.check_output: in a folder that exists, outside the store's
    folders) with a known picture suffix."""
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name such as {out / 'chart.png'}")
    path = store.check_output(out)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"--out {out}: unknown picture format {out.suffix or '(no suffix)'!r}; use one of "
                         f"{', '.join(FORMATS)}")
    return path


def render(ticker: str, bars: Bars, *, last: int, forecast_rows: list[dict] | None, logged: list[dict],
           evaluation: list[dict] | None, file_format: str = "png") -> bytes:
    """The figure (`draw`) as bytes of `file_format` (one of FORMATS' values)."""
    import matplotlib.pyplot as plt

    figure = draw(ticker, bars, last=last, forecast_rows=forecast_rows, logged=logged, evaluation=evaluation)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=file_format, dpi=DPI)
    plt.close(figure)
    return buffer.getvalue()


def draw(ticker: str, bars: Bars, *, last: int, forecast_rows: list[dict] | None, logged: list[dict],
         evaluation: list[dict] | None):
    """The matplotlib figure, laid out (the caller closes it).

    forecast_rows: the model's next sessions (date, forecast, lower, upper) or None without a model; logged: past
    predictions with date <= the last bar, already restated (date, forecast); evaluation: walk-forward rows
    (date, actual, model, naive, and lower, upper, level and horizon where the file has them) or None.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    panels = 2 if evaluation else 1
    figure, axes = plt.subplots(panels, 1, figsize=(FIGURE_INCHES[0], FIGURE_INCHES[1] * (1 if panels == 1 else 1.6)),
                                squeeze=False)
    top = axes[0][0]
    recent = bars.take(slice(-last, None))
    dates = recent.dates.astype("datetime64[D]").astype(object)
    top.plot(dates, recent.adj_close, color="black", linewidth=1.3, label="adjusted close")
    if logged:
        top.scatter([_day(r["date"]) for r in logged], [r["forecast"] for r in logged], s=14, color="tab:orange",
                    zorder=3, label=f"past forecasts ({len(logged)})")
    if forecast_rows:
        days = [_day(dates[-1].isoformat())] + [_day(r["date"]) for r in forecast_rows]
        last_close = float(recent.adj_close[-1])
        centre = [last_close] + [r["forecast"] for r in forecast_rows]
        top.fill_between(days, [last_close] + [r["lower"] for r in forecast_rows],
                         [last_close] + [r["upper"] for r in forecast_rows], color="tab:blue", alpha=0.2,
                         label=f"{100 * forecast_rows[0]['level']:g}% interval")
        top.plot(days, centre, color="tab:blue", linewidth=1.8, marker="o", markersize=3,
                 label=f"forecast, next {len(forecast_rows)} sessions")
    title = f"{ticker}: last {len(recent)} sessions to {recent.last_date}"
    top.set_title(title if forecast_rows else title + " (no model: run 'forecast train')")
    top.set_ylabel("adjusted close")
    _dated_axis(top, mdates)
    top.legend(loc="upper left")
    top.grid(alpha=0.3)

    if evaluation:
        bottom = axes[1][0]
        days = [_day(r["date"]) for r in evaluation]
        actual = np.array([r["actual"] for r in evaluation])
        banded = all("lower" in r for r in evaluation)
        interval = interval_label(evaluation[0].get("level"))
        if banded:
            bottom.fill_between(days, [r["lower"] for r in evaluation], [r["upper"] for r in evaluation],
                                color="tab:blue", alpha=0.15, label=f"model's {interval}")
        bottom.plot(days, actual, color="black", linewidth=1.0, label="actual")
        bottom.plot(days, [r["naive"] for r in evaluation], color="tab:gray", linewidth=0.9, linestyle="--",
                    label=naive_label(evaluation[0].get("horizon")))
        bottom.plot(days, [r["model"] for r in evaluation], color="tab:blue", linewidth=0.9, label="model")
        ratio = _rmse([r["model"] for r in evaluation], actual) / _rmse([r["naive"] for r in evaluation], actual)
        held = np.mean([r["lower"] <= r["actual"] <= r["upper"] for r in evaluation]) if banded else None
        coverage = f"; its {interval} holds {held:.0%} of the prices" if banded else ""
        bottom.set_title(f"Walk-forward evaluation, {len(evaluation)} days from {evaluation[0]['date']}\n"
                         f"model RMSE = {ratio:.4f} x naive{coverage}")  # two lines: one is wider than the figure
        bottom.set_ylabel("adjusted close")
        _dated_axis(bottom, mdates)
        bottom.legend(loc="upper left")
        bottom.grid(alpha=0.3)

    figure.tight_layout()
    return figure


def interval_label(level: float | None) -> str:
    """The evaluation's interval, named by the level its file was made at ("90% interval"; "interval" for a file
    without a level column)."""
    return f"{100 * level:g}% interval" if level is not None else "interval"


def naive_label(horizon: int | None) -> str:
    """What the naive line of an evaluation `horizon` sessions ahead is: the close it was made from."""
    if horizon == 1:
        return "naive (previous close)"
    if horizon:
        return f"naive (close {horizon} sessions earlier)"
    return "naive (no change)"


def read_evaluation(path: Path) -> list[dict]:
    """Rows of a `forecast evaluate --predictions` file: date, actual, model, naive (floats), lower, upper and level
    when the file has them, horizon (sessions ahead: the file's column, else inferred; None if unknown), and ticker
    (upper-case) when it has a ticker column. A header naming a column twice, or rows of several horizons, are
    refused (UsageError naming the file)."""
    from forecaster.risk.evaluate import PREDICTION_COLUMNS

    try:
        text = read_input_file(Path(path), "an evaluation file").decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not a 'forecast evaluate --predictions' file (not UTF-8 text)") from None
    reader = csv.DictReader(io.StringIO(text))
    needed = {"date", "actual", "model", "naive"}
    repeated = repeated_column(reader.fieldnames or [], PREDICTION_COLUMNS)
    if repeated:
        raise UsageError(f"{path}: {repeated_column_message(repeated)}")
    fields = set(reader.fieldnames or [])
    if not needed <= fields:
        raise UsageError(f"{path} is not a 'forecast evaluate --predictions' file (needs columns date, actual, "
                         "model, naive)")
    numbers = ["actual", "model", "naive", *(["lower", "upper"] if {"lower", "upper"} <= fields else []),
               *(["level"] if "level" in fields else [])]
    rows = []
    for line, row in enumerate(reader, start=2):
        try:
            np.datetime64(row["date"], "D")
            values = {k: float(row[k]) for k in numbers}
            horizon = int(row["horizon"]) if row.get("horizon") else None
        except (TypeError, ValueError):
            raise UsageError(f"{path} row {line}: bad date or number") from None
        if not all(np.isfinite(list(values.values()))) or not 0 < values.get("level", 0.5) < 1:
            raise UsageError(f"{path} row {line}: bad date or number")
        rows.append({"date": row["date"], **values, "horizon": horizon,
                     **({"ticker": row["ticker"].strip().upper()} if row.get("ticker") else {})})
    if not rows:
        raise UsageError(f"{path} has no rows")
    horizons = sorted({row["horizon"] for row in rows if row["horizon"] is not None})
    if len(horizons) > 1:
        raise UsageError(f"{path} holds forecasts {', '.join(map(str, horizons))} sessions ahead; plot one: write it "
                         "with 'forecast evaluate TICKER --horizon N --predictions FILE'")
    if rows[0]["horizon"] is None:
        horizon = _repeated_horizon(rows)
        rows = [{**row, "horizon": horizon} for row in rows]
    return rows


def check_evaluation_is_of(path: Path, rows: list[dict], ticker: str, bars: Bars) -> None:
    """UsageError naming the file when the evaluation `rows` (read_evaluation) are not `ticker`'s: another symbol in
    their ticker column, or, without one, actual prices that are not the ticker's stored closes on their dates, by
    the rule that tells a re-adjusted history from another series (data.updates.rewritten_moves; a dividend since
    the file was written leaves it the ticker's). A file of one stored date cannot be told apart and is taken."""
    from forecaster.data.updates import CONFLICT_MIN_DAYS, CONFLICT_TOLERANCE, move_changes, rewritten_moves

    named = sorted({row["ticker"] for row in rows if row.get("ticker")})
    if named:
        if named != [ticker]:
            raise UsageError(f"--evaluation {path} is the evaluation of {', '.join(named)}, not of {ticker}: plot it "
                             f"with its ticker, or write {ticker}'s with 'forecast evaluate {ticker} --predictions'")
        return
    actual = {np.datetime64(row["date"], "D"): row["actual"] for row in rows}  # a date once, whatever its horizons
    dates = np.array(sorted(actual), dtype="datetime64[D]")
    common = dates[np.isin(dates, bars.dates)]
    if not len(common):
        raise UsageError(f"--evaluation {path} is not the evaluation of {ticker}: no close of {ticker} is stored on "
                         f"its dates ({dates[0]} to {dates[-1]})")
    stored = bars.adj_close[np.searchsorted(bars.dates, common)]
    with np.errstate(divide="ignore", invalid="ignore"):
        changes = move_changes(stored, np.array([actual[date] for date in common]))
    # a few days are too few for the rule's allowance of a revised bar or two: there, any move unlike the ticker's
    moved = rewritten_moves(changes) if len(changes) > CONFLICT_MIN_DAYS else int(np.sum(changes > CONFLICT_TOLERANCE))
    if moved:
        raise UsageError(f"--evaluation {path} is not the evaluation of {ticker}: its actual prices move unlike "
                         f"{ticker}'s stored closes on {moved} of {len(common) - 1} days (another ticker's file?)")


def _repeated_horizon(rows: list[dict]) -> int | None:
    """The H for which each row's naive forecast is the actual close of the row H before (consecutive sessions), or
    None: the horizon of a file written before the horizon column."""
    from forecaster.risk.evaluate import MAX_HORIZON

    actual, naive = np.array([r["actual"] for r in rows]), np.array([r["naive"] for r in rows])
    for horizon in range(1, min(len(rows), MAX_HORIZON + 1)):
        if np.allclose(naive[horizon:], actual[:-horizon], rtol=1e-9, atol=0):
            return horizon
    return None


def _day(iso: str):
    return np.datetime64(iso, "D").astype(object)


def _dated_axis(axis, mdates) -> None:
    locator = mdates.AutoDateLocator()
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _rmse(forecast, actual) -> float:
    return float(np.sqrt(np.mean((np.asarray(forecast) - np.asarray(actual)) ** 2)))
