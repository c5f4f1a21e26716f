"""The ingest's per-file read: reading the whole file into a bytes object (what
aggregate_file does) against a read-only memory map that the C kernel reads in place, on
the same cold files. (The map was tried and not kept: no measurable gain; BENCHMARKS.md,
"History".)

    python benchmarks/mmap_vs_read.py --data bench/data --tile-maps bench/workflow/results/tile_map

Each city's files are evicted from the page cache before each timed pass (posix_fadvise
DONTNEED); the two ways alternate which goes first. Prints wall and CPU seconds per pass
and the totals. Needs a C compiler (builds the kernel into a temporary folder) and a
finished bench run for the tile indexes.
"""

import argparse
import mmap
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from netmob_cpc import traffic_files  # noqa: E402


def evict(paths):
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "bench" / "data")
    parser.add_argument("--tile-maps", type=Path, default=REPO / "bench" / "workflow" / "results" / "tile_map")
    parser.add_argument("--cities", nargs="+", default=["Lyon", "Toulouse", "Marseille"])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "libnetmob_parse.so"
        subprocess.run([os.environ.get("CC", "cc"), "-O3", "-std=c99", "-shared", "-fPIC", "-o", str(library),
                        str(REPO / "scripts" / "native" / "netmob_parse.c")], check=True)
        native = traffic_files.load_native_parser(library)
        copied = traffic_files.read_traffic_bytes

        def mapped(path):
            with open(path, "rb") as handle:
                return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)

        totals = {"mapped": [0.0, 0.0], "read": [0.0, 0.0]}
        size = 0
        for round_ in range(args.rounds):
            for city in args.cities:
                commune_of_tile, n_communes = traffic_files.load_tile_index(args.tile_maps / f"{city}.npz")
                files = sorted((args.data / "netmob" / city).rglob("*.txt"))
                size += sum(path.stat().st_size for path in files)
                ways = ["mapped", "read"] if round_ % 2 == 0 else ["read", "mapped"]
                for way in ways:
                    traffic_files.read_traffic_bytes = mapped if way == "mapped" else copied
                    evict(files)
                    time.sleep(0.5)
                    cpu, started = cpu_seconds(), time.perf_counter()
                    for path in files:
                        stamp = path.name.split("_")[-2]
                        traffic_files.aggregate_file(path, traffic_files.parse_date(stamp), commune_of_tile,
                                                     n_communes, parser="native", library=native)
                    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
                    totals[way][0] += wall
                    totals[way][1] += cpu
                    print(f"round {round_ + 1} {city:<10} {way:<6} {len(files)} files: {wall:.2f} s wall, "
                          f"{cpu:.2f} s CPU", flush=True)
        traffic_files.read_traffic_bytes = copied
    for way, (wall, cpu) in totals.items():
        print(f"{way:<6} total: {wall:.2f} s wall, {cpu:.2f} s CPU ({size / 2 / 1e6:,.0f} MB each way)")


if __name__ == "__main__":
    main()
