"""A trained model: one LSTM that forecasts the distribution of the next return for every ticker of a pool (or for
one ticker), with each ticker's calibration; forecasts from it; and its files.

For ticker i and the window of inputs ending at day t (model.panel), the network's linear head gives two numbers:
the mean m and a correction s to the log of the baseline volatility σ_t (forecaster.model.baseline). With the ticker's
calibration (forecaster.model.calibration: network shares α of the mean and λ of the scale, persistence φ, quantiles q):

    next-day log return  r̂ = α m σ_t                     (α = 0: the naive forecast "tomorrow = today")
    its volatility        v_1 = (σ_t exp(λ s))²            (λ = 0: the baseline alone)
    h days ahead          R_h = r̂ (the network's mean is validated one session ahead; the sessions after it add
                          none: the naive forecast's drift, zero)
                          V_h = Σ_{j<=h} v_j, v_j = m_t + φ^(j-1) (v_1 - m_t), m_t the EWMA(0.99) of σ²
    price and interval    P_t exp(R_h), P_t exp(R_h + q sqrt(V_h)) with q the calibrated quantiles of the level
    volatility figure     sqrt(252 v_h), in %: the forecast standard deviation of that session's log return, annualised

Two kinds share this format: the pooled model, `models/_pool/`, one network trained on the windows of many tickers
(and any ticker calibrated against it later), and a ticker's own model, `models/TICKER/`, a pool of that one ticker.
Each is `meta.json` (readable: hyperparameters, the pooled HAR and calibration, and a section per ticker) and the
weights it names, `weights-<hash>.npz` (PyTorch-layout state dict, loaded with allow_pickle=False and checked against
its SHA-256). The weights are written first and the metadata last, each atomically, so a reader always finds a
complete, matching pair. A ticker's own model, where it has one, serves it; otherwise the pool does.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from forecaster import __version__
from forecaster.config import BY_NAME, Config, settings_of
from forecaster.data.store import (
    Store,
    atomic_write_bytes,
    atomic_write_text,
    normalize_ticker,
    read_stored_bytes,
    read_stored_text,
    stored_entries,
    stored_exists,
)
from forecaster.errors import CorruptFile, DataUnavailable, ForecastError, ModelMissing, UsageError
from forecaster.model.baseline import Har
from forecaster.model.calibration import TickerCalibration, quantile_at
from forecaster.model.guards import (
    WINDOW_ARRAY,
    changed_training_data,
    check_built,
    check_meta,
    check_weights,
    other_training_series,
)
from forecaster.model.lstm import LSTMRegressor, StateDictError
from forecaster.model.panel import Market, TickerData, input_names, ticker_data
from forecaster.model.volatility import TRADING_DAYS, cumulative_variance, long_run_variance
from forecaster.text import plural

FORMAT_VERSION = 5  # 3: pooled network, scale-free inputs over a HAR baseline, partially pooled calibration;
# 4: the HAR's variance has shock terms, r² and the squared gap (a model of format 3 would be misread: refused);
# 5: each ticker has its own multiple of the shock terms, its shock scale (format 4 has none: refused)
POOL = "_pool"  # the pooled model's folder under models/ (no ticker symbol starts with '_')
KINDS = ("pooled", "per-ticker")
MIN_TRAIN_WINDOWS = 60
MIN_VALIDATION_WINDOWS = 20
MIN_JOIN_WINDOWS = 20  # windows with a known next return a ticker needs to join a pool
LEVEL_RANGE = (BY_NAME["predict.level"].low, BY_NAME["predict.level"].high)  # declared with [predict] level


def _setting(key: str):
    """A training option's default, as declared once in forecaster.config.SETTINGS."""
    return field(default=BY_NAME[f"train.{key}"].default)


@dataclass(frozen=True)
class TrainingConfig:
    window: int = _setting("window")
    hidden: int = _setting("hidden")
    layers: int = _setting("layers")
    epochs: int = _setting("epochs")
    batch_size: int = _setting("batch_size")
    lr: float = _setting("lr")
    patience: int = _setting("patience")
    seed: int = _setting("seed")
    features: str = _setting("features")
    model: str = _setting("model")
    market: str = _setting("market")

    def check(self) -> None:
        """UsageError for a value no training can use (bounds in forecaster.config), before any work is done."""
        for setting in settings_of("train"):
            try:
                setting.check(getattr(self, setting.key))
            except ValueError as error:
                raise UsageError(f"{setting.option} {error}") from None

    @classmethod
    def from_settings(cls, config: Config, given: dict) -> TrainingConfig:
        """The training options given on the command line (`given`: key -> value), else in forecast.toml, else
        their defaults."""
        return cls(**{s.key: config.value(s.name, given.get(s.key)) for s in settings_of("train")})

    @property
    def min_rows(self) -> int:
        """Bars a ticker's own model needs (`own_model_rows`)."""
        return own_model_rows(self.window)

    @property
    def min_join_rows(self) -> int:
        """Bars a ticker needs to join a pool (`join_rows`)."""
        return join_rows(self.window)

    @property
    def market_ticker(self) -> str | None:
        return None if self.market.lower() == "none" else normalize_ticker(self.market)

    @property
    def hyperparameters(self) -> dict:
        return {"window": self.window, "hidden": self.hidden, "layers": self.layers, "epochs": self.epochs,
                "batch_size": self.batch_size, "lr": self.lr, "patience": self.patience, "seed": self.seed}


def own_model_rows(window: int) -> int:
    """Bars a ticker's own model (a network of its windows alone) needs with this window: one to start returns, a
    window, and windows to train and validate on."""
    return 1 + window + MIN_TRAIN_WINDOWS + MIN_VALIDATION_WINDOWS


def join_rows(window: int) -> int:
    """Bars a ticker needs to join a pool whose network reads windows of this length (as a member, or calibrated
    against it): one to start returns, a window, and MIN_JOIN_WINDOWS windows with a known next return."""
    return 1 + window + MIN_JOIN_WINDOWS


def too_short(ticker: str, rows: int, window: int, *, alone: bool = False,
              advice: str = "fetch or import more history") -> str:
    """Why `rows` bars of `ticker` are too few to join a pool (`alone`: to train a model of its own) with this
    window, in words, with `advice`."""
    needed = own_model_rows(window) if alone else join_rows(window)
    return (f"{ticker} has {rows} {plural(rows, 'row')} of history; {'training' if alone else 'joining the pool'} "
            f"with --window {window} needs at least {needed} ({advice})")


def check_level(level: float) -> float:
    """UsageError unless LEVEL_RANGE[0] <= level <= LEVEL_RANGE[1]."""
    low, high = LEVEL_RANGE
    if not (isinstance(level, int | float) and math.isfinite(level) and low <= level <= high):
        raise UsageError(f"--level must be between {low} and {high}, got {level!r}")
    return float(level)


@dataclass
class Model:
    """A network and its metadata (see the module docstring); `meta["tickers"]` holds each ticker's calibration."""

    network: LSTMRegressor
    meta: dict

    # ---------------------------------------------------------------------------------------------- what it is
    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def label(self) -> str:
        """What the model is called wherever it is named: "per-ticker", "pooled" (trained on the home's tickers) or
        "shipped <last date>" (a shipped vintage, forecaster.model.vintages, with the home's tickers calibrated)."""
        return label_of(self.meta)

    @property
    def window(self) -> int:
        return int(self.meta["hyperparameters"]["window"])

    @property
    def features(self) -> str:
        return self.meta["features"]

    @property
    def market_ticker(self) -> str | None:
        market = self.meta.get("market")
        return market["ticker"] if market else None

    @property
    def tickers(self) -> list[str]:
        return list(self.meta["tickers"])

    @property
    def har(self) -> Har:
        return Har.from_json(self.meta["pool"]["har"])

    def calibration(self, ticker: str) -> TickerCalibration:
        """The ticker's section of the metadata, as it is now; ModelMissing when the model does not serve it."""
        try:
            section = self.meta["tickers"][ticker]
        except KeyError:
            raise ModelMissing(f"no model for {ticker}; run 'forecast train {ticker}' first") from None
        return TickerCalibration.from_json(section)

    # --------------------------------------------------------------------------------------------- forecasts
    def data(self, ticker: str, bars, market: Market | None) -> TickerData:
        """The ticker's inputs and baseline from its bars, with its stored calibration (the market only if the
        model was trained with one; its inputs are missing, the usual values, if it is not given)."""
        calibration = self.calibration(ticker)
        scaler = (calibration.scaler_mean, calibration.scaler_scale)
        if self.market_ticker:
            market = market if market is not None else Market.missing(self.market_ticker)
        else:
            market = None
        return ticker_data(ticker, bars, self.features, market, self.har, calibration.level, calibration.offset,
                           calibration.shock_scale,
                           scaler)

    def outputs(self, windows: np.ndarray) -> np.ndarray:
        """The network's (m, s) (N, 2) for windows (N, W, F), in batches."""
        out = np.empty((len(windows), 2))
        for start in range(0, len(windows), 4096):
            out[start: start + 4096] = self.network.forward(windows[start: start + 4096].astype(self.network.dtype))
        return out

    def paths(self, items: list[tuple[str, TickerData, np.ndarray]], horizon: int) -> list[tuple[np.ndarray, ...]]:
        """For each (ticker, data, ends): the cumulative mean log return R_h and variance V_h (N, horizon) each, and
        the daily variances v_h (N, horizon), from the windows ending at `ends` (one batched network pass over every
        ticker's windows)."""
        calibrations = [self.calibration(ticker) for ticker, _, _ in items]
        windows = [data.windows(ends, self.window) for _, data, ends in items]
        sizes = [len(w) for w in windows]
        stacked = np.concatenate(windows) if windows else np.empty((0, self.window, 1), dtype=np.float32)
        sigma = np.concatenate([data.baseline.sigma[ends] for _, data, ends in items])
        alpha = np.repeat([c.network_share for c in calibrations], sizes)
        output = self.outputs(stacked)
        first_scale = output[:, 1]
        # the network's mean return is validated one session ahead (its share α is estimated there): that session
        # moves by it, and the sessions after it by nothing (the naive forecast), so no mean compounds unvalidated
        means = np.repeat((alpha * output[:, 0] * sigma)[:, None], horizon, axis=1)
        out, start = [], 0
        for (_, data, ends), calibration, size in zip(items, calibrations, sizes, strict=True):
            rows = slice(start, start + size)
            start += size
            v1 = (sigma[rows] * np.exp(calibration.scale_share * first_scale[rows])) ** 2
            long_run = long_run_variance(data.baseline.sigma)[ends]
            phi = calibration.persistence
            daily = np.column_stack([long_run + phi ** (h - 1) * (v1 - long_run) for h in range(1, horizon + 1)])
            variance = np.column_stack([cumulative_variance(v1, long_run, phi, h) for h in range(1, horizon + 1)])
            out.append((means[rows], variance, daily))
        return out

    def check_data(self, ticker: str, bars) -> None:
        """DataUnavailable naming `ticker`, what changed and what to run when its stored `bars` no longer extend the
        data it was calibrated on (guards.changed_training_data): its calibration would describe another history."""
        calibration = self.calibration(ticker)
        problem = changed_training_data(bars, {"rows": calibration.rows, "first_date": calibration.first_date,
                                               "last_date": calibration.last_date})
        if problem is not None:
            raise DataUnavailable(f"{ticker}: its data changed since its model was calibrated: {problem}; "
                                  f"{recalibrate_advice(ticker, len(bars), self.window)}")

    def check_series(self, ticker: str, bars, history_replaced_at: str | None) -> None:
        """DataUnavailable naming `ticker` and what to run when its stored `bars` are another series than the one it
        was calibrated on (guards.other_training_series; `history_replaced_at`: Store.history_replaced_at). For
        `check`: it hashes the history, which `predict` cannot afford."""
        training = {"calibrated_at": self.meta["created_at"], **self.meta["tickers"][ticker]["training"]}  # older
        problem = other_training_series(bars, training, history_replaced_at)  # models recorded no calibrated_at
        if problem is not None:
            raise DataUnavailable(f"{ticker}: its model was calibrated on other data: {problem}; "
                                  f"{recalibrate_advice(ticker, len(bars), self.window)}")

    def quantiles(self, ticker: str, horizon: int, level: float) -> tuple[float, float]:
        """The calibrated standardised (lower, upper) quantiles of a central interval at `level`, h days ahead."""
        return quantile_at(self.calibration(ticker).quantiles, horizon, level)

    def forecast(self, items: list[tuple[str, object]], market: Market | None, days: int,
                 level: float) -> dict[str, list[dict]]:
        """Forecasts of the next `days` sessions after each (ticker, bars)'s last bar: per ticker, rows with horizon,
        forecast, lower, upper (adjusted closes), volatility (annualised %, that session's) and level. The model is
        read once for all of them."""
        prepared = []
        for ticker, bars in items:
            data = self.data(ticker, bars, market)
            if len(data) < self.window:
                raise DataUnavailable(f"{ticker}: {len(bars)} rows of history are fewer than the model's window of "
                                      f"{self.window}")
            prepared.append((ticker, data, np.array([len(data) - 1])))
        out = {}
        # one ticker at a time: a forecast must not depend on which other tickers are forecast with it (matrix
        # products of different widths round differently)
        for item in prepared:
            ticker, data, _ = item
            means, variance, daily = self.paths([item], days)[0]
            last_price, rows = float(data.series.price[-1]), []
            for h in range(1, days + 1):
                centre, spread = float(means[0, h - 1]), math.sqrt(float(variance[0, h - 1]))
                low, high = self.quantiles(ticker, h, level)
                rows.append({"horizon": h, "forecast": last_price * math.exp(centre),
                             "lower": last_price * math.exp(centre + low * spread),
                             "upper": last_price * math.exp(centre + high * spread),
                             "volatility": 100.0 * math.sqrt(TRADING_DAYS * float(daily[0, h - 1])),
                             "level": level})
            out[ticker] = rows
        return out

    # --------------------------------------------------------------------------------------------- storage
    def save(self, store: Store, name: str) -> Path:
        """Write weights then metadata atomically under models/NAME/ (NAME a ticker or POOL); remove superseded
        weight files."""
        directory = store.models_dir / name
        weights = weights_bytes({**self.network.state_dict(), WINDOW_ARRAY: np.array(self.window)})
        digest = hashlib.sha256(weights).hexdigest()
        weights_name = f"weights-{digest[:16]}.npz"
        if not (stored_exists(directory / weights_name) and (directory / weights_name).is_file()):
            atomic_write_bytes(directory / weights_name, weights)
        self.meta = dict(self.meta, weights_file=weights_name, weights_sha256=digest)
        atomic_write_text(directory / "meta.json", json.dumps(self.meta, indent=1) + "\n")
        for old in directory.glob("weights-*.npz"):
            if old.name != weights_name:
                old.unlink(missing_ok=True)
        return directory

    @classmethod
    def load(cls, store: Store, name: str) -> Model:
        """The model in models/NAME/; ModelMissing if there is none, CorruptFile if it is damaged."""
        shown = "the pool" if name == POOL else name
        rebuild = POOL_REBUILD if name == POOL else f"run 'forecast train {name}' to retrain it"
        return cls.read(store.models_dir / name, shown, rebuild, pooled=name == POOL)

    @classmethod
    def read(cls, directory: Path, shown: str, rebuild: str, pooled: bool | None = None) -> Model:
        """The model whose meta.json and weights are in `directory` (`shown`: what it is called in messages;
        `rebuild`: how to get a sound one; `pooled`: whether the folder holds the pool, None outside a home);
        ModelMissing if there is none, CorruptFile if it is damaged."""
        meta_path = directory / "meta.json"
        for attempt in range(3):  # a concurrent `train` may replace the weights between our two reads
            if not stored_exists(meta_path):  # a directory or a FIFO there is a damaged model
                raise ModelMissing(f"no model for {shown}; {rebuild.replace('retrain', 'train')}")
            meta = read_meta(meta_path, rebuild, shown)
            weights_path = directory / str(meta.get("weights_file", ""))
            try:
                data = read_stored_bytes(weights_path, rebuild)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise CorruptFile(
                        f"{meta_path} names a missing weights file {weights_path.name}; {rebuild}") from None
        if hashlib.sha256(data).hexdigest() != meta.get("weights_sha256"):
            raise CorruptFile(f"{weights_path} does not match its checksum in meta.json (damaged?); {rebuild}")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                state = {key: archive[key] for key in archive.files}
        except (ValueError, OSError, EOFError) as error:
            raise CorruptFile(f"{weights_path} is not a readable weights file ({error}); {rebuild}") from None
        check_weights(state, weights_path, rebuild)
        check_built(meta, meta_path, rebuild, window=state.pop(WINDOW_ARRAY, None), pooled=pooled)
        h = meta["hyperparameters"]
        network = LSTMRegressor(len(input_names(meta["features"], bool(meta["market"]))), h["hidden"], h["layers"], 2,
                                seed=h["seed"])
        try:
            network.load_state_dict(state)
        except StateDictError as error:
            raise CorruptFile(f"{weights_path} does not match {meta_path}: {error}; {rebuild}") from None
        return cls(network, meta)


def weights_bytes(state: dict[str, np.ndarray]) -> bytes:
    """A state dict as an .npz archive whose bytes depend on the arrays alone (np.savez stamps each member with the
    time of writing): the same network always gives the same file, so a build can be checked bit for bit."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(state):
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(member, "w") as handle:
                np.lib.format.write_array(handle, np.ascontiguousarray(state[name]), allow_pickle=False)
    return buffer.getvalue()


def recalibrate_advice(ticker: str, rows: int, window: int) -> str:
    """What to run for a model calibrated on data that has changed since: train the ticker again, after getting more
    history when `rows` are too few to join a pool of this `window`."""
    needed = TrainingConfig(window=window).min_join_rows
    if rows < needed:
        return (f"fetch or import more history ({needed} rows needed), then run 'forecast train {ticker}' to "
                "recalibrate it")
    return f"run 'forecast train {ticker}' to recalibrate it"


NO_DATA_FIX = "run 'forecast fetch {ticker}' (or import its file), or 'forecast remove {ticker} --yes' to take it out"


def served_without_data(store: Store, ticker: str, model: Model) -> str:
    """What is wrong when `model` serves `ticker` and no data of it is stored (a pool copied from another home, data
    deleted by hand); NO_DATA_FIX says what to do."""
    whose = "its own model" if model.kind == "per-ticker" else (
        "the pool" if model.label == "pooled" else f"the pool ({model.label})")
    return f"{whose} serves {ticker}, but no data is stored for it ({store.bars_path(ticker).relative_to(store.home)})"


def label_of(meta: dict) -> str:
    """A checked model's label (see Model.label)."""
    vintage = meta.get("vintage")
    return f"shipped {vintage['last_date']}" if vintage else meta["kind"]




# ------------------------------------------------------------------------------------------ reading models
POOL_REBUILD = "run 'forecast train' to retrain it"  # how a damaged pool is replaced


def read_meta(path: Path, rebuild: str, shown: str) -> dict:
    """A model's meta.json, read and checked: the one reader of model metadata. ModelMissing ("no model for SHOWN")
    when there is none; CorruptFile naming the file, with `rebuild` (how to get a sound one), when it cannot be read,
    is not JSON, is not model metadata, is of a format this forecaster does not read, or holds a value no trained
    model holds (guards.check_meta). Callers that can do without a model catch those two."""
    try:
        meta = json.loads(read_stored_text(path, rebuild))
    except FileNotFoundError:
        raise ModelMissing(f"no model for {shown}; {rebuild.replace('retrain', 'train')}") from None
    except ValueError as error:
        raise CorruptFile(f"{path} is not valid JSON ({type(error).__name__}); {rebuild}") from None
    if not isinstance(meta, dict) or "format_version" not in meta:
        raise CorruptFile(f"{path} is not forecaster model metadata; {rebuild}")
    version = meta["format_version"]
    if isinstance(version, int) and not isinstance(version, bool) and version < FORMAT_VERSION:
        raise CorruptFile(f"{path} is a model from an older forecaster (format {version}); {rebuild}")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CorruptFile(f"{path} has model format {version!r}, newer than this forecaster ({__version__}) reads "
                          f"(format {FORMAT_VERSION}); upgrade forecaster or {rebuild}")
    check_meta(meta, path, rebuild)
    return meta


# --------------------------------------------------------------------------------------- which model serves
def serving_model(store: Store, ticker: str, pool: Model | None = None) -> tuple[Model, str]:
    """(the model that serves `ticker`, its label): the ticker's own model if it has one, else the pool (`pool`, if
    already loaded, is used instead of reading it again). ModelMissing when neither serves it."""
    ticker = normalize_ticker(ticker)
    own = store.model_dir(ticker) / "meta.json"
    pooled = None
    for _ in range(3):  # pooled training removes the members' own models: look again if one vanishes under us
        if stored_exists(own):
            try:
                return Model.load(store, ticker), "per-ticker"
            except ModelMissing:
                continue
        try:
            pooled = pool if pool is not None else Model.load(store, POOL)
        except ModelMissing:
            break
        if ticker in pooled.meta["tickers"]:
            return pooled, pooled.label
        break
    if not store.has_bars(ticker):
        raise ModelMissing(f"no model and no price data for {ticker} in {store.home}: run 'forecast fetch {ticker}' "
                           f"(or import its file), then 'forecast train {ticker}'")
    if pooled is not None:
        needed = join_rows(pooled.window)
        rows = needed
        with contextlib.suppress(ForecastError, OSError):  # unreadable data: the plain advice below
            rows = len(store.read_bars(ticker))
        if rows < needed:
            raise ModelMissing(f"no model for {ticker}: {rows} {plural(rows, 'row')} of history, too few to join the "
                               f"pool (it needs {needed}); fetch or import more history, then run 'forecast train "
                               f"{ticker}'")
    raise ModelMissing(f"no model for {ticker}; run 'forecast train {ticker}' first")


def pool_meta(store: Store) -> dict:
    """The stored pool's metadata, checked (`read_meta`: ModelMissing, CorruptFile)."""
    return read_meta(store.models_dir / POOL / "meta.json", POOL_REBUILD, "the pool")


def drop_from_pool(store: Store, ticker: str, locked: bool = False) -> str | None:
    """Take `ticker` out of the pool, under its lock (held by the caller if `locked`): its section of meta.json goes
    (rewritten atomically, the weights untouched); a pool left with no ticker is removed, meta.json first. Returns
    what was done, in words naming the folder or file (None when the pool does not serve the ticker). A damaged pool
    is left alone (the next training replaces it); one in a folder that cannot be searched is a CorruptFile naming
    it, before anything is removed (it may serve the ticker)."""
    directory = store.models_dir / POOL
    path = directory / "meta.json"
    with contextlib.nullcontext() if locked else store.lock(POOL):
        if not stored_exists(path):
            return None
        try:
            meta = pool_meta(store)
        except (ModelMissing, CorruptFile):
            return None
        tickers = meta["tickers"]
        if ticker not in tickers:
            return None
        rest = {name: section for name, section in tickers.items() if name != ticker}
        if rest:
            atomic_write_text(path, json.dumps({**meta, "tickers": rest}, indent=1) + "\n")
            return (f"taken out of the pool, which serves {len(rest)} other {plural(len(rest), 'ticker')} "
                    f"({path.relative_to(store.home)})")
        path.unlink()
        for other in stored_entries(directory):
            other.unlink(missing_ok=True)
        directory.rmdir()
        return f"removed the pool, which served {ticker} alone ({directory.relative_to(store.home)})"


def pool_members(store: Store) -> set[str]:
    """The tickers the stored pool serves (none when there is no pool, or it is damaged)."""
    try:
        return set(pool_meta(store)["tickers"])
    except (ModelMissing, CorruptFile):
        return set()


def model_kinds(store: Store) -> dict[str, str]:
    """Ticker -> the kind of model serving it ("per-ticker" or "pooled"), from the model files' names and the pool's
    ticker list. A pool that cannot be read, or is damaged, may have served any stored ticker without a model of its
    own: each of them counts as pooled, so that reading the pool then fails for it by name (damaged, retrain) rather
    than the ticker silently dropping out of `predict`, `report` and `list`, or a `train NEW` replacing the pool."""
    kinds: dict[str, str] = {}
    if _maybe_present(store.models_dir / POOL / "meta.json"):
        try:
            kinds.update({t: "pooled" for t in pool_meta(store)["tickers"]})
        except (ModelMissing, CorruptFile):
            kinds.update({t: "pooled" for t in store.tickers()})
    try:
        folders = stored_entries(store.models_dir)
    except CorruptFile:  # models/ cannot be listed: the pool may serve them all, and loading it says why it cannot
        folders = []
        kinds.update({t: "pooled" for t in store.tickers()})
    for path in folders:
        if path.name != POOL and _maybe_present(path / "meta.json"):
            kinds[path.name] = "per-ticker"
    return kinds


def _maybe_present(path: Path) -> bool:
    """Whether a model file is or may be there, readable or not (a directory or a FIFO in its place is a damaged
    model; a folder that cannot be searched may hold one, and loading it says why it cannot be read)."""
    try:
        return stored_exists(path)
    except CorruptFile:
        return True
