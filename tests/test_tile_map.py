"""Tile map (a given map, or one built from a tile grid and communes; ARCHITECTURE.md "Tile
index") on hand-made grids and maps whose answer is known: every commune and tile is drawn
in Lambert-93 metres, the grid is stored in WGS84 as the NetMob23 files are."""

import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

import tile_map as tile_map_script
from netmob_cpc.files import InputError, run_rule
from netmob_cpc.tile_map import build_tile_map, commune_coverage, read_tile_map, tile_index, write_tile_index

X0, Y0 = 1_040_000.0, 6_295_000.0  # Lambert-93 metres, near Nice
COLUMNS = {"code_com": "INSEE_COM", "code_dep": "INSEE_DEP", "pop": "POPULATION"}
MAP_COLUMNS = ("tile_id", "cities", "code_dep", "code_com", "pop")


def tile_square(tile_id, cols=4):
    row, col = divmod(tile_id, cols)
    return box(X0 + 100 * col, Y0 + 100 * row, X0 + 100 * (col + 1), Y0 + 100 * (row + 1))


def grid_frame(tile_ids=(0, 1, 2, 3, 4, 5, 6, 7, 9)):
    """Tiles of 100 m in 2 rows of 4 (tile_id = row * 4 + col), plus tile 9 further east."""
    squares = [tile_square(t) if t < 8 else box(X0 + 500, Y0, X0 + 600, Y0 + 100) for t in tile_ids]
    return gpd.GeoDataFrame({"tile_id": list(tile_ids)}, geometry=squares, crs="EPSG:2154")


def communes_frame():
    """06088 covers x 0..240 m with a 20 m hole around tile 1's centroid (150, 50), which is
    06029; 06004 covers x 240..340 m; 06999 lies 50 km away."""
    hole = box(X0 + 140, Y0 + 40, X0 + 160, Y0 + 60)
    return gpd.GeoDataFrame(
        {
            "INSEE_COM": ["06088", "06029", "06004", "06999"],
            "INSEE_DEP": ["06", "06", "06", "06"],
            "POPULATION": [340000, 75000, 1200, 10],
        },
        geometry=[
            box(X0, Y0, X0 + 240, Y0 + 200).difference(hole),
            hole,
            box(X0 + 240, Y0, X0 + 340, Y0 + 200),
            box(X0 + 50_000, Y0, X0 + 51_000, Y0 + 1000),
        ],
        crs="EPSG:2154",
    )


# tile -> commune by centroid: tile 1 is 96 % in 06088 but its centroid is in 06029; tiles 2
# and 6 straddle 06088 / 06004 (centroid x = 250 > 240); tiles 3, 7 (centroid x = 350 > 340)
# and 9 are in no commune, although 40 % of tiles 3 and 7 lie in 06004.
EXPECTED = {0: "06088", 1: "06029", 2: "06004", 4: "06088", 5: "06088", 6: "06004"}
POP = {"06088": 340000.0, "06029": 75000.0, "06004": 1200.0}


@pytest.fixture
def grid_path(tmp_path):
    path = tmp_path / "Nice.geojson"
    grid_frame().to_crs("EPSG:4326").to_file(path, driver="GeoJSON")
    return path


@pytest.fixture
def communes_path(tmp_path):
    path = tmp_path / "communes.gpkg"
    communes_frame().to_file(path, driver="GPKG")
    return path


def check_expected(result, columns=("tile_id", "cities", "code_dep", "code_com", "pop", "coverage")):
    assert list(result.columns) == list(columns)
    assert dict(zip(result["tile_id"], result["code_com"])) == EXPECTED
    assert set(result["cities"]) == {"Nice"} and set(result["code_dep"]) == {"06"}
    assert dict(zip(result["code_com"], result["pop"])) == POP


def test_build_by_centroid_in_lambert93(grid_path, communes_path):
    # grid in WGS84 degrees, communes in Lambert-93 metres: nothing matches without reprojection
    result = build_tile_map(grid_path, communes_path, "Nice", COLUMNS)
    check_expected(result)
    assert result.attrs["n_index"] == 10
    assert result["tile_id"].dtype == np.int64 and result["pop"].dtype == np.float64


def test_build_with_communes_in_wgs84_and_other_column_names(tmp_path, grid_path):
    path = tmp_path / "communes.geojson"
    communes_frame().rename(columns={"INSEE_COM": "insee", "INSEE_DEP": "dep", "POPULATION": "habitants"}).to_crs(
        "EPSG:4326"
    ).to_file(path, driver="GeoJSON")
    result = build_tile_map(grid_path, path, "Nice", {"code_com": "insee", "code_dep": "dep", "pop": "habitants"})
    check_expected(result)


def test_build_reads_only_the_communes_near_the_grid(grid_path, communes_path, monkeypatch):
    import pyogrio

    seen = []
    original = pyogrio.read_dataframe

    def spy(path, *args, **kwargs):
        frame = original(path, *args, **kwargs)
        seen.append((str(path), kwargs.get("bbox"), len(frame)))
        return frame

    monkeypatch.setattr(pyogrio, "read_dataframe", spy)
    build_tile_map(grid_path, communes_path, "Nice", COLUMNS)
    communes_reads = [entry for entry in seen if entry[0] == str(communes_path)]
    assert len(communes_reads) == 1
    _, bbox, rows = communes_reads[0]
    assert bbox is not None and rows == 3  # 06999, 50 km away, is not read
    assert bbox[0] < X0 and bbox[2] < X0 + 50_000


def test_centroid_on_a_border_goes_to_the_lower_code(tmp_path):
    # a grid in Lambert-93 itself, so that the centroid (250, 50) lies exactly on the border
    grid_path = tmp_path / "grid.gpkg"
    grid_frame((2,)).to_file(grid_path, driver="GPKG")
    communes_path = tmp_path / "split.gpkg"
    gpd.GeoDataFrame(
        {"INSEE_COM": ["06088", "06004"], "INSEE_DEP": ["06", "06"], "POPULATION": [1, 2]},
        geometry=[box(X0 + 200, Y0, X0 + 250, Y0 + 100), box(X0 + 250, Y0, X0 + 300, Y0 + 100)],
        crs="EPSG:2154",
    ).to_file(communes_path, driver="GPKG")
    result = build_tile_map(grid_path, communes_path, "Nice", COLUMNS)
    assert result["tile_id"].tolist() == [2] and result["code_com"].tolist() == ["06004"]
    assert result.attrs["n_index"] == 3


def test_numeric_insee_codes_get_leading_zeros(tmp_path, grid_path):
    path = tmp_path / "numeric.gpkg"
    communes = communes_frame()
    communes["INSEE_COM"] = communes["INSEE_COM"].astype(int)
    communes["INSEE_DEP"] = communes["INSEE_DEP"].astype(int)
    communes.to_file(path, driver="GPKG")
    check_expected(build_tile_map(grid_path, path, "Nice", COLUMNS))


def test_grid_without_tile_id(tmp_path, communes_path):
    path = tmp_path / "grid.geojson"
    grid_frame().rename(columns={"tile_id": "id"}).to_crs("EPSG:4326").to_file(path, driver="GeoJSON")
    with pytest.raises(InputError) as err:
        build_tile_map(path, communes_path, "Nice", COLUMNS)
    assert str(path) in str(err.value) and "no tile_id" in str(err.value) and "id" in str(err.value)


def test_communes_missing_columns(grid_path, communes_path):
    with pytest.raises(InputError) as err:
        build_tile_map(
            grid_path, communes_path, "Nice", {"code_com": "CODE_INSEE", "code_dep": "INSEE_DEP", "pop": "POP"}
        )
    message = str(err.value)
    assert str(communes_path) in message and "no column(s) CODE_INSEE, POP" in message
    assert "INSEE_COM, INSEE_DEP, POPULATION" in message


def test_communes_not_polygons(tmp_path, grid_path):
    path = tmp_path / "points.gpkg"
    communes = communes_frame()
    communes["geometry"] = [Point(X0 + 10, Y0 + 10), Point(X0 + 150, Y0 + 50), Point(X0 + 250, Y0 + 50), Point(X0, Y0)]
    communes.to_file(path, driver="GPKG")
    with pytest.raises(InputError) as err:
        build_tile_map(grid_path, path, "Nice", COLUMNS)
    assert str(path) in str(err.value) and "Polygon or MultiPolygon" in str(err.value) and "Point" in str(err.value)


def test_grid_not_polygons(tmp_path, communes_path):
    path = tmp_path / "points.geojson"
    grid = grid_frame()
    grid["geometry"] = grid.geometry.centroid
    grid.to_crs("EPSG:4326").to_file(path, driver="GeoJSON")
    with pytest.raises(InputError, match="tiles must be Polygon or MultiPolygon geometries, found 9 Point"):
        build_tile_map(path, communes_path, "Nice", COLUMNS)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_grid_without_crs(tmp_path, communes_path):
    path = tmp_path / "grid.gpkg"
    grid_frame().set_crs(None, allow_override=True).to_file(path, driver="GPKG")
    with pytest.raises(InputError) as err:
        build_tile_map(path, communes_path, "Nice", COLUMNS)
    assert str(path) in str(err.value) and "no coordinate reference system" in str(err.value)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_communes_without_crs(tmp_path, grid_path):
    path = tmp_path / "communes_nocrs.gpkg"
    communes_frame().set_crs(None, allow_override=True).to_file(path, driver="GPKG")
    with pytest.raises(InputError) as err:
        build_tile_map(grid_path, path, "Nice", COLUMNS)
    assert str(path) in str(err.value) and "no coordinate reference system" in str(err.value)


# --- a given map ---------------------------------------------------------------------------


def map_frame():
    return pd.DataFrame(
        {
            "tile_id": [5, 0, 1, 7, 2, 3],
            "cities": ["Nice", "Nice", "Nice", "Lyon", "Nice", "Nice"],
            "code_dep": ["06", "06", "06", "69", "2A", "06"],
            "code_com": ["06088", "06088", "06029", "69123", "2A004", "06088"],
            "pop": [340000.0, 340000.0, 75000.0, 520000.0, 900.0, 340000.0],
        }
    )


@pytest.mark.parametrize("suffix", ["csv", "parquet", "gpkg"])
def test_read_map_formats(tmp_path, suffix):
    frame = map_frame()
    path = tmp_path / f"map.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "parquet":
        frame.to_parquet(path, index=False)
    else:
        squares = [tile_square(t) for t in frame["tile_id"]]
        gpd.GeoDataFrame(frame, geometry=squares, crs="EPSG:2154").to_file(path, driver="GPKG")
    result = read_tile_map(path, "Nice")
    assert result["tile_id"].tolist() == [0, 1, 2, 3, 5]
    assert result["code_com"].tolist() == ["06088", "06029", "2A004", "06088", "06088"]
    assert result["code_dep"].tolist() == ["06", "06", "2A", "06", "06"]
    assert result["pop"].tolist() == [340000.0, 75000.0, 900.0, 340000.0, 340000.0]
    assert set(result["cities"]) == {"Nice"}
    assert list(result.columns) == ["tile_id", "cities", "code_dep", "code_com", "pop"]


def write_map(tmp_path, frame, name="map.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", ["csv", "parquet", "gpkg", "geojson"])
def test_map_missing_columns(tmp_path, suffix):
    path = write_any(map_frame().drop(columns=["pop", "code_dep"]), tmp_path / f"map.{suffix}")
    with pytest.raises(InputError) as err:
        read_tile_map(path, "Nice")
    assert str(err.value) == (
        f"{path}: missing column(s) code_dep, pop; found tile_id, cities, code_com; a tile map "
        "needs tile_id, cities, code_dep, code_com, pop (one row per city and tile)"
    )


def test_map_same_tile_twice_is_dropped_and_counted(tmp_path, capsys):
    frame = pd.concat([map_frame(), map_frame().iloc[[0, 0]]], ignore_index=True)
    path = write_map(tmp_path, frame)
    result = read_tile_map(path, "Nice")
    assert result["tile_id"].tolist() == [0, 1, 2, 3, 5]
    assert f"{path}: 2 row(s) of Nice repeat another row exactly (same tile and commune): dropped" in capsys.readouterr().err
    # the same tile id in another city is no duplicate
    assert len(read_tile_map(path, "Lyon")) == 1


def test_map_tile_in_two_communes(tmp_path):
    extra = pd.DataFrame({"tile_id": [1], "cities": ["Nice"], "code_dep": ["06"], "code_com": ["06088"], "pop": [1.0]})
    path = write_map(tmp_path, pd.concat([map_frame(), extra], ignore_index=True))
    with pytest.raises(InputError) as err:
        read_tile_map(path, "Nice")
    # tile 1 is on line 4 (06029) and on the last line, 8 (06088)
    assert str(err.value) == (
        f"{path}: cities Nice, tile_id 1 appears on line 4 and line 8 with different code_com ('06029' and "
        "'06088'); 1 city and tile key(s) repeated with other values in all. Keep one row per city and tile (a "
        "repeated row would be averaged or counted twice)."
    )


def test_map_tile_in_two_communes_without_lines(tmp_path):
    extra = pd.DataFrame({"tile_id": [1], "cities": ["Nice"], "code_dep": ["06"], "code_com": ["06088"], "pop": [1.0]})
    path = tmp_path / "map.parquet"
    pd.concat([map_frame(), extra], ignore_index=True).to_parquet(path)
    with pytest.raises(InputError) as err:
        read_tile_map(path, "Nice")
    assert str(err.value).startswith(
        f"{path}: cities Nice, tile_id 1 appears on two rows with different code_com ('06029' and '06088'); "
    )


def test_map_non_integer_tile_id(tmp_path):
    frame = map_frame().astype({"tile_id": float})
    frame.loc[2, "tile_id"] = 1.5
    path = write_map(tmp_path, frame)
    with pytest.raises(InputError) as err:
        read_tile_map(path, "Nice")
    assert str(path) in str(err.value) and "not a non-negative integer" in str(err.value) and "1.5" in str(err.value)


def test_map_integer_valued_floats_are_fine(tmp_path):
    path = write_map(tmp_path, map_frame().astype({"tile_id": float}))
    assert read_tile_map(path, "Nice")["tile_id"].tolist() == [0, 1, 2, 3, 5]


@pytest.mark.parametrize("suffix", ["csv", "parquet", "gpkg", "geojson"])
def test_map_without_the_city(tmp_path, suffix):
    frame = map_frame()
    frame.loc[3, "cities"] = " Lyon "  # names are compared without their spaces
    path = write_any(frame, tmp_path / f"map.{suffix}")
    assert read_tile_map(path, "Lyon")["code_com"].tolist() == ["69123"]
    for city in ("Paris", "Nice' OR 'a' = 'a"):  # a quote in a name is no SQL
        with pytest.raises(InputError) as err:
            read_tile_map(path, city)
        assert str(err.value) == (
            f"{path}: no row for city {city!r}; the map has the cities Lyon, Nice. "
            "Check 'cities' in the configuration, or use a map of these cities."
        )


# --- the tile index ------------------------------------------------------------------------


def test_tile_index_by_hand():
    nice = map_frame()[lambda f: f["cities"] == "Nice"].copy()
    nice.loc[nice["tile_id"] == 3, "pop"] = 999.0  # not the first occurrence of 06088: ignored
    index = tile_index(nice)
    assert index["code_com"].tolist() == ["06029", "06088", "2A004"] and index["code_com"].dtype.kind == "U"
    assert index["code_dep"].tolist() == ["06", "06", "2A"] and index["code_dep"].dtype.kind == "U"
    assert index["pop"].tolist() == [75000.0, 340000.0, 900.0] and index["pop"].dtype == np.float64
    assert index["commune_of_tile"].dtype == np.int32
    assert index["commune_of_tile"].tolist() == [1, 0, 2, 1, -1, 1]
    assert tile_index(nice, n_index=9)["commune_of_tile"].tolist() == [1, 0, 2, 1, -1, 1, -1, -1, -1]
    with pytest.raises(ValueError, match="smaller than"):
        tile_index(nice, n_index=5)


def test_write_tile_index_round_trip(tmp_path):
    nice = read_tile_map(write_map(tmp_path, map_frame()), "Nice")
    npz, csv = tmp_path / "out" / "Nice.npz", tmp_path / "out" / "Nice.csv"
    write_tile_index(npz, csv, nice, n_index=8)
    with np.load(npz, allow_pickle=False) as index:
        assert sorted(index.files) == ["code_com", "code_dep", "commune_of_tile", "coverage", "pop"]
        assert index["commune_of_tile"].tolist() == [1, 0, 2, 1, -1, 1, -1, -1]
        assert index["code_com"].tolist() == ["06029", "06088", "2A004"]
    assert csv.read_text().splitlines()[0] == "tile_id,cities,code_dep,code_com,pop,coverage"
    pd.testing.assert_frame_equal(read_tile_map(csv, "Nice"), nice)
    assert sorted(p.name for p in npz.parent.iterdir()) == ["Nice.csv", "Nice.npz"]


def run_main(tmp_path, inputs):
    """The entry script as Snakemake runs it (run_rule: log, one-line errors)."""
    out = tmp_path / "tile_map"
    smk = SimpleNamespace(
        input=SimpleNamespace(**inputs),
        params=SimpleNamespace(city="Nice", columns=COLUMNS),
        output=SimpleNamespace(index=str(out / "Nice.npz"), table=str(out / "Nice.csv")),
        log=[str(tmp_path / "tile_map.log")],
        rule="tile_map",
    )
    saved = sys.stderr
    try:
        run_rule(smk, tile_map_script.main)
    finally:
        if sys.stderr is not saved:
            sys.stderr.close()
        sys.stderr = saved
    return out


def test_main_builds_from_grid(tmp_path, grid_path, communes_path):
    out = run_main(tmp_path, {"grid": str(grid_path), "communes": str(communes_path)})
    with np.load(out / "Nice.npz") as index:
        # communes sorted: 06004, 06029, 06088; n_index = 1 + largest grid tile_id (9)
        assert index["code_com"].tolist() == ["06004", "06029", "06088"]
        assert index["commune_of_tile"].tolist() == [2, 1, 0, -1, 2, 2, 0, -1, -1, -1]
    check_expected(read_tile_map(out / "Nice.csv", "Nice"), MAP_COLUMNS)
    table = pd.read_csv(out / "Nice.csv", dtype={"code_com": str, "code_dep": str})
    assert list(table.columns) == [*MAP_COLUMNS, "coverage"]
    # every commune lies wholly inside the 2 x 4 tiles: coverage 1 (up to the WGS84 round trip)
    assert table["coverage"].to_numpy() == pytest.approx(1.0, abs=1e-6)
    with np.load(out / "Nice.npz") as index:
        assert index["coverage"] == pytest.approx([1.0, 1.0, 1.0], abs=1e-6)
    log = (tmp_path / "tile_map.log").read_text()
    assert "9 tiles, 6 in 3 communes, 3 in no commune" in log


def test_main_reads_given_map(tmp_path):
    out = run_main(tmp_path, {"tile_map": str(write_map(tmp_path, map_frame()))})
    with np.load(out / "Nice.npz") as index:
        assert index["commune_of_tile"].tolist() == [1, 0, 2, 1, -1, 1]


# --- codes in every format (leading zeros lost by a spreadsheet or a numeric column) --------


def lost_zeros_frame():
    frame = map_frame()
    frame["code_com"] = ["6088", "6088", "6029.0", "69123", "2A004", "6088"]
    frame["code_dep"] = ["6", "6", "6.0", "69", "2A", "6"]
    return frame


def write_any(frame, path):
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        squares = [tile_square(t) for t in frame["tile_id"]]
        driver = "GeoJSON" if suffix == ".geojson" else "GPKG"
        gpd.GeoDataFrame(frame, geometry=squares, crs="EPSG:2154").to_file(path, driver=driver)
    return path


@pytest.mark.parametrize("suffix", ["csv", "parquet", "gpkg", "geojson"])
def test_codes_without_leading_zeros_as_text(tmp_path, suffix):
    result = read_tile_map(write_any(lost_zeros_frame(), tmp_path / f"map.{suffix}"), "Nice")
    assert result["code_com"].tolist() == ["06088", "06029", "2A004", "06088", "06088"]
    assert result["code_dep"].tolist() == ["06", "06", "2A", "06", "06"]


@pytest.mark.parametrize("suffix", ["csv", "parquet", "gpkg", "geojson"])
def test_codes_stored_as_numbers(tmp_path, suffix):
    frame = map_frame()[lambda f: f["code_com"] != "2A004"].copy()
    frame["code_com"] = frame["code_com"].astype(int)  # 6088, 6029, 69123
    frame["code_dep"] = frame["code_dep"].astype(float)  # 6.0, 69.0
    result = read_tile_map(write_any(frame, tmp_path / f"map.{suffix}"), "Nice")
    assert result["code_com"].tolist() == ["06088", "06029", "06088", "06088"]
    assert result["code_dep"].tolist() == ["06", "06", "06", "06"]


@pytest.mark.parametrize("suffix", ["csv", "parquet", "gpkg"])
def test_bad_code_names_file_column_and_value(tmp_path, suffix):
    frame = map_frame()
    frame.loc[1, "code_com"] = "Nice-Ouest"
    path = write_any(frame, tmp_path / f"map.{suffix}")
    with pytest.raises(InputError) as err:
        read_tile_map(path, "Nice")
    if suffix == "csv":  # a CSV has lines: the error names it
        assert str(err.value) == (
            f"{path}, line 3, column code_com: 'Nice-Ouest' is not an INSEE commune code; expected five characters "
            "such as '06088', '75056' or '2A004' (leading zeros may be missing). Fix the file, or point the "
            "configuration at the right column"
        )
    else:
        assert str(err.value).startswith(
            f"{path}: column 'code_com' holds 1 distinct value(s) that are not INSEE commune codes, e.g. 'Nice-Ouest'"
        )


def test_built_map_pads_numeric_codes_in_the_communes_layer(tmp_path, grid_path):
    path = tmp_path / "numeric_text.gpkg"
    communes = communes_frame()
    communes["INSEE_COM"] = ["6088", "6029", "6004", "6999"]  # text that lost its zero
    communes.to_file(path, driver="GPKG")
    check_expected(build_tile_map(grid_path, path, "Nice", COLUMNS))


def test_bad_code_in_the_communes_layer(tmp_path, grid_path):
    path = tmp_path / "bad.gpkg"
    communes = communes_frame()
    communes["INSEE_COM"] = ["06088", "06029", "x6004", "06999"]
    communes.to_file(path, driver="GPKG")
    with pytest.raises(
        InputError, match=r"bad\.gpkg: column 'INSEE_COM' holds 1 distinct value\(s\) .* e\.g\. 'x6004'"
    ):
        build_tile_map(grid_path, path, "Nice", COLUMNS)


def test_missing_code_dep_is_taken_from_the_commune(tmp_path):
    frame = map_frame()
    frame["code_dep"] = frame["code_dep"].astype(object)
    frame.loc[[2, 4], "code_dep"] = None  # tiles 1 (06029) and 2 (2A004)
    result = read_tile_map(write_any(frame, tmp_path / "map.csv"), "Nice")
    assert result["code_dep"].tolist() == ["06", "06", "2A", "06", "06"]


# --- population ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["csv", "gpkg"])
def test_tiles_of_one_commune_disagree_on_pop(tmp_path, suffix):
    frame = map_frame()
    frame.loc[frame["tile_id"] == 3, "pop"] = 339000.0
    path = write_any(frame, tmp_path / f"map.{suffix}")
    with pytest.raises(InputError) as err:
        read_tile_map(path, "Nice")
    assert str(err.value) == (
        f"{path}: the tiles of commune 06088 in Nice disagree on pop: 340000 (tile 0) and 339000 "
        "(tile 3); 1 commune(s) in all. A commune has one pop: correct the map."
    )


def test_pop_empty_on_some_tiles_of_a_commune_is_a_disagreement(tmp_path):
    frame = map_frame()
    frame.loc[frame["tile_id"] == 5, "pop"] = np.nan
    with pytest.raises(
        InputError, match=r"commune 06088 in Nice disagree on pop: 340000 \(tile 0\) and an empty field \(tile 5\)"
    ):
        read_tile_map(write_any(frame, tmp_path / "map.csv"), "Nice")


def test_missing_zero_and_negative_population_are_kept_and_counted(tmp_path, capsys):
    frame = map_frame()
    frame.loc[frame["code_com"] == "06088", "pop"] = 0.0
    frame.loc[frame["code_com"] == "06029", "pop"] = -5.0
    frame.loc[frame["code_com"] == "2A004", "pop"] = np.nan
    path = write_any(frame, tmp_path / "map.csv")
    result = read_tile_map(path, "Nice")
    assert result["code_com"].tolist() == ["06088", "06029", "2A004", "06088", "06088"]
    assert result["pop"].tolist()[:2] == [0.0, -5.0] and math.isnan(result["pop"].iloc[2])
    assert result.attrs["population"] == {"missing": 1, "zero": 1, "negative": 1}
    assert (
        f"{path}: 3 commune(s) of Nice without a usable population (1 empty, 1 zero, 1 negative); "
        "kept in the map, they get no per-capita rate in the estimate stage"
    ) in capsys.readouterr().err


def test_tiles_of_one_commune_disagree_on_code_dep(tmp_path):
    frame = map_frame()
    frame.loc[frame["tile_id"] == 5, "code_dep"] = "83"
    with pytest.raises(
        InputError, match=r"commune 06088 in Nice disagree on code_dep: '06' \(tile 0\) and '83' \(tile 5\)"
    ):
        read_tile_map(write_any(frame, tmp_path / "map.csv"), "Nice")


# --- coverage ------------------------------------------------------------------------------


@pytest.fixture(params=["coverage union", "tile by tile"])
def union_method(request, monkeypatch):
    """Both ways of measuring the covered area: the coverage union, and the tile-by-tile sum
    used when the union is unavailable."""
    if request.param == "tile by tile":
        import shapely

        def unavailable(tiles):
            raise shapely.errors.GEOSException("forced")

        monkeypatch.setattr(shapely, "coverage_union_all", unavailable)
    return request.param


def test_commune_coverage_by_hand(union_method):
    tiles = [box(0, 0, 100, 100), box(100, 0, 200, 100), box(0, 100, 100, 200)]
    communes = [
        box(50, 0, 250, 100),  # 200 x 100, of which 150 x 100 on tiles: 0.75
        box(0, 100, 100, 200),  # exactly tile 2: 1
        box(1000, 0, 1100, 100),  # no tile: 0
        box(0, 150, 100, 300),  # second feature of code C: 100 x 150, 50 m on tile 2
        box(500, 500, 550, 600),  # first feature of code C: 50 x 100 off the grid
    ]
    codes = ["A", "B", "D", "C", "C"]
    coverage, over = commune_coverage(np.array(tiles), np.array(communes), np.array(codes))
    assert over == 0
    assert coverage.to_dict() == pytest.approx({"A": 0.75, "B": 1.0, "C": 5000 / (15000 + 5000), "D": 0.0})


def test_overlapping_tiles_are_clipped_and_counted():
    tiles = [box(0, 0, 100, 100), box(0, 0, 100, 100)]
    coverage, over = commune_coverage(np.array(tiles), np.array([box(0, 0, 100, 100)]), np.array(["A"]))
    assert over == 1 and coverage["A"] == 1.0


def test_built_map_records_coverage_of_a_commune_beyond_the_grid(tmp_path, grid_path):
    path = tmp_path / "wide.gpkg"
    communes = communes_frame()
    # 06004 now spans x 240..440 m, y 0..300 m: 60,000 m2, of which x 240..400, y 0..200
    # (32,000 m2) lies on the grid's 2 x 4 block; tile 9 (x 500..600) is outside it
    communes.loc[2, "geometry"] = box(X0 + 240, Y0, X0 + 440, Y0 + 300)
    communes.to_file(path, driver="GPKG")
    result = build_tile_map(grid_path, path, "Nice", COLUMNS)
    coverage = result.drop_duplicates("code_com").set_index("code_com")["coverage"]
    assert coverage["06004"] == pytest.approx(32_000 / 60_000, abs=1e-6)
    assert coverage["06088"] == pytest.approx(1.0, abs=1e-6)
    # tiles 3 and 7 (centroid x 350 < 440) now belong to 06004 and carry its coverage
    assert result.set_index("tile_id").loc[[2, 3, 6, 7], "coverage"].tolist() == pytest.approx(
        [32_000 / 60_000] * 4, abs=1e-6
    )


def test_given_map_has_empty_coverage_and_says_why(tmp_path):
    out = run_main(tmp_path, {"tile_map": str(write_map(tmp_path, map_frame()))})
    table = pd.read_csv(out / "Nice.csv")
    assert list(table.columns) == [*MAP_COLUMNS, "coverage"] and table["coverage"].isna().all()
    with np.load(out / "Nice.npz") as index:
        assert np.isnan(index["coverage"]).all() and len(index["coverage"]) == 3
    log = (tmp_path / "tile_map.log").read_text()
    assert "coverage left empty: the tile map is given" in log


def test_main_ends_with_one_line_naming_the_file(tmp_path, capsys):
    frame = map_frame()
    frame.loc[0, "code_com"] = "nowhere"
    path = write_map(tmp_path, frame)
    with pytest.raises(SystemExit):
        run_main(tmp_path, {"tile_map": str(path)})
    log = (tmp_path / "tile_map.log").read_text().strip().splitlines()
    assert log[-1].startswith(f"Error in rule tile_map: {path}, line 2, column code_com: 'nowhere' is not an INSEE")
    assert not (tmp_path / "tile_map" / "Nice.npz").exists()


# --- reading a given map: only the city's rows, geopandas only for a GeoPackage ----------


def test_geopackage_with_two_tables(tmp_path):
    path = write_any(map_frame(), tmp_path / "map.gpkg")
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)], crs="EPSG:2154").to_file(path, layer="other", driver="GPKG")
    with pytest.raises(InputError, match=r"map\.gpkg: the GeoPackage holds 2 tables \(map, other\)"):
        read_tile_map(path, "Nice")


def test_not_a_geopackage(tmp_path):
    path = tmp_path / "map.gpkg"
    path.write_text("tile_id,cities\n")
    with pytest.raises(InputError, match=r"map\.gpkg: (not a GeoPackage|cannot open it)"):
        read_tile_map(path, "Nice")


@pytest.mark.parametrize("suffix", ["csv", "parquet", "gpkg"])
def test_given_map_is_read_without_geopandas_unless_a_geopackage(tmp_path, suffix):
    """CSV and Parquet maps: pyarrow only. A GeoPackage goes through pyogrio, whose import
    brings geopandas along."""
    path = write_any(map_frame(), tmp_path / f"map.{suffix}")
    scripts = Path(__file__).resolve().parents[1] / "scripts"
    code = (
        f"import sys; sys.path.insert(0, {str(scripts)!r}); "
        "from netmob_cpc.tile_map import read_tile_map; "
        f"t = read_tile_map({str(path)!r}, 'Lyon'); "
        "print(t['code_com'].tolist(), 'geopandas' in sys.modules, 'pyogrio' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    spatial = suffix == "gpkg"
    assert done.stdout.strip() == f"['69123'] {spatial} {spatial}"


@pytest.mark.parametrize(
    "column, value, expected",
    [
        ("pop", "many", "'many' is not a number; expected a population; a missing value is an empty field, NA or NaN"),
        ("pop", "n/a", "'n/a' is not a number; expected a population; a missing value is an empty field, NA or NaN"),
        ("tile_id", "x7", "'x7' is not a non-negative integer; expected integer tile ids"),
    ],
)
def test_csv_with_a_word_in_a_number_column(tmp_path, column, value, expected):
    frame = map_frame().astype({column: object})
    frame.loc[1, column] = value
    path = write_map(tmp_path, frame)
    with pytest.raises(InputError) as err:
        read_tile_map(path, "Nice")
    assert str(err.value) == f"{path}, line 3, column {column}: {expected}"


def test_parquet_with_a_word_in_the_population(tmp_path):
    frame = map_frame().astype({"pop": object})
    frame.loc[1, "pop"] = "many"
    path = tmp_path / "map.parquet"
    frame.astype({"pop": str}).to_parquet(path)
    with pytest.raises(InputError) as err:
        read_tile_map(path, "Nice")
    assert str(err.value) == f"{path}: column pop holds non-numeric values (e.g. 'many'); expected a population"


def test_semicolon_csv_with_byte_order_mark(tmp_path):
    path = tmp_path / "map.csv"
    path.write_bytes(b"\xef\xbb\xbf" + map_frame().to_csv(index=False, sep=";").encode())
    assert read_tile_map(path, "Nice")["code_com"].tolist() == ["06088", "06029", "2A004", "06088", "06088"]
