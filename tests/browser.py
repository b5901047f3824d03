"""Headless Chromium for tests and docs: Debian's `chromium` and `chromium-driver` driven by Selenium, offline.

The browser is the system's (`apt-get install chromium chromium-driver`, which .ci/run does): Selenium is given the
driver's path, so its manager never downloads one. The flags keep Chromium from calling Google's hosts in the
background (this machine refuses them), and every session gets a fresh profile.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic")
REQUIRED_ENV = "FORECAST_REQUIRE_BROWSER"  # set by .ci/run: a missing browser fails the tests instead of skipping


def missing() -> str | None:
    """Why no browser test can run here (None when it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e \".[test]\""
    absent = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if absent:
        return (f"{' and '.join(absent)} not found: apt-get install chromium chromium-driver (Debian; .ci/run "
                "installs them)")
    return None


def required() -> bool:
    return os.environ.get(REQUIRED_ENV, "") not in ("", "0")


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900):
    """A Selenium driver of a fresh headless Chromium whose console and network events are logged
    (driver.get_log("browser"), driver.get_log("performance")); quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    with tempfile.TemporaryDirectory(prefix="forecast-chromium-") as profile:
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def outside_references(source: str) -> list[str]:
    """Whatever in an HTML page's source could load something from elsewhere: a URL with a scheme, a `src`
    attribute, an `href` that is not a fragment or the empty data: icon, a CSS url() or @import."""
    tags = re.findall(r"<[a-zA-Z][^>]*>", source)
    found = re.findall(r"[a-z]+://\S*|url\(|@import", source)
    found += [tag for tag in tags if re.search(r"\ssrc\s*=", tag)]
    found += [href for tag in tags for href in re.findall(r"\shref=\"([^\"]*)\"", tag)
              if not (href.startswith("#") or href == "data:,")]
    return found
