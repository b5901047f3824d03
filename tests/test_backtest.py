"""Backtests of interval bounds (forecaster.risk.backtest): hand-computed cases, degenerate ones, and simulated models.

The χ² tail probabilities used as references are closed forms: P(χ²(1) > s) = erfc(√(s/2)), P(χ²(2) > s) =
exp(-s/2); the module's own χ² and binomial distributions (no scipy at run time) are checked against scipy's.
"""

import math

import numpy as np
import pytest

from forecaster.risk.backtest import (
    basel_zone,
    christoffersen,
    combined_kupiec,
    dynamic_quantile,
    hits,
    kupiec,
    pinball_loss,
    tail_backtest,
    tail_probability,
    traffic_light_zone,
    transition_counts,
)


def chi2_1_sf(statistic):
    return math.erfc(math.sqrt(statistic / 2))


# ------------------------------------------------------------------------------------------------ hand-computed
def test_a_hit_is_a_day_strictly_beyond_its_bound():
    actual = np.array([0.9, 1.0, 1.1])
    assert hits(actual, np.ones(3), "lower").tolist() == [True, False, False]
    assert hits(actual, np.ones(3), "upper").tolist() == [False, False, True]
    with pytest.raises(ValueError, match="tail must be one of"):
        hits(actual, np.ones(3), "middle")


def test_tail_probability_is_half_the_complement_of_the_level_without_float_noise():
    assert (tail_probability(0.90), tail_probability(0.98), tail_probability(0.5)) == (0.05, 0.01, 0.25)


def test_kupiec_by_hand():
    # 5 hits in 250 days of a 1% bound; the hit rate is x/n = 0.02:
    # LR = -2 [245 ln 0.99 + 5 ln 0.01] + 2 [245 ln 0.98 + 5 ln 0.02] = 2 [245 ln(0.98/0.99) + 5 ln 2]
    #    = 2 [245 × (-0.01015237) + 5 × 0.69314718] = 2 [-2.48733101 + 3.46573590] = 1.95680979
    test = kupiec(5, 250, 0.01)
    assert test.statistic == pytest.approx(1.95680979, abs=1e-8)
    assert test.p_value == pytest.approx(chi2_1_sf(1.95680979), abs=1e-8)  # 0.16185
    assert test.df == 1


def test_kupiec_at_no_hits_all_hits_and_the_expected_count():
    # 0 ln 0 = 0: the observed-rate likelihood is 1 at x = 0 and x = n
    assert kupiec(0, 250, 0.01).statistic == pytest.approx(-2 * 250 * math.log(0.99))  # 5.0252, p = 0.025
    assert kupiec(0, 250, 0.01).p_value == pytest.approx(chi2_1_sf(-500 * math.log(0.99)))
    assert kupiec(10, 10, 0.05).statistic == pytest.approx(-2 * 10 * math.log(0.05))
    assert kupiec(25, 500, 0.05) == (0.0, 1.0, 1)
    assert kupiec(0, 0, 0.05) is None


@pytest.mark.parametrize("args", [(3, 2, 0.05), (-1, 2, 0.05), (1, 2, 0.0), (1, 2, 1.0)])
def test_kupiec_refuses_impossible_arguments(args):
    with pytest.raises(ValueError):
        kupiec(*args)


def test_combined_kupiec_adds_the_statistics_of_groups_at_their_own_probability():
    one, two = kupiec(5, 250, 0.01), kupiec(3, 100, 0.05)
    combined = combined_kupiec([(5, 250, 0.01), (3, 100, 0.05), (0, 0, 0.05)])  # an empty group adds nothing
    assert combined.statistic == pytest.approx(one.statistic + two.statistic) and combined.df == 2
    assert combined.p_value == pytest.approx(math.exp(-combined.statistic / 2))
    assert combined_kupiec([(5, 250, 0.01)]) == one
    assert combined_kupiec([]) is None and combined_kupiec([(0, 0, 0.01)]) is None


def test_christoffersen_by_hand():
    hit = np.array([0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0], dtype=bool)
    # pairs: 00 01 11 10 00 00 01 11 11 10 00 -> n00 = 4, n01 = 2, n10 = 2, n11 = 3
    assert transition_counts(hit) == (4, 2, 2, 3)
    # π01 = 2/6, π11 = 3/5, π = 5/11:
    # LR_ind = 2 [4 ln(2/3) + 2 ln(1/3) + 2 ln(2/5) + 3 ln(3/5)] - 2 [6 ln(6/11) + 5 ln(5/11)] = 0.7899166
    # LR_cc at p = 0.2 (5 hits in the 11 days after the first) = -2 [6 ln 0.8 + 5 ln 0.2] + 2 [4 ln(2/3) + 2 ln(1/3)
    #   + 2 ln(2/5) + 3 ln(3/5)] = 4.4038151, whose χ²(2) p-value exp(-LR_cc/2) = 0.8^6 0.2^5 / ((2/3)^4 (1/3)^2
    #   (2/5)^2 (3/5)^3) = 0.110592
    independence, coverage = christoffersen(hit, 0.2)
    assert independence.statistic == pytest.approx(0.7899166, abs=1e-6) and independence.df == 1
    assert independence.p_value == pytest.approx(chi2_1_sf(0.7899166), abs=1e-6)
    assert coverage.statistic == pytest.approx(4.4038151, abs=1e-6) and coverage.df == 2
    assert coverage.p_value == pytest.approx(0.110592, abs=1e-9)
    assert coverage.statistic == pytest.approx(kupiec(5, 11, 0.2).statistic + independence.statistic)


@pytest.mark.parametrize("hit", [
    np.zeros(20, dtype=bool),  # no hits: the rows after a hit are empty
    np.ones(20, dtype=bool),  # only hits
    np.r_[np.zeros(19), 1].astype(bool),  # one hit, on the last day: no day after a hit
])
def test_christoffersen_independence_is_zero_when_transition_rows_are_empty(hit):
    independence, coverage = christoffersen(hit, 0.05)
    assert independence == (0.0, 1.0, 1)
    assert coverage.statistic == pytest.approx(kupiec(int(hit[1:].sum()), 19, 0.05).statistic)


def test_christoffersen_needs_two_days():
    assert christoffersen(np.array([True]), 0.05) is None and christoffersen(np.array([], dtype=bool), 0.05) is None


def test_dynamic_quantile_is_the_regression_statistic():
    rng = np.random.default_rng(7)
    hit, bound = rng.random(300) < 0.1, -1.3 * np.exp(0.2 * rng.standard_normal(300))
    deviation = hit - 0.1
    X = np.column_stack([np.ones(296), deviation[3:-1], deviation[2:-2], deviation[1:-3], deviation[:-4],
                         bound[4:]])
    b = np.linalg.solve(X.T @ X, X.T @ deviation[4:])
    test = dynamic_quantile(hit, bound, 0.1)
    assert test.statistic == pytest.approx(b @ X.T @ X @ b / (0.1 * 0.9)) and test.df == 6


def test_dynamic_quantile_with_singular_regressors_uses_their_rank():
    # no hits at a constant bound: every column is constant, rank 1; the projection of Hit_t = -p on the constant
    # is Hit itself, so DQ = (T - 4) p² / (p (1 - p)) = 96 × 0.05 / 0.95
    test = dynamic_quantile(np.zeros(100, dtype=bool), np.full(100, -1.0), 0.05)
    assert test.statistic == pytest.approx(96 * 0.05 / 0.95) and test.df == 1
    assert test.p_value == pytest.approx(chi2_1_sf(96 * 0.05 / 0.95))


def test_dynamic_quantile_needs_more_days_than_regressors_after_the_lags():
    rng = np.random.default_rng(1)
    assert dynamic_quantile(rng.random(10) < 0.5, rng.standard_normal(10), 0.05) is None  # 6 rows, 6 regressors
    assert dynamic_quantile(rng.random(11) < 0.5, rng.standard_normal(11), 0.05).df == 6


@pytest.mark.parametrize(("x", "zone"), [(0, "green"), (4, "green"), (5, "yellow"), (9, "yellow"), (10, "red"),
                                         (25, "red")])
def test_basel_traffic_light_for_250_days_at_one_percent(x, zone):
    # P(X ≤ x), X ~ Binomial(250, 0.01): 4 -> 89.22%, 5 -> 95.88%, 9 -> 99.97%, 10 -> 99.99% (Basel 1996, Table 1)
    assert basel_zone(x, 250, 0.01) == zone


def test_basel_traffic_light_for_another_window():
    # Binomial(500, 0.01): P(X ≤ 8) = 93.29%, P(X ≤ 9) = 96.89%, P(X ≤ 14) = 99.979%, P(X ≤ 15) = 99.994%
    assert [basel_zone(x, 500, 0.01) for x in (8, 9, 14, 15)] == ["green", "yellow", "yellow", "red"]


def test_traffic_light_zone_judges_the_last_250_days_of_a_99_percent_bound():
    actual, lower = np.zeros(300), np.full(300, -1.0)
    actual[:40] = -2.0  # 40 hits, all before the last 250 days
    actual[-5:] = -2.0
    assert traffic_light_zone(actual, lower, 0.98) == "yellow"
    assert traffic_light_zone(actual[-250:], lower[-250:], 0.98) == "yellow"
    assert traffic_light_zone(actual[-249:], lower[-249:], 0.98) is None  # too few days
    assert traffic_light_zone(actual, lower, 0.90) is None  # not a 99% bound
    assert traffic_light_zone(-actual, -lower, 0.98, tail="upper") == "yellow"


def test_pinball_loss_by_hand():
    # τ = 0.1, q = 2: errors y - q = -1, 0, 1 -> max(-0.1, 0.9) = 0.9, 0, max(0.1, -0.9) = 0.1; mean 1.0/3
    assert pinball_loss(np.array([1.0, 2.0, 3.0]), np.full(3, 2.0), 0.1) == pytest.approx(1 / 3)
    assert pinball_loss(np.array([1.0, 2.0, 3.0]), np.full(3, 2.0), 0.9) == pytest.approx(1 / 3)
    assert pinball_loss(np.array([3.0]), np.array([2.0]), 0.95) == pytest.approx(0.95)


def test_tail_backtest_reports_every_test_of_one_bound():
    rng = np.random.default_rng(3)
    actual, lower = rng.standard_normal(400), np.full(400, -1.6449) + 0.01 * rng.standard_normal(400)
    report = tail_backtest(actual, lower, "lower", 0.90)
    assert list(report) == ["expected", "hits", "tested_days", "kupiec_p", "christoffersen_p",
                            "conditional_coverage_p", "dq_p", "pinball"]
    assert report["tested_days"] == 400
    hit = actual < lower
    assert report["expected"] == 20.0 and report["hits"] == int(hit.sum()) and isinstance(report["hits"], int)
    assert report["kupiec_p"] == kupiec(int(hit.sum()), 400, 0.05).p_value
    assert report["christoffersen_p"] == christoffersen(hit, 0.05)[0].p_value
    assert report["conditional_coverage_p"] == christoffersen(hit, 0.05)[1].p_value
    assert report["dq_p"] == dynamic_quantile(hit, lower, 0.05).p_value
    assert report["pinball"] == pinball_loss(actual, lower, 0.05)
    upper = tail_backtest(actual, -lower, "upper", 0.90)
    assert upper["hits"] == int(np.sum(actual > -lower)) and upper["pinball"] == pinball_loss(actual, -lower, 0.95)


def test_tail_backtest_without_enough_days():
    assert tail_backtest(np.array([]), np.array([]), "upper", 0.98) == {
        "expected": 0.0, "hits": 0, "tested_days": 0, "kupiec_p": None, "christoffersen_p": None,
        "conditional_coverage_p": None, "dq_p": None, "pinball": None}
    short = tail_backtest(np.array([0.0, -2.0]), np.array([-1.0, -1.0]), "lower", 0.98)
    assert (short["expected"], short["hits"], short["dq_p"]) == (0.02, 1, None)
    assert short["kupiec_p"] is not None and short["conditional_coverage_p"] is not None


def test_tail_backtest_of_overlapping_forecasts_tests_every_horizonth_day_counted_from_the_last():
    rng = np.random.default_rng(4)
    actual, lower = rng.standard_normal(403), np.full(403, -1.6449)
    report = tail_backtest(actual, lower, "lower", 0.90, horizon=5)
    tested = np.arange(2, 403, 5)  # 81 days: 2, 7, ..., 402
    hit = actual < lower
    assert report["tested_days"] == 81 and report["hits"] == int(hit.sum()) and report["expected"] == 20.15
    assert report["kupiec_p"] == kupiec(int(hit[tested].sum()), 81, 0.05).p_value
    assert report["conditional_coverage_p"] == christoffersen(hit[tested], 0.05)[1].p_value
    assert report["dq_p"] == dynamic_quantile(hit[tested], lower[tested], 0.05).p_value
    assert report["pinball"] == pinball_loss(actual, lower, 0.05)


def test_overlapping_hits_of_a_correct_bound_are_not_rejected_as_clustered():
    """A correct 5-day bound on a random walk: its daily hits cluster (consecutive 5-day returns share 4 days), and
    the independence test of all days rejects it; the test of the non-overlapping forecasts does not."""
    rng = np.random.default_rng(5)
    steps = rng.standard_normal(2004)
    five_day = np.convolve(steps, np.ones(5), "valid")  # (2000,) overlapping 5-day sums, each N(0, 5)
    lower = np.full(2000, -1.6449 * np.sqrt(5))
    assert christoffersen(five_day < lower, 0.05)[0].p_value < 1e-6
    assert tail_backtest(five_day, lower, "lower", 0.90, horizon=5)["christoffersen_p"] > 0.05


def test_tail_backtest_refuses_a_horizon_below_one():
    with pytest.raises(ValueError, match="at least 1, not 0"):
        tail_backtest(np.zeros(3), np.zeros(3), "lower", 0.9, horizon=0)


def test_tail_backtest_refuses_mismatched_arrays():
    with pytest.raises(ValueError, match=r"got shapes \(3,\) and \(2,\)"):
        tail_backtest(np.zeros(3), np.zeros(2), "lower", 0.9)


# ---------------------------------------------------------------------------------------------------- simulated
# Each simulated model makes R forecasts series of T days with tail probability P. A test at the 5% level rejects a
# correct model in 5% of the series, give or take the binomial standard error √(0.05 × 0.95 / R) = 0.0069 at
# R = 1000: a correct model must be rejected in 5% ± 3 standard errors (± 0.021) of the series. (Kupiec's exact
# size at T = 1000, P = 0.05, summed over the binomial distribution of the hits, is 5.14%.)
R, T, P = 1000, 1000, 0.05
ALPHA = 0.05


def rejection_rates(hit_series, bounds) -> dict:
    """Share of the series (rows of `hit_series`, shape (R, T)) each test rejects at the 5% level."""
    rejected = {"kupiec": 0, "independence": 0, "conditional_coverage": 0, "dq": 0}
    for hit, bound in zip(hit_series, bounds, strict=True):
        independence, coverage = christoffersen(hit, P)
        rejected["kupiec"] += kupiec(int(hit.sum()), len(hit), P).p_value < ALPHA
        rejected["independence"] += independence.p_value < ALPHA
        rejected["conditional_coverage"] += coverage.p_value < ALPHA
        rejected["dq"] += dynamic_quantile(hit, bound, P).p_value < ALPHA
    return {test: count / len(hit_series) for test, count in rejected.items()}


def clustered_hits(rng, replications: int, stay: float) -> np.ndarray:
    """Markov-chain hits, shape (replications, T): a hit follows a hit with probability `stay`, a calm day with
    probability P (1 - stay)/(1 - P), so the hit rate is still P in the long run; started from that rate."""
    enter = P * (1 - stay) / (1 - P)
    uniform = rng.random((replications, T))
    hit = np.empty((replications, T), dtype=bool)
    hit[:, 0] = uniform[:, 0] < P
    for t in range(1, T):
        hit[:, t] = uniform[:, t] < np.where(hit[:, t - 1], stay, enter)
    return hit


def varying_bounds(rng, replications: int) -> np.ndarray:
    """Lower bounds in log-return units, shape (replications, T): -1.645 σ_t, σ_t log-normal around 1%."""
    return -0.01 * 1.645 * np.exp(0.3 * rng.standard_normal((replications, T)))


def test_a_correct_model_is_rejected_at_the_nominal_rate():
    rng = np.random.default_rng(20240615)
    rates = rejection_rates(rng.random((R, T)) < P, varying_bounds(rng, R))
    assert abs(rates["kupiec"] - ALPHA) < 0.021, rates
    assert abs(rates["conditional_coverage"] - ALPHA) < 0.021, rates
    assert abs(rates["dq"] - ALPHA) < 0.021, rates
    # (Christoffersen's independence test alone over-rejects in samples of this size, 8.1% here with P = 0.05 and
    # a few 1 -> 1 transitions per series; conditional coverage, the one reported with it, holds its level.)


def test_a_too_narrow_interval_is_rejected():
    rng = np.random.default_rng(11)
    rates = rejection_rates(rng.random((200, T)) < 2 * P, varying_bounds(rng, 200))  # hit twice as often
    assert min(rates["kupiec"], rates["conditional_coverage"], rates["dq"]) > 0.95, rates


def test_clustered_hits_are_rejected_by_christoffersen_and_dq_where_kupiec_misses_them():
    rng = np.random.default_rng(12)
    rates = rejection_rates(clustered_hits(rng, 200, stay=0.3), varying_bounds(rng, 200))
    assert rates["kupiec"] < 0.25, rates  # the right number of hits, only more dispersed
    assert min(rates["independence"], rates["conditional_coverage"], rates["dq"]) > 0.9, rates


def test_dq_sees_hits_that_depend_on_the_bound_where_christoffersen_does_not():
    # too narrow on calm days (a bound closer to 0 than the median), too wide on the others: the hit rate is
    # right, and hits are independent of each other, but not of what was known when the bound was made
    rng = np.random.default_rng(13)
    bounds = varying_bounds(rng, 200)
    calm = bounds > np.median(bounds, axis=1, keepdims=True)
    rates = rejection_rates(rng.random((200, T)) < np.where(calm, 1.8 * P, 0.2 * P), bounds)
    assert rates["kupiec"] < 0.15 and rates["conditional_coverage"] < 0.15, rates
    assert rates["dq"] > 0.9, rates


def test_the_distributions_match_scipys():
    from scipy import stats

    from forecaster.risk.backtest import binomial_cdf, chi2_sf

    for df in range(1, 9):
        for statistic in (0.0, 1e-6, 0.3, 1.0, 3.84, 9.5, 40.0, 300.0):
            assert chi2_sf(statistic, df) == pytest.approx(stats.chi2.sf(statistic, df), rel=1e-10, abs=1e-300)
    for n, p in ((250, 0.01), (500, 0.05), (40, 0.3)):
        for x in range(n + 1):
            assert binomial_cdf(x, n, p) == pytest.approx(stats.binom.cdf(x, n, p), rel=1e-9, abs=1e-15)
    with pytest.raises(ValueError, match="whole number"):
        chi2_sf(1.0, 1.5)
