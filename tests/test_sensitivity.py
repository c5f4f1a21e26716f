"""Sensitivity to the Tor-to-darknet share, the floored factors and the outage dates;
bootstrap intervals of the Spearman rhos (communes and whole cities resampled) and of the
paired differences; and (end to end, marked `workflow`) the three rules of
rules/robustness.smk, including the smoothed rankings."""

import json
import time
import tracemalloc
from itertools import combinations_with_replacement
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from netmob_cpc.estimates import METHODS, estimate_table
from netmob_cpc.rankstats import commune_correlations
from netmob_cpc.files import InputError
from netmob_cpc.sensitivity import (
    bootstrap_indices,
    bootstrap_weights,
    city_bootstrap_weights,
    correction_methods_ci_table,
    difference_ci_table,
    factor_ratio,
    floored_communes,
    method_log_rates,
    outage_dropped_inputs,
    percentile_interval,
    published_sensitivity_table,
    resample_weights,
    sensitivity_table,
    spearman_ci_table,
    spearman_from_weights,
    spearmans_from_weights,
)
from netmob_cpc.statistics import correction_methods_table, log_test_table, spearman_table, summary
from workflow_runner import InBackground, background_snakemake, made_in_background, wait_for

APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}
SHARES = {"tor_to_darknet_share": 0.011, "porn_in_darknet_share": 2267628 / 5437248, "csam_in_porn_share": 105 / 253}
FLOOR = 0.00001
BOUNDS = [0.011, 0.034, 0.078]
SENSITIVITY_COLUMNS = [
    "tor_to_darknet_share", "method", "analysis", "global_csam_share", "cpc_share_of_tor", "mean_c", "median_c",
    "floored", "rho", "pvalue", "n",
]


def communes():
    """Seven communes: one with a negative correlation (floored), one without a correlation,
    one without a crime rate. Commune 06004's floored factor puts it between the others at
    0.011 and below all of them at 0.078, so that rho changes with the share."""
    codes = ["06001", "06002", "06003", "06004", "06005", "06006", "06007"]
    totals = pd.DataFrame(
        {
            "cities": "Nice",
            "code_com": codes,
            "code_dep": "06",
            "porn": [5e6, 2e6, 8e6, 1e6, 3e6, 4e6, 6e6],
            "tor": [2e5, 1e5, 3e5, 4e7, 5e4, 2e5, 1e5],
            "control": [9e7, 3e7, 1e8, 2e7, 5e7, 6e7, 7e7],
            "pop": [10_000.0, 3_000.0, 20_000.0, 2_000.0, 1_500.0, 8_000.0, 5_000.0],
        }
    )
    correlations = pd.DataFrame(
        {
            "code_com": codes,
            "pearson_log": [0.6, 0.3, 0.45, -0.2, 0.8, np.nan, 0.1],
            "spearman_log": [0.55, 0.35, 0.4, -0.1, 0.7, np.nan, 0.2],
            "n_hours": 1000,
        }
    )
    crime = pd.DataFrame(
        {
            "code_com": codes,
            "sv_19": 1.0, "sv_17_21": 1.0, "sv_com_19": 1.0,
            "sv_com_17_21": [2.0, 1.5, 1.8, 1.2, 3.0, 1.1, np.nan],
        }
    )
    return totals, correlations, crime


def estimates_of(totals, correlations, crime, shares=SHARES):
    return estimate_table(
        totals, correlations, crime, apps=APPS, direction="DL", shares=shares, method="pearson_log",
        negative_factor_floor=FLOOR,
    )


def factors_by_hand(correlations, codes, share, method):
    """(c, floored) of one method, written out: c1 r s, c2 r^2 s (floored when r < 0, as
    c1), c4 Spearman r s, c3 (r - mean r + 1) x the global share; negative -> the floor."""
    r = correlations.set_index("code_com").reindex(codes)
    scale = share * SHARES["csam_in_porn_share"]
    pearson = r["pearson_log"].to_numpy()
    if method == "pearson_log":
        c, negative = pearson * scale, pearson < 0
    elif method == "pearson_log_squared":
        c, negative = pearson**2 * scale, pearson < 0
    elif method == "spearman_log":
        c = r["spearman_log"].to_numpy() * scale
        negative = c < 0
    else:
        c = (pearson - np.nanmean(pearson) + 1) * scale * SHARES["porn_in_darknet_share"]
        negative = c < 0
    return np.where(negative, FLOOR, c), negative


def by_hand(totals, correlations, crime, share, method, drop_floored=False):
    """A straightforward transcription: c, cpc, headline shares and rho of one method."""
    codes = totals["code_com"]
    c, floored = factors_by_hand(correlations, codes, share, method)
    tor, pop = totals["tor"].to_numpy(), totals["pop"].to_numpy()
    sv = crime.set_index("code_com").reindex(codes)["sv_com_17_21"].to_numpy()
    if drop_floored:
        keep = ~floored
        c, tor, pop, sv = c[keep], tor[keep], pop[keep], sv[keep]
    cpc = tor * c
    log_rate = np.log(cpc * 1000 / pop)
    use = ~np.isnan(sv) & np.isfinite(log_rate)
    result = spearmanr(log_rate[use], sv[use])
    return {
        "cpc_share_of_tor": cpc[~np.isnan(cpc) & ~np.isnan(tor)].sum() / tor[~np.isnan(cpc) & ~np.isnan(tor)].sum(),
        "mean_c": np.nanmean(c),
        "median_c": np.nanmedian(c),
        "floored": 0 if drop_floored else int(floored.sum()),
        "rho": result.statistic,
        "pvalue": result.pvalue,
        "n": int(use.sum()),
    }


def test_sensitivity_table_matches_a_transcription_of_each_share_method_and_analysis():
    totals, correlations, crime = communes()
    estimates = estimates_of(totals, correlations, crime)
    table = sensitivity_table(
        estimates, correlations, tor_column="Tor", shares=SHARES, tor_share_bounds=BOUNDS, negative_factor_floor=FLOOR
    )
    assert list(table.columns) == SENSITIVITY_COLUMNS
    assert len(table) == 24
    # the rows of all communes first, in the order of the earlier table, then without floored
    assert table["analysis"].tolist() == ["all"] * 12 + ["without_floored"] * 12
    assert table["method"].tolist()[:4] == list(METHODS)
    for row in table.itertuples():
        expected = by_hand(
            totals, correlations, crime, row.tor_to_darknet_share, row.method, row.analysis == "without_floored"
        )
        assert row.global_csam_share == pytest.approx(
            row.tor_to_darknet_share * 2267628 / 5437248 * 105 / 253, rel=1e-12
        )
        for key, value in expected.items():
            assert getattr(row, key) == pytest.approx(value, rel=1e-12), (row.tor_to_darknet_share, row.method, key)
    # 06004 (r = -0.2) is floored under c1, c2 (floored as c1) and c4; c3 centres r first
    floored = table[table["analysis"] == "all"].groupby("method")["floored"].first()
    assert floored.to_dict() == {
        "pearson_log": 1, "pearson_log_squared": 1, "spearman_log": 1, "pearson_log_centered": 0,
    }
    pearson = table[(table["method"] == "pearson_log") & (table["analysis"] == "all")].set_index("tor_to_darknet_share")
    # the floored commune keeps its factor while the others grow: the ranking changes
    assert pearson.loc[0.011, "rho"] != pytest.approx(pearson.loc[0.078, "rho"])
    assert pearson.loc[0.078, "mean_c"] > 6 * pearson.loc[0.011, "mean_c"]


def test_without_floored_communes_the_share_cannot_change_rho():
    """Rescaling every c by one share leaves the ranks, hence rho, unchanged: without the
    floored communes rho, p and n are the same at every share; the means scale."""
    totals, correlations, crime = communes()
    estimates = estimates_of(totals, correlations, crime)
    table = sensitivity_table(
        estimates, correlations, tor_column="Tor", shares=SHARES, tor_share_bounds=BOUNDS, negative_factor_floor=FLOOR
    )
    without = table[table["analysis"] == "without_floored"]
    for method, rows in without.groupby("method"):
        rows = rows.set_index("tor_to_darknet_share")
        assert rows["rho"].nunique() == 1 and rows["n"].nunique() == 1, method
        assert rows["pvalue"].to_numpy() == pytest.approx([rows["pvalue"].iloc[0]] * 3, rel=1e-12)
        assert rows.loc[0.078, "mean_c"] / rows.loc[0.011, "mean_c"] == pytest.approx(0.078 / 0.011, rel=1e-12)
        assert (rows["floored"] == 0).all()
    # pearson_log: 06004 out, 06006 has no c, 06007 no crime rate: 4 communes tested
    row = without[(without["method"] == "pearson_log") & (without["tor_to_darknet_share"] == 0.011)].iloc[0]
    assert row["n"] == 4
    keep = ["06001", "06002", "06003", "06005"]
    t = totals.set_index("code_com").loc[keep]
    r = correlations.set_index("code_com").loc[keep, "pearson_log"]
    sv = crime.set_index("code_com").loc[keep, "sv_com_17_21"]
    assert row["rho"] == pytest.approx(spearmanr(t["tor"] * r / t["pop"], sv).statistic, rel=1e-12)


def test_configured_share_rows_equal_summary_and_correction_methods():
    totals, correlations, crime = communes()
    estimates = estimates_of(totals, correlations, crime)
    table = sensitivity_table(
        estimates, correlations, tor_column="Tor", shares=SHARES, tor_share_bounds=[0.011], negative_factor_floor=FLOOR
    )
    table = table[table["analysis"] == "all"].set_index("method")
    methods = correction_methods_table(totals, correlations, crime, shares=SHARES, negative_factor_floor=FLOOR)
    for row in methods.itertuples():
        assert table.loc[row.method, "rho"] == pytest.approx(row.rho, rel=1e-12)
        assert table.loc[row.method, "pvalue"] == pytest.approx(row.pvalue, rel=1e-9)
        assert table.loc[row.method, "n"] == row.n
    headline = summary(estimates, "Tor", *SHARES.values())
    for key in ("cpc_share_of_tor", "global_csam_share", "mean_c", "median_c"):
        assert table.loc["pearson_log", key] == pytest.approx(headline[key], rel=1e-12), key
    spearman = spearman_table(estimates).set_index(["x", "y"]).loc[("cpc_per_1000", "sv_com_17_21")]
    assert table.loc["pearson_log", "rho"] == pytest.approx(spearman["rho"], rel=1e-12)


def test_tested_communes_restrict_only_the_test():
    totals, correlations, crime = communes()
    estimates = estimates_of(totals, correlations, crime)
    tested = estimates["code_com"] != "06001"
    table = sensitivity_table(
        estimates, correlations, tor_column="Tor", shares=SHARES, tor_share_bounds=[0.011], negative_factor_floor=FLOOR,
        tested=tested.to_numpy(),
    )
    row = table[(table["analysis"] == "all") & (table["method"] == "pearson_log")].iloc[0]
    full = by_hand(totals, correlations, crime, 0.011, "pearson_log")
    assert row["mean_c"] == pytest.approx(full["mean_c"], rel=1e-12)  # headline: every commune
    assert row["n"] == full["n"] - 1
    rest = estimates[tested & estimates["sv_com_17_21"].notna() & estimates["cpc_per_1000"].notna()]
    assert row["rho"] == pytest.approx(spearmanr(np.log(rest["cpc_per_1000"]), rest["sv_com_17_21"]).statistic)


def test_published_table_rescaling_equals_recomputing_from_the_correlations():
    totals, correlations, crime = communes()
    estimates = estimates_of(totals, correlations, crime)
    from_table = published_sensitivity_table(
        estimates, tor_column="Tor", shares=SHARES, tor_share_bounds=BOUNDS, negative_factor_floor=FLOOR
    )
    assert from_table["method"].tolist() == ["pearson_log"] * 6
    assert from_table["analysis"].tolist() == ["all"] * 3 + ["without_floored"] * 3
    recomputed = sensitivity_table(
        estimates, correlations, tor_column="Tor", shares=SHARES, tor_share_bounds=BOUNDS, negative_factor_floor=FLOOR
    )
    recomputed = recomputed[recomputed["method"] == "pearson_log"].reset_index(drop=True)
    pd.testing.assert_frame_equal(from_table, recomputed, rtol=1e-12)
    # the table's own share reproduces summary.json and spearman.csv exactly
    row = from_table.iloc[0]
    headline = summary(estimates, "Tor", *SHARES.values())
    assert row["cpc_share_of_tor"] == headline["cpc_share_of_tor"]
    spearman = spearman_table(estimates).set_index(["x", "y"]).loc[("cpc_per_1000", "sv_com_17_21")]
    assert (row["rho"], row["n"]) == (spearman["rho"], spearman["n"])
    # the authors' table has no c_floored column: the floor is recognised from c itself
    authors = estimates.drop(columns=["c_floored"])
    pd.testing.assert_frame_equal(
        published_sensitivity_table(
            authors, tor_column="Tor", shares=SHARES, tor_share_bounds=BOUNDS, negative_factor_floor=FLOOR
        ),
        from_table,
    )


def test_floored_communes_from_the_flag_or_the_floor():
    table = pd.DataFrame({"c": [0.004, FLOOR, np.nan, 2e-6], "c_floored": [False, True, False, False]})
    assert floored_communes(table, FLOOR).tolist() == [False, True, False, True]
    assert floored_communes(table.drop(columns=["c_floored"]), FLOOR).tolist() == [False, True, False, True]
    table["c_floored"] = [True, False, False, False]  # the flag is taken as written
    assert floored_communes(table, FLOOR).tolist() == [True, True, False, True]


def test_factor_ratio_keeps_the_floor():
    c = [0.004, FLOOR, np.nan, 0.0]
    ratio = factor_ratio(c, [0.011] * 4, 0.034, [False, True, False, False])
    assert ratio[0] == pytest.approx(0.034 / 0.011)
    assert ratio[1] == 1.0
    assert ratio[3] == pytest.approx(0.034 / 0.011)
    # the published '11' (per mille) is read as 0.011 upstream; a per-row share is honoured
    assert factor_ratio([0.004], [0.034], 0.078, [False])[0] == pytest.approx(0.078 / 0.034)


def test_duplicate_correlations_are_named():
    totals, correlations, crime = communes()
    estimates = estimates_of(totals, correlations, crime)
    with pytest.raises(InputError, match="'06001' appears more than once"):
        sensitivity_table(
            estimates, pd.concat([correlations, correlations.iloc[:1]]), tor_column="Tor", shares=SHARES,
            tor_share_bounds=BOUNDS, negative_factor_floor=FLOOR,
        )


# --- outage dates dropped whole --------------------------------------------------------------

OUTAGE = 20190331
HOURLY_DATES = [20190330, OUTAGE, 20190401]


def hourly_series():
    """Hourly series of six communes over three days. On the outage day the porn traffic
    of communes 06001..06003 runs against Tor and some of their hours are 0, so the
    correlations with and without that day differ in sign for some communes."""
    rng = np.random.default_rng(7)
    codes = [f"0600{k}" for k in range(1, 7)]
    rows = []
    for k, code in enumerate(codes):
        for date in HOURLY_DATES:
            hours = np.arange(24)
            cycle = 1 + np.sin(hours / 24 * 2 * np.pi + k)
            tor = 1e4 * (cycle + 0.3 * rng.uniform(size=24))
            porn = 1e5 * (cycle + (0.2 + 0.3 * k) * rng.uniform(size=24))
            if date == OUTAGE and k < 3:
                porn = 1e5 * (2.5 - cycle) * rng.uniform(0.5, 1, size=24)
                porn[::5] = 0.0
            rows.append(pd.DataFrame({
                "cities": "Nice", "code_com": code, "code_dep": "06", "date": date, "hour": hours,
                "porn": porn, "tor": tor, "control": 5e5 * cycle,
            }))
    hourly = pd.concat(rows, ignore_index=True)
    hourly["date"] = hourly["date"].astype("int32")
    pop = pd.DataFrame({"code_com": codes, "pop": [12_000.0, 800.0, 4_000.0, 30_000.0, 2_500.0, 9_000.0]})
    crime = pd.DataFrame({
        "code_com": codes, "sv_19": 1.0, "sv_17_21": 1.0, "sv_com_19": 1.0,
        "sv_com_17_21": [2.5, 0.0, 1.7, 3.1, 0.9, 2.2],
    })
    return hourly, pop, crime


def correlations_by_hand(hourly, zero_replacement):
    """Per commune, numpy's Pearson and scipy's Spearman of log porn and log Tor."""
    rows = []
    for code, part in hourly.groupby("code_com"):
        porn = np.log(np.where(part["porn"] == 0, zero_replacement, part["porn"]))
        tor = np.log(np.where(part["tor"] == 0, zero_replacement, part["tor"]))
        rows.append({
            "code_com": code, "pearson_log": np.corrcoef(porn, tor)[0, 1],
            "spearman_log": spearmanr(porn, tor).statistic,
        })
    return pd.DataFrame(rows)


def test_outage_dates_dropped_whole_match_a_recomputation_by_hand():
    hourly, pop, crime = hourly_series()
    zero = 0.001
    totals = hourly.groupby(["cities", "code_com", "code_dep"])[["porn", "tor", "control"]].sum().reset_index()
    totals = totals.merge(pop, on="code_com")
    correlations = commune_correlations(hourly, zero)
    estimates = estimates_of(totals, correlations, crime)
    outage_correlations, outage_totals, dropped = outage_dropped_inputs(hourly, [str(OUTAGE)], zero)
    assert dropped == {OUTAGE: 6 * 24}
    table = sensitivity_table(
        estimates, correlations, tor_column="Tor", shares=SHARES, tor_share_bounds=BOUNDS, negative_factor_floor=FLOOR,
        outage=(outage_correlations, outage_totals),
    )
    assert table["analysis"].tolist() == ["all"] * 12 + ["without_floored"] * 12 + ["outage_dates_dropped"] * 12
    # by hand: the two other days only
    kept = hourly[hourly["date"] != OUTAGE]
    kept_correlations = correlations_by_hand(kept, zero)
    kept_totals = kept.groupby("code_com")[["tor"]].sum().reset_index().merge(pop, on="code_com")
    outage_rows = table[table["analysis"] == "outage_dates_dropped"]
    for row in outage_rows.itertuples():
        expected = by_hand(kept_totals, kept_correlations, crime, row.tor_to_darknet_share, row.method)
        for key, value in expected.items():
            assert getattr(row, key) == pytest.approx(value, rel=1e-9), (row.tor_to_darknet_share, row.method, key)
    # the outage day matters here: the correlations, hence rho, differ from the all rows
    full = by_hand(totals, correlations_by_hand(hourly, zero), crime, 0.011, "pearson_log")
    outage_row = outage_rows[(outage_rows["method"] == "pearson_log") & (outage_rows["tor_to_darknet_share"] == 0.011)]
    assert full["floored"] != outage_row["floored"].iloc[0] or full["rho"] != pytest.approx(outage_row["rho"].iloc[0])
    # no outage date: the rows equal those of all communes
    no_outage = sensitivity_table(
        estimates, correlations, tor_column="Tor", shares=SHARES, tor_share_bounds=BOUNDS, negative_factor_floor=FLOOR,
        outage=outage_dropped_inputs(hourly, [], zero)[:2],
    )
    same = no_outage[no_outage["analysis"] == "outage_dates_dropped"].drop(columns="analysis").reset_index(drop=True)
    first = no_outage[no_outage["analysis"] == "all"].drop(columns="analysis").reset_index(drop=True)
    pd.testing.assert_frame_equal(same, first, rtol=1e-12)


def test_a_commune_whose_hours_all_fall_on_outage_dates_has_no_estimate():
    hourly, pop, crime = hourly_series()
    hourly = hourly[(hourly["code_com"] != "06004") | (hourly["date"] == OUTAGE)]
    totals = hourly.groupby(["cities", "code_com", "code_dep"])[["porn", "tor", "control"]].sum().reset_index()
    totals = totals.merge(pop, on="code_com")
    correlations = commune_correlations(hourly, 0.001)
    estimates = estimates_of(totals, correlations, crime)
    outage = outage_dropped_inputs(hourly, [OUTAGE], 0.001)
    assert "06004" not in set(outage[0]["code_com"]) and "06004" not in set(outage[1]["code_com"])
    table = sensitivity_table(
        estimates, correlations, tor_column="Tor", shares=SHARES, tor_share_bounds=[0.011], negative_factor_floor=FLOOR,
        outage=outage[:2],
    )
    rows = table.set_index(["analysis", "method"])
    assert rows.loc[("outage_dates_dropped", "pearson_log"), "n"] == rows.loc[("all", "pearson_log"), "n"] - 1


# --- bootstrap -----------------------------------------------------------------------------


def loop_spearman(x, y, indices):
    """The plain way: scipy's spearmanr on each resample's finite pairs."""
    rhos = []
    for rows in indices:
        a, b = x[rows], y[rows]
        keep = np.isfinite(a) & np.isfinite(b)
        if keep.sum() < 3 or len(np.unique(a[keep])) < 2 or len(np.unique(b[keep])) < 2:
            rhos.append(np.nan)
        else:
            rhos.append(spearmanr(a[keep], b[keep]).statistic)
    return np.array(rhos)


def city_rows(cities, resamples, seed):
    """The rows of each city resample, concatenated explicitly: the sorted distinct cities
    drawn K times with replacement by default_rng(seed)."""
    names = sorted(set(cities))
    draws = np.random.default_rng(seed).integers(0, len(names), size=(resamples, len(names)))
    members = [np.flatnonzero(np.asarray(cities) == name) for name in names]
    return [np.concatenate([members[k] for k in draw]) for draw in draws], draws


def bootstrap_spearman(x, y, indices):
    """Spearman's rho of x and y in each resample (rows of `indices`), through the weights."""
    return spearman_from_weights(x, y, resample_weights(indices, len(x)))


def test_bootstrap_spearman_equals_a_loop_over_resamples():
    rng = np.random.default_rng(11)
    n = 60
    x = np.round(rng.normal(size=n), 1)  # many ties
    y = x + rng.normal(size=n)
    x[:5] = -np.inf
    y[10:14] = np.nan
    indices = bootstrap_indices(n, 300, seed=5)
    assert np.allclose(bootstrap_spearman(x, y, indices), loop_spearman(x, y, indices), rtol=0, atol=1e-12, equal_nan=True)


def test_several_x_against_one_y_equal_a_loop_over_resamples():
    """Three x's against one y: two leave the same finite rows (y's ranks are shared), one
    leaves fewer; each equals scipy on every resample, over more than one block."""
    rng = np.random.default_rng(12)
    n = 50
    y = np.round(rng.normal(size=n), 1)
    y[3] = np.inf
    xs = [y + rng.normal(size=n), np.round(rng.normal(size=n), 1), y - rng.normal(size=n)]
    xs[1][[7, 20, 21]] = np.nan
    indices = bootstrap_indices(n, 600, seed=8)  # 600 resamples: three blocks of 256
    rhos = spearmans_from_weights(xs, y, resample_weights(indices, n))
    assert rhos.shape == (3, 600)
    for x, rho in zip(xs, rhos):
        assert np.allclose(rho, loop_spearman(x, y, indices), rtol=0, atol=1e-12, equal_nan=True)
        assert rho.tolist() == bootstrap_spearman(x, y, indices).tolist()  # the numbers of one call per x


def test_bootstrap_spearman_undefined_resamples_are_nan():
    # 5 communes, only 3 with both values finite: many resamples hold fewer than 3 finite
    # pairs or a single distinct value
    x = np.array([1.0, 2.0, 3.0, np.nan, 5.0])
    y = np.array([2.0, 1.0, 4.0, 3.0, -np.inf])
    indices = bootstrap_indices(5, 400, seed=1)
    vectorised, expected = bootstrap_spearman(x, y, indices), loop_spearman(x, y, indices)
    assert np.isnan(expected).sum() > 50
    assert np.array_equal(np.isnan(vectorised), np.isnan(expected))
    assert np.allclose(vectorised, expected, atol=1e-12, equal_nan=True)


def test_bootstrap_indices_are_seeded():
    first, again = bootstrap_indices(50, 20, 20240601), bootstrap_indices(50, 20, 20240601)
    assert first.shape == (20, 50) and first.min() >= 0 and first.max() < 50
    assert np.array_equal(first, again)
    assert not np.array_equal(first, bootstrap_indices(50, 20, 1))
    with pytest.raises(ValueError, match="at least 1"):
        bootstrap_indices(50, 0, 1)


def test_percentile_interval():
    rhos = np.r_[np.linspace(0.0, 1.0, 201), np.nan, np.nan]
    low, high, used = percentile_interval(rhos)
    assert used == 201
    assert (low, high) == pytest.approx((0.025, 0.975))
    assert percentile_interval([np.nan])[2] == 0


# Three cities of two communes each. Worked out on paper (midranks, rho = Pearson of ranks):
#   {A, B, C}: x 1..6, y 1 3 2 4 6 5: sum d^2 = 4, rho = 1 - 6 x 4 / (6 x 35) = 31/35
#   {A, A, B}: rank x 1.5 3.5 1.5 3.5 5 6, rank y 1.5 4.5 1.5 4.5 3 6, deviations from 3.5:
#              sxy = 13.5, sxx = syy = 16.5, rho = 9/11
#   {A, A, C}: rank y 1.5 3.5 1.5 3.5 6 5: sxy = 15.5, rho = 31/33
#   {A, A, A}: x and y both increase within A: rho = 1; {C, C, C}: they cross: rho = -1
TINY_CITIES = pd.DataFrame({
    "cities": ["A", "A", "B", "B", "C", "C"],
    "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    "y": [1.0, 3.0, 2.0, 4.0, 6.0, 5.0],
})
BY_HAND = {("A", "B", "C"): 31 / 35, ("A", "A", "B"): 9 / 11, ("A", "A", "C"): 31 / 33, ("A", "A", "A"): 1.0, ("C", "C", "C"): -1.0}


def test_city_bootstrap_on_three_cities_by_hand():
    members = {name: TINY_CITIES.index[TINY_CITIES["cities"] == name] for name in "ABC"}
    # every multiset of 3 cities out of 3, by scipy on the explicitly concatenated rows
    every = {}
    for drawn in combinations_with_replacement("ABC", 3):
        rows = np.concatenate([members[name] for name in drawn])
        every[drawn] = spearmanr(TINY_CITIES["x"].to_numpy()[rows], TINY_CITIES["y"].to_numpy()[rows]).statistic
    for drawn, rho in BY_HAND.items():
        assert every[drawn] == pytest.approx(rho, abs=1e-12), drawn  # the paper arithmetic
    seed, resamples = 3, 40
    weights, names, draws = city_bootstrap_weights(TINY_CITIES["cities"], resamples, seed)
    assert names.tolist() == ["A", "B", "C"]
    expected_draws = np.random.default_rng(seed).integers(0, 3, size=(resamples, 3))
    assert np.array_equal(draws, expected_draws)
    # multiplicities: each commune as often as its city was drawn, 6 rows per resample
    assert np.array_equal(weights[:, 0], weights[:, 1]) and (weights.sum(axis=1) == 6).all()
    rhos = spearman_from_weights(TINY_CITIES["x"], TINY_CITIES["y"], weights)
    drawn = [tuple(sorted(names[draw])) for draw in draws]
    expected = np.array([every[key] for key in drawn])
    assert np.allclose(rhos, expected, atol=1e-12)
    assert {key for key in drawn} & set(BY_HAND) >= {("A", "B", "C"), ("A", "A", "B")}  # hand values in use
    low, high, used = percentile_interval(rhos)
    assert used == resamples
    assert (low, high) == pytest.approx(tuple(np.percentile(expected, [2.5, 97.5])), abs=1e-12)


def test_city_bootstrap_refuses_a_commune_without_a_city():
    with pytest.raises(InputError, match="column cities is empty"):
        city_bootstrap_weights(pd.Series(["A", None, "B"]), 10, 1)


def commune_table():
    """A test table (as log_test_table gives it) of 48 communes in 6 cities, with the
    city driving part of the crime rate, some non-finite values and ties."""
    rng = np.random.default_rng(4)
    n = 48
    cities = np.repeat(["Lyon", "Nice", "Nancy", "Lille", "Rennes", "Dijon"], 8)
    level = np.repeat(rng.normal(size=6), 8)
    tor = rng.normal(size=n) + level
    table = pd.DataFrame({
        "yt_per_1000": np.round(rng.normal(size=n), 1),
        "wa_per_1000": rng.normal(size=n) + 0.5 * level,
        "tor_per_1000": tor,
        "cpc_per_1000": tor + 0.5 * rng.normal(size=n),
        "sv_17_21": 1.0,
        "sv_com_17_21": np.round(np.exp(level + rng.normal(size=n)), 1),
    }, index=np.arange(100, 100 + n))
    table.iloc[:3, table.columns.get_loc("cpc_per_1000")] = -np.inf
    table.iloc[5, table.columns.get_loc("wa_per_1000")] = np.nan
    table.iloc[7, table.columns.get_loc("sv_com_17_21")] = 0.0
    return table, pd.Series(cities, index=table.index)


def test_spearman_ci_commune_and_city_intervals_against_explicit_resamples():
    test, cities = commune_table()
    resamples, seed = 200, 20240601
    weights, city_weights, names = bootstrap_weights(cities, resamples, seed)
    assert len(names) == 6
    ci = spearman_ci_table(test, weights, city_weights)
    assert list(ci.columns) == [
        "x", "y", "rho", "ci_low", "ci_high", "resamples", "ci_low_city", "ci_high_city", "resamples_city",
    ]
    indices = bootstrap_indices(len(test), resamples, seed)
    rows_of_cities, _ = city_rows(cities.to_numpy(), resamples, seed)
    for row in ci.itertuples():
        x, y = test[row.x].to_numpy(), test[row.y].to_numpy()
        keep = np.isfinite(x) & np.isfinite(y)
        assert row.rho == pytest.approx(spearmanr(x[keep], y[keep]).statistic, rel=1e-12)
        rhos = loop_spearman(x, y, indices)
        assert row.resamples == np.isfinite(rhos).sum()
        assert (row.ci_low, row.ci_high) == pytest.approx(tuple(np.nanpercentile(rhos, [2.5, 97.5])), abs=1e-12)
        city_rhos = loop_spearman(x, y, rows_of_cities)
        assert row.resamples_city == np.isfinite(city_rhos).sum()
        assert (row.ci_low_city, row.ci_high_city) == pytest.approx(
            tuple(np.nanpercentile(city_rhos, [2.5, 97.5])), abs=1e-12
        )
    # the crime rate follows the city: resampling cities widens the cpc interval
    cpc = ci[ci["x"] == "cpc_per_1000"].iloc[0]
    assert cpc.ci_high_city - cpc.ci_low_city > cpc.ci_high - cpc.ci_low


def test_difference_intervals_are_paired_and_match_explicit_resamples():
    test, cities = commune_table()
    resamples, seed = 150, 11
    weights, city_weights, _ = bootstrap_weights(cities, resamples, seed)
    table = difference_ci_table(test, weights, city_weights)
    assert list(table.columns) == [
        "x", "y", "rho_cpc", "rho_x", "difference", "n", "ci_low", "ci_high", "resamples",
        "ci_low_city", "ci_high_city", "resamples_city",
    ]
    assert table["x"].tolist() == ["yt_per_1000", "wa_per_1000", "tor_per_1000"]
    indices = bootstrap_indices(len(test), resamples, seed)
    rows_of_cities, _ = city_rows(cities.to_numpy(), resamples, seed)
    y = test["sv_com_17_21"].to_numpy()
    cpc = test["cpc_per_1000"].to_numpy()
    for row in table.itertuples():
        x = test[row.x].to_numpy()
        complete = np.isfinite(x) & np.isfinite(cpc) & np.isfinite(y)
        rho_cpc = spearmanr(cpc[complete], y[complete]).statistic
        rho_x = spearmanr(x[complete], y[complete]).statistic
        assert (row.rho_cpc, row.rho_x, row.n) == (pytest.approx(rho_cpc), pytest.approx(rho_x), complete.sum())
        assert row.difference == pytest.approx(rho_cpc - rho_x, abs=1e-12)
        for drawn_rows, low, high, used in (
            (indices, row.ci_low, row.ci_high, row.resamples),
            (rows_of_cities, row.ci_low_city, row.ci_high_city, row.resamples_city),
        ):
            differences = []
            for rows in drawn_rows:  # both rhos on the same drawn communes
                rows = rows[complete[rows]]
                differences.append(
                    spearmanr(cpc[rows], y[rows]).statistic - spearmanr(x[rows], y[rows]).statistic
                    if len(rows) >= 3 else np.nan
                )
            differences = np.array(differences)
            assert used == np.isfinite(differences).sum()
            assert (low, high) == pytest.approx(tuple(np.nanpercentile(differences, [2.5, 97.5])), abs=1e-12)
    # paired, not the difference of two independent intervals: rho_cpc and rho_tor move
    # together (cpc is Tor plus noise), so the interval is narrower than either rho's
    tor = table[table["x"] == "tor_per_1000"].iloc[0]
    ci = spearman_ci_table(test, weights, city_weights).set_index("x")
    assert tor.ci_high - tor.ci_low < ci.loc["tor_per_1000", "ci_high"] - ci.loc["tor_per_1000", "ci_low"]


def test_correction_methods_ci_against_spearman_ci_and_a_loop():
    totals, correlations, crime = communes()
    rng = np.random.default_rng(2)
    many = []
    for k in range(12):
        part_totals = totals.assign(
            cities=f"City{k % 4}", code_com=totals["code_com"] + f"-{k}", tor=totals["tor"] * rng.uniform(0.5, 2, 7)
        )
        part_corr = correlations.assign(
            code_com=part_totals["code_com"], pearson_log=correlations["pearson_log"] + rng.normal(0, 0.05, 7)
        )
        part_crime = crime.assign(
            code_com=part_totals["code_com"], sv_com_17_21=crime["sv_com_17_21"] * rng.uniform(0.8, 1.2, 7)
        )
        many.append((part_totals, part_corr, part_crime))
    totals, correlations, crime = (pd.concat(parts, ignore_index=True) for parts in zip(*many))
    estimates = estimates_of(totals, correlations, crime)
    test = log_test_table(estimates)
    weights, city_weights, _ = bootstrap_weights(estimates.loc[test.index, "cities"], 400, 20240601)
    ci = spearman_ci_table(test, weights, city_weights)
    spearman = spearman_table(estimates)
    assert ci[["x", "y"]].values.tolist() == spearman[["x", "y"]].values.tolist()
    assert ci["rho"].tolist() == spearman["rho"].tolist()
    rates = method_log_rates(estimates, correlations, tor_column="Tor", shares=SHARES, negative_factor_floor=FLOOR)
    methods_ci = correction_methods_ci_table(test, rates, weights, city_weights)
    methods = correction_methods_table(totals, correlations, crime, shares=SHARES, negative_factor_floor=FLOOR)
    assert methods_ci["method"].tolist() == list(METHODS)
    assert methods_ci["rho"].to_numpy() == pytest.approx(methods["rho"].to_numpy(), rel=1e-12)
    # same communes, same resamples: the configured method's intervals are cpc_per_1000's
    cpc_row = ci[(ci["x"] == "cpc_per_1000") & (ci["y"] == "sv_com_17_21")].iloc[0]
    pearson_row = methods_ci[methods_ci["method"] == "pearson_log"].iloc[0]
    for column in ("ci_low", "ci_high", "ci_low_city", "ci_high_city"):
        assert pearson_row[column] == pytest.approx(cpc_row[column], abs=1e-12), column
    indices = bootstrap_indices(len(test), 400, 20240601)
    for row in methods_ci.itertuples():
        rhos = loop_spearman(rates.loc[test.index, row.method].to_numpy(), test["sv_com_17_21"].to_numpy(), indices)
        assert (row.ci_low, row.ci_high) == pytest.approx(tuple(np.nanpercentile(rhos, [2.5, 97.5])), abs=1e-12)


def test_bootstrap_of_the_real_size_is_fast_and_small():
    """1,341 communes in 20 cities, 2,000 resamples of communes and of cities, every table
    of the bootstrap rule: seconds, and well under 1 GB of arrays."""
    rng = np.random.default_rng(0)
    n = 1341
    test = pd.DataFrame({column: rng.normal(size=n) for column in ["yt_per_1000", "wa_per_1000", "tor_per_1000", "cpc_per_1000"]})
    test["sv_17_21"] = 1.0
    test["sv_com_17_21"] = np.round(rng.gamma(2, 1, size=n), 2)
    test.loc[:20, "cpc_per_1000"] = -np.inf
    cities = pd.Series(rng.integers(0, 20, size=n).astype(str))
    rates = pd.DataFrame({method: rng.normal(size=n) for method in METHODS})
    tracemalloc.start()
    started = time.perf_counter()
    weights, city_weights, _ = bootstrap_weights(cities, 2000, 20240601)
    spearman_ci_table(test, weights, city_weights)
    difference_ci_table(test, weights, city_weights)
    correction_methods_ci_table(test, rates, weights, city_weights)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"\nbootstrap, 2000 resamples x {n} communes, communes and cities: {elapsed:.2f} s, peak {peak / 1e6:.0f} MB")
    assert elapsed < 60
    assert peak < 600e6


def test_resample_weights_count_the_draws():
    weights = resample_weights(np.array([[0, 0, 2], [1, 2, 2]]), 3)
    assert weights.tolist() == [[2.0, 0.0, 1.0], [0.0, 1.0, 2.0]]


# --- the entry scripts, without Snakemake ---------------------------------------------------


class Files(SimpleNamespace):
    """Snakemake's named lists, as far as the entry scripts use them."""

    def keys(self):
        return self.__dict__.keys()

    def __getitem__(self, name):
        return self.__dict__[name]


def test_entry_scripts_write_the_tables(tmp_path):
    import bootstrap_intervals
    import sensitivity

    hourly, pop, crime = hourly_series()
    totals = hourly.groupby(["cities", "code_com", "code_dep"])[["porn", "tor", "control"]].sum().reset_index()
    totals = totals.merge(pop, on="code_com")
    totals.loc[totals["code_com"] == "06004", "cities"] = "Lyon"
    correlations = commune_correlations(hourly, 0.001)
    estimates_of(totals, correlations, crime).to_csv(tmp_path / "cpc_com.csv", index=False)
    correlations.to_parquet(tmp_path / "correlations.parquet")
    hourly.to_parquet(tmp_path / "hourly.parquet")
    params = dict(
        apps=APPS, shares=SHARES, negative_factor_floor=FLOOR, zero_replacement=0.001, min_coverage=0,
    )
    inputs = Files(
        estimates=str(tmp_path / "cpc_com.csv"), correlations=str(tmp_path / "correlations.parquet"),
        hourly=str(tmp_path / "hourly.parquet"),
    )
    sensitivity.main(SimpleNamespace(
        input=inputs, output=Files(sensitivity=str(tmp_path / "sensitivity.csv")),
        params=SimpleNamespace(**params, tor_share_bounds=BOUNDS, outage_dates=[str(OUTAGE)]),
    ))
    table = pd.read_csv(tmp_path / "sensitivity.csv")
    assert list(table.columns) == SENSITIVITY_COLUMNS and len(table) == 36
    outputs = Files(**{name: str(tmp_path / f"{name}.csv") for name in ("spearman_ci", "difference_ci", "correction_methods_ci")})
    bootstrap_intervals.main(SimpleNamespace(
        input=inputs, output=outputs, params=SimpleNamespace(**params, bootstrap={"resamples": 50, "seed": 1}, inference={"min_clusters": 10}),
    ))
    spearman_ci = pd.read_csv(tmp_path / "spearman_ci.csv")
    assert len(spearman_ci) == 5 and spearman_ci["resamples"].max() <= 50
    # two cities (Nice, Lyon): a city resample is all Nice, all Lyon (one commune) or both
    assert spearman_ci["resamples_city"].min() < 50
    assert len(pd.read_csv(tmp_path / "difference_ci.csv")) == 3
    assert len(pd.read_csv(tmp_path / "correction_methods_ci.csv")) == 4


# --- the three rules end to end ----------------------------------------------------------


ROBUSTNESS_FILES = ["sensitivity.csv", "spearman_ci.csv", "difference_ci.csv", "ranking.csv"]
TRAFFIC_ONLY_FILES = [
    "correction_methods_ci.csv", "heatmap_smoothed_10.csv", "heatmap_smoothed_rank1.csv",
    "heatmap_smoothed_rank2.csv", "heatmap_smoothed_rank3.csv",
]
PUBLISHED_HEADER = (
    "cities;code_com;traffic_dir;level_0;index;Web_Adult;Tor;YouTube;c;pop;Tor_to_darknet_share;"
    "Pornography_in_darknet_URL_share;Child_pornography_to_pornography_in_darknet_URL_share;cpc;cpc_per_1000;"
    "log_cpc;log_cpc_per_1000;yt_per_1000;wa_per_1000;tor_per_1000;log_yt_per_1000;log_wa_per_1000;"
    "log_tor_per_1000;sv_19;sv_17_21;sv_com_19;sv_com_17_21"
).split(";")


# Three cities of the synthetic data set over five days that include the outage date
# 2019-03-31; every other key takes its default from config/schema.yaml.
ROBUSTNESS_CONFIG = {
    "synthetic": {"enabled": True, "grid_scale": 0.08},
    "cities": ["Nice", "Nancy", "Lyon"],
    "period": {"start": "2019-03-29", "end": "2019-04-02"},
    "days_per_job": 3,
}
RESULTS = "results"  # the default results_dir


def write_run_config(folder, overrides):
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(overrides, sort_keys=False))


@made_in_background("robustness_runs")
def start_robustness_runs(root, log_dir):
    """The synthetic configuration run with the robustness targets, then the same
    estimates written in the authors' published layout and run in published-table mode;
    in the background from the session's start (conftest.py)."""
    traffic, table_mode = root / "traffic", root / "published"
    write_run_config(traffic, ROBUSTNESS_CONFIG)

    def published_layout(_):
        estimates = pd.read_csv(traffic / RESULTS / "DL" / "cpc_com.csv", dtype={"code_com": str, "code_dep": str})
        layout = estimates.assign(level_0=range(len(estimates)), index=range(len(estimates)), Tor_to_darknet_share=11)
        table_mode.mkdir()
        layout[PUBLISHED_HEADER].to_csv(table_mode / "authors_cpc_com.csv", sep=";", index=False)
        write_run_config(
            table_mode, {"estimates_table": "authors_cpc_com.csv", "cities": ROBUSTNESS_CONFIG["cities"]}
        )

    return InBackground([
        background_snakemake(
            traffic, *[f"{RESULTS}/DL/{name}" for name in ROBUSTNESS_FILES + TRAFFIC_ONLY_FILES],
            f"{RESULTS}/DL/summary.json", f"{RESULTS}/DL/correction_methods.csv", f"{RESULTS}/DL/heatmap_rank1.csv",
        ),
        published_layout,
        background_snakemake(table_mode, *[f"{RESULTS}/DL/{name}" for name in ROBUSTNESS_FILES]),
    ], log_dir, workdir=root)


@pytest.fixture(scope="module")
def robustness_runs(background):
    """The synthetic configuration run with the robustness targets, then the same
    estimates written in the authors' published layout and run in published-table mode
    (start_robustness_runs)."""
    root = wait_for(background, "robustness_runs").workdir
    return root / "traffic" / RESULTS, root / "published" / RESULTS


def read(folder, name):
    return pd.read_csv(folder / "DL" / name, dtype={"code_com": str})


@pytest.mark.workflow
def test_rules_agree_with_the_association_outputs(robustness_runs):
    results, _ = robustness_runs
    sensitivity = read(results, "sensitivity.csv")
    assert list(sensitivity.columns) == SENSITIVITY_COLUMNS
    assert sorted(sensitivity["tor_to_darknet_share"].unique()) == BOUNDS
    assert sensitivity["analysis"].value_counts().to_dict() == {
        "all": 12, "without_floored": 12, "outage_dates_dropped": 12,
    }
    all_rows = sensitivity[sensitivity["analysis"] == "all"]
    configured = all_rows[all_rows["tor_to_darknet_share"] == 0.011].set_index("method")
    methods = read(results, "correction_methods.csv").set_index("method")
    for method in METHODS:
        assert configured.loc[method, "rho"] == pytest.approx(methods.loc[method, "rho"], rel=1e-12)
        assert configured.loc[method, "n"] == methods.loc[method, "n"]
    headline = json.loads((results / "DL" / "summary.json").read_text())
    for key in ("cpc_share_of_tor", "global_csam_share", "mean_c", "median_c"):
        assert configured.loc["pearson_log", key] == pytest.approx(headline[key], rel=1e-12), key

    spearman, spearman_ci = read(results, "spearman.csv"), read(results, "spearman_ci.csv")
    assert list(spearman_ci.columns) == [
        "x", "y", "rho", "ci_low", "ci_high", "resamples", "ci_low_city", "ci_high_city", "resamples_city", "note",
    ]
    # three cities, fewer than inference.min_clusters: no city interval, the note says why
    assert spearman_ci[["ci_low_city", "ci_high_city"]].isna().all().all()
    assert spearman_ci["note"].str.startswith("3 cities, fewer than inference.min_clusters = 10").all()
    assert spearman_ci["rho"].to_numpy() == pytest.approx(spearman["rho"].to_numpy(), rel=1e-12)
    assert (spearman_ci["ci_low"] < spearman_ci["ci_high"]).all()
    assert (spearman_ci["resamples"] <= 2000).all() and (spearman_ci["resamples"] > 1900).all()
    difference = read(results, "difference_ci.csv")
    assert difference["x"].tolist() == ["yt_per_1000", "wa_per_1000", "tor_per_1000"]
    dependent = read(results, "dependent_corr.csv").set_index("comparison")
    # the same complete communes as dependent_corr.csv: r_ac - r_ab
    expected = (dependent["r_ac"] - dependent["r_ab"]).loc[["CPC-YT", "CPC-WA", "CPC-Tor"]].to_numpy()
    assert difference["difference"].to_numpy() == pytest.approx(expected, rel=1e-9)
    methods_ci = read(results, "correction_methods_ci.csv").set_index("method")
    assert methods_ci["rho"].to_numpy() == pytest.approx(methods.loc[methods_ci.index, "rho"].to_numpy(), rel=1e-12)

    ranking = read(results, "ranking.csv")
    assert list(ranking.columns) == [
        "code_com", "cities", "pop", "cpc_per_1000", "cpc_per_1000_smoothed", "rank_raw", "rank_smoothed", "in_ranking",
    ]
    first_raw = ranking.loc[ranking["rank_raw"] == 1, "code_com"].iloc[0]
    first_smoothed = ranking.loc[ranking["rank_smoothed"] == 1, "code_com"].iloc[0]
    # min_population 0: the raw ranking is the seed's (its heatmap_rank1 commune)
    assert read(results, "heatmap_rank1.csv")["code_com"].iloc[0] == first_raw
    assert set(read(results, "heatmap_smoothed_rank1.csv")["code_com"]) == {first_smoothed}
    assert list(read(results, "heatmap_smoothed_10.csv").columns) == ["Day", "Hour", "Tor_scaled", "Web_Adult", "YouTube"]


@pytest.mark.workflow
def test_published_table_mode(robustness_runs):
    traffic, published = robustness_runs
    sensitivity = read(published, "sensitivity.csv")
    assert sensitivity["method"].tolist() == ["pearson_log"] * 6
    recomputed = read(traffic, "sensitivity.csv")
    recomputed = recomputed[
        (recomputed["method"] == "pearson_log") & (recomputed["analysis"] != "outage_dates_dropped")
    ].reset_index(drop=True)
    pd.testing.assert_frame_equal(sensitivity, recomputed, rtol=1e-9)
    log = (published / "logs" / "robustness" / "DL_sensitivity.log").read_text()
    assert "only the pearson_log rows" in log
    for name in TRAFFIC_ONLY_FILES:
        assert not (published / "DL" / name).exists(), name
    for name in ("spearman_ci.csv", "difference_ci.csv"):
        pd.testing.assert_frame_equal(read(published, name), read(traffic, name), rtol=1e-9)
    ranking = read(published, "ranking.csv").set_index("code_com").sort_index()
    expected = read(traffic, "ranking.csv").set_index("code_com").sort_index()
    assert ranking["rank_smoothed"].equals(expected["rank_smoothed"])
