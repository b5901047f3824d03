"""How a `forecast` process meets its surroundings: standard streams that are closed or cannot encode a character,
and the signals that stop it.

SIGTERM (kill, systemd, a batch system's time limit) and SIGHUP (the terminal closed) stop a command as Ctrl-C does:
a KeyboardInterrupt, so joblib stops the workers and every write in progress is abandoned whole; the CLI then prints
one line and exits with the code shells report for a signal, 128 + its number (STOP_SIGNALS).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import warnings

from forecaster.errors import ExitCode


class _ClosedOutput:
    """Stands in for a standard stream that was closed when the process started (`forecast ... >&-`): the command
    runs, and only printing fails, as a broken pipe would."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        raise BrokenPipeError("standard output is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError("standard output is closed")


def debug_requested(args: list[str] = ()) -> bool:
    """Whether tracebacks were asked for: --debug among the command line's `args`, or FORECAST_DEBUG set (and not
    0), as `forecast --debug` sets it for the command's sessions and worker processes."""
    return "--debug" in args or os.environ.get("FORECAST_DEBUG", "") not in ("", "0")


def silence_warnings() -> None:
    """No dependency's warning reaches the user: none from this process, nor from the processes it starts (joblib's
    workers, its resource tracker), whose stderr is ours."""
    warnings.filterwarnings("ignore")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")


def prepare_streams() -> None:
    """Never fail on a character the output encoding lacks (PYTHONIOENCODING=ascii, a C locale): replace it."""
    if sys.stdout is None:
        sys.stdout = _ClosedOutput()
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="replace")


STOP_SIGNALS = {"SIGTERM": ExitCode.TERMINATED, "SIGHUP": ExitCode.HANGUP}
_stopped_by: list[int] = []  # the signal that stopped this command, if one did


def _stop(signum: int, frame) -> None:
    _stopped_by.append(signum)
    signal.signal(signum, signal.SIG_IGN)  # a repeat of it must not interrupt the clean-up
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_signals_interrupt():
    """While inside, STOP_SIGNALS raise KeyboardInterrupt (`_stop`), but one the process was started to ignore (as
    under nohup), and only in the main thread; the handlers they replaced are put back on the way out."""
    _stopped_by.clear()
    replaced = {}
    if threading.current_thread() is threading.main_thread():
        for name in STOP_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) is not signal.SIG_IGN:
                replaced[signum] = signal.signal(signum, _stop)
    try:
        yield
    finally:
        for signum, handler in replaced.items():
            signal.signal(signum, handler)


def stopped_by() -> str | None:
    """The name of the stop signal that interrupted the last `stop_signals_interrupt` block, if one did."""
    return signal.Signals(_stopped_by[-1]).name if _stopped_by else None


def discard_stdout() -> None:
    """Point standard output at /dev/null, after it broke (`forecast list | head -1`, or closed while we printed):
    no second error when Python flushes it at exit."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
