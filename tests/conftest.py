"""Shared fixtures: every test runs in its own empty home, offline, with yfinance's global state reset."""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from fake_yahoo import FakeYahoo, reset_yfinance
from forecaster.data.bars import Bars, format_csv, parse_csv

# Training in a fraction of a second: the one place tests say how small a model they train (the options of `forecast
# train` and `forecast evaluate`, and the keywords of forecaster.Home's train and evaluate).
# the home's own pool, trained briefly (the shipped network, the default, is tested in test_vintages.py)
FAST_TRAINING_OPTIONS = {"model": "pooled", "window": 10, "hidden": 8, "epochs": 2, "patience": 0}


def fast_training(**changes) -> list[str]:
    """The command-line options of FAST_TRAINING_OPTIONS with `changes` (e.g. epochs=3), for a test that needs them."""
    return [text for key, value in {**FAST_TRAINING_OPTIONS, **changes}.items() for text in (f"--{key}", str(value))]


FAST_TRAINING = fast_training()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """FORECAST_HOME points at an empty temp dir; the working directory is another temp dir."""
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("FORECAST_HOME", str(home))
    monkeypatch.setenv("FORECAST_LOCK_TIMEOUT", "20")
    monkeypatch.delenv("FORECAST_DEBUG", raising=False)
    monkeypatch.chdir(work)
    return home


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any real HTTP request through curl_cffi fails the test loudly."""
    import curl_cffi.requests

    def refuse(self, method, url, *args, **kwargs):
        raise AssertionError(f"test tried to reach the network: {method} {url}")

    monkeypatch.setattr(curl_cffi.requests.Session, "request", refuse)


@pytest.fixture
def no_vintages(monkeypatch, tmp_path):
    """No shipped vintage installed ($FORECAST_VINTAGES an empty folder): a ticker no model of the home serves has
    no model at all."""
    empty = tmp_path / "no-vintages"
    empty.mkdir()
    monkeypatch.setenv("FORECAST_VINTAGES", str(empty))


@pytest.fixture
def yahoo(monkeypatch, tmp_path):
    """A FakeYahoo serving the bundled MSFT sample, installed as the session `forecast fetch` uses."""
    reset_yfinance(tmp_path / "yf-cache")
    fake = FakeYahoo({"MSFT": sample_bars("MSFT")})
    monkeypatch.setattr("forecaster.data.yahoo.yahoo_session", lambda: fake)
    yield fake
    reset_yfinance(tmp_path / "yf-cache")


def sample_bars(ticker: str) -> Bars:
    name = {"^GSPC": "GSPC", "MSFT": "MSFT", "IBM": "IBM"}[ticker]
    data = resources.files("forecaster.data").joinpath("sample_data", f"{name}.csv.gz").read_bytes()
    return parse_csv(gzip.decompress(data).decode(), name)


def random_walk_bars(n: int = 400, seed: int = 0, start: str = "2020-01-02", drift: float = 0.0003) -> Bars:
    """n business days of a geometric random walk with consistent OHLCV."""
    rng = np.random.default_rng(seed)
    dates = np.busday_offset(np.datetime64(start, "D"), np.arange(n), roll="forward")
    close = 100 * np.exp(np.cumsum(drift + 0.01 * rng.standard_normal(n)))
    open_ = close * np.exp(0.003 * rng.standard_normal(n))
    high = np.maximum(open_, close) * (1 + 0.005 * rng.random(n))
    low = np.minimum(open_, close) * (1 - 0.005 * rng.random(n))
    volume = rng.integers(1_000_000, 5_000_000, n).astype(float)
    return Bars(dates, open_, high, low, close, close.copy(), volume)


def watchlist_home(home: Path, bars: dict[str, Bars], until: str | None = None) -> Path:
    """`home` holding each ticker's bars and one pool serving them all, trained briefly (on data up to `until`): a
    watchlist in seconds."""
    from forecaster.cli import main

    (home / "data").mkdir(parents=True, exist_ok=True)
    for ticker, ticker_bars in bars.items():
        (home / "data" / f"{ticker}.csv").write_text(format_csv(ticker_bars))
    until_args = ["--until", until] if until else []
    assert main(["train", *FAST_TRAINING, *until_args, "--home", str(home), "-q"]) == 0
    return home


def own_model(home: Path, ticker: str) -> None:
    """A model of `ticker`'s own in `home`: a copy of the pool serving it alone, as a per-ticker model does."""
    folder = home / "models" / ticker
    shutil.copytree(home / "models" / "_pool", folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(kind="per-ticker", tickers={ticker: next(iter(meta["tickers"].values()))})
    (folder / "meta.json").write_text(json.dumps(meta))


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run `forecast ARGS...` through the console entry point; returns exit code, stdout and stderr."""
    from forecaster.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def import_bars(cli, folder: Path, ticker: str, bars: Bars) -> None:
    """Store `bars` as `ticker` through `forecast fetch TICKER --csv FILE` (the file written in `folder`)."""
    from forecaster.data.bars import format_csv

    path = folder / f"{ticker}.csv"
    path.write_text(format_csv(bars))
    assert cli("fetch", ticker, "--csv", path, "-q").code == 0


@pytest.fixture(scope="session")
def abc_template(tmp_path_factory) -> Path:
    """A home holding ABC (200 rows of `random_walk_bars`), a small model of it and one logged forecast, built once
    per session: tests copy it (`home_with_abc`) instead of training again."""
    from forecaster.cli import main
    from forecaster.data.bars import format_csv

    home = tmp_path_factory.mktemp("abc-template")
    source = home.parent / "abc-template.csv"
    source.write_text(format_csv(random_walk_bars(200)))
    for args in (["fetch", "ABC", "--csv", str(source)], ["train", "ABC", *FAST_TRAINING], ["predict", "ABC"]):
        assert main([*args, "--home", str(home), "-q"]) == 0, args
    return home


@pytest.fixture
def home_with_abc(abc_template, isolated_home) -> Path:
    """The isolated home, holding a copy of `abc_template`."""
    shutil.copytree(abc_template, isolated_home, dirs_exist_ok=True)
    return isolated_home


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (except locks) with its bytes, to prove a failing command changed nothing."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".locks" not in p.parts and ".cache" not in p.parts
    }
