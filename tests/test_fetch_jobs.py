"""What fetch and import do (forecaster.data.fetch_jobs): bulk import from file names, `remove`, each ticker's
recorded source and what a bare `fetch` does with it, imports that store nothing, long paced runs, failures as they
happen."""

import html
import json

import pytest

from conftest import FAST_TRAINING, import_bars, random_walk_bars, snapshot
from forecaster.data.bars import format_csv
from forecaster.data.fetch_jobs import symbol_from_file_name
from forecaster.data.store import Store


# ------------------------------------------------------------------------------------------------ bulk import
@pytest.mark.parametrize("name, ticker", [
    ("abr_b.us.txt", "ABR-B"), ("aapl.us.txt", "AAPL"), ("MSFT.csv", "MSFT"), ("brk-b.csv", "BRK-B"),
    ("0700.hk.csv", "0700.HK"), ("^gspc.csv", "^GSPC"), ("eurusd=x.txt", "EURUSD=X"), ("us.csv", "US"),
])
def test_the_ticker_comes_from_the_file_name(name, ticker):
    assert symbol_from_file_name(name) == ticker


@pytest.mark.parametrize("name, symbol, end", [("btu_.us.txt", "btu-", "-"), ("abc..csv", "abc.", "."),
                                               ("x=.txt", "x=", "=")])
def test_a_file_name_whose_symbol_would_end_in_punctuation_gives_none(cli, isolated_home, tmp_path, name, symbol,
                                                                     end):
    path = tmp_path / name
    path.write_text(format_csv(random_walk_bars(30)))
    result = cli("import", path)
    assert (result.code, result.out) == (2, "")
    assert result.err == (f"Error: {path}: the file name gives no ticker symbol (invalid ticker symbol {symbol!r}: a "
                          f"symbol ends with a letter or digit, not {end!r} (e.g. BRK-B, 0700.HK)); import it with "
                          "'forecast fetch TICKER --csv FILE'\n")
    assert not (isolated_home / "data").exists()
    result = cli("fetch", symbol.upper(), "--csv", path)  # nor is it one given by hand
    assert (result.code, result.err) == (2, f"Error: invalid ticker symbol {symbol.upper()!r}: a symbol ends with a "
                                            f"letter or digit, not {end!r} (e.g. BRK-B, 0700.HK)\n")


def kaggle_layout(bars) -> str:
    """The layout of the common bulk downloads (e.g. abr_b.us.txt): no Adj Close, an OpenInt column."""
    lines = ["Date,Open,High,Low,Close,Volume,OpenInt"]
    lines += [f"{d},{o!r},{h!r},{low!r},{c!r},{int(v)},0" for d, o, h, low, c, v in
              zip(bars.dates.astype(str).tolist(), bars.open.tolist(), bars.high.tolist(), bars.low.tolist(),
                  bars.close.tolist(), bars.volume.tolist(), strict=True)]
    return "\n".join(lines) + "\n"


def test_a_folder_is_imported_in_one_run_and_every_failure_is_listed(cli, isolated_home, tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "abr_b.us.txt").write_text(kaggle_layout(random_walk_bars(60, seed=1)))
    (folder / "msft.us.txt").write_text(kaggle_layout(random_walk_bars(70, seed=2)))
    (folder / "IBM.csv").write_text(format_csv(random_walk_bars(80, seed=3)))
    (folder / "bad.csv").write_text("Date,Close\n2020-01-02,1\n")
    (folder / "my prices.csv").write_text(format_csv(random_walk_bars(10)))
    (folder / "notes.md").write_text("not a price file: ignored")
    (folder / ".hidden.csv").write_text("ignored")
    extra = tmp_path / "ibm.txt"  # the same ticker as downloads/IBM.csv, named after it
    extra.write_text(format_csv(random_walk_bars(90, seed=4)))
    result = cli("import", folder, extra)
    assert result.code == 4
    errors = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert errors == [  # as they happen, in the order of the files
        f"Error: BAD: {folder / 'bad.csv'}: missing column(s) Open, High, Low, Volume (expected "
        "Date,Open,High,Low,Close,Adj Close,Volume)",
        f"Error: {folder / 'my prices.csv'}: the file name gives no ticker symbol (invalid ticker symbol 'my prices': "
        "use 1-20 letters, digits and . - ^ = (e.g. MSFT, ^GSPC, BRK-B)); import it with 'forecast fetch TICKER "
        "--csv FILE'",
        f"Error: {extra}: skipped: IBM is imported from {folder / 'IBM.csv'} in this run (one file per ticker); to "
        f"use this file instead, run 'forecast fetch IBM --csv {extra}'",
        "Error: 3 of 6 tickers failed: BAD, my prices.csv, ibm.txt",  # the file skipped, not IBM, which was stored
    ]
    assert sorted(p.name for p in (isolated_home / "data").glob("*.csv")) == ["ABR-B.csv", "IBM.csv", "MSFT.csv"]
    listed = {row["ticker"]: row for row in json.loads(cli("list", "-f", "json").out)}
    assert {t: (r["source"], r["rows"]) for t, r in listed.items()} == {
        "ABR-B": ("csv:abr_b.us.txt", 60), "IBM": ("csv:IBM.csv", 80), "MSFT": ("csv:msft.us.txt", 70)}
    assert "│ ABR-B  │   60 │" in result.out  # the summary table of what was imported


def test_two_files_for_one_ticker_the_first_is_stored_and_only_the_second_fails(cli, isolated_home, tmp_path):
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "BRK-B.csv").write_text(format_csv(random_walk_bars(50, seed=1)))
    (folder / "brk_b.us.txt").write_text(kaggle_layout(random_walk_bars(60, seed=2)))
    result = cli("import", folder)
    assert (result.code, result.err.splitlines()) == (4, [
        "BRK-B: 50 rows to 2020-03-11 (50 added)",
        f"Error: {folder / 'brk_b.us.txt'}: skipped: BRK-B is imported from {folder / 'BRK-B.csv'} in this run (one "
        f"file per ticker); to use this file instead, run 'forecast fetch BRK-B --csv {folder / 'brk_b.us.txt'}'",
        "Error: 1 of 2 tickers failed: brk_b.us.txt"])
    assert "│ BRK-B  │   50 │" in result.out
    assert Store().fetch_info("BRK-B")["source"] == "csv:BRK-B.csv"


def test_an_import_whose_files_all_fail_exits_with_their_code(cli, isolated_home, tmp_path):
    (tmp_path / "ab.csv").write_text("garbage\n")
    result = cli("import", tmp_path / "ab.csv", tmp_path / "missing.csv")
    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[-1] == "Error: 2 of 2 tickers failed: AB, MISSING"
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("import", empty)
    assert (result.code, result.err) == (2, f"Error: {empty} holds no .csv or .txt files to import\n")


# ---------------------------------------------------------------------------------------------- nothing stored
def test_an_import_with_no_rows_in_the_dates_asked_stores_nothing(cli, isolated_home, tmp_path):
    path = tmp_path / "new.csv"
    path.write_text(format_csv(random_walk_bars(40)))
    for args, message in (
        (["fetch", "NEW", "--csv", path, "--start", "2030-01-01"], f"{path} has no rows from 2030-01-01"),
        (["fetch", "NEW", "--csv", path, "--end", "1999-12-31"], f"{path} has no rows up to 1999-12-31"),
        (["import", path, "--start", "2019-01-01", "--end", "2019-06-30"],
         f"NEW: {path} has no rows from 2019-01-01 to 2019-06-30"),
    ):
        result = cli(*args)
        assert (result.code, result.out, result.err) == (2, "", f"Error: {message}; nothing was stored\n"), args
    assert not (isolated_home / "data").exists()


def test_a_fetch_with_no_rows_in_the_dates_asked_stores_nothing(cli, yahoo, isolated_home):
    result = cli("fetch", "MSFT", "--start", "2020-01-01")  # the sample ends in 2013
    assert (result.code, result.err) == (2, "Error: MSFT: no rows to store (none in the dates asked for); nothing "
                                            "was changed\n")
    assert not (isolated_home / "data" / "MSFT.csv").exists()


# ---------------------------------------------------------------------------------- each ticker's source
def test_a_bare_fetch_leaves_imported_tickers_alone_and_asks_yahoo_for_the_rest(cli, yahoo, isolated_home, tmp_path):
    assert cli("fetch", "--sample", "-q").code == 0  # MSFT, IBM and ^GSPC, from the sample
    path = tmp_path / "abc.csv"
    path.write_text(format_csv(random_walk_bars(40)))
    assert cli("fetch", "ABC", "--csv", path, "-q").code == 0
    (isolated_home / "data" / "MSFT.json").unlink()  # a home from before sources were recorded: Yahoo's, say
    yahoo.calls.clear()
    result = cli("fetch")
    assert result.code == 0, result.err
    assert {url.rsplit("/", 1)[1] for url, params in yahoo.calls if "period1" in params} == {"MSFT"}
    assert result.err.splitlines()[0] == ("not fetched from Yahoo, imported from files or the sample: ABC, IBM, ^GSPC "
                                          "(update them with 'forecast import FILE...' or 'forecast fetch TICKER "
                                          "--csv FILE')")
    assert Store().fetch_info("MSFT")["source"] == "yahoo"


@pytest.mark.parametrize("source, advice", [
    ("yahoo", "run 'forecast fetch ABC' to update"),
    ("csv:abc.us.txt", "re-import it with 'forecast fetch ABC --csv abc.us.txt' (or 'forecast import FILE...')"),
    ({"source": "csv:abc.us.txt", "path": "/data/dumps/abc.us.txt"},  # the path it was imported from, recorded
     "re-import it with 'forecast fetch ABC --csv /data/dumps/abc.us.txt' (or 'forecast import FILE...')"),
    ({"source": "csv:a b.txt", "path": "/my data/a b.txt"},
     "re-import it with 'forecast fetch ABC --csv \"/my data/a b.txt\"' (or 'forecast import FILE...')"),
    ("sample", "it is the bundled sample, which ends there; 'forecast fetch ABC' gets the live data"),
    (None, "run 'forecast fetch ABC' to update"),  # a home from before sources were recorded
])
def test_stale_data_says_how_to_update_it_by_its_source(cli, home_with_abc, source, advice):
    info = home_with_abc / "data" / "ABC.json"
    if source is None:
        info.unlink()
    else:
        recorded = source if isinstance(source, dict) else {"source": source}
        info.write_text(json.dumps({"fetched_at": "2021-03-01T00:00:00+00:00", **recorded}))
    result = cli("predict", "ABC")
    assert result.code == 0
    assert result.err.startswith("Warning: ABC: data ends 2020-10-07, ")
    assert result.err.endswith(f" days ago; {advice}\n")


# A data/TICKER.json that is not what forecast writes: each is named where it is read, never a bug
DAMAGED_SOURCES = [
    ('{"source": 5}', "its source is 5, not \"yahoo\", \"sample\" or \"csv:FILE NAME\""),
    ("true", "it holds a boolean, not an object"),
    ("garbage", "not JSON (Expecting value, line 1)"),
    ('{"source": "ftp"}', "its source is \"ftp\", not \"yahoo\", \"sample\" or \"csv:FILE NAME\""),
    ('{"source": "yahoo", "fetched_at": "yesterday"}', "its fetched_at is \"yesterday\", not a date and time"),
    ('{"source": "yahoo", "sha256": "abc"}', "its sha256 is \"abc\", not a SHA-256 in hex"),
    ('{"source": "yahoo", "history_replaced_at": 5}', "its history_replaced_at is 5, not a date and time"),
    ('{"source": "yahoo", "replaces": 5}', "its replaces holds a number, not an object"),
    ('{"source": "yahoo", "replaces": {"source": "sample"}}', "in replaces, its sha256 is null, not a SHA-256 in hex"),
]


def damaged_source(path, problem: str) -> str:
    return (f"{path} is damaged: {problem}; re-import the file it came from with 'forecast fetch {path.stem} --csv "
            f"FILE', or run 'forecast fetch {path.stem}' if it came from Yahoo, to rewrite it")


@pytest.fixture(scope="module")
def two_pooled_template(tmp_path_factory):
    from conftest import watchlist_home

    return watchlist_home(tmp_path_factory.mktemp("pooled"), {"AB": random_walk_bars(200, seed=1),
                                                               "KO": random_walk_bars(200, seed=2)})


@pytest.mark.parametrize("content, problem", DAMAGED_SOURCES)
def test_a_damaged_source_file_is_named_and_predict_report_and_list_go_on(cli, isolated_home, two_pooled_template,
                                                                         content, problem):
    import shutil

    shutil.copytree(two_pooled_template, isolated_home, dirs_exist_ok=True)
    (isolated_home / "data" / "AB.json").write_text(json.dumps({"fetched_at": "2021-03-01T00:00:00+00:00",
                                                                "source": "csv:ab.us.txt"}))
    info = isolated_home / "data" / "KO.json"
    info.write_text(content)
    result = cli("predict", "--verbose")  # the data is stale: where it came from says how to update it
    assert result.code == 0
    assert [row.split()[1] for row in result.out.splitlines() if row.startswith("│ ")] == ["AB", "KO"]
    warnings = result.err.splitlines()
    assert warnings[0].startswith("Warning: AB: data ends 2020-10-07, ")
    assert warnings[0].endswith(" days ago; re-import it with 'forecast fetch AB --csv ab.us.txt' (or 'forecast "
                                "import FILE...')")
    assert warnings[1].endswith(" days ago; run 'forecast fetch KO' to update")  # Yahoo's, the default
    assert warnings[2:] == [f"Warning: KO: {damaged_source(info, problem)}"]

    result = cli("report", "--out", isolated_home.parent / "report.html")
    assert result.code == 0
    assert result.err.startswith(f"wrote {isolated_home.parent / 'report.html'}: 2 tickers, 0 failures, ")
    assert damaged_source(info, problem) in html.unescape((isolated_home.parent / "report.html").read_text())

    result = cli("list", "-f", "json")
    assert (result.code, result.err) == (0, f"Warning: {damaged_source(info, problem)}\n")
    assert {row["ticker"]: (row["source"], row["fetched_at"]) for row in json.loads(result.out)} == {
        "AB": ("csv:ab.us.txt", "2021-03-01T00:00:00+00:00"), "KO": ("unreadable", None)}


def test_a_bare_fetch_names_a_damaged_source_file_and_a_re_import_repairs_it(cli, yahoo, isolated_home, tmp_path):
    assert cli("fetch", "MSFT", "-q").code == 0
    import_bars(cli, tmp_path, "KO", random_walk_bars(60, seed=2))
    info = isolated_home / "data" / "KO.json"
    info.write_text('{"source": 5}')
    before = (isolated_home / "data" / "KO.csv").read_bytes()
    yahoo.calls.clear()
    result = cli("fetch")
    assert result.code == 4
    assert {url.rsplit("/", 1)[1] for url, params in yahoo.calls if "period1" in params} == {"MSFT"}  # not KO
    assert result.err.splitlines() == ["MSFT: 3270 rows to 2013-03-01 (0 added)",
                                       f"Error: {damaged_source(info, DAMAGED_SOURCES[0][1])}",
                                       "Error: 1 of 2 tickers failed: KO"]
    assert (isolated_home / "data" / "KO.csv").read_bytes() == before

    result = cli("fetch", "KO", "--csv", tmp_path / "KO.csv")  # the same file again: nothing added, source repaired
    assert result.code == 0
    assert "│ KO     │   60 │" in result.out
    assert Store().fetch_info("KO")["source"] == "csv:KO.csv"
    result = cli("fetch")
    assert result.code == 0
    assert result.err.splitlines()[0].startswith("not fetched from Yahoo, imported from files or the sample: KO ")


def test_a_re_import_writes_a_missing_source_file(cli, isolated_home, tmp_path):
    import_bars(cli, tmp_path, "KO", random_walk_bars(60, seed=2))
    (isolated_home / "data" / "KO.json").unlink()  # as a kill between the data file and its source file left it
    result = cli("import", tmp_path / "KO.csv")
    assert result.code == 0
    assert "│ KO     │   60 │ 2020-01-02 │ 2020-03-25 │          0 │            0 │" in result.out
    assert Store().fetch_info("KO")["source"] == "csv:KO.csv"


# ------------------------------------------------------------------------------------- pacing and failures
def test_a_long_paced_fetch_says_how_long_and_reports_failures_as_they_happen(cli, yahoo, monkeypatch):
    monkeypatch.setattr("forecaster.data.yahoo.Pacer.wait", lambda self: None)  # the test does not wait the minutes
    result = cli("fetch", "NOPE1", "MSFT", "NOPE2", "--rate", "0.01")
    assert result.code == 4
    assert result.err.splitlines() == [
        "fetching 3 tickers at 0.01 requests a second takes about 3 minutes",
        "Error: NOPE1: no data on Yahoo Finance (unknown or delisted symbol?)",
        "MSFT: 3270 rows to 2013-03-01 (3270 added)",
        "Error: NOPE2: no data on Yahoo Finance (unknown or delisted symbol?)",
        "Error: 2 of 3 tickers failed: NOPE1, NOPE2",
    ]


@pytest.mark.parametrize("text, message", [
    ("[fetch]\nrate = 1e-9\n", "{path} line 2: [fetch] rate must be between 0.01 and 100, got 1e-09"),
    ("[fetch]\nrate = 0\n", "{path} line 2: [fetch] rate must be between 0.01 and 100, got 0.0"),
])
def test_a_rate_too_slow_to_be_meant_is_refused_in_the_file_too(cli, isolated_home, text, message):
    path = isolated_home / "forecast.toml"
    path.write_text(text)
    result = cli("fetch", "MSFT")
    assert (result.code, result.err) == (2, f"Error: {message.format(path=path)}\n")


# ---------------------------------------------------------------------------------------------------- remove
@pytest.fixture
def two_tickers(cli, isolated_home, tmp_path):
    for seed, ticker in enumerate(("ABC", "XYZ")):
        import_bars(cli, tmp_path, ticker, random_walk_bars(150, seed=seed))
    assert cli("train", "ABC", *FAST_TRAINING, "-q").code == 0
    assert cli("predict", "ABC", "-q").code == 0
    return isolated_home


def test_remove_deletes_a_tickers_data_and_model_but_not_its_record(cli, two_tickers):
    log = (two_tickers / "data" / "predictions.csv").read_text()
    result = cli("remove", "abc", "--yes")
    assert (result.code, result.out) == (0, "")
    assert result.err == ("ABC: removed the pool, which served ABC alone (models/_pool); removed data/ABC.csv, "
                          "data/ABC.json\n")
    assert not (two_tickers / "models" / "_pool").exists()
    assert sorted(p.name for p in (two_tickers / "data").iterdir()) == ["XYZ.csv", "XYZ.json", "predictions.csv"]
    assert not (two_tickers / "models" / "ABC").exists()
    assert (two_tickers / "data" / "predictions.csv").read_text() == log
    assert [row["ticker"] for row in json.loads(cli("list", "-f", "json").out)] == ["XYZ"]


def test_remove_says_it_took_the_ticker_out_of_a_pool_that_serves_others(cli, isolated_home, two_pooled_template):
    import shutil

    shutil.copytree(two_pooled_template, isolated_home, dirs_exist_ok=True)
    result = cli("remove", "AB", "--yes")
    assert (result.code, result.out) == (0, "")
    assert result.err == ("AB: taken out of the pool, which serves 1 other ticker (models/_pool/meta.json); removed "
                          "data/AB.csv\n")
    assert list(json.loads((isolated_home / "models" / "_pool" / "meta.json").read_text())["tickers"]) == ["KO"]
    result = cli("predict", "-q")
    assert (result.code, [line.split()[1] for line in result.out.splitlines() if line.startswith("│ ")]) == (0, ["KO"])
    result = cli("remove", "KO", "--yes")
    assert (result.code, result.err) == (0, "KO: removed the pool, which served KO alone (models/_pool); removed "
                                            "data/KO.csv\n")
    assert sorted(p.name for p in isolated_home.iterdir() if not p.name.startswith(".")) == ["data", "models"]
    assert list((isolated_home / "models").iterdir()) == []


def test_remove_without_yes_asks_and_refuses_when_nobody_can_answer(cli, two_tickers, monkeypatch):
    before = snapshot(two_tickers)
    result = cli("remove", "ABC")  # stdin is not a terminal here, as in cron
    assert (result.code, result.err) == (2, "Error: remove deletes data: add --yes to confirm when not at a "
                                            "terminal\n")
    assert snapshot(two_tickers) == before
    import io

    class Person(io.StringIO):  # a terminal that answers
        def isatty(self):
            return True

    for answer, removed in (("n\n", False), ("yes\n", True)):
        monkeypatch.setattr("sys.stdin", Person(answer))
        result = cli("remove", "ABC")
        assert result.code == 0
        assert result.err.startswith(f"Remove ABC from {two_tickers} (price data and models)? [y/N] ")
        assert (two_tickers / "data" / "ABC.csv").exists() is not removed


def test_remove_of_unknown_tickers_and_under_a_held_lock(cli, two_tickers, monkeypatch):
    result = cli("remove", "NOPE", "XYZ", "--yes")
    assert result.code == 4
    assert result.err.splitlines() == ["XYZ: removed data/XYZ.csv, data/XYZ.json",
                                       f"Error: nothing stored for NOPE in {two_tickers}",
                                       "Error: 1 of 2 tickers failed: NOPE"]
    before = snapshot(two_tickers)
    monkeypatch.setenv("FORECAST_LOCK_TIMEOUT", "0.2")
    with Store().lock("ABC"):  # a fetch of ABC is running
        result = cli("remove", "ABC", "--yes")
    assert (result.code, result.err) == (3, "Error: ABC is locked by another forecast process (waited 0.2 s); try "
                                            "again later\n")
    assert snapshot(two_tickers) == before
