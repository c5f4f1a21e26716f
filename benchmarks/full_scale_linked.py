"""The whole workflow at the full NetMob23 scale of the seed's workload (20 cities x 77 days
x 3 apps, DL, real grid sizes), then the cost of each further app, without generating
tens of gigabytes of distinct files: one generated week per city, linked onto the 77
days. What it measures: every job's peak memory and job-seconds at the full number of
communes, tiles and slots, the whole run's wall time, and per further app the job-seconds
of its ingest and series; all from a warm page cache. What it cannot: the disk (every day
of a weekday is the same file, so the run's 46 GB are ~4 GB in the page cache); a cold
full-scale run needs distinct files (run_benchmarks.py --cities all --days 77, about an
hour to generate here).

1. (once, not timed) the synthetic generator writes 2019-03-25 .. 2019-03-31 (Monday to
   Sunday; the Sunday is the day the clocks go forward, 92 slots) for all 20 cities at the
   real grid sizes into --data, and the given tile map is built from its grids and
   communes (as run_benchmarks.py does);
2. --out/netmob holds hard links for every day of 2019-03-16 .. 2019-05-31: a day takes the
   generated file of its weekday; Sundays other than 2019-03-31 take the Saturday's (96
   slots), 2019-03-31 its own. The further apps (--apps minus the three; the first names
   of the schema's app list) are links to Web_Adult's, Tor's and YouTube's files in turn;
3. every file is read once, then the workflow runs with the default target, --cores 2;
4. the same again with those apps as `placebo_apps`, in the same results folder: only
   the placebo rules run (the headline rules never read placebo_apps), so this run is
   what the further apps cost.

Prints and writes (--json): wall and CPU time, per rule jobs, job-seconds, CPU seconds and
the largest job's peak RSS, the largest job of each run, the machine's peak memory in use,
and per further app: MB of files, ingest and series job-seconds, wall seconds.

Usage: python benchmarks/full_scale_linked.py --data bench-week --out bench-week/run --apps 10
"""

import argparse
import datetime
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_benchmarks as bench  # noqa: E402
import yaml  # noqa: E402

WEEK = ("2019-03-25", "2019-03-31")
PERIOD = ("2019-03-16", "2019-05-31")
DST_DAY = datetime.date(2019, 3, 31)
HEADLINE = ("Web_Adult", "Tor", "YouTube")


def source_day(day):
    """The generated day whose files stand for `day`."""
    if day == DST_DAY:
        return day
    weekday = day.weekday() if day.weekday() < 6 else 5  # other Sundays: the Saturday
    return datetime.date(2019, 3, 25) + datetime.timedelta(days=weekday)


def link_period(netmob, target, further=()):
    """Hard links target/<city>/<app>/<day>/... for every day of PERIOD, for each app of
    `netmob` and each of the `further` apps (linked to the headline apps' files in turn).
    Returns {app: (files, MB)}."""
    shutil.rmtree(target, ignore_errors=True)
    start, end = (datetime.date.fromisoformat(day) for day in PERIOD)
    linked = {}
    for city_dir in sorted(Path(netmob).iterdir()):
        for app_dir in sorted(city_dir.iterdir()):
            app = app_dir.name
            names = [app] + [name for i, name in enumerate(further) if HEADLINE[i % len(HEADLINE)] == app]
            day = start
            while day <= end:
                source_stamp, stamp = source_day(day).strftime("%Y%m%d"), day.strftime("%Y%m%d")
                for path in sorted((app_dir / source_stamp).glob("*.txt")):
                    direction = path.stem.rsplit("_", 1)[1]
                    for name in names:
                        link = Path(target) / city_dir.name / name / stamp / f"{city_dir.name}_{name}_{stamp}_{direction}.txt"
                        link.parent.mkdir(parents=True, exist_ok=True)
                        os.link(path, link)
                        files, size = linked.get(name, (0, 0.0))
                        linked[name] = (files + 1, size + path.stat().st_size / 1e6)
                day += datetime.timedelta(days=1)
    return linked


def measured_run(workdir, tiles_and_files):
    """The workflow on workdir's config after a read of every file: (figures, timeline)."""
    bench.prime(tiles_and_files)
    launched = time.time()
    with bench.MemorySampler() as memory:
        run = bench.timed(bench.snakemake_command(workdir))
    timeline = bench.job_timeline(workdir / "results", launched)
    timeline = timeline[timeline["end"] >= 0]  # this run's jobs only
    rules = bench.rule_table(timeline)
    cpu = timeline.groupby("rule")["cpu_time"].sum()
    largest = timeline.loc[timeline["max_rss"].idxmax()]
    figures = {
        "wall_s": round(run["wall"], 1), "cpu_s": round(run["cpu"], 1), "machine_peak_mb": round(memory.peak_mb),
        "largest_job": {"job": largest["job"], "max_rss_mb": round(float(largest["max_rss"]))},
        "rules": {rule: {"jobs": int(row["jobs"]), "job_s": round(float(row["seconds"]), 1),
                         "cpu_s": round(float(cpu[rule]), 1), "max_rss_mb": round(float(row["max_rss_mb"]))}
                  for rule, row in rules.iterrows()},
    }
    print(f"{run['wall']:.1f} s wall, {run['cpu']:.1f} s CPU; largest job {largest['job']} "
          f"{largest['max_rss']:.0f} MB; machine's memory in use, peak above the start {memory.peak_mb:.0f} MB")
    print(f"{'rule':<22}{'jobs':>6}{'job-s':>8}{'CPU s':>8}{'peak MB':>9}")
    for rule, row in figures["rules"].items():
        print(f"{rule:<22}{row['jobs']:>6}{row['job_s']:>8.1f}{row['cpu_s']:>8.1f}{row['max_rss_mb']:>9}")
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of the generated week (made if absent)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the links and the run")
    parser.add_argument("--area-scale", type=float, default=0.65)
    parser.add_argument("--zero-share", type=float, default=0.3)
    parser.add_argument("--apps", type=int, default=10,
                        help="apps of the second run: the three and this many minus three further ones (3: none)")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    data, out = args.data.resolve(), args.out.resolve()
    cities = bench.ALL_CITIES
    if not (data / "netmob").exists():
        print(f"generating one week of {len(cities)} cities in {data} ...", flush=True)
        bench.timed([
            sys.executable, "-m", "netmob_cpc.synthetic", "--cities", *cities, "--start", WEEK[0], "--end", WEEK[1],
            "--grid-scale", "1.0", "--zero-share", str(args.zero_share), "--area-scale", str(args.area_scale),
            "--out", str(data),
        ], env={**os.environ, "PYTHONPATH": str(REPO / "scripts")})
    tile_map = data / "map_crime.gpkg"
    if not tile_map.exists():
        tiles, seconds = bench.build_given_tile_map(data, cities, tile_map)
        print(f"tile map: {tiles:,} tiles, built in {seconds:.0f} s (not timed)", flush=True)
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    further = [app for app in schema["definitions"]["netmob_app"]["enum"] if app not in HEADLINE][:args.apps - 3]
    linked = link_period(data / "netmob", out / "netmob", further)
    files = sum(linked[app][0] for app in HEADLINE)
    size_mb = sum(linked[app][1] for app in HEADLINE)
    distinct_mb = sum(path.stat().st_size for path in (data / "netmob").rglob("*.txt")) / 1e6
    print(f"{files:,} files, {size_mb:,.0f} MB linked from {distinct_mb:,.0f} MB of distinct files; "
          f"{len(further)} further apps", flush=True)

    workdir = out / "workflow"
    shutil.rmtree(workdir, ignore_errors=True)
    bench.write_config(workdir, data, cities, *PERIOD, tile_map=tile_map)
    # the configuration reads data/netmob: point it at the linked period instead
    config = (workdir / "config.yaml").read_text().replace(str(data / "netmob"), str(out / "netmob"))
    (workdir / "config.yaml").write_text(config)
    headline = [path for path in sorted((out / "netmob").rglob("*.txt")) if path.parts[-3] in HEADLINE]
    print("\nthe three apps, from an empty results folder:", flush=True)
    figures = {**bench.provenance(), "files": files, "linked_mb": round(size_mb), "distinct_mb": round(distinct_mb),
               "headline": measured_run(workdir, headline + [tile_map])}
    if further:
        settings = yaml.safe_load((workdir / "config.yaml").read_text())
        settings["placebo_apps"] = further
        (workdir / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
        print(f"\n{len(further)} further apps as placebo apps ({', '.join(further)}), same results folder:", flush=True)
        run = measured_run(workdir, sorted((out / "netmob").rglob("*.txt")) + [tile_map])
        n = len(further)
        rules = run["rules"]
        per_app = {
            "mb": round(sum(linked[app][1] for app in further) / n),
            "ingest_job_s": round(rules.get("placebo_ingest", {}).get("job_s", 0.0) / n, 1),
            "ingest_cpu_s": round(rules.get("placebo_ingest", {}).get("cpu_s", 0.0) / n, 1),
            "series_job_s": round(rules.get("placebo_series", {}).get("job_s", 0.0) / n, 1),
            "series_peak_mb": rules.get("placebo_series", {}).get("max_rss_mb"),
            "wall_s": round(run["wall_s"] / n, 1),
        }
        per_app["mb_per_ingest_job_s"] = round(per_app["mb"] / per_app["ingest_job_s"]) if per_app["ingest_job_s"] else None
        figures.update(further_apps=further, further=run, per_further_app=per_app)
        print(f"\nper further app ({per_app['mb']:,} MB of files): ingest {per_app['ingest_job_s']} job-s "
              f"({per_app['mb_per_ingest_job_s']} MB per job-second), series {per_app['series_job_s']} job-s "
              f"(peak {per_app['series_peak_mb']} MB); {per_app['wall_s']} s of the run's wall time")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
