"""The simulation study (netmob_cpc.simulation): resampling of whole commune tuples, the
outcome model and its calibration, the publication rule on simulated counts, the HC3
p-value, the tables' layout and the target."""

import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from netmob_cpc import simulation as sim
from netmob_cpc.files import InputError
from netmob_cpc.publication import published
from workflow_runner import jobs_in, made_in_background, wait_for

REPO = Path(__file__).resolve().parents[1]

SETTINGS = dict(crime_years=5, min_count=5, window_years=3, planted_slope=0.15, log_cpc_centre=0.0)
MODEL = {"a": -6.6, "b": 0.64, "alpha": 0.7, "a_null": -0.55, "alpha_null": 1.5, "city_sd": 0.3, "n": 0}


def source(n=200, seed=3):
    """Source communes whose columns identify the row: c, Tor per inhabitant and city are
    all functions of the row number, the population too (distinct values)."""
    rng = np.random.default_rng(seed)
    pop = np.round(np.exp(rng.normal(8.5, 1.4, size=n))) + np.arange(n) * 1e-3
    return pd.DataFrame(
        {
            "pop": pop,
            "c": 1e-3 * (1 + np.arange(n)),
            "tor_per_capita": 500.0 + np.arange(n),
            "city": [f"city{i % 7}" for i in range(n)],
            "sv": np.where(rng.random(n) < 0.4, 0.0, rng.gamma(2.0, 0.5, size=n)),
        }
    )


# --- resampling --------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", sim.SCENARIOS)
def test_resampling_keeps_whole_tuples(scenario):
    src = source()
    data = sim.simulate(scenario, sim.scenario_stream(1, scenario, 0), src, 500, MODEL,
                        c_tied=sim.c_fitted_on_size(src), **SETTINGS)
    rows = np.rint(src["tor_per_capita"].to_numpy() - 500).astype(int)
    # each drawn commune's Tor per inhabitant names its row; pop and city come from that row
    row = np.rint(data["tor_per_1000"] / 1000 - 500).astype(int)
    assert np.array_equal(row, data["index"])
    assert np.array_equal(data["pop"], src["pop"].to_numpy()[row])
    assert np.array_equal(data["city"], src["city"].to_numpy()[row])
    c = sim.c_fitted_on_size(src) if scenario == "c_tied_to_size" else src["c"].to_numpy()
    assert np.array_equal(data["c"], c[row])
    assert np.allclose(data["cpc_per_1000"], data["tor_per_1000"] * c[row], rtol=1e-15)
    assert len(np.unique(row)) < len(row) and rows.size == len(src)  # with replacement


def test_source_communes_needs_pop_c_and_tor_and_picks_the_pool():
    estimates = pd.DataFrame(
        {
            "cities": ["A", "A", "B", "B", "B"],
            "pop": [1000, 0, 2000, 3000, 4000],
            "c": [0.001, 0.002, np.nan, 0.004, 0.005],
            "Tor": [10.0, 20.0, 30.0, 0.0, 50.0],
            "sv_com_17_21": [1.0, 2.0, 3.0, 4.0, np.nan],
        }
    )
    tested = estimates.iloc[:4]
    chosen = sim.source_communes(estimates, tested, "Tor", "tested")
    assert chosen["pop"].tolist() == [1000]  # 0 inhabitants, no c, no Tor: left out
    assert chosen["tor_per_capita"].tolist() == [0.01]
    everything = sim.source_communes(estimates, tested, "Tor", "all")
    assert everything["pop"].tolist() == [1000, 4000]
    assert everything["sv"].tolist()[0] == 1.0 and math.isnan(everything["sv"].tolist()[1])
    with pytest.raises(ValueError, match="simulation.pool"):
        sim.source_communes(estimates, tested, "Tor", "some")


def test_c_tied_to_size_is_the_fit_on_log_pop_and_city():
    src = source()
    fitted = sim.c_fitted_on_size(src)
    # independent: statsmodels OLS of ln c on ln pop and city indicators
    from statsmodels.regression.linear_model import OLS

    dummies = pd.get_dummies(src["city"], drop_first=True, dtype=float)
    X = np.column_stack([np.ones(len(src)), np.log(src["pop"]), dummies.to_numpy()])
    expected = np.exp(OLS(np.log(src["c"]), X).fit().fittedvalues)
    assert np.allclose(fitted, expected, rtol=1e-10)


# --- the outcome ---------------------------------------------------------------------------------


def test_outcome_follows_the_publication_rule_on_hand_made_counts():
    # years: two earlier years, then five crime years; population 2,000
    counts = np.array(
        [
            [6, 0, 0, 0, 0, 0, 0],  # the first earlier year reaches 5: crime year 1 (a zero) only
            [0, 0, 1, 2, 7, 0, 3],  # crime year 3 reaches 5: years 3, 4, 5 published
            [4, 4, 4, 4, 4, 4, 4],  # never 5: nothing published
            [9, 9, 9, 9, 9, 9, 9],  # every year
        ]
    )
    pop = np.full(4, 2000.0)
    sv = sim.outcome_from_counts(counts, pop, 5, True, 5, 3)
    assert sv[0] == 0.0
    assert sv[1] == pytest.approx((7 + 0 + 3) / 3 / 2000 * 1000)
    assert math.isnan(sv[2])
    assert sv[3] == pytest.approx(9 / 2)
    shown = published(counts, 5, 3)[:, 2:]
    assert shown[0].tolist() == [True, False, False, False, False]
    # uncensored: every crime year
    plain = sim.outcome_from_counts(counts, pop, 5, False, 5, 3)
    assert plain.tolist() == pytest.approx([0.0, 13 / 5 / 2, 2.0, 4.5])


def test_simulated_sv_is_the_mean_over_the_published_crime_years():
    src = source(300)
    rng = sim.scenario_stream(4, "censored", 2)
    data = sim.simulate("censored", rng, src, 400, MODEL, **SETTINGS)
    # the same stream again, step by step as simulate draws it
    again = sim.scenario_stream(4, "censored", 2)
    index = again.integers(0, len(src), size=400)
    pop = src["pop"].to_numpy()[index]
    log_mean = np.log(pop / 1000) + MODEL["a"] + MODEL["b"] * np.log(pop)
    counts = sim.yearly_counts(again, log_mean, MODEL["alpha"], 7)
    shown = published(counts, 5, 3)[:, 2:]
    for i in range(400):
        years = [counts[i, 2 + j] / pop[i] * 1000 for j in range(5) if shown[i, j]]
        if years:
            assert data["sv"][i] == pytest.approx(sum(years) / len(years), rel=1e-12)
        else:
            assert math.isnan(data["sv"][i])
    assert 0 < np.isnan(data["sv"]).sum() < 400


def test_yearly_counts_are_nb2_over_the_years():
    rng = np.random.default_rng(8)
    log_mean = np.full(40000, math.log(2.0))
    counts = sim.yearly_counts(rng, log_mean, 0.5, 5)
    total = counts.sum(axis=1)
    # NB2 total over 5 years: mean 10, variance 10 + 0.5 x 10^2 = 60
    assert total.mean() == pytest.approx(10, rel=0.02)
    assert total.var() == pytest.approx(60, rel=0.05)
    # within a commune the years share one multiplier: positively correlated years
    assert np.corrcoef(counts[:, 0], counts[:, 1])[0, 1] == pytest.approx(0.5 * 4 / (2 + 0.5 * 4), abs=0.03)


def test_calibration_recovers_the_outcome_model():
    rng = np.random.default_rng(12)
    n = 3000
    pop = np.round(np.exp(rng.normal(8.5, 1.4, size=n)))
    log_mean = np.log(pop / 1000) - 6.0 + 0.6 * np.log(pop)
    counts = sim.yearly_counts(rng, log_mean, 0.6, 5)
    sv = counts.sum(axis=1) / 5 / pop * 1000
    src = pd.DataFrame({"pop": pop, "c": 0.001, "tor_per_capita": 1.0, "city": "A", "sv": sv})
    model = sim.calibrate(src, 5)
    assert model["a"] == pytest.approx(-6.0, abs=0.25)
    assert model["b"] == pytest.approx(0.6, abs=0.03)
    assert model["alpha"] == pytest.approx(0.6, abs=0.08)
    assert model["city_sd"] == 0.0 and model["n"] == n
    # without size: the NB2 score of the intercept is zero at the fit,
    # sum (y - mu) / (1 + alpha mu) = 0 with mu = exposure x exp(a_null)
    y = counts.sum(axis=1)
    mu = 5 * pop / 1000 * math.exp(model["a_null"])
    score = ((y - mu) / (1 + model["alpha_null"] * mu)).sum()
    assert abs(score) < 1e-3 * ((y - mu) ** 2 / (1 + model["alpha_null"] * mu) ** 2).sum() ** 0.5


def test_calibration_refuses_a_table_without_outcomes():
    src = source(30)
    src["sv"] = 0.0
    with pytest.raises(InputError, match="cpc_com.csv: the simulation study calibrates"):
        sim.calibrate(src, 5, "cpc_com.csv")


# --- tests and tables ----------------------------------------------------------------------------


def test_hc3_pvalue_matches_statsmodels():
    from statsmodels.regression.linear_model import OLS

    rng = np.random.default_rng(5)
    n = 300
    X = np.column_stack([np.ones(n), rng.gamma(1.0, 1.0, n) * (rng.random(n) < 0.6), rng.normal(8, 1.5, n)])
    y = 0.1 * X[:, 1] + 0.3 * X[:, 2] + rng.normal(0, 1 + 0.5 * X[:, 1], n)
    fit = OLS(y, X).fit(cov_type="HC3", use_t=True)
    for term in range(3):
        assert sim.hc3_pvalue(y, X, term) == pytest.approx(fit.pvalues[term], rel=1e-9)
    assert math.isnan(sim.hc3_pvalue(y, np.column_stack([X, X[:, 1]]), 1))  # singular


def test_replicate_pvalues_are_the_workflows_tests():
    from netmob_cpc.statistics import (
        adjusted_association_table, cpc_on_sv_pvalue, dependent_corr_table, spearman_table,
    )

    src = source(300)
    src["c"] = np.random.default_rng(1).permutation(src["c"].to_numpy())  # c not a function of Tor
    data = sim.simulate("city_clustered", sim.scenario_stream(5, "city_clustered", 3), src, 400,
                        dict(MODEL, a=-5.0), **SETTINGS)
    p = sim.replicate_pvalues(data, spline_df=5)
    estimates = pd.DataFrame(
        {
            "pop": data["pop"], "cities": data["city"], "cpc_per_1000": data["cpc_per_1000"],
            "tor_per_1000": data["tor_per_1000"], "yt_per_1000": 1.0 + np.arange(400), "wa_per_1000": 2.0,
            "sv_17_21": data["sv"], "sv_com_17_21": data["sv"],
        }
    )
    assert 50 < np.isfinite(data["sv"]).sum() < 400
    adjusted = adjusted_association_table(estimates, spline_df=5).set_index(["x", "analysis"])["pvalue"]
    assert p["partial_population_spline"] == pytest.approx(adjusted["cpc_per_1000", "partial_population_spline"], rel=1e-9)
    assert p["partial_spearman_cpc"] == pytest.approx(adjusted["cpc_per_1000", "partial_population"], rel=1e-9)
    assert p["spearman_cpc"] == pytest.approx(spearman_table(estimates).set_index("x").loc["cpc_per_1000", "pvalue"], rel=1e-9)
    tor = dependent_corr_table(estimates).set_index("comparison").loc["CPC-Tor"]
    assert (p["dependent_corr_seed"], p["williams"], p["steiger"]) == pytest.approx(
        (tor["p_value"], tor["williams_p"], tor["steiger_p"]), rel=1e-9
    )
    assert np.isfinite(list(p.values())).all()
    tested = estimates[np.isfinite(data["sv"])]
    assert p["cpc_on_sv"] == pytest.approx(cpc_on_sv_pvalue(tested, "HC3"), rel=1e-9)


def test_rejection_table_long_format_and_mc_se_by_hand():
    p = [0.004, 0.03, 0.07, 0.2, math.nan]
    pvalues = {"null": [dict.fromkeys(sim.TESTS, value) for value in p]}
    table = sim.rejection_table(pvalues)
    assert list(table.columns) == ["scenario", "test", "alpha", "replicates", "rejection_rate", "mc_se"]
    assert len(table) == len(sim.TESTS) * 3
    rows = table[table["test"] == "williams"].set_index("alpha")
    assert rows["replicates"].tolist() == [4, 4, 4]  # the NaN is not counted
    assert rows["rejection_rate"].tolist() == [0.25, 0.5, 0.75]
    assert rows["mc_se"].tolist() == pytest.approx([math.sqrt(0.25 * 0.75 / 4), math.sqrt(0.25 / 4), math.sqrt(0.25 * 0.75 / 4)])
    assert sim.monte_carlo_error(0.05, 5000) == pytest.approx(0.0030822, rel=1e-4)


def test_moments_of_a_fixed_replicate_by_hand():
    src = source(250)
    data = sim.simulate("censored", sim.scenario_stream(9, "censored", 1), src, 300, MODEL, **SETTINGS)
    found = sim.moments(data["pop"], data["c"], data["sv"])
    keep = np.isfinite(data["sv"])
    pop, c, sv = data["pop"][keep], data["c"][keep], data["sv"][keep]
    assert found["zero_share"] == np.count_nonzero(sv == 0) / keep.sum()
    assert found["rho_pop_outcome"] == pytest.approx(spearmanr(pop, sv)[0], rel=1e-12)
    assert found["rho_c_pop"] == pytest.approx(spearmanr(c, pop)[0], rel=1e-12)
    assert found["rho_c_outcome"] == pytest.approx(spearmanr(c, sv)[0], rel=1e-12)
    ordered = np.sort(pop)
    position = 0.99 * (len(ordered) - 1)
    low = int(position)
    q99 = ordered[low] + (position - low) * (ordered[low + 1] - ordered[low])
    assert found["pop_q99"] == pytest.approx(q99, rel=1e-12)
    assert found["pop_q50"] == pytest.approx(np.median(pop), rel=1e-12)
    table = sim.moments_table({"censored": [found, found]}, found)
    assert list(table.columns) == sim.MOMENT_COLUMNS
    assert table["scenario"].tolist() == ["censored", "data"]
    assert table.loc[0, "replicates"] == 2 and pd.isna(table.loc[1, "replicates"])


def test_null_scenario_ignores_size_and_planted_effect_raises_the_rate():
    src = source(400)
    big = src["pop"].to_numpy() > np.median(src["pop"])
    model = dict(MODEL, alpha=0.0, alpha_null=0.0)
    null = sim.simulate("null", sim.scenario_stream(2, "null", 0), src, 20000, model, **SETTINGS)
    rate = null["sv"]
    large = np.isin(null["index"], np.flatnonzero(big))
    # the expected rate per 1,000 is exp(a_null) whatever the size
    assert rate[large].mean() == pytest.approx(rate[~large].mean(), rel=0.05)
    assert rate.mean() == pytest.approx(math.exp(MODEL["a_null"]), rel=0.05)
    # planted: the log rate rises by planted_slope per unit of ln cpc_per_1000; large
    # counts (every year published) and the same stream for both, so the same communes
    large_counts = dict(model, a=0.0)
    stream = ("planted_confounded", 0)
    towns = src[src["pop"] >= 1000].reset_index(drop=True)
    centre = float(np.log(towns["tor_per_capita"] * 1000 * towns["c"]).mean())
    planted = sim.simulate("planted_confounded", sim.scenario_stream(2, *stream), towns, 20000, large_counts,
                           **dict(SETTINGS, planted_slope=1.0, log_cpc_centre=centre))
    size = sim.simulate("censored", sim.scenario_stream(2, *stream), towns, 20000, large_counts, **SETTINGS)
    assert np.array_equal(planted["index"], size["index"])
    assert np.isfinite(planted["sv"]).all() and np.isfinite(size["sv"]).all()
    relative = planted["cpc_per_1000"] / math.exp(centre)
    assert (planted["sv"] / relative).sum() == pytest.approx(size["sv"].sum(), rel=0.01)


def test_study_does_not_depend_on_the_number_of_processes():
    src = source(150)
    model = dict(MODEL)
    kwargs = dict(seed=11, source=src, n=120, model=model, settings=SETTINGS, replicates=6)
    serial = sim.run_study(chunk=4, **kwargs)
    parallel = sim.run_study(chunk=2, workers=2, **kwargs)
    pd.testing.assert_frame_equal(serial[0], parallel[0])
    assert serial[1] == parallel[1] and serial[2] == parallel[2]
    # and a data set is the same whichever block it was computed in
    common = dict(seed=11, source=src, n=120, model=model, settings=SETTINGS)
    first = sim.run_replicates("city_clustered", range(3, 4), **common)[0]
    again = sim.run_replicates("city_clustered", range(0, 6), **common)[3]
    assert first[0] == again[0] == 3 and first[1] == again[1] and first[2] == again[2]


# --- the rule's entry script and the target -------------------------------------------------------


class Files(SimpleNamespace):
    """snakemake.input / output: attributes plus keys()."""

    def keys(self):
        return list(vars(self))


def test_entry_script_writes_both_tables(tmp_path):
    import simulation as entry

    src = source(120, seed=6)
    table = pd.DataFrame(
        {
            "code_com": [f"{i:05d}" for i in range(1001, 1121)], "cities": src["city"], "pop": np.round(src["pop"]),
            "c": src["c"], "Tor": src["tor_per_capita"] * np.round(src["pop"]), "cpc": 1.0, "cpc_per_1000": 1.0,
            "tor_per_1000": 1.0, "yt_per_1000": 1.0, "wa_per_1000": 1.0, "sv_17_21": src["sv"], "sv_com_17_21": src["sv"],
        }
    )
    table.to_csv(tmp_path / "cpc_com.csv", index=False)
    out = tmp_path / "results"
    smk = SimpleNamespace(
        input=Files(estimates=str(tmp_path / "cpc_com.csv")),
        output=Files(table=str(out / "simulation.csv"), moments=str(out / "simulation_moments.csv")),
        params=SimpleNamespace(
            apps={"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}, min_coverage=0.0,
            crime_years=[17, 18, 19, 20, 21], publication={"min_count": 5, "window_years": 3, "zeros_published": False},
            replicates=4, seed=3, communes=0, pool="tested", planted_slope=0.15, size_adjustment={"spline_df": 6},
        ),
        log=[str(tmp_path / "simulation.log")], threads=1, rule="simulation_study",
    )
    saved = sys.stderr
    sys.stderr = open(smk.log[0], "w")
    try:
        entry.main(smk)
    finally:
        sys.stderr.close()
        sys.stderr = saved
    written = pd.read_csv(smk.output.table, keep_default_na=False)
    assert list(written.columns) == sim.COLUMNS and len(written) == len(sim.SCENARIOS) * len(sim.TESTS) * 3
    moments = pd.read_csv(smk.output.moments, keep_default_na=False)
    assert list(moments.columns) == sim.MOMENT_COLUMNS
    assert moments["scenario"].tolist() == [*sim.SCENARIOS, "data"]
    log = (tmp_path / "simulation.log").read_text()
    assert "120 tested communes" in log and "outcome model (NB2 on 120 communes" in log
    assert not list(out.glob(".*tmp*"))  # no temporary file left behind


@made_in_background("simulation_table_run")
def start_simulation_table_run(workdir, log_dir):
    """The published table in table mode: the default plan, the plan of the target
    `simulation`, then its run; in the background from the session's start (conftest.py)."""
    import shutil

    from workflow_runner import InBackground, background_snakemake, write_config

    shutil.copy(REPO / "tests" / "data" / "authors_cpc_com.csv", workdir / "authors_cpc_com.csv")
    write_config(workdir, {"estimates_table": "authors_cpc_com.csv", "directions": ["DL"],
                           "simulation": {"replicates": 5, "seed": 1}})
    return InBackground([
        background_snakemake(workdir, "--dry-run"), background_snakemake(workdir, "--dry-run", "simulation"),
        background_snakemake(workdir, "simulation"),
    ], log_dir, workdir=workdir)


@pytest.fixture
def simulation_table_run(background):
    return wait_for(background, "simulation_table_run")


@pytest.mark.workflow
def test_simulation_is_its_own_target_and_runs_in_table_mode(simulation_table_run):
    tmp_path = simulation_table_run.workdir
    default_plan, simulation_plan, _ = simulation_table_run.results
    assert "simulation_study" not in jobs_in(default_plan)  # not part of the default run
    assert jobs_in(simulation_plan)["simulation_study"] == 1
    table = pd.read_csv(tmp_path / "results" / "DL" / "simulation.csv", keep_default_na=False)
    assert list(table.columns) == sim.COLUMNS
    assert len(table) == len(sim.SCENARIOS) * len(sim.TESTS) * len(sim.ALPHAS)
    assert table["replicates"].le(5).all() and table["rejection_rate"].between(0, 1).all()
    moments = pd.read_csv(tmp_path / "results" / "DL" / "simulation_moments.csv", keep_default_na=False)
    assert list(moments.columns) == sim.MOMENT_COLUMNS
    assert moments["scenario"].tolist() == [*sim.SCENARIOS, "data"]
    # the data's row: the 731 tested communes of the published table
    data = moments.set_index("scenario").loc["data"]
    assert float(data["zero_share"]) == pytest.approx(327 / 731, rel=1e-12)
    log = (tmp_path / "results" / "logs" / "simulation" / "DL.log").read_text()
    assert "731 tested communes" in log and "5 replicates per scenario" in log


@pytest.mark.workflow
def test_simulation_on_the_tiny_synthetic_run_says_it_is_too_small(tiny_run_copy):
    """On a copy of the shared tiny run (its estimate table made): only the study runs, and stops."""
    from workflow_runner import TINY_RUN, merge, snakemake, write_config

    write_config(tiny_run_copy, merge(TINY_RUN, {"directions": ["DL"], "simulation": {"replicates": 5}}))
    result = snakemake(tiny_run_copy, "simulation", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Error in rule simulation_study: results/DL/cpc_com.csv: the simulation study calibrates" in output
    assert "Run it on a larger data set" in output
    assert jobs_in(result) == {"simulation_study": 1, "simulation": 1}  # the study and its target rule
    assert not (tiny_run_copy / "results" / "DL" / "simulation.csv").exists()


def test_the_replicates_schema_maximum_fits_the_jobs_declared_memory():
    import re

    import yaml

    from netmob_cpc import config as cfgmod

    estimate, rule = cfgmod.SIZE_LIMITS["simulation.replicates"]
    assert rule == "simulation_study"
    text = (REPO / "rules" / "simulation.smk").read_text()
    body = text[text.index("rule simulation_study:"):]
    mem_mb = int(re.search(r"mem_mb=(\d+)", body).group(1))
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    maximum = schema["properties"]["simulation"]["properties"]["replicates"]["maximum"]
    assert estimate({"simulation": {"replicates": maximum}}) <= mem_mb * 2**20
    assert estimate({"simulation": {"replicates": 10 * maximum}}) > mem_mb * 2**20


def test_published_zero_years_give_zero_rates_in_the_censored_outcome():
    """With zeros_published a commune whose crime years counted 0 has a rate of 0, not
    none; without it those years are withheld (two earlier years of 0 in the window)."""
    counts = np.array([[0, 0, 0, 0, 0, 0, 0], [0, 0, 7, 0, 0, 0, 0], [6, 6, 6, 6, 6, 6, 6]])
    pop = np.array([1000.0, 1000.0, 2000.0])
    default = sim.outcome_from_counts(counts, pop, 5, True, 5, 3)
    zeros = sim.outcome_from_counts(counts, pop, 5, True, 5, 3, zeros_published=True)
    assert np.isnan(default[0]) and zeros[0] == 0.0
    # commune 2: 7 in the first crime year publishes it and the two zero years after it
    assert default[1] == pytest.approx(7 / 3) and zeros[1] == pytest.approx(7 / 5)
    assert default[2] == zeros[2] == pytest.approx(3.0)
