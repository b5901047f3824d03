"""Backtests of a portfolio's value at risk and expected shortfall, walked forward day by day, against two baselines.

The holdings are held at fixed shares; on each test day d after an origin o (the previous session every holding
traded), the portfolio's P&L is Σ shares_i (P_i,d - P_i,o) on adjusted closes, and each method forecast it at o from
data up to o only:

- model: forecaster.risk.portfolio's joint forecast from each holding's one-day model forecast made at o (mean,
  spread, calibrated quantiles) and the shrunk EWMA correlation of the residuals up to o;
- riskmetrics: RiskMetrics' multivariate EWMA (λ = 0.94) covariance of the log returns up to o, normal, zero mean,
  the P&L linear in them: VaR = -Φ⁻¹(α) σ, ES = σ φ(Φ⁻¹(α)) / α;
- historical: historical simulation: the current holdings revalued by each of the last 250 days' returns; VaR minus
  the α-quantile of those P&Ls, ES minus the mean of those at or below it.

For each method: the VaR's hits at `level` (Kupiec, Christoffersen's independence and conditional coverage, the DQ
test, and at 99% the Basel traffic light of the last 250 days; forecaster.risk.backtest), its pinball loss at α, and
the expected shortfall at ES_LEVEL (97.5%, Basel's) tested with Acerbi and Székely's (2014) Z2,

    Z2 = Σ_t X_t I_t / (T α ES_t) + 1,   I_t = 1{X_t < -VaR_t},

which is 0 in expectation when the forecast distributions are right and negative when the shortfall is understated;
its p-value P(Z2 ≤ observed) comes from SIMULATIONS paths drawn from the method's own daily forecast distributions
(seeded: the same data give the same p-value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from forecaster.errors import UsageError
from forecaster.model.volatility import EWMA_LAMBDA
from forecaster.risk.backtest import tail_backtest, traffic_light_zone
from forecaster.risk.portfolio import (
    CORRELATION_LAMBDA,
    CORRELATION_WINDOW,
    TAIL_WINDOW,
    HoldingForecast,
    JointForecast,
    shrunk_correlation,
)

ES_LEVEL = 0.975
HISTORICAL_DAYS = 250
SIMULATIONS = 2000
SEED = 20150102
BACKTEST_METHODS = ("model", "riskmetrics", "historical")


@dataclass
class ForecastHistory:
    """A ticker's model forecasts one session ahead, by its series' days (m,): `mean` and `spread` of day j's log
    return, made at day j - 1 (NaN where none was made), the price (adjusted close) and the standardised residual
    z_j = r_j / σ_{j-1} of each day (σ the baseline), and its calibrated quantile table."""

    ticker: str
    dates: np.ndarray
    price: np.ndarray
    returns: np.ndarray
    mean: np.ndarray
    spread: np.ndarray
    residual: np.ndarray
    quantiles: dict


@dataclass
class DailyForecasts:
    """Each test day's P&L and each method's VaR at `level` and at ES_LEVEL and ES at ES_LEVEL, with the draws that
    simulate its forecast distributions (SIMULATIONS, days)."""

    dates: np.ndarray  # (T,)
    pnl: np.ndarray  # (T,)
    var: dict[str, np.ndarray]  # method -> (T,) at level
    es_var: dict[str, np.ndarray]  # method -> (T,) at ES_LEVEL
    es: dict[str, np.ndarray]  # method -> (T,) at ES_LEVEL
    simulated: dict[str, np.ndarray]  # method -> (SIMULATIONS, T) P&L drawn from its forecast of each day


def daily_forecasts(shares: dict[str, float], histories: dict[str, ForecastHistory], level: float, test_start: str,
                    correlation_lambda: float = CORRELATION_LAMBDA, tail_correction: bool = True) -> DailyForecasts:
    """Walk forward over the days from `test_start` on that every holding traded, with a forecast of each."""
    tickers = list(shares)
    aligned = Aligned.of(histories, tickers, test_start)
    days, index, price, returns = aligned.days, aligned.index, aligned.price, aligned.returns
    if not len(days):
        raise UsageError(f"no day from {test_start} on has a forecast of every holding ({', '.join(tickers)})")
    share = np.array([shares[t] for t in tickers])
    rng = np.random.default_rng(SEED)
    uniforms = rng.random((SIMULATIONS, len(days)))
    alpha, es_alpha = 1.0 - level, 1.0 - ES_LEVEL
    out = {m: (np.empty(len(days)), np.empty(len(days)), np.empty(len(days)), np.empty((SIMULATIONS, len(days))))
           for m in BACKTEST_METHODS}
    loss_quantiles = {t: _loss_side_draws(histories[t], shares[t], uniforms) for t in tickers}
    covariance = _riskmetrics_covariances(returns, days)
    for column, day in enumerate(days):
        origin = day - 1
        values = share * price[origin]
        joint = _joint_on(day, shares, histories, index, price, aligned.residual, correlation_lambda,
                          tail_correction)
        draws = sum(w * loss_quantiles[t][:, column] for w, t in zip(joint.weights, tickers, strict=True))
        if joint.tail is not None:  # the lower half of the distribution reaches as far as the correction says
            draws = np.where(draws < 0, draws * joint.tail.ratios(1.0 - ES_LEVEL)[0], draws)
        _store(out["model"], column, joint.risk(level, 1).var, *_joint_es(joint), joint.pnl(draws))
        sigma = math.sqrt(max(float(values @ covariance[column] @ values), 0.0))
        normal = rng.standard_normal(SIMULATIONS)
        _store(out["riskmetrics"], column, sigma * _normal_quantile(alpha), sigma * _normal_quantile(es_alpha),
               sigma * _normal_density(_normal_quantile(es_alpha)) / es_alpha, sigma * normal)
        scenarios = np.expm1(returns[max(1, origin + 1 - HISTORICAL_DAYS): origin + 1]) @ values
        _store(out["historical"], column, -float(np.quantile(scenarios, alpha)),
               -float(np.quantile(scenarios, es_alpha)), _historical_es(scenarios, es_alpha),
               scenarios[rng.integers(0, len(scenarios), SIMULATIONS)])
    pnl = np.sum(share * (price[days] - price[days - 1]), axis=1)
    var, es_var, es, simulated = ({m: v[k] for m, v in out.items()} for k in range(4))
    return DailyForecasts(aligned.common[days], pnl, var, es_var, es, simulated)


def model_var_path(shares: dict[str, float], histories: dict[str, ForecastHistory], level: float,
                   start: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dates, P&L, the model's VaR at `level`) (T,) each, of the days from `start` on that every holding traded:
    `daily_forecasts`' model alone, for a chart."""
    tickers = list(shares)
    aligned = Aligned.of(histories, tickers, start)
    days, price = aligned.days, aligned.price
    var = np.array([_joint_on(day, shares, histories, aligned.index, price, aligned.residual).risk(level, 1).var
                    for day in days])
    share = np.array([shares[t] for t in tickers])
    pnl = np.sum(share * (price[days] - price[days - 1]), axis=1) if len(days) else np.empty(0)
    return aligned.common[days], pnl, var


@dataclass
class Aligned:
    """The holdings' histories on their common dates (C,): each ticker's positions of them (`index`), prices, log
    returns and residuals (C, n), and the tested `days` (positions in `common`) from a start on: those with a
    forecast of every holding whose previous bar is, for each, the previous common date (a one-session return)."""

    common: np.ndarray
    index: dict[str, np.ndarray]
    days: np.ndarray
    price: np.ndarray
    returns: np.ndarray
    residual: np.ndarray

    @classmethod
    def of(cls, histories: dict[str, ForecastHistory], tickers: list[str], start: str) -> Aligned:
        common = histories[tickers[0]].dates
        for ticker in tickers[1:]:
            common = np.intersect1d(common, histories[ticker].dates)
        index = {t: np.searchsorted(histories[t].dates, common) for t in tickers}
        one_session = np.all([np.diff(index[t]) == 1 for t in tickers], axis=0)
        days = np.flatnonzero(np.concatenate([[False], one_session]) & (common >= np.datetime64(start, "D")))
        if len(days):
            days = days[np.all([np.isfinite(histories[t].mean[index[t][days]]) for t in tickers], axis=0)]
        columns = {name: np.column_stack([getattr(histories[t], name)[index[t]] for t in tickers])
                   for name in ("price", "returns", "residual")}
        return cls(common, index, days, **columns)


def _joint_on(day: int, shares: dict[str, float], histories: dict[str, ForecastHistory], index: dict,
              price: np.ndarray, residual: np.ndarray, correlation_lambda: float = CORRELATION_LAMBDA,
              tail_correction: bool = True) -> JointForecast:
    """The joint forecast of common day `day` made at its origin, the day before: prices and residuals (C, n) on
    the common days, `index` each ticker's positions of them in its history."""
    origin = day - 1
    forecasts = [HoldingForecast(t, shares[t], float(price[origin, i]), float(histories[t].mean[index[t][day]]),
                                 float(histories[t].spread[index[t][day]]), histories[t].quantiles, 1)
                 for i, t in enumerate(shares)]
    correlation, shrinkage = shrunk_correlation(residual[max(1, origin + 1 - CORRELATION_WINDOW): origin + 1],
                                               correlation_lambda)
    history = residual[max(1, origin + 1 - TAIL_WINDOW): origin + 1] if tail_correction else None
    return JointForecast.build(forecasts, correlation, shrinkage, history)


def backtest_summary(daily: DailyForecasts, level: float) -> dict[str, dict]:
    """method -> {"var": {level, expected, hits, tested_days, kupiec_p, christoffersen_p, conditional_coverage_p,
    dq_p, traffic_light}, "es": {level, hits, statistic, p_value}, "pinball"}."""
    out = {}
    central = 2.0 * level - 1.0
    for method in BACKTEST_METHODS:
        bound = -daily.var[method]
        tests = tail_backtest(daily.pnl, bound, "lower", central)
        pinball = tests.pop("pinball")
        var = {"level": level, **tests, "traffic_light": traffic_light_zone(daily.pnl, bound, central)}
        statistic, p_value, hits = acerbi_szekely_z2(daily.pnl, daily.es_var[method], daily.es[method],
                                                     daily.simulated[method], 1.0 - ES_LEVEL)
        out[method] = {"var": var, "es": {"level": ES_LEVEL, "hits": hits, "statistic": statistic,
                                          "p_value": p_value}, "pinball": pinball}
    return out


def acerbi_szekely_z2(pnl: np.ndarray, var: np.ndarray, es: np.ndarray, simulated: np.ndarray,
                      alpha: float) -> tuple[float, float, int]:
    """(Z2, its p-value P(Z2 ≤ observed) over the simulated paths (S, T), the hits X_t < -VaR_t) for P&L X (T,),
    VaR and ES (T,) as positive losses at tail probability α."""
    def z2(x: np.ndarray) -> np.ndarray:
        hit = x < -var
        return np.sum(np.where(hit, x, 0.0) / es, axis=-1) / (len(var) * alpha) + 1.0

    observed = float(z2(np.asarray(pnl, dtype=float)))
    null = z2(simulated)
    return observed, float((np.sum(null <= observed) + 1) / (len(null) + 1)), int(np.sum(pnl < -var))


# ----------------------------------------------------------------------------------------------- helpers
def _loss_side_draws(history: ForecastHistory, shares: float, uniforms: np.ndarray) -> np.ndarray:
    forecast = HoldingForecast(history.ticker, shares, 1.0, 0.0, 1.0, history.quantiles, 1)
    return forecast.loss_side_quantiles(uniforms.ravel()).reshape(uniforms.shape)


def _joint_es(joint: JointForecast) -> tuple[float, float]:
    risk = joint.risk(ES_LEVEL, 1)
    return risk.var, risk.es


def _store(arrays, column: int, var: float, es_var: float, es: float, draws: np.ndarray) -> None:
    arrays[0][column], arrays[1][column], arrays[2][column] = var, es_var, es
    arrays[3][:, column] = draws


def _riskmetrics_covariances(returns: np.ndarray, days: np.ndarray) -> np.ndarray:
    """(T, n, n): the EWMA(0.94) covariance of the log returns (C, n) up to each test day's origin, started on the
    first WARMUP-free days as RiskMetrics does (the sample covariance of the first 20 returns)."""
    start = returns[1:21]
    covariance = start.T @ start / len(start)
    out = np.empty((len(days), returns.shape[1], returns.shape[1]))
    wanted = {day - 1: i for i, day in enumerate(days)}
    for t in range(21, int(days[-1])):
        r = returns[t]
        covariance = EWMA_LAMBDA * covariance + (1.0 - EWMA_LAMBDA) * np.outer(r, r)
        if t in wanted:
            out[wanted[t]] = covariance
    for origin, i in wanted.items():
        if origin < 21:
            out[i] = returns[1: origin + 1].T @ returns[1: origin + 1] / max(origin, 1)
    return out


def _historical_es(scenarios: np.ndarray, alpha: float) -> float:
    cut = np.quantile(scenarios, alpha)
    return -float(np.mean(scenarios[scenarios <= cut]))


def _normal_quantile(p: float) -> float:
    from statistics import NormalDist

    return -NormalDist().inv_cdf(p)


def _normal_density(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
