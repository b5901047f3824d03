"""Fault suite: the store protects itself, and every situation a user can be in is one clear line, never exit 1.

Output options cannot write into the store; bars from the future, bars outside their own range and another series
posing as a ticker's history are refused; damaged logs are damaged files (exit 3); files keep their permissions;
bad sizes, environments and output streams are the user's situation, not bugs.
"""

import datetime as dt
import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from conftest import fast_training, random_walk_bars, snapshot, watchlist_home
from fault_helpers import FAST_TRAIN, forecast_command, run_as_a_user
from forecaster.data.bars import COLUMNS, format_csv

HEADER = ",".join(COLUMNS)


@pytest.fixture
def trained_home(cli, isolated_home, tmp_path):
    path = tmp_path / "abc.csv"
    path.write_text(format_csv(random_walk_bars(200, seed=1)))
    assert cli("fetch", "ABC", "--csv", path, "-q").code == 0
    assert cli("train", "ABC", *FAST_TRAIN, "-q").code == 0
    assert cli("predict", "ABC", "-q").code == 0
    return isolated_home


# ------------------------------------------------------------------------------------------ output paths
@pytest.mark.parametrize("args, inside", [
    (["plot", "ABC", "--out", "{home}/data/ABC.csv"], "data"),
    (["plot", "ABC", "--out", "{home}/data/predictions.png"], "data"),
    (["plot", "ABC", "--out", "{home}/models/ABC/meta.png"], "models"),
    (["plot", "ABC", "--out", "{home}/.cache/x.png"], ".cache"),
    (["plot", "ABC", "--out", "{home}/data/../data/new.png"], "data"),
    (["evaluate", "ABC", "--test-start", "2020-08-03", "--predictions", "{home}/data/ABC.csv", *FAST_TRAIN], "data"),
    (["evaluate", "ABC", "--test-start", "2020-08-03", "--predictions", "{home}/.locks/ABC.lock", *FAST_TRAIN],
     ".locks"),
])
def test_no_output_option_writes_inside_the_store(cli, trained_home, args, inside):
    before = snapshot(trained_home)
    args = [a.format(home=trained_home) for a in args]
    result = cli(*args)
    path = next(a for a in args if a.startswith(str(trained_home)))
    assert (result.code, result.out) == (2, "")
    assert result.err == (f"Error: {path} is inside the store's {inside}/ folder, which forecast manages; write the "
                          "output somewhere else\n")
    assert snapshot(trained_home) == before


def test_no_output_overwrites_the_settings_file(cli, trained_home):
    settings = trained_home / "forecast.toml"
    settings.write_text("tickers = [\"ABC\"]\n")
    result = cli("evaluate", "ABC", "--test-start", "2020-08-03", "--predictions", settings, *FAST_TRAIN)
    assert (result.code, result.err) == (2, f"Error: {settings} is the home's settings file; write the output "
                                            "somewhere else\n")
    assert settings.read_text() == "tickers = [\"ABC\"]\n"


def test_a_symlink_into_the_store_is_seen_through(cli, trained_home, tmp_path):
    (tmp_path / "link").symlink_to(trained_home / "data")
    result = cli("plot", "ABC", "--out", tmp_path / "link" / "ABC.png")
    assert result.code == 2 and "inside the store's data/ folder" in result.err


def test_outputs_beside_the_store_are_fine(cli, trained_home):
    assert cli("plot", "ABC", "--out", trained_home / "ABC.png", "-q").code == 0


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".pdf", b"%PDF"), (".png", b"\x89PNG")])
def test_plot_writes_the_format_its_suffix_names(cli, trained_home, tmp_path, suffix, magic):
    out = tmp_path / f"chart{suffix}"
    assert cli("plot", "ABC", "--out", out, "-q").code == 0
    assert out.read_bytes().startswith(magic)


def test_plot_refuses_an_unknown_suffix_before_any_work(cli, trained_home, tmp_path):
    result = cli("plot", "ABC", "--out", tmp_path / "chart.docx")
    assert (result.code, result.err) == (2, f"Error: --out {tmp_path / 'chart.docx'}: unknown picture format "
                                            "'.docx'; use one of .png, .svg, .pdf, .jpg, .jpeg, .eps\n")
    assert not (tmp_path / "chart.docx").exists()


# ----------------------------------------------------------------------------------------- what is imported
def csv_with_row(tmp_path, row: str, bars=None):
    text = format_csv(bars if bars is not None else random_walk_bars(50)).rstrip("\n") + "\n" + row + "\n"
    path = tmp_path / "in.csv"
    path.write_text(text)
    return path, len(text.splitlines())


@pytest.mark.parametrize("date", [(dt.date.today() + dt.timedelta(days=2)).isoformat(), "2099-01-02"])
def test_rows_dated_in_the_future_are_refused_naming_file_and_row(cli, isolated_home, tmp_path, date):
    path, row = csv_with_row(tmp_path, f"{date},100,101,99,100,100,1000")
    result = cli("fetch", "ABC", "--csv", path)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith(f"Error: {path} row {row}: Date {date} is in the future (today is ")
    assert not (isolated_home / "data").exists()


@pytest.mark.parametrize("values, message", [
    ("105,104,99,100", "Open 105 is outside the day's range [Low 99, High 104]"),
    ("100,104,99,98.5", "Close 98.5 is outside the day's range [Low 99, High 104]"),
    ("100,101,99,101.01", "Close 101.01 is outside the day's range [Low 99, High 101]"),
])
def test_open_or_close_outside_the_days_range_is_refused(cli, isolated_home, tmp_path, values, message):
    path, row = csv_with_row(tmp_path, f"2020-06-01,{values},100,1000", random_walk_bars(20))
    result = cli("fetch", "ABC", "--csv", path)
    assert (result.code, result.err) == (2, f"Error: {path} row {row}: {message}\n")


def test_another_series_cannot_silently_replace_a_history(cli, isolated_home, tmp_path):
    (tmp_path / "abc.csv").write_text(format_csv(random_walk_bars(300, seed=1)))
    (tmp_path / "other.csv").write_text(format_csv(random_walk_bars(300, seed=2)))
    assert cli("fetch", "ABC", "--csv", tmp_path / "abc.csv", "-q").code == 0
    before = snapshot(isolated_home)
    result = cli("fetch", "ABC", "--csv", tmp_path / "other.csv")
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("Error: ABC: the new data changes the daily moves of ")
    assert result.err.endswith("which no dividend or split re-adjustment does: is it another series?; nothing was "
                               "changed (rerun with --replace to replace the stored history)\n")
    assert snapshot(isolated_home) == before
    replaced = cli("fetch", "ABC", "--csv", tmp_path / "other.csv", "--replace", "-q")
    assert replaced.code == 0
    assert (isolated_home / "data" / "ABC.csv").read_text() == (tmp_path / "other.csv").read_text()


def test_a_dividend_readjustment_and_revised_last_bars_are_not_a_new_series(cli, isolated_home, tmp_path):
    bars = random_walk_bars(300, seed=1)
    (tmp_path / "abc.csv").write_text(format_csv(bars))
    assert cli("fetch", "ABC", "--csv", tmp_path / "abc.csv", "-q").code == 0
    adjusted = bars.adj_close.copy()
    adjusted[:200] *= 0.98  # a 2% dividend paid on day 200: every earlier adjusted close scaled by one factor
    adjusted[-1] *= 1.01  # and the last bar revised
    close = bars.close.copy()
    close[-1] *= 1.01
    high = bars.high.copy()
    high[-1] = max(high[-1], close[-1])
    restated = type(bars)(bars.dates, bars.open, high, bars.low, close, adjusted, bars.volume)
    (tmp_path / "restated.csv").write_text(format_csv(restated))
    result = cli("fetch", "ABC", "--csv", tmp_path / "restated.csv", "-q")
    assert result.code == 0, result.err
    assert (isolated_home / "data" / "ABC.csv").read_text() == format_csv(restated)


@pytest.mark.parametrize("row, message", [
    ("2020-06-01,1e308,1e308,1e308,1e308,1e308,1000", "Open 1e+308 cannot be a price (above 1e+15)"),
    ("2020-06-01,100,101,99,100,2e15,1000", "Adj Close 2000000000000000 cannot be a price (above 1e+15)"),
    ("1712-03-01,100,101,99,100,100,1000", "Date 1712-03-01 is before 1900: no daily price history starts that early "
                                           "(a wrong date format?)"),
    ("2020-06-01,1e-310,1,1e-310,1e-310,1,1000",
     "the prices of 2020-06-01 are out of any usable range (their log or log return is not a finite number)"),
])
def test_values_that_cannot_be_prices_are_refused(cli, isolated_home, tmp_path, row, message):
    path, number = csv_with_row(tmp_path, row, random_walk_bars(20))
    result = cli("fetch", "ABC", "--csv", path)
    assert (result.code, result.err) == (2, f"Error: {path} row {number}: {message}\n")
    assert not (isolated_home / "data").exists()


def test_a_move_no_stock_makes_is_stored_with_a_warning_naming_the_date(cli, isolated_home, tmp_path):
    bars = random_walk_bars(60)
    scale = np.ones(60)
    scale[40:] = 100.0  # prices in cents from day 40: a wrong file
    wrong = type(bars)(bars.dates, *(column * scale for column in (bars.open, bars.high, bars.low, bars.close,
                                                                   bars.adj_close)), bars.volume)
    (tmp_path / "abc.csv").write_text(format_csv(wrong))
    result = cli("fetch", "ABC", "--csv", tmp_path / "abc.csv")
    assert result.code == 0
    before, after = wrong.adj_close[39], wrong.adj_close[40]
    assert (f"Warning: ABC: the adjusted close moves from {before:.6g} to {after:.6g} (x{after / before:.3g}) on "
            f"{wrong.dates[40]}: no stock moves that much in a day; an unadjusted split, or a wrong file? Stored "
            "anyway\n") in result.err
    again = cli("fetch", "ABC", "--csv", tmp_path / "abc.csv")  # nothing new: no second warning
    assert (again.code, "Warning" in again.err) == (0, False)


def test_revised_bars_that_move_by_more_than_a_few_percent_are_stored_with_a_warning(cli, isolated_home, tmp_path):
    bars = random_walk_bars(60)
    (tmp_path / "abc.csv").write_text(format_csv(bars))
    assert cli("fetch", "ABC", "--csv", tmp_path / "abc.csv", "-q").code == 0
    scale = np.ones(60)
    scale[-3:] = 1.2  # the last three closes 20% higher
    revised = type(bars)(bars.dates, *(column * scale for column in (bars.open, bars.high, bars.low, bars.close,
                                                                     bars.adj_close)), bars.volume)
    (tmp_path / "revised.csv").write_text(format_csv(revised))
    result = cli("fetch", "ABC", "--csv", tmp_path / "revised.csv")
    assert result.code == 0
    was = 100 * np.log(bars.adj_close[-3] / bars.adj_close[-4])
    now = 100 * np.log(revised.adj_close[-3] / revised.adj_close[-4])
    assert (f"Warning: ABC: the new data changes the daily move of {bars.dates[-3]} by more than 5% (on "
            f"{bars.dates[-3]}: stored {was:+.2f}%, new {now:+.2f}%); stored anyway: is there a split not adjusted "
            "for, or a wrong file?\n") in result.err
    assert "│ ABC    │   60 │ 2020-01-02 │ 2020-03-25 │          0 │            3 │" in result.out


# -------------------------------------------------------------------------------------------- damaged files
@pytest.mark.parametrize("damage, reason", [
    (lambda p: p.write_bytes(p.read_bytes().replace(b"ABC", b"AB\xe9", 1)), "is damaged: not UTF-8 text (byte "),
    (lambda p: p.write_bytes(b"\x00\x01\x02 binary"), "is damaged: it contains binary data"),
    ("unreadable", "cannot be read (permission denied)"),
])
@pytest.mark.parametrize("command, code", [(["predict", "ABC"], 4), (["score"], 3),
                                           (["plot", "ABC", "--out", "x.png"], 3)])
def test_a_damaged_prediction_log_is_a_damaged_file_not_a_bug(cli, trained_home, monkeypatch, damage, reason,
                                                              command, code):
    log = trained_home / "data" / "predictions.csv"
    if damage == "unreadable":  # chmod 0 would not stop root, who runs CI: refuse the read itself
        refuse_reading(monkeypatch, log)
    else:
        damage(log)
    result = cli(*command)
    assert result.code == code  # predict shows its forecasts, then says they were not logged
    assert result.err.splitlines()[-1].startswith(
        f"Error: {'the forecasts were not logged: ' if command[0] == 'predict' else ''}{log} {reason}")
    assert "internal error" not in result.err
    assert result.err.splitlines()[-1].endswith("fix it or move it away (forecast then starts a new log)")
    assert ("│ ABC    │" in result.out) is (command[0] == "predict")


@pytest.mark.parametrize("field, value, problem", [
    ("date", "2021-13-45", "bad date '2021-13-45' in date (expected YYYY-MM-DD)"),
    ("as_of", "yesterday", "bad date 'yesterday' in as_of (expected YYYY-MM-DD)"),
    ("as_of", "20200102", "bad date '20200102' in as_of (expected YYYY-MM-DD)"),
    ("forecast", "nan", "forecast must be a positive finite number, got nan"),
    ("upper", "-inf", "upper must be a positive finite number, got -inf"),
    ("last_close", "0", "last_close must be a positive finite number, got 0"),
    ("lower", "one", "bad lower 'one' (not a number)"),
    ("horizon", "0", "horizon must be 1 or more (sessions ahead), got 0"),
    ("horizon", "1.5", "bad horizon '1.5' (not a whole number)"),
    ("ticker", "abc", "ticker 'abc' is not a ticker symbol as forecast writes it (forecast writes ABC)"),
    ("ticker", "../abc", "ticker '../abc' is not a ticker symbol as forecast writes it"),
    ("lower", "1e9", "lower 1e9 is above upper {upper}"),
])
def test_a_bad_row_in_the_prediction_log_is_a_damaged_file_naming_the_row(cli, home_with_abc, field, value, problem):
    trained_home = home_with_abc
    log = trained_home / "data" / "predictions.csv"
    lines = log.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    upper = row[header.index("upper")]
    row[header.index(field)] = value
    log.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    before = snapshot(trained_home)
    for command in (["score"], ["plot", "ABC", "--out", "x.png"]):
        result = cli(*command)
        assert (result.code, result.out) == (3, ""), command
        assert result.err == f"Error: {log} row 2: {problem.format(upper=upper)}; fix or delete that row\n", command
    result = cli("predict", "ABC", "-q")  # the forecast is shown; that it was not logged is an error of its own
    assert (result.code, result.out.count("│ ABC    │")) == (4, 1)
    assert result.err == (f"Error: the forecasts were not logged: {log} row 2: {problem.format(upper=upper)}; fix or "
                          "delete that row\n")
    assert snapshot(trained_home) == before


def test_two_log_rows_with_one_key_made_at_once_are_a_damaged_log_not_the_last_one_winning(cli, home_with_abc):
    log = home_with_abc / "data" / "predictions.csv"
    lines = log.read_text().splitlines()
    header, row = lines[0].split(","), lines[1].split(",")
    row[header.index("forecast")] = repr(float(row[header.index("forecast")]) * 1.01)  # another forecast, one key
    log.write_text("\n".join([*lines, ",".join(row)]) + "\n")
    before = snapshot(home_with_abc)
    result = cli("score")
    key = ", ".join(row[header.index(column)] for column in ("ticker", "as_of", "date")) + ", 0.9"
    made = row[header.index("created_at")]
    assert (result.code, result.out, result.err) == (
        3, "", f"Error: {log} row 3: another forecast for the same ticker, as_of, date, level as row 2 ({key}), made "
               f"at the same time ({made}); forecast writes one: delete the wrong one\n")
    assert snapshot(home_with_abc) == before


def test_a_full_disk_loses_the_log_not_the_forecasts(cli, home_with_abc, monkeypatch):
    import errno
    import tempfile

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    log = home_with_abc / "data" / "predictions.csv"
    before = log.read_bytes()
    monkeypatch.setattr(tempfile, "mkstemp", disk_full)
    result = cli("predict", "ABC", "-q")
    assert (result.code, result.out.count("│ ABC    │")) == (4, 1)  # shown; not a usage error (exit 2)
    assert result.err == (f"Error: the forecasts were not logged: cannot write in {log.parent}: No space left on "
                          "device\n")
    assert log.read_bytes() == before


def refuse_reading(monkeypatch, path):
    """Reading `path` from the store fails with EACCES, as for a file of another user (chmod does not stop root)."""
    import forecaster.data.store

    real_read = forecaster.data.store.read_regular

    def read_regular(candidate):
        if candidate == path:
            raise PermissionError(13, "Permission denied", str(candidate))
        return real_read(candidate)

    monkeypatch.setattr(forecaster.data.store, "read_regular", read_regular)


def test_an_unreadable_meta_json_says_so(cli, trained_home, monkeypatch):
    meta = trained_home / "models" / "_pool" / "meta.json"
    refuse_reading(monkeypatch, meta)
    result = cli("predict", "ABC")
    assert (result.code, result.err) == (
        3, f"Error: ABC: {meta} cannot be read (permission denied); run 'forecast train' to retrain it\n")


# ------------------------------------------------------------------------------------------- permissions
def test_a_model_folder_that_cannot_be_searched_is_named_not_a_bug(isolated_home):
    """models/ or models/_pool/ without read and search permission (chmod 600): each command names the folder (exit 3),
    `list` shows the models as unreadable, and nothing is changed. Real processes, which meet the permissions."""
    home = watchlist_home(isolated_home, {"AB": random_walk_bars(200, seed=1), "KO": random_walk_bars(200, seed=2)})
    before = snapshot(home)
    for folder in (home / "models", home / "models" / "_pool"):
        denied = (f"the folder {folder} cannot be read (permission denied); the user running forecast needs read and "
                  "search permission on it")
        folder.chmod(0o600)
        try:
            listed = run_as_a_user(home, "list", "-f", "csv")
            results = {command: run_as_a_user(home, *command.split()) for command in (
                "predict", "train KO " + " ".join(FAST_TRAIN), "train " + " ".join(FAST_TRAIN), "remove KO --yes")}
        finally:
            folder.chmod(0o755)
        assert (listed.returncode, listed.stderr) == (0, "")
        assert [line.split(",")[7] for line in listed.stdout.splitlines()] == ["model", "unreadable", "unreadable"]
        assert {command: (result.returncode, result.stdout, result.stderr) for command, result in results.items()} == {
            "predict": (3, "", f"Error: {denied} (2 tickers: AB, KO)\nError: 2 of 2 tickers failed: AB, KO\n"),
            "train KO " + " ".join(FAST_TRAIN): (3, "", f"Error: {denied}\n"),
            "train " + " ".join(FAST_TRAIN): (3, "", f"Error: the pool: {denied}\nError: 2 of 2 tickers failed: AB, "
                                                     "KO\n"),
            "remove KO --yes": (3, "", f"Error: KO: {denied}\n")}, folder
    assert snapshot(home) == before


def test_a_read_only_home_still_shows_the_forecasts(home_with_abc):
    """Every folder and file of the home read-only (a real process, which meets the permissions): predict prints
    the forecast, says in a line of its own that it could not be logged, and exits 4, not 2 (usage)."""
    before = snapshot(home_with_abc)
    paths = [home_with_abc, *home_with_abc.rglob("*")]
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in paths}
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        result = run_as_a_user(home_with_abc, "predict", "-q")
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert (result.returncode, result.stdout.count("│ ABC    │")) == (4, 1)
    assert result.stderr == (f"Error: the forecasts were not logged: cannot create a lock file in "
                             f"{home_with_abc / '.locks'}: Permission denied\n")
    assert snapshot(home_with_abc) == before


def test_files_are_written_with_the_umask_and_keep_their_mode(cli, isolated_home, tmp_path):
    (tmp_path / "abc.csv").write_text(format_csv(random_walk_bars(150)))
    old = os.umask(0o022)
    try:
        assert cli("fetch", "ABC", "--csv", tmp_path / "abc.csv", "-q").code == 0
        data = isolated_home / "data" / "ABC.csv"
        assert stat.S_IMODE(data.stat().st_mode) == 0o644
        assert cli("train", "ABC", *FAST_TRAIN, "-q").code == 0
        assert stat.S_IMODE((isolated_home / "models" / "_pool" / "meta.json").stat().st_mode) == 0o644
        data.chmod(0o664)  # a shared home: group-writable
        (tmp_path / "abc.csv").write_text(format_csv(random_walk_bars(160)))
        assert cli("fetch", "ABC", "--csv", tmp_path / "abc.csv", "-q").code == 0
        assert stat.S_IMODE(data.stat().st_mode) == 0o664
        assert cli("plot", "ABC", "--out", tmp_path / "web.png", "-q").code == 0
        assert stat.S_IMODE((tmp_path / "web.png").stat().st_mode) == 0o644
    finally:
        os.umask(old)


# ------------------------------------------------------------------------------- the user's situation, exit 2/3
@pytest.mark.parametrize("args, message", [
    (["train", "ABC", "--seed", "-1"], "--seed must be between 0 and 4294967295, got -1"),
    (["train", "ABC", "--hidden", "100000"], "--hidden must be between 1 and 1024, got 100000"),
    (["train", "ABC", "--window", "5000"], "--window must be between 2 and 1000, got 5000"),
    (["train", "ABC", "--layers", "50"], "--layers must be between 1 and 8, got 50"),
    (["evaluate", "ABC", "--test-start", "2020-08-03", "--batch-size", "0"],
     "--batch-size must be between 1 and 65536, got 0"),
    (["train", "ABC", "--lr", "nan"], "--lr must be greater than 0 and at most 1, got nan"),
])
def test_unreasonable_training_options_are_refused_before_any_work(cli, trained_home, args, message):
    before = snapshot(trained_home)
    result = cli(*args)
    assert (result.code, result.out, result.err) == (2, "", f"Error: {message}\n")
    assert snapshot(trained_home) == before


@pytest.mark.parametrize("value", ["abc", "-5", "nan", "inf"])
def test_a_bad_lock_timeout_in_the_environment_is_a_usage_error(cli, trained_home, monkeypatch, value):
    monkeypatch.setenv("FORECAST_LOCK_TIMEOUT", value)
    result = cli("predict", "ABC")
    assert (result.code, result.err) == (
        2, f"Error: $FORECAST_LOCK_TIMEOUT must be a number of seconds (0 or more), got '{value}'\n")


def test_days_beyond_the_calendar_is_a_usage_error_that_states_the_maximum(tmp_path):
    """predict stops at MAX_FORECAST_DAYS, well inside the calendar; the calendar's own bound still guards every
    caller of next_sessions."""
    from forecaster.data.calendar import next_sessions
    from forecaster.errors import UsageError

    last = str(dt.date.today() - dt.timedelta(days=200))
    with pytest.raises(UsageError) as error:
        next_sessions(last, 900, "XNYS", tmp_path)
    message = error.value.message
    assert message.startswith("--days 900 reaches past the end of the XNYS calendar (")
    maximum = int(message.split("at most ")[1].split(" ")[0])
    assert message.endswith(f"at most {maximum} sessions can be forecast after {last}")
    assert "upgrade" not in message
    assert len(next_sessions(last, maximum, "XNYS", tmp_path)) == maximum


def test_a_model_trained_on_far_future_data_is_no_longer_possible(cli, isolated_home, tmp_path):
    path, row = csv_with_row(tmp_path, "2099-12-31,100,101,99,100,100,1000", random_walk_bars(150))
    assert cli("fetch", "ABC", "--csv", path).code == 2
    assert not (isolated_home / "models").exists()


def run_forecast(home, *args, env=None, **kwargs):
    environment = {**os.environ, "FORECAST_HOME": str(home), **(env or {})}
    return subprocess.run(forecast_command(*args), capture_output=True, text=True, env=environment, timeout=120,
                          **kwargs)


def test_an_ascii_only_output_encoding_still_prints_the_table(trained_home):
    result = run_forecast(trained_home, "list", env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stderr
    assert "ABC" in result.stdout and "+--" in result.stdout


@pytest.mark.slow
def test_a_closed_stdout_is_one_line_and_exit_3(trained_home):
    command = " ".join(f"'{part}'" for part in forecast_command("predict", "ABC")) + " >&-"
    result = subprocess.run(["bash", "-c", command], capture_output=False, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "FORECAST_HOME": str(trained_home)}, timeout=120)
    assert result.returncode == 3
    assert result.stderr.splitlines()[-1] == "Error: standard output was closed before all results were written"
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_closed_stdout_does_not_stop_a_command_that_prints_nothing(trained_home, tmp_path):
    command = " ".join(f"'{part}'" for part in forecast_command("train", "ABC", *FAST_TRAIN, "-q")) + " >&-"
    result = subprocess.run(["bash", "-c", command], stderr=subprocess.PIPE, text=True, timeout=120,
                            env={**os.environ, "FORECAST_HOME": str(trained_home)})
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.slow
def test_a_broken_pipe_is_one_line_and_exit_3(trained_home):
    command = " ".join(f"'{part}'" for part in forecast_command("predict", "ABC", "--days", "60", "-f", "csv"))
    result = subprocess.run(["bash", "-c", f"set -o pipefail; {command} | head -c 10 > /dev/null; "
                                           "echo ${PIPESTATUS[0]} >&2"], stderr=subprocess.PIPE, text=True,
                            timeout=120, env={**os.environ, "FORECAST_HOME": str(trained_home)})
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    assert lines[-1] in ("0", "3")  # the pipe may take all 60 rows before head exits
    if lines[-1] == "3":
        assert lines[-2] == "Error: standard output was closed before all results were written"


# ------------------------------------------------------------------------------------------------- friction
def test_demo_in_a_temporary_home_points_to_no_file_it_deleted(cli):
    result = cli("demo", "--epochs", "1")
    assert result.code == 0, result.err
    assert "forecast demo in a temporary home" in result.out
    assert "forecast-demo-" not in result.out
    assert "'forecast demo --home DIR' keeps its data, models and log" in result.out


def test_duplicate_tickers_are_handled_once(cli, trained_home, tmp_path):
    result = cli("predict", "ABC", "abc", "ABC", "-f", "json")
    assert result.code == 0 and len(json.loads(result.out)) == 1
    (trained_home / "data" / "abc.csv").write_text((trained_home / "data" / "ABC.csv").read_text())
    listed = json.loads(cli("list", "-f", "json").out)
    assert [row["ticker"] for row in listed] == ["ABC"]
    trained = cli("train", *FAST_TRAIN)
    assert trained.code == 0 and trained.out.count("ABC") == 1


def test_predict_json_prints_an_empty_list_when_every_ticker_fails(cli, trained_home):
    result = cli("predict", "NOPE", "-f", "json")
    assert (result.code, result.out) == (3, "[]\n")
    assert result.err == (f"Error: no model and no price data for NOPE in {trained_home}: run 'forecast fetch NOPE' "
                          "(or import its file), then 'forecast train NOPE'\n")


def test_a_table_column_has_one_precision_and_zero_is_zero(cli, trained_home):
    import forecaster.views.output as output

    text = output.render_table([{"a": 99.5, "b": -0.0}, {"a": 100.25, "b": 0.125}], ["a", "b"])
    assert "99.50" in text and "100.25" in text and "99.5000" not in text
    assert "-0" not in text and "0.1250" in text
    train = cli("train", "ABC", *FAST_TRAIN)
    assert "network share" in train.out and "shrinkage" not in train.out and "-0.0000" not in train.out


def test_a_cron_log_says_1_epoch_not_1_epochs(cli, trained_home):
    result = cli("train", "ABC", *fast_training(epochs=1))
    assert "the pool: trained 1 epoch on 1 ticker to 2020-10-07" in result.err


@pytest.mark.slow
def test_python_module_entry_point_runs(trained_home):
    result = subprocess.run([sys.executable, "-m", "forecaster", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("forecast ")
