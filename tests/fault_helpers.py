"""Helpers for the fault suite (tests/test_faults_*.py): real `forecast` processes on a shared home, bounded in time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import fast_training, random_walk_bars
from forecaster.data.bars import format_csv

FAST_TRAIN = fast_training(epochs=3)


def forecast_command(*args) -> list[str]:
    return [sys.executable, "-m", "forecaster", *map(str, args)]


def run(home: Path, *args, timeout: float = 120, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "FORECAST_HOME": str(home), **(env_extra or {})}
    return subprocess.run(forecast_command(*args), capture_output=True, text=True, timeout=timeout, env=env)


def run_as_a_user(home: Path, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    """`run`, in a process that meets file permissions as any user does: as root (who runs CI), without the
    capabilities that bypass them (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), dropped from its bounding set before it
    starts, so that a chmod stops it."""
    env = {**os.environ, "FORECAST_HOME": str(home)}
    return subprocess.run(forecast_command(*args), capture_output=True, text=True, timeout=timeout, env=env,
                          preexec_fn=_drop_permission_bypass if os.geteuid() == 0 else None)


def _drop_permission_bypass() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "cannot drop a capability (prctl PR_CAPBSET_DROP)")


def start(home: Path, *args) -> subprocess.Popen:
    env = {**os.environ, "FORECAST_HOME": str(home)}
    return subprocess.Popen(forecast_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def write_csv_files(folder: Path) -> dict[str, Path]:
    """ABC.csv (400 rows) and three overlapping slices of it (ABC0..ABC2); XYZ.csv (300 rows)."""
    folder.mkdir(exist_ok=True)
    abc = random_walk_bars(400, seed=3)
    files = {"ABC": folder / "ABC.csv", "XYZ": folder / "XYZ.csv"}
    files["ABC"].write_text(format_csv(abc))
    files["XYZ"].write_text(format_csv(random_walk_bars(300, seed=4)))
    for i, (lo, hi) in enumerate([(0, 250), (200, 350), (300, 400)]):
        files[f"ABC{i}"] = folder / f"ABC-part{i}.csv"
        files[f"ABC{i}"].write_text(format_csv(abc.take(slice(lo, hi))))
    return files
