"""forecast.toml: the watchlist and option defaults, each option declared once, and `forecast config`."""

import json

import pytest

from conftest import FAST_TRAINING, random_walk_bars, snapshot
from forecaster.config import SETTINGS, load_config, settings_of
from forecaster.data.bars import format_csv


def write_config(home, text: str):
    (home / "forecast.toml").write_text(text)
    return home / "forecast.toml"


def store_csv(cli, tmp_path, ticker, n=150, seed=0):
    path = tmp_path / f"{ticker}.csv"
    path.write_text(format_csv(random_walk_bars(n, seed=seed)))
    assert cli("fetch", ticker, "--csv", path, "-q").code == 0


# ------------------------------------------------------------------------------------------ the file itself
def test_no_file_means_defaults(isolated_home):
    config = load_config(isolated_home)
    assert (config.exists, config.tickers, config.values) == (False, [], {})
    assert config.resolve("train.window") == (30, "default")


def test_a_full_file_is_read(isolated_home):
    path = write_config(isolated_home, """
# my nightly watchlist
tickers = ["msft", "^GSPC", "BRK-B", "MSFT"]

[fetch]
rate = 2

[train]
window = 20
epochs = 50
lr = 0.01
features = "returns"
model = "per-ticker"
market = "none"

[predict]
level = 0.95

[parallel]
jobs = 3
scheduler = "tcp://127.0.0.1:8786"
""")
    config = load_config(isolated_home)
    assert config.tickers == ["MSFT", "^GSPC", "BRK-B"]  # normalised, each once
    assert config.resolve("train.window") == (20, str(path))
    assert config.value("fetch.rate") == 2.0 and isinstance(config.value("fetch.rate"), float)
    assert config.value("train.features") == "returns" and config.value("parallel.jobs") == 3
    assert (config.value("train.model"), config.value("train.market"), config.value("predict.level")) == (
        "per-ticker", "none", 0.95)


@pytest.mark.parametrize("text, message", [
    ("tickers = [\"MSFT\"\n", "{path}: not valid TOML: Unclosed array (at end of document)"),
    ("[train]\nwindow = = 3\n", "{path}: not valid TOML: Invalid value (at line 2, column 10)"),
    ("[train]\nepochs = 5\nwindw = 20\n", "{path} line 3: unknown key 'windw' in [train] (known: window, hidden, "
                                          "layers, epochs, batch_size, lr, patience, seed, features, model, market)"),
    ("[training]\nwindow = 20\n", "{path} line 1: unknown key 'training' (known: tickers, [fetch], [parallel], "
                                  "[portfolio], [predict], [train])"),
    ("train = 5\n", "{path} line 1: train must be a section (a table), not a value: write [train] on a line of its "
                    "own and its settings below it"),
    ("tickers = [\"MSFT\"]\npredict = { level = 0.95 }\nparallel = \"2\"\n",  # an inline table is a section
     "{path} line 3: parallel must be a section (a table), not a value: write [parallel] on a line of its own and "
     "its settings below it"),
    ("watchlist = [\"A\"]\n", "{path} line 1: unknown key 'watchlist' (known: tickers, [fetch], [parallel], "
                              "[portfolio], [predict], [train])"),
    ("[train]\nmarket = \"S&P\"\n", "{path} line 2: [train] market must be a ticker symbol or none: invalid ticker "
                                    "symbol 'S&P': use 1-20 letters, digits and . - ^ = (e.g. MSFT, ^GSPC, BRK-B)"),
    ("[train]\nmodel = \"pooled!\"\n", "{path} line 2: [train] model must be one of shipped, pooled, per-ticker, "
                                       "got 'pooled!'"),
    ("[predict]\nlevel = 0.999\n", "{path} line 2: [predict] level must be between 0.5 and 0.998, got 0.999"),
    ("\n[train]\nwindow = 5000\n", "{path} line 3: [train] window must be between 2 and 1000, got 5000"),
    ("[train]\nwindow = \"30\"\n", "{path} line 2: [train] window must be an integer, got '30'"),
    ("[train]\nepochs = 2.5\n", "{path} line 2: [train] epochs must be an integer, got 2.5"),
    ("[train]\nwindow = inf\n", "{path} line 2: [train] window must be an integer, got inf"),
    ("[train]\nhidden = 1e400\n", "{path} line 2: [train] hidden must be an integer, got inf"),
    ("[predict]\nmax_model_age_days = nan\n",
     "{path} line 2: [predict] max_model_age_days must be an integer, got nan"),
    ("[fetch]\nrate = -inf\n", "{path} line 2: [fetch] rate must be between 0.01 and 100, got -inf"),
    ("[train]\nlr = 0\n", "{path} line 2: [train] lr must be greater than 0 and at most 1, got 0.0"),
    ("[train]\nfeatures = \"news\"\n",
     "{path} line 2: [train] features must be one of auto, returns, range, got 'news'"),
    ("[fetch]\nrate = true\n", "{path} line 2: [fetch] rate must be a number, got True"),
    ("[parallel]\njobs = 0\n", "{path} line 2: [parallel] jobs must be between 1 and 1024, got 0"),
    ("tickers = \"MSFT\"\n", "{path} line 1: tickers must be a list of symbols, e.g. tickers = [\"MSFT\", \"^GSPC\"]"),
    ("tickers = [\"MS/FT\"]\n", "{path} line 1: tickers: invalid ticker symbol 'MS/FT': use 1-20 letters, digits "
                                "and . - ^ = (e.g. MSFT, ^GSPC, BRK-B)"),
])
def test_a_bad_file_is_a_usage_error_naming_file_line_and_key(cli, isolated_home, text, message):
    path = write_config(isolated_home, text)
    before = snapshot(isolated_home)
    for command in (["train"], ["predict"], ["fetch"], ["config"], ["list"]):
        result = cli(*command)
        assert (result.code, result.out, result.err) == (2, "", f"Error: {message.format(path=path)}\n"), command
    assert snapshot(isolated_home) == before


def test_a_file_that_is_not_utf8_is_a_usage_error(cli, isolated_home):
    (isolated_home / "forecast.toml").write_bytes(b"tickers = [\"\xff\"]\n")
    result = cli("config")
    assert (result.code, result.err) == (2, f"Error: {isolated_home / 'forecast.toml'} is not UTF-8 text\n")


def test_a_file_with_a_byte_order_mark_is_read_as_without(cli, isolated_home):
    (isolated_home / "forecast.toml").write_bytes("\ufefftickers = [\"MSFT\"]\n[train]\nwindow = 12\n".encode())
    assert load_config(isolated_home).tickers == ["MSFT"]
    result = cli("config", "-f", "json")
    assert result.code == 0 and {"setting": "train.window", "value": 12, "source": str(isolated_home /
                                                                                       "forecast.toml")} in \
        json.loads(result.out)


# ------------------------------------------------------------------------------------------- one declaration
def test_every_training_option_is_declared_once_and_shared_by_train_and_evaluate(cli):
    train_help, evaluate_help = cli("train", "--help").out, cli("evaluate", "--help").out
    for setting in settings_of("train", "parallel"):
        assert setting.option in train_help and setting.option in evaluate_help
    names = [setting.name for setting in SETTINGS]
    assert len(names) == len(set(names))


# ----------------------------------------------------------------------------------------------- precedence
def test_command_line_beats_the_file_which_beats_the_default(cli, isolated_home, tmp_path):
    store_csv(cli, tmp_path, "ABC")
    write_config(isolated_home, "[train]\nmodel = \"pooled\"\nwindow = 12\nhidden = 8\nepochs = 2\npatience = 0\n")
    assert cli("train", "-q").code == 0
    meta = json.loads((isolated_home / "models" / "_pool" / "meta.json").read_text())
    assert (meta["hyperparameters"]["window"], meta["hyperparameters"]["hidden"]) == (12, 8)
    assert cli("train", "--window", "15", "-q").code == 0
    meta = json.loads((isolated_home / "models" / "_pool" / "meta.json").read_text())
    assert (meta["hyperparameters"]["window"], meta["hyperparameters"]["epochs"]) == (15, 2)
    assert meta["hyperparameters"]["layers"] == 1  # neither: the default


def test_a_bad_command_line_value_still_names_the_option(cli, isolated_home):
    write_config(isolated_home, "[train]\nwindow = 12\n")
    result = cli("train", "--window", "1")
    assert (result.code, result.err) == (2, "Error: --window must be between 2 and 1000, got 1\n")


def test_the_environment_overrides_the_file_for_the_scheduler(cli, isolated_home, monkeypatch):
    path = write_config(isolated_home, "[parallel]\nscheduler = \"tcp://10.9.9.9:8786\"\n")
    assert load_config(isolated_home).resolve("parallel.scheduler") == ("tcp://10.9.9.9:8786", str(path))
    monkeypatch.setenv("FORECAST_SCHEDULER", "tcp://127.0.0.1:9999")
    assert load_config(isolated_home).resolve("parallel.scheduler") == ("tcp://127.0.0.1:9999",
                                                                        "$FORECAST_SCHEDULER")


# -------------------------------------------------------------------------------------------- the watchlist
def test_commands_without_tickers_use_the_watchlist_then_every_stored_ticker(cli, isolated_home, tmp_path):
    for ticker, seed in (("AAA", 1), ("BBB", 2), ("CCC", 3)):
        store_csv(cli, tmp_path, ticker, seed=seed)
    write_config(isolated_home, "tickers = [\"CCC\", \"AAA\"]\n[train]\nwindow = 10\nhidden = 4\nepochs = 1\n"
                                "[parallel]\njobs = 1\n")
    trained = cli("train", "-q")
    assert trained.code == 0, trained.err
    predicted = json.loads(cli("predict", "-f", "json").out)
    assert [row["ticker"] for row in predicted] == ["CCC", "AAA", "BBB"]


def test_a_watchlist_ticker_without_data_fails_alone(cli, isolated_home, tmp_path):
    store_csv(cli, tmp_path, "AAA")
    write_config(isolated_home, "tickers = [\"AAA\", \"NEW\"]\n[parallel]\njobs = 1\n")
    result = cli("train", *FAST_TRAINING)
    assert result.code == 4
    assert "Error: no data for NEW in" in result.err and "1 of 2 tickers failed: NEW" in result.err


# ------------------------------------------------------------------------------------------ forecast config
def test_config_shows_every_setting_with_its_source(cli, isolated_home, monkeypatch):
    path = write_config(isolated_home, "tickers = [\"MSFT\", \"IBM\"]\n[train]\nepochs = 50\n")
    monkeypatch.setenv("FORECAST_SCHEDULER", "tcp://127.0.0.1:8786")
    result = cli("config", "-f", "json")
    assert result.code == 0, result.err
    rows = {row["setting"]: row for row in json.loads(result.out)}
    assert rows["tickers"] == {"setting": "tickers", "value": ["MSFT", "IBM"], "source": str(path)}
    assert rows["train.epochs"] == {"setting": "train.epochs", "value": 50, "source": str(path)}
    assert rows["train.window"] == {"setting": "train.window", "value": 30, "source": "default"}
    assert rows["parallel.jobs"]["value"] == "the number of cores"
    assert rows["parallel.scheduler"]["source"] == "$FORECAST_SCHEDULER"
    assert set(rows) == {"tickers", "portfolio.holdings", *(setting.name for setting in SETTINGS)}
    assert rows["portfolio.holdings"] == {"setting": "portfolio.holdings", "value": [], "source": "default"}


def test_config_shows_the_holdings_of_forecast_toml(cli, isolated_home):
    path = write_config(isolated_home, "[portfolio]\nholdings = { msft = 10, IBM = -2.5 }\n")
    rows = {row["setting"]: row for row in json.loads(cli("config", "-f", "json").out)}
    assert rows["portfolio.holdings"] == {"setting": "portfolio.holdings", "value": ["MSFT 10", "IBM -2.5"],
                                          "source": str(path)}


def test_config_gives_a_long_watchlist_as_a_list_left_aligned_in_the_table(cli, isolated_home):
    watchlist = [f"T{i}" for i in range(100)]
    path = write_config(isolated_home, f"tickers = {json.dumps(watchlist)}\n")
    result = cli("config", "-f", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out)[0] == {"setting": "tickers", "value": watchlist, "source": str(path)}
    result = cli("config", "-f", "csv")
    assert (result.code, result.out.splitlines()[1]) == (0, f"tickers,{' '.join(watchlist)},{path}")
    result = cli("config")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    first = next(line for line in lines if "tickers" in line)
    assert " T0 T1 T2 " in first, first  # wrapped in its column, from its left edge
    window = next(line for line in lines if "train.window" in line)
    assert window.index("30") == first.index("T0"), (window, first)  # numbers left-aligned beside the words


def test_config_table_without_a_file(cli, isolated_home):
    result = cli("config")
    assert result.code == 0
    assert result.err == (f"no {isolated_home / 'forecast.toml'}: every setting has its default (see "
                          "docs/configuration.md for an example file)\n")
    assert result.out.startswith("Effective settings") and "train.window" in result.out


SCHEDULER_REFUSED = ("must be a Dask scheduler address such as tcp://HOST:8786 (what 'dask scheduler' prints), got "
                     "{address!r}")


@pytest.mark.parametrize("address", ["notanaddress", "http://127.0.0.1:8787", "tcp://host", "tcp://:8786",
                                     "tcp://host:8786/status", "host name:8786"])
def test_a_malformed_scheduler_address_is_a_usage_error_at_once(cli, isolated_home, tmp_path, monkeypatch, address):
    store_csv(cli, tmp_path, "AAA")
    filled = isolated_home
    result = cli("train", *FAST_TRAINING, "--scheduler", address)
    assert (result.code, result.out, result.err) == (
        2, "", f"Error: --scheduler {SCHEDULER_REFUSED.format(address=address)}\n")
    monkeypatch.setenv("FORECAST_SCHEDULER", address)
    result = cli("evaluate", "AAA", "--test-start", "2020-08-03", *FAST_TRAINING)
    refused = SCHEDULER_REFUSED.format(address=address)
    assert (result.code, result.err) == (2, f"Error: $FORECAST_SCHEDULER {refused}\n")
    monkeypatch.delenv("FORECAST_SCHEDULER")
    (filled / "forecast.toml").write_text(f"[parallel]\nscheduler = \"{address}\"\n")
    result = cli("train", *FAST_TRAINING)
    assert (result.code, result.err) == (2, f"Error: {filled / 'forecast.toml'} line 2: [parallel] scheduler "
                                            f"{SCHEDULER_REFUSED.format(address=address)}\n")
    assert not (filled / "models").exists()


def test_a_malformed_scheduler_address_is_refused_before_the_store_is_looked_at(cli, isolated_home):
    """An empty home would be exit 3 ("no price data"); the option's own error comes first."""
    for command in (["train"], ["evaluate", "--test-start", "2020-08-03"]):
        result = cli(*command, "--scheduler", "notanaddress")
        assert (result.code, result.err) == (
            2, f"Error: --scheduler {SCHEDULER_REFUSED.format(address='notanaddress')}\n")


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "127.0.0.1:8786", "tls://scheduler.example.org:8786",
                                     "tcp://[::1]:8786", "ws://dask-scheduler:8786"])
def test_scheduler_addresses_as_dask_prints_them_are_accepted(address):
    from forecaster.config import BY_NAME

    assert BY_NAME["parallel.scheduler"].check(address) == address


@pytest.mark.parametrize("level", [0.4, 0.999, 0.998 + 1e-9])
def test_the_level_bounds_are_declared_once_with_the_setting(level):
    """serving.check_level (predict, evaluate, plot) and the [predict] level setting (forecast.toml, --level) refuse
    the same levels with the same words: LEVEL_RANGE is the setting's bounds."""
    from forecaster.config import BY_NAME
    from forecaster.errors import UsageError
    from forecaster.model.serving import LEVEL_RANGE, check_level

    setting = BY_NAME["predict.level"]
    assert LEVEL_RANGE == (setting.low, setting.high) == (0.5, 0.998)
    with pytest.raises(ValueError) as from_settings:
        setting.check(level)
    with pytest.raises(UsageError) as from_serving:
        check_level(level)
    assert from_serving.value.message == f"--level {from_settings.value}"
    for inside in (*LEVEL_RANGE, setting.default):
        assert check_level(inside) == setting.check(inside)


def test_the_report_help_names_the_reports_own_limit_of_days(cli):
    from forecaster.views.report import MAX_REPORT_DAYS

    help_text = " ".join(cli("report", "--help").out.split())
    assert f"Trading sessions of forecast to show (at most {MAX_REPORT_DAYS})." in help_text
