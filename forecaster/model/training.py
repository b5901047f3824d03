"""Training: one network on the windows of every ticker of a pool, or a ticker calibrated against a trained pool.

`train_model(bars_by_ticker, market, config, kind)`, on bars already cut at the training cut-off (each ticker's and the
market's at the same date: nothing later is ever seen):

1. each ticker's level μ_i and HAR terms; the pooled HAR fitted on every ticker's days, each offset δ_i partially
   pooled (forecaster.model.baseline); then each ticker's baseline σ and scale-free inputs, centred on its own
   training-span means and divided by the pool's spreads (forecaster.model.panel);
2. each ticker's windows split in time: the last 15% validate (at least MIN_VALIDATION_WINDOWS for a ticker's own
   model), their first half for early stopping, their second half ("judge") for the calibration's decisions, which no
   fitting decision has seen;
3. the network (forecaster.model.lstm) learns by the Student-t negative log-likelihood (ν fitted on the pooled training
   returns in baseline units; forecaster.model.losses) from mini-batches that mix tickers: each epoch is at most
   EPOCH_WINDOWS windows drawn from all of them (whole histories of hundreds of tickers would make epochs of millions
   of nearly repeated windows), with early stopping on the held-out windows; BLAS runs on one thread, so the same seed
   and data give a bit-identical model on any machine and with any --jobs;
4. calibration on the pool's evidence, each ticker's partially pooled (forecaster.model.calibration).

`add_ticker(model, ticker, bars, market)` calibrates a ticker the network never saw against the trained pool: its own
level, offset (shrunk toward the pool's), input means (its inputs divided by the pool's spreads) and calibration, in
seconds and without retraining.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from forecaster import __version__
from forecaster.data.bars import Bars, format_csv
from forecaster.data.store import utc_now
from forecaster.errors import UsageError
from forecaster.model.baseline import Har, TickerBaseline, fit_har, fit_ticker, shock_terms, ticker_baseline
from forecaster.model.calibration import CALIBRATION_WINDOWS, Evidence, calibrate_newcomer, calibrate_pool
from forecaster.model.guards import check_trainable
from forecaster.model.losses import distribution_loss
from forecaster.model.lstm import LSTMRegressor
from forecaster.model.panel import (
    Market,
    TickerData,
    column_means,
    har_inputs,
    input_names,
    pooled_spread,
    raw_inputs,
    standardize,
)
from forecaster.model.serving import (
    FORMAT_VERSION,
    MIN_JOIN_WINDOWS,
    MIN_VALIDATION_WINDOWS,
    Model,
    TrainingConfig,
    join_rows,
    too_short,
)
from forecaster.model.volatility import fit_degrees_of_freedom
from forecaster.model.windows import build_series, resolve_features
from forecaster.text import plural

EPOCH_WINDOWS = 131_072  # windows per epoch of a pool at most
VALIDATION_FRACTION = 0.15
MAX_STOP_WINDOWS = 50_000  # early-stopping windows at most (a fixed sample of them)
NU_SAMPLE = 200_000  # training returns the degrees of freedom are fitted on, at most


@dataclass
class Member:
    """A ticker being trained: its bars, arrays, HAR level, offset and shock scale, scaler, and its windows' last
    days."""

    ticker: str
    bars: Bars
    data: TickerData
    level: float
    offset: float
    shock_scale: float
    scaler: tuple[np.ndarray, np.ndarray]
    ends: np.ndarray  # days ending a window with a known next return
    validation: int  # how many of the last `ends` validate

    @property
    def train_ends(self) -> np.ndarray:
        return self.ends[: len(self.ends) - self.validation]

    @property
    def stop_ends(self) -> np.ndarray:
        held_out = self.ends[len(self.ends) - self.validation:]
        return held_out[: len(held_out) // 2]

    @property
    def judge_count(self) -> int:
        return self.validation - self.validation // 2


def pool_features(config: TrainingConfig, bars_by_ticker: dict[str, Bars]) -> tuple[str, dict[str, str]]:
    """(the feature set every ticker of a model shares, a note per ticker): `auto` is `range` where the data has
    real OHLC. Several tickers must share one set: a ticker that resolves to another cannot join (UsageError)."""
    resolved = {t: resolve_features(config.features, bars, t) for t, bars in bars_by_ticker.items()}
    sets = {features for features, _ in resolved.values()}
    if len(sets) > 1:
        odd = sorted(t for t, (features, _) in resolved.items() if features != "range")
        raise UsageError(f"{', '.join(odd)}: no real OHLC, so {plural(len(odd), 'it cannot', 'they cannot')} share "
                         "the pool's range inputs")
    return sets.pop(), {t: note for t, (_, note) in resolved.items() if note}


def train_model(bars_by_ticker: dict[str, Bars], market: tuple[str, Bars] | None, config: TrainingConfig, kind: str,
                callback=None) -> Model:
    """Train a model of `kind` ('pooled' or 'per-ticker': a pool of one) on the bars of every ticker given (cut at
    the training cut-off already) and the market's (same cut-off), as the module docstring describes."""
    config.check()
    features, notes = pool_features(config, bars_by_ticker)
    if kind == "per-ticker" and len(bars_by_ticker) != 1:
        raise ValueError("a ticker's own model is trained on one ticker")
    alone = len(bars_by_ticker) == 1  # a network of one ticker's windows: it needs enough of them to learn
    for ticker, bars in bars_by_ticker.items():
        check_trainable(bars, ticker)
        if len(bars) < (config.min_rows if alone else config.min_join_rows):
            raise UsageError(too_short(ticker, len(bars), config.window, alone=alone,
                                       advice="fetch or import more history, or use a smaller --window"))
    market_data = Market.from_bars(*market) if market is not None else None
    members, har, spread = _members(bars_by_ticker, features, market_data, config, alone)
    if sum(len(m.train_ends) for m in members) < 1 or sum(len(m.stop_ends) for m in members) < 1:
        raise UsageError("too few windows to train on: fetch more history")

    y_train = np.concatenate([m.data.scaled_returns(m.train_ends) for m in members])
    nu = fit_degrees_of_freedom(y_train[np.linspace(0, len(y_train) - 1, min(len(y_train), NU_SAMPLE)).astype(int)])
    width = members[0].data.inputs.shape[1]
    network = LSTMRegressor(width, config.hidden, config.layers, 2, seed=config.seed)
    batches, validation = _batches(members, config)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        network.fit_batches(batches, epochs=config.epochs, lr=config.lr, clip_norm=1.0, validation=validation,
                            patience=config.patience or None, callback=callback, loss=distribution_loss(nu))
        model = Model(network, {})
        evidence = {m.ticker: _evidence(model, m.data, m.ends, m.judge_count, config.window) for m in members}
    pooled, calibrations = calibrate_pool(evidence, nu)
    created = utc_now()
    model.meta = {
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "created_at": created,
        "kind": kind,
        "hyperparameters": config.hyperparameters,
        "features": features,
        "inputs": list(input_names(features, market_data is not None)),
        "market": None if market is None else {"ticker": market[0], "last_date": market[1].last_date},
        "notes": [notes[t] for t in bars_by_ticker if t in notes],
        "pool": {"har": har.to_json(), "nu": nu, "input_scale": [float(v) for v in spread], **pooled.to_json()},
        "training": {
            "first_date": min(m.bars.first_date for m in members),
            "last_date": max(m.bars.last_date for m in members),
            "tickers": len(members),
            "train_windows": int(sum(len(m.train_ends) for m in members)),
            "validation_windows": int(sum(m.validation for m in members)),
            "epochs_run": len(network.history_), "best_epoch": network.best_epoch_,
            "validation_loss": min((v for _, _, v in network.history_ if v is not None), default=None),
        },
        "tickers": {m.ticker: _ticker_meta(m, calibrations[m.ticker], created, member=True) for m in members},
    }
    return model


def add_ticker(model: Model, ticker: str, bars: Bars, market: tuple[str, Bars] | None,
               config: TrainingConfig) -> Model:
    """`model` with `ticker` calibrated against it (see the module docstring); the network is unchanged."""
    check_trainable(bars, ticker)
    features, _ = resolve_features(config.features, bars, ticker)
    if features != model.features:
        own = (f"fetch or import more history: {config.min_rows} rows needed, it has {len(bars)}"
               if len(bars) < config.min_rows else f"train it on its own with 'forecast train {ticker} --model "
                                                   "per-ticker'")  # advice that can succeed
        raise UsageError(f"{ticker}: its data gives {features} inputs, but the pool was trained on {model.features} "
                         f"inputs, so it needs a model of its own; {own}")
    if len(bars) < join_rows(model.window):  # the pool's window, whatever --window says
        raise UsageError(too_short(ticker, len(bars), model.window))
    market_data = None
    if model.market_ticker:
        market_data = Market.from_bars(*market) if market is not None else Market.missing(model.market_ticker)
    har = model.har
    series = build_series(bars, features)
    x, terms = har_inputs(series, features)
    level = float(np.mean(x))
    shocks = shock_terms(series, features == "range")
    offset, shock_scale = fit_ticker(terms[:-1], shocks[:-1], level, series.returns[1:], har).shrunk(har)
    baseline = ticker_baseline(series.returns, terms, shocks, level, offset, shock_scale, har)
    data, scaler = _ticker_data(ticker, series, baseline, raw_inputs(series, baseline, market_data),
                                np.asarray(model.meta["pool"]["input_scale"], dtype=float))
    ends = np.arange(model.window - 1, len(series) - 1)
    if len(ends) < MIN_JOIN_WINDOWS:
        raise UsageError(f"{ticker}: too few windows to calibrate against the pool (fetch more history)")
    evidence = _evidence(model, data, ends, min(len(ends), CALIBRATION_WINDOWS), model.window)
    from forecaster.model.calibration import PoolCalibration

    calibration = calibrate_newcomer(evidence, PoolCalibration.from_json(model.meta["pool"]), model.meta["pool"]["nu"])
    member = Member(ticker, bars, data, level, offset, shock_scale, scaler, ends, 0)
    tickers = dict(model.meta["tickers"])
    tickers[ticker] = _ticker_meta(member, calibration, utc_now(), member=False)
    return Model(model.network, {**model.meta, "tickers": tickers})


# --------------------------------------------------------------------------------------------------- pieces
def _members(bars_by_ticker: dict[str, Bars], features: str, market: Market | None, config: TrainingConfig,
              own: bool) -> tuple[list[Member], Har, np.ndarray]:
    """Every ticker's Member, the pooled HAR they were fitted with, and the pool's input spreads (F,)."""
    prepared = []
    for ticker, bars in bars_by_ticker.items():
        series = build_series(bars, features)
        x, terms = har_inputs(series, features)
        prepared.append((ticker, bars, series, terms, float(np.mean(x))))
    shocks = [shock_terms(series, features == "range") for _, _, series, _, _ in prepared]
    har, fits = fit_har([(terms[:-1], shock[:-1], level, series.returns[1:])
                         for (_, _, series, terms, level), shock in zip(prepared, shocks, strict=True)])
    arrays = []
    for (_, _, series, terms, level), shock, fit in zip(prepared, shocks, fits, strict=True):
        offset, shock_scale = fit.shrunk(har)
        baseline = ticker_baseline(series.returns, terms, shock, level, offset, shock_scale, har)
        arrays.append((offset, shock_scale, baseline, raw_inputs(series, baseline, market)))
    spread = pooled_spread([raw for *_, raw in arrays])
    members = []
    for (ticker, bars, series, _, level), (offset, shock_scale, baseline, raw) in zip(prepared, arrays, strict=True):
        data, scaler = _ticker_data(ticker, series, baseline, raw, spread)
        ends = np.arange(config.window - 1, len(series) - 1)
        validation = max(MIN_VALIDATION_WINDOWS if own else 2, int(round(len(ends) * VALIDATION_FRACTION)))
        members.append(Member(ticker, bars, data, level, offset, shock_scale, scaler, ends,
                              min(validation, len(ends) - 1)))
    return members, har, spread


def _ticker_data(ticker: str, series, baseline: TickerBaseline, raw: np.ndarray,
                 spread: np.ndarray) -> tuple[TickerData, tuple[np.ndarray, np.ndarray]]:
    """A ticker's arrays, its raw inputs (n, F) centred on their own means and divided by the pool's spreads (F,),
    and that scaler (means, spreads)."""
    scaler = (column_means(raw), spread)
    return TickerData(ticker, series, baseline, standardize(raw, *scaler)), scaler


def _batches(members: list[Member], config: TrainingConfig):
    """(batches(rng) for LSTMRegressor.fit_batches, the early-stopping windows (X, y)): windows are cut on demand
    from all tickers' inputs laid end to end (a window's global last day g covers rows g-W+1..g of its ticker)."""
    starts = np.cumsum([0] + [len(m.data) for m in members])[:-1]
    inputs = np.concatenate([m.data.inputs for m in members])
    targets = np.zeros(len(inputs))
    for start, m in zip(starts, members, strict=True):
        targets[start + m.ends] = m.data.scaled_returns(m.ends)
    train = np.concatenate([start + m.train_ends for start, m in zip(starts, members, strict=True)])
    stop = np.concatenate([start + m.stop_ends for start, m in zip(starts, members, strict=True)])
    offsets = np.arange(-config.window + 1, 1)
    if len(stop) > MAX_STOP_WINDOWS:
        stop = np.sort(np.random.default_rng([config.seed, 2]).choice(stop, MAX_STOP_WINDOWS, replace=False))

    def cut(last_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return inputs[last_days[:, None] + offsets], np.column_stack([targets[last_days], np.zeros(len(last_days))])

    def batches(rng: np.random.Generator):
        order = rng.permutation(len(train))[:EPOCH_WINDOWS]
        for first in range(0, len(order), config.batch_size):
            yield cut(train[order[first: first + config.batch_size]])

    return batches, cut(stop)


def _evidence(model: Model, data: TickerData, ends: np.ndarray, judge: int, window: int) -> Evidence:
    """The calibration's evidence from a ticker's most recent windows (the last `judge` of them held out)."""
    recent = ends[-max(CALIBRATION_WINDOWS, judge):]
    outputs = model.outputs(data.windows(recent, window))
    held_out = np.zeros(len(recent), dtype=bool)
    held_out[len(recent) - judge:] = True
    return Evidence.build(recent, outputs, data.baseline.sigma, data.series.returns, held_out, data.series.dates)


def _ticker_meta(ticker: Member, calibration: dict, calibrated_at: str, member: bool) -> dict:
    """A ticker's section of the model's metadata: trained with the network (`member`) or calibrated against it (at
    `calibrated_at`: `forecast list` shows it)."""
    return {
        "member": member,
        "level": ticker.level,
        "offset": ticker.offset,
        "shock_scale": ticker.shock_scale,
        "scaler": {"mean": [float(v) for v in ticker.scaler[0]], "scale": [float(v) for v in ticker.scaler[1]]},
        **calibration,
        "training": {"first_date": ticker.bars.first_date, "last_date": ticker.bars.last_date,
                     "rows": len(ticker.bars), "calibrated_at": calibrated_at,
                     "data_sha256": hashlib.sha256(format_csv(ticker.bars).encode()).hexdigest()},
    }
