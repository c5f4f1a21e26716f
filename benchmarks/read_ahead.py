"""Does the ingest wait for the disk? One ingest job's files read cold and warm, with and
without read-ahead (netmob_cpc.traffic_files.ReadAhead, netmob_cpc.qc.read_checked_batch).

Writes --files traffic files at Paris' real grid size (~21 MB each, the same bytes in
distinct files: the page cache holds each apart) into --out, then times
read_checked_batch over them (native kernel):
  cold   after `sync; echo 3 > /proc/sys/vm/drop_caches` (needs root: the page cache
         emptied, every file comes from the disk)
  warm   right after (every file in memory)
each with read-ahead of 0 and of traffic_files.READ_AHEAD_FILES files. Prints wall time,
CPU time of the process, MB/s, and `cat` of the same files cold as the disk's own pace.
Wall times mean something only on a quiet machine: the load average is printed with them.

Usage (as root): python benchmarks/read_ahead.py --out bench-read-ahead --files 16
"""

import argparse
import io
import os
import resource
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kernel_speed import FLAGS, paris_buffers  # noqa: E402
from netmob_cpc import qc  # noqa: E402
from netmob_cpc import traffic_files as ingest  # noqa: E402


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as handle:
        handle.write("3\n")


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for the generated files")
    parser.add_argument("--files", type=int, default=16, help="files of the job (~21 MB each)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each case (best kept)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    buffers, commune_of_tile, n_communes = paris_buffers(args.out)
    data = buffers[0][1]
    paths, stamps = [], []
    for i in range(args.files):
        path = os.path.join(args.out, f"file_{i:03d}.txt")
        if not os.path.exists(path) or os.path.getsize(path) != len(data):
            with open(path, "wb") as handle:
                handle.write(data)
        paths.append(path)
        stamps.append("20190514")
    folder = tempfile.mkdtemp(prefix="read_ahead_")
    library = os.path.join(folder, "libnetmob_parse.so")
    subprocess.run([os.environ.get("CC", "cc"), *FLAGS, "-o", library,
                    os.path.join(REPO, "scripts/native/netmob_parse.c")], check=True)
    native = ingest.load_native_parser(library)
    limits = qc.Thresholds(max_negative_values=0, max_missing_share=1.0, max_duplicate_tiles=0,
                           max_tile_value=1e15, max_unmapped_traffic_share=1.0, min_tile_rows_share=0.0)
    mb = len(data) * len(paths) / 1e6
    print(f"{len(paths)} files, {mb:.0f} MB; load average {os.getloadavg()[0]:.2f}")
    drop_caches()
    started = time.perf_counter()
    subprocess.run(["cat", *paths], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    print(f"cat, cold: {seconds:.2f} s, {mb / seconds:.0f} MB/s (the disk's pace)")
    for depth in (0, ingest.READ_AHEAD_FILES):
        for state in ("cold", "warm"):
            best = None
            for _ in range(args.repeats):
                if state == "cold":
                    drop_caches()
                else:
                    subprocess.run(["cat", *paths], check=True, stdout=subprocess.DEVNULL)
                cpu, started = cpu_seconds(), time.perf_counter()
                with ingest.ReadAhead(paths, depth=depth) as reader:
                    qc.read_checked_batch(paths, stamps, commune_of_tile, n_communes, limits,
                                          parser="native", library=native, log=io.StringIO(),
                                          reader=reader)
                wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
                if best is None or wall < best[0]:
                    best = (wall, cpu)
            wall, cpu = best
            print(f"read-ahead {depth} file(s), {state}: wall {wall:.2f} s ({mb / wall:.0f} MB/s), "
                  f"CPU {cpu:.2f} s; load average {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
