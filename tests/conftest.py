"""Shared test set-up: the workflow's scripts are importable as plain modules, and workflow
runs that several test files read are made once per session."""

import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))


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
