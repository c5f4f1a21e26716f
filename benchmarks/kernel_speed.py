"""Speed of the ingest's C kernel against a baseline kernel from the git history.

Both kernels are built side by side from source (the baseline with
`git show REV:scripts/native/netmob_parse.c`, not from a copy in the tree), with the same
compiler and flags as the rule `parser_library`, into a temporary folder, and run on the
same in-memory buffers (page cache and file reads play no part):

  integer   a traffic file at Paris' real grid size (409 x 346 tiles), 96 slots, the
            bench's share of lone zeros, integer traffic (netmob_cpc.synthetic)
  decimal   the same tiles with short decimals (traffic in sixteenths: 1.1875, 2.5)

For each kernel and buffer it prints MB/s per core (the best of --repeats runs, CPU time
of this thread: time.thread_time, so other processes on the machine barely matter) and
the ratio new / baseline; with --instructions it also counts the instructions executed
inside the kernel per byte (valgrind --tool=callgrind, one run each; exact, independent of
the machine's load). Both kernels must give the same sums and counts (checked).

Usage:
  python benchmarks/kernel_speed.py [--baseline REV] [--repeats 15] [--instructions] [--cpu-path generic]
"""

import argparse
import ctypes
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))

from netmob_cpc import synthetic  # noqa: E402
from netmob_cpc import traffic_files as ingest  # noqa: E402

SOURCE = "scripts/native/netmob_parse.c"
# The kernel before the speed work (the last commit that changed it before then).
BASELINE_REV = "1d2bbf7df3a6f558a486e00a9e8f0babf6b9e77f"
FLAGS = ["-O3", "-std=c99", "-shared", "-fPIC"]  # as the rule parser_library
DAY = datetime.date(2019, 5, 14)


def build(source_text, folder, name):
    """Compile kernel source text into folder/name.so with the rule's flags."""
    source = os.path.join(folder, f"{name}.c")
    library = os.path.join(folder, f"{name}.so")
    with open(source, "w") as handle:
        handle.write(source_text)
    compiler = os.environ.get("CC", "cc")
    subprocess.run([compiler, *FLAGS, "-o", library, source], check=True)
    return library


def baseline_source(rev):
    return subprocess.run(
        ["git", "-C", REPO, "show", f"{rev}:{SOURCE}"], check=True, capture_output=True, text=True
    ).stdout


def paris_buffers(folder, zero_share=0.85, seed=1):
    """(name, bytes) of the integer and the decimal file, and the tile map (commune_of_tile,
    n_communes) they are summed with."""
    rows, cols = synthetic.CITY_GRIDS["Paris"]
    rng = np.random.default_rng(seed)
    inside = synthetic.city_area(rows, cols, rng)
    tile_ids = np.flatnonzero(inside.ravel()).astype(np.int64)
    n_slots = 96
    values = np.rint(rng.lognormal(4.0, 2.0, size=(len(tile_ids), n_slots))).astype(np.uint64)
    values[rng.random(values.shape) < zero_share] = 0
    np.minimum(values, 2**31, out=values)
    buffers = []
    for name, sixteenths in (("integer", False), ("decimal", True)):
        path = os.path.join(folder, f"{name}.txt")
        synthetic.write_traffic_file(path, tile_ids, values, sixteenths=sixteenths)
        with open(path, "rb") as handle:
            buffers.append((name, handle.read()))
    n_communes = 150
    commune_of_tile = np.full(rows * cols, -1, dtype=np.int32)
    commune_of_tile[tile_ids] = rng.integers(-1, n_communes, size=len(tile_ids))
    return buffers, commune_of_tile, n_communes


class Kernel(ingest.NativeParser):
    """A kernel of any interface version whose netmob_aggregate and stats layout are the
    current ones (the baseline's interface 2 lacks only netmob_cpu_path)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        library = ctypes.CDLL(os.path.abspath(self.path))
        if library.netmob_stats_count() != len(ingest._STATS):
            raise SystemExit(f"{path}: another stats layout, not comparable")
        aggregate = library.netmob_aggregate
        aggregate.restype = ctypes.c_int
        aggregate.argtypes = ([ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
                              + [ctypes.c_int64, ctypes.c_int64] + [ctypes.c_void_p] * 6)
        self._aggregate = aggregate
        self._library = library

    def cpu_path(self, force=None):
        if not hasattr(self._library, "netmob_cpu_path"):
            return "generic (one path only)"
        self._cpu_path = self._library.netmob_cpu_path
        self._cpu_path.restype, self._cpu_path.argtypes = ctypes.c_int, [ctypes.c_int]
        return super().cpu_path(force)


def parse_once(parser, data, commune_of_tile, n_communes):
    started = time.thread_time()
    result = parser.parse(data, 97, commune_of_tile, n_communes)
    return time.thread_time() - started, result


def best_seconds(parser, data, commune_of_tile, n_communes, repeats):
    return min(parse_once(parser, data, commune_of_tile, n_communes)[0] for _ in range(repeats))


def same_result(a, b):
    return (
        a.traffic.tobytes() == b.traffic.tobytes() and a.tiles.tobytes() == b.tiles.tobytes()
        and a.slot_total.tobytes() == b.slot_total.tobytes()
        and a.slot_unmapped.tobytes() == b.slot_unmapped.tobytes()
        and a.counts == b.counts and a.max_location == b.max_location
    )


# --- instruction counts (valgrind --tool=callgrind, inside the kernel only) -----------------
def _count_child(library, path, tile_map):
    """Run by the callgrind child: parse one file once with one kernel."""
    with np.load(tile_map) as saved:
        commune_of_tile, n_communes = saved["commune_of_tile"], int(saved["n_communes"])
    with open(path, "rb") as handle:
        data = handle.read()
    Kernel(library).parse(data, 97, commune_of_tile, n_communes)


def count_instructions(library, path, tile_map, folder):
    """Instructions executed inside the ctypes call of the kernel for one parse of `path`
    (netmob_aggregate and the few instructions of libffi's call)."""
    out = os.path.join(folder, "callgrind.out")
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
         "--toggle-collect=ffi_call*", sys.executable, os.path.abspath(__file__),
         "--count-child", library, path, tile_map],
        check=True, capture_output=True,
    )
    with open(out) as handle:
        text = handle.read()
    match = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
    return int(match.group(1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default=BASELINE_REV,
                        help="git revision of the baseline kernel (default: the kernel before the speed work)")
    parser.add_argument("--repeats", type=int, default=15, help="runs per kernel and buffer (best kept)")
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions per byte with valgrind --tool=callgrind")
    parser.add_argument("--cpu-path", choices=["generic", "popcnt"],
                        help="force the current kernel's CPU path (timing only; default: the one it chooses)")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--count-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.count_child:
        _count_child(*args.count_child)
        return {}
    if args.instructions and not shutil.which("valgrind"):
        parser.error("--instructions needs valgrind on PATH")
    figures = {"baseline": args.baseline, "flags": " ".join(FLAGS), "buffers": {}}
    with tempfile.TemporaryDirectory(prefix="kernel_speed_") as folder:
        with open(os.path.join(REPO, SOURCE)) as handle:
            current = build(handle.read(), folder, "current")
        baseline = build(baseline_source(args.baseline), folder, "baseline")
        kernels = {"baseline": Kernel(baseline), "current": Kernel(current)}
        buffers, commune_of_tile, n_communes = paris_buffers(folder)
        tile_map = os.path.join(folder, "tile_map.npz")
        np.savez(tile_map, commune_of_tile=commune_of_tile, n_communes=n_communes)
        figures["cpu_path"] = kernels["current"].cpu_path(args.cpu_path)
        print(f"baseline kernel: {SOURCE} at {args.baseline[:12]}; current: the working tree "
              f"(CPU path {figures['cpu_path']}); flags: {' '.join(FLAGS)}")
        for name, data in buffers:
            results = {key: parse_once(kernel, data, commune_of_tile, n_communes)[1]
                       for key, kernel in kernels.items()}
            if not same_result(results["baseline"], results["current"]):
                raise SystemExit(f"{name}: the two kernels give different results")
            mb = len(data) / 1e6
            row = {"mb": mb}
            # interleaved, so that a change of machine load hits both alike
            seconds = {key: float("inf") for key in kernels}
            for _ in range(args.repeats):
                for key, kernel in kernels.items():
                    seconds[key] = min(seconds[key], parse_once(kernel, data, commune_of_tile, n_communes)[0])
            for key in kernels:
                row[f"{key}_mb_s"] = mb / seconds[key]
            row["ratio"] = seconds["baseline"] / seconds["current"]
            line = (f"{name:8s} {mb:6.1f} MB: baseline {row['baseline_mb_s']:6.0f} MB/s per core, "
                    f"current {row['current_mb_s']:6.0f} MB/s per core, x{row['ratio']:.2f} (CPU time)")
            if args.instructions:
                path = os.path.join(folder, f"{name}.txt")
                for key, library in (("baseline", baseline), ("current", current)):
                    row[f"{key}_instructions_per_byte"] = (
                        count_instructions(library, path, tile_map, folder) / len(data))
                row["instruction_ratio"] = (row["baseline_instructions_per_byte"]
                                            / row["current_instructions_per_byte"])
                line += (f"; instructions/byte {row['baseline_instructions_per_byte']:.2f} -> "
                         f"{row['current_instructions_per_byte']:.2f} (x{row['instruction_ratio']:.2f})")
            print(line, flush=True)
            figures["buffers"][name] = row
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=1)
    return figures


if __name__ == "__main__":
    main()
