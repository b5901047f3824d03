"""Wall time of one ticker's `forecast predict --days 1`, as cron runs it: a fresh process, from start to exit.

Sets up a temporary home with the bundled MSFT sample and a small trained model (the forecast's cost does not depend
on how long the model was trained), then times `forecast predict MSFT --days 1 --quiet` as a subprocess, after one
untimed run that fills the OS file cache. For scale it also times a bare `python -c pass` and, when PyTorch is
installed, `python -c "import torch"`. Target: at most 0.5 s.

    python benchmarks/predict_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def wall_times(command: list[str], runs: int) -> list[float]:
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    forecast = shutil.which("forecast")
    command_prefix = [forecast] if forecast else [sys.executable, "-m", "forecaster"]
    home = tempfile.mkdtemp(prefix="forecast-bench-")
    try:
        subprocess.run([*command_prefix, "fetch", "--sample", "--home", home, "-q"], check=True)
        subprocess.run([*command_prefix, "train", "MSFT", "--epochs", "2", "--home", home, "-q"], check=True)
        predict = wall_times([*command_prefix, "predict", "MSFT", "--days", "1", "--home", home, "-q"], args.runs)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    bare = wall_times([sys.executable, "-c", "pass"], args.runs)
    print(f"forecast predict MSFT --days 1: median {statistics.median(predict):.3f} s, min {min(predict):.3f} s, "
          f"max {max(predict):.3f} s over {args.runs} runs ({' '.join(command_prefix)})")
    print(f"python -c pass:                  median {statistics.median(bare):.3f} s")
    torch_check = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    if torch_check.returncode == 0:
        torch_times = wall_times([sys.executable, "-c", "import torch"], max(3, args.runs // 3))
        print(f"python -c 'import torch':        median {statistics.median(torch_times):.3f} s (for scale)")
    verdict = "meets" if statistics.median(predict) <= 0.5 else "MISSES"
    print(f"target <= 0.5 s: {verdict}")


if __name__ == "__main__":
    main()
