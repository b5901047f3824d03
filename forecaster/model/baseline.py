"""The volatility the network corrects: a log-HAR on the daily range plus two shock terms, with one set of
coefficients for every ticker of a pool, times a slow calibration correction.

For ticker i on day t (a volatility known at the close of t forecasts r_{t+1}):

    x_t = log of the day's variance proxy: Parkinson's range variance log(H/L)² / (4 log 2) with real OHLC, else r_t²,
          floored at the variance of a MIN_RANGE range (a halted or stale day)
    s_t = the shock terms: r_t² and, with real OHLC, the squared overnight gap g_t² = log(O_t / P_{t-1})²
    HAR terms: x_t and the means of x over the last 5 and 22 days (over fewer at the start of a history)
    μ_i = the mean of x over the ticker's training span: its own level
    σ²_HAR,t = exp(μ_i + δ_i + β1 (x_t - μ_i) + β5 (x5_t - μ_i) + β22 (x22_t - μ_i)) + κ_i (γ_r r_t² + γ_g g_t²)

β and γ are one set of coefficients for all tickers (Corsi's HAR, pooled as in Bollerslev, Hood, Huss and Pedersen's
"Risk Everywhere", 2018); δ_i, how the ticker's close-to-close variance relates to its range (overnight moves, tick
size), and κ_i, how much of the pooled shock response its next days bear out, are the ticker's own, partially pooled
(model.shrinkage; κ in logs). The shock terms are ARCH terms in levels: the range does not see the move between
sessions, and a log-HAR is concave in the day's variance, so a 20% move or a 50% gap raised it far less than the next
days' moves bore out (issue 23's shock panel); in levels the squared move passes on in proportion (γ_r + γ_g about
0.4 on the training universe before 2015, against RiskMetrics' 0.06). How much differs by ticker: the variance of
log κ_i between the training histories is about 0.3 beyond their noise (a factor of about 1.7 either way): a shock to
a small name in the news is followed by larger moves than one to a utility. β and γ are fitted by QLIKE,
the Gaussian likelihood of r_{t+1}, Σ log σ² + r²/σ², which is robust to the noise of a one-day variance proxy
(Patton 2011): Fisher scoring on all tickers' training days at once (κ_i = 1), each ticker's δ_i eliminated through
the Schur complement; then each ticker's (δ_i, log κ_i) by Fisher scoring on its own days with β and γ fixed, with a
sandwich covariance, and the pool of each (`fit_ticker`).

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
SHOCKS = 2  # shock terms: r_t² and the squared overnight gap
CORRECTION_LAMBDA = 0.995
CORRECTION_CAP = 50.0  # z² above this counts as this in the correction (a 7-sigma day)
NEWTON_STEPS = 50
LOG_SHOCK_SCALE_BOUNDS = (-6.0, 4.0)  # a ticker's κ between e^-6 (its shocks pass nothing on) and e^4 (55 times)
VARIANCE_FLOOR = MIN_RANGE**2 / (4.0 * math.log(2.0))


@dataclass(frozen=True)
class Har:
    """The pooled HAR: coefficients β (on x, x5, x22 minus the level), the shock terms' γ (on r_t² and gap_t²), the
    pooled offset δ̄ and log shock scale (log κ)‾, each with its spread τ²."""

    beta: tuple[float, float, float]
    offset: Pooled
    shock: tuple[float, float] = (0.0, 0.0)
    shock_scale: Pooled = Pooled(0.0, 0.0)

    def to_json(self) -> dict:
        return {"beta": list(self.beta), "shock": list(self.shock), "offset": self.offset.as_list(),
                "shock_scale": self.shock_scale.as_list()}

    @classmethod
    def from_json(cls, data: dict) -> Har:
        return cls(tuple(float(b) for b in data["beta"]), Pooled(*map(float, data["offset"])),
                   tuple(float(g) for g in data["shock"]), Pooled(*map(float, data["shock_scale"])))


@dataclass(frozen=True)
class TickerFit:
    """One ticker's own estimates against a fitted HAR, each with its sampling variance: the offset δ̂ and the log
    shock scale log κ̂ (NaN and an infinite variance where its days say nothing of it)."""

    offset: float
    offset_variance: float
    log_shock_scale: float
    log_shock_scale_variance: float

    def shrunk(self, har: Har) -> tuple[float, float]:
        """(δ, κ): the estimates shrunk toward the pool's (a ticker with few days or shocks gets the pool's)."""
        return (har.offset.shrink(self.offset, self.offset_variance),
                math.exp(har.shock_scale.shrink(self.log_shock_scale, self.log_shock_scale_variance)))


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


def shock_terms(series: Series, use_range: bool = True) -> np.ndarray:
    """(n, 2): r_t² and the squared overnight gap (0 without real OHLC or `use_range`), the shock terms' days."""
    real = use_range and series.gap is not None
    return np.column_stack([series.returns**2, series.gap**2 if real else np.zeros(len(series))])


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


def har_sigma(terms: np.ndarray, shocks: np.ndarray, level: float, offset: float, shock_scale: float,
              har: Har) -> np.ndarray:
    """σ_HAR,t (n,) from the HAR terms (n, 3) and shock terms (n, 2) of the same days, the ticker's level μ, offset δ
    and shock scale κ."""
    return np.sqrt(np.exp(level + offset + (terms - level) @ np.asarray(har.beta))
                   + shock_scale * (shocks @ np.asarray(har.shock)))


def ticker_baseline(returns: np.ndarray, terms: np.ndarray, shocks: np.ndarray, level: float, offset: float,
                    shock_scale: float, har: Har) -> TickerBaseline:
    """σ_HAR, the correction c and the baseline σ of one ticker, day by day (see the module docstring)."""
    sigma_har = har_sigma(terms, shocks, level, offset, shock_scale, har)
    z2 = np.ones(len(returns))
    z2[1:] = (returns[1:] / sigma_har[:-1]) ** 2
    correction = ewma(np.minimum(z2, CORRECTION_CAP), CORRECTION_LAMBDA, start=1.0)
    return TickerBaseline(sigma_har, correction, sigma_har * np.sqrt(correction))


def fit_har(samples: list[tuple[np.ndarray, np.ndarray, float, np.ndarray]]) -> tuple[Har, list[TickerFit]]:
    """Fit β, γ and each ticker's offset δ_i and shock scale κ_i by QLIKE on `samples`, one (terms (n_i, 3), shock
    terms (n_i, 2), level μ_i, next returns (n_i,)) per ticker: the HAR and shock terms of each training day t and
    r_{t+1}. Returns the Har (δ̄, (log κ)‾ and their τ² pooled from the tickers' estimates) and each ticker's
    `fit_ticker` against it.

    QLIKE, Σ log v + r² / v with v = e^η + γ's, η = μ_i + δ_i + β'(x - μ_i), s the shock terms, is minimised by
    Fisher scoring (Gauss-Newton on log v: each step solves Σ J J' Δ = Σ J (1 - r²/v), J = ∂ log v / ∂θ, with step
    halving should QLIKE rise), with β, γ >= 0 (a coefficient the fit would make negative, which no volatility has, is
    held at 0 and the others refitted: on a short or featureless history the HAR then falls back on fewer terms rather
    than on nonsense); the variance of δ̂_i is the sandwich Σ (w (1 - z²))² / (Σ w²)², z² = r² / v, w = e^η / v,
    which holds under heavy tails too."""
    centred = [(np.column_stack([terms - level, shocks]), level, next_returns**2)
               for terms, shocks, level, next_returns in samples]
    free = np.ones(len(HAR_LAGS) + SHOCKS, dtype=bool)
    while True:
        theta, intercept = _fisher(centred, free)
        if np.all(theta >= 0):
            break
        free &= theta > 0
    beta, shock = theta[:len(HAR_LAGS)], theta[len(HAR_LAGS):]
    fitted = Har(tuple(float(b) + 0.0 for b in beta), Pooled(0.0, 0.0), tuple(float(g) + 0.0 for g in shock))
    fits = [fit_ticker(terms, shocks, level, next_returns, fitted) for terms, shocks, level, next_returns in samples]
    offsets = pool([f.offset for f in fits], [f.offset_variance for f in fits])
    scales = pool([f.log_shock_scale for f in fits], [f.log_shock_scale_variance for f in fits])
    return Har(fitted.beta, offsets, fitted.shock, scales if math.isfinite(scales.value) else Pooled(0.0, 0.0)), fits


def _qlike(centred, free: np.ndarray, theta: np.ndarray, intercept: np.ndarray) -> float:
    total = 0.0
    for i, (features, _, r2) in enumerate(centred):
        variance = _variance(features, free, theta, intercept[i])[1]
        total += float(np.sum(np.log(variance) + r2 / variance))
    return total


def _variance(features: np.ndarray, free: np.ndarray, theta: np.ndarray, intercept: float):
    """(e^η (n,), v (n,)) of one ticker: `theta` holds the free coefficients, β's then γ's."""
    har_free, shock_free = free[:len(HAR_LAGS)], free[len(HAR_LAGS):]
    split = int(har_free.sum())
    exp_part = np.exp(intercept + features[:, :len(HAR_LAGS)][:, har_free] @ theta[:split])
    return exp_part, exp_part + features[:, len(HAR_LAGS):][:, shock_free] @ theta[split:]


def _fisher(centred: list[tuple[np.ndarray, float, np.ndarray]], free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(β and γ (the last SHOCKS) held at 0 outside `free`, the tickers' intercepts μ_i + δ_i) minimising QLIKE; the
    intercepts are eliminated from each step through the Schur complement of their diagonal block."""
    k, count = int(free.sum()), len(centred)
    theta = np.zeros(k)
    intercept = np.array([math.log(max(float(np.mean(r2)), VARIANCE_FLOOR)) for _, _, r2 in centred])
    loss = _qlike(centred, free, theta, intercept)
    for _ in range(NEWTON_STEPS):
        grad, fisher = np.zeros(k), np.zeros((k, k))
        grad_int, fisher_int, fisher_cross = np.zeros(count), np.zeros(count), np.zeros((count, k))
        for i, (features, _, r2) in enumerate(centred):
            exp_part, variance = _variance(features, free, theta, intercept[i])
            weight = exp_part / variance  # ∂ log v / ∂η
            jacobian = np.column_stack([features[:, :len(HAR_LAGS)][:, free[:len(HAR_LAGS)]] * weight[:, None],
                                        features[:, len(HAR_LAGS):][:, free[len(HAR_LAGS):]] / variance[:, None]])
            slope = 1.0 - r2 / variance
            grad += jacobian.T @ slope
            fisher += jacobian.T @ jacobian
            grad_int[i], fisher_int[i], fisher_cross[i] = weight @ slope, weight @ weight, jacobian.T @ weight
        fisher_int = np.maximum(fisher_int, 1e-12)
        schur = fisher - (fisher_cross / fisher_int[:, None]).T @ fisher_cross
        step = np.linalg.solve(schur + 1e-9 * np.eye(k), grad - fisher_cross.T @ (grad_int / fisher_int))
        step_int = (grad_int - fisher_cross @ step) / fisher_int
        split = int(free[:len(HAR_LAGS)].sum())
        for _ in range(30):  # step halving: QLIKE must not rise, and the shock terms' γ must stay >= 0 (v > 0)
            trial, trial_int = theta - step, intercept - step_int
            trial[split:] = np.maximum(trial[split:], 0.0)
            trial_loss = _qlike(centred, free, trial, trial_int)
            if trial_loss <= loss:
                break
            step, step_int = step / 2, step_int / 2
        else:
            break
        theta, intercept, loss = trial, trial_int, trial_loss
        if np.max(np.abs(step), initial=0.0) < 1e-9 and np.max(np.abs(step_int)) < 1e-9:
            break
    full = np.zeros(len(free))
    full[free] = theta
    return full, intercept


def fit_ticker(terms: np.ndarray, shocks: np.ndarray, level: float, next_returns: np.ndarray, har: Har) -> TickerFit:
    """One ticker's δ̂ and log κ̂ against a fitted HAR (β and γ fixed), with their sandwich variances; `terms` and
    `shocks` are of the days before `next_returns`. Fisher scoring on QLIKE from δ = log mean(r² / exp(η at δ = 0)),
    log κ = 0, with step halving, log κ kept within LOG_SHOCK_SCALE_BOUNDS. Without days: NaN and infinite variances;
    without shocks among them (or without shock terms): the offset alone, log κ NaN."""
    if not len(next_returns):
        return TickerFit(math.nan, math.inf, math.nan, math.inf)
    plain = np.exp(level + (terms - level) @ np.asarray(har.beta))
    added = shocks @ np.asarray(har.shock)
    r2 = next_returns**2
    mean = float(np.mean(r2 / plain))
    if not mean > 0:
        return TickerFit(math.nan, math.inf, math.nan, math.inf)
    if not np.any(added > 0):
        return TickerFit(math.log(mean), offset_variance(r2 / plain / mean), math.nan, math.inf)
    theta = np.array([math.log(mean), 0.0])
    loss = _ticker_qlike(theta, plain, added, r2)
    for _ in range(NEWTON_STEPS):
        jacobian, variance = _ticker_jacobian(theta, plain, added)
        step = np.linalg.solve(jacobian.T @ jacobian + 1e-12 * np.eye(2), jacobian.T @ (1.0 - r2 / variance))
        for _ in range(30):
            trial = theta - step
            trial[1] = min(max(trial[1], LOG_SHOCK_SCALE_BOUNDS[0]), LOG_SHOCK_SCALE_BOUNDS[1])
            trial_loss = _ticker_qlike(trial, plain, added, r2)
            if trial_loss <= loss:
                break
            step = step / 2
        else:
            break
        theta, loss = trial, trial_loss
        if np.max(np.abs(step)) < 1e-10:
            break
    jacobian, variance = _ticker_jacobian(theta, plain, added)
    bread = np.linalg.pinv(jacobian.T @ jacobian)
    scored = jacobian * (1.0 - r2 / variance)[:, None]
    covariance = bread @ (scored.T @ scored) @ bread
    return TickerFit(float(theta[0]), float(covariance[0, 0]), float(theta[1]), float(covariance[1, 1]))


def _ticker_jacobian(theta: np.ndarray, plain: np.ndarray, added: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(∂ log v / ∂(δ, log κ) (n, 2), v (n,)) with v = plain e^δ + κ added."""
    smooth, shock = plain * math.exp(theta[0]), math.exp(theta[1]) * added
    variance = smooth + shock
    return np.column_stack([smooth / variance, shock / variance]), variance


def _ticker_qlike(theta: np.ndarray, plain: np.ndarray, added: np.ndarray, r2: np.ndarray) -> float:
    variance = plain * math.exp(theta[0]) + math.exp(theta[1]) * added
    return float(np.sum(np.log(variance) + r2 / variance))


def offset_variance(z2: np.ndarray, weight: np.ndarray | None = None) -> float:
    """The sandwich variance of a log-variance offset fitted by QLIKE to the days' z² (at the optimum mean(z²) = 1),
    each day's score weighted by `weight`, ∂ log σ² / ∂δ (1 without the shock term)."""
    weight = np.ones(len(z2)) if weight is None else weight
    total = float(weight @ weight)
    if len(z2) < 2 or not total > 0:
        return math.inf
    return float(np.sum((weight * (1.0 - z2)) ** 2)) / total**2
