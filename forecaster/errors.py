"""User-facing errors and the process exit codes they map to.

Every failure a user can cause or meet (bad input, missing data, Yahoo down, a lock held too long) is a
`ForecastError` subclass carrying a one-line message; the CLI prints it on stderr and exits with its code.
Anything else is a bug and exits with `ExitCode.INTERNAL`.
"""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug: please report it (rerun with --debug for the traceback)
    USAGE = 2  # bad arguments or bad input files
    UNAVAILABLE = 3  # data, model, network or lock not available right now
    PARTIAL = 4  # a multi-ticker command failed for some tickers; the others completed
    INTERRUPTED = 130  # Ctrl-C / SIGINT


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


class CorruptFile(DataUnavailable):
    """A stored file exists but cannot be read back (edited by hand, truncated, foreign)."""
