"""The baseline alone on the shock panel: seconds-to-minutes experiments on the pooled HAR, without the network.

Issue 23's shock panel (benchmarks/shocks.py) costs a vintage build and an evaluation of 100 tickers. Changes to the
baseline (forecaster.model.baseline) can be screened first on the baseline alone: the pooled HAR is fitted (the same
Newton QLIKE fit, offsets partially pooled) on every other history of the folder before the test start, then each of
the N shock tickers gets its level and shrunk offset from its own bars before the test start, its baseline σ (HAR
times the slow correction) over the whole history, and a 90% band σ × its own empirical 5% and 95% quantiles of
r_{t+1} / σ_t over its last 1,000 days before the test start (no pooling of the quantiles, no network). Reported:
the share of test days outside the band, after shocks as in shocks.py, the interval score against RiskMetrics
(±1.645 σ_EWMA) and the tickers' coverage in 0.87-0.93; with `--panel DIR` the same on another folder (the
development panel), with the HAR fitted on the same other histories. Variants (--variant, parts joined by +): `base`
(the range HAR), `yz` (range variance plus the squared gap as the proxy), `cc` (the larger of range variance and r²),
`J`/`G`/`J5`/`L` (log regressors: the jump of r² or of the gap² beyond the range variance, its 5-day mean, a leverage
term), `A1`/`A5`/`AJ`/`AG` (terms added to the variance in levels: r², its 5-day mean, r² beyond the range variance,
the squared gap), `AP`/`AN` and `AGP`/`AGN` (r² and the squared gap split by the move's sign); `K` gives each
ticker its own multiple κ of the pooled shock terms, fitted with its offset and partially pooled (log κ).

    python benchmarks/baseline_shocks.py [--variant NAME ...] [--data-dir DIR] [--tickers 100] [--panel DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.shocks import read_folder, shock_tickers  # noqa: E402
from forecaster.model.baseline import (  # noqa: E402
    CORRECTION_CAP,
    CORRECTION_LAMBDA,
    VARIANCE_FLOOR,
    har_terms,
    offset_variance,
)
from forecaster.model.guards import check_trainable  # noqa: E402
from forecaster.model.serving import TrainingConfig  # noqa: E402
from forecaster.model.shrinkage import pool  # noqa: E402
from forecaster.model.volatility import ewma, range_variance  # noqa: E402
from forecaster.model.windows import build_series, has_real_ohlc  # noqa: E402

RECENT = 1000  # the band's quantiles from the last this many days before the test (the calibration's windows)
LOG_10 = math.log(1.10)
LOG_20 = math.log(1.20)


def _log(v):
    return np.log(np.maximum(v, VARIANCE_FLOOR))


def design(series, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """(x (n,), extra regressors (n, k), not centred on the level) of a variant."""
    rv = range_variance(series.log_range)
    r2, g2 = series.returns**2, series.features[:, 2] ** 2
    x = _log(rv)
    extra = []
    parts = variant.split("+")
    if "yz" in parts:  # the overnight move in the proxy: Parkinson + squared gap
        x = _log(rv + g2)
    if "cc" in parts:  # the larger of the range variance and the squared close-to-close return (rejected earlier)
        x = _log(np.maximum(rv, r2))
    if "J" in parts:  # the jump: how far the squared return ran beyond the range variance, in logs, positive part
        extra.append(np.maximum(0.0, _log(r2) - x))
    if "G" in parts:  # the same for the squared gap
        extra.append(np.maximum(0.0, _log(g2) - x))
    if "J5" in parts:
        extra.append(har_terms(np.maximum(0.0, _log(r2) - x))[:, 1])
    if "L" in parts:  # leverage: a down day's return in units of the day's range sd, positive part of -r
        extra.append(np.maximum(0.0, -series.returns) / np.sqrt(np.maximum(rv, VARIANCE_FLOOR)))
    return x, (np.column_stack(extra) if extra else np.empty((len(x), 0)))


def additive(series, variant: str) -> np.ndarray:
    """Terms (n, m) added to the HAR's variance in levels: σ²_HAR = exp(η) + G γ."""
    rv = range_variance(series.log_range)
    r2, g2 = series.returns**2, series.features[:, 2] ** 2
    out = []
    for part in variant.split("+"):
        if part == "A1":
            out.append(r2)
        elif part == "A5":
            out.append(har_terms(r2)[:, 1])
        elif part == "AJ":
            out.append(np.maximum(0.0, r2 - rv))
        elif part == "AG":
            out.append(g2)
        elif part == "AP":  # r² of a rise only
            out.append(np.where(series.returns > 0, r2, 0.0))
        elif part == "AN":  # r² of a fall only
            out.append(np.where(series.returns < 0, r2, 0.0))
        elif part == "AGP":  # the squared gap of a gap up only
            out.append(np.where(series.features[:, 2] > 0, g2, 0.0))
        elif part == "AGN":
            out.append(np.where(series.features[:, 2] < 0, g2, 0.0))
    return np.column_stack(out) if out else np.empty((len(r2), 0))


def features_of(x, extra, level):
    return np.column_stack([har_terms(x) - level, extra])


def fit_additive(samples):
    """β, γ and the tickers' intercepts by QLIKE with σ² = exp(a_i + F β) + G γ (β, γ >= 0), by L-BFGS-B (the
    variants need not fit forecaster.model.baseline's Fisher scoring); returns β, γ and the pooled offsets."""
    from scipy.optimize import minimize

    beta0 = np.full(samples[0][0].shape[1], 0.1)
    F = np.concatenate([f for f, _, _, _ in samples])
    G = np.concatenate([g for _, g, _, _ in samples])
    r2 = np.concatenate([r for _, _, _, r in samples])
    who = np.concatenate([np.full(len(r), i) for i, (_, _, _, r) in enumerate(samples)])
    levels = np.array([level for _, _, level, _ in samples])
    k, m, count, N = F.shape[1], G.shape[1], len(samples), len(r2)
    a0 = np.array([math.log(max(float(np.mean(r)), VARIANCE_FLOOR)) for _, _, _, r in samples])

    def loss(theta):
        beta, gamma, a = theta[:k], theta[k:k + m], theta[k + m:]
        e = np.exp(a[who] + F @ beta)
        v = e + G @ gamma
        q = r2 / v
        slope = 1.0 - q
        w = e / v
        grad = np.concatenate([F.T @ (w * slope), G.T @ (slope / v), np.bincount(who, w * slope, count)])
        return float(np.sum(np.log(v) + q)) / N, grad / N

    theta0 = np.concatenate([beta0, np.zeros(m), a0])
    bounds = [(0, None)] * (k + m) + [(None, None)] * count
    done = minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                    options={"maxiter": 3000, "maxfun": 6000, "ftol": 1e-13, "gtol": 1e-9})
    beta, gamma, a = done.x[:k], done.x[k:k + m], done.x[k + m:]
    offsets, variances = a - levels, []
    for i, (f, g, _, r) in enumerate(samples):
        e = np.exp(a[i] + f @ beta)
        v = e + g @ gamma
        w = e / v
        variances.append(float(np.sum((w * (1 - r / v)) ** 2)) / float(np.sum(w**2)) ** 2)
    print(f"  L-BFGS-B: {done.nit} iterations, {done.message}", file=sys.stderr)
    return beta, gamma, pool(offsets, np.array(variances))


def offset_and_shock_scale(plain, added, r2) -> tuple[np.ndarray, np.ndarray]:
    """((δ̂, log κ̂), their 2x2 sandwich covariance) of one ticker by Fisher scoring on QLIKE with
    v = plain e^δ + κ added (variant `K`: each ticker's own multiple of the pooled shock terms)."""
    theta = np.array([math.log(max(float(np.mean(r2 / plain)), 1e-300)), 0.0])

    def loss(t):
        v = plain * math.exp(t[0]) + math.exp(t[1]) * added
        return float(np.sum(np.log(v) + r2 / v))

    current = loss(theta)
    for _ in range(50):
        e, k = plain * math.exp(theta[0]), math.exp(theta[1]) * added
        v = e + k
        jacobian = np.column_stack([e / v, k / v])
        fisher = jacobian.T @ jacobian + 1e-9 * np.eye(2)
        step = np.linalg.solve(fisher, jacobian.T @ (1 - r2 / v))
        for _ in range(30):
            trial = theta - step
            trial[1] = min(max(trial[1], -6.0), 4.0)
            if loss(trial) <= current:
                break
            step = step / 2
        else:
            break
        theta, current = trial, loss(trial)
        if np.max(np.abs(step)) < 1e-9:
            break
    e, k = plain * math.exp(theta[0]), math.exp(theta[1]) * added
    v = e + k
    jacobian = np.column_stack([e / v, k / v])
    bread = np.linalg.pinv(jacobian.T @ jacobian)
    meat = (jacobian * (1 - r2 / v)[:, None]).T @ (jacobian * (1 - r2 / v)[:, None])
    covariance = bread @ meat @ bread
    if not jacobian[:, 1].any() or not np.isfinite(covariance).all():
        covariance = np.diag([covariance[0, 0] if np.isfinite(covariance[0, 0]) else math.inf, math.inf])
    return theta, covariance


def shock_scale_pools(samples, beta, gamma):
    """(the offsets' pool, the log shock scales' pool) from every training history's joint (δ̂, log κ̂) (variant K)."""
    estimates, variances = [], []
    for features, extras, level, r2 in samples:
        plain = np.exp(level + features @ beta)
        theta, covariance = offset_and_shock_scale(plain, extras @ gamma, r2)
        estimates.append(theta)
        variances.append(np.diag(covariance))
    estimates, variances = np.array(estimates), np.array(variances)
    return pool(estimates[:, 0], variances[:, 0]), pool(estimates[:, 1], variances[:, 1])


def sigma_of(series, variant, beta, pooled, train: np.ndarray, gamma=None):
    """Baseline σ (n,) of one evaluated ticker: level and offset from its days before the test (`train` mask)."""
    x, extra = design(series, variant)
    level = float(np.mean(x[train]))
    f = features_of(x, extra, level)
    plain = np.exp(level + f @ beta)
    n = int(train.sum())
    added = additive(series, variant) @ gamma if gamma is not None and len(gamma) else np.zeros(len(plain))
    r2 = series.returns[1:n] ** 2
    if isinstance(pooled, tuple):  # variant K: the ticker's own shock scale, shrunk toward the pool's
        theta, covariance = offset_and_shock_scale(plain[: n - 1], added[: n - 1], r2)
        offset = pooled[0].shrink(float(theta[0]), float(covariance[0, 0]))
        scale = math.exp(pooled[1].shrink(float(theta[1]), float(covariance[1, 1])))
        return _corrected(series, np.sqrt(plain * math.exp(offset) + scale * added))
    ratio = r2 / plain[: n - 1]
    mean = float(np.mean(ratio))
    estimate, variance = math.log(mean), offset_variance(ratio / mean)
    if added.any():
        for _ in range(30):  # Newton (Fisher scoring) on δ with γ fixed
            e = plain[: n - 1] * math.exp(estimate)
            v = e + added[: n - 1]
            w = e / v
            step = float(np.sum(w * (1 - r2 / v))) / float(np.sum(w**2))
            estimate -= step
            if abs(step) < 1e-10:
                break
        variance = float(np.sum((w * (1 - r2 / v)) ** 2)) / float(np.sum(w**2)) ** 2
    offset = pooled.shrink(estimate, variance)
    return _corrected(series, np.sqrt(plain * math.exp(offset) + added))


def _corrected(series, sigma_har: np.ndarray) -> np.ndarray:
    z2 = np.ones(len(series))
    z2[1:] = (series.returns[1:] / sigma_har[:-1]) ** 2
    correction = ewma(np.minimum(z2, CORRECTION_CAP), CORRECTION_LAMBDA, start=1.0)
    return sigma_har * np.sqrt(correction)


def prepared(universe: dict, cut: np.datetime64, config: TrainingConfig) -> dict:
    out = {}
    for ticker, bars in sorted(universe.items()):
        history = bars.before(dt.date.fromisoformat(str(cut)))
        try:
            check_trainable(history, ticker)
        except Exception:
            continue
        if len(history) < config.min_join_rows or not has_real_ohlc(history):
            continue
        out[ticker] = build_series(history, "range")
    return out


def evaluate(tests: dict, variant, beta, pooled, cut, gamma=None) -> dict:
    kinds = ("all", "move10", "move20", "gap10")
    totals = {m: {k: [0, 0] for k in kinds} for m in ("base", "riskmetrics")}
    ratios, coverage = [], []
    for series in tests.values():
        train = series.dates < cut
        n = int(train.sum())
        if n < 60 or n >= len(series) - 1:
            continue
        sigma = sigma_of(series, variant, beta, pooled, train, gamma)
        z = series.returns[1:n] / sigma[: n - 1]
        lo, hi = np.quantile(z[-RECENT:], [0.05, 0.95])
        origin = np.arange(n - 1, len(series) - 1)  # σ at t forecasts r_{t+1}; the first test day is n
        actual = series.returns[origin + 1]
        rm = series.volatility[origin] * 1.645
        bands = {"base": (sigma[origin] * lo, sigma[origin] * hi), "riskmetrics": (-rm, rm)}
        shock = {"all": np.ones(len(origin), dtype=bool), "move10": np.abs(series.returns[origin]) > LOG_10,
                 "move20": np.abs(series.returns[origin]) > LOG_20,
                 "gap10": np.abs(series.features[origin, 2]) > LOG_10}
        scores = {}
        for method, (lower, upper) in bands.items():
            outside = (actual < lower) | (actual > upper)
            for kind in kinds:
                totals[method][kind][0] += int(outside[shock[kind]].sum())
                totals[method][kind][1] += int(shock[kind].sum())
            scores[method] = float(np.mean(upper - lower + 20 * np.maximum(lower - actual, 0)
                                           + 20 * np.maximum(actual - upper, 0)))
            if method == "base":
                coverage.append(1 - float(outside.mean()))
        ratios.append(scores["base"] / scores["riskmetrics"])
    coverage = np.array(coverage)
    return {"totals": totals, "ratio": math.exp(float(np.mean(np.log(ratios)))),
            "in range": int(np.sum((coverage >= 0.87) & (coverage <= 0.93))), "tickers": len(ratios)}


def gap_response(variant, beta, pooled, gamma=None) -> float:
    """σ the day after a 50% overnight gap (the day's range as usual) over RiskMetrics' σ that day, on a generated
    ticker of 2% daily volatility: at least 1 is "as fast as RiskMetrics"."""
    rng = np.random.default_rng(0)
    n = 600
    from forecaster.data.bars import Bars

    r = rng.normal(0, 0.02, n)
    close = 100 * np.exp(np.cumsum(r))
    open_ = np.concatenate([[100], close[:-1]]) * np.exp(rng.normal(0, 0.004, n))
    open_[-1] = close[-2] * 1.5
    close[-1] = open_[-1] * math.exp(rng.normal(0, 0.01))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, n)))
    dates = np.arange(np.datetime64("2010-01-04"), np.datetime64("2010-01-04") + n)
    bars = Bars(dates, open_, high, low, close, close, np.full(n, 1e6))
    series = build_series(bars, "range")
    sigma = sigma_of(series, variant, beta, pooled, np.arange(len(series)) < len(series) - 1, gamma)
    return float(sigma[-1] / series.volatility[-1])


def cached(folder: Path) -> dict:
    path = Path("/tmp") / f"i23-{folder.name}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    universe = read_folder(folder)
    path.write_bytes(pickle.dumps(universe))
    return universe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--variant", action="append", dest="variants")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "universe-train")
    parser.add_argument("--panel", type=Path)
    parser.add_argument("--tickers", type=int, default=100)
    parser.add_argument("--test-start", default="2015-01-02")
    parser.add_argument("--subsample", type=int, default=1, help="fit the HAR on every k-th other history")
    args = parser.parse_args()
    cut = np.datetime64(args.test_start)
    universe = cached(args.data_dir)
    chosen = shock_tickers(universe, cut, args.tickers)
    config = TrainingConfig(market="none")
    train = prepared({t: b for t, b in universe.items() if t not in chosen}, cut, config)
    train = dict(list(train.items())[:: args.subsample])
    tests = {t: build_series(universe[t], "range") for t in chosen if has_real_ohlc(universe[t])}
    panel = None
    if args.panel:
        panel = {t: build_series(b, "range") for t, b in cached(args.panel).items() if has_real_ohlc(b)}
    print(f"HAR fitted on {len(train)} histories; {len(tests)} shock tickers", file=sys.stderr)
    for variant in args.variants or ["base"]:
        started = time.perf_counter()
        samples = []
        for series in train.values():
            x, extra = design(series, variant)
            level = float(np.mean(x))
            samples.append((features_of(x, extra, level)[:-1], additive(series, variant)[:-1], level,
                            series.returns[1:] ** 2))
        beta, gamma, pooled = fit_additive(samples)
        if "K" in variant.split("+"):
            pooled = shock_scale_pools(samples, beta, gamma)
            print(f"  shock scales: log κ pooled {pooled[1].value:.3f}, τ² {pooled[1].spread:.3f}", file=sys.stderr)
        rows = [("shock panel", evaluate(tests, variant, beta, pooled, cut, gamma))]
        if panel:
            rows.append(("dev panel", evaluate(panel, variant, beta, pooled, cut, gamma)))
        shares = np.round(gamma, 4).tolist()
        offsets = pooled[0] if isinstance(pooled, tuple) else pooled
        print(f"\n{variant}: β = {np.round(beta, 4).tolist()}, γ = {shares}, offset {offsets.value:.3f} "
              f"(τ² {offsets.spread:.3f}); "
              f"σ after a 50% gap / RiskMetrics' = {gap_response(variant, beta, pooled, gamma):.2f}; "
              f"{time.perf_counter() - started:.0f} s")
        for name, result in rows:
            cells = []
            for method, kinds in result["totals"].items():
                cells.append(method + " " + ", ".join(f"{k} {100 * o / max(d, 1):.1f}% ({d})"
                                                      for k, (o, d) in kinds.items()))
            print(f"  {name}: score / RiskMetrics {result['ratio']:.4f}, coverage in range {result['in range']} of "
                  f"{result['tickers']}\n    " + "\n    ".join(cells))


if __name__ == "__main__":
    main()
