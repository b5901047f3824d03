"""Holdings: how many shares of each ticker a portfolio holds, read from a CSV file or from forecast.toml.

A holdings file is CSV with a header `ticker,shares` (other columns are ignored; a line starting with # is a
comment), one line per ticker; shares may be fractional, negative for a short. In forecast.toml::

    [portfolio]
    holdings = { AAPL = 100, MSFT = 50, TSLA = -10 }

Every problem is a UsageError naming the file and the line: a header without both columns (or naming one twice), a
line with more or fewer cells than the header (`MSFT,1,000` is not a thousand shares), a symbol that is not one,
shares that are not a plain number other than 0 and at most MAX_SHARES in size, a ticker given twice. Whether each
ticker is stored is the caller's check (`check_stored`), with the same line numbers. Standard library only.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

from forecaster.data.files import read_input_file, repeated_column, repeated_column_message
from forecaster.data.store import normalize_ticker
from forecaster.errors import UsageError

NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # what a shares cell may hold: 100, -2.5, 1e6
MAX_SHARES = 1e12  # more shares than any company has issued: a typo, and beyond it money overflows


@dataclass(frozen=True)
class Holding:
    ticker: str
    shares: float
    where: str  # "FILE line N": where it was declared, for messages


@dataclass(frozen=True)
class Holdings:
    items: tuple[Holding, ...]
    source: str  # the file they came from

    @property
    def tickers(self) -> list[str]:
        return [holding.ticker for holding in self.items]

    @property
    def shares(self) -> list[float]:
        return [holding.shares for holding in self.items]

    def check_stored(self, stored) -> None:
        """UsageError naming the line of the first holding whose ticker has no stored data (`stored(ticker)`)."""
        for holding in self.items:
            if not stored(holding.ticker):
                raise UsageError(f"{holding.where}: {holding.ticker} has no stored data; run 'forecast fetch "
                                 f"{holding.ticker}' (or import its file) first")


def read_holdings_file(path: Path | str) -> Holdings:
    """The holdings in a CSV file `ticker,shares`; UsageError naming the file and line of anything wrong."""
    path = Path(path)
    raw = read_input_file(path, "a holdings CSV file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise UsageError(f"{path}: no holdings (expected a header 'ticker,shares' and a line per ticker)")
    header_number, header = lines[0]
    columns = [name.strip().lower() for name in next(csv.reader([header]))]
    if "ticker" not in columns or "shares" not in columns:
        raise UsageError(f"{path} line {header_number}: the header must name the columns ticker and shares, "
                         f"got {header.strip()!r}")
    repeated = repeated_column(columns, ("ticker", "shares"))
    if repeated:
        raise UsageError(f"{path} line {header_number}: {repeated_column_message(repeated)}")
    ticker_at, shares_at = columns.index("ticker"), columns.index("shares")
    entries = []
    for number, line in lines[1:]:
        cells = next(csv.reader(io.StringIO(line)), [])
        where = f"{path} line {number}"
        if len(cells) != len(columns):  # 'MSFT,1,000' is 1 share and a stray column, not a thousand shares
            raise UsageError(f"{where}: expected {len(columns)} columns ({header.strip()}), got {len(cells)}: "
                             f"{line.strip()!r} (write a thousand as 1000, without a separator)")
        entries.append((cells[ticker_at], _shares_of(cells[shares_at].strip(), where), where))
    return _holdings(entries, str(path))


def holdings_from_config(table, path: Path, text: str) -> Holdings:
    """The holdings of forecast.toml's `[portfolio] holdings` table (`text`: the file, for line numbers)."""
    if not isinstance(table, dict) or not table:
        raise UsageError(f"{path}{_line_of_key(text, 'holdings')}: [portfolio] holdings must be a table of shares "
                         "by ticker, e.g. holdings = { AAPL = 100, MSFT = 50 }")
    entries = []
    for name, value in table.items():
        where = f"{path}{_line_of_key(text, name)}"
        if isinstance(value, dict):  # BRK.B = 1 is the table BRK holding B = 1 in TOML
            dotted = f"{name}.{next(iter(value), '')}"
            raise UsageError(f"{path}{_line_of_key(text, dotted) or _line_of_key(text, 'holdings')}: [portfolio] "
                             f"holdings: a symbol with a dot must be quoted in TOML: \"{dotted}\" = ...")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"{where}: [portfolio] holdings: {name} must be a number of shares, got {value!r}")
        entries.append((name, _shares_of(value, where), where))
    return _holdings(entries, str(path))


def _holdings(entries: list[tuple[str, float, str]], source: str) -> Holdings:
    seen: dict[str, str] = {}
    items = []
    for name, shares, where in entries:
        try:
            ticker = normalize_ticker(name)
        except UsageError as error:
            raise UsageError(f"{where}: {error.message}") from None
        if ticker in seen:
            raise UsageError(f"{where}: {ticker} is held twice (first at {seen[ticker]}); give one line per ticker")
        seen[ticker] = where
        items.append(Holding(ticker, shares, where))
    if not items:
        raise UsageError(f"{source}: no holdings (a line 'TICKER,SHARES' per ticker after the header)")
    return Holdings(tuple(items), source)


def _shares_of(value, where: str) -> float:
    if isinstance(value, str) and not NUMBER.fullmatch(value):
        raise UsageError(f"{where}: shares must be a number, got {value!r}")
    try:
        shares = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{where}: shares must be a number, got {value!r}") from None
    if not math.isfinite(shares) or shares == 0 or abs(shares) > MAX_SHARES:
        raise UsageError(f"{where}: shares must be a number other than 0 (negative for a short) and at most "
                         f"{MAX_SHARES:.0e} in size, got {value!r}")
    return shares


def _line_of_key(text: str, key: str) -> str:
    """' line N' of the first line after [portfolio] (or [portfolio.holdings]) that sets `key`, or ''."""
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]\s*(#.*)?", stripped)
        if header:
            inside = header.group(1).replace(" ", "") in ("portfolio", "portfolio.holdings")
            continue
        if inside and re.search(rf"""(^|[{{,\s])["']?{re.escape(key)}["']?\s*=""", stripped):
            return f" line {number}"
    return ""
