"""What forecaster refuses to trust: data too degenerate to train on, a model whose band is degenerate, a model file
whose values no trained model can have, and a forecast that is not a number.

- `check_trainable(bars, ticker)`: called by training before any work, and by `predict` and `check` for a ticker
  no model serves. A history whose closes never move, or do not move on more than half of its days or of its last
  RECENT_DAYS days (a halted or thinly traded symbol, a stale feed), has no risk to forecast: its intervals would
  have zero width. TooStill (a UsageError) naming the ticker, why, and what can succeed instead (other data, or
  removing it: training again never will).
- `check_band(forecasts, ticker)`: the last check before a model is saved: its intervals at every horizon must be
  finite and wider than nothing.
- `check_meta(meta, path, advice)`: every value of a loaded model's meta.json that forecasts use, one rule per field
  (META_RULES and, for each ticker's section, TICKER_RULES: tables, extended with the format). CorruptFile "... is a
  damaged model: FIELD ...; run 'forecast train' to retrain it" (exit 3). `check_weights` likewise for the arrays of
  its weights file: finite numbers; `check_built` for what meta.json says the network was built as: the window its
  weights file records (WINDOW_ARRAY: the weights do not depend on it, so models written since record it; older
  ones and shipped vintages are not checked) and the kind its folder holds (models/_pool/ a pooled model,
  models/TICKER/ a per-ticker one).
- `check_forecasts(rows, ticker)`: the last guard between a model and any output or log: no forecast that is not a
  positive finite number, no band with lower above upper.
- `changed_training_data(bars, training)`: whether a ticker's stored data still extends the data its model was
  trained or calibrated on (its `training` section in meta.json); `predict` refuses the model and `check` names it
  when it does not. `other_training_series(bars, training, history_replaced_at)`: whether, with those dates, they
  are another series than the one it learned from (`check` only: it hashes the history).

numpy only: `predict` loads models and starts fast.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from forecaster.data.bars import Bars, format_csv
from forecaster.errors import CorruptFile, DataUnavailable, UsageError
from forecaster.text import plural

RECENT_DAYS = 60  # the span whose stillness is judged on its own: the intervals are calibrated on the latest days
MAX_STILL_SHARE = 0.5  # more days than this share without a move, and the history is too still to forecast
MIN_BAND = 1e-6  # an interval narrower than this share of the price has (in effect) zero width
MAX_QUANTILE = 100.0  # standardised errors: no trained model's 5% or 95% quantile is anywhere near this
WINDOW_ARRAY = "window"  # the array of a weights file that records the window its network was trained with


# ------------------------------------------------------------------------------------------------- training
class TooStill(UsageError):
    """A history no model can be made of (see `check_trainable`); `fix` says what can succeed instead, since
    training it again never will."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.fix = fix

    def __reduce__(self):  # sent back from a worker process whole: pickle's default passes the message alone
        return type(self), (self.message, self.fix)

    @classmethod
    def of(cls, ticker: str, reason: str) -> TooStill:
        fix = (f"fetch or import other data for {ticker} (with --replace), or take it out with 'forecast remove "
               f"{ticker} --yes'")
        return cls(f"{ticker}: {reason}; {fix}", fix)


def check_trainable(bars: Bars, ticker: str) -> None:
    """TooStill (a UsageError), naming `ticker`, the reason and what to do instead, when `bars` are too still to
    train on (see the module docstring); nothing otherwise. Too few rows is left to training, which knows how many
    it needs."""
    prices = bars.adj_close
    if len(prices) < 2:
        return
    if np.all(prices == prices[0]):
        raise TooStill.of(ticker, f"every close is the same ({prices[0]:.6g}): there is no movement to learn and "
                                  "no risk to forecast")
    still = np.abs(np.diff(np.log(prices))) < 1e-12
    recent = min(RECENT_DAYS, len(still))
    for days, span in ((still[-RECENT_DAYS:], f"the last {recent} {plural(recent, 'day')}"),
                       (still, f"its {len(still)} {plural(len(still), 'day')}")):
        count = int(days.sum())
        if count > MAX_STILL_SHARE * len(days):
            raise TooStill.of(ticker, f"prices do not move on {count} of {span} (a halted or thinly traded symbol, "
                                      "or a stale feed?): a model of them would forecast no risk at all")


def check_band(forecasts: list[dict], ticker: str) -> None:
    """UsageError naming `ticker` unless every forecast (dicts with horizon, forecast, lower, upper) has a finite
    band wider than MIN_BAND of the price: a model that would print '25.21 [25.21, 25.21]' is never saved."""
    for row in forecasts:
        centre, lower, upper = row["forecast"], row["lower"], row["upper"]
        if not all(math.isfinite(v) for v in (centre, lower, upper)) or not upper - lower > MIN_BAND * abs(centre):
            raise UsageError(f"{ticker}: the trained model's 90% interval {row['horizon']} "
                             f"{'session' if row['horizon'] == 1 else 'sessions'} ahead is degenerate ({centre:.6g} "
                             f"[{lower:.6g}, {upper:.6g}]): the data gives it no risk to forecast; no model was saved")


# ------------------------------------------------------------------------------------------------- forecasts
def check_forecasts(rows: list[dict], ticker: str) -> None:
    """DataUnavailable naming `ticker` and the date when a forecast, or its band, is not a positive finite number,
    or its lower bound is above its upper bound; such a row is never printed, plotted or logged."""
    for row in rows:
        values = (row["forecast"], row["lower"], row["upper"])
        if not all(isinstance(v, float | int) and math.isfinite(v) and v > 0 for v in values) or values[1] > values[2]:
            shown = ", ".join(f"{name} {value}" for name, value in zip(("forecast", "lower", "upper"), values,
                                                                          strict=True))
            raise DataUnavailable(f"{ticker}: the model gave no usable forecast for {row['date']} ({shown}); run "
                                  f"'forecast train {ticker}' to retrain it")


def changed_training_data(bars: Bars, training: dict) -> str | None:
    """What no longer holds of the data a model was trained or calibrated on, or None when the stored `bars` still
    extend it: their first `rows` rows run from its first date to its last (newer rows are what a model forecasts
    from). Fewer rows (a history cut back or shortened), or other dates (another series, a history begun elsewhere)
    are a changed history whose calibration no longer describes it. The dates, not the prices, are compared: a
    dividend or split re-adjusts every earlier price by one factor (Yahoo restates the history), which leaves the
    daily moves, and the calibration, as they were."""
    rows, first, last = int(training["rows"]), training["first_date"], training["last_date"]
    calibrated = f"the {rows} {plural(rows, 'row')} from {first} to {last} it was calibrated on"
    if len(bars) < rows:
        return (f"{len(bars)} {plural(len(bars), 'row')} ({bars.first_date} to {bars.last_date}) are stored, fewer "
                f"than {calibrated}")
    if bars.first_date != first or str(bars.dates[rows - 1]) != last:
        return (f"the stored rows ({bars.first_date} to {bars.last_date}) do not begin with {calibrated}: another "
                "history")
    return None


def other_training_series(bars: Bars, training: dict, history_replaced_at: str | None) -> str | None:
    """What is wrong when the stored `bars`, which extend the data a model was calibrated on by its dates
    (`changed_training_data`), are yet another series than that data, or None. Its `training` section records the
    SHA-256 of `format_csv` of the rows it learned from (`data_sha256`, the first `rows` rows) and when
    (`calibrated_at`); but every dividend or split restates the earlier prices, and so the SHA-256, while leaving the
    daily moves and the calibration as they were. So a SHA-256 that differs counts only when the store replaced the
    history by another series (--replace over updates.history_conflict) at or after the calibration:
    `history_replaced_at`, which data/TICKER.json records. Hashing a whole history is for `check`, not for
    `predict`, which must start fast."""
    digest, calibrated = training.get("data_sha256"), training.get("calibrated_at")
    rows = int(training["rows"])
    if not (digest and calibrated and history_replaced_at) or len(bars) < rows:
        return None
    try:
        if dt.datetime.fromisoformat(history_replaced_at) < dt.datetime.fromisoformat(calibrated):
            return None
    except (TypeError, ValueError):  # a time unknown (calibrated_at is not checked when a model is read): compare
        pass
    if hashlib.sha256(format_csv(bars.take(slice(0, rows))).encode()).hexdigest() == digest:
        return None
    return (f"the stored data is another series, which replaced the history at {history_replaced_at} (--replace), "
            f"after it was calibrated on the {rows} {plural(rows, 'row')} from {training['first_date']} to "
            f"{training['last_date']}")


# ------------------------------------------------------------------------------------------------ model files
Rule = Callable[[object, dict], "str | None"]  # (value, whole meta) -> the problem, or None when the value is fine


def number(low: float | None = None, high: float | None = None, *, above: float | None = None,
           integer: bool = False) -> Rule:
    """A finite number (an integer with `integer`) in [low, high], or greater than `above`."""
    def rule(value, meta):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        if integer and value != int(value):
            return f"must be an integer, got {value!r}"
        if (low is not None and value < low) or (high is not None and value > high):
            return f"must be between {low:g} and {high:g}, got {value!r}"
        if above is not None and not value > above:
            return f"must be greater than {above:g}, got {value!r}"
        return None
    return rule


def numbers(length: Callable[[dict], int], element: Rule) -> Rule:
    """A list of `length(meta)` values, each passing `element`."""
    def rule(value, meta):
        if not isinstance(value, list) or len(value) != length(meta):
            return f"must be a list of {length(meta)} numbers, got {value!r}"
        return next((f"[{i}] {problem}" for i, item in enumerate(value) if (problem := element(item, meta))), None)
    return rule


def one_of(*choices: str) -> Rule:
    def rule(value, meta):
        return None if value in choices else f"must be one of {', '.join(choices)}, got {value!r}"
    return rule


def matches(pattern: str, what: str) -> Rule:
    def rule(value, meta):
        return None if isinstance(value, str) and re.fullmatch(pattern, value) else f"must be {what}, got {value!r}"
    return rule


def parses(parse: Callable, what: str) -> Rule:
    """A value that `parse` accepts (a date, a time)."""
    def rule(value, meta):
        try:
            parse(value)
        except (TypeError, ValueError):
            return f"must be {what}, got {value!r}"
        return None
    return rule


def quantile_grid(value, meta):
    """{"1": {"lower": [...], "upper": [...]}, "5": ..., "20": ...}: per calibrated horizon, the standardised
    quantiles at every tail probability, in order (lower ones rising with p, upper ones falling, every lower one
    below every upper one)."""
    from forecaster.model.calibration import CALIBRATED_HORIZONS, TAIL_PROBABILITIES

    if not isinstance(value, dict) or sorted(value, key=str) != sorted(str(h) for h in CALIBRATED_HORIZONS):
        return f"must map the horizons {', '.join(map(str, CALIBRATED_HORIZONS))} to quantiles, got {value!r}"
    for horizon, tails in value.items():
        if not isinstance(tails, dict):
            return f"[\"{horizon}\"] must hold lower and upper quantiles, got {tails!r}"
        for tail in ("lower", "upper"):
            problem = numbers(lambda m: len(TAIL_PROBABILITIES), number(-MAX_QUANTILE, MAX_QUANTILE))(
                tails.get(tail), meta)
            if problem:
                return f"[\"{horizon}\"].{tail}{'' if problem.startswith('[') else ' '}{problem}"
        lower, upper = np.array(tails["lower"]), np.array(tails["upper"])
        if np.any(np.diff(lower) < 0) or np.any(np.diff(upper) > 0) or lower.max() >= upper.min():
            return (f"[\"{horizon}\"] are out of order (lower quantiles must rise, upper ones fall, all lower below "
                    "upper)")
    return None


def degrees_of_freedom(value, meta):
    """ν of the Student-t (> 2: a finite variance), or null for the Gaussian."""
    return None if value is None else number(above=2)(value, meta)


def _inputs(meta: dict) -> int:
    from forecaster.model.panel import input_names

    return len(input_names(meta.get("features"), bool(meta.get("market"))))


def _training_bound(name: str, bound: str):
    from forecaster.config import BY_NAME

    return getattr(BY_NAME[f"train.{name}"], bound)


def _hyperparameter(name: str) -> Rule:
    def rule(value, meta):  # the same bounds as the training option (forecaster.config)
        return number(_training_bound(name, "low"), _training_bound(name, "high"), integer=True)(value, meta)
    return rule


def _tickers(value, meta):
    from forecaster.data.store import normalize_ticker

    if not isinstance(value, dict) or not (value or meta.get("vintage")):  # a shipped vintage serves no ticker yet
        return f"must name the tickers the model serves, got {value!r}"
    for ticker in value:
        try:
            normalize_ticker(ticker)
        except UsageError:
            return f"has {ticker!r}, which is not a ticker symbol"
    return None


def _market(value, meta):
    if value is None:
        return None
    if not isinstance(value, dict):
        return f"must be null or the market's ticker and last date, got {value!r}"
    return matches(r"[A-Z0-9^][A-Z0-9.^=\-]{0,19}", "a ticker symbol")(value.get("ticker"), meta)


def _inputs_in_order(value, meta):
    """The inputs' names in the order the network takes them (forecaster.model.panel.input_names)."""
    from forecaster.model.panel import input_names

    expected = list(input_names(meta.get("features"), bool(meta.get("market"))))
    return None if value == expected else f"must be {expected} (in this order), got {value!r}"


def _one_ticker_if_per_ticker(value, meta):
    """A per-ticker model is a pool of one: it serves one ticker, trained with its network."""
    tickers = meta.get("tickers")
    if value == "per-ticker" and isinstance(tickers, dict) and (
            len(tickers) != 1 or not all(isinstance(s, dict) and s.get("member") for s in tickers.values())):
        return f"is 'per-ticker', but the model serves {len(tickers)} tickers or was not trained on its ticker"
    return None


def not_after_today(parse: Callable, what: str) -> Rule:
    """A value that `parse` accepts (a date, a time) whose date is not after today (UTC): a model trained in the
    future is a hand edit."""
    def rule(value, meta):
        try:
            parsed = parse(value)
        except (TypeError, ValueError):
            return f"must be {what}, got {value!r}"
        if isinstance(parsed, dt.datetime) and parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.timezone.utc)
        day = parsed.date() if isinstance(parsed, dt.datetime) else parsed
        today = dt.datetime.now(dt.timezone.utc).date()
        return f"is after today ({today}, UTC), got {value!r}" if day > today else None
    return rule


_DATE = not_after_today(dt.date.fromisoformat, "a date (YYYY-MM-DD)")
_PAIR = numbers(lambda m: 2, number())

# Every value of meta.json that a forecast uses, with what a trained model can hold there. Fields are dotted paths;
# TICKER_RULES apply to each section under "tickers".
META_RULES: tuple[tuple[str, Rule], ...] = (
    ("kind", one_of("pooled", "per-ticker")),
    ("kind", _one_ticker_if_per_ticker),
    ("hyperparameters.window", _hyperparameter("window")),
    ("hyperparameters.hidden", _hyperparameter("hidden")),
    ("hyperparameters.layers", _hyperparameter("layers")),
    ("hyperparameters.seed", _hyperparameter("seed")),
    ("features", one_of("range", "returns")),
    ("market", _market),
    ("inputs", _inputs_in_order),
    ("pool.nu", degrees_of_freedom),
    ("pool.har.beta", numbers(lambda m: 3, number(0, 10))),
    ("pool.har.shock", numbers(lambda m: 2, number(0, 10))),
    ("pool.har.offset", _PAIR),
    ("pool.har.shock_scale", _PAIR),
    ("pool.input_scale", numbers(_inputs, number(above=0))),
    ("training.first_date", _DATE),
    ("training.last_date", _DATE),
    ("created_at", not_after_today(dt.datetime.fromisoformat, "a date and time (ISO 8601)")),
    ("weights_file", matches(r"weights-[0-9a-f]{16}\.npz", "a weights file name (weights-<16 hex digits>.npz)")),
    ("weights_sha256", matches(r"[0-9a-f]{64}", "a SHA-256 (64 hex digits)")),
    ("tickers", _tickers),
)
# A shipped vintage's section (forecaster.model.vintages), in a vintage and in a home pool calibrated against one.
VINTAGE_RULES: tuple[tuple[str, Rule], ...] = (
    ("last_date", _DATE),
    ("cut", _DATE),
)
TICKER_RULES: tuple[tuple[str, Rule], ...] = (
    ("level", number(-60, 10)),
    ("offset", number(-20, 20)),
    ("shock_scale", number(0, 60)),
    ("scaler.mean", numbers(_inputs, number())),
    ("scaler.scale", numbers(_inputs, number(above=0))),
    ("network_share", number(0, 1)),
    ("scale_share", number(0, 1.5)),
    ("persistence", number(0, 1)),
    ("quantiles", quantile_grid),
    ("training.first_date", _DATE),
    ("training.last_date", _DATE),
    ("training.rows", number(1, 10**8, integer=True)),
)


def check_weights(state: dict[str, np.ndarray], path: Path, advice: str) -> None:
    """CorruptFile naming the array unless every array of a loaded weights file holds finite numbers, as a trained
    network's do."""
    for name, array in state.items():
        if array.dtype.kind not in "fiu" or not np.isfinite(array).all():
            raise CorruptFile(f"{path} is a damaged model: {name} holds values that are not finite numbers; {advice}")


def check_built(meta: dict, path: Path, advice: str, *, window: np.ndarray | None, pooled: bool | None) -> None:
    """CorruptFile naming meta.json (`path`) when its `hyperparameters.window` is not the `window` its weights file
    records (None: not recorded), or its `kind` is not the one its folder holds (`pooled`: models/_pool/; None: no
    home folder, a shipped vintage)."""
    problem = None
    recorded = None if window is None else window.reshape(-1)
    if recorded is not None and (len(recorded) != 1 or recorded[0] != meta["hyperparameters"]["window"]):
        problem = (f"hyperparameters.window must be {recorded[0] if len(recorded) == 1 else recorded.tolist()}, the "
                   f"window its network was trained with, got {meta['hyperparameters']['window']!r}")
    elif pooled is not None and meta["kind"] != ("pooled" if pooled else "per-ticker"):
        problem = (f"kind must be {'pooled' if pooled else 'per-ticker'} in "
                   f"{'the pool' if pooled else 'a ticker'}'s folder, got {meta['kind']!r}")
    if problem:
        raise CorruptFile(f"{path} is a damaged model: {problem}; {advice}")


def check_meta(meta: dict, path: Path, advice: str) -> None:
    """CorruptFile naming the file, the field and the problem when a value of `meta` (read from `path`) is one no
    trained model holds (see META_RULES and TICKER_RULES); `advice` says how to get a sound one."""
    problem = _first_problem(meta, META_RULES, "") or (
        _first_problem(meta["vintage"], VINTAGE_RULES, "vintage.") if "vintage" in meta else None) or next(
        (found for ticker, section in meta["tickers"].items()
         if (found := _first_problem(section, TICKER_RULES, f"tickers.{ticker}.", meta))), None)
    if problem:
        raise CorruptFile(f"{path} is a damaged model: {problem}; {advice}")


def _first_problem(section, rules, prefix: str, meta: dict | None = None) -> str | None:
    for field, rule in rules:
        value = section
        try:
            for key in field.split("."):
                value = value[key]
        except (KeyError, TypeError, IndexError):
            problem = "is missing"
        else:
            problem = rule(value, section if meta is None else meta)
        if problem:
            separator = "" if problem.startswith("[") else " "  # field[1] must ..., field must ...
            return f"{prefix}{field}{separator}{problem}"
    return None
