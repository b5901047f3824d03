"""`forecast score` on a hand-built log with known answers, and `forecast plot` PNGs."""

import csv
import json
import struct

import numpy as np
import pytest

from conftest import FAST_TRAINING, random_walk_bars
from forecaster.data.bars import Bars, format_csv
from forecaster.data.prediction_log import COLUMNS
from forecaster.risk.backtest import kupiec
from forecaster.risk.track import COLUMNS as SCORE_COLUMNS
from forecaster.risk.track import TAIL_COLUMNS

# Adjusted closes of ABC: 100, 102, 101, 103, 104 on five sessions.
DATES = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]
CLOSES = [100.0, 102.0, 101.0, 103.0, 104.0]


def write_prices(home, ticker="ABC", closes=CLOSES):
    bars = Bars(np.array(DATES, dtype="datetime64[D]"), *(np.array(closes) for _ in range(5)),
                np.full(len(closes), 1000.0))
    (home / "data").mkdir(exist_ok=True)
    (home / "data" / f"{ticker}.csv").write_text(format_csv(bars))


def write_log(home, rows):
    """A log as forecaster wrote it before it recorded the level (its forecasts were made at 0.90)."""
    lines = ["ticker,as_of,date,horizon,forecast,lower,upper,last_close,created_at"]
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
    # the log has no level column: its forecasts were made at 0.90, 5% per tail; 102 is above 101.5
    assert {k: one[k] for k in TAIL_COLUMNS} == {"expected_per_tail": 0.15, "hits_lower": 0, "hits_upper": 1,
                                                 "kupiec_p_lower": None, "kupiec_p_upper": None,
                                                 "traffic_light": None}
    assert (two["expected_per_tail"], two["hits_lower"], two["hits_upper"]) == (0.05, 0, 0)


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
                                                                      "directional_accuracy,coverage,"
                                                                      "expected_per_tail,hits_lower,hits_upper,"
                                                                      "kupiec_p_lower,kupiec_p_upper,"
                                                                      "traffic_light\n")])
def test_score_with_nothing_to_report_prints_an_empty_document(cli, isolated_home, fmt, expected):
    write_prices(isolated_home)
    write_log(isolated_home, LOG)
    result = cli("score", "--since", "2099-01-01", "-f", fmt)
    assert (result.code, result.out, result.err) == (0, expected, "")


def test_score_with_nothing_to_report_prints_empty_tables(cli, isolated_home):
    write_prices(isolated_home)
    write_log(isolated_home, LOG)
    result = cli("score", "--since", "2099-01-01")
    assert result.code == 0 and result.out.startswith("Live track record") and "awaiting_data" in result.out
    assert "\nTails of the intervals" in result.out and "kupiec_p_lower" in result.out


def test_score_for_a_ticker_with_no_record(cli, isolated_home):
    write_prices(isolated_home)
    write_prices(isolated_home, "XYZ")
    write_log(isolated_home, LOG)
    result = cli("score", "XYZ")
    assert (result.code, result.out, result.err) == (
        3, "", "Error: no logged forecasts for XYZ; run 'forecast predict XYZ' first\n")
    result = cli("score", "ABC", "XYZ", "-f", "json")
    assert result.code == 4 and len(json.loads(result.out)) == 2


@pytest.mark.parametrize("fmt, out", [("json", "[]\n"), ("csv", ",".join(SCORE_COLUMNS + TAIL_COLUMNS) + "\n"),
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


# ------------------------------------------------------------------------------------------- tails of the record
def write_record(home, moves: str, levels: list[float], horizon: int = 1) -> None:
    """A log of len(moves) forecasts of ABC, each `horizon` sessions ahead with the interval [99, 101] at its level
    in `levels`, made from a close of 100 (the first `horizon` closes are 100), and the prices: the close
    forecast is 100, or 98 where `moves` has 'L' (a hit of the lower bound), 102 where it has 'U' (upper)."""
    closes = [100.0] * horizon + [{"L": 98.0, "U": 102.0, ".": 100.0}[m] for m in moves]
    dates = np.busday_offset(np.datetime64("2020-01-02", "D"), np.arange(len(closes)), roll="forward")
    bars = Bars(dates, *(np.array(closes) for _ in range(5)), np.full(len(closes), 1000.0))
    (home / "data").mkdir(exist_ok=True)
    (home / "data" / "ABC.csv").write_text(format_csv(bars))
    lines = [",".join(COLUMNS)]
    for j, level in zip(range(horizon, len(closes)), levels, strict=True):
        lines.append(f"ABC,{dates[j - horizon]},{dates[j]},{horizon},100.0,99.0,101.0,{level},"
                     f"{closes[j - horizon]},2024-01-02T22:00:00+00:00")
    (home / "data" / "predictions.csv").write_text("\n".join(lines) + "\n")


def score_json(cli, *args):
    result = cli("score", "ABC", *args, "-f", "json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_score_counts_the_hits_of_each_tail_and_tests_them_once_enough_are_expected(cli, isolated_home):
    # 120 forecasts at 0.90: 6 hits expected in each tail; 3 below the interval, 10 above
    write_record(isolated_home, "L" * 3 + "U" * 10 + "." * 107, [0.9] * 120)
    one = score_json(cli)[0]
    assert {k: one[k] for k in TAIL_COLUMNS} == {
        "expected_per_tail": 6.0, "hits_lower": 3, "hits_upper": 10,
        "kupiec_p_lower": pytest.approx(kupiec(3, 120, 0.05).p_value, rel=1e-11),  # JSON keeps 12 digits
        "kupiec_p_upper": pytest.approx(kupiec(10, 120, 0.05).p_value, rel=1e-11), "traffic_light": None}
    assert (round(one["kupiec_p_lower"], 4), round(one["kupiec_p_upper"], 4)) == (0.1659, 0.1246)


def test_score_leaves_kupiec_out_below_five_expected_hits(cli, isolated_home):
    write_record(isolated_home, "U" * 5 + "." * 94, [0.9] * 99)  # 4.95 expected hits per tail
    one = score_json(cli)[0]
    assert (one["expected_per_tail"], one["hits_upper"], one["kupiec_p_lower"], one["kupiec_p_upper"]) == (
        4.95, 5, None, None)


def test_score_of_mixed_levels_counts_each_forecast_at_its_own_level(cli, isolated_home):
    # 100 forecasts at 0.90 (5 expected hits per tail), then 100 at 0.98 (1 expected): each level with at least 5
    # expected hits is tested at its own tail probability, and the statistics are added (χ² with one degree of
    # freedom per level tested): here the 0.90 forecasts alone
    write_record(isolated_home, "L" * 9 + "." * 91 + "L" * 3 + "." * 97, [0.9] * 100 + [0.98] * 100)
    one = score_json(cli)[0]
    assert (one["expected_per_tail"], one["hits_lower"]) == (6.0, 12)
    assert one["kupiec_p_lower"] == pytest.approx(kupiec(9, 100, 0.05).p_value, rel=1e-11)  # JSON keeps 12 digits
    # with 500 forecasts at 0.98 (5 expected), both levels are tested: χ²(2) of the summed statistics
    write_record(isolated_home, "L" * 9 + "." * 91 + "L" * 3 + "." * 497, [0.9] * 100 + [0.98] * 500)
    one = score_json(cli)[0]
    assert (one["expected_per_tail"], one["hits_lower"]) == (10.0, 12)
    statistic = kupiec(9, 100, 0.05).statistic + kupiec(3, 500, 0.01).statistic
    assert one["kupiec_p_lower"] == pytest.approx(np.exp(-statistic / 2))  # P(χ²(2) > s) = exp(-s/2)


def test_score_gives_the_traffic_light_of_the_last_250_one_day_forecasts_at_99_percent(cli, isolated_home):
    # 300 forecasts at 0.98: 20 lower hits in the first 50, then 5 in the last 250 (yellow: 5-9 of 250 at 1%)
    moves = "L" * 20 + "." * 30 + "." * 245 + "L" * 5
    write_record(isolated_home, moves, [0.98] * 300)
    one = score_json(cli)[0]
    assert (one["hits_lower"], one["traffic_light"]) == (25, "yellow")
    write_record(isolated_home, moves, [0.90] * 50 + [0.98] * 250)  # still 250 at 0.98
    assert score_json(cli)[0]["traffic_light"] == "yellow"
    write_record(isolated_home, moves[:-4] + "." * 4, [0.98] * 300)  # 1 hit in the last 250
    assert score_json(cli)[0]["traffic_light"] == "green"


@pytest.mark.parametrize(("levels", "horizon"), [([0.90] * 51 + [0.98] * 249, 1),  # 249 forecasts at 99%
                                                 ([0.98] * 300, 2)])  # not 1 day ahead
def test_score_has_no_traffic_light_where_basel_does_not_apply(cli, isolated_home, levels, horizon):
    write_record(isolated_home, "L" * 20 + "." * 280, levels, horizon)
    one = score_json(cli)[0]
    assert (one["horizon"], one["n"], one["traffic_light"]) == (horizon, 300, None)


def test_score_prints_the_tails_in_a_second_table(cli, isolated_home):
    write_record(isolated_home, "L" * 3 + "U" * 10 + "." * 107, [0.9] * 120)
    result = cli("score", "ABC")
    assert result.code == 0, result.err
    tails = result.out.split("Tails of the intervals (hits: actual beyond its bound; kupiec_p < 0.05: too many or "
                             "too few hits)")[1]
    for header in ("expected_per_tail", "hits_lower", "hits_upper", "kupiec_p_lower", "kupiec_p_upper",
                   "traffic_light"):
        assert header in tails and header not in result.out.split("Tails")[0]
    row = next(line for line in tails.splitlines() if "ABC" in line)
    assert [cell.strip() for cell in row.strip("│| ").replace("|", "│").split("│")] == [
        "ABC", "1", "120", "6.0000", "3", "10", f"{kupiec(3, 120, 0.05).p_value:.4f}",
        f"{kupiec(10, 120, 0.05).p_value:.4f}", "-"]


def test_a_log_without_levels_is_read_at_090_and_rewritten_with_them(isolated_home):
    from forecaster.data.prediction_log import read_predictions, record_predictions
    from forecaster.data.store import Store

    write_log(isolated_home, LOG[:2])
    store = Store()
    assert [row["level"] for row in read_predictions(store)] == [0.9, 0.9]
    new = {"ticker": "ABC", "as_of": "2024-01-08", "date": "2024-01-09", "horizon": 1, "forecast": 104.0,
           "lower": 100.0, "upper": 108.0, "last_close": 104.0}
    record_predictions(store, [new, {**new, "ticker": "XYZ", "level": 0.98}])  # predict's rows carry no level yet
    lines = store.predictions_path.read_text().splitlines()
    assert lines[0] == "ticker,as_of,date,horizon,forecast,lower,upper,level,last_close,created_at"
    assert [line.split(",")[7] for line in lines[1:]] == ["0.9", "0.9", "0.9", "0.98"]
    assert [row["level"] for row in read_predictions(store)] == [0.9, 0.9, 0.9, 0.98]


def test_of_two_logged_rows_with_one_key_the_later_made_is_kept_whatever_their_order(isolated_home):
    from forecaster.data.prediction_log import read_predictions, record_predictions
    from forecaster.data.store import Store

    later, earlier = LOG[3], LOG[2]  # (ABC, 2024-01-03, 2024-01-04), made at 22:00 and at 21:00
    write_log(isolated_home, [later, earlier])
    new = {"ticker": "XYZ", "as_of": "2024-01-08", "date": "2024-01-09", "horizon": 1, "forecast": 104.0,
           "lower": 100.0, "upper": 108.0, "last_close": 104.0}
    record_predictions(Store(), [new])
    assert [(row["ticker"], row["forecast"], row["created_at"]) for row in read_predictions(Store())][:1] == [
        ("ABC", 101.0, "2024-01-03T22:00:00+00:00")]  # not the last in the file, made an hour before
    assert len(read_predictions(Store())) == 2


@pytest.mark.parametrize("level", ["1.0", "0", "-0.9", "nan", "high", ""])
def test_a_logged_level_outside_0_and_1_is_a_damaged_row(cli, isolated_home, level):
    write_record(isolated_home, "..", [0.9, 0.9])
    log = isolated_home / "data" / "predictions.csv"
    lines = log.read_text().splitlines()
    lines[2] = lines[2].replace(",0.9,", f",{level},")
    log.write_text("\n".join(lines) + "\n")
    result = cli("score")
    reason = f"bad level {level!r} (not a number)" if level in ("high", "") else f"level {level} is not between 0 and 1"
    assert (result.code, result.out, result.err) == (3, "", f"Error: {log} row 3: {reason}; fix or delete that row\n")


@pytest.mark.slow
def test_predict_with_a_long_record_still_imports_no_scipy(cli, isolated_home, tmp_path):
    import subprocess
    import sys

    from conftest import random_walk_bars

    bars = random_walk_bars(200)
    path = tmp_path / "abc.csv"
    path.write_text(format_csv(bars))
    assert cli("fetch", "ABC", "--csv", path).code == 0
    assert cli("train", "ABC", *FAST_TRAINING).code == 0
    dates, closes = [str(d) for d in bars.dates], bars.adj_close
    rows = [("ABC", dates[j - 1], dates[j], 1, closes[j - 1], closes[j - 1] * 0.98, closes[j - 1] * 1.02,
             closes[j - 1], "2024-01-02T22:00:00+00:00") for j in range(80, 200)]
    write_log(isolated_home, rows)  # 120 scored forecasts: enough for Kupiec's test
    assert json.loads(cli("score", "-f", "json").out)[0]["kupiec_p_lower"] is not None
    probe = ("import sys; from forecaster.cli import main; code = main(['predict', 'ABC']); "
             "print(code, 'scipy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "0 False", done.stderr
    assert "ABC: live record of 1-day forecasts: RMSE " in done.stderr


def test_predict_reminds_of_the_live_record(cli, isolated_home, tmp_path):
    from conftest import random_walk_bars

    bars = random_walk_bars(200)
    path = tmp_path / "abc.csv"
    path.write_text(format_csv(bars.take(slice(0, 199))))
    assert cli("fetch", "ABC", "--csv", path).code == 0
    assert cli("train", "ABC", *FAST_TRAINING).code == 0
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
    assert cli("train", "MSFT", *FAST_TRAINING).code == 0
    assert cli("predict", "MSFT", "--days", "3", "-q").code == 0
    evaluation = tmp_path / "eval.csv"
    evaluated = cli("evaluate", "MSFT", "--test-start", "2012-06-01", *FAST_TRAINING, "--predictions", evaluation, "-q")
    assert evaluated.code == 0
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
    assert cli("evaluate", "MSFT", "--test-start", "2012-12-03", "--horizon", "5", *FAST_TRAINING,
               "--predictions", evaluation, "-q").code == 0
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


@pytest.fixture
def msft_evaluation(cli, isolated_home, tmp_path):
    """The sample stored, and MSFT's walk-forward evaluation from 2012-06-01 in eval.csv."""
    assert cli("fetch", "--sample", "-q").code == 0
    path = tmp_path / "eval.csv"
    assert cli("evaluate", "MSFT", "--test-start", "2012-06-01", *FAST_TRAINING, "--predictions", path,
               "-q").code == 0
    return path


def rewrite_csv(path, out, change, first=()):
    """`out`: the CSV file `path` with `change(row)` applied to each row (a dict), `first` columns put first."""
    with path.open() as handle:
        rows = [change(row) for row in csv.DictReader(handle)]
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*first, *(k for k in rows[0] if k not in first)])
        writer.writeheader()
        writer.writerows(rows)
    return out


def test_an_evaluation_of_another_ticker_is_refused_naming_the_file(cli, msft_evaluation, tmp_path):
    result = cli("plot", "IBM", "--evaluation", msft_evaluation, "--out", tmp_path / "iev.png")
    assert (result.code, result.out, result.err) == (
        2, "", f"Error: --evaluation {msft_evaluation} is not the evaluation of IBM: its actual prices move unlike "
               "IBM's stored closes on 169 of 186 days (another ticker's file?)\n")
    assert not (tmp_path / "iev.png").exists()
    named = rewrite_csv(msft_evaluation, tmp_path / "named.csv", lambda row: {**row, "ticker": "msft"}, ["ticker"])
    result = cli("plot", "IBM", "--evaluation", named, "--out", tmp_path / "iev.png")
    assert (result.code, result.err) == (
        2, f"Error: --evaluation {named} is the evaluation of MSFT, not of IBM: plot it with its ticker, or write "
           "IBM's with 'forecast evaluate IBM --predictions'\n")
    assert cli("plot", "MSFT", "--evaluation", named, "--out", tmp_path / "mev.png", "-q").code == 0
    elsewhen = tmp_path / "elsewhen.csv"
    elsewhen.write_text("date,actual,model,naive\n2099-01-02,100,101,100\n2099-01-05,101,100,100\n")
    result = cli("plot", "IBM", "--evaluation", elsewhen, "--out", tmp_path / "iev.png")
    assert (result.code, result.err) == (
        2, f"Error: --evaluation {elsewhen} is not the evaluation of IBM: no close of IBM is stored on its dates "
           "(2099-01-02 to 2099-01-05)\n")


def test_a_few_rows_of_another_tickers_evaluation_are_refused_too(cli, msft_evaluation, tmp_path):
    lines = msft_evaluation.read_text().splitlines(keepends=True)
    for rows in (4, 2):  # too few days for the allowance of a revised bar or two: any move unlike IBM's tells
        short = tmp_path / f"short-{rows}.csv"
        short.write_text("".join(lines[: rows + 1]))
        result = cli("plot", "IBM", "--evaluation", short, "--out", tmp_path / "iev.png")
        assert result.code == 2 and result.err.startswith(
            f"Error: --evaluation {short} is not the evaluation of IBM: its actual prices move unlike IBM's"), rows
    own = tmp_path / "own.csv"
    own.write_text("".join(lines[:5]))
    assert cli("plot", "MSFT", "--evaluation", own, "--out", tmp_path / "mev.png", "-q").code == 0


def test_an_evaluation_file_of_several_horizons_or_a_repeated_column_is_refused(cli, msft_evaluation, tmp_path):
    lines = msft_evaluation.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    at = header.index("horizon")
    later = [",".join(v if i != at else "5" for i, v in enumerate(line.rstrip("\n").split(","))) + "\n"
             for line in lines[1:]]
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("".join(lines + later))
    result = cli("plot", "MSFT", "--evaluation", mixed, "--out", tmp_path / "mev.png")
    assert (result.code, result.err) == (
        2, f"Error: {mixed} holds forecasts 1, 5 sessions ahead; plot one: write it with 'forecast evaluate TICKER "
           "--horizon N --predictions FILE'\n")
    twice = tmp_path / "twice.csv"
    level = header.index("level")
    twice.write_text(",".join("lower" if i == level else name for i, name in enumerate(header)) + "\n"
                     + "".join(lines[1:]))
    result = cli("plot", "MSFT", "--evaluation", twice, "--out", tmp_path / "mev.png")
    assert (result.code, result.err) == (
        2, f"Error: {twice}: the column lower is in the header twice (columns {level + 1} and "
           f"{header.index('lower') + 1}); keep one\n")


def test_an_evaluation_still_plots_after_a_dividend_readjusted_the_prices_before_it(cli, msft_evaluation, tmp_path):
    def before_the_dividend(row):  # the adjusted closes before 2012-11-13 scaled down, as a dividend since does
        factor = 0.98 if row["date"] < "2012-11-13" else 1.0
        return {**row, "actual": str(float(row["actual"]) * factor)}

    readjusted = rewrite_csv(msft_evaluation, tmp_path / "readjusted.csv", before_the_dividend)
    result = cli("plot", "MSFT", "--evaluation", readjusted, "--out", tmp_path / "mev.png")
    assert (result.code, result.err) == (0, f"wrote {tmp_path / 'mev.png'}\n")


def test_every_title_of_the_picture_fits_inside_it(msft_evaluation, isolated_home):
    import matplotlib.pyplot as plt

    from forecaster.data.store import Store
    from forecaster.views.plot import draw, read_evaluation

    rows = [{**row, "level": 0.975} for row in read_evaluation(msft_evaluation)]  # a wide label: "97.5% interval"
    figure = draw("MSFT", Store(isolated_home).read_bars("MSFT"), last=120, forecast_rows=None, logged=[],
                  evaluation=rows)
    renderer = figure.canvas.get_renderer()
    try:
        titles = [axes.title for axes in figure.axes]
        assert "its 97.5% interval holds" in titles[1].get_text()
        for title in titles:
            box = title.get_window_extent(renderer)
            assert 0 <= box.x0 and box.x1 <= figure.bbox.width, title.get_text()
    finally:
        plt.close(figure)


def test_a_one_off_level_is_logged_beside_the_configured_band_which_score_keeps_scoring(cli, isolated_home, tmp_path):
    bars = random_walk_bars(260, seed=3)
    early, full = tmp_path / "early.csv", tmp_path / "full.csv"
    early.write_text(format_csv(bars.take(slice(0, 200))))
    full.write_text(format_csv(bars))
    assert cli("fetch", "ABC", "--csv", early, "-q").code == 0
    assert cli("train", "ABC", *FAST_TRAINING, "-q").code == 0
    cron = cli("predict", "--days", "2", "-q", "-f", "json")
    once = cli("predict", "--days", "2", "--level", "0.98", "-q", "-f", "json")
    assert (cron.code, once.code) == (0, 0), (cron.err, once.err)
    with open(isolated_home / "data" / "predictions.csv") as handle:
        logged = [(r["date"], float(r["level"]), round(float(r["lower"]), 6)) for r in csv.DictReader(handle)]
    assert sorted(logged) == sorted((r["date"], r["level"], round(r["lower"], 6)) for r in
                                    json.loads(cron.out) + json.loads(once.out))  # both bands, neither replaced
    assert cli("predict", "--days", "2", "-q").code == 0  # the next cron run replaces its own band only
    with open(isolated_home / "data" / "predictions.csv") as handle:
        assert sorted(float(r["level"]) for r in csv.DictReader(handle)) == [0.9, 0.9, 0.98, 0.98]
    assert cli("fetch", "ABC", "--csv", full, "-q").code == 0
    result = cli("score", "-f", "json")
    assert result.code == 0, result.err
    scores = json.loads(result.out)
    assert [(s["horizon"], s["n"], s["expected_per_tail"]) for s in scores] == [(1, 1, 0.05), (2, 1, 0.05)]
    (isolated_home / "forecast.toml").write_text("[predict]\nlevel = 0.98\n")
    scores = json.loads(cli("score", "-f", "json").out)
    assert [(s["horizon"], s["n"], s["expected_per_tail"]) for s in scores] == [(1, 1, 0.01), (2, 1, 0.01)]


def test_the_evaluation_panel_names_the_level_its_file_was_made_at(cli, isolated_home, tmp_path, monkeypatch):
    import matplotlib

    monkeypatch.setitem(matplotlib.rcParams, "svg.fonttype", "none")  # text as text, to be read back
    assert cli("fetch", "--sample", "-q").code == 0
    evaluation = tmp_path / "eval.csv"
    assert cli("evaluate", "MSFT", "--test-start", "2012-12-03", "--level", "0.8", *FAST_TRAINING,
               "--predictions", evaluation, "-q").code == 0
    chart = tmp_path / "chart.svg"
    result = cli("plot", "MSFT", "--evaluation", evaluation, "--out", chart)
    assert (result.code, result.err) == (0, f"wrote {chart}\n")
    svg = chart.read_text()
    assert "model's 80% interval" in svg and "its 80% interval holds" in svg and "model's 90%" not in svg


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


@pytest.mark.slow
def test_plot_does_not_import_matplotlib_elsewhere():
    import subprocess
    import sys

    probe = "import sys, forecaster.cli, forecaster.pipeline; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"
