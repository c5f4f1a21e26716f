"""End-to-end benchmark: the workflow against the notebook's per-file approach and the
parse floor, on synthetic files at the real grid sizes. Writes BENCHMARKS.md.

    python benchmarks/run_benchmarks.py                      # 8 large cities x 16 days, ~5 GB
    python benchmarks/run_benchmarks.py --out /big/bench --cities all --start 2019-03-16 \
        --days 77 --area-scale 0.65 --zero-share 0.3         # the seed's workload, ~46 GB

    python benchmarks/run_benchmarks.py --out /tmp/bench-small --cities Nice Nancy \
        --days 3 --area-scale 0.3 --report /tmp/bench-small/BENCHMARKS.md
                                                             # a check of the script: ~1 min

Steps (each timed; peak RSS from getrusage of the child processes and Snakemake's
benchmark: files; the machine's memory in use sampled from /proc/meminfo):
1. generate the bench data set with the synthetic generator (netmob_cpc.synthetic,
   grid_scale 1.0);
2. run the workflow on it as on real data (synthetic.enabled: false), --cores 2, from an
   empty results folder; then, in another folder, only the files -> hourly series part;
3. rerun with nothing to do, and a dry run of the full 20 cities x 77 days DAG on
   placeholder files; an ingest job's start-up;
4. the parse floor: raw bytes, pyarrow.csv and (if installed) polars with explicit schemas,
   2 processes;
5. the notebook's approach over the same files (tests/notebook_reference.py: read_csv,
   merge with the city's map, groupby, concat, melt, one file after another), and a check
   that its commune totals equal the workflow's (same files, same tile map).

It prints, and writes to --report, the ratio of the notebook's approach to the whole
workflow and the job-seconds of each rule (Snakemake's benchmark: files).
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
ALL_CITIES = [
    "Bordeaux", "Clermont-Ferrand", "Dijon", "Grenoble", "Lille", "Lyon", "Mans", "Marseille", "Metz", "Montpellier",
    "Nancy", "Nantes", "Nice", "Orleans", "Paris", "Rennes", "Saint-Etienne", "Strasbourg", "Toulouse", "Tours",
]
APPS = ["Web_Adult", "Tor", "YouTube"]

# What each change of the figure stage bought (issue 13), measured on the default synthetic
# run; written into every report because a bench run does not re-measure the old layout.
CHANGES = """## What each change bought

Figure stage, default synthetic run (`make run`: 3 cities, 52 days), the layout before
(commit 717ab7c: one job per heatmap PNG, one for the scatter, one for the distribution of
c) against the current one, run back to back 3 times each on the same 2-core machine
(other work running: load about 2), medians of Snakemake's `benchmark:` files:

| stage | before | after |
| --- | --- | --- |
| the 7 PNGs without polygons (5 heatmaps, scatter, distribution of c) | 7 jobs, 20.3 job-s | 1 job (`figures`), 5.1 job-s (4.0x) |
| heatmap tables (`heatmaps`) | 1.05 job-s | 0.94 job-s |
| choropleth maps (`figure_maps`, 3 cities + all cities) | 3.7 job-s | 2.8 job-s |
| whole figure stage | 11 jobs, 25.2 job-s, 18.3 s wall | 3 jobs, 8.8 job-s, 10.2 s wall |

- One process per direction draws every PNG that needs no commune polygons: Matplotlib,
  pandas and NumPy are imported once instead of once per PNG (about 1.5 s each time).
- Fixed axes positions instead of Matplotlib's constrained layout, which draws a figure
  twice (once to measure it) and measures every tick label; the heatmap cell grid as two
  line collections instead of minor ticks; no minor ticks on logarithmic axes; histograms
  as one filled step outline per layer instead of one rectangle per bar; 110 dpi. One
  heatmap PNG: about 1.5 s of CPU before, 0.4 s after (in one warm process).
- Heatmap tables: sums over the 168 weekday x hour bins with `numpy.bincount` instead of a
  pandas group-by on a per-row column of weekday-name strings: 0.16 s -> 0.02 s on the
  default; on an hourly series of the full workload's size (2,117 communes x 77 days x 24
  hours, 3.9 million rows, `heatmaps()` alone) 3.4 s -> 0.6 s and 394 MB -> 138 MB of
  memory above the input (the job peaked at 853 MB at full scale). Only the six columns of
  the hourly series it needs are read.
- Maps: the same fixed layout (about 40 % less CPU per map); they stay a job of their own
  because they need geopandas and the commune polygons.

Reproduce: `git archive 717ab7c | tar -x -C /tmp/before`, run `snakemake --cores 2` in
both folders, then in each
`snakemake --cores 2 --forcerun heatmaps figures figure_maps results/DL/figures/{heatmap,heatmap_10,heatmap_rank1,heatmap_rank2,heatmap_rank3,scatter_cpc_sv,correction_factors,map_Nice,map_Lyon,map_Nancy,maps_all_cities}.png`
(before: `--forcerun heatmaps figure_heatmap figure_scatter figure_correction_factors
figure_maps`) and sum `results/benchmarks/<rule>/**/*.tsv` (column `s`).
"""


def timed(command, **kwargs):
    """Run a command; wall seconds, child CPU seconds, peak RSS (MB) of its largest process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, command))}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "peak_mb": after.ru_maxrss / 1024, "stdout": result.stdout, "stderr": result.stderr}


def snakemake_command(workdir, *args):
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(Path(workdir) / "config.yaml"), "--cores", "2", *args,
    ]


def write_config(workdir, data, cities, start, end, **extra):
    """The default configuration (keys it leaves out take the schema's defaults) pointed
    at the bench files, as on real data."""
    with open(REPO / "config" / "config.yaml") as handle:
        config = yaml.safe_load(handle) or {}
    config.update(
        netmob_dir=str(data / "netmob"), tile_grid=str(data / "grids" / "{city}.geojson"),
        communes=str(data / "communes.gpkg"), crime_csv=str(data / "crime.csv"), cities=cities,
        period={"start": start, "end": end}, results_dir="results", synthetic={"enabled": False}, **extra,
    )
    if "outage_dates" in config:
        config["outage_dates"] = [str(d) for d in config["outage_dates"]]
    Path(workdir).mkdir(parents=True, exist_ok=True)
    with open(Path(workdir) / "config.yaml", "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)


def traffic_files(data):
    return sorted((data / "netmob").rglob("*.txt"))


def read_raw(path):
    with open(path, "rb") as handle:
        return len(handle.read())


def read_pyarrow(path):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, "rb") as handle:
        first = handle.readline()
    n_fields = first.count(b" ") + 1
    names = ["tile_id"] + [f"s{i}" for i in range(n_fields - 1)]
    types = {"tile_id": pa.int64(), **{name: pa.float64() for name in names[1:]}}
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=" "),
        convert_options=pacsv.ConvertOptions(column_types=types, null_values=["", "nan"]),
    )
    return table.num_rows


def read_polars(path):
    os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one thread per process, as the others
    import polars as pl

    with open(path, "rb") as handle:
        first = handle.readline()
    n_fields = first.count(b" ") + 1
    schema = {"tile_id": pl.Int64, **{f"s{i}": pl.Float64 for i in range(n_fields - 1)}}
    frame = pl.read_csv(path, has_header=False, separator=" ", schema=schema, null_values=["", "nan"])
    return frame.height


def polars_available():
    import importlib.util

    return importlib.util.find_spec("polars") is not None  # not imported here: see read_polars


class MemorySampler:
    """Peak of the machine's memory in use (MemTotal - MemAvailable) above its level at
    start, sampled every `interval` s while a command runs: the whole run's peak, all
    concurrent jobs together."""

    def __init__(self, interval=0.25):
        import threading

        self.interval, self.peak_mb, self._stop = interval, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def in_use_mb():
        fields = {}
        with open("/proc/meminfo") as handle:
            for line in handle:
                name, value = line.split(":", 1)
                fields[name] = int(value.split()[0])
        return (fields["MemTotal"] - fields["MemAvailable"]) / 1024

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, self.in_use_mb() - self.baseline)

    def __enter__(self):
        self.baseline = self.in_use_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def floor(files, reader, processes=2):
    started = time.perf_counter()
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(reader, files, chunksize=4))
    return time.perf_counter() - started


NOTEBOOK = """
import json, sys, time, datetime
started = time.perf_counter()
sys.path.insert(0, {tests!r})
import pandas as pd
from notebook_reference import commune_time_series
cities = {cities!r}
map_df = pd.concat([pd.read_csv(f"{results}/tile_map/{{c}}.csv", dtype={{"code_com": str, "code_dep": str}}) for c in cities])
start = datetime.date.fromisoformat({start!r}); end = datetime.date.fromisoformat({end!r})
days = [start + datetime.timedelta(days=i) for i in range((end - start).days + 1)]
df = commune_time_series({netmob!r}, map_df, cities, {apps!r}, "DL", days)
seconds = time.perf_counter() - started
# not timed: the commune totals, for the check against the workflow's
totals = df.groupby("code_com")[{apps!r}].sum()
totals.to_parquet({totals!r})
print(json.dumps({{"seconds": seconds, "rows": len(df)}}))
"""


def workflow_totals(results, cities, apps):
    """Per-commune traffic totals of the workflow's commune time series (before the outage
    filter, as the notebook's loop), a commune in several cities counted in the first."""
    import pandas as pd

    roles = ["porn", "tor", "control"]
    series = pd.concat(
        [pd.read_parquet(results / "timeseries" / "DL" / f"{city}.parquet").assign(order=i)
         for i, city in enumerate(cities)]
    )
    series = series.sort_values("order", kind="stable").drop_duplicates(["code_com", "date", "minute"])
    return series.groupby("code_com")[roles].sum().rename(columns=dict(zip(roles, apps)))


def compare_totals(notebook_path, results, cities, apps):
    """Largest relative difference of any commune x app total, and the communes compared."""
    import numpy as np
    import pandas as pd

    notebook = pd.read_parquet(notebook_path)
    workflow = workflow_totals(results, cities, apps)
    codes = notebook.index.union(workflow.index)
    a = notebook.reindex(codes).fillna(0.0).to_numpy(dtype="float64")
    b = workflow.reindex(codes)[list(notebook.columns)].fillna(0.0).to_numpy(dtype="float64")
    scale = np.maximum(np.abs(a), np.abs(b))
    relative = np.divide(np.abs(a - b), scale, out=np.zeros_like(a), where=scale > 0)
    return float(relative.max(initial=0.0)), len(codes)


def benchmark_files(results):
    """Per-rule sums of Snakemake's benchmark: files (s, max_rss); a rule is the first folder
    under benchmarks/ (or the file's name), so the `ingest` jobs of every batch add up."""
    import pandas as pd

    rows = []
    for path in (results / "benchmarks").rglob("*.tsv"):
        table = pd.read_csv(path, sep="\t")
        rule = path.relative_to(results / "benchmarks").parts[0].removesuffix(".tsv")
        rows.append({"rule": rule, "s": float(table["s"].iloc[0]), "max_rss": float(table["max_rss"].iloc[0])})
    frame = pd.DataFrame(rows)
    return frame.groupby("rule").agg(jobs=("s", "size"), seconds=("s", "sum"), max_rss_mb=("max_rss", "max"))


def full_scale_dry_run(out):
    """Dry run of the seed's full workload (20 cities x 3 apps x 77 days) on empty placeholders."""
    stub = out / "fullscale"
    netmob = stub / "netmob"
    day = datetime.date(2019, 3, 16)
    stamps = [(day + datetime.timedelta(days=i)).strftime("%Y%m%d") for i in range(77)]
    for city in ALL_CITIES:
        for app in APPS:
            for stamp in stamps:
                folder = netmob / city / app / stamp
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{city}_{app}_{stamp}_DL.txt").touch()
    write_config(stub, stub, ALL_CITIES, "2019-03-16", "2019-05-31", tile_map=str(stub / "map.csv"))
    for name in ("map.csv", "crime.csv"):
        (stub / name).touch()
    return timed(snakemake_command(stub, "--dry-run"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench", type=Path, help="bench folder (data, results)")
    parser.add_argument("--cities", nargs="+",
                        default=["Paris", "Marseille", "Toulouse", "Bordeaux", "Lyon", "Nice", "Nancy", "Lille"],
                        help="NetMob23 cities, or 'all' for the 20 of the seed's workload")
    parser.add_argument("--start", default="2019-04-01")
    parser.add_argument("--days", type=int, default=16)
    parser.add_argument("--zero-share", type=float, default=0.85,
                        help="share of tile-slot values written as a lone 0 (real files: most of them)")
    parser.add_argument("--area-scale", type=float, default=1.0,
                        help="radius factor of each city's area in its real-size grid (0.65: ~25,000 tiles "
                        "per file, ~10 MB files, the real files' size)")
    parser.add_argument("--skip-generate", action="store_true", help="reuse the data in --out")
    parser.add_argument("--skip-notebook", action="store_true")
    parser.add_argument("--report", default=str(REPO / "BENCHMARKS.md"))
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the report from a finished bench's figures.json, run nothing")
    args = parser.parse_args(argv)
    if args.cities == ["all"]:
        args.cities = ALL_CITIES
    out = args.out.resolve()
    data = out / "data"
    end = (datetime.date.fromisoformat(args.start) + datetime.timedelta(days=args.days - 1)).isoformat()
    figures = {"command": " ".join(["python", "benchmarks/run_benchmarks.py", *(argv or sys.argv[1:])])}
    if args.report_only:
        figures = json.loads((out / "figures.json").read_text())
        write_report(args.report, figures, benchmark_files(out / "workflow" / "results"), args)
        return

    if not args.skip_generate:
        generation = timed([
            sys.executable, "-m", "netmob_cpc.synthetic", "--cities", *args.cities, "--start", args.start,
            "--end", end, "--grid-scale", "1.0", "--zero-share", str(args.zero_share),
            "--area-scale", str(args.area_scale), "--out", str(data),
        ], env={**os.environ, "PYTHONPATH": str(REPO / "scripts")})
        (data / "generation.json").write_text(generation["stdout"])
    if (data / "generation.json").exists():  # the generator's own summary (its wall time, communes)
        generated = json.loads((data / "generation.json").read_text())
        figures.update(generate_s=generated["seconds"], communes=generated["communes"], tiles=generated["tiles"])
    files = traffic_files(data)
    size_mb = sum(path.stat().st_size for path in files) / 1e6
    figures.update(files=len(files), size_mb=size_mb)
    print(f"{len(files)} files, {size_mb:.0f} MB", flush=True)

    workflow_dir, series_dir = out / "workflow", out / "series_only"
    for stale in (workflow_dir, series_dir):  # a timed run starts from nothing but the data
        shutil.rmtree(stale, ignore_errors=True)
    write_config(workflow_dir, data, args.cities, args.start, end)
    with MemorySampler() as memory:
        run = timed(snakemake_command(workflow_dir))
    figures.update(workflow_wall=run["wall"], workflow_cpu=run["cpu"], workflow_peak_mb=run["peak_mb"],
                   machine_peak_mb=memory.peak_mb)
    print(f"workflow: {run['wall']:.1f} s wall", flush=True)
    rules = benchmark_files(workflow_dir / "results")
    # The notebook's loop ends at the commune time series, from a given tile map: time the
    # same part of the workflow (ingest, per-city series, hourly series) on a fresh folder.
    import pandas as pd

    series_dir.mkdir(parents=True, exist_ok=True)
    pd.concat(
        [pd.read_csv(workflow_dir / "results" / "tile_map" / f"{city}.csv", dtype=str) for city in args.cities]
    ).to_csv(series_dir / "map.csv", index=False)
    write_config(series_dir, data, args.cities, args.start, end, tile_map=str(series_dir / "map.csv"))
    maps = timed(snakemake_command(series_dir, *[f"results/tile_map/{city}.npz" for city in args.cities]))
    series = timed(snakemake_command(series_dir, "results/hourly/DL.parquet"))
    figures.update(series_wall=series["wall"], series_cpu=series["cpu"], series_maps_wall=maps["wall"])
    print(f"files -> hourly commune series: {series['wall']:.1f} s wall", flush=True)
    noop = timed(snakemake_command(workflow_dir))
    figures["noop_wall"] = noop["wall"]
    dry = full_scale_dry_run(out)
    figures["fullscale_dry_run_wall"] = dry["wall"]

    # an ingest job's own start-up: the interpreter and the modules its entry script imports
    startup = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO / 'scripts')!r}); "
               "import netmob_cpc.traffic_files, netmob_cpc.qc"]
    starts = sorted(timed(startup)["wall"] for _ in range(7))
    figures["job_overhead_s"] = starts[3]  # median
    raw = floor(files, read_raw)
    arrow = floor(files, read_pyarrow)
    figures.update(raw_mb_s=size_mb / raw, pyarrow_mb_s=size_mb / arrow)
    print(f"floor: raw {size_mb / raw:.0f} MB/s, pyarrow {size_mb / arrow:.0f} MB/s", flush=True)
    if polars_available():  # benchmarks/requirements.txt; not a dependency of the workflow
        figures["polars_mb_s"] = size_mb / floor(files, read_polars)
        print(f"floor: polars {figures['polars_mb_s']:.0f} MB/s", flush=True)

    if not args.skip_notebook:
        totals = out / "notebook_totals.parquet"
        script = NOTEBOOK.format(
            tests=str(REPO / "tests"), cities=args.cities, results=str(workflow_dir / "results"), start=args.start,
            end=end, netmob=str(data / "netmob"), apps=APPS, totals=str(totals),
        )
        (out / "figures.json").write_text(json.dumps(figures, indent=2))  # kept if the next step fails
        notebook = timed([sys.executable, "-c", script])
        loop = json.loads(notebook["stdout"].strip().splitlines()[-1])
        difference, communes = compare_totals(totals, workflow_dir / "results", args.cities, APPS)
        figures.update(notebook_wall=loop["seconds"], notebook_peak_mb=notebook["peak_mb"],
                       totals_max_relative_difference=difference, totals_communes=communes)
        print(f"notebook approach: {loop['seconds']:.1f} s; commune totals vs the workflow's: largest relative "
              f"difference {difference:.2e} over {communes} communes x 3 apps", flush=True)

    ingest = rules.loc[[r for r in rules.index if r.startswith("ingest")]]
    figures.update(
        ingest_jobs=int(ingest["jobs"].sum()), ingest_job_seconds=float(ingest["seconds"].sum()),
        ingest_max_rss_mb=float(ingest["max_rss_mb"].max()), max_job_rss_mb=float(rules["max_rss_mb"].max()),
    )
    figures["max_job_rule"] = str(rules["max_rss_mb"].idxmax())
    (out / "figures.json").write_text(json.dumps(figures, indent=2))
    write_report(args.report, figures, rules, args)
    print_summary(figures, rules)


def print_summary(f, rules):
    """The two things `make bench` is for: the ratio, and where the job-seconds go."""
    print()
    if "notebook_wall" in f:
        print(f"notebook's approach {f['notebook_wall']:.1f} s vs whole workflow {f['workflow_wall']:.1f} s "
              f"(same {f['files']:,} files, {f['size_mb']:,.0f} MB): {f['notebook_wall'] / f['workflow_wall']:.1f}x; "
              f"files -> commune series {f['series_wall']:.1f} s: {f['notebook_wall'] / f['series_wall']:.1f}x")
        print(f"commune totals, notebook vs workflow: largest relative difference "
              f"{f['totals_max_relative_difference']:.2e} ({f['totals_communes']} communes x 3 apps)")
    print(f"\n{'rule':<28}{'jobs':>6}{'job-s':>10}{'max RSS MB':>12}")
    for rule, row in rules.sort_values("seconds", ascending=False).iterrows():
        print(f"{rule:<28}{int(row['jobs']):>6}{row['seconds']:>10.1f}{row['max_rss_mb']:>12.0f}")
    print(f"{'total':<28}{int(rules['jobs'].sum()):>6}{rules['seconds'].sum():>10.1f}")


def met(ok):
    return "met" if ok else "**not met**"


def target_rows(f, full_scale):
    """(target, measured, verdict) rows of issue 6's targets."""
    scope = "measured" if full_scale else f"extrapolated x{50_000 / f['size_mb']:.0f} from {f['size_mb']:,.0f} MB"
    whole_min = f["workflow_wall"] / 60 * (1 if full_scale else 50_000 / f["size_mb"])
    floor_name, floor_mb_s = max(
        [("pyarrow.csv", f["pyarrow_mb_s"])] + ([("polars", f["polars_mb_s"])] if "polars_mb_s" in f else []),
        key=lambda item: item[1],
    )
    floor_s = f["size_mb"] / floor_mb_s
    ingest_s = f["ingest_job_seconds"] / 2  # job-seconds spread over the 2 cores
    rows = [
        ("seed workload end to end, `--cores 2`: <= 10 min (stretch 5)", f"{whole_min:.1f} min ({scope})",
         met(whole_min <= 10) + (" (stretch met)" if whole_min <= 5 else "")),
    ]
    if "notebook_wall" in f:
        rows += [
            (">= 5x faster than the notebook's per-file approach, whole workflow (every default output, figures "
             "included), same files, side by side",
             f"{f['notebook_wall']:.0f} s vs {f['workflow_wall']:.0f} s: {f['notebook_wall'] / f['workflow_wall']:.1f}x",
             met(f["notebook_wall"] / f["workflow_wall"] >= 5)),
            ("identical numbers (commune x app traffic totals, notebook vs workflow)",
             f"largest relative difference {f['totals_max_relative_difference']:.1e} "
             f"({f['totals_communes']:,} communes)" if "totals_max_relative_difference" in f else "not checked",
             met(f.get("totals_max_relative_difference", 1.0) <= 1e-9)),
            (">= 3x faster than the notebook's per-file approach (files -> commune time series)",
             f"{f['notebook_wall']:.0f} s vs {f['series_wall']:.0f} s: {f['notebook_wall'] / f['series_wall']:.1f}x",
             met(f["notebook_wall"] / f["series_wall"] >= 3)),
        ]
    rows += [
        (f"ingest within 1.25x of the parse floor (fastest stock reader: {floor_name}, 2 processes)",
         f"ingest {ingest_s:.0f} s on 2 cores ({f['size_mb'] / ingest_s:.0f} MB/s) vs floor {floor_s:.0f} s: "
         f"{ingest_s / floor_s:.2f}x the floor's time", met(ingest_s <= 1.25 * floor_s)),
        ("peak memory of any job <= 1 GB", f"{f['max_job_rss_mb']:.0f} MB ({f['max_job_rule']})",
         met(f["max_job_rss_mb"] <= 1024)),
        ("whole run's peak (all concurrent jobs; machine memory in use above the start)",
         f"{f['machine_peak_mb']:.0f} MB", "stated"),
        ("rerun with nothing to do <= 20 s", f"{f['noop_wall']:.1f} s", met(f["noop_wall"] <= 20)),
        ("full-scale DAG, dry run <= 20 s", f"{f['fullscale_dry_run_wall']:.1f} s", met(f["fullscale_dry_run_wall"] <= 20)),
    ]
    return rows


def write_report(path, f, rules, args):
    full_scale = len(args.cities) == 20 and args.days >= 77
    bench = (
        "the seed's full workload: all 20 cities" if full_scale else ", ".join(args.cities)
    ) + f", {args.days} days from {args.start}, 3 apps, DL"
    density = (
        f"{f['tiles'] / len(args.cities):,.0f} tiles per city on average, " if "tiles" in f else ""
    ) + f"{f['size_mb'] / f['files']:.1f} MB per file"
    lines = [
        "# Benchmarks",
        "",
        f"Measured {datetime.date.today()} on {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, {platform.platform()}, "
        f"Python {platform.python_version()}. Reproduce with `make bench` or:",
        "",
        f"    {f['command']}",
        "",
        f"Bench data: synthetic files at the real grid sizes ({bench}; --zero-share {args.zero_share}, "
        f"--area-scale {args.area_scale}): {f['files']:,} files, {f['size_mb']:,.0f} MB of text, {density}"
        + (f", {f['communes']:,} communes" if "communes" in f else "")
        + (f"; generated in {f['generate_s']:.0f} s by the same script." if "generate_s" in f else "."),
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "| --- | --- | --- |",
        *[f"| {target} | {value} | {verdict} |" for target, value, verdict in target_rows(f, full_scale)],
        "",
        "## All figures",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| workflow end to end, `--cores 2` (tile maps, ingest, series, estimates, tests, figures) | {f['workflow_wall']:.1f} s wall, {f['workflow_cpu']:.1f} s CPU |",
        f"| workflow throughput | {f['size_mb'] / f['workflow_wall']:.0f} MB/s |",
    ]
    if "notebook_wall" in f:
        lines += [
            f"| notebook's approach, same files (read_csv + merge + groupby + melt, one core) | {f['notebook_wall']:.1f} s wall, {f['size_mb'] / f['notebook_wall']:.0f} MB/s, peak {f['notebook_peak_mb']:.0f} MB |",
            f"| workflow, files -> commune time series and hourly series (the notebook loop's part; tile index prepared before, {f['series_maps_wall']:.1f} s) | {f['series_wall']:.1f} s wall, {f['series_cpu']:.1f} s CPU, {f['size_mb'] / f['series_wall']:.0f} MB/s |",
        ]
    lines += [
        f"| parse floor: raw read, 2 processes | {f['raw_mb_s']:.0f} MB/s |",
        f"| parse floor: pyarrow.csv, explicit schema, 2 processes | {f['pyarrow_mb_s']:.0f} MB/s |",
    ]
    if "polars_mb_s" in f:
        lines.append(f"| parse floor: polars.read_csv, explicit schema, 2 processes of 1 thread | {f['polars_mb_s']:.0f} MB/s |")
    lines += [
        f"| ingest jobs | {f['ingest_jobs']} jobs, {f['ingest_job_seconds']:.1f} job-seconds ({f['size_mb'] / f['ingest_job_seconds']:.0f} MB per job-second, i.e. per core), peak {f['ingest_max_rss_mb']:.0f} MB |",
        f"| per-job overhead (an ingest job's Python start-up and imports, median of `scripts/ingest.py --help`) | {f.get('job_overhead_s', float('nan')):.2f} s |",
        f"| largest job's peak RSS | {f['max_job_rss_mb']:.0f} MB ({f['max_job_rule']}) |",
        f"| whole run: largest process (getrusage) | {f['workflow_peak_mb']:.0f} MB |",
        f"| whole run: machine memory in use above the start, peak | {f['machine_peak_mb']:.0f} MB |",
        f"| rerun with nothing to do | {f['noop_wall']:.1f} s |",
        f"| dry run of the full 20 cities x 77 days DAG (4,620 placeholder files) | {f['fullscale_dry_run_wall']:.1f} s |",
        "",
        "Per rule (Snakemake `benchmark:` files):",
        "",
        "| rule | jobs | job-seconds | max RSS (MB) |",
        "| --- | --- | --- | --- |",
    ]
    for rule, row in rules.sort_values("seconds", ascending=False).iterrows():
        lines.append(f"| {rule} | {int(row['jobs'])} | {row['seconds']:.1f} | {row['max_rss_mb']:.0f} |")
    lines += [
        "",
        "Reading the figures:",
        "- The notebook's approach covers only its reading loop (files to the commune time",
        "  series, from a prepared tile map), on one core, as the notebook runs it, timed in",
        "  the same bench run on the same files; its commune x app totals are checked against",
        "  the workflow's commune time series (\"identical numbers\"). The whole workflow also",
        "  builds the tile maps, the estimates, the tests, the bootstrap resamples, the",
        "  robustness tables and the figures, and is still held against that loop alone.",
        "- On a small bench set the workflow's fixed costs (one interpreter per job, the",
        "  analysis and figure jobs) dominate and the ratio says nothing; it is meant for data",
        "  at the real file sizes.",
        "- Wall time of the ingest is set less by the parser (the C kernel alone reads these",
        "  files at ~300 MB/s per core, page cache warm: `benchmarks/parse_floor.py`) than by",
        "  the jobs around it: each job's start-up, and Snakemake's scheduler, which re-stats",
        "  the inputs of every ready job after each finished one. Hence `days_per_job: 28`",
        "  (see ARCHITECTURE.md for the measured effect).",
        "- Parse floor: the stock readers only parse (no aggregation) the same bytes on the",
        "  same 2 cores; the ingest jobs parse and sum per commune in one pass (a C kernel",
        "  built at install), and their job-seconds include each job's Python start-up.",
        "- Memory: the per-rule peaks come from Snakemake's `benchmark:` files; the machine",
        "  figure samples /proc/meminfo every 0.25 s (page cache excluded).",
        "- The bench files are synthetic at the real grid dimensions; `--area-scale` shrinks each",
        "  city's area inside its rectangle and `--zero-share` sets the share of lone `0`",
        "  fields, to match the real files' size and density (`--skip-generate` reuses the data).",
        "",
        CHANGES.rstrip(),
    ]
    Path(path).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
