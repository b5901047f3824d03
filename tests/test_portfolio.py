"""`forecast portfolio` and `forecast evaluate --portfolio`: holdings, the joint forecast's VaR and ES and their
break-down by holding, and the backtests (forecaster.data.holdings, risk.portfolio, risk.portfolio_backtest)."""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
import pytest

from conftest import import_bars, random_walk_bars, sample_bars
from forecaster.data.bars import Bars, format_csv
from forecaster.model.calibration import TAIL_PROBABILITIES
from forecaster.risk.portfolio import HoldingForecast, JointForecast, shrunk_correlation
from forecaster.risk.portfolio_backtest import _riskmetrics_covariances, acerbi_szekely_z2

NORMAL = NormalDist()


def normal_table() -> dict:
    """A calibrated quantile table of the standard normal at every calibrated horizon."""
    lower = [NORMAL.inv_cdf(p) for p in TAIL_PROBABILITIES]
    return {str(h): {"lower": lower, "upper": [-q for q in lower]} for h in (1, 5, 20)}


def holding(ticker: str, shares: float, spread: float, price: float = 100.0, mean: float = 0.0,
            table: dict | None = None) -> HoldingForecast:
    return HoldingForecast(ticker, shares, price, mean, spread, table or normal_table(), 1)


def skewed_table(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    lower = np.sort(np.array([NORMAL.inv_cdf(p) for p in TAIL_PROBABILITIES]) * rng.uniform(1.0, 1.4))
    upper = -lower * rng.uniform(0.8, 1.2)
    return {str(h): {"lower": list(lower * (1 + 0.01 * h)), "upper": list(upper)} for h in (1, 5, 20)}


# ------------------------------------------------------------------------------------------- the joint model
def test_components_sum_to_the_totals_and_one_holding_is_its_own_var():
    rng = np.random.default_rng(3)
    forecasts = [holding(f"T{i}", float(rng.choice([-1, 1]) * rng.uniform(1, 500)), float(rng.uniform(0.005, 0.05)),
                         price=float(rng.uniform(5, 500)), mean=float(rng.normal(0, 0.001)), table=skewed_table(i))
                 for i in range(12)]
    z = rng.standard_normal((300, 12)) + rng.standard_normal((300, 1))
    correlation, shrinkage = shrunk_correlation(z)
    risk = JointForecast.build(forecasts, correlation, shrinkage).risk(0.99, 1)
    assert abs(sum(h.component_var for h in risk.holdings) - risk.var) <= 1e-9 * risk.gross
    assert abs(sum(h.component_es for h in risk.holdings) - risk.es) <= 1e-9 * risk.gross
    assert risk.es > risk.var > 0
    for h in risk.holdings:
        assert h.marginal_var * h.value == pytest.approx(h.component_var, rel=1e-12)
    for f in forecasts:  # held alone: the edge of its own band at the central level 0.98
        alone = JointForecast.build([f], np.ones((1, 1))).risk(0.99, 1)
        q_lower, q_upper = (float(np.interp(math.log(0.01), np.log(TAIL_PROBABILITIES), f.quantiles["1"][tail]))
                            for tail in ("lower", "upper"))
        edge = f.mean + f.spread * (q_lower if f.shares > 0 else q_upper)
        assert alone.var == pytest.approx(-f.value * math.expm1(edge), rel=1e-12)
        assert alone.holdings[0].standalone_var == pytest.approx(alone.var, rel=1e-12)
        assert alone.diversification_ratio == pytest.approx(1.0)


def test_independent_and_perfectly_correlated_holdings_give_the_closed_form():
    spreads, values = np.array([1e-4, 2e-4, 3e-4]), np.array([1000.0, 2000.0, -500.0])
    forecasts = [holding(f"T{i}", v / 100.0, s) for i, (v, s) in enumerate(zip(values, spreads, strict=True))]
    z = np.zeros((300, 3))  # each holding moves on its own days: every cross-product is 0
    for i in range(3):
        z[i::3, i] = np.random.default_rng(i).standard_normal(100)
    independent, _ = shrunk_correlation(z)
    assert np.array_equal(independent, np.eye(3))
    k = -NORMAL.inv_cdf(0.01)
    risk = JointForecast.build(forecasts, independent).risk(0.99, 1)
    assert risk.var == pytest.approx(k * math.sqrt(np.sum((values * spreads) ** 2)), rel=1e-3)
    together, _ = shrunk_correlation(np.repeat(np.random.default_rng(9).standard_normal((300, 1)), 3, axis=1))
    assert np.allclose(together, 1.0, atol=1e-9)
    risk = JointForecast.build(forecasts, together).risk(0.99, 1)
    assert risk.var == pytest.approx(k * abs(np.sum(values * spreads)), rel=1e-3)
    tail_mean = NORMAL.pdf(NORMAL.inv_cdf(0.01)) / 0.01
    assert risk.es == pytest.approx(tail_mean * abs(np.sum(values * spreads)), rel=2e-3)


def test_the_correlation_is_shrunk_toward_the_average_and_stays_positive_definite():
    rng = np.random.default_rng(0)
    loadings = np.linspace(0.1, 0.9, 40)
    z = rng.standard_normal((60, 1)) * loadings + rng.standard_normal((60, 40)) * np.sqrt(1 - loadings ** 2)
    z[:30, 5] = np.nan  # a holding with half the days
    correlation, shrinkage = shrunk_correlation(z)
    assert 0 < shrinkage < 1
    assert np.allclose(np.diag(correlation), 1.0)
    assert np.linalg.eigvalsh(correlation)[0] > 0
    assert np.allclose(correlation, correlation.T)


# --------------------------------------------------------------------------------------------- backtests
def test_acerbi_szekely_z2_by_hand():
    pnl = np.array([-3.0, 0.5, -0.5, 1.0])
    var, es = np.full(4, 1.0), np.full(4, 2.0)
    simulated = np.array([[-3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [-4.0, -4.0, 0.0, 0.0]])
    statistic, p_value, hits = acerbi_szekely_z2(pnl, var, es, simulated, 0.25)
    assert hits == 1
    assert statistic == pytest.approx(-3.0 / 2.0 / (4 * 0.25) + 1.0)  # -0.5
    # the paths' Z2: -0.5, 1 and -3; two of three at or below -0.5
    assert p_value == pytest.approx((2 + 1) / (3 + 1))


def test_riskmetrics_covariance_is_the_ewma_recursion():
    rng = np.random.default_rng(1)
    returns = rng.standard_normal((40, 2)) * 0.01
    days = np.array([30, 35])
    covariances = _riskmetrics_covariances(returns, days)
    expected = returns[1:21].T @ returns[1:21] / 20
    for t in range(21, 30):
        expected = 0.94 * expected + 0.06 * np.outer(returns[t], returns[t])
    assert np.allclose(covariances[0], expected, rtol=1e-13, atol=0)


# -------------------------------------------------------------------------------------------- the command
@pytest.fixture
def two_tickers(cli, tmp_path):
    """IBM and MSFT from the bundled sample, and AAA: MSFT's history at half the price (the same returns)."""
    for ticker in ("IBM", "MSFT"):
        import_bars(cli, tmp_path, ticker, sample_bars(ticker))
    msft = sample_bars("MSFT")
    half = Bars(msft.dates, msft.open / 2, msft.high / 2, msft.low / 2, msft.close / 2, msft.adj_close / 2,
                msft.volume)
    import_bars(cli, tmp_path, "AAA", half)
    return tmp_path


def write_holdings(folder, text: str):
    path = folder / "holdings.csv"
    path.write_text(text)
    return path


def test_portfolio_from_a_file_breaks_the_risk_down_by_holding(cli, two_tickers):
    path = write_holdings(two_tickers, "ticker,shares\nIBM,100\nMSFT,-200\n")
    result = cli("portfolio", "--holdings", path, "-f", "json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert {"value", "level", "days", "var", "es", "volatility", "holdings"} <= set(document)
    assert document["level"] == 0.99 and document["days"] == 1
    assert [h["ticker"] for h in document["holdings"]] == ["IBM", "MSFT"]
    assert set(document["holdings"][0]) == {"ticker", "shares", "value", "weight", "component_var", "component_es",
                                            "marginal_var", "standalone_var"}
    assert sum(h["component_var"] for h in document["holdings"]) == pytest.approx(document["var"], abs=1e-6)
    assert document["value"] == pytest.approx(sum(h["value"] for h in document["holdings"]))


def test_one_holding_has_the_var_of_its_own_band(cli, two_tickers):
    path = write_holdings(two_tickers, "ticker,shares\nIBM,10\n")
    document = json.loads(cli("portfolio", "--holdings", path, "-f", "json").out)
    band = json.loads(cli("predict", "IBM", "--level", "0.98", "-f", "json").out)[0]
    close = sample_bars("IBM").adj_close[-1]
    assert document["var"] == pytest.approx(10 * (close - band["lower"]), rel=1e-9)


def test_perfectly_correlated_holdings_do_not_diversify(cli, two_tickers):
    path = write_holdings(two_tickers, "ticker,shares\nMSFT,100\nAAA,300\n")
    document = json.loads(cli("portfolio", "--holdings", path, "-f", "json").out)
    standalone = sum(h["standalone_var"] for h in document["holdings"])
    assert document["var"] == pytest.approx(standalone, rel=1e-6)
    assert document["diversification_ratio"] == pytest.approx(1.0, rel=1e-6)


def test_portfolio_from_forecast_toml_with_an_alert(cli, two_tickers, isolated_home):
    (isolated_home / "forecast.toml").write_text("[portfolio]\nholdings = { IBM = 100, MSFT = 50 }\n"
                                                 "alert_var = 0.001\n")
    result = cli("portfolio", "--days", "5", "-f", "csv")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "ticker,shares,value,weight,component_var,component_es,marginal_var,standalone_var"
    assert [line.split(",")[0] for line in lines[1:]] == ["IBM", "MSFT", "TOTAL"]
    assert "passes the alert at 0.1% (alert_var)" in result.err
    assert cli("portfolio", "-q", "--alert-var", "0.5").err == ""


@pytest.mark.parametrize(("text", "message"), [
    ("ticker,shares\nIBM,100\nZZZ,5\n", "holdings.csv line 3: ZZZ has no stored data; run 'forecast fetch ZZZ'"),
    ("ticker,shares\nIBM,100\n\nibm,5\n", "holdings.csv line 4: IBM is held twice (first at "),
    ("ticker,shares\nIBM,ten\n", "holdings.csv line 2: shares must be a number, got 'ten'"),
    ("ticker,shares\nIBM,0\n", "holdings.csv line 2: shares must be a number other than 0"),
    ("ticker,shares\nIBM,1e200\n", "holdings.csv line 2: shares must be a number other than 0 (negative for a "
                                     "short) and at most 1e+12 in size, got '1e200'"),
    ("ticker,shares\nIBM,1_000\n", "holdings.csv line 2: shares must be a number, got '1_000'"),
    ("ticker,shares\nIBM,1,000\n", "holdings.csv line 2: expected 2 columns (ticker,shares), got 3"),
    ("ticker,shares,ticker\nIBM,1,MSFT\n",
     "holdings.csv line 1: the column ticker is in the header twice (columns 1 and 3); keep one"),
    ("symbol,amount\nIBM,1\n", "holdings.csv line 1: the header must name the columns ticker and shares"),
    ("ticker,shares\n", "holdings.csv: no holdings"),
])
def test_a_bad_holdings_file_is_a_usage_error_naming_the_line(cli, two_tickers, text, message):
    path = write_holdings(two_tickers, text)
    result = cli("portfolio", "--holdings", path)
    assert result.code == 2
    assert message in result.err and result.err.count("\n") == 1 and "Traceback" not in result.err


def test_bad_holdings_in_forecast_toml_name_the_line(cli, isolated_home):
    (isolated_home / "forecast.toml").write_text("tickers = []\n[portfolio]\nholdings = { IBM = \"many\" }\n")
    result = cli("portfolio")
    assert result.code == 2
    assert "forecast.toml line 3: [portfolio] holdings: IBM must be a number of shares, got 'many'" in result.err


def test_a_dotted_symbol_unquoted_in_forecast_toml_says_to_quote_it(cli, isolated_home):
    (isolated_home / "forecast.toml").write_text("[portfolio]\nholdings = { BRK.B = 1 }\n")
    result = cli("portfolio")
    assert result.code == 2
    assert ('forecast.toml line 2: [portfolio] holdings: a symbol with a dot must be quoted in TOML: "BRK.B" = ...'
            in result.err)


def test_the_alert_is_printed_even_with_quiet_and_stale_data_is_warned(cli, two_tickers):
    path = write_holdings(two_tickers, "ticker,shares\nIBM,100\n")
    result = cli("portfolio", "--holdings", path, "-q", "--alert-var", "0.001")
    assert result.code == 0
    assert result.err.startswith("Warning: portfolio: value at risk ")
    assert "passes the alert at 0.1% (alert_var)" in result.err
    result = cli("portfolio", "--holdings", path, "-v")
    assert "IBM: data ends 2013-03-01" in result.err  # the bundled sample is years old


def test_no_holdings_is_a_usage_error(cli):
    result = cli("portfolio")
    assert result.code == 2
    assert "no holdings: give --holdings FILE" in result.err


def test_the_python_api_gives_the_holdings_and_the_totals(two_tickers):
    import forecaster as fc

    path = write_holdings(two_tickers, "ticker,shares\nIBM,100\nMSFT,50\n")
    frame = fc.Home().portfolio(path, level=0.975)
    assert list(frame["ticker"]) == ["IBM", "MSFT"]
    assert frame["component_var"].sum() == pytest.approx(frame.attrs["portfolio"]["var"])
    assert frame.attrs["portfolio"]["level"] == 0.975


# ----------------------------------------------------------------------------------------- the backtest
def test_evaluate_portfolio_reports_the_model_and_both_baselines(cli, two_tickers):
    path = write_holdings(two_tickers, "ticker,shares\nIBM,100\nMSFT,-200\n")
    result = cli("evaluate", "--portfolio", path, "--test-start", "2012-06-01", "-f", "json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    fields = {"level", "expected", "hits", "tested_days", "kupiec_p", "christoffersen_p", "conditional_coverage_p",
              "traffic_light"}
    for section in (document["portfolio"], document["baselines"]["riskmetrics"], document["baselines"]["historical"]):
        assert fields <= set(section["var"])
        assert {"statistic", "p_value"} <= set(section["es"])
        assert section["pinball"] > 0
    assert document["portfolio"]["var"]["tested_days"] == document["days"] > 150


def test_evaluate_portfolio_refuses_tickers_beside_it(cli, two_tickers):
    import forecaster as fc

    path = write_holdings(two_tickers, "ticker,shares\nIBM,100\n")
    result = cli("evaluate", "IBM", "--portfolio", path, "--test-start", "2012-06-01")
    assert result.code == 2
    assert "--portfolio backtests the holdings in its file" in result.err
    with pytest.raises(fc.UsageError, match="--portfolio backtests the holdings in its file"):
        fc.Home().evaluate(portfolio=path, test_start="2012-06-01", horizon=5)


def test_evaluate_portfolio_with_per_ticker_models_set_uses_the_shipped_network(cli, two_tickers, isolated_home):
    (isolated_home / "forecast.toml").write_text("[train]\nmodel = \"per-ticker\"\n")
    path = write_holdings(two_tickers, "ticker,shares\nIBM,100\nMSFT,10\n")
    result = cli("evaluate", "--portfolio", path, "--test-start", "2012-06-01", "-f", "json")
    assert result.code == 0, result.err
    assert "models of their own are not backtested together" in result.err
    assert json.loads(result.out)["model"].startswith("shipped ")


def test_no_look_ahead_changing_later_bars_leaves_earlier_vars_identical(cli, two_tickers, isolated_home):
    from forecaster.commands import evaluate_portfolio, open_home

    path = write_holdings(two_tickers, "ticker,shares\nIBM,100\nMSFT,-200\n")
    store, config = open_home(isolated_home)
    before = evaluate_portfolio(store, config, holdings=path, test_start=np.datetime64("2012-06-01").item(),
                                given={}).daily
    cut = before.dates[100]
    ibm = sample_bars("IBM")
    later = ibm.dates > cut
    scale = np.where(later, 1.3, 1.0)
    changed = Bars(ibm.dates, ibm.open * scale, ibm.high * scale * np.where(later, 1.01, 1.0), ibm.low * scale,
                   ibm.close * scale,
                   ibm.adj_close * scale, ibm.volume * np.where(later, 2.0, 1.0))
    (two_tickers / "IBM.csv").write_text(format_csv(changed))
    assert cli("fetch", "IBM", "--csv", two_tickers / "IBM.csv", "--replace", "-q").code == 0
    after = evaluate_portfolio(store, config, holdings=path, test_start=np.datetime64("2012-06-01").item(),
                               given={}).daily
    kept = before.dates <= cut
    for method in before.var:
        assert np.array_equal(before.var[method][kept], after.var[method][kept]), method
        assert np.array_equal(before.es[method][kept], after.es[method][kept]), method
    assert not np.array_equal(before.var["model"][~kept], after.var["model"][~kept])


def test_generated_walks_give_a_var_in_the_ballpark_of_their_volatility(cli, tmp_path):
    for i, ticker in enumerate(("AAA", "BBB")):
        import_bars(cli, tmp_path, ticker, random_walk_bars(600, seed=i))
    path = write_holdings(tmp_path, "ticker,shares\nAAA,10\nBBB,10\n")
    document = json.loads(cli("portfolio", "--holdings", path, "-f", "json").out)
    # two independent 1%-a-day walks, equal-ish values: about 2.33 x 1% x sqrt(2)/2 of the gross value
    assert 1.0 < document["var_percent"] < 2.6


# ------------------------------------------------------------------------------------------------- the page
def test_the_report_gets_a_portfolio_section_when_holdings_are_set(cli, two_tickers, isolated_home):
    (isolated_home / "forecast.toml").write_text("[portfolio]\nholdings = { IBM = 100, MSFT = -200 }\n"
                                                 "alert_var = 0.001\n")
    result = cli("report", "--out", two_tickers / "page.html", "-q")
    assert result.code == 0, result.err
    page = (two_tickers / "page.html").read_text()
    section = page[page.index('<section class="portfolio"'):page.index("</section>", page.index("portfolio-title"))]
    document = json.loads(cli("portfolio", "-f", "json").out)
    assert f"value at risk <b>{document['var']:,.2f}</b>" in section
    assert section.index(">IBM<") < section.index(">MSFT<")  # largest component VaR first
    assert "losses beyond it" in section and 'class="var"' in section
    assert "passes the alert at 0.1%" in section


def test_a_portfolio_that_cannot_be_forecast_is_a_failure_on_the_page(cli, two_tickers, isolated_home):
    (isolated_home / "forecast.toml").write_text("[portfolio]\nholdings = { IBM = 100, ZZZ = 5 }\n")
    result = cli("report", "--out", two_tickers / "page.html", "-q")
    page = (two_tickers / "page.html").read_text()
    assert "portfolio-title" not in page
    assert "<b>portfolio</b>: " in page and "ZZZ has no stored data" in page
    assert result.code == 4
    assert result.err == (f"Error: portfolio: {isolated_home / 'forecast.toml'} line 2: ZZZ has no stored data; run "
                          "'forecast fetch ZZZ' (or import its file) first\n")
    assert "tickers failed" not in result.err
