"""Reruns redo exactly what changed: a setting reruns the rules that read it and what
follows; an edit of a package module reruns the rules whose scripts import it; nothing
machine-specific (interpreter path, checkout location) is tracked.

The run is the shared `finished_run` (tests/conftest.py): the data are generated once by
the generator's command line, then the workflow runs on them as on real data, so that
changing the period or a file does not regenerate inputs.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workflow_runner import REPO, planned_jobs, write_config

UPSTREAM = {"synthetic_data", "parser_library", "tile_map", "ingest", "hourly_series",
            "qc_report", "crime_rates"}
PACKAGE = REPO / "scripts" / "netmob_cpc"


@pytest.mark.workflow
def test_second_run_has_nothing_to_do(finished_run):
    workdir, _ = finished_run
    assert planned_jobs(workdir) == {}


@pytest.mark.workflow
def test_another_interpreter_path_plans_nothing(finished_run):
    """`python -m snakemake` from another interpreter path (the base interpreter, with the
    virtualenv's packages on PYTHONPATH, as a moved venv or another checkout would give):
    nothing machine-specific is a tracked param, so nothing reruns."""
    workdir, _ = finished_run
    base = os.path.realpath(sys.executable)
    assert base != sys.executable
    site_packages = next(p for p in sys.path if p.endswith("site-packages") and sys.prefix in p)
    result = subprocess.run(
        [base, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(workdir / "config.yaml"), "--cores", "1", "--dry-run"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": site_packages},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]


@pytest.mark.workflow
def test_forcerun_ingest_names_the_one_ingest_rule(finished_run):
    workdir, _ = finished_run
    jobs = planned_jobs(workdir, "--forcerun", "ingest")
    # 2 cities x 2 batches (2019-03-29..03-31, 04-01..04-02 with days_per_job 3), the 3 apps
    # of a city and batch in one job
    assert jobs["ingest"] == 4
    jobs = planned_jobs(workdir, "--forcerun", "ingest", "--until", "ingest")
    assert set(jobs) == {"ingest"}


FORCED = {}  # rule -> the plan of --forcerun <rule> on the finished run


@pytest.mark.workflow
@pytest.mark.parametrize(
    "key, value", [("tor_to_darknet_share", 0.034), ("correction_method", "spearman_log")]
)
def test_parameter_change_reruns_only_the_estimate_and_after(finished_run, key, value):
    workdir, overrides = finished_run
    write_config(workdir, {**overrides, key: value}, name="changed.yaml")
    jobs = planned_jobs(workdir, configfile="changed.yaml")
    print(f"\n{key} changed: {dict(jobs)}")
    if "estimate_table" not in FORCED:  # the same plan for every parameter: made once
        FORCED["estimate_table"] = planned_jobs(workdir, "--forcerun", "estimate_table")
    assert jobs == FORCED["estimate_table"]
    assert not set(jobs) & UPSTREAM
    assert jobs["estimate_table"] == 1


@pytest.mark.workflow
def test_extending_the_period_runs_only_the_new_days_batch(finished_run):
    workdir, overrides = finished_run
    write_config(workdir, {**overrides, "period": {"start": "2019-03-29", "end": "2019-04-03"}}, name="longer.yaml")
    jobs = planned_jobs(workdir, configfile="longer.yaml")
    print(f"\none more day: {dict(jobs)}")
    # 2019-04-03 joins the batch 2019-04-01 .. 04-03: one job per city (its 3 apps)
    assert jobs["ingest"] == 2
    assert "tile_map" not in jobs and "synthetic_data" not in jobs and "crime_rates" not in jobs
    assert jobs["hourly_series"] == 1 and jobs["qc_report"] == 1


@pytest.mark.workflow
def test_rewriting_one_traffic_file_reruns_its_job_only(finished_run):
    workdir, overrides = finished_run
    path = Path(overrides["netmob_dir"]) / "Nancy" / "Tor" / "20190330" / "Nancy_Tor_20190330_DL.txt"
    original, status = path.read_bytes(), path.stat()
    first, rest = original.split(b"\n", 1)
    fields = first.split(b" ")
    fields[1] = b"12345"  # a corrected value of the first slot of the first tile
    try:
        path.write_bytes(b" ".join(fields) + b"\n" + rest)
        jobs = planned_jobs(workdir)
    finally:
        # the file as it was (bytes and time): the tree is "complete" again for the other tests
        path.write_bytes(original)
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    print(f"\none traffic file rewritten: {dict(jobs)}")
    assert jobs["ingest"] == 1
    assert jobs["hourly_series"] == 1
    assert "tile_map" not in jobs and "crime_rates" not in jobs
    assert planned_jobs(workdir) == {}


@pytest.mark.workflow
def test_adding_a_city_adds_that_citys_jobs(finished_run):
    workdir, overrides = finished_run
    write_config(workdir, {**overrides, "cities": ["Nice", "Nancy", "Tours"]}, name="more.yaml")
    jobs = planned_jobs(workdir, configfile="more.yaml")
    print(f"\none more city: {dict(jobs)}")
    assert jobs["tile_map"] == 1
    assert jobs["ingest"] == 2  # Tours: 2 batches (3 apps each)
    assert jobs["hourly_series"] == 1


@pytest.mark.workflow
def test_editing_a_setting_read_by_one_rule_only(finished_run):
    workdir, overrides = finished_run
    write_config(workdir, {**overrides, "outage_dates": ["2019-03-31"]}, name="outage.yaml")
    jobs = planned_jobs(workdir, configfile="outage.yaml")
    assert "ingest" not in jobs and "qc_report" not in jobs
    assert jobs["hourly_series"] == 1 and jobs["estimate_table"] == 1
    os.remove(workdir / "outage.yaml")


# --- code edits ---------------------------------------------------------------------------
# The rerun of a rule follows its tracked param `code=code_fingerprint("<script>.py")`
# (netmob_cpc.config.code_fingerprint). In-process: editing a module changes exactly the
# fingerprints of the scripts that import it, transitively (read independently, with a
# regular expression); then one Snakemake dry run: an edit reruns exactly the rules whose
# fingerprint changed, and what follows them.
def rules_in_files():
    """rule name -> (entry script, the script its code fingerprint names), read from the rule
    files as text (an independent reading, not the workflow's own import analysis)."""
    rules = {}
    for path in sorted((REPO / "rules").glob("*.smk")):
        text = path.read_text()
        for match in re.finditer(r"\n\s*rule (\w+):(.*?)(?=\n\s*rule \w+:|\Z)", text, re.S):
            script = re.search(r'script:\s*\n\s*"\.\./scripts/([\w.]+)"', match.group(2))
            fingerprint = re.findall(r'code=code_fingerprint\("([\w.]+)"\)', match.group(2))
            rules[match.group(1)] = (script.group(1) if script else None, fingerprint)
    return rules


def entry_scripts_by_rule():
    """rule name -> entry script, for the rules that run a script."""
    return {rule: script for rule, (script, _) in rules_in_files().items() if script}


def modules_used(path, seen=None):
    """Package modules a file imports, transitively, found with a regular expression."""
    seen = set() if seen is None else seen
    text = Path(path).read_text()
    names = set(re.findall(r"^\s*(?:from|import) netmob_cpc\.(\w+)", text, re.M))
    for group in re.findall(r"^\s*from netmob_cpc import \(?([\w, ]+)", text, re.M):
        names.update(name.strip() for name in group.split(",") if name.strip())
    for name in names - seen:
        if (PACKAGE / f"{name}.py").exists():
            seen.add(name)
            modules_used(PACKAGE / f"{name}.py", seen)
    return seen


MODULES = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")


def test_every_rule_that_runs_a_script_fingerprints_that_script():
    rules = rules_in_files()
    scripts = {rule: script for rule, (script, _) in rules.items() if script}
    assert len(scripts) >= 20 and "estimate_table" in scripts and "ingest" in scripts
    wrong = {rule: named for rule, (script, named) in rules.items() if script and named != [script]}
    assert wrong == {}, "each rule's params need code=code_fingerprint(<its own script>)"


@pytest.fixture(scope="module")
def scripts_copy(tmp_path_factory):
    """The entry scripts and the package, copied (Python files only) to be edited, with the
    fingerprints of the copy as it is and the package modules each script uses."""
    folder = tmp_path_factory.mktemp("scripts") / "scripts"
    shutil.copytree(REPO / "scripts", folder,
                    ignore=lambda where, names: [n for n in names if not (n.endswith(".py") or Path(where, n).is_dir())
                                                 or n == "__pycache__"])
    before = fingerprints_of(folder)
    used = {script: modules_used(REPO / "scripts" / script) for script in before}
    return folder, before, used


def fingerprints_of(scripts):
    """script -> code fingerprint, for every entry script a rule runs. (An edit that appends a
    comment leaves the imports, which code_fingerprint caches per file, as they are.)"""
    from netmob_cpc.config import code_fingerprint

    return {script: code_fingerprint(script, scripts) for script in sorted(set(entry_scripts_by_rule().values()))}


@pytest.mark.parametrize("module", [*MODULES, "__init__"])
def test_editing_a_package_module_changes_exactly_its_users_fingerprints(scripts_copy, module):
    folder, before, used = scripts_copy
    path = folder / "netmob_cpc" / f"{module}.py"
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\n# an edit\n")
        after = fingerprints_of(folder)
    finally:
        path.write_bytes(original)
    changed = sorted(script for script in before if after[script] != before[script])
    users = sorted(script for script in before if module == "__init__" or module in used[script])
    print(f"\n{module}: changes the fingerprints of {changed}")
    assert changed == users
    assert fingerprints_of(folder) == before


@pytest.mark.workflow
def test_editing_a_package_module_reruns_exactly_its_users_and_what_follows(finished_run, background_ended):
    """heatmaps.py: used by the heatmaps and robust_ranking rules, not by the estimate."""
    workdir, _ = finished_run
    module = "heatmaps"
    users = sorted(rule for rule, script in entry_scripts_by_rule().items()
                   if module in modules_used(REPO / "scripts" / script))
    assert users == ["heatmaps", "robust_ranking"]
    expected = planned_jobs(workdir, "--forcerun", *users)
    assert "estimate_table" not in expected and expected["heatmaps"] == 1
    path = PACKAGE / f"{module}.py"
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\n# an edit\n")
        jobs = planned_jobs(workdir)
    finally:
        path.write_bytes(original)
    print(f"\n{module}: used by {users}; edit plans {dict(jobs)}")
    assert jobs == expected
    assert planned_jobs(workdir) == {}
