"""Synthetic NetMob23-like inputs with a planted truth: the embedded default data set and the
benchmark data set.

Writes, in the exact real formats (README: Inputs):
Run it by hand as `PYTHONPATH=scripts python -m netmob_cpc.synthetic --out DIR ...` (--help).

- traffic files `{netmob_dir}/{city}/{app}/{YYYYMMDD}/{city}_{app}_{YYYYMMDD}_{direction}.txt`
  one line per tile, `tile_id` then 96 slot values (92 on the spring clock-change day),
  integers for most apps, multiples of 1/16 for the control app (YouTube), a few missing
  values (empty field or `nan`), a network outage of a few hours on `outage_date`;
- one tile grid per city: 100 m squares built in NTF Lambert II etendu (EPSG:27572),
  written in WGS84, `tile_id` row-major in the city's (rows, cols) rectangle, only the tiles
  of the city's irregular area;
- a communes GeoPackage (EPSG:2154): Voronoi cells with `INSEE_COM`, `INSEE_DEP`,
  `POPULATION`; a strip of each city's area (sea, outside the layer) is in no commune;
- a crime CSV in the data.gouv.fr layout;
- the planted truth per commune: `code_com, code_dep, cities, pop, coupling,
  consumption_per_1000, sv_rate`.

The model, per commune and hour (`x` is the log Web_Adult signal, `z` its standardisation
with the model's own mean and variance, so that a day never depends on the period):
    log Web_Adult = log(pop/1000 * rate) + diurnal(hour) + weekly(day) + day effect + noise
    log Tor       = log(pop/1000 * rate) + sigma * (coupling * z + sqrt(1 - coupling^2) * eps)
so that the Pearson correlation of the hourly log series, which the workflow estimates,
tracks the planted `coupling`. Hourly totals are split into slots and tiles: Web_Adult and
YouTube densely (tiles share the commune's population), Tor as a few "sessions" per commune
and hour on random tiles, so that Tor is mostly exact zeros at tile level while the commune
x hour sums are not. The sexual-violence rate rises with the planted consumption
(Tor per 1,000 inhabitants x the coupling-based factor of the seed), plus noise.

Everything is drawn from streams keyed by (seed, city, purpose[, day, app, direction]): a
city's data do not depend on the other cities or on the period requested.
"""

import argparse
import datetime
import json
import os
import sys
import time
import zlib

import numpy as np

from netmob_cpc.files import atomic_path
from netmob_cpc.publication import published

# --- the NetMob23 cities --------------------------------------------------------------------
# Grid dimensions (rows, cols) of the 100 m tiles per city, as used with the NetMob23 data
# (Paris, Lyon, Nancy as documented with the data set); found in public NetMob23 challenge code.
CITY_GRIDS = {
    "Bordeaux": (334, 342),
    "Clermont-Ferrand": (208, 268),
    "Dijon": (195, 234),
    "Grenoble": (409, 251),
    "Lille": (330, 342),
    "Lyon": (426, 287),
    "Mans": (228, 246),
    "Marseille": (211, 210),
    "Metz": (226, 269),
    "Montpellier": (334, 327),
    "Nancy": (151, 165),
    "Nantes": (277, 425),
    "Nice": (150, 214),
    "Orleans": (282, 256),
    "Paris": (409, 346),
    "Rennes": (423, 370),
    "Saint-Etienne": (305, 501),
    "Strasbourg": (296, 258),
    "Toulouse": (280, 347),
    "Tours": (251, 270),
}
# Approximate centre (longitude, latitude, WGS84), department, INSEE code of the main commune.
CITY_PLACES = {
    "Bordeaux": (-0.5792, 44.8378, "33", "33063"),
    "Clermont-Ferrand": (3.0870, 45.7772, "63", "63113"),
    "Dijon": (5.0415, 47.3220, "21", "21231"),
    "Grenoble": (5.7245, 45.1885, "38", "38185"),
    "Lille": (3.0573, 50.6292, "59", "59350"),
    "Lyon": (4.8357, 45.7640, "69", "69123"),
    "Mans": (0.1996, 48.0061, "72", "72181"),
    "Marseille": (5.3698, 43.2965, "13", "13055"),
    "Metz": (6.1757, 49.1193, "57", "57463"),
    "Montpellier": (3.8767, 43.6108, "34", "34172"),
    "Nancy": (6.1844, 48.6921, "54", "54395"),
    "Nantes": (-1.5536, 47.2184, "44", "44109"),
    "Nice": (7.2620, 43.7102, "06", "06088"),
    "Orleans": (1.9093, 47.9030, "45", "45234"),
    "Paris": (2.3522, 48.8566, "75", "75056"),
    "Rennes": (-1.6778, 48.1173, "35", "35238"),
    "Saint-Etienne": (4.3872, 45.4397, "42", "42218"),
    "Strasbourg": (7.7521, 48.5734, "67", "67482"),
    "Toulouse": (1.4442, 43.6047, "31", "31555"),
    "Tours": (0.6848, 47.3941, "37", "37261"),
}
# Side of the city's area that is sea or outside the communes layer (unit vector east, north)
# and the share of the area's tiles there; other cities get a random side.
OUTSIDE_SIDES = {"Nice": ((0.0, -1.0), 0.12), "Marseille": ((-0.8, -0.6), 0.10), "Montpellier": ((0.6, -0.8), 0.06)}
OUTSIDE_SHARE = 0.06
OUTSIDE_TRAFFIC_SHARE = 0.012  # traffic of the outside tiles, as a share of the city's population

GRID_CRS = "EPSG:27572"  # NTF (Paris) Lambert II etendu: the grid the NetMob23 tiles sit on
COMMUNES_CRS = "EPSG:2154"  # Lambert-93, as IGN ADMIN EXPRESS
TILE_M = 100.0
MIN_SIDE = 4  # rows and cols of a scaled grid are at least this, its area at least this many tiles

# --- traffic magnitudes ---------------------------------------------------------------------
# Per 1,000 inhabitants over the 77 NetMob23 days, as in the authors' published table
# (orders of magnitude of its yt_per_1000, wa_per_1000, tor_per_1000).
NETMOB_HOURS = 77 * 24
PER_1000_77_DAYS = {"control": 3.5e9, "porn": 4.0e7, "tor": 1.4e6}
RATE_SPREAD = {"control": 0.25, "porn": 0.3, "tor": 0.35}  # log-sd of the per-capita rates across communes
UPLOAD_FACTOR = {"control": 0.05, "porn": 0.06, "tor": 0.35}  # UL traffic / DL traffic

# Hour-of-day profiles (relative; normalised to mean 1): YouTube evening peak, Web_Adult late
# evening and night; Tor has none of its own (it follows Web_Adult by its coupling only).
PROFILE_CONTROL_WEEKDAY = [0.50, 0.32, 0.20, 0.14, 0.11, 0.12, 0.20, 0.38, 0.58, 0.70, 0.78, 0.85,
                           0.95, 0.95, 0.88, 0.88, 0.92, 1.02, 1.18, 1.35, 1.55, 1.72, 1.62, 1.05]
PROFILE_CONTROL_WEEKEND = [0.65, 0.45, 0.30, 0.20, 0.14, 0.12, 0.14, 0.22, 0.40, 0.62, 0.82, 0.95,
                           1.05, 1.08, 1.05, 1.02, 1.02, 1.08, 1.20, 1.35, 1.52, 1.65, 1.55, 1.10]
PROFILE_PORN = [1.55, 1.25, 0.90, 0.60, 0.40, 0.30, 0.32, 0.45, 0.60, 0.72, 0.80, 0.86,
                0.92, 0.92, 0.90, 0.92, 0.95, 1.00, 1.05, 1.15, 1.32, 1.58, 1.85, 1.90]
WEEKLY_CONTROL = [0.96, 0.95, 0.97, 0.97, 1.00, 1.07, 1.08]  # Monday .. Sunday
WEEKLY_PORN = [1.00, 0.98, 0.98, 0.97, 0.96, 1.03, 1.08]
DAY_EFFECT_SD = 0.06  # city-wide day-to-day variation (log)
TOR_SD = 0.6  # log-sd of the hourly Tor total around its commune level
SLOT_SD = 0.08  # log-sd of a slot's share within its hour
TILE_SD = 0.3  # log-sd of a tile's share within its commune, per slot
TILE_WEIGHT_SD = 0.6  # log-sd of the tiles' static population shares within a commune
TOR_SESSION_RATE = 0.02  # Tor sessions per tile-slot of a commune (plus one per commune-hour)

# --- the planted truth ----------------------------------------------------------------------
TOR_TO_DARKNET_SHARE = 0.011  # the seed's shares: c = r * 0.011 * 105/253
CSAM_IN_PORN_SHARE = 105 / 253
FACTOR_SCALE = TOR_TO_DARKNET_SHARE * CSAM_IN_PORN_SHARE
NEGATIVE_FACTOR_FLOOR = 1e-5
COUPLING_MEAN, COUPLING_SD, COUPLING_RANGE = 0.2, 0.22, (-0.45, 0.85)
SV_BASE = 0.8  # sexual-violence victims per 1,000 inhabitants in 2019 at the reference consumption
SV_SLOPE, SV_NOISE_SD, SV_DEP_SD = 0.5, 0.3, 0.1
SV_REFERENCE = PER_1000_77_DAYS["tor"] * COUPLING_MEAN * FACTOR_SCALE

# --- the crime file (data.gouv.fr 2023 layout) ----------------------------------------------
CRIME_HEADER = ["CODGEO_2023", "annee", "classe", "unité.de.compte", "valeur.publiée", "faits",
                "tauxpourmille", "complementinfoval", "complementinfotaux", "POP", "millPOP", "LOG", "millLOG"]
CRIME_YEARS = list(range(16, 23))
# class: (unit, rate per 1,000 in 2019, log-sd across communes, yearly trend, per dwellings?)
CRIME_CLASSES = {
    "Violences sexuelles": ("victime", SV_BASE, None, 1.08, False),
    "Coups et blessures volontaires": ("victime", 4.0, 0.3, 1.04, False),
    "Cambriolages de logement": ("infraction", 12.0, 0.4, 0.95, True),
    "Vols de véhicules": ("véhicule", 3.0, 0.4, 0.97, False),
}
PUBLISHED_MIN_FACTS = 5  # a value is published ('diff') unless it and the two years before are all below this
PUBLISHED_WINDOW_YEARS = 3
EXTRA_CRIME_COMMUNES = 3  # communes per city in the crime file but not in the communes layer


def _log(message):
    print(message, file=sys.stderr, flush=True)


def _stream(seed, city, *keys):
    """An independent random generator for (seed, city, keys...)."""
    city_key = zlib.crc32(city.encode("utf-8")) if city else 0
    return np.random.default_rng(np.random.SeedSequence([int(seed), city_key, *[int(k) for k in keys]]))


STREAM_GRID, STREAM_COMMUNES, STREAM_PARAMS, STREAM_CRIME, STREAM_DAY, STREAM_OUTAGE, STREAM_SPARSE = range(7)
ROLE_KEYS = {"porn": 1, "tor": 2, "control": 3}
DIRECTION_KEYS = {"DL": 1, "UL": 2}


# === calendar ===============================================================================

def clock_change_day(year):
    """The last Sunday of March: the French spring clock change (02:00 -> 03:00)."""
    day = datetime.date(year, 3, 31)
    return day - datetime.timedelta(days=(day.weekday() + 1) % 7)


def day_hours(day):
    """Wall-clock hours of `day`: 0..23, without 2 on the clock-change day (92 slots)."""
    if day == clock_change_day(day.year):
        return np.array([h for h in range(24) if h != 2])
    return np.arange(24)


def outage_hours(seed):
    """The hours (3 consecutive, starting between 01:00 and 05:00) of the network outage."""
    start = int(_stream(seed, "", STREAM_OUTAGE).integers(1, 6))
    return np.arange(start, start + 3)


# === text rendering of traffic ==============================================================

# A field is rendered in a fixed-width slot of 4-byte words: the digits of its integer part
# (groups of 4 digits taken from a table of "0000".."9999"), then a suffix word or two (the
# fraction of a 1/16 value, "nan", or nothing, followed by the separator). A byte mask built
# from lookup tables drops the leading zeros and the padding; one boolean compression of the
# whole block then gives the text.
_SUFFIX_TEXTS = ["" if k == 0 else repr(k / 16)[1:] for k in range(16)] + ["nan", ""]
SUFFIX_NAN, SUFFIX_EMPTY = 16, 17  # codes >= SUFFIX_NAN are missing values (no digits)
LAST_FIELD = len(_SUFFIX_TEXTS)  # added to the code of a line's last field: newline, not space
_DIGIT_GROUPS = np.frombuffer("".join(f"{i:04d}" for i in range(10000)).encode("ascii"), dtype=np.uint32)


def _word_table(entries, n_words):
    """uint32[len(entries), n_words] holding each entry's bytes (padded with zero bytes)."""
    raw = b"".join(entry.ljust(4 * n_words, b"\0") for entry in entries)
    return np.frombuffer(raw, dtype=np.uint32).reshape(len(entries), n_words)


def _suffix_tables(n_words):
    texts = [(t + sep).encode("ascii") for sep in (" ", "\n") for t in _SUFFIX_TEXTS]
    keep = [b"\1" * len(t) for t in texts]
    return np.ascontiguousarray(_word_table(texts, n_words).T).T, np.ascontiguousarray(_word_table(keep, n_words).T).T


# two words (".0625 " is 6 bytes); integer apps use only the first ("nan " fits in it)
_SUFFIX_WORDS = _suffix_tables(2)
# byte masks of the digit words by the number of leading zeros dropped (columns contiguous)
_DIGIT_KEEP = {
    n: np.ascontiguousarray(_word_table([b"\0" * drop + b"\1" * (4 * n - drop) for drop in range(4 * n + 1)], n).T).T
    for n in (1, 2, 3, 4, 5)
}


def render_traffic(tile_ids, values, sixteenths=False, missing=None, chunk_rows=4096):
    """The text of a traffic file, as a list of uint8 arrays (no per-value Python).

    `tile_ids`: int[n]; `values`: non-negative int[n, n_slots], the traffic itself, or, with
    `sixteenths`, the traffic times 16 (written as decimals: 19 -> `1.1875`, 32 -> `2`).
    `missing`: optional (rows, cols, as_nan) arrays: those fields are written as `nan`
    (as_nan true) or left empty.
    """
    tile_ids = np.asarray(tile_ids)
    values = np.asarray(values)
    n_rows, n_slots = values.shape
    if len(tile_ids) != n_rows:
        raise ValueError(f"{len(tile_ids)} tile ids for {n_rows} rows of values")
    if n_rows and (values.min() < 0 or tile_ids.min() < 0):
        raise ValueError("traffic values and tile ids must be non-negative")
    missing_codes = None
    if missing is not None and len(missing[0]):
        missing_codes = np.zeros((n_rows, n_slots), dtype=np.uint8)
        rows, cols, as_nan = missing
        missing_codes[rows, cols] = np.where(as_nan, SUFFIX_NAN, SUFFIX_EMPTY)
    top = int(values.max()) if values.size else 0
    values = values.astype(np.uint32 if top < 2**32 else np.uint64, copy=False)
    chunks = []
    for start in range(0, n_rows, chunk_rows):
        stop = min(start + chunk_rows, n_rows)
        block = values[start:stop]
        codes = None
        if sixteenths:
            codes = (block & 15).astype(np.uint8)
            block = block >> 4
        if missing_codes is not None:
            marked = missing_codes[start:stop]
            codes = marked if codes is None else np.where(marked > 0, marked, codes)
        chunks.append(_render_block(tile_ids[start:stop], block, codes, 2 if sixteenths else 1))
    return chunks


def _digit_groups(numbers):
    top = int(numbers.max()) if numbers.size else 0
    groups = -(-len(str(top)) // 4)
    if groups > 5:
        raise ValueError(f"traffic value {top} has more than 20 digits")
    return groups


def _fill_digits(numbers, words, keep, blank=None):
    """Digit groups of `numbers` (uint[...]) into words[..., :groups] and their byte mask into
    keep[..., :groups] (leading zeros dropped; where `blank`, no digits at all)."""
    groups = words.shape[-1]
    rest = numbers
    for group in range(groups - 1, 0, -1):
        quotient = rest // 10000
        words[..., group] = np.take(_DIGIT_GROUPS, rest - quotient * 10000)
        rest = quotient
    words[..., 0] = np.take(_DIGIT_GROUPS, rest)
    drop = np.full(numbers.shape, 4 * groups - 1, dtype=np.int8)
    for power in range(1, 4 * groups):
        drop -= numbers >= 10**power
    if blank is not None:
        drop[blank] = 4 * groups
    digit_keep = _DIGIT_KEEP[groups]
    for group in range(groups):
        keep[..., group] = np.take(digit_keep[:, group], drop)


def _render_block(tile_ids, block, codes, suffix_words):
    """Bytes (uint8 array) of the lines of `tile_ids` (int[rows]) and `block`
    (uint[rows, slots]) with suffix `codes` (uint8[rows, slots] or None)."""
    rows, n_slots = block.shape
    tile_ids = np.ascontiguousarray(tile_ids, dtype=np.uint64)
    tile_groups = _digit_groups(tile_ids)
    groups = _digit_groups(block)
    field_words = groups + suffix_words
    head = tile_groups + 1  # the tile id and its separator
    words = np.empty((rows, head + n_slots * field_words), dtype=np.uint32)
    keep = np.empty_like(words)
    _fill_digits(tile_ids, words[:, :tile_groups], keep[:, :tile_groups])
    words[:, tile_groups] = _SUFFIX_WORDS[0][0, 0]  # " "
    keep[:, tile_groups] = _SUFFIX_WORDS[1][0, 0]
    # the value fields, as [rows, slots, field_words] views of the same buffers
    value_words = words[:, head:].reshape(rows, n_slots, field_words)
    value_keep = keep[:, head:].reshape(rows, n_slots, field_words)
    blank = None if codes is None else codes >= SUFFIX_NAN
    _fill_digits(block, value_words[:, :, :groups], value_keep[:, :, :groups], blank)
    text_table, keep_table = _SUFFIX_WORDS
    if codes is None:
        indices = np.zeros((1, n_slots), dtype=np.intp)
    else:
        indices = codes.astype(np.intp)
    indices[:, -1] += LAST_FIELD
    for word in range(suffix_words):
        value_words[:, :, groups + word] = np.take(text_table[:, word], indices)
        value_keep[:, :, groups + word] = np.take(keep_table[:, word], indices)
    return words.view(np.uint8)[keep.view(bool)]


def write_traffic_file(path, tile_ids, values, sixteenths=False, missing=None):
    """Write one traffic file atomically; returns its size in bytes."""
    chunks = render_traffic(tile_ids, values, sixteenths, missing)
    size = 0
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk.data)
                size += chunk.size
    return size


# === tile grids =============================================================================

def grid_shape(city, grid_scale):
    """(rows, cols) of the scaled grid of `city`."""
    if city not in CITY_GRIDS:
        raise ValueError(f"unknown city {city!r}; the NetMob23 cities are {', '.join(CITY_GRIDS)}")
    rows, cols = CITY_GRIDS[city]
    return max(MIN_SIDE, int(round(rows * grid_scale))), max(MIN_SIDE, int(round(cols * grid_scale)))


def city_area(rows, cols, rng, area_scale=1.0):
    """Boolean [rows, cols]: the city's irregular area (a wobbly disc) inside the rectangle.

    area_scale < 1 shrinks the disc's radius (benchmarks: fewer tiles per file on the real
    grid dimensions, as in the real files, which average ~20,000 tiles)."""
    v = (np.arange(rows) + 0.5 - rows / 2) / (rows / 2)
    u = (np.arange(cols) + 0.5 - cols / 2) / (cols / 2)
    uu, vv = np.meshgrid(u, v)
    radius = np.hypot(uu, vv)
    angle = np.arctan2(vv, uu)
    limit = np.full_like(radius, 0.93)
    for k in (2, 3, 4, 5):
        limit += 0.93 * rng.uniform(0.03, 0.09) * np.cos(k * angle + rng.uniform(0, 2 * np.pi))
    inside = radius <= limit * area_scale
    if inside.sum() < MIN_SIDE:  # tiny grids: at least the few tiles nearest the centre
        inside.ravel()[np.argsort(radius.ravel(), kind="stable")[:MIN_SIDE]] = True
    return inside


def build_grid(city, grid_scale, seed, area_scale=1.0):
    """The tile grid of `city`: rows, cols, tile ids of its area (ascending) and the tile
    corners in WGS84 (lattice of (rows+1) x (cols+1) points, row 0 = north)."""
    from pyproj import Transformer

    rows, cols = grid_shape(city, grid_scale)
    lon, lat = CITY_PLACES[city][:2]
    to_grid = Transformer.from_crs("EPSG:4326", GRID_CRS, always_xy=True)
    centre_x, centre_y = to_grid.transform(lon, lat)
    west = np.floor((centre_x - cols * TILE_M / 2) / TILE_M) * TILE_M
    north = np.floor((centre_y + rows * TILE_M / 2) / TILE_M) * TILE_M
    corner_x = west + TILE_M * np.arange(cols + 1)
    corner_y = north - TILE_M * np.arange(rows + 1)
    xx, yy = np.meshgrid(corner_x, corner_y)
    to_wgs84 = Transformer.from_crs(GRID_CRS, "EPSG:4326", always_xy=True)
    corner_lon, corner_lat = to_wgs84.transform(xx, yy)
    inside = city_area(rows, cols, _stream(seed, city, STREAM_GRID), area_scale)
    tile_ids = np.flatnonzero(inside.ravel()).astype(np.int64)
    return {"rows": rows, "cols": cols, "tile_ids": tile_ids, "lon": corner_lon, "lat": corner_lat}


def tile_rings(grid):
    """Corner indices (into the flattened lattice) of each tile: SW, SE, NE, NW, SW."""
    cols = grid["cols"]
    row, col = np.divmod(grid["tile_ids"], cols)
    stride = cols + 1
    nw = row * stride + col
    sw = nw + stride
    return np.stack([sw, sw + 1, nw + 1, nw, sw], axis=1)


def tile_polygons(grid):
    """Shapely polygons of the tiles (WGS84), with the coordinates written to the GeoJSON."""
    import shapely

    rings = tile_rings(grid)
    coords = np.stack([grid["lon"].ravel()[rings], grid["lat"].ravel()[rings]], axis=2)
    return shapely.polygons(coords)


def write_grid(path, grid):
    """GeoJSON (RFC 7946, WGS84) of the tiles with an integer `tile_id` property; coordinates
    written with full round-trip precision, so that readers see exactly the polygons used here."""
    lon = grid["lon"].ravel().tolist()
    lat = grid["lat"].ravel().tolist()
    points = [f"[{x!r}, {y!r}]" for x, y in zip(lon, lat)]
    rings = tile_rings(grid).tolist()
    features = [
        '{"type": "Feature", "properties": {"tile_id": %d}, "geometry": {"type": "Polygon", '
        '"coordinates": [[%s, %s, %s, %s, %s]]}}'
        % (tile_id, points[a], points[b], points[c], points[d], points[e])
        for tile_id, (a, b, c, d, e) in zip(grid["tile_ids"].tolist(), rings)
    ]
    text = '{"type": "FeatureCollection", "features": [\n' + ",\n".join(features) + "\n]}\n"
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
    return len(text.encode("utf-8"))


# === communes ===============================================================================

def _split_direction(centroids, direction, share):
    """Threshold along `direction` leaving about `share` of the points beyond it, placed in
    the widest gap between neighbouring projections near that quantile (no point near it)."""
    projection = np.sort(centroids @ np.asarray(direction, dtype=float))
    n = len(projection)
    low = max(1, int(np.floor(n * (1 - share * 1.5))))
    high = min(n - 1, max(low + 1, int(np.ceil(n * (1 - share * 0.5)))))
    if n < 2 or low >= n:
        return projection[-1] + 1.0
    gaps = projection[low:high + 1] - projection[low - 1:high]
    best = low + int(np.argmax(gaps))
    return (projection[best - 1] + projection[best]) / 2


def build_communes(city, grid, seed):
    """Communes of `city` (EPSG:2154): Voronoi cells of seeds placed in the city's area,
    clipped to the area's hull (plus a margin) minus an outside strip (sea / outside the
    layer). Returns a dict with codes, departments, names, populations, polygons
    (MultiPolygons) and the tile centroids in Lambert-93 (computed as the workflow does: the
    WGS84 tiles reprojected, then their centroids)."""
    import geopandas as gpd
    import shapely

    rng = _stream(seed, city, STREAM_COMMUNES)
    _, _, department, main_code = CITY_PLACES[city]
    tiles = gpd.GeoSeries(tile_polygons(grid), crs="EPSG:4326").to_crs(COMMUNES_CRS)
    centroids = np.column_stack([tiles.centroid.x.to_numpy(), tiles.centroid.y.to_numpy()])
    n_tiles = len(centroids)

    direction, share = OUTSIDE_SIDES.get(city, (None, OUTSIDE_SHARE))
    if direction is None:
        angle = rng.uniform(0, 2 * np.pi)
        direction = (np.cos(angle), np.sin(angle))
    direction = np.asarray(direction, dtype=float) / np.hypot(*direction)
    threshold = _split_direction(centroids, direction, share) if n_tiles >= 8 else np.inf
    hull = shapely.convex_hull(shapely.multipoints(centroids)).buffer(2.5 * TILE_M, quad_segs=4)
    land = hull
    if np.isfinite(threshold):
        size = 4 * (np.ptp(centroids[:, 0]) + np.ptp(centroids[:, 1]) + 10 * TILE_M)
        across = np.array([-direction[1], direction[0]])
        base = centroids.mean(axis=0)
        offset = threshold - base @ direction
        near = base + offset * direction
        far = near + size * direction
        outside = shapely.Polygon([near - size * across, near + size * across, far + size * across, far - size * across])
        land = shapely.difference(hull, outside)
    on_land = np.flatnonzero((centroids @ direction) < threshold) if np.isfinite(threshold) else np.arange(n_tiles)

    # Seeds: tiles of the land at least `spacing` apart, each moved randomly inside its tile
    # (so that no tile centroid is equidistant from two seeds).
    wanted = int(np.clip(len(on_land) // 12, 1, min(899, 25 + len(on_land) // 300)))
    spacing = max(1.5 * TILE_M, 0.6 * TILE_M * np.sqrt(len(on_land) / wanted))
    candidates = rng.permutation(on_land)[: max(40 * wanted, 200)]
    chosen = []
    for tile in candidates.tolist():
        if not chosen or np.min(np.hypot(*(centroids[chosen] - centroids[tile]).T)) >= spacing:
            chosen.append(tile)
            if len(chosen) == wanted:
                break
    chosen = np.array(chosen)
    seeds = centroids[chosen] + rng.uniform(-0.3 * TILE_M, 0.3 * TILE_M, size=(len(chosen), 2))
    if len(seeds) == 1:
        cells = [land]
    else:
        regions = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=land, ordered=True)
        cells = [shapely.intersection(cell, land) for cell in shapely.get_parts(regions)]
    cells = [shapely.multipolygons(shapely.get_parts(cell)) if cell.geom_type == "Polygon" else cell for cell in cells]
    cells = [
        shapely.multipolygons([part for part in shapely.get_parts(cell) if part.geom_type == "Polygon"])
        if cell.geom_type == "GeometryCollection" else cell
        for cell in cells
    ]

    # Codes: the real main commune nearest the centre, others random numbers of the department.
    k = len(cells)
    centre = centroids.mean(axis=0)
    distance = np.hypot(*(seeds - centre).T)
    by_distance = np.argsort(distance, kind="stable")
    main_number = int(main_code[2:])
    numbers = rng.choice(np.setdiff1d(np.arange(1, 900), [main_number]), size=k - 1, replace=False)
    codes = np.empty(k, dtype=object)
    codes[by_distance[0]] = main_code
    codes[by_distance[1:]] = [f"{department}{n:03d}" for n in numbers]
    names = np.array([city if code == main_code else f"{city} {code}" for code in codes], dtype=object)

    # Populations: larger near the centre, a few small communes of a few hundred inhabitants.
    draws = np.sort(np.exp(rng.normal(np.log(6000), 1.0, size=k)))[::-1]
    order = np.argsort(np.arange(k) + rng.normal(0, k / 6, size=k), kind="stable")
    pop = np.empty(k)
    pop[by_distance[order]] = draws
    pop[by_distance[0]] = max(pop.max() * 3, 20000.0) if k > 1 else pop[0]
    n_small = max(1, k // 10) if k >= 4 else 0
    if n_small:
        pop[by_distance[-n_small:]] = rng.uniform(150, 900, size=n_small)
    pop = np.clip(np.round(pop), 150, 2_500_000).astype(np.int64)
    return {
        "code_com": codes.astype(str), "code_dep": np.full(k, department), "name": names.astype(str),
        "pop": pop, "geometry": cells, "centroids": centroids,
    }


def write_communes(path, communes_by_city):
    """All cities' communes as one GeoPackage layer `communes` (EPSG:2154, MultiPolygons)."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    frames = [
        gpd.GeoDataFrame(
            {
                "INSEE_COM": pd.array(c["code_com"], dtype="str"),
                "INSEE_DEP": pd.array(c["code_dep"], dtype="str"),
                "NOM": pd.array(c["name"], dtype="str"),
                "POPULATION": c["pop"].astype(np.int64),
            },
            geometry=list(c["geometry"]),
            crs=COMMUNES_CRS,
        )
        for c in communes_by_city.values()
    ]
    layer = pd.concat(frames, ignore_index=True).sort_values("INSEE_COM", kind="stable").reset_index(drop=True)
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    # a fixed timestamp in gpkg_contents: the same seed gives the same bytes
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2023-07-17T00:00:00Z"})
    try:
        with atomic_path(path) as tmp:
            layer.to_file(tmp, driver="GPKG", layer="communes", engine="pyogrio")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
    return os.path.getsize(path)


def assign_tiles(communes):
    """Row of the commune of each tile (-1: none), by the tile centroid in Lambert-93, a
    centroid on a border going to the lower INSEE code (the rule used when building a tile map)."""
    import shapely

    points = shapely.points(communes["centroids"])
    tree = shapely.STRtree(np.array(communes["geometry"], dtype=object))
    tile_rows, commune_rows = tree.query(points, predicate="intersects")
    order = np.lexsort((communes["code_com"][commune_rows], tile_rows))
    tile_rows, commune_rows = tile_rows[order], commune_rows[order]
    first = np.ones(len(tile_rows), dtype=bool)
    first[1:] = tile_rows[1:] != tile_rows[:-1]
    commune_of_tile = np.full(len(points), -1, dtype=np.int64)
    commune_of_tile[tile_rows[first]] = commune_rows[first]
    return commune_of_tile


# === the traffic model ======================================================================

def _profile_logs(profile):
    values = np.asarray(profile, dtype=float)
    return np.log(values / values.mean())


LOG_PROFILE = {
    "porn": _profile_logs(PROFILE_PORN),
    "control_weekday": _profile_logs(PROFILE_CONTROL_WEEKDAY),
    "control_weekend": _profile_logs(PROFILE_CONTROL_WEEKEND),
}
LOG_WEEKLY = {"porn": _profile_logs(WEEKLY_PORN), "control": _profile_logs(WEEKLY_CONTROL)}


class CityModel:
    """Everything needed to generate one city's traffic: the groups (communes, then the
    outside tiles as one more group), their parameters and the tiles' static weights."""

    def __init__(self, city, grid, communes, seed):
        self.city = city
        self.seed = seed
        self.tile_ids = grid["tile_ids"]
        commune_of_tile = assign_tiles(communes)
        k = len(communes["code_com"])
        self.n_communes = k
        self.group_of_tile = np.where(commune_of_tile < 0, k, commune_of_tile)
        n_groups = k + 1
        rng = _stream(seed, city, STREAM_PARAMS)
        pop = communes["pop"].astype(float)
        outside_pop = max(OUTSIDE_TRAFFIC_SHARE * pop.sum(), 1.0)
        self.pop = np.append(pop, outside_pop)
        self.coupling = np.append(np.clip(rng.normal(COUPLING_MEAN, COUPLING_SD, size=k), *COUPLING_RANGE), 0.0)
        self.rate = {
            role: PER_1000_77_DAYS[role] / NETMOB_HOURS
            * np.exp(rng.normal(0, RATE_SPREAD[role], size=n_groups) - RATE_SPREAD[role] ** 2 / 2)
            for role in ("porn", "tor", "control")
        }
        # Commune-hour noise of the log traffic: larger for small communes (fewer users).
        self.noise_sd = 0.05 + 0.6 / np.sqrt(self.pop / 100.0)
        self.noise_sd_control = 0.03 + 0.3 / np.sqrt(self.pop / 100.0)
        weights = np.exp(rng.normal(0, TILE_WEIGHT_SD, size=len(self.tile_ids)))
        group_weight = np.bincount(self.group_of_tile, weights=weights, minlength=n_groups)
        self.tile_share = weights / group_weight[self.group_of_tile]
        self.tiles_per_group = np.bincount(self.group_of_tile, minlength=n_groups)
        # Tiles sorted by group, for per-group sums and draws.
        self.order = np.argsort(self.group_of_tile, kind="stable")
        self.group_start = np.concatenate([[0], np.cumsum(self.tiles_per_group)])
        cumulative = np.cumsum(self.tile_share[self.order])
        offsets = np.concatenate([[0.0], np.cumsum(np.bincount(self.group_of_tile, weights=self.tile_share, minlength=n_groups))])
        self.share_ladder = self.group_of_tile[self.order] + (cumulative - offsets[self.group_of_tile[self.order]])
        # Moments of the log Web_Adult signal, for its standardisation.
        porn = LOG_PROFILE["porn"]
        weekly = LOG_WEEKLY["porn"]
        self.porn_mean = porn.mean() + weekly.mean()
        self.porn_sd = np.sqrt(porn.var() + weekly.var() + DAY_EFFECT_SD**2 + self.noise_sd**2)

    def hourly(self, day):
        """Planted hourly totals (DL) of the three roles: float[n_groups, n_hours] each."""
        rng = _stream(self.seed, self.city, STREAM_DAY, day.toordinal())
        hours = day_hours(day)
        n_groups, n_hours = len(self.pop), len(hours)
        dow = day.weekday()
        people = self.pop[:, None] / 1000.0
        porn_day = rng.normal(0, DAY_EFFECT_SD)
        control_day = 0.5 * porn_day + rng.normal(0, DAY_EFFECT_SD)
        noise = rng.standard_normal((n_groups, n_hours))
        x = LOG_PROFILE["porn"][hours][None, :] + LOG_WEEKLY["porn"][dow] + porn_day + self.noise_sd[:, None] * noise
        porn = people * self.rate["porn"][:, None] * np.exp(x - (DAY_EFFECT_SD**2 + self.noise_sd[:, None] ** 2) / 2)
        z = (x - self.porn_mean) / self.porn_sd[:, None]
        rho = self.coupling[:, None]
        eps = rng.standard_normal((n_groups, n_hours))
        y = TOR_SD * (rho * z + np.sqrt(1 - rho**2) * eps) - TOR_SD**2 / 2
        tor = people * self.rate["tor"][:, None] * np.exp(y)
        profile = LOG_PROFILE["control_weekend" if dow >= 5 else "control_weekday"]
        noise_control = rng.standard_normal((n_groups, n_hours))
        xc = profile[hours][None, :] + LOG_WEEKLY["control"][dow] + control_day + self.noise_sd_control[:, None] * noise_control
        control_variance = 1.25 * DAY_EFFECT_SD**2 + self.noise_sd_control[:, None] ** 2
        control = people * self.rate["control"][:, None] * np.exp(xc - control_variance / 2)
        return {"porn": porn, "tor": tor, "control": control}

    def dense_tiles(self, hourly, rng):
        """Tile x slot values (float32) of a dense app whose per-group hourly totals are
        `hourly`: each hour split into its 4 slots, each slot over the group's tiles by their
        population share times noise; the tiles of a group sum to its slot total (up to
        float32 rounding, a relative 1e-7)."""
        n_groups, n_hours = hourly.shape
        slot_share = np.exp(SLOT_SD * rng.standard_normal((n_groups, n_hours, 4)))
        slot_share /= slot_share.sum(axis=2, keepdims=True)
        group_slot = (hourly[:, :, None] * slot_share).reshape(n_groups, n_hours * 4)
        weights = rng.standard_normal((len(self.tile_ids), n_hours * 4), dtype=np.float32)
        weights *= np.float32(TILE_SD)
        np.exp(weights, out=weights)
        weights *= self.tile_share.astype(np.float32)[:, None]
        present = self.tiles_per_group > 0
        group_sums = np.ones_like(group_slot)
        if len(weights):
            # one sum per group with tiles (reduceat would misread empty groups)
            group_sums[present] = np.add.reduceat(weights[self.order], self.group_start[:-1][present], axis=0)
        weights *= (group_slot / group_sums).astype(np.float32)[self.group_of_tile]
        return weights

    def sparse_tiles(self, hourly, rng):
        """Tile x slot integers of Tor: each group-hour total split into a few sessions on
        random tiles (by population share) and slots; most tile-slots stay exactly zero."""
        n_groups, n_hours = hourly.shape
        n_tiles = len(self.tile_ids)
        totals = np.rint(hourly).astype(np.int64)
        totals[self.tiles_per_group == 0] = 0
        sessions = 1 + rng.poisson(TOR_SESSION_RATE * 4 * self.tiles_per_group[:, None], size=(n_groups, n_hours))
        sessions = np.where(totals > 0, np.minimum(sessions, totals), 0).ravel()
        owner = np.repeat(np.arange(n_groups * n_hours), sessions)
        if not len(owner):
            return np.zeros((n_tiles, n_hours * 4), dtype=np.int64)
        weight = rng.exponential(1.0, size=len(owner))
        weight_sum = np.bincount(owner, weights=weight, minlength=n_groups * n_hours)
        raw = totals.ravel()[owner] * weight / weight_sum[owner]
        size = np.floor(raw).astype(np.int64)
        deficit = totals.ravel() - np.bincount(owner, weights=size, minlength=n_groups * n_hours).astype(np.int64)
        order = np.lexsort((-(raw - size), owner))
        starts = np.concatenate([[0], np.cumsum(sessions)])[:-1]
        rank = np.empty(len(owner), dtype=np.int64)
        rank[order] = np.arange(len(owner)) - starts[owner[order]]
        size += rank < deficit[owner]
        group = owner // n_hours
        hour = owner % n_hours
        draw = group + rng.random(len(owner))
        position = np.searchsorted(self.share_ladder, draw, side="right")
        position = np.clip(position, self.group_start[group], self.group_start[group + 1] - 1)
        tile = self.order[position]
        slot = hour * 4 + rng.integers(0, 4, size=len(owner))
        flat = np.bincount(tile * (n_hours * 4) + slot, weights=size, minlength=n_tiles * n_hours * 4)
        return np.rint(flat).astype(np.int64).reshape(n_tiles, n_hours * 4)


# === crime and truth ========================================================================

def planted_truth(city, communes, model):
    """One row per commune of `city`: the planted coupling, consumption and crime rate."""
    rng = _stream(model.seed, city, STREAM_CRIME)
    k = model.n_communes
    tor_per_1000 = model.rate["tor"][:k] * NETMOB_HOURS  # expected Tor per 1,000 inhabitants over the 77 days
    factor = np.maximum(model.coupling[:k] * FACTOR_SCALE, NEGATIVE_FACTOR_FLOOR)
    consumption = tor_per_1000 * factor
    signal = np.clip(np.log(consumption / SV_REFERENCE), -2.5, 2.5)
    department_effect = rng.normal(0, SV_DEP_SD)
    sv_rate = SV_BASE * np.exp(SV_SLOPE * signal + department_effect + rng.normal(0, SV_NOISE_SD, size=k))
    return {
        "code_com": communes["code_com"], "code_dep": communes["code_dep"], "cities": np.full(k, city),
        "pop": communes["pop"], "coupling": model.coupling[:k], "consumption_per_1000": consumption,
        "sv_rate": sv_rate, "rng": rng,
    }


def crime_rows(truth, min_count=PUBLISHED_MIN_FACTS, window_years=PUBLISHED_WINDOW_YEARS, zeros_published=False):
    """data.gouv.fr rows (2023 layout) of one city's communes plus a few communes that are
    not in the communes layer: every class x year 16..22, 'diff' or 'ndiff' by the
    publication rule (`min_count`, `window_years`, `zeros_published`:
    netmob_cpc.publication.published)."""
    rng = truth["rng"]
    department = truth["code_dep"][0]
    used = {int(code[2:]) for code in truth["code_com"]}
    extra_numbers = [n for n in range(901, 1000) if n not in used][:EXTRA_CRIME_COMMUNES]
    codes = list(truth["code_com"]) + [f"{department}{n:03d}" for n in extra_numbers]
    extra_pop = np.round(np.exp(rng.normal(np.log(3000), 1.0, size=len(extra_numbers))))
    pop = np.concatenate([truth["pop"], extra_pop]).astype(np.int64)
    sv_rate = np.concatenate([truth["sv_rate"], SV_BASE * np.exp(rng.normal(0, 0.4, size=len(extra_numbers)))])
    n = len(codes)
    # earlier years for the publication rule's window (at least the two of the default rule)
    years = np.arange(min(14, CRIME_YEARS[0] - (window_years - 1)), 23)
    growth = rng.normal(0.004, 0.006, size=n)
    pop_year = np.round(pop[:, None] * (1 + growth[:, None]) ** (years[None, :] - 19)).astype(np.int64)
    per_person = 0.5 * np.exp(rng.normal(0, 0.1, size=(n, 1)))  # dwellings per inhabitant
    dwellings = np.round(pop[:, None] * per_person * (1 + growth[:, None]) ** (years[None, :] - 19)).astype(np.int64)
    records = []
    for classe, (unit, base, spread, trend, per_dwelling) in CRIME_CLASSES.items():
        if spread is None:
            rate = sv_rate[:, None] * trend ** (years[None, :] - 19)
        else:
            rate = base * np.exp(rng.normal(0, spread, size=(n, 1))) * trend ** (years[None, :] - 19)
        exposure = dwellings if per_dwelling else pop_year
        facts = rng.poisson(rate * exposure / 1000.0)
        department_rate = base * np.exp(rng.normal(0, 0.15)) * trend ** (years - 19)
        published_years = published(facts, min_count, window_years, zeros_published)
        for year_index in range(len(years)):
            year = int(years[year_index])
            if year not in CRIME_YEARS:
                continue
            published_now = published_years[:, year_index]
            for i in range(n):
                base_count = exposure[i, year_index]
                if published_now[i]:
                    row = [codes[i], year, classe, unit, "diff", int(facts[i, year_index]),
                           facts[i, year_index] / base_count * 1000.0, None, None]
                else:
                    estimate_rate = float(department_rate[year_index])
                    row = [codes[i], year, classe, unit, "ndiff", None, None,
                           estimate_rate * base_count / 1000.0, estimate_rate]
                records.append(row + [int(pop_year[i, year_index]), year, int(dwellings[i, year_index]), year])
    return records


def write_crime_csv(path, records):
    """Semicolon-separated, decimal comma, UTF-8, the data.gouv.fr header."""
    import pandas as pd

    table = pd.DataFrame(records, columns=CRIME_HEADER)
    for column in ("annee", "faits", "POP", "millPOP", "LOG", "millLOG"):
        table[column] = table[column].astype("Int64")
    for column in ("tauxpourmille", "complementinfoval", "complementinfotaux"):
        table[column] = table[column].astype("float64")
    table = table.sort_values(["CODGEO_2023", "classe", "annee"], kind="stable")
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep=";", decimal=",", index=False, encoding="utf-8")
    return os.path.getsize(path)


def write_truth_csv(path, truths):
    import pandas as pd

    columns = ["code_com", "code_dep", "cities", "pop", "coupling", "consumption_per_1000", "sv_rate"]
    table = pd.concat([pd.DataFrame({c: truth[c] for c in columns}) for truth in truths], ignore_index=True)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return os.path.getsize(path)


# === the whole data set =====================================================================

def _missing_fields(rng, shape, rate):
    """Random (rows, cols, as_nan) of missing values at `rate` (empty field or `nan`)."""
    total = shape[0] * shape[1]
    count = int(rng.binomial(total, rate)) if rate > 0 and total else 0
    if not count:
        return None
    flat = rng.choice(total, size=count, replace=False)
    rows, cols = np.divmod(flat, shape[1])
    return rows, cols, rng.random(count) < 0.5


def _dates(start, end):
    first = datetime.date.fromisoformat(str(start))
    last = datetime.date.fromisoformat(str(end))
    if last < first:
        raise ValueError(f"end {last} is before start {first}")
    return [first + datetime.timedelta(days=i) for i in range((last - first).days + 1)]


def generate(*, netmob_dir, tile_grid, communes, crime_csv, truth_csv, cities, apps, directions,
             start, end, seed, grid_scale, missing_rate=1e-5, outage_date="2019-05-12", zero_share=0.0,
             area_scale=1.0, publication_min_count=PUBLISHED_MIN_FACTS,
             publication_window_years=PUBLISHED_WINDOW_YEARS, publication_zeros_published=False):
    """Write the synthetic data set; returns a summary (files, bytes, communes, timings).

    area_scale (benchmarks) shrinks each city's area inside its real-size rectangle, so
    that files carry the real data's ~20,000 tiles on average.
    zero_share > 0 (benchmarks) sets that share of tile-slot values to 0, so that files have
    the real data's density of lone zeros; it changes the traffic, not the planted truth file."""
    began = time.perf_counter()
    cities = list(cities)
    apps = dict(apps)
    if set(apps) != {"porn", "tor", "control"}:
        raise ValueError(f"apps must map the roles porn, tor, control to app names, got {apps}")
    for direction in directions:
        if direction not in DIRECTION_KEYS:
            raise ValueError(f"direction {direction!r} is not DL or UL")
    if "{city}" not in tile_grid:
        raise ValueError(f"tile_grid {tile_grid!r} has no {{city}} placeholder")
    if not grid_scale > 0:
        raise ValueError(f"grid_scale must be positive, got {grid_scale}")
    if not 0 < area_scale <= 1:
        raise ValueError(f"area_scale must be in (0, 1], got {area_scale}")
    for city in cities:
        grid_shape(city, grid_scale)  # unknown city names fail before anything is written
    days = _dates(start, end)
    outage = datetime.date.fromisoformat(str(outage_date)) if outage_date else None
    outage_slots = None
    if outage is not None:
        hours = day_hours(outage)
        chosen = np.isin(hours, outage_hours(seed))
        outage_slots = np.flatnonzero(np.repeat(chosen, 4))

    summary = {"files": 0, "bytes": 0, "traffic_files": 0, "traffic_bytes": 0, "render_seconds": 0.0,
               "communes": 0, "tiles": 0, "tiles_outside_communes": 0}
    communes_by_city, models, truths = {}, {}, []
    for city in cities:
        grid = build_grid(city, grid_scale, seed, area_scale)
        size = write_grid(tile_grid.format(city=city), grid)
        summary["files"] += 1
        summary["bytes"] += size
        city_communes = build_communes(city, grid, seed)
        model = CityModel(city, grid, city_communes, seed)
        communes_by_city[city] = city_communes
        models[city] = model
        truths.append(planted_truth(city, city_communes, model))
        outside = int(model.tiles_per_group[-1])
        summary["communes"] += model.n_communes
        summary["tiles"] += len(grid["tile_ids"])
        summary["tiles_outside_communes"] += outside
        _log(f"{city}: grid {grid['rows']} x {grid['cols']}, {len(grid['tile_ids'])} tiles in the area, "
             f"{model.n_communes} communes, {outside} tiles in no commune")
    summary["bytes"] += write_communes(communes, communes_by_city)
    crime_records = [
        row for truth in truths
        for row in crime_rows(truth, publication_min_count, publication_window_years, publication_zeros_published)
    ]
    summary["bytes"] += write_crime_csv(crime_csv, crime_records)
    summary["bytes"] += write_truth_csv(truth_csv, truths)
    summary["files"] += 3

    root = str(netmob_dir).rstrip("/")
    for city in cities:
        model = models[city]
        for day in days:
            stamp = day.strftime("%Y%m%d")
            hourly = model.hourly(day)
            for direction in directions:
                for role, app in apps.items():
                    rng = _stream(seed, city, STREAM_DAY, day.toordinal(), ROLE_KEYS[role], DIRECTION_KEYS[direction])
                    planted = hourly[role] * (UPLOAD_FACTOR[role] if direction == "UL" else 1.0)
                    if role == "tor":
                        values = model.sparse_tiles(planted, rng)
                    else:
                        values = model.dense_tiles(planted, rng)
                        if role == "control":  # multiples of 1/16, written as decimals
                            values *= np.float32(16)
                        np.rint(values, out=values)
                        values = values.astype(np.uint32 if values.max(initial=0) < 2**32 else np.uint64)
                    if zero_share > 0:  # benchmark density: most tile-slot values a lone 0
                        sparse = _stream(seed, city, STREAM_SPARSE, day.toordinal(), ROLE_KEYS[role], DIRECTION_KEYS[direction])
                        values[sparse.random(values.shape) < zero_share] = 0
                    if outage == day:
                        values[:, outage_slots] = 0
                    missing = _missing_fields(rng, values.shape, missing_rate)
                    path = f"{root}/{city}/{app}/{stamp}/{city}_{app}_{stamp}_{direction}.txt"
                    tick = time.perf_counter()
                    size = write_traffic_file(path, model.tile_ids, values, sixteenths=(role == "control"), missing=missing)
                    summary["render_seconds"] += time.perf_counter() - tick
                    summary["traffic_files"] += 1
                    summary["traffic_bytes"] += size
        _log(f"{city}: {len(days) * len(directions) * len(apps)} traffic files written")
    summary["files"] += summary["traffic_files"]
    summary["bytes"] += summary["traffic_bytes"]
    summary["seconds"] = time.perf_counter() - began
    summary["render_mb_per_s"] = summary["traffic_bytes"] / 1e6 / max(summary["render_seconds"], 1e-9)
    _log(f"synthetic data: {summary['files']} files, {summary['bytes'] / 1e6:.1f} MB, {summary['communes']} communes, "
         f"{summary['seconds']:.1f} s (traffic text {summary['render_mb_per_s']:.0f} MB/s)")
    return summary


# === placebo apps ===========================================================================
# Further apps for the placebo test (config key placebo_apps), written by a rule of their
# own so that the files above stay byte-identical whatever placebo apps are asked for. Each
# app draws from streams keyed on a stable hash of its name (not its position in a list):
# its level per 1,000 inhabitants, its upload share, and daily profiles of its own (a smooth
# random curve per weekday and weekend); its commune-hour noise is independent of the porn
# app's and of the crime rates, so it carries no planted link to the outcome.

STREAM_PLACEBO = 7  # after the streams above (range(7))
PLACEBO_LEVEL_RANGE = (1e7, 1e9)  # per 1,000 inhabitants over the 77 days (log-uniform)
PLACEBO_UPLOAD_RANGE = (0.03, 0.3)  # UL / DL
PLACEBO_RATE_SPREAD = 0.3  # log-sd of the per-capita rate across communes
PLACEBO_HARMONICS = 3  # harmonics of the hour-of-day profile
PLACEBO_PROFILE_SD = 0.35  # log-sd of the hour-of-day profile


def app_key(app):
    """A stable integer key of an app name (CRC-32 of its UTF-8 bytes)."""
    return zlib.crc32(str(app).encode("utf-8"))


def placebo_app_model(seed, app):
    """An app's own shape, the same in every city: {level (per 1,000 over the 77 days),
    upload share, weekday and weekend log profiles over the 24 hours (mean 0)}."""
    rng = _stream(seed, "", STREAM_PLACEBO, app_key(app))
    low, high = np.log(PLACEBO_LEVEL_RANGE)
    level = float(np.exp(rng.uniform(low, high)))
    upload = float(rng.uniform(*PLACEBO_UPLOAD_RANGE))
    hours = np.arange(24) * 2 * np.pi / 24
    profiles = {}
    for kind in ("weekday", "weekend"):
        curve = np.zeros(24)
        for k in range(1, PLACEBO_HARMONICS + 1):
            curve += rng.normal(0, 1 / k) * np.cos(k * hours) + rng.normal(0, 1 / k) * np.sin(k * hours)
        curve = PLACEBO_PROFILE_SD * curve / max(curve.std(), 1e-9)
        profiles[kind] = curve - curve.mean()
    return {"level": level, "upload": upload, **profiles}


def placebo_hourly(model, seed, app, shape, day):
    """Planted hourly DL totals of one placebo app in one city: float[n_groups, n_hours]."""
    key = app_key(app)
    rates = _stream(seed, model.city, STREAM_PLACEBO, key, 0)
    n_groups = len(model.pop)
    rate = shape["level"] / NETMOB_HOURS * np.exp(
        rates.normal(0, PLACEBO_RATE_SPREAD, size=n_groups) - PLACEBO_RATE_SPREAD**2 / 2
    )
    rng = _stream(seed, model.city, STREAM_PLACEBO, key, 1, day.toordinal())
    hours = day_hours(day)
    profile = shape["weekend" if day.weekday() >= 5 else "weekday"]
    day_effect = rng.normal(0, DAY_EFFECT_SD)
    noise_sd = model.noise_sd_control[:, None]
    x = profile[hours][None, :] + day_effect + noise_sd * rng.standard_normal((n_groups, len(hours)))
    people = model.pop[:, None] / 1000.0
    return people * rate[:, None] * np.exp(x - (DAY_EFFECT_SD**2 + noise_sd**2) / 2)


def generate_placebo(*, netmob_dir, apps, cities, directions, start, end, seed, grid_scale,
                     missing_rate=1e-5, outage_date="2019-05-12", area_scale=1.0):
    """Write the traffic files of the placebo `apps` for the synthetic data set of the same
    seed, grid_scale, cities and days (the same grids and communes, rebuilt from the seed):
    integer tile values, the same outage slots zeroed, missing fields at `missing_rate`.
    Returns a summary (files, bytes, seconds)."""
    began = time.perf_counter()
    apps = list(apps)
    for direction in directions:
        if direction not in DIRECTION_KEYS:
            raise ValueError(f"direction {direction!r} is not DL or UL")
    days = _dates(start, end)
    outage = datetime.date.fromisoformat(str(outage_date)) if outage_date else None
    outage_slots = None
    if outage is not None:
        outage_slots = np.flatnonzero(np.repeat(np.isin(day_hours(outage), outage_hours(seed)), 4))
    shapes = {app: placebo_app_model(seed, app) for app in apps}
    root = str(netmob_dir).rstrip("/")
    summary = {"files": 0, "bytes": 0}
    for city in cities:
        grid = build_grid(city, grid_scale, seed, area_scale)
        model = CityModel(city, grid, build_communes(city, grid, seed), seed)
        for app in apps:
            for day in days:
                stamp = day.strftime("%Y%m%d")
                hourly = placebo_hourly(model, seed, app, shapes[app], day)
                for direction in directions:
                    rng = _stream(seed, city, STREAM_PLACEBO, app_key(app), 2, day.toordinal(), DIRECTION_KEYS[direction])
                    planted = hourly * (shapes[app]["upload"] if direction == "UL" else 1.0)
                    values = model.dense_tiles(planted, rng)
                    np.rint(values, out=values)
                    values = values.astype(np.uint32 if values.max(initial=0) < 2**32 else np.uint64)
                    if outage == day:
                        values[:, outage_slots] = 0
                    missing = _missing_fields(rng, values.shape, missing_rate)
                    path = f"{root}/{city}/{app}/{stamp}/{city}_{app}_{stamp}_{direction}.txt"
                    summary["bytes"] += write_traffic_file(path, model.tile_ids, values, missing=missing)
                    summary["files"] += 1
        _log(f"{city}: {len(apps) * len(days) * len(directions)} placebo traffic files written")
    summary["seconds"] = time.perf_counter() - began
    return summary


def cli(argv=None):
    parser = argparse.ArgumentParser(
        description="Write a synthetic NetMob23-like data set (traffic files, tile grids, communes, "
        "crime CSV, planted truth) under --out: netmob/, grids/{city}.geojson, communes.gpkg, crime.csv, truth.csv.",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--cities", nargs="+", default=["Nice", "Lyon", "Nancy"], choices=sorted(CITY_GRIDS), metavar="CITY",
                        help="NetMob23 city names (default: Nice Lyon Nancy)")
    parser.add_argument("--start", default="2019-03-25", help="first day, ISO (default 2019-03-25)")
    parser.add_argument("--end", default="2019-05-15", help="last day, ISO, inclusive (default 2019-05-15)")
    parser.add_argument("--grid-scale", type=float, default=0.12,
                        help="fraction of the real grids' rows and cols (1.0 = real size)")
    parser.add_argument("--seed", type=int, default=20190316)
    parser.add_argument("--directions", nargs="+", default=["DL"], choices=["DL", "UL"])
    parser.add_argument("--apps", nargs=3, default=["Web_Adult", "Tor", "YouTube"], metavar=("PORN", "TOR", "CONTROL"),
                        help="app names of the porn, tor and control roles")
    parser.add_argument("--zero-share", type=float, default=0.0,
                        help="benchmarks: share of tile-slot values written as 0 (real files are mostly zeros)")
    parser.add_argument("--area-scale", type=float, default=1.0,
                        help="benchmarks: radius factor of each city's area in its rectangle (0.58 at "
                        "--grid-scale 1 gives the real files' ~20,000 tiles per file on average)")
    parser.add_argument("--missing-rate", type=float, default=1e-5, help="share of slot values written missing")
    parser.add_argument("--outage-date", default="2019-05-12", help="day of the network outage ('' for none)")
    args = parser.parse_args(argv)
    out = args.out.rstrip("/")
    summary = generate(
        netmob_dir=f"{out}/netmob", tile_grid=f"{out}/grids/{{city}}.geojson", communes=f"{out}/communes.gpkg",
        crime_csv=f"{out}/crime.csv", truth_csv=f"{out}/truth.csv", cities=args.cities,
        apps=dict(zip(("porn", "tor", "control"), args.apps)), directions=args.directions,
        start=args.start, end=args.end, seed=args.seed, grid_scale=args.grid_scale,
        missing_rate=args.missing_rate, outage_date=args.outage_date or None, zero_share=args.zero_share,
        area_scale=args.area_scale,
    )
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    cli()
