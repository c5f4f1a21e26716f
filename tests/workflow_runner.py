"""Run the workflow from tests: a config written into a work folder, Snakemake in a subprocess."""

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
DEFAULT_CONFIG = REPO / "config" / "config.yaml"

# A tiny synthetic set: two cities, a period with the clock-change day and the outage day
# would be long; this one has the clock change and stays fast.
TINY = {
    "cities": ["Nice", "Nancy"],
    "period": {"start": "2019-03-29", "end": "2019-04-02"},
    "synthetic": {"grid_scale": 0.05},
    "days_per_job": 3,
}

# The shared tiny run (tests/conftest.py, fixture `tiny_run`): TINY with a negative-control
# class and fewer falsification draws, every default target made once per test session.
TINY_RUN = {
    **TINY,
    "negative_control_classes": ["Vols de véhicules"],
    "falsification": {"permutations": 300, "replicates": 50},
}


SCHEMA = REPO / "config" / "schema.yaml"
if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))


def schema_defaults():
    """Every key's default, as the workflow fills them in (netmob_cpc.config)."""
    from netmob_cpc.config import schema_defaults as defaults

    return defaults(SCHEMA)


def load_default_config():
    """What the workflow runs with by default: config/config.yaml over the schema's defaults,
    filled in by the workflow's own function (netmob_cpc.config.validated)."""
    from netmob_cpc.config import validated

    with open(DEFAULT_CONFIG) as handle:
        return validated(yaml.safe_load(handle), SCHEMA)


def merge(base, overrides):
    """Recursive dict update (a new dict): the workflow's own netmob_cpc.config.merged."""
    from netmob_cpc.config import merged

    return merged(base, overrides)


def write_config(workdir, overrides=None, name="config.yaml"):
    """config/config.yaml with `overrides`, written as `workdir/name` (the keys it leaves
    out take the schema's defaults, as for a user's file); relative paths then resolve
    inside `workdir` (Snakemake runs with --directory)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with open(DEFAULT_CONFIG) as handle:
        config = merge(yaml.safe_load(handle), overrides or {})
    if isinstance(config.get("period"), dict):
        config["period"] = {key: str(value) for key, value in config["period"].items()}
    path = workdir / name
    with open(path, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return path


def snakemake(workdir, *args, configfile="config.yaml", check=True, timeout=1200, cores=2, snakefile=SNAKEFILE):
    """Run Snakemake on the project's Snakefile in `workdir`; returns the CompletedProcess."""
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir),
        "--configfile", str(Path(workdir) / configfile), "--cores", str(cores), *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


def planned_jobs(workdir, *args, configfile="config.yaml", snakefile=SNAKEFILE):
    """Jobs a dry run would execute, per rule."""
    result = snakemake(workdir, "--dry-run", *args, configfile=configfile, snakefile=snakefile)
    text = result.stdout + result.stderr
    counts = Counter()
    if "Nothing to be done" in text:
        return counts
    table = re.search(r"job\s+count\s*\n[-\s]+\n(.*?)\n\s*total\s+(\d+)", text, re.S)
    if not table:
        raise AssertionError(f"no job table in the dry run:\n{text[-3000:]}")
    for line in table.group(1).splitlines():
        rule, count = line.split()
        counts[rule] += int(count)
    return counts


def copy_run(source, destination):
    """A copy of a finished working directory (config, results, .snakemake/ with its
    metadata; times kept) where Snakemake plans what it would plan in `source`."""
    shutil.copytree(source, destination, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    return Path(destination)
