"""`forecast report`: one self-contained HTML page for the watchlist.

The page's data is prepared here, one `TickerView` per ticker, from what is stored — prices, models and the
prediction log; nothing is trained, fetched or logged — and `render` turns it into HTML with the Jinja2 template in
views/report_files/, inlining its stylesheet and its small sorting script: the file loads nothing from anywhere.
Jinja2 escapes every value it writes, so a ticker, a file name or an error message never becomes markup. One
ticker's failure (no model, a damaged model or price file) is listed on the page, never stops it.

Where each column of the main table comes from:

- last close and its date: the stored adjusted close (`Store.read_bars`);
- forecast, lower, upper: the next session's forecast and band, from `_forecasts` (the path `forecast predict`
  takes, without logging);
- band: (upper - lower) / last close, in %;
- volatility: the row's `volatility`, the forecast standard deviation of the next session's log return, annualised,
  in %, where the model gives one (else —), and "vs past year": the share of the ticker's last BASELINE_SESSIONS
  sessions whose RiskMetrics volatility (the EWMA σ_t of close-to-close returns, model.windows, annualised the
  same way) was below it. Not the range-based baseline: a day's high-low range misses the overnight gap, so it
  understates the close-to-close standard deviation that the forecast is of, and would rank every forecast high;
- live coverage: the share of the logged next-session forecasts whose day has come that held the close
  (`track.score_ticker`, horizon 1);
- sparkline: the last SPARK_SESSIONS closes and the next sessions' band;
- flags: stale data and a model older than its data (the warnings of `predict`), a short history (fewer than
  SHORT_HISTORY sessions stored), and a surprise: the last close fell outside the band logged for it.

The rows are written sorted (flags first, then the widest band), so the page works with scripts off. The first
MAX_DETAILED of them (the flagged tickers and the widest bands) have a sparkline and a section with a chart; the
others are one plain row each, so that a page of a whole market (8,000 tickers) stays under 5 MB. The track-record
box adds up the live record of the tickers shown (`forecast score`'s, tails included), per horizon.

Start-up is as light as `predict`'s: numpy, Jinja2 and the library's forecasting path (no pandas, scikit-learn,
matplotlib, yfinance or scipy). A page of many tickers is made in worker processes, one per core, each forecasting
its share of the tickers.
"""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from forecaster import __version__
from forecaster.data.bars import Bars
from forecaster.data.prediction_log import read_predictions
from forecaster.data.store import Store, atomic_write_text, normalize_ticker, utc_now
from forecaster.errors import ForecastError, UsageError
from forecaster.model.volatility import TRADING_DAYS
from forecaster.model.windows import build_series
from forecaster.pipeline import MARKET, OLD_MODEL, STALE_DATA, Prediction, forecast_tickers
from forecaster.risk.track import resolved, score_ticker
from forecaster.text import plural

SPARK_SESSIONS = 60  # closes in a row's sparkline
CHART_SESSIONS = 120  # closes in a ticker's detail chart
MAX_REPORT_DAYS = 60  # sessions of forecast a page shows at most: its charts, tables and file stay small
LOGGED_SESSIONS = 60  # of which the last this many show their logged bands (500 tickers' pages stay under 2 MB)
BASELINE_SESSIONS = 250  # "the ticker's own past year"
PORTFOLIO_SESSIONS = 250  # days of the portfolio's P&L against its VaR: the Basel traffic light's year
MAX_DETAILED = 300  # tickers with a sparkline, a chart and a section of their own; the rest get one plain table row
BASELINE_WARMUP = 250  # sessions before them that start the EWMA: its start weighs 0.94^250 ≈ 2e-7 by then
SHORT_HISTORY = 250  # fewer sessions stored than this is flagged as a short history
MIN_TICKERS_PER_WORKER = 50  # a worker process pays off from about this many tickers
ANNUALISED_PERCENT = 100 * math.sqrt(TRADING_DAYS)  # a daily standard deviation of log returns -> annualised, in %


def _forecasts(store: Store, tickers: list[str], days: int, level: float, today: dt.date,
               max_model_age_days: int | None = None) -> tuple[list[Prediction], list[tuple[str, ForecastError]]]:
    """The page's forecasts: its one call into the library's forecasting path (rows with `level`, `volatility`
    and the `model` serving the ticker)."""
    return forecast_tickers(store, tickers, days, level, today, max_model_age_days)


# ----------------------------------------------------------------------------------------------------- the data
@dataclass(frozen=True)
class Flag:
    kind: str  # "stale", "model", "short" or "surprise" (the page's style for it)
    label: str  # what the table shows: a word, with an arrow for a surprise
    title: str  # the full sentence, shown on hover and read by screen readers


@dataclass
class TickerView:
    """One ticker's row of the main table and its detail section."""

    ticker: str
    anchor: str  # the id of its detail section
    as_of: str  # the last stored date
    last_close: float
    history: int  # sessions stored
    forecasts: list[dict]  # the next sessions: date, horizon, forecast, lower, upper, volatility (or None)
    band: float  # next session: (upper - lower) / last close, in %
    volatility: float | None  # next session, annualised %, when the model gives it
    volatility_rank: float | None  # % of the last BASELINE_SESSIONS sessions less volatile than that
    coverage: float | None  # live coverage of its logged next-session forecasts
    scored: int  # how many of them have been scored
    model: str  # the model that serves it: "pooled" or "per-ticker"
    flags: list[Flag]
    scores: list[dict]  # the live record per horizon (track.score_ticker, with its TAIL_COLUMNS)
    sparkline: dict  # SVG paths: price, band, forecast
    chart: dict  # SVG geometry of the detail chart (see `detail_chart`)


@dataclass
class Report:
    made_at: str
    version: str
    level: float
    days: int
    data_date: str | None  # the latest last-stored date of the tickers shown
    tickers: list[TickerView]
    failures: list[tuple[str, ForecastError]]  # (ticker, why), in the order asked
    warnings: list[str]
    record: list[dict]  # the track-record box: one row per horizon
    log_error: ForecastError | None = None  # the prediction log could not be read: no track record
    portfolio: PortfolioSection | None = None  # when [portfolio] holdings are set
    portfolio_error: ForecastError | None = None  # ... and their risk could not be forecast
    failure_lines: list[tuple[str, str]] = field(init=False)

    @property
    def detailed(self) -> int:
        """How many of the first tickers (flagged, then the widest bands) have a sparkline and a chart."""
        return min(len(self.tickers), MAX_DETAILED)

    def __post_init__(self) -> None:
        self.failure_lines = [(name, error.message) for name, error in self.failures]
        if self.log_error is not None:
            self.failure_lines.append(("prediction log", self.log_error.message))
        if self.portfolio_error is not None:
            self.failure_lines.append(("portfolio", self.portfolio_error.message))


@dataclass
class PortfolioSection:
    """The holdings' risk (pipeline.PortfolioForecast), largest component VaR first, and the chart of the last
    PORTFOLIO_SESSIONS days' P&L against the VaR made the evening before (`portfolio_chart`)."""

    forecast: object
    holdings: list  # risk.portfolio.HoldingRisk
    alert: str | None
    chart: dict
    days: int
    hits: int
    expected: float


def portfolio_section(store: Store, holdings, level: float, alert_var: float | None) -> PortfolioSection:
    from forecaster.pipeline import portfolio_forecast

    forecast = portfolio_forecast(store, holdings, 1, level, path_sessions=PORTFOLIO_SESSIONS)
    dates, pnl, var = forecast.path
    return PortfolioSection(forecast, sorted(forecast.risk.holdings, key=lambda h: -h.component_var),
                            forecast.risk.alert(alert_var), portfolio_chart(dates, pnl, var), len(pnl),
                            int(np.sum(pnl < -var)), len(pnl) * (1.0 - level))


def build_report(store: Store, tickers: list[str], *, days: int, level: float, jobs: int | None = None,
                 today: dt.date | None = None, max_model_age_days: int | None = None, holdings=None,
                 var_level: float = 0.99, alert_var: float | None = None) -> Report:
    """The page's data for `tickers` (see the module docstring), in up to `jobs` worker processes (default: one per
    core) when there are enough tickers to pay for them; with `holdings`, their risk at `var_level` (when it cannot be
    forecast, the page says why, as the "portfolio" failure)."""
    if not 1 <= days <= MAX_REPORT_DAYS:
        raise UsageError(f"--days must be between 1 and {MAX_REPORT_DAYS} for a report (its charts show at most that "
                         f"many sessions ahead), got {days}")
    today = today or dt.date.today()
    tickers = list(dict.fromkeys(_canonical(ticker) for ticker in tickers))  # as the log and the views name them
    try:
        log, log_error = read_predictions(store), None
    except ForecastError as error:
        log, log_error = [], error
    by_ticker: dict[str, list[dict]] = {}
    for row in log:
        by_ticker.setdefault(row["ticker"], []).append(row)
    workers = _workers(jobs, len(tickers))
    chunks = [tickers[i::workers] for i in range(workers)]  # interleaved: the workers' shares cost alike
    arguments = [(store, chunk, days, level, today, {t: by_ticker.get(t, []) for t in chunk}, max_model_age_days)
                 for chunk in chunks]
    if workers == 1:
        parts = [ticker_views(*arguments[0])]
    else:
        context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        with context.Pool(workers, initializer=_ignore_interrupts) as pool:  # Ctrl-C: the pool is terminated
            parts = pool.starmap(ticker_views, arguments)
    order = {ticker: i for i, ticker in enumerate(tickers)}
    views = sorted((view for part in parts for view in part[0]), key=lambda v: (-len(v.flags), -v.band, v.ticker))
    failures = sorted((failure for part in parts for failure in part[1]), key=lambda failure: order[failure[0]])
    warnings = [note for _, note in sorted((note for part in parts for note in part[2]), key=lambda n: order[n[0]])]
    section, portfolio_error = None, None
    if holdings is not None:
        try:
            section = portfolio_section(store, holdings, var_level, alert_var)
        except ForecastError as error:
            portfolio_error = error
    return Report(made_at=utc_now(), version=__version__, level=level, days=days,
                  data_date=max((view.as_of for view in views), default=None), tickers=views, failures=failures,
                  warnings=warnings, record=track_record([score for view in views for score in view.scores]),
                  log_error=log_error, portfolio=section, portfolio_error=portfolio_error)


def _canonical(ticker: str) -> str:
    """The symbol as the store names it ('msft' -> 'MSFT'); a name that is no symbol stays as it is (and fails)."""
    try:
        return normalize_ticker(ticker)
    except UsageError:
        return ticker


def _workers(jobs: int | None, tickers: int) -> int:
    """Worker processes for `tickers`: `jobs` (default: the cores), fewer where a worker would get fewer than
    MIN_TICKERS_PER_WORKER (starting one costs more than it saves), and 1 (this process) for a small page."""
    most = tickers // MIN_TICKERS_PER_WORKER
    if most <= 1:
        return 1
    if jobs is None:
        from forecaster.parallel import default_jobs

        jobs = default_jobs()
    return max(1, min(jobs, most))


def _ignore_interrupts() -> None:
    """A worker leaves Ctrl-C to the parent, which terminates the pool with SIGTERM: the default action, quietly,
    not the parent's handler (forked with it), which would print a traceback from each worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)


def ticker_views(store: Store, tickers: list[str], days: int, level: float, today: dt.date,
                 logged: dict[str, list[dict]], max_model_age_days: int | None = None,
                 ) -> tuple[list[TickerView], list, list[tuple[str, str]]]:
    """The views of `tickers` (`logged`: each one's rows of the prediction log): (views, failures as (ticker,
    ForecastError), warnings as (ticker, message)). Runs in a worker process for a big page."""
    predictions, failures = _forecasts(store, tickers, days, level, today, max_model_age_days)
    views = []
    for prediction in predictions:
        try:
            views.append(ticker_view(prediction, logged.get(prediction.ticker, []), today, level))
        except ForecastError as error:
            failures.append((prediction.ticker, error))
    return views, failures, [(p.ticker, note.message) for p in predictions for note in p.warnings]


def ticker_view(prediction: Prediction, logged: list[dict], today: dt.date,
                level: float | None = None) -> TickerView:
    """One ticker's view from its forecast and its logged forecasts (the band at `level` where several were)."""
    ticker, bars = prediction.ticker, prediction.bars
    forecasts = [{**row, "volatility": row.get("volatility")} for row in prediction.rows]
    first = forecasts[0]
    last_close = float(first["last_close"])
    volatility = first["volatility"]
    past = resolved(ticker, logged, bars, level=level)
    scores = score_ticker(ticker, logged, bars, today=today.isoformat(), tails=True, level=level)
    next_session = next((score for score in scores if score["horizon"] == 1), None)
    return TickerView(
        ticker=ticker, anchor=anchor(ticker), as_of=first["as_of"], last_close=last_close, history=len(bars),
        forecasts=forecasts, band=100 * (first["upper"] - first["lower"]) / last_close, volatility=volatility,
        volatility_rank=None if volatility is None else volatility_rank(bars, volatility),
        coverage=next_session["coverage"] if next_session else None,
        scored=next_session["n"] if next_session else 0, model=first.get("model", "—"),
        flags=flags(prediction, past), scores=scores, sparkline=sparkline(bars, forecasts),
        chart=detail_chart(bars, forecasts, past))


def anchor(ticker: str) -> str:
    """A fragment id for `ticker` that needs no escaping in a URL: letters, digits, '-' and '.', anything else as
    _xx (symbols never contain '_', so two tickers never share one)."""
    return "t-" + "".join(c if c.isalnum() or c in "-." else f"_{ord(c):x}" for c in ticker)


def volatility_rank(bars: Bars, volatility: float) -> float | None:
    """The share (%) of the last BASELINE_SESSIONS sessions (fewer if fewer are stored) whose RiskMetrics volatility,
    annualised %, was below `volatility`."""
    recent = bars.take(slice(-(BASELINE_SESSIONS + BASELINE_WARMUP + 1), None))
    past_year = build_series(recent, "returns").volatility[-BASELINE_SESSIONS:] * ANNUALISED_PERCENT
    return 100 * float(np.mean(past_year < volatility)) if len(past_year) else None


def flags(prediction: Prediction, past: list[dict]) -> list[Flag]:
    """What deserves a look: the warnings of `predict`, a short history, and a surprise (the last close outside
    the band logged for it; of several, the latest made)."""
    found = []
    titles = {STALE_DATA: ("stale", "stale"), OLD_MODEL: ("model", "old model"), MARKET: ("stale", "market")}
    for note in prediction.warnings:
        style, label = titles[note.flag]
        found.append(Flag(style, label, note.message))
    history = len(prediction.bars)
    if history < SHORT_HISTORY:
        found.append(Flag("short", "short history", f"{history} {plural(history, 'session')} stored, less than a "
                                                     f"year ({SHORT_HISTORY}): little to judge its volatility by"))
    last = [row for row in past if row["date"] == prediction.bars.last_date]
    if last:
        row = max(last, key=lambda r: r["as_of"])
        side = "below" if row["actual"] < row["lower"] else "above" if row["actual"] > row["upper"] else None
        if side:
            found.append(Flag("surprise", ("▼" if side == "below" else "▲") + " surprise",
                              f"the close of {row['date']}, {row['actual']:.6g}, was {side} the "
                              f"{_level(row['level'])} band "
                              f"[{row['lower']:.6g}, {row['upper']:.6g}] forecast for it on {row['as_of']}"))
    return found


def track_record(scores: list[dict]) -> list[dict]:
    """The live record of many tickers (their `score_ticker` rows, with tails), one row per horizon: tickers and
    forecasts scored, the geometric mean over tickers of the RMSE ratio against naive, the coverage and the level
    it was promised at (1 - 2 x the expected hits per tail / forecasts: the mean level of the forecasts), and the
    hits of each tail with the number expected."""
    groups: dict[int, list[dict]] = {}
    for score in scores:
        if score["n"]:
            groups.setdefault(score["horizon"], []).append(score)
    record = []
    for horizon, rows in sorted(groups.items()):
        n = sum(row["n"] for row in rows)
        expected = sum(row["expected_per_tail"] for row in rows)
        ratios = [row["ratio"] for row in rows if row["ratio"]]
        record.append({"horizon": horizon, "tickers": len(rows), "n": n,
                       "ratio": math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None,
                       "coverage": sum(row["coverage"] * row["n"] for row in rows) / n, "level": 1 - 2 * expected / n,
                       "hits_lower": sum(row["hits_lower"] for row in rows),
                       "hits_upper": sum(row["hits_upper"] for row in rows), "expected_per_tail": expected})
    return record


# --------------------------------------------------------------------------------------------------- the charts
# The charts are SVG paths in whole user units (a viewBox as wide as the chart's pixels, or twice as wide for the
# small ones), each step relative to the previous point: about five bytes a point, so that the page of 500 tickers
# stays under 2 MB. Relative steps are differences of rounded positions, so rounding never accumulates.
@dataclass(frozen=True)
class Frame:
    """Maps (session index, price) to user units: index 0..last across [left, width - right], prices low..high up
    from height - bottom to top (a price axis is linear: a band's width reads as a price distance)."""

    width: int
    height: int
    last: int
    low: float
    high: float
    left: int = 2
    right: int = 2
    top: int = 4
    bottom: int = 4

    def x(self, index) -> np.ndarray:
        scale = (self.width - self.left - self.right) / max(self.last, 1)
        return np.rint(self.left + np.asarray(index, dtype=float) * scale).astype(int)

    def y(self, price) -> np.ndarray:
        span = self.high - self.low or abs(self.high) or 1.0
        scale = (self.height - self.top - self.bottom) / span
        return np.rint(self.top + (self.high - np.asarray(price, dtype=float)) * scale).astype(int)

    def line(self, index, price, close: bool = False) -> str:
        """An SVG path through the points: 'M x y l dx dy dx dy ...' (closed with 'z' for an area)."""
        x, y = self.x(index), self.y(price)
        steps = "".join(f" {dx}{'' if dy < 0 else ' '}{dy}" for dx, dy in zip(np.diff(x), np.diff(y), strict=True))
        return f"M{x[0]} {y[0]}l{steps.lstrip()}" + ("z" if close else "")

    def spans(self, index, top, bottom) -> str:
        """Vertical segments from `top` to `bottom` prices at each index: 'M x y v h m dx dy v h ...'."""
        x, y_top, y_bottom = self.x(index), self.y(top), self.y(bottom)
        if not len(x):
            return ""
        parts = [f"M{x[0]} {y_top[0]}v{y_bottom[0] - y_top[0]}"]
        for i in range(1, len(x)):
            parts.append(f"m{x[i] - x[i - 1]} {y_top[i] - y_bottom[i - 1]}v{y_bottom[i] - y_top[i]}")
        return "".join(parts)


def _band(closes: np.ndarray, forecasts: list[dict]) -> tuple[np.ndarray, ...]:
    """(index, outline, index, path): the next sessions' band as an outline (upper bounds out, lower bounds back)
    and the forecast path, both from the last close, at the indices after the closes'."""
    start = len(closes) - 1
    ahead = start + np.arange(1, len(forecasts) + 1)
    lower, upper, centre = (np.array([row[key] for row in forecasts]) for key in ("lower", "upper", "forecast"))
    last = closes[-1:]
    return (np.concatenate([[start], ahead, ahead[::-1]]), np.concatenate([last, upper, lower[::-1]]),
            np.concatenate([[start], ahead]), np.concatenate([last, centre]))


def sparkline(bars: Bars, forecasts: list[dict]) -> dict:
    """A row's inline chart, 120 x 28 pixels: the last SPARK_SESSIONS closes, then the next sessions' band and
    forecast."""
    closes = bars.adj_close[-SPARK_SESSIONS:]
    outline_index, outline, path_index, path = _band(closes, forecasts)
    frame = Frame(240, 56, len(closes) - 1 + len(forecasts), float(min(closes.min(), outline.min())),
                  float(max(closes.max(), outline.max())))
    return {"price": frame.line(np.arange(len(closes)), closes), "band": frame.line(outline_index, outline, True),
            "forecast": frame.line(path_index, path)}


def detail_chart(bars: Bars, forecasts: list[dict], past: list[dict]) -> dict:
    """A ticker's larger chart, 640 x 220: the last CHART_SESSIONS closes; the band logged for each of the last
    LOGGED_SESSIONS of them (the latest made for that day: a vertical line from lower to upper, the forecast lies
    inside it), those that `held` the close apart from those that `missed` it; the next sessions' band and forecast
    after a dotted line at the last close; the price range and the first date and the last forecast's as labels."""
    shown = bars.take(slice(-CHART_SESSIONS, None))
    closes = shown.adj_close
    outline_index, outline, path_index, path = _band(closes, forecasts)
    first_logged = str(shown.dates[-min(LOGGED_SESSIONS, len(shown))])
    latest: dict[str, dict] = {}
    for row in past:
        if row["date"] >= first_logged and (row["date"] not in latest or row["as_of"] > latest[row["date"]]["as_of"]):
            latest[row["date"]] = row
    logged = [latest[date] for date in sorted(latest)]
    index = np.searchsorted(shown.dates, np.array(sorted(latest), dtype="datetime64[D]"))
    lower, upper = (np.array([row[key] for row in logged]) for key in ("lower", "upper"))
    low = float(min(closes.min(), outline.min(), lower.min(initial=np.inf)))
    high = float(max(closes.max(), outline.max(), upper.max(initial=-np.inf)))
    frame = Frame(640, 220, len(closes) - 1 + len(forecasts), low, high, left=4, right=64, top=8, bottom=22)
    held = np.array([row["lower"] <= row["actual"] <= row["upper"] for row in logged], dtype=bool)
    return {
        "price": frame.line(np.arange(len(closes)), closes), "band": frame.line(outline_index, outline, True),
        "forecast": frame.line(path_index, path),
        "held": frame.spans(index[held], upper[held], lower[held]),
        "missed": frame.spans(index[~held], upper[~held], lower[~held]),
        "logged": len(logged), "logged_missed": int((~held).sum()),
        "y_labels": [(int(frame.y(high)) + 4, high), (int(frame.y(low)) + 4, low)],
        "x_labels": [(int(frame.x(0)), shown.first_date, "start"),
                     (int(frame.x(frame.last)), forecasts[-1]["date"], "end")],
        "last_x": int(frame.x(len(closes) - 1)), "label_x": frame.width - frame.right + 4,
        "axis_y": frame.height - frame.bottom, "top": frame.top, "width": frame.width, "height": frame.height,
    }


def portfolio_chart(dates: np.ndarray, pnl: np.ndarray, var: np.ndarray) -> dict:
    """The portfolio's chart, 640 x 220: each day's P&L as a bar from 0 (`gains`, `losses`; those beyond the VaR
    line apart, `breaches`) and the VaR made the evening before as a line below 0 (minus the VaR)."""
    if not len(pnl):
        return {}
    low, high = float(min(pnl.min(), (-var).min(), 0.0)), float(max(pnl.max(), 0.0))
    frame = Frame(640, 220, max(len(pnl) - 1, 1), low, high, left=4, right=64, top=8, bottom=22)
    index = np.arange(len(pnl))
    zero = np.zeros(len(pnl))
    breach = pnl < -var
    gain = pnl >= 0
    return {"gains": frame.spans(index[gain], pnl[gain], zero[gain]),
            "losses": frame.spans(index[~gain & ~breach], zero[~gain & ~breach], pnl[~gain & ~breach]),
            "breaches": frame.spans(index[breach], zero[breach], pnl[breach]),
            "var": frame.line(index, -var), "zero_y": int(frame.y(0.0)),
            "y_labels": [(int(frame.y(high)) + 4, high), (int(frame.y(low)) + 4, low)],
            "x_labels": [(int(frame.x(0)), str(dates[0]), "start"), (int(frame.x(frame.last)), str(dates[-1]), "end")],
            "label_x": frame.width - frame.right + 4, "width": frame.width, "height": frame.height}


# ------------------------------------------------------------------------------------------------------ the page
def render(report: Report) -> str:
    """The page: HTML with its stylesheet and script inlined (forecaster/views/report_files/)."""
    import jinja2

    environment = jinja2.Environment(loader=jinja2.PackageLoader("forecaster.views", "report_files"), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters.update(price=_price, percent=_percent, number=_number, level=_level,
                               key=_sort_key)
    return environment.get_template("page.html.j2").render(report=report, spark_sessions=SPARK_SESSIONS,
                                                          chart_sessions=CHART_SESSIONS,
                                                          logged_sessions=LOGGED_SESSIONS,
                                                          baseline_sessions=BASELINE_SESSIONS)


def write_report(store: Store, tickers: list[str], out: Path, *, days: int, level: float, jobs: int | None = None,
                 today: dt.date | None = None, max_model_age_days: int | None = None,
                 **portfolio) -> tuple[Path, Report]:
    """Build the page of `tickers` (and of the `portfolio` keywords of `build_report`: holdings, var_level,
    alert_var) and write it to `out` atomically (checked first: never inside the store)."""
    path = store.check_output(out)
    report = build_report(store, tickers, days=days, level=level, jobs=jobs, today=today,
                          max_model_age_days=max_model_age_days, **portfolio)
    atomic_write_text(path, render(report))
    return path, report


def _sort_key(value) -> str:
    """A cell's data-value, by which the page's script sorts: numbers to 6 significant digits, '' for none."""
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _level(value: float) -> str:
    """0.9 -> '90%', 0.975 -> '97.5%'."""
    return f"{100 * value:.4g}%"


def _price(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:#.4g}"


def _percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}%"


def _number(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"
