"""The Python API: a forecaster home as an object whose methods do what the commands do.

    import forecaster as fc

    home = fc.Home("stocks")                      # a folder holding data/ and models/, as --home names it
    home.fetch(sample=True)                       # forecast fetch --sample
    home.train(epochs=20)                         # forecast train --epochs 20
    forecasts = home.predict(days=5, level=0.99)  # forecast predict --days 5 --level 0.99, as a DataFrame

Each method makes the same library call as its command (forecaster.commands), takes keyword arguments named as the
command's options (--batch-size is batch_size=), reads HOME/forecast.toml as the command does, and returns a pandas
DataFrame (predict's has the columns of `forecast predict --format csv`) or a small dataclass. Notes the command
would print (stale data, old models, imported tickers left alone) are in the DataFrame's attrs["notes"].

Arguments are checked in one place (`ARGUMENTS`, by name, for every method: tickers, days, horizons, dates, file
paths), so a value of the wrong type is a UsageError naming the argument, never a TypeError from deep inside; the
settings (level, jobs, the training options) are checked as forecast.toml's values are (forecaster.config).

Errors are those the CLI turns into exit codes (forecaster.errors): a UsageError for a bad argument, a
DataUnavailable when there is nothing to work on, and so on. A command over several tickers raises the failing
ticker's own error when it was the only ticker, else TickersFailed, whose `failures` name each ticker and its error
and whose `result` holds the DataFrame of the tickers that succeeded. Jobs run one at a time, in this process, unless
jobs= or scheduler= (or forecast.toml's [parallel]) say otherwise.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from forecaster import commands
from forecaster.commands import parse_date
from forecaster.config import number_of, settings_of
from forecaster.data.store import Store
from forecaster.errors import ExitCode, ForecastError, TickersFailed, UsageError, batch_failure

TRAINING_OPTIONS = tuple(setting.key for setting in settings_of("train"))


@dataclass
class ReportPage:
    """What `Home.report` wrote."""

    path: Path
    tickers: list[str]  # the tickers shown
    failures: list[tuple[str, str]]  # (ticker or "prediction log", why), as the page lists them
    warnings: list[str]


# ------------------------------------------------------------------------------------- the arguments, checked
def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _symbols(value, name: str) -> list[str]:
    """One ticker symbol or a collection of them, as a list (each symbol is checked by the command)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, bytes):
        symbols = list(value)
        if all(isinstance(symbol, str) for symbol in symbols):
            return symbols
    raise UsageError(f"{name} must be a ticker symbol or a list of them, got {_shown(value)}")


def _tickers(value, name: str) -> list[str]:
    """`_symbols`, at least one: an empty list is no selection, never the command's default set (None is)."""
    symbols = _symbols(value, name)
    if not symbols:
        raise UsageError(f"no tickers given: {name} is empty")
    return symbols


def _whole_number(value, name: str) -> int:
    try:
        return number_of(value, int)
    except ValueError as error:
        raise UsageError(f"{name} {error}") from None


def _horizons(value, name: str) -> list[int]:
    """One horizon or a collection of them, as a list of whole numbers (their range is checked by evaluate)."""
    values = list(value) if isinstance(value, Iterable) and not isinstance(value, str | bytes) else [value]
    if not values:
        raise UsageError(f"no horizons given: {name} is empty")
    return [_whole_number(horizon, name) for horizon in values]


def _path(value, name: str) -> Path:
    if isinstance(value, str | os.PathLike):
        return Path(value)
    raise UsageError(f"{name} must be a file name (a str or a Path), got {_shown(value)}")


def _paths(value, name: str) -> list[Path]:
    values = list(value) if isinstance(value, Iterable) and not isinstance(value, str | bytes) else [value]
    if not values:
        raise UsageError(f"no files given: {name} is empty")
    return [_path(path, name) for path in values]


# How each argument of Home's methods is checked and converted, by its name: the one place, before any work (a date
# by parse_date, as the command line's; the settings by config, as forecast.toml's). None means "not given" (the
# command's default), except for an argument that has no default, which None leaves missing.
ARGUMENTS = {"tickers": _tickers, "unseen": _symbols, "days": _whole_number, "horizon": _horizons,
             "start": parse_date, "end": parse_date, "until": parse_date, "test_start": parse_date,
             "since": parse_date, "paths": _paths, "csv": _path, "predictions": _path, "portfolio": _path,
             "holdings": _path, "out": _path}


def _checked(method):
    """`method` with its ARGUMENTS checked and converted first (a UsageError naming the argument when one is bad)."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def checked(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)  # a call Python itself refuses stays a TypeError, as any function's
        for name, value in list(bound.arguments.items()):
            if name not in ARGUMENTS:
                continue
            default = signature.parameters[name].default
            if value is not None:
                bound.arguments[name] = ARGUMENTS[name](value, name)
            elif default is inspect.Parameter.empty:
                raise UsageError(f"{name} is required")
            else:  # None is "not given": the method's own default, as if it had been left out
                bound.arguments[name] = default
        return method(*bound.args, **bound.kwargs)

    return checked


class Home:
    """A forecaster home: `path` (None: $FORECAST_HOME, else the current directory) holds data/, models/ and
    forecast.toml. Every method reads them afresh, so commands run in between are seen."""

    def __init__(self, path: Path | str | None = None):
        self.path = Store(path).home  # forecast.toml is read by each call (check reports it when it is bad)

    def __repr__(self) -> str:
        return f"Home({str(self.path)!r})"

    def _open(self):
        return commands.open_home(self.path)

    # ------------------------------------------------------------------------------------------- prices
    @_checked
    def fetch(self, tickers: list[str] | str | None = None, *, start: str | dt.date | None = None,
              end: str | dt.date | None = None, csv: Path | str | None = None, sample: bool = False,
              replace: bool = False, rate: float | None = None) -> pd.DataFrame:
        """Download daily prices from Yahoo Finance (by default: the watchlist and every stored ticker), or import
        one CSV file for one ticker (`csv`), or the bundled sample (`sample`): a row per ticker stored."""
        store, config = self._open()
        plan = commands.plan_fetch(store, config, tickers, start=start, end=end, csv=csv, sample=sample, rate=rate)
        return _store_all(store, plan, replace)

    @_checked
    def import_files(self, paths: list[Path | str] | Path | str, *, start: str | dt.date | None = None,
                     end: str | dt.date | None = None, replace: bool = False) -> pd.DataFrame:
        """Import CSV files, or folders of .csv and .txt files, each for the ticker its name gives (`forecast
        import`): a row per ticker stored."""
        plan = commands.plan_import(paths, start=start, end=end)
        return _store_all(self._open()[0], plan, replace)

    @_checked
    def remove(self, tickers: list[str] | str) -> list[str]:
        """Delete the tickers' data, fetch information and models (the prediction log keeps its rows), without
        asking: the tickers removed."""
        removal = commands.remove(self._open()[0], tickers)
        _raise_failures(removal.failures, len(removal.removed), list(removal.removed))
        return list(removal.removed)

    def list(self) -> pd.DataFrame:
        """The stored tickers: source, rows, dates, when fetched, and their models (`forecast list`)."""
        from forecaster.data.inventory import inventory

        rows, damaged = inventory(self._open()[0])
        return _frame(rows, commands.INVENTORY_COLUMNS, [error.message for error in damaged])

    # ------------------------------------------------------------------------------------------- models
    @_checked
    def train(self, tickers: list[str] | str | None = None, *, until: str | dt.date | None = None,
              jobs: int | None = None, scheduler: str | None = None, **options) -> pd.DataFrame:
        """Train the models (by default of the watchlist and every stored ticker; named tickers are calibrated
        against a stored pool). `options`: the training options, e.g. epochs=20, model="per-ticker" (see
        `forecast train --help`). A row per ticker trained, as `forecast train` shows them."""
        store, config = self._open()
        given = _given(options, jobs=jobs, scheduler=scheduler)
        training = commands.train(store, config, tickers, until=until, given=given, serial=True)
        outcome = training.outcome
        result = _frame(outcome.rows, list(outcome.rows[0]) if outcome.rows else ["ticker"], outcome.notes)
        _raise_failures(outcome.failures, len(outcome.rows), result)
        return result

    @_checked
    def predict(self, tickers: list[str] | str | None = None, *, days: int = 1, level: float | None = None,
                max_model_age_days: int | None = None) -> pd.DataFrame:
        """Forecast the next `days` trading sessions (by default of the watchlist and every ticker with a model)
        and log them, as `forecast predict` does: the columns of its CSV, a row per ticker and session."""
        store, config = self._open()
        forecasts = commands.predict(store, config, tickers, days=days,
                                     given=_given({}, level=level, max_model_age_days=max_model_age_days))
        notes = [note.message for p in forecasts.predictions for note in p.warnings]
        notes += [p.live_record for p in forecasts.predictions if p.live_record]
        result = _frame(forecasts.rows, commands.PREDICTION_COLUMNS, notes)
        _raise_failures(forecasts.failures, len(forecasts.predictions), result)
        if forecasts.log_error is not None:
            raise TickersFailed(f"the forecasts were not logged: {forecasts.log_error.message}", [],
                                ExitCode.PARTIAL, result)
        return result

    @_checked
    def evaluate(self, tickers: list[str] | str | None = None, *, test_start: str | dt.date,
                 horizon: int | list[int] | None = None, unseen: list[str] | str | None = None,
                 predictions: Path | str | None = None, level: float | None = None, jobs: int | None = None,
                 scheduler: str | None = None, portfolio: Path | str | None = None, **options) -> pd.DataFrame:
        """Walk-forward test from `test_start` against naive, linear, GARCH, GJR and HAR (`forecast evaluate`): a
        row per ticker, horizon and method, as its table shows them; attrs["reports"] holds its JSON reports.

        With `portfolio` (a holdings CSV file), the backtest of their one-day value at risk (at `level`, default
        [portfolio] level) and expected shortfall instead: a row per method (model, riskmetrics, historical), and
        attrs["report"] the JSON document of `forecast evaluate --portfolio FILE -f json`."""
        from forecaster.risk.evaluate import summary_rows

        store, config = self._open()
        if portfolio is not None:
            evaluation = commands.evaluate_portfolio(
                store, config, holdings=portfolio, test_start=test_start, given=_given(options, level=level),
                tickers=tickers, horizons=horizon, unseen=unseen, predictions=predictions)
            report = evaluation.document()
            rows = [{"method": method, **{f"var_{k}": v for k, v in s["var"].items()},
                     **{f"es_{k}": v for k, v in s["es"].items()}, "pinball": s["pinball"]}
                    for method, s in evaluation.summary.items()]
            result = _frame(rows, list(rows[0]), evaluation.notes)
            result.attrs["report"] = report
            return result
        run = commands.evaluate(store, config, tickers, test_start=test_start, horizons=horizon, unseen=unseen,
                                predictions=predictions, given=_given(options, level=level, jobs=jobs,
                                                                      scheduler=scheduler), serial=True)
        rows = summary_rows(run.reports)
        result = _frame(rows, list(rows[0]) if rows else ["ticker", "h", "method"], run.outcome.notes)
        result.attrs["reports"] = run.reports
        _raise_failures(run.outcome.failures, run.evaluated, result)
        return result

    @_checked
    def portfolio(self, holdings: Path | str | None = None, *, days: int = 1, level: float | None = None,
                  alert_var: float | None = None) -> pd.DataFrame:
        """The value at risk and expected shortfall of the holdings (a CSV file `ticker,shares`, else
        forecast.toml's [portfolio] holdings) over the next `days` sessions (`forecast portfolio`): a row per
        holding (its value, weight, component, marginal and stand-alone VaR, component ES); attrs["portfolio"] holds
        the totals as `forecast portfolio -f json` gives them, attrs["notes"] the notes and the alert."""
        store, config = self._open()
        result = commands.portfolio(store, config, holdings=holdings, days=days,
                                    given=_given({}, level=level, alert_var=alert_var))
        document = result.forecast.document()
        notes = [note.message for note in result.forecast.notes] + ([result.alert] if result.alert else [])
        frame = _frame(document["holdings"], commands.HOLDING_COLUMNS, notes)
        frame.attrs["portfolio"] = {key: value for key, value in document.items() if key != "holdings"}
        return frame

    # ----------------------------------------------------------------------------------------- results
    @_checked
    def score(self, tickers: list[str] | str | None = None, *, since: str | dt.date | None = None) -> pd.DataFrame:
        """The live track record of the logged forecasts whose dates have come (`forecast score`): a row per ticker
        and horizon, empty when nothing is logged yet."""
        from forecaster.risk.track import COLUMNS, TAIL_COLUMNS

        store, config = self._open()
        scores = commands.score(store, config, tickers, since=since)
        result = _frame(scores.rows, COLUMNS + TAIL_COLUMNS)
        _raise_failures(scores.failures, scores.scored, result)
        return result

    @_checked
    def report(self, tickers: list[str] | str | None = None, *, out: Path | str = "report.html", days: int = 5,
               level: float | None = None, jobs: int | None = None,
               max_model_age_days: int | None = None) -> ReportPage:
        """Write the HTML page of the watchlist (`forecast report`); failures of some tickers are listed on the page
        and in the result, not raised (unless every ticker failed)."""
        store, config = self._open()
        path, page = commands.report(store, config, tickers, out=out, days=days,
                                     given=_given({}, level=level, jobs=jobs, max_model_age_days=max_model_age_days),
                                     serial=True)
        written = ReportPage(path, [view.ticker for view in page.tickers], page.failure_lines, page.warnings)
        if not page.tickers:
            _raise_failures(page.failures, 0, written)
        return written

    def check(self) -> pd.DataFrame:
        """Every problem of the home, a row each (path, ticker, problem, fix), as `forecast check` lists them: empty
        when it is healthy. Read-only."""
        from forecaster.check import COLUMNS

        return _frame([problem.row() for problem in commands.check(self.path)[1]], COLUMNS)

    def config(self) -> pd.DataFrame:
        """The effective settings and where each comes from (`forecast config`)."""
        return _frame(commands.settings(self._open()[1]), ["setting", "value", "source"])


def _given(options: dict, **settings) -> dict:
    """The settings a call gave (None: not given, forecast.toml or the default decides); TypeError for a keyword
    that is no training option, as Python raises for any unknown keyword."""
    unknown = sorted(set(options) - set(TRAINING_OPTIONS))
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r} (training options: {', '.join(TRAINING_OPTIONS)})")
    return {key: value for key, value in {**options, **settings}.items() if value is not None}


def _frame(rows: list[dict], columns: list[str], notes: list[str] = ()) -> pd.DataFrame:
    frame = pd.DataFrame([{column: row.get(column) for column in columns} for row in rows], columns=columns)
    frame.attrs["notes"] = list(notes)
    return frame


def _store_all(store, plan, replace: bool) -> pd.DataFrame:
    """Run fetch or import jobs: a row per ticker stored; notes from the plan and about the stored data."""
    stored = commands.store_all(store, plan, replace)
    frame = _frame(stored.rows, commands.STORED_COLUMNS, [*plan.notes, *(n.message for n in stored.notices)])
    _raise_failures(stored.failures, len(stored.results), frame)
    return frame


def _raise_failures(failures: list[tuple[str, ForecastError]], done: int, result) -> None:
    """Raise what a batch's failures amount to (errors.batch_failure), with what succeeded as TickersFailed.result."""
    error = batch_failure(failures, done)
    if isinstance(error, TickersFailed):
        error.result = result
    if error is not None:
        raise error
