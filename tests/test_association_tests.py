"""Spearman tests, the dependent-correlation tests, the summary and the association_tests
entry script, against values worked out by hand, an independent rank-correlation
implementation, and published values."""

import json
import math
import re
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, t

import association_tests
from netmob_cpc.estimates import read_estimate_table
from netmob_cpc.files import InputError
from netmob_cpc.rankstats import spearman_pair
from netmob_cpc.statistics import (
    dependent_corr_table,
    log_test_table,
    seed_dependent_corr_test,
    spearman_table,
    steiger_z_test,
    summary,
    select_tested,
)

APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}


def rank_correlation(x, y):
    """Spearman by definition: Pearson correlation of the average ranks."""
    rx = pd.Series(x, dtype=float).rank(method="average").to_numpy()
    ry = pd.Series(y, dtype=float).rank(method="average").to_numpy()
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / math.sqrt((rx * rx).sum() * (ry * ry).sum()))


def estimates_frame():
    """Eight communes; 75056 has no published rate, 13055 no cpc (NaN), 33063 zero YouTube."""
    return pd.DataFrame(
        {
            "code_com": ["06088", "2A004", "54395", "69123", "75056", "13055", "33063", "31555"],
            "yt_per_1000": [10.0, 20.0, 15.0, 40.0, 5.0, 30.0, 0.0, 25.0],
            "wa_per_1000": [3.0, 1.0, 4.0, 1.5, 9.0, 2.0, 6.0, 5.0],
            "tor_per_1000": [0.5, 0.2, 0.9, 0.4, 0.1, 0.3, 0.7, 0.6],
            "cpc_per_1000": [0.02, 0.01, 0.05, 0.03, 0.04, np.nan, 0.06, 0.035],
            "sv_17_21": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "sv_com_17_21": [1.2, 0.5, 2.5, 1.8, np.nan, 3.1, 2.2, 0.9],
            "cpc": [2.0, 1.0, np.nan, 4.0, 3.0, np.nan, 5.0, 1.5],
            "Tor": [100.0, 50.0, 80.0, np.nan, 70.0, 60.0, 40.0, 30.0],
            "c": [0.001, 0.0005, np.nan, 0.0008, 0.0012, np.nan, 0.0009, 0.0004],
            "pop": [1000.0, 2500.0, 800.0, 40000.0, 9000.0, 3000.0, 1200.0, 6000.0],
        }
    )


def test_log_test_table_drops_untested_and_logs():
    test = log_test_table(estimates_frame())
    assert len(test) == 7 and 4 not in test.index  # 75056 has no sv_com_17_21
    assert test.loc[0, "yt_per_1000"] == pytest.approx(math.log(10.0))
    assert test.loc[2, "cpc_per_1000"] == pytest.approx(math.log(0.05))
    assert test.loc[6, "yt_per_1000"] == -math.inf
    assert test.loc[0, "sv_com_17_21"] == 1.2 and test.loc[0, "sv_17_21"] == 1.0  # not logged


def test_spearman_pair_by_hand():
    # ranks of y: 2 1 4 3 5, d = -1 1 -1 1 0, sum d^2 = 4: rho = 1 - 6*4 / (5 * 24) = 0.8
    rho, pvalue, n = spearman_pair([1, 2, 3, 4, 5], [20, 10, 40, 30, 50])
    assert rho == pytest.approx(0.8) and n == 5
    statistic = 0.8 * math.sqrt(3 / (1 - 0.64))  # t with n - 2 = 3 degrees of freedom
    assert pvalue == pytest.approx(2 * t.sf(statistic, 3))


def test_spearman_pair_leaves_out_non_finite_pairs():
    x = [1.0, 2.0, np.nan, 3.0, 4.0, -np.inf, 5.0]
    y = [20.0, 10.0, 7.0, 40.0, 30.0, 1.0, np.inf]
    rho, _, n = spearman_pair(x, y)
    assert n == 4
    # pairs kept: (1,20) (2,10) (3,40) (4,30): ranks y 2 1 4 3: rho = 1 - 6*4/(4*15) = 0.6
    assert rho == pytest.approx(0.6)


def test_spearman_pair_with_ties_matches_rank_definition():
    x = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 5.0]
    y = [3.0, 1.0, 2.0, 2.0, 9.0, 4.0, 8.0]
    assert spearman_pair(x, y)[0] == pytest.approx(rank_correlation(x, y), rel=1e-12)


def test_spearman_pair_too_few():
    rho, pvalue, n = spearman_pair([1.0, np.nan, 3.0], [2.0, 5.0, 1.0])
    assert n == 2 and math.isnan(rho) and math.isnan(pvalue)


def test_spearman_table():
    estimates = estimates_frame()
    table = spearman_table(estimates)
    assert list(table.columns) == ["x", "y", "rho", "pvalue", "n"]
    assert list(zip(table["x"], table["y"])) == [
        ("yt_per_1000", "sv_com_17_21"), ("wa_per_1000", "sv_com_17_21"), ("tor_per_1000", "sv_com_17_21"),
        ("cpc_per_1000", "sv_com_17_21"), ("yt_per_1000", "cpc_per_1000"),
    ]
    tested = estimates[estimates["sv_com_17_21"].notna()]
    # yt: 33063 has log(0) = -inf: 6 pairs
    keep = tested["yt_per_1000"] > 0
    assert table.loc[0, "n"] == 6
    assert table.loc[0, "rho"] == pytest.approx(
        rank_correlation(np.log(tested["yt_per_1000"][keep]), tested["sv_com_17_21"][keep])
    )
    assert table.loc[1, "n"] == 7
    assert table.loc[1, "rho"] == pytest.approx(rank_correlation(tested["wa_per_1000"], tested["sv_com_17_21"]))
    keep = tested["cpc_per_1000"].notna()
    assert table.loc[3, "n"] == 6
    assert table.loc[3, "rho"] == pytest.approx(
        rank_correlation(tested["cpc_per_1000"][keep], tested["sv_com_17_21"][keep])
    )
    keep = tested["cpc_per_1000"].notna() & (tested["yt_per_1000"] > 0)
    assert table.loc[4, "n"] == 5
    assert table.loc[4, "rho"] == pytest.approx(rank_correlation(tested["yt_per_1000"][keep], tested["cpc_per_1000"][keep]))


def test_seed_dependent_corr_test_by_hand():
    t_value, p_value = seed_dependent_corr_test(0.3, 0.4, 0.5, 100)
    expected_t = -0.1 / math.sqrt(0.75 / 97)  # (r_ab - r_ac) / sqrt((1 - r_bc^2) / (n - 3))
    assert t_value == pytest.approx(expected_t) and t_value == pytest.approx(-1.137248, abs=1e-6)
    assert p_value == pytest.approx(2 * t.sf(abs(expected_t), 98))


def test_steiger_by_hand():
    r_ab, r_ac, r_bc, n = 0.3, 0.4, 0.5, 100
    rbar = 0.35
    psi = 0.5 * (1 - 2 * 0.1225) - 0.5 * 0.1225 * (1 - 2 * 0.1225 - 0.25)  # = 0.3775 - 0.0309313 = 0.3465688
    cbar = psi / (1 - 0.1225) ** 2
    fisher = 0.5 * math.log(1.3 / 0.7) - 0.5 * math.log(1.4 / 0.6)
    expected = fisher * math.sqrt(97 / (2 - 2 * cbar))
    z, p = steiger_z_test(r_ab, r_ac, r_bc, n)
    assert z == pytest.approx(expected, rel=1e-12)
    assert p == pytest.approx(2 * norm.sf(abs(expected)), rel=1e-12)


def test_steiger_published_values():
    # Steiger (1980), Psychological Bulletin 87, p. 249, case A: r.jk=.4, r.jh=.5, r.kh=.1, n=103.
    # The value -0.8887185 is the one the cocor R package's test suite asserts for it
    # (cran/cocor tests/testthat/tests.r; the paper prints -.8913 from rounded intermediates).
    z, _ = steiger_z_test(0.4, 0.5, 0.1, 103)
    assert round(z, 7) == -0.8887185
    # depcor (Silver, Hittner & May 2006, Applied Psychological Measurement 30:152), as
    # asserted in the same cocor tests: (.3, .4, .5, n=100) gives z = -1.0718, p = 0.2838.
    z, p = steiger_z_test(0.3, 0.4, 0.5, 100)
    assert round(z, 4) == -1.0718 and round(p, 4) == 0.2838


def test_dependent_tests_undefined_for_tiny_samples():
    assert all(math.isnan(v) for v in seed_dependent_corr_test(0.3, 0.4, 0.5, 3))
    assert all(math.isnan(v) for v in steiger_z_test(0.3, 0.4, 0.5, 3))
    assert all(math.isnan(v) for v in steiger_z_test(1.0, 0.4, 0.5, 50))
    assert all(math.isnan(v) for v in steiger_z_test(0.4, 0.9999999999999999, 0.5, 50))


def test_dependent_corr_table_over_complete_cases():
    estimates = estimates_frame()
    table = dependent_corr_table(estimates).set_index("comparison")
    assert list(table.index) == ["CPC-YT", "CPC-WA", "CPC-Tor"]
    assert list(table.columns) == [
        "r_ab", "r_ac", "r_bc", "n", "t_value", "p_value", "steiger_z", "steiger_p", "williams_t", "williams_p"
    ]
    tested = estimates[estimates["sv_com_17_21"].notna()]
    for comparison, x in [("CPC-YT", "yt_per_1000"), ("CPC-WA", "wa_per_1000"), ("CPC-Tor", "tor_per_1000")]:
        complete = tested[tested["cpc_per_1000"].notna() & (tested[x] > 0)]
        r_ab = rank_correlation(complete[x], complete["sv_com_17_21"])
        r_ac = rank_correlation(complete["cpc_per_1000"], complete["sv_com_17_21"])
        r_bc = rank_correlation(complete[x], complete["cpc_per_1000"])
        row = table.loc[comparison]
        assert row["n"] == len(complete)
        assert (row["r_ab"], row["r_ac"], row["r_bc"]) == pytest.approx((r_ab, r_ac, r_bc))
        n = len(complete)
        expected_t = (r_ab - r_ac) / math.sqrt((1 - r_bc**2) / (n - 3))
        assert row["t_value"] == pytest.approx(expected_t)
        assert row["p_value"] == pytest.approx(2 * t.sf(abs(expected_t), n - 2))
        assert (row["steiger_z"], row["steiger_p"]) == pytest.approx(steiger_z_test(r_ab, r_ac, r_bc, n))
    assert table.loc["CPC-YT", "n"] == 5 and table.loc["CPC-WA", "n"] == 6


def test_summary_by_hand():
    result = summary(estimates_frame(), "Tor", 0.011, 2267628 / 5437248, 105 / 253)
    assert result["n_communes"] == 8 and result["n_tested"] == 7
    # both sums over the communes with cpc and Tor: 06088, 2A004, 75056, 33063, 31555 (69123 has cpc
    # but no Tor, 54395 and 13055 Tor but no cpc: the seed would count them on one side only)
    cpc_sum = 2.0 + 1.0 + 3.0 + 5.0 + 1.5
    tor_sum = 100.0 + 50.0 + 70.0 + 40.0 + 30.0
    assert result["cpc_share_of_tor"] == pytest.approx(cpc_sum / tor_sum)
    assert result["cpc_share_of_tor_rows"] == 5 and result["cpc_share_of_tor_rows_left_out"] == 3
    assert result["global_csam_share"] == pytest.approx(0.011 * 0.4170544 * 0.4150198, rel=1e-6)
    c = [0.001, 0.0005, 0.0008, 0.0012, 0.0009, 0.0004]
    assert result["mean_c"] == pytest.approx(sum(c) / 6)
    assert result["median_c"] == pytest.approx((0.0008 + 0.0009) / 2)
    assert all(type(v) in (int, float) for v in result.values())
    json.dumps(result, allow_nan=False)


def test_summary_nan_becomes_null():
    estimates = estimates_frame().assign(c=np.nan, cpc=np.nan)
    result = summary(estimates, "Tor", 0.011, 0.5, 0.5)
    assert result["mean_c"] is None and result["median_c"] is None
    assert result["cpc_share_of_tor"] is None  # no commune with both: 0 / 0
    assert result["cpc_share_of_tor_rows"] == 0 and result["cpc_share_of_tor_rows_left_out"] == 8


class Files(SimpleNamespace):
    """snakemake.input / .output: attributes plus keys()."""

    def keys(self):
        return list(vars(self))


OUTPUTS = ["association_adjusted.csv", "dependent_corr.csv", "regression.csv", "spearman.csv", "summary.json"]


def run_main(tmp_path, estimates_path, min_coverage=0.0, **inputs):
    out = tmp_path / "DL"
    shares = {"tor_to_darknet_share": 0.011, "porn_in_darknet_share": 0.5, "csam_in_porn_share": 0.5}
    smk = SimpleNamespace(
        input=Files(estimates=str(estimates_path), **{k: str(v) for k, v in inputs.items()}),
        params=SimpleNamespace(
            apps=APPS, shares=shares, min_coverage=min_coverage, size_adjustment={"spline_df": 6},
            inference={"min_clusters": 10, "wild_bootstrap_draws": 99, "seed": 1},
            crime_years=[17, 18, 19, 20, 21],
        ),
        output=Files(**{name.split(".")[0]: str(out / name) for name in OUTPUTS}),
        log=[str(tmp_path / "association.log")],
    )
    saved = sys.stderr
    sys.stderr = open(smk.log[0], "w")
    try:
        association_tests.main(smk)
    finally:
        sys.stderr.close()
        sys.stderr = saved
    return out


def test_main_writes_outputs(tmp_path):
    estimates = estimates_frame()
    estimates.to_csv(tmp_path / "cpc_com.csv", index=False)
    out = run_main(tmp_path, tmp_path / "cpc_com.csv")
    spearman = pd.read_csv(out / "spearman.csv")
    pd.testing.assert_frame_equal(spearman, spearman_table(estimates))
    assert list(pd.read_csv(out / "dependent_corr.csv")["comparison"]) == ["CPC-YT", "CPC-WA", "CPC-Tor"]
    text = (out / "summary.json").read_text()
    loaded = json.loads(text)
    assert list(loaded) == sorted(loaded) and loaded["n_tested"] == 7
    assert loaded["global_csam_share"] == pytest.approx(0.011 * 0.25)
    assert sorted(p.name for p in out.iterdir()) == OUTPUTS
    assert "yt_per_1000: 1 tested communes with a non-finite log value left out" in (tmp_path / "association.log").read_text()


def test_main_reads_published_semicolon_table(tmp_path):
    estimates = estimates_frame()
    estimates.to_csv(tmp_path / "published.csv", index=False, sep=";")
    out = run_main(tmp_path, tmp_path / "published.csv")
    assert json.loads((out / "summary.json").read_text())["n_communes"] == 8
    table = read_estimate_table(tmp_path / "published.csv", APPS)
    assert table["code_com"].tolist()[:2] == ["06088", "2A004"]


@pytest.mark.parametrize("fault", ["repeated commune", "covariate repeated", "word in Tor"])
def test_a_bad_input_stops_the_job_before_any_output(tmp_path, fault):
    estimates = estimates_frame()
    inputs = {}
    if fault == "repeated commune":
        estimates = pd.concat([estimates, estimates.iloc[[2]].assign(cpc=7.0)], ignore_index=True)
        expected = "code_com 54395 appears on line 4 and line 10 with different cpc (an empty field and 7)"
    elif fault == "word in Tor":
        estimates = estimates.astype({"Tor": object})
        estimates.loc[1, "Tor"] = "n/a"
        expected = "line 3, column Tor: 'n/a' is not a number"
    else:
        (tmp_path / "covariates.csv").write_text("code_com,density\n06088,1\n6088,2\n")
        inputs["covariates"] = tmp_path / "covariates.csv"
        expected = "code_com 06088 appears on line 2 and line 3 with different density (1 and 2)"
    estimates.to_csv(tmp_path / "cpc_com.csv", index=False)
    with pytest.raises(InputError, match=re.escape(expected)):
        run_main(tmp_path, tmp_path / "cpc_com.csv", **inputs)
    assert not (tmp_path / "DL").exists()


def test_missing_columns_name_the_file(tmp_path):
    estimates_frame().drop(columns=["c", "Tor"]).to_csv(tmp_path / "cpc_com.csv", index=False)
    with pytest.raises(InputError, match=r"cpc_com.csv: missing column\(s\) c, Tor"):
        read_estimate_table(tmp_path / "cpc_com.csv", APPS)


def test_quality_totals_sum_the_per_file_counts():
    from netmob_cpc.statistics import quality_totals

    qc = pd.DataFrame(
        {
            "lines": [10, 12], "blank_lines": [0, 1], "crlf_lines": [0, 12], "empty_fields": [2, 0],
            "nan_fields": [1, 1], "negative_values": [0, 0], "duplicate_tiles": [1, 0], "unmapped_tiles": [3, 4],
            "unmapped_traffic": [5.0, 15.0], "total_traffic": [100.0, 300.0], "all_zero": [False, True],
        }
    )
    totals = quality_totals(qc)
    assert totals["files"] == 2 and totals["lines"] == 22 and totals["crlf_lines"] == 12
    assert totals["empty_fields"] == 2 and totals["nan_fields"] == 2 and totals["all_zero_files"] == 1
    assert totals["unmapped_traffic_share"] == pytest.approx(20 / 400)
    assert "parser" not in totals


def test_quality_totals_say_when_the_fallback_parser_ran():
    from netmob_cpc.statistics import quality_totals

    base = {"lines": [1, 1], "unmapped_traffic": [0.0, 0.0], "total_traffic": [1.0, 1.0], "all_zero": [False, False],
            "truncated": [False, True]}
    native = quality_totals(pd.DataFrame({**base, "parser": ["native", "native"]}))
    assert native["parser"] == "native" and native["files_parsed_by_fallback"] == 0
    assert native["truncated_files"] == 1
    mixed = quality_totals(pd.DataFrame({**base, "parser": ["native", "pyarrow"]}))
    assert mixed["parser"] == "pyarrow" and mixed["files_parsed_by_fallback"] == 1


def test_main_writes_the_new_tables_and_counts(tmp_path):
    estimates = estimates_frame().assign(
        coverage=[1.0, 0.9, 0.2, 1.0, 1.0, 1.0, 1.0, np.nan],
        c_floored=[False, True, False, False, False, False, False, False],
    )
    estimates.loc[3, "pop"] = 0.0  # 69123: no usable population
    estimates.to_csv(tmp_path / "cpc_com.csv", index=False)
    covariates = tmp_path / "covariates.csv"
    covariates.write_text("code_com,density\n" + "\n".join(
        f"{code},{value}" for code, value in zip(estimates["code_com"], [5, 1, 7, 2, 8, 3, 9, 4])) + "\n")
    out = run_main(tmp_path, tmp_path / "cpc_com.csv", min_coverage=0.5, covariates=covariates)
    loaded = json.loads((out / "summary.json").read_text())
    # tested: sv_com_17_21 present (7), minus 69123 (pop 0), minus 54395 (coverage 0.2)
    assert loaded["n_tested"] == 5 and loaded["n_communes"] == 8
    assert loaded["n_communes_without_population"] == 1 and loaded["n_below_min_coverage"] == 1
    assert loaded["n_c_floored"] == 1 and loaded["n_c_floored_tested"] == 1
    assert loaded["n_communes_without_published_rate"] == 1 and loaded["n_communes_without_crime_rate"] == 0
    spearman = pd.read_csv(out / "spearman.csv")
    assert spearman.loc[spearman["x"] == "wa_per_1000", "n"].item() == 5
    adjusted = pd.read_csv(out / "association_adjusted.csv")
    assert list(adjusted.columns) == ["x", "y", "analysis", "rho", "pvalue", "n"] and len(adjusted) == 20
    regression = pd.read_csv(out / "regression.csv")
    assert "cpc_on_sv_controls" in set(regression["model"]) and "density" in set(regression["term"])
    dependent = pd.read_csv(out / "dependent_corr.csv")
    assert {"williams_t", "williams_p", "steiger_z", "steiger_p"} <= set(dependent.columns)
    log = (tmp_path / "association.log").read_text()
    assert "8 communes, 5 tested" in log and "1 without a usable population" in log
    assert "1 below min_coverage 0.5" in log and "covariates.csv: 8 communes, 1 covariate(s) (density)" in log


def test_main_fails_when_no_commune_can_be_tested(tmp_path):
    estimates_frame().assign(sv_com_17_21=np.nan).to_csv(tmp_path / "cpc_com.csv", index=False)
    with pytest.raises(InputError, match="no commune can be tested: no commune of the estimate table has a published"):
        run_main(tmp_path, tmp_path / "cpc_com.csv")
    assert not (tmp_path / "DL").exists()
