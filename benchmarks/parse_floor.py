"""How fast can a NetMob23 traffic file be read and summed per commune? (MB/s per method)

Measures, over the same bytes (the files of a folder, page cache warm):
  raw read             open().read(): the floor of any parser
  pyarrow.csv          pyarrow.csv.read_csv with an explicit schema (one thread)
  pandas read_csv      pd.read_csv(sep=" ", names=...) as the seed notebook calls it
  notebook per file    read_csv + merge with the tile map + groupby sum + melt
  ingest native        netmob_cpc.traffic_files.aggregate_file(parser="native"): the C kernel
  ingest python        netmob_cpc.traffic_files.aggregate_file(parser="python")

Usage:
  python benchmarks/parse_floor.py FOLDER --generate 4      # write 4 realistic files first
  python benchmarks/parse_floor.py FOLDER [--tile-index tile_map/Paris.npz] [--library LIB]

Generated files mimic the real ones (the NetMob23 file format, README "Inputs"): 20,000 tiles of a 409 x 346 grid
(Paris), 96 slots, 78 % lone zeros (--zero-share), the other values: 20 % integers up to
1e6, 10 % short decimals (2.5, 1234.0625), 20 % full-precision decimals as Python's repr
writes them (17 digits, sometimes with an exponent), 50 % long fixed-point decimals (10 to
22 decimals, up to 28 significant digits): ~9.7 MB each (the real files: ~11 MB).
Without --tile-index a random tile map with 150 communes over 70 % of the grid is used.
Without --library the C kernel is compiled into a temporary folder with
`cc -O3 -shared -fPIC`.
"""

import argparse
import datetime
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))

from netmob_cpc import traffic_files as ingest  # noqa: E402

DEFAULT_DAY = datetime.date(2019, 5, 14)


def generate_traffic_file(path, *, n_tiles=20_000, grid=(409, 346), n_slots=96,
                          zero_share=0.78, seed=0):
    """Write a realistic traffic file; returns its size in bytes."""
    rng = np.random.default_rng(seed)
    tile_ids = np.sort(rng.choice(grid[0] * grid[1], size=n_tiles, replace=False))
    kind = rng.random((n_tiles, n_slots))
    magnitude = 10.0 ** rng.uniform(-3, 6, size=(n_tiles, n_slots))
    decimals = rng.integers(10, 23, size=(n_tiles, n_slots))
    rest = 1.0 - zero_share
    lines = []
    for i in range(n_tiles):
        fields = [str(tile_ids[i])]
        for k, x, d in zip(kind[i].tolist(), magnitude[i].tolist(), decimals[i].tolist()):
            if k < zero_share:
                fields.append("0")
            elif k < zero_share + 0.2 * rest:
                fields.append(str(int(x)))                 # integer up to 1e6
            elif k < zero_share + 0.3 * rest:
                fields.append(repr(round(x * 16) / 16))    # short decimal: 2.5, 1234.0625
            elif k < zero_share + 0.5 * rest:
                fields.append(repr(x))                     # 17 significant digits
            else:
                fields.append(f"{x:.{d}f}")                # 10..22 decimals (up to 28 digits)
        lines.append(" ".join(fields))
    text = "\n".join(lines) + "\n"
    with open(path, "w") as handle:
        handle.write(text)
    return len(text)


def random_tile_map(n_index, n_communes=150, mapped_share=0.7, seed=1):
    rng = np.random.default_rng(seed)
    commune_of_tile = rng.integers(0, n_communes, size=n_index).astype(np.int32)
    commune_of_tile[rng.random(n_index) > mapped_share] = -1
    return commune_of_tile, n_communes


def day_of(path):
    match = re.search(r"_(\d{8})_", os.path.basename(path))
    return datetime.datetime.strptime(match.group(1), "%Y%m%d").date() if match else DEFAULT_DAY


def build_library(folder):
    library = os.path.join(folder, "libnetmob_parse.so")
    source = os.path.join(REPO, "scripts", "native", "netmob_parse.c")
    subprocess.run(["cc", "-O3", "-shared", "-fPIC", "-o", library, source], check=True)
    return library


def methods(commune_of_tile, n_communes, library):
    """name -> function(path, day) doing that method's work on one file."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def names_of(day):
        minutes = ingest.expected_slot_minutes(day)
        return ["tile_id"] + [f"{m // 60:02d}:{m % 60:02d}" for m in minutes]

    mapped = np.flatnonzero(commune_of_tile >= 0)
    code_com = np.array([f"{75000 + c:05d}" for c in range(n_communes)])
    tile_map = pd.DataFrame({
        "tile_id": mapped,
        "code_dep": "75",
        "code_com": code_com[commune_of_tile[mapped]],
    })

    def raw(path, day):
        with open(path, "rb") as handle:
            handle.read()

    def arrow(path, day):
        names = names_of(day)
        pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=" "),
            convert_options=pacsv.ConvertOptions(
                column_types={name: (pa.int64() if name == "tile_id" else pa.float64())
                              for name in names}
            ),
        )

    def pandas_read(path, day):
        pd.read_csv(path, sep=" ", names=names_of(day))

    def notebook(path, day):
        names = names_of(day)
        frame = pd.read_csv(path, sep=" ", names=names)
        slots = names[1:]
        frame = (frame.merge(tile_map, on="tile_id", how="left")
                 .groupby(["code_dep", "code_com"])[slots].sum().reset_index())
        frame["date"] = day.strftime("%Y%m%d")
        pd.melt(frame, id_vars=["code_dep", "code_com", "date"], var_name="time")

    def native(path, day):
        ingest.aggregate_file(path, day, commune_of_tile, n_communes, parser="native",
                              library=library)

    def python(path, day):
        ingest.aggregate_file(path, day, commune_of_tile, n_communes, parser="python")

    return {
        "raw read": raw,
        "pyarrow.csv (schema)": arrow,
        "pandas read_csv": pandas_read,
        "notebook per file": notebook,
        "ingest native": native,
        "ingest python": python,
    }


def measure(function, files, repeat):
    """Best (wall, CPU) seconds over `repeat` passes over all files. CPU time (of this
    process, every method single-threaded) is the figure to trust on a busy machine."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        for path in files:
            function(path, day_of(path))
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="folder of traffic files (*.txt)")
    parser.add_argument("--generate", type=int, default=0, metavar="N",
                        help="first write N generated files into the folder")
    parser.add_argument("--tiles", type=int, default=20_000, help="tiles per generated file")
    parser.add_argument("--zero-share", type=float, default=0.78,
                        help="share of lone zeros in generated files")
    parser.add_argument("--tile-index", help="tile_map/{city}.npz (default: random map)")
    parser.add_argument("--library", help="compiled netmob_parse.c (default: build it)")
    parser.add_argument("--repeat", type=int, default=3, help="passes per method (best)")
    parser.add_argument("--python-repeat", type=int, default=1,
                        help="passes of the slow pure-Python parser")
    parser.add_argument("--skip", nargs="*", default=[], help="methods to leave out")
    args = parser.parse_args(argv)

    os.makedirs(args.folder, exist_ok=True)
    for i in range(args.generate):
        day = DEFAULT_DAY + datetime.timedelta(days=i)
        path = os.path.join(args.folder, f"Paris_Bench_{day:%Y%m%d}_DL.txt")
        size = generate_traffic_file(path, n_tiles=args.tiles, zero_share=args.zero_share,
                                     seed=i)
        print(f"wrote {path} ({size / 1e6:.1f} MB)")
    files = sorted(glob.glob(os.path.join(args.folder, "*.txt")))
    if not files:
        sys.exit(f"{args.folder}: no *.txt traffic file (use --generate N)")
    total_bytes = sum(os.path.getsize(path) for path in files)

    if args.tile_index:
        commune_of_tile, n_communes = ingest.load_tile_index(args.tile_index)
    else:
        commune_of_tile, n_communes = random_tile_map(409 * 346)
    with tempfile.TemporaryDirectory() as build:
        library = ingest.load_native_parser(args.library or build_library(build))
        for path in files:  # warm the page cache
            with open(path, "rb") as handle:
                handle.read()
        print(f"{len(files)} files, {total_bytes / 1e6:.1f} MB, "
              f"{os.cpu_count()} CPUs, single thread, page cache warm")
        print(f"{'method':<22}{'MB/s wall':>10}{'MB/s CPU':>10}{'CPU s/file':>12}"
              f"{'50 GB, 1 core':>15}")
        for name, function in methods(commune_of_tile, n_communes, library).items():
            if name in args.skip:
                continue
            repeat = args.python_repeat if name == "ingest python" else args.repeat
            wall, cpu = measure(function, files, repeat)
            print(f"{name:<22}{total_bytes / wall / 1e6:>10.0f}{total_bytes / cpu / 1e6:>10.0f}"
                  f"{cpu / len(files):>12.3f}{50e9 / (total_bytes / cpu) / 60:>11.1f} min",
                  flush=True)


if __name__ == "__main__":
    main()
