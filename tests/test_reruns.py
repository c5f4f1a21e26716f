"""Reruns redo only what changed (Snakemake's rerun triggers see every setting a rule uses).

The data are generated once by the synthetic generator's CLI, then the workflow runs on
them as on real data (synthetic.enabled: false), so that changing the period or a file does
not regenerate the inputs.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workflow_runner import REPO, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

DOWNSTREAM_OF_ESTIMATE = {
    "estimate_table", "association_tests", "heatmaps", "sensitivity", "bootstrap_intervals", "robust_ranking",
    "figure_heatmap", "figure_maps", "figure_scatter", "figure_correction_factors", "all",
}
UPSTREAM = {"synthetic_data", "parser_library", "tile_map", "ingest", "commune_time_series", "hourly_series",
            "qc_report", "crime_rates", "commune_correlations"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A complete run of 2 cities over 2019-03-29 .. 2019-04-02 on data that also holds 04-03 and Tours."""
    workdir = tmp_path_factory.mktemp("reruns")
    data = workdir / "data"
    subprocess.run(
        [
            sys.executable, str(REPO / "scripts" / "synthetic.py"), "--cities", "Nice", "Nancy", "Tours",
            "--start", "2019-03-29", "--end", "2019-04-03", "--grid-scale", "0.04", "--seed", "7", "--out", str(data),
        ],
        check=True, capture_output=True, timeout=300,
    )
    overrides = {
        "netmob_dir": str(data / "netmob"),
        "tile_grid": str(data / "grids" / "{city}.geojson"),
        "communes": str(data / "communes.gpkg"),
        "crime_csv": str(data / "crime.csv"),
        "cities": ["Nice", "Nancy"],
        "period": {"start": "2019-03-29", "end": "2019-04-02"},
        "days_per_job": 3,
        "synthetic": {"enabled": False},
    }
    write_config(workdir, overrides)
    snakemake(workdir)
    return workdir, overrides


def test_second_run_has_nothing_to_do(finished_run):
    workdir, _ = finished_run
    assert planned_jobs(workdir) == {}


@pytest.mark.parametrize(
    "key, value", [("tor_to_darknet_share", 0.034), ("correction_method", "spearman_log")]
)
def test_parameter_change_reruns_only_the_estimate_and_after(finished_run, key, value):
    workdir, overrides = finished_run
    write_config(workdir, {**overrides, key: value}, name="changed.yaml")
    jobs = planned_jobs(workdir, configfile="changed.yaml")
    print(f"\n{key} changed: {dict(jobs)}")
    assert set(jobs) == DOWNSTREAM_OF_ESTIMATE, jobs
    assert not set(jobs) & UPSTREAM
    assert jobs["estimate_table"] == 1 and jobs["figure_heatmap"] == 5


def test_extending_the_period_runs_only_the_new_days_batch(finished_run):
    workdir, overrides = finished_run
    write_config(workdir, {**overrides, "period": {"start": "2019-03-29", "end": "2019-04-03"}}, name="longer.yaml")
    result = snakemake(workdir, "--dry-run", configfile="longer.yaml")
    jobs = planned_jobs(workdir, configfile="longer.yaml")
    print(f"\none more day: {dict(jobs)}")
    # 2019-04-03 joins the batch 2019-04-01 .. 04-03: one job per city x app
    assert jobs["ingest"] == 2 * 3
    assert "ingest_20190401" in result.stdout and "ingest_20190329" not in result.stdout
    assert "tile_map" not in jobs and "synthetic_data" not in jobs and "crime_rates" not in jobs
    assert jobs["commune_time_series"] == 2


def test_rewriting_one_traffic_file_reruns_its_job_only(finished_run):
    workdir, overrides = finished_run
    path = Path(overrides["netmob_dir"]) / "Nancy" / "Tor" / "20190330" / "Nancy_Tor_20190330_DL.txt"
    first, rest = path.read_bytes().split(b"\n", 1)
    fields = first.split(b" ")
    fields[1] = b"12345"  # a corrected value of the first slot of the first tile
    path.write_bytes(b" ".join(fields) + b"\n" + rest)
    jobs = planned_jobs(workdir)
    print(f"\none traffic file rewritten: {dict(jobs)}")
    assert jobs["ingest"] == 1
    assert jobs["commune_time_series"] == 1  # Nancy only
    assert "tile_map" not in jobs and "crime_rates" not in jobs
    # bring the tree back to "complete" for the other tests
    snakemake(workdir)


def test_adding_a_city_adds_that_citys_jobs(finished_run):
    workdir, overrides = finished_run
    write_config(workdir, {**overrides, "cities": ["Nice", "Nancy", "Tours"]}, name="more.yaml")
    jobs = planned_jobs(workdir, configfile="more.yaml")
    print(f"\none more city: {dict(jobs)}")
    assert jobs["tile_map"] == 1
    assert jobs["ingest"] == 3 * 2  # Tours: 3 apps x 2 batches
    assert jobs["commune_time_series"] == 1
    assert jobs["hourly_series"] == 1


def test_editing_a_setting_read_by_one_rule_only(finished_run):
    workdir, overrides = finished_run
    write_config(workdir, {**overrides, "outage_dates": ["2019-03-31"]}, name="outage.yaml")
    jobs = planned_jobs(workdir, configfile="outage.yaml")
    assert "ingest" not in jobs and "commune_time_series" not in jobs
    assert jobs["hourly_series"] == 1 and jobs["estimate_table"] == 1
    os.remove(workdir / "outage.yaml")
