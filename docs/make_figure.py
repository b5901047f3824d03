"""Regenerate docs/MSFT.png, the README's figure, with the tool itself on the bundled MSFT sample.

It replays a cron job: train on data up to 40 sessions before the sample's end, then day by day import one more
session and `forecast predict --days 1`, building a track record; then a walk-forward evaluation of the last 20%;
then `forecast plot`. Takes about a minute.

    python docs/make_figure.py
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

OUT = Path(__file__).resolve().parent / "MSFT.png"
REPLAYED_DAYS = 40


def forecast(home: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "forecaster", *args, "--home", str(home), "--quiet"],
                          capture_output=True, text=True, check=True)
    return done.stdout


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        home, sample = Path(folder) / "home", Path(folder) / "MSFT.csv"
        data = resources.files("forecaster.data").joinpath("sample_data", "MSFT.csv.gz").read_bytes()
        sample.write_bytes(gzip.decompress(data))
        dates = [line.split(",", 1)[0] for line in sample.read_text().splitlines()[1:]]
        start = len(dates) - REPLAYED_DAYS - 1
        forecast(home, "fetch", "MSFT", "--csv", str(sample), "--end", dates[start])
        forecast(home, "train", "MSFT")
        for date in dates[start + 1:]:
            forecast(home, "predict", "MSFT", "--days", "1")
            forecast(home, "fetch", "MSFT", "--csv", str(sample), "--end", date)
        evaluation = Path(folder) / "evaluation.csv"
        forecast(home, "evaluate", "MSFT", "--test-start", dates[int(len(dates) * 0.8)], "--predictions",
                 str(evaluation))
        print(forecast(home, "score", "MSFT"))
        forecast(home, "plot", "MSFT", "--last", "120", "--evaluation", str(evaluation), "--out", str(OUT))
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
