"""What the association survives: partial Spearman, Williams' and Steiger's tests,
regressions with HC3 and department-clustered errors, the covariate table, and which
communes are tested; against hand-worked values and independent numpy implementations."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, t

from netmob_cpc.files import InputError
from netmob_cpc.statistics import (
    adjusted_association_table,
    cpc_on_sv_pvalue,
    partial_spearman,
    read_covariates,
    regression_table,
    seed_dependent_corr_test,
    select_tested,
    spearman_pair,
    spearman_table,
    steiger_z_test,
    williams_test,
)


def spearman_rho(x, y):
    """Spearman by definition: Pearson correlation of average ranks."""
    return float(np.corrcoef(pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy())[0, 1])


# --- partial Spearman ----------------------------------------------------------------------


def test_partial_spearman_equals_the_first_order_partial_formula():
    rng = np.random.default_rng(7)
    z = rng.lognormal(8, 1.5, 60)
    x = np.log(z) + rng.normal(0, 1, 60)
    y = 0.5 * np.log(z) + 0.3 * x + rng.normal(0, 1, 60)
    y[:5] = 0.0  # ties
    rho, pvalue, n = partial_spearman(x, y, z)
    r_xy, r_xz, r_yz = spearman_rho(x, y), spearman_rho(x, z), spearman_rho(y, z)
    expected = (r_xy - r_xz * r_yz) / math.sqrt((1 - r_xz**2) * (1 - r_yz**2))
    assert n == 60
    assert rho == pytest.approx(expected, rel=1e-10)
    statistic = expected * math.sqrt(57 / (1 - expected**2))
    assert pvalue == pytest.approx(2 * t.sf(abs(statistic), 57), rel=1e-8)


def test_partial_spearman_residuals_by_hand_and_missing_values():
    # ranks: x 1 2 3 4 5, y 2 1 4 3 5, z 1 2 3 4 5 (z = x): nothing is left of x given z
    rho, pvalue, n = partial_spearman([1, 2, 3, 4, 5], [20, 10, 40, 30, 50], [1, 2, 3, 4, 5])
    assert n == 5 and math.isnan(rho) and math.isnan(pvalue)
    # z = 1 1 2 2 9 (ranks 1.5 1.5 3.5 3.5 5), x ranks 1..5, y ranks 2 1 4 3 5; a NaN row is left out
    x = [1.0, 2.0, 3.0, 4.0, 5.0, np.nan]
    y = [20.0, 10.0, 40.0, 30.0, 50.0, 1.0]
    z = [1.0, 1.0, 2.0, 2.0, 9.0, 3.0]
    rho, _, n = partial_spearman(x, y, z)
    design = np.column_stack([np.ones(5), [1.5, 1.5, 3.5, 3.5, 5.0]])
    rx = np.array([1, 2, 3, 4, 5.0]) - design @ np.linalg.lstsq(design, [1, 2, 3, 4, 5.0], rcond=None)[0]
    ry = np.array([2, 1, 4, 3, 5.0]) - design @ np.linalg.lstsq(design, [2, 1, 4, 3, 5.0], rcond=None)[0]
    # residuals by hand: rank(z) regressed on itself leaves x: -0.5 +0.5 -0.5 +0.5 0; y: +0.5 -0.5 +0.5 -0.5 0
    np.testing.assert_allclose(rx, [-0.5, 0.5, -0.5, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(ry, [0.5, -0.5, 0.5, -0.5, 0.0], atol=1e-12)
    assert n == 5 and rho == pytest.approx(-1.0)
    assert partial_spearman([1, 2, 3], [3, 1, 2], [1, 1, 2])[2] == 3
    assert math.isnan(partial_spearman([1, 2, 3], [3, 1, 2], [1, 1, 2])[0])


# --- dependent correlations ----------------------------------------------------------------


def test_williams_and_steiger_on_steiger_1980_case_a():
    # Steiger (1980), Psychological Bulletin 87:245-251, p. 249, case A: n = 103,
    # r_jk = .4, r_jh = .5, r_kh = .1 (H0: rho_jk = rho_jh, j shared).
    # Williams' T2 by hand: |R| = 1 - .16 - .25 - .01 + 2(.4)(.5)(.1) = .62;
    # rbar = .45, rbar^2 (1 - r_kh)^3 = .2025 x .729 = .1476225;
    # 2 (n-1)/(n-3) |R| = 2 x 1.02 x .62 = 1.2648; (n-1)(1 + r_kh) = 102 x 1.1 = 112.2;
    # T2 = -.1 x sqrt(112.2 / 1.4124225) = -.1 x sqrt(79.437987) = -0.8912799, df = 100.
    t_value, p_value = williams_test(0.4, 0.5, 0.1, 103)
    assert t_value == pytest.approx(-0.1 * math.sqrt(112.2 / 1.4124225), rel=1e-12)
    assert round(t_value, 7) == -0.8912799
    assert p_value == pytest.approx(2 * t.sf(0.8912799047605414, 100), rel=1e-9)
    # Steiger's Z1* by hand: z(.4) = .4236489, z(.5) = .5493061; psi = .1(1 - .405)
    # - .5 x .2025 (1 - .405 - .01) = .0595 - .0592313 = .00026875; cbar = psi / .7975^2
    # = .00042256; Z = -.1256572 sqrt(100 / (2 - .00084512)) = -0.8887185. The paper
    # prints -.8913 from rounded intermediates; cocor's test suite asserts -0.8887185.
    z_value, z_p = steiger_z_test(0.4, 0.5, 0.1, 103)
    assert round(z_value, 7) == -0.8887185
    assert z_p == pytest.approx(2 * norm.sf(0.8887184699558723), rel=1e-9)


def test_williams_against_depcor():
    # depcor (Silver, Hittner & May 2006, Applied Psychological Measurement 30:152), as the
    # cocor R package's tests assert it: r_jk .3, r_jh .4, r_kh .5, n 100: t = -1.0767, p = .2843
    t_value, p_value = williams_test(0.3, 0.4, 0.5, 100)
    assert round(t_value, 4) == -1.0767 and round(p_value, 4) == 0.2843


def test_williams_undefined_cases():
    assert all(math.isnan(v) for v in williams_test(0.3, 0.4, 0.5, 3))
    # an impossible correlation matrix (determinant < 0) has no test
    assert all(math.isnan(v) for v in williams_test(0.9, -0.9, 0.9, 100))
    assert williams_test(0.4, 0.4, 0.2, 50) == (0.0, 1.0)


def test_p_values_from_the_survival_function():
    # t = (0.6 - 0.05) / sqrt((1 - 0.01) / 728) = 14.92: 1 - cdf rounds to exactly 0
    t_value, p_value = seed_dependent_corr_test(0.6, 0.05, 0.1, 731)
    assert t_value == pytest.approx(0.55 / math.sqrt(0.99 / 728))
    assert 1 - t.cdf(t_value, 729) == 0.0
    assert 0 < p_value == pytest.approx(2 * t.sf(t_value, 729), rel=1e-12)
    assert 0 < williams_test(0.6, 0.05, 0.1, 731)[1] < 1e-30
    assert 0 < steiger_z_test(0.6, 0.05, 0.1, 731)[1] < 1e-30


# --- the tested communes -------------------------------------------------------------------


def estimates(n=12, seed=3):
    rng = np.random.default_rng(seed)
    pop = np.round(rng.lognormal(8, 1.2, n))
    tor = pop * rng.lognormal(0, 0.5, n)
    c = rng.uniform(1e-4, 1e-3, n)
    sv = np.round(np.maximum(0, 0.3 * np.log(pop) - 2 + rng.normal(0, 0.5, n)), 2)
    sv[[1, 4]] = 0.0
    return pd.DataFrame(
        {
            "code_com": [f"{d}{i:03d}" for d, i in zip(["06", "06", "69", "69", "13", "13"] * 5, range(n))],
            "code_dep": (["06", "06", "69", "69", "13", "13"] * 5)[:n],
            "yt_per_1000": rng.lognormal(5, 1, n), "wa_per_1000": rng.lognormal(3, 1, n),
            "tor_per_1000": tor * 1000 / pop, "cpc_per_1000": tor * c * 1000 / pop,
            "sv_17_21": sv, "sv_com_17_21": sv, "cpc": tor * c, "c": c, "Tor": tor, "pop": pop,
            "c_floored": False, "coverage": np.nan,
        }
    )


def test_select_tested_counts_and_leaves_out():
    table = estimates()
    table.loc[0, "pop"] = 0.0
    table.loc[1, "pop"] = np.nan
    table.loc[2, "sv_com_17_21"] = np.nan
    table.loc[3, ["sv_17_21", "sv_com_17_21"]] = np.nan
    table.loc[[4, 5], "coverage"] = [0.3, 0.8]
    table.loc[[5, 6], "c_floored"] = True
    tested, counts = select_tested(table, min_coverage=0.5)
    assert sorted(tested.index) == [5, 6, 7, 8, 9, 10, 11]
    assert counts == {
        "n_communes_without_population": 2, "n_communes_without_population_with_rate": 2,
        "n_below_min_coverage": 1, "n_coverage_unknown": 10, "n_c_floored": 2, "n_c_floored_tested": 2,
        "n_communes_without_crime_rate": 1, "n_communes_without_published_rate": 2, "n_tested": 7,
    }
    # min_coverage 0 (the notebook's behaviour) keeps commune 4
    assert 4 in select_tested(table, 0.0)[0].index


def test_no_testable_commune_is_an_error_saying_what_to_check():
    table = estimates()
    table["sv_com_17_21"] = np.nan
    with pytest.raises(InputError, match=r"no commune can be tested: no commune of the estimate table has a "
                       r"published sv_com_17_21 .*crime_class.*crime_years.*diff.*ndiff"):
        select_tested(table)
    table = estimates()
    table["pop"] = 0
    with pytest.raises(InputError, match=r"have no usable population \(missing, zero or negative pop\)"):
        select_tested(table)
    table = estimates()
    table["coverage"] = 0.2
    with pytest.raises(InputError, match=r"less than min_coverage = 0.5 .* Lower min_coverage"):
        select_tested(table, 0.5)


# --- adjusted association ------------------------------------------------------------------


def test_adjusted_association_table():
    table = estimates(n=30)
    adjusted = adjusted_association_table(table)
    assert list(adjusted.columns) == ["x", "y", "analysis", "rho", "pvalue", "n"]
    assert len(adjusted) == 12 and set(adjusted["y"]) == {"sv_com_17_21"}
    rows = adjusted.set_index(["x", "analysis"])
    spearman = spearman_table(table).set_index(["x", "y"])
    nonzero = table["sv_com_17_21"] > 0
    for x in ["yt_per_1000", "wa_per_1000", "tor_per_1000", "cpc_per_1000"]:
        assert rows.loc[(x, "all"), "rho"] == spearman.loc[(x, "sv_com_17_21"), "rho"]
        expected = spearman_pair(np.log(table.loc[nonzero, x]), table.loc[nonzero, "sv_com_17_21"])
        assert rows.loc[(x, "outcome_nonzero"), "n"] == nonzero.sum() == expected[2]
        assert rows.loc[(x, "outcome_nonzero"), "rho"] == pytest.approx(expected[0])
        # the partial one, by the first-order formula on Spearman rhos (log does not change ranks)
        r_xy = spearman_rho(table[x], table["sv_com_17_21"])
        r_xz = spearman_rho(table[x], table["pop"])
        r_yz = spearman_rho(table["sv_com_17_21"], table["pop"])
        partial = (r_xy - r_xz * r_yz) / math.sqrt((1 - r_xz**2) * (1 - r_yz**2))
        assert rows.loc[(x, "partial_population"), "rho"] == pytest.approx(partial, rel=1e-10)
        assert rows.loc[(x, "partial_population"), "n"] == 30


# --- regressions ---------------------------------------------------------------------------


def ols_by_hand(y, X):
    """(coef, HC3 se, t, cluster helpers) with numpy only."""
    XtX_inv = np.linalg.inv(X.T @ X)
    coef = XtX_inv @ X.T @ y
    residual = y - X @ coef
    leverage = np.einsum("ij,jk,ik->i", X, XtX_inv, X)
    meat = X.T @ np.diag(residual**2 / (1 - leverage) ** 2) @ X
    return coef, np.sqrt(np.diag(XtX_inv @ meat @ XtX_inv)), residual, XtX_inv


def test_regression_hc3_and_cluster_against_the_closed_form():
    table = estimates(n=30, seed=11)
    regression = regression_table(table)
    assert list(regression.columns) == ["model", "outcome", "term", "coef", "se", "t", "pvalue", "n", "cov_type"]
    assert set(regression["model"]) == {"cpc_on_sv", "sv_on_cpc", "cpc_on_sv_outcome_nonzero", "sv_on_cpc_outcome_nonzero"}
    rows = regression.set_index(["model", "cov_type", "term"])
    # cpc_on_sv: ln(cpc_per_1000) ~ 1 + sv + ln(pop)
    y = np.log(table["cpc_per_1000"].to_numpy())
    X = np.column_stack([np.ones(30), table["sv_com_17_21"], np.log(table["pop"])])
    coef, se, residual, XtX_inv = ols_by_hand(y, X)
    for i, term in enumerate(["const", "sv_com_17_21", "log_pop"]):
        line = rows.loc[("cpc_on_sv", "HC3", term)]
        assert line["coef"] == pytest.approx(coef[i], rel=1e-9)
        assert line["se"] == pytest.approx(se[i], rel=1e-9)
        assert line["t"] == pytest.approx(coef[i] / se[i], rel=1e-9)
        assert line["pvalue"] == pytest.approx(2 * t.sf(abs(coef[i] / se[i]), 27), rel=1e-7)
        assert line["n"] == 30 and line["outcome"] == "log_cpc_rate"
    # cluster-robust by department: sum over departments of (X_g' e_g)(X_g' e_g)', with the
    # small-sample factor G/(G-1) (N-1)/(N-K); t with G - 1 degrees of freedom
    groups = table["code_dep"].to_numpy()
    meat = sum(np.outer(X[groups == g].T @ residual[groups == g], X[groups == g].T @ residual[groups == g])
               for g in np.unique(groups))
    G = len(np.unique(groups))
    cluster_se = np.sqrt(np.diag(XtX_inv @ meat @ XtX_inv) * G / (G - 1) * 29 / 27)
    for i, term in enumerate(["const", "sv_com_17_21", "log_pop"]):
        line = rows.loc[("cpc_on_sv", "cluster_dep", term)]
        assert line["coef"] == pytest.approx(coef[i], rel=1e-9)
        assert line["se"] == pytest.approx(cluster_se[i], rel=1e-9)
        assert line["pvalue"] == pytest.approx(2 * t.sf(abs(coef[i] / cluster_se[i]), G - 1), rel=1e-7)
    # sv_on_cpc over the communes with sv > 0: sv ~ 1 + ln(cpc_per_1000) + ln(pop)
    keep = table["sv_com_17_21"].to_numpy() > 0
    y = table["sv_com_17_21"].to_numpy()[keep]
    X = np.column_stack([np.ones(keep.sum()), np.log(table["cpc_per_1000"])[keep], np.log(table["pop"])[keep]])
    coef, se, _, _ = ols_by_hand(y, X)
    for i, term in enumerate(["const", "log_cpc_rate", "log_pop"]):
        line = rows.loc[("sv_on_cpc_outcome_nonzero", "HC3", term)]
        assert (line["coef"], line["se"]) == pytest.approx((coef[i], se[i]), rel=1e-9)
        assert line["n"] == keep.sum() < 30
    assert cpc_on_sv_pvalue(table) == rows.loc[("cpc_on_sv", "HC3", "sv_com_17_21"), "pvalue"]
    assert cpc_on_sv_pvalue(table, "cluster_dep") == rows.loc[("cpc_on_sv", "cluster_dep", "sv_com_17_21"), "pvalue"]
    # the simulation study passes the three columns only
    bare = table[["sv_com_17_21", "cpc_per_1000", "pop"]].reset_index(drop=True)
    assert cpc_on_sv_pvalue(bare) == pytest.approx(rows.loc[("cpc_on_sv", "HC3", "sv_com_17_21"), "pvalue"], rel=1e-12)


def test_regression_with_standardised_covariates(tmp_path):
    table = estimates(n=30, seed=5)
    rng = np.random.default_rng(2)
    density = rng.lognormal(6, 1, 30)
    # covariates written with codes that lost their leading zero; one commune without a row
    codes = [code.lstrip("0") for code in table["code_com"]]
    path = tmp_path / "covariates.csv"
    pd.DataFrame({"code_com": codes[1:], "density": density[1:]}).to_csv(path, index=False)
    covariates = read_covariates(path)
    assert covariates.index[0] == table["code_com"][1]
    regression = regression_table(table, covariates)
    models = set(regression["model"])
    assert {"cpc_on_sv_controls", "sv_on_cpc_controls", "cpc_on_sv_controls_outcome_nonzero"} <= models
    rows = regression.set_index(["model", "cov_type", "term"])
    y = np.log(table["cpc_per_1000"].to_numpy())[1:]
    d = density[1:]
    X = np.column_stack([np.ones(29), table["sv_com_17_21"][1:], np.log(table["pop"])[1:], (d - d.mean()) / d.std(ddof=1)])
    coef, se, _, _ = ols_by_hand(y, X)
    line = rows.loc[("cpc_on_sv_controls", "HC3", "density")]
    assert line["n"] == 29
    assert (line["coef"], line["se"]) == pytest.approx((coef[3], se[3]), rel=1e-9)
    assert rows.loc[("cpc_on_sv_controls", "HC3", "sv_com_17_21"), "coef"] == pytest.approx(coef[1], rel=1e-9)


def test_covariate_table_errors_name_file_line_and_column(tmp_path):
    path = tmp_path / "covariates.csv"
    path.write_text("insee,density\n06088,3\n")
    with pytest.raises(InputError, match=r"covariates.csv \(config key 'covariates'\): no code_com column; found insee, density"):
        read_covariates(path)
    path.write_text("code_com;density;poverty\n06088;3;0.1\n06004;high;0.2\n")
    with pytest.raises(InputError, match=r"covariates.csv \(config key 'covariates'\): line 3, column density: 'high' is not a number"):
        read_covariates(path)
    path.write_text("code_com,density\n06088,3\n6088,4\n")
    with pytest.raises(InputError, match=r"line 3: code_com 06088 appears twice"):
        read_covariates(path)
    path.write_text("code_com,log_pop\n06088,3\n")
    with pytest.raises(InputError, match=r"column name\(s\) log_pop are the regression's own terms"):
        read_covariates(path)
