"""The workflow never writes a configured input (the first round's data loss: a config
naming its own inputs inherited synthetic.enabled: true, one traffic file was missing,
and the generator overwrote every input). Every input file must be byte-identical after
the run, whether the run fails or completes."""

import subprocess
import sys

import pytest

from workflow_runner import REPO, file_states, snakemake, write_config

pytestmark = pytest.mark.workflow

CITIES = ["Nice", "Nancy"]
PERIOD = {"start": "2019-03-30", "end": "2019-04-01"}


@pytest.fixture(scope="module")
def user_data(tmp_path_factory):
    """A user's data folder in the real formats (made by the generator, outside the run)."""
    folder = tmp_path_factory.mktemp("user_data")
    subprocess.run(
        [sys.executable, "-m", "netmob_cpc.synthetic", "--out", str(folder), "--cities", *CITIES,
         "--start", PERIOD["start"], "--end", PERIOD["end"], "--grid-scale", "0.05"],
        check=True, capture_output=True, cwd=REPO, env={"PYTHONPATH": str(REPO / "scripts"), "PATH": "/usr/bin:/bin"},
    )
    return folder


def user_config(workdir, data):
    # no `synthetic:` key: the default config's synthetic.enabled: true is inherited
    return write_config(workdir, {
        "netmob_dir": str(data / "netmob"), "tile_grid": str(data / "grids" / "{city}.geojson"),
        "communes": str(data / "communes.gpkg"), "crime_csv": str(data / "crime.csv"),
        "cities": CITIES, "period": PERIOD, "days_per_job": 3,
    })


def test_missing_file_fails_and_leaves_every_input_untouched(tmp_path, user_data):
    missing = user_data / "netmob" / "Nice" / "Tor" / "20190331" / "Nice_Tor_20190331_DL.txt"
    kept = missing.read_bytes()
    missing.unlink()
    try:
        before = file_states(user_data)
        user_config(tmp_path, user_data)
        result = snakemake(tmp_path, check=False)
        assert result.returncode != 0
        assert "1 traffic file(s) of the configured cities x apps x period x directions are missing" in result.stderr
        assert str(missing) in result.stderr
        assert file_states(user_data) == before
        assert not missing.exists()
    finally:
        missing.write_bytes(kept)


def test_complete_run_leaves_every_input_untouched(user_data_run):
    """The shared complete run of a user's data (tests/conftest.py), whose results folder
    lies inside the data folder: every input file has the same bytes and time."""
    before, after, results = user_data_run["before"], user_data_run["after"], user_data_run["results"]
    assert len(before) > 20 and "crime.csv" in before
    assert {name: after.get(name) for name in before} == before
    assert not [name for name in after if name not in before and not (user_data_run["data"] / name).is_relative_to(results)]
    assert (results / "DL" / "cpc_com.csv").exists()
    assert not (results / "synthetic").exists()
