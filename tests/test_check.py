"""`forecast check`: a healthy home passes (exit 0, one line); each kind of problem, made by hand in a copy of a
healthy home, is one row naming the file, what is wrong and what fixes it (exit 3); check changes no file. And the
rule check shares with `predict`: a model whose ticker's data no longer extends its training data is refused."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import FAST_TRAINING, random_walk_bars, snapshot
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


def problems(cli) -> list[dict]:
    """`forecast check -f json`'s rows, checked to come with exit 3 and nothing changed in the home."""
    home = Path(os.environ["FORECAST_HOME"])
    before = snapshot(home)
    result = cli("check", "-f", "json")
    assert snapshot(home) == before
    assert result.code == 3, result.err
    assert result.err.startswith("Error: ") and "found in" in result.err
    rows = json.loads(result.out)
    assert all(list(row) == ["path", "ticker", "problem", "fix"] for row in rows)
    return rows


def only(rows: list[dict]) -> dict:
    assert len(rows) == 1, rows
    return rows[0]


def cut_back(home: Path, ticker: str, rows: int) -> None:
    """The ticker's data file cut back to its first `rows` rows by hand, at a row boundary."""
    path = home / "data" / f"{ticker}.csv"
    bars = parse_csv(path.read_text(), str(path))
    path.write_text(format_csv(bars.take(slice(0, rows))))


def stored(home: Path, ticker: str) -> Bars:
    path = home / "data" / f"{ticker}.csv"
    return parse_csv(path.read_text(), str(path))


def import_file(cli, folder: Path, ticker: str, bars: Bars, *options: str) -> None:
    """`bars` stored as `ticker` as a user stores them: 'forecast fetch TICKER --csv FILE [options]'."""
    path = folder / f"{ticker}-new.csv"
    path.write_text(format_csv(bars))
    result = cli("fetch", ticker, "--csv", path, "-q", *options)
    assert result.code == 0, result.err


# ------------------------------------------------------------------------------------------------- healthy
def test_a_healthy_home_is_one_line_on_stderr_and_exit_0(home, cli):
    before = snapshot(home)
    result = cli("check")
    assert (result.code, result.out) == (0, "")
    assert result.err == f"{home} is healthy: every file reads back sound\n"
    assert cli("check", "-f", "json").out == "[]\n"
    assert snapshot(home) == before


def test_a_mistyped_home_is_no_healthy_home_and_is_not_created(cli, tmp_path):
    typo = tmp_path / "typo"
    result = cli("check", "--home", typo)
    assert (result.code, result.out) == (3, "")
    assert result.err == f"Error: no forecaster home at {typo}: no such folder (check --home or $FORECAST_HOME)\n"
    assert not typo.exists()


def test_a_folder_holding_nothing_of_forecasts_is_no_home(cli, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    result = cli("check", "--home", tmp_path / "elsewhere", "-f", "json")
    assert (result.code, result.out) == (3, "")
    assert result.err == (f"Error: no forecaster home at {tmp_path / 'elsewhere'}: it holds no data/, models/ or "
                          "forecast.toml (check --home or $FORECAST_HOME, or run 'forecast fetch TICKER' to start one "
                          "there)\n")


def test_the_api_returns_a_frame_of_the_problems(home):
    import forecaster as fc

    assert fc.Home(home).check().empty
    (home / "data" / "XYZ.json").unlink()
    frame = fc.Home(home).check()
    assert list(frame.columns) == ["path", "ticker", "problem", "fix"]
    assert frame.to_dict("records")[0]["path"] == "data/XYZ.json"


# -------------------------------------------------------------------------------------------------- data
def test_a_damaged_price_file_is_named_with_how_to_replace_it(home, cli):
    (home / "data" / "ABC.csv").write_text("Date,Open\nnot a date,1\n")
    row = only(problems(cli))
    assert (row["path"], row["ticker"]) == ("data/ABC.csv", "ABC")
    assert str(home / "data" / "ABC.csv") in row["problem"]
    fix = re.fullmatch(r"re-import it with 'forecast fetch ABC --csv (.+)' \(or 'forecast import FILE\.\.\.'\)",
                       row["fix"])
    assert fix and fix.group(1).endswith("/check-files/ABC.csv")  # the path it was imported from, not a bare name


def test_a_malformed_sidecar_is_named(home, cli):
    (home / "data" / "ABC.json").write_text('{"source": 5}')
    row = only(problems(cli))
    assert (row["path"], row["ticker"]) == ("data/ABC.json", "ABC")
    assert "is damaged: its source is 5" in row["problem"]
    assert row["fix"].startswith("run 'forecast fetch ABC --csv FILE' with the file it came from")


def test_a_missing_sidecar_is_named(home, cli):
    (home / "data" / "XYZ.json").unlink()
    row = only(problems(cli))
    assert (row["path"], row["ticker"]) == ("data/XYZ.json", "XYZ")
    assert row["problem"] == "data/XYZ.json is missing: where XYZ's data came from is unknown (it counts as Yahoo's)"


def test_stale_data_is_named_with_predicts_rule(home, cli, tmp_path):
    bars = fresh_bars(0)
    old = Bars(bars.dates - np.timedelta64(30, "D"), *bars.columns()[1:])
    import_file(cli, tmp_path, "ABC", old, "--replace")
    rows = problems(cli)
    stale = [row for row in rows if row["path"] == "data/ABC.csv"]
    assert only(stale)["problem"].startswith(f"imported data ends {old.last_date}, ")
    assert only(stale)["problem"].endswith(" days ago (more than 5)")


def changes(rows: list[dict]) -> list[dict]:
    """The rows of price files changed since they were stored, of `problems`' rows."""
    return [row for row in rows if " changed since it was stored " in row["problem"]]


SAMPLE_REPAIR = ("run 'forecast fetch --sample' to restore the bundled sample ('forecast fetch MSFT' gets the live "
                 "data instead)")


def test_a_sample_file_cut_back_at_a_row_boundary_is_named_with_the_samples_repair(cli, isolated_home):
    assert cli("fetch", "--sample", "-q").code == 0
    data = isolated_home / "data" / "MSFT.csv"
    data.write_text("".join(data.read_text().splitlines(keepends=True)[:2000]))  # still a sound price file
    assert changes(problems(cli)) == [{
        "path": "data/MSFT.csv", "ticker": "MSFT",
        "problem": "data/MSFT.csv changed since it was stored (cut back or edited?): its SHA-256 is not the one "
                   "data/MSFT.json records; it holds 1999 rows, 2000-03-01 to 2008-02-12",
        "fix": SAMPLE_REPAIR}]
    assert cli("fetch", "--sample", "-q").code == 0
    assert changes(problems(cli)) == []  # the sample's own staleness is all that is left


def test_a_damaged_sample_file_is_named_with_the_samples_repair(cli, isolated_home):
    assert cli("fetch", "--sample", "-q").code == 0
    data = isolated_home / "data" / "MSFT.csv"
    data.unlink()
    os.mkfifo(data)
    row = only([row for row in problems(cli) if row["path"] == "data/MSFT.csv"])
    assert row["problem"].startswith(f"{data} is a FIFO (named pipe), not a file")
    assert row["fix"] == SAMPLE_REPAIR
    assert cli("fetch", "--sample", "-q").code == 0
    left = only([row for row in problems(cli) if row["ticker"] == "MSFT"])
    assert left["problem"].startswith("bundled sample data ends 2013-03-01, ")  # stale, as the sample is
    assert (isolated_home / "data" / "MSFT.csv.damaged").is_fifo()


def test_a_yahoo_file_changed_since_the_last_fetch_is_named_with_a_whole_download(cli, isolated_home, yahoo):
    for _ in range(2):  # the second fetch finds nothing new: what it checked is recorded all the same
        assert cli("fetch", "MSFT", "-q").code == 0
    cut_back(isolated_home, "MSFT", 3000)
    assert [(row["path"], row["fix"]) for row in changes(problems(cli))] == [
        ("data/MSFT.csv", "run 'forecast fetch MSFT --replace' to download its whole history again")]
    assert cli("fetch", "MSFT", "--replace", "-q").code == 0
    assert changes(problems(cli)) == []


def test_an_imported_file_cut_back_is_named_with_its_reimport(home, cli):
    cut_back(home, "ABC", 150)
    row = only(changes(problems(cli)))
    assert row["problem"].endswith(" records; it holds 150 rows, " + f"{stored(home, 'ABC').first_date} to "
                                   f"{stored(home, 'ABC').last_date}")
    assert re.fullmatch(r"re-import it with 'forecast fetch ABC --csv .+/check-files/ABC\.csv' \(or 'forecast "
                        r"import FILE\.\.\.'\)", row["fix"])


# ------------------------------------------------------------------------------------------------ models
def test_a_damaged_model_is_named_with_its_field(home, cli):
    meta_path = home / "models" / "_pool" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["tickers"]["ABC"]["network_share"] = 40.0
    meta_path.write_text(json.dumps(meta))
    row = only(problems(cli))
    assert (row["path"], row["ticker"]) == ("models/_pool/meta.json", None)
    assert "is a damaged model: tickers.ABC.network_share must be between 0 and 1, got 40.0" in row["problem"]
    assert row["fix"] == "run 'forecast train' to retrain it"


def test_data_cut_back_under_a_calibrated_model_is_named(home, cli):
    cut_back(home, "ABC", 150)
    row = only([row for row in problems(cli) if row["path"] == "models/_pool/meta.json"])
    assert row["ticker"] == "ABC"
    assert "ABC: its data changed since its model was calibrated: 150 rows" in row["problem"]
    assert f"fewer than the {ROWS} rows from " in row["problem"]
    assert row["fix"] == "run 'forecast train ABC' to recalibrate it"


def test_newer_rows_under_a_calibrated_model_are_no_problem(home, cli, tmp_path):
    bars = stored(home, "ABC")
    newer = bars.dates[-1] + np.timedelta64(1, "D")  # at most yesterday: the template's data ends two days ago
    grown = Bars(*(np.append(column, column[-1] if i else newer) for i, column in enumerate(bars.columns())))
    import_file(cli, tmp_path, "ABC", grown)
    assert cli("check").code == 0
    assert cli("predict", "ABC").code == 0


def test_a_dividend_re_adjusting_the_history_under_a_calibrated_model_is_no_problem(home, cli, tmp_path):
    bars = stored(home, "ABC")
    adjusted = Bars(bars.dates, bars.open, bars.high, bars.low, bars.close, bars.adj_close * 0.98, bars.volume)
    import_file(cli, tmp_path, "ABC", adjusted)  # every earlier price re-adjusted by one factor, as Yahoo restates it
    assert cli("check").code == 0
    assert cli("predict", "ABC").code == 0


def test_another_series_replacing_a_calibrated_history_takes_its_model_with_it(home, cli, tmp_path):
    other = fresh_bars(7)  # another history on the same dates: the dates alone do not tell
    assert other.dates.tolist() == stored(home, "ABC").dates.tolist()
    pool = home / "models" / "_pool" / "meta.json"
    calibrated = pool.read_text()
    path = tmp_path / "ABC-other.csv"
    path.write_text(format_csv(other))
    result = cli("fetch", "ABC", "--csv", path, "--replace")
    assert result.code == 0, result.err
    assert ("ABC: another series replaced its history, so what was calibrated on the old one goes: taken out of the "
            "pool") in " ".join((result.out + result.err).split())
    assert "ABC" not in json.loads(pool.read_text())["tickers"]
    assert "calibrated on other data" not in cli("check").err
    # a pool that still holds the old calibration (a replace by an older forecaster) is named by check
    pool.write_text(calibrated)
    row = only([row for row in problems(cli) if row["path"] == "models/_pool/meta.json"])
    replaced_at = json.loads((home / "data" / "ABC.json").read_text())["history_replaced_at"]
    assert row == {"path": "models/_pool/meta.json", "ticker": "ABC",
                   "problem": f"ABC: its model was calibrated on other data: the stored data is another series, which "
                              f"replaced the history at {replaced_at} (--replace), after it was calibrated on the 200 "
                              f"rows from {other.first_date} to {other.last_date}; run 'forecast train ABC' to "
                              "recalibrate it",
                   "fix": "run 'forecast train ABC' to recalibrate it"}
    assert cli("train", "ABC", *FAST_TRAINING, "-q").code == 0
    assert cli("check").code == 0


def test_a_re_adjusted_history_stored_with_replace_is_no_other_series(home, cli, tmp_path):
    bars = stored(home, "ABC")
    adjusted = Bars(bars.dates, bars.open, bars.high, bars.low, bars.close, bars.adj_close * 0.98, bars.volume)
    import_file(cli, tmp_path, "ABC", adjusted, "--replace")
    assert "history_replaced_at" not in json.loads((home / "data" / "ABC.json").read_text())
    assert cli("check").code == 0


def test_the_series_calibrated_on_stored_again_is_no_problem(home, cli, tmp_path):
    bars = stored(home, "ABC")
    import_file(cli, tmp_path, "ABC", fresh_bars(7), "--replace")
    import_file(cli, tmp_path, "ABC", bars, "--replace")  # back to the very data the model learned from
    assert cli("check").code == 0


def test_a_pool_naming_a_ticker_without_data_is_named(home, cli):
    (home / "data" / "XYZ.csv").unlink()
    (home / "data" / "XYZ.json").unlink()
    row = only(problems(cli))
    assert (row["path"], row["ticker"]) == ("models/_pool/meta.json", "XYZ")
    assert row["problem"] == "the pool serves XYZ, but no data is stored for it (data/XYZ.csv)"
    assert row["fix"] == "run 'forecast fetch XYZ' (or import its file), or 'forecast remove XYZ --yes' to take it out"


def test_a_ticker_no_model_can_serve_is_named(home, cli, tmp_path):
    source = tmp_path / "SHORT.csv"
    source.write_text(format_csv(fresh_bars(5, rows=20)))
    assert cli("fetch", "SHORT", "--csv", source, "-q").code == 0
    row = only(problems(cli))
    assert (row["path"], row["ticker"]) == ("data/SHORT.csv", "SHORT")
    assert row["problem"].startswith("no model for SHORT: SHORT has 20 rows of history; joining the pool")
    assert row["fix"] == "fetch or import more history of SHORT (the problem says how much)"


STILL = ("FLAT: every close is the same (50): there is no movement to learn and no risk to forecast; fetch or import "
         "other data for FLAT (with --replace), or take it out with 'forecast remove FLAT --yes'")


@pytest.mark.parametrize("vintages", ["shipped", "none installed"])
def test_a_history_no_model_can_be_made_of_is_named_with_a_fix_that_can_succeed(home, cli, tmp_path, monkeypatch,
                                                                                vintages):
    if vintages == "none installed":
        (tmp_path / "no-vintages").mkdir()
        monkeypatch.setenv("FORECAST_VINTAGES", str(tmp_path / "no-vintages"))
    bars = fresh_bars(8)
    flat = np.full(len(bars), 50.0)
    import_file(cli, tmp_path, "FLAT", Bars(bars.dates, flat, flat, flat, flat, flat, bars.volume))
    row = only(problems(cli))
    assert row == {"path": "data/FLAT.csv", "ticker": "FLAT", "problem": STILL,
                   "fix": "fetch or import other data for FLAT (with --replace), or take it out with 'forecast remove "
                          "FLAT --yes'"}
    for args in (["predict", "FLAT"], ["train", "FLAT", *FAST_TRAINING]):  # neither advises what cannot succeed
        assert (cli(*args).code, cli(*args).err) == (2, f"Error: {STILL}\n"), args
    assert cli("remove", "FLAT", "--yes", "-q").code == 0
    assert cli("check").code == 0


def test_a_ticker_without_a_model_is_named_when_no_shipped_network_is_installed(home, cli, tmp_path, no_vintages):
    source = tmp_path / "NEW.csv"
    source.write_text(format_csv(fresh_bars(6)))
    assert cli("fetch", "NEW", "--csv", source, "-q").code == 0
    row = only(problems(cli))
    assert (row["path"], row["ticker"]) == ("data/NEW.csv", "NEW")
    assert row["problem"] == ("no model serves NEW, and no shipped network is installed to calibrate it against; run "
                              "'forecast train NEW'")
    assert row["fix"] == "run 'forecast train NEW'"


def test_a_damaged_shipped_network_is_named_by_its_full_path(home, cli, tmp_path, monkeypatch):
    from forecaster.model.vintages import vintages_dir

    copy = tmp_path / "vintages"
    shutil.copytree(vintages_dir(), copy)
    newest = sorted(copy.iterdir())[-1]
    next(newest.glob("weights-*.npz")).write_bytes(b"not weights")
    monkeypatch.setenv("FORECAST_VINTAGES", str(copy))
    row = only(problems(cli))
    assert (row["path"], row["ticker"]) == (str(newest / "meta.json"), None)
    assert "does not match its checksum in meta.json" in row["problem"]
    assert row["fix"] == "rebuild it, or unset $FORECAST_VINTAGES"


def test_an_orphaned_weights_file_and_a_stale_temporary_file_are_named(home, cli):
    temporary = home / "data" / ".ABC.csv.x1y2z3.tmp"
    temporary.write_text("Date,Open")
    assert cli("check").code == 0  # a temporary file of a write under way is no problem
    pool = home / "models" / "_pool"
    weights = next(pool.glob("weights-*.npz"))
    shutil.copy(weights, pool / "weights-0000000000000000.npz")
    two_hours_ago = time.time() - 7200
    os.utime(temporary, (two_hours_ago, two_hours_ago))
    orphan, stale = problems(cli)
    assert orphan == {"path": "models/_pool/weights-0000000000000000.npz", "ticker": None,
                      "problem": "an orphaned weights file: no meta.json names it",
                      "fix": "delete it (no model uses it; the next save of this model removes it too)"}
    assert stale["path"] == "data/.ABC.csv.x1y2z3.tmp"
    assert stale["problem"] == "a temporary file left by a write that was killed 2 hours ago"


# ------------------------------------------------------------------------------------------ log, settings
def test_a_bad_log_row_is_named(home, cli):
    log = home / "data" / "predictions.csv"
    first = log.read_text().splitlines()[1].split(",")
    first[3] = "0"  # horizon
    log.write_text(log.read_text() + ",".join(first) + "\n")
    row = only(problems(cli))
    assert (row["path"], row["ticker"]) == ("data/predictions.csv", None)
    assert "row 4: horizon must be 1 or more (sessions ahead), got 0" in row["problem"]


def test_a_bad_forecast_toml_is_named_and_the_rest_checked(home, cli):
    (home / "forecast.toml").write_text("[train]\nepochs = -1\n")
    (home / "data" / "XYZ.json").unlink()
    settings, sidecar = problems(cli)
    assert settings["path"] == "forecast.toml"
    assert settings["problem"] == (f"{home / 'forecast.toml'} line 2: [train] epochs must be between 1 and 100000, "
                                   "got -1")
    assert settings["fix"] == "fix the line named (see docs/configuration.md), or move the file away"
    assert sidecar["path"] == "data/XYZ.json"


def test_a_watchlist_ticker_without_data_is_named(home, cli):
    (home / "forecast.toml").write_text('tickers = ["ABC", "NEW"]\n')
    row = only(problems(cli))
    assert (row["path"], row["ticker"]) == ("forecast.toml", "NEW")
    assert row["fix"] == "run 'forecast fetch NEW' (or import its file), or take it off the watchlist"


def test_the_table_lists_the_problems_and_counts_them(home, cli):
    (home / "data" / "XYZ.json").unlink()
    result = cli("check")
    assert result.code == 3
    assert "data/XYZ.json" in result.out
    assert result.err == f"Error: 1 problem found in {home}\n"


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


# ------------------------------------------------------------------------- a bare predict names every ticker
def foreign_pool(home: Path) -> None:
    """The pool replaced by one of another home: it serves FOO and BAR, which have no data here."""
    meta_path = home / "models" / "_pool" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["tickers"] = {"FOO": meta["tickers"]["ABC"], "BAR": meta["tickers"]["XYZ"]}
    meta_path.write_text(json.dumps(meta))


def test_a_pool_from_another_home_names_the_homes_tickers_and_its_own(home, cli, no_vintages):
    foreign_pool(home)
    result = cli("predict", "-f", "csv")
    assert (result.code, result.out) == (3, "ticker,as_of,date,horizon,forecast,lower,upper,level,volatility,model\n")
    assert result.err.splitlines() == [
        "Error: no model for ABC; run 'forecast train ABC' first",
        "Error: BAR: the pool serves BAR, but no data is stored for it (data/BAR.csv); run 'forecast fetch BAR' (or "
        "import its file), or 'forecast remove BAR --yes' to take it out",
        "Error: FOO: the pool serves FOO, but no data is stored for it (data/FOO.csv); run 'forecast fetch FOO' (or "
        "import its file), or 'forecast remove FOO --yes' to take it out",
        "Error: no model for XYZ; run 'forecast train XYZ' first",
        "Error: 4 of 4 tickers failed: ABC, BAR, FOO, XYZ"]
    assert [(row["ticker"], row["path"]) for row in problems(cli)] == [
        ("FOO", "models/_pool/meta.json"), ("BAR", "models/_pool/meta.json"), ("ABC", "data/ABC.csv"),
        ("XYZ", "data/XYZ.csv")]


def test_a_damaged_price_file_of_a_pool_member_fails_by_name_in_a_bare_predict(home, cli, no_vintages):
    (home / "data" / "ABC.csv").write_text("garbage\n")
    result = cli("predict", "-f", "csv")
    assert result.code == 4
    assert [line.split(",")[0] for line in result.out.splitlines()[1:]] == ["XYZ"]
    assert result.err.startswith(f"Error: {home / 'data' / 'ABC.csv'} is not a CSV file")
    assert result.err.endswith("Error: 1 of 2 tickers failed: ABC\n")
