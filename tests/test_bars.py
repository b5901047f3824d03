"""The bars file format: validation names the source and row; reading and writing are lossless."""

import numpy as np
import pytest

from conftest import random_walk_bars, sample_bars
from forecaster.data.bars import InvalidBars, format_csv, merge, parse_csv

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"
GOOD = "2020-01-02,10,11,9,10.5,10.4,1000\n2020-01-03,10.5,12,10,11,10.9,1200\n"


def test_round_trip_is_lossless_on_real_sample():
    bars = sample_bars("MSFT")
    assert parse_csv(format_csv(bars), "again").equals(bars)
    assert format_csv(parse_csv(format_csv(bars), "again")) == format_csv(bars)


def test_adj_close_defaults_to_close_and_extra_columns_are_ignored():
    bars = parse_csv("date,open,high,low,close,volume,Ticker\n2020-01-02,10,11,9,10.5,1000,X\n", "f.csv")
    assert bars.adj_close.tolist() == [10.5]


def test_rows_are_sorted_and_exact_duplicates_merged():
    text = HEADER + "2020-01-03,10.5,12,10,11,10.9,1200\n" + GOOD
    bars = parse_csv(text, "f.csv")
    assert bars.dates.astype(str).tolist() == ["2020-01-02", "2020-01-03"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "f.csv is empty"),
        ("\n \n", "f.csv is empty"),
        ("hello world\n", "f.csv is not a CSV file (no comma-separated header; expected "
                          "Date,Open,High,Low,Close,Adj Close,Volume)"),
        ("Date,Open,Close\n2020-01-02,1,2\n", "f.csv: missing column(s) High, Low, Volume (expected "
                                              "Date,Open,High,Low,Close,Adj Close,Volume)"),
        ("Date,Open,High,Low,Close,close,Volume\n2020-01-02,10,11,9,10.5,10.4,1000\n",
         "f.csv: the column Close is in the header twice (columns 5 and 6); keep one"),
        ("Date,Open,High,Low,Close,Volume,Close,CLOSE\n2020-01-02,10,11,9,10.5,1000,10,11\n",
         "f.csv: the column Close is in the header 3 times (columns 5, 7 and 8); keep one"),
        (HEADER, "f.csv has a header but no rows"),
        (HEADER + "2020-13-02,10,11,9,10.5,10.4,1000\n", "f.csv row 2: bad Date '2020-13-02' (expected YYYY-MM-DD)"),
        (HEADER + GOOD + "02/01/2020,10,11,9,10.5,10.4,1000\n",
         "f.csv row 4: bad Date '02/01/2020' (expected YYYY-MM-DD)"),
        (HEADER + "2020-01-02,10,11,9,abc,10.4,1000\n", "f.csv row 2: bad Close 'abc' (not a number)"),
        (HEADER + "2020-01-02,10,11,9,nan,10.4,1000\n", "f.csv row 2: bad Close 'nan' (not a finite number)"),
        (HEADER + "2020-01-02,10,11,9,10.5,,1000\n", "f.csv row 2: bad Adj Close '' (not a number)"),
        (HEADER + "2020-01-02,10,11,9,-10.5,10.4,1000\n", "f.csv row 2: Close must be positive, got -10.5"),
        (HEADER + "2020-01-02,0,11,9,10.5,10.4,1000\n", "f.csv row 2: Open must be positive, got 0"),
        (HEADER + "2020-01-02,10,11,9,10.5,10.4,-5\n", "f.csv row 2: Volume must not be negative, got -5"),
        (HEADER + "2020-01-02,10,9,11,10.5,10.4,1000\n", "f.csv row 2: High 9 is below Low 11"),
        (HEADER + GOOD + "2020-01-02,10,11,9,10.6,10.4,1000\n",
         "f.csv rows 2 and 4: date 2020-01-02 appears twice with different values"),
        (HEADER + "2020-01-02,10,11\n", "f.csv row 2: expected 7 fields, found 3"),
    ],
)
def test_invalid_csv_is_refused_naming_file_and_row(text, message):
    with pytest.raises(InvalidBars) as error:
        parse_csv(text, "f.csv")
    assert error.value.message == message


def test_merge_adds_new_dates_and_lets_incoming_revise_overlap():
    stored = random_walk_bars(50)
    incoming = random_walk_bars(60, seed=1).take(slice(45, 60))
    merged, added, changed = merge(stored, incoming)
    assert len(merged) == 60 and added == 10 and changed == 5
    assert np.all(np.diff(merged.dates.astype(np.int64)) > 0)
    assert merged.take(slice(45, 60)).equals(incoming)
    assert merge(merged, incoming)[1:] == (0, 0)
