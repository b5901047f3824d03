"""Files that are not regular files (data.files): outputs are refused before anything is touched, inputs before
they are read, so a FIFO never blocks a command and a device is never replaced. Every test runs under a deadline: a
regression would block on a FIFO, and the alarm turns that into a failure instead of a hung suite."""

import os
import signal
import stat

import pytest

from conftest import random_walk_bars, snapshot
from fault_helpers import FAST_TRAIN
from forecaster.data.bars import format_csv

FIFO_KIND = "a FIFO (named pipe)"
DEADLINE = 20  # seconds: far more than any of these commands takes, far less than a blocked read


@pytest.fixture(autouse=True)
def deadline():
    """SIGALRM after DEADLINE seconds interrupts a command blocked on a FIFO, failing the test."""
    def blocked(signum, frame):
        raise TimeoutError(f"blocked for {DEADLINE} s (reading a FIFO?)")

    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(DEADLINE)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def trained_home(home_with_abc):
    return home_with_abc


def fifo(path):
    os.mkfifo(path)
    return path


def symlink(path, target):
    path.symlink_to(target)
    return path


# ---------------------------------------------------------------------------------------------------- outputs
@pytest.mark.parametrize("make, kind", [
    (lambda d: fifo(d / "out.png"), FIFO_KIND),
    (lambda d: symlink(d / "out.png", fifo(d / "pipe")), FIFO_KIND),
    (lambda d: symlink(d / "out.png", "/dev/null"), "a character device"),
])
@pytest.mark.parametrize("command", [
    ["plot", "ABC", "--out", "{out}"],
    ["evaluate", "ABC", "--test-start", "2020-08-03", *FAST_TRAIN, "--predictions", "{out}"],
])
def test_an_output_that_is_not_a_regular_file_is_refused_and_left_alone(cli, trained_home, tmp_path, make, kind,
                                                                        command):
    (tmp_path / "outputs").mkdir()
    out = make(tmp_path / "outputs")
    before = snapshot(trained_home)
    result = cli(*[part.format(out=out) for part in command])
    assert (result.code, result.out, result.err) == (
        2, "", f"Error: {out} is {kind}, not a regular file; nothing was written (give a file name)\n")
    assert snapshot(trained_home) == before
    assert out.is_symlink() or stat.S_ISFIFO(out.lstat().st_mode)  # still what it was
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) in (["out.png"], ["out.png", "pipe"])


@pytest.mark.parametrize("command", [
    ["plot", "ABC", "--out", "{out}"],
    ["report", "--out", "{out}"],
    ["evaluate", "ABC", "--test-start", "2020-08-03", *FAST_TRAIN, "--predictions", "{out}"],
])
def test_an_output_in_a_missing_folder_is_refused_alike_by_every_command_and_no_folder_is_made(cli, trained_home,
                                                                                            tmp_path, command):
    out = tmp_path / "missing" / "folder" / "out.png"
    before = snapshot(trained_home)
    result = cli(*[part.format(out=out) for part in command])
    assert (result.code, result.out, result.err) == (
        2, "", f"Error: cannot write {out}: folder {out.parent} does not exist\n")
    assert snapshot(trained_home) == before
    assert not (tmp_path / "missing").exists()


def test_an_output_under_a_file_is_refused_naming_it(cli, trained_home, tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    out = tmp_path / "notes.txt" / "report.html"
    result = cli("report", "--out", out)
    assert (result.code, result.err) == (2, f"Error: cannot write {out}: {tmp_path / 'notes.txt'} is not a folder\n")


def test_a_relative_output_is_written_in_the_working_folder_that_exists(cli, trained_home, tmp_path):
    result = cli("report", "--out", "page.html", "-q")
    assert result.code == 0, result.err
    assert (tmp_path / "work" / "page.html").is_file()
    missing = cli("report", "--out", "pages/page.html")
    assert (missing.code, missing.err) == (
        2, f"Error: cannot write pages/page.html: folder {tmp_path / 'work' / 'pages'} does not exist\n")


# ----------------------------------------------------------------------------------------------------- inputs
@pytest.mark.parametrize("make, kind", [
    (lambda d: fifo(d / "in.csv"), FIFO_KIND),
    (lambda d: symlink(d / "in.csv", fifo(d / "pipe")), FIFO_KIND),
    (lambda d: symlink(d / "in.csv", "/dev/null"), "a character device"),
])
def test_a_csv_import_that_is_not_a_regular_file_is_refused_at_once(cli, isolated_home, tmp_path, make, kind):
    path = make(tmp_path)
    result = cli("fetch", "ABC", "--csv", path)
    assert (result.code, result.err) == (2, f"Error: {path} is {kind}, not a CSV file\n")
    assert not (isolated_home / "data").exists()


def test_a_settings_file_that_is_a_fifo_is_refused_at_once(cli, isolated_home):
    settings = fifo(isolated_home / "forecast.toml")
    result = cli("config")
    assert (result.code, result.err) == (2, f"Error: {settings} is {FIFO_KIND}, not a settings file\n")


def test_an_evaluation_file_that_is_a_fifo_is_refused_at_once(cli, trained_home, tmp_path):
    evaluation = fifo(tmp_path / "eval.csv")
    result = cli("plot", "ABC", "--evaluation", evaluation, "--out", tmp_path / "abc.png")
    assert (result.code, result.err) == (2, f"Error: {evaluation} is {FIFO_KIND}, not an evaluation file\n")


def test_a_fifo_among_bulk_imports_is_one_failure(cli, isolated_home, tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "aaa.csv").write_text(format_csv(random_walk_bars(50)))
    fifo(folder / "bbb.csv")
    result = cli("import", folder)
    assert result.code == 4
    assert result.err.splitlines()[-2:] == [f"Error: BBB: {folder / 'bbb.csv'} is {FIFO_KIND}, not a CSV file",
                                            "Error: 1 of 2 tickers failed: BBB"]
    assert (isolated_home / "data" / "AAA.csv").is_file()


# ------------------------------------------------------------------------------------------ the store's own files
@pytest.mark.parametrize("command", [["predict", "ABC"], ["list"]])
def test_a_stored_data_file_that_is_a_fifo_is_a_damaged_file_not_a_hang(cli, trained_home, command):
    data = trained_home / "data" / "ABC.csv"
    data.unlink()
    fifo(data)
    (trained_home / "data" / "ABC.json").unlink()
    fifo(trained_home / "data" / "ABC.json")  # its fetch information too
    result = cli(*command)
    if command == ["list"]:  # neither can be read: both are named so, the fetch information with a warning
        assert result.code == 0 and "│ ABC    │ unreadable │ unreadable │" in result.out
        assert result.err == (f"Warning: {trained_home / 'data' / 'ABC.json'} is {FIFO_KIND}, not a file; re-import "
                              "the file it came from with 'forecast fetch ABC --csv FILE', or run 'forecast fetch ABC' "
                              "if it came from Yahoo, to rewrite it\n")
    else:
        assert (result.code, result.err) == (
            3, f"Error: {data} is {FIFO_KIND}, not a file; run 'forecast fetch ABC' (or 'forecast fetch ABC --csv "
               "FILE') to replace it\n")


def test_a_data_file_that_is_a_directory_is_the_same_damaged_file_for_every_command(cli, trained_home, tmp_path):
    data = trained_home / "data" / "ABC.csv"
    data.unlink()
    data.mkdir()
    message = (f"Error: {data} is a directory, not a file; run 'forecast fetch ABC' (or 'forecast fetch ABC --csv "
               "FILE') to replace it\n")
    for command in (["predict", "ABC"], ["train", "ABC", *FAST_TRAIN], ["evaluate", "ABC", "--test-start",
                                                                        "2020-08-03"], ["plot", "ABC"]):
        result = cli(*command)
        assert (result.code, result.err) == (3, message), command
    assert cli("list", "-f", "json").out.count('"data": "unreadable"') == 1
    (tmp_path / "abc.csv").write_text(format_csv(random_walk_bars(200)))
    repaired = cli("fetch", "ABC", "--csv", tmp_path / "abc.csv")
    assert repaired.code == 0, repaired.err
    assert data.is_file() and (trained_home / "data" / "ABC.csv.damaged").is_dir()
