"""`forecast plot`: recent prices, the next days' forecast with its interval, past forecasts, an evaluation.

matplotlib is imported here only, with the non-interactive Agg backend, so it works headless and in cron.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from forecaster.bars import Bars
from forecaster.errors import UsageError
from forecaster.store import Store, atomic_write_bytes, normalize_ticker

FIGURE_INCHES = (11, 6)
DPI = 100
MAX_LAST = 20_000  # trading days shown: about 80 years
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".jpg": "jpeg", ".jpeg": "jpeg", ".eps": "eps"}


def plot_ticker(store: Store, ticker: str, *, out: Path | None, last: int, days: int,
                evaluation: Path | None, level: float = 0.90) -> Path:
    """Draw TICKER's figure (see `render`) from the store and write it to `out` (default ./TICKER.png)."""
    from forecaster.model import check_level
    from forecaster.pipeline import check_days, forecast_sessions
    from forecaster.predictions import read_predictions
    from forecaster.track import resolved

    ticker = normalize_ticker(ticker)
    if not 2 <= last <= MAX_LAST:
        raise UsageError(f"--last must be between 2 and {MAX_LAST}, got {last}")
    check_days(days)
    check_level(level)
    path = output_path(store, out if out is not None else Path.cwd() / f"{ticker}.png")
    bars = store.read_bars(ticker)
    evaluation_rows = read_evaluation(evaluation) if evaluation is not None else None
    forecast_rows = forecast_sessions(store, ticker, days, level)
    first_shown = str(bars.dates[-min(last, len(bars))])
    logged = [r for r in resolved(ticker, read_predictions(store), bars) if r["date"] >= first_shown]
    atomic_write_bytes(path, render(ticker, bars, last=last, forecast_rows=forecast_rows, logged=logged,
                                    evaluation=evaluation_rows, file_format=FORMATS[path.suffix.lower()]))
    return path


def output_path(store: Store, out: Path) -> Path:
    """`out`, checked before any work: a known picture suffix, a folder that exists, outside the store's folders."""
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name such as {out / 'chart.png'}")
    path = store.check_output(out)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"--out {out}: unknown picture format {out.suffix or '(no suffix)'!r}; use one of "
                         f"{', '.join(FORMATS)}")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {out}: folder {path.parent} does not exist")
    return path


def render(ticker: str, bars: Bars, *, last: int, forecast_rows: list[dict] | None, logged: list[dict],
           evaluation: list[dict] | None, file_format: str = "png") -> bytes:
    """The figure as bytes of `file_format` (one of FORMATS' values).

    forecast_rows: the model's next sessions (date, forecast, lower, upper) or None without a model; logged: past
    predictions with date <= the last bar, already restated (date, forecast); evaluation: walk-forward rows
    (date, actual, model, naive) or None.
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
        bottom.plot(days, [r["actual"] for r in evaluation], color="black", linewidth=1.0, label="actual")
        bottom.plot(days, [r["naive"] for r in evaluation], color="tab:gray", linewidth=0.9, linestyle="--",
                    label="naive (previous close)")
        bottom.plot(days, [r["model"] for r in evaluation], color="tab:blue", linewidth=0.9, label="model")
        actual = np.array([r["actual"] for r in evaluation])
        ratio = _rmse([r["model"] for r in evaluation], actual) / _rmse([r["naive"] for r in evaluation], actual)
        bottom.set_title(f"Walk-forward evaluation, {len(evaluation)} days from {evaluation[0]['date']}: "
                         f"model RMSE = {ratio:.4f} x naive")
        bottom.set_ylabel("adjusted close")
        _dated_axis(bottom, mdates)
        bottom.legend(loc="upper left")
        bottom.grid(alpha=0.3)

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format=file_format, dpi=DPI)
    plt.close(figure)
    return buffer.getvalue()


def read_evaluation(path: Path) -> list[dict]:
    """Rows of a `forecast evaluate --predictions` file: date, actual, model, naive (floats)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read evaluation file {path}: {getattr(error, 'strerror', None) or error}") from None
    reader = csv.DictReader(io.StringIO(text))
    needed = {"date", "actual", "model", "naive"}
    if not needed <= set(reader.fieldnames or []):
        raise UsageError(f"{path} is not a 'forecast evaluate --predictions' file (needs columns date, actual, "
                         "model, naive)")
    rows = []
    for line, row in enumerate(reader, start=2):
        try:
            np.datetime64(row["date"], "D")
            rows.append({"date": row["date"], **{k: float(row[k]) for k in ("actual", "model", "naive")}})
        except (TypeError, ValueError):
            raise UsageError(f"{path} row {line}: bad date or number") from None
    if not rows:
        raise UsageError(f"{path} has no rows")
    return rows


def _day(iso: str):
    return np.datetime64(iso, "D").astype(object)


def _dated_axis(axis, mdates) -> None:
    locator = mdates.AutoDateLocator()
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _rmse(forecast, actual) -> float:
    return float(np.sqrt(np.mean((np.asarray(forecast) - np.asarray(actual)) ** 2)))
