"""What the CLI prints (views.output): numbers with enough digits, values as given, clean CSV, typed JSON, and one
summary line per kind of warning instead of one per ticker."""

import json
import math
import shutil

import pytest

from conftest import FAST_TRAINING, import_bars, random_walk_bars
from forecaster.data.bars import Bars
from forecaster.text import Notice, rows_to_csv
from forecaster.views.output import render_table, summarize

TICKERS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]


def table_cells(text: str, first: str) -> list[str]:
    """The cells of the table row that starts with `first`."""
    line = next(line for line in text.splitlines() if line.startswith("│") and line.split("│")[1].strip() == first)
    return [cell.strip() for cell in line.strip("│").split("│")]


# ---------------------------------------------------------------------------------------------------- numbers
def test_a_table_keeps_four_significant_digits_of_its_smallest_number():
    text = render_table([{"p": 0.009945, "q": 25.2134, "r": 1234.5678, "s": 3e-14}], ["p", "q", "r", "s"])
    assert table_cells(text, "0.009945") == ["0.009945", "25.2134", "1,234.57", "3.000e-14"]
    assert "0.0099 " not in text


def test_a_sub_penny_stocks_forecast_prints_with_its_digits(cli, isolated_home, tmp_path):
    bars = random_walk_bars(200)
    tiny = Bars(bars.dates, *(column * 1e-4 for column in (bars.open, bars.high, bars.low, bars.close,
                                                           bars.adj_close)), bars.volume)
    import_bars(cli, tmp_path, "SUB", tiny)
    assert cli("train", "SUB", *FAST_TRAINING, "-q").code == 0
    exact = json.loads(cli("predict", "SUB", "-f", "json", "-q").out)[0]
    cells = table_cells(cli("predict", "SUB", "-q").out, "SUB")
    for cell, key in zip(cells[4:7], ("forecast", "lower", "upper"), strict=True):
        assert exact[key] < 0.02 and float(cell) == pytest.approx(exact[key], rel=5e-4), (cell, exact[key])


def test_config_shows_values_as_given(cli, isolated_home):
    (isolated_home / "forecast.toml").write_text("[train]\nlr = 0.00001\n[fetch]\nrate = 0.05\n")
    values = {cells[0]: cells[1] for cells in (table_cells(cli("config").out, name) for name in ("train.lr",
                                                                                                 "fetch.rate"))}
    assert values == {"train.lr": "0.00001", "fetch.rate": "0.05"}
    typed = {row["setting"]: row["value"] for row in json.loads(cli("config", "-f", "json").out)}
    assert (typed["train.lr"], typed["train.window"], typed["parallel.jobs"]) == (1e-05, 30, "the number of cores")


def test_csv_and_json_numbers_carry_no_float_noise():
    rows = [{"ratio": 0.29920000000000185, "n": 3, "none": None, "bad": math.nan}]
    assert rows_to_csv(rows, ["ratio", "n", "none", "bad"]) == "ratio,n,none,bad\n0.2992,3,,\n"


def test_score_csv_has_clean_numbers(cli, isolated_home):
    from test_track import LOG, write_log, write_prices

    write_prices(isolated_home)
    write_log(isolated_home, LOG)
    lines = cli("score", "-f", "csv").out.splitlines()
    for field in (f for line in lines[1:] for f in line.split(",") if "." in f):
        assert float(field) == float(f"{float(field):.12g}") and len(field) <= 18, field


# --------------------------------------------------------------------------------------------------- warnings
def test_warnings_of_one_kind_are_one_line_with_a_count_and_the_first_tickers():
    notices = [Notice(t, f"{t}: data ends 2021-01-01", kind="stale data", advice="fetch them") for t in TICKERS]
    notices.append(Notice("ZZZ", "ZZZ: something else"))
    assert summarize(notices) == [
        "stale data: 6 tickers (AAA, BBB, CCC, DDD, EEE and 1 more); fetch them (--verbose lists each)",
        "ZZZ: something else",
    ]
    assert summarize(notices, every=True) == [notice.message for notice in notices]


@pytest.fixture(scope="module")
def stale_template(tmp_path_factory):
    """Six imported tickers whose data ends in 2020 and whose models were trained on data to a month earlier."""
    from forecaster.cli import main
    from forecaster.data.bars import format_csv

    home = tmp_path_factory.mktemp("stale")
    for seed, ticker in enumerate(TICKERS):
        path = home.parent / f"{ticker}.csv"
        path.write_text(format_csv(random_walk_bars(150, seed=seed)))
        assert main(["fetch", ticker, "--csv", str(path), "--home", str(home), "-q"]) == 0
    assert main(["train", *FAST_TRAINING, "--until", "2020-06-30", "--jobs", "1", "--home", str(home), "-q"]) == 0
    return home


@pytest.fixture
def stale_watchlist(stale_template, isolated_home):
    shutil.copytree(stale_template, isolated_home, dirs_exist_ok=True)
    return isolated_home


def test_a_nightly_predict_warns_once_per_kind_not_once_per_ticker(cli, stale_watchlist):
    result = cli("predict")
    assert result.code == 0
    assert result.err.splitlines() == [
        "Warning: imported data more than 5 days old: 6 tickers (AAA, BBB, CCC, DDD, EEE and 1 more); re-import their "
        "files with 'forecast import FILE...' (--verbose lists each)",
        "Warning: models trained on data more than 7 days older than the stored data: 6 tickers (AAA, BBB, CCC, DDD, "
        "EEE and 1 more); run 'forecast train' to retrain them (--verbose lists each)",
    ]
    for every in (["--verbose"], ["-f", "json"]):
        lines = cli("predict", *every).err.splitlines()
        assert len(lines) == 12, every
        assert ("Warning: FFF: model trained on data to 2020-06-30, 21 newer rows are stored; run 'forecast train FFF' "
                "to retrain") in lines
    assert cli("predict", "-q").err == ""


def test_no_model_age_warning_within_the_retrain_cadence_the_user_chose(cli, stale_watchlist):
    (stale_watchlist / "forecast.toml").write_text("[predict]\nmax_model_age_days = 31\n")
    assert "models trained" not in cli("predict").err
    assert "models trained" in cli("predict", "--max-model-age-days", "20").err  # the command line wins
    (stale_watchlist / "forecast.toml").write_text("[predict]\nmax_model_age_days = -1\n")
    result = cli("predict")
    assert (result.code, result.err) == (2, f"Error: {stale_watchlist / 'forecast.toml'} line 2: [predict] "
                                            "max_model_age_days must be between 0 and 3650, got -1\n")
