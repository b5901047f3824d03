"""Partial pooling: each ticker's estimate is shrunk toward the pool's in proportion to its own uncertainty.

The normal-normal model of empirical Bayes (Morris 1983): a ticker's estimate θ̂_i = θ_i + noise of variance v_i, and
the tickers' true values θ_i spread around the pooled value θ̄ with variance τ². The best estimate of θ_i is then

    θ_i* = θ̄ + w_i (θ̂_i - θ̄),   w_i = τ² / (τ² + v_i)

so a ticker with a long, informative history keeps most of its own estimate, and one with a few hundred (or sixty)
days gets the pool's. τ² is the DerSimonian-Laird moment estimate, Q = Σ (θ̂_i - θ_w)² / v_i against its
expectation k - 1 under τ² = 0, floored at zero: when the tickers differ by no more than their noise, every ticker
gets θ̄. θ̄ is the mean of the θ̂_i weighted by 1 / (v_i + τ²).

A single estimate against a target that is not itself estimated from tickers (a fitted parametric distribution's
quantile) is shrunk by the positive-part James-Stein rule, τ² = max(0, (θ̂ - target)² - v): when the estimate differs
from the target by no more than its noise, the target is kept.

`profile` turns a loss evaluated on a grid of a parameter (a negative log-likelihood summed over a ticker's days) into
an estimate and its variance, from the curvature at the minimum (the observed information).

NumPy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TINY_VARIANCE = 1e-12


@dataclass(frozen=True)
class Pooled:
    """The pooled value θ̄ and the between-ticker variance τ² of one quantity."""

    value: float
    spread: float

    def shrink(self, estimate: float, variance: float) -> float:
        """θ̄ + τ²/(τ² + v) (θ̂ - θ̄); θ̄ for an estimate without information (v infinite or θ̂ not finite)."""
        if not (math.isfinite(estimate) and math.isfinite(variance)):
            return self.value
        weight = self.spread / (self.spread + max(variance, TINY_VARIANCE)) if self.spread > 0 else 0.0
        return self.value + weight * (estimate - self.value)

    def as_list(self) -> list[float]:
        return [self.value, self.spread]


def pool(estimates, variances) -> Pooled:
    """θ̄ and τ² of the estimates θ̂_i with sampling variances v_i (entries with an infinite variance or a non-finite
    estimate carry no information and are left out; with none left, θ̄ is NaN)."""
    estimates, variances = np.asarray(estimates, dtype=float), np.asarray(variances, dtype=float)
    usable = np.isfinite(estimates) & np.isfinite(variances)
    theta, v = estimates[usable], np.maximum(variances[usable], TINY_VARIANCE)
    if not len(theta):
        return Pooled(math.nan, 0.0)
    if len(theta) == 1:
        return Pooled(float(theta[0]), 0.0)
    w = 1.0 / v
    weighted_mean = float(np.sum(w * theta) / np.sum(w))
    q = float(np.sum(w * (theta - weighted_mean) ** 2))
    denominator = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    spread = max(0.0, (q - (len(theta) - 1)) / denominator) if denominator > 0 else 0.0
    precision = 1.0 / (v + spread)
    return Pooled(float(np.sum(precision * theta) / np.sum(precision)), spread)


def discounted(estimates, variances, design_effect: float = 1.0) -> Pooled:
    """`pool`, with θ̄ itself discounted by its own uncertainty: θ̄ max(0, 1 - var(θ̄)/θ̄²), var(θ̄) = D / Σ 1/(v_i + τ²)
    (the positive-part James-Stein rule), for a quantity whose default is 0 (an insignificant pooled signal is none);
    0 without evidence. D ≥ 1, the design effect, widens var(θ̄) where the estimates are not independent (tickers
    judged on the same days move together: `calibration.date_design_effect`)."""
    pooled = pool(estimates, variances)
    if not math.isfinite(pooled.value) or pooled.value == 0:
        return Pooled(0.0, pooled.spread)
    estimates, variances = np.asarray(estimates, dtype=float), np.asarray(variances, dtype=float)
    usable = np.isfinite(estimates) & np.isfinite(variances)
    variance_of_mean = max(1.0, design_effect) / float(np.sum(1.0 / (np.maximum(variances[usable], TINY_VARIANCE)
                                                                     + pooled.spread)))
    return Pooled(pooled.value * max(0.0, 1.0 - variance_of_mean / pooled.value**2) + 0.0, pooled.spread)


def shrink_to_target(estimate: float, variance: float, target: float) -> float:
    """One estimate shrunk toward a fixed target by the positive-part James-Stein rule (see the module docstring)."""
    if not math.isfinite(estimate):
        return target
    if not math.isfinite(variance):
        return target
    excess = (estimate - target) ** 2 - variance
    if excess <= 0:
        return target
    return target + excess / (excess + variance) * (estimate - target)


def profile(grid, losses) -> tuple[float, float]:
    """(θ̂, variance of θ̂) from `losses` (G,), a negative log-likelihood summed over observations at each of the
    ascending grid values: θ̂ is the grid minimum, refined by the parabola through it and its neighbours, and the
    variance is 1 / the parabola's curvature. At an end of the grid the one-sided curvature is used; a flat loss gives
    an infinite variance."""
    grid, losses = np.asarray(grid, dtype=float), np.asarray(losses, dtype=float)
    if not np.all(np.isfinite(losses)):
        return math.nan, math.inf
    best = int(np.argmin(losses))
    if len(grid) < 3:
        return float(grid[best]), math.inf
    i = min(max(best, 1), len(grid) - 2)
    x, y = grid[i - 1: i + 2], losses[i - 1: i + 2]
    curvature = 2.0 * ((y[2] - y[1]) / (x[2] - x[1]) - (y[1] - y[0]) / (x[1] - x[0])) / (x[2] - x[0])
    if not curvature > 0:
        return float(grid[best]), math.inf
    estimate = float(grid[best])
    if best == i:  # an interior minimum: the parabola's vertex, kept within the neighbours
        slope = (y[2] - y[0]) / (x[2] - x[0])
        estimate = float(np.clip(x[1] - slope / curvature, x[0], x[2]))
    return estimate, 1.0 / curvature
