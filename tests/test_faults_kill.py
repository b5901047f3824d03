"""Fault suite: SIGKILL or Ctrl-C at any moment of `fetch` or `train` loses nothing and leaves nothing behind."""

import random
import signal
import time

import pytest

from fault_helpers import FAST_TRAIN, run, start, write_csv_files
from forecaster.data.bars import read_csv

pytestmark = pytest.mark.slow  # every test here starts the CLI as processes, killed

KILLS = 6


def test_random_sigkills_of_train_and_fetch_never_lose_data_or_break_predict(tmp_path):
    files = write_csv_files(tmp_path / "csv")
    home = tmp_path / "home"
    assert run(home, "fetch", "ABC", "--csv", files["ABC0"], "-q").returncode == 0
    assert run(home, "train", "ABC", *FAST_TRAIN, "-q").returncode == 0
    first_rows = read_csv(files["ABC0"])
    rng = random.Random(7)
    for attempt in range(KILLS):
        # train takes ~2 s here (imports included); fetch ~0.5 s: kill anywhere in that span
        train = start(home, "train", "ABC", *FAST_TRAIN, "--epochs", "20", "--seed", str(attempt))
        fetch = start(home, "fetch", "ABC", "--csv", files["ABC"] if attempt % 2 else files["ABC1"])
        time.sleep(rng.uniform(0.05, 2.5))
        for process in (train, fetch):
            process.kill()
            process.communicate(timeout=30)

        stored = read_csv(home / "data" / "ABC.csv")  # parses: never half-written
        assert set(first_rows.dates.tolist()) <= set(stored.dates.tolist()), attempt
        done = run(home, "predict", "ABC", "-q")
        assert done.returncode == 0, (attempt, done.stderr)
    assert run(home, "fetch", "ABC", "--csv", files["ABC"], "-q").returncode == 0
    assert run(home, "train", "ABC", *FAST_TRAIN, "-q").returncode == 0
    assert list(home.rglob("*.tmp")) == []  # the next writers cleaned up after the killed ones
    assert len(list((home / "models" / "_pool").glob("weights-*.npz"))) == 1


def test_ctrl_c_exits_130_and_keeps_the_previous_model(tmp_path):
    files = write_csv_files(tmp_path / "csv")
    home = tmp_path / "home"
    assert run(home, "fetch", "ABC", "--csv", files["ABC"], "-q").returncode == 0
    assert run(home, "train", "ABC", *FAST_TRAIN, "-q").returncode == 0
    before = {p.name: p.read_bytes() for p in (home / "models" / "_pool").iterdir()}
    process = start(home, "train", "ABC", "--model", "pooled", "--window", "10", "--epochs", "5000", "--patience",
                    "0")  # minutes
    time.sleep(3.0)  # well into training
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err.splitlines()[-1]) == (130, "Error: interrupted")
    assert "Traceback" not in err
    assert {p.name: p.read_bytes() for p in (home / "models" / "_pool").iterdir()} == before
    assert list(home.rglob("*.tmp")) == []


# A `forecast` process that SIGKILLs itself right after it writes a file of data/ with the suffix it is given (.json:
# a ticker's source, .csv: its bars): the moments between the two writes of a ticker's bars and their source.
KILLED_AFTER = """
import os, signal, sys
from pathlib import Path
import forecaster.data.store as store
write = store.atomic_write_bytes
def write_then_die(path, data):
    write(path, data)
    if Path(path).suffix == sys.argv[1] and Path(path).parent.name == "data":
        os.kill(os.getpid(), signal.SIGKILL)
store.atomic_write_bytes = write_then_die
from forecaster.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_killed_after(suffix, home, *args):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", KILLED_AFTER, suffix, *map(str, args)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "FORECAST_HOME": str(home)})


def test_a_kill_between_the_bars_and_their_source_leaves_both_old_or_both_new(tmp_path):
    """data/TICKER.csv and data/TICKER.json are one unit: a kill after either write leaves the bars with their own
    source, the old pair or the new one (it used to leave new bars with the old source, or none)."""
    import json

    files = write_csv_files(tmp_path / "csv")
    home = tmp_path / "home"
    assert run(home, "fetch", "ABC", "--csv", files["ABC0"], "-q").returncode == 0
    before = (home / "data" / "ABC.csv").read_bytes()

    def listed():
        return {row["ticker"]: (row["source"], row["rows"]) for row in
                json.loads(run(home, "list", "-f", "json").stdout)}

    killed = run_killed_after(".json", home, "fetch", "ABC", "--csv", files["ABC"])  # another file: a new source
    assert killed.returncode == -signal.SIGKILL
    assert json.loads((home / "data" / "ABC.json").read_text())["source"] == "csv:ABC.csv"  # written, then the kill
    assert (home / "data" / "ABC.csv").read_bytes() == before
    assert listed() == {"ABC": ("csv:ABC-part0.csv", 250)}  # the old bars, with their own source
    assert run(home, "fetch", "ABC", "--csv", files["ABC"], "-q").returncode == 0  # the import again: both new
    assert listed() == {"ABC": ("csv:ABC.csv", 400)}

    killed = run_killed_after(".csv", home, "fetch", "ABC", "--csv", files["ABC1"], "--replace")
    assert killed.returncode == -signal.SIGKILL
    assert listed() == {"ABC": ("csv:ABC-part1.csv", 150)}  # the new bars, with their own source

    for suffix in (".json", ".csv"):  # a first import: neither is there yet, or both are
        killed = run_killed_after(suffix, home, "import", files["XYZ"])
        assert killed.returncode == -signal.SIGKILL
        assert listed() == {"ABC": ("csv:ABC-part1.csv", 150), **({"XYZ": ("csv:XYZ.csv", 300)} if suffix == ".csv"
                                                                   else {})}, suffix
    assert list(home.rglob("*.tmp")) == []
