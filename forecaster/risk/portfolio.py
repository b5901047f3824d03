"""The risk of holdings: value at risk and expected shortfall of a portfolio, and each holding's share of them.

Each holding i has x_i = shares_i × its last close in money (negative for a short) and, from the model, its own
forecast of the log return over the next N sessions: mean μ_i, spread σ_i = sqrt(V_N) and calibrated standardised
quantiles (forecaster.model.serving and calibration: the bands `predict` shows). The holdings are joined by the
correlation R of their standardised daily residuals z_t = r_t / σ_{t-1} (σ the baseline's one-day volatility):

- R is an EWMA (λ = CORRELATION_LAMBDA) of z z' over the last CORRELATION_WINDOW sessions — correlations move —
  shrunk toward the constant-correlation matrix (every pair at the average correlation) by
  the Ledoit–Wolf intensity δ, estimated from the same residuals with the EWMA's effective number of days: the fewer
  days per holding, the more shrinkage, so that 500 holdings stay well-conditioned;
- the money P&L to first order is y = Σ x_i r_i, with mean μ_y = Σ x_i μ_i and spread σ_y = sqrt(x' Σ x),
  Σ_ij = σ_i σ_j R_ij. In an elliptical joint distribution every such combination has the same standardised shape,
  so the portfolio's standardised quantile k(p) is the holdings' own calibrated ones (each read on its loss side:
  the lower tail of a long, the upper of a short), averaged with weights |x_i| σ_i (their stand-alone risk), then
  stretched by how much further the portfolio's own history reaches into the tail than its holdings' do (TailSample:
  sell-offs move everything at once, which no elliptical shape can show; 1 for one holding);
- at the portfolio's α-quantile (α = 1 - level) each holding's return is expected at its conditional mean,
  r_i* = μ_i + k(α) b_i with b_i = (Σ x)_i / σ_y, and the holding loses c_i = -x_i (exp(r_i*) - 1). The value at risk
  is their sum, VaR = Σ c_i, and c_i is the holding's component VaR (to first order the Euler allocation x_i ∂VaR/∂x_i,
  so the components sum exactly to the total). Expected shortfall is the same with the tail mean
  e = (1/α) ∫_0^α k(p) dp in place of k(α).

For one holding b = ±σ and the weights are 1, so its VaR is exactly the lower edge of its own band (its upper edge
for a short) at the central level 2 × level - 1. Marginal VaR is c_i / x_i (the VaR added per unit of money added to
the holding), stand-alone VaR the holding's own, and the diversification ratio Σ stand-alone / VaR (≥ 1 when the
holdings do not all move together). NumPy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from forecaster.model.calibration import TAIL_PROBABILITIES, quantile_curves
from forecaster.model.volatility import TRADING_DAYS

# the EWMA of the residuals' cross-products (half-life 69 sessions), chosen by the 50-portfolio backtest
# (benchmarks/portfolio.py): 0.94, 0.97 and 0.99 gave 44, 45 and 48 portfolios green, pinball 0.954, 0.948 and
# 0.943 x RiskMetrics'
CORRELATION_LAMBDA = 0.99
CORRELATION_WINDOW = 500  # sessions of residuals read (λ^500 ≈ 2e-7: the rest weighs nothing)
MIN_CORRELATION_DAYS = 20  # days a holding's residuals must cover in that window
TAIL_WINDOW = 2500  # sessions of residuals behind the tail-shape correction (TailSample): ten years
MIN_TAIL_DAYS = 250  # fewer days that every holding has: no correction
TAIL_POINTS = 200  # midpoints of (0, α] at which the tail mean averages the quantile function


@dataclass(frozen=True)
class HoldingForecast:
    """A holding and its forecast N sessions ahead: `mean` μ and `spread` σ of the N-day log return, and the
    calibrated standardised quantile table (TickerCalibration.quantiles) read at `horizon` N."""

    ticker: str
    shares: float
    price: float  # the last stored close
    mean: float
    spread: float
    quantiles: dict
    horizon: int

    @property
    def value(self) -> float:
        return self.shares * self.price

    def loss_side_quantiles(self, p: np.ndarray) -> np.ndarray:
        """k_i(p) (k,): the p-quantiles of the holding's standardised P&L, sign(x) (r - μ) / σ, for p in (0, 1): its
        lower return quantiles for a long, minus its upper ones for a short; linear in p between the tables' last
        tail probabilities, where only a simulation ever reads it, and beyond the smallest tail probability
        extrapolated linearly in log p (the tables stop at 0.1%; the tail mean needs what lies beyond)."""
        p = np.asarray(p, dtype=float)
        lower_tail = np.minimum(p, 1.0 - p)
        first, second = TAIL_PROBABILITIES[:2]
        wanted = np.concatenate([lower_tail, [first, second, 0.25]])  # and the anchors of the two extensions
        lower, upper = quantile_curves(self.quantiles, self.horizon, wanted)
        (low_1, low_2, low_edge), (up_1, up_2, up_edge) = lower[-3:], upper[-3:]
        beyond = np.log(np.maximum(lower_tail, 1e-300) / first) / math.log(first / second)
        lower = np.where(lower_tail < first, low_1 + (low_1 - low_2) * beyond, lower[:-3])
        upper = np.where(lower_tail < first, up_1 + (up_1 - up_2) * beyond, upper[:-3])
        below, above = (lower, upper) if self.shares > 0 else (-upper, -lower)
        k_low, k_high = (low_edge, up_edge) if self.shares > 0 else (-up_edge, -low_edge)
        middle = k_low + (p - 0.25) / 0.5 * (k_high - k_low)
        return np.where(p <= 0.25, below, np.where(p >= 0.75, above, middle))


@dataclass(frozen=True)
class HoldingRisk:
    ticker: str
    shares: float
    value: float
    weight: float  # value / gross value (longs plus |shorts|)
    component_var: float
    component_es: float
    marginal_var: float  # component_var / value: the VaR a unit of money more in this holding adds
    standalone_var: float  # the holding's own VaR, held alone


@dataclass(frozen=True)
class PortfolioRisk:
    """A portfolio's risk `days` sessions ahead at `level`: totals in money (var, es; `*_percent` of the gross value)
    and the holdings' shares of them, sorted as given."""

    value: float  # Σ x_i
    gross: float  # Σ |x_i|
    level: float
    days: int
    var: float
    es: float
    volatility: float  # the forecast volatility of the portfolio's P&L, annualised, % of the gross value
    diversification_ratio: float
    shrinkage: float  # δ, the weight of the constant-correlation target
    holdings: list[HoldingRisk] = field(default_factory=list)

    @property
    def var_percent(self) -> float:
        return 100.0 * self.var / self.gross

    @property
    def es_percent(self) -> float:
        return 100.0 * self.es / self.gross

    def alert(self, limit: float | None) -> str | None:
        """The warning when the VaR passes `limit` of the gross value (alert_var), else None."""
        if limit is None or not self.var > limit * self.gross:
            return None
        return (f"portfolio: value at risk {self.var_percent:.2f}% of its gross value ({self.days}-day, "
                f"{100 * self.level:g}%) passes the alert at {100 * limit:g}% (alert_var)")

    def as_dict(self) -> dict:
        return {"value": self.value, "gross_value": self.gross, "level": self.level, "days": self.days,
                "var": self.var, "var_percent": self.var_percent, "es": self.es, "es_percent": self.es_percent,
                "volatility": self.volatility, "diversification_ratio": self.diversification_ratio,
                "correlation_shrinkage": self.shrinkage,
                "holdings": [holding.__dict__.copy() for holding in self.holdings]}


# ----------------------------------------------------------------------------------------------- the joint
@dataclass(frozen=True)
class JointForecast:
    """The portfolio's P&L as a function of its standardised move Z: y(Z) = Σ x_i (exp(μ_i + Z b_i) - 1), with Z's
    quantile function k(p) = Σ ω_i k_i(p) (see the module docstring)."""

    forecasts: tuple[HoldingForecast, ...]
    values: np.ndarray  # x (n,)
    means: np.ndarray  # μ (n,)
    exposures: np.ndarray  # b (n,)
    weights: np.ndarray  # ω (n,)
    spread: float  # σ_y, money
    shrinkage: float
    tail: TailSample | None = None  # the tail-shape correction's history, if there is enough of it

    @classmethod
    def build(cls, forecasts: list[HoldingForecast], correlation: np.ndarray, shrinkage: float = 0.0,
              residuals: np.ndarray | None = None) -> JointForecast:
        values = np.array([f.value for f in forecasts])
        spreads = np.array([f.spread for f in forecasts])
        covariance = correlation * np.outer(spreads, spreads)
        exposure = covariance @ values
        spread = math.sqrt(max(float(values @ exposure), 0.0))
        standalone = np.abs(values) * spreads
        weights = standalone / standalone.sum()
        exposures = exposure / spread if spread > 0 else np.sign(values) * spreads
        tail = None if residuals is None else TailSample.build(residuals, values * spreads)
        return cls(tuple(forecasts), values, np.array([f.mean for f in forecasts]), exposures, weights, spread,
                   shrinkage, tail)

    def standard_quantiles(self, p: np.ndarray) -> np.ndarray:
        """k(p) (k,)."""
        return sum(w * f.loss_side_quantiles(p) for w, f in zip(self.weights, self.forecasts, strict=True))

    def tail_factors(self, alpha: float) -> tuple[float, float]:
        """(k(α), e(α)): the standardised quantile and tail mean at α."""
        midpoints = alpha * (np.arange(TAIL_POINTS) + 0.5) / TAIL_POINTS
        k, e = float(self.standard_quantiles(np.array([alpha]))[0]), float(np.mean(self.standard_quantiles(midpoints)))
        if self.tail is None:
            return k, e
        quantile_ratio, mean_ratio = self.tail.ratios(alpha)
        return k * quantile_ratio, e * mean_ratio

    def losses_at(self, z: float) -> np.ndarray:
        """Each holding's loss (n,) when the portfolio's standardised move is z."""
        return -self.values * np.expm1(self.means + z * self.exposures)

    def pnl(self, z: np.ndarray) -> np.ndarray:
        """The portfolio's P&L for standardised moves z (k,)."""
        return np.expm1(self.means[None, :] + np.asarray(z)[:, None] * self.exposures[None, :]) @ self.values

    def risk(self, level: float, days: int) -> PortfolioRisk:
        alpha = 1.0 - level
        k, e = self.tail_factors(alpha)
        component_var, component_es = self.losses_at(k), self.losses_at(e)
        var, es = float(component_var.sum()), float(component_es.sum())
        gross = float(np.abs(self.values).sum())
        holdings = []
        for f, x, c_var, c_es in zip(self.forecasts, self.values, component_var, component_es, strict=True):
            own = float(f.loss_side_quantiles(np.array([alpha]))[0])
            standalone = float(-x * math.expm1(f.mean + math.copysign(f.spread, x) * own))
            holdings.append(HoldingRisk(f.ticker, f.shares, float(x), float(x) / gross, float(c_var), float(c_es),
                                        float(c_var) / float(x), standalone))
        volatility = 100.0 * math.sqrt(TRADING_DAYS / days) * self.spread / gross
        ratio = sum(h.standalone_var for h in holdings) / var if var > 0 else math.nan
        return PortfolioRisk(float(self.values.sum()), gross, level, days, var, es, volatility, ratio,
                             self.shrinkage, holdings)


@dataclass(frozen=True)
class TailSample:
    """Today's portfolio revalued with the past days' standardised moves, to see how much further into the tail it
    reaches than its holdings do one by one: with z̃ (N, n) the residuals of the days every holding has, each
    divided by its standard deviation over them, u = z̃ w / sd(z̃ w) (N,) (w = x σ, today's money exposures), and
    each holding's own standardised P&L sign(x_i) z̃_i. Crashes that move everything at once give u a longer lower
    tail than the holdings' average; an elliptical model cannot, so the ratio of the two (`ratios`) corrects it.
    For one holding u is its own column and the ratio is 1."""

    portfolio: np.ndarray  # u (N,)
    holdings: np.ndarray  # sign(x) z̃ (N, n)
    weights: np.ndarray  # |w| / Σ |w| (n,)

    @classmethod
    def build(cls, residuals: np.ndarray, exposures: np.ndarray) -> TailSample | None:
        """From the residuals (T, n), oldest first, NaN where a holding has none; None with fewer than
        MIN_TAIL_DAYS days that every holding has among the last TAIL_WINDOW."""
        z = np.asarray(residuals, dtype=float)[-TAIL_WINDOW:]
        z = z[np.all(np.isfinite(z), axis=1)]
        if len(z) < MIN_TAIL_DAYS:
            return None
        z = z / np.maximum(np.std(z, axis=0), 1e-12)
        combined = z @ exposures
        spread = float(np.std(combined))
        if not spread > 0:
            return None
        return cls(combined / spread, z * np.sign(exposures), np.abs(exposures) / np.sum(np.abs(exposures)))

    def ratios(self, alpha: float) -> tuple[float, float]:
        """(the portfolio's α-quantile over the holdings' average one, the same of the tail means below them)."""
        columns = np.column_stack([self.portfolio, self.holdings])  # (N, 1 + n)
        cuts = np.quantile(columns, alpha, axis=0)
        below = columns <= cuts
        means = np.sum(np.where(below, columns, 0.0), axis=0) / np.sum(below, axis=0)
        average_cut, average_mean = float(self.weights @ cuts[1:]), float(self.weights @ means[1:])
        return float(cuts[0]) / average_cut, float(means[0]) / average_mean


# ------------------------------------------------------------------------------------------- correlation
def shrunk_correlation(residuals: np.ndarray, lam: float = CORRELATION_LAMBDA) -> tuple[np.ndarray, float]:
    """(R (n, n), δ) from standardised residuals (T, n), oldest first, NaN where a holding has none: the EWMA of the
    cross-products (each pair over the days both have), shrunk toward the constant-correlation target F by the
    Ledoit–Wolf (2004, "Honey, I shrunk the sample covariance matrix") intensity δ = clip((π - ρ) / γ / T_eff, 0, 1),
    with π, ρ and γ their sums over the weighted days and T_eff = (Σ w)² / Σ w² the EWMA's effective days."""
    z = np.asarray(residuals, dtype=float)
    n = z.shape[1]
    if n == 1:
        return np.ones((1, 1)), 0.0
    present = np.isfinite(z).astype(float)
    z = np.where(present > 0, z, 0.0)
    weights = lam ** np.arange(len(z) - 1, -1, -1.0)
    weights /= weights.sum()
    effective_days = 1.0 / float(np.sum(weights ** 2))
    weighted = z * weights[:, None]
    pairs = np.maximum((present * weights[:, None]).T @ present, 1e-300)  # Σ w over the days both have
    s = (weighted.T @ z) / pairs
    fourth = ((z ** 2 * weights[:, None]).T @ z ** 2) / pairs
    third = ((z ** 3 * weights[:, None]).T @ z) / pairs
    squares = ((z ** 2 * weights[:, None]).T @ present) / pairs
    variance = np.maximum(np.diag(s), 1e-12)
    scale = np.sqrt(variance)
    sample = s / np.outer(scale, scale)
    off = ~np.eye(n, dtype=bool)
    mean_correlation = float(np.mean(sample[off]))
    target = mean_correlation * np.outer(scale, scale)
    np.fill_diagonal(target, variance)
    pi = float(np.sum(fourth - s ** 2))
    theta = third - squares * s  # θ_ii,ij: the covariance of z_i² with z_i z_j
    ratio = np.outer(1.0 / scale, scale)  # sqrt(s_jj / s_ii)
    cross = np.sum((ratio * theta + ratio.T * theta.T)[off])
    rho = float(np.sum(np.diag(fourth - s ** 2)) + mean_correlation / 2.0 * cross)
    gamma = float(np.sum((target - s) ** 2))
    shrinkage = min(max((pi - rho) / gamma / effective_days, 0.0), 1.0) if gamma > 0 else 1.0
    shrunk = shrinkage * target + (1.0 - shrinkage) * s
    correlation = shrunk / np.outer(scale, scale)
    return _nearest_correlation(correlation), shrinkage


def _nearest_correlation(matrix: np.ndarray) -> np.ndarray:
    """`matrix` with negative eigenvalues (pairs estimated over different days) raised to a small positive floor and
    its diagonal put back to 1."""
    matrix = (matrix + matrix.T) / 2.0
    values, vectors = np.linalg.eigh(matrix)
    if values[0] > 1e-10:
        np.fill_diagonal(matrix, 1.0)
        return matrix
    fixed = (vectors * np.maximum(values, 1e-10)) @ vectors.T
    scale = np.sqrt(np.diag(fixed))
    fixed = fixed / np.outer(scale, scale)
    np.fill_diagonal(fixed, 1.0)
    return fixed
