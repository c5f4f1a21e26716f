"""What the association survives: partial Spearman, Williams' and Steiger's tests,
regressions with HC3 and department-clustered errors, the covariate table, and which
communes are tested; against hand-worked values and independent numpy implementations."""

import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, rankdata, spearmanr, t

from netmob_cpc.files import InputError
from netmob_cpc.rankstats import average_ranks, normal_sf, partial_spearman, spearman_pair, t_sf
from netmob_cpc.statistics import (
    adjusted_association_table,
    cpc_on_sv_pvalue,
    read_covariates,
    regression_table,
    seed_dependent_corr_test,
    select_tested,
    spearman_table,
    steiger_z_test,
    williams_test,
)

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


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


def test_steiger_undefined_when_b_and_c_rank_alike():
    # r_bc = 1 forces r_ab = r_ac: psi = (1 - rbar^2)^2, cbar = 1, Z = 0 x sqrt(47 / 0): no test
    # (Python floats, as spearman_pair returns them, must not raise ZeroDivisionError)
    assert all(math.isnan(v) for v in steiger_z_test(0.5, 0.5, 1.0, 50))
    assert all(math.isnan(v) for v in steiger_z_test(-0.2, -0.2, 1.0, 10))


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
    assert len(adjusted) == 20 and set(adjusted["y"]) == {"sv_com_17_21"}
    rows = adjusted.set_index(["x", "analysis"])
    # no cities column: no city fixed effects (the spline partials: tests/test_inference.py)
    assert rows.xs("partial_population_city", level="analysis")["rho"].isna().all()
    assert rows.xs("partial_population_spline", level="analysis")["n"].eq(30).all()
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
    with pytest.raises(InputError) as err:
        read_covariates(path)
    assert str(err.value) == (
        f"{path} (config key 'covariates'), line 3, column density: 'high' is not a number; covariates must be "
        "numbers with '.' decimals; a missing value is an empty field, NA or NaN"
    )
    path.write_text("code_com,density\n06088,3\n6088,4\n")
    with pytest.raises(InputError) as err:
        read_covariates(path)
    assert str(err.value) == (
        f"{path} (config key 'covariates'): code_com 06088 appears on line 2 and line 3 with different density "
        "(3 and 4); 1 commune key(s) repeated with other values in all. Keep one row per commune (a repeated "
        "row would be averaged or counted twice)."
    )
    path.write_text("code_com,log_pop\n06088,3\n")
    with pytest.raises(InputError, match=r"column name\(s\) log_pop are the regression's own terms"):
        read_covariates(path)


# --- the same numbers as scipy.stats, without importing it ----------------------------------


def same(a, b):
    """Equal to the last bit, or both NaN."""
    return a == b or (math.isnan(a) and math.isnan(b))


def scipy_spearman(x, y):
    """scipy.stats.spearmanr over the pairs where both values are finite (NaN below 3)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input
        result = spearmanr(x[keep], y[keep])
    return float(result.statistic), float(result.pvalue)


def spearman_cases():
    """(name, x, y): continuous, tied, non-finite, constant and perfect data sets."""
    cases = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        for n in (3, 4, 50, 1000):
            x = rng.normal(size=n)
            y = 0.4 * x + rng.normal(size=n)
            cases.append((f"normal n={n} seed={seed}", x, y))
            cases.append((f"ties n={n} seed={seed}", np.round(x), np.round(2 * y)))
            cases.append((f"few values n={n} seed={seed}", rng.integers(0, 3, n), rng.integers(0, 2, n)))
            # the workflow's data: log of rates with zeros (-inf) and negative values (NaN)
            rate = rng.lognormal(0, 2, n) * rng.integers(0, 2, n)
            with np.errstate(divide="ignore", invalid="ignore"):
                cases.append((f"log rates n={n} seed={seed}", np.log(rate - (seed == 5)), rng.lognormal(0, 1, n)))
            noisy_x, noisy_y = x.copy(), y.copy()
            noisy_x[rng.random(n) < 0.2] = np.nan
            noisy_y[rng.random(n) < 0.1] = np.inf
            noisy_y[rng.random(n) < 0.1] = -np.inf
            cases.append((f"nan/inf dropped n={n} seed={seed}", noisy_x, noisy_y))
            cases.append((f"perfect +1 n={n} seed={seed}", x, np.exp(x)))
            cases.append((f"perfect -1 n={n} seed={seed}", x, -(x**3)))
            cases.append((f"constant x n={n} seed={seed}", np.full(n, 2.5), y))
            cases.append((f"constant y n={n} seed={seed}", x, np.zeros(n)))
    cases += [
        ("perfect with ties", [1, 1, 2, 2, 3], [10, 10, 20, 20, 30]),
        ("perfect -1 with ties", [1, 1, 2, 2, 3], [5, 5, 4, 4, 1]),
        ("-0.0 ties 0.0", [0.0, -0.0, 1.0, 2.0, -1.0], [3.0, 1.0, 2.0, 5.0, 4.0]),
        ("constant over the finite pairs", [1.0, 2.0, np.nan, 4.0, 5.0], [7.0, 7.0, 1.0, 7.0, 7.0]),
        ("n = 3 after dropping", [1.0, np.inf, 3.0, 2.0], [2.0, 1.0, 1.0, 3.0]),
        ("2 pairs left", [1.0, np.nan, 3.0], [2.0, 1.0, 1.0]),
        ("zero rho", [1, 2, 3, 4, 5], [2, 5, 3, 1, 4]),
    ]
    return cases


def test_average_ranks_equal_scipy_and_pandas_average_ranks():
    rng = np.random.default_rng(11)
    for values in (
        rng.normal(size=500), rng.integers(0, 7, 500).astype(float), np.round(rng.normal(size=1000), 1),
        np.array([0.0, -0.0, 0.0, 1.0, -1.0]), np.array([3.0]), np.array([2.0, 2.0, 2.0]),
    ):
        ranks = average_ranks(values)
        assert ranks.dtype == np.float64
        assert np.array_equal(ranks, rankdata(values))
        assert np.array_equal(ranks, pd.Series(values).rank(method="average").to_numpy())
    # by hand: 10 30 20 20 10 20 -> 1.5 6 4 4 1.5 4
    assert average_ranks([10, 30, 20, 20, 10, 20]).tolist() == [1.5, 6.0, 4.0, 4.0, 1.5, 4.0]


def test_spearman_pair_equals_scipy_spearmanr_exactly():
    cases = spearman_cases()
    kinds = {"nan": 0, "perfect": 0}
    for name, x, y in cases:
        rho, pvalue, n = spearman_pair(x, y)
        expected_rho, expected_p = scipy_spearman(x, y)
        assert n == int((np.isfinite(np.asarray(x, float)) & np.isfinite(np.asarray(y, float))).sum()), name
        assert same(rho, expected_rho) and same(pvalue, expected_p), (name, rho, expected_rho, pvalue, expected_p)
        kinds["nan"] += math.isnan(rho)
        kinds["perfect"] += abs(rho) > 1 - 1e-12  # np.corrcoef may give 0.9999999999999999
    # the cases reach the branches: NaN (constant, fewer than 3 pairs) and perfect rankings
    assert kinds["nan"] >= 50 and kinds["perfect"] >= 50
    assert spearman_pair([1, 1, 2, 2, 3], [10, 10, 20, 20, 30])[:2] == (1.0, 0.0)
    # ranks 1..5 and 2 5 3 1 4: sum d^2 = 20, rho = 1 - 6 x 20 / (5 x 24) = 0, t = 0, p = 1
    assert spearman_pair([1, 2, 3, 4, 5], [2, 5, 3, 1, 4])[:2] == (0.0, 1.0)


def test_t_sf_and_normal_sf_equal_scipy_stats_exactly():
    x = np.array([
        0.0, -0.0, 1e-300, 1e-12, 1e-3, 0.25, 0.5, 0.8912799, 1.0, 1.6449, 1.96, 2.0, 2.5758, 3.0, 5.0,
        8.0, 8.3, 10.0, 14.92, 20.0, 37.5, 40.0, 100.0, 1e3, 1e5, 1e10, 1e100, 1e300, np.inf,
        -0.5, -3.0, -40.0, -np.inf, np.nan,
    ])
    df = np.arange(1, 1001)
    assert np.array_equal(t_sf(x[:, None], df[None, :]), t.sf(x[:, None], df[None, :]), equal_nan=True)
    assert np.array_equal(normal_sf(x), norm.sf(x), equal_nan=True)
    # scalars, as the tests use them: a Python float and an int df
    for value in (0.0, 0.7, 2.3456789, 9.99, 60.0):
        for dof in (1, 2, 3, 7, 57, 100, 729, 1000):
            assert float(t_sf(value, dof)) == float(t.sf(value, dof))
        assert float(normal_sf(value)) == float(norm.sf(value))
    assert t_sf(0.0, 5) == 0.5 and normal_sf(0.0) == 0.5


def test_dependent_and_partial_p_values_are_scipy_stats_p_values():
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(200):
        r_ab, r_ac, r_bc = rng.uniform(-0.95, 0.95, 3)
        n = int(rng.integers(4, 2000))
        t_value, p_value = seed_dependent_corr_test(r_ab, r_ac, r_bc, n)
        assert p_value == float(2 * t.sf(abs(t_value), df=n - 2))
        z_value, z_p = steiger_z_test(r_ab, r_ac, r_bc, n)
        assert same(z_p, float(2 * norm.sf(abs(z_value))))
        w_t, w_p = williams_test(r_ab, r_ac, r_bc, n)
        if not math.isnan(w_t):
            assert w_p == float(2 * t.sf(abs(w_t), df=n - 3))
            checked += 1
    assert checked > 50
    for seed in range(20):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(5, 400))
        z = rng.lognormal(6, 1, n)
        x = np.round(np.log(z) + rng.normal(0, 1, n), 1)  # ties
        y = 0.3 * x + rng.normal(0, 1, n)
        x[rng.random(n) < 0.05] = np.nan
        rho, pvalue, m = partial_spearman(x, y, z)
        statistic = rho * math.sqrt((m - 3) / (1 - rho**2))
        assert pvalue == float(2 * t.sf(abs(statistic), m - 3))


MEASURES = ["yt_per_1000", "wa_per_1000", "tor_per_1000", "cpc_per_1000"]


def estimate_frame(n=40, seed=2):
    """A test table for spearman_table: the four per-1,000 measures and the crime rates."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({column: rng.lognormal(0, 1, n) for column in MEASURES})
    frame["sv_17_21"] = rng.lognormal(0, 1, n)
    frame["sv_com_17_21"] = np.round(frame["sv_17_21"], 0)
    frame["pop"] = rng.lognormal(8, 1, n)
    return frame


def test_spearman_table_equals_scipy_spearmanr():
    frame = estimate_frame()
    table = spearman_table(frame)
    logged = {column: np.log(frame[column]) for column in MEASURES}
    assert len(table) == 5
    for row in table.itertuples():
        x, y = logged.get(row.x, frame[row.x]), logged.get(row.y, frame[row.y])
        assert (row.rho, row.pvalue) == scipy_spearman(x, y)


def test_correlation_tests_leave_scipy_stats_unimported():
    # In a fresh interpreter, as in a job: importing the package modules of estimate_table,
    # sensitivity, bootstrap_intervals and association_tests and running every correlation
    # test leaves scipy.stats (about a second to import) unloaded. Not covered: the
    # regressions (fit_ols), since statsmodels.regression.linear_model imports scipy.stats
    # itself (`from scipy import optimize, stats`); association_tests still loads it there.
    code = """
import sys
import numpy as np
import pandas as pd
import netmob_cpc.estimates, netmob_cpc.sensitivity, netmob_cpc.statistics as s
rng = np.random.default_rng(0)
n = 40
frame = pd.DataFrame({c: rng.lognormal(0, 1, n) for c in s.PER_1000})
frame["sv_17_21"] = rng.lognormal(0, 1, n)
frame["sv_com_17_21"] = np.round(frame["sv_17_21"], 0)
frame["pop"] = rng.lognormal(8, 1, n)
s.spearman_pair(rng.normal(size=n), rng.normal(size=n))
s.partial_spearman(rng.normal(size=n), rng.normal(size=n), rng.normal(size=n))
s.spearman_table(frame), s.dependent_corr_table(frame), s.adjusted_association_table(frame)
s.williams_test(0.4, 0.5, 0.1, 103), s.steiger_z_test(0.4, 0.5, 0.1, 103)
netmob_cpc.sensitivity.spearman_from_weights(rng.normal(size=n), rng.normal(size=n), netmob_cpc.sensitivity.resample_weights(rng.integers(0, n, (5, n)), n))
print("scipy.stats" in sys.modules, "statsmodels" in sys.modules, "scipy.special" in sys.modules)
"""
    environment = {**os.environ, "PYTHONPATH": str(SCRIPTS)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True
    )
    # scipy.stats and statsmodels not loaded; scipy.special (stdtr, ndtr) loaded
    assert result.stdout.strip() == "False False True", result.stdout + result.stderr



# --- covariate table faults ---------------------------------------------------------------


@pytest.mark.parametrize("word", ["n/a", "abc", "1,5", "NULL", "-"])
def test_a_word_in_a_covariate_column_is_refused(tmp_path, word):
    path = tmp_path / "covariates.csv"
    path.write_text(f"code_com;density\n06088;3\n\n06004;{word}\n")
    with pytest.raises(InputError) as err:
        read_covariates(path)
    assert str(err.value) == (
        f"{path} (config key 'covariates'), line 4, column density: {word!r} is not a number; covariates must be "
        "numbers with '.' decimals; a missing value is an empty field, NA or NaN"
    )


def test_covariate_repeats_and_missing_values_are_counted(tmp_path, capsys):
    path = tmp_path / "covariates.csv"
    path.write_text("code_com,density,poverty\n06088,3,0.1\n06004,NA,0.2\n6088,3,0.1\n06029,,NaN\n")
    covariates = read_covariates(path)
    assert covariates.index.tolist() == ["06088", "06004", "06029"]
    assert covariates["density"].tolist()[0] == 3.0 and covariates["density"].isna().tolist() == [False, True, True]
    log = capsys.readouterr().err
    source = f"{path} (config key 'covariates')"
    assert f"{source}: 1 row(s) repeat another row exactly: dropped, each commune counted once" in log
    assert (
        f"{source}: missing values (an empty field, NA or NaN) of 3 rows: density 2, poverty 1; a commune without "
        "a value is left out of the *_controls models"
    ) in log


def test_a_covariate_row_without_a_code_is_refused(tmp_path):
    path = tmp_path / "covariates.csv"
    path.write_text("code_com,density\n06088,3\n,4\n")
    with pytest.raises(InputError) as err:
        read_covariates(path)
    assert str(err.value) == (
        f"{path} (config key 'covariates'), line 3, column code_com: an empty field is not a commune code; every "
        "row of the covariate table is one commune"
    )


def test_collinear_and_constant_covariates_are_left_out_and_named(capsys):
    table = estimates(n=30, seed=5)
    rng = np.random.default_rng(3)
    density = rng.lognormal(6, 1, 30)
    covariates = pd.DataFrame(
        {"density": density, "density_twice": 2 * density + 1, "constant": np.full(30, 7.0)},
        index=table["code_com"].to_numpy(),
    )
    regression = regression_table(table, covariates)
    alone = regression_table(table, covariates[["density"]])
    # the same model as with density alone: no NaN row, the same numbers
    pd.testing.assert_frame_equal(regression.reset_index(drop=True), alone.reset_index(drop=True))
    assert regression.loc[regression["cov_type"] != "cluster_city", "coef"].notna().all()  # the fixture has no cities
    log = capsys.readouterr().err
    assert (
        "regression cpc_on_sv_controls: covariate(s) density_twice, constant left out: constant or collinear with "
        "the other terms over the model's 30 communes"
    ) in log
    assert log.count("density_twice, constant left out") == 4  # each *_controls model says it
