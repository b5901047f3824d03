"""`--scheduler`: the jobs (the pool's training, each ticker's own model) on a real Dask cluster (LocalCluster on
127.0.0.1, started and stopped here), through joblib's dask backend, after a preflight that names every worker that
cannot run them."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import fast_training, random_walk_bars
from forecaster.data.bars import format_csv

pytestmark = pytest.mark.slow  # every test here starts a local Dask cluster and its worker processes

distributed = pytest.importorskip("distributed", reason="the test extra installs dask[distributed]")

TICKERS = ("AAA", "BBB", "CCC")
TRAIN = fast_training(epochs=3)


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, one thread each, on loopback."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as local:
        yield local


@pytest.fixture
def filled(cli, isolated_home, tmp_path):
    for seed, ticker in enumerate(TICKERS):
        path = tmp_path / f"{ticker}.csv"
        path.write_text(format_csv(random_walk_bars(220, seed=seed)))
        assert cli("fetch", ticker, "--csv", path, "-q").code == 0
    return isolated_home


def models(home):
    found = {}
    for name in sorted(p.name for p in (home / "models").iterdir()):
        meta = json.loads((home / "models" / name / "meta.json").read_text())
        meta.pop("created_at")
        for section in meta["tickers"].values():
            section["training"].pop("calibrated_at")  # when, not what: the same model at another moment
        found[name] = (meta, (home / "models" / name / meta["weights_file"]).read_bytes())
    return found


def ran_jobs(cluster) -> bool:
    """Whether the scheduler has seen tasks of forecaster's job function (joblib names them batch_of_run_job_...)."""
    return any("run_job" in name for name in cluster.scheduler.task_prefixes)


@pytest.mark.parametrize("kind", ["pooled", "per-ticker"])
def test_training_on_the_cluster_equals_training_here(cli, filled, cluster, kind):
    result = cli("train", *TRAIN, "--model", kind, "--scheduler", cluster.scheduler_address)
    assert result.code == 0, result.err
    assert ran_jobs(cluster)
    on_cluster = models(filled)
    assert sorted(on_cluster) == (["_pool"] if kind == "pooled" else list(TICKERS))
    shutil.rmtree(filled / "models")
    assert cli("train", *TRAIN, "--model", kind, "--jobs", "1", "-q").code == 0
    assert models(filled) == on_cluster  # bit-identical
    assert all(ticker in result.out for ticker in TICKERS)


def test_the_scheduler_can_come_from_the_environment_or_the_file(cli, filled, cluster, monkeypatch):
    monkeypatch.setenv("FORECAST_SCHEDULER", cluster.scheduler_address)
    assert cli("train", *TRAIN, "-q").code == 0
    monkeypatch.delenv("FORECAST_SCHEDULER")
    (filled / "forecast.toml").write_text(f"[parallel]\nscheduler = \"{cluster.scheduler_address}\"\n")
    evaluated = cli("evaluate", "AAA", "BBB", "--test-start", "2020-09-01", *TRAIN, "-f", "json")
    assert evaluated.code == 0, evaluated.err
    assert [report["ticker"] for report in json.loads(evaluated.out)] == ["AAA", "BBB"]


def test_a_one_thread_cluster_still_runs_the_jobs_not_this_process(cli, filled):
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as single:
        result = cli("train", *TRAIN, "--scheduler", single.scheduler_address, "-q")
        assert result.code == 0, result.err
        assert ran_jobs(single)  # joblib's stock backend would have run them here, hiding the cluster


def test_an_unreachable_scheduler_is_exit_3_in_seconds(cli, filled):
    started = time.monotonic()
    result = cli("train", *TRAIN, "--scheduler", "tcp://127.0.0.1:9")
    assert result.code == 3 and result.out == ""
    assert result.err.startswith("Error: cannot connect to the Dask scheduler at tcp://127.0.0.1:9 (")
    assert result.err.endswith("is 'dask scheduler' running there, and the address right?\n")
    assert time.monotonic() - started < 30
    assert not (filled / "models").exists()


def extra_worker(address, folder, *, python_code: str = "", wrapper: list[str] | None = None):
    """A `dask worker` process (no nanny) joining `address`, after running `python_code` in it; its script is
    written in `folder`."""
    script = folder / "worker.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        {python_code}
        from distributed.cli.dask_worker import main
        sys.argv = ["dask-worker", {address!r}, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                    "--host", "127.0.0.1"]
        main()
    """))
    return subprocess.Popen([*(wrapper or []), sys.executable, str(script)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd="/")


def wait_for_workers(address, count):
    with distributed.Client(address, timeout=30) as client:
        client.wait_for_workers(count, timeout=60)


@pytest.fixture
def small_cluster():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as local:
        yield local


def test_a_worker_that_cannot_import_forecaster_is_named_before_any_job(cli, filled, small_cluster, tmp_path):
    worker = extra_worker(small_cluster.scheduler_address, tmp_path,
                          python_code="sys.modules['forecaster'] = None  # as if forecaster were not installed")
    try:
        wait_for_workers(small_cluster.scheduler_address, 2)
        started = time.monotonic()
        result = cli("train", *TRAIN, "--scheduler", small_cluster.scheduler_address)
        assert time.monotonic() - started < 30
    finally:
        worker.kill()
        worker.wait()
    assert (result.code, result.out) == (3, "")
    assert result.err.startswith(f"Error: the Dask cluster at {small_cluster.scheduler_address} cannot run forecast "
                                 "jobs: tcp://127.0.0.1:")
    assert result.err.endswith("cannot import forecaster (install forecaster 0.1.0 there)\n")
    assert not (filled / "models").exists()
    assert not ran_jobs(small_cluster)  # nothing was dispatched


def hidden_home_wrapper(home) -> list[str]:
    """A command prefix that runs a program in its own mount namespace where an empty tmpfs covers `home`'s
    parent: that program cannot see the home, as a worker on a machine without the shared filesystem."""
    covered = str(home.parent)
    for unshare in (["unshare", "--mount", "--propagation", "private"],
                    ["unshare", "--mount", "--map-root-user", "--propagation", "private"]):
        probe = subprocess.run([*unshare, "sh", "-c", f"mount -t tmpfs none '{covered}' && test ! -e '{home}'"],
                               capture_output=True)
        if probe.returncode == 0:
            return [*unshare, "sh", "-c", f"mount -t tmpfs none '{covered}' && exec \"$0\" \"$@\""]
    pytest.fail("this test needs `unshare` (util-linux) with mount namespaces: root, or user namespaces enabled")


def test_a_worker_that_cannot_see_the_home_is_named_before_any_job(cli, filled, small_cluster, tmp_path_factory):
    worker = extra_worker(small_cluster.scheduler_address, tmp_path_factory.mktemp("worker"),
                          wrapper=hidden_home_wrapper(filled))
    try:
        wait_for_workers(small_cluster.scheduler_address, 2)
        result = cli("train", *TRAIN, "--scheduler", small_cluster.scheduler_address)
    finally:
        worker.kill()
        worker.wait()
    assert (result.code, result.out) == (3, "")
    assert f"cannot see the home {filled} (" in result.err
    assert result.err.endswith("; the home must be on a filesystem every worker shares\n")
    assert not (filled / "models").exists()
    assert not ran_jobs(small_cluster)
    assert list((filled / ".cache" / "cluster").iterdir()) == []  # the preflight cleaned up its probe files


def test_a_scheduler_without_workers_is_exit_3(cli, filled, monkeypatch):
    monkeypatch.setattr("forecaster.parallel.PREFLIGHT_TIMEOUT", 2.0)
    with distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None) as empty:
        result = cli("train", *TRAIN, "--scheduler", empty.scheduler_address)
    assert (result.code, result.err) == (
        3, f"Error: no Dask worker has joined the scheduler at {empty.scheduler_address} (waited 2 s); start workers "
           f"with 'dask worker {empty.scheduler_address}'\n")


def test_without_dask_installed_the_option_says_how_to_get_it(cli, filled, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    result = cli("train", *TRAIN, "--scheduler", "tcp://127.0.0.1:8786")
    assert (result.code, result.err) == (
        2, "Error: --scheduler needs dask.distributed: pip install \"forecaster[dask]\"\n")


def test_dask_is_not_imported_without_a_scheduler(filled):
    probe = ("import sys; from forecaster.cli import main; main(['train', 'AAA', '--window', '10', '--hidden', '4', "
             "'--epochs', '1', '-q']); print(sorted(m for m in ('distributed', 'dask') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env={**os.environ, "FORECAST_HOME": str(filled)})
    assert result.stdout.strip() == "[]", result.stderr
