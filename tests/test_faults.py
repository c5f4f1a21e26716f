"""Interrupted and repeated runs: a SIGKILL in the middle of the ingest, then
`--rerun-incomplete`, gives the same bytes as an uninterrupted run, and two complete
runs on the same inputs give byte-identical outputs."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workflow_runner import SNAKEFILE, TINY, snakemake, write_config

pytestmark = pytest.mark.workflow


def output_bytes(workdir):
    """Every file a user looks at: the direction folder (CSV, JSON, figures)."""
    root = Path(workdir) / "results" / "DL"
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("complete")
    write_config(workdir, TINY)
    snakemake(workdir)
    return workdir


def test_two_complete_runs_are_byte_identical(complete_run, tmp_path):
    write_config(tmp_path, TINY)
    snakemake(tmp_path)
    first, second = output_bytes(complete_run), output_bytes(tmp_path)
    assert first.keys() == second.keys() and len(first) > 20
    different = [name for name in first if first[name] != second[name]]
    assert different == []


def test_sigkill_during_ingest_then_rerun_incomplete(complete_run, tmp_path):
    write_config(tmp_path, TINY)
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(tmp_path),
        "--configfile", str(tmp_path / "config.yaml"), "--cores", "2",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ingest = tmp_path / "results" / "ingest"
    deadline = time.monotonic() + 300
    try:
        # wait until the ingest has started writing (some days done, not all)
        while time.monotonic() < deadline and process.poll() is None:
            if ingest.exists() and len(list(ingest.rglob("*.npz"))) >= 3:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be interrupted"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    written = len(list(ingest.rglob("*.npz")))
    assert 0 < written < 2 * 3 * 5, written
    assert not (tmp_path / "results" / "DL" / "cpc_com.csv").exists()
    # what a user does after a kill (README, troubleshooting): unlock, then rerun
    snakemake(tmp_path, "--unlock")
    snakemake(tmp_path, "--rerun-incomplete")
    assert output_bytes(tmp_path) == output_bytes(complete_run)
