"""Storing a ticker's new bars: `update_ticker` merges what a fetch or an import brings into the stored history,
atomically, under the ticker's lock, and refuses bars that would rewrite that history (`history_conflict`) rather
than extend it or re-adjust it; moves no real stock shows are stored with a notice (`implausible_changes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.data.bars import MAX_DAILY_FACTOR, Bars, large_moves, merge
from forecaster.data.store import Store, normalize_ticker
from forecaster.errors import CorruptFile, UsageError
from forecaster.text import Notice

CONFLICT_TOLERANCE = 1e-3  # a daily log return that moves by more than this (0.1%) was rewritten, not re-adjusted
CONFLICT_MIN_DAYS = 3  # a revised last bar or two moves up to this many returns ...
CONFLICT_SHARE = 0.02  # ... and a few ex-dividend days in a long overlap up to this share
REVISION_WARNING = 0.05  # a revision that changes a daily move by more than this (5%) is stored with a warning
DATES_SHOWN = 3  # dates named in a warning


@dataclass(frozen=True)
class FetchResult:
    ticker: str
    rows: int
    first_date: str | None
    last_date: str | None
    added: int
    changed: int
    notes: tuple[Notice, ...] = ()  # things the user should know: a damaged file set aside, implausible moves
    new_history: bool = False  # another series replaced the stored one (--replace): its models describe the old one


def update_ticker(store: Store, ticker: str, get_bars, *, source: str, replace: bool = False,
                  path: str | None = None) -> FetchResult:
    """Merge the bars returned by `get_bars(stored_bars)` into the store, atomically, under the ticker's lock.

    Refused (UsageError, nothing written) when the new bars would rewrite the stored history beyond a re-adjustment
    (see `history_conflict`), unless `replace`: then they replace it whole, and data/TICKER.json records when the
    history was replaced by another series (Store.write_bars: `check` compares it with the models' calibrations);
    and when nothing would be stored at all.
    A stored file that cannot be read is treated as absent (`get_bars` gets no bars, so Yahoo sends the whole
    history) and kept as TICKER.csv.damaged. data/TICKER.json is rewritten with every change, and also when nothing
    changed but it is missing or damaged (a re-import repairs it). Stored, with a notice: daily moves no real stock
    shows, and revisions that change daily moves by more than REVISION_WARNING (see `implausible_changes`).
    """
    ticker = normalize_ticker(ticker)
    notes = []
    with store.lock(ticker):
        try:
            stored = store.read_bars_or_empty(ticker)
            damaged = False
        except CorruptFile as error:
            stored, damaged = Bars.empty(), error
        incoming = get_bars(Bars.empty() if replace else stored)
        conflict = history_conflict(stored, incoming)
        if conflict and not replace:
            raise UsageError(f"{ticker}: {conflict}; nothing was changed (rerun with --replace to replace the "
                             "stored history)")
        merged, added, changed = merge(stored, incoming)
        if replace:  # the stored rows incoming lacks are dropped, not kept
            merged, changed = incoming, changed + int(np.sum(~np.isin(stored.dates, incoming.dates)))
        if not len(merged):
            raise UsageError(f"{ticker}: no rows to store (none in the dates asked for); nothing was changed")
        notes.extend(implausible_changes(ticker, Bars.empty() if replace else stored, incoming, merged))
        if damaged:
            aside = store.set_aside(store.bars_path(ticker))
            notes.append(Notice(ticker, f"{ticker}: the damaged {aside.name.removesuffix('.damaged')} was replaced "
                                        f"and kept as {aside} ({damaged.message.split(';')[0]})",
                                kind="damaged data files replaced, each kept as data/TICKER.csv.damaged"))
        if added or changed or replace or damaged or not store.has_bars(ticker):
            store.write_bars(ticker, merged, source=source, path=path,  # the bars and where from, as one unit
                             new_history=conflict is not None)  # another series: its models were calibrated on others
        elif source == "yahoo" or not store.has_fetch_info(ticker) or (
                path and store.fetch_info(ticker).get("path") != path):
            store.record_fetch(ticker, source, path)  # nothing new, but checked now, or where it came from was lost
    return FetchResult(ticker, len(merged), merged.first_date, merged.last_date, added, changed, tuple(notes),
                       new_history=conflict is not None)


def history_conflict(stored: Bars, incoming: Bars) -> str | None:
    """Why merging `incoming` would rewrite the stored history rather than extend or re-adjust it, or None.

    A dividend or split re-adjusts a whole span by one factor, which leaves its daily returns as they were; a revised
    last bar or two changes a couple of returns. So the test is on the daily log returns of Close and Adj Close over
    the days both hold: more than CONFLICT_MIN_DAYS (and more than CONFLICT_SHARE of them) moving by over
    CONFLICT_TOLERANCE means a different series (another ticker's file, a wrong column, a bad source).
    """
    common, change, was, now = _move_changes(stored, incoming)
    count = rewritten_moves(change)
    if not count:
        return None
    i = int((change > CONFLICT_TOLERANCE).argmax())
    return (f"the new data changes the daily moves of {count} of the {len(change)} days already stored (from "
            f"{common[i + 1]}: stored {100 * was[i]:+.2f}%, new {100 * now[i]:+.2f}%), which no dividend or split "
            "re-adjustment does: is it another series?")


def rewritten_moves(change: np.ndarray) -> int:
    """How many daily moves two price series of the same dates disagree on (`change`: `move_changes`), when they
    are too many to be one series re-adjusted (a dividend, a split) or revised (a bar or two): 0 when they are one
    series."""
    count = int(np.sum(change > CONFLICT_TOLERANCE))
    return count if count > max(CONFLICT_MIN_DAYS, CONFLICT_SHARE * len(change)) else 0


def move_changes(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """How much the daily log return into each price but the first changed from `before` to `after`, two series
    of prices on the same dates (one shorter than they are)."""
    return np.abs(np.diff(np.log(after)) - np.diff(np.log(before)))


def _move_changes(stored: Bars, incoming: Bars) -> tuple[np.ndarray, ...]:
    """Over the dates both hold: (dates, how much each daily move changed, the stored and the new log return of Adj
    Close); a move is the log return into a date from the date before, so each array but `dates` is one shorter.
    The change is the larger one of Close's and Adj Close's log returns."""
    common = np.intersect1d(stored.dates, incoming.dates)
    if len(common) < 2:
        return common, np.zeros(0), np.zeros(0), np.zeros(0)
    old, new = np.searchsorted(stored.dates, common), np.searchsorted(incoming.dates, common)
    change = np.maximum(move_changes(stored.adj_close[old], incoming.adj_close[new]),
                        move_changes(stored.close[old], incoming.close[new]))
    return common, change, np.diff(np.log(stored.adj_close[old])), np.diff(np.log(incoming.adj_close[new]))


def implausible_changes(ticker: str, stored: Bars, incoming: Bars, merged: Bars) -> list[Notice]:
    """Notices about what merging `incoming` into `stored` (giving `merged`) stores that is possible but hardly
    plausible, naming the dates: daily moves of the adjusted close beyond MAX_DAILY_FACTOR into or out of a new or
    changed row (see bars.large_moves), and revisions of stored bars that change a daily move by more than
    REVISION_WARNING. Both are what an unadjusted split or another series' file looks like."""
    notices = []
    moves = large_moves(merged, _new_dates(stored, incoming))
    if moves:
        date, before, after = moves[0]
        factor = f"x{after / before:.3g}" if after > before else f"/{before / after:.3g}"
        more = f" and on {_dates([m[0] for m in moves[1:]])}" if len(moves) > 1 else ""
        notices.append(Notice(ticker, f"{ticker}: the adjusted close moves from {before:.6g} to {after:.6g} "
                                      f"({factor}) on {date}{more}: no stock moves that much in a day; an unadjusted "
                                      "split, or a wrong file? Stored anyway",
                              kind=f"daily moves beyond x{MAX_DAILY_FACTOR:g} or /{MAX_DAILY_FACTOR:g} stored",
                              advice="an unadjusted split, or a wrong file? Check the data (--verbose names the "
                                     "dates)"))
    common, change, was, now = _move_changes(stored, incoming)
    revised = np.flatnonzero(change > REVISION_WARNING)
    if len(revised):
        i = int(revised[0])
        notices.append(Notice(
            ticker, f"{ticker}: the new data changes the daily move of {_dates([common[j + 1] for j in revised])} by "
                    f"more than {REVISION_WARNING:.0%} (on {common[i + 1]}: stored {100 * was[i]:+.2f}%, new "
                    f"{100 * now[i]:+.2f}%); stored anyway: is there a split not adjusted for, or a wrong file?",
            kind=f"revised bars that change daily moves by more than {REVISION_WARNING:.0%}",
            advice="a split not adjusted for, or a wrong file? Check the data (--verbose names the dates)"))
    return notices


def _new_dates(stored: Bars, incoming: Bars) -> np.ndarray:
    """The dates of `incoming` rows that are not already stored exactly so (added or revised)."""
    known = np.flatnonzero(np.isin(incoming.dates, stored.dates))
    where = np.searchsorted(stored.dates, incoming.dates[known])
    same = np.zeros(len(incoming), dtype=bool)
    same[known] = np.logical_and.reduce([new[known] == old[where] for new, old in
                                         zip(incoming.columns()[1:], stored.columns()[1:], strict=True)])
    return incoming.dates[~same]


def _dates(dates: list) -> str:
    """'2024-03-04, 2024-03-05, 2024-03-06 and 4 more'."""
    shown = ", ".join(str(date) for date in dates[:DATES_SHOWN])
    return shown + (f" and {len(dates) - DATES_SHOWN} more" if len(dates) > DATES_SHOWN else "")
