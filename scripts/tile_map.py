"""Tile map of one city: which commune each 100 m NetMob23 tile belongs to (CONTRACT 1.2 / 1.3),
stored as the lookup arrays the ingest jobs use (ARCHITECTURE.md, "Tile index").

Either a given map (the seed's `map_crime.gpkg`, or a CSV / Parquet with the same columns)
is read and checked, or the map is built from the city's tile grid and a communes layer:
a tile goes to the commune that contains its centroid, computed in Lambert-93 (EPSG:2154).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

MAP_COLUMNS = ["tile_id", "cities", "code_dep", "code_com", "pop"]
DEFAULT_COLUMNS = {"code_com": "INSEE_COM", "code_dep": "INSEE_DEP", "pop": "POPULATION"}
CODE_WIDTHS = {"code_com": 5, "code_dep": 2}  # INSEE codes: 06088, 2A004; departments 06, 2A, 971
LAMBERT_93 = "EPSG:2154"
POLYGON_TYPES = {"Polygon", "MultiPolygon"}
BBOX_MARGIN_M = 1000.0  # metres added around the grid's centroids before reading communes
SHOWN = 5  # examples quoted in an error message


class InputError(ValueError):
    """An input file the workflow cannot use; the message names the file."""


def _log(message):
    print(message, file=sys.stderr)


def _codes_as_text(values, width, path, column):
    """INSEE codes as text; codes stored as numbers get their leading zeros back (reported)."""
    if pd.api.types.is_numeric_dtype(values):
        present = values.notna()
        numbers = values[present].astype("float64")
        if (numbers != numbers.round()).any():
            raise InputError(f"{path}: column {column} holds non-integer numbers; expected INSEE codes as text such as '06088'")
        text = pd.Series(np.nan, index=values.index, dtype="object")
        text[present] = numbers.astype("int64").astype(str).str.zfill(width)
        padded = int((numbers.astype("int64").astype(str).str.len() < width).sum())
        _log(f"{path}: column {column} is stored as numbers; {padded} codes padded with leading zeros to {width} characters")
        return text.astype("str")
    return values.astype("str").str.strip()


def _integer_tile_ids(tile_id, path, what):
    """tile_id as int64; error naming the file for non-integer or negative values."""
    numbers = pd.to_numeric(tile_id, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.astype("float64")) | (numbers != numbers.round()) | (numbers < 0)
    if bad.any():
        examples = ", ".join(repr(v) for v in tile_id[bad].head(SHOWN).tolist())
        raise InputError(
            f"{path}: {int(bad.sum())} {what} with a tile_id that is not a non-negative integer "
            f"(e.g. {examples}); expected integer tile ids"
        )
    return numbers.astype("int64")


def _check_unique_tiles(tile_map_city, path, city):
    """A tile belongs to at most one commune, and appears once per city."""
    repeated = tile_map_city[tile_map_city["tile_id"].duplicated(keep=False)]
    if repeated.empty:
        return
    communes = repeated.groupby("tile_id")["code_com"].agg(lambda codes: sorted(set(codes)))
    split = communes[communes.map(len) > 1]
    if len(split):
        examples = "; ".join(f"tile {tile}: {', '.join(codes)}" for tile, codes in split.head(SHOWN).items())
        raise InputError(
            f"{path}: {len(split)} tile(s) of {city} are in two or more communes ({examples}); "
            "a tile belongs to at most one commune (CONTRACT 1.2)"
        )
    counts = repeated["tile_id"].value_counts().sort_index()
    examples = ", ".join(f"tile {tile} x{count}" for tile, count in counts.head(SHOWN).items())
    raise InputError(
        f"{path}: {len(counts)} tile(s) of {city} are listed more than once ({examples}); "
        "expected one row per (city, tile) (CONTRACT 1.2)"
    )


def _read_table(path):
    suffix = Path(path).suffix.lower()
    text_columns = {"cities": str, "code_dep": str, "code_com": str}
    if suffix in (".csv", ".txt"):
        with open(path, encoding="utf-8-sig") as handle:
            header = handle.readline()
        sep = ";" if header.count(";") > header.count(",") else ","
        return pd.read_csv(path, sep=sep, dtype=text_columns, encoding="utf-8-sig")
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    import pyogrio

    return pyogrio.read_dataframe(path, read_geometry=False)


def _standard_layout(tile_map_city, path):
    """tile_id int64, cities / code_dep / code_com str, pop float64, sorted by tile."""
    pop = pd.to_numeric(tile_map_city["pop"], errors="coerce")
    bad_pop = pop.isna() & tile_map_city["pop"].notna()
    if bad_pop.any():
        examples = ", ".join(repr(v) for v in tile_map_city.loc[bad_pop, "pop"].head(SHOWN).tolist())
        raise InputError(f"{path}: column pop holds non-numeric values (e.g. {examples}); expected a population")
    result = pd.DataFrame(
        {
            "tile_id": tile_map_city["tile_id"].astype("int64"),
            "cities": tile_map_city["cities"].astype("str"),
            "code_dep": tile_map_city["code_dep"].astype("str"),
            "code_com": tile_map_city["code_com"].astype("str"),
            "pop": pop.astype("float64"),
        }
    )
    return result.sort_values("tile_id", kind="stable").reset_index(drop=True)


def read_tile_map(path, city):
    """The rows of `city` in a tile-to-commune map (GeoPackage / any GDAL vector, CSV, Parquet).

    Returns [tile_id, cities, code_dep, code_com, pop] (codes as text, leading zeros kept),
    one row per tile, sorted by tile_id. Rows without a code_com (tiles of no commune) are
    left out and counted on stderr.
    """
    table = _read_table(path)
    missing = [column for column in MAP_COLUMNS if column not in table.columns]
    if missing:
        found = [str(c) for c in table.columns if c != "geometry"]
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(found)}; "
            f"expected {', '.join(MAP_COLUMNS)} (CONTRACT 1.2)"
        )
    cities = table["cities"].astype("str").str.strip()
    rows = table[cities == city]
    if rows.empty:
        found = sorted(cities.dropna().unique().tolist())
        raise InputError(f"{path}: no row for city {city!r}; the map has the cities {', '.join(found)}")
    rows = rows.copy()
    rows["cities"] = city
    rows["tile_id"] = _integer_tile_ids(rows["tile_id"], path, f"row(s) of {city}")
    for column, width in CODE_WIDTHS.items():
        rows[column] = _codes_as_text(rows[column], width, path, column)
    no_commune = rows["code_com"].isna() | rows["code_com"].isin(["", "nan", "None"])
    if no_commune.any():
        _log(f"{path}: {int(no_commune.sum())} tile(s) of {city} without a code_com left out (tiles of no commune)")
        rows = rows[~no_commune]
    _check_unique_tiles(rows, path, city)
    result = _standard_layout(rows, path)
    missing_pop = int(result["pop"].isna().sum())
    if missing_pop:
        _log(f"{path}: {missing_pop} tile(s) of {city} have no population (pop empty)")
    return result


def _check_polygons(geometries, path, what):
    types = geometries.geom_type
    wrong = ~types.isin(list(POLYGON_TYPES)) & geometries.notna()
    if wrong.any():
        found = types[wrong].value_counts()
        listed = ", ".join(f"{count} {kind}" for kind, count in found.items())
        raise InputError(f"{path}: {what} must be Polygon or MultiPolygon geometries, found {listed}")


def _bbox_in(crs, bounds_2154):
    """The Lambert-93 bounds (plus a margin) in `crs`, for reading only nearby communes."""
    from pyproj import CRS, Transformer

    xmin, ymin, xmax, ymax = bounds_2154
    xmin, ymin, xmax, ymax = xmin - BBOX_MARGIN_M, ymin - BBOX_MARGIN_M, xmax + BBOX_MARGIN_M, ymax + BBOX_MARGIN_M
    target = CRS.from_user_input(crs)
    if target.equals(CRS.from_user_input(LAMBERT_93)):
        return (xmin, ymin, xmax, ymax)
    transformer = Transformer.from_crs(LAMBERT_93, target, always_xy=True)
    return tuple(transformer.transform_bounds(xmin, ymin, xmax, ymax, densify_pts=21))


def build_tile_map(grid_path, communes_path, city, columns=None):
    """Build the tile map of `city` from its tile grid and a communes layer (CONTRACT 1.3).

    A tile goes to the commune that contains its centroid, computed in Lambert-93
    (EPSG:2154); a centroid on the border of two communes goes to the lower INSEE code
    (counted on stderr); tiles in no commune are absent. Only the communes in the grid's
    bounding box are read. `columns` maps code_com / code_dep / pop to the layer's column
    names (default: IGN ADMIN EXPRESS names). Returns the read_tile_map layout; `attrs`
    carries "n_index" = 1 + the largest tile_id of the grid.
    """
    import pyogrio  # returns GeoDataFrames (geopandas)
    import shapely

    columns = dict(DEFAULT_COLUMNS if columns is None else columns)
    grid_info = pyogrio.read_info(grid_path)
    grid_fields = list(grid_info["fields"])
    if "tile_id" not in grid_fields:
        raise InputError(
            f"{grid_path}: the tile grid has no tile_id property; its fields are {', '.join(grid_fields) or 'none'}"
        )
    if grid_info["crs"] is None:
        raise InputError(
            f"{grid_path}: the tile grid has no coordinate reference system; "
            "expected WGS84 (EPSG:4326) or another defined CRS"
        )
    communes_info = pyogrio.read_info(communes_path)
    communes_fields = list(communes_info["fields"])
    missing = [name for name in columns.values() if name not in communes_fields]
    if missing:
        raise InputError(
            f"{communes_path}: the communes layer has no column(s) {', '.join(missing)} "
            f"(configured communes_columns {columns}); its columns are {', '.join(communes_fields)}"
        )
    if communes_info["crs"] is None:
        raise InputError(
            f"{communes_path}: the communes layer has no coordinate reference system; "
            "expected e.g. Lambert-93 (EPSG:2154)"
        )

    grid = pyogrio.read_dataframe(grid_path, columns=["tile_id"])
    grid["tile_id"] = _integer_tile_ids(grid["tile_id"], grid_path, "tile(s)")
    n_index = int(grid["tile_id"].max()) + 1 if len(grid) else 0
    no_geometry = grid.geometry.isna() | grid.geometry.is_empty
    if no_geometry.any():
        _log(f"{grid_path}: {int(no_geometry.sum())} tile(s) without a geometry left out")
        grid = grid[~no_geometry]
    _check_polygons(grid.geometry, grid_path, "tiles")
    repeated = grid["tile_id"][grid["tile_id"].duplicated()]
    if len(repeated):
        examples = ", ".join(str(t) for t in repeated.unique()[:SHOWN])
        raise InputError(
            f"{grid_path}: {repeated.nunique()} tile_id(s) appear more than once (e.g. {examples}); "
            "expected one polygon per tile"
        )

    centroids = grid.geometry.to_crs(LAMBERT_93).centroid
    tile_ids = grid["tile_id"].to_numpy()
    if len(grid) == 0:
        dtypes = {"tile_id": "int64", "cities": "str", "code_dep": "str", "code_com": "str", "pop": "float64"}
        empty = pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in dtypes.items()})
        empty.attrs["n_index"] = n_index
        return empty

    bbox = _bbox_in(communes_info["crs"], centroids.total_bounds)
    communes = pyogrio.read_dataframe(communes_path, columns=list(columns.values()), bbox=bbox)
    no_geometry = communes.geometry.isna() | communes.geometry.is_empty
    if no_geometry.any():
        _log(f"{communes_path}: {int(no_geometry.sum())} commune(s) without a geometry left out")
        communes = communes[~no_geometry]
    _check_polygons(communes.geometry, communes_path, "communes")
    _log(f"{communes_path}: {len(communes)} communes in the bounding box of {city}'s grid")
    communes = communes.to_crs(LAMBERT_93).reset_index(drop=True)
    code_com = _codes_as_text(communes[columns["code_com"]], CODE_WIDTHS["code_com"], communes_path, columns["code_com"])
    code_dep = _codes_as_text(communes[columns["code_dep"]], CODE_WIDTHS["code_dep"], communes_path, columns["code_dep"])
    pop = pd.to_numeric(communes[columns["pop"]], errors="coerce")

    tree = shapely.STRtree(communes.geometry.to_numpy())
    tile_rows, commune_rows = tree.query(centroids.to_numpy(), predicate="intersects")
    pairs = pd.DataFrame({"tile": tile_rows, "commune": commune_rows, "code_com": code_com.to_numpy()[commune_rows]})
    pairs = pairs.sort_values(["tile", "code_com"], kind="stable")
    on_border = int(pairs["tile"].duplicated().sum())
    if on_border:
        _log(f"{grid_path}: {on_border} tile centroid(s) on a border of communes, given to the lower code_com")
    pairs = pairs.drop_duplicates("tile")
    tile_map_city = pd.DataFrame(
        {
            "tile_id": tile_ids[pairs["tile"].to_numpy()],
            "cities": city,
            "code_dep": code_dep.to_numpy()[pairs["commune"].to_numpy()],
            "code_com": pairs["code_com"].to_numpy(),
            "pop": pop.to_numpy(dtype="float64", na_value=np.nan)[pairs["commune"].to_numpy()],
        }
    )
    result = _standard_layout(tile_map_city, grid_path)
    _log(
        f"{grid_path}: {len(grid)} tiles, {len(result)} in {result['code_com'].nunique()} communes, "
        f"{len(grid) - len(result)} in no commune"
    )
    result.attrs["n_index"] = n_index
    return result


def tile_index(tile_map_city, n_index=None):
    """The lookup arrays of ARCHITECTURE.md "Tile index".

    commune_of_tile: int32[n_index] (default 1 + the largest tile_id), the row of the
    tile's commune in code_com / code_dep / pop, -1 for a tile of no commune; code_com:
    the communes' INSEE codes sorted ascending; code_dep, pop (float64): first occurrence
    per commune in the map.
    """
    tile_ids = tile_map_city["tile_id"].to_numpy(dtype="int64")
    needed = int(tile_ids.max()) + 1 if len(tile_ids) else 0
    n_index = needed if n_index is None else int(n_index)
    if n_index < needed:
        raise ValueError(f"n_index {n_index} is smaller than 1 + the largest tile_id ({needed})")
    firsts = tile_map_city.drop_duplicates("code_com").sort_values("code_com", kind="stable")
    code_com = firsts["code_com"].astype(str).tolist()
    commune_of_tile = np.full(n_index, -1, dtype=np.int32)
    rows = pd.Index(code_com).get_indexer(tile_map_city["code_com"].astype(str))
    commune_of_tile[tile_ids] = rows.astype(np.int32)
    return {
        "commune_of_tile": commune_of_tile,
        "code_com": np.array(code_com, dtype=str),
        "code_dep": np.array(firsts["code_dep"].astype(str).tolist(), dtype=str),
        "pop": firsts["pop"].to_numpy(dtype="float64", na_value=np.nan),
    }


def write_tile_index(npz_path, csv_path, tile_map_city, n_index=None):
    """Write the tile index (.npz, no object arrays) and the map as CSV (CONTRACT 1.2 layout)."""
    from atomic_output import atomic_path

    index = tile_index(tile_map_city, n_index)
    with atomic_path(npz_path) as tmp:
        np.savez(tmp, **index)
    with atomic_path(csv_path) as tmp:
        tile_map_city[MAP_COLUMNS].to_csv(tmp, index=False)
    return index


def main(snakemake):
    sys.stderr = open(snakemake.log[0], "w", buffering=1)

    city = snakemake.params.city
    given = getattr(snakemake.input, "tile_map", None)
    if given:
        tile_map_city = read_tile_map(given, city)
        n_index = None
        _log(f"{given}: {len(tile_map_city)} tiles of {city} in {tile_map_city['code_com'].nunique()} communes")
    else:
        tile_map_city = build_tile_map(
            snakemake.input.grid, snakemake.input.communes, city, dict(snakemake.params.columns)
        )
        n_index = tile_map_city.attrs["n_index"]
    index = write_tile_index(snakemake.output.index, snakemake.output.table, tile_map_city, n_index)
    _log(f"tile index of {city}: {len(index['commune_of_tile'])} tiles, {len(index['code_com'])} communes")


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
