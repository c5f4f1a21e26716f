"""Sensitivity to the Tor-to-darknet share, bootstrap intervals of the Spearman rhos, and
(end to end, marked `workflow`) the three rules of rules/robustness.smk, including the
smoothed rankings of scripts/robust_ranking.py."""

import json
import time

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from association_tests import log_test_table, spearman_table, summary
from estimate import METHODS, correction_methods_table, estimate_table
from sensitivity import (
    InputError,
    bootstrap_indices,
    bootstrap_spearman,
    correction_methods_ci_table,
    factor_ratio,
    method_log_rates,
    percentile_interval,
    published_sensitivity_table,
    sensitivity_table,
    spearman_ci_table,
)

APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}
SHARES = {"tor_to_darknet_share": 0.011, "porn_in_darknet_share": 2267628 / 5437248, "csam_in_porn_share": 105 / 253}
FLOOR = 0.00001
BOUNDS = [0.011, 0.034, 0.078]


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


def by_hand(totals, correlations, crime, share, method):
    """A straightforward transcription: c, cpc, headline shares and rho of one method."""
    r = correlations.set_index("code_com").loc[totals["code_com"]]
    scale = share * SHARES["csam_in_porn_share"]
    if method == "pearson_log":
        c = r["pearson_log"].to_numpy() * scale
    elif method == "pearson_log_squared":
        c = r["pearson_log"].to_numpy() ** 2 * scale
    elif method == "spearman_log":
        c = r["spearman_log"].to_numpy() * scale
    else:
        pearson = r["pearson_log"].to_numpy()
        c = (pearson - np.nanmean(pearson) + 1) * scale * SHARES["porn_in_darknet_share"]
    c = np.where(c < 0, FLOOR, c)
    tor, pop = totals["tor"].to_numpy(), totals["pop"].to_numpy()
    cpc = tor * c
    sv = crime.set_index("code_com").loc[totals["code_com"], "sv_com_17_21"].to_numpy()
    log_rate = np.log(cpc * 1000 / pop)
    keep = ~np.isnan(sv) & np.isfinite(log_rate)
    result = spearmanr(log_rate[keep], sv[keep])
    return {
        "cpc_share_of_tor": np.nansum(cpc) / tor.sum(),
        "mean_c": np.nanmean(c),
        "median_c": np.nanmedian(c),
        "rho": result.statistic,
        "pvalue": result.pvalue,
        "n": int(keep.sum()),
    }


def test_sensitivity_table_matches_a_transcription_of_each_share_and_method():
    totals, correlations, crime = communes()
    estimates = estimates_of(totals, correlations, crime)
    table = sensitivity_table(
        estimates, correlations, tor_column="Tor", shares=SHARES, tor_share_bounds=BOUNDS, negative_factor_floor=FLOOR
    )
    assert list(table.columns) == [
        "tor_to_darknet_share", "method", "global_csam_share", "cpc_share_of_tor", "mean_c", "median_c", "rho", "pvalue", "n",
    ]
    assert len(table) == 12
    for row in table.itertuples():
        expected = by_hand(totals, correlations, crime, row.tor_to_darknet_share, row.method)
        assert row.global_csam_share == pytest.approx(
            row.tor_to_darknet_share * 2267628 / 5437248 * 105 / 253, rel=1e-12
        )
        for key, value in expected.items():
            assert getattr(row, key) == pytest.approx(value, rel=1e-12), (row.tor_to_darknet_share, row.method, key)
    pearson = table[table["method"] == "pearson_log"].set_index("tor_to_darknet_share")
    # the floored commune keeps its factor while the others grow: the ranking changes
    assert pearson.loc[0.011, "rho"] != pytest.approx(pearson.loc[0.078, "rho"])
    assert pearson.loc[0.078, "mean_c"] > 6 * pearson.loc[0.011, "mean_c"]


def test_configured_share_rows_equal_summary_and_correction_methods():
    totals, correlations, crime = communes()
    estimates = estimates_of(totals, correlations, crime)
    table = sensitivity_table(
        estimates, correlations, tor_column="Tor", shares=SHARES, tor_share_bounds=[0.011], negative_factor_floor=FLOOR
    ).set_index("method")
    methods = correction_methods_table(totals, correlations, crime, shares=SHARES, negative_factor_floor=FLOOR)
    for row in methods.itertuples():
        assert table.loc[row.method, "rho"] == pytest.approx(row.rho, rel=1e-12)
        assert table.loc[row.method, "pvalue"] == pytest.approx(row.pvalue, rel=1e-9)
        assert table.loc[row.method, "n"] == row.n
    headline = summary(estimates, "Tor", *SHARES.values())
    for key in ("cpc_share_of_tor", "global_csam_share", "mean_c", "median_c"):
        assert table.loc["pearson_log", key] == pytest.approx(headline[key], rel=1e-12), key


def test_published_table_rescaling_equals_recomputing_from_the_correlations():
    totals, correlations, crime = communes()
    estimates = estimates_of(totals, correlations, crime)
    from_table = published_sensitivity_table(
        estimates, tor_column="Tor", shares=SHARES, tor_share_bounds=BOUNDS, negative_factor_floor=FLOOR
    )
    assert from_table["method"].tolist() == ["pearson_log"] * 3
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


def test_factor_ratio_keeps_the_floor():
    c = [0.004, FLOOR, np.nan, 0.0]
    ratio = factor_ratio(c, [0.011] * 4, 0.034, FLOOR)
    assert ratio[0] == pytest.approx(0.034 / 0.011)
    assert ratio[1] == 1.0
    assert ratio[3] == pytest.approx(0.034 / 0.011)
    # the published '11' (per mille) is read as 0.011 upstream; a per-row share is honoured
    assert factor_ratio([0.004], [0.034], 0.078, FLOOR)[0] == pytest.approx(0.078 / 0.034)


def test_duplicate_correlations_are_named():
    totals, correlations, crime = communes()
    estimates = estimates_of(totals, correlations, crime)
    with pytest.raises(InputError, match="'06001' appears more than once"):
        sensitivity_table(
            estimates, pd.concat([correlations, correlations.iloc[:1]]), tor_column="Tor", shares=SHARES,
            tor_share_bounds=BOUNDS, negative_factor_floor=FLOOR,
        )


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


def test_bootstrap_spearman_equals_a_loop_over_resamples():
    rng = np.random.default_rng(11)
    n = 60
    x = np.round(rng.normal(size=n), 1)  # many ties
    y = x + rng.normal(size=n)
    x[:5] = -np.inf
    y[10:14] = np.nan
    indices = bootstrap_indices(n, 300, seed=5)
    assert np.allclose(bootstrap_spearman(x, y, indices), loop_spearman(x, y, indices), rtol=0, atol=1e-12, equal_nan=True)


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


def test_ci_tables_against_spearman_csv_and_a_loop():
    totals, correlations, crime = communes()
    rng = np.random.default_rng(2)
    # a larger set of communes: replicate with noise
    many = []
    for k in range(12):
        part_totals = totals.assign(code_com=totals["code_com"] + f"-{k}", tor=totals["tor"] * rng.uniform(0.5, 2, 7))
        part_corr = correlations.assign(code_com=part_totals["code_com"], pearson_log=correlations["pearson_log"] + rng.normal(0, 0.05, 7))
        part_crime = crime.assign(code_com=part_totals["code_com"], sv_com_17_21=crime["sv_com_17_21"] * rng.uniform(0.8, 1.2, 7))
        many.append((part_totals, part_corr, part_crime))
    totals, correlations, crime = (pd.concat(parts, ignore_index=True) for parts in zip(*many))
    estimates = estimates_of(totals, correlations, crime)
    test = log_test_table(estimates)
    indices = bootstrap_indices(len(test), 500, seed=20240601)
    ci = spearman_ci_table(test, indices)
    spearman = spearman_table(estimates)
    assert ci[["x", "y"]].values.tolist() == spearman[["x", "y"]].values.tolist()
    assert ci["rho"].tolist() == spearman["rho"].tolist()
    for row in ci.itertuples():
        rhos = loop_spearman(test[row.x].to_numpy(), test[row.y].to_numpy(), indices)
        finite = rhos[np.isfinite(rhos)]
        assert row.resamples == len(finite)
        assert (row.ci_low, row.ci_high) == pytest.approx(tuple(np.percentile(finite, [2.5, 97.5])), abs=1e-12)
    rates = method_log_rates(estimates, correlations, tor_column="Tor", shares=SHARES, negative_factor_floor=FLOOR)
    methods_ci = correction_methods_ci_table(test, rates, indices)
    methods = correction_methods_table(totals, correlations, crime, shares=SHARES, negative_factor_floor=FLOOR)
    assert methods_ci["method"].tolist() == list(METHODS)
    assert methods_ci["rho"].to_numpy() == pytest.approx(methods["rho"].to_numpy(), rel=1e-12)
    # same communes, same resamples: the configured method's interval is cpc_per_1000's
    cpc_row = ci[(ci["x"] == "cpc_per_1000") & (ci["y"] == "sv_com_17_21")].iloc[0]
    pearson_row = methods_ci[methods_ci["method"] == "pearson_log"].iloc[0]
    assert (pearson_row["ci_low"], pearson_row["ci_high"]) == pytest.approx((cpc_row["ci_low"], cpc_row["ci_high"]), abs=1e-12)
    for row in methods_ci.itertuples():
        rhos = loop_spearman(rates.loc[test.index, row.method].to_numpy(), test["sv_com_17_21"].to_numpy(), indices)
        assert (row.ci_low, row.ci_high) == pytest.approx(tuple(np.nanpercentile(rhos, [2.5, 97.5])), abs=1e-12)


def test_bootstrap_of_the_real_size_takes_seconds():
    rng = np.random.default_rng(0)
    n = 1341
    test = pd.DataFrame({column: rng.normal(size=n) for column in ["yt_per_1000", "wa_per_1000", "tor_per_1000", "cpc_per_1000"]})
    test["sv_com_17_21"] = np.round(rng.gamma(2, 1, size=n), 2)
    test.loc[:20, "cpc_per_1000"] = -np.inf
    rates = pd.DataFrame({method: rng.normal(size=n) for method in METHODS})
    started = time.perf_counter()
    indices = bootstrap_indices(n, 2000, 20240601)
    spearman_ci_table(test, indices)
    correction_methods_ci_table(test, rates, indices)
    elapsed = time.perf_counter() - started
    print(f"\nbootstrap, 2000 resamples x {n} communes, 9 correlations: {elapsed:.2f} s")
    assert elapsed < 30


# --- the three rules end to end ----------------------------------------------------------

ROBUSTNESS_INCLUDE = 'include: "rules/robustness.smk"'


def snakefile_with_robustness(folder):
    """The project's Snakefile if it includes rules/robustness.smk, else a copy that does
    (in `folder`, next to links to the repository's config, rules, scripts and envs)."""
    import workflow_runner

    text = workflow_runner.SNAKEFILE.read_text()
    if ROBUSTNESS_INCLUDE in text:
        return workflow_runner.SNAKEFILE
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config", "rules", "scripts", "envs"):
        (folder / name).symlink_to(workflow_runner.REPO / name, target_is_directory=True)
    (folder / "Snakefile").write_text(text + "\n\n" + ROBUSTNESS_INCLUDE + "\n")
    return folder / "Snakefile"


def run_workflow(snakefile, workdir, *targets):
    import workflow_runner

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(workflow_runner, "SNAKEFILE", snakefile)
        return workflow_runner.snakemake(workdir, *targets)


ROBUSTNESS_FILES = ["sensitivity.csv", "spearman_ci.csv", "ranking.csv"]
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


@pytest.fixture(scope="module")
def robustness_runs(tmp_path_factory):
    """The tiny synthetic configuration run with the robustness targets, then the same
    estimates written in the authors' published layout and run in published-table mode."""
    from workflow_runner import TINY, load_default_config, write_config

    root = tmp_path_factory.mktemp("robustness")
    snakefile = snakefile_with_robustness(root / "workflow")
    results = load_default_config()["results_dir"]
    traffic = root / "traffic"
    write_config(traffic, TINY)
    started = time.perf_counter()
    run_workflow(snakefile, traffic, "all", *[f"{results}/DL/{name}" for name in ROBUSTNESS_FILES + TRAFFIC_ONLY_FILES])
    print(f"\nworkflow with the robustness targets: {time.perf_counter() - started:.1f} s")
    estimates = pd.read_csv(traffic / results / "DL" / "cpc_com.csv", dtype={"code_com": str, "code_dep": str})
    layout = estimates.assign(level_0=range(len(estimates)), index=range(len(estimates)), Tor_to_darknet_share=11)
    table_mode = root / "published"
    table_mode.mkdir()
    layout[PUBLISHED_HEADER].to_csv(table_mode / "authors_cpc_com.csv", sep=";", index=False)
    write_config(table_mode, {**TINY, "estimates_table": "authors_cpc_com.csv"})
    run_workflow(snakefile, table_mode, *[f"{results}/DL/{name}" for name in ROBUSTNESS_FILES])
    return traffic / results, table_mode / results


def read(folder, name):
    return pd.read_csv(folder / "DL" / name, dtype={"code_com": str})


@pytest.mark.workflow
def test_rules_agree_with_the_contract_outputs(robustness_runs):
    results, _ = robustness_runs
    sensitivity = read(results, "sensitivity.csv")
    assert sorted(sensitivity["tor_to_darknet_share"].unique()) == BOUNDS
    assert len(sensitivity) == 12
    configured = sensitivity[sensitivity["tor_to_darknet_share"] == 0.011].set_index("method")
    methods = read(results, "correction_methods.csv").set_index("method")
    for method in METHODS:
        assert configured.loc[method, "rho"] == pytest.approx(methods.loc[method, "rho"], rel=1e-12)
        assert configured.loc[method, "n"] == methods.loc[method, "n"]
    headline = json.loads((results / "DL" / "summary.json").read_text())
    for key in ("cpc_share_of_tor", "global_csam_share", "mean_c", "median_c"):
        assert configured.loc["pearson_log", key] == pytest.approx(headline[key], rel=1e-12), key

    spearman, spearman_ci = read(results, "spearman.csv"), read(results, "spearman_ci.csv")
    assert list(spearman_ci.columns) == ["x", "y", "rho", "ci_low", "ci_high", "resamples"]
    assert spearman_ci["rho"].to_numpy() == pytest.approx(spearman["rho"].to_numpy(), rel=1e-12)
    assert (spearman_ci["ci_low"] < spearman_ci["ci_high"]).all()
    assert (spearman_ci["resamples"] <= 2000).all() and (spearman_ci["resamples"] > 1900).all()
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
    assert sensitivity["method"].tolist() == ["pearson_log"] * 3
    recomputed = read(traffic, "sensitivity.csv")
    recomputed = recomputed[recomputed["method"] == "pearson_log"].reset_index(drop=True)
    pd.testing.assert_frame_equal(sensitivity, recomputed, rtol=1e-9)
    log = (published / "logs" / "robustness" / "DL_sensitivity.log").read_text()
    assert "only the pearson_log rows" in log
    for name in TRAFFIC_ONLY_FILES:
        assert not (published / "DL" / name).exists(), name
    assert read(published, "spearman_ci.csv")["rho"].tolist() == pytest.approx(read(traffic, "spearman_ci.csv")["rho"].tolist())
    ranking = read(published, "ranking.csv").set_index("code_com").sort_index()
    expected = read(traffic, "ranking.csv").set_index("code_com").sort_index()
    assert ranking["rank_smoothed"].equals(expected["rank_smoothed"])
