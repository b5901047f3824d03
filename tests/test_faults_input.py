"""Fault suite: hostile and broken input — junk CSV rows, odd ticker symbols, damaged files, bad homes."""

import json
import os
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FAST_TRAINING, random_walk_bars, snapshot
from forecaster.data.bars import COLUMNS, InvalidBars, format_csv, parse_csv
from forecaster.data.store import Store, normalize_ticker
from forecaster.errors import UsageError

HEADER = ",".join(COLUMNS)

# ---------------------------------------------------------------------------------------- property-based tests
valid_rows = st.lists(
    st.tuples(
        st.dates(min_value=__import__("datetime").date(1990, 1, 1), max_value=__import__("datetime").date(2030, 1, 1)),
        st.floats(0.01, 1e5), st.floats(0.01, 1e5), st.floats(0.01, 1e5), st.floats(0.01, 1e5),
        st.floats(0.01, 1e5), st.integers(0, 10**12),
    ),
    min_size=1, max_size=30, unique_by=lambda row: row[0],
)


@given(valid_rows)
def test_valid_rows_always_round_trip(rows):
    lines = [HEADER]
    for date, a, b, c, close, adj, volume in rows:
        high, low = max(a, b, c, close), min(a, b, c, close)
        lines.append(f"{date},{a!r},{high!r},{low!r},{close!r},{adj!r},{volume}")
    bars = parse_csv("\n".join(lines) + "\n", "in.csv")
    assert len(bars) == len(rows)
    assert parse_csv(format_csv(bars), "again").equals(bars)
    assert sorted(str(r[0]) for r in rows) == bars.dates.astype(str).tolist()


junk_field = st.one_of(st.text(max_size=12), st.sampled_from(["", "nan", "inf", "-1", "0", "1e400", "2020-02-30",
                                                                "NULL", "1,5", '"', "\x00"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.lists(st.lists(junk_field, min_size=0, max_size=9), min_size=1, max_size=5))
def test_junk_rows_never_corrupt_stored_data(cli, isolated_home, tmp_path, junk):
    good = format_csv(random_walk_bars(20))
    store = Store()
    if not store.has_bars("ABC"):
        (tmp_path / "good.csv").write_text(good)
        assert cli("fetch", "ABC", "--csv", tmp_path / "good.csv").code == 0
    before = store.bars_path("ABC").read_bytes()
    lines = good.splitlines()[:5] + [",".join(row) for row in junk] + good.splitlines()[5:]
    path = tmp_path / "junk.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    result = cli("fetch", "ABC", "--csv", path, "-q")
    assert result.code in (0, 2), result.err
    stored = store.read_bars("ABC")  # whatever happened, the stored file is valid
    if result.code == 2:
        assert store.bars_path("ABC").read_bytes() == before
        assert result.err.startswith(f"Error: {path}") and result.err.count("\n") == 1
    else:
        assert len(stored) >= 20


@given(st.text(min_size=0, max_size=60))
def test_no_accepted_ticker_can_name_a_path_outside_the_store(text):
    try:
        ticker = normalize_ticker(text)
    except UsageError:
        return
    data = Path("/store/data")
    path = data / f"{ticker}.csv"
    assert path.parent == data and os.path.normpath(path) == str(path)
    assert set(ticker) <= set(string.ascii_uppercase + string.digits + ".^=-") and not ticker.startswith(".")
    assert len(ticker) == 1 or ticker[-1].isalnum()  # no symbol ends with its punctuation (BTU- from btu_.us.txt)


@given(st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=6),
       st.sampled_from(["", ".HK", "-B", "=X", ".L"]), st.booleans())
def test_real_looking_symbols_are_accepted(stem, suffix, index):
    symbol = ("^" if index else "") + stem + suffix
    assert normalize_ticker(symbol.lower()) == symbol


# ------------------------------------------------------------------------------------------ damaged files
@pytest.fixture
def trained_home(cli, isolated_home, tmp_path):
    path = tmp_path / "abc.csv"
    path.write_text(format_csv(random_walk_bars(200)))
    assert cli("fetch", "ABC", "--csv", path).code == 0
    assert cli("train", "ABC", *FAST_TRAINING).code == 0
    return isolated_home


def model_files(home):
    directory = home / "models" / "_pool"
    meta = json.loads((directory / "meta.json").read_text())
    return directory / "meta.json", directory / meta["weights_file"], meta


def rewrite_meta(path, change):
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda meta, weights, m: weights.write_bytes(weights.read_bytes()[:200]),
         "{weights} does not match its checksum in meta.json (damaged?); run 'forecast train' to retrain it"),
        (lambda meta, weights, m: weights.write_bytes(b"garbage"),
         "{weights} does not match its checksum in meta.json (damaged?); run 'forecast train' to retrain it"),
        (lambda meta, weights, m: meta.write_text(meta.read_text()[:50]),
         "{meta} is not valid JSON (JSONDecodeError); run 'forecast train' to retrain it"),
        (lambda meta, weights, m: rewrite_meta(meta, lambda d: d.update(format_version=6)),
         "{meta} has model format 6, newer than this forecaster (0.1.0) reads (format 5); upgrade forecaster or run "
         "'forecast train' to retrain it"),
        (lambda meta, weights, m: rewrite_meta(meta, lambda d: d.update(format_version=4)),
         "{meta} is a model from an older forecaster (format 4); run 'forecast train' to retrain it"),
        (lambda meta, weights, m: rewrite_meta(meta, lambda d: d.update(format_version=1)),
         "{meta} is a model from an older forecaster (format 1); run 'forecast train' to retrain it"),
        (lambda meta, weights, m: rewrite_meta(meta, lambda d: d["hyperparameters"].update(hidden=9)),
         "{weights} does not match {meta}: lstm.weight_ih_l0 has shape (32, 7), expected (36, 7); run 'forecast "
         "train' to retrain it"),
        (lambda meta, weights, m: rewrite_meta(meta, lambda d: d["tickers"]["ABC"].pop("scaler")),
         "{meta} is a damaged model: tickers.ABC.scaler.mean is missing; run 'forecast train' to retrain it"),
    ],
)
def test_damaged_model_files_exit_3_naming_the_file_and_the_fix(cli, trained_home, damage, expected):
    meta, weights, _ = model_files(trained_home)
    damage(meta, weights, None)
    before = snapshot(trained_home)
    result = cli("predict", "ABC")
    assert (result.code, result.out) == (3, "")
    named = "" if "tickers.ABC" in expected else "ABC: "  # one line that names the ticker
    assert result.err == f"Error: {named}" + expected.format(meta=meta, weights=weights) + "\n"
    assert snapshot(trained_home) == before


def test_hand_edited_data_file_is_reported_then_repaired_by_the_fetch_the_message_names(cli, trained_home, tmp_path):
    data = trained_home / "data" / "ABC.csv"
    good = data.read_text()
    lines = good.splitlines()
    lines[7] = lines[7].replace(",", ",x", 1)
    damaged = "\n".join(lines) + "\n"
    data.write_text(damaged)
    before = snapshot(trained_home)
    expected = (f"Error: {data} row 8: bad Open 'x" + lines[7].split(",x")[1].split(",")[0] + "' (not a number); "
                "run 'forecast fetch ABC' (or 'forecast fetch ABC --csv FILE') to replace it\n")
    for args in (["predict", "ABC"], ["train", "ABC", *FAST_TRAINING]):
        result = cli(*args)
        assert (result.code, result.err) == (3, expected), args
        assert snapshot(trained_home) == before
    (tmp_path / "abc.csv").write_text(good)
    result = cli("fetch", "ABC", "--csv", tmp_path / "abc.csv", "-q")
    assert result.code == 0, result.err
    assert data.read_text() == good
    assert (trained_home / "data" / "ABC.csv.damaged").read_text() == damaged  # kept, never lost
    assert cli("predict", "ABC", "-q").code == 0


def test_repairing_fetch_says_where_the_damaged_file_went(cli, trained_home, tmp_path):
    data = trained_home / "data" / "ABC.csv"
    (tmp_path / "abc.csv").write_text(data.read_text())
    data.write_bytes(b"\xff\xfe garbage")
    result = cli("fetch", "ABC", "--csv", tmp_path / "abc.csv")
    assert result.code == 0
    assert (f"Warning: ABC: the damaged ABC.csv was replaced and kept as {data}.damaged ({data} is damaged: not "
            "UTF-8 text (byte 0))\n") in result.err


def test_garbage_prediction_log_is_reported_not_replaced(cli, trained_home):
    log = trained_home / "data" / "predictions.csv"
    log.write_text("this is not the log\n")
    result = cli("predict", "ABC")
    assert (result.code, result.err.splitlines()[-1]) == (
        4, f"Error: the forecasts were not logged: {log}: missing column(s) ticker, as_of, date, horizon, forecast, "
           "lower, upper, last_close, created_at; fix it or move it away (forecast then starts a new log)")
    assert "│ ABC    │" in result.out  # the forecast is shown all the same
    assert log.read_text() == "this is not the log\n"


def test_a_prediction_log_naming_a_column_twice_is_damaged_and_left_as_it_is(cli, trained_home):
    assert cli("predict", "ABC", "-q").code == 0
    log = trained_home / "data" / "predictions.csv"
    text = log.read_text()
    log.write_text(text.replace(",level,", ",lower,", 1))  # which lower is the band's? neither is read
    result = cli("score")
    assert (result.code, result.err) == (
        3, f"Error: {log}: the column lower is in the header twice (columns 6 and 8); keep one; fix it or move it away "
           "(forecast then starts a new log)\n")
    assert cli("predict", "ABC", "-q").code == 4  # forecast, but not logged over the damaged log
    assert log.read_text() == text.replace(",level,", ",lower,", 1)


def test_an_empty_prediction_log_is_an_empty_log(cli, trained_home):
    log = trained_home / "data" / "predictions.csv"
    log.write_text("")
    assert (cli("score").code, cli("score", "-f", "json").out) == (0, "[]\n")
    result = cli("predict", "ABC", "-q")
    assert (result.code, result.err) == (0, "")
    assert log.read_text().splitlines()[0] == ("ticker,as_of,date,horizon,forecast,lower,upper,level,last_close,"
                                               "created_at")
    assert len(log.read_text().splitlines()) == 2


def test_a_log_row_cut_short_names_the_missing_value(cli, trained_home):
    assert cli("predict", "ABC", "-q").code == 0
    log = trained_home / "data" / "predictions.csv"
    whole = log.read_text()
    log.write_text(whole + whole.splitlines()[1].rsplit(",", 2)[0][:-2])  # a write cut in the middle of a row
    reason = (f"{log} row 3: last_close is missing: the row has 8 of the 10 fields (cut short?); fix or delete that "
              "row")
    assert (cli("score").code, cli("score").err) == (3, f"Error: {reason}\n")
    result = cli("predict", "ABC")
    assert (result.code, result.err.splitlines()[-1]) == (4, f"Error: the forecasts were not logged: {reason}")


# ----------------------------------------------------------------------------------------------- bad homes
def test_home_whose_data_folder_is_a_file(cli, isolated_home, tmp_path):
    (isolated_home / "data").write_text("in the way")
    path = tmp_path / "abc.csv"
    path.write_text(format_csv(random_walk_bars(20)))
    result = cli("fetch", "ABC", "--csv", path)
    assert result.code == 2
    assert result.err == f"Error: ABC: cannot create {isolated_home / 'data'}: File exists\n"


def test_unwritable_home_is_a_clean_error(cli, isolated_home, tmp_path, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    path = tmp_path / "abc.csv"
    path.write_text(format_csv(random_walk_bars(20)))
    result = cli("fetch", "ABC", "--csv", path)
    assert (result.code, result.err) == (  # the machine's situation, not a usage error
        3, f"Error: ABC: cannot write in {isolated_home / 'data'}: Permission denied\n")
    assert not (isolated_home / "data" / "ABC.csv").exists()


def test_forecast_home_pointing_at_a_file(cli, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("FORECAST_HOME", str(tmp_path / "file"))
    result = cli("list")
    assert (result.code, result.err) == (2, f"Error: home {tmp_path / 'file'} is not a directory (set by --home or "
                                            "$FORECAST_HOME)\n")


# -------------------------------------------------------------------------------------------------- messages
def test_debug_shows_the_traceback_and_plain_mode_never_does(cli, isolated_home, monkeypatch):
    plain = cli("predict", "NOPE")
    assert "Traceback" not in plain.err and plain.err.count("\n") == 1
    debug = cli("predict", "NOPE", "--debug")
    assert debug.code == 3 and "Traceback (most recent call last)" in debug.err
    monkeypatch.setenv("FORECAST_DEBUG", "1")
    assert "Traceback" in cli("predict", "NOPE").err


def test_a_bug_is_an_internal_error_in_one_line(cli, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("forecaster.data.inventory.inventory", broken)
    result = cli("list")
    assert (result.code, result.err) == (1, "Error: internal error: ZeroDivisionError: division by zero (rerun with "
                                            "--debug for details)\n")


def test_invalid_bars_error_is_a_usage_error():
    assert issubclass(InvalidBars, UsageError)
