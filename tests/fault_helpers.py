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
