"""Reading one city's rows of a GeoPackage tile map: CPU seconds per city.

    python benchmarks/tile_map_reader.py [--cities 20] [--tiles 100000] [--compare OLD.py]

Writes a tile map of --cities cities x --tiles tiles (one 100 m square polygon per tile,
the columns tile_id, cities, code_dep, code_com, pop) into a temporary GeoPackage, then
times, for three of its cities, netmob_cpc.tile_map._read_geopackage (pyogrio: attributes
only, the city's rows selected by an SQL filter) and read_tile_map (that read plus the
checks and normalisation). --compare OLD.py also times the _read_geopackage of another
version of tile_map.py, e.g. one written with
`git show REV:scripts/netmob_cpc/tile_map.py > OLD.py`. Also prints what importing pyogrio
costs a fresh process (it imports geopandas).

The figure is CPU seconds of this process (time.process_time), the best of --repeat.
"""

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from netmob_cpc import tile_map  # noqa: E402


def write_map(path, n_cities, n_tiles, seed=0):
    import geopandas as gpd
    import pandas as pd
    import shapely

    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_cities):
        tile_id = np.sort(rng.choice(400 * 400, size=n_tiles, replace=False))
        commune = rng.integers(0, 300, size=n_tiles)
        dep = f"{10 + k:02d}"
        frames.append(pd.DataFrame({
            "tile_id": tile_id,
            "cities": f"City{k:02d}",
            "code_dep": dep,
            "code_com": [f"{dep}{c:03d}" for c in commune],
            "pop": (1000.0 + 10 * commune),
        }))
    frame = pd.concat(frames, ignore_index=True)
    row, col = np.divmod(frame["tile_id"].to_numpy(), 400)
    x, y = 600_000.0 + 100 * col, 6_800_000.0 - 100 * row
    squares = shapely.box(x, y - 100, x + 100, y)
    gpd.GeoDataFrame(frame, geometry=squares, crs="EPSG:2154").to_file(
        path, layer="map", driver="GPKG", engine="pyogrio", use_arrow=True)
    return frame


def load_module(path):
    spec = importlib.util.spec_from_file_location("compared_tile_map", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def best_cpu(function, repeat):
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        function()
        best = min(best, time.process_time() - started)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cities", type=int, default=20)
    parser.add_argument("--tiles", type=int, default=100_000, help="tiles per city")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="another version of tile_map.py")
    args = parser.parse_args(argv)
    import contextlib
    import io

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "map_crime.gpkg"
        started = time.perf_counter()
        write_map(path, args.cities, args.tiles)
        print(f"{path.name}: {args.cities} cities x {args.tiles} tiles, "
              f"{path.stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - started:.0f} s")
        readers = {"pyogrio _read_geopackage": tile_map._read_geopackage}
        if args.compare:
            readers[f"_read_geopackage of {args.compare.name}"] = load_module(args.compare)._read_geopackage
        readers["pyogrio read_tile_map (+ checks)"] = tile_map.read_tile_map
        cities = [f"City{k:02d}" for k in (0, args.cities // 2, args.cities - 1)]
        print(f"{'reader':<40} " + " ".join(f"{city:>10}" for city in cities) + "  (CPU s)")
        rows = {}
        for label, read in readers.items():
            times = []
            for city in cities:
                with contextlib.redirect_stderr(io.StringIO()):  # read_tile_map's log lines
                    times.append(best_cpu(lambda: read(path, city), args.repeat))
                    rows.setdefault(city, []).append(len(read(path, city)))
            print(f"{label:<40} " + " ".join(f"{t:>10.3f}" for t in times))
        assert all(len(set(counts)) == 1 for counts in rows.values()), rows
    code = "import time; t = time.process_time(); import pyogrio; print(time.process_time() - t)"
    cost = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout)
    print(f"import pyogrio (with geopandas) in a fresh process: {cost:.2f} CPU s")


if __name__ == "__main__":
    main()
