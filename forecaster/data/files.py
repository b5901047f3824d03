"""Reading and writing the files a user names: only regular files, never blocking.

A path that is a directory, a FIFO, a device or a socket (or a symlink to one) is refused at once, before it is
opened for reading or replaced by a write: reading a FIFO waits for a writer that may never come, reading a device
may never end (/dev/zero) or have side effects, and an atomic write would replace the node by a regular file (run as
root, `--out /dev/full` destroyed the device). Two helpers, one per direction:

- `read_input_file(path, what)`: the bytes of a file the user gave (a CSV to import, an evaluation file,
  forecast.toml); UsageError naming the path and what it is otherwise;
- `check_output_file(path)`: a path the user gave for us to write (a plot, a page, evaluation rows); UsageError when
  it exists and is not a regular file, or its folder does not exist (no folder is created: a mistyped folder in a
  cron line is an error, not a new folder), so nothing is touched.

`read_regular` is their common core, also used for the store's own files (forecaster.data.store.read_stored_bytes).
Standard library only: `predict` reads forecast.toml and starts fast.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from forecaster.errors import UsageError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class NotAFile(Exception):
    """The path exists but is not a regular file; `kind` says what it is ("a directory", "a FIFO (named pipe)")."""

    def __init__(self, path: Path, mode: int):
        self.path = path
        self.kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        super().__init__(f"{path} is {self.kind}")


def read_regular(path: Path) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed). Raises NotAFile for anything else, checked before
    it is opened and again on the open descriptor, which is opened non-blocking so that a FIFO swapped in between
    cannot stall; OSError (FileNotFoundError, PermissionError, ...) as open() raises it."""
    try:
        status = os.stat(path)
    except NotADirectoryError:  # a part of the path is a file: there is no such file
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path)) from None
    if not stat.S_ISREG(status.st_mode):
        raise NotAFile(Path(path), status.st_mode)
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise NotAFile(Path(path), status.st_mode)
        return handle.read()


def read_input_file(path: Path, what: str = "a file", missing_ok: bool = False) -> bytes | None:
    """The bytes of a file the user named (`what` it should be, e.g. "a CSV file", for messages); UsageError naming
    the path when it is missing (None instead with `missing_ok`), unreadable, or not a regular file."""
    try:
        return read_regular(path)
    except NotAFile as error:
        raise UsageError(f"{path} is {error.kind}, not {what}") from None
    except FileNotFoundError:
        if missing_ok:
            return None
        raise UsageError(f"{path}: no such file") from None
    except PermissionError:
        raise UsageError(f"{path}: permission denied") from None
    except OSError as error:
        raise UsageError(f"{path} cannot be read ({error.strerror or error})") from None


def expand_user(path: Path | str) -> Path:
    """`path` with a leading ~ or ~user made the home folder it names; UsageError naming the path when there is no
    such user (or no home folder to expand ~ to)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise UsageError(f"{path}: no home folder for {str(path).split('/')[0]} (no such user?)") from None


def repeated_column(header: list[str], wanted) -> tuple[str, list[int]] | None:
    """(the first of the `wanted` columns that `header` names more than once, in any case and with spaces around
    ignored, and its places counted from 1), or None: which of two such columns holds the values is anyone's guess,
    so a file whose header repeats a column it is read by is refused, by every reader, in the same words
    (`repeated_column_message`)."""
    names = [name.strip().lower() for name in header]
    for column in wanted:
        places = [i for i, name in enumerate(names, start=1) if name == column.lower()]
        if len(places) > 1:
            return column, places
    return None


def repeated_column_message(repeated: tuple[str, list[int]]) -> str:
    """'the column Close is in the header twice (columns 5 and 8); keep one', of `repeated_column`'s answer."""
    column, places = repeated
    times = "twice" if len(places) == 2 else f"{len(places)} times"
    shown = [str(place) for place in places]
    return f"the column {column} is in the header {times} (columns {', '.join(shown[:-1])} and {shown[-1]}); keep one"


def check_output_file(path: Path) -> None:
    """UsageError when `path`, which the user gave for us to write, exists and is not a regular file (symlinks
    followed), or does not exist and neither does its folder; nothing is opened, written or created. A new file in
    a folder that exists is fine."""
    try:
        status = os.stat(path)
    except OSError:
        _check_output_folder(path)
        return  # absent (or in a folder we cannot search): writing it will say what is wrong
    if stat.S_ISDIR(status.st_mode):
        raise UsageError(f"{path} is a directory; give a file name")
    if not stat.S_ISREG(status.st_mode):
        kind = NotAFile(Path(path), status.st_mode).kind
        raise UsageError(f"{path} is {kind}, not a regular file; nothing was written (give a file name)")


def _check_output_folder(path: Path) -> None:
    """UsageError when the folder a new output file `path` goes into (after symlinks) is missing or is no folder."""
    folder = expand_user(path).resolve().parent
    if not folder.exists():
        raise UsageError(f"cannot write {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: {folder} is not a folder")
