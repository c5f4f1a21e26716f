"""What each app beyond the three of the headline costs: the bench workload (make bench's
data, real grid sizes) run with 3 apps and then with --apps apps (the three and the
rest as placebo apps, `placebo_apps`), back to back, warm page cache.

The placebo apps' files are hard links to the three apps' files of the same city, day and
direction (Web_Adult, Tor, YouTube in turn): the same bytes at the real sizes, parsed as
any other app's, without generating and storing gigabytes more. A hard link shares its
file's page cache, so both runs read warm files (every file is read once before each run):
the figures are CPU-bound job-seconds, not disk time. The bench's traffic files are only
linked and read, never written.

Prints, and writes as JSON (--json): the wall time of each run, the job-seconds of every
rule, and per placebo app the job-seconds of its ingest and of its series job, the MB of
files it reads and the MB per job-second; the cost of one more app for a run of the whole
data set follows from MB per job-second (BENCHMARKS.md).

Usage: python benchmarks/apps_cost.py --bench bench --out bench/apps --apps 10
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
HEADLINE = ("Web_Adult", "Tor", "YouTube")


def traffic_files(netmob):
    return sorted(Path(netmob).glob("*/*/*/*.txt"))


def link_apps(source, target, placebo):
    """target/<city>/<app>/<day>/<city>_<app>_<day>_<dir>.txt for the headline apps and each
    placebo app, hard links to source's headline files. Returns {app: MB of its files}."""
    shutil.rmtree(target, ignore_errors=True)
    sizes = {}
    for path in traffic_files(source):
        city, app, day = path.parts[-4:-1]
        if app not in HEADLINE:
            continue
        direction = path.stem.rsplit("_", 1)[1]
        wanted = [app] + [name for i, name in enumerate(placebo) if HEADLINE[i % 3] == app]
        for name in wanted:
            link = Path(target) / city / name / day / f"{city}_{name}_{day}_{direction}.txt"
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, link)
            sizes[name] = sizes.get(name, 0.0) + path.stat().st_size / 1e6
    return sizes


def prime(paths):
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass


def rule_seconds(results):
    """rule -> (jobs, job-seconds, CPU seconds, peak RSS MB) from Snakemake's benchmark: files."""
    import pandas as pd

    table = {}
    for path in (Path(results) / "benchmarks").rglob("*.tsv"):
        rule = path.relative_to(Path(results) / "benchmarks").parts[0].removesuffix(".tsv")
        row = pd.read_csv(path, sep="\t").iloc[0]
        jobs, seconds, cpu, rss = table.get(rule, (0, 0.0, 0.0, 0.0))
        table[rule] = (jobs + 1, seconds + float(row["s"]), cpu + float(row["cpu_time"]),
                       max(rss, float(row["max_rss"])))
    return table


def run(folder, config, cores):
    shutil.rmtree(folder / "results", ignore_errors=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(folder), "--configfile", str(folder / "config.yaml"), "--cores", str(cores), "--quiet"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"the run in {folder} failed:\n{result.stderr[-4000:]}")
    return wall, rule_seconds(folder / "results")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", type=Path, default=Path("bench"),
                        help="make bench's folder (its data/ and workflow/config.yaml are read)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the links and the runs")
    parser.add_argument("--apps", type=int, default=10, help="apps in the second run (>= 4)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    bench = args.bench.resolve()
    out = args.out.resolve()
    base = yaml.safe_load((bench / "workflow" / "config.yaml").read_text())
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    candidates = [app for app in schema["definitions"]["netmob_app"]["enum"] if app not in HEADLINE]
    placebo = candidates[: args.apps - 3]
    if len(placebo) != args.apps - 3 or not placebo:
        sys.exit(f"--apps must be between 4 and {3 + len(candidates)}")
    netmob = out / "netmob"
    sizes = link_apps(base["netmob_dir"], netmob, placebo)
    figures = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True).stdout.strip(),
        "cores": args.cores, "cities": base["cities"], "period": base["period"],
        "placebo_apps": placebo, "mb_per_app": {app: round(mb, 1) for app, mb in sizes.items()},
    }
    runs = {}
    for name, apps in (("3 apps", []), (f"{args.apps} apps", placebo)):
        folder = out / name.replace(" ", "_")
        folder.mkdir(parents=True, exist_ok=True)
        config = {**base, "netmob_dir": str(netmob), "results_dir": "results", "placebo_apps": apps}
        prime(traffic_files(netmob))
        wall, rules = run(folder, config, args.cores)
        runs[name] = {"wall_s": round(wall, 2), "rules": rules}
        print(f"{name}: {wall:.1f} s wall, {sum(r[1] for r in rules.values()):.1f} job-seconds", flush=True)
    figures["runs"] = runs
    rules = runs[f"{args.apps} apps"]["rules"]
    n = len(placebo)
    mb = sum(sizes[app] for app in placebo) / n
    ingest, series = rules.get("placebo_ingest", (0, 0.0, 0.0, 0.0)), rules.get("placebo_series", (0, 0.0, 0.0, 0.0))
    figures["per_placebo_app"] = {
        "mb": round(mb, 1), "ingest_job_s": round(ingest[1] / n, 2), "ingest_cpu_s": round(ingest[2] / n, 2),
        "series_job_s": round(series[1] / n, 2), "series_cpu_s": round(series[2] / n, 2),
        "series_peak_mb": round(series[3], 1), "ingest_peak_mb": round(ingest[3], 1),
        "mb_per_ingest_job_s": round(mb * n / ingest[1], 1) if ingest[1] else None,
        "wall_s": round((runs[f"{args.apps} apps"]["wall_s"] - runs["3 apps"]["wall_s"]) / n, 2),
    }
    print(f"\n{'rule':<22}{'jobs':>6}{'job-s':>8}{'CPU s':>8}{'peak MB':>9}   ({args.apps} apps)")
    for rule, (jobs, seconds, cpu, rss) in sorted(rules.items(), key=lambda item: -item[1][1]):
        print(f"{rule:<22}{jobs:>6}{seconds:>8.1f}{cpu:>8.1f}{rss:>9.0f}")
    per = figures["per_placebo_app"]
    print(f"\nper placebo app ({n} apps, {mb:.0f} MB of files each): ingest {per['ingest_job_s']} job-s "
          f"({per['mb_per_ingest_job_s']} MB per job-second), series {per['series_job_s']} job-s "
          f"(peak {per['series_peak_mb']:.0f} MB); whole run +{per['wall_s']} s wall per app")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
