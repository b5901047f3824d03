"""The pool through the command line: one network for the watchlist, tickers calibrated against it, short histories,
the market as an input, no look-ahead across tickers and the market, and a killed training that loses nothing."""

import csv
import json
import signal
import time

import numpy as np
import pytest

from conftest import fast_training, random_walk_bars
from fault_helpers import run, start
from forecaster.data.bars import Bars, format_csv
from forecaster.data.store import Store
from forecaster.model.guards import check_meta
from forecaster.model.serving import POOL, Model

FAST = fast_training(epochs=3)
TICKERS = ("AAA", "BBB", "CCC")


def store_bars(cli, tmp_path, ticker: str, bars: Bars) -> None:
    path = tmp_path / f"{ticker.replace('^', '')}.csv"
    path.write_text(format_csv(bars))
    assert cli("fetch", ticker, "--csv", path, "-q").code == 0


@pytest.fixture
def watchlist(cli, isolated_home, tmp_path):
    """Three generated tickers and the market index, ^GSPC, which forecast.toml names as the pool's market."""
    for seed, ticker in enumerate(TICKERS):
        store_bars(cli, tmp_path, ticker, random_walk_bars(260, seed=seed))
    store_bars(cli, tmp_path, "^GSPC", random_walk_bars(300, seed=9))
    (isolated_home / "forecast.toml").write_text('[train]\nmarket = "^GSPC"\n')
    return isolated_home


def test_train_saves_one_pool_with_every_tickers_calibration(cli, watchlist):
    result = cli("train", "AAA", "BBB", "CCC", *FAST)
    assert result.code == 0, result.err
    assert sorted(p.name for p in (watchlist / "models").iterdir()) == [POOL]
    files = sorted(p.name for p in (watchlist / "models" / POOL).iterdir())
    assert len(files) == 2 and files[0] == "meta.json" and files[1].startswith("weights-")
    meta = json.loads((watchlist / "models" / POOL / "meta.json").read_text())
    assert set(meta) == {"format_version", "package_version", "created_at", "kind", "hyperparameters", "features",
                         "inputs", "market", "notes", "pool", "training", "tickers", "weights_file", "weights_sha256"}
    assert (meta["kind"], meta["features"], meta["market"]["ticker"]) == ("pooled", "range", "^GSPC")
    assert list(meta["tickers"]) == list(TICKERS) and meta["training"]["tickers"] == 3
    assert set(meta["tickers"]["AAA"]) == {"member", "level", "offset", "shock_scale", "scaler", "network_share",
                                           "scale_share", "persistence", "quantiles", "training"}
    assert "the pool: trained 3 epochs on 3 tickers to 2020-12-30" in result.err
    predicted = json.loads(cli("predict", *TICKERS, "-f", "json", "-q").out)
    assert [(r["ticker"], r["model"]) for r in predicted] == [(t, "pooled") for t in TICKERS]


def test_a_ticker_added_after_training_is_calibrated_against_the_pool_in_seconds(cli, watchlist, tmp_path):
    assert cli("train", "AAA", "BBB", "CCC", *FAST, "-q").code == 0
    weights = json.loads((watchlist / "models" / POOL / "meta.json").read_text())["weights_file"]
    store_bars(cli, tmp_path, "NEW", random_walk_bars(200, seed=5))
    result = cli("train", "NEW", *FAST)
    assert result.code == 0, result.err
    assert ("calibrated against the pool trained on 3 tickers to 2020-12-30 (run 'forecast train' without tickers to "
            "retrain the pool)") in result.err
    meta = json.loads((watchlist / "models" / POOL / "meta.json").read_text())
    assert meta["weights_file"] == weights  # the network was not retrained
    assert list(meta["tickers"]) == [*TICKERS, "NEW"] and meta["tickers"]["NEW"]["member"] is False
    assert meta["tickers"]["NEW"]["scaler"]["scale"] == meta["pool"]["input_scale"]
    assert "pooled (calibrated)" in result.out
    rows = {r["ticker"]: r["model"] for r in json.loads(cli("list", "-f", "json").out)}
    assert rows["NEW"] == "pooled"
    predicted = cli("predict", "NEW", "--days", "2", "-f", "json", "-q")
    assert predicted.code == 0 and [r["model"] for r in json.loads(predicted.out)] == ["pooled", "pooled"]


def test_a_sixty_session_ticker_joins_the_pool_with_the_pools_quantiles(cli, watchlist, tmp_path):
    store_bars(cli, tmp_path, "IPO", random_walk_bars(60, seed=6, start="2020-10-01"))
    result = cli("train", *FAST)
    assert result.code == 0, result.err
    meta = json.loads((watchlist / "models" / POOL / "meta.json").read_text())
    assert meta["tickers"]["IPO"]["training"]["rows"] == 60 and meta["tickers"]["IPO"]["member"] is True
    predicted = json.loads(cli("predict", "IPO", "-f", "json", "-q").out)
    assert predicted[0]["lower"] < predicted[0]["forecast"] < predicted[0]["upper"]
    # its few errors cannot say where its far tails are: the pool's quantiles do, so each bound moves out with the level
    bands = [json.loads(cli("predict", "IPO", "-f", "json", "-q", "--level", level).out)[0]
             for level in ("0.8", "0.9", "0.98", "0.998")]
    assert all(wider["lower"] < band["lower"] and wider["upper"] > band["upper"]
               for band, wider in zip(bands, bands[1:], strict=False))


def test_too_short_a_history_to_join_is_named_and_the_others_train(cli, watchlist, tmp_path):
    store_bars(cli, tmp_path, "TINY", random_walk_bars(25, seed=8))
    result = cli("train", *FAST)
    assert result.code == 4
    assert result.err.splitlines()[-2:] == [
        "Error: TINY has 25 rows of history; joining the pool with --window 10 needs at least 31 (fetch or import "
        "more history)",
        "Error: 1 of 5 tickers failed: TINY"]
    assert sorted(json.loads((watchlist / "models" / POOL / "meta.json").read_text())["tickers"]) == [
        "AAA", "BBB", "CCC", "^GSPC"]
    predicted = cli("predict", "TINY", "AAA")  # the way out it names is one that works: not "train TINY" alone
    assert predicted.code == 4
    assert predicted.err.splitlines()[-2:] == [
        "Error: no model for TINY: 25 rows of history, too few to join the pool (it needs 31); fetch or import more "
        "history, then run 'forecast train TINY'",
        "Error: 1 of 2 tickers failed: TINY"]


def test_without_the_market_stored_the_pool_trains_without_it_and_says_so(cli, isolated_home, tmp_path):
    for seed, ticker in enumerate(TICKERS):
        store_bars(cli, tmp_path, ticker, random_walk_bars(260, seed=seed))
    result = cli("train", *FAST, "--market", "^GSPC")
    assert result.code == 0
    assert [line for line in result.err.splitlines() if "market" in line] == [
        "the market index ^GSPC is not stored, so the model learns without it (run 'forecast fetch ^GSPC', or set "
        "market = \"none\" in forecast.toml)"]
    meta = json.loads((isolated_home / "models" / POOL / "meta.json").read_text())
    assert meta["market"] is None and "market_return" not in meta["inputs"]
    by_default = cli("train", *FAST)  # no market unless one is asked for: on the panel it did not help
    assert by_default.code == 0 and by_default.err.count("market") == 0


def test_a_change_after_the_test_start_to_any_ticker_or_the_market_leaves_earlier_forecasts_identical(
        cli, watchlist, tmp_path):
    def walk(name):
        out = tmp_path / f"{name}-{{ticker}}.csv"
        result = cli("evaluate", *TICKERS, "--test-start", "2020-11-02", *FAST, "--predictions", out, "-q")
        assert result.code == 0, result.err
        return {t: list(csv.DictReader((tmp_path / f"{name}-{t}.csv").open())) for t in TICKERS}

    base = walk("base")
    store = Store(watchlist)
    for ticker, seed in (("BBB", 1), ("^GSPC", 9)):  # one ticker and the market change from 2020-12-01 on
        bars = random_walk_bars(260 if ticker == "BBB" else 300, seed=seed)
        later = bars.dates >= np.datetime64("2020-12-01")
        store.write_bars(ticker, Bars(bars.dates, *(np.where(later, c * 1.4, c) for c in (
            bars.open, bars.high, bars.low, bars.close, bars.adj_close)), bars.volume))
    changed = walk("changed")
    for ticker in TICKERS:
        first = [row["date"] for row in base[ticker]].index("2020-12-01")
        for column in ("model", "lower", "upper", "har", "har_lower", "har_upper", "naive_lower", "gjr_upper"):
            assert [r[column] for r in base[ticker][: first + 1]] == \
                [r[column] for r in changed[ticker][: first + 1]], (ticker, column)
    assert base["BBB"][-1]["model"] != changed["BBB"][-1]["model"]


def test_unseen_tickers_are_calibrated_against_a_pool_trained_without_them(cli, watchlist):
    result = cli("evaluate", "AAA", "BBB", "--unseen", "CCC", "--test-start", "2020-11-02", *FAST, "-f", "json")
    assert result.code == 0, result.err
    assert [r["ticker"] for r in json.loads(result.out)] == ["AAA", "BBB", "CCC"]
    refused = cli("evaluate", "AAA", "--unseen", "CCC", "--test-start", "2020-11-02", "--model", "per-ticker")
    assert (refused.code, refused.err) == (2, "Error: --unseen keeps tickers out of a pool: it needs --model pooled\n")


@pytest.mark.slow
@pytest.mark.parametrize("stop, code, message", [(signal.SIGKILL, -9, ""),
                                                 (signal.SIGTERM, 143, "Error: stopped by SIGTERM\n")])
def test_a_killed_pooled_training_leaves_the_old_pool_loadable(tmp_path, stop, code, message):
    home = tmp_path / "home"
    for seed, ticker in enumerate(TICKERS):
        path = tmp_path / f"{ticker}.csv"
        path.write_text(format_csv(random_walk_bars(260, seed=seed)))
        assert run(home, "fetch", ticker, "--csv", path, "-q").returncode == 0
    assert run(home, "train", *FAST, "-q").returncode == 0
    before = {p.name: p.read_bytes() for p in (home / "models" / POOL).iterdir()}
    process = start(home, "train", *fast_training(epochs=5000),
                    "--seed", "3")
    time.sleep(4.0)  # well into training
    process.send_signal(stop)
    out, err = process.communicate(timeout=30)
    assert (process.returncode, out, err) == (code, "", message)
    assert {p.name: p.read_bytes() for p in (home / "models" / POOL).iterdir()} == before
    check_meta(Model.load(Store(home), POOL).meta, home / "models" / POOL / "meta.json", "")
    assert run(home, "predict", "-q").returncode == 0


@pytest.mark.parametrize("damage", [lambda text: text[:300], lambda text: "", lambda text: '{"tickers": 7}'])
def test_a_damaged_pool_is_named_for_every_ticker_it_may_serve_and_a_named_train_never_replaces_it(
        cli, watchlist, tmp_path, damage):
    assert cli("train", *FAST).code == 0
    meta = watchlist / "models" / POOL / "meta.json"
    meta.write_text(damage(meta.read_text()))
    broken = meta.read_text()
    predicted = cli("predict", "-f", "csv")
    assert predicted.code == 3
    assert predicted.out == "ticker,as_of,date,horizon,forecast,lower,upper,level,volatility,model\n"
    assert f"{meta}" in predicted.err and "run 'forecast train' to retrain it" in predicted.err
    assert predicted.err.splitlines()[-1] == "Error: 4 of 4 tickers failed: AAA, BBB, CCC, ^GSPC"
    listed = json.loads(cli("list", "-f", "json").out)
    assert {row["ticker"]: row["model"] for row in listed} == dict.fromkeys(["AAA", "BBB", "CCC", "^GSPC"],
                                                                            "unreadable")
    store_bars(cli, tmp_path, "NEW", random_walk_bars(260, seed=11))
    named = cli("train", "NEW", *FAST)
    assert named.code == 3 and f"{meta}" in named.err
    assert meta.read_text() == broken  # what it learned from the others is not thrown away by a train of NEW alone
    assert cli("train", *FAST).code == 0  # the way out the message names: retrain the pool
    assert cli("predict", "-f", "csv", "-q").out.count("\n") == 1 + 5
