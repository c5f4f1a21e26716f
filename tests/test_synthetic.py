"""The synthetic data generator: real formats (traffic files, tile grids and communes, crime file), determinism, and a
planted truth that the seed's analysis recovers.

Every check reads the written files back with plain pandas / geopandas, as a user of the
real data would, and recomputes what it needs by hand."""

import datetime
import hashlib
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import spearmanr

from netmob_cpc import synthetic
from workflow_runner import load_default_config

REPO = Path(__file__).resolve().parents[1]
APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}
CRIME_HEADER = (
    "CODGEO_2023;annee;classe;unité.de.compte;valeur.publiée;faits;tauxpourmille;"
    "complementinfoval;complementinfotaux;POP;millPOP;LOG;millLOG"
)
# A small set: two cities, both directions, a period with the clock change and the outage.
SMALL = {
    "cities": ["Nice", "Nancy"], "apps": APPS, "directions": ["DL", "UL"],
    "start": "2019-03-30", "end": "2019-05-13", "seed": 11, "grid_scale": 0.04,
}
CLOCK_CHANGE = "20190331"
OUTAGE = "20190512"


def paths(root):
    root = Path(root)
    return {
        "netmob_dir": str(root / "netmob"), "tile_grid": str(root / "grids" / "{city}.geojson"),
        "communes": str(root / "communes.gpkg"), "crime_csv": str(root / "crime.csv"),
        "truth_csv": str(root / "truth.csv"),
    }


def run(root, **overrides):
    settings = {**SMALL, **overrides}
    return synthetic.generate(**paths(root), **settings)


def stamps(start, end):
    day, last = datetime.date.fromisoformat(start), datetime.date.fromisoformat(end)
    while day <= last:
        yield day.strftime("%Y%m%d")
        day += datetime.timedelta(days=1)


def traffic_path(root, city, app, stamp, direction="DL"):
    return Path(root) / "netmob" / city / app / stamp / f"{city}_{app}_{stamp}_{direction}.txt"


def slot_names(n_slots):
    """Wall-clock names of the slots of a file: 96, or 92 without 02:00..02:45."""
    hours = [h for h in range(24) if not (n_slots == 92 and h == 2)]
    return [f"{h:02d}:{m:02d}" for h in hours for m in (0, 15, 30, 45)]


def read_traffic(path):
    """A traffic file as the seed notebook reads it, with the right slot names."""
    table = pd.read_csv(path, sep=" ", header=None)
    table.columns = ["tile_id", *slot_names(table.shape[1] - 1)]
    return table


def tile_map(root, city):
    """tile_id -> INSEE_COM by the tile centroid in Lambert-93 (the tile-map rule), lowest code
    on a border; tiles of no commune absent."""
    import geopandas as gpd

    grid = gpd.read_file(Path(root) / "grids" / f"{city}.geojson")
    communes = gpd.read_file(Path(root) / "communes.gpkg").to_crs("EPSG:2154")
    centroids = gpd.GeoDataFrame({"tile_id": grid["tile_id"]}, geometry=grid.to_crs("EPSG:2154").centroid)
    joined = gpd.sjoin(centroids, communes[["INSEE_COM", "geometry"]], predicate="intersects")
    joined = joined.sort_values(["tile_id", "INSEE_COM"]).drop_duplicates("tile_id")
    return joined.set_index("tile_id")["INSEE_COM"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    summary = run(root, missing_rate=2e-3)
    return root, summary


# --- traffic files -------------------------------------------------------------------------

def test_every_traffic_file_is_written_at_its_contract_path(small):
    root, summary = small
    expected = {
        traffic_path(root, city, app, stamp, direction)
        for city in SMALL["cities"] for app in APPS.values()
        for stamp in stamps(SMALL["start"], SMALL["end"]) for direction in SMALL["directions"]
    }
    written = set((root / "netmob").rglob("*"))
    assert {p for p in written if p.is_file()} == expected
    assert summary["traffic_files"] == len(expected) == 2 * 3 * 45 * 2
    assert not [p for p in root.rglob(".*") if p.is_file()], "temporary files left behind"


def test_lines_have_97_fields_and_92_slots_on_the_clock_change_day(small):
    root, _ = small
    for city in SMALL["cities"]:
        grid_ids = None
        for app in APPS.values():
            for stamp in ("20190330", CLOCK_CHANGE, "20190401", OUTAGE):
                text = traffic_path(root, city, app, stamp).read_text()
                assert text.endswith("\n") and "\r" not in text
                lines = text.split("\n")[:-1]
                counts = {len(line.split(" ")) for line in lines}
                assert counts == ({93} if stamp == CLOCK_CHANGE else {97}), (app, stamp, counts)
                ids = [int(line.split(" ", 1)[0]) for line in lines]
                assert ids == sorted(ids) and len(set(ids)) == len(ids)
                grid_ids = ids if grid_ids is None else grid_ids
                assert ids == grid_ids  # every file lists the same tiles


def test_values_are_integers_or_sixteenths_written_plainly(small):
    root, _ = small
    integer = re.compile(r"^(0|[1-9][0-9]*)$")
    decimal = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")
    seen_decimal = False
    for city in SMALL["cities"]:
        for stamp in ("20190330", CLOCK_CHANGE, "20190402"):
            for app in APPS.values():
                for line in traffic_path(root, city, app, stamp).read_text().splitlines():
                    fields = line.split(" ")
                    assert integer.match(fields[0])
                    for field in fields[1:]:
                        if field in ("", "nan"):
                            continue
                        if app == "YouTube":
                            assert decimal.match(field), field
                            assert (float(field) * 16).is_integer(), field
                            seen_decimal |= "." in field
                        else:
                            assert integer.match(field), (app, field)
    assert seen_decimal


def test_missing_values_are_empty_fields_or_nan_at_the_requested_rate(small):
    root, _ = small
    empty = nan = total = 0
    for path in (root / "netmob").rglob("*_DL.txt"):
        for line in path.read_text().splitlines():
            fields = line.split(" ")[1:]
            total += len(fields)
            empty += fields.count("")
            nan += fields.count("nan")
    assert empty > 0 and nan > 0
    assert (empty + nan) / total == pytest.approx(2e-3, rel=0.25)
    # pandas reads both as NaN
    path = next(p for p in (root / "netmob").rglob("*_DL.txt") if " nan" in p.read_text())
    assert read_traffic(path).iloc[:, 1:].isna().to_numpy().sum() == sum(
        line.split(" ")[1:].count("") + line.split(" ")[1:].count("nan") for line in path.read_text().splitlines()
    )


def test_the_outage_zeroes_every_tile_of_every_app_for_a_few_consecutive_hours(small):
    root, _ = small
    zero_slots = None
    for city in SMALL["cities"]:
        for app in APPS.values():
            for direction in SMALL["directions"]:
                table = read_traffic(traffic_path(root, city, app, OUTAGE, direction)).fillna(0)
                zero = [name for name in table.columns[1:] if (table[name] == 0).all()]
                if app != "Tor":  # Tor is sparse: other all-zero slots may occur
                    zero_slots = zero if zero_slots is None else zero_slots
                    assert zero == zero_slots
                assert set(zero_slots) <= set(zero)
    minutes = [int(n[:2]) * 60 + int(n[3:]) for n in zero_slots]
    assert 8 <= len(minutes) <= 24 and minutes == list(range(minutes[0], minutes[-1] + 15, 15))
    # no such slot on an ordinary day
    table = read_traffic(traffic_path(root, "Nice", "Web_Adult", "20190511")).fillna(0)
    assert not (table.iloc[:, 1:] == 0).all().any()


def test_slots_follow_the_wall_clock_on_the_clock_change_day(small):
    """Read with the 92 real slot times, YouTube peaks in the evening and bottoms out at night."""
    root, _ = small
    for city in SMALL["cities"]:
        table = read_traffic(traffic_path(root, city, "YouTube", CLOCK_CHANGE)).fillna(0)
        hourly = table.iloc[:, 1:].sum().groupby(lambda name: int(name[:2])).sum()
        assert list(hourly.index) == [h for h in range(24) if h != 2]
        assert hourly.idxmax() in range(19, 23) and hourly.idxmin() in range(3, 7)


def test_tor_is_mostly_zero_per_tile_but_not_per_commune_and_hour(small):
    root, _ = small
    for city in SMALL["cities"]:
        communes = tile_map(root, city)
        tile_zero, commune_hours = [], []
        for stamp in ("20190402", "20190403", "20190404"):
            table = read_traffic(traffic_path(root, city, "Tor", stamp)).fillna(0)
            tile_zero.append((table.iloc[:, 1:] == 0).to_numpy().mean())
            per_commune = table.set_index("tile_id").iloc[:, :].groupby(communes).sum()
            commune_hours.append(per_commune.T.groupby(lambda name: name[:2]).sum().to_numpy().ravel())
        assert np.mean(tile_zero) > 0.8
        assert (np.concatenate(commune_hours) > 0).mean() > 0.95


# --- tile grids ----------------------------------------------------------------------------

def test_real_grid_dimensions():
    assert synthetic.grid_shape("Paris", 1.0) == (409, 346)
    assert synthetic.grid_shape("Lyon", 1.0) == (426, 287)
    assert synthetic.grid_shape("Nancy", 1.0) == (151, 165)
    assert synthetic.grid_shape("Lyon", 0.1) == (43, 29)
    assert len(synthetic.CITY_GRIDS) == 20
    assert min(synthetic.grid_shape("Nancy", 0.001)) >= 4
    with pytest.raises(ValueError, match="Atlantis"):
        synthetic.grid_shape("Atlantis", 1.0)


@pytest.mark.parametrize("city, lon, lat", [("Nice", 7.26, 43.70), ("Nancy", 6.18, 48.69)])
def test_grid_is_100m_tiles_row_major_in_lambert_ii(small, city, lon, lat):
    import geopandas as gpd
    import shapely

    root, _ = small
    grid = gpd.read_file(root / "grids" / f"{city}.geojson")
    assert grid.crs.to_epsg() == 4326
    assert pd.api.types.is_integer_dtype(grid["tile_id"])
    rows, cols = synthetic.grid_shape(city, SMALL["grid_scale"])
    assert grid["tile_id"].is_unique and grid["tile_id"].min() >= 0 and grid["tile_id"].max() < rows * cols
    assert 0.3 * rows * cols < len(grid) < rows * cols  # an area inside the rectangle, not all of it
    lambert = grid.to_crs("EPSG:27572")
    coords = shapely.get_coordinates(lambert.geometry.exterior)
    edges = np.hypot(*np.diff(coords.reshape(len(grid), 5, 2), axis=1).transpose(2, 0, 1))
    assert np.allclose(edges, 100.0, atol=1e-6)
    assert np.allclose(lambert.area, 10_000.0, atol=1e-3)
    row, col = np.divmod(grid["tile_id"].to_numpy(), cols)
    centre = lambert.centroid
    west = centre.x.to_numpy() - (col + 0.5) * 100  # the same origin for every tile: row-major,
    north = centre.y.to_numpy() + (row + 0.5) * 100  # row 0 north, col 0 west
    assert np.ptp(west) < 1e-6 and np.ptp(north) < 1e-6
    middle = grid.union_all().centroid
    assert abs(middle.x - lon) < 0.05 and abs(middle.y - lat) < 0.05


# --- communes ------------------------------------------------------------------------------

def test_communes_layer_columns_codes_and_populations(small):
    import geopandas as gpd

    root, _ = small
    communes = gpd.read_file(root / "communes.gpkg")
    assert communes.crs.to_epsg() == 2154
    assert {"INSEE_COM", "INSEE_DEP", "POPULATION"} <= set(communes.columns)
    codes = communes["INSEE_COM"].astype(str)
    assert codes.str.fullmatch(r"\d{5}").all() and codes.is_unique
    assert (codes.str[:2] == communes["INSEE_DEP"]).all()
    assert set(communes["INSEE_DEP"]) == {"06", "54"}
    assert codes.str.startswith("0").any()
    assert set(communes.geom_type) <= {"Polygon", "MultiPolygon"} and communes.is_valid.all()
    # no overlaps: the areas add up to the area of their union
    assert communes.area.sum() == pytest.approx(communes.union_all().area, rel=1e-9)


def test_populations_are_varied_in_the_default_sized_set(default_set):
    import geopandas as gpd

    root, _ = default_set
    population = gpd.read_file(root / "communes.gpkg")["POPULATION"]
    assert population.min() < 1000 and population.max() > 50_000
    assert (population < 1000).sum() >= 3


def test_every_commune_has_tiles_and_the_tiles_outside_carry_little_traffic(small):
    import geopandas as gpd

    root, _ = small
    communes = gpd.read_file(root / "communes.gpkg")
    mapped = set()
    for city in SMALL["cities"]:
        communes_of_tiles = tile_map(root, city)
        mapped |= set(communes_of_tiles)
        for app in APPS.values():
            inside = outside = 0.0
            for stamp in ("20190401", "20190402", "20190406"):
                table = read_traffic(traffic_path(root, city, app, stamp)).fillna(0)
                traffic = table.iloc[:, 1:].sum(axis=1)
                in_map = table["tile_id"].isin(communes_of_tiles.index)
                assert (~in_map).sum() >= 1, f"{city}: every tile is in a commune"
                inside += traffic[in_map].sum()
                outside += traffic[~in_map].sum()
            assert outside / (inside + outside) < 0.03, (city, app)
    assert mapped == set(communes["INSEE_COM"])


# --- crime and truth -----------------------------------------------------------------------

def read_crime(path):
    """The seed notebook's call."""
    return pd.read_csv(path, delimiter=";", decimal=",",
                       dtype={"CODGEO_2023": str, "tauxpourmille": float, "complementinfotaux": float})


def test_crime_csv_has_the_data_gouv_layout(small):
    import geopandas as gpd

    root, _ = small
    raw = (root / "crime.csv").read_bytes().decode("utf-8")
    assert raw.splitlines()[0] == CRIME_HEADER
    assert re.search(r";\d+,\d+;", raw)  # decimal comma
    crime = read_crime(root / "crime.csv")
    assert {"Violences sexuelles", "Cambriolages de logement", "Vols de véhicules"} <= set(crime["classe"])
    layer = set(gpd.read_file(root / "communes.gpkg")["INSEE_COM"])
    codes = set(crime["CODGEO_2023"])
    assert layer < codes and len(codes - layer) >= 2
    assert any(code.startswith("0") for code in codes)
    years = crime.groupby(["CODGEO_2023", "classe"])["annee"].apply(sorted)
    assert all(value == list(range(16, 23)) for value in years)
    diff = crime["valeur.publiée"] == "diff"
    assert set(crime["valeur.publiée"]) == {"diff", "ndiff"}
    assert crime.loc[diff, ["faits", "tauxpourmille"]].notna().all().all()
    assert crime.loc[diff, ["complementinfoval", "complementinfotaux"]].isna().all().all()
    assert crime.loc[~diff, ["faits", "tauxpourmille"]].isna().all().all()
    assert crime.loc[~diff, ["complementinfoval", "complementinfotaux"]].notna().all().all()
    per_person = diff & (crime["classe"] != "Cambriolages de logement")  # burglaries: per 1,000 dwellings
    rate = crime.loc[per_person, "faits"] / crime.loc[per_person, "POP"] * 1000
    assert np.allclose(crime.loc[per_person, "tauxpourmille"], rate, rtol=1e-12)
    burglary = diff & (crime["classe"] == "Cambriolages de logement")
    rate = crime.loc[burglary, "faits"] / crime.loc[burglary, "LOG"] * 1000
    assert np.allclose(crime.loc[burglary, "tauxpourmille"], rate, rtol=1e-12)
    sv = crime[crime["classe"] == "Violences sexuelles"]
    assert (sv["valeur.publiée"] == "diff").mean() > 0.3


def test_truth_has_one_row_per_commune(small):
    import geopandas as gpd

    root, _ = small
    truth = pd.read_csv(root / "truth.csv", dtype={"code_com": str, "code_dep": str})
    assert list(truth.columns) == ["code_com", "code_dep", "cities", "pop", "coupling", "consumption_per_1000", "sv_rate"]
    layer = gpd.read_file(root / "communes.gpkg")
    merged = truth.merge(layer, left_on="code_com", right_on="INSEE_COM", validate="one_to_one")
    assert len(merged) == len(truth) == len(layer)
    assert (merged["pop"] == merged["POPULATION"]).all()
    assert truth["coupling"].between(-1, 1).all() and (truth["sv_rate"] > 0).all()


# --- determinism and the API -----------------------------------------------------------------

def digests(root):
    files = sorted(p for p in Path(root).rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_same_seed_same_bytes_and_cities_independent(tmp_path):
    tiny = {"start": "2019-03-30", "end": "2019-04-01", "directions": ["DL"]}
    first = run(tmp_path / "a", **tiny)
    run(tmp_path / "b", **tiny)
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert first["files"] == len(digests(tmp_path / "a"))
    run(tmp_path / "c", **tiny, seed=12)
    changed = digests(tmp_path / "c")
    assert all(changed[name] != digest for name, digest in digests(tmp_path / "a").items() if name.startswith("netmob"))
    # a city's data do not depend on the other cities generated with it
    run(tmp_path / "d", **{**tiny, "cities": ["Nancy"]})
    alone = digests(tmp_path / "d")
    together = digests(tmp_path / "a")
    nancy = [name for name in alone if "Nancy" in name]
    assert nancy and all(alone[name] == together[name] for name in nancy)


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="Atlantis"):
        run(tmp_path, cities=["Atlantis"])
    with pytest.raises(ValueError, match="before start"):
        run(tmp_path, start="2019-04-02", end="2019-04-01")
    with pytest.raises(ValueError, match="roles"):
        run(tmp_path, apps={"porn": "Web_Adult", "tor": "Tor"})
    with pytest.raises(ValueError, match="XL"):
        run(tmp_path, directions=["XL"])


def test_render_traffic_matches_plain_python_formatting():
    rng = np.random.default_rng(5)
    for sixteenths in (False, True):
        for trial in range(20):
            n_rows, n_slots = int(rng.integers(1, 40)), int(rng.integers(1, 10))
            values = rng.integers(0, 10 ** int(rng.integers(1, 12)), (n_rows, n_slots)) * (rng.random((n_rows, n_slots)) < 0.7)
            tile_ids = rng.integers(0, 10 ** int(rng.integers(1, 7)), n_rows)
            missing = None
            if trial % 2:
                flat = rng.choice(n_rows * n_slots, int(rng.integers(0, n_rows * n_slots)), replace=False)
                missing = (flat // n_slots, flat % n_slots, rng.random(len(flat)) < 0.5)
            marks = {} if missing is None else {(r, c): "nan" if m else "" for r, c, m in zip(*missing)}
            expected = []
            for r in range(n_rows):
                fields = [str(tile_ids[r])]
                for c in range(n_slots):
                    value = int(values[r, c])
                    if (r, c) in marks:
                        fields.append(marks[(r, c)])
                    elif sixteenths and value % 16:
                        fields.append(repr(value / 16))
                    else:
                        fields.append(str(value // 16 if sixteenths else value))
                expected.append(" ".join(fields) + "\n")
            chunks = synthetic.render_traffic(tile_ids, values, sixteenths, missing, chunk_rows=7)
            assert b"".join(chunk.tobytes() for chunk in chunks).decode() == "".join(expected)


def test_entry_script_takes_the_snakemake_params(tmp_path):
    files = paths(tmp_path)
    params = {**{k: v for k, v in SMALL.items()}, "netmob_dir": files["netmob_dir"], "tile_grid": files["tile_grid"],
              "start": "2019-04-01", "end": "2019-04-01", "directions": ["DL"],
              "crime_publication": {"min_count": 5, "window_years": 3, "zeros_published": False}}
    log = tmp_path / "logs" / "synthetic.log"
    log.parent.mkdir()
    fake = SimpleNamespace(
        params=SimpleNamespace(**params), log=[str(log)], rule="synthetic_data",
        output=SimpleNamespace(communes=files["communes"], crime_csv=files["crime_csv"], truth=files["truth_csv"]),
    )
    stderr = sys.stderr
    try:
        runpy.run_path(str(REPO / "scripts" / "synthetic_data.py"), init_globals={"snakemake": fake})
    finally:
        if sys.stderr is not stderr:
            sys.stderr.close()
        sys.stderr = stderr
    for name in ("communes", "crime_csv", "truth_csv"):
        assert Path(files[name]).exists()
    assert traffic_path(tmp_path, "Nancy", "Tor", "20190401").exists()
    assert "synthetic data:" in log.read_text()


def test_cli_help_and_run(tmp_path):
    command = [sys.executable, "-m", "netmob_cpc.synthetic"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "scripts")}
    shown = subprocess.run([*command, "--help"], capture_output=True, text=True, check=True, env=env)
    assert "--grid-scale" in shown.stdout and "--out" in shown.stdout
    subprocess.run(
        [*command, "--cities", "Tours", "--start", "2019-04-01", "--end", "2019-04-01",
         "--grid-scale", "0.03", "--out", str(tmp_path)],
        check=True, capture_output=True, timeout=120, env=env,
    )
    for name in ("communes.gpkg", "crime.csv", "truth.csv", "grids/Tours.geojson"):
        assert (tmp_path / name).exists()
    assert traffic_path(tmp_path, "Tours", "YouTube", "20190401").exists()


# --- the planted truth, on the default data set ---------------------------------------------

@pytest.fixture(scope="module")
def default_set(tmp_path_factory):
    config = load_default_config()
    root = tmp_path_factory.mktemp("default")
    settings = dict(
        cities=config["cities"], apps=config["apps"], directions=config["directions"],
        start=str(config["period"]["start"]), end=str(config["period"]["end"]),
        seed=config["synthetic"]["seed"], grid_scale=config["synthetic"]["grid_scale"],
    )
    synthetic.generate(**paths(root), **settings)
    return root, {**settings, "outage_dates": [str(d).replace("-", "") for d in config["outage_dates"]]}


def commune_hours(root, settings):
    """Per commune, date and hour: Web_Adult, Tor, YouTube summed over the commune's tiles and
    the hour's slots (92-slot day with its real times; the outage days' zero-porn slots
    dropped, as the workflow does)."""
    frames = []
    for city in settings["cities"]:
        communes = tile_map(root, city)
        for stamp in stamps(settings["start"], settings["end"]):
            per_app = {}
            for app in APPS.values():
                table = read_traffic(traffic_path(root, city, app, stamp)).set_index("tile_id")
                per_app[app] = table.groupby(communes).sum().stack()  # NaN counts as 0, as in groupby().sum()
            slots = pd.DataFrame(per_app)
            slots.index.names = ["code_com", "time"]
            slots = slots.reset_index()
            if stamp in settings["outage_dates"]:
                slots = slots[slots["Web_Adult"] != 0]
            slots["date"] = stamp
            slots["hour"] = slots["time"].str[:2].astype(int)
            frames.append(slots.groupby(["code_com", "date", "hour"])[list(APPS.values())].sum().reset_index())
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def default_hours(default_set):
    return commune_hours(*default_set)


def test_planted_coupling_and_crime_link_are_recovered(default_set, default_hours):
    root, _ = default_set
    hours = default_hours.copy()
    logs = np.log(hours[["Web_Adult", "Tor"]].mask(hours[["Web_Adult", "Tor"]] == 0, 0.001))
    hours["log_wa"], hours["log_tor"] = logs["Web_Adult"], logs["Tor"]
    r = hours.groupby("code_com")[["log_wa", "log_tor"]].apply(lambda g: g["log_wa"].corr(g["log_tor"])).rename("r")
    truth = pd.read_csv(root / "truth.csv", dtype={"code_com": str, "code_dep": str})
    table = truth.merge(r, left_on="code_com", right_index=True, validate="one_to_one")
    assert len(table) == len(truth) >= 40
    assert (truth["coupling"] < 0).any() and (truth["coupling"] > 0).mean() > 0.7
    rho = spearmanr(table["r"], table["coupling"])[0]
    assert rho >= 0.9, rho

    totals = hours.groupby("code_com")["Tor"].sum().rename("tor_total")
    table = table.merge(totals, left_on="code_com", right_index=True)
    c = table["r"] * 0.011 * 105 / 253
    c[c < 0] = 0.00001
    table["cpc_per_1000"] = table["tor_total"] * c * 1000 / table["pop"]
    crime = read_crime(root / "crime.csv")
    sv = (crime[(crime["classe"] == "Violences sexuelles") & crime["annee"].isin([17, 18, 19, 20, 21])]
          .groupby("CODGEO_2023")["tauxpourmille"].mean().rename("sv_com_17_21"))
    test = table.merge(sv, left_on="code_com", right_index=True).dropna(subset=["sv_com_17_21"])
    assert len(test) >= 25
    rho, p = spearmanr(np.log(test["cpc_per_1000"]), test["sv_com_17_21"])
    assert rho > 0 and p < 0.01, (rho, p, len(test))
    # the planted consumption is what the estimate tracks
    assert spearmanr(table["consumption_per_1000"], table["cpc_per_1000"])[0] > 0.9


def test_default_set_has_realistic_shapes_and_magnitudes(default_set, default_hours):
    root, settings = default_set
    hours = default_hours
    profile = hours.groupby("hour")[list(APPS.values())].sum()
    assert profile["YouTube"].idxmax() in range(19, 23)
    assert profile["Web_Adult"].idxmax() in (21, 22, 23, 0, 1)
    swing = profile.max() / profile.min()
    assert swing["Tor"] < swing["Web_Adult"]  # Tor flatter
    weekday = pd.to_datetime(hours["date"]).dt.day_of_week
    assert hours.loc[weekday >= 5, "YouTube"].mean() > hours.loc[weekday < 5, "YouTube"].mean()
    # per 1,000 inhabitants, scaled to the 77 days of NetMob23
    truth = pd.read_csv(root / "truth.csv", dtype={"code_com": str})
    n_days = hours["date"].nunique()
    totals = hours.groupby("code_com")[list(APPS.values())].sum()
    per_1000 = totals.div(truth.set_index("code_com")["pop"], axis=0) * 1000 * 77 / n_days
    for app, published in (("YouTube", 3.5e9), ("Web_Adult", 4e7), ("Tor", 1.4e6)):
        assert published / 3 < per_1000[app].median() < published * 3, app


def test_zero_share_gives_the_real_files_density_of_zeros(tmp_path):
    run(tmp_path, cities=["Nancy"], start="2019-04-01", end="2019-04-01", zero_share=0.9)
    fields = traffic_path(tmp_path, "Nancy", "YouTube", "20190401").read_text().split()
    lines = traffic_path(tmp_path, "Nancy", "YouTube", "20190401").read_text().splitlines()
    values = [field for line in lines for field in line.split(" ")[1:]]
    share = sum(value == "0" for value in values) / len(values)
    assert 0.88 <= share <= 0.93, share
    assert len(fields) == len(lines) * 97


def test_area_scale_shrinks_the_area_inside_the_real_grid(tmp_path):
    rng_full, rng_small = (synthetic._stream(1, "Lyon", synthetic.STREAM_GRID) for _ in range(2))
    full = synthetic.city_area(426, 287, rng_full)
    small = synthetic.city_area(426, 287, rng_small, area_scale=0.65)
    assert small.shape == full.shape == (426, 287)
    assert not (small & ~full).any()  # the smaller area lies inside the default one
    assert small.sum() / full.sum() == pytest.approx(0.65**2, rel=0.05)  # area ~ radius squared
    with pytest.raises(ValueError, match="area_scale"):
        run(tmp_path, area_scale=0)


def test_publication_rule_parameters_reach_the_crime_file(tmp_path):
    """crime_publication: a lower threshold publishes more commune-years; the default gives
    the same bytes as the generator's own default; zeros_published publishes the zero years."""
    import pandas as pd

    counts = {}
    for name, kwargs in (("default", {}), ("given", {"publication_min_count": 5, "publication_window_years": 3,
                                                      "publication_zeros_published": False}),
                         ("low", {"publication_min_count": 1, "publication_window_years": 1}),
                         ("zeros", {"publication_zeros_published": True})):
        folder = tmp_path / name
        synthetic.generate(
            netmob_dir=str(folder / "netmob"), tile_grid=str(folder / "grids" / "{city}.geojson"),
            communes=str(folder / "communes.gpkg"), crime_csv=str(folder / "crime.csv"),
            truth_csv=str(folder / "truth.csv"), cities=["Nancy"], apps=APPS,
            directions=["DL"], start="2019-04-01", end="2019-04-01", seed=3, grid_scale=0.05, **kwargs,
        )
        crime = (folder / "crime.csv").read_bytes()
        counts[name] = (crime, crime.count(b";ndiff;"))
    assert counts["default"][0] == counts["given"][0]
    assert counts["low"][1] < counts["default"][1]
    assert counts["zeros"][1] < counts["default"][1]
    rows = {name: pd.read_csv(tmp_path / name / "crime.csv", sep=";", decimal=",", dtype={"CODGEO_2023": str})
            for name in ("default", "zeros")}
    zeros, default = rows["zeros"], rows["default"]
    published_now = zeros["valeur.publiée"] == "diff"
    # every published value of the default is published with zeros too; the extra ones are zeros
    assert (default["valeur.publiée"] == "diff").sum() + counts["default"][1] - counts["zeros"][1] == published_now.sum()
    extra = published_now & (default["valeur.publiée"] != "diff")
    assert extra.any() and (zeros.loc[extra, "faits"] == 0).all()
    assert not (zeros.loc[~published_now, "faits"].notna()).any()
