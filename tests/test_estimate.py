"""Correction factors and the estimate table, against values computed by hand / numpy."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from estimate import commune_correlations, correction_factor, correction_methods_table, estimate_table

APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}
SHARES = {"tor_to_darknet_share": 0.011, "porn_in_darknet_share": 2267628 / 5437248, "csam_in_porn_share": 105 / 253}


def hourly_rows(code_com, porn, tor):
    n = len(porn)
    return pd.DataFrame(
        {"code_com": code_com, "porn": np.asarray(porn, float), "tor": np.asarray(tor, float), "control": np.ones(n)}
    )


def test_correlations_match_numpy_with_zero_replacement():
    a_porn, a_tor = [10, 20, 0, 40, 80], [1, 0, 3, 5, 4]
    b_porn, b_tor = [5, 4, 3, 2, 1], [1, 2, 3, 4, 6]
    hourly = pd.concat([hourly_rows("06088", a_porn, a_tor), hourly_rows("69123", b_porn, b_tor)], ignore_index=True)
    result = commune_correlations(hourly, zero_replacement=0.001).set_index("code_com")

    def logs(values):
        return np.log(np.where(np.asarray(values, float) == 0, 0.001, values))

    expected_a = np.corrcoef(logs(a_porn), logs(a_tor))[0, 1]
    expected_b = np.corrcoef(logs(b_porn), logs(b_tor))[0, 1]
    assert result.loc["06088", "pearson_log"] == pytest.approx(expected_a, rel=1e-12)
    assert result.loc["69123", "pearson_log"] == pytest.approx(expected_b, rel=1e-12)
    assert result.loc["06088", "spearman_log"] == pytest.approx(spearmanr(logs(a_porn), logs(a_tor))[0], rel=1e-12)
    # b is strictly monotone decreasing against increasing: Spearman exactly -1
    assert result.loc["69123", "spearman_log"] == pytest.approx(-1.0)
    assert list(result["n_hours"]) == [5, 5]


def test_constant_tor_series_has_no_correlation():
    hourly = hourly_rows("54395", [3, 1, 4, 1, 5, 9, 2], [0] * 7)
    result = commune_correlations(hourly, zero_replacement=0.001)
    assert math.isnan(result.loc[0, "pearson_log"])
    assert math.isnan(result.loc[0, "spearman_log"])


def correlations_frame(pearson, spearman=None):
    spearman = pearson if spearman is None else spearman
    return pd.DataFrame(
        {"code_com": [f"c{i}" for i in range(len(pearson))], "pearson_log": pearson, "spearman_log": spearman}
    )


def test_correction_factor_methods_by_hand():
    corr = correlations_frame([0.5, -0.2, np.nan, 0.1], spearman=[0.4, 0.3, np.nan, -0.6])
    scale = 0.011 * 105 / 253
    floor = 1e-5
    c1 = correction_factor(corr, "pearson_log", SHARES, floor)
    assert c1[0] == pytest.approx(0.5 * scale) and c1[1] == floor and math.isnan(c1[2])
    c2 = correction_factor(corr, "pearson_log_squared", SHARES, floor)
    assert c2[1] == pytest.approx(0.04 * scale) and c2[3] == pytest.approx(0.01 * scale)
    c4 = correction_factor(corr, "spearman_log", SHARES, floor)
    assert c4[0] == pytest.approx(0.4 * scale) and c4[3] == floor
    c3 = correction_factor(corr, "pearson_log_centered", SHARES, floor)
    mean_r = (0.5 - 0.2 + 0.1) / 3
    c_global = 0.011 * (2267628 / 5437248) * (105 / 253)
    assert c3[0] == pytest.approx((0.5 - mean_r + 1) * c_global)
    assert c3[1] == pytest.approx((-0.2 - mean_r + 1) * c_global)
    assert math.isnan(c3[2])
    with pytest.raises(ValueError, match="correction_method 'pearson'"):
        correction_factor(corr, "pearson", SHARES, floor)


def test_estimate_table_columns_and_values():
    totals = pd.DataFrame(
        {
            "cities": ["Nice", "Nice"], "code_com": ["06088", "06004"], "code_dep": ["06", "06"],
            "porn": [4000.0, 100.0], "tor": [200.0, 0.0], "control": [9e5, 1e4], "pop": [2000.0, 500.0],
        }
    )
    correlations = correlations_frame([0.3, 0.5]).assign(code_com=["06088", "06004"])
    crime = pd.DataFrame(
        {"code_com": ["06088"], "sv_19": [1.5], "sv_17_21": [1.2], "sv_com_19": [1.5], "sv_com_17_21": [np.nan]}
    )
    full = estimate_table(
        totals, correlations, crime, apps=APPS, direction="DL", shares=SHARES,
        method="pearson_log", negative_factor_floor=1e-5,
    )
    table = full.set_index("code_com")
    c = 0.3 * 0.011 * 105 / 253
    row = table.loc["06088"]
    assert row["c"] == pytest.approx(c)
    assert row["cpc"] == pytest.approx(200 * c)
    assert row["cpc_per_1000"] == pytest.approx(200 * c * 1000 / 2000)
    assert row["log_cpc_per_1000"] == pytest.approx(math.log(200 * c) * 1000 / 2000)
    assert row["wa_per_1000"] == pytest.approx(2000.0)
    assert row["log_yt_per_1000"] == pytest.approx(math.log(9e5) / 2)
    assert row["sv_19"] == 1.5 and math.isnan(row["sv_com_17_21"])
    assert row["traffic_dir"] == "DL"
    # no Tor traffic: cpc 0 and its log -inf, as the seed writes them
    assert table.loc["06004", "cpc"] == 0 and table.loc["06004", "log_cpc"] == -math.inf
    assert math.isnan(table.loc["06004", "sv_19"])
    assert list(full.columns[:9]) == [
        "cities", "code_com", "code_dep", "traffic_dir", "Web_Adult", "Tor", "YouTube", "c", "pop"
    ]
    assert table["Pornography_in_darknet_URL_share"].iloc[0] == 2267628 / 5437248


def test_correction_methods_table_uses_each_method():
    rng = np.random.default_rng(1)
    n = 30
    totals = pd.DataFrame(
        {
            "cities": "Lyon", "code_com": [f"69{i:03d}" for i in range(n)], "code_dep": "69",
            "porn": rng.uniform(1e3, 1e4, n), "tor": rng.uniform(10, 100, n), "control": 1e6, "pop": rng.uniform(300, 5e4, n),
        }
    )
    pearson = rng.uniform(-0.3, 0.9, n)
    spearman = rng.uniform(-0.3, 0.9, n)
    correlations = pd.DataFrame({"code_com": totals["code_com"], "pearson_log": pearson, "spearman_log": spearman})
    sv = rng.uniform(0.5, 3, n)
    sv[:4] = np.nan  # not published: out of the test
    crime = pd.DataFrame({"code_com": totals["code_com"], "sv_com_17_21": sv})
    table = correction_methods_table(totals, correlations, crime, shares=SHARES, negative_factor_floor=1e-5)
    assert list(table["method"]) == ["pearson_log", "pearson_log_squared", "pearson_log_centered", "spearman_log"]
    assert (table["n"] == n - 4).all()
    # independent: pearson_log by hand
    c = np.where(pearson * 0.011 * 105 / 253 < 0, 1e-5, pearson * 0.011 * 105 / 253)
    x = np.log(totals["tor"] * c * 1000 / totals["pop"])[4:]
    expected = spearmanr(x, sv[4:])
    assert table.loc[0, "rho"] == pytest.approx(expected[0], rel=1e-12)
    assert table.loc[0, "pvalue"] == pytest.approx(expected[1], rel=1e-9)
    # squared ignores the sign of r, so it differs from c1 here
    assert table.loc[1, "rho"] != pytest.approx(table.loc[0, "rho"])
