"""The forecaster: an LSTM on return windows, shrunk toward the naive forecast, with calibrated intervals.

Training (`train`), on bars up to a cut-off date only:

1. windows of the last W days' features end at day t; the target is r_{t+1} (see forecaster.windows);
2. chronological split: the last 15% of windows validate, the rest train; scalers (scikit-learn) are fitted on the
   training part only;
3. the LSTM is fitted with early stopping on the loss of the first half of the validation windows;
4. honesty: daily prices are close to a random walk, so the LSTM's return forecast r̂ is shrunk toward zero (the
   naive forecast "tomorrow = today") by a factor α in [0, 1] fitted on the second half of the validation windows,
   which no fitting decision has seen, and discounted by its own uncertainty (see `optimal_shrinkage`). α = 0 means
   the validation data found no reliable signal: the model then *is* naive;
5. calibration: all validation residuals, standardised by the volatility known at forecast time,
   z = (r - α r̂) / σ_t, give the 5% and 95% quantiles used for 90% intervals.

Forecast h days ahead from the last day T (recursively: each forecast return feeds the next window):
price_h = P_T exp(R_h) with R_h = Σ_{j<=h} α r̂_j, interval P_T exp(R_h + q σ_T √h) for q in (q05, q95).

A saved model is `models/TICKER/meta.json` (readable metadata, scaler statistics, calibration) plus the weights
`models/TICKER/weights-<hash>.npz` it names (PyTorch-layout state dict, loaded with allow_pickle=False). The weights
are written first and the metadata last, each atomically, so a reader always finds a complete, matching pair.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from forecaster import __version__
from forecaster.bars import Bars, format_csv
from forecaster.config import Config, settings_of
from forecaster.errors import CorruptFile, DataUnavailable, ModelMissing, UsageError
from forecaster.lstm import LSTMRegressor, StateDictError
from forecaster.output import plural
from forecaster.store import (
    Store,
    atomic_write_bytes,
    atomic_write_text,
    normalize_ticker,
    read_stored_bytes,
    read_stored_text,
    utc_now,
)
from forecaster.windows import Series, build_series, standardize, window_ends, windows_at

FORMAT_VERSION = 1
INTERVAL_LEVEL = 0.90
VALIDATION_FRACTION = 0.15
MIN_TRAIN_WINDOWS = 60
MIN_VALIDATION_WINDOWS = 20


@dataclass(frozen=True)
class TrainingConfig:
    window: int = 30
    hidden: int = 64
    layers: int = 1
    epochs: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    patience: int = 10
    seed: int = 0
    features: str = "returns"

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
        """Bars needed: one to start returns, a window, and enough windows to train and validate on, plus a target."""
        return 1 + self.window + MIN_TRAIN_WINDOWS + MIN_VALIDATION_WINDOWS


@dataclass
class Dataset:
    """Training data of one ticker, split chronologically, with scaler statistics from the training part only.

    X_* (n, W, F) scaled windows; y_* (n,) scaled targets; ends_* the window-end day indices into `series`.
    """

    series: Series
    ends_train: np.ndarray
    ends_val: np.ndarray
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float
    y_scale: float
    window: int

    def windows(self, ends: np.ndarray, series: Series | None = None) -> np.ndarray:
        """Scaled windows ending at days `ends` of `series` (default: the training series)."""
        series = self.series if series is None else series
        return standardize(windows_at(series, ends, self.window), self.x_mean, self.x_scale)

    def targets(self, ends: np.ndarray) -> np.ndarray:
        """Actual next-day log returns r_{t+1} for windows ending at t (unscaled)."""
        return self.series.returns[ends + 1]

    def scaled_targets(self, ends: np.ndarray) -> np.ndarray:
        return (self.targets(ends) - self.y_mean) / self.y_scale


def prepare(bars: Bars, config: TrainingConfig, ticker: str) -> Dataset:
    """Windows, targets, chronological split and scalers (fitted on the training part) from `bars`."""
    from sklearn.preprocessing import StandardScaler

    if len(bars) < config.min_rows:
        raise UsageError(
            f"{ticker} has {len(bars)} {plural(len(bars), 'row')} of history; training with --window {config.window} "
            f"needs at least {config.min_rows} (fetch more history or use a smaller --window)"
        )
    series = build_series(bars, config.features)
    ends = window_ends(series, config.window)[:-1]  # the last day has no next-day target yet
    n_val = max(MIN_VALIDATION_WINDOWS, int(round(len(ends) * VALIDATION_FRACTION)))
    ends_train, ends_val = ends[:-n_val], ends[-n_val:]
    x_scaler = StandardScaler().fit(series.features[: ends_train[-1] + 1])
    y_scaler = StandardScaler().fit(series.returns[ends_train + 1][:, None])
    return Dataset(series, ends_train, ends_val, x_scaler.mean_, _safe_scale(x_scaler.scale_),
                   float(y_scaler.mean_[0]), float(_safe_scale(y_scaler.scale_)[0]), config.window)


def _safe_scale(scale: np.ndarray) -> np.ndarray:
    return np.where(scale > 1e-12, scale, 1.0)


@dataclass
class Forecaster:
    """A trained network with everything needed to forecast: scalers, network share, calibration, metadata."""

    network: LSTMRegressor
    meta: dict = field(default_factory=dict)

    # -------------------------------------------------------------------------------------------- forecasts
    @property
    def window(self) -> int:
        return int(self.meta["hyperparameters"]["window"])

    @property
    def network_share(self) -> float:
        """α: the share of the network's return forecast that is kept (0: the model is naive)."""
        calibration = self.meta["calibration"]
        return float(calibration["network_share"] if "network_share" in calibration else calibration["shrinkage"])

    def predict_returns(self, series: Series, ends: np.ndarray) -> np.ndarray:
        """Shrunk one-day-ahead log-return forecasts α r̂_{t+1} for windows ending at days `ends` (len(ends),)."""
        scaler = self.meta["scaler"]
        return self._returns(standardize(windows_at(series, ends, self.window), scaler["x_mean"], scaler["x_scale"]))

    def _returns(self, scaled_windows: np.ndarray) -> np.ndarray:
        """α r̂ for scaled windows (N, W, F): the network's output unscaled to a log return, then shrunk (N,)."""
        scaler = self.meta["scaler"]
        return self.network_share * (self.network.forward(scaled_windows)[:, 0] * scaler["y_scale"] + scaler["y_mean"])

    def forecast(self, bars: Bars, days: int) -> list[dict]:
        """Forecasts for the next `days` sessions after the last bar: dicts with horizon, forecast, lower, upper.

        Recursive: each day's forecast return becomes the newest return in the next window; other features
        (intraday range, volume change) are held at their training mean.
        """
        series = build_series(bars, self.meta["features"])
        if len(series) < self.window:
            raise DataUnavailable(f"{len(bars)} rows of history are fewer than the model's window of {self.window}")
        scaler, calibration = self.meta["scaler"], self.meta["calibration"]
        x_mean, x_scale = np.asarray(scaler["x_mean"]), np.asarray(scaler["x_scale"])
        window = standardize(series.features[-self.window:], x_mean, x_scale).astype(self.network.dtype)
        last_price, sigma = float(series.price[-1]), float(series.volatility[-1])
        cumulative, rows = 0.0, []
        for horizon in range(1, days + 1):
            step = float(self._returns(window[None])[0])
            cumulative += step
            spread = sigma * math.sqrt(horizon)
            rows.append({
                "horizon": horizon,
                "forecast": last_price * math.exp(cumulative),
                "lower": last_price * math.exp(cumulative + calibration["z_lower"] * spread),
                "upper": last_price * math.exp(cumulative + calibration["z_upper"] * spread),
            })
            new_row = np.zeros(window.shape[1], dtype=window.dtype)  # training mean of every feature
            new_row[0] = (step - x_mean[0]) / x_scale[0]
            window = np.vstack([window[1:], new_row])
        return rows

    # --------------------------------------------------------------------------------------------- storage
    def save(self, store: Store, ticker: str) -> Path:
        """Write weights then metadata atomically under models/TICKER/; remove superseded weight files."""
        directory = store.model_dir(ticker)
        buffer = io.BytesIO()
        np.savez(buffer, **self.network.state_dict())
        weights = buffer.getvalue()
        digest = hashlib.sha256(weights).hexdigest()
        weights_name = f"weights-{digest[:16]}.npz"
        atomic_write_bytes(directory / weights_name, weights)
        meta = dict(self.meta, weights_file=weights_name, weights_sha256=digest)
        atomic_write_text(directory / "meta.json", json.dumps(meta, indent=2) + "\n")
        self.meta = meta
        for old in directory.glob("weights-*.npz"):
            if old.name != weights_name:
                old.unlink(missing_ok=True)
        return directory

    @classmethod
    def load(cls, store: Store, ticker: str) -> Forecaster:
        """Load and check a saved model; DataUnavailable if there is none, CorruptFile if it is damaged."""
        ticker = normalize_ticker(ticker)
        directory = store.model_dir(ticker)
        meta_path = directory / "meta.json"
        rebuild = f"run 'forecast train {ticker}' to rebuild it"
        for attempt in range(3):  # a concurrent `train` may replace the weights between our two reads
            if not meta_path.is_file():
                raise ModelMissing(f"no model for {ticker}; run 'forecast train {ticker}' first")
            meta = _read_meta(meta_path, rebuild)
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
        try:
            h = meta["hyperparameters"]
            network = LSTMRegressor(len(meta["scaler"]["x_mean"]), h["hidden"], h["layers"], 1, seed=h["seed"])
            network.load_state_dict(state)
        except StateDictError as error:
            raise CorruptFile(f"{weights_path} does not match {meta_path}: {error}; {rebuild}") from None
        except (KeyError, TypeError, ValueError) as error:
            raise CorruptFile(f"{meta_path} is incomplete or invalid ({error}); {rebuild}") from None
        return cls(network, meta)


def _read_meta(path: Path, rebuild: str) -> dict:
    try:
        meta = json.loads(read_stored_text(path, rebuild))
    except FileNotFoundError:
        raise ModelMissing(f"no model for {path.parent.name}; {rebuild}") from None
    except ValueError as error:
        raise CorruptFile(f"{path} is not valid JSON ({type(error).__name__}); {rebuild}") from None
    if not isinstance(meta, dict) or "format_version" not in meta:
        raise CorruptFile(f"{path} is not forecaster model metadata; {rebuild}")
    version = meta["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CorruptFile(
            f"{path} has model format {version!r}, newer than this forecaster ({__version__}) reads "
            f"(format {FORMAT_VERSION}); upgrade forecaster or {rebuild}"
        )
    required = {"hyperparameters", "features", "scaler", "calibration", "training", "weights_file"}
    missing = sorted(required - set(meta))
    if missing:
        raise CorruptFile(f"{path} lacks {', '.join(missing)}; {rebuild}")
    return meta


# --------------------------------------------------------------------------------------------------- training
def train(bars: Bars, config: TrainingConfig, ticker: str, callback=None) -> tuple[Forecaster, Dataset]:
    """Train a forecaster on `bars` (all of them: cut them at the training cut-off before calling)."""
    config.check()
    data = prepare(bars, config, ticker)
    X_train, X_val = data.windows(data.ends_train), data.windows(data.ends_val)
    y_train, y_val = data.scaled_targets(data.ends_train), data.scaled_targets(data.ends_val)
    network = LSTMRegressor(X_train.shape[2], config.hidden, config.layers, 1, seed=config.seed)
    stop = slice(None, len(X_val) // 2)  # early stopping looks at the first half of the validation windows ...
    judge = slice(len(X_val) // 2, None)  # ... and how far to trust the network is judged on the untouched rest
    network.fit(X_train, y_train, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, clip_norm=1.0,
                X_val=X_val[stop], y_val=y_val[stop], patience=config.patience or None, callback=callback)

    raw_val = network.forward(X_val)[:, 0] * data.y_scale + data.y_mean
    actual_val = data.targets(data.ends_val)
    share = optimal_shrinkage(raw_val[judge], actual_val[judge])
    sigma_val = data.series.volatility[data.ends_val]
    z_lower, z_upper = interval_quantiles(actual_val - share * raw_val, sigma_val)

    prices = data.series.price
    previous, actual_price = prices[data.ends_val], prices[data.ends_val + 1]
    meta = {
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "created_at": utc_now(),
        "ticker": ticker,
        "hyperparameters": {k: v for k, v in asdict(config).items() if k != "features"},
        "features": config.features,
        "scaler": {"x_mean": data.x_mean.tolist(), "x_scale": data.x_scale.tolist(),
                   "y_mean": data.y_mean, "y_scale": data.y_scale},
        "training": {
            "first_date": str(bars.dates[0]), "last_date": str(bars.dates[-1]), "rows": len(bars),
            "train_windows": len(data.ends_train), "validation_windows": len(data.ends_val),
            "validation_start": str(data.series.dates[data.ends_val[0] + 1]),
            "epochs_run": len(network.history_), "best_epoch": network.best_epoch_,
            "data_sha256": hashlib.sha256(format_csv(bars).encode()).hexdigest(),
        },
        "validation": {
            "rmse_model": rmse(previous * np.exp(share * raw_val), actual_price),
            "rmse_lstm_unshrunk": rmse(previous * np.exp(raw_val), actual_price),
            "rmse_naive": rmse(previous, actual_price),
            "loss": min((v for _, _, v in network.history_ if v is not None), default=None),
        },
        "calibration": {"network_share": share, "level": INTERVAL_LEVEL, "z_lower": z_lower, "z_upper": z_upper,
                        "volatility": "ewma-0.94"},
    }
    return Forecaster(network, meta), data


def optimal_shrinkage(forecast: np.ndarray, actual: np.ndarray) -> float:
    """How much of `forecast` to trust, in [0, 1], judged on held-out data.

    The least-squares factor through the origin, α̂ = Σ f a / Σ f², is itself noisy: with daily returns it is often
    large by chance. It is shrunk by its own uncertainty, α = α̂ max(0, 1 - 1/t²) with t = α̂ / se(α̂) (the
    positive-part James-Stein rule, which minimises the expected squared error of α f), then clipped to [0, 1].
    An insignificant signal (|t| <= 1) gives α = 0: the naive forecast.
    """
    forecast, actual = np.asarray(forecast, dtype=float), np.asarray(actual, dtype=float)
    denominator = float(np.dot(forecast, forecast))
    if denominator <= 0 or len(forecast) < 3:
        return 0.0
    alpha = float(np.dot(forecast, actual)) / denominator
    residual = actual - alpha * forecast
    variance = float(np.dot(residual, residual)) / (len(forecast) - 1) / denominator
    if variance > 0:
        alpha *= max(0.0, 1.0 - variance / alpha**2) if alpha else 0.0
    return float(np.clip(alpha, 0.0, 1.0)) + 0.0  # + 0.0 turns a negative zero into 0.0


def interval_quantiles(residuals: np.ndarray, sigma: np.ndarray, level: float = INTERVAL_LEVEL) -> tuple[float, float]:
    """Empirical (1-level)/2 and (1+level)/2 quantiles of residuals standardised by the volatility σ_t."""
    z = residuals / sigma
    lower, upper = np.quantile(z, [(1 - level) / 2, (1 + level) / 2])
    return float(lower), float(upper)


def rmse(forecast: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(forecast) - np.asarray(actual)) ** 2)))
