"""The whole NetMob23 data set planned: a dry run over 209,440 empty placeholder files.

Creates 20 cities x 68 apps x 77 days x 2 directions EMPTY traffic files (the layout of
netmob_dir), an empty tile map and crime file in a temporary folder, and runs
`snakemake -n` on them with `placebo_apps: all` and both directions (nothing is read but
the file names and times). Reports the dry run's wall time, Snakemake's peak memory
(/usr/bin/time -v), the jobs per rule, and the SLURM submissions the profile
profiles/slurm would make: one per job, but jobs of a rule with `group:` travel
together, up to the profile's `group-components` count per submission, and local rules
(`localrules:`) are not submitted. Targets: within 60 s, under 2 GB, jobs in the hundreds.

Usage:
  python benchmarks/full_plan.py [--out FOLDER] [--json figures.json]
"""

import argparse
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
CITIES = [
    "Bordeaux", "Clermont-Ferrand", "Dijon", "Grenoble", "Lille", "Lyon", "Mans", "Marseille", "Metz", "Montpellier",
    "Nancy", "Nantes", "Nice", "Orleans", "Paris", "Rennes", "Saint-Etienne", "Strasbourg", "Toulouse", "Tours",
]
DIRECTIONS = ["DL", "UL"]
FIRST_DAY, DAYS = datetime.date(2019, 3, 16), 77


def netmob_apps():
    """The 68 NetMob23 app names (the schema's netmob_app spellings)."""
    with open(REPO / "config" / "schema.yaml") as handle:
        schema = yaml.safe_load(handle)
    return list(schema["definitions"]["netmob_app"]["enum"])


def placeholders(netmob, apps):
    """The empty traffic files; returns how many."""
    stamps = [(FIRST_DAY + datetime.timedelta(days=i)).strftime("%Y%m%d") for i in range(DAYS)]
    count = 0
    for city in CITIES:
        for app in apps:
            for stamp in stamps:
                folder = netmob / city / app / stamp
                folder.mkdir(parents=True, exist_ok=True)
                for direction in DIRECTIONS:
                    with open(folder / f"{city}_{app}_{stamp}_{direction}.txt", "wb"):
                        count += 1
    return count


def write_config(folder, netmob):
    with open(REPO / "config" / "config.yaml") as handle:
        config = yaml.safe_load(handle) or {}
    config.update(
        netmob_dir=str(netmob), tile_map=str(folder / "map.csv"), crime_csv=str(folder / "crime.csv"),
        cities=CITIES, period={"start": FIRST_DAY.isoformat(),
                               "end": (FIRST_DAY + datetime.timedelta(days=DAYS - 1)).isoformat()},
        directions=DIRECTIONS, results_dir="results", synthetic={"enabled": False},
    )
    with open(REPO / "config" / "schema.yaml") as handle:
        if "placebo_apps" in yaml.safe_load(handle)["properties"]:
            config["placebo_apps"] = "all"
    for name in ("map.csv", "crime.csv"):
        (folder / name).touch()
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def job_counts(output):
    """{rule: jobs} from the dry run's "Job stats" table."""
    counts, table = {}, False
    for line in output.splitlines():
        if line.startswith("Job stats:"):
            table, counts = True, {}
            continue
        if table:
            match = re.match(r"^(\S+)\s+(\d+)\s*$", line)
            if match and match.group(1) not in ("job", "total"):
                counts[match.group(1)] = int(match.group(2))
            elif line.strip() == "" and counts:
                table = False
    return counts


def rule_groups_and_local_rules():
    """({rule: group}, {local rules}) read from the rule files."""
    groups, local = {}, set()
    for path in sorted((REPO / "rules").glob("*.smk")) + [REPO / "Snakefile"]:
        text = path.read_text()
        for block in re.split(r"\n(?=\s*rule \w+:)", text):
            name = re.match(r"\s*rule (\w+):", block)
            group = re.search(r"\n\s+group:\s*\n\s+\"(\w+)\"", block)
            if name and group:
                groups[name.group(1)] = group.group(1)
        for listed in re.findall(r"localrules:\s*\n((?:\s+\w+,?\s*\n)+)", text):
            local.update(re.findall(r"\w+", listed))
    return groups, local


def slurm_submissions(counts):
    """Submissions with profiles/slurm, per rule (grouped rules share their group's)."""
    with open(REPO / "profiles" / "slurm" / "config.v8+.yaml") as handle:
        profile = yaml.safe_load(handle)
    per_group = dict(item.split("=") for item in profile.get("group-components", []))
    groups, local = rule_groups_and_local_rules()
    submissions, grouped = {}, {}
    for rule, jobs in counts.items():
        if rule in local or rule == "all":  # the target rule runs nothing
            continue
        if rule in groups:
            grouped.setdefault(groups[rule], 0)
            grouped[groups[rule]] += jobs
        else:
            submissions[rule] = jobs
    for group, jobs in grouped.items():
        submissions[f"group {group}"] = math.ceil(jobs / int(per_group.get(group, 1)))
    return submissions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="folder for the placeholders (default: a temporary one, removed)")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    folder = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="full_plan_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        apps = netmob_apps()
        started = time.perf_counter()
        n_files = placeholders(folder / "netmob", apps)
        created = time.perf_counter() - started
        config = write_config(folder, folder / "netmob")
        snakemake = shutil.which("snakemake", path=os.path.dirname(sys.executable)) or "snakemake"
        command = ["/usr/bin/time", "-v", snakemake, "--snakefile", str(REPO / "Snakefile"),
                   "--directory", str(folder), "--configfile", str(config), "--dry-run",
                   "--cores", "1"]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if result.returncode:
            sys.exit(f"the dry run failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
        cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", result.stderr))
        counts = job_counts(result.stdout + "\n" + result.stderr)
        submissions = slurm_submissions(counts)
        figures = {
            "files": n_files, "apps": len(apps), "placeholders_s": created, "dry_run_s": wall, "dry_run_cpu_s": cpu,
            "peak_rss_mb": int(rss.group(1)) / 1024 if rss else None,
            "jobs": sum(counts.values()), "jobs_per_rule": counts,
            "slurm_submissions": sum(submissions.values()), "submissions_per_rule": submissions,
        }
    finally:
        if not args.out:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"{n_files:,} empty traffic files ({len(CITIES)} cities x {len(apps)} apps x {DAYS} days x "
          f"{len(DIRECTIONS)} directions), created in {created:.0f} s")
    print(f"snakemake -n: {wall:.1f} s wall (target 60 s; {cpu:.1f} s CPU), peak RSS {figures['peak_rss_mb']:.0f} MB "
          f"(target 2,000 MB), {figures['jobs']} jobs; SLURM submissions with profiles/slurm: "
          f"{figures['slurm_submissions']}")
    for rule, jobs in sorted(counts.items()):
        print(f"  {rule:28s} {jobs:6d} jobs")
    print("  submissions: " + ", ".join(f"{rule} {n}" for rule, n in sorted(submissions.items())))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return figures


if __name__ == "__main__":
    main()
