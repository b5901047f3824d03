"""`train --jobs N` and `evaluate --jobs N`: worker processes for per-ticker models and evaluations, results
bit-identical to a serial run (the pool's too), failures kept apart, Ctrl-C and SIGKILL leave every model old or new."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import fast_training, random_walk_bars
from fault_helpers import forecast_command, run
from forecaster.data.bars import format_csv
from forecaster.data.store import Store
from forecaster.model.serving import Model

pytestmark = pytest.mark.slow  # every test here starts worker processes and the CLI as processes

TICKERS = ("AAA", "BBB", "CCC", "DDD")
TRAIN = fast_training(epochs=4)
OWN = [*TRAIN, "--model", "per-ticker"]


def fill(home, tmp_path, tickers=TICKERS, n=260):
    for seed, ticker in enumerate(tickers):
        path = tmp_path / f"{ticker}.csv"
        path.write_text(format_csv(random_walk_bars(n, seed=seed)))
        assert run(home, "fetch", ticker, "--csv", path, "-q").returncode == 0


def model_files(home, ticker):
    """The model's files, minus the creation and calibration times (which say when, not what)."""
    directory = home / "models" / ticker
    meta = json.loads((directory / "meta.json").read_text())
    meta.pop("created_at")
    for section in meta["tickers"].values():
        section["training"].pop("calibrated_at")
    weights = (directory / meta["weights_file"]).read_bytes()
    return meta, weights


def test_jobs_give_bit_identical_models_to_a_serial_run(tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    for home in (serial, parallel):
        fill(home, tmp_path)
    one = run(serial, "train", *OWN, "--jobs", "1")
    two = run(parallel, "train", *OWN, "--jobs", "2")
    assert (one.returncode, two.returncode) == (0, 0), (one.stderr, two.stderr)
    for ticker in TICKERS:
        assert model_files(serial, ticker) == model_files(parallel, ticker), ticker
    assert one.stdout == two.stdout  # the summary lists the tickers in the order given, whatever finished first


def test_the_pool_is_bit_identical_whatever_jobs_is(tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    for home in (serial, parallel):
        fill(home, tmp_path)
    one = run(serial, "train", *TRAIN, "--jobs", "1", "-q")
    two = run(parallel, "train", *TRAIN, "--jobs", "2", "-q")
    assert (one.returncode, two.returncode) == (0, 0), (one.stderr, two.stderr)
    first, second = model_files(serial, "_pool"), model_files(parallel, "_pool")
    assert first[1] == second[1]  # the weights
    assert first[0] == second[0]


def test_a_failing_ticker_does_not_stop_the_others(tmp_path):
    home = tmp_path / "home"
    fill(home, tmp_path)
    fill(home, tmp_path, ("SHORT",), n=40)
    result = run(home, "train", *OWN, "--jobs", "2")
    assert result.returncode == 4
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        "Error: SHORT has 40 rows of history; training with --window 10 needs at least 91 (fetch or import more "
        "history, or use "
        "a smaller --window)",  # as it happens ...
        "Error: 1 of 5 tickers failed: SHORT",  # ... and counted at the end
    ]
    assert result.stderr.splitlines()[-1] == "Error: 1 of 5 tickers failed: SHORT"
    assert sorted(p.name for p in (home / "models").iterdir()) == sorted(TICKERS)


def test_evaluate_over_several_tickers_in_parallel_matches_serial(tmp_path):
    home = tmp_path / "home"
    fill(home, tmp_path, TICKERS[:3])
    args = ["evaluate", *TICKERS[:3], "--test-start", "2020-09-01", *TRAIN, "-f", "json"]
    serial, parallel = run(home, *args, "--jobs", "1"), run(home, *args, "--jobs", "2")
    assert (serial.returncode, parallel.returncode) == (0, 0), parallel.stderr
    reports = json.loads(parallel.stdout)
    assert [r["ticker"] for r in reports] == list(TICKERS[:3])
    assert reports == json.loads(serial.stdout)
    assert all({"model", "naive", "linear"} <= set(r) for r in reports)


def test_evaluate_writes_one_predictions_file_per_ticker(tmp_path):
    home = tmp_path / "home"
    fill(home, tmp_path, TICKERS[:2])
    out = tmp_path / "eval-{ticker}.csv"
    result = run(home, "evaluate", *TICKERS[:2], "--test-start", "2020-09-01", *TRAIN, "--predictions", out, "-q")
    assert result.returncode == 0, result.stderr
    for ticker in TICKERS[:2]:
        assert (tmp_path / f"eval-{ticker}.csv").read_text().startswith("date,horizon,level,actual,model,lower,upper")
    refused = run(home, "evaluate", *TICKERS[:2], "--test-start", "2020-09-01", "--predictions", tmp_path / "e.csv")
    assert (refused.returncode, refused.stderr) == (
        2, "Error: --predictions with several tickers or horizons needs {ticker} in the file name, e.g. "
           "eval-{ticker}.csv\n")


def start_group(home, *args):
    """A `forecast` process leading its own process group (so a test can signal it and its workers alike)."""
    return subprocess.Popen(forecast_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "FORECAST_HOME": str(home)}, start_new_session=True)


def processes_using(home) -> list[int]:
    """PIDs of live processes whose environment names this home (the command and its workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    if f"FORECAST_HOME={home}".encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def assert_models_old_or_new(home, tickers, *, swept: bool):
    """Every model either absent or complete and loadable; with `swept`, no temporary file left anywhere (a killed
    writer may leave a hidden one, which the next writer of that file removes)."""
    store = Store(home)
    for ticker in tickers:
        if (home / "models" / ticker / "meta.json").exists():
            Model.load(store, ticker)
    if swept:
        assert [p for p in home.rglob("*.tmp")] == []


def wait_gone(home, seconds=20.0):
    deadline = time.monotonic() + seconds
    while processes_using(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    return processes_using(home)


def test_ctrl_c_stops_the_workers_and_leaves_no_half_written_model(tmp_path):
    home = tmp_path / "home"
    fill(home, tmp_path)
    process = start_group(home, "train", *fast_training(epochs=5000),
                          "--model", "per-ticker", "--jobs", "2")
    time.sleep(6.0)  # the workers are training by now
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err.splitlines()[-1]) == (130, "Error: interrupted")
    assert "Traceback" not in err
    assert wait_gone(home) == []  # no worker left behind
    assert_models_old_or_new(home, TICKERS, swept=False)  # a model finished before Ctrl-C is whole, the rest absent


@pytest.mark.parametrize("seed", [1, 3])  # two random moments: each run costs about 13 s
def test_sigkill_of_a_parallel_run_leaves_every_model_old_or_new(tmp_path, seed):
    home = tmp_path / "home"
    fill(home, tmp_path)
    assert run(home, "train", *OWN, "--jobs", "2", "-q").returncode == 0
    process = start_group(home, "train", *OWN, "--epochs", "30", "--seed", str(seed), "--jobs", "2")
    time.sleep(random.Random(seed).uniform(1.0, 6.0))
    os.killpg(process.pid, signal.SIGKILL)  # the command and its workers, as the OOM killer or a reboot would
    process.communicate(timeout=30)
    assert wait_gone(home) == []
    assert_models_old_or_new(home, TICKERS, swept=False)
    assert run(home, "predict", "-q").returncode == 0
    assert run(home, "train", *OWN, "--jobs", "2", "-q").returncode == 0
    assert_models_old_or_new(home, TICKERS, swept=True)


def wait_for_workers(process, seconds=30.0, count=2):
    """Wait until the run `process` has `count` loky workers at work (each a child running LokyProcess)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        children = [pid for pid in os.listdir("/proc") if pid.isdigit() and _child_of(int(pid), process.pid)]
        workers = [pid for pid in children if b"LokyProcess" in _read(f"/proc/{pid}/cmdline")]
        if len(workers) >= count:
            return workers
        time.sleep(0.1)
    raise AssertionError("the workers did not start")


def _read(path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _child_of(pid: int, parent: int) -> bool:
    stat = _read(f"/proc/{pid}/stat").decode(errors="replace")
    return bool(stat) and stat.rsplit(")", 1)[-1].split()[1] == str(parent)


LONG_TRAIN = [*fast_training(epochs=5000), "--jobs", "2", "--model",
              "per-ticker"]


@pytest.mark.parametrize("stop, code, message", [(signal.SIGTERM, 143, "Error: stopped by SIGTERM\n"),
                                                 (signal.SIGHUP, 129, "Error: stopped by SIGHUP\n")])
def test_sigterm_and_sighup_stop_a_parallel_run_like_ctrl_c(tmp_path, stop, code, message):
    home = tmp_path / "home"
    fill(home, tmp_path)
    process = start_group(home, "train", *LONG_TRAIN)
    wait_for_workers(process)
    time.sleep(0.5)  # the workers are training by now
    process.send_signal(stop)  # the command only, as `kill PID` does, not its workers
    out, err = process.communicate(timeout=30)
    assert (process.returncode, out, err) == (code, "", message)
    assert wait_gone(home, seconds=10) == []  # the workers stopped with it
    assert_models_old_or_new(home, TICKERS, swept=False)


def test_workers_of_a_sigkilled_run_die_with_it_and_write_nothing(tmp_path):
    home = tmp_path / "home"
    fill(home, tmp_path)
    process = start_group(home, "train", *fast_training(epochs=40), "--jobs", "2", "--model",
                          "per-ticker")
    wait_for_workers(process)
    time.sleep(0.3)
    os.kill(process.pid, signal.SIGKILL)  # the command only: its workers are orphaned, mid-training
    process.communicate(timeout=30)  # returns once no process holds its pipes: the workers are gone too
    assert wait_gone(home, seconds=5) == []
    written = sorted(p.parent.name for p in home.glob("models/*/meta.json"))
    time.sleep(1.0)  # a surviving worker would have finished a 40-epoch model by now
    assert sorted(p.parent.name for p in home.glob("models/*/meta.json")) == written
    assert_models_old_or_new(home, TICKERS, swept=False)


def test_a_worker_whose_run_has_died_writes_nothing(tmp_path):
    """The check behind the kernel's (and the only one off Linux): a write in a process whose run is gone ends the
    process instead."""
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "model.json"
    probe = ("import sys\nfrom forecaster.data.store import atomic_write_text, work_for\n"
             "work_for(1)  # a run that is not our parent: as if ours had died and we were handed to init\n"
             "atomic_write_text(__import__('pathlib').Path(sys.argv[1]), 'late')\nprint('written')\n")
    done = subprocess.run([sys.executable, "-c", probe, str(target)], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert list((tmp_path / "out").iterdir()) == []  # neither the file nor a temporary one
