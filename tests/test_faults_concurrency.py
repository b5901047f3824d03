"""Fault suite: many real `forecast` processes on one home at once end exactly as a serial run would."""

import csv
import json

import numpy as np
import pytest

from fault_helpers import FAST_TRAIN, run, start, write_csv_files
from forecaster.data.store import Store
from forecaster.model.serving import serving_model

pytestmark = pytest.mark.slow  # every test here starts the CLI as concurrent processes


def prepare_home(home, files):
    """A home with IBM and ^GSPC imported from the sample and a model for each, trained serially."""
    assert run(home, "fetch", "--sample", "-q").returncode == 0
    done = run(home, "train", "IBM", "^GSPC", *FAST_TRAIN, "-q")
    assert done.returncode == 0, done.stderr


JOBS = [
    ("fetch", "ABC", "--csv", "{ABC0}"), ("fetch", "ABC", "--csv", "{ABC1}"), ("fetch", "ABC", "--csv", "{ABC2}"),
    ("fetch", "XYZ", "--csv", "{XYZ}"),
    ("train", "MSFT", *FAST_TRAIN), ("train", "MSFT", *FAST_TRAIN),
    ("predict", "IBM", "--days", "3"), ("predict", "^GSPC", "--days", "2"), ("predict", "IBM", "^GSPC", "--days", "4"),
    ("predict", "IBM", "--days", "1"),
]


def log_rows(home):
    with open(home / "data" / "predictions.csv") as handle:
        return sorted((r["ticker"], r["as_of"], r["date"], r["horizon"], r["forecast"], r["lower"], r["upper"])
                      for r in csv.DictReader(handle))


def test_concurrent_fetch_train_predict_equal_a_serial_run(tmp_path):
    files = write_csv_files(tmp_path / "csv")
    concurrent, serial = tmp_path / "concurrent", tmp_path / "serial"
    for home in (concurrent, serial):
        prepare_home(home, files)

    jobs = [[str(arg).format(**files) for arg in job] for job in JOBS]
    processes = [start(concurrent, *job) for job in jobs]
    for process, job in zip(processes, jobs, strict=True):
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, (job, err)
    for job in jobs:
        done = run(serial, *job)
        assert done.returncode == 0, (job, done.stderr)

    for name in ("ABC.csv", "XYZ.csv", "IBM.csv", "MSFT.csv", "^GSPC.csv"):
        assert (concurrent / "data" / name).read_bytes() == (serial / "data" / name).read_bytes(), name
    assert (concurrent / "data" / "ABC.csv").read_bytes() == files["ABC"].read_bytes()
    assert log_rows(concurrent) == log_rows(serial)
    assert len(log_rows(concurrent)) == len({row[:3] for row in log_rows(concurrent)}) == 4 + 4  # IBM 4, ^GSPC 4
    (first, _), (second, _) = serving_model(Store(concurrent), "MSFT"), serving_model(Store(serial), "MSFT")
    for key, value in first.network.state_dict().items():
        np.testing.assert_array_equal(value, second.network.state_dict()[key])
    mine, theirs = (json.loads(json.dumps(model.meta["tickers"]["MSFT"])) for model in (first, second))
    for section in (mine, theirs):
        section["training"].pop("calibrated_at")  # when, not what
    assert mine == theirs  # calibrated against the pool alike
    leftovers = [p for p in concurrent.rglob("*.tmp")]
    assert leftovers == []


def test_a_lock_held_too_long_ends_the_waiting_job_with_exit_3(tmp_path):
    from filelock import FileLock

    files = write_csv_files(tmp_path / "csv")
    home = tmp_path / "home"
    (home / ".locks").mkdir(parents=True)
    with FileLock(home / ".locks" / "ABC.lock"):
        done = run(home, "fetch", "ABC", "--csv", files["ABC"], env_extra={"FORECAST_LOCK_TIMEOUT": "0.5"})
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr == "Error: ABC is locked by another forecast process (waited 0.5 s); try again later\n"
    assert not (home / "data" / "ABC.csv").exists()


def test_a_retrain_keeps_what_train_new_and_remove_did_while_it_ran(tmp_path):
    """`train` (a pool retrain) running while `train NEW` calibrates a new ticker and `remove COST` takes one out:
    the retrain's pool, saved last, serves NEW and not COST, as a serial run would leave it."""
    import json
    import shutil
    import time

    from conftest import random_walk_bars
    from forecaster.data.bars import format_csv

    files = write_csv_files(tmp_path / "csv")
    for ticker, seed in (("COST", 5), ("NEW", 6)):
        files[ticker] = tmp_path / "csv" / f"{ticker}.csv"
        files[ticker].write_text(format_csv(random_walk_bars(300, seed=seed)))
    home = tmp_path / "home"
    small = ["--model", "pooled", "--window", "10", "--hidden", "8", "--patience", "0", "--market", "none"]
    for ticker in ("ABC", "XYZ", "COST"):
        assert run(home, "fetch", ticker, "--csv", files[ticker], "-q").returncode == 0
    assert run(home, "train", *small, "--epochs", "3", "-q").returncode == 0

    shutil.rmtree(home / ".cache" / "bars")  # the retrain's reads fill it again: the sign that it is training
    retrain = start(home, "train", *small, "--epochs", "5000")  # many seconds
    deadline = time.monotonic() + 60
    while not all(list((home / ".cache" / "bars" / t).glob("*")) for t in ("ABC", "XYZ", "COST")):
        assert retrain.poll() is None and time.monotonic() < deadline, "the retrain never read its data"
        time.sleep(0.05)
    for job in (("fetch", "NEW", "--csv", files["NEW"]), ("train", "NEW", *small), ("remove", "COST", "--yes")):
        done = run(home, *job, "-q")
        assert done.returncode == 0, (job, done.stderr)
    assert retrain.poll() is None, "the retrain ended before the others: it did not run alongside them"
    out, err = retrain.communicate(timeout=300)
    assert retrain.returncode == 0, err

    meta = json.loads((home / "models" / "_pool" / "meta.json").read_text())
    assert sorted(meta["tickers"]) == ["ABC", "NEW", "XYZ"]
    assert not (home / "data" / "COST.csv").exists()
    done = run(home, "predict", "-q")
    assert done.returncode == 0, done.stderr
    assert sorted(line.split()[1] for line in done.stdout.splitlines() if line.startswith("│ ")) == [
        "ABC", "NEW", "XYZ"]
    assert "NEW: calibrated against the stored pool while this one trained, now calibrated against this one" in err
