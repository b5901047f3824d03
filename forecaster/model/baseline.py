"""The volatility the network corrects: a log-HAR on the daily range with one set of coefficients for every ticker of
a pool, times a slow calibration correction.

For ticker i on day t (a volatility known at the close of t forecasts r_{t+1}):

    x_t = log of the day's variance proxy: Parkinson's range variance log(H/L)² / (4 log 2) with real OHLC, else r_t²,
          floored at the variance of a MIN_RANGE range (a halted or stale day)
    HAR terms: x_t and the means of x over the last 5 and 22 days (over fewer at the start of a history)
    μ_i = the mean of x over the ticker's training span: its own level
    log σ²_HAR,t = μ_i + δ_i + β1 (x_t - μ_i) + β5 (x5_t - μ_i) + β22 (x22_t - μ_i)

β is one set of coefficients for all tickers (Corsi's HAR, pooled as in Bollerslev, Hood, Huss and Pedersen's "Risk
Everywhere", 2018); δ_i, how the ticker's close-to-close variance relates to its range (overnight moves, tick size), is
the ticker's own, partially pooled (model.shrinkage). Both are fitted by QLIKE, the Gaussian likelihood of r_{t+1},
Σ log σ² + r²/σ², which is robust to the noise of a one-day variance proxy (Patton 2011): Newton's method on all
tickers' training days at once, each ticker's δ_i eliminated through the Schur complement.

    c_t = EWMA_λ of min(z_t², 50), λ = 0.995, from c = 1, with z_t = r_t / σ_HAR,t-1
    σ_t = σ_HAR,t sqrt(c_t)

c is how far realised moves have lately run above or below the HAR (a half-life of about 140 sessions): a regime the
training span did not see is absorbed within months rather than never, and its cap keeps one crash from widening the
bands for a season. Starting at 1, it is causal from the first day.

NumPy only: `predict` computes the baseline of every ticker it forecasts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from forecaster.model.shrinkage import Pooled, pool
from forecaster.model.volatility import ewma, range_variance
from forecaster.model.windows import MIN_RANGE, Series

HAR_LAGS = (1, 5, 22)
CORRECTION_LAMBDA = 0.995
CORRECTION_CAP = 50.0  # z² above this counts as this in the correction (a 7-sigma day)
NEWTON_STEPS = 50
VARIANCE_FLOOR = MIN_RANGE**2 / (4.0 * math.log(2.0))


@dataclass(frozen=True)
class Har:
    """The pooled HAR: coefficients β (on x, x5, x22 minus the level) and the pooled offset δ̄ with its spread τ²."""

    beta: tuple[float, float, float]
    offset: Pooled

    def to_json(self) -> dict:
        return {"beta": list(self.beta), "offset": self.offset.as_list()}

    @classmethod
    def from_json(cls, data: dict) -> Har:
        return cls(tuple(float(b) for b in data["beta"]), Pooled(*map(float, data["offset"])))


@dataclass(frozen=True)
class TickerBaseline:
    """One ticker's baseline, per day (n,) each: σ_HAR, the correction c, and σ = σ_HAR sqrt(c)."""

    har: np.ndarray
    correction: np.ndarray
    sigma: np.ndarray


def log_variance_proxy(series: Series, use_range: bool = True) -> np.ndarray:
    """x_t (n,): the log of Parkinson's variance of each day's range (with real OHLC and `use_range`), else of r_t²;
    floored at VARIANCE_FLOOR."""
    real = use_range and series.log_range is not None
    proxy = range_variance(series.log_range) if real else series.returns**2
    return np.log(np.maximum(proxy, VARIANCE_FLOOR))


def har_terms(x: np.ndarray) -> np.ndarray:
    """(n, 3): x_t and the means of x over the last 5 and 22 days, over the days there are at the start."""
    x = np.asarray(x, dtype=float)
    total = np.concatenate([[0.0], np.cumsum(x)])
    index = np.arange(1, len(x) + 1)
    columns = []
    for lag in HAR_LAGS:
        first = np.maximum(index - lag, 0)
        columns.append((total[index] - total[first]) / (index - first))
    return np.column_stack(columns)


def har_sigma(terms: np.ndarray, level: float, offset: float, har: Har) -> np.ndarray:
    """σ_HAR,t (n,) from the HAR terms (n, 3), the ticker's level μ and offset δ."""
    return np.exp(0.5 * (level + offset + (terms - level) @ np.asarray(har.beta)))


def ticker_baseline(returns: np.ndarray, terms: np.ndarray, level: float, offset: float, har: Har) -> TickerBaseline:
    """σ_HAR, the correction c and the baseline σ of one ticker, day by day (see the module docstring)."""
    sigma_har = har_sigma(terms, level, offset, har)
    z2 = np.ones(len(returns))
    z2[1:] = (returns[1:] / sigma_har[:-1]) ** 2
    correction = ewma(np.minimum(z2, CORRECTION_CAP), CORRECTION_LAMBDA, start=1.0)
    return TickerBaseline(sigma_har, correction, sigma_har * np.sqrt(correction))


def fit_har(samples: list[tuple[np.ndarray, float, np.ndarray]]) -> tuple[Har, np.ndarray, np.ndarray]:
    """Fit β and each ticker's offset δ_i by QLIKE on `samples`, one (terms (n_i, 3), level μ_i, next returns (n_i,))
    per ticker: the HAR terms of each training day t and r_{t+1}. Returns the Har (δ̄ and τ² pooled from the δ̂_i), the
    δ̂_i and their sampling variances.

    Newton's method on the convex QLIKE, Σ η + r² e^{-η} with η = μ_i + δ_i + β'(x - μ_i), with β >= 0 (a coefficient
    the fit would make negative, which no volatility has, is held at 0 and the others refitted: on a short or
    featureless history the HAR then falls back on fewer terms rather than on nonsense); the variance of δ̂_i is the
    sandwich Σ (1 - z²)² / (Σ z²)², z² = r² e^{-η}, which holds under heavy tails too."""
    centred = [(terms - level, level, next_returns**2) for terms, level, next_returns in samples]
    free = np.ones(len(HAR_LAGS), dtype=bool)
    while True:
        beta, intercept = _newton(centred, free)
        if np.all(beta >= 0):
            break
        free &= beta > 0
    offsets, variances = np.empty(len(centred)), np.empty(len(centred))
    for i, (features, level, r2) in enumerate(centred):
        offsets[i] = intercept[i] - level
        variances[i] = offset_variance(r2 * np.exp(-(intercept[i] + features @ beta)))
    return Har(tuple(float(b) + 0.0 for b in beta), pool(offsets, variances)), offsets, variances


def _newton(centred: list[tuple[np.ndarray, float, np.ndarray]], free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(β, the tickers' intercepts μ_i + δ_i) minimising QLIKE with β held at 0 outside `free`; the intercepts are
    eliminated from each Newton step through the Schur complement of their diagonal block."""
    k, count = int(free.sum()), len(centred)
    beta = np.zeros(k)
    intercept = np.array([math.log(max(float(np.mean(r2)), VARIANCE_FLOOR)) for _, _, r2 in centred])
    for _ in range(NEWTON_STEPS):
        grad_beta, hess_beta = np.zeros(k), np.zeros((k, k))
        grad_int, hess_int, hess_cross = np.zeros(count), np.zeros(count), np.zeros((count, k))
        for i, (features, _, r2) in enumerate(centred):
            x = features[:, free]
            scaled = r2 * np.exp(-(intercept[i] + x @ beta))  # z², the Hessian's weights
            slope = 1.0 - scaled
            grad_beta += x.T @ slope
            hess_beta += (x * scaled[:, None]).T @ x
            grad_int[i], hess_int[i], hess_cross[i] = slope.sum(), scaled.sum(), x.T @ scaled
        hess_int = np.maximum(hess_int, 1e-12)
        schur = hess_beta - (hess_cross / hess_int[:, None]).T @ hess_cross
        step_beta = np.linalg.solve(schur + 1e-9 * np.eye(k), grad_beta - hess_cross.T @ (grad_int / hess_int))
        step_int = (grad_int - hess_cross @ step_beta) / hess_int
        beta -= step_beta
        intercept -= step_int
        if np.max(np.abs(step_beta), initial=0.0) < 1e-9 and np.max(np.abs(step_int)) < 1e-9:
            break
    full = np.zeros(len(free))
    full[free] = beta
    return full, intercept


def fit_offset(terms: np.ndarray, level: float, next_returns: np.ndarray, har: Har) -> tuple[float, float]:
    """δ̂ of one ticker against a fitted HAR (β fixed) and its variance: the QLIKE optimum, log mean(r² / σ²_HAR at
    δ = 0); NaN and an infinite variance without days."""
    if not len(next_returns):
        return math.nan, math.inf
    plain = har_sigma(terms, level, 0.0, har) ** 2
    ratio = next_returns**2 / plain
    mean = float(np.mean(ratio))
    if not mean > 0:
        return math.nan, math.inf
    return math.log(mean), offset_variance(ratio / mean)


def offset_variance(z2: np.ndarray) -> float:
    """The sandwich variance of a log-variance offset fitted by QLIKE to the days' z² (at the optimum mean(z²) = 1)."""
    total = float(np.sum(z2))
    if len(z2) < 2 or not total > 0:
        return math.inf
    return float(np.sum((1.0 - z2) ** 2)) / total**2
