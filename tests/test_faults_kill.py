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
    process = start(home, "train", "ABC", "--window", "10", "--epochs", "5000", "--patience", "0")  # minutes
    time.sleep(3.0)  # well into training
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err.splitlines()[-1]) == (130, "Error: interrupted")
    assert "Traceback" not in err
    assert {p.name: p.read_bytes() for p in (home / "models" / "_pool").iterdir()} == before
    assert list(home.rglob("*.tmp")) == []
