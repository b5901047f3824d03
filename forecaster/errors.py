"""User-facing errors and the process exit codes they map to.

Every failure a user can cause or meet (bad input, missing data, Yahoo down, a lock held too long) is a
`ForecastError` subclass carrying a one-line message; the CLI prints it on stderr and exits with its code.
Anything else is a bug and exits with `ExitCode.INTERNAL`.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug: please report it (rerun with --debug for the traceback)
    USAGE = 2  # bad arguments or bad input files
    UNAVAILABLE = 3  # data, model, network or lock not available right now
    PARTIAL = 4  # a multi-ticker command failed for some tickers; the others completed
    HANGUP = 129  # SIGHUP (the terminal closed): 128 + the signal's number, as shells report it
    INTERRUPTED = 130  # Ctrl-C / SIGINT
    TERMINATED = 143  # SIGTERM (kill, systemd, a batch scheduler's time limit)


class ForecastError(Exception):
    """An expected failure, reported to the user as one line."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UsageError(ForecastError):
    """The user asked for something impossible: bad arguments, a bad ticker symbol, an invalid CSV."""

    exit_code = ExitCode.USAGE


class DataUnavailable(ForecastError):
    """The data, model or service needed is not there (or not readable) right now."""

    exit_code = ExitCode.UNAVAILABLE


class NetworkError(DataUnavailable):
    """Yahoo Finance could not be reached, or refused (rate limit)."""


class ModelMissing(DataUnavailable):
    """No model has been trained for the ticker yet."""


class LockTimeout(DataUnavailable):
    """Another forecast process held a lock for longer than we were willing to wait."""


class WriteFailed(DataUnavailable):
    """A file could not be written: a full disk, a read-only file system, no permission. The machine's situation,
    not a usage error: the same command succeeds once there is room or permission."""


class CorruptFile(DataUnavailable):
    """A stored file exists but cannot be read back (edited by hand, truncated, foreign)."""


class InternalFailure(ForecastError):
    """A bug met while working on one ticker of a batch: reported as that ticker's failure (the others go on), with
    the original traceback kept as text for --debug (a traceback does not survive the trip back from a worker)."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details  # the traceback, as text

    @classmethod
    def of(cls, error: BaseException) -> InternalFailure:
        import traceback

        return cls(f"internal error: {type(error).__name__}: {error}", "".join(traceback.format_exception(error)))


def failure_of(error: Exception, ticker: str) -> ForecastError:
    """What one ticker's failure in a batch is reported as: a ForecastError as it is, a MemoryError as the lack of
    memory it is, anything else as an InternalFailure (a bug, but one that must not stop the other tickers)."""
    if isinstance(error, ForecastError):
        return error
    if isinstance(error, MemoryError):
        return DataUnavailable(f"{ticker}: not enough memory for this job (try a smaller --hidden, --window or "
                               "--batch-size)")
    return InternalFailure.of(error)


class TickersFailed(ForecastError):
    """Several tickers of a batch failed (`failures`: (ticker, error) pairs, in the order asked): exit 4, PARTIAL,
    when others succeeded, else the highest exit code among the failures. `result` may hold what did succeed (the
    Python API puts its DataFrame there)."""

    def __init__(self, message: str, failures: list, exit_code: ExitCode, result=None):
        super().__init__(message)
        self.failures = failures
        self.exit_code = exit_code
        self.result = result


def batch_failure(failures: list[tuple[str, ForecastError]], done: int) -> ForecastError | None:
    """What a batch of `done` successes and `failures` amounts to: None when nothing failed; the failure itself when
    it was the batch's only ticker; else TickersFailed naming the tickers that failed."""
    if not failures:
        return None
    if done == 0 and len(failures) == 1:
        return failures[0][1]
    names = ", ".join(ticker for ticker, _ in failures)
    code = ExitCode.PARTIAL if done else max(error.exit_code for _, error in failures)
    return TickersFailed(f"{len(failures)} of {len(failures) + done} tickers failed: {names}", failures, code)
