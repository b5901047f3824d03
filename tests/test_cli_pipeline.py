"""`forecast train`, `predict`, `evaluate` and `demo` through the entry point: exact codes, messages and files."""

import csv
import datetime
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import random_walk_bars, snapshot
from forecaster.bars import format_csv

FAST = ["--window", "10", "--hidden", "8", "--epochs", "3", "--patience", "2"]


@pytest.fixture
def stored(cli, tmp_path):
    """Two synthetic tickers in the home: ABC (300 rows) and XYZ (280 rows)."""
    for name, n, seed in (("ABC", 300, 0), ("XYZ", 280, 1)):
        path = tmp_path / f"{name}.csv"
        path.write_text(format_csv(random_walk_bars(n, seed=seed)))
        assert cli("fetch", name, "--csv", path).code == 0
    return tmp_path


@pytest.fixture
def trained(cli, stored):
    result = cli("train", *FAST)
    assert result.code == 0, result.err
    return result


def test_train_every_stored_ticker_saves_models_and_summarises(trained, isolated_home):
    assert sorted(p.name for p in (isolated_home / "models").iterdir()) == ["ABC", "XYZ"]
    assert "val RMSE model" in trained.out and "val RMSE naive" in trained.out
    assert "ABC: trained 3 epochs on 300 rows to 2021-02-24" in trained.err
    meta = json.loads((isolated_home / "models" / "ABC" / "meta.json").read_text())
    assert meta["hyperparameters"]["window"] == 10


def test_list_shows_models(cli, trained):
    rows = {r["ticker"]: r for r in json.loads(cli("list", "-f", "json").out)}
    assert rows["ABC"]["model"] == "yes" and rows["ABC"]["model_until"] == "2021-02-24"


def test_predict_json_has_exactly_the_documented_keys_and_real_sessions(cli, trained, isolated_home):
    result = cli("predict", "ABC", "--days", "3", "--format", "json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert [set(r) for r in rows] == [{"ticker", "as_of", "date", "horizon", "forecast", "lower", "upper"}] * 3
    assert [(r["as_of"], r["date"], r["horizon"]) for r in rows] == [
        ("2021-02-24", "2021-02-25", 1), ("2021-02-24", "2021-02-26", 2), ("2021-02-24", "2021-03-01", 3)]
    assert all(r["lower"] < r["forecast"] < r["upper"] for r in rows)
    age = (datetime.date.today() - datetime.date(2021, 2, 24)).days
    assert result.err == f"Warning: ABC: data ends 2021-02-24, {age} days ago; run 'forecast fetch ABC' to update\n"


def test_predict_logs_every_forecast_and_replaces_repeats(cli, trained, isolated_home):
    cli("predict", "--days", "2", "-q")
    cli("predict", "ABC", "--days", "3", "-q")
    with open(isolated_home / "data" / "predictions.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["ticker"], r["date"], r["horizon"]) for r in rows] == [
        ("ABC", "2021-02-25", "1"), ("ABC", "2021-02-26", "2"), ("ABC", "2021-03-01", "3"),
        ("XYZ", "2021-01-28", "1"), ("XYZ", "2021-01-29", "2")]
    assert {r["level"] for r in rows} == {"0.9"}  # the level of the interval [lower, upper]


def test_predict_csv_format(cli, trained):
    result = cli("predict", "XYZ", "--format", "csv", "-q")
    lines = result.out.splitlines()
    assert lines[0] == "ticker,as_of,date,horizon,forecast,lower,upper"
    assert lines[1].startswith("XYZ,2021-01-27,2021-01-28,1,")


def test_predict_warns_when_the_model_is_older_than_the_data(cli, stored, tmp_path):
    assert cli("train", "ABC", *FAST, "--until", "2021-01-29").code == 0
    result = cli("predict", "ABC")
    assert result.code == 0
    assert ("Warning: ABC: model trained on data to 2021-01-29, 18 newer rows are stored; "
            "run 'forecast train ABC' to retrain\n") in result.err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["predict", "--days", "0"], 2, "--days must be between 1 and 1000, got 0"),
        (["predict", "--days", "-3"], 2, "--days must be between 1 and 1000, got -3"),
        (["predict", "--days", "100000"], 2, "--days must be between 1 and 1000, got 100000"),
        (["predict", "NOPE"], 3, "no model for NOPE; run 'forecast train NOPE' first"),
        (["train", "NOPE", *FAST], 3, "no data for NOPE in {home}/data; run 'forecast fetch NOPE' first"),
        (["train", "ABC", "--window", "1"], 2, "--window must be between 2 and 1000, got 1"),
        (["train", "ABC", "--window", "250"], 2, "ABC has 300 rows of history; training with --window 250 needs at "
                                                 "least 331 (fetch more history or use a smaller --window)"),
        (["train", "ABC", "--features", "news"], 2,
         "--features must be one of auto, returns, range, ohlcv, got 'news'"),
        (["train", "ABC", "--until", "1999-01-01"], 2, "--until 1999-01-01 is before the first stored date of ABC "
                                                       "(2020-01-02)"),
        (["evaluate", "ABC", "--test-start", "2030-01-01"], 2,
         "--test-start 2030-01-01 is after the last stored date of ABC (2021-02-24)"),
        (["evaluate", "ABC", "--test-start", "2019-01-01"], 2,
         "--test-start 2019-01-01 is not after the first stored date of ABC (2020-01-02): nothing to train on"),
        (["evaluate", "ABC", "--test-start", "2020-02-03"], 2,
         "ABC has 22 rows before --test-start 2020-02-03; training with --window 30 needs at least 111 (choose a "
         "later --test-start or a smaller --window)"),
        (["evaluate", "ABC", "--test-start", "tomorrow"], 2, "--test-start 'tomorrow' is not a date (expected "
                                                             "YYYY-MM-DD)"),
    ],
)
def test_bad_requests_fail_cleanly_and_change_nothing(cli, stored, isolated_home, args, code, message):
    before = snapshot(isolated_home)
    result = cli(*args)
    assert (result.code, result.out, result.err) == (code, "", f"Error: {message.format(home=isolated_home)}\n")
    assert snapshot(isolated_home) == before


def test_predict_or_train_with_nothing_stored_says_what_to_run_first(cli, stored, tmp_path):
    result = cli("predict")
    assert (result.code, result.out, result.err) == (3, "", "Error: no models in the store yet: run 'forecast train' "
                                                            "first\n")
    result = cli("train", "--home", tmp_path / "empty")
    assert (result.code, result.out, result.err) == (3, "", "Error: no price data in the store yet: run 'forecast "
                                                            "fetch TICKER' first\n")


def test_one_ticker_failing_in_train_gives_partial_exit_and_keeps_the_rest(cli, stored, isolated_home):
    result = cli("train", "ABC", "NOPE", *FAST)
    assert result.code == 4
    assert (isolated_home / "models" / "ABC" / "meta.json").is_file()
    assert result.err.splitlines()[-1] == "Error: 1 of 2 tickers failed: NOPE"


METHODS = ("model", "naive", "linear", "garch", "gjr")


def test_evaluate_reports_every_method_on_the_same_days(cli, stored, tmp_path):
    out = tmp_path / "walk.csv"
    result = cli("evaluate", "ABC", "--test-start", "2020-11-02", *FAST, "--format", "json", "--predictions", out)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert set(report) == {"ticker", "test_start", "horizon", "n", *METHODS}
    assert (report["ticker"], report["test_start"], report["horizon"], report["n"]) == ("ABC", "2020-11-02", 1, 83)
    for method in METHODS:
        assert set(report[method]) == {"rmse", "mae", "mape", "directional_accuracy", "coverage", "width",
                                       "interval_score"}
        assert 0 <= report[method]["coverage"] <= 1
        assert 0 < report[method]["width"] < report[method]["interval_score"] or report[method]["coverage"] == 1
    assert report["naive"]["directional_accuracy"] is None
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["date", "actual", "model", "lower", "upper", "naive", "linear", "origin_close",
                             "naive_lower", "naive_upper", "linear_lower", "linear_upper", "garch", "garch_lower",
                             "garch_upper", "gjr", "gjr_lower", "gjr_upper"]
    assert len(rows) == 83 and rows[0]["date"] == "2020-11-02"
    bars = random_walk_bars(300)
    assert float(rows[0]["naive"]) == bars.adj_close[bars.dates < np.datetime64("2020-11-02")][-1]


def test_walk_forward_forecasts_never_see_their_own_day(stored):
    from forecaster.bars import Bars
    from forecaster.evaluate import walk_forward
    from forecaster.model import TrainingConfig

    config = TrainingConfig(window=10, hidden=8, epochs=3, patience=2)
    bars = random_walk_bars(300)
    base = walk_forward(bars, "ABC", "2020-11-02", config)
    later = np.arange(len(bars)) >= 260  # every price from day 260 on
    scaled = [np.where(later, column * 1.5, column) for column in (bars.open, bars.high, bars.low, bars.close,
                                                                  bars.adj_close)]
    changed = walk_forward(Bars(bars.dates, *scaled, bars.volume), "ABC", "2020-11-02", config)
    first_changed = int(np.searchsorted(base.dates, bars.dates[260]))
    for method in METHODS:
        # the forecast for day 260 itself uses data up to day 259 only
        assert base.forecasts[method][: first_changed + 1].tolist() == \
            changed.forecasts[method][: first_changed + 1].tolist()
        for bound in (0, 1):  # and so do the intervals (volatility, GARCH filtering)
            assert base.intervals[method][bound][: first_changed + 1].tolist() == \
                changed.intervals[method][bound][: first_changed + 1].tolist()
        assert base.forecasts[method][first_changed + 1] != changed.forecasts[method][first_changed + 1]


def test_evaluate_table(cli, stored):
    result = cli("evaluate", "ABC", "--test-start", "2020-11-02", *FAST)
    assert result.code == 0
    assert "ABC: 83 trading days from 2020-11-02" in result.out
    for word in ("model", "naive", "linear", "vs naive", "90% coverage"):
        assert word in result.out


def test_demo_runs_the_whole_pipeline_offline(cli, tmp_path):
    result = cli("demo", "--home", tmp_path / "demo", "--epochs", "2")
    assert result.code == 0, result.err
    for step in ("1. Import the bundled sample", "2. Train an LSTM per ticker", "3. Walk-forward test of MSFT",
                 "4. Forecast the next 5 sessions"):
        assert step in result.out  # a report on stdout: `forecast demo > demo.txt` keeps it
    assert "share of the network's forecast kept: " in result.out and "-0.00" not in result.out
    assert f"Forecasts were logged in {tmp_path / 'demo' / 'data' / 'predictions.csv'}." in result.out
    assert (tmp_path / "demo" / "models" / "MSFT" / "meta.json").is_file()
    with open(tmp_path / "demo" / "data" / "predictions.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 15


def test_predict_imports_neither_sklearn_nor_yfinance_nor_pandas_nor_arch(cli, trained, isolated_home):
    heavy = ('sklearn', 'yfinance', 'pandas', 'torch', 'arch', 'scipy', 'joblib', 'distributed', 'matplotlib')
    probe = ("import sys; from forecaster.cli import main; code = main(['predict', 'ABC', '-q']); "
             f"print(code, sorted(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stderr
