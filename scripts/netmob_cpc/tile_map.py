"""Tile map of one city: which commune each 100 m NetMob23 tile belongs to, stored as the
lookup arrays the ingest jobs use (ARCHITECTURE.md, "Tile index").

Either a given map (the seed's `map_crime.gpkg`, or a CSV / Parquet with the same columns:
`tile_id, cities, code_dep, code_com, pop`, one row per city and tile) is read and checked,
or the map is built from the city's tile grid and a communes layer: a tile goes to the
commune that contains its centroid, computed in Lambert-93 (EPSG:2154). A built map also
records, per commune, the share of its area that the city's tile grid covers (`coverage`).

A given map is read as attributes only and, where the format allows, only the city's rows:
GeoPackage through pyogrio with an SQL filter, Parquet through pyarrow with a row filter,
CSV through pyarrow.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from netmob_cpc.codes import department_of, normalise_codes, normalise_departments
from netmob_cpc.files import (
    MISSING_SPELLED,
    MISSING_VALUES,
    InputError,
    atomic_path,
    bad_value,
    data_lines,
    first_row,
    log,
    repeated_keys,
    sniff_separator,
)

MAP_COLUMNS = ["tile_id", "cities", "code_dep", "code_com", "pop"]
TABLE_COLUMNS = [*MAP_COLUMNS, "coverage"]  # the tile-map CSV written by the workflow
LAMBERT_93 = "EPSG:2154"
POLYGON_TYPES = {"Polygon", "MultiPolygon"}
BBOX_MARGIN_M = 1000.0  # metres added around the grid's centroids before reading communes
SHOWN = 5  # examples quoted in an error message
OVERLAP_TOLERANCE = 1e-6  # a coverage above 1 + this means overlapping tiles


def _integer_tile_ids(tile_id, path, what, line_of=None):
    """tile_id as int64; error naming the file (and the line, when `line_of` gives it) for
    non-integer or negative values."""
    numbers = pd.to_numeric(tile_id, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.astype("float64")) | (numbers != numbers.round()) | (numbers < 0)
    row = first_row(bad)
    line = line_of(row) if row is not None and line_of is not None else None
    if line is not None:
        value = tile_id.iloc[row]
        raise bad_value(
            path, line, "tile_id", None if pd.isna(value) else value, "a non-negative integer",
            "expected integer tile ids", int(bad.sum()),
        )
    if bad.any():
        examples = ", ".join(repr(v) for v in tile_id[bad].head(SHOWN).tolist())
        raise InputError(
            f"{path}: {int(bad.sum())} {what} with a tile_id that is not a non-negative integer "
            f"(e.g. {examples}); expected integer tile ids"
        )
    return numbers.astype("int64")


def _missing_columns_error(path, found):
    missing = [column for column in MAP_COLUMNS if column not in found]
    if missing:
        shown = [str(c) for c in found if c != "geometry"]
        return InputError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(shown) or 'none'}; "
            f"a tile map needs {', '.join(MAP_COLUMNS)} (one row per city and tile)"
        )
    return None


def _no_city_error(path, city, cities):
    found = sorted({str(c).strip() for c in cities if c is not None and not pd.isna(c)})
    return InputError(
        f"{path}: no row for city {city!r}; the map has the cities {', '.join(found) or 'none'}. "
        "Check 'cities' in the configuration, or use a map of these cities."
    )


# --- reading a given map, one format at a time ----------------------------------------------


def _read_csv(path, city):
    """The city's rows of a CSV map (',' or ';'), parsed by pyarrow: codes kept as text."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        header = handle.readline().rstrip("\r\n")
    sep = sniff_separator(header) or ","
    raw_names = header.split(sep)
    names = [name.strip() for name in raw_names]
    error = _missing_columns_error(path, names)
    if error:
        raise error
    raw = {name: raw_names[names.index(name)] for name in MAP_COLUMNS}

    def read(as_text):
        # codes always as text (leading zeros); tile_id and pop as numbers, or as text
        # when a value is not one, so that the checks can name it
        types = {raw[name]: pa.string() for name in as_text}
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(
                include_columns=[raw[name] for name in MAP_COLUMNS],
                column_types=types,
                strings_can_be_null=True,
                null_values=list(MISSING_VALUES),
            ),
        )

    try:
        try:
            table = read(("cities", "code_dep", "code_com"))
        except pa.ArrowInvalid:
            table = read(MAP_COLUMNS)
    except (pa.ArrowInvalid, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a well-formed {sep!r}-separated tile map: {err}") from None
    table = table.rename_columns(MAP_COLUMNS)
    cities = pc.utf8_trim_whitespace(table.column("cities"))
    in_city = pc.fill_null(pc.equal(cities, city), False)
    rows = table.filter(in_city)
    if rows.num_rows == 0:
        raise _no_city_error(path, city, pc.unique(cities).to_pylist())
    # index: the rows' positions among the file's data rows, for the line of an error
    frame = rows.to_pandas()
    frame.index = pc.indices_nonzero(in_city).to_numpy()
    frame.attrs["csv"] = (str(path), sep)
    return frame


def _read_parquet(path, city):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    names = pq.ParquetFile(path).schema_arrow.names
    error = _missing_columns_error(path, names)
    if error:
        raise error
    table = pq.read_table(path, columns=MAP_COLUMNS, filters=pc.field("cities") == city)
    if table.num_rows == 0:
        # maybe the names carry spaces: compare stripped names before giving up
        cities = pq.read_table(path, columns=["cities"]).column("cities").to_pandas()
        stripped = cities.astype("string").str.strip()
        if not (stripped == city).any():
            raise _no_city_error(path, city, stripped.unique())
        table = pq.read_table(path, columns=MAP_COLUMNS)
        frame = table.to_pandas()
        return frame[frame["cities"].astype("string").str.strip() == city]
    return table.to_pandas()


def _quoted(name):
    return '"' + str(name).replace('"', '""') + '"'


def _read_geopackage(path, city):
    """The city's rows of a GeoPackage's only table, through pyogrio (attributes only, the
    city's rows selected by GDAL with an SQL filter)."""
    import pyogrio
    from pyogrio.errors import DataSourceError

    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except DataSourceError as err:
        raise InputError(
            f"{path}: not a GeoPackage ({err}); a tile map is a GeoPackage (.gpkg), a CSV or a Parquet file"
        ) from None
    if len(layers) != 1:
        raise InputError(
            f"{path}: the GeoPackage holds {len(layers)} tables ({', '.join(layers) or 'none'}); "
            "a tile map is one table: keep only the map's layer (e.g. with ogr2ogr)"
        )
    error = _missing_columns_error(path, list(pyogrio.read_info(path)["fields"]))
    if error:
        raise error
    literal = "'" + city.replace("'", "''") + "'"
    _, table = pyogrio.read_arrow(
        path, columns=MAP_COLUMNS, read_geometry=False, where=f"TRIM({_quoted('cities')}) = {literal}"
    )
    if table.num_rows == 0:
        _, cities = pyogrio.read_arrow(path, columns=["cities"], read_geometry=False)
        raise _no_city_error(path, city, cities.column("cities").unique().to_pylist())
    return table.select(MAP_COLUMNS).to_pandas()


def _read_other_vector(path, city):
    """Any other vector format GDAL reads (GeoJSON, Shapefile), attributes only."""
    import pyogrio

    names = list(pyogrio.read_info(path)["fields"])
    error = _missing_columns_error(path, names)
    if error:
        raise error
    table = pyogrio.read_dataframe(path, columns=MAP_COLUMNS, read_geometry=False)
    cities = table["cities"].astype("string").str.strip()
    rows = table[cities == city]
    if rows.empty:
        raise _no_city_error(path, city, cities.unique())
    return rows[MAP_COLUMNS]


def _read_city_rows(path, city):
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".txt"):
        return _read_csv(path, city)
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path, city)
    if suffix == ".gpkg":
        return _read_geopackage(path, city)
    return _read_other_vector(path, city)


# --- checks shared by a given and a built map ---------------------------------------------


def _check_unique_tiles(tile_map_city, path, city, line_of):
    """A tile belongs to one commune and appears once per city: a tile on two rows that
    disagree (commune, department or population) is an InputError naming both lines (CSV);
    exact repeats are dropped and counted in the log. Returns the map without them."""
    located = lambda position: line_of(tile_map_city.index[position])  # noqa: E731
    values = ["code_com", "code_dep", "pop"]
    unique, repeats = repeated_keys(tile_map_city, ["cities", "tile_id"], values, path, located, "city and tile")
    if repeats:
        log(f"{path}: {repeats} row(s) of {city} repeat another row exactly (same tile and commune): dropped")
    return unique


def _as_text(values):
    """Object codes (no missing values) as the str dtype, converting each distinct code once
    (a column of 100,000 Python strings converts slowly)."""
    positions, distinct = pd.factorize(values)
    return pd.Series(pd.array(list(distinct), dtype="str").take(positions), index=values.index)


def _shown_number(value):
    return "an empty field" if pd.isna(value) else f"{value:g}"


def _check_one_value_per_commune(tile_map_city, path, city, column):
    """All tiles of a commune carry the same `column` (pop, code_dep): else an error naming
    the commune, two of its values and a tile of each."""
    values = tile_map_city[column]
    key = pd.factorize(values)[0] if column != "pop" else values.fillna(-np.inf)
    firsts = tile_map_city.assign(_key=key).drop_duplicates(["code_com", "_key"])
    split = firsts[firsts["code_com"].duplicated(keep=False)]
    if split.empty:
        return
    communes = split["code_com"].unique()
    code = sorted(communes)[0]
    two = split[split["code_com"] == code].head(2)
    shown = [_shown_number(v) if column == "pop" else repr(v) for v in two[column]]
    tiles = two["tile_id"].tolist()
    raise InputError(
        f"{path}: the tiles of commune {code} in {city} disagree on {column}: {shown[0]} "
        f"(tile {tiles[0]}) and {shown[1]} (tile {tiles[1]}); {len(communes)} commune(s) "
        f"in all. A commune has one {column}: correct the map."
    )


def _population_report(tile_map_city, path, city):
    """Count (log) communes whose population is missing, zero or negative: they are kept; the
    estimate stage gives them no per-capita rate."""
    pop = tile_map_city.drop_duplicates("code_com")["pop"]
    missing, zero, negative = int(pop.isna().sum()), int((pop == 0).sum()), int((pop < 0).sum())
    if missing or zero or negative:
        log(
            f"{path}: {missing + zero + negative} commune(s) of {city} without a usable population "
            f"({missing} empty, {zero} zero, {negative} negative); kept in the map, they get no "
            "per-capita rate in the estimate stage"
        )
    else:
        log(f"{path}: every commune of {city} has a positive population")
    return {"missing": missing, "zero": zero, "negative": negative}


def _standard_layout(rows, path, city):
    """Normalise and check the rows of one city: tile_id int64, cities / code_dep / code_com
    str (INSEE codes, five / two or three characters), pop float64, sorted by tile; rows
    without a code_com are left out (counted in the log)."""
    source_rows = rows.index.to_numpy()
    csv = rows.attrs.get("csv")
    lines = []

    def line_of(position):
        """The file line of row `position` of `rows` (CSV maps), None for other formats."""
        if csv is None:
            return None
        if not lines:
            lines.extend(data_lines(*csv))
        return lines[source_rows[position]]

    rows = rows.reset_index(drop=True)
    tile_id = _integer_tile_ids(rows["tile_id"], path, f"row(s) of {city}", line_of)
    located = line_of if csv is not None else None
    code_com = normalise_codes(rows["code_com"], path, "code_com", located)
    code_dep = normalise_departments(rows["code_dep"], path, "code_dep", located)
    pop = pd.to_numeric(rows["pop"], errors="coerce")
    bad_pop = pop.isna() & rows["pop"].notna() & (rows["pop"].astype("string").str.strip() != "")
    row = first_row(bad_pop)
    if row is not None and line_of(row) is not None:
        raise bad_value(
            path, line_of(row), "pop", rows["pop"].iloc[row], "a number",
            f"expected a population; a missing value is {MISSING_SPELLED}", int(bad_pop.sum()),
        )
    if bad_pop.any():
        examples = ", ".join(repr(v) for v in rows.loc[bad_pop, "pop"].head(SHOWN).tolist())
        raise InputError(f"{path}: column pop holds non-numeric values (e.g. {examples}); expected a population")
    result = pd.DataFrame(
        {
            "tile_id": tile_id,
            "cities": pd.Series(city, index=rows.index, dtype="str"),
            "code_dep": code_dep,
            "code_com": code_com,
            "pop": pop.astype("float64"),
        }
    )
    no_commune = result["code_com"].isna()
    if no_commune.any():
        log(f"{path}: {int(no_commune.sum())} tile(s) of {city} without a code_com left out (tiles of no commune)")
        result = result[~no_commune]
    no_department = result["code_dep"].isna()
    if no_department.any():
        result.loc[no_department, "code_dep"] = result.loc[no_department, "code_com"].map(department_of)
        log(f"{path}: {int(no_department.sum())} tile(s) of {city} without a code_dep: taken from their code_com")
    for column in ("code_dep", "code_com"):
        result[column] = _as_text(result[column])
    result = _check_unique_tiles(result, path, city, line_of)
    result = result.sort_values("tile_id", kind="stable").reset_index(drop=True)
    _check_one_value_per_commune(result, path, city, "pop")
    _check_one_value_per_commune(result, path, city, "code_dep")
    return result


def read_tile_map(path, city):
    """The rows of `city` in a given tile-to-commune map (GeoPackage, CSV, Parquet, or any
    other vector format GDAL reads).

    Returns [tile_id, cities, code_dep, code_com, pop] with codes normalised (five-character
    commune codes, two- or three-character departments), one row per tile, sorted by
    tile_id. Rows without a code_com (tiles of no commune) are left out and counted in the
    log. Errors (InputError, naming the file, and for a CSV the line): missing columns, no
    row for the city, bad codes, tile ids or populations, a tile on two rows that disagree
    (in two communes), tiles of one commune that disagree on pop or code_dep. A tile
    repeated exactly is dropped and counted in the log. A missing (an empty field, NA or
    NaN), zero or negative pop is kept and counted in the log.
    """
    rows = _read_city_rows(path, city)
    result = _standard_layout(rows, path, city)
    result.attrs["population"] = _population_report(result, path, city)
    return result


# --- building the map from a grid and a communes layer --------------------------------------


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


def _covered_areas(tiles, communes):
    """Per commune feature: the area of (commune ∩ union of the tiles)."""
    import shapely

    if not len(tiles) or not len(communes):
        return np.zeros(len(communes))
    total = float(shapely.area(tiles).sum())
    try:
        # The grid is a polygonal coverage (tiles meet edge to edge): its union is fast
        # and exact. Checked by its area; overlapping tiles fall back to tile by tile.
        union = shapely.coverage_union_all(tiles)
        if shapely.is_valid(union) and abs(shapely.area(union) - total) <= 1e-9 * total:
            return shapely.area(shapely.intersection(communes, union))
    except shapely.errors.GEOSException:
        pass
    tree = shapely.STRtree(tiles)
    commune_rows, tile_rows = tree.query(communes, predicate="intersects")
    shapely.prepare(communes)
    inside = shapely.contains_properly(communes[commune_rows], tiles[tile_rows])
    areas = shapely.area(tiles[tile_rows])
    border = ~inside
    areas[border] = shapely.area(shapely.intersection(communes[commune_rows[border]], tiles[tile_rows[border]]))
    return np.bincount(commune_rows, weights=areas, minlength=len(communes))


def commune_coverage(tiles, communes, codes):
    """Per commune code: the share of its area inside the union of the tiles.

    `tiles` and `communes` are arrays of shapely polygons in a metric CRS (Lambert-93),
    `codes` the communes' codes (a code may have several features). The union of a grid
    whose tiles meet edge to edge is computed as a coverage union; otherwise (tiles that
    overlap) the areas of (commune ∩ tile) are summed tile by tile, which counts an overlap
    twice. Returns (pandas Series code -> share in [0, 1], number of communes whose share
    exceeded 1 because tiles overlap; those are set to 1).
    """
    import shapely

    tiles = np.asarray(tiles, dtype=object)
    communes = np.asarray(communes, dtype=object)
    codes = np.asarray(codes, dtype=object)
    per_code = (
        pd.DataFrame({"code_com": codes, "covered": _covered_areas(tiles, communes), "area": shapely.area(communes)})
        .groupby("code_com")[["covered", "area"]]
        .sum()
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        share = per_code["covered"] / per_code["area"]
    over = int((share > 1 + OVERLAP_TOLERANCE).sum())
    return share.clip(upper=1.0).rename("coverage"), over


def build_tile_map(grid_path, communes_path, city, columns):
    """Build the tile map of `city` from its tile grid and a communes layer.

    Tile grid: polygons with an integer `tile_id`, any CRS (NetMob23: WGS84). Communes:
    polygons with the three columns that `columns` maps code_com / code_dep / pop to.
    A tile goes to the commune that contains its centroid, computed in Lambert-93
    (EPSG:2154); a centroid on the border of two communes goes to the lower INSEE code
    (counted in the log); tiles in no commune are absent. Only the communes in the grid's
    bounding box are read. Returns the read_tile_map layout plus `coverage` (the share of
    the commune's area inside the union of the grid's tiles, areas in Lambert-93, the same
    on every tile of the commune); `attrs` carries "n_index" = 1 + the largest tile_id of
    the grid.
    """
    import pyogrio  # returns GeoDataFrames (geopandas)
    import shapely

    columns = dict(columns)
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
        log(f"{grid_path}: {int(no_geometry.sum())} tile(s) without a geometry left out")
        grid = grid[~no_geometry]
    _check_polygons(grid.geometry, grid_path, "tiles")
    repeated = grid["tile_id"][grid["tile_id"].duplicated()]
    if len(repeated):
        examples = ", ".join(str(t) for t in repeated.unique()[:SHOWN])
        raise InputError(
            f"{grid_path}: {repeated.nunique()} tile_id(s) appear more than once (e.g. {examples}); "
            "expected one polygon per tile"
        )
    if len(grid) == 0:
        dtypes = {
            "tile_id": "int64",
            "cities": "str",
            "code_dep": "str",
            "code_com": "str",
            "pop": "float64",
            "coverage": "float64",
        }
        empty = pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in dtypes.items()})
        empty.attrs["n_index"] = n_index
        return empty

    tiles = grid.geometry.to_crs(LAMBERT_93)
    centroids = tiles.centroid
    tile_ids = grid["tile_id"].to_numpy()

    bbox = _bbox_in(communes_info["crs"], centroids.total_bounds)
    communes = pyogrio.read_dataframe(communes_path, columns=list(columns.values()), bbox=bbox)
    no_geometry = communes.geometry.isna() | communes.geometry.is_empty
    if no_geometry.any():
        log(f"{communes_path}: {int(no_geometry.sum())} commune(s) without a geometry left out")
        communes = communes[~no_geometry]
    _check_polygons(communes.geometry, communes_path, "communes")
    log(f"{communes_path}: {len(communes)} communes in the bounding box of {city}'s grid")
    communes = communes.to_crs(LAMBERT_93).reset_index(drop=True)
    code_com = normalise_codes(communes[columns["code_com"]], communes_path, columns["code_com"])
    no_code = code_com.isna()
    if no_code.any():
        log(f"{communes_path}: {int(no_code.sum())} commune feature(s) without a {columns['code_com']} left out")
        communes, code_com = communes[~no_code].reset_index(drop=True), code_com[~no_code].reset_index(drop=True)
    code_dep = normalise_departments(communes[columns["code_dep"]], communes_path, columns["code_dep"])
    pop = pd.to_numeric(communes[columns["pop"]], errors="coerce")
    commune_geometries = communes.geometry.to_numpy()

    tree = shapely.STRtree(commune_geometries)
    tile_rows, commune_rows = tree.query(centroids.to_numpy(), predicate="intersects")
    pairs = pd.DataFrame({"tile": tile_rows, "commune": commune_rows, "code_com": code_com.to_numpy()[commune_rows]})
    pairs = pairs.sort_values(["tile", "code_com"], kind="stable")
    on_border = int(pairs["tile"].duplicated().sum())
    if on_border:
        log(f"{grid_path}: {on_border} tile centroid(s) on a border of communes, given to the lower code_com")
    pairs = pairs.drop_duplicates("tile")
    rows = pd.DataFrame(
        {
            "tile_id": tile_ids[pairs["tile"].to_numpy()],
            "cities": city,
            "code_dep": code_dep.to_numpy()[pairs["commune"].to_numpy()],
            "code_com": pairs["code_com"].to_numpy(),
            "pop": pop.to_numpy(dtype="float64", na_value=np.nan)[pairs["commune"].to_numpy()],
        }
    )
    result = _standard_layout(rows, communes_path, city)
    coverage, overlapping = commune_coverage(tiles.to_numpy(), commune_geometries, code_com.to_numpy())
    if overlapping:
        log(f"{grid_path}: tiles overlap: the coverage of {overlapping} commune(s) exceeded 1 and is set to 1")
    result["coverage"] = result["code_com"].map(coverage).astype("float64")
    shares = result.drop_duplicates("code_com")["coverage"]
    log(
        f"{grid_path}: {len(grid)} tiles, {len(result)} in {result['code_com'].nunique()} communes, "
        f"{len(grid) - len(result)} in no commune"
    )
    if len(shares):
        log(
            f"coverage (share of a commune's area inside {city}'s tile grid): median {shares.median():.3f}, "
            f"min {shares.min():.3f}; {int((shares < 0.5).sum())} of {len(shares)} communes below 0.5"
        )
    result.attrs["n_index"] = n_index
    result.attrs["population"] = _population_report(result, communes_path, city)
    return result


def city_tile_map(city, columns, tile_map=None, grid=None, communes=None):
    """The tile map of `city` in the written layout (TABLE_COLUMNS) and the index length.

    With a given `tile_map`, `coverage` is empty (NaN): a given map has no tile grid to
    measure the communes against (said in the log). Otherwise the map is built from `grid`
    and `communes` (see build_tile_map)."""
    if tile_map:
        result = read_tile_map(tile_map, city)
        result["coverage"] = np.nan
        log(f"{tile_map}: {len(result)} tiles of {city} in {result['code_com'].nunique()} communes")
        log(
            "coverage left empty: the tile map is given, and a given map has no tile grid to measure "
            "the communes' areas against; build the map from tile_grid and communes (tile_map empty) "
            "to record it (and to make min_coverage apply)"
        )
        return result, None
    result = build_tile_map(grid, communes, city, columns)
    return result, result.attrs["n_index"]


def tile_index(tile_map_city, n_index=None):
    """The lookup arrays of ARCHITECTURE.md "Tile index".

    commune_of_tile: int32[n_index] (default 1 + the largest tile_id), the row of the
    tile's commune in code_com / code_dep / pop / coverage, -1 for a tile of no commune;
    code_com: the communes' INSEE codes sorted ascending; code_dep, pop (float64), coverage
    (float64, NaN for a given map): one value per commune (all its tiles agree).
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
    coverage = firsts["coverage"] if "coverage" in firsts else pd.Series(np.nan, index=firsts.index)
    return {
        "commune_of_tile": commune_of_tile,
        "code_com": np.array(code_com, dtype=str),
        "code_dep": np.array(firsts["code_dep"].astype(str).tolist(), dtype=str),
        "pop": firsts["pop"].to_numpy(dtype="float64", na_value=np.nan),
        "coverage": coverage.to_numpy(dtype="float64", na_value=np.nan),
    }


def write_tile_index(npz_path, csv_path, tile_map_city, n_index=None):
    """Write the tile index (.npz, no object arrays) and the map as CSV: columns
    tile_id, cities, code_dep, code_com, pop, coverage (comma-separated, '.' decimals,
    coverage empty for a given map)."""
    index = tile_index(tile_map_city, n_index)
    table = tile_map_city.copy()
    if "coverage" not in table:
        table["coverage"] = np.nan
    with atomic_path(npz_path) as tmp:
        np.savez(tmp, **index)
    with atomic_path(csv_path) as tmp:
        table[TABLE_COLUMNS].to_csv(tmp, index=False)
    return index
