"""Partial pooling, the pooled HAR baseline and the calibration's building blocks, on cases worked by hand and on
simulated data with known answers."""

import math

import numpy as np
import pytest

from forecaster.model.baseline import (
    CORRECTION_CAP,
    Har,
    fit_har,
    fit_ticker,
    har_sigma,
    har_terms,
    ticker_baseline,
)
from forecaster.model.calibration import (
    TAIL_PROBABILITIES,
    Evidence,
    TailShape,
    date_design_effect,
    pooled_quantiles,
    ticker_quantiles,
)
from forecaster.model.shrinkage import Pooled, discounted, pool, profile, shrink_to_target


# ---------------------------------------------------------------------------------------------- pooling
def test_pool_by_hand():
    # equal variances 1: weighted mean 2, Q = (1 + 0 + 1) = 2 against k - 1 = 2: no spread beyond the noise
    assert pool([1.0, 2.0, 3.0], [1.0, 1.0, 1.0]) == Pooled(2.0, 0.0)
    # Q = 50 for three estimates 0, 5, 10 with variance 1: τ² = (50 - 2) / (3 - 1) = 24
    pooled = pool([0.0, 5.0, 10.0], [1.0, 1.0, 1.0])
    assert pooled.value == pytest.approx(5.0) and pooled.spread == pytest.approx(24.0)
    assert pooled.shrink(10.0, 1.0) == pytest.approx(5.0 + 24 / 25 * 5.0)  # a precise estimate keeps most of itself
    assert pooled.shrink(10.0, 24.0) == pytest.approx(7.5)  # as noisy as the spread: half way
    assert pooled.shrink(math.nan, 1.0) == pooled.shrink(10.0, math.inf) == pooled.value  # no evidence: the pool
    assert pool([3.0], [0.5]) == Pooled(3.0, 0.0) and math.isnan(pool([], []).value)


def test_a_pool_of_noise_gives_every_ticker_the_pooled_value():
    rng = np.random.default_rng(0)
    variances = rng.uniform(0.5, 2.0, 200)
    estimates = 1.0 + rng.standard_normal(200) * np.sqrt(variances)
    pooled = pool(estimates, variances)
    assert pooled.value == pytest.approx(1.0, abs=0.15) and pooled.spread < 0.1
    shrunk = [pooled.shrink(e, v) for e, v in zip(estimates, variances, strict=True)]
    assert np.std(shrunk) < 0.2 * np.std(estimates)


def test_real_differences_survive_pooling():
    rng = np.random.default_rng(1)
    truth = rng.normal(0.0, 2.0, 300)
    estimates = truth + rng.standard_normal(300) * 0.5
    pooled = pool(estimates, np.full(300, 0.25))
    assert pooled.spread == pytest.approx(4.0, rel=0.25)
    shrunk = np.array([pooled.shrink(e, 0.25) for e in estimates])
    assert np.mean((shrunk - truth) ** 2) < np.mean((estimates - truth) ** 2)  # closer to the truth than raw


def test_discounted_pool_is_zero_for_an_insignificant_signal():
    assert discounted([0.1, -0.05, 0.02], [1.0, 1.0, 1.0]).value == 0.0
    strong = discounted([0.5, 0.52, 0.48], [1e-4, 1e-4, 1e-4])
    assert 0.49 < strong.value < 0.5


def test_a_design_effect_widens_the_pooled_uncertainty_until_a_signal_is_noise():
    # three estimates of 0.1 with variance 0.01: var(θ̄) = 0.01 / 3, kept at 1 - (0.01/3) / 0.01 = 2/3 of 0.1
    assert discounted([0.1] * 3, [0.01] * 3).value == pytest.approx(0.1 * 2 / 3)
    # the same three tickers judged on the same days count as one: var(θ̄) = 0.01, (0.1)² - 0.01 = 0, nothing kept
    assert discounted([0.1] * 3, [0.01] * 3, design_effect=3.0).value == pytest.approx(0.0, abs=1e-12)
    assert discounted([0.1] * 3, [0.01] * 3, design_effect=0.5).value == discounted([0.1] * 3, [0.01] * 3).value


def _evidence(m, y, dates) -> Evidence:
    n = len(m)
    return Evidence(np.arange(n), np.asarray(m), np.zeros(n), np.ones(n), np.asarray(y), np.ones(n, dtype=bool),
                    np.ones(n), np.zeros(n + 1), dates=None if dates is None else np.asarray(dates))


def test_the_date_design_effect_counts_tickers_that_move_together_once():
    rng = np.random.default_rng(0)
    n, k = 2000, 5
    dates = np.arange("2010-01-01", n, dtype="datetime64[D]")[:n]
    common_m, common_y = rng.standard_normal(n), rng.standard_normal(n)
    copies = {f"T{i}": _evidence(common_m, common_y, dates) for i in range(k)}
    assert date_design_effect(copies) == pytest.approx(k)  # five copies of one history: one ticker's evidence
    independent = {f"T{i}": _evidence(rng.standard_normal(n), rng.standard_normal(n), dates) for i in range(k)}
    assert 1.0 <= date_design_effect(independent) < 1.2
    # a market factor shared by every ticker: in between
    shared = {f"T{i}": _evidence(common_m + rng.standard_normal(n), common_y + rng.standard_normal(n), dates)
              for i in range(k)}
    assert 1.5 < date_design_effect(shared) < k
    # on different days the same numbers are independent evidence
    apart = {f"T{i}": _evidence(common_m, common_y, dates + i * n) for i in range(k)}
    assert date_design_effect(apart) == pytest.approx(1.0)
    assert date_design_effect({"T0": copies["T0"]}) == 1.0  # a pool of one
    assert date_design_effect({f"T{i}": _evidence(common_m, common_y, None) for i in range(k)}) == 1.0


def test_shrink_to_target_keeps_the_target_within_the_noise():
    assert shrink_to_target(1.2, 0.25, 1.0) == 1.0  # (0.2)² < 0.25: noise
    # (3 - 1)² = 4 > 0.5: keep (4 - 0.5) / 4 of the difference
    assert shrink_to_target(3.0, 0.5, 1.0) == pytest.approx(1.0 + 3.5 / 4.0 * 2.0)
    assert shrink_to_target(math.nan, 0.5, 1.0) == 1.0


def test_profile_finds_the_minimum_and_its_variance():
    grid = np.linspace(0.0, 2.0, 21)
    estimate, variance = profile(grid, 50.0 * (grid - 0.73) ** 2)  # curvature 100: variance 1/100
    assert estimate == pytest.approx(0.73) and variance == pytest.approx(0.01)
    assert profile(grid, np.zeros(21))[1] == math.inf  # a flat loss says nothing
    assert profile(grid, -grid)[0] == 2.0  # the minimum at the end of the grid


# -------------------------------------------------------------------------------------------------- HAR
def simulated_har(n: int, level: float, offset: float, beta=(0.2, 0.3, 0.4), seed: int = 0):
    """Returns whose log variance follows the HAR of a log variance proxy x observed with noise."""
    rng = np.random.default_rng(seed)
    x = np.empty(n)
    x[:22] = level
    returns = np.zeros(n)
    for t in range(22, n):
        terms = har_terms(x[: t])[-1]
        log_variance = level + offset + np.dot(beta, terms - level)
        x[t] = log_variance - offset + 0.5 * rng.standard_normal()
        returns[t] = math.exp(0.5 * log_variance) * rng.standard_normal()
    return x, returns


def test_har_terms_are_means_over_the_last_days_and_causal():
    x = np.arange(30.0)
    terms = har_terms(x)
    assert terms[0].tolist() == [0.0, 0.0, 0.0]  # fewer days at the start
    assert terms[29].tolist() == [29.0, 27.0, pytest.approx(np.mean(x[8:30]))]
    changed = x.copy()
    changed[20:] = -5
    np.testing.assert_array_equal(har_terms(changed)[:20], terms[:20])


def test_the_pooled_har_recovers_shared_coefficients_and_each_tickers_offset():
    samples = []
    for seed, (level, offset) in enumerate([(-9.0, 0.3), (-8.0, 0.6), (-10.0, 0.1)]):
        x, returns = simulated_har(3000, level, offset, seed=seed)
        samples.append((har_terms(x)[:-1], shocks_of(returns)[:-1], float(np.mean(x)), returns[1:]))
    har, fits = fit_har(samples)
    assert sum(har.beta) == pytest.approx(0.9, abs=0.1) and har.shock[0] < 0.02  # no shock term in these data
    assert [f.offset for f in fits] == pytest.approx([0.3, 0.6, 0.1], abs=0.12)
    assert all(0 < f.offset_variance < 0.01 for f in fits)
    terms, shocks, level, next_returns = samples[1]
    assert fit_ticker(terms, shocks, level, next_returns, har) == fits[1]  # a newcomer is fitted as a member was
    assert Har.from_json(har.to_json()) == har


def shocks_of(returns: np.ndarray, gaps: np.ndarray | None = None) -> np.ndarray:
    """The shock terms (n, 2): r² and the squared gap (none here unless given)."""
    return np.column_stack([returns**2, np.zeros(len(returns)) if gaps is None else gaps**2])


def simulated_shocks(n: int, level: float, offset: float, shock: tuple[float, float], seed: int = 0):
    """Gaussian returns whose variance is the HAR's exp(...) plus `shock` times the last squared return and the last
    squared overnight gap (a day's return is its gap plus its intraday move, the gap a third of its variance)."""
    rng = np.random.default_rng(seed)
    x = np.full(n, level)
    returns, gaps = np.zeros(n), np.zeros(n)
    for t in range(22, n):
        terms = har_terms(x[: t])[-1]
        variance = (math.exp(level + offset + np.dot((0.2, 0.3, 0.4), terms - level))
                    + shock[0] * returns[t - 1] ** 2 + shock[1] * gaps[t - 1] ** 2)
        gaps[t] = math.sqrt(variance / 3) * rng.standard_normal()
        returns[t] = gaps[t] + math.sqrt(2 * variance / 3) * rng.standard_normal()
        x[t] = math.log(variance) - offset + 0.5 * rng.standard_normal()
    return x, returns, gaps


def test_the_shock_term_is_recovered_and_passes_a_jump_on_in_proportion():
    samples = []
    for seed, (level, offset) in enumerate([(-9.0, 0.3), (-8.0, 0.6), (-10.0, 0.1), (-8.5, 0.2)]):
        x, returns, gaps = simulated_shocks(4000, level, offset, (0.1, 0.2), seed=seed)
        samples.append((har_terms(x)[:-1], shocks_of(returns, gaps)[:-1], float(np.mean(x)), returns[1:]))
    har, fits = fit_har(samples)
    assert har.shock == pytest.approx((0.1, 0.2), abs=0.08) and sum(har.beta) == pytest.approx(0.9, abs=0.1)
    terms, shocks, level, next_returns = samples[2]
    offset, shock_scale = fits[2].shrunk(har)
    assert shock_scale == pytest.approx(1.0, abs=0.3)  # every ticker here bears out the same shock response
    # the day after a 40% gap the HAR's variance has risen by κ (γ_r + γ_gap) r²: faster than RiskMetrics' 0.06 r²
    calm = har_sigma(terms[-1:], shocks_of(np.array([0.0])), level, offset, shock_scale, har)[0]
    jump = math.log(1.4)
    shocked = har_sigma(terms[-1:], shocks_of(np.array([jump]), np.array([jump])), level, offset, shock_scale, har)[0]
    assert shocked**2 - calm**2 == pytest.approx(shock_scale * sum(har.shock) * jump**2)
    assert shock_scale * sum(har.shock) > 0.06


def test_each_tickers_shock_scale_is_its_own_where_its_shocks_say_so_and_the_pools_where_they_do_not():
    samples, scales = [], (0.3, 1.0, 3.0)
    for seed, scale in enumerate(scales):
        x, returns, gaps = simulated_shocks(4000, -8.5, 0.3, (0.1 * scale, 0.2 * scale), seed=seed)
        samples.append((har_terms(x)[:-1], shocks_of(returns, gaps)[:-1], float(np.mean(x)), returns[1:]))
    har, fits = fit_har(samples)
    assert har.shock_scale.spread > 0.05  # the tickers differ beyond their noise
    estimated = [math.exp(f.log_shock_scale) / math.exp(har.shock_scale.value) for f in fits]
    assert np.all(np.diff(estimated) > 0)  # in the order of the truth
    assert estimated[-1] / estimated[0] == pytest.approx(scales[-1] / scales[0], rel=0.5)
    shrunk = [fit.shrunk(har)[1] for fit in fits]
    assert min(shrunk) > math.exp(min(f.log_shock_scale for f in fits)) * 0.999  # pulled toward the pool, not past
    # a ticker without a shock in its history says nothing of its shock scale: the pool's
    x, returns, _ = simulated_shocks(600, -8.5, 0.3, (0.0, 0.0), seed=20)
    quiet = fit_ticker(har_terms(x)[:-1], np.zeros((599, 2)), float(np.mean(x)), returns[1:], har)
    assert math.isinf(quiet.log_shock_scale_variance)
    assert quiet.shrunk(har)[1] == pytest.approx(math.exp(har.shock_scale.value))


def test_the_correction_starts_at_one_is_causal_and_capped():
    har = Har((0.0, 0.0, 1.0), Pooled(0.0, 0.0))
    x = np.full(400, math.log(1e-4))
    returns = np.full(400, 0.01)  # moves exactly as the HAR expects: z² = 1 every day
    returns[300] = 1.0  # a 100-sigma day
    baseline = ticker_baseline(returns, har_terms(x), shocks_of(returns), math.log(1e-4), 0.0, 1.0, har)
    assert baseline.correction[0] == 1.0 and baseline.correction[299] == pytest.approx(1.0)
    jump = baseline.correction[300] - baseline.correction[299]
    assert jump == pytest.approx(0.005 * (CORRECTION_CAP - 1.0))  # counted as a 7-sigma day, not a 100-sigma one
    np.testing.assert_allclose(baseline.sigma, baseline.har * np.sqrt(baseline.correction))


# ------------------------------------------------------------------------------------------- quantiles
def test_a_lone_tickers_far_tails_come_from_the_fitted_t_not_its_few_tail_days():
    rng = np.random.default_rng(3)
    z = rng.standard_t(5, 1000) / math.sqrt(5 / 3)
    shape = TailShape.fit(z)
    assert shape.nu is not None and 3 <= shape.nu <= 10
    pooled = pooled_quantiles([z], 1, shape)
    own = ticker_quantiles(z, 1, shape, pooled)
    p = np.asarray(TAIL_PROBABILITIES)
    parametric = shape.quantile(p)
    # at p = 0.001 one day in a thousand is all the data has: the t's quantile is kept
    assert own["lower"][0] == pytest.approx(parametric[0], rel=0.05)
    # every quantile in order, and the 5% quantile close to the data's
    assert own["lower"] == sorted(own["lower"]) and own["upper"] == sorted(own["upper"], reverse=True)
    assert own["lower"][5] == pytest.approx(np.quantile(z, 0.05), abs=0.1)


def test_a_short_history_gets_the_pools_quantiles():
    rng = np.random.default_rng(4)
    pool_errors = [rng.standard_t(5, 1000) / math.sqrt(5 / 3) for _ in range(20)]
    shape = TailShape.fit(np.concatenate(pool_errors))
    pooled = pooled_quantiles(pool_errors, 1, shape)
    short = ticker_quantiles(rng.standard_normal(15) * 3, 1, shape, pooled)  # 15 days: no evidence of its own
    assert short["lower"] == pytest.approx([q.value for q in pooled["lower"]])
