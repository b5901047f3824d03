"""Windows, training without look-ahead, shrinkage toward naive, calibrated intervals, and saved models."""

import json

import numpy as np
import pytest

from conftest import random_walk_bars
from forecaster.bars import Bars
from forecaster.errors import CorruptFile, DataUnavailable, UsageError
from forecaster.model import Forecaster, TrainingConfig, interval_quantiles, optimal_shrinkage, train
from forecaster.store import Store
from forecaster.windows import build_series, ewma_volatility, window_ends, windows_at

SMALL = TrainingConfig(window=10, hidden=8, epochs=3, patience=2, batch_size=32)


def test_windows_end_on_their_day_and_targets_are_the_next_return():
    bars = random_walk_bars(50)
    series = build_series(bars)
    np.testing.assert_allclose(series.returns, np.diff(np.log(bars.adj_close)))
    ends = window_ends(series, 5)
    assert ends[0] == 4
    X = windows_at(series, ends[:2], 5)
    np.testing.assert_array_equal(X[1, :, 0], series.returns[1:6])


def test_ohlcv_features_are_scale_free():
    bars = random_walk_bars(50)
    doubled = Bars(bars.dates, *(2 * c for c in bars.columns()[1:6]), bars.volume * 3)
    np.testing.assert_allclose(build_series(bars, "ohlcv").features[:, :2],
                               build_series(doubled, "ohlcv").features[:, :2], atol=1e-12)
    assert build_series(bars, "ohlcv").features.shape == (49, 3)


def test_volatility_is_causal():
    returns = np.random.default_rng(0).standard_normal(100) * 0.01
    changed = returns.copy()
    changed[60:] *= 10
    np.testing.assert_array_equal(ewma_volatility(returns)[:60], ewma_volatility(changed)[:60])


def test_shrinkage_trusts_a_clean_signal_and_clips_to_the_unit_interval():
    forecast = np.array([1.0, -1.0, 2.0])
    assert optimal_shrinkage(forecast, 0.5 * forecast) == pytest.approx(0.5)
    assert optimal_shrinkage(forecast, -forecast) == 0.0
    assert optimal_shrinkage(forecast, 3 * forecast) == 1.0
    assert optimal_shrinkage(np.zeros(3), forecast) == 0.0


def test_shrinkage_discounts_a_noisy_estimate_by_its_uncertainty():
    rng = np.random.default_rng(0)
    forecast = rng.standard_normal(500)
    noise = rng.standard_normal(500)
    assert 0 < np.dot(forecast, noise) / np.dot(forecast, forecast)  # chance makes least squares trust noise ...
    assert optimal_shrinkage(forecast, noise) == 0.0  # ... its uncertainty discounts it to nothing
    actual = 0.3 * forecast + noise  # t ~ 6.7: a real but noisy signal
    least_squares = np.dot(forecast, actual) / np.dot(forecast, forecast)
    shrunk = optimal_shrinkage(forecast, actual)
    assert 0.9 * least_squares < shrunk < least_squares


def test_interval_quantiles_cover_ninety_percent_of_standardised_residuals():
    z = np.random.default_rng(1).standard_normal(20000)
    sigma = np.full_like(z, 0.02)
    lower, upper = interval_quantiles(z * sigma, sigma)
    assert lower == pytest.approx(-1.645, abs=0.05) and upper == pytest.approx(1.645, abs=0.05)


def test_changing_prices_after_the_cutoff_leaves_the_model_bit_identical():
    bars = random_walk_bars(260)
    cutoff = bars.dates[199]
    altered_close = bars.adj_close.copy()
    altered_close[200:] *= np.random.default_rng(9).uniform(0.5, 2.0, 60)
    altered = Bars(bars.dates, bars.open, np.maximum(bars.high, altered_close), np.minimum(bars.low, altered_close),
                   bars.close, altered_close, bars.volume)
    first, _ = train(bars.until(cutoff), SMALL, "ABC")
    second, _ = train(altered.until(cutoff), SMALL, "ABC")
    for key, value in first.network.state_dict().items():
        np.testing.assert_array_equal(value, second.network.state_dict()[key])
    for section in ("scaler", "calibration", "validation"):
        assert first.meta[section] == second.meta[section]


def test_metadata_records_what_was_trained_and_how():
    forecaster, data = train(random_walk_bars(200), SMALL, "ABC")
    meta = forecaster.meta
    assert meta["format_version"] == 2 and meta["ticker"] == "ABC" and meta["features"] == "range"  # auto, with OHLC
    assert meta["hyperparameters"] == {"window": 10, "hidden": 8, "layers": 1, "epochs": 3, "batch_size": 32,
                                       "lr": 0.001, "patience": 2, "seed": 0}
    assert meta["training"]["rows"] == 200 and meta["training"]["last_date"] == str(random_walk_bars(200).dates[-1])
    assert meta["training"]["validation_windows"] == 28 and meta["training"]["train_windows"] == 161
    assert 0.0 <= meta["calibration"]["network_share"] <= 1.0
    assert meta["calibration"]["z_lower"] < 0 < meta["calibration"]["z_upper"]
    assert set(meta["calibration"]["quantiles"]) == {"1", "5", "20"}
    assert all(low < 0 < high for low, high in meta["calibration"]["quantiles"].values())
    volatility = meta["volatility"]
    assert volatility["baseline"] == "ewma-range" and volatility["distribution"] in ("student-t", "gaussian")
    assert volatility["method"] in ("network", "ewma-range", "ewma-returns") and 0 <= volatility["network_share"] <= 1
    assert set(volatility["validation_interval_scores"]) == set(volatility["validation_negative_loglik"]) == {
        "ewma-returns", "ewma-range", "network-0.25", "network-0.5", "network-0.75", "network-1"}
    assert volatility["long_run_variance"] > 0 and 0 < volatility["persistence"] <= 1
    assert len(meta["training"]["data_sha256"]) == 64


def test_too_little_history_is_refused_with_the_numbers():
    with pytest.raises(UsageError) as error:
        train(random_walk_bars(50), SMALL, "ABC")
    assert error.value.message == ("ABC has 50 rows of history; training with --window 10 needs at least 91 "
                                   "(fetch more history or use a smaller --window)")


def test_forecast_is_recursive_with_widening_intervals():
    forecaster, _ = train(random_walk_bars(200), SMALL, "ABC")
    rows = forecaster.forecast(random_walk_bars(200), 5)
    assert [r["horizon"] for r in rows] == [1, 2, 3, 4, 5]
    widths = [r["upper"] - r["lower"] for r in rows]
    assert all(a < b for a, b in zip(widths, widths[1:], strict=False))
    assert all(r["lower"] < r["forecast"] < r["upper"] for r in rows)


def test_a_model_with_no_validated_signal_is_exactly_naive():
    forecaster, _ = train(random_walk_bars(200), SMALL, "ABC")
    forecaster.meta["calibration"]["network_share"] = 0.0
    bars = random_walk_bars(200)
    assert all(r["forecast"] == bars.adj_close[-1] for r in forecaster.forecast(bars, 3))


def test_saved_model_loads_and_forecasts_identically(isolated_home):
    store = Store()
    forecaster, _ = train(random_walk_bars(200), SMALL, "ABC")
    directory = forecaster.save(store, "ABC")
    assert sorted(p.name for p in directory.iterdir()) == ["meta.json", forecaster.meta["weights_file"]]
    loaded = Forecaster.load(store, "ABC")
    bars = random_walk_bars(200)
    assert loaded.forecast(bars, 3) == forecaster.forecast(bars, 3)
    forecaster.network.params["head_b"] += 1  # a retrained model replaces the old weights file
    forecaster.save(store, "ABC")
    assert len(list(directory.glob("weights-*.npz"))) == 1


@pytest.fixture
def saved(isolated_home):
    store = Store()
    forecaster, _ = train(random_walk_bars(200), SMALL, "ABC")
    directory = forecaster.save(store, "ABC")
    return store, directory, directory / forecaster.meta["weights_file"]


def test_missing_model_says_how_to_make_one(isolated_home):
    with pytest.raises(DataUnavailable, match=r"^no model for ABC; run 'forecast train ABC' first$"):
        Forecaster.load(Store(), "ABC")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d, w: (d / "meta.json").write_text("{trunc"), r"meta.json is not valid JSON \(JSONDecodeError\)"),
        (lambda d, w: (d / "meta.json").write_text("[]"), r"meta.json is not forecaster model metadata"),
        (lambda d, w: w.write_bytes(w.read_bytes()[:100]), r"does not match its checksum in meta.json"),
        (lambda d, w: w.unlink(), r"meta.json names a missing weights file"),
    ],
)
def test_damaged_models_are_reported_with_the_file_and_the_fix(saved, damage, message):
    store, directory, weights = saved
    damage(directory, weights)
    with pytest.raises(CorruptFile, match=message) as error:
        Forecaster.load(store, "ABC")
    assert error.value.message.endswith("run 'forecast train ABC' to rebuild it")
    assert str(directory) in error.value.message


def test_newer_format_is_refused(saved):
    store, directory, _ = saved
    meta = json.loads((directory / "meta.json").read_text())
    meta["format_version"] = 99
    (directory / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CorruptFile, match=r"has model format 99, newer than this forecaster .* reads \(format 2\)"):
        Forecaster.load(store, "ABC")


def test_weights_that_do_not_match_metadata_are_refused(saved):
    store, directory, weights = saved
    meta = json.loads((directory / "meta.json").read_text())
    meta["hyperparameters"]["hidden"] = 16
    (directory / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CorruptFile, match=r"does not match .*meta.json: .*has shape \(32, 5\), expected \(64, 5\)"):
        Forecaster.load(store, "ABC")


def test_garbage_weights_with_a_matching_checksum_are_refused_without_unpickling(saved):
    import hashlib
    import pickle

    store, directory, weights = saved
    payload = pickle.dumps({"evil": 1})
    weights.write_bytes(payload)
    meta = json.loads((directory / "meta.json").read_text())
    meta["weights_sha256"] = hashlib.sha256(payload).hexdigest()
    (directory / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CorruptFile, match="is not a readable weights file"):
        Forecaster.load(store, "ABC")
