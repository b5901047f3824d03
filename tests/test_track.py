"""`forecast score` on a hand-built log with known answers, and `forecast plot` PNGs."""

import json
import struct

import numpy as np
import pytest

from forecaster.bars import Bars, format_csv
from forecaster.predictions import COLUMNS
from forecaster.track import COLUMNS as SCORE_COLUMNS

# Adjusted closes of ABC: 100, 102, 101, 103, 104 on five sessions.
DATES = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]
CLOSES = [100.0, 102.0, 101.0, 103.0, 104.0]


def write_prices(home, ticker="ABC", closes=CLOSES):
    bars = Bars(np.array(DATES, dtype="datetime64[D]"), *(np.array(closes) for _ in range(5)),
                np.full(len(closes), 1000.0))
    (home / "data").mkdir(exist_ok=True)
    (home / "data" / f"{ticker}.csv").write_text(format_csv(bars))


def write_log(home, rows):
    lines = [",".join(COLUMNS)]
    for ticker, as_of, date, horizon, forecast, lower, upper, last_close, created in rows:
        lines.append(f"{ticker},{as_of},{date},{horizon},{forecast},{lower},{upper},{last_close},{created}")
    (home / "data").mkdir(exist_ok=True)
    (home / "data" / "predictions.csv").write_text("\n".join(lines) + "\n")


LOG = [
    # out of order on purpose; the duplicate of (ABC, 01-03, 01-04) made later replaces the first
    ("ABC", "2024-01-04", "2024-01-05", 1, 101.0, 99.0, 103.5, 101.0, "2024-01-04T22:00:00+00:00"),
    ("ABC", "2024-01-02", "2024-01-03", 1, 101.0, 99.0, 101.5, 100.0, "2024-01-02T22:00:00+00:00"),
    ("ABC", "2024-01-03", "2024-01-04", 1, 999.0, 990.0, 1000.0, 102.0, "2024-01-03T21:00:00+00:00"),
    ("ABC", "2024-01-03", "2024-01-04", 1, 101.0, 100.0, 104.0, 102.0, "2024-01-03T22:00:00+00:00"),
    ("ABC", "2024-01-02", "2024-01-04", 2, 100.0, 98.0, 102.0, 100.0, "2024-01-02T22:00:00+00:00"),
    ("ABC", "2024-01-08", "2024-01-09", 1, 104.5, 102.0, 107.0, 104.0, "2024-01-08T22:00:00+00:00"),
    ("ABC", "2024-01-08", "2024-01-10", 2, 104.5, 101.0, 108.0, 104.0, "2024-01-08T22:00:00+00:00"),
]


def test_score_gives_exact_numbers_with_pending_duplicates_and_disorder(cli, isolated_home):
    write_prices(isolated_home)
    write_log(isolated_home, LOG)
    result = cli("score", "--format", "json")
    assert result.code == 0, result.err
    one, two = json.loads(result.out)
    # horizon 1: forecasts 101, 101, 101 for actuals 102, 101, 103 from naive 100, 102, 101; the forecast for
    # 2024-01-09 has passed, but its price is not stored yet
    assert (one["ticker"], one["horizon"], one["n"], one["pending"], one["awaiting_data"]) == ("ABC", 1, 3, 0, 1)
    assert one["rmse"] == pytest.approx(np.sqrt((1 + 0 + 4) / 3))
    assert one["naive_rmse"] == pytest.approx(np.sqrt((4 + 1 + 4) / 3))
    assert one["ratio"] == pytest.approx(np.sqrt(5 / 9))
    assert one["mae"] == pytest.approx(1.0) and one["naive_mae"] == pytest.approx(5 / 3)
    assert one["directional_accuracy"] == 1.0  # up/up, down/down; the third predicts no move and is not counted
    assert one["coverage"] == pytest.approx(2 / 3)  # 102 is outside [99, 101.5]
    assert (two["horizon"], two["n"], two["awaiting_data"], two["rmse"], two["coverage"]) == (2, 1, 1, 1.0, 1.0)
    assert two["directional_accuracy"] is None  # forecast 100 = naive 100: no predicted move


def test_score_restates_forecasts_after_a_dividend_readjustment(cli, isolated_home):
    write_prices(isolated_home, closes=[c * 0.5 for c in CLOSES])  # history re-adjusted since the forecasts
    write_log(isolated_home, LOG)
    one = json.loads(cli("score", "ABC", "-f", "json").out)[0]
    assert one["ratio"] == pytest.approx(np.sqrt(5 / 9)) and one["rmse"] == pytest.approx(0.5 * np.sqrt(5 / 3))


def test_score_since_keeps_later_forecast_dates(cli, isolated_home):
    write_prices(isolated_home)
    write_log(isolated_home, LOG)
    rows = json.loads(cli("score", "--since", "2024-01-05", "-f", "json").out)
    assert [(r["horizon"], r["n"], r["awaiting_data"]) for r in rows] == [(1, 1, 1), (2, 0, 1)]


def test_score_counts_forecasts_for_sessions_still_ahead_as_pending(cli, isolated_home):
    write_prices(isolated_home)
    write_log(isolated_home, [*LOG, ("ABC", "2024-01-08", "2099-01-05", 1, 104.5, 102.0, 107.0, 104.0,
                                     "2024-01-08T22:00:00+00:00")])
    one = json.loads(cli("score", "-f", "json").out)[0]
    assert (one["n"], one["pending"], one["awaiting_data"]) == (3, 1, 1)


@pytest.mark.parametrize("fmt, expected", [("json", "[]\n"), ("csv", "ticker,horizon,n,pending,awaiting_data,rmse,"
                                                                      "naive_rmse,ratio,mae,naive_mae,"
                                                                      "directional_accuracy,coverage\n")])
def test_score_with_nothing_to_report_prints_an_empty_document(cli, isolated_home, fmt, expected):
    write_prices(isolated_home)
    write_log(isolated_home, LOG)
    result = cli("score", "--since", "2099-01-01", "-f", fmt)
    assert (result.code, result.out, result.err) == (0, expected, "")


def test_score_with_nothing_to_report_prints_an_empty_table(cli, isolated_home):
    write_prices(isolated_home)
    write_log(isolated_home, LOG)
    result = cli("score", "--since", "2099-01-01")
    assert result.code == 0 and result.out.startswith("Live track record") and "awaiting_data" in result.out


def test_score_for_a_ticker_with_no_record(cli, isolated_home):
    write_prices(isolated_home)
    write_prices(isolated_home, "XYZ")
    write_log(isolated_home, LOG)
    result = cli("score", "XYZ")
    assert (result.code, result.out, result.err) == (
        3, "", "Error: no logged forecasts for XYZ; run 'forecast predict XYZ' first\n")
    result = cli("score", "ABC", "XYZ", "-f", "json")
    assert result.code == 4 and len(json.loads(result.out)) == 2


@pytest.mark.parametrize("fmt, out", [("json", "[]\n"), ("csv", ",".join(SCORE_COLUMNS) + "\n"),
                                     ("table", None)])
def test_score_with_no_log_at_all_is_an_empty_report(cli, isolated_home, fmt, out):
    result = cli("score", "-f", fmt)
    log = isolated_home / "data" / "predictions.csv"
    assert (result.code, result.err) == (
        0, f"no forecasts logged in {log} yet: run 'forecast predict' (the record builds up as days pass)\n")
    if out is not None:
        assert result.out == out
    else:
        assert result.out.startswith("Live track record") and "awaiting_data" in result.out


def test_predict_reminds_of_the_live_record(cli, isolated_home, tmp_path):
    from conftest import random_walk_bars

    bars = random_walk_bars(200)
    path = tmp_path / "abc.csv"
    path.write_text(format_csv(bars.take(slice(0, 199))))
    assert cli("fetch", "ABC", "--csv", path).code == 0
    assert cli("train", "ABC", "--window", "10", "--hidden", "8", "--epochs", "2").code == 0
    first = cli("predict", "ABC")
    assert "live record" not in first.err
    path.write_text(format_csv(bars))
    cli("fetch", "ABC", "--csv", path)
    second = cli("predict", "ABC")
    assert "ABC: live record of 1-day forecasts: RMSE " in second.err
    assert "x naive over 1 day ('forecast score ABC' for more)" in second.err


# ------------------------------------------------------------------------------------------------------- plot
def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_plot_without_a_model_or_record(cli, isolated_home, tmp_path):
    assert cli("fetch", "--sample").code == 0
    result = cli("plot", "IBM", "--out", tmp_path / "ibm.png")
    assert result.code == 0, result.err
    assert result.err == f"wrote {tmp_path / 'ibm.png'}\n"
    width, height = png_size(tmp_path / "ibm.png")
    assert (width, height) == (1100, 600)
    assert (tmp_path / "ibm.png").stat().st_size > 20_000


def test_plot_with_model_record_and_evaluation_defaults_to_ticker_png(cli, isolated_home, tmp_path):
    assert cli("fetch", "--sample").code == 0
    fast = ["--window", "10", "--hidden", "8", "--epochs", "2"]
    assert cli("train", "MSFT", *fast).code == 0
    assert cli("predict", "MSFT", "--days", "3", "-q").code == 0
    evaluation = tmp_path / "eval.csv"
    assert cli("evaluate", "MSFT", "--test-start", "2012-06-01", *fast, "--predictions", evaluation, "-q").code == 0
    result = cli("plot", "MSFT", "--evaluation", evaluation)
    assert result.code == 0, result.err
    width, height = png_size(tmp_path / "work" / "MSFT.png")
    assert (width, height) == (1100, 960)


def test_the_evaluation_panel_names_its_naive_line_by_horizon_and_shows_the_models_interval(cli, isolated_home,
                                                                                            tmp_path, monkeypatch):
    import csv

    import matplotlib

    monkeypatch.setitem(matplotlib.rcParams, "svg.fonttype", "none")  # text as text, to be read back
    assert cli("fetch", "--sample", "-q").code == 0
    evaluation = tmp_path / "eval.csv"
    assert cli("evaluate", "MSFT", "--test-start", "2012-12-03", "--horizon", "5", "--window", "10", "--hidden", "8",
               "--epochs", "2", "--predictions", evaluation, "-q").code == 0
    chart = tmp_path / "chart.svg"
    assert cli("plot", "MSFT", "--evaluation", evaluation, "--out", chart, "-q").code == 0
    svg = chart.read_text()
    assert "naive (close 5 sessions earlier)" in svg and "previous close" not in svg
    assert "model's 90% interval" in svg and "its 90% interval holds" in svg
    with evaluation.open() as handle:  # a file written before the horizon column: the horizon is recognised
        rows = [{k: v for k, v in row.items() if k != "horizon"} for row in csv.DictReader(handle)]
    older = tmp_path / "older.csv"
    with older.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert cli("plot", "MSFT", "--evaluation", older, "--out", chart, "-q").code == 0
    assert "naive (close 5 sessions earlier)" in chart.read_text()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["plot", "NOPE"], 3, "no data for NOPE in {home}/data; run 'forecast fetch NOPE' first"),
        (["plot", "IBM", "--out", "/nonexistent-folder/x.png"], 2,
         "cannot write /nonexistent-folder/x.png: folder /nonexistent-folder does not exist"),
        (["plot", "IBM", "--out", "{tmp}"], 2, "--out {tmp} is a directory; give a file name such as {tmp}/chart.png"),
        (["plot", "IBM", "--evaluation", "{tmp}/missing.csv"], 2, "{tmp}/missing.csv: no such file"),
        (["plot", "IBM", "--last", "1"], 2, "--last must be between 2 and 20000, got 1"),
    ],
)
def test_plot_fails_cleanly(cli, isolated_home, tmp_path, args, code, message):
    assert cli("fetch", "--sample").code == 0
    args = [a.format(tmp=tmp_path) for a in args]
    result = cli(*args)
    assert (result.code, result.out) == (code, "")
    assert result.err == f"Error: {message.format(home=isolated_home, tmp=tmp_path)}\n"


def test_plot_does_not_import_matplotlib_elsewhere():
    import subprocess
    import sys

    probe = "import sys, forecaster.cli, forecaster.pipeline; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"
