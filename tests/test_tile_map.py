"""Tile map (CONTRACT 1.2 / 1.3, ARCHITECTURE.md "Tile index") on hand-made grids and maps whose
answer is known: every commune and tile is drawn in Lambert-93 metres, the grid is stored
in WGS84 as the NetMob23 files are."""

import sys
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

import tile_map
from tile_map import InputError, build_tile_map, read_tile_map, tile_index, write_tile_index

X0, Y0 = 1_040_000.0, 6_295_000.0  # Lambert-93 metres, near Nice
COLUMNS = {"code_com": "INSEE_COM", "code_dep": "INSEE_DEP", "pop": "POPULATION"}


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


def check_expected(result):
    assert list(result.columns) == ["tile_id", "cities", "code_dep", "code_com", "pop"]
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
        build_tile_map(grid_path, communes_path, "Nice", {"code_com": "CODE_INSEE", "code_dep": "INSEE_DEP", "pop": "POP"})
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


def test_map_missing_columns(tmp_path):
    path = write_map(tmp_path, map_frame().drop(columns=["pop", "code_dep"]))
    with pytest.raises(InputError) as err:
        read_tile_map(path, "Nice")
    message = str(err.value)
    assert str(path) in message and "missing column(s) code_dep, pop" in message


def test_map_same_tile_twice(tmp_path):
    frame = pd.concat([map_frame(), map_frame().iloc[[0]]], ignore_index=True)
    path = write_map(tmp_path, frame)
    with pytest.raises(InputError) as err:
        read_tile_map(path, "Nice")
    assert str(path) in str(err.value) and "listed more than once (tile 5 x2)" in str(err.value)
    # the same tile id in another city is no duplicate
    assert len(read_tile_map(path, "Lyon")) == 1


def test_map_tile_in_two_communes(tmp_path):
    extra = pd.DataFrame({"tile_id": [1], "cities": ["Nice"], "code_dep": ["06"], "code_com": ["06088"], "pop": [1.0]})
    path = write_map(tmp_path, pd.concat([map_frame(), extra], ignore_index=True))
    with pytest.raises(InputError) as err:
        read_tile_map(path, "Nice")
    assert str(path) in str(err.value) and "tile 1: 06029, 06088" in str(err.value)


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


def test_map_without_the_city(tmp_path):
    path = write_map(tmp_path, map_frame())
    with pytest.raises(InputError) as err:
        read_tile_map(path, "Paris")
    assert str(path) in str(err.value) and "no row for city 'Paris'" in str(err.value) and "Lyon, Nice" in str(err.value)


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
        assert sorted(index.files) == ["code_com", "code_dep", "commune_of_tile", "pop"]
        assert index["commune_of_tile"].tolist() == [1, 0, 2, 1, -1, 1, -1, -1]
        assert index["code_com"].tolist() == ["06029", "06088", "2A004"]
    assert csv.read_text().splitlines()[0] == "tile_id,cities,code_dep,code_com,pop"
    pd.testing.assert_frame_equal(read_tile_map(csv, "Nice"), nice)
    assert sorted(p.name for p in npz.parent.iterdir()) == ["Nice.csv", "Nice.npz"]


def run_main(tmp_path, inputs):
    out = tmp_path / "tile_map"
    smk = SimpleNamespace(
        input=SimpleNamespace(**inputs),
        params=SimpleNamespace(city="Nice", columns=COLUMNS),
        output=SimpleNamespace(index=str(out / "Nice.npz"), table=str(out / "Nice.csv")),
        log=[str(tmp_path / "tile_map.log")],
    )
    saved = sys.stderr
    try:
        tile_map.main(smk)
    finally:
        sys.stderr.close()
        sys.stderr = saved
    return out


def test_main_builds_from_grid(tmp_path, grid_path, communes_path):
    out = run_main(tmp_path, {"grid": str(grid_path), "communes": str(communes_path)})
    with np.load(out / "Nice.npz") as index:
        # communes sorted: 06004, 06029, 06088; n_index = 1 + largest grid tile_id (9)
        assert index["code_com"].tolist() == ["06004", "06029", "06088"]
        assert index["commune_of_tile"].tolist() == [2, 1, 0, -1, 2, 2, 0, -1, -1, -1]
    check_expected(read_tile_map(out / "Nice.csv", "Nice"))
    log = (tmp_path / "tile_map.log").read_text()
    assert "9 tiles, 6 in 3 communes, 3 in no commune" in log


def test_main_reads_given_map(tmp_path):
    out = run_main(tmp_path, {"tile_map": str(write_map(tmp_path, map_frame()))})
    with np.load(out / "Nice.npz") as index:
        assert index["commune_of_tile"].tolist() == [1, 0, 2, 1, -1, 1]
