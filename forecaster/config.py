"""Settings: the watchlist and the defaults of command options, each declared once, read from HOME/forecast.toml.

Every option that the file can set is one `Setting` in SETTINGS: its section and key in the file (the key is also
the command-line option, `batch_size` -> `--batch-size`), default, bounds and help. The CLI builds its options from
these declarations, so `train` and `evaluate` share one declaration of each training option, and the file is checked
against the same bounds as the command line.

A value comes from, in order: the command line, the setting's environment variable (if it has one), the file, the
default. The file (TOML, read with the standard library's tomllib)::

    tickers = ["AAPL", "MSFT", "^GSPC"]   # the watchlist: what fetch, train, evaluate and predict do by default

    [fetch]
    rate = 0.4          # Yahoo requests per second

    [train]             # defaults of train and evaluate
    epochs = 100

    [parallel]
    jobs = 2
    scheduler = "tcp://scheduler.example:8786"

    [predict]
    max_model_age_days = 7   # warn about a model only when the data has gone further than this past it

    [portfolio]
    holdings = { AAPL = 100, MSFT = -20 }   # shares held (negative: short), for `forecast portfolio`
    alert_var = 0.03    # warn when the one-day value at risk passes 3% of the portfolio's value

A malformed file, an unknown section or key, a section given a value, or a bad value is a UsageError naming the
file, the line and the key. Only the standard library and the symbols' rule are imported here: `predict` reads the
watchlist and starts fast.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from forecaster.data.files import read_input_file
from forecaster.data.store import CONFIG_FILE, normalize_ticker
from forecaster.errors import UsageError


@dataclass(frozen=True)
class Setting:
    section: str  # the file's [section]: "fetch", "train" (train and evaluate), "parallel", "predict", "portfolio"
    key: str  # the key in that section; the command-line option is --key with '-' for '_'
    default: object  # None: none (for jobs: the number of cores)
    help: str
    kind: type  # int, float or str
    low: float | None = None  # inclusive bounds of a number
    high: float | None = None
    open_low: bool = False  # the low bound itself is excluded
    choices: tuple[str, ...] = ()  # the allowed strings, if limited
    pattern: str | None = None  # a regular expression a string must match in full ...
    example: str = ""  # ... described by an example, for the message
    env: str | None = None  # an environment variable that overrides the file
    symbol: bool = False  # a string that is a ticker symbol (or "none")

    @property
    def option(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    def check(self, value):
        """`value` converted to the setting's type; ValueError with the reason when it is not allowed."""
        if self.kind is str:
            if not isinstance(value, str):
                raise ValueError(f"must be a string, got {value!r}")
            if self.choices and value not in self.choices:
                raise ValueError(f"must be one of {', '.join(self.choices)}, got {value!r}")
            if self.pattern and not re.fullmatch(self.pattern, value):
                raise ValueError(f"must be {self.example}, got {value!r}")
            if self.symbol and value.strip().lower() != "none":
                try:
                    return normalize_ticker(value)
                except UsageError as error:
                    raise ValueError(f"must be a ticker symbol or none: {error.message}") from None
            return value.strip().lower() if self.symbol else value
        value = number_of(value, self.kind)
        low_ok = self.low is None or (value > self.low if self.open_low else value >= self.low)
        if not (math.isfinite(value) and low_ok and (self.high is None or value <= self.high)):
            raise ValueError(f"must be {self.bounds}, got {value!r}")
        return value

    @property
    def shown_default(self) -> str:
        """The default as `--help` and `forecast config` show it."""
        from forecaster.text import plain_number

        default = plain_number(self.default) if isinstance(self.default, float) else str(self.default)
        return {"parallel.jobs": "the number of cores", "parallel.scheduler": "none: this machine",
                "portfolio.alert_var": "none: never"}.get(self.name, default)

    @property
    def bounds(self) -> str:
        """The allowed range in words: 'between 2 and 1000', 'greater than 0 and at most 1'."""
        if self.open_low:
            return f"greater than {_number(self.low)} and at most {_number(self.high)}"
        return f"between {_number(self.low)} and {_number(self.high)}"


def number_of(value, kind: type) -> int | float:
    """`value` as `kind`, int or float; ValueError saying what it must be when it is none (a bool, a string, 2.5 for
    an int). NumPy's numbers are numbers; 3.0 is an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
            kind is int and not (math.isfinite(value) and value == int(value))):
        raise ValueError(f"must be {'an integer' if kind is int else 'a number'}, got {value!r}")
    return kind(value)


def _feature_sets() -> tuple[str, ...]:
    from forecaster.model.windows import FEATURE_CHOICES

    return FEATURE_CHOICES


# A Dask scheduler's address as `dask scheduler` prints it: [PROTOCOL://]HOST:PORT (an http:// address is the
# dashboard's, not the scheduler's).
SCHEDULER_ADDRESS = (r"(?:(?:tcp|tls|ucx|ws|wss)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"
                     r":[0-9]{1,5}")
MIN_RATE = 0.01  # requests per second: one every 100 s; slower is a mistake, not politeness

SETTINGS: tuple[Setting, ...] = (
    Setting("fetch", "rate", 0.4, f"Yahoo Finance requests per second (polite: well under Yahoo's limit; at least "
            f"{MIN_RATE:g}).", float, MIN_RATE, 100),
    Setting("train", "window", 30, "Trading days in each input window.", int, 2, 1000),
    Setting("train", "hidden", 32, "LSTM hidden units per layer.", int, 1, 1024),
    Setting("train", "layers", 1, "Stacked LSTM layers.", int, 1, 8),
    Setting("train", "epochs", 200, "Maximum training epochs (an epoch of a pool is at most 131,072 windows).", int, 1,
            100_000),
    Setting("train", "batch_size", 256, "Windows per mini-batch.", int, 1, 65_536),
    Setting("train", "lr", 1e-3, "Adam learning rate.", float, 0, 1, open_low=True),
    Setting("train", "patience", 5, "Stop after this many epochs without validation improvement (0: never stop "
            "early).", int, 0, 100_000),
    Setting("train", "seed", 0, "Random seed: same seed and data give the same model.", int, 0, 2**32 - 1),
    Setting("train", "features", "auto", "Inputs per day: 'range' (log return, high-low range, overnight gap, "
            "intraday move, volume change, level, correction), 'returns' (log return, level, correction) or 'auto' "
            "(range where the data has real OHLC, else returns).", str, choices=_feature_sets()),
    Setting("train", "model", "shipped", "'shipped': the network pretrained on 1,500 histories that ships with "
            "forecaster, each ticker calibrated against it; 'pooled': one network trained on the home's tickers "
            "together; 'per-ticker': a network of its own for each.", str, choices=("shipped", "pooled", "per-ticker")),
    Setting("train", "market", "none", "A market index whose same-day moves every window sees (a stored ticker, "
            "e.g. ^GSPC), or 'none'.", str, symbol=True),
    Setting("predict", "level", 0.90, "Level of the forecast intervals, e.g. 0.9 for 90%.", float, 0.5, 0.998),
    Setting("parallel", "jobs", None, "Per-ticker jobs at once (models of their own, baselines), in worker "
            "processes.", int, 1, 1024),
    Setting("parallel", "scheduler", None, "Run the jobs (the pool's training too) on this Dask scheduler (e.g. "
            "tcp://host:8786) instead of this machine.", str, pattern=SCHEDULER_ADDRESS,
            example="a Dask scheduler address such as tcp://HOST:8786 (what 'dask scheduler' prints)",
            env="FORECAST_SCHEDULER"),
    Setting("predict", "max_model_age_days", 7, "Warn that a model is older than its data only when the stored data "
            "goes more than this many days past the model's training data (0: as soon as there is newer data).",
            int, 0, 3650),
    Setting("portfolio", "level", 0.99, "Confidence level of the portfolio's value at risk and expected shortfall, "
            "e.g. 0.99: the loss exceeded one day in a hundred.", float, 0.9, 0.999),
    Setting("portfolio", "alert_var", None, "Warn (on stderr, -q or not) when the portfolio's value at risk passes "
            "this share of its gross value, longs plus shorts (e.g. 0.03 for 3%).", float, 0, 1, open_low=True),
)
HOLDINGS_KEY = "holdings"  # [portfolio] holdings: a table of shares by ticker (forecaster.data.holdings), no Setting
BY_NAME = {setting.name: setting for setting in SETTINGS}
SECTIONS = sorted({setting.section for setting in SETTINGS})


def settings_of(*names: str) -> list[Setting]:
    """The settings of these sections ("train") or these single settings ("predict.level"), in declaration order."""
    return [setting for setting in SETTINGS if setting.section in names or setting.name in names]


@dataclass
class Config:
    """What forecast.toml says (empty when there is no file): `tickers` and `values` by setting name."""

    path: Path
    exists: bool
    tickers: list[str]
    values: dict[str, object]
    holdings: object = None  # data.holdings.Holdings of [portfolio] holdings, if set

    def value(self, name: str, given=None) -> object:
        """The effective value of setting `name` when the command line gave `given` (None: not given)."""
        return self.resolve(name, given)[0]

    def resolve(self, name: str, given=None) -> tuple[object, str]:
        """(value, where it came from): 'command line', '$VARIABLE', the file's path, or 'default'."""
        setting = BY_NAME[name]
        if given is not None:
            try:
                return setting.check(given), "command line"
            except ValueError as error:
                raise UsageError(f"{setting.option} {error}") from None
        if setting.env and os.environ.get(setting.env, "").strip():
            try:
                return setting.check(os.environ[setting.env].strip()), f"${setting.env}"
            except ValueError as error:
                raise UsageError(f"${setting.env} {error}") from None
        if name in self.values:
            return self.values[name], str(self.path)
        return setting.default, "default"

    def watchlist_and(self, others: list[str]) -> list[str]:
        """The watchlist, then every ticker of `others` not on it (the default set of a command)."""
        return list(dict.fromkeys([*self.tickers, *others]))


def load_config(home: Path) -> Config:
    """Read HOME/forecast.toml (an empty Config when there is none); UsageError for anything wrong in it."""
    path = Path(home) / CONFIG_FILE
    raw = read_input_file(path, "a settings file", missing_ok=True)
    if raw is None:
        return Config(path, False, [], {})
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as some editors write, is not part of the settings
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path}: not valid TOML: {error}") from None
    tickers, values, holdings = [], {}, None
    for key, value in document.items():
        if key == "tickers":
            tickers = _tickers(value, path, _line_of(text, None, key))
        elif key in SECTIONS and not isinstance(value, dict):
            raise UsageError(f"{path}{_line_of(text, None, key)}: {key} must be a section (a table), not a value: "
                             f"write [{key}] on a line of its own and its settings below it")
        elif key in SECTIONS:
            for option, option_value in value.items():
                where = f"{path}{_line_of(text, key, option)}"
                if key == "portfolio" and option == HOLDINGS_KEY:
                    from forecaster.data.holdings import holdings_from_config

                    holdings = holdings_from_config(option_value, path, text)
                    continue
                setting = BY_NAME.get(f"{key}.{option}")
                if setting is None:
                    keys = [s.key for s in settings_of(key)] + ([HOLDINGS_KEY] if key == "portfolio" else [])
                    known = ", ".join(keys)
                    raise UsageError(f"{where}: unknown key '{option}' in [{key}] (known: {known})")
                try:
                    values[setting.name] = setting.check(option_value)
                except ValueError as error:
                    raise UsageError(f"{where}: [{key}] {option} {error}") from None
        else:
            known = ", ".join(["tickers", *(f"[{section}]" for section in SECTIONS)])
            raise UsageError(f"{path}{_line_of(text, None, key)}: unknown key '{key}' (known: {known})")
    return Config(path, True, tickers, values, holdings)


def _tickers(value, path: Path, line: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"{path}{line}: tickers must be a list of symbols, e.g. tickers = [\"MSFT\", \"^GSPC\"]")
    try:
        return list(dict.fromkeys(normalize_ticker(item) for item in value))
    except UsageError as error:
        raise UsageError(f"{path}{line}: tickers: {error.message}") from None


def _line_of(text: str, section: str | None, key: str) -> str:
    """' line N' where `key` is set (in [section], or before any section), or '' when it cannot be found."""
    current = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]\s*(#.*)?", stripped)
        if header:
            current = header.group(1).strip('"\' ')
            if section is None and current == key:
                return f" line {number}"
        elif current == section and re.match(rf"""["']?{re.escape(key)}["']?\s*=""", stripped):
            return f" line {number}"
    return ""


def _number(value) -> str:
    return "-" if value is None else (str(int(value)) if float(value).is_integer() else repr(value))
