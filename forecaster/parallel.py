"""Per-ticker jobs side by side: in this process, in local worker processes, or on a Dask cluster.

`run_per_ticker(function, tickers, arguments, jobs=N, scheduler=ADDRESS)` calls `function(ticker=T, **arguments)`
for every ticker and reports each `JobOutcome` as it finishes:

- one job (or one ticker): in this process;
- N jobs: N worker processes of joblib's loky backend (see `_in_worker_processes` for a worker that dies);
- a scheduler address: the workers of that Dask distributed cluster, through joblib's dask backend.

Every job runs with its BLAS pinned to one thread (one small LSTM trains faster on one thread than on two, and N jobs
on N cores must not fight over them), in every mode, so results are bit-identical whichever mode ran them. Whatever
fails in one ticker's job — a ForecastError, a MemoryError, a bug, or the death of the worker process running it — is
that ticker's outcome (errors.failure_of, `_in_worker_processes`) and never stops the others.

On Ctrl-C, SIGTERM or SIGHUP joblib stops the workers (the CLI turns the last two into a KeyboardInterrupt). When the
run itself is killed outright (SIGKILL, the OOM killer), its local workers die with it: each is tied to the run by
PR_SET_PDEATHSIG on Linux, and on every system writes nothing once the run is gone (data.store.work_for). Every
file is written atomically (data.store), so a killed job leaves the old file or the new one, never part of one.

Before anything is sent to a cluster, `check_cluster` proves within PREFLIGHT_TIMEOUT seconds that every worker runs
this version of forecaster and reads and writes the same home: joblib would otherwise wait forever on a worker that
cannot import the job's module, and would quietly run everything in this process when the cluster has one thread.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from forecaster import __version__
from forecaster.data.store import Store, atomic_write_text, work_for
from forecaster.errors import DataUnavailable, ForecastError, UsageError, failure_of

PREFLIGHT_TIMEOUT = 30.0  # seconds for a cluster to show it can run the jobs
CONNECT_TIMEOUT = 10.0  # seconds to reach a Dask scheduler
PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies


@dataclass
class JobOutcome:
    """One ticker's job, done: what its function returned, or why it failed."""

    ticker: str
    result: object = None  # what the function returned
    error: ForecastError | None = None


def default_jobs() -> int:
    """The number of cores this process may use (cgroup and affinity limits included)."""
    from joblib import cpu_count

    return max(1, cpu_count())


def run_per_ticker(function: Callable, tickers: list[str], arguments: dict, *, jobs: int, store: Store,
                   scheduler: str | None = None) -> Iterator[JobOutcome]:
    """Yield the JobOutcome of `function(ticker=T, **arguments)` for every ticker T, in the order they finish."""
    if scheduler:
        yield from _on_cluster(function, tickers, arguments, scheduler, store)
    elif jobs <= 1 or len(tickers) <= 1:
        for ticker in tickers:
            yield run_job(function, ticker, arguments)
    else:
        yield from _in_worker_processes(function, tickers, arguments, jobs)


def _in_worker_processes(function: Callable, tickers: list[str], arguments: dict, jobs: int) -> Iterator[JobOutcome]:
    """The jobs in `jobs` loky worker processes, as they finish.

    A worker that dies (the OOM killer, a crash in native code) takes the jobs in flight with it, and joblib gives up
    the whole batch. Then the tickers not finished yet run again one at a time, each in a fresh worker process, so
    that a death names its ticker (its outcome: DataUnavailable) and every other ticker still gets its result."""
    pending = list(tickers)
    try:
        for outcome in _loky(function, pending, arguments, min(jobs, len(pending))):
            pending.remove(outcome.ticker)
            yield outcome
    except concurrent.futures.process.BrokenProcessPool:
        pass
    for ticker in pending:
        try:
            yield from _loky(function, [ticker], arguments, 2)  # 2: a worker process even for one job
        except concurrent.futures.process.BrokenProcessPool:
            yield JobOutcome(ticker, error=DataUnavailable(f"{ticker}: the worker process running its job died (killed "
                                                           "by the system: out of memory?); the other tickers went on"))


def _loky(function: Callable, tickers: list[str], arguments: dict, jobs: int) -> Iterator[JobOutcome]:
    from joblib import Parallel, delayed, parallel_config

    run = os.getpid()
    with parallel_config(backend="loky", n_jobs=jobs, inner_max_num_threads=1):
        yield from Parallel(return_as="generator_unordered")(
            delayed(run_job)(function, ticker, arguments, run) for ticker in tickers)


def run_job(function: Callable, ticker: str, arguments: dict, run: int | None = None) -> JobOutcome:
    """One ticker's job, with BLAS on one thread. Any failure is the outcome's error (see errors.failure_of), never
    the end of the batch. `run`: the pid of the run, when this is one of its local worker processes."""
    from threadpoolctl import threadpool_limits

    if run is not None and run != os.getpid():
        _die_with(run)
    _load_blas_libraries()
    with threadpool_limits(limits=1):
        try:
            return JobOutcome(ticker, function(ticker=ticker, **arguments))
        except Exception as error:
            return JobOutcome(ticker, error=failure_of(error, ticker))


def _load_blas_libraries() -> None:
    """Load scipy's BLAS (the jobs use it through scikit-learn and arch) before the one-thread limit is set: the limit
    reaches only the libraries loaded by then, so a process's first job would otherwise run it on every core, and its
    results (the GARCH fits of `evaluate`) would differ in the last digits from every later job's and a worker's."""
    with contextlib.suppress(ImportError):
        import scipy.linalg  # noqa: F401


_TIED_TO: int | None = None


def _die_with(run: int) -> None:
    """Tie this worker process to the run `run` (its parent), once: when the run dies, even by SIGKILL, the kernel
    kills this process too (Linux, PR_SET_PDEATHSIG), and on every system it writes nothing afterwards (store.work_for).
    A worker that finds its run already gone exits at once."""
    global _TIED_TO
    if _TIED_TO == run:
        return
    work_for(run)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != run:
        os._exit(1)
    _TIED_TO = run


# --------------------------------------------------------------------------------------------------- Dask
def _on_cluster(function, tickers, arguments, scheduler: str, store: Store) -> Iterator[JobOutcome]:
    from joblib import Parallel, delayed, parallel_config

    client = connect(scheduler)
    try:
        check_cluster(client, store, scheduler)
        with parallel_config(backend=_cluster_backend(client)):
            yield from Parallel(return_as="generator_unordered")(
                delayed(run_job)(function, ticker, arguments) for ticker in tickers)
    finally:
        with contextlib.suppress(Exception):
            client.close()


def connect(scheduler: str):
    """A distributed.Client of the scheduler at `scheduler`; UsageError without dask, DataUnavailable when the
    scheduler cannot be reached."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs dask.distributed: pip install \"forecaster[dask]\"") from None
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        raise DataUnavailable(f"cannot connect to the Dask scheduler at {scheduler} ({reason}); is 'dask "
                              "scheduler' running there, and the address right?") from None


def check_cluster(client, store: Store, scheduler: str, timeout: float | None = None) -> int:
    """Prove that every worker of `client` imports this version of forecaster and reads and writes the home that
    this process sees (so it must be on a filesystem they share). Returns the number of workers; DataUnavailable
    naming each worker's problem otherwise, within `timeout` seconds (default PREFLIGHT_TIMEOUT)."""
    timeout = PREFLIGHT_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (TimeoutError, OSError):
        raise DataUnavailable(f"no Dask worker has joined the scheduler at {scheduler} (waited {timeout:g} s); start "
                              f"workers with 'dask worker {scheduler}'") from None
    probes = store.cache_dir / "cluster"
    token = uuid.uuid4().hex
    probe = probes / f"probe-{token}"
    atomic_write_text(probe, token)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            answers = pool.submit(client.run, probe_worker, str(store.home), token, on_error="return")
            try:
                answers = answers.result(timeout=max(1.0, deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                raise DataUnavailable(f"the Dask workers of {scheduler} did not answer within {timeout:g} s") from None
        problems = [f"{worker} {problem}" for worker, answer in sorted(answers.items())
                    if (problem := _problem(answer, probes, token, store.home))]
    finally:
        for path in probes.glob(f"*-{token}*"):
            with contextlib.suppress(OSError):
                path.unlink()
    if problems:
        raise DataUnavailable(f"the Dask cluster at {scheduler} cannot run forecast jobs: " + "; ".join(problems))
    return len(answers)


def probe_worker(home: str, token: str) -> dict:
    """Run on each worker by `check_cluster`: its forecaster version, and whether it sees the probe file in the home
    and can write its answer beside it."""
    answer = {"version": __version__, "reply": None, "problem": None}
    probes = Path(home) / ".cache" / "cluster"
    try:
        seen = (probes / f"probe-{token}").read_text()
    except OSError as error:
        answer["problem"] = f"cannot see the home {home} ({error.strerror or type(error).__name__})"
        return answer
    if seen != token:
        answer["problem"] = f"sees another folder at {home}"
        return answer
    reply = f"reply-{token}-{socket.gethostname()}-{os.getpid()}"
    try:
        atomic_write_text(probes / reply, token)
    except ForecastError as error:
        answer["problem"] = f"cannot write in the home {home} ({error.message})"
        return answer
    answer["reply"] = reply
    return answer


def _problem(answer, probes: Path, token: str, home: Path) -> str | None:
    """What is wrong with one worker's probe answer, or None."""
    if isinstance(answer, BaseException):
        text = f"{type(answer).__name__}: {answer}"
        if "forecaster" in text and ("ModuleNotFoundError" in text or "No module named" in text):
            return f"cannot import forecaster (install forecaster {__version__} there)"
        return f"failed the check ({text[:160]})"
    if answer.get("version") != __version__:
        return f"runs forecaster {answer.get('version')}, this machine {__version__} (install the same version)"
    if answer.get("problem"):
        return f"{answer['problem']}; the home must be on a filesystem every worker shares"
    try:
        written = (probes / answer["reply"]).read_text()
    except OSError:
        written = None
    if written != token:
        return f"writes to {home} that this machine does not see; the home must be on a shared filesystem"
    return None


def _cluster_backend(client):
    """joblib's dask backend on `client`, except that it always sends the jobs to the cluster: the stock backend
    counts the cluster's threads, and with one it runs the jobs in this process instead."""
    from joblib._dask import DaskDistributedBackend

    class ClusterBackend(DaskDistributedBackend):
        def effective_n_jobs(self, n_jobs):
            return max(2, super().effective_n_jobs(n_jobs))

    return ClusterBackend(client=client, wait_for_workers_timeout=PREFLIGHT_TIMEOUT)
