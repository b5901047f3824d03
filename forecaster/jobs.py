"""How the library's per-ticker jobs are run and watched: `JobRunner`, the `run_jobs(function, names, arguments)`
that pipeline's batch jobs take, and `JobWatcher`, what a caller sees of them as they go.

The policy: the jobs run with forecaster.parallel (here, in `jobs` worker processes, or on a Dask scheduler), and a
single job with no scheduler runs here alone and reports the epochs of the network it trains. forecaster.parallel
is imported only when jobs run, so that `predict` starts fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

from forecaster.data.store import Store
from forecaster.errors import ForecastError


class JobWatcher:
    """What a caller sees of a JobRunner's jobs as they run. This one sees nothing (the Python API's); the CLI's
    draws progress bars and reports each failure as it happens."""

    def running(self, names: list[str], epochs: int | None):
        """A context for the jobs of `names`, yielding a callable: `advance(status=...)` after each job, or, when
        `epochs` is given (one network trains here alone), the training callback `(epoch, train_loss, val_loss)`."""
        return contextlib.nullcontext(lambda *args, **kwargs: None)

    def finished(self, outcome) -> None:
        """One job's outcome (a forecaster.parallel.JobOutcome), as it finishes."""

    def pool_training(self, epochs: int):
        """A context yielding the epoch callback of a pool trained here, outside the jobs (`evaluate`'s), or None."""
        return contextlib.nullcontext(None)


@dataclasses.dataclass
class JobRunner:
    """`run_jobs(function, names, arguments) -> (results, failures)`, as the library's batch jobs take it: the jobs
    with `run_per_ticker`, on `jobs` local processes or the Dask `scheduler`, in the order of `names`. One job with no
    scheduler runs here alone and gets `callback` for the epochs of the network it trains (of at most `epochs`).
    Every failure is also kept in `failed`, in the order it happened."""

    store: Store
    jobs: int = 1
    scheduler: str | None = None
    epochs: int | None = None
    watcher: JobWatcher = dataclasses.field(default_factory=JobWatcher)
    failed: list[ForecastError] = dataclasses.field(default_factory=list)

    def __call__(self, function: Callable, names: list[str], arguments: dict) -> tuple[list, list]:
        from forecaster.parallel import run_per_ticker

        done: dict[str, object] = {}
        errors: dict[str, ForecastError] = {}
        here_alone = len(names) == 1 and not self.scheduler
        with self.watcher.running(names, self.epochs if here_alone else None) as advance:
            if here_alone:
                arguments = {**arguments, "callback": advance}
            for outcome in run_per_ticker(function, names, arguments, jobs=self.jobs, store=self.store,
                                          scheduler=self.scheduler):
                if outcome.error is not None:
                    errors[outcome.ticker] = outcome.error
                    self.failed.append(outcome.error)
                else:
                    done[outcome.ticker] = outcome.result
                self.watcher.finished(outcome)
                if not here_alone:
                    advance(status=outcome.ticker + (" failed" if outcome.error else ""))
        return [done[n] for n in names if n in done], [(n, errors[n]) for n in names if n in errors]
