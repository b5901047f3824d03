"""A model whose ticker's data no longer extends its training data is refused by `predict`."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import FAST_TRAINING, random_walk_bars
from forecaster.data.bars import Bars, format_csv, parse_csv

ROWS = 200


def fresh_bars(seed: int, rows: int = ROWS) -> Bars:
    """`rows` business days of a random walk ending two days ago: data no staleness rule flags."""
    end = np.busday_offset(np.datetime64(dt.date.today() - dt.timedelta(days=2), "D"), 0, roll="backward")
    start = np.busday_offset(end, -(rows - 1))
    return random_walk_bars(rows, seed=seed, start=str(start))


@pytest.fixture(scope="module")
def healthy_template(tmp_path_factory) -> Path:
    """A home with ABC and XYZ imported from files, a small pool trained on both, and one logged forecast each."""
    from forecaster.cli import main

    home = tmp_path_factory.mktemp("check-template")
    files = home.parent / "check-files"
    files.mkdir(exist_ok=True)
    for seed, ticker in enumerate(("ABC", "XYZ")):
        (files / f"{ticker}.csv").write_text(format_csv(fresh_bars(seed)))
        assert main(["fetch", ticker, "--csv", str(files / f"{ticker}.csv"), "--home", str(home), "-q"]) == 0
    for args in (["train", *FAST_TRAINING], ["predict"]):
        assert main([*args, "--home", str(home), "-q"]) == 0, args
    return home


@pytest.fixture
def home(healthy_template, isolated_home) -> Path:
    shutil.copytree(healthy_template, isolated_home, dirs_exist_ok=True)
    return isolated_home


def cut_back(home: Path, ticker: str, rows: int) -> None:
    path = home / "data" / f"{ticker}.csv"
    bars = parse_csv(path.read_text(), str(path))
    path.write_text(format_csv(bars.take(slice(0, rows))))


# -------------------------------------------------------------------------------------------------- predict
def test_predict_refuses_a_model_whose_data_was_cut_back_and_forecasts_the_others(home, cli):
    cut_back(home, "ABC", 150)
    result = cli("predict", "-f", "csv")
    assert result.code == 4
    assert [line.split(",")[0] for line in result.out.splitlines()[1:]] == ["XYZ"]
    assert "Error: ABC: its data changed since its model was calibrated: 150 rows" in result.err
    assert "; run 'forecast train ABC' to recalibrate it" in result.err
    assert cli("predict", "ABC").code == 3
    assert cli("train", "ABC", *FAST_TRAINING, "-q").code == 0
    assert cli("predict", "ABC").code == 0


def test_predict_refuses_another_history_in_place_of_the_training_data(home, cli):
    other = fresh_bars(7, rows=ROWS + 10)  # another series, to the same day: more rows, but not those calibrated on
    (home / "data" / "ABC.csv").write_text(format_csv(other))
    result = cli("predict", "ABC")
    assert result.code == 3
    assert "do not begin with the 200 rows from" in result.err
