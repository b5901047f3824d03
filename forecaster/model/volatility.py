"""How large the next moves will be: volatility baselines, the variance path over several days, interval scores,
and the GARCH-type baselines that `evaluate` compares with.

Notation: r_t is the log return of day t; a volatility σ_t is known at the close of day t and forecasts the size of
r_{t+1}. Everything here except the GARCH baselines is NumPy only (`predict` starts fast); `arch` is imported by
`garch_forecasts` alone.

- `ewma(x)`: s_t = λ s_{t-1} + (1-λ) x_t, λ = 0.94 (RiskMetrics), started at the mean of the first 20 values; of r²
  it is the classic EWMA variance, of `range_variance` the range-based one.
- `range_variance`: per day, (log(H_t/L_t))² / (4 log 2), Parkinson's (1980) estimate of the day's variance from its
  high-low range: far less noisy than one squared close-to-close return. (Adding the squared overnight gap, one more
  noisy squared return, made the interval scores worse on every ticker of the developers' data set.)
- `fit_degrees_of_freedom`: the Student-t ν (maximum likelihood on a grid, scale profiled out) of standardised
  returns, or None when a Gaussian fits as well.
- The variance path h days ahead mean-reverts: v_h = m + φ^(h-1) (v_1 - m), with m the long-run level
  (`long_run_variance`: the EWMA(0.99) of σ²) and φ the persistence; the cumulative variance of the next H days is
  V_H = H m + (v_1 - m)(1 - φ^H)/(1 - φ) (forecaster.model.calibration fits φ).
- `interval_score`: the interval (Winkler) score of a central interval, lower is better.
"""

from __future__ import annotations

import functools
import math

import numpy as np

EWMA_LAMBDA = 0.94
WARMUP = 20
NU_GRID = (3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0)
PERSISTENCE_GRID = tuple(np.round(1.0 - np.geomspace(0.002, 0.5, 40), 6)) + (1.0,)
LONG_RUN_LAMBDA = 0.99  # the EWMA of σ² the variance path reverts to
TRADING_DAYS = 252  # sessions in a year: a daily variance times this is an annual one


def ewma(values: np.ndarray, lam: float = EWMA_LAMBDA, warmup: int = WARMUP, start: float | None = None) -> np.ndarray:
    """s_t = λ s_{t-1} + (1-λ) x_t from s_{-1} = `start`, else the mean of the first `warmup` values (those days never
    end a window).

    Computed in blocks of B days, exactly the recursion up to rounding: within a block s = L x + λ^(j+1) s_before with
    the (B, B) matrix L_jk = (1-λ) λ^(j-k) (k <= j), so a 5,000-day series costs one small matrix product and 80
    steps instead of 5,000 Python steps (`predict` computes several per ticker)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if start is None:
        start = float(np.mean(x[: max(1, min(warmup, n))])) if n else 0.0
    if not n:
        return np.empty(0)
    blocks = -(-n // _EWMA_BLOCK)
    padded = np.zeros(blocks * _EWMA_BLOCK)
    padded[:n] = x
    within, carry = _ewma_operators(lam)
    inner = padded.reshape(blocks, _EWMA_BLOCK) @ within.T
    out = np.empty_like(inner)
    level = float(start)
    for b in range(blocks):
        np.multiply(carry, level, out=out[b])
        out[b] += inner[b]
        level = out[b, -1]
    return out.ravel()[:n]


_EWMA_BLOCK = 64


@functools.lru_cache(maxsize=16)
def _ewma_operators(lam: float) -> tuple[np.ndarray, np.ndarray]:
    """(L (B, B), λ^(j+1) (B,)) of `ewma`'s blocks."""
    j = np.arange(_EWMA_BLOCK)
    lags = j[:, None] - j[None, :]
    within = np.where(lags >= 0, (1 - lam) * lam ** np.maximum(lags, 0), 0.0)
    return within, lam ** (j + 1.0)


def long_run_variance(sigma: np.ndarray) -> np.ndarray:
    """m_t (n,) of the daily volatilities σ (n,): the EWMA(LONG_RUN_LAMBDA) of σ² started at σ_0², the long-run
    level the variance path reverts to (where volatility has lately been)."""
    return ewma(sigma**2, LONG_RUN_LAMBDA, start=float(sigma[0] ** 2))


def ewma_volatility(returns: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """σ_t = sqrt(EWMA of r²): RiskMetrics."""
    return np.sqrt(np.maximum(ewma(returns**2, lam), 1e-12))


def range_variance(log_range: np.ndarray) -> np.ndarray:
    """Parkinson's variance log_range² / (4 log 2) per day (see the module docstring)."""
    return log_range**2 / (4.0 * math.log(2.0))


def fit_degrees_of_freedom(z: np.ndarray) -> float | None:
    """Student-t degrees of freedom of `z` by maximum likelihood over NU_GRID (the scale fitted for each), or None
    when the Gaussian's likelihood is at least as high."""
    z = np.asarray(z, dtype=float)
    z = z[np.isfinite(z)]
    if len(z) < 50:
        return None
    best_nu, best = None, _gaussian_loglik(z)
    for nu in NU_GRID:
        loglik = _student_loglik(z, nu)
        if loglik > best:
            best_nu, best = nu, loglik
    return best_nu


def _gaussian_loglik(z: np.ndarray) -> float:
    variance = float(np.mean(z**2))
    return -0.5 * len(z) * (math.log(2 * math.pi * variance) + 1.0)


def fitted_scale(z: np.ndarray, nu: float | None) -> float:
    """The maximum-likelihood scale of `z` under a Gaussian (None) or a Student-t with ν degrees of freedom."""
    scale2 = float(np.mean(z**2))
    if nu is None:
        return math.sqrt(scale2)
    scale2 *= (nu - 2) / nu
    for _ in range(50):  # EM for the scale of a t with known ν
        weights = (nu + 1) / (nu + z**2 / scale2)
        scale2 = float(np.mean(weights * z**2))
    return math.sqrt(scale2)


def negative_loglik(errors: np.ndarray, scale: np.ndarray, nu: float | None) -> float:
    """Mean negative log-likelihood of `errors` under a Gaussian (None) or Student-t with these scales."""
    z = errors / scale
    if nu is None:
        return float(np.mean(np.log(scale) + 0.5 * z**2 + 0.5 * math.log(2 * math.pi)))
    constant = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    return float(np.mean(np.log(scale) + (nu + 1) / 2 * np.log1p(z**2 / nu)) - constant)


def _student_loglik(z: np.ndarray, nu: float) -> float:
    scale2 = fitted_scale(z, nu) ** 2
    constant = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    return float(len(z) * (constant - 0.5 * math.log(scale2)) - (nu + 1) / 2 * np.sum(np.log1p(z**2 / (nu * scale2))))


def path_factor(persistence: float, horizon: int) -> float:
    """Σ_{h=1..H} φ^(h-1): how much of today's excess variance the next H days carry."""
    if persistence >= 1.0:
        return float(horizon)
    return (1.0 - persistence**horizon) / (1.0 - persistence)


def cumulative_variance(v1: np.ndarray, long_run: float, persistence: float, horizon: int) -> np.ndarray:
    """V_H = H m + (v_1 - m) Σ φ^(h-1): the variance of the sum of the next `horizon` returns."""
    return horizon * long_run + (np.asarray(v1) - long_run) * path_factor(persistence, horizon)


def interval_score(lower: np.ndarray, upper: np.ndarray, actual: np.ndarray, level: float = 0.90) -> float:
    """Mean interval (Winkler) score: (u - l) + 2/α (l - y)⁺ + 2/α (y - u)⁺ with α = 1 - level."""
    penalty = 2.0 / (1.0 - level)
    lower, upper, actual = (np.asarray(a, dtype=float) for a in (lower, upper, actual))
    return float(np.mean((upper - lower) + penalty * np.maximum(lower - actual, 0)
                         + penalty * np.maximum(actual - upper, 0)))


# ------------------------------------------------------------------------------------------- GARCH baselines
def garch_forecasts(returns: np.ndarray, train_end: int, origins: np.ndarray, horizon: int, asymmetric: bool,
                    params=None) -> tuple[np.ndarray, np.ndarray, object]:
    """GARCH(1,1) (or GJR-GARCH(1,1) with `asymmetric`) with Student-t errors and a constant mean, fitted by the
    `arch` package on returns[:train_end] only (or given its fitted `params`, from an earlier call), then filtered
    forward over all returns with those parameters fixed.

    For each origin t (an index into `returns`): the mean and the variance of r_{t+1} + ... + r_{t+horizon} from
    data up to t. Returns (mean (N,), variance (N,), the fitted parameters; params["nu"] is ν)."""
    from arch import arch_model

    scaled = 100.0 * np.asarray(returns, dtype=float)  # arch's optimiser prefers percent returns

    def model(data):
        return arch_model(data, mean="Constant", vol="GARCH", p=1, o=1 if asymmetric else 0, q=1, dist="t",
                          rescale=False)

    if params is None:
        params = model(scaled[:train_end]).fit(disp="off", show_warning=False).params
    origins = np.asarray(origins)
    start = int(origins.min())
    forecast = model(scaled).forecast(params=params, horizon=horizon, start=start, method="analytic",
                                      reindex=False)
    rows = origins - start
    mean = forecast.mean.to_numpy()[rows].sum(axis=1) / 100.0
    variance = forecast.variance.to_numpy()[rows].sum(axis=1) / 1e4
    return mean, variance, params


def student_quantile(nu: float, level: float = 0.90) -> float:
    """The upper (1+level)/2 quantile of a Student-t with ν degrees of freedom scaled to unit variance."""
    from scipy import stats

    return float(stats.t.ppf((1 + level) / 2, nu) * math.sqrt((nu - 2) / nu))
