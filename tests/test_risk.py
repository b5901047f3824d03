"""The model learns the risk: range features and their fallback, the variance path, interval scores, quantiles at
any level, and the `evaluate --horizon` contract."""

import csv
import json
import math

import numpy as np
import pytest

from conftest import fast_training, random_walk_bars
from forecaster.data.bars import Bars, format_csv
from forecaster.errors import UsageError
from forecaster.model.calibration import Evidence, persistence_estimate, quantile_at
from forecaster.model.volatility import (
    cumulative_variance,
    fit_degrees_of_freedom,
    garch_forecasts,
    interval_score,
    long_run_variance,
)
from forecaster.model.windows import build_series, has_real_ohlc, resolve_features

FAST = fast_training(epochs=3)


def close_only(bars: Bars) -> Bars:
    """The same closes with Open = High = Low = Close, as a close-only CSV import gives."""
    return Bars(bars.dates, bars.close, bars.close, bars.close, bars.close, bars.adj_close, bars.volume)


# ------------------------------------------------------------------------------------------------- features
def test_range_features_put_open_high_low_on_the_adjusted_basis():
    bars = random_walk_bars(50)
    halved = Bars(bars.dates, bars.open, bars.high, bars.low, bars.close, bars.adj_close * 0.5, bars.volume)
    series = build_series(halved, "range")
    returns, log_range, gap, intraday, volume_change = series.features.T
    np.testing.assert_allclose(volume_change, np.diff(np.log(bars.volume + 1.0)))
    np.testing.assert_allclose(gap + intraday, returns, atol=1e-12)  # the two parts of the day's move
    np.testing.assert_allclose(log_range, np.log(np.log(bars.high[1:] / bars.low[1:])))  # the log of the range
    # a dividend adjusts every price of the day by one factor: no false gap appears
    np.testing.assert_allclose(gap, np.log(bars.open[1:] / bars.close[:-1]), atol=1e-12)


def test_auto_uses_range_with_real_ohlc_and_returns_without_with_a_note():
    bars = random_walk_bars(50)
    assert has_real_ohlc(bars) and resolve_features("auto", bars, "ABC") == ("range", None)
    flat = close_only(bars)
    assert not has_real_ohlc(flat)
    assert resolve_features("auto", flat, "ABC") == (
        "returns", "ABC: the data has no real OHLC (High = Low on most days), so the model uses returns only")
    with pytest.raises(UsageError, match=r"--features range needs real Open/High/Low prices, but ABC has "
                                         r"High = Low on 100% of its days \(a close-only import\?\); use "
                                         "--features returns"):
        resolve_features("range", flat, "ABC")


def test_close_only_data_trains_on_returns_in_a_model_of_its_own_and_says_so_in_one_line(cli, isolated_home,
                                                                                         tmp_path):
    for name, bars in (("FLAT", close_only(random_walk_bars(200))), ("ABC", random_walk_bars(200, seed=1))):
        path = tmp_path / f"{name}.csv"
        path.write_text(format_csv(bars))
        assert cli("fetch", name, "--csv", path, "-q").code == 0
    result = cli("train", *FAST)
    assert result.code == 0, result.err
    notes = [line for line in result.err.splitlines() if "no real OHLC" in line]
    assert notes == ["FLAT: the data has no real OHLC (High = Low on most days), so the model uses returns only: it "
                     "gets a model of its own"]
    meta = json.loads((isolated_home / "models" / "FLAT" / "meta.json").read_text())
    assert (meta["kind"], meta["features"], list(meta["tickers"])) == ("per-ticker", "returns", ["FLAT"])
    assert list(json.loads((isolated_home / "models" / "_pool" / "meta.json").read_text())["tickers"]) == ["ABC"]
    rows = {r["ticker"]: r["model"] for r in json.loads(cli("list", "-f", "json").out)}
    assert rows == {"ABC": "pooled", "FLAT": "per-ticker"}
    asked = cli("train", "FLAT", *FAST, "--features", "range")
    assert (asked.code, asked.err) == (2, "Error: --features range needs real Open/High/Low prices, but FLAT has "
                                          "High = Low on 100% of its days (a close-only import?); use --features "
                                          "returns\n")


# ------------------------------------------------------------------------------------------------ features
def test_changing_bars_after_the_cut_off_changes_no_feature_or_garch_parameter():
    bars = random_walk_bars(260)
    later = np.arange(len(bars)) >= 200
    changed = Bars(bars.dates, *(np.where(later, c * 1.3, c) for c in (bars.open, bars.high, bars.low, bars.close,
                                                                       bars.adj_close)), bars.volume)
    a, b = build_series(bars, "range"), build_series(changed, "range")
    np.testing.assert_array_equal(a.features[:198], b.features[:198])
    np.testing.assert_array_equal(a.range_volatility[:198], b.range_volatility[:198])
    origins = np.arange(150, 199)
    for asymmetric in (False, True):
        before = garch_forecasts(a.returns, 199, origins, 5, asymmetric)
        after = garch_forecasts(b.returns, 199, origins, 5, asymmetric)
        for x, y in zip(before[:2], after[:2], strict=True):
            np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------------------------------- the variance path
def test_the_variance_path_mean_reverts_instead_of_growing_with_root_h():
    long_run = 1e-4
    spike, calm = cumulative_variance(np.array([9e-4, 0.25e-4]), long_run, 0.9, 20)
    assert spike < 20 * 9e-4 and calm > 20 * 0.25e-4  # sqrt(h) of today's σ: too wide after a spike, narrow after calm
    assert cumulative_variance(np.array([1e-4]), long_run, 0.9, 20)[0] == pytest.approx(20 * long_run)
    assert cumulative_variance(np.array([9e-4]), long_run, 1.0, 20)[0] == pytest.approx(20 * 9e-4)  # φ = 1: √h rule


def test_the_long_run_variance_is_the_ewma_099_of_sigma_squared_by_hand():
    """m_t = 0.99 m_(t-1) + 0.01 σ_t², from m_(-1) = σ_0²: the one level every variance path reverts to (the model's,
    the calibration's and the HAR baseline's in evaluate)."""
    sigma = np.array([0.01, 0.02, 0.015, 0.03])
    expected, level = [], sigma[0] ** 2
    for s in sigma:
        level = 0.99 * level + 0.01 * s**2
        expected.append(level)
    np.testing.assert_allclose(long_run_variance(sigma), expected, rtol=1e-12)
    evidence = Evidence.build(np.array([1, 2]), np.zeros((2, 2)), sigma, np.full(4, 0.01), [True, True])
    np.testing.assert_array_equal(evidence.long_run, long_run_variance(sigma)[[1, 2]])


def test_persistence_and_degrees_of_freedom_are_recovered_from_simulated_data():
    rng = np.random.default_rng(0)
    n, omega, alpha, beta = 6000, 2e-6, 0.08, 0.9
    variance, returns = np.empty(n), np.empty(n)
    level = omega / (1 - alpha - beta)
    for t in range(n):
        variance[t] = level
        returns[t] = math.sqrt(level) * rng.standard_t(5) / math.sqrt(5 / 3)
        level = omega + alpha * returns[t] ** 2 + beta * level
    sigma = np.sqrt(np.concatenate([variance[1:], [level]]))  # σ_t forecasts r_{t+1}
    ends = np.arange(100, n - 25)
    evidence = Evidence(ends, np.zeros(len(ends)), np.zeros(len(ends)), sigma[ends], returns[ends + 1] / sigma[ends],
                        np.ones(len(ends), dtype=bool), np.full(len(ends), omega / (1 - alpha - beta)), returns)
    phi, phi_variance = persistence_estimate(evidence, 0.0, 0.0)
    assert 0.93 < phi <= 1.0 and 0 < phi_variance < 0.01  # the true persistence is 0.98, measured on 1,000 days
    nu = fit_degrees_of_freedom(returns[1:] / sigma[:-1])
    assert nu is not None and 3 <= nu <= 8  # simulated with ν = 5
    assert fit_degrees_of_freedom(rng.standard_normal(5000)) in (None, 20.0, 30.0)


def test_score_by_hand_rmse_mae_mape_direction_coverage_width_and_interval_score():
    """evaluate.score, the numbers behind the README's accuracy tables, on four days worked out by hand."""
    from forecaster.risk.evaluate import score

    previous = np.array([100.0, 100.0, 100.0, 100.0])
    actual = np.array([101.0, 99.0, 100.0, 110.0])
    centre = np.log([1.02, 0.99, 1.01, 1.00])  # forecast prices 102, 99, 101, 100: errors 1, 0, 1, -10
    lower, upper = np.full(4, -0.05), np.full(4, 0.05)  # log returns; the last day's, log 1.1 = 0.0953, is above
    scored = score(centre, lower, upper, actual, previous, level=0.90)
    assert scored["rmse"] == pytest.approx(math.sqrt((1 + 0 + 1 + 100) / 4))
    assert scored["mae"] == pytest.approx((1 + 0 + 1 + 10) / 4)
    assert scored["mape"] == pytest.approx(100 * (1 / 101 + 0 / 99 + 1 / 100 + 10 / 110) / 4)
    assert scored["directional_accuracy"] == 1.0  # days 1 and 2 (up, down) both right; 3 and 4 did not both move
    assert scored["coverage"] == 0.75
    assert scored["width"] == pytest.approx(0.1)
    # width 0.1 every day, and the miss above: 2 / (1 - 0.90) = 20 times how far beyond the bound it fell
    assert scored["interval_score"] == pytest.approx(0.1 + 20 * (math.log(1.1) - 0.05) / 4)
    assert (scored["tails"]["lower"]["hits"], scored["tails"]["upper"]["hits"]) == (0, 1)
    assert scored["tails"]["upper"]["expected"] == pytest.approx(4 * 0.05)


def test_a_forecast_that_is_naive_scores_as_naive():
    from forecaster.risk.evaluate import score

    previous, actual = np.array([50.0, 52.0, 51.0]), np.array([52.0, 51.0, 51.0])
    scored = score(np.zeros(3), np.full(3, -0.1), np.full(3, 0.1), actual, previous, level=0.98)
    assert scored["rmse"] == pytest.approx(math.sqrt((4 + 1 + 0) / 3))  # naive's errors: the day's moves
    assert scored["directional_accuracy"] is None  # naive never predicts a move
    assert scored["coverage"] == 1.0 and scored["interval_score"] == pytest.approx(0.2)  # inside: the width alone


def test_interval_score_and_quantiles_at_any_level_and_horizon():
    # inside: width only; below by 1: width + 20; above by 0.5: width + 10
    assert interval_score([-1, -1, -1], [1, 1, 1], [0, -2, 1.5]) == pytest.approx((2 + 22 + 12) / 3)
    grid = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25)
    lower = [-4.0, -3.6, -3.0, -2.6, -2.2, -1.6, -1.3, -1.0, -0.8, -0.7]
    quantiles = {"1": {"lower": lower, "upper": [-q for q in lower]},
                 "5": {"lower": lower, "upper": [-q for q in lower]},
                 "20": {"lower": [q / 2 for q in lower], "upper": [-q / 2 for q in lower]}}
    assert quantile_at(quantiles, 1, 0.90) == pytest.approx((-1.6, 1.6))  # p = 0.05, on the grid
    assert quantile_at(quantiles, 1, 0.998) == pytest.approx((-4.0, 4.0))
    assert quantile_at(quantiles, 1, 0.5) == pytest.approx((-0.7, 0.7))
    assert quantile_at(quantiles, 20, 0.90) == quantile_at(quantiles, 60, 0.90) == pytest.approx((-0.8, 0.8))
    low, high = quantile_at(quantiles, 1, 0.95)  # p = 0.025: between 0.02 and 0.05, in log p
    assert -2.2 < low < -1.6 and high == -low
    low, _ = quantile_at(quantiles, 10, 0.90)  # between 5 and 20 days, in log h
    assert -1.6 < low < -0.8
    assert all(g in grid for g in (0.001, 0.25))


# --------------------------------------------------------------------------------- the forecasting methods
def test_no_method_without_a_network_sees_past_the_origin_of_its_forecast():
    """naive, linear, GARCH and GJR, fitted before the test start (day 200), forecast each day from its origin: bars
    rewritten from day 240 on change no forecast made from an earlier origin, and change the later ones."""
    from forecaster.risk.evaluate import METHODS, no_network_bounds

    bars = random_walk_bars(300)
    later = np.arange(len(bars)) >= 240
    changed = Bars(bars.dates, *(np.where(later, c * 1.3, c) for c in (bars.open, bars.high, bars.low, bars.close,
                                                                       bars.adj_close)), bars.volume)
    test_start = str(bars.dates[200])
    before, after = (no_network_bounds(b, "range", test_start, [1, 5], 10, 0.90) for b in (bars, changed))
    for horizon in (1, 5):
        assert list(before[horizon]) == [m for m in METHODS if m in ("naive", "linear", "garch", "gjr")]
        origins = np.arange(199, 299) - horizon  # series days (the bars after the first) of the test days' origins
        unseen = origins < 239  # the first return that changed is the one into bar 240, series day 239
        for method, bounds in before[horizon].items():
            for x, y in zip(bounds, after[horizon][method], strict=True):
                np.testing.assert_array_equal(x[unseen], y[unseen], err_msg=method)
            assert not np.array_equal(bounds[1][~unseen], after[horizon][method][1][~unseen]), method


def test_naive_is_no_move_inside_plus_or_minus_z_sigma_root_h():
    from forecaster.risk.evaluate import Naive, TestDays

    series = build_series(random_walk_bars(100), "range")
    days = TestDays(np.array([50, 60, 70]), 4)
    centre, lower, upper = Naive(series, 50, 10).bounds(days, 0.90)
    sigma = series.volatility[[46, 56, 66]]
    np.testing.assert_array_equal(centre, 0.0)
    np.testing.assert_allclose(upper, 1.6448536 * sigma * 2, rtol=1e-7)  # z of 90%, sqrt(4) sessions
    np.testing.assert_allclose(lower, -upper)


def test_the_daily_forecasts_have_three_columns_a_method_in_the_order_users_read():
    from forecaster.risk.evaluate import METHODS, PREDICTION_COLUMNS, method_columns

    assert METHODS == ("model", "naive", "linear", "garch", "gjr", "har")
    assert PREDICTION_COLUMNS == ["date", "horizon", "level", "actual", "model", "lower", "upper", "naive", "linear",
                                  "origin_close", "naive_lower", "naive_upper", "linear_lower", "linear_upper",
                                  "garch", "garch_lower", "garch_upper", "gjr", "gjr_lower", "gjr_upper", "har",
                                  "har_lower", "har_upper"]
    assert method_columns("model") == ("model", "lower", "upper")
    assert method_columns("gjr") == ("gjr", "gjr_lower", "gjr_upper")


# ----------------------------------------------------------------------------------- evaluate --horizon
def test_evaluate_horizon_contract(cli, isolated_home, tmp_path):
    bars = random_walk_bars(300)
    (tmp_path / "abc.csv").write_text(format_csv(bars))
    assert cli("fetch", "ABC", "--csv", tmp_path / "abc.csv", "-q").code == 0
    out = tmp_path / "h5.csv"
    result = cli("evaluate", "ABC", "--test-start", "2020-11-02", "--horizon", "5", *FAST, "-f", "json",
                 "--predictions", out)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert (report["horizon"], report["test_start"], report["n"]) == (5, "2020-11-02", 83)
    for method in ("model", "naive", "linear", "garch", "gjr", "har"):
        assert report[method]["interval_score"] >= report[method]["width"] > 0
        for tail in ("lower", "upper"):  # 83 overlapping forecasts: their tests take every fifth, from the last
            assert report[method]["tails"][tail]["tested_days"] == 17
            assert report[method]["tails"][tail]["expected"] == pytest.approx(83 * 0.05)
    rows = list(csv.DictReader(out.open()))
    first = int(np.flatnonzero(bars.dates == np.datetime64("2020-11-02"))[0])
    origin = pytest.approx(bars.adj_close[first - 5], rel=1e-11)  # CSV numbers carry 12 significant digits
    assert float(rows[0]["origin_close"]) == origin  # made from data 5 sessions before
    assert float(rows[0]["naive"]) == origin
    for row in rows:
        for method in ("", "naive_", "linear_", "garch_", "gjr_", "har_"):
            assert float(row[f"{method}lower"]) < float(row[f"{method}upper"])
    refused = cli("evaluate", "ABC", "--test-start", "2020-11-02", "--horizon", "0")
    assert (refused.code, refused.out, refused.err) == (2, "", "Error: --horizon must be between 1 and 250, got 0\n")


def test_evaluate_table_shows_interval_scores_against_naive(cli, isolated_home, tmp_path):
    (tmp_path / "abc.csv").write_text(format_csv(random_walk_bars(300)))
    assert cli("fetch", "ABC", "--csv", tmp_path / "abc.csv", "-q").code == 0
    result = cli("evaluate", "ABC", "--test-start", "2020-11-02", *FAST)
    assert result.code == 0
    assert "interval score" in result.out and "score vs naive" in result.out and "gjr" in result.out
    assert result.out.startswith("ABC: 83 trading days from 2020-11-02, 90% intervals")


def test_a_model_saved_before_the_pool_is_refused_with_the_way_out(cli, isolated_home, tmp_path):
    (tmp_path / "abc.csv").write_text(format_csv(random_walk_bars(200)))
    assert cli("fetch", "ABC", "--csv", tmp_path / "abc.csv", "-q").code == 0
    meta_path = isolated_home / "models" / "ABC" / "meta.json"
    meta_path.parent.mkdir(parents=True)
    meta_path.write_text(json.dumps({"format_version": 2, "ticker": "ABC", "weights_file": "weights-0.npz"}))
    result = cli("predict", "ABC")
    assert (result.code, result.err) == (3, f"Error: {meta_path} is a model from an older forecaster (format 2); "
                                            "run 'forecast train ABC' to retrain it\n")
