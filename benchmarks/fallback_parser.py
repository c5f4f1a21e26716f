"""The ingest's parsers on the same traffic files: MB/s per core (CPU time).

    python benchmarks/fallback_parser.py [--repeat 3] [--compare OLD.py]

Writes two synthetic traffic files on the full Paris grid (409 x 346 tiles; the tiles of
the city's area, ~96,000 rows) with netmob_cpc.synthetic.write_traffic_file, into a
temporary folder:
  decimals  the control apps' form: multiples of 1/16 written as decimals (`1.1875`),
            78 % lone zeros, 0.1 % missing fields (empty or `nan`);
  integers  Tor's form: sparse integers, 97 % lone zeros;
then times netmob_cpc.traffic_files.aggregate_file (read, parse, sums per commune and
slot, QC counts) with each parser on a random tile map of 150 communes over 70 % of the
tiles, and two stock readers alone (no sums, no checks) as candidates for the fallback:
  pyarrow.csv   read_csv, space delimiter, explicit column types, one thread
  pandas C      read_csv(sep=" ", header=None, engine="c") with explicit dtypes
The C kernel is compiled into the temporary folder with `${CC:-cc} -O3`. --compare OLD.py
also times the parser named by --compare-parser (default "vectorised") of another version
of traffic_files.py, e.g. one written with
`git show REV:scripts/netmob_cpc/traffic_files.py > OLD.py`.

The figure is file bytes / CPU seconds of this process (time.process_time, every method
single-threaded), the best of --repeat passes: wall time is noise on a shared machine.
"""

import argparse
import datetime
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from netmob_cpc import synthetic, traffic_files  # noqa: E402

DAY = datetime.date(2019, 5, 14)
GRID = synthetic.CITY_GRIDS["Paris"]


def write_files(folder, seed=0):
    """The two benchmark files; returns {name: path}."""
    rng = np.random.default_rng(seed)
    inside = synthetic.city_area(*GRID, rng)
    tile_ids = np.flatnonzero(inside.ravel())
    shape = (len(tile_ids), 96)
    decimals = np.rint(16 * rng.lognormal(3, 2, size=shape)).astype(np.uint64)
    decimals[rng.random(shape) < 0.78] = 0
    n_missing = int(0.001 * decimals.size)
    flat = rng.choice(decimals.size, size=n_missing, replace=False)
    missing = (*np.divmod(flat, 96), rng.random(n_missing) < 0.5)
    integers = rng.poisson(3, size=shape).astype(np.uint64)
    integers[rng.random(shape) < 0.97] = 0
    paths = {}
    for name, values, sixteenths, gaps in (("decimals", decimals, True, missing),
                                            ("integers", integers, False, None)):
        path = Path(folder) / f"Paris_Bench_{DAY:%Y%m%d}_{name}.txt"
        synthetic.write_traffic_file(path, tile_ids, values, sixteenths=sixteenths, missing=gaps)
        paths[name] = path
    return paths


def build_kernel(folder):
    library = Path(folder) / "libnetmob_parse.so"
    subprocess.run([os.environ.get("CC", "cc"), "-O3", "-std=c99", "-shared", "-fPIC", "-o",
                    str(library), str(REPO / "scripts" / "native" / "netmob_parse.c")], check=True)
    return traffic_files.load_native_parser(library)


def load_module(path):
    spec = importlib.util.spec_from_file_location("compared_traffic_files", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stock_readers():
    import pandas as pd
    import pyarrow as pa
    from pyarrow import csv

    names = [str(i) for i in range(97)]

    def arrow(path):
        csv.read_csv(
            path,
            read_options=csv.ReadOptions(column_names=names, use_threads=False),
            parse_options=csv.ParseOptions(delimiter=" ", quote_char=False),
            convert_options=csv.ConvertOptions(
                column_types={"0": pa.string()} | {name: pa.float64() for name in names[1:]},
                null_values=[""], strings_can_be_null=False),
        )

    def pandas_c(path):
        pd.read_csv(path, sep=" ", header=None, engine="c",
                    dtype={0: "int64"} | {i: "float64" for i in range(1, 97)})

    return {"pyarrow.csv read alone": arrow, "pandas C read alone": pandas_c}


def best_cpu(function, repeat):
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        function()
        best = min(best, time.process_time() - started)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes per method (best)")
    parser.add_argument("--compare", type=Path, help="another version of traffic_files.py")
    parser.add_argument("--compare-parser", default="vectorised")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(1)
    n_index, n_communes = GRID[0] * GRID[1], 150
    commune_of_tile = rng.integers(0, n_communes, size=n_index).astype(np.int32)
    commune_of_tile[rng.random(n_index) > 0.7] = -1

    with tempfile.TemporaryDirectory() as folder:
        paths = write_files(folder)
        native = build_kernel(folder)
        ingest = {
            "native (C kernel)": (traffic_files, "native"),
            "pyarrow (fallback)": (traffic_files, "pyarrow"),
        }
        if args.compare:
            ingest[f"{args.compare_parser} ({args.compare.name})"] = (
                load_module(args.compare), args.compare_parser)
        print(f"{'method':<34} " + " ".join(f"{name:>22}" for name in paths))
        print(f"{'':<34} " + " ".join(
            f"{os.path.getsize(path) / 1e6:>15.1f} MB, {sum(1 for _ in open(path)):>5}"
            for path in paths.values()) + "  (bytes, rows)")
        results = {}
        for label, (module, name) in ingest.items():
            row = []
            for path in paths.values():
                def run(module=module, name=name, path=path):
                    library = native if name == "native" else None
                    if module is not traffic_files and name == "native":
                        library = module.load_native_parser(native.path)
                    return module.aggregate_file(path, DAY, commune_of_tile, n_communes,
                                                 parser=name, library=library)
                results.setdefault(path, []).append(run())
                row.append(os.path.getsize(path) / 1e6 / best_cpu(run, args.repeat))
            print(f"{label:<34} " + " ".join(f"{rate:>17.1f} MB/s" for rate in row))
        for label, read in stock_readers().items():
            row = [os.path.getsize(path) / 1e6 / best_cpu(lambda: read(path), args.repeat)
                   for path in paths.values()]
            print(f"{label:<34} " + " ".join(f"{rate:>17.1f} MB/s" for rate in row))
        for path, days in results.items():  # every parser: the same sums, bit for bit
            first = days[0]
            for day in days[1:]:
                assert np.array_equal(first.traffic.view(np.uint64), day.traffic.view(np.uint64))
                assert {**first.qc, "parser": ""} == {**day.qc, "parser": ""}
        print("sums and QC counts: identical across the parsers")


if __name__ == "__main__":
    main()
