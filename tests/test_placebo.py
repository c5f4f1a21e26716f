"""Placebo apps: Tor through the placebo construction gives the headline exactly; table
mode on the authors' table; Tor's rank by hand; the synthetic placebo apps leave the default
data set byte-identical; turning placebo_apps on plans only the placebo rules."""

import hashlib
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from netmob_cpc.estimates import correction_factors, read_estimate_table, read_published_table
from netmob_cpc.placebo import (
    PLACEBO_COLUMNS, analysis_results, app_estimates, app_series, placebo_table,
    published_placebo_table, tor_rank_row,
)
from netmob_cpc.series import combine_cities, commune_totals, populations
from netmob_cpc.statistics import ANALYSES, select_tested
from workflow_runner import (
    REPO, TINY, TINY_RUN, InBackground, background_snakemake, copy_run, jobs_in, load_default_config, made_in_background,
    merge, planned_jobs, snakemake, wait_for, write_config,
)

APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}
AUTHORS_TABLE = REPO / "tests" / "data" / "authors_cpc_com.csv"
SHARES = {"tor_to_darknet_share": 0.011, "porn_in_darknet_share": 2267628 / 5437248, "csam_in_porn_share": 105 / 253}
MINUTES_96 = np.arange(0, 1440, 15, dtype=np.int16)
MINUTES_92 = np.concatenate([np.arange(0, 120, 15), np.arange(180, 1440, 15)]).astype(np.int16)


# --- Tor's rank among the apps, by hand ---------------------------------------------------


def rows(rhos, analysis="all"):
    return pd.DataFrame(
        [{"app": f"app{i}", "analysis": analysis, "rho": rho, "pvalue": 0.5, "n": 10} for i, rho in enumerate(rhos)],
        columns=PLACEBO_COLUMNS,
    )


def test_tor_rank_row_on_three_apps_by_hand():
    placebo = pd.concat([rows([0.1, 0.3, 0.5]), rows([0.9, 0.9, 0.9], "partial_population")])
    row = tor_rank_row(placebo, 0.3)
    # two apps (0.3 and 0.5) at or above 0.3: p = (1 + 2) / (1 + 3)
    assert row["p_upper"] == 0.75
    assert row["replicates"] == 3 and row["seed"] == "" and row["observed"] == 0.3
    assert row["test"] == "placebo_apps"
    assert row["reference_mean"] == pytest.approx(0.3)
    # linear quantiles of (0.1, 0.3, 0.5): positions 0.05 and 1.95
    assert row["reference_q025"] == pytest.approx(0.1 + 0.05 * 0.2)
    assert row["reference_q975"] == pytest.approx(0.3 + 0.95 * 0.2)
    # above every app: (1 + 0) / (1 + 3); an app without a rho is left out
    top = tor_rank_row(rows([0.1, 0.3, 0.5, math.nan]), 0.6)
    assert top["p_upper"] == 0.25 and top["replicates"] == 3


def test_an_analysis_without_a_placebo_counterpart_is_an_error():
    with pytest.raises(ValueError, match="partial_population_weird"):
        tested = pd.DataFrame({"sv_com_17_21": [1.0, 3.0, 2.0, 4.0], "pop": [5.0, 6.0, 7.0, 8.0]})
        analysis_results([1.0, 2.0, 3.0, 4.0], tested, ["all", "partial_population_weird"])


# --- table mode on the authors' published table -------------------------------------------


def test_table_mode_on_the_authors_table():
    table, _ = read_published_table(AUTHORS_TABLE, APPS)
    tested, _ = select_tested(table[table["traffic_dir"] == "DL"])
    placebo = published_placebo_table(tested, APPS)
    assert list(placebo.columns) == PLACEBO_COLUMNS
    assert placebo[["app", "analysis"]].values.tolist() == [[app, a] for app in ("YouTube", "Web_Adult") for a in ANALYSES]
    rho = placebo[placebo["analysis"] == "all"].set_index("app")["rho"]
    assert rho["YouTube"] == pytest.approx(0.2456, abs=1e-4)
    assert rho["Web_Adult"] == pytest.approx(0.2377, abs=1e-4)
    assert (placebo.loc[placebo["analysis"] == "all", "n"] == 731).all()
    # independently: scipy's Spearman on log(app x c x 1000 / pop)
    for app in ("YouTube", "Web_Adult"):
        measure = np.log(tested[app].to_numpy(float) * tested["c"].to_numpy(float) * 1000 / tested["pop"].to_numpy(float))
        expected = spearmanr(measure, tested["sv_com_17_21"].to_numpy(float))
        assert rho[app] == pytest.approx(expected.statistic, abs=1e-12)
    # and the communes with a non-zero outcome only
    nonzero = tested[tested["sv_com_17_21"] > 0]
    measure = np.log(nonzero["YouTube"] * nonzero["c"] * 1000 / nonzero["pop"])
    row = placebo[(placebo["app"] == "YouTube") & (placebo["analysis"] == "outcome_nonzero")].iloc[0]
    assert row["rho"] == pytest.approx(spearmanr(measure, nonzero["sv_com_17_21"]).statistic, abs=1e-12)
    assert row["n"] == len(nonzero)


# --- the construction on hand-made days equals the headline's for Tor --------------------


def made_day(rng, n_communes, minutes, present):
    traffic = rng.gamma(2.0, 50.0, size=(n_communes, len(minutes)))
    traffic[rng.random(traffic.shape) < 0.2] = 0.0
    return {"traffic": traffic, "tiles": np.where(present, 3, 0).astype(np.int32), "slot_minutes": minutes}


def test_tor_through_the_placebo_construction_equals_combine_cities():
    """Two cities' tile maps sharing a commune, the clock-change day and an outage day with
    zero porn slots: the placebo construction on the Tor days gives combine_cities' correlations and
    Tor totals exactly, and its factor and measure equal the estimate's."""
    rng = np.random.default_rng(5)
    dates = [20190330, 20190331, 20190512]
    minutes = [MINUTES_96, MINUTES_92, MINUTES_96]
    cities = {
        "Nice": {"code_com": np.array(["06088", "06004", "13001"]), "code_dep": np.array(["06", "06", "13"]),
                 "pop": np.array([340000.0, 70000.0, 860000.0])},
        "Marseille": {"code_com": np.array(["13001", "13055"]), "code_dep": np.array(["13", "13"]),
                      "pop": np.array([860000.0, 0.0])},
    }
    days = {}
    for city, index in cities.items():
        k = len(index["code_com"])
        days[city] = {}
        for role in ("porn", "tor", "control"):
            days[city][role] = [made_day(rng, k, m, np.ones(k, bool)) for m in minutes]
        if city == "Nice":  # Nice's files never hold 13001: Marseille's copy gives its days
            for record in days[city]["porn"]:
                record["tiles"][-1] = 0
        days[city]["porn"][2]["traffic"][:, :8] = 0.0  # outage slots
    headline = [(city, index, dates, days[city]) for city, index in cities.items()]
    _, city_totals, correlations, dropped = combine_cities(headline, ["20190512"], 0.001)
    totals = commune_totals(city_totals, populations(list(cities.values())))
    placebo = [(city, index, dates, days[city]["porn"], days[city]["tor"]) for city, index in cities.items()]
    p_correlations, p_totals, p_dropped = app_series(placebo, ["20190512"], 0.001)
    assert p_dropped == dropped and dropped["Nice"] > 0
    pd.testing.assert_frame_equal(p_correlations, correlations, check_exact=True)
    merged = totals.merge(p_totals, on="code_com", validate="one_to_one")
    assert len(merged) == len(totals) == 4
    assert (merged["tor"].to_numpy() == merged["app_total"].to_numpy()).all()
    estimates = app_estimates(p_correlations, p_totals, method="pearson_log", shares=SHARES, negative_factor_floor=1e-5)
    c, _ = correction_factors(correlations, "pearson_log", SHARES, 1e-5)
    expected = totals.merge(correlations.assign(c=c), on="code_com")
    expected = expected.set_index("code_com")
    got = estimates.set_index("code_com").loc[expected.index]
    assert (got["c"].to_numpy() == expected["c"].to_numpy()).all()
    with np.errstate(divide="ignore", invalid="ignore"):
        per_1000 = expected["tor"] * expected["c"] * 1000 / expected["pop"].where(expected["pop"] > 0)
    np.testing.assert_array_equal(got["per_1000"].to_numpy(), per_1000.to_numpy())
    assert np.isnan(got.loc["13055", "per_1000"])  # no usable population


# --- the synthetic placebo apps ----------------------------------------------------------


def tree_digest(root):
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".gpkg"):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


# The digest of the default generator's files (all but the GeoPackage) for Nice and Nancy,
# 2019-03-29 .. 2019-04-02, grid_scale 0.05, DL and UL, seed 20190316, computed with the
# generator as it was before the placebo apps were added: the placebo apps must leave the
# default data set byte-identical.
DEFAULT_DIGEST = "888a24012edead7886159abb344003db1b854fa5e146fa96ea5f2b567860d5f5"


def test_default_synthetic_data_set_is_byte_identical(tmp_path):
    from netmob_cpc.synthetic import generate

    generate(
        netmob_dir=tmp_path / "netmob", tile_grid=str(tmp_path / "grids" / "{city}.geojson"),
        communes=str(tmp_path / "communes.gpkg"), crime_csv=str(tmp_path / "crime.csv"),
        truth_csv=str(tmp_path / "truth.csv"), cities=["Nice", "Nancy"], apps=APPS, directions=["DL", "UL"],
        start="2019-03-29", end="2019-04-02", seed=20190316, grid_scale=0.05,
    )
    assert tree_digest(tmp_path) == DEFAULT_DIGEST


def placebo_files(root, apps, cities=("Nice",)):
    from netmob_cpc.synthetic import generate_placebo

    generate_placebo(netmob_dir=root, apps=apps, cities=list(cities), directions=["DL", "UL"],
                     start="2019-03-30", end="2019-03-31", seed=3, grid_scale=0.05)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.txt"))}


def test_synthetic_placebo_apps_are_keyed_on_their_names(tmp_path):
    alone = placebo_files(tmp_path / "a", ["Netflix"])
    both = placebo_files(tmp_path / "b", ["Spotify", "Netflix"])
    assert len(alone) == 4 and len(both) == 8  # 1 city x 2 days x 2 directions per app
    assert {k: v for k, v in both.items() if "Netflix" in k} == alone
    from netmob_cpc.synthetic import placebo_app_model

    netflix, spotify = placebo_app_model(3, "Netflix"), placebo_app_model(3, "Spotify")
    assert not np.allclose(netflix["weekday"], spotify["weekday"])  # profiles of their own
    assert abs(netflix["weekday"].mean()) < 1e-12
    # the clock-change day has 92 slots; the values are plain integers
    line = both["Nice/Spotify/20190331/Nice_Spotify_20190331_DL.txt"].decode().splitlines()[0].split(" ")
    assert len(line) == 93 and all(field.isdigit() or field in ("", "nan") for field in line[1:])


# --- the workflow ------------------------------------------------------------------------


PLACEBO_APPS = ["Netflix", "YouTube"]


@made_in_background("placebo_run", needs=["tiny_run"])
def start_placebo_run(root, log_dir, tiny_run):
    """The steps of `placebo_run`, in the background from the session's start (conftest.py),
    once the shared tiny run has ended."""
    workdir = root / "run"

    def copy_of_the_tiny_run(_):
        tiny_run.wait()
        copy_run(tiny_run.workdir, workdir)
        (workdir / "config.yaml").rename(workdir / "headline.yaml")
        write_config(workdir, merge(TINY_RUN, {"placebo_apps": PLACEBO_APPS}))

    return InBackground(
        [copy_of_the_tiny_run, background_snakemake(workdir, "--dry-run"), background_snakemake(workdir)],
        log_dir, workdir=workdir,
    )


@pytest.fixture(scope="module")
def placebo_run(background, tiny_run):
    """The tiny synthetic run without placebo apps (a copy of the shared one, tests/conftest.py),
    then the plan and the run with two."""
    run = wait_for(background, "placebo_run")
    return run.workdir, jobs_in(run.results[1])


@pytest.mark.workflow
def test_turning_placebo_apps_on_plans_only_the_placebo_rules(placebo_run):
    workdir, plan = placebo_run
    batches = 2  # 2019-03-29 .. 04-02 in batches of 3 days anchored on a Monday: 03-29..31, 04-01..02
    assert plan == {
        "synthetic_placebo": 1,  # Netflix's files; YouTube's are synthetic_data's
        "placebo_ingest": len(TINY["cities"]) * batches,
        "placebo_series": len(PLACEBO_APPS),
        "placebo_table": 1,
        "falsification": 1,  # cpc's rank among the placebo apps is a row of falsification.csv
        "all": 1,
    }
    assert planned_jobs(workdir) == {}
    # and off again: the falsification table loses that row; nothing else reruns
    assert planned_jobs(workdir, configfile="headline.yaml") == {"falsification": 1, "all": 1}


@pytest.mark.workflow
def test_placebo_csv_rows_equal_an_independent_computation(placebo_run):
    workdir, _ = placebo_run
    results = workdir / "results"
    placebo = pd.read_csv(results / "DL" / "placebo.csv")
    assert list(placebo.columns) == PLACEBO_COLUMNS
    assert placebo[["app", "analysis"]].values.tolist() == [[app, a] for app in PLACEBO_APPS for a in ANALYSES]
    estimates = read_estimate_table(results / "DL" / "cpc_com.csv", APPS)
    tested, _ = select_tested(estimates)
    for app in PLACEBO_APPS:
        per_app = pd.read_parquet(results / "placebo" / "DL" / f"{app}.parquet").set_index("code_com")
        measure = np.log(per_app.loc[tested["code_com"], "app_total"] * per_app.loc[tested["code_com"], "c"]
                         * 1000 / tested["pop"].to_numpy())
        expected = spearmanr(measure.to_numpy(), tested["sv_com_17_21"].to_numpy())
        row = placebo[(placebo["app"] == app) & (placebo["analysis"] == "all")].iloc[0]
        assert row["rho"] == pytest.approx(expected.statistic, abs=1e-12) and row["n"] == len(tested)
    # YouTube's own factor differs from Tor's: its measure is not yt_per_1000 x c
    youtube = pd.read_parquet(results / "placebo" / "DL" / "YouTube.parquet").set_index("code_com")
    assert not np.allclose(youtube.loc[estimates["code_com"], "c"].to_numpy(), estimates["c"].to_numpy())
    assert np.allclose(youtube.loc[estimates["code_com"], "app_total"].to_numpy(), estimates["YouTube"].to_numpy(),
                       rtol=1e-12)


@pytest.mark.workflow
def test_falsification_table_ranks_cpc_among_the_placebo_apps(placebo_run):
    """The rank row of falsification.csv from placebo.csv and spearman.csv, by hand."""
    workdir, _ = placebo_run
    results = workdir / "results" / "DL"
    placebo = pd.read_csv(results / "placebo.csv")
    rho = placebo.loc[placebo["analysis"] == "all", "rho"].to_numpy()
    spearman = pd.read_csv(results / "spearman.csv")
    cpc = spearman.loc[(spearman["x"] == "cpc_per_1000") & (spearman["y"] == "sv_com_17_21"), "rho"].item()
    falsification = pd.read_csv(results / "falsification.csv")
    row = falsification[falsification["test"] == "placebo_apps"].iloc[0]
    assert row["observed"] == pytest.approx(cpc, abs=1e-15)
    assert row["replicates"] == len(PLACEBO_APPS)
    assert row["p_upper"] == pytest.approx((1 + (rho >= cpc).sum()) / (1 + len(rho)))
    assert row["reference_mean"] == pytest.approx(rho.mean())


@pytest.mark.workflow
def test_tor_through_the_placebo_construction_gives_the_headline_bit_for_bit(placebo_run):
    from netmob_cpc.series import days_by_role, load_tile_index

    workdir, _ = placebo_run
    results = workdir / "results"
    config = merge(load_default_config(), TINY)
    batches = sorted(p.name for p in (results / "ingest" / "DL" / "Nice" / "Tor").glob("*.npz"))
    dates = [int(d) for d in pd.date_range(config["period"]["start"], config["period"]["end"]).strftime("%Y%m%d")]
    outage = [d.replace("-", "") for d in config["outage_dates"]]

    def cities():
        for city in config["cities"]:
            paths = {app: [results / "ingest" / "DL" / city / app / b for b in batches] for app in ("Web_Adult", "Tor")}
            days = days_by_role(paths, dates)
            yield city, load_tile_index(results / "tile_map" / f"{city}.npz"), dates, days["Web_Adult"], days["Tor"]

    correlations, totals, _ = app_series(cities(), outage, config["zero_replacement"])
    tor = app_estimates(correlations, totals, method=config["correction_method"], shares=SHARES,
                        negative_factor_floor=config["negative_factor_floor"])
    headline = pd.read_csv(results / "DL" / "cpc_com.csv", dtype={"code_com": str})
    headline = headline.set_index("code_com")
    ours = tor.set_index("code_com").loc[headline.index]
    np.testing.assert_array_equal(ours["c"].to_numpy(), headline["c"].to_numpy())
    np.testing.assert_array_equal(ours["per_1000"].to_numpy(), headline["cpc_per_1000"].to_numpy())
    estimates = read_estimate_table(results / "DL" / "cpc_com.csv", APPS)
    tested, _ = select_tested(estimates)
    ours_rows = placebo_table(tested, {"Tor": tor})
    adjusted = pd.read_csv(results / "DL" / "association_adjusted.csv")
    cpc = adjusted[adjusted["x"] == "cpc_per_1000"].set_index("analysis")
    for row in ours_rows.itertuples():  # equal, NaN where the analysis has too few communes
        np.testing.assert_array_equal(
            [row.rho, row.pvalue, row.n], cpc.loc[row.analysis, ["rho", "pvalue", "n"]].to_numpy(float)
        )


@pytest.mark.workflow
def test_placebo_apps_config(tmp_path):
    write_config(tmp_path, merge(TINY, {"placebo_apps": ["Netflix", "Tor"]}), name="tor.yaml")
    result = snakemake(tmp_path, "--dry-run", configfile="tor.yaml", check=False)
    assert result.returncode != 0
    assert "config key 'placebo_apps': Tor is the tor app" in result.stderr + result.stdout
    write_config(tmp_path, merge(TINY, {"placebo_apps": "all"}), name="all.yaml")
    plan = planned_jobs(tmp_path, configfile="all.yaml")
    # 68 apps less Web_Adult and Tor; ingest: one job per city x batch for all of them
    assert plan["placebo_series"] == 66 and plan["placebo_ingest"] == 2 * 2
    # the synthetic files: one job per app read from its own files (YouTube's are synthetic_data's)
    assert plan["placebo_table"] == 1 and plan["synthetic_placebo"] == 65


@pytest.mark.workflow
def test_traffic_mode_lists_missing_placebo_files_then_plans_the_placebo_rules(tmp_path):
    from netmob_cpc.synthetic import generate, generate_placebo

    data = tmp_path / "data"
    common = {"cities": ["Nice"], "directions": ["DL"], "start": "2019-03-30", "end": "2019-03-31", "seed": 7,
              "grid_scale": 0.04}
    generate(netmob_dir=data / "netmob", tile_grid=str(data / "grids" / "{city}.geojson"),
             communes=str(data / "communes.gpkg"), crime_csv=str(data / "crime.csv"),
             truth_csv=str(data / "truth.csv"), apps=APPS, **common)
    overrides = {
        "netmob_dir": str(data / "netmob"), "tile_grid": str(data / "grids" / "{city}.geojson"),
        "communes": str(data / "communes.gpkg"), "crime_csv": str(data / "crime.csv"), "cities": ["Nice"],
        "period": {"start": "2019-03-30", "end": "2019-03-31"}, "placebo_apps": ["Netflix", "YouTube"],
    }
    write_config(tmp_path, overrides)
    result = snakemake(tmp_path, "--dry-run", check=False)
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "2 traffic file(s) of the placebo apps (config key 'placebo_apps') are missing" in text
    assert "Nice/Netflix/20190331/Nice_Netflix_20190331_DL.txt" in text
    generate_placebo(netmob_dir=data / "netmob", apps=["Netflix"], **common)
    plan = planned_jobs(tmp_path)
    assert plan["placebo_ingest"] == 1 and plan["placebo_series"] == 2 and plan["placebo_table"] == 1
    assert "synthetic_placebo" not in plan and "synthetic_data" not in plan
