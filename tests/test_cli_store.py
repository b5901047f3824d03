"""`forecast fetch --csv/--sample` and `forecast list` through the entry point: exact codes and messages."""

import json
import subprocess
import sys

import pytest

from conftest import random_walk_bars, snapshot
from forecaster.data.bars import format_csv

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


def write(path, text):
    path.write_text(text)
    return path


def test_sample_import_installs_three_real_tickers(cli, isolated_home):
    result = cli("fetch", "--sample")
    assert result.code == 0, result.err
    assert sorted(p.name for p in (isolated_home / "data").glob("*.csv")) == ["IBM.csv", "MSFT.csv", "^GSPC.csv"]
    listed = json.loads(cli("list", "--format", "json").out)
    assert [(r["ticker"], r["rows"], r["first_date"], r["last_date"]) for r in listed] == [
        ("IBM", 3270, "2000-03-01", "2013-03-01"),
        ("MSFT", 3270, "2000-03-01", "2013-03-01"),
        ("^GSPC", 5031, "1999-01-04", "2018-12-31"),
    ]
    assert all(r["fetched_at"] and r["source"] == "sample" and r["data"] == "ok" and r["model"] is None
               for r in listed)


@pytest.mark.parametrize("args", [["list", "--home", "~nouser-of-forecaster"],
                                  ["fetch", "--sample", "--home", "~nouser-of-forecaster"]])
def test_a_home_under_a_user_that_does_not_exist_is_a_usage_error(cli, isolated_home, args):
    result = cli(*args)
    assert (result.code, result.out, result.err) == (
        2, "", "Error: ~nouser-of-forecaster: no home folder for ~nouser-of-forecaster (no such user?)\n")


def test_second_sample_import_changes_nothing(cli, isolated_home):
    cli("fetch", "--sample")
    data = {p.name: p.read_bytes() for p in (isolated_home / "data").glob("*.csv")}
    result = cli("fetch", "--sample")
    assert result.code == 0
    assert data == {p.name: p.read_bytes() for p in (isolated_home / "data").glob("*.csv")}
    assert "IBM: 3270 rows to 2013-03-01 (0 added)" in result.err


def test_csv_import_merges_and_is_idempotent(cli, isolated_home, tmp_path):
    bars = random_walk_bars(40)
    first = write(tmp_path / "a.csv", format_csv(bars.take(slice(0, 30))))
    second = write(tmp_path / "b.csv", format_csv(bars.take(slice(25, 40))))
    assert cli("fetch", "ABC", "--csv", first).code == 0
    result = cli("fetch", "ABC", "--csv", second, "--quiet")
    assert (result.code, result.out, result.err) == (0, "", "")
    assert (isolated_home / "data" / "ABC.csv").read_text() == format_csv(bars)


def test_csv_import_respects_start_and_end(cli, isolated_home, tmp_path):
    bars = random_walk_bars(40)
    path = write(tmp_path / "a.csv", format_csv(bars))
    assert cli("fetch", "ABC", "--csv", path, "--start", "2020-01-10", "--end", "2020-01-20").code == 0
    stored = (isolated_home / "data" / "ABC.csv").read_text().splitlines()
    assert (stored[1][:10], stored[-1][:10], len(stored)) == ("2020-01-10", "2020-01-20", 8)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "{path}: no such file"),
        ("", "{path} is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "{path} is not a CSV file (not UTF-8 text)"),
        ("Date,Close\n2020-01-02,1\n", "{path}: missing column(s) Open, High, Low, Volume (expected "
                                       "Date,Open,High,Low,Close,Adj Close,Volume)"),
        ("Date,Open,High,Low,Close,Adj Close,Volume,Close\n2020-01-02,1,2,1,1,1,1,1.5\n",
         "{path}: the column Close is in the header twice (columns 5 and 8); keep one"),
        (HEADER + "yesterday,1,2,1,1,1,1\n", "{path} row 2: bad Date 'yesterday' (expected YYYY-MM-DD)"),
        (HEADER + "2020-01-02,1,2,1,one,1,1\n", "{path} row 2: bad Close 'one' (not a number)"),
        (HEADER + "2020-01-02,1,2,1,0,1,1\n", "{path} row 2: Close must be positive, got 0"),
        (HEADER + "2020-01-02,1,1,2,1,1,1\n", "{path} row 2: High 1 is below Low 2"),
        (HEADER + "2020-01-02,1,2,1,1,1,1\n2020-01-02,1,2,1,1.5,1,1\n",
         "{path} rows 2 and 3: date 2020-01-02 appears twice with different values"),
    ],
)
def test_bad_csv_exits_2_naming_file_and_row_and_leaves_store_unchanged(cli, isolated_home, tmp_path, content,
                                                                        message):
    path = tmp_path / "in.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    cli("fetch", "--sample")
    cli("fetch", "MSFT", "--csv", write(tmp_path / "ok.csv", format_csv(random_walk_bars(10))))
    before = snapshot(isolated_home)
    result = cli("fetch", "MSFT", "--csv", path)
    assert (result.code, result.out, result.err) == (2, "", f"Error: {message.format(path=path)}\n")
    assert snapshot(isolated_home) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fetch", "../x"], "invalid ticker symbol '../x': use 1-20 letters, digits and . - ^ = (e.g. MSFT, ^GSPC, "
                            "BRK-B)"),
        (["fetch", "/etc/x", "--csv", "f.csv"], "invalid ticker symbol '/etc/x': use 1-20 letters, digits and . - "
                                                "^ = (e.g. MSFT, ^GSPC, BRK-B)"),
        (["fetch", "MSFT", "--start", "2020-02-01", "--end", "2020-01-01"],
         "--start 2020-02-01 is after --end 2020-01-01"),
        (["fetch", "MSFT", "--start", "soon"], "--start 'soon' is not a date (expected YYYY-MM-DD)"),
        (["fetch"], 'give one or more tickers, or --sample (or list a watchlist in {home}/forecast.toml: tickers = '
                    '["MSFT", ...])'),
        (["fetch", "--sample", "MSFT"], "--sample takes no tickers and no --csv"),
        (["fetch", "A", "B", "--csv", "f.csv"], "--csv imports one ticker: give exactly one TICKER"),
        (["fetch", "--nonsense"], "No such option: --nonsense (see 'forecast fetch --help')"),
    ],
)
def test_usage_errors_exit_2_with_one_line(cli, isolated_home, args, message):
    before = snapshot(isolated_home)
    result = cli(*args)
    assert (result.code, result.out, result.err) == (2, "", f"Error: {message.format(home=isolated_home)}\n")
    assert snapshot(isolated_home) == before


def test_parser_errors_name_the_option_and_point_at_help(cli):
    result = cli("list", "--format", "xml")
    assert (result.code, result.out, result.err.count("\n")) == (2, "", 1)
    assert result.err.startswith("Error: Invalid value for '--format'")
    assert "'xml'" in result.err and result.err.endswith(" (see 'forecast list --help')\n")


def test_home_option_and_home_that_is_a_file(cli, tmp_path):
    assert cli("fetch", "--sample", "--home", tmp_path / "h").code == 0
    assert (tmp_path / "h" / "data" / "MSFT.csv").is_file()
    write(tmp_path / "f", "x")
    result = cli("list", "--home", tmp_path / "f")
    assert (result.code, result.err) == (2, f"Error: home {tmp_path / 'f'} is not a directory (set by --home or "
                                            "$FORECAST_HOME)\n")


@pytest.mark.parametrize("command", [("list",), ("config",), ("check",), ("list", "-f", "json"), ("score",),
                                     ("predict",)])
def test_a_command_that_only_reads_creates_no_home(cli, tmp_path, command):
    cli(*command, "--home", tmp_path / "typo")
    assert not (tmp_path / "typo").exists()


def test_a_command_that_writes_creates_the_home(cli, tmp_path):
    assert not (tmp_path / "new" / "home").exists()
    assert cli("fetch", "--sample", "--home", tmp_path / "new" / "home", "-q").code == 0
    assert (tmp_path / "new" / "home" / "data" / "MSFT.json").is_file()


def test_list_on_empty_home_explains_what_to_do(cli, isolated_home):
    result = cli("list")
    assert result.code == 0
    assert result.err == (f"Nothing stored in {isolated_home} yet: try 'forecast fetch MSFT' or "
                          "'forecast fetch --sample'.\n")
    assert json.loads(cli("list", "--format", "json").out) == []


def test_list_marks_an_unreadable_file_instead_of_failing(cli, isolated_home):
    cli("fetch", "--sample")
    (isolated_home / "data" / "IBM.csv").write_text("garbage")
    rows = json.loads(cli("list", "-f", "json").out)
    assert (rows[0]["ticker"], rows[0]["data"], rows[0]["rows"], rows[0]["first_date"]) == ("IBM", "unreadable", None,
                                                                                             None)


@pytest.mark.slow
def test_real_entry_point_runs_as_a_process(isolated_home):
    done = subprocess.run([sys.executable, "-m", "forecaster", "fetch", "../etc"], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("Error: invalid ticker symbol '../etc'")
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_progress_bars_only_for_a_person_at_a_terminal(isolated_home):
    """As cron (pipes): plain status lines. As a person (a pseudo-terminal): a live progress display instead."""
    import os
    import pty

    as_cron = subprocess.run([sys.executable, "-m", "forecaster", "fetch", "--sample"], capture_output=True,
                             text=True, timeout=60)
    assert as_cron.returncode == 0
    assert "MSFT: 3270 rows to 2013-03-01 (3270 added)" in as_cron.stderr and "\x1b[" not in as_cron.stderr

    primary, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    person = subprocess.run([sys.executable, "-m", "forecaster", "fetch", "--sample"], stdin=secondary,
                            stdout=secondary, stderr=secondary, env=env, timeout=60)
    os.close(secondary)
    screen = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(primary)
    text = screen.decode(errors="replace")
    assert person.returncode == 0
    assert "Fetching" in text and "\x1b[" in text
    assert "MSFT: 3270 rows to 2013-03-01" not in text
