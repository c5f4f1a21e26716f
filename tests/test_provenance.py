"""Results know what made them: a record per job under the results folder (params, code
fingerprint, inputs; configured inputs with size and modification time) and a lock of the
results folder.

Through the workflow: a second working directory (its own .snakemake/) pointed at the same
results folder with another configuration reruns exactly the jobs that differ, and its
numbers equal those of a clean run; a traffic file corrected and given back an older time
reruns its ingest batch; a second run of a locked results folder is refused. Then the
module's functions, in-process.
"""

import hashlib
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from netmob_cpc import provenance
from workflow_runner import (
    REPO, InBackground, background_snakemake, file_states, generate, generated_inputs, made_in_background, planned_jobs,
    snakemake, wait_for, write_config,
)

HOST = socket.gethostname()
CITIES = ["Nice", "Nancy", "Tours"]
NARROWED = ["Nice", "Nancy"]
# every job from the hourly series on: what the cities of a run change
AFTER_SERIES = {
    "hourly_series": 1, "qc_report": 1, "estimate_table": 1, "association_tests": 1,
    "heatmaps": 1, "sensitivity": 1, "bootstrap_intervals": 1, "robust_ranking": 1,
    "figures": 1, "figure_maps": 1, "count_models": 1, "falsification": 1, "negative_controls": 1,
    "all": 1,
}


# --- through the workflow -------------------------------------------------------------------
@made_in_background("shared_results")
def start_shared_results(root, log_dir):
    """Data of 3 cities (made by the generator, outside the workflow) and a run of them in
    working directory A, complete but for the figures (B plans them all the same: they are
    after the series); in the background from the session's start (conftest.py)."""
    data = root / "data"
    a = root / "A"
    write_config(a, {**shared_config(root), "cities": CITIES})
    return InBackground(
        [generate(data, CITIES, "2019-03-29", "2019-04-02", "--grid-scale", "0.04", "--seed", "7"),
         lambda _: file_states(data), background_snakemake(a, "--omit-from", "figures", "figure_maps")],
        log_dir, timeout=1500, workdir=root,
    )


def shared_config(root):
    """The configuration that A, B and the others share: the data and the results folder."""
    return {
        **generated_inputs(root / "data"), "period": {"start": "2019-03-29", "end": "2019-04-02"},
        "days_per_job": 3, "results_dir": str(root / "results"),
    }


@pytest.fixture(scope="module")
def shared_results(background):
    """Data of 3 cities (made by the generator, outside the workflow), a complete run of
    them in working directory A, and the configurations of A and of B (2 cities) that
    share A's results folder."""
    run = wait_for(background, "shared_results")
    root, before = run.workdir, run.results[1]
    data, common = root / "data", shared_config(root)
    a, b = root / "A", root / "B"
    write_config(b, {**common, "cities": NARROWED})
    yield {"root": root, "data": data, "a": a, "b": b, "common": common, "results": root / "results"}
    assert file_states(data) == before, "an input file was changed"


INPUT_KEYS = set(generated_inputs("data"))


def contents(folder):
    """sha256 of every file under `folder`, by relative path."""
    return {name: digest for name, (digest, _) in file_states(folder).items()}


@pytest.mark.workflow
def test_another_working_directory_reruns_exactly_what_differs(shared_results, finished_run):
    a, b, results = shared_results["a"], shared_results["b"], shared_results["results"]
    assert not (b / ".snakemake").exists()
    dry = snakemake(b, "--dry-run")
    jobs = planned_jobs(b)
    print(f"\nfrom B with 2 of the 3 cities: {dict(jobs)}")
    assert jobs == AFTER_SERIES
    # the dry run says why: the records that changed, and what in them
    text = dry.stdout + dry.stderr
    assert re.search(r"Changed since the results were made: \S+/\.provenance/hourly_series/DL\.json "
                     r"\(params\.cities, inputs\)", text), text[-3000:]
    assert re.search(r"\.provenance/estimate_table/DL\.json \(inputs\)", text)

    snakemake(b)
    assert planned_jobs(b) == {}
    # A, whose .snakemake/ knows nothing of B's run, sees that the results are B's
    assert planned_jobs(a) == AFTER_SERIES

    # B's numbers are those of a clean run of B's configuration: the shared finished run
    # (conftest.py) is one, on the generator's bytes of the same cities and days
    clean, clean_config = finished_run
    assert {key: value for key, value in clean_config.items() if key not in INPUT_KEYS} == {
        key: value for key, value in shared_results["common"].items() if key not in INPUT_KEYS | {"results_dir"}
    } | {"cities": NARROWED}
    ours, theirs = contents(shared_results["data"]), contents(clean / "data")
    assert {name: digest for name, digest in theirs.items() if "20190403" not in name} == ours
    tables = sorted(path.name for path in (clean / "results" / "DL").glob("*.csv"))
    assert "cpc_com.csv" in tables and "spearman.csv" in tables and "qc.csv" in tables
    for name in tables:
        pd.testing.assert_frame_equal(pd.read_csv(results / "DL" / name), pd.read_csv(clean / "results" / "DL" / name))
    ours = pd.read_csv(results / "DL" / "cpc_com.csv")
    assert ours["code_com"].nunique() == len(ours) > 0

    # a share changed, from a third working directory: the estimate and what follows
    other = shared_results["root"] / "D"
    write_config(other, {**shared_results["common"], "cities": NARROWED, "tor_to_darknet_share": 0.034})
    jobs = planned_jobs(other)
    assert jobs == planned_jobs(b, "--forcerun", "estimate_table")
    assert jobs["estimate_table"] == 1 and "hourly_series" not in jobs and "ingest" not in jobs
    assert planned_jobs(b) == {}


@pytest.mark.workflow
def test_a_corrected_file_with_an_older_time_reruns_its_batch(shared_results):
    b, data = shared_results["b"], shared_results["data"]
    assert planned_jobs(b) == {}
    path = data / "netmob" / "Nancy" / "Tor" / "20190330" / "Nancy_Tor_20190330_DL.txt"
    original, status = path.read_bytes(), path.stat()
    output = shared_results["results"] / "ingest" / "DL" / "Nancy" / "Tor" / "20190329.npz"
    assert status.st_mtime_ns < output.stat().st_mtime_ns
    first, rest = original.split(b"\n", 1)
    fields = first.split(b" ")
    try:
        # corrected (another length), then given back its old time as cp -p would
        fields[1] = b"123456789"
        path.write_bytes(b" ".join(fields) + b"\n" + rest)
        assert path.stat().st_size != status.st_size
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
        jobs = planned_jobs(b)
        print(f"\none traffic file corrected, older time: {dict(jobs)}")
        assert jobs == {"ingest": 1, **AFTER_SERIES}

        # back to the original bytes and time: the dry run's record is undone, nothing to do
        path.write_bytes(original)
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
        assert planned_jobs(b) == {}

        # the blind spot: same size and same time (a digit changed in place) is not seen
        digits = fields[1] = b"9" * len(first.split(b" ")[1])
        assert len(digits) == len(first.split(b" ")[1]) and digits != first.split(b" ")[1]
        path.write_bytes(b" ".join(fields) + b"\n" + rest)
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
        assert path.stat().st_size == status.st_size
        assert planned_jobs(b) == {}
        assert planned_jobs(b, "--forcerun", "ingest")["ingest"] == 4  # 2 cities x 2 batches
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert planned_jobs(b) == {}


@pytest.mark.workflow
def test_the_c_source_is_followed_by_content_not_by_time(shared_results, background_ended):
    """A fresh checkout gives the C kernel's source a new time, not new content: nothing
    reruns; an edit of it rebuilds the parser and reruns the ingest."""
    b = shared_results["b"]
    source = REPO / "scripts" / "native" / "netmob_parse.c"
    original, status = source.read_bytes(), source.stat()
    try:
        os.utime(source)
        assert planned_jobs(b) == {}
        source.write_bytes(original + b"\n/* an edit */\n")
        jobs = planned_jobs(b)
        print(f"\nC source edited: {dict(jobs)}")
        assert jobs["parser_library"] == 1 and jobs["ingest"] == 4  # 2 cities x 2 batches
    finally:
        source.write_bytes(original)
        os.utime(source, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert planned_jobs(b) == {}


@pytest.mark.workflow
def test_a_second_run_of_a_locked_results_folder_is_refused(shared_results):
    b, results = shared_results["b"], shared_results["results"]
    lock = results / ".lock"
    holder = subprocess.Popen(["sleep", "120"])
    try:
        lock.write_text(json.dumps({"host": HOST, "pid": holder.pid, "workdir": "/elsewhere",
                                    "started": "2019-03-16T00:00:00"}))
        refused = snakemake(b, check=False)
        assert refused.returncode != 0
        message = refused.stderr.strip().splitlines()[-1]
        print(f"\n{message}")
        assert str(results) in message and f"pid {holder.pid}" in message and "/elsewhere" in message
        assert "wait for it to end" in message and str(lock) in message
        # a dry run still plans, and says that it records nothing
        looked = snakemake(b, "--dry-run")
        assert "in use by another run" in looked.stdout + looked.stderr
        assert json.loads(lock.read_text())["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()
    # the holder has ended: its lock is taken over, with a note, and released at the end
    taken = snakemake(b)
    assert f"of an ended run (pid {holder.pid}" in taken.stdout + taken.stderr
    assert not lock.exists()


def test_every_rule_records_its_own_provenance():
    """Each rule of rules/*.smk has the input provenance=provenance("<its own name>")."""
    found = 0
    for path in sorted((REPO / "rules").glob("*.smk")):
        text = path.read_text()
        for match in re.finditer(r"\n\s*rule (\w+):(.*?)(?=\n\s*rule \w+:|\Z)", text, re.S):
            name, body = match.groups()
            if "output:" not in body:
                continue  # a target rule (e.g. simulation): it runs nothing
            inputs = re.search(r"\n(\s*)input:\n(.*?)\n\1\w+:", body, re.S)
            assert inputs, f"rule {name} has no input block"
            assert f'provenance=provenance("{name}")' in inputs.group(2), f"rule {name}"
            found += 1
    assert found >= 17


# --- the module's functions -------------------------------------------------------------------
def test_record_path_by_wildcard_name():
    assert provenance.record_path("res", "crime_rates", {}) == "res/.provenance/crime_rates.json"
    path = provenance.record_path("res", "ingest", {"direction": "DL", "city": "Nice", "batch": "20190325"})
    assert path == "res/.provenance/ingest/20190325_Nice_DL.json"


def test_inputs_are_recorded_by_kind(tmp_path):
    results = tmp_path / "results"
    workflow_root = tmp_path / "workflow"
    (workflow_root / "src").mkdir(parents=True)
    source = workflow_root / "src" / "kernel.c"
    source.write_bytes(b"int x;\n")
    given = tmp_path / "data" / "crime.csv"
    given.parent.mkdir()
    given.write_bytes(b"a;b\n1;2\n")
    os.utime(given, ns=(1_000_000_123, 1_500_000_456))
    content = provenance.record(
        {"code": "abc", "cities": ["Nice"]},
        [f"{results}/tile_map/Nice.npz", str(source), str(given), str(tmp_path / "absent.csv")],
        str(results),
        str(workflow_root),
    )
    assert content["inputs"] == [
        ["{results}/tile_map/Nice.npz", None],
        ["{workflow}/src/kernel.c", hashlib.sha256(b"int x;\n").hexdigest()[:16]],
        [str(given), [8, 1_500_000_456]],
        [str(tmp_path / "absent.csv"), None],
    ]
    # the results folder spelt another way is the same folder
    relative = os.path.relpath(results)
    assert provenance.describe_input(f"{relative}/x.npz", relative + "/", str(workflow_root)) == ["{results}/x.npz", None]


def test_a_record_is_written_only_when_it_changes(tmp_path):
    path = str(tmp_path / ".provenance" / "estimate_table" / "DL.json")
    first = provenance.record_text({"params": {"shares": 0.011}, "inputs": []})
    assert provenance.update_record(path, first) == ("new", None)
    stored = open(path).read()
    assert provenance.stored_content(stored) == first and json.loads(stored)["written"] > 0
    os.utime(path, ns=(10**18, 10**18))
    assert provenance.update_record(path, first) == ("same", stored)
    assert os.stat(path).st_mtime_ns == 10**18 and open(path).read() == stored
    second = provenance.record_text({"params": {"shares": 0.034}, "inputs": []})
    assert provenance.update_record(path, second) == ("changed", stored)
    assert provenance.stored_content(open(path).read()) == second
    assert os.stat(path).st_mtime_ns != 10**18
    assert provenance.changed_parts(stored, json.loads(second)) == ["params.shares"]
    assert provenance.changed_parts(first, {"params": {"shares": 0.011}, "inputs": [["x", None]]}) == ["inputs"]
    assert os.listdir(os.path.dirname(path)) == ["DL.json"]  # no temporary file left
    # the same record written again has another stamp (hence another checksum)
    os.remove(path)
    provenance.update_record(path, second)
    again = open(path).read()
    os.remove(path)
    time.sleep(0.001)
    provenance.update_record(path, second)
    assert open(path).read() != again


def test_a_dry_run_keeps_the_record_it_replaced(tmp_path):
    path = str(tmp_path / "DL.json")
    made = provenance.record_text({"params": {"top_n": 10}})
    looked = provenance.record_text({"params": {"top_n": 20}})
    provenance.update_record(path, made)
    os.utime(path, ns=(10**18, 10**18))
    stored = open(path).read()
    assert provenance.update_record(path, looked, dry_run=True)[0] == "changed"
    assert os.path.exists(path + provenance.DRY_RUN_SUFFIX)
    # another dry run of a third configuration keeps the first record
    third = provenance.record_text({"params": {"top_n": 30}})
    assert provenance.update_record(path, third, dry_run=True)[0] == "changed"
    # back to the configuration that made the results: the record and its time return
    assert provenance.update_record(path, made)[0] == "restored"
    assert open(path).read() == stored and os.stat(path).st_mtime_ns == 10**18
    assert not os.path.exists(path + provenance.DRY_RUN_SUFFIX)
    # a real run of the looked-at configuration adopts it and drops the kept record
    provenance.update_record(path, looked, dry_run=True)
    assert provenance.update_record(path, looked)[0] == "same"
    assert not os.path.exists(path + provenance.DRY_RUN_SUFFIX)
    assert provenance.update_record(path, made)[0] == "changed"
    assert os.stat(path).st_mtime_ns > 10**18


def test_the_lock_of_a_results_folder(tmp_path):
    results = str(tmp_path / "results")
    assert provenance.acquire_lock(results, HOST, os.getpid(), "/srv/analysis") == ""
    held = provenance.read_lock(results)
    assert held["pid"] == os.getpid() and held["workdir"] == "/srv/analysis" and held["host"] == HOST
    # a second process of this host is refused while the holder lives
    with pytest.raises(provenance.ResultsLocked) as refused:
        provenance.acquire_lock(results, HOST, os.getpid() + 1, "/other")
    assert f"pid {os.getpid()}" in str(refused.value) and "/srv/analysis" in str(refused.value)
    # another process's lock is not released by us
    provenance.release_lock(results, HOST, os.getpid() + 1)
    assert provenance.read_lock(results)["pid"] == os.getpid()
    provenance.release_lock(results, HOST, os.getpid())
    assert provenance.read_lock(results) is None


def test_a_lock_of_an_ended_process_is_taken_over_and_another_hosts_is_not(tmp_path):
    results = str(tmp_path / "results")
    ended = subprocess.Popen(["true"])
    ended.wait()
    assert not provenance.pid_alive(ended.pid)
    provenance.acquire_lock(results, HOST, ended.pid, "/gone")
    note = provenance.acquire_lock(results, HOST, os.getpid(), "/here")
    assert f"pid {ended.pid}" in note and "/gone" in note and "taken over" in note
    assert provenance.read_lock(results)["pid"] == os.getpid()
    os.remove(provenance.lock_path(results))
    provenance.acquire_lock(results, "another-host", ended.pid, "/there")
    with pytest.raises(provenance.ResultsLocked, match="on another-host"):
        provenance.acquire_lock(results, HOST, os.getpid(), "/here")
    # an unreadable lock (a half-written file) is replaced
    Path(provenance.lock_path(results)).write_text("{")
    assert "unreadable" in provenance.acquire_lock(results, HOST, os.getpid(), "/here")


def test_real_path_resolves_as_realpath(tmp_path, monkeypatch):
    """provenance.real_path (folders' resolution remembered) gives os.path.realpath's
    answer for plain, relative, missing and linked files and linked folders."""
    import os

    from netmob_cpc.provenance import real_path

    (tmp_path / "data" / "Paris").mkdir(parents=True)
    (tmp_path / "data" / "Paris" / "a.txt").write_text("1")
    (tmp_path / "linked").symlink_to(tmp_path / "data")
    (tmp_path / "deep").symlink_to(tmp_path / "data" / "Paris")
    (tmp_path / "data" / "Paris" / "b.txt").symlink_to(tmp_path / "data" / "Paris" / "a.txt")
    monkeypatch.chdir(tmp_path)
    cases = [
        tmp_path / "data" / "Paris" / "a.txt", tmp_path / "linked" / "Paris" / "a.txt",
        tmp_path / "linked" / "Paris" / "b.txt", tmp_path / "linked" / "Paris" / "missing.txt",
        "linked/Paris/a.txt", "data/Paris/b.txt", "data/../linked/Paris/a.txt", "a.txt", ".",
        "deep/../Paris/a.txt", tmp_path / "deep" / ".." / "Paris" / "b.txt",
    ]
    for case in cases:
        assert real_path(str(case)) == os.path.realpath(case), case
    assert real_path("linked/Paris/b.txt") == str(tmp_path / "data" / "Paris" / "a.txt")


def test_snakemake_existence_cache_takes_a_record_written_after_its_folder_was_listed(tmp_path):
    """rules/common.smk marks each record it writes as existing in Snakemake's IO cache
    (`workflow.iocache.exists_local[path] = True`): a folder listed before the record was
    written otherwise hides it. This fails if a Snakemake upgrade changes that cache."""
    from snakemake.io import IOCache

    folder = tmp_path / ".provenance"
    folder.mkdir()
    (folder / "first.json").write_text("{}")
    cache = IOCache(max_wait_time=10)
    with __import__("os").scandir(folder) as scan:  # what Snakemake's inventory does
        for entry in scan:
            cache.exists_local[entry.path] = True
    cache.exists_local.has_inventory.add(str(folder))
    late = str(folder / "late.json")
    (folder / "late.json").write_text("{}")
    assert cache.exists_local[late] is False  # listed folder: a later file looks missing
    cache.exists_local[late] = True
    assert cache.exists_local[late] is True
