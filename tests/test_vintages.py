"""Shipped vintages (forecaster.model.vintages): pools pretrained on many histories, inside the package, serving
a ticker without a training run; picked by evaluate strictly before its test; rebuilt bit for bit; refused when
damaged."""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import import_bars, random_walk_bars
from forecaster.data.bars import Bars, format_csv
from forecaster.model.serving import Model, TrainingConfig
from forecaster.model.vintages import SOURCE, build_vintage, latest, vintages, vintages_dir
from forecaster.model.volatility import ewma_volatility

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = vintages()
NEWEST = SHIPPED[-1] if SHIPPED else None
TINY = TrainingConfig(window=10, hidden=4, epochs=2, patience=0, market="none")


def universe(count: int = 6, rows: int = 700) -> dict[str, Bars]:
    """A small generated universe: random walks of different volatility, 2012-2014."""
    return {f"T{i}": random_walk_bars(rows, seed=i, start="2012-01-02") for i in range(count)}


def test_the_package_ships_vintages_cut_at_the_readmes_test_starts_and_the_last_data():
    assert [v.last_date for v in SHIPPED] == [dt.date(2010, 12, 31), dt.date(2014, 12, 31), dt.date(2017, 11, 10)]
    for vintage in SHIPPED:
        model = vintage.load()
        meta = model.meta["vintage"]
        assert meta["source"] == SOURCE and meta["last_date"] == str(vintage.last_date) == model.meta["training"][
            "last_date"]
        assert dt.date.fromisoformat(meta["cut"]) > vintage.last_date and meta["tickers"] > 900
        assert model.meta["tickers"] == {} and model.label == f"shipped {vintage.last_date}"
    size = sum(p.stat().st_size for p in vintages_dir().rglob("*") if p.is_file())
    assert size < 5 * 2**20  # the wheel grows by at most 5 MB


def test_latest_is_the_newest_vintage_whose_data_ends_before_the_date():
    assert latest() == NEWEST
    assert latest(dt.date(2015, 1, 2)).last_date == dt.date(2014, 12, 31)
    assert latest(dt.date(2014, 12, 31)).last_date == dt.date(2010, 12, 31)  # its last day is not before it
    assert latest(dt.date(2010, 12, 31)) is None


def test_a_fresh_home_with_one_ticker_is_served_by_the_shipped_vintage_without_training(cli, isolated_home, tmp_path):
    import_bars(cli, tmp_path, "ABC", random_walk_bars(300))
    result = cli("predict", "ABC", "--days", "2", "-f", "json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert [row["model"] for row in rows] == [NEWEST.name] * 2
    assert all(row["lower"] < row["forecast"] < row["upper"] for row in rows)
    assert not (isolated_home / "models").exists()  # predict calibrated it for this forecast only


@pytest.mark.parametrize("gap", [1.5, 0.5])
def test_a_ticker_whose_last_bar_gaps_50_percent_gets_a_band_as_wide_as_riskmetrics(cli, tmp_path, gap):
    """Issue 23: the day after a 50% overnight gap (the day's own range as usual: the range alone is blind to it),
    the next day's 90% band is at least as wide as RiskMetrics' (EWMA(0.94) of r², ±1.645σ)."""
    bars = random_walk_bars(300)
    open_, high, low, close = (a.copy() for a in (bars.open, bars.high, bars.low, bars.close))
    open_[-1] = close[-2] * gap
    close[-1] = open_[-1] * 1.002
    high[-1], low[-1] = max(open_[-1], close[-1]) * 1.004, min(open_[-1], close[-1]) * 0.996
    import_bars(cli, tmp_path, "GAP", Bars(bars.dates, open_, high, low, close, close.copy(), bars.volume))
    result = cli("predict", "GAP", "--days", "1", "-f", "json")
    assert result.code == 0, result.err
    row = json.loads(result.out)[0]
    riskmetrics = ewma_volatility(np.diff(np.log(close)))[-1]
    assert math.log(row["upper"] / row["lower"]) >= 2 * 1.645 * riskmetrics


def test_train_with_the_shipped_model_saves_a_pool_that_later_tickers_join(cli, isolated_home, tmp_path):
    import_bars(cli, tmp_path, "ABC", random_walk_bars(300))
    result = cli("train", "--model", "shipped")
    assert result.code == 0, result.err
    assert f"│ ABC    │ {NEWEST.name} │" in result.out
    assert "│ -      │ -          │" in result.out  # no epochs were run: the shipped network's were run when built
    saved = json.loads((isolated_home / "models" / "_pool" / "meta.json").read_text())
    assert saved["vintage"]["last_date"] == str(NEWEST.last_date) and list(saved["tickers"]) == ["ABC"]
    import_bars(cli, tmp_path, "XYZ", random_walk_bars(300, seed=3))
    assert cli("train", "XYZ", "-q").code == 0
    listed = {row["ticker"]: row["model"] for row in json.loads(cli("list", "-f", "json").out)}
    assert listed == {"ABC": NEWEST.name, "XYZ": NEWEST.name}
    # the same forecast as the vintage gives on the fly: calibrating is the same computation, saved or not
    saved_rows = json.loads(cli("predict", "ABC", "-f", "json").out)
    shutil.rmtree(isolated_home / "models")
    assert json.loads(cli("predict", "ABC", "-f", "json").out) == saved_rows


def test_a_ticker_a_retrain_cannot_redo_keeps_its_calibration_against_the_same_shipped_network(cli, isolated_home,
                                                                                                tmp_path):
    for seed, ticker in enumerate(("ABC", "XYZ")):
        import_bars(cli, tmp_path, ticker, random_walk_bars(300, seed=seed))
    assert cli("train", "-q").code == 0
    pool = isolated_home / "models" / "_pool" / "meta.json"
    before = json.loads(pool.read_text())["tickers"]["ABC"]
    served = json.loads(cli("predict", "ABC", "-f", "json").out)
    data = isolated_home / "data" / "ABC.csv"
    sound = data.read_bytes()
    data.write_bytes(sound + b"garbage,row\n")  # a damaged file: this run cannot recalibrate ABC
    result = cli("train")
    assert result.code == 4
    assert f"ABC: its previous calibration against {NEWEST.name} stays (this run could not redo it)" in result.err
    assert json.loads(pool.read_text())["tickers"]["ABC"] == before
    data.write_bytes(sound)  # repaired: served as before, without a retrain
    assert json.loads(cli("predict", "ABC", "-f", "json").out) == served


def test_evaluate_uses_only_a_vintage_whose_data_ends_before_the_test_start(cli, isolated_home, tmp_path):
    import_bars(cli, tmp_path, "ABC", random_walk_bars(2000, start="2009-01-02"))
    for test_start, served_by in (("2015-01-02", "shipped 2014-12-31"), ("2013-06-03", "shipped 2010-12-31")):
        result = cli("evaluate", "ABC", "--test-start", test_start, "--model", "shipped", "-f", "json")
        assert result.code == 0, result.err
        assert json.loads(result.out)["served_by"] == served_by
        assert f"the network is {served_by}'s" in result.err
    early = cli("evaluate", "ABC", "--test-start", "2010-06-01", "--model", "shipped", "--window", "10", "--hidden",
                "8", "--epochs", "2", "--patience", "0", "-f", "json")
    assert early.code == 0, early.err
    assert json.loads(early.out)["served_by"] == "pooled"  # trained on the home's one ticker, as before vintages
    assert ("no shipped network was trained on data ending before 2010-06-01: the pool is trained on the home's "
            "tickers instead") in early.err


@pytest.fixture
def own_vintages(monkeypatch, tmp_path) -> Path:
    """A copy of the shipped vintages that a test may damage, installed as $FORECAST_VINTAGES."""
    copy = tmp_path / "vintages"
    shutil.copytree(vintages_dir(), copy)
    monkeypatch.setenv("FORECAST_VINTAGES", str(copy))
    return copy / str(NEWEST.last_date)


@pytest.mark.parametrize("damage, problem", [
    (lambda folder: next(folder.glob("weights-*.npz")).write_bytes(b"PK\x03\x04 not weights"),
     "does not match its checksum in meta.json"),
    (lambda folder: next(folder.glob("weights-*.npz")).unlink(), "names a missing weights file"),
    (lambda folder: (folder / "meta.json").unlink(), "is missing: the shipped"),
    (lambda folder: (folder / "meta.json").write_text("{"), "is not valid JSON"),
])
def test_a_damaged_or_missing_vintage_file_is_exit_3_naming_it(cli, own_vintages, tmp_path, damage, problem):
    import_bars(cli, tmp_path, "ABC", random_walk_bars(300))
    damage(own_vintages)
    result = cli("predict", "ABC")
    assert (result.code, result.out) == (3, "")
    assert result.err.startswith(f"Error: ABC: {own_vintages}") and problem in result.err, result.err
    assert result.err.rstrip().endswith("rebuild it, or unset $FORECAST_VINTAGES") and result.err.count("\n") == 1
    trained = cli("train", "--model", "shipped")
    assert trained.code == 3 and str(own_vintages) in trained.err and "Traceback" not in trained.err


def test_without_any_vintage_a_ticker_without_a_model_still_asks_for_training(cli, monkeypatch, tmp_path):
    empty = tmp_path / "none"
    empty.mkdir()
    monkeypatch.setenv("FORECAST_VINTAGES", str(empty))
    import_bars(cli, tmp_path, "ABC", random_walk_bars(300))
    result = cli("predict", "ABC")
    assert (result.code, result.err) == (3, "Error: no model for ABC; run 'forecast train ABC' first\n")


def test_a_ticker_too_short_for_the_vintage_says_what_it_lacks(cli, tmp_path):
    import_bars(cli, tmp_path, "ABC", random_walk_bars(40))
    result = cli("predict", "ABC")
    assert result.code == 3
    assert result.err == ("Error: no model for ABC: ABC has 40 rows of history; joining the pool with --window 30 "
                          "needs at least 51 (fetch or import more history)\n")


def test_the_build_is_bit_identical_and_blind_to_bars_after_its_cut(tmp_path):
    bars = universe()
    first, skipped = build_vintage(bars, dt.date(2014, 1, 2), TINY, tmp_path / "a")
    second, _ = build_vintage(bars, dt.date(2014, 1, 2), TINY, tmp_path / "b")
    later = {t: _changed_after(b, np.datetime64("2014-01-02")) for t, b in bars.items()}
    third, _ = build_vintage(later, dt.date(2014, 1, 2), TINY, tmp_path / "c")
    contents = [{p.name: p.read_bytes() for p in folder.iterdir()} for folder in (first, second, third)]
    assert contents[0] == contents[1] == contents[2] and len(contents[0]) == 2 and skipped == []
    assert first.name == "2014-01-01"  # the generated sessions are business days, holidays included
    model = Model.read(first, "a test vintage", "rebuild it")
    assert model.meta["vintage"]["tickers"] == 6 and model.meta["created_at"] == "2014-01-02T00:00:00+00:00"


def test_the_build_script_rebuilds_a_folder_of_files_and_checks_it(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    import build_vintages

    folder = tmp_path / "universe"
    folder.mkdir()
    for ticker, history in universe(4).items():
        (folder / f"{ticker.lower()}.us.txt").write_text(format_csv(history))
    (folder / "flat.us.txt").write_text(format_csv(Bars(*(
        np.full(700, 5.0) if i else random_walk_bars(700).dates for i in range(7)))))
    args = ["--data-dir", str(folder), "--out", str(tmp_path / "out"), "--cut", "2014-01-02", "--epochs", "2"]
    assert build_vintages.main(args) == 0
    assert "vintage 2014-01-01 (before 2014-01-02): 4 tickers, 1 left out" in capsys.readouterr().err
    assert build_vintages.main([*args, "--check"]) == 0
    assert "identical to" in capsys.readouterr().err


def _changed_after(bars: Bars, cut: np.datetime64) -> Bars:
    later = bars.dates >= cut
    columns = [column.copy() for column in bars.columns()]
    for column in columns[1:6]:
        column[later] *= 1.5
    return Bars(*columns)


def test_the_default_model_is_the_shipped_one_and_network_options_say_they_do_not_shape_it(cli, isolated_home,
                                                                                          tmp_path):
    import_bars(cli, tmp_path, "ABC", random_walk_bars(300))
    result = cli("train", "--window", "12", "--hidden", "4")
    assert result.code == 0, result.err
    assert (f"--window, --hidden shape a network trained on the home's tickers (--model pooled or per-ticker), not "
            f"the shipped one: {NEWEST.name} keeps its own") in " ".join(result.err.split())
    saved = json.loads((isolated_home / "models" / "_pool" / "meta.json").read_text())
    assert saved["hyperparameters"] == NEWEST.load().meta["hyperparameters"] and list(saved["tickers"]) == ["ABC"]


def test_evaluate_with_the_shipped_network_needs_only_the_rows_to_join_a_pool(cli, tmp_path):
    import_bars(cli, tmp_path, "ABC", random_walk_bars(300))
    result = cli("evaluate", "ABC", "--test-start", "2020-02-03")
    assert (result.code, result.err) == (2, "Error: ABC has 22 rows before --test-start 2020-02-03; training with "
                                            "--window 30 needs at least 51 (choose a later --test-start)\n")


@pytest.mark.parametrize("where", ["missing", "a file"])
def test_a_forecast_vintages_that_names_no_folder_is_a_usage_error_before_any_work(cli, monkeypatch, tmp_path,
                                                                                  where):
    import_bars(cli, tmp_path, "ABC", random_walk_bars(300))
    target = tmp_path / "nope"
    if where == "a file":
        target.write_text("not a folder")
    monkeypatch.setenv("FORECAST_VINTAGES", str(target))
    for command in (["train"], ["predict", "ABC"], ["evaluate", "ABC", "--test-start", "2020-06-01"]):
        result = cli(*command)
        assert (result.code, result.out) == (2, ""), command
        assert result.err == (f"Error: $FORECAST_VINTAGES is {str(target)!r}, which is no folder (an empty folder "
                              "means no shipped network; unset it for the ones forecaster ships)\n")


def test_a_vintage_in_a_folder_of_another_date_is_damaged(cli, own_vintages, tmp_path):
    import_bars(cli, tmp_path, "ABC", random_walk_bars(300))
    elsewhere = own_vintages.parent / "2018-01-02"
    own_vintages.rename(elsewhere)
    result = cli("predict", "ABC")
    assert result.code == 3
    assert (f"{elsewhere / 'meta.json'} is the vintage of data to {NEWEST.last_date}, in the folder of 2018-01-02; "
            "rebuild it, or unset $FORECAST_VINTAGES") in result.err


def _scaled(bars: Bars, factor: float) -> Bars:
    return Bars(bars.dates, bars.open * factor, bars.high * factor, bars.low * factor, bars.close * factor,
                bars.adj_close * factor, bars.volume)


def _wild(n: int, seed: int, volatility: float) -> Bars:
    """A random walk of `volatility` a day with consistent OHLC (a small name in the news)."""
    rng = np.random.default_rng(seed)
    dates = np.busday_offset(np.datetime64("2020-01-02", "D"), np.arange(n), roll="forward")
    close = 20 * np.exp(np.cumsum(volatility * rng.standard_t(3, n) / math.sqrt(3)))
    open_ = close * np.exp(0.3 * volatility * rng.standard_normal(n))
    high = np.maximum(open_, close) * np.exp(0.5 * volatility * rng.random(n))
    low = np.minimum(open_, close) * np.exp(-0.5 * volatility * rng.random(n))
    return Bars(dates, open_, high, low, close, close.copy(), rng.integers(10_000, 90_000, n).astype(float))


def _gapped(bars: Bars, factor: float) -> Bars:
    """`bars` with the last bar opening and staying at `factor` times the previous close (an overnight gap)."""
    open_, high, low, close = (a.copy() for a in (bars.open, bars.high, bars.low, bars.close))
    level = close[-2] * factor
    open_[-1], close[-1], high[-1], low[-1] = level, level * 1.01, level * 1.03, level * 0.98
    return Bars(bars.dates, open_, high, low, close, close.copy(), bars.volume)


def test_a_forecast_at_the_longest_horizon_is_finite_ordered_and_does_not_drift_and_one_more_is_refused(cli,
                                                                                                        tmp_path):
    from forecaster.pipeline import MAX_FORECAST_DAYS

    histories = {ticker: random_walk_bars(400, seed=seed, drift=0.002 * (seed - 1))
                 for seed, ticker in enumerate(("ABC", "XYZ", "PQR"))}
    histories.update({
        "PENNY": _scaled(random_walk_bars(400, seed=5), 0.0022),  # a close of about 0.22
        "WILD": _wild(400, seed=6, volatility=0.08),  # 8% a day, Student-t moves: a name in the news
        "GAPUP": _gapped(random_walk_bars(400, seed=7), 1.5),  # the last bar gaps 50% up ...
        "GAPDN": _gapped(random_walk_bars(400, seed=8), 0.5),  # ... or down
        "CLIMB": random_walk_bars(400, seed=9, drift=0.01),  # +1% a day for a year and a half
    })
    last_close = {}
    for ticker, bars in histories.items():
        import_bars(cli, tmp_path, ticker, bars)
        last_close[ticker] = bars.adj_close[-1]
    result = cli("predict", "--days", str(MAX_FORECAST_DAYS), "-f", "json")
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    assert len(rows) == len(histories) * MAX_FORECAST_DAYS
    for row in rows:
        assert all(np.isfinite([row["lower"], row["forecast"], row["upper"], row["volatility"]]))
        assert 0 < row["lower"] < row["forecast"] < row["upper"]
    for ticker in histories:
        mine = [row for row in rows if row["ticker"] == ticker]
        assert {row["forecast"] for row in mine} == {mine[0]["forecast"]}  # the next session's mean, then none
        # the one mean there is: within 1% of the last close on a quiet walk, and after a 50% gap or on a name
        # moving 8% a day, within a quarter of the next session's band (the pool's view of a reversal, not a drift)
        shift = abs(math.log(mine[0]["forecast"] / last_close[ticker]))
        band = math.log(mine[0]["upper"] / mine[0]["lower"])
        assert shift < (0.01 if ticker in ("ABC", "XYZ", "PQR", "CLIMB") else 0.25 * band), ticker
        widths = [row["upper"] - row["lower"] for row in mine]
        assert all(a < b for a, b in zip(widths, widths[1:], strict=False))
        assert mine[-1]["upper"] / mine[-1]["lower"] < 1e3, ticker  # no band from nothing to everything
    beyond = cli("predict", "--days", str(MAX_FORECAST_DAYS + 1))
    assert (beyond.code, beyond.err) == (2, f"Error: --days must be between 1 and {MAX_FORECAST_DAYS} (the longest "
                                            f"horizon whose intervals are measured), got {MAX_FORECAST_DAYS + 1}\n")
