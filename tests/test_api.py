"""The Python API (forecaster.api.Home): what each command does, as DataFrames, raising the errors whose exit codes
the CLI gives; and the examples of the README and docs/python-api.md run as written."""

import inspect
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import forecaster as fc
from conftest import FAST_TRAINING_OPTIONS, random_walk_bars, snapshot
from forecaster.data.bars import format_csv
from forecaster.risk.track import COLUMNS as SCORE_COLUMNS
from forecaster.risk.track import TAIL_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
PREDICT_CSV_HEADER = "ticker,as_of,date,horizon,forecast,lower,upper,level,volatility,model"


def test_a_home_is_its_folder_and_defaults_to_forecast_home(isolated_home, tmp_path):
    assert fc.Home().path == isolated_home
    assert fc.Home(tmp_path / "other").path == tmp_path / "other"
    assert repr(fc.Home(tmp_path)) == f"Home({str(tmp_path)!r})"


def test_fetch_the_sample_then_list_it(isolated_home):
    home = fc.Home()
    stored = home.fetch(sample=True)
    assert list(stored.columns) == ["ticker", "rows", "first date", "last date", "rows added", "rows changed"]
    assert list(stored["ticker"]) == ["^GSPC", "MSFT", "IBM"]
    assert (stored["rows added"] == stored["rows"]).all()
    listed = home.list()
    assert list(listed.columns) == ["ticker", "source", "data", "rows", "first_date", "last_date", "fetched_at",
                                    "model", "trained_at", "model_until"]
    assert sorted(listed["ticker"]) == ["IBM", "MSFT", "^GSPC"] and set(listed["source"]) == {"sample"}


def test_fetch_from_yahoo_with_notes_of_imported_tickers_left_alone(isolated_home, yahoo, tmp_path):
    (tmp_path / "ABC.csv").write_text(format_csv(random_walk_bars(50)))
    home = fc.Home()
    home.import_files(tmp_path / "ABC.csv")
    (isolated_home / "forecast.toml").write_text('tickers = ["MSFT"]\n')
    fetched = home.fetch()
    assert list(fetched["ticker"]) == ["MSFT"]
    assert fetched.attrs["notes"] == ["not fetched from Yahoo, imported from files or the sample: ABC (update them "
                                      "with 'forecast import FILE...' or 'forecast fetch TICKER --csv FILE')"]


def test_import_files_takes_files_and_folders(isolated_home, tmp_path):
    folder = tmp_path / "prices"
    folder.mkdir()
    (folder / "abr_b.us.txt").write_text(format_csv(random_walk_bars(30)))
    (tmp_path / "XYZ.csv").write_text(format_csv(random_walk_bars(20, seed=1)))
    stored = fc.Home().import_files([folder, tmp_path / "XYZ.csv"], start="2020-01-10")
    assert list(stored["ticker"]) == ["ABR-B", "XYZ"]
    assert list(stored["first date"]) == ["2020-01-10", "2020-01-10"]


def test_train_then_predict_as_the_commands_do(isolated_home, tmp_path):
    (tmp_path / "ABC.csv").write_text(format_csv(random_walk_bars(200)))
    home = fc.Home()
    home.import_files(tmp_path / "ABC.csv")
    trained = home.train(**FAST_TRAINING_OPTIONS)
    assert list(trained["ticker"]) == ["ABC"] and list(trained["model"]) == ["pooled"]
    assert trained["epochs"].iloc[0] == 2
    forecasts = home.predict(days=3, level=0.99)
    assert ",".join(forecasts.columns) == PREDICT_CSV_HEADER
    assert list(forecasts["horizon"]) == [1, 2, 3] and set(forecasts["level"]) == {0.99}
    assert (forecasts["lower"] < forecasts["forecast"]).all() and (forecasts["forecast"] < forecasts["upper"]).all()


def two_tickers(folder: Path) -> "fc.Home":
    for seed, ticker in enumerate(["AAA", "BBB"]):
        (folder / f"{ticker}.csv").write_text(format_csv(random_walk_bars(200, seed=seed)))
    home = fc.Home()
    home.import_files([folder / "AAA.csv", folder / "BBB.csv"])
    return home


def test_jobs_run_one_at_a_time_in_this_process_by_default(isolated_home, tmp_path, monkeypatch):
    def no_workers(*args, **kwargs):
        raise AssertionError("worker processes were started")

    monkeypatch.setattr("forecaster.parallel._in_worker_processes", no_workers)
    trained = two_tickers(tmp_path).train(**{**FAST_TRAINING_OPTIONS, "model": "per-ticker"})
    assert list(trained["ticker"]) == ["AAA", "BBB"] and set(trained["model"]) == {"per-ticker"}


@pytest.mark.slow
def test_jobs_2_trains_in_worker_processes_to_the_same_models(isolated_home, tmp_path):
    home = two_tickers(tmp_path)
    serial = home.train(**{**FAST_TRAINING_OPTIONS, "model": "per-ticker"})
    parallel = home.train(jobs=2, **{**FAST_TRAINING_OPTIONS, "model": "per-ticker"})
    pd.testing.assert_frame_equal(serial, parallel)


def test_predict_has_the_columns_and_numbers_of_predict_csv(home_with_abc, cli):
    printed = cli("predict", "ABC", "--days", "2", "-f", "csv")
    assert printed.code == 0 and printed.out.splitlines()[0] == PREDICT_CSV_HEADER
    forecasts = fc.Home().predict("ABC", days=2)
    expected = pd.read_csv(io.StringIO(printed.out), dtype={"as_of": str, "date": str})
    assert list(forecasts.columns) == list(expected.columns)
    for column in forecasts.columns:
        if expected[column].dtype.kind == "f":
            assert np.allclose(forecasts[column], expected[column], rtol=1e-10, atol=0), column
        else:
            assert list(forecasts[column]) == list(expected[column]), column


def test_predict_with_nothing_trained_raises_what_the_cli_exits_with(cli):
    with pytest.raises(fc.DataUnavailable) as raised:
        fc.Home().predict()
    printed = cli("predict")
    assert printed.code == raised.value.exit_code == fc.ExitCode.UNAVAILABLE
    assert printed.err == f"Error: {raised.value.message}\n"


def test_some_tickers_failing_raise_tickers_failed_with_the_others_result(home_with_abc, cli):
    with pytest.raises(fc.TickersFailed) as raised:
        fc.Home().predict(["ABC", "NOPE"])
    error = raised.value
    assert error.exit_code == fc.ExitCode.PARTIAL == cli("predict", "ABC", "NOPE").code
    assert error.message == "1 of 2 tickers failed: NOPE"
    assert [ticker for ticker, _ in error.failures] == ["NOPE"]
    assert isinstance(error.failures[0][1], fc.ModelMissing)
    assert list(error.result["ticker"]) == ["ABC"]


def test_a_bad_option_is_the_usage_error_of_the_cli(home_with_abc, cli):
    with pytest.raises(fc.UsageError, match="^--epochs must be between 1 and 100000, got 0$"):
        fc.Home().train(epochs=0)
    assert cli("train", "--epochs", "0").code == fc.ExitCode.USAGE
    with pytest.raises(fc.UsageError, match=r"^--days must be between 1 and 60 \(the longest horizon whose "
                                                r"intervals are measured\), got 0$"):
        fc.Home().predict(days=0)
    with pytest.raises(fc.UsageError, match="^--scheduler must be a Dask scheduler address"):
        fc.Home().train(scheduler="http://localhost:8787")
    with pytest.raises(fc.UsageError, match="^since 'yesterday' is not a date"):
        fc.Home().score(since="yesterday")


@pytest.mark.parametrize(("call", "message"), [
    (lambda home: home.predict("ABC", days=2.5), "days must be an integer, got 2.5"),
    (lambda home: home.predict("ABC", days="3"), "days must be an integer, got '3'"),
    (lambda home: home.portfolio(days=True), "days must be an integer, got True"),
    (lambda home: home.report(days=1.5), "days must be an integer, got 1.5"),
    (lambda home: home.predict([]), "no tickers given: tickers is empty"),
    (lambda home: home.remove([]), "no tickers given: tickers is empty"),
    (lambda home: home.remove(None), "tickers is required"),
    (lambda home: home.train(()), "no tickers given: tickers is empty"),
    (lambda home: home.predict(3), "tickers must be a ticker symbol or a list of them, got 3"),
    (lambda home: home.score(["ABC", None]), "tickers must be a ticker symbol or a list of them, got ['ABC', None]"),
    (lambda home: home.evaluate("ABC", test_start=None), "test_start is required"),
    (lambda home: home.evaluate("ABC", test_start=20200803), "test_start 20200803 is not a date (expected YYYY-MM-DD)"),
    (lambda home: home.evaluate("ABC", test_start="2020-08-03", horizon=[]), "no horizons given: horizon is empty"),
    (lambda home: home.evaluate("ABC", test_start="2020-08-03", horizon=[1, "5"]),
     "horizon must be an integer, got '5'"),
    (lambda home: home.evaluate("ABC", test_start="2020-08-03", unseen=7),
     "unseen must be a ticker symbol or a list of them, got 7"),
    (lambda home: home.predict("ABC", level="0.9"), "--level must be a number, got '0.9'"),
    (lambda home: home.fetch(start=2020), "start 2020 is not a date (expected YYYY-MM-DD)"),
    (lambda home: home.import_files([]), "no files given: paths is empty"),
    (lambda home: home.report(out=3), "out must be a file name (a str or a Path), got 3"),
])
def test_an_argument_of_the_wrong_type_is_a_usage_error_naming_it_before_any_work(home_with_abc, call, message):
    before = snapshot(home_with_abc)
    with pytest.raises(fc.UsageError) as raised:
        call(fc.Home())
    assert raised.value.message == message
    assert snapshot(home_with_abc) == before


def test_none_is_the_methods_own_default_as_if_left_out(home_with_abc, tmp_path):
    home = fc.Home()
    assert list(home.predict("ABC", days=None)["horizon"]) == [1]
    page = home.report(out=None, days=None)  # the default page, report.html in the current folder
    assert page.path.name == "report.html" and page.path.exists() and page.tickers == ["ABC"]


def test_every_method_checks_its_arguments_in_the_one_place():
    from forecaster.api import ARGUMENTS

    for name, method in vars(fc.Home).items():
        if not name.startswith("_") and set(inspect.signature(method).parameters) & set(ARGUMENTS):
            assert hasattr(method, "__wrapped__"), f"Home.{name} does not check its arguments"


def test_a_datetime_is_its_date_and_whole_numbers_need_not_be_ints(home_with_abc):
    home = fc.Home()
    evaluation = home.evaluate("ABC", test_start=pd.Timestamp("2020-08-03 16:00"), horizon=np.int64(1),
                               **FAST_TRAINING_OPTIONS)
    assert [(r["test_start"], r["horizon"]) for r in evaluation.attrs["reports"]] == [("2020-08-03", 1)]
    assert list(home.predict(("ABC",), days=2.0)["horizon"]) == [1, 2]


def test_an_unknown_keyword_is_a_type_error_naming_the_options(home_with_abc):
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch' \\(training options: window, hidden"):
        fc.Home().train(epoch=3)


def test_evaluate_returns_the_table_and_writes_the_daily_forecasts(home_with_abc, tmp_path):
    evaluation = fc.Home().evaluate("ABC", test_start="2020-08-03", horizon=[1, 2],
                                    predictions=tmp_path / "eval-{ticker}.csv", **FAST_TRAINING_OPTIONS)
    assert list(evaluation.columns[:5]) == ["ticker", "h", "method", "RMSE", "vs naive"]
    assert list(evaluation["method"][:6]) == ["model", "naive", "linear", "garch", "gjr", "har"]
    assert sorted(set(evaluation["h"])) == [1, 2]
    assert (evaluation[evaluation["method"] == "naive"]["vs naive"] == 1).all()
    assert [report["horizon"] for report in evaluation.attrs["reports"]] == [1, 2]
    written = pd.read_csv(tmp_path / "eval-ABC.csv")
    assert sorted(set(written["horizon"])) == [1, 2] and "har_upper" in written.columns


def test_evaluate_needs_a_test_start():
    with pytest.raises(fc.UsageError, match="test_start 'soon' is not a date"):
        fc.Home().evaluate(test_start="soon")


def test_score_is_empty_before_forecasts_come_due_and_has_the_commands_columns(home_with_abc):
    scores = fc.Home().score()
    assert list(scores.columns) == SCORE_COLUMNS + TAIL_COLUMNS
    assert list(scores["ticker"].unique()) == ["ABC"] and (scores["n"] == 0).all()
    assert fc.Home(home_with_abc / "empty").score().empty


def test_report_writes_the_page(home_with_abc, tmp_path):
    page = fc.Home().report(out=tmp_path / "page.html", days=3)
    assert page.path == tmp_path / "page.html" and page.tickers == ["ABC"] and page.failures == []
    assert "<html" in page.path.read_text()


def test_config_shows_each_setting_and_where_it_comes_from(isolated_home):
    (isolated_home / "forecast.toml").write_text('tickers = ["MSFT"]\n[train]\nepochs = 7\n')
    settings = fc.Home().config().set_index("setting")
    assert settings.loc["tickers", "value"] == ["MSFT"]
    assert (settings.loc["train.epochs", "value"], settings.loc["train.epochs", "source"]) == (
        7, str(isolated_home / "forecast.toml"))
    assert settings.loc["train.window", "source"] == "default"


def test_remove_deletes_without_asking(home_with_abc):
    home = fc.Home()
    assert home.remove("abc") == ["ABC"]
    assert home.list().empty
    with pytest.raises(fc.DataUnavailable, match=f"^nothing stored for ABC in {re.escape(str(home.path))}$"):
        home.remove(["ABC"])


@pytest.mark.slow
def test_importing_forecaster_stays_light():
    import subprocess
    import sys

    probe = ("import sys, forecaster; print(sorted(m for m in ('pandas', 'scipy', 'forecaster.api') "
             "if m in sys.modules), forecaster.Home.__name__)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout == "[] Home\n", done.stderr


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(), re.MULTILINE | re.DOTALL)


def test_the_readme_example_gets_a_watchlists_forecasts(isolated_home, yahoo, tmp_path, monkeypatch):
    """The README's example, as written: a watchlist in stocks/forecast.toml (here with fast training options)."""
    section = (ROOT / "README.md").read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1 and len(blocks[0].strip().splitlines()) <= 6
    (tmp_path / "work" / "stocks").mkdir()
    (tmp_path / "work" / "stocks" / "forecast.toml").write_text(
        'tickers = ["MSFT"]\n[train]\n' + "".join(f"{key} = {json.dumps(value)}\n"
                                              for key, value in FAST_TRAINING_OPTIONS.items()))
    namespace = {}
    exec(blocks[0], namespace)
    forecasts = namespace["forecasts"]
    assert ",".join(forecasts.columns) == PREDICT_CSV_HEADER
    assert list(forecasts["ticker"]) == ["MSFT"] * 5


def test_the_docs_examples_run(isolated_home, yahoo, tmp_path):
    """docs/python-api.md's examples, run in order in one namespace, in an empty working directory."""
    blocks = python_blocks(ROOT / "docs" / "python-api.md")
    assert len(blocks) >= 4
    namespace = {}
    for block in blocks:
        exec(block, namespace)
