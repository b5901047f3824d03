"""`forecast train`, `predict`, `evaluate` and `demo` through the entry point: exact codes, messages and files."""

import csv
import datetime
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import fast_training, random_walk_bars, snapshot
from forecaster.data.bars import format_csv

FAST = fast_training(epochs=3, patience=2)


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


def test_train_every_stored_ticker_trains_one_pool_and_summarises(trained, isolated_home):
    assert sorted(p.name for p in (isolated_home / "models").iterdir()) == ["_pool"]
    for column in ("model", "network share", "scale share", "persistence"):
        assert column in trained.out
    assert "market" not in trained.err  # none by default
    meta = json.loads((isolated_home / "models" / "_pool" / "meta.json").read_text())
    assert meta["hyperparameters"]["window"] == 10 and sorted(meta["tickers"]) == ["ABC", "XYZ"]


def test_list_shows_which_model_serves_each_ticker(cli, trained):
    rows = {r["ticker"]: r for r in json.loads(cli("list", "-f", "json").out)}
    assert rows["ABC"]["model"] == "pooled" and rows["ABC"]["model_until"] == "2021-02-24"


def test_list_shows_when_a_ticker_that_joined_the_pool_later_was_calibrated(cli, trained, tmp_path, isolated_home):
    path = tmp_path / "NEW.csv"
    path.write_text(format_csv(random_walk_bars(260, seed=5)))
    assert cli("fetch", "NEW", "--csv", path, "-q").code == 0
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    assert cli("train", "NEW", "-q").code == 0
    result = cli("list", "-f", "json")
    assert result.code == 0, result.err
    rows = {r["ticker"]: r for r in json.loads(result.out)}
    pool = json.loads((isolated_home / "models" / "_pool" / "meta.json").read_text())
    assert rows["ABC"]["trained_at"] == pool["created_at"] <= before.isoformat()
    assert rows["NEW"]["model"] == "pooled" and rows["NEW"]["trained_at"] >= before.isoformat()
    assert rows["NEW"]["trained_at"] == pool["tickers"]["NEW"]["training"]["calibrated_at"]


def test_predict_json_has_exactly_the_documented_keys_and_real_sessions(cli, trained, stored):
    result = cli("predict", "ABC", "--days", "3", "--format", "json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert [set(r) for r in rows] == [{"ticker", "as_of", "date", "horizon", "forecast", "lower", "upper", "level",
                                       "volatility", "model"}] * 3
    assert {(r["level"], r["model"]) for r in rows} == {(0.9, "pooled")}
    assert all(0 < r["volatility"] < 200 for r in rows)
    assert [(r["as_of"], r["date"], r["horizon"]) for r in rows] == [
        ("2021-02-24", "2021-02-25", 1), ("2021-02-24", "2021-02-26", 2), ("2021-02-24", "2021-03-01", 3)]
    assert all(r["lower"] < r["forecast"] < r["upper"] for r in rows)
    age = (datetime.date.today() - datetime.date(2021, 2, 24)).days
    assert result.err == (f"Warning: ABC: data ends 2021-02-24, {age} days ago; re-import it with 'forecast fetch ABC "
                          f"--csv {stored / 'ABC.csv'}' (or 'forecast import FILE...')\n")  # the path it came from


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
    assert lines[0] == "ticker,as_of,date,horizon,forecast,lower,upper,level,volatility,model"
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
        (["predict", "--days", "0"], 2,
         "--days must be between 1 and 60 (the longest horizon whose intervals are measured), got 0"),
        (["predict", "--days", "-3"], 2,
         "--days must be between 1 and 60 (the longest horizon whose intervals are measured), got -3"),
        (["predict", "--days", "100000"], 2,
         "--days must be between 1 and 60 (the longest horizon whose intervals are measured), got 100000"),
        (["predict", "NOPE"], 3, "no model and no price data for NOPE in {home}: run 'forecast fetch NOPE' (or "
                                 "import its file), then 'forecast train NOPE'"),
        (["predict", "ABC"], 3, "no model for ABC; run 'forecast train ABC' first"),
        (["train", "NOPE", *FAST], 3, "no data for NOPE in {home}/data; run 'forecast fetch NOPE' first"),
        (["train", "ABC", "--window", "1"], 2, "--window must be between 2 and 1000, got 1"),
        (["train", "ABC", "--model", "pooled", "--window", "250"], 2,
         "ABC has 300 rows of history; training with --window 250 needs at least 331 (fetch or import more history, "
         "or use a smaller --window)"),
        (["train", "ABC", "--features", "news"], 2,
         "--features must be one of auto, returns, range, got 'news'"),
        (["train", "ABC", "--until", "1999-01-01"], 2, "--until 1999-01-01 is before the first stored date of ABC "
                                                       "(2020-01-02)"),
        (["evaluate", "ABC", "--test-start", "2030-01-01"], 2,
         "--test-start 2030-01-01 is after the last stored date of ABC (2021-02-24)"),
        (["evaluate", "ABC", "--test-start", "2019-01-01"], 2,
         "--test-start 2019-01-01 is not after the first stored date of ABC (2020-01-02): nothing to train on"),
        (["evaluate", "ABC", "--model", "pooled", "--test-start", "2020-02-03"], 2,
         "ABC has 22 rows before --test-start 2020-02-03; training with --window 30 needs at least 111 (choose a "
         "later --test-start or a smaller --window)"),
        (["evaluate", "ABC", "--test-start", "tomorrow"], 2, "--test-start 'tomorrow' is not a date (expected "
                                                             "YYYY-MM-DD)"),
    ],
)
def test_bad_requests_fail_cleanly_and_change_nothing(cli, stored, isolated_home, no_vintages, args, code, message):
    before = snapshot(isolated_home)
    result = cli(*args)
    assert (result.code, result.out, result.err) == (code, "", f"Error: {message.format(home=isolated_home)}\n")
    assert snapshot(isolated_home) == before


def test_predict_or_train_with_nothing_stored_says_what_to_run_first_and_where_it_looked(cli, stored, tmp_path,
                                                                                        isolated_home, no_vintages):
    result = cli("predict")
    assert (result.code, result.out, result.err) == (3, "", f"Error: no models in {isolated_home} yet: run 'forecast "
                                                            "train' first\n")
    result = cli("train", "--home", tmp_path / "empty")
    assert (result.code, result.out, result.err) == (3, "", f"Error: no price data in {tmp_path / 'empty'} yet: run "
                                                            "'forecast fetch TICKER' first\n")


def test_one_ticker_failing_in_train_gives_partial_exit_and_keeps_the_rest(cli, stored, isolated_home):
    result = cli("train", "ABC", "NOPE", *FAST)
    assert result.code == 4
    assert list(json.loads((isolated_home / "models" / "_pool" / "meta.json").read_text())["tickers"]) == ["ABC"]
    assert result.err.splitlines()[-1] == "Error: 1 of 2 tickers failed: NOPE"


METHODS = ("model", "naive", "linear", "garch", "gjr", "har")
TAIL_KEYS = {"expected", "hits", "tested_days", "kupiec_p", "christoffersen_p", "conditional_coverage_p", "dq_p",
             "pinball"}


def test_evaluate_reports_every_method_on_the_same_days(cli, stored, tmp_path):
    out = tmp_path / "walk.csv"
    result = cli("evaluate", "ABC", "--test-start", "2020-11-02", *FAST, "--format", "json", "--predictions", out)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert set(report) == {"ticker", "test_start", "horizon", "level", "n", "served_by", *METHODS}
    assert report["served_by"] == "pooled"
    assert (report["ticker"], report["test_start"], report["horizon"], report["n"]) == ("ABC", "2020-11-02", 1, 83)
    for method in METHODS:
        assert set(report[method]) == {"rmse", "mae", "mape", "directional_accuracy", "coverage", "width",
                                       "interval_score", "tails"}
        assert 0 <= report[method]["coverage"] <= 1
        assert 0 < report[method]["width"] < report[method]["interval_score"] or report[method]["coverage"] == 1
        assert set(report[method]["tails"]) == {"lower", "upper"}
        assert set(report[method]["tails"]["lower"]) == set(report[method]["tails"]["upper"]) == TAIL_KEYS
        assert report[method]["tails"]["lower"]["expected"] == pytest.approx(83 * 0.05)
        assert report[method]["tails"]["lower"]["tested_days"] == 83
    assert report["naive"]["directional_accuracy"] is None
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["date", "horizon", "level", "actual", "model", "lower", "upper", "naive", "linear",
                             "origin_close", "naive_lower", "naive_upper", "linear_lower", "linear_upper", "garch",
                             "garch_lower", "garch_upper", "gjr", "gjr_lower", "gjr_upper", "har", "har_lower",
                             "har_upper"]
    assert len(rows) == 83 and rows[0]["date"] == "2020-11-02"
    bars = random_walk_bars(300)
    assert float(rows[0]["naive"]) == pytest.approx(bars.adj_close[bars.dates < np.datetime64("2020-11-02")][-1],
                                                    rel=1e-11)  # CSV numbers carry 12 significant digits


def test_walk_forward_forecasts_never_see_their_own_day(cli, stored, isolated_home, tmp_path):
    from forecaster.data.bars import Bars
    from forecaster.data.store import Store

    def walk(name):
        out = tmp_path / name
        assert cli("evaluate", "ABC", "--test-start", "2020-11-02", *FAST, "--predictions", out, "-q").code == 0
        with open(out) as handle:
            return list(csv.DictReader(handle))

    base = walk("base.csv")
    bars = random_walk_bars(300)
    later = np.arange(len(bars)) >= 260  # every price from day 260 on
    scaled = [np.where(later, column * 1.5, column) for column in (bars.open, bars.high, bars.low, bars.close,
                                                                  bars.adj_close)]
    Store(isolated_home).write_bars("ABC", Bars(bars.dates, *scaled, bars.volume))
    changed = walk("changed.csv")
    first_changed = [row["date"] for row in base].index(str(bars.dates[260]))
    for column in base[0]:
        if column in ("actual",):
            continue
        # the forecast for day 260 itself and its interval use data up to day 259 only
        assert [row[column] for row in base[: first_changed + 1]] == \
            [row[column] for row in changed[: first_changed + 1]], column
    assert base[first_changed + 1]["model"] != changed[first_changed + 1]["model"]


def test_one_test_day_is_one_day(cli, stored):
    result = cli("evaluate", "ABC", "--test-start", "2021-02-24", *FAST)
    assert result.code == 0, result.err
    assert "ABC: evaluated on 1 day\n" in result.err and "ABC: 1 trading day from 2021-02-24" in result.out


def test_evaluate_table(cli, stored):
    result = cli("evaluate", "ABC", "--test-start", "2020-11-02", *FAST)
    assert result.code == 0
    assert "ABC: 83 trading days from 2020-11-02" in result.out
    for word in ("model", "naive", "linear", "har", "vs naive", "coverage", "90% intervals"):
        assert word in result.out


def test_a_short_close_only_history_is_told_to_get_more_history_by_every_command(cli, isolated_home, tmp_path):
    from forecaster.data.bars import Bars

    walk = random_walk_bars(75, seed=2)
    close_only = Bars(walk.dates, walk.close, walk.close, walk.close, walk.close, walk.close, walk.volume)
    path = tmp_path / "bndc.csv"
    path.write_text(format_csv(close_only))
    assert cli("fetch", "BNDC", "--csv", path, "-q").code == 0
    need = "needs at least 111 (fetch or import more history, or use a smaller --window)"
    for args in (["train", "BNDC"], ["train", "BNDC", "--model", "per-ticker"], ["train", "BNDC", "--model", "pooled"]):
        result = cli(*args, "-q")
        assert (result.code, result.err.splitlines()[-1]) == (
            2, f"Error: BNDC has 75 rows of history; training with --window 30 {need}"), args
    result = cli("predict", "BNDC")  # the shipped network reads range inputs: BNDC needs a model of its own
    assert (result.code, result.out, result.err) == (
        3, "", "Error: no model for BNDC: its data gives returns inputs, but the pool was trained on range inputs, so "
               "it needs a model of its own; fetch or import more history: 111 rows needed, it has 75\n")


def test_help_says_what_import_start_does_and_what_the_features_are(cli):
    help_text = " ".join(cli("import", "--help").out.split())
    assert "First date to import from the files (YYYY-MM-DD)" in help_text and "fetch" not in help_text.split(
        "--start")[1].split("--end")[0]
    train_help = " ".join(cli("train", "--help").out.split())
    assert ("'range' (log return, high-low range, overnight gap, intraday move, volume change, level, correction), "
            "'returns' (log return, level, correction)") in train_help


def test_debug_is_accepted_before_the_command_too(cli, isolated_home, monkeypatch):
    monkeypatch.delenv("FORECAST_DEBUG", raising=False)
    result = cli("--debug", "list")
    assert (result.code, result.err) == (0, f"Nothing stored in {isolated_home} yet: try 'forecast fetch MSFT' or "
                                            "'forecast fetch --sample'.\n")
    result = cli("--debug", "predict", "NOPE")
    assert result.code == 3 and "Traceback" in result.err and result.err.endswith(
        f"Error: no model and no price data for NOPE in {isolated_home}: run 'forecast fetch NOPE' (or import its "
        "file), then 'forecast train NOPE'\n")


def test_demo_runs_the_whole_pipeline_offline(cli, tmp_path):
    result = cli("demo", "--home", tmp_path / "demo", "--epochs", "2")
    assert result.code == 0, result.err
    for step in ("1. Import the bundled sample", "2. Train one network on all three, pooled",
                 "3. Walk-forward test from 2010-07-27", "4. Forecast the next 5 sessions"):
        assert step in result.out  # a report on stdout: `forecast demo > demo.txt` keeps it
    assert "network share of the mean " in result.out and "-0.00" not in result.out
    ratios = re.findall(r"model  RMSE (\d\.\d{4}) x naive", result.out)  # the closing line says what it showed
    assert len(ratios) == 3 and f"(its RMSE above: {', '.join(ratios)} x naive's);\n" in result.out
    assert "barely" not in result.out
    assert f"Forecasts were logged in {tmp_path / 'demo' / 'data' / 'predictions.csv'}." in result.out
    assert (tmp_path / "demo" / "models" / "_pool" / "meta.json").is_file()
    with open(tmp_path / "demo" / "data" / "predictions.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 15


def a_users_tickers(cli, request, tmp_path):
    request.getfixturevalue("home_with_abc")  # ABC stored, trained and forecast


def a_sample_ticker_from_a_file(cli, request, tmp_path):
    path = tmp_path / "MSFT.csv"
    path.write_text(format_csv(random_walk_bars(60)))
    assert cli("fetch", "MSFT", "--csv", path, "-q").code == 0


def a_settings_file(cli, request, tmp_path):
    (tmp_path / "home" / "forecast.toml").write_text('tickers = ["AAPL"]\n')


@pytest.mark.parametrize(("make", "held"), [
    (a_users_tickers, "data of ABC; models of ABC; forecasts of ABC"),
    (a_sample_ticker_from_a_file, "data of MSFT"),
    (a_settings_file, "forecast.toml"),
])
def test_demo_refuses_a_home_that_holds_anything_it_would_not_make(cli, request, isolated_home, tmp_path, make, held):
    make(cli, request, tmp_path)
    before = snapshot(isolated_home)
    result = cli("demo", "--home", isolated_home, "--epochs", "1")
    assert (result.code, result.out, result.err) == (
        2, "", f"Error: --home {isolated_home} is not empty: it holds {held}, which the demo would retrain or mix "
               "its sample into; give a new folder, or no --home (a temporary one)\n")
    assert snapshot(isolated_home) == before


def test_demo_runs_in_a_home_that_holds_only_the_sample_as_a_demo_leaves_it(cli, isolated_home):
    assert cli("fetch", "--sample", "-q").code == 0
    assert cli("train", "MSFT", *FAST, "-q").code == 0  # the home's pool, serving the sample only
    result = cli("demo", "--home", isolated_home, "--epochs", "1", "-q")
    assert result.code == 0, result.err
    assert f"forecast demo in {isolated_home}" in result.out


@pytest.mark.slow
def test_predict_imports_neither_sklearn_nor_yfinance_nor_pandas_nor_arch(cli, trained, isolated_home):
    heavy = ('sklearn', 'yfinance', 'pandas', 'torch', 'arch', 'scipy', 'joblib', 'distributed', 'matplotlib')
    probe = ("import sys; from forecaster.cli import main; code = main(['predict', 'ABC', '-q']); "
             f"print(code, sorted(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stderr


def test_predict_at_any_level_from_the_option_or_the_file(cli, trained, isolated_home):
    rows = {level: json.loads(cli("predict", "ABC", "--level", level, "-f", "json", "-q").out)[0]
            for level in ("0.5", "0.9", "0.998")}
    assert [rows[level]["level"] for level in rows] == [0.5, 0.9, 0.998]
    assert rows["0.998"]["lower"] < rows["0.9"]["lower"] < rows["0.5"]["lower"] < rows["0.5"]["upper"] \
        < rows["0.9"]["upper"] < rows["0.998"]["upper"]
    assert len({row["volatility"] for row in rows.values()}) == 1  # the level widens the band, not the volatility
    (isolated_home / "forecast.toml").write_text("[predict]\nlevel = 0.8\n")
    assert json.loads(cli("predict", "ABC", "-f", "json", "-q").out)[0]["level"] == 0.8
    table = cli("predict", "ABC")
    assert table.out.startswith("Forecast of the adjusted close, with 80% intervals")


@pytest.mark.parametrize("command", [["predict", "ABC"], ["plot", "ABC"],
                                     ["evaluate", "ABC", "--test-start", "2020-11-02"]])
@pytest.mark.parametrize("level", ["0.4", "0.999", "1"])
def test_a_level_outside_its_range_is_refused_before_any_work(cli, trained, isolated_home, command, level):
    before = snapshot(isolated_home)
    result = cli(*command, "--level", level)
    assert (result.code, result.out) == (2, "")
    assert result.err == f"Error: --level must be between 0.5 and 0.998, got {float(level)!r}\n"
    assert snapshot(isolated_home) == before


def test_evaluate_at_a_99_percent_lower_bound_gives_its_traffic_light(cli, stored):
    path = stored / "long.csv"
    path.write_text(format_csv(random_walk_bars(400, seed=4)))
    assert cli("fetch", "LONG", "--csv", path, "-q").code == 0
    result = cli("evaluate", "LONG", "--test-start", "2020-06-01", *FAST, "--level", "0.98", "-f", "json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["level"] == 0.98 and report["n"] == 293  # the traffic light judges the last 250 of them
    for method in METHODS:
        lower = report[method]["tails"]["lower"]
        assert lower["traffic_light"] in ("green", "yellow", "red")
        assert lower["expected"] == pytest.approx(report["n"] * 0.01)
        assert "traffic_light" not in report[method]["tails"]["upper"]
