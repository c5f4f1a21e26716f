"""Correction factors and the estimate table, against values computed by hand / numpy."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from netmob_cpc.estimates import (
    correction_factor,
    correction_factors,
    estimate_table,
    read_coverage,
    read_estimate_table,
)
from netmob_cpc.rankstats import commune_correlations
from netmob_cpc.rates import per_1000
from netmob_cpc.statistics import correction_methods_table
from netmob_cpc.files import InputError

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


def test_correlations_of_categorical_communes_come_in_code_order():
    """hourly_series passes the communes as a categorical column in first-seen order (city
    by city); the table is the same as from strings, in code order."""
    rng = np.random.default_rng(5)
    frames = [hourly_rows(code, rng.gamma(2, 5, 30).round(), rng.poisson(2, 30)) for code in ("69123", "06088", "54395")]
    hourly = pd.concat(frames, ignore_index=True)
    from_strings = commune_correlations(hourly, zero_replacement=0.001)
    categorical = hourly.assign(code_com=pd.Categorical(hourly["code_com"], categories=["69123", "06088", "54395"]))
    from_categories = commune_correlations(categorical, zero_replacement=0.001)
    assert from_strings["code_com"].tolist() == ["06088", "54395", "69123"]
    pd.testing.assert_frame_equal(from_categories, from_strings)


def pandas_correlations(hourly, zero_replacement):
    """An independent implementation with pandas group-bys (the workflow's former code)."""
    def grouped_pearson(groups, x, y):
        frame = pd.DataFrame({"group": groups, "x": x, "y": y})
        grouped = frame.groupby("group", sort=True)
        dx = frame["x"] - grouped["x"].transform("mean")
        dy = frame["y"] - grouped["y"].transform("mean")
        constant = (grouped["x"].transform("min") == grouped["x"].transform("max")) | (
            grouped["y"].transform("min") == grouped["y"].transform("max"))
        dx[constant], dy[constant] = 0.0, 0.0
        sums = pd.DataFrame({"group": groups, "xy": dx * dy, "xx": dx * dx, "yy": dy * dy}).groupby("group").sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            return (sums["xy"] / np.sqrt(sums["xx"] * sums["yy"])).clip(-1.0, 1.0)

    with np.errstate(invalid="ignore", divide="ignore"):
        log_porn = np.log(hourly["porn"].mask(hourly["porn"] == 0, zero_replacement))
        log_tor = np.log(hourly["tor"].mask(hourly["tor"] == 0, zero_replacement))
    groups = hourly["code_com"]
    ranks = pd.DataFrame({"group": groups, "x": log_porn, "y": log_tor}).groupby("group")
    pearson = grouped_pearson(groups, log_porn, log_tor)
    spearman = grouped_pearson(groups, ranks["x"].rank(method="average"), ranks["y"].rank(method="average"))
    return pd.DataFrame({"code_com": pearson.index.astype(str), "pearson_log": pearson.to_numpy(),
                         "spearman_log": spearman.to_numpy(), "n_hours": groups.value_counts().sort_index().to_numpy()})


@pytest.mark.parametrize("seed", range(4))
def test_correlations_equal_a_pandas_group_by(seed):
    """Interleaved communes (a commune's hours come from several cities), ties, zeros,
    negative hours (log NaN), constant series, a single hour."""
    rng = np.random.default_rng(seed)
    n = 4000
    codes = rng.choice([f"{c:05d}" for c in range(1000, 1060)], n)
    porn = rng.choice([0.0, 1.0, 2.0, 5.0, 7.5, -3.0], n) * rng.integers(1, 4, n)
    tor = np.where(rng.random(n) < 0.3, 0.0, rng.gamma(1.5, 3.0, n).round(1))
    hourly = pd.DataFrame({"code_com": codes, "porn": porn, "tor": tor, "control": 1.0})
    constant = hourly["code_com"] == "01003"
    hourly.loc[constant, "tor"] = 4.0
    hourly = pd.concat([hourly, hourly_rows("99999", [3.0], [2.0])], ignore_index=True)
    ours, theirs = commune_correlations(hourly, 0.001), pandas_correlations(hourly, 0.001)
    assert ours["code_com"].tolist() == theirs["code_com"].tolist()
    assert ours["n_hours"].tolist() == theirs["n_hours"].tolist()
    for column in ("pearson_log", "spearman_log"):
        np.testing.assert_allclose(ours[column], theirs[column], rtol=1e-12, atol=1e-14, equal_nan=True)
    assert ours.set_index("code_com").loc[["01003", "99999"], "pearson_log"].isna().all()


def test_correlations_of_no_hours_is_an_empty_table():
    empty = commune_correlations(hourly_rows("06088", [], []), 0.001)
    assert empty.empty and list(empty.columns) == ["code_com", "pearson_log", "spearman_log", "n_hours"]


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
    # r = -0.2: squared it would be 0.04, but a negative r is floored as in c1
    assert c2[0] == pytest.approx(0.25 * scale) and c2[1] == floor and c2[3] == pytest.approx(0.01 * scale)
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
    # squaring changes the order of the positive factors, so c2 differs from c1 here
    assert table.loc[1, "rho"] != pytest.approx(table.loc[0, "rho"])


def test_floored_flag_per_method():
    corr = correlations_frame([0.5, -0.2, np.nan, 0.0], spearman=[-0.4, 0.3, np.nan, 0.2])
    floor = 1e-5
    for method, expected in [
        ("pearson_log", [False, True, False, False]),
        ("pearson_log_squared", [False, True, False, False]),  # r = 0 gives c = 0: not floored
        ("spearman_log", [True, False, False, False]),
    ]:
        c, floored = correction_factors(corr, method, SHARES, floor)
        assert floored.tolist() == expected, method
        assert (c[floored] == floor).all()
    # c3: (r - mean r + 1) x global share is negative only for r < mean r - 1
    corr = correlations_frame([0.9, 0.95, -0.3])
    c, floored = correction_factors(corr, "pearson_log_centered", SHARES, floor)
    mean_r = (0.9 + 0.95 - 0.3) / 3
    assert floored.tolist() == [False, False, (-0.3 - mean_r + 1) < 0]


@pytest.mark.parametrize("pop", [0.0, -50.0, np.nan])
def test_rates_without_population_are_nan(pop):
    rates = per_1000(pd.Series([10.0, 10.0]), pd.Series([2000.0, pop]))
    assert rates[0] == pytest.approx(5.0)
    assert math.isnan(rates[1])


def estimate_inputs():
    totals = pd.DataFrame(
        {
            "cities": ["Nice", "Nice", "Nice", "Nice"], "code_com": ["06088", "06004", "06010", "06020"],
            "code_dep": ["06"] * 4, "porn": [4000.0, 100.0, 50.0, 70.0], "tor": [200.0, 10.0, 5.0, 8.0],
            "control": [9e5, 1e4, 2e3, 3e3], "pop": [2000.0, 0.0, -10.0, np.nan],
        }
    )
    correlations = correlations_frame([0.3, -0.5, 0.2, 0.1]).assign(code_com=totals["code_com"])
    crime = pd.DataFrame({"code_com": ["06088", "06004"], "sv_19": [1.0, 2.0], "sv_17_21": [1.0, 2.0],
                          "sv_com_19": [1.0, 2.0], "sv_com_17_21": [1.5, 2.5]})
    return totals, correlations, crime


def test_estimate_table_population_floor_and_coverage():
    totals, correlations, crime = estimate_inputs()
    coverage = pd.DataFrame({"cities": ["Nice", "Nice"], "code_com": ["06088", "06004"], "coverage": [0.25, 1.0]})
    table = estimate_table(
        totals, correlations, crime, apps=APPS, direction="DL", shares=SHARES,
        method="pearson_log", negative_factor_floor=1e-5, coverage=coverage,
    ).set_index("code_com")
    assert list(table.columns[-2:]) == ["coverage", "c_floored"]
    assert table["c_floored"].tolist() == [False, True, False, False]
    assert table.loc["06004", "c"] == 1e-5
    assert table.loc["06088", "coverage"] == 0.25 and math.isnan(table.loc["06010", "coverage"])
    rates = ["cpc_per_1000", "log_cpc_per_1000", "yt_per_1000", "wa_per_1000", "tor_per_1000",
             "log_yt_per_1000", "log_wa_per_1000", "log_tor_per_1000"]
    # pop 0, negative, missing: every per-capita rate NaN, never inf or negative
    assert table.loc[["06004", "06010", "06020"], rates].isna().all().all()
    assert table.loc["06088", "tor_per_1000"] == pytest.approx(100.0)
    # cpc itself does not depend on the population
    assert table.loc["06004", "cpc"] == pytest.approx(10.0 * 1e-5)
    # without coverage the column is there, empty
    plain = estimate_table(
        totals, correlations, crime, apps=APPS, direction="DL", shares=SHARES,
        method="pearson_log", negative_factor_floor=1e-5,
    )
    assert plain["coverage"].isna().all()


def test_read_coverage(tmp_path):
    (tmp_path / "Nice.csv").write_text(
        "tile_id,cities,code_dep,code_com,pop,coverage\n0,Nice,06,6088,1000,0.4\n1,Nice,06,6088,1000,0.4\n"
        "2,Nice,2A,2A004,300,1\n"
    )
    (tmp_path / "Lyon.csv").write_text("tile_id,cities,code_dep,code_com,pop\n0,Lyon,69,69123,2000\n")
    (tmp_path / "Nancy.csv").write_text("tile_id,cities,code_dep,code_com,pop,coverage\n0,Nancy,54,54395,2000,\n")
    table, note = read_coverage([tmp_path / "Nice.csv", tmp_path / "Lyon.csv"])
    assert table.to_dict("records") == [
        {"cities": "Nice", "code_com": "06088", "coverage": 0.4},
        {"cities": "Nice", "code_com": "2A004", "coverage": 1.0},
    ]
    assert "1 of 2 cities" in note and "given tile map" in note
    _, note = read_coverage([tmp_path / "Nice.csv", tmp_path / "Lyon.csv", tmp_path / "Nancy.csv"])
    assert "coverage unknown for 2 of 3 cities" in note
    (tmp_path / "Bad.csv").write_text("tile_id,cities,code_dep,code_com,pop,coverage\n0,Nice,06,06088,1,1.5\n")
    with pytest.raises(InputError) as err:
        read_coverage([tmp_path / "Bad.csv"])
    assert str(err.value) == (
        f"{tmp_path / 'Bad.csv'}, line 2, column coverage: '1.5' is not a share between 0 and 1; rebuild the tile map"
    )


def test_read_estimate_table_normalises_codes_and_population(tmp_path):
    path = tmp_path / "cpc_com.csv"
    pd.DataFrame(
        {
            "cities": ["Nice", "Nice", "Nice"], "code_com": ["6088", "2A004", "6004.0"],
            "yt_per_1000": [1.0, 2.0, np.inf], "wa_per_1000": [1.0, 2.0, 3.0], "tor_per_1000": [1.0, 2.0, -3.0],
            "cpc_per_1000": [0.1, 0.2, 0.3], "sv_17_21": [1.0, 2.0, 3.0], "sv_com_17_21": [1.0, 2.0, 3.0],
            "cpc": [1.0, 2.0, 3.0], "c": [0.001, 0.002, 0.003], "pop": [100.0, 200.0, 0.0], "Tor": [5.0, 6.0, 7.0],
        }
    ).to_csv(path, index=False)
    table = read_estimate_table(path, APPS)
    assert table["code_com"].tolist() == ["06088", "2A004", "06004"]
    assert table["code_dep"].tolist() == ["06", "2A", "06"]
    assert table["c_floored"].tolist() == [False, False, False] and table["coverage"].isna().all()
    # pop 0: the table's inf and negative rates become NaN
    assert table.loc[2, ["yt_per_1000", "tor_per_1000", "cpc_per_1000"]].isna().all()
    assert table.loc[0, "tor_per_1000"] == 1.0


def test_read_estimate_table_errors_name_file_line_and_column(tmp_path):
    path = tmp_path / "cpc_com.csv"
    path.write_text("code_com;c;pop\n06088;0.1;100\n")
    with pytest.raises(InputError, match=r"cpc_com.csv: missing column\(s\) yt_per_1000, wa_per_1000"):
        read_estimate_table(path, APPS)
    columns = ["code_com", "yt_per_1000", "wa_per_1000", "tor_per_1000", "cpc_per_1000", "sv_17_21",
               "sv_com_17_21", "cpc", "c", "pop", "Tor"]
    path.write_text(",".join(columns) + "\n06088,1,1,1,1,1,1,1,1,100,1\n06004,1,1,1,1,1,1,1,1,1O0,1\n")
    with pytest.raises(InputError) as err:
        read_estimate_table(path, APPS)
    assert str(err.value) == (
        f"{path}, line 3, column pop: '1O0' is not a number; expected numbers with '.' decimals; a missing "
        "value is an empty field, NA or NaN"
    )
    path.write_text(",".join(columns) + "\nNICE,1,1,1,1,1,1,1,1,100,1\n")
    with pytest.raises(InputError) as err:
        read_estimate_table(path, APPS)
    assert str(err.value).startswith(f"{path}, line 2, column code_com: 'NICE' is not an INSEE commune code; ")


def test_correction_methods_table_leaves_out_communes_below_min_coverage():
    rng = np.random.default_rng(4)
    n = 20
    totals = pd.DataFrame(
        {
            "cities": "Lyon", "code_com": [f"69{i:03d}" for i in range(n)], "code_dep": "69",
            "porn": 1e3, "tor": rng.uniform(10, 100, n), "control": 1e6, "pop": rng.uniform(300, 5e4, n),
        }
    )
    correlations = pd.DataFrame({"code_com": totals["code_com"], "pearson_log": rng.uniform(0.1, 0.9, n),
                                 "spearman_log": rng.uniform(0.1, 0.9, n)})
    crime = pd.DataFrame({"code_com": totals["code_com"], "sv_com_17_21": rng.uniform(0.5, 3, n)})
    coverage = pd.DataFrame({"cities": "Lyon", "code_com": totals["code_com"][:6], "coverage": [0.1, 0.2, 0.3, 0.6, 0.9, 1.0]})
    full = correction_methods_table(totals, correlations, crime, shares=SHARES, negative_factor_floor=1e-5)
    assert (full["n"] == n).all()
    cut = correction_methods_table(totals, correlations, crime, shares=SHARES, negative_factor_floor=1e-5,
                                   coverage=coverage, min_coverage=0.5)
    assert (cut["n"] == n - 3).all()  # three known coverages below 0.5; unknown ones stay
    c = correlations["pearson_log"] * 0.011 * 105 / 253
    keep = np.r_[False, False, False, np.ones(n - 3, bool)]
    expected = spearmanr(np.log(totals["tor"] * c * 1000 / totals["pop"])[keep], crime["sv_com_17_21"][keep])
    assert cut.loc[0, "rho"] == pytest.approx(expected[0], rel=1e-12)


# --- faults of an estimate table --------------------------------------------------------

TABLE_COLUMNS = ["code_com", "traffic_dir", "yt_per_1000", "wa_per_1000", "tor_per_1000", "cpc_per_1000",
                 "sv_17_21", "sv_com_17_21", "cpc", "c", "pop", "Tor"]


def table_line(code, tor="10", cpc="0.01", direction="DL"):
    return f"{code},{direction},1,1,{tor},1,1,1,{cpc},0.001,100,{tor}"


def write_table(path, lines):
    path.write_text("\n".join([",".join(TABLE_COLUMNS), *lines]) + "\n")
    return path


@pytest.mark.parametrize("word", ["n/a", "abc", "1,5", "NULL", "#N/A", "-"])
def test_a_word_in_a_numeric_column_is_refused_with_line_and_column(tmp_path, word):
    path = write_table(tmp_path / "cpc_com.csv", [table_line("06088"), "", table_line("06004", tor=f'"{word}"')])
    with pytest.raises(InputError) as err:
        read_estimate_table(path, APPS)
    # the blank line 3 counts: the value is on line 4 of the file
    assert str(err.value) == (
        f"{path}, line 4, column tor_per_1000: {word!r} is not a number; expected numbers with '.' decimals; "
        "a missing value is an empty field, NA or NaN"
    )


def test_missing_value_spellings_are_counted_in_the_log(tmp_path, capsys):
    path = write_table(
        tmp_path / "cpc_com.csv",
        [table_line("06088", tor=""), table_line("06004", tor="NA"), table_line("06029", tor="NaN", cpc="nan"),
         table_line("06030")],
    )
    table = read_estimate_table(path, APPS)
    assert table["Tor"].isna().tolist() == [True, True, True, False]
    assert table["cpc"].isna().tolist() == [False, False, True, False]
    assert f"{path}: missing values (an empty field, NA or NaN) of 4 rows: tor_per_1000 3, cpc 1, Tor 3" in (
        capsys.readouterr().err
    )


def test_a_commune_on_two_rows_with_other_values_is_refused(tmp_path):
    path = write_table(tmp_path / "cpc_com.csv", [table_line("06088"), table_line("06004"), table_line("6088", cpc="0.5")])
    with pytest.raises(InputError) as err:
        read_estimate_table(path, APPS)
    assert str(err.value) == (
        f"{path}: traffic_dir DL, code_com 06088 appears on line 2 and line 4 with different cpc (0.01 and 0.5); "
        "1 traffic_dir and commune key(s) repeated with other values in all. Keep one row per traffic_dir and "
        "commune (a repeated row would be averaged or counted twice)."
    )


def test_exact_repeats_are_dropped_and_counted_and_directions_kept_apart(tmp_path, capsys):
    path = write_table(
        tmp_path / "cpc_com.csv",
        [table_line("06088"), table_line("06004"), table_line("06088"), table_line("06088", cpc="0.2", direction="UL")],
    )
    table = read_estimate_table(path, APPS)
    assert table[["traffic_dir", "code_com", "cpc"]].values.tolist() == [
        ["DL", "06088", 0.01], ["DL", "06004", 0.01], ["UL", "06088", 0.2]
    ]
    assert f"{path}: 1 row(s) repeat another row exactly: dropped, each commune counted once" in capsys.readouterr().err


def test_a_row_without_a_commune_code_is_refused(tmp_path):
    path = write_table(tmp_path / "cpc_com.csv", [table_line("06088"), table_line("")])
    with pytest.raises(InputError) as err:
        read_estimate_table(path, APPS)
    assert str(err.value) == (
        f"{path}, line 3, column code_com: an empty field is not a commune code; every row of an estimate table "
        "is one commune"
    )
