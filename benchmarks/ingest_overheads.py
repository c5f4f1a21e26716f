"""Two costs of the ingest beside the parse, measured on a bench folder that
benchmarks/run_benchmarks.py generated (its data/ and tile map), each from a cold page cache
(posix_fadvise DONTNEED of every traffic file before each pass):

1. reading every traffic file with 2 processes through netmob_cpc.traffic_files.
   read_traffic_into, with plain reads and with uncached reads (RWF_DONTCACHE, where the
   system has it): wall, user and system CPU seconds, MB/s. At a data set larger than the
   memory, plainly read files fill the page cache and every further read makes the kernel
   reclaim pages;
2. files -> hourly commune series (Snakemake; the tile maps made first, not counted) with the
   local profile (the scheduler wakes every 10 s and considers at most 16 ready jobs per
   round), with Snakemake's default `--max-jobs-per-timespan 100/1s` (a round every
   second), with `--scheduler-subsample 100` (up to 100 ready jobs per round; each round
   checks the input files of the jobs it considers) and with ingest jobs of 28 days
   instead of the default 42 (on the NetMob23 period: 3 jobs per city instead of 2, each
   an interpreter started and a job scheduled). Wall, CPU of the whole run, CPU of
   Snakemake's own process.

Usage: python benchmarks/ingest_overheads.py --bench bench-full [--rounds 1]
Wall times mean something only on a quiet machine.
"""

import argparse
import datetime
import json
import os
import resource
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "scripts"))
sys.path.insert(0, str(HERE))

import run_benchmarks as rb  # noqa: E402


def read_all(args):
    """Bytes of `paths` read one after another through read_traffic_into (one buffer)."""
    paths, uncached = args
    from netmob_cpc import traffic_files

    traffic_files._uncached_reads[0] = uncached and traffic_files._uncached_reads[0]
    buffer, total = bytearray(), 0
    for path in paths:
        data, buffer = traffic_files.read_traffic_into(path, buffer)
        total += len(data)
    return total, traffic_files._uncached_reads[0]


def reading(files, uncached):
    rb.evict(files)
    time.sleep(1)
    chunks = [([str(path) for path in files[i:i + 8]], uncached) for i in range(0, len(files), 8)]
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(read_all, chunks))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall": wall, "user": after.ru_utime - before.ru_utime, "system": after.ru_stime - before.ru_stime,
        "mb": sum(size for size, _ in results) / 1e6, "uncached": all(flag for _, flag in results),
    }


def series(bench, data, parameters, files, name, *extra):
    workdir = bench / f"overheads_{name}"
    shutil.rmtree(workdir, ignore_errors=True)
    start = datetime.date.fromisoformat(parameters["start"])
    end = (start + datetime.timedelta(days=parameters["days"] - 1)).isoformat()
    own = bench / f"snakemake_cpu_{name}.txt"
    _, run = rb.files_to_series(workdir, data, parameters["cities"], parameters["start"], end,
                                data / "map_crime.gpkg", files, *extra, own_cpu=own)
    result = {"wall": run["wall"], "cpu": run["cpu"], "snakemake_cpu": float(own.read_text())}
    own.unlink()
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path, required=True, help="a run_benchmarks.py --out folder (its data/)")
    parser.add_argument("--rounds", type=int, default=1, help="passes of each variant, alternating their order")
    args = parser.parse_args(argv)
    args.bench = args.bench.resolve()
    data = args.bench / "data"
    parameters = json.loads((data / "parameters.json").read_text())
    files = rb.traffic_files(data)
    print(f"{len(files)} traffic files, {sum(f.stat().st_size for f in files) / 1e6:,.0f} MB; "
          f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    for round_ in range(args.rounds):
        for uncached in ((True, False) if round_ % 2 else (False, True)):
            r = reading(files, uncached)
            label = "uncached" if uncached else "plain"
            note = "" if r["uncached"] == uncached else " (uncached reads refused here: plain reads)"
            print(f"read cold, 2 processes, {label:8s}: {r['wall']:6.1f} s wall, user {r['user']:5.1f} s, "
                  f"system {r['system']:5.1f} s, {r['mb'] / r['wall']:,.0f} MB/s{note}", flush=True)
    variants = {
        "the local profile (10 s, 16 jobs)": (),
        "a round every second (100/1s)": ("--max-jobs-per-timespan", "100/1s"),
        "up to 100 jobs per round": ("--scheduler-subsample", "100"),
        "28-day ingest jobs (days_per_job: 28)": ("--config", "days_per_job=28"),
    }
    for round_ in range(args.rounds):
        for number, (label, extra) in enumerate(list(variants.items())[::-1] if round_ % 2 else variants.items()):
            r = series(args.bench, data, parameters, files, f"variant{number}", *extra)
            print(f"files -> series cold, {label:38s}: {r['wall']:6.1f} s wall, {r['cpu']:6.1f} s CPU, "
                  f"Snakemake's own process {r['snakemake_cpu']:5.1f} s CPU", flush=True)


if __name__ == "__main__":
    main()
