"""The forecaster: an LSTM that forecasts the distribution of the next return — its mean, shrunk toward the naive
forecast, and its scale, relative to a volatility baseline — with calibrated intervals over several days.

Training (`train`), on bars up to a cut-off date only:

1. windows of the last W days' features end at day t; the target is r_{t+1} (see forecaster.windows);
2. chronological split: the last 15% of windows validate, the rest train; scalers (scikit-learn) are fitted on the
   training part only;
3. the network's linear head gives two numbers per window: the mean m and a log-scale correction s to the baseline
   volatility σ_base,t (range-based where the data has OHLC): scale τ_t = σ_base,t exp(s). A head that has learned
   nothing *is* the baseline. It is trained by the negative log-likelihood of a Student-t (ν fitted on the training
   span's standardised returns) or a Gaussian (forecaster.losses), with early stopping on the first half of the
   validation windows;
4. honesty, mean: daily prices are close to a random walk, so the mean forecast r̂ is shrunk toward zero (the naive
   forecast "tomorrow = today") by a factor α in [0, 1] fitted on the second half of the validation windows, which
   no fitting decision has seen, and discounted by its own uncertainty (`optimal_shrinkage`). α = 0: the model
   *is* naive;
5. honesty, scale: on that same held-out half, the network's scale, partly kept (σ_base exp(λ s) for λ in
   SCALE_SHARES), is compared with the two EWMA baselines alone (of squared returns, and of the range variance), by
   the log-likelihood of the held-out returns (each candidate's overall scale set on the early-stopping half); the
   best is kept. The likelihood is a proper score that uses every day; the 90% interval score of each candidate,
   which turns on a few dozen tail days and picked the worse candidate on 3 of 8 tickers of the developers' data
   set, is recorded beside it in meta.json;
6. calibration: the chosen volatility's path over the next days mean-reverts, v_h = m + φ^(h-1)(v_1 - m)
   (forecaster.volatility; φ fitted on the training span), and the 5% and 95% quantiles of validation errors
   standardised by it give the 90% intervals, at h = 1, 5 and 20 (interpolated in log h between them).

Forecast h days ahead from the last day T (the mean recursively: each forecast return feeds the next window):
price_h = P_T exp(R_h) with R_h = Σ_{j<=h} α r̂_j, interval P_T exp(R_h + q_h sqrt(V_h)), V_h = Σ_{j<=h} v_j.

A saved model is `models/TICKER/meta.json` (readable metadata, scaler statistics, calibration) plus the weights
`models/TICKER/weights-<hash>.npz` it names (PyTorch-layout state dict, loaded with allow_pickle=False). The weights
are written first and the metadata last, each atomically, so a reader always finds a complete, matching pair.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from forecaster import __version__
from forecaster.bars import Bars, format_csv
from forecaster.config import Config, settings_of
from forecaster.errors import CorruptFile, DataUnavailable, ModelMissing, UsageError
from forecaster.guards import check_meta, check_trainable, check_weights
from forecaster.losses import distribution_loss
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
from forecaster.volatility import (
    cumulative_variance,
    fit_degrees_of_freedom,
    fit_persistence,
    fitted_scale,
    interval_score,
    negative_loglik,
    quantile_path,
)
from forecaster.windows import Series, build_series, resolve_features, standardize, window_ends, windows_at

FORMAT_VERSION = 2  # 2: distributional head (mean, log-scale) and the volatility section
CALIBRATED_HORIZONS = (1, 5, 20)
CALIBRATION_STRIDE = 5  # training windows used for the multi-day quantiles: every 5th (their outcomes overlap)
CALIBRATION_WINDOWS = 1000  # the most recent windows calibrating them: about 50 independent 20-day outcomes
SCALE_SHARES = (0.25, 0.5, 0.75, 1.0)  # how much of the network's scale correction a blend keeps
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
    features: str = "auto"

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

    def distribution_targets(self, ends: np.ndarray) -> np.ndarray:
        """(N, 2): the scaled next return and the log baseline volatility in the same units (forecaster.losses)."""
        return np.column_stack([self.scaled_targets(ends), np.log(self.series.baseline[ends] / self.y_scale)])


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
        return float(self.meta["calibration"]["network_share"])

    @property
    def volatility(self) -> dict:
        return self.meta["volatility"]

    def _scaled_windows(self, series: Series, ends: np.ndarray) -> np.ndarray:
        scaler = self.meta["scaler"]
        windows = windows_at(series, np.asarray(ends), self.window)
        return standardize(windows, scaler["x_mean"], scaler["x_scale"]).astype(self.network.dtype)

    def _outputs(self, scaled_windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(α r̂, s) for scaled windows (N, W, F): the shrunk mean log return and the scale correction (N,) each."""
        scaler = self.meta["scaler"]
        output = self.network.forward(scaled_windows)
        return self.network_share * (output[:, 0] * scaler["y_scale"] + scaler["y_mean"]), output[:, 1]

    def sigma(self, series: Series, ends: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
        """The chosen volatility σ_t of r_{t+1} for windows ending at `ends` (N,); `scale` the network's s there,
        if already computed."""
        if scale is None and self.volatility["method"] == "network":
            scale = self._outputs(self._scaled_windows(series, ends))[1]
        return chosen_sigma(self.volatility, series, np.asarray(ends), scale)

    def paths(self, series: Series, ends: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """The forecast paths from windows ending at `ends`: the cumulative mean log return R_h = Σ_{j<=h} α r̂_j and
        the cumulative variance V_h, each (N, horizon).

        The mean is recursive: each day's forecast return becomes the newest return of the next window, the other
        features held at their training mean. The variance mean-reverts from the first day's σ² (see volatility).
        """
        windows = self._scaled_windows(series, ends)
        scaler = self.meta["scaler"]
        x_mean, x_scale = float(scaler["x_mean"][0]), float(scaler["x_scale"][0])
        means = np.empty((len(windows), horizon))
        cumulative, first_scale = np.zeros(len(windows)), None
        for h in range(horizon):
            step, scale = self._outputs(windows)
            first_scale = scale if first_scale is None else first_scale
            cumulative = cumulative + step
            means[:, h] = cumulative
            if h + 1 < horizon:
                new_rows = np.zeros((len(windows), 1, windows.shape[2]), dtype=windows.dtype)  # training means
                new_rows[:, 0, 0] = (step - x_mean) / x_scale
                windows = np.concatenate([windows[:, 1:], new_rows], axis=1)
        v1 = self.sigma(series, ends, first_scale) ** 2
        variance = np.column_stack([cumulative_variance(v1, self.volatility["long_run_variance"],
                                                        self.volatility["persistence"], h)
                                    for h in range(1, horizon + 1)])
        return means, variance

    def quantiles(self, horizon: int) -> tuple[float, float]:
        """The calibrated standardised 5% and 95% quantiles `horizon` days ahead."""
        return quantile_path(self.meta["calibration"]["quantiles"], horizon)

    def forecast(self, bars: Bars, days: int) -> list[dict]:
        """Forecasts for the next `days` sessions after the last bar: dicts with horizon, forecast, lower, upper."""
        series = build_series(bars, self.meta["features"])
        if len(series) < self.window:
            raise DataUnavailable(f"{len(bars)} {plural(len(bars), 'row')} of history are fewer than the model's "
                                  f"window of {self.window}")
        means, variance = self.paths(series, np.array([len(series) - 1]), days)
        last_price, rows = float(series.price[-1]), []
        for h in range(1, days + 1):
            centre, spread = float(means[0, h - 1]), math.sqrt(float(variance[0, h - 1]))
            low, high = self.quantiles(h)
            rows.append({"horizon": h, "forecast": last_price * math.exp(centre),
                         "lower": last_price * math.exp(centre + low * spread),
                         "upper": last_price * math.exp(centre + high * spread)})
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
            if not (meta_path.exists() or meta_path.is_symlink()):  # a directory or a FIFO there is a damaged model
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
        check_weights(state, weights_path)
        try:
            h = meta["hyperparameters"]
            network = LSTMRegressor(len(meta["scaler"]["x_mean"]), h["hidden"], h["layers"], 2, seed=h["seed"])
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
    if version == 1:
        raise CorruptFile(f"{path} is a model from an older forecaster (format 1: no volatility forecast); "
                          f"{rebuild.replace('rebuild it', 'retrain it')}")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CorruptFile(
            f"{path} has model format {version!r}, newer than this forecaster ({__version__}) reads "
            f"(format {FORMAT_VERSION}); upgrade forecaster or {rebuild}"
        )
    required = {"hyperparameters", "features", "scaler", "calibration", "volatility", "training", "weights_file"}
    missing = sorted(required - set(meta))
    if missing:
        raise CorruptFile(f"{path} lacks {', '.join(missing)}; {rebuild}")
    check_meta(meta, path)
    return meta


# --------------------------------------------------------------------------------------------------- training
def train(bars: Bars, config: TrainingConfig, ticker: str, callback=None) -> tuple[Forecaster, Dataset]:
    """Train a forecaster on `bars` (all of them: cut them at the training cut-off before calling).

    The resolved feature set is in meta["features"]; a note about it (no real OHLC), if any, in meta["notes"]."""
    config.check()
    check_trainable(bars, ticker)
    features, note = resolve_features(config.features, bars, ticker)
    config = replace(config, features=features)
    data = prepare(bars, config, ticker)
    series, ends_train, ends_val = data.series, data.ends_train, data.ends_val
    X_train, X_val = data.windows(ends_train), data.windows(ends_val)
    y_train, y_val = data.distribution_targets(ends_train), data.distribution_targets(ends_val)
    nu = fit_degrees_of_freedom(data.targets(ends_train) / series.baseline[ends_train])
    loss = distribution_loss(nu)
    network = LSTMRegressor(X_train.shape[2], config.hidden, config.layers, 2, seed=config.seed)
    stop = slice(None, len(X_val) // 2)  # early stopping looks at the first half of the validation windows ...
    judge = slice(len(X_val) // 2, None)  # ... and how far to trust the network is judged on the untouched rest
    network.fit(X_train, y_train, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, clip_norm=1.0,
                X_val=X_val[stop], y_val=y_val[stop], patience=config.patience or None, callback=callback, loss=loss)

    output_val = network.forward(X_val)
    raw_val = output_val[:, 0] * data.y_scale + data.y_mean
    actual_val = data.targets(ends_val)
    share = optimal_shrinkage(raw_val[judge], actual_val[judge], series.baseline[ends_val][judge])
    volatility = choose_volatility(series, ends_val, output_val[:, 1], actual_val - share * raw_val, stop, judge, nu)
    volatility["distribution"], volatility["nu"] = loss.name, nu
    origins = ends_train[::CALIBRATION_STRIDE]  # the path's persistence: neighbouring windows' outcomes overlap
    scale = network.forward(X_train[::CALIBRATION_STRIDE])[:, 1] if volatility["method"] == "network" else None
    sigma = np.zeros(len(series))
    sigma[origins] = chosen_sigma(volatility, series, origins, scale)
    volatility["long_run_variance"], volatility["persistence"] = fit_persistence(series.returns, sigma, origins)

    prices = series.price
    previous, actual_price = prices[ends_val], prices[ends_val + 1]
    meta = {
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "created_at": utc_now(),
        "ticker": ticker,
        "hyperparameters": {k: v for k, v in asdict(config).items() if k != "features"},
        "features": features,
        "notes": [note] if note else [],
        "scaler": {"x_mean": data.x_mean.tolist(), "x_scale": data.x_scale.tolist(),
                   "y_mean": data.y_mean, "y_scale": data.y_scale},
        "training": {
            "first_date": str(bars.dates[0]), "last_date": str(bars.dates[-1]), "rows": len(bars),
            "train_windows": len(ends_train), "validation_windows": len(ends_val),
            "validation_start": str(series.dates[ends_val[0] + 1]),
            "epochs_run": len(network.history_), "best_epoch": network.best_epoch_,
            "data_sha256": hashlib.sha256(format_csv(bars).encode()).hexdigest(),
        },
        "validation": {
            "rmse_model": rmse(previous * np.exp(share * raw_val), actual_price),
            "rmse_lstm_unshrunk": rmse(previous * np.exp(raw_val), actual_price),
            "rmse_naive": rmse(previous, actual_price),
            "loss": min((v for _, _, v in network.history_ if v is not None), default=None),
        },
        "volatility": volatility,
        "calibration": {"network_share": share, "level": INTERVAL_LEVEL},
    }
    forecaster = Forecaster(network, meta)
    meta["calibration"]["quantiles"] = calibrate(forecaster, series, ends_val, ends_train)
    meta["calibration"]["z_lower"], meta["calibration"]["z_upper"] = meta["calibration"]["quantiles"]["1"]
    return forecaster, data


def choose_volatility(series: Series, ends: np.ndarray, scale: np.ndarray, errors: np.ndarray, stop: slice,
                      judge: slice, nu: float | None) -> dict:
    """The volatility forecast to use: the candidate with the highest likelihood of the `judge` windows' errors
    (which no fitting decision has seen), each candidate's overall scale and 90% quantiles set on the `stop` windows.

    Candidates: the EWMA of squared returns, the EWMA of the range variance (with real OHLC), and the network's scale,
    σ_base exp(λ s), for each λ in SCALE_SHARES. errors (N,): r_{t+1} - α r̂; scale (N,): the network's s; nu: the
    distribution's degrees of freedom (None: Gaussian)."""
    candidates = {"ewma-returns": series.volatility[ends]}
    if series.range_volatility is not None:
        candidates["ewma-range"] = series.range_volatility[ends]
    for share in SCALE_SHARES:
        candidates[f"network-{share:g}"] = series.baseline[ends] * np.exp(share * scale)
    losses, scores = {}, {}
    for name, sigma in candidates.items():
        losses[name] = negative_loglik(errors[judge], fitted_scale(errors[stop] / sigma[stop], nu) * sigma[judge], nu)
        low, high = interval_quantiles(errors[stop], sigma[stop])
        scores[name] = interval_score(low * sigma[judge], high * sigma[judge], errors[judge], INTERVAL_LEVEL)
    best = min(losses, key=losses.get)
    network = best.startswith("network-")
    return {"baseline": series.baseline_name, "method": "network" if network else best,
            "network_share": float(best.split("-")[1]) if network else 0.0,
            "validation_negative_loglik": losses, "validation_interval_scores": scores}


def chosen_sigma(volatility: dict, series: Series, ends: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """σ_t (N,) of the method in `volatility` for windows ending at `ends`; `scale` the network's s (N,) there."""
    method = volatility["method"]
    if method == "network":
        return series.baseline[ends] * np.exp(volatility["network_share"] * np.asarray(scale, dtype=float))
    if method == "ewma-range" and series.range_volatility is not None:
        return series.range_volatility[ends]
    return series.volatility[ends]


def calibrate(forecaster: Forecaster, series: Series, ends_val: np.ndarray,
              ends_train: np.ndarray) -> dict[str, list[float]]:
    """The 5% and 95% quantiles of the errors of the cumulative return h days ahead, standardised by sqrt(V_h), for
    h in CALIBRATED_HORIZONS.

    At h = 1 over the validation windows. Further ahead, overlapping h-day outcomes are few independent ones (20-day
    sums over a few hundred days are a few dozen), so the training span's windows join the validation ones: the most
    recent CALIBRATION_WINDOWS (recent enough for today's regime, many enough for stable tails), every
    CALIBRATION_STRIDE-th of them (neighbours' outcomes overlap). Only windows whose h-day outcome is inside the
    data count; with fewer than MIN_VALIDATION_WINDOWS, the previous horizon's quantiles are kept."""
    recent = np.concatenate([ends_train, ends_val])[-CALIBRATION_WINDOWS:][::-CALIBRATION_STRIDE][::-1]
    cumulative = np.concatenate([[0.0], np.cumsum(series.returns)])
    paths = {1: (ends_val, *forecaster.paths(series, ends_val, 1))}
    longest = (recent, *forecaster.paths(series, recent, max(CALIBRATED_HORIZONS)))
    quantiles: dict[str, list[float]] = {}
    previous = None
    for h in CALIBRATED_HORIZONS:
        ends, means, variance = paths.get(h, longest)
        usable = ends + h < len(series)
        if usable.sum() < MIN_VALIDATION_WINDOWS and previous is not None:
            quantiles[str(h)] = previous
            continue
        origins = ends[usable]
        realised = cumulative[origins + h + 1] - cumulative[origins + 1]
        previous = quantiles[str(h)] = list(interval_quantiles(realised - means[usable, h - 1],
                                                               np.sqrt(variance[usable, h - 1])))
    return quantiles


def optimal_shrinkage(forecast: np.ndarray, actual: np.ndarray, sigma: np.ndarray | None = None) -> float:
    """How much of `forecast` to trust, in [0, 1], judged on held-out data.

    The least-squares factor through the origin, α̂ = Σ f a / Σ f², is itself noisy: with daily returns it is often
    large by chance. It is shrunk by its own uncertainty, α = α̂ max(0, 1 - 1/t²) with t = α̂ / se(α̂) (the
    positive-part James-Stein rule, which minimises the expected squared error of α f), then clipped to [0, 1].
    An insignificant signal (|t| <= 1) gives α = 0: the naive forecast. With `sigma`, the volatility each day's
    return had, the fit is weighted by 1/σ² (generalised least squares): a calm day's miss says more about the
    forecast than a crash day's, and a few wild days cannot manufacture a signal.
    """
    forecast, actual = np.asarray(forecast, dtype=float), np.asarray(actual, dtype=float)
    if sigma is not None:
        forecast, actual = forecast / np.asarray(sigma), actual / np.asarray(sigma)
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
