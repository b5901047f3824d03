"""The report page in a real browser: Debian's headless Chromium driven by Selenium (tests/browser.py).

One page and one browser for the whole module: every test opens the page afresh, with the window, media and network
back to normal. Without Chromium the tests skip, naming what to install; in CI (.ci/run, FORECAST_REQUIRE_BROWSER=1)
they fail instead.
"""

import json
import shutil

import pytest

import browser
from conftest import own_model, random_walk_bars, watchlist_home
from forecaster.data.bars import Bars
from forecaster.data.prediction_log import COLUMNS as LOG_COLUMNS

if browser.missing() and not browser.required():
    pytest.skip(browser.missing(), allow_module_level=True)

from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

pytestmark = pytest.mark.slow  # every test here starts a browser


def scaled(bars: Bars, factor: float) -> Bars:
    return Bars(bars.dates, *(column * factor for column in bars.columns()[1:6]), bars.volume)


# Closes from about 9 to about 2,500: sorted as text, "9..." would come last.
WATCHLIST = {"ABC": random_walk_bars(300, seed=0), "CHEAP": scaled(random_walk_bars(300, seed=4), 0.09),
             "BIG": scaled(random_walk_bars(260, seed=5), 12), "MID": random_walk_bars(280, seed=6),
             "^GSPC": scaled(random_walk_bars(300, seed=7), 25), "BRK-B": scaled(random_walk_bars(290, seed=8), 3)}
SCRIPT, IMAGE = "<script>alert(1)</script>", "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The page of WATCHLIST, a logged record for ABC, and two failures whose messages carry markup: a price file
    with a script in a date, and a model folder named like an image tag."""
    from forecaster.cli import main

    folder = tmp_path_factory.mktemp("report-browser")
    home = watchlist_home(folder / "home", WATCHLIST)
    own_model(home, "BAD")
    (home / "data" / "BAD.csv").write_text(f"Date,Open,High,Low,Close,Adj Close,Volume\n{SCRIPT},1,1,1,1,1,1\n")
    shutil.copytree(home / "models" / "_pool", home / "models" / IMAGE)
    bars = WATCHLIST["ABC"]
    lines = [",".join(LOG_COLUMNS)]
    for i in range(len(bars) - 30, len(bars)):
        last = float(bars.adj_close[i - 1])
        lines.append(f"ABC,{bars.dates[i - 1]},{bars.dates[i]},1,{last},{last * 0.99},{last * 1.01},0.9,{last},")
    (home / "data" / "predictions.csv").write_text("\n".join(lines) + "\n")
    out = folder / "report.html"
    assert main(["report", "--home", str(home), "--out", str(out), "-q"]) == 4  # BAD and the image tag failed
    return out


@pytest.fixture(scope="module")
def chromium():
    with browser.chromium() as driver:
        yield driver


@pytest.fixture
def opened(chromium, page):
    """The page, freshly loaded at desktop size, light, on screen, online; the logs emptied."""
    chromium.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    chromium.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "", "features": []})
    chromium.execute_cdp_cmd("Network.enable", {})
    chromium.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                                   "downloadThroughput": -1, "uploadThroughput": -1})
    chromium.get(page.as_uri())
    chromium.get_log("browser")
    chromium.get_log("performance")
    return chromium


def tickers_shown(driver) -> list[str]:
    return [link.text for link in driver.find_elements(By.CSS_SELECTOR, "#tickers tbody th a")]


def header(driver, name: str):
    return driver.find_element(By.XPATH, f"//table[@id='tickers']/thead//th[button[normalize-space()='{name}']]")


def column_keys(driver, column: int) -> list[str]:
    """The data-value of each row's cell in `column` (0 is the ticker), in the order shown."""
    return driver.execute_script("return Array.from(document.querySelectorAll('#tickers tbody tr'), "
                                 "row => row.cells[arguments[0]].getAttribute('data-value'))", column)


def test_every_ticker_is_a_row_and_every_failure_listed(opened):
    assert sorted(tickers_shown(opened)) == sorted(WATCHLIST)
    failures = opened.find_elements(By.CSS_SELECTOR, ".failures li b")
    assert sorted(item.get_attribute("textContent") for item in failures) == sorted(["BAD", IMAGE])


def test_clicking_a_header_sorts_the_rows_numbers_as_numbers(opened):
    last_close = header(opened, "Last close")
    last_close.find_element(By.TAG_NAME, "button").click()
    keys = column_keys(opened, 2)
    assert [float(key) for key in keys] == sorted(float(key) for key in keys)
    assert keys != sorted(keys)  # as text the order would differ
    assert last_close.get_attribute("aria-sort") == "ascending"
    assert [th.get_attribute("aria-sort") for th in opened.find_elements(By.CSS_SELECTOR, "#tickers thead th")
            if th != last_close] == [None] * 12
    last_close.find_element(By.TAG_NAME, "button").click()
    assert column_keys(opened, 2) == keys[::-1]
    assert last_close.get_attribute("aria-sort") == "descending"


def test_enter_on_a_focused_header_sorts_too(opened):
    before = tickers_shown(opened)
    ticker = header(opened, "Ticker")
    ticker.find_element(By.TAG_NAME, "button").send_keys(Keys.ENTER)
    shown = tickers_shown(opened)
    assert shown == opened.execute_script("return arguments[0].slice().sort((a, b) => a.localeCompare(b))", before)
    assert shown != before and ticker.get_attribute("aria-sort") == "ascending"


def test_a_ticker_leads_to_its_chart(opened):
    link = opened.find_element(By.CSS_SELECTOR, '#tickers a[href="#t-_5eGSPC"]')
    link.click()
    section = opened.find_element(By.ID, "t-_5eGSPC")
    assert opened.execute_script("return location.hash") == "#t-_5eGSPC"
    assert opened.execute_script("return window.scrollY") > 0
    at_end = opened.execute_script("return window.scrollY + window.innerHeight >= "
                                   "document.documentElement.scrollHeight - 2")
    assert at_end or abs(opened.execute_script("return arguments[0].getBoundingClientRect().top", section)) <= 2
    chart = section.find_element(By.CSS_SELECTOR, "svg.chart")
    top, bottom = opened.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.top, r.bottom]",
                                        chart)
    assert 0 < top < bottom <= opened.execute_script("return window.innerHeight")


def test_the_browser_logs_no_errors(opened):
    header(opened, "Band").find_element(By.TAG_NAME, "button").click()
    opened.find_element(By.CSS_SELECTOR, '#tickers a[href="#t-ABC"]').click()
    opened.find_element(By.CSS_SELECTOR, ".failures summary").click()
    assert [entry for entry in opened.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")] == []


def test_the_page_makes_no_network_requests(opened, page):
    opened.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0,
                                                                 "downloadThroughput": 0, "uploadThroughput": 0})
    opened.get(page.as_uri())
    assert sorted(tickers_shown(opened)) == sorted(WATCHLIST)  # it works offline
    requested = [json.loads(entry["message"])["message"]["params"]["request"]["url"]
                 for entry in opened.get_log("performance")
                 if json.loads(entry["message"])["message"]["method"] == "Network.requestWillBeSent"]
    assert requested == [page.as_uri()]
    assert opened.get_log("browser") == []
    assert browser.outside_references(page.read_text()) == []


def test_a_phone_scrolls_the_table_not_the_page(opened, page):
    opened.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 375, "height": 740,
                                                                   "deviceScaleFactor": 2, "mobile": True})
    opened.get(page.as_uri())
    assert opened.execute_script("return document.documentElement.scrollWidth <= "
                                 "document.documentElement.clientWidth")
    wrap = opened.find_element(By.CSS_SELECTOR, ".table-wrap")
    assert opened.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth", wrap)
    opened.execute_script("arguments[0].scrollLeft = 300", wrap)
    first = opened.find_element(By.CSS_SELECTOR, "#tickers tbody th")
    assert opened.execute_script("return arguments[0].scrollLeft", wrap) > 0
    left_of = "return Math.round(arguments[0].getBoundingClientRect().left)"
    assert opened.execute_script(left_of, first) == opened.execute_script(left_of, wrap) + 1  # inside its border


def test_a_phone_shows_every_column_of_a_tickers_own_table(opened, page):
    opened.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 360, "height": 740,
                                                                   "deviceScaleFactor": 2, "mobile": True})
    opened.get(page.as_uri())
    wraps = opened.find_elements(By.CSS_SELECTOR, ".detail .tables")
    assert wraps and "Volatility" in opened.find_element(By.CSS_SELECTOR, ".detail .compact").text
    for wrap in wraps:  # nothing of the table (its last column: Volatility) hidden behind a scroll
        assert opened.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", wrap)


def test_markup_from_data_and_file_names_stays_text(opened):
    assert opened.execute_script("return [document.scripts.length, document.images.length, "
                                 "document.querySelectorAll('[onerror]').length]") == [1, 0, 0]
    text = opened.find_element(By.CSS_SELECTOR, ".failures").get_attribute("textContent")
    assert SCRIPT in text and IMAGE in text
    with pytest.raises(NoAlertPresentException):
        opened.switch_to.alert.text  # noqa: B018 (reading it is the test: it raises without an alert)


def test_dark_mode_follows_the_system_and_print_is_plain(opened):
    background = "return getComputedStyle(document.body).backgroundColor"
    assert opened.execute_script(background) == "rgb(255, 255, 255)"
    opened.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme",
                                                                         "value": "dark"}]})
    assert opened.execute_script(background) == "rgb(20, 20, 20)"
    opened.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print", "features": []})
    style = "const s = getComputedStyle(document.querySelector(arguments[0])); return s[arguments[1]]"
    assert opened.execute_script(style, ".table-wrap", "overflow") == "visible"
    assert opened.execute_script(style, "#tickers thead th", "position") == "static"
    assert opened.execute_script(style, ".note", "display") == "none"
