"""The simulation study (netmob_cpc.simulation): the generator's properties, determinism,
the table's layout and a small run of the study."""

import math
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from netmob_cpc import simulation as sim

SHARES = {"tor_to_darknet_share": 0.011, "porn_in_darknet_share": 2267628 / 5437248, "csam_in_porn_share": 105 / 253}
FLOOR = 1e-5


def simulate(scenario, n=2000, days=4, replicate=0, seed=7):
    return sim.simulate(scenario, sim.scenario_stream(seed, scenario, replicate), n, days, SHARES, FLOOR)


# --- the generator ------------------------------------------------------------------------


def test_populations_are_skewed_like_french_communes():
    pop = sim.populations(np.random.default_rng(1), 20000)
    assert pop.min() >= sim.POP_RANGE[0] and pop.max() <= sim.POP_RANGE[1]
    assert np.all(pop == np.round(pop))
    # many small communes, a few large ones: median near 2,000, mean well above it
    assert 1800 < np.median(pop) < 2200
    assert pop.mean() > 1.8 * np.median(pop)
    assert 0.2 < np.mean(pop < 1000) < 0.45
    assert 0.002 < np.mean(pop > 50_000) < 0.02


def test_null_crime_rate_is_independent_of_coupling_and_size():
    data = simulate("null", n=6000, days=2)
    # 6,000 communes: the standard error of a correlation near 0 is about 0.013
    assert abs(np.corrcoef(np.log(data["crime_rate"]), data["coupling"])[0, 1]) < 0.05
    assert abs(np.corrcoef(np.log(data["crime_rate"]), np.log(data["pop"]))[0, 1]) < 0.05
    assert abs(spearmanr(data["tor_per_1000"], data["pop"])[0]) < 0.05


def test_planted_coupling_drives_r_and_the_crime_rate():
    data = simulate("planted", n=1500, days=14)
    # without a Tor rhythm of its own, r estimates the coupling (336 hours per commune)
    assert np.corrcoef(data["r"], data["coupling"])[0, 1] > 0.95
    assert np.max(np.abs(data["r"] - data["coupling"])) < 0.3
    # log rate = log base + SV_SLOPE x coupling / COUPLING_SD + noise of sd SV_NOISE_SD:
    # correlation about SV_SLOPE / sqrt(SV_SLOPE^2 + SV_NOISE_SD^2) (0.39; the clipping of
    # the coupling changes it little)
    expected = sim.SV_SLOPE / math.sqrt(sim.SV_SLOPE**2 + sim.SV_NOISE_SD**2)
    observed = np.corrcoef(np.log(data["crime_rate"]), data["coupling"])[0, 1]
    assert observed == pytest.approx(expected, abs=0.08)
    assert observed > 0.2


def test_null_tor_has_its_own_rhythm():
    # the own daily cycle makes r differ from the coupling in a way that depends on size
    planted, null = simulate("planted", n=1500, days=7), simulate("null", n=1500, days=7)
    assert np.mean(np.abs(null["r"] - null["coupling"])) > 2 * np.mean(np.abs(planted["r"] - planted["coupling"]))


def test_size_confounded_tor_and_crime_follow_population():
    data = simulate("size_confounded", n=4000, days=2)
    assert spearmanr(data["tor_per_1000"], data["pop"])[0] > 0.3
    assert np.corrcoef(np.log(data["crime_rate"]), np.log(data["pop"]))[0, 1] > 0.3
    assert abs(np.corrcoef(np.log(data["crime_rate"]), data["coupling"])[0, 1]) < 0.06


def test_small_communes_often_record_no_crime():
    data = simulate("null", n=20000, days=2)
    pop, sv, rate = data["pop"], data["sv"], data["crime_rate"] / 1000
    small, large = pop < 500, pop > 20000
    # Poisson(rate x pop) counts: P(0) = exp(-rate x pop)
    expected_zero_share = np.mean(np.exp(-rate[small] * pop[small]))
    assert np.mean(sv[small] == 0) == pytest.approx(expected_zero_share, abs=0.03)
    assert np.mean(sv[small] == 0) > 0.5
    assert np.mean(sv[large] == 0) < 0.01
    # over all communes a share of zeros in the range of the published table's (327 / 731)
    assert 0.15 < np.mean(sv == 0) < 0.5
    # counts are whole numbers of victims
    counts = sv * pop / 1000
    assert np.allclose(counts, np.round(counts))


def test_factor_and_estimate_are_computed_as_in_the_notebook():
    data = simulate("null", n=300, days=3)
    scale = SHARES["tor_to_darknet_share"] * SHARES["csam_in_porn_share"]
    expected_c = np.where(data["r"] * scale < 0, FLOOR, data["r"] * scale)
    assert np.array_equal(data["c"], expected_c)
    assert np.any(data["c"] == FLOOR)
    np.testing.assert_allclose(data["cpc"], data["tor"] * expected_c)
    np.testing.assert_allclose(data["cpc_per_1000"], data["tor"] * expected_c * 1000 / data["pop"])
    np.testing.assert_allclose(data["tor_per_1000"], data["tor"] * 1000 / data["pop"])


def test_row_pearson_matches_numpy():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 50)).astype(np.float32)
    y = (0.5 * x + rng.normal(size=(5, 50))).astype(np.float32)
    expected = [np.corrcoef(x[i].astype(float), y[i].astype(float))[0, 1] for i in range(5)]
    np.testing.assert_allclose(sim.row_pearson(x, y), expected, atol=1e-6)


def test_the_generator_is_deterministic_given_the_seed():
    first, again = simulate("planted", n=200, days=2), simulate("planted", n=200, days=2)
    for key in first:
        assert np.array_equal(first[key], again[key]), key
    other_replicate = simulate("planted", n=200, days=2, replicate=1)
    other_seed = simulate("planted", n=200, days=2, seed=8)
    assert not np.array_equal(first["pop"], other_replicate["pop"])
    assert not np.array_equal(first["pop"], other_seed["pop"])


def test_unknown_scenario_is_refused():
    with pytest.raises(ValueError, match="scenario 'planted2' is not one of planted, null, size_confounded"):
        simulate("planted2", n=10, days=2)


# --- the table ----------------------------------------------------------------------------


def test_rejection_table_counts_rejections_below_five_percent():
    pvalues = {
        "null": [
            {test: p for test in sim.TESTS}
            for p in (0.01, 0.049, 0.05, 0.2)
        ],
    }
    pvalues["null"][3]["steiger"] = math.nan
    table = sim.rejection_table(pvalues)
    assert list(table.columns) == ["scenario", "test", "replicates", "rejection_rate"]
    assert list(table["test"]) == list(sim.TESTS)
    row = table.set_index("test")
    # p = 0.05 is not a rejection; a NaN p-value is not counted
    assert row.loc["spearman_cpc", "replicates"] == 4
    assert row.loc["spearman_cpc", "rejection_rate"] == 0.5
    assert row.loc["steiger", "replicates"] == 3
    assert row.loc["steiger", "rejection_rate"] == pytest.approx(2 / 3)


def test_monte_carlo_error():
    assert sim.monte_carlo_error(0.05, 1000) == pytest.approx(math.sqrt(0.05 * 0.95 / 1000))
    assert sim.monte_carlo_error(0.0, 10) == 0.0
    assert math.isnan(sim.monte_carlo_error(0.5, 0))


@pytest.fixture(scope="module")
def small_study():
    return sim.run_study(
        replicates=16, seed=11, n_communes=731, days=5, shares=SHARES, negative_factor_floor=FLOOR, chunk=8,
    )


def test_small_study_layout_and_ordering(small_study):
    table, diagnostics = small_study
    assert list(table.columns) == ["scenario", "test", "replicates", "rejection_rate"]
    assert len(table) == len(sim.SCENARIOS) * len(sim.TESTS)
    assert list(table["scenario"].unique()) == list(sim.SCENARIOS)
    assert table["rejection_rate"].between(0, 1).all()
    assert (table["replicates"] <= 16).all() and (table["replicates"] >= 14).all()
    rate = table.set_index(["scenario", "test"])["rejection_rate"]
    assert rate["planted", "spearman_cpc"] > rate["null", "spearman_cpc"]
    assert rate["planted", "spearman_cpc"] >= 0.5
    # the size confound: the raw test rejects nearly always, the partial one rarely
    assert rate["size_confounded", "spearman_cpc"] > 0.8
    assert rate["size_confounded", "partial_spearman_cpc"] < 0.3
    assert set(diagnostics.index) == set(sim.SCENARIOS)
    assert diagnostics.loc["planted", "rho_cpc"] > diagnostics.loc["null", "rho_cpc"]


def test_study_does_not_depend_on_the_number_of_processes():
    kwargs = dict(seed=11, n_communes=731, days=7, shares=SHARES, negative_factor_floor=FLOOR)
    serial, _ = sim.run_study(replicates=6, chunk=4, scenarios=("null",), **kwargs)
    parallel, _ = sim.run_study(replicates=6, chunk=2, scenarios=("null",), workers=2, **kwargs)
    pd.testing.assert_frame_equal(serial, parallel)
    # and a data set is the same whichever chunk it was computed in
    first = sim.run_replicates("null", range(3, 4), **kwargs)[0]
    again = sim.run_replicates("null", range(0, 6), **kwargs)[3]
    assert first[0] == again[0] == 3 and first[1] == again[1]


# --- the rule's entry script ----------------------------------------------------------------


class Files(SimpleNamespace):
    """snakemake.output: attributes plus keys()."""

    def keys(self):
        return list(vars(self))


def test_entry_script_writes_the_table_and_logs_the_monte_carlo_error(tmp_path):
    import simulation as entry

    settings = dict(replicates=3, seed=5, communes=120, days=2)
    smk = SimpleNamespace(
        params=SimpleNamespace(**settings, shares=SHARES, negative_factor_floor=FLOOR),
        output=Files(table=str(tmp_path / "results" / "simulation.csv")),
        log=[str(tmp_path / "simulation.log")],
        threads=1,
        rule="simulation",
    )
    saved = sys.stderr
    sys.stderr = open(smk.log[0], "w")
    try:
        entry.main(smk)
    finally:
        sys.stderr.close()
        sys.stderr = saved
    # pandas reads the word "null" as missing by default
    assert pd.read_csv(smk.output.table)["scenario"].isna().sum() == len(sim.TESTS)
    written = pd.read_csv(smk.output.table, keep_default_na=False)
    expected, _ = sim.run_study(
        replicates=3, seed=5, n_communes=120, days=2, shares=SHARES, negative_factor_floor=FLOOR,
    )
    pd.testing.assert_frame_equal(written, expected)
    log = (tmp_path / "simulation.log").read_text()
    assert "3 replicates per scenario, 120 communes, 2 days" in log
    assert "mc_error" in log
    assert not list((tmp_path / "results").glob(".*tmp*"))  # no temporary file left behind


# --- the target -----------------------------------------------------------------------------


@pytest.mark.workflow
def test_simulation_is_its_own_target_and_runs(tmp_path):
    import yaml
    from workflow_runner import planned_jobs, snakemake

    # the study reads no input; a (never read) estimate table keeps the default DAG small
    (tmp_path / "cpc_com.csv").write_text("")
    config = {
        "estimates_table": str(tmp_path / "cpc_com.csv"),
        "simulation": {"replicates": 3, "seed": 1, "communes": 60, "days": 2},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert "simulation" not in planned_jobs(tmp_path)  # not part of the default run
    assert planned_jobs(tmp_path, "simulation") == {"simulation": 1}
    snakemake(tmp_path, "simulation")
    table = pd.read_csv(tmp_path / "results" / "simulation.csv", keep_default_na=False)
    assert list(table.columns) == ["scenario", "test", "replicates", "rejection_rate"]
    assert len(table) == len(sim.SCENARIOS) * len(sim.TESTS)
    assert table["replicates"].le(3).all() and table["rejection_rate"].between(0, 1).all()
    assert "3 replicates per scenario, 60 communes" in (tmp_path / "results" / "logs" / "simulation.log").read_text()
