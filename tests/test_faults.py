"""Interrupted, repeated and failing runs: a second run on the same inputs, killed (SIGKILL)
in the middle of its ingest, then completed with `--rerun-incomplete`, gives the same bytes
as an uninterrupted run; paths with a space or an accent are taken as
they are; a failed job's one-line message comes last; an output that cannot be written
ends the job with one line."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from netmob_cpc.files import atomic_path, run_rule
from workflow_runner import (
    TINY, TINY_RUN, InBackground, background_snakemake, made_in_background, niced, snakemake, snakemake_command,
    wait_for, write_config,
)



def output_bytes(workdir):
    """Every file a user looks at: the direction folder (CSV, JSON, figures)."""
    root = Path(workdir) / "results" / "DL"
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def complete_run(tiny_run):
    """The shared tiny run (tests/conftest.py) of workflow_runner.TINY_RUN."""
    return tiny_run


@made_in_background("interrupted_run")
def start_interrupted_run(workdir, log_dir):
    """A second run of workflow_runner.TINY_RUN, killed during its ingest (kill_during_ingest),
    then what a user does after a kill (README, troubleshooting): `--unlock`, then
    `--rerun-incomplete`; in the background from the session's start (tests/conftest.py)."""
    write_config(workdir, TINY_RUN)
    return InBackground(
        [lambda _: kill_during_ingest(workdir), background_snakemake(workdir, "--unlock"),
         background_snakemake(workdir, "--rerun-incomplete")],
        log_dir, workdir=workdir,
    )


# ingest outputs of a complete TINY_RUN: a file per city, app and batch of days_per_job days
INGEST_FILES = len(TINY["cities"]) * 3 * 2


def kill_during_ingest(workdir):
    """Snakemake on `workdir`, killed (SIGKILL to its whole process group) as soon as its
    ingest has written 3 files. Gives what the kill left: the number of ingest files and
    whether the estimate table exists."""
    process = subprocess.Popen(niced(snakemake_command(workdir)), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    ingest = workdir / "results" / "ingest"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if ingest.exists() and len(list(ingest.rglob("*.npz"))) >= 3:
                break
            time.sleep(0.05)
        if process.poll() is not None:
            raise AssertionError("the run ended before it could be interrupted")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return {"ingest_files": len(list(ingest.rglob("*.npz"))),
            "estimates": (workdir / "results" / "DL" / "cpc_com.csv").exists()}


@pytest.fixture
def interrupted_run(background):
    return wait_for(background, "interrupted_run")


@pytest.mark.workflow
def test_sigkill_during_ingest_then_rerun_incomplete_gives_the_bytes_of_a_complete_run(complete_run, interrupted_run):
    """A second run on the same inputs, killed in the middle of its ingest and completed with
    --rerun-incomplete: every output byte-identical to the shared run's (so two runs agree,
    and a kill leaves nothing that changes a number)."""
    left = interrupted_run.results[0]
    assert 0 < left["ingest_files"] < INGEST_FILES and not left["estimates"], left
    ours, theirs = output_bytes(interrupted_run.workdir), output_bytes(complete_run)
    assert ours.keys() == theirs.keys() and len(ours) > 20
    assert [name for name in ours if ours[name] != theirs[name]] == []


# --- paths the shell and the scripts must take as they are ------------------------------------
@pytest.mark.workflow
def test_results_dir_named_after_an_input_with_a_space_and_an_accent(user_data_run):
    """results_dir '<the crime file> x' (a space, under a folder with a non-ASCII name): the
    unquoted compiler command once wrote over the crime file; now every input stays
    byte-identical and the outputs land in that folder (the shared run, tests/conftest.py)."""
    before, after, results = user_data_run["before"], user_data_run["after"], user_data_run["results"]
    assert str(results) == f"{user_data_run['data'] / 'crime.csv'} x" and "données" in str(results)
    # the results folder lies in the data folder too
    assert {name: after.get(name) for name in before} == before and "crime.csv" in before
    assert (results / ".build" / "libnetmob_parse.so").is_file()
    assert len((results / "DL" / "cpc_com.csv").read_text().splitlines()) > 3


# --- a failed job's message comes last, from this run's failed job only -------------------------
@pytest.mark.workflow
def test_failed_job_message_is_repeated_last_and_no_other_log_is_read(tmp_path):
    write_config(tmp_path, {**TINY, "crime_class": "Nope"})
    stale = tmp_path / "results" / "logs" / "ingest" / "DL" / "Nice" / "20190329.log"
    stale.parent.mkdir(parents=True)
    stale.write_text("Error in rule ingest: a line of another run\n")
    later = time.time() + 3600  # newer than this run: an mtime test would take it
    os.utime(stale, (later, later))
    result = snakemake(tmp_path, "--until", "crime_rates", check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    expected = "Error in rule crime_rates: results/synthetic/crime.csv: no row of class 'Nope' (config key 'crime_class')"
    tail = output.split("Exiting because a job execution failed")[-1]
    assert [line for line in tail.splitlines() if line.startswith("Error in rule")] == [
        next(line for line in output.splitlines() if line.startswith(expected))]
    assert "another run" not in output
    assert "Traceback" not in output


# --- an output the job cannot write: one line, no traceback ------------------------------------
def run_job(job, main, capfd):
    saved = sys.stderr
    try:
        with pytest.raises(SystemExit) as stopped:
            run_rule(job, main)
    finally:
        if sys.stderr is not saved:
            sys.stderr.close()
        sys.stderr = saved
    return stopped.value.code, capfd.readouterr().err.strip()


def write_output(snakemake):
    with atomic_path(snakemake.output[0]) as tmp:
        with open(tmp, "w") as handle:
            handle.write("x")


def test_output_folder_blocked_by_a_file_is_one_line(tmp_path, capfd):
    (tmp_path / "results").write_text("a file where the results folder should be")
    output = tmp_path / "results" / "DL" / "cpc_com.csv"
    job = SimpleNamespace(log=[str(tmp_path / "job.log")], rule="estimate_table", output=[str(output)])
    code, terminal = run_job(job, write_output, capfd)
    assert code == 1 and "Traceback" not in terminal
    assert terminal.startswith(f"Error in rule estimate_table: cannot write {tmp_path / 'results'}")
    assert terminal.endswith("Make results_dir a folder this user can write (no file in the way) and rerun: "
                             "finished outputs are kept, nothing is half-written.")


def test_output_that_cannot_be_opened_is_one_line(tmp_path, capfd, monkeypatch):
    """Root writes anywhere (CI runs as root): the refusal of the file system is simulated."""
    import builtins

    output = tmp_path / "results" / "DL" / "cpc_com.csv"
    real_open = builtins.open

    def refusing_open(path, mode="r", *args, **kwargs):
        if "w" in mode and ".cpc_com.csv.tmp-" in str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    job = SimpleNamespace(log=[str(tmp_path / "job.log")], rule="estimate_table", output=[str(output)])
    code, terminal = run_job(job, write_output, capfd)
    assert code == 1
    assert terminal.startswith(f"Error in rule estimate_table: cannot write {output.parent}/.cpc_com.csv.tmp-")
    assert ": Permission denied. Make results_dir a folder this user can write" in terminal
    assert not output.exists()
    # reading an input that is missing stays a read error
    job.output = [str(output)]
    code, terminal = run_job(job, lambda s: real_open(tmp_path / "absent.csv"), capfd)
    assert terminal.startswith(f"Error in rule estimate_table: cannot read {tmp_path / 'absent.csv'}")
