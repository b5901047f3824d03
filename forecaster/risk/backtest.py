"""Backtests of interval bounds, the way risk models (Value at Risk) are backtested.

A central interval at level L has two bounds, each a quantile forecast with tail probability p = (1 - L)/2: the
lower bound is the p-quantile of what happens, the upper bound the (1 - p)-quantile. A *hit* is a day on which the
actual value falls beyond its bound (I_t = 1{y_t < lower_t} or 1{y_t > upper_t}). A correct bound is hit with
probability p on every day, independently of everything known when it was made. The tests:

- Kupiec (1995), proportion of failures (unconditional coverage): x hits in n days,
  LR_uc = -2 ln[(1-p)^(n-x) p^x] + 2 ln[(1-x/n)^(n-x) (x/n)^x] ~ χ²(1).
- Christoffersen (1998), independence: with n_ij the number of days in state j after a day in state i (0: no hit,
  1: hit), π_01 = n_01/(n_00+n_01), π_11 = n_11/(n_10+n_11), π = (n_01+n_11)/(n_00+n_01+n_10+n_11),
  LR_ind = -2 ln[(1-π)^(n_00+n_10) π^(n_01+n_11)] + 2 ln[(1-π_01)^n_00 π_01^n_01 (1-π_11)^n_10 π_11^n_11] ~ χ²(1);
  conditional coverage LR_cc = LR_uc + LR_ind ~ χ²(2).
- Engle & Manganelli (2004), dynamic quantile (DQ): Hit_t = I_t - p regressed (least squares) on a constant, the
  4 previous Hit values and the bound itself, X_t = [1, Hit_{t-1}, ..., Hit_{t-4}, q_t]:
  DQ = b' X'X b / (p(1-p)) ~ χ²(k), b the coefficients, k the number of regressors.
- The Basel Committee's (1996) traffic light: the zone of x hits in n days from the binomial probability
  P(X ≤ x), X ~ Binomial(n, p): green below 95%, yellow below 99.99%, red from there. For a 99% bound over 250
  days: 0-4 hits green, 5-9 yellow, 10 or more red.
- The pinball (quantile) loss of a bound q at its quantile τ: mean of max(τ (y - q), (τ - 1)(y - q)); lower is
  better, and the true τ-quantile minimises its expectation (τ = p for the lower bound, 1 - p for the upper).

Conventions for degenerate cases, all from 0 ln 0 = 0 (a term with a zero count drops out of a likelihood):
- Kupiec at x = 0: LR_uc = -2 n ln(1-p); at x = n: LR_uc = -2 n ln p. No days: no test (None).
- Christoffersen with no hits, with hits only, or with no day after a hit (one hit, on the last day): the empty
  transition rows drop out, so LR_ind = 0 (p-value 1: nothing speaks against independence). Fewer than 2 days: no
  transition, no test (None). LR_uc inside LR_cc is counted over the days that have a predecessor (days 2..T), so
  that LR_cc is exactly -2 ln[L(p) / L(π_01, π_11)] on the same transitions; Christoffersen's paper notes the
  first day's term is the only difference from Kupiec's LR_uc on all T days.
- DQ: the coefficients come from least squares (numpy.linalg.lstsq, the minimum-norm solution), so b' X'X b =
  |X b|², the squared length of Hit's projection on the regressors, is defined even when X'X is singular (no hits
  make the lagged Hit columns constant; a constant bound duplicates the constant column). The degrees of freedom
  are then the rank of X (k = 6 when X'X is regular). Too few days for the regression (at most k days after the
  first 4): no test (None).

p-values are of the χ² or binomial distributions above, in closed form (`chi2_sf`, `binomial_cdf`): every test here
has a whole number of degrees of freedom, and no scipy is needed, so that `forecast predict` (which imports the
track record, which imports this module) and `forecast report` (which shows these p-values) start fast.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

TAILS = ("lower", "upper")
DQ_LAGS = 4
BASEL_WINDOW = 250
BASEL_TAIL = 0.01  # the traffic light is calibrated for a 99% Value at Risk ...
BASEL_LEVEL = 0.98  # ... the lower bound of a central interval at 0.98
GREEN_BELOW, YELLOW_BELOW = 0.95, 0.9999


class Test(NamedTuple):
    statistic: float
    p_value: float
    df: int  # degrees of freedom of the χ² distribution


def tail_probability(level: float) -> float:
    """p = (1 - level)/2: the probability of each tail of a central interval at `level` (rounded to 12 decimals:
    in binary floating point (1 - 0.98)/2 is 0.010000000000000009)."""
    return round((1.0 - level) / 2.0, 12)


def hits(actual: np.ndarray, bound: np.ndarray, tail: str) -> np.ndarray:
    """I_t, shape (T,) bool: actual < bound for the lower tail, actual > bound for the upper one."""
    actual, bound = np.asarray(actual, dtype=float), np.asarray(bound, dtype=float)
    if tail == "lower":
        return actual < bound
    if tail == "upper":
        return actual > bound
    raise ValueError(f"tail must be one of {TAILS}, got {tail!r}")


def kupiec(x: int, n: int, p: float) -> Test | None:
    """Kupiec's proportion-of-failures test of x hits in n days at tail probability p; None when n = 0."""
    _check_probability(p)
    if not 0 <= x <= n:
        raise ValueError(f"hits must be between 0 and n = {n}, got {x}")
    if n == 0:
        return None
    rate = x / n
    statistic = -2.0 * (_xlog(n - x, 1 - p) + _xlog(x, p)) + 2.0 * (_xlog(n - x, 1 - rate) + _xlog(x, rate))
    return _chi2_test(statistic, 1)


def combined_kupiec(groups: list[tuple[int, int, float]]) -> Test | None:
    """Kupiec's tests of independent groups of forecasts, each (x, n, p) at its own p, combined:
    Σ_g LR_uc,g ~ χ²(G). The joint test that every group hits at its own rate; one group is Kupiec's test."""
    tests = [test for test in (kupiec(x, n, p) for x, n, p in groups) if test is not None]
    if not tests:
        return None
    return _chi2_test(sum(test.statistic for test in tests), len(tests))


def transition_counts(hit: np.ndarray) -> tuple[int, int, int, int]:
    """(n_00, n_01, n_10, n_11): n_ij days in state j (1: hit) after a day in state i."""
    hit = np.asarray(hit, dtype=bool)
    before, after = hit[:-1], hit[1:]
    return (int(np.sum(~before & ~after)), int(np.sum(~before & after)),
            int(np.sum(before & ~after)), int(np.sum(before & after)))


def christoffersen(hit: np.ndarray, p: float) -> tuple[Test, Test] | None:
    """Christoffersen's (independence, conditional coverage) tests of the hit sequence I_t, shape (T,), at tail
    probability p; None when T < 2."""
    _check_probability(p)
    if len(hit) < 2:
        return None
    n00, n01, n10, n11 = transition_counts(hit)
    rate, rate01, rate11 = _ratio(n01 + n11, n00 + n01 + n10 + n11), _ratio(n01, n00 + n01), _ratio(n11, n10 + n11)
    markov = _xlog(n00, 1 - rate01) + _xlog(n01, rate01) + _xlog(n10, 1 - rate11) + _xlog(n11, rate11)
    independent = _xlog(n00 + n10, 1 - rate) + _xlog(n01 + n11, rate)
    independence = _chi2_test(max(2.0 * (markov - independent), 0.0), 1)
    coverage = kupiec(n01 + n11, len(hit) - 1, p)
    return independence, _chi2_test(coverage.statistic + independence.statistic, 2)


def dynamic_quantile(hit: np.ndarray, bound: np.ndarray, p: float, lags: int = DQ_LAGS) -> Test | None:
    """Engle and Manganelli's DQ test of the hit sequence I_t, shape (T,), of the bound q_t, shape (T,) (the
    quantile forecast in the units it was made in), at tail probability p; None when T - lags ≤ k = lags + 2."""
    _check_probability(p)
    deviation = np.asarray(hit, dtype=float) - p  # Hit_t, shape (T,)
    bound = np.asarray(bound, dtype=float)
    days = len(deviation) - lags
    if days <= lags + 2:
        return None
    regressors = np.column_stack([np.ones(days), *(deviation[lags - j: -j] for j in range(1, lags + 1)),
                                  bound[lags:]])  # X, shape (T - lags, lags + 2)
    coefficients, _, rank, _ = np.linalg.lstsq(regressors, deviation[lags:], rcond=None)
    fitted = regressors @ coefficients
    return _chi2_test(float(fitted @ fitted) / (p * (1 - p)), int(rank))


def pinball_loss(actual: np.ndarray, bound: np.ndarray, tau: float) -> float:
    """mean over days of max(τ (y - q), (τ - 1)(y - q)); at least one day."""
    error = np.asarray(actual, dtype=float) - np.asarray(bound, dtype=float)
    return float(np.mean(np.maximum(tau * error, (tau - 1.0) * error)))


def basel_zone(x: int, n: int = BASEL_WINDOW, p: float = BASEL_TAIL) -> str:
    """The traffic-light zone of x hits in n days at tail probability p: "green", "yellow" or "red"."""
    cumulative = binomial_cdf(x, n, p)
    return "green" if cumulative < GREEN_BELOW else "yellow" if cumulative < YELLOW_BELOW else "red"


def tail_backtest(actual: np.ndarray, bound: np.ndarray, tail: str, level: float, horizon: int = 1) -> dict:
    """Every backtest of one bound of an interval at `level`: actual and bound of shape (T,), in the units the
    bound was forecast in (log returns for the DQ regression), one forecast per day `horizon` sessions ahead.

    Forecasts more than one session ahead overlap: the hits of consecutive days share all but one of their
    sessions, so they cluster even when every bound is right, and a test that assumes independent days would
    reject every correct model. The tests therefore use the non-overlapping forecasts, every `horizon`-th day
    counted back from the last; hits, expected hits and the pinball loss use every day.

    Returns {"expected": T p, "hits": x, "tested_days", "kupiec_p", "christoffersen_p", "conditional_coverage_p",
    "dq_p", "pinball"}, p = (1 - level)/2, the pinball loss at τ = p (lower) or 1 - p (upper); a p-value is None
    where its test cannot be computed (see the module docstring), the pinball loss None without days."""
    if horizon < 1:
        raise ValueError(f"the horizon must be a whole number of sessions, at least 1, not {horizon}")
    actual, bound = _paired(actual, bound)
    p = tail_probability(level)
    hit = hits(actual, bound, tail)
    tested = np.arange(len(hit))[::-1][::horizon][::-1]
    coverage = kupiec(int(hit[tested].sum()), len(tested), p)
    markov, dq = christoffersen(hit[tested], p), dynamic_quantile(hit[tested], bound[tested], p)
    return {
        "expected": round(len(hit) * p, 10),
        "hits": int(hit.sum()),
        "tested_days": len(tested),
        "kupiec_p": coverage.p_value if coverage else None,
        "christoffersen_p": markov[0].p_value if markov else None,
        "conditional_coverage_p": markov[1].p_value if markov else None,
        "dq_p": dq.p_value if dq else None,
        "pinball": pinball_loss(actual, bound, p if tail == "lower" else 1 - p) if len(hit) else None,
    }


def traffic_light_zone(actual: np.ndarray, bound: np.ndarray, level: float, tail: str = "lower",
                       window: int = BASEL_WINDOW) -> str | None:
    """The Basel zone of the last `window` days of a 99% bound (an interval at level 0.98: 1% in each tail); None
    for another level or fewer days. Basel judges the lower tail (the losses of a long position)."""
    actual, bound = _paired(actual, bound)
    if not math.isclose(tail_probability(level), BASEL_TAIL) or len(actual) < window:
        return None
    return basel_zone(int(hits(actual[-window:], bound[-window:], tail).sum()), window, BASEL_TAIL)


def _paired(actual: np.ndarray, bound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    actual, bound = np.asarray(actual, dtype=float), np.asarray(bound, dtype=float)
    if actual.shape != bound.shape or actual.ndim != 1:
        raise ValueError(f"actual and bound must be 1-D of one length, got shapes {actual.shape} and {bound.shape}")
    return actual, bound


def _chi2_test(statistic: float, df: int) -> Test:
    return Test(float(statistic), chi2_sf(statistic, df), df)


def chi2_sf(statistic: float, df: int) -> float:
    """P(χ²(df) > s) for a whole number df ≥ 1: the regularised upper incomplete gamma function Q(df/2, s/2), by its
    recurrence Q(a + 1, y) = Q(a, y) + y^a e^(-y) / Γ(a + 1) from Q(1, y) = e^(-y) (even df) or
    Q(1/2, y) = erfc(√y) (odd df)."""
    if df < 1 or df != int(df):
        raise ValueError(f"degrees of freedom must be a whole number of at least 1, got {df}")
    y = max(float(statistic), 0.0) / 2
    a, total = (0.5, math.erfc(math.sqrt(y))) if df % 2 else (1.0, math.exp(-y))
    for _ in range((int(df) - 1) // 2):
        if y > 0:
            total += math.exp(a * math.log(y) - y - math.lgamma(a + 1))  # y^a e^(-y) / Γ(a + 1)
        a += 1
    return min(1.0, total)


def binomial_cdf(x: int, n: int, p: float) -> float:
    """P(X ≤ x) for X ~ Binomial(n, p), summed term by term (n is a few hundred days)."""
    return min(1.0, math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(0, min(x, n) + 1)))


def _xlog(count: float, probability: float) -> float:
    """count · ln(probability), 0 when count is 0 (0 ln 0 = 0)."""
    return count * math.log(probability) if count else 0.0


def _ratio(count: int, total: int) -> float:
    """count / total; 0 for an empty row (whose terms then drop out, their counts being 0)."""
    return count / total if total else 0.0


def _check_probability(p: float) -> None:
    if not 0.0 < p < 1.0:
        raise ValueError(f"tail probability must be strictly between 0 and 1, got {p}")
