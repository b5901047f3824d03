"""What `fetch` and `import` do, as jobs: where each ticker's bars come from, and the rules that choose them.

A `FetchJob` is one ticker's update: a source label recorded in data/TICKER.json ("yahoo", "csv:FILE NAME",
"sample") and a function that, given the stored bars, returns the bars to merge: Yahoo's (forecaster.data.yahoo), a
CSV file's or the bundled sample's (`import_csv_bars`, `read_sample`). `fetch_all` runs jobs one after another,
each merged into the store by forecaster.data.updates.update_ticker; one job's failure, whatever it is, is that job's
outcome and never stops the others.

The rules, each in one place:

- `bare_fetch_tickers`: what `fetch` without tickers updates — the watchlist, every stored ticker whose data came
  from Yahoo (or whose source is unknown: a home from before sources were recorded, or a file put in data/ by hand),
  and the market index the models learn from ([train] market), stored yet or not (when there is anything else to
  fetch); tickers imported from a file or
  the bundled sample are listed, not sent to Yahoo, which does not know them or would replace another series; a
  ticker whose data/TICKER.json is damaged fails with that damage named (its source is unknown).
- `symbol_from_file_name`: the ticker a bulk-imported file is for: the file name without its extension (.csv or
  .txt), without a trailing `.us` (the US market suffix of Stooq's and Kaggle's bulk downloads), with `_` read as
  `-` (share classes: BRK-B), upper-cased: `abr_b.us.txt` -> ABR-B, `msft.csv` -> MSFT, `0700.hk.csv` -> 0700.HK.
- `update_advice`: how to bring a ticker's data up to date, and how to repair it, by its source.

Imports stay light (forecaster.data.yahoo, and yfinance with it, only when a Yahoo job is built): `predict` uses
`update_advice`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from forecaster.data.bars import Bars, parse_csv, read_csv
from forecaster.data.store import Store, normalize_ticker, replace_advice
from forecaster.errors import CorruptFile, ForecastError, UsageError, failure_of
from forecaster.text import plural

if TYPE_CHECKING:
    from forecaster.data.updates import FetchResult

YAHOO, SAMPLE, CSV = "yahoo", "sample", "csv"
SAMPLE_TICKERS = {"^GSPC": "GSPC.csv.gz", "MSFT": "MSFT.csv.gz", "IBM": "IBM.csv.gz"}
IMPORT_EXTENSIONS = (".csv", ".txt")
MARKET_SUFFIX = ".us"  # dropped from bulk-imported file names (abr_b.us.txt)
LONG_RUN_SECONDS = 60.0  # a fetch paced to last longer than this says how long up front


@dataclass
class FetchJob:
    ticker: str  # the ticker, or for a file whose name gives none, the file's name
    get_bars: Callable[[Bars], Bars] | None  # stored bars -> bars to merge; None when `problem` is set
    source: str  # what data/TICKER.json records
    problem: ForecastError | None = None  # known before any work: the job fails with it
    path: str | None = None  # the absolute path of the file imported, which data/TICKER.json records too


def source_kind(source: str | None) -> str | None:
    """'yahoo', 'csv', 'sample' or None (unknown) for a source label as data/TICKER.json records it."""
    if not source:
        return None
    return source.split(":", 1)[0]


def stored_source(store: Store, ticker: str) -> str | None:
    """Where `ticker`'s data came from, as data/TICKER.json records it (None: unknown); CorruptFile when that file
    is damaged (Store.fetch_info)."""
    return store.fetch_info(ticker).get("source") or None


def bare_fetch_tickers(store: Store, watchlist_and, market: str | None = None
                       ) -> tuple[list[str], list[str], list[FetchJob]]:
    """(tickers to fetch from Yahoo, tickers imported from files or the sample, failed jobs) for `fetch` without
    tickers.

    `watchlist_and(stored)` is the command's default set (forecast.toml's watchlist, then the stored tickers), and
    `market` the market index (None: none): see the module docstring for the rule. A ticker whose data/TICKER.json
    is damaged is neither: where its data came from is unknown, and Yahoo might replace another series, so it is a
    job that fails with the damage (the others go on)."""
    from_yahoo, imported, damaged = [], [], []
    tickers = watchlist_and(store.tickers())
    for ticker in dict.fromkeys([*tickers, *([market] if market and tickers else [])]):
        try:
            kind = source_kind(stored_source(store, ticker))
        except CorruptFile as error:
            damaged.append(FetchJob(ticker, None, "", error))
            continue
        (imported if kind in (CSV, SAMPLE) else from_yahoo).append(ticker)
    return from_yahoo, imported, damaged


@dataclass(frozen=True)
class UpdateAdvice:
    data: str  # what the ticker's data is: "data", "imported data", "bundled sample data"
    one: str  # what to do for this ticker
    many: str  # what to do for several tickers with data of the same kind
    repair: str  # how to replace its data file, damaged or changed since it was stored, with its source's
    damaged: CorruptFile | None = None  # data/TICKER.json is damaged: the advice is Yahoo's, the default


def update_advice(store: Store, ticker: str) -> UpdateAdvice:
    """How to bring `ticker`'s data up to date, and to repair it, by where it came from (a damaged data/TICKER.json:
    as Yahoo's, with the damage in `damaged` for the caller to warn about, and a repair from either source)."""
    try:
        source = stored_source(store, ticker)
    except CorruptFile as error:
        return UpdateAdvice("data", f"run 'forecast fetch {ticker}' to update", "run 'forecast fetch' to update them",
                            replace_advice(ticker), error)
    kind = source_kind(source)
    if kind == CSV:
        name = store.fetch_info(ticker).get("path") or source.split(":", 1)[1] or "FILE"  # the path imported from
        name = name if shlex.quote(name) == name else f'"{name}"'  # a path with spaces, quoted for the shell
        reimport = f"re-import it with 'forecast fetch {ticker} --csv {name}' (or 'forecast import FILE...')"
        return UpdateAdvice("imported data", reimport, "re-import their files with 'forecast import FILE...'",
                            reimport)
    if kind == SAMPLE:
        return UpdateAdvice("bundled sample data", f"it is the bundled sample, which ends there; 'forecast fetch "
                                                   f"{ticker}' gets the live data",
                            "the bundled sample ends there; 'forecast fetch TICKER' gets the live data",
                            f"run 'forecast fetch --sample' to restore the bundled sample ('forecast fetch {ticker}' "
                            "gets the live data instead)")
    if kind == YAHOO:  # the whole history: an incremental fetch would leave a row changed by hand as it is
        return UpdateAdvice("data", f"run 'forecast fetch {ticker}' to update", "run 'forecast fetch' to update them",
                            f"run 'forecast fetch {ticker} --replace' to download its whole history again")
    return UpdateAdvice("data", f"run 'forecast fetch {ticker}' to update", "run 'forecast fetch' to update them",
                        replace_advice(ticker))


# ----------------------------------------------------------------------------------------------------- jobs
def sample_jobs() -> list[FetchJob]:
    return [FetchJob(t, lambda stored, t=t: read_sample(t), SAMPLE) for t in SAMPLE_TICKERS]


def csv_job(ticker: str, path: Path, start: dt.date | None = None, end: dt.date | None = None) -> FetchJob:
    """The import of one CSV file for `ticker`, validated now, before any lock is taken; UsageError when it is
    invalid or has no rows between `start` and `end`."""
    ticker = normalize_ticker(ticker)
    incoming = _read_import(ticker, path, start, end)
    return FetchJob(ticker, lambda stored: incoming, f"{CSV}:{Path(path).name}", path=str(Path(path).absolute()))


def yahoo_jobs(store: Store, tickers: list[str], start: dt.date | None, end: dt.date | None,
               rate: float) -> list[FetchJob]:
    """Yahoo Finance updates of `tickers` (see yahoo.yahoo_update), paced at `rate` requests a second."""
    from forecaster.data import yahoo

    yahoo.configure_yfinance(store.cache_dir / "yfinance")
    session = yahoo.yahoo_session()
    pacer = yahoo.Pacer(rate)
    return [FetchJob(t, lambda stored, t=t: yahoo.yahoo_update(t, stored, start=start, end=end, session=session,
                                                               pacer=pacer), YAHOO)
            for t in tickers]


def import_jobs(paths: list[Path], start: dt.date | None = None, end: dt.date | None = None) -> list[FetchJob]:
    """One job per file of `paths` (files, and the .csv and .txt files of folders, in name order), each for the
    ticker its name gives (`symbol_from_file_name`). A file whose name gives no valid symbol, or the same symbol as
    an earlier file (which is imported), is a job named after the file that fails with the reason; each file is read
    and validated by its own job."""
    jobs: list[FetchJob] = []
    seen: dict[str, Path] = {}
    for path in _import_files(paths):
        try:
            ticker = symbol_from_file_name(path.name)
        except UsageError as error:
            jobs.append(FetchJob(path.name, None, "", UsageError(f"{path}: the file name gives no ticker symbol "
                                                                 f"({error.message}); import it with 'forecast "
                                                                 "fetch TICKER --csv FILE'")))
            continue
        if ticker in seen:  # the file, not the ticker, fails: the first file's import goes on
            jobs.append(FetchJob(path.name, None, "", UsageError(
                f"{path}: skipped: {ticker} is imported from {seen[ticker]} in this run (one file per ticker); to "
                f"use this file instead, run 'forecast fetch {ticker} --csv {path}'")))
            continue
        seen[ticker] = path
        jobs.append(FetchJob(ticker, lambda stored, t=ticker, p=path: _read_import(t, p, start, end),
                             f"{CSV}:{path.name}", path=str(path.absolute())))
    return jobs


def symbol_from_file_name(name: str) -> str:
    """The ticker a bulk-imported file is for (the rule is in the module docstring); UsageError if it is none."""
    stem = name
    for extension in IMPORT_EXTENSIONS:
        if stem.lower().endswith(extension):
            stem = stem[: -len(extension)]
            break
    if stem.lower().endswith(MARKET_SUFFIX) and len(stem) > len(MARKET_SUFFIX):
        stem = stem[: -len(MARKET_SUFFIX)]
    return normalize_ticker(stem.replace("_", "-"))


def _import_files(paths: list[Path]) -> list[Path]:
    """The files named, with each folder replaced by its .csv and .txt files (not hidden ones), in name order;
    UsageError for a folder with none."""
    files = []
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(p for p in path.iterdir()
                       if p.suffix.lower() in IMPORT_EXTENSIONS and not p.name.startswith("."))
        if not found:
            raise UsageError(f"{path} holds no {' or '.join(IMPORT_EXTENSIONS)} files to import")
        files.extend(found)
    return list(dict.fromkeys(files))


def _read_import(ticker: str, path: Path, start: dt.date | None, end: dt.date | None) -> Bars:
    from forecaster.data.calendar import exchange_for, exchange_today

    bars = import_csv_bars(path, start, end, exchange_today(exchange_for(ticker)))
    if not len(bars):
        raise UsageError(f"{path} has no rows{_range(start, end)}; nothing was stored")
    return bars


def _range(start: dt.date | None, end: dt.date | None) -> str:
    if start and end:
        return f" from {start} to {end}"
    return f" from {start}" if start else (f" up to {end}" if end else "")


def check_dates(start: dt.date | None, end: dt.date | None) -> None:
    if start is not None and end is not None and start > end:
        raise UsageError(f"--start {start} is after --end {end}")


# ----------------------------------------------------------------------------------------------- local files
def read_sample(ticker: str) -> Bars:
    """The bundled sample history of `ticker` (one of SAMPLE_TICKERS)."""
    name = SAMPLE_TICKERS[ticker]
    data = resources.files("forecaster.data").joinpath("sample_data", name).read_bytes()
    return parse_csv(gzip.decompress(data).decode("utf-8"), f"sample {name}")


def import_csv_bars(path: Path, start: dt.date | None = None, end: dt.date | None = None,
                    today: dt.date | None = None) -> Bars:
    """Bars of a CSV file between `start` and `end`; a row dated after `today` (at the exchange) is refused."""
    return _between(read_csv(path, latest=today), start, end)


def _between(bars: Bars, start: dt.date | None, end: dt.date | None) -> Bars:
    mask = np.ones(len(bars), dtype=bool)
    if start is not None:
        mask &= bars.dates >= np.datetime64(start, "D")
    if end is not None:
        mask &= bars.dates <= np.datetime64(end, "D")
    return bars.take(mask)


# ------------------------------------------------------------------------------------------------------ run
def fetch_all(store: Store, jobs: list[FetchJob], replace: bool = False
              ) -> Iterator[tuple[FetchJob, FetchResult | None, ForecastError | None]]:
    """Run the jobs one after another, yielding (job, result, None) or (job, None, error) as each finishes."""
    from forecaster.data.updates import update_ticker

    for job in jobs:
        result, error = None, job.problem
        if error is None:
            try:
                result = update_ticker(store, job.ticker, job.get_bars, source=job.source, replace=replace,
                                               path=job.path)
            except Exception as failure:
                error = failure_of(failure, job.ticker)
        yield job, result, error


def duration_note(count: int, rate: float) -> str | None:
    """A line saying how long `count` requests paced at `rate` a second take, when that is over LONG_RUN_SECONDS."""
    seconds = max(0, count - 1) / rate
    if seconds <= LONG_RUN_SECONDS:
        return None
    minutes = seconds / 60
    span = f"{minutes:.0f} minutes" if minutes < 120 else f"{minutes / 60:.1f} hours"
    return (f"fetching {count} {plural(count, 'ticker')} at {rate:g} {plural(rate, 'request')} a second takes about "
            f"{span}")
