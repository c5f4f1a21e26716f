"""The workflow on a real single-node SLURM (tests/slurm/start_slurm.sh, started by .ci/run)
gives the same contract outputs as a local run, with the ingest jobs grouped into few
submissions (profiles/slurm: group-components)."""

import hashlib
import json
import math
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from slurm_runner import CONTRACT_TABLES, FINISHED, SLURM_PROFILE_FILE, SUBMITTED
from workflow_runner import SNAKEFILE, load_default_config

pytestmark = pytest.mark.slurm


def job_stats(text):
    """The 'Job stats' table Snakemake prints before running: rule -> job count."""
    table = re.search(r"job\s+count\s*\n[-\s]+\n(.*?)\n\s*total\s+(\d+)", text, re.S)
    assert table, f"no job table in the Snakemake log:\n{text[-3000:]}"
    counts = {}
    for line in table.group(1).splitlines():
        rule, count = line.split()
        counts[rule] = int(count)
    assert sum(counts.values()) == int(table.group(2))
    return counts


def ingest_group_size():
    """N of `ingest=N` in the SLURM profile's group-components."""
    profile = yaml.safe_load(SLURM_PROFILE_FILE.read_text())
    components = profile["group-components"]
    components = [components] if isinstance(components, str) else components
    sizes = [int(item.split("=")[1]) for item in components if item.split("=")[0] == "ingest"]
    assert sizes, f"{SLURM_PROFILE_FILE}: no ingest=N in group-components {components}"
    return sizes[0]


def tree_digest(root):
    """SHA-256 of every file under `root` (relative path -> digest)."""
    root = Path(root)
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def read_output(path):
    frame = pd.read_csv(path, dtype={"code_com": str, "code_dep": str})
    return frame.sort_values(list(frame.columns), na_position="last").reset_index(drop=True)


def assert_same_frame(cluster, local, name):
    pd.testing.assert_frame_equal(cluster, local, check_dtype=False, rtol=1e-12, atol=0, obj=name)


@pytest.fixture(scope="module")
def runs(background, tiny_run):
    """The tiny configuration of the shared local run (tests/conftest.py, tiny_run) run
    again through SLURM (slurm_runner.start_cluster_run), started in the background when
    the session began (tests/conftest.py, background); the local run is the shared
    one."""
    reason = background["slurm"]["unavailable"]
    if reason:
        if os.environ.get("NETMOB_REQUIRE_SLURM"):
            pytest.fail(f"NETMOB_REQUIRE_SLURM is set (.ci/run started SLURM) but: {reason}")
        pytest.skip(reason)
    assert SNAKEFILE.exists(), f"{SNAKEFILE} is missing"
    run = background["slurm"]["run"]
    assert run is not None, "the SLURM run was not started (tests/conftest.py, background)"
    cluster_dir = run.workdir
    returncode, cluster_log, cluster_seconds = run.finish()
    assert returncode == 0, f"the SLURM run failed ({returncode}) after {cluster_seconds:.0f} s:\n{cluster_log[-8000:]}"

    print(f"\nSLURM run: {cluster_seconds:.0f} s wall since the session began")
    return {"cluster": (cluster_dir, cluster_log), "local": (tiny_run, None)}


def test_jobs_ran_as_slurm_jobs_with_the_ingest_grouped(runs):
    _, log = runs["cluster"]
    stats = job_stats(log)
    ingest_rules = {rule for rule in stats if rule == "ingest"}
    n_ingest = sum(stats[rule] for rule in ingest_rules)
    assert n_ingest >= 2, f"the tiny config plans {n_ingest} ingest job(s): nothing to group ({stats})"

    submissions = SUBMITTED.findall(log)
    group_submissions = [job_id for job_id, path in submissions if "/group_ingest" in path]
    single_ingest = [path for _, path in submissions if re.search(r"/rule_ingest(/|_|$)", path)]
    assert not single_ingest, f"ingest jobs submitted one by one: {single_ingest}"
    assert len(group_submissions) == math.ceil(n_ingest / ingest_group_size()), (
        f"{len(group_submissions)} ingest group submissions for {n_ingest} ingest jobs "
        f"(group-components ingest={ingest_group_size()})"
    )
    assert len(group_submissions) < n_ingest
    finished = FINISHED.findall(log)
    assert sum(rule in ingest_rules for rule in finished) == n_ingest
    # every job but the local ones (the target `all` and the parser build, which runs
    # where Snakemake runs) went to SLURM: one submission per non-ingest job
    local_jobs = stats.get("all", 0) + stats.get("parser_library", 0)
    assert local_jobs >= 1, f"no local job (the target rule `all`) planned: {stats}"
    remote_jobs = sum(stats.values()) - local_jobs
    assert len(submissions) == remote_jobs - n_ingest + len(group_submissions), (
        f"{len(submissions)} submissions for {remote_jobs} remote jobs ({n_ingest} ingest)"
    )
    print(f"\n{len(submissions)} SLURM submissions for {remote_jobs} jobs ({n_ingest} ingest jobs in {len(group_submissions)})")

    # SLURM's own view (squeue keeps a finished job for MinJobAge seconds)
    job_ids = [job_id for job_id, _ in submissions]
    result = subprocess.run(
        ["squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-o", "%i %T"],
        capture_output=True, text=True, timeout=30,
    )
    states = dict(line.split() for line in result.stdout.splitlines() if line.strip())
    assert states, f"squeue knows none of the jobs {job_ids}: {result.stderr}"
    assert set(states.values()) == {"COMPLETED"}, states


def test_both_runs_read_the_same_generated_inputs(runs):
    cluster_dir, _ = runs["cluster"]
    local_dir, _ = runs["local"]
    cluster = tree_digest(cluster_dir / "results" / "synthetic")
    local = tree_digest(local_dir / "results" / "synthetic")
    assert cluster.keys() == local.keys()
    differing = [path for path in cluster if cluster[path] != local[path] and not path.endswith(".gpkg")]
    assert not differing, f"the synthetic inputs differ between the runs: {differing[:10]}"


def test_contract_outputs_equal_the_local_run(runs):
    cluster_dir, _ = runs["cluster"]
    local_dir, _ = runs["local"]
    for direction in load_default_config()["directions"]:
        local_out = local_dir / "results" / direction
        cluster_out = cluster_dir / "results" / direction
        names = sorted(path.name for path in cluster_out.glob("*.csv"))
        for required in CONTRACT_TABLES:
            assert required in names, f"{cluster_out}: no {required}"
        for name in names:
            assert_same_frame(read_output(cluster_out / name), read_output(local_out / name), f"{direction}/{name}")
        cluster_summary = json.loads((cluster_out / "summary.json").read_text())
        local_summary = json.loads((local_out / "summary.json").read_text())
        assert cluster_summary.keys() == local_summary.keys()
        for key, value in local_summary.items():
            if isinstance(value, float):
                assert cluster_summary[key] == pytest.approx(value, rel=1e-12, abs=0, nan_ok=True), key
            else:
                assert cluster_summary[key] == value, key
