"""What forecaster refuses to trust (model.guards), through the real entry point: histories too still to forecast,
a model whose band would be degenerate, damaged model metadata, a forecast that is not a number — and a batch in
which one ticker's failure, whatever it is, never stops the others."""

import datetime
import json
import math
import os
import re
import subprocess

import numpy as np
import pytest

from conftest import FAST_TRAINING, random_walk_bars, snapshot
from conftest import import_bars as store
from fault_helpers import forecast_command
from forecaster.data.bars import Bars, format_csv


def still_bars(n=300, still=45, seed=1) -> Bars:
    """A random walk whose last `still` days do not trade: Open = High = Low = Close, no volume."""
    bars = random_walk_bars(n, seed=seed)
    columns = [c.copy() for c in (bars.open, bars.high, bars.low, bars.close)]
    volume = bars.volume.copy()
    for column in columns:
        column[n - still:] = bars.close[n - still - 1]
    volume[n - still:] = 0
    return Bars(bars.dates, *columns, columns[3].copy(), volume)


def mostly_still_bars(n=300, seed=2) -> Bars:
    """A history that moves on only one day in four, except in its last 60 days."""
    bars = random_walk_bars(n, seed=seed)
    close = bars.close.copy()
    for i in range(1, n - 60):
        if i % 4:
            close[i] = close[i - 1]
    return Bars(bars.dates, close, close * 1.001, close * 0.999, close, close.copy(), bars.volume)


def constant_bars(n=300, price=25.21) -> Bars:
    flat = np.full(n, price)
    return Bars(random_walk_bars(n).dates, flat, flat, flat, flat, flat, np.zeros(n))


def still_fix(ticker: str) -> str:
    """What guards.check_trainable advises for a history no model can be made of: training again never succeeds."""
    return (f"fetch or import other data for {ticker} (with --replace), or take it out with 'forecast remove {ticker} "
            "--yes'")


# ---------------------------------------------------------------------------------------- degenerate histories
@pytest.mark.parametrize("bars, reason", [
    (constant_bars(), "every close is the same (25.21): there is no movement to learn and no risk to forecast"),
    (still_bars(), "prices do not move on 45 of the last 60 days (a halted or thinly traded symbol, or a stale "
                   "feed?): a model of them would forecast no risk at all"),
    (mostly_still_bars(), "prices do not move on 180 of its 299 days (a halted or thinly traded symbol, or a stale "
                          "feed?): a model of them would forecast no risk at all"),
])
def test_a_history_too_still_to_forecast_is_refused_before_any_work(cli, isolated_home, tmp_path, bars, reason):
    store(cli, tmp_path, "ABC", bars)
    before = snapshot(isolated_home)
    result = cli("train", "ABC", *FAST_TRAINING)
    assert (result.code, result.out, result.err) == (2, "", f"Error: ABC: {reason}; {still_fix('ABC')}\n")
    assert snapshot(isolated_home) == before  # no model, degenerate or not


def test_evaluate_refuses_a_still_history_too(cli, isolated_home, tmp_path):
    store(cli, tmp_path, "ABC", constant_bars())
    result = cli("evaluate", "ABC", "--test-start", "2020-11-02", *FAST_TRAINING)
    assert (result.code, result.err) == (2, "Error: ABC: every close is the same (25.21): there is no movement to "
                                            f"learn and no risk to forecast; {still_fix('ABC')}\n")


def test_a_model_with_a_zero_width_band_is_never_saved(cli, isolated_home, tmp_path, monkeypatch):
    store(cli, tmp_path, "ABC", random_walk_bars(300))
    assert cli("train", "ABC", *FAST_TRAINING, "-q").code == 0
    before = snapshot(isolated_home)
    flat = {"lower": [0.0] * 10, "upper": [0.0] * 10}  # what a still span would give
    monkeypatch.setattr("forecaster.model.calibration.ticker_quantiles", lambda *args: flat)
    result = cli("train", "ABC", *FAST_TRAINING, "--seed", "1")
    assert result.code == 2
    assert re.fullmatch(r"Error: ABC: the trained model's 90% interval 1 session ahead is degenerate \(([0-9.]+) "
                        r"\[\1, \1\]\): the data gives it no risk to forecast; no model was saved\n", result.err)
    assert snapshot(isolated_home) == before  # the previous model is kept as it was


# --------------------------------------------------------------------------------------- one ticker, one failure
def test_in_a_serial_batch_a_bug_in_one_ticker_is_that_tickers_failure(cli, isolated_home, tmp_path, monkeypatch):
    for seed, ticker in enumerate(("AAA", "BUG", "CCC")):
        store(cli, tmp_path, ticker, random_walk_bars(200, seed=seed))
    store(cli, tmp_path, "FLAT", constant_bars(200))
    import forecaster.model.training

    real_train = forecaster.model.training.train_model

    def buggy(bars_by_ticker, *args, **kwargs):
        if "BUG" in bars_by_ticker:
            raise ZeroDivisionError("float division by zero")
        return real_train(bars_by_ticker, *args, **kwargs)

    monkeypatch.setattr(forecaster.model.training, "train_model", buggy)
    result = cli("train", *FAST_TRAINING, "--jobs", "1", "--model", "per-ticker")
    assert result.code == 4
    errors = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: BUG: internal error: ZeroDivisionError: float division by zero (rerun with --debug for details)",
        "Error: FLAT: every close is the same (25.21): there is no movement to learn and no risk to forecast; "
        + still_fix("FLAT"),
        "Error: 2 of 4 tickers failed: BUG, FLAT",
    ]
    assert sorted(p.name for p in (isolated_home / "models").iterdir()) == ["AAA", "CCC"]
    assert [line.split()[1] for line in result.out.splitlines() if line.startswith("│")] == ["AAA", "CCC"]
    debug = cli("train", "BUG", "AAA", *FAST_TRAINING, "--jobs", "1", "--debug", "--model", "per-ticker")
    assert debug.code == 4
    assert "Traceback (most recent call last)" in debug.err and 'raise ZeroDivisionError("float division by zero")' \
        in debug.err
    assert "Error: BUG: internal error: ZeroDivisionError: float division by zero\n" in debug.err


@pytest.mark.slow
def test_in_a_parallel_batch_a_bug_or_a_dying_worker_is_that_tickers_failure(cli, isolated_home, tmp_path):
    """Real worker processes: a bug (BUG) and a job that kills its worker, as the OOM killer would (OOM), are planted
    in every process by a sitecustomize on PYTHONPATH."""
    plant = tmp_path / "plant"
    plant.mkdir()
    (plant / "sitecustomize.py").write_text(
        "import os, signal\n"
        "import forecaster.model.training as t\n"
        "real = t.train_model\n"
        "def train_model(bars_by_ticker, *args, **kwargs):\n"
        "    if 'BUG' in bars_by_ticker:\n"
        "        raise ZeroDivisionError('float division by zero')\n"
        "    if 'OOM' in bars_by_ticker and os.getpid() != int(os.environ['RUN_PID']):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(bars_by_ticker, *args, **kwargs)\n"
        "t.train_model = train_model\n"
        "os.environ.setdefault('RUN_PID', str(os.getpid()))\n")
    names = ("AAA", "BUG", "CCC", "FLAT", "OOM")
    for seed, ticker in enumerate(names):
        (tmp_path / f"{ticker}.csv").write_text(format_csv(constant_bars(200) if ticker == "FLAT" else
                                                           random_walk_bars(200, seed=seed)))
    assert cli("import", *(tmp_path / f"{t}.csv" for t in names), "-q").code == 0
    env = {**os.environ, "FORECAST_HOME": str(isolated_home), "PYTHONPATH": str(plant)}
    result = subprocess.run(forecast_command("train", *FAST_TRAINING, "--jobs", "2", "--model", "per-ticker"), env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 4, result.stderr
    errors = sorted(line for line in result.stderr.splitlines() if line.startswith("Error:"))
    assert errors == [
        "Error: 3 of 5 tickers failed: BUG, FLAT, OOM",
        "Error: BUG: internal error: ZeroDivisionError: float division by zero (rerun with --debug for details)",
        "Error: FLAT: every close is the same (25.21): there is no movement to learn and no risk to forecast; "
        + still_fix("FLAT"),
        "Error: OOM: the worker process running its job died (killed by the system: out of memory?); the other "
        "tickers went on",
    ]
    assert result.stderr.splitlines()[-1] == "Error: 3 of 5 tickers failed: BUG, FLAT, OOM"
    assert sorted(p.name for p in (isolated_home / "models").iterdir()) == ["AAA", "CCC"]


# ----------------------------------------------------------------------------------------------- damaged models
@pytest.fixture
def trained_home(home_with_abc):
    return home_with_abc


def edit_meta(home, change):
    path = home / "models" / "_pool" / "meta.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))  # NaN and Infinity as Python's json writes them
    return path


@pytest.mark.parametrize("change, problem", [
    (lambda m: m["tickers"]["ABC"]["quantiles"]["1"]["lower"].__setitem__(5, math.nan),
     'tickers.ABC.quantiles["1"].lower[5] must be a finite number, got nan'),
    (lambda m: m["tickers"]["ABC"]["quantiles"]["5"].update(lower=[1.7] * 10),
     'tickers.ABC.quantiles["5"] are out of order (lower quantiles must rise, upper ones fall, all lower below '
     'upper)'),
    (lambda m: m["tickers"]["ABC"]["quantiles"]["20"]["upper"].__setitem__(0, math.inf),
     'tickers.ABC.quantiles["20"].upper[0] must be a finite number, got inf'),
    (lambda m: m["tickers"]["ABC"].update(network_share=1e6),
     "tickers.ABC.network_share must be between 0 and 1, got 1000000.0"),
    (lambda m: m["tickers"]["ABC"].update(scale_share=-0.5), "tickers.ABC.scale_share must be between 0 and 1.5, got "
                                                             "-0.5"),
    (lambda m: m["tickers"]["ABC"]["scaler"]["scale"].__setitem__(1, 0),
     "tickers.ABC.scaler.scale[1] must be greater than 0, got 0"),
    (lambda m: m["tickers"]["ABC"]["scaler"].update(mean=[0.0]), "tickers.ABC.scaler.mean must be a list of 7 "
                                                                 "numbers, got [0.0]"),
    (lambda m: m["pool"].update(nu=2.0), "pool.nu must be greater than 2, got 2.0"),
    (lambda m: m["pool"]["input_scale"].__setitem__(0, -1.0), "pool.input_scale[0] must be greater than 0, got -1.0"),
    (lambda m: m["pool"].pop("input_scale"), "pool.input_scale is missing"),
    (lambda m: m["tickers"]["ABC"].update(persistence=1.5), "tickers.ABC.persistence must be between 0 and 1, got 1.5"),
    (lambda m: m["pool"]["har"].update(beta=[0.1, -3.0, 0.5]), "pool.har.beta[1] must be between 0 and 10, got -3.0"),
    (lambda m: m["tickers"]["ABC"]["training"].update(last_date="2021-02-30"),
     "tickers.ABC.training.last_date must be a date (YYYY-MM-DD), got '2021-02-30'"),
    (lambda m: m.update(created_at="yesterday"), "created_at must be a date and time (ISO 8601), got 'yesterday'"),
    (lambda m: m["hyperparameters"].update(window=0), "hyperparameters.window must be between 2 and 1000, got 0"),
    (lambda m: m.update(features="tea leaves"), "features must be one of range, returns, got 'tea leaves'"),
    (lambda m: m.update(weights_file="../../../etc/passwd"),
     "weights_file must be a weights file name (weights-<16 hex digits>.npz), got '../../../etc/passwd'"),
    (lambda m: m["training"].pop("last_date"), "training.last_date is missing"),
    (lambda m: m.update(inputs=m["inputs"][::-1]),
     "inputs must be ['return', 'range', 'gap', 'intraday', 'volume_change', 'level', 'correction'] (in this order), "
     "got ['correction', 'level', 'volume_change', 'intraday', 'gap', 'range', 'return']"),
    (lambda m: m.update(kind="per-ticker"), "kind must be pooled in the pool's folder, got 'per-ticker'"),
    (lambda m: m.update(created_at="2099-01-01T00:00:00+00:00"),
     f"created_at is after today ({datetime.datetime.now(datetime.timezone.utc).date()}, UTC), got "
     "'2099-01-01T00:00:00+00:00'"),
    (lambda m: m["tickers"]["ABC"]["training"].update(last_date="2099-01-01"),
     f"tickers.ABC.training.last_date is after today ({datetime.datetime.now(datetime.timezone.utc).date()}, UTC), "
     "got '2099-01-01'"),
])
def test_a_damaged_model_value_is_exit_3_and_nothing_is_printed_or_logged(cli, trained_home, change, problem):
    path = edit_meta(trained_home, change)
    before = snapshot(trained_home)
    for args, out in ((["predict", "ABC"], ""), (["predict", "ABC", "-f", "json"], "[]\n")):
        result = cli(*args)
        assert (result.code, result.out) == (3, out)
        named = "" if "ABC" in problem else "ABC: "  # one line that names the ticker
        assert result.err == f"Error: {named}{path} is a damaged model: {problem}; run 'forecast train' to retrain it\n"
    assert snapshot(trained_home) == before  # the prediction log has no new row
    assert json.loads(cli("list", "-f", "json").out)[0]["model"] == "unreadable"


def test_a_window_other_than_the_networks_is_a_damaged_model(cli, trained_home):
    path = edit_meta(trained_home, lambda m: m["hyperparameters"].update(window=12))
    result = cli("predict", "ABC")
    assert (result.code, result.out, result.err) == (
        3, "", f"Error: ABC: {path} is a damaged model: hyperparameters.window must be 10, the window its network was "
               "trained with, got 12; run 'forecast train' to retrain it\n")


def test_a_per_ticker_model_swapped_to_pooled_or_serving_many_is_a_damaged_model(cli, trained_home):
    assert cli("train", "ABC", "--model", "per-ticker", "--window", "10", "--hidden", "8", "--epochs", "1", "-q",
               ).code == 0
    path = trained_home / "models" / "ABC" / "meta.json"
    meta = json.loads(path.read_text())
    for change, problem in (({"kind": "pooled"}, "kind must be per-ticker in a ticker's folder, got 'pooled'"),
                            ({"tickers": {**meta["tickers"], "XYZ": meta["tickers"]["ABC"]}},
                             "kind is 'per-ticker', but the model serves 2 tickers or was not trained on its ticker")):
        path.write_text(json.dumps({**meta, **change}))
        result = cli("predict", "ABC")
        assert (result.code, result.out, result.err) == (
            3, "", f"Error: {path} is a damaged model: {problem}; run 'forecast train ABC' to retrain it\n")


def test_weights_that_are_not_finite_numbers_are_a_damaged_model(cli, trained_home):
    import hashlib
    import io

    meta_path = trained_home / "models" / "_pool" / "meta.json"
    meta = json.loads(meta_path.read_text())
    weights = meta_path.parent / meta["weights_file"]
    with np.load(weights) as archive:
        state = {key: archive[key] for key in archive.files}
    state["head.bias"] = np.full_like(state["head.bias"], np.nan)
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    weights.write_bytes(buffer.getvalue())  # with its checksum in meta.json, as a careless hand would write it
    meta["weights_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    meta_path.write_text(json.dumps(meta))
    result = cli("predict", "ABC")
    assert (result.code, result.err) == (3, f"Error: ABC: {weights} is a damaged model: head.bias holds values that "
                                            "are not finite numbers; run 'forecast train' to retrain it\n")


def test_plot_refuses_a_damaged_model_too(cli, trained_home, tmp_path):
    path = edit_meta(trained_home, lambda m: m["tickers"]["ABC"].update(network_share=7))
    result = cli("plot", "ABC", "--out", tmp_path / "abc.png")
    assert (result.code, result.err) == (3, f"Error: {path} is a damaged model: tickers.ABC.network_share must be "
                                            "between 0 and 1, got 7; run 'forecast train' to retrain it\n")
    assert not (tmp_path / "abc.png").exists()


@pytest.mark.parametrize("broken, shown", [
    ({"forecast": math.nan, "lower": math.nan, "upper": math.nan}, "forecast nan, lower nan, upper nan"),
    ({"forecast": 10.0, "lower": 11.0, "upper": 9.0}, "forecast 10.0, lower 11.0, upper 9.0"),
    ({"forecast": math.inf, "lower": 9.0, "upper": math.inf}, "forecast inf, lower 9.0, upper inf"),
])
def test_no_command_prints_or_logs_a_forecast_that_is_not_a_number(cli, trained_home, monkeypatch, broken, shown,
                                                                    tmp_path):
    """The last guard, whatever produced the numbers (here a model that passes every check of its file)."""
    monkeypatch.setattr("forecaster.model.serving.Model.forecast", lambda self, items, market, days, level: {
        ticker: [{"horizon": h, **broken, "volatility": 20.0, "level": level} for h in range(1, days + 1)]
        for ticker, _ in items})
    before = snapshot(trained_home)
    result = cli("predict", "ABC", "-f", "json")
    assert (result.code, result.out) == (3, "[]\n")
    assert result.err.startswith("Error: ABC: the model gave no usable forecast for 2020-10-08 (")
    assert result.err.endswith(f"{shown}); run 'forecast train ABC' to retrain it\n")
    plotted = cli("plot", "ABC", "--out", tmp_path / "abc.png")
    assert plotted.code == 3 and not (tmp_path / "abc.png").exists()
    assert snapshot(trained_home) == before


def test_json_output_is_always_valid_json():
    from forecaster.views.output import to_json

    text = to_json([{"a": math.nan, "b": [math.inf, -math.inf], "c": 0.1 + 0.2}])
    assert json.loads(text) == [{"a": None, "b": [None, None], "c": 0.3}]
    assert "NaN" not in text and "Infinity" not in text

