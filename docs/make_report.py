"""Regenerate docs/report.png, the README's picture of `forecast report`, with the tool itself on the bundled sample.

It replays a cron job on the three sample tickers, cut to a common last date: train on data up to REPLAYED_DAYS
sessions before it, then day by day `forecast predict --days 1` and import one more session, so the page has a
track record; retrain MSFT and IBM (^GSPC keeps its old model, and the page flags it); then `forecast report` (as on
the evening of the last session, so that the 2013 data is not flagged stale) and a screenshot of its top in headless
Chromium (Debian's `chromium` and `chromium-driver`). Takes a few minutes.

    python docs/make_report.py
"""

from __future__ import annotations

import datetime as dt
import gzip
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser import chromium  # noqa: E402 (the tests' headless Chromium, offline)
from forecaster.data.store import Store  # noqa: E402
from forecaster.views.report import write_report  # noqa: E402

OUT = Path(__file__).resolve().parent / "report.png"
TICKERS = {"MSFT": "MSFT", "IBM": "IBM", "^GSPC": "GSPC"}
LAST_DATE = "2013-03-01"  # where MSFT's and IBM's samples end
REPLAYED_DAYS = 30
WINDOW = (1180, 1000)  # CSS pixels of the screenshot


def forecast(home: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "forecaster", *args, "--home", str(home), "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        files, dates = {}, None
        for ticker, name in TICKERS.items():
            files[ticker] = Path(folder) / f"{name}.csv"
            files[ticker].write_bytes(gzip.decompress(
                resources.files("forecaster.data").joinpath("sample_data", f"{name}.csv.gz").read_bytes()))
            own = [line.split(",", 1)[0] for line in files[ticker].read_text().splitlines()[1:]]
            dates = [d for d in own if d <= LAST_DATE] if dates is None else [d for d in dates if d in set(own)]
        start = len(dates) - REPLAYED_DAYS - 1
        for ticker in TICKERS:
            forecast(home, "fetch", ticker, "--csv", str(files[ticker]), "--end", dates[start])
        forecast(home, "train", "--epochs", "30", "--patience", "5")
        for date in dates[start + 1:]:
            forecast(home, "predict", "--days", "1")
            for ticker in TICKERS:
                forecast(home, "fetch", ticker, "--csv", str(files[ticker]), "--end", date)
        forecast(home, "train", "MSFT", "IBM", "--epochs", "30", "--patience", "5")
        page = Path(folder) / "report.html"
        write_report(Store(home), list(TICKERS), page, days=5, level=0.90, today=dt.date.fromisoformat(LAST_DATE))
        with chromium() as driver:
            driver.set_window_size(*WINDOW)
            driver.get(page.as_uri())
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False})
            OUT.write_bytes(driver.get_screenshot_as_png())
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
