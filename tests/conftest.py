"""Shared test set-up: the workflow's scripts are importable as plain modules, and workflow
runs that several test files read are made once per session."""

import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))


@pytest.fixture(scope="session", autouse=True)
def slurm_background(request, tmp_path_factory):
    """The SLURM run of tests/test_slurm.py (slurm_runner.start_cluster_run), started in the
    background before the session's first test when a test of that file is selected and a
    SLURM answers: it mostly waits (submissions, status checks), so the other tests run
    meanwhile. Gives {"unavailable": why SLURM cannot be used (None when it can), "run":
    the SnakemakeRun or None}; the run is ended (and its SLURM jobs cancelled) when the
    session ends without having waited for it."""
    from slurm_runner import TEST_FILE, slurm_unavailable, start_cluster_run

    state = {"unavailable": None, "run": None}
    if any(item.path.name == TEST_FILE for item in request.session.items):
        state["unavailable"] = slurm_unavailable()
        if state["unavailable"] is None:
            state["run"] = start_cluster_run(tmp_path_factory.mktemp("slurm_run"))
    yield state
    if state["run"] is not None:
        state["run"].stop()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The working directory of one complete run of workflow_runner.TINY_RUN (every default
    target: tables, figures, falsification, negative controls), made once per session.
    Read only: a test that changes a file or runs Snakemake there takes `tiny_run_copy`."""
    from workflow_runner import TINY_RUN, snakemake, write_config

    workdir = tmp_path_factory.mktemp("tiny_run")
    write_config(workdir, TINY_RUN)
    started = time.perf_counter()
    snakemake(workdir)
    print(f"\ntiny workflow run: {time.perf_counter() - started:.1f} s wall")
    return workdir


@pytest.fixture
def tiny_run_copy(tiny_run, tmp_path):
    """A copy of the shared tiny run that the test may change (workflow_runner.copy_run)."""
    from workflow_runner import copy_run

    return copy_run(tiny_run, tmp_path / "tiny_run")


def file_states(folder):
    """Every file under `folder`: (sha256, modification time in ns)."""
    import hashlib

    return {
        str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="session")
def user_data_run(tmp_path_factory):
    """A user's data in the real formats (made by the generator, outside the workflow) under
    a folder with a non-ASCII name, and one complete run of it (TINY's cities and period; the
    config names its inputs and inherits synthetic.enabled: true) whose results_dir is
    '<the crime file> x': named after an input, with a space, inside the data folder.
    Gives the working directory, the data and results folders and every data file's state
    (file_states) before and after the run. Read only."""
    import os
    import subprocess

    from workflow_runner import TINY, snakemake, write_config

    workdir = tmp_path_factory.mktemp("user_data_run")
    data = workdir / "données"
    subprocess.run(
        [sys.executable, "-m", "netmob_cpc.synthetic", "--out", str(data), "--cities", *TINY["cities"],
         "--start", TINY["period"]["start"], "--end", TINY["period"]["end"], "--grid-scale", "0.05"],
        check=True, capture_output=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO / "scripts")},
    )
    before = file_states(data)
    results = Path(f"{data / 'crime.csv'} x")
    write_config(workdir, {
        **TINY, "netmob_dir": str(data / "netmob"), "tile_grid": str(data / "grids" / "{city}.geojson"),
        "communes": str(data / "communes.gpkg"), "crime_csv": str(data / "crime.csv"), "results_dir": str(results),
    })
    snakemake(workdir)
    return {"workdir": workdir, "data": data, "results": results, "before": before, "after": file_states(data)}
