"""The model: a pool's network and per-ticker calibration trained without look-ahead, its forecasts, and its files."""

import hashlib
import json
import math
import pickle

import numpy as np
import pytest

from conftest import random_walk_bars
from forecaster.data.bars import Bars
from forecaster.data.store import Store
from forecaster.errors import CorruptFile, ModelMissing, UsageError
from forecaster.model.guards import check_meta
from forecaster.model.panel import Market, column_means, pooled_spread, standardize
from forecaster.model.serving import (
    MIN_JOIN_WINDOWS,
    POOL,
    Model,
    TrainingConfig,
    join_rows,
    own_model_rows,
    too_short,
)
from forecaster.model.training import add_ticker, train_model

SMALL = TrainingConfig(window=10, hidden=8, epochs=3, patience=2, batch_size=32)


def panel(n: int = 260, tickers=("AAA", "BBB", "CCC")) -> dict[str, Bars]:
    return {ticker: random_walk_bars(n, seed=seed) for seed, ticker in enumerate(tickers)}


@pytest.fixture(scope="module")
def pooled():
    return train_model(panel(), ("^M", random_walk_bars(300, seed=7)), SMALL, "pooled")


def scaled_after(bars: Bars, first: int, factor: float) -> Bars:
    later = np.arange(len(bars)) >= first
    prices = [np.where(later, column * factor, column) for column in (bars.open, bars.high, bars.low, bars.close,
                                                                     bars.adj_close)]
    return Bars(bars.dates, *prices, np.where(later, bars.volume * 2, bars.volume))


def as_saved(meta: dict) -> dict:
    """The metadata as a saved model holds it (with its weights file's name and checksum)."""
    return {**meta, "weights_file": "weights-0123456789abcdef.npz", "weights_sha256": "0" * 64}


def comparable(meta: dict) -> dict:
    """The metadata minus when it was written (and each ticker calibrated)."""
    meta = json.loads(json.dumps(meta))
    meta.pop("created_at")
    for section in meta["tickers"].values():
        section["training"].pop("calibrated_at")
    return meta


def test_the_pool_records_one_network_and_each_tickers_calibration(pooled):
    meta = pooled.meta
    assert (meta["format_version"], meta["kind"], meta["features"]) == (5, "pooled", "range")
    assert meta["inputs"] == ["return", "range", "gap", "intraday", "volume_change", "level", "correction",
                              "market_return", "market_range"]
    assert meta["market"] == {"ticker": "^M", "last_date": str(random_walk_bars(300, seed=7).dates[-1])}
    assert meta["hyperparameters"] == {"window": 10, "hidden": 8, "layers": 1, "epochs": 3, "batch_size": 32,
                                       "lr": 0.001, "patience": 2, "seed": 0}
    assert sorted(meta["tickers"]) == ["AAA", "BBB", "CCC"] and meta["training"]["tickers"] == 3
    assert set(meta["pool"]) == {"har", "nu", "input_scale", "network_share", "scale_share", "persistence",
                                 "tail_shapes", "quantiles"}
    assert len(meta["pool"]["input_scale"]) == len(meta["inputs"]) and min(meta["pool"]["input_scale"]) > 0
    for calibration in meta["tickers"].values():
        assert calibration["member"] is True and 0 <= calibration["network_share"] <= 1
        assert 0 <= calibration["scale_share"] <= 1.5 and 0 < calibration["persistence"] <= 1
        assert len(calibration["scaler"]["mean"]) == len(meta["inputs"])
        assert calibration["scaler"]["scale"] == meta["pool"]["input_scale"]  # one spread for the scale-free inputs
        assert sorted(calibration["quantiles"], key=int) == ["1", "5", "20"]
        for tails in calibration["quantiles"].values():
            assert len(tails["lower"]) == len(tails["upper"]) == 10
            assert max(tails["lower"]) < 0 < min(tails["upper"])
        assert calibration["training"]["rows"] == 260 and len(calibration["training"]["data_sha256"]) == 64
    check_meta(as_saved(meta), "meta.json", "")  # every value one a trained model holds


def test_inputs_are_centred_on_each_tickers_mean_and_divided_by_the_pools_spread():
    """A calm ticker's slow inputs keep the pool's units: its own small spread would blow them up later."""
    calm = np.array([[1.0, 5.0], [1.2, np.nan], [0.8, 7.0]])  # column means 1.0 and 6.0
    wild = np.array([[-3.0, 0.0], [3.0, 0.0]])  # means 0.0 and 0.0
    spread = pooled_spread([calm, wild])
    # Σ squares around own means: 0.08 + 18 = 18.08 over 5 values; 2 over 4 values
    assert spread == pytest.approx([math.sqrt(18.08 / 5), math.sqrt(2 / 4)])
    assert column_means(calm) == pytest.approx([1.0, 6.0])
    assert pooled_spread([np.zeros((3, 1))]) == pytest.approx([1.0])  # no spread: scale 1
    assert standardize(calm, column_means(calm), spread)[1, 1] == 0.0  # missing: the mean


def test_a_change_after_the_cut_off_to_any_ticker_or_the_market_changes_nothing_before_it():
    cut = 200
    tickers = panel()
    market = random_walk_bars(300, seed=7)
    first = train_model({t: b.take(slice(0, cut)) for t, b in tickers.items()}, ("^M", market.take(slice(0, cut))),
                        SMALL, "pooled")
    changed = {**tickers, "BBB": scaled_after(tickers["BBB"], cut, 1.7)}
    changed_market = scaled_after(market, cut, 0.6)
    second = train_model({t: b.take(slice(0, cut)) for t, b in changed.items()},
                         ("^M", changed_market.take(slice(0, cut))), SMALL, "pooled")
    for key, value in first.network.state_dict().items():
        np.testing.assert_array_equal(value, second.network.state_dict()[key])
    a, b = comparable(first.meta), comparable(second.meta)
    a["market"], b["market"] = None, None  # the market's last date is the only difference
    assert a == b
    # ... and every forecast made from data before the cut-off is the same, from the full histories too
    full, full_changed = Market.from_bars("^M", market), Market.from_bars("^M", changed_market)
    ends = np.arange(150, cut - 1)
    for ticker in tickers:
        a = first.paths([(ticker, first.data(ticker, tickers[ticker], full), ends)], 5)[0]
        b = first.paths([(ticker, first.data(ticker, changed[ticker], full_changed), ends)], 5)[0]
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_the_rows_to_join_a_pool_are_declared_once_and_worded_once():
    """join_rows gives the number (TrainingConfig, training, pipeline, serving and the vintages use it), too_short
    words it; with the settings' default window they are what the CLI says (test_vintages: "needs at least 51")."""
    from forecaster.config import BY_NAME

    window = BY_NAME["train.window"].default
    assert TrainingConfig().min_join_rows == join_rows(window) == 1 + window + MIN_JOIN_WINDOWS == 51
    assert TrainingConfig().min_rows == own_model_rows(window)
    assert too_short("ABC", 40, window) == ("ABC has 40 rows of history; joining the pool with --window 30 needs at "
                                            "least 51 (fetch or import more history)")
    assert too_short("ABC", 1, 10, alone=True, advice="x") == ("ABC has 1 row of history; training with --window 10 "
                                                               "needs at least 91 (x)")


def test_a_ticker_joining_a_pool_needs_the_rows_of_the_pools_window_not_of_window(pooled):
    """add_ticker used to count the rows --window would need while naming the pool's window: a pool of window 10
    refused 35 rows under --window 30 ("needs at least 51"), and asked 23 under --window 2 ("--window 10 needs at
    least 23"). The pool's window decides."""
    joined = add_ticker(pooled, "NEW", random_walk_bars(35, seed=11), None, TrainingConfig(window=30))
    assert "NEW" in joined.tickers
    with pytest.raises(UsageError) as error:
        add_ticker(pooled, "NEW", random_walk_bars(25, seed=11), None, TrainingConfig(window=2))
    assert error.value.message == ("NEW has 25 rows of history; joining the pool with --window 10 needs at least 31 "
                                   "(fetch or import more history)")


def test_the_same_seed_and_data_give_a_bit_identical_model(pooled):
    again = train_model(panel(), ("^M", random_walk_bars(300, seed=7)), SMALL, "pooled")
    for key, value in pooled.network.state_dict().items():
        np.testing.assert_array_equal(value, again.network.state_dict()[key])
    assert comparable(pooled.meta) == comparable(again.meta)


def test_too_little_history_is_refused_with_the_numbers():
    with pytest.raises(UsageError) as error:
        train_model({"ABC": random_walk_bars(50)}, None, SMALL, "per-ticker")
    assert error.value.message == ("ABC has 50 rows of history; training with --window 10 needs at least 91 "
                                   "(fetch or import more history, or use a smaller --window)")
    with pytest.raises(UsageError) as error:
        train_model({"ABC": random_walk_bars(300), "XYZ": random_walk_bars(20)}, None, SMALL, "pooled")
    assert error.value.message == ("XYZ has 20 rows of history; joining the pool with --window 10 needs at least 31 "
                                   "(fetch or import more history, or use a smaller --window)")


def test_multi_day_forecasts_widen_at_any_level_and_drift_no_further_than_the_next_session(pooled):
    model = Model(pooled.network, json.loads(json.dumps(pooled.meta)))
    model.meta["tickers"]["AAA"]["network_share"] = 1.0  # the network's whole mean: the next session moves
    bars = panel()["AAA"]
    moved = model.forecast([("AAA", bars)], None, 5, 0.90)["AAA"]
    assert moved[0]["forecast"] != bars.adj_close[-1]
    assert {r["forecast"] for r in moved} == {moved[0]["forecast"]}  # validated one session ahead: no compounding
    rows = pooled.forecast([("AAA", bars)], None, 5, 0.90)["AAA"]
    assert [r["horizon"] for r in rows] == [1, 2, 3, 4, 5] and {r["level"] for r in rows} == {0.90}
    widths = [r["upper"] - r["lower"] for r in rows]
    assert all(a < b for a, b in zip(widths, widths[1:], strict=False))
    assert all(r["lower"] < r["forecast"] < r["upper"] and r["volatility"] > 0 for r in rows)
    wider = pooled.forecast([("AAA", bars)], None, 5, 0.98)["AAA"]
    narrower = pooled.forecast([("AAA", bars)], None, 5, 0.5)["AAA"]
    for low, mid, high in zip(narrower, rows, wider, strict=True):
        assert high["lower"] < mid["lower"] < low["lower"] < low["upper"] < mid["upper"] < high["upper"]


def test_a_model_with_no_validated_signal_is_exactly_naive(pooled):
    model = Model(pooled.network, json.loads(json.dumps(pooled.meta)))
    model.meta["tickers"]["AAA"]["network_share"] = 0.0
    bars = panel()["AAA"]
    assert all(r["forecast"] == bars.adj_close[-1] for r in model.forecast([("AAA", bars)], None, 3, 0.9)["AAA"])


def test_a_zero_scale_share_gives_exactly_the_baseline_volatility(pooled):
    model = Model(pooled.network, json.loads(json.dumps(pooled.meta)))
    model.meta["tickers"]["AAA"]["scale_share"] = 0.0
    data = model.data("AAA", panel()["AAA"], None)
    _, variance, _ = model.paths([("AAA", data, np.array([200]))], 1)[0]
    assert math.sqrt(variance[0, 0]) == pytest.approx(data.baseline.sigma[200], rel=1e-12)


def test_a_ticker_calibrated_against_the_pool_leaves_the_network_alone(pooled):
    newcomer = random_walk_bars(61, seed=11)  # about three months of sessions
    added = add_ticker(pooled, "NEW", newcomer, None, SMALL)
    assert added.network is pooled.network and sorted(added.meta["tickers"]) == ["AAA", "BBB", "CCC", "NEW"]
    calibration = added.meta["tickers"]["NEW"]
    assert calibration["member"] is False and calibration["training"]["rows"] == 61
    check_meta(as_saved(added.meta), "meta.json", "")
    rows = added.forecast([("NEW", newcomer)], None, 2, 0.9)["NEW"]
    assert all(r["lower"] < r["forecast"] < r["upper"] for r in rows)
    with pytest.raises(UsageError, match=r"^NEW has 20 rows of history; joining the pool with --window 10 needs at "
                                         r"least 31 \(fetch or import more history\)$"):
        add_ticker(pooled, "NEW", random_walk_bars(20), None, SMALL)


def test_saved_model_loads_and_forecasts_identically(pooled, isolated_home):
    store = Store()
    directory = pooled.save(store, POOL)
    assert sorted(p.name for p in directory.iterdir()) == ["meta.json", pooled.meta["weights_file"]]
    loaded = Model.load(store, POOL)
    bars = panel()["BBB"]
    assert loaded.forecast([("BBB", bars)], None, 3, 0.9) == pooled.forecast([("BBB", bars)], None, 3, 0.9)
    retrained = train_model(panel(), None, TrainingConfig(window=10, hidden=8, epochs=2, patience=0), "pooled")
    retrained.save(store, POOL)  # a retrained pool replaces the old weights file
    assert len(list(directory.glob("weights-*.npz"))) == 1


@pytest.fixture
def saved(pooled, isolated_home):
    store = Store()
    directory = pooled.save(store, POOL)
    return store, directory, directory / pooled.meta["weights_file"]


def test_one_reader_of_model_metadata_and_every_caller_keeps_its_policy(saved, pooled):
    """serving.read_meta reads and checks meta.json for every caller: the pool's readers that can do without it
    (pool_members, drop_from_pool, model_kinds, list) see a damaged pool as what Model.load refuses, and the ticker
    sections come out as TickerCalibration records."""
    from forecaster.data.inventory import inventory
    from forecaster.model.calibration import TickerCalibration
    from forecaster.model.serving import drop_from_pool, model_kinds, pool_members, pool_meta

    store, directory, _ = saved
    path = directory / "meta.json"
    assert sorted(pool_meta(store)["tickers"]) == sorted(pool_members(store)) == ["AAA", "BBB", "CCC"]
    section = pooled.meta["tickers"]["BBB"]
    calibration = Model.load(store, POOL).calibration("BBB")
    assert calibration == TickerCalibration.from_json(section)
    assert (calibration.persistence, calibration.scaler_mean, calibration.last_date, calibration.rows) == (
        section["persistence"], section["scaler"]["mean"], *(section["training"][key] for key in ("last_date", "rows")))
    meta = json.loads(path.read_text())
    meta["tickers"]["AAA"]["persistence"] = 2.0  # a value no trained model holds
    damaged = json.dumps(meta)
    path.write_text(damaged)
    with pytest.raises(CorruptFile) as error:
        pool_meta(store)
    assert error.value.message == (f"{path} is a damaged model: tickers.AAA.persistence must be between 0 and 1, got "
                                   "2.0; run 'forecast train' to retrain it")
    assert pool_members(store) == set() and model_kinds(store) == {}  # no stored ticker it may serve
    assert drop_from_pool(store, "BBB") is None and path.read_text() == damaged  # a damaged pool is left alone
    assert inventory(store) == ([], [])
    path.unlink()
    with pytest.raises(ModelMissing, match=r"^no model for the pool; run 'forecast train' to train it$"):
        pool_meta(store)
    assert pool_members(store) == set() and drop_from_pool(store, "BBB") is None


def test_missing_model_says_how_to_make_one(isolated_home):
    with pytest.raises(ModelMissing, match=r"^no model for the pool; run 'forecast train' to train it$"):
        Model.load(Store(), POOL)


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
        Model.load(store, POOL)
    assert error.value.message.endswith("run 'forecast train' to retrain it")
    assert str(directory) in error.value.message


@pytest.mark.parametrize(("version", "message"), [
    (99, r"has model format 99, newer than this forecaster .* reads \(format 5\)"),
    (4, r"is a model from an older forecaster \(format 4\); run 'forecast train' to retrain it"),
    (2, r"is a model from an older forecaster \(format 2\); run 'forecast train' to retrain it"),
])
def test_other_formats_are_refused_with_the_way_out(saved, version, message):
    store, directory, _ = saved
    meta = json.loads((directory / "meta.json").read_text())
    meta["format_version"] = version
    (directory / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CorruptFile, match=message):
        Model.load(store, POOL)


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda m: m["tickers"]["AAA"]["quantiles"]["1"]["lower"].__setitem__(3, float("nan")),
     "tickers.AAA.quantiles[\"1\"].lower[3] must be a finite number, got nan"),
    (lambda m: m["tickers"]["AAA"]["quantiles"]["5"].update(lower=m["tickers"]["AAA"]["quantiles"]["5"]["upper"]),
     "tickers.AAA.quantiles[\"5\"] are out of order"),
    (lambda m: m["tickers"]["AAA"].update(network_share=40.0), "tickers.AAA.network_share must be between 0 and 1, "
                                                               "got 40.0"),
    (lambda m: m["tickers"]["AAA"]["scaler"]["scale"].__setitem__(0, 0.0), "tickers.AAA.scaler.scale[0] must be "
                                                                           "greater than 0, got 0.0"),
    (lambda m: m["pool"].update(nu=2.0), "pool.nu must be greater than 2, got 2.0"),
    (lambda m: m["tickers"]["AAA"]["training"].update(last_date="yesterday"),
     "tickers.AAA.training.last_date must be a date (YYYY-MM-DD), got 'yesterday'"),
    (lambda m: m["tickers"]["AAA"].update(persistence=-0.5), "tickers.AAA.persistence must be between 0 and 1, got "
                                                             "-0.5"),
    (lambda m: m.update(kind="psychic"), "kind must be one of pooled, per-ticker, got 'psychic'"),
    (lambda m: m.update(tickers={}), "tickers must name the tickers the model serves, got {}"),
    (lambda m: m["tickers"]["AAA"].pop("offset"), "tickers.AAA.offset is missing"),
    (lambda m: m["tickers"]["AAA"].pop("shock_scale"), "tickers.AAA.shock_scale is missing"),
    (lambda m: m["tickers"]["AAA"].update(shock_scale=-1.0), "tickers.AAA.shock_scale must be between 0 and 60, got "
                                                             "-1.0"),
    (lambda m: m["pool"]["har"].pop("shock_scale"), "pool.har.shock_scale is missing"),
    (lambda m: m.update(weights_file="../../etc/passwd"), "weights_file must be a weights file name"),
])
def test_every_value_read_from_a_model_is_checked(saved, edit, problem):
    store, directory, _ = saved
    meta = json.loads((directory / "meta.json").read_text())
    edit(meta)
    (directory / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CorruptFile) as error:
        Model.load(store, POOL)
    assert error.value.message.startswith(f"{directory / 'meta.json'} is a damaged model: {problem}")
    assert error.value.message.endswith("; run 'forecast train' to retrain it")


def test_weights_that_do_not_match_metadata_are_refused(saved):
    store, directory, _ = saved
    meta = json.loads((directory / "meta.json").read_text())
    meta["hyperparameters"]["hidden"] = 16
    (directory / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CorruptFile, match=r"does not match .*meta.json: .*has shape \(32, 9\), expected \(64, 9\)"):
        Model.load(store, POOL)


def test_garbage_weights_with_a_matching_checksum_are_refused_without_unpickling(saved):
    store, directory, weights = saved
    payload = pickle.dumps({"evil": 1})
    weights.write_bytes(payload)
    meta = json.loads((directory / "meta.json").read_text())
    meta["weights_sha256"] = hashlib.sha256(payload).hexdigest()
    (directory / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CorruptFile, match="is not a readable weights file"):
        Model.load(store, POOL)
