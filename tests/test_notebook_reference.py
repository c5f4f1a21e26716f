"""Checks of the notebook transcription (tests/notebook_reference.py) against numbers
worked out by hand from a tiny data set written here.

The data set: two cities (Nice first, although "Lyon" sorts first), six communes,
2019-03-30 .. 2019-04-02 (Saturday .. Tuesday; 2019-03-31 is the 92-slot clock-change
day and an outage day), every traffic value given by `traffic()` below, so that the
expected numbers are plain Python sums over that function.
"""

import math
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, spearmanr, t

import notebook_reference as nb

CITIES = ["Nice", "Lyon"]
APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}
DAYS = ["20190330", "20190331", "20190401", "20190402"]
DST_DAY = "20190331"
OUTAGE_DATES = ["2019-03-31", "2019-05-12"]
TOR_SHARE, PORN_SHARE, CSAM_SHARE = 0.011, 2267628 / 5437248, 105 / 253
SCALE = TOR_SHARE * CSAM_SHARE            # the notebook's (105/253)*0.011
GLOBAL = TOR_SHARE * PORN_SHARE * CSAM_SHARE
FLOOR = 0.00001

TILE_MAP = pd.DataFrame(
    [  # tile_id, cities, code_dep, code_com, pop
        (0, "Nice", "06", "06088", 1000),
        (1, "Nice", "06", "06088", 1000),
        (2, "Nice", "06", "06004", 500),
        (3, "Nice", "2A", "2A004", 300),   # also in Lyon's map
        # Nice tile 4: sea, in no commune
        (0, "Lyon", "2A", "2A004", 300),
        (1, "Lyon", "69", "69123", 2000),
        (2, "Lyon", "69", "69123", 2000),
        (3, "Lyon", "69", "69266", 800),
        (4, "Lyon", "69", "69381", 1200),
    ],
    columns=["tile_id", "cities", "code_dep", "code_com", "pop"],
)
TILES = [0, 1, 2, 3, 4]
POP = {"06088": 1000, "06004": 500, "2A004": 300, "69123": 2000, "69266": 800, "69381": 1200}
# Where each commune's traffic is taken from: 2A004 from Nice, the first city given.
KEPT = {"06088": ("Nice", [0, 1]), "06004": ("Nice", [2]), "2A004": ("Nice", [3]),
        "69123": ("Lyon", [1, 2]), "69266": ("Lyon", [3]), "69381": ("Lyon", [4])}
ABSENT = "absent"  # the file has no line for this tile


def minutes(day):
    """Wall-clock minutes of the day's slots; 02:00..02:45 do not exist on 2019-03-31."""
    return [m for m in range(0, 1440, 15) if not (day == DST_DAY and 120 <= m < 180)]


def traffic(city, role, tile, day, minute, direction="DL"):
    """The value written in the traffic file (None: empty field, nan: 'nan')."""
    slot, hour, d = minute // 15, minute // 60, DAYS.index(day)
    if role == "porn":
        value = 5 + (7 * tile + 3 * slot + 11 * d) % 17
        if city == "Nice" and tile in (0, 1) and day == DST_DAY and hour == 4:
            value = 0          # outage day, zero porn: the slots are dropped
        if city == "Nice" and tile in (0, 1) and day == "20190401" and hour == 5:
            value = 0          # zero porn on an ordinary day: kept
        if city == "Lyon" and tile == 3:
            value = 10 + hour  # 69266: porn up, Tor down -> negative factor
    elif role == "tor":
        # half the porn pattern plus noise: a positive correlation
        value = 1 + (7 * tile + 3 * slot + 11 * d) % 17 // 2 + (5 * tile + 7 * slot + 3 * d) % 5
        if city == "Nice" and tile == 2:
            value = 0          # 06004: no Tor at all -> undefined correlation
        if city == "Lyon" and tile == 3:
            value = 60 - hour
        if city == "Nice" and day == "20190330" and tile == 0 and minute == 0:
            return None        # empty field
        if city == "Nice" and day == "20190330" and tile == 1 and minute == 15:
            return math.nan    # written 'nan'
    else:
        if city == "Lyon" and tile == 3 and day == "20190401":
            return ABSENT      # 69266 missing from that YouTube file
        value = 100 + (13 * tile + slot) % 50
        if city == "Lyon" and tile == 4:
            value += 0.5       # decimals
    if city == "Lyon" and tile == 0:
        value *= 10            # 2A004 seen from Lyon: must lose against Nice
    if city == "Nice" and tile == 4:
        value += 1000          # sea tile, in no commune
    return value * 2 if direction == "UL" else value


def write_netmob(root, apps=APPS, directions=("DL", "UL")):
    for direction in directions:
        for city in CITIES:
            for role, app in apps.items():
                for day in DAYS:
                    lines = []
                    for tile in TILES:
                        values = [traffic(city, role, tile, day, m, direction)
                                  for m in minutes(day)]
                        if ABSENT in values:
                            continue
                        fields = ["" if v is None else "nan" if v != v else str(v)
                                  for v in values]
                        lines.append(" ".join([str(tile)] + fields))
                    folder = root / city / app / day
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / f"{city}_{app}_{day}_{direction}.txt").write_text(
                        "\n".join(lines) + "\n")


CRIME_HEADER = ("CODGEO_2023;annee;classe;unité.de.compte;valeur.publiée;faits;tauxpourmille;"
                "complementinfoval;complementinfotaux;POP;millPOP;LOG;millLOG")


def crime_line(code, year, rate, published=True, crime_class="Violences sexuelles"):
    if published:   # diff: commune value published
        return f"{code};{year};{crime_class};victime;diff;3;{rate};;;1000;{year};500;{year}"
    return f"{code};{year};{crime_class};victime;ndiff;;;0,5;{rate};1000;{year};500;{year}"


CRIME_LINES = [
    crime_line("06088", 16, "9,9"), crime_line("06088", 22, "9,9"),   # years not used
    crime_line("06088", 19, "7,7", crime_class="Cambriolages de logement"),
    *[crime_line("06088", y, r) for y, r in zip(range(17, 22), ["1,2", "2", "2,6", "3,1", "3,6"])],
    *[crime_line("06004", y, r) for y, r in zip(range(17, 22), ["0,5", "0,7", "0,9", "1,1", "1,8"])],
    crime_line("2A004", 17, "0,8", published=False), crime_line("2A004", 18, "1"),
    crime_line("2A004", 19, "0,9", published=False), crime_line("2A004", 20, "1,4"),
    crime_line("2A004", 21, "1,6"),
    *[crime_line("69123", y, r) for y, r in zip(range(17, 22), ["2,2", "2,4", "2", "1,9", "2,5"])],
    crime_line("69266", 17, "3"), crime_line("69266", 18, "3,2"),     # no 2019 row
    *[crime_line("69381", y, r) for y, r in zip(range(17, 22), ["0,3", "0,4", "0,2", "0,6", "0,5"])],
    crime_line("75056", 19, "4"),                                    # not in the map
]
# By hand from the lines above (means of tauxpourmille, or complementinfotaux if ndiff)
SV_COM_17_21 = {"06088": 12.5 / 5, "06004": 5.0 / 5, "2A004": 4.0 / 3, "69123": 11.0 / 5,
                "69381": 2.0 / 5}


def run(data, **changes):
    arguments = dict(
        netmob_dir=data / "netmob", tile_map=data / "tile_map.csv", crime_csv=data / "crime.csv",
        cities=CITIES, apps=APPS, directions=["DL", "UL"], start="2019-03-30",
        end="2019-04-02", outage_dates=OUTAGE_DATES, tor_to_darknet_share=TOR_SHARE,
        porn_in_darknet_share="2267628/5437248", csam_in_porn_share=CSAM_SHARE, top_n=3)
    arguments.update(changes)
    return nb.run_reference(**arguments)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("notebook_reference")
    write_netmob(root / "netmob")
    TILE_MAP.to_csv(root / "tile_map.csv", index=False)
    (root / "crime.csv").write_text("\n".join([CRIME_HEADER, *CRIME_LINES]) + "\n",
                                    encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def result(data):
    return run(data)


@pytest.fixture(scope="module")
def dl(result):
    return result["DL"]


# --- hand computations -----------------------------------------------------------

def number(value):
    return 0.0 if value is None or value == ABSENT or value != value else float(value)


def commune_slot(code, role, day, minute, direction="DL"):
    city, tiles = KEPT[code]
    return sum(number(traffic(city, role, tile, day, minute, direction)) for tile in tiles)


def kept(code, day, minute):
    """The outage filter: zero porn on an outage day drops the slot."""
    return not (day == DST_DAY and commune_slot(code, "porn", day, minute) == 0)


def hand_total(code, role, direction="DL"):
    return sum(commune_slot(code, role, day, m, direction)
               for day in DAYS for m in minutes(day) if kept(code, day, m))


def hand_hourly(code, role):
    """{(day, hour): sum over the hour's kept slots} with 0 replaced by 0.001."""
    hours = {}
    for day in DAYS:
        for m in minutes(day):
            if kept(code, day, m):
                key = (day, m // 60)
                hours[key] = hours.get(key, 0.0) + commune_slot(code, role, day, m)
    return {key: (value if value != 0 else 0.001) for key, value in hours.items()}


def hand_logs(code):
    porn, tor = hand_hourly(code, "porn"), hand_hourly(code, "tor")
    keys = sorted(porn)
    return np.log([porn[k] for k in keys]), np.log([tor[k] for k in keys])


def hand_pearson(code):
    log_porn, log_tor = hand_logs(code)
    if np.ptp(log_porn) == 0 or np.ptp(log_tor) == 0:
        return math.nan
    return np.corrcoef(log_porn, log_tor)[0, 1]


def row(table, code):
    rows = table[table["code_com"] == code]
    assert len(rows) == 1
    return rows.iloc[0]


# --- reading the files -------------------------------------------------------------

def test_slot_names_follow_the_paris_clock():
    import datetime
    ordinary = nb.slot_names(datetime.date(2019, 3, 30))
    assert len(ordinary) == 96 and ordinary[8] == "02:00" and ordinary[-1] == "23:45"
    dst = nb.slot_names(datetime.date(2019, 3, 31))
    assert len(dst) == 92
    assert dst[7] == "01:45" and dst[8] == "03:00" and dst[-1] == "23:45"


def test_a_96_slot_file_on_the_clock_change_day_is_refused(data, tmp_path):
    shutil.copytree(data, tmp_path / "copy")
    path = tmp_path / "copy/netmob/Nice/Web_Adult/20190331/Nice_Web_Adult_20190331_DL.txt"
    path.write_text("0" + " 1" * 96 + "\n")
    with pytest.raises(ValueError, match=r"Nice_Web_Adult_20190331_DL\.txt.*97 fields.*93"):
        run(tmp_path / "copy", directions=["DL"])


# --- commune totals ------------------------------------------------------------------

def test_tor_total_of_a_commune(dl):
    cp = dl["cpc_com"]
    # 06088: Nice tiles 0 and 1, missing fields count 0, the outage slots are gone
    dropped = sum(commune_slot("06088", "tor", DST_DAY, m) for m in range(240, 300, 15))
    assert dropped > 0
    everything = sum(commune_slot("06088", "tor", d, m) for d in DAYS for m in minutes(d))
    assert row(cp, "06088")["Tor"] == pytest.approx(everything - dropped, rel=1e-12)
    assert row(cp, "06088")["Tor"] == pytest.approx(hand_total("06088", "tor"), rel=1e-12)
    # the clock-change day counts its 92 slots, not 96
    assert row(cp, "69381")["YouTube"] == pytest.approx(
        sum((100 + (13 * 4 + m // 15) % 50 + 0.5) for d in DAYS for m in minutes(d)))


def test_missing_file_line_and_sea_tile(dl):
    cp = dl["cpc_com"]
    # 69266 has no line in Lyon's YouTube file of 2019-04-01: that day adds nothing
    assert row(cp, "69266")["YouTube"] == pytest.approx(hand_total("69266", "control"))
    # the sea tile (Nice tile 4, +1000 per slot) is in no commune
    total_porn = sum(hand_total(code, "porn") for code in KEPT)
    assert cp["Web_Adult"].sum() == pytest.approx(total_porn, rel=1e-12)


def test_duplicated_commune_keeps_the_first_city_given(dl):
    cp = dl["cpc_com"]
    assert sorted(cp["code_com"]) == sorted(KEPT)
    shared = row(cp, "2A004")
    assert shared["cities"] == "Nice" and shared["code_dep"] == "2A"
    nice_tor = sum(number(traffic("Nice", "tor", 3, d, m)) for d in DAYS for m in minutes(d))
    assert shared["Tor"] == pytest.approx(nice_tor)           # Lyon's copy is 10x that


def test_cpc_com_columns_and_integer_data(dl):
    assert nb.CPC_COM_COLUMNS[-2:] == ["coverage", "c_floored"]
    assert dl["cpc_com"]["coverage"].isna().all()   # the tile map has no coverage column
    # (the porn files of Nice hold integers only: the 0.001 replacement must not fail)
    assert list(dl["cpc_com"].columns) == (
        ["cities", "code_com", "code_dep", "traffic_dir", "Web_Adult", "Tor", "YouTube"]
        + nb.CPC_COM_COLUMNS[4:])
    assert set(dl["cpc_com"]["traffic_dir"]) == {"DL"}


def test_app_columns_carry_the_given_app_names(tmp_path):
    apps = {"porn": "Web_Adult", "tor": "Tor", "control": "Netflix"}
    write_netmob(tmp_path / "netmob", apps=apps, directions=("DL",))
    TILE_MAP.to_csv(tmp_path / "tile_map.csv", index=False)
    (tmp_path / "crime.csv").write_text("\n".join([CRIME_HEADER, *CRIME_LINES]) + "\n",
                                        encoding="utf-8")
    out = run(tmp_path, apps=apps, directions=["DL"])["DL"]
    assert "Netflix" in out["cpc_com"] and "YouTube" not in out["cpc_com"]
    assert list(out["heatmap"].columns) == ["Day", "Hour", "Tor_scaled", "Web_Adult", "Netflix"]
    assert row(out["cpc_com"], "06088")["yt_per_1000"] == pytest.approx(
        hand_total("06088", "control") / 1000 * 1000)


def test_each_direction_on_its_own(result):
    dl, ul = result["DL"]["cpc_com"], result["UL"]["cpc_com"]
    assert set(ul["traffic_dir"]) == {"UL"}
    for code in KEPT:
        assert row(ul, code)["Tor"] == pytest.approx(2 * row(dl, code)["Tor"], rel=1e-12)
        assert row(ul, code)["Tor"] == pytest.approx(hand_total(code, "tor", "UL"), rel=1e-12)


# --- correction factor and estimates ------------------------------------------------------

def test_hourly_correlation_gives_c(dl):
    log_porn, log_tor = hand_logs("06088")
    # 4 days x 24 hours, minus 02:00 of the clock change, minus the outage hour 04:00
    assert len(log_porn) == 4 * 24 - 2
    # the zero-porn hour of 2019-04-01 05:00 is kept, as log(0.001)
    assert np.sum(log_porn == np.log(0.001)) == 1
    r = np.corrcoef(log_porn, log_tor)[0, 1]
    assert r > 0
    assert row(dl["cpc_com"], "06088")["c"] == pytest.approx(r * 0.011 * 105 / 253, rel=1e-9)


def test_negative_factor_is_floored_and_constant_series_gives_nan(dl):
    cp = dl["cpc_com"]
    assert hand_pearson("69266") < 0
    assert row(cp, "69266")["c"] == FLOOR and bool(row(cp, "69266")["c_floored"])
    assert not cp.loc[cp["code_com"] != "69266", "c_floored"].any()
    # 06004 has no Tor: its log Tor series is constant, r and c are undefined
    assert math.isnan(row(cp, "06004")["c"]) and math.isnan(row(cp, "06004")["cpc"])


def test_cpc_and_per_1000_columns(dl):
    cp = dl["cpc_com"]
    r = hand_pearson("69123")
    tor = hand_total("69123", "tor")
    line = row(cp, "69123")
    assert line["cpc"] == pytest.approx(tor * r * SCALE, rel=1e-9)
    assert line["cpc_per_1000"] == pytest.approx(tor * r * SCALE * 1000 / 2000, rel=1e-9)
    assert line["log_cpc"] == pytest.approx(math.log(tor * r * SCALE), rel=1e-9)
    # the notebook's log_cpc_per_1000 is log(cpc) * 1000 / pop, not log(cpc_per_1000)
    assert line["log_cpc_per_1000"] == pytest.approx(math.log(tor * r * SCALE) / 2, rel=1e-9)
    assert line["tor_per_1000"] == pytest.approx(tor / 2)
    assert line["log_wa_per_1000"] == pytest.approx(
        math.log(hand_total("69123", "porn")) / 2, rel=1e-12)
    assert line["pop"] == 2000
    assert line["Pornography_in_darknet_URL_share"] == pytest.approx(PORN_SHARE)


@pytest.mark.parametrize("method", ["pearson_log_squared", "pearson_log_centered",
                                    "spearman_log"])
def test_other_correction_methods(data, method):
    cp = run(data, directions=["DL"], correction_method=method)["DL"]["cpc_com"]
    r = {code: hand_pearson(code) for code in KEPT}
    mean_r = np.nanmean(list(r.values()))
    for code in ["06088", "69266"]:
        if method == "pearson_log_squared":
            # 69266: r < 0 is floored as in c1 (r^2 would be positive)
            expected = r[code] ** 2 * SCALE if r[code] >= 0 else -1
        elif method == "pearson_log_centered":
            expected = (r[code] - mean_r + 1) * GLOBAL         # 69266: -0.98 - 0.36 + 1 < 0
        else:
            expected = spearmanr(*hand_logs(code))[0] * SCALE
        if expected < 0:
            expected = FLOOR
        assert row(cp, code)["c"] == pytest.approx(expected, rel=1e-9)
    assert row(cp, "69266")["c"] == FLOOR and bool(row(cp, "69266")["c_floored"])
    assert not row(cp, "06088")["c_floored"]
    assert math.isnan(row(cp, "06004")["c"])


# --- crime ----------------------------------------------------------------------------

def test_crime_means(dl):
    cp = dl["cpc_com"]
    assert row(cp, "06088")[["sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21"]].tolist() == \
        pytest.approx([2.6, 2.5, 2.6, 2.5])
    shared = row(cp, "2A004")   # 17 and 19 not published: department estimates
    assert shared["sv_19"] == pytest.approx(0.9)
    assert shared["sv_17_21"] == pytest.approx((0.8 + 1 + 0.9 + 1.4 + 1.6) / 5)
    assert math.isnan(shared["sv_com_19"])
    assert shared["sv_com_17_21"] == pytest.approx((1 + 1.4 + 1.6) / 3)
    # no 2019 row: the notebook's inner merges drop the commune altogether
    assert row(cp, "69266")[["sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21"]].isna().all()
    for code, value in SV_COM_17_21.items():
        assert row(cp, code)["sv_com_17_21"] == pytest.approx(value)


# --- statistical tests ------------------------------------------------------------------

def test_spearman_table(dl):
    spearman = dl["spearman"].set_index(["x", "y"])
    tested = sorted(SV_COM_17_21)                               # 5 communes with a rate
    youtube = [hand_total(code, "control") / POP[code] * 1000 for code in tested]
    expected = spearmanr(np.log(youtube), [SV_COM_17_21[code] for code in tested])
    line = spearman.loc[("yt_per_1000", "sv_com_17_21")]
    assert line["n"] == 5
    assert line["rho"] == pytest.approx(expected[0]) and line["pvalue"] == pytest.approx(expected[1])
    # 06004 has no Tor: log(0) = -inf is left out
    with_tor = [code for code in tested if code != "06004"]
    tor = [hand_total(code, "tor") / POP[code] * 1000 for code in with_tor]
    expected = spearmanr(np.log(tor), [SV_COM_17_21[code] for code in with_tor])
    line = spearman.loc[("tor_per_1000", "sv_com_17_21")]
    assert line["n"] == 4
    assert line["rho"] == pytest.approx(expected[0]) and line["pvalue"] == pytest.approx(expected[1])
    # and 06004's cpc is NaN: left out of the pairs with cpc
    assert spearman.loc[("cpc_per_1000", "sv_com_17_21"), "n"] == 4
    assert spearman.loc[("yt_per_1000", "cpc_per_1000"), "n"] == 4
    assert list(dl["spearman"].columns) == ["x", "y", "rho", "pvalue", "n"]


def test_dependent_corr_test_by_hand():
    t_value, p_value = nb.dependent_corr_test(0.5, 0.3, 0.4, 103)
    assert t_value == pytest.approx(0.2 / math.sqrt(0.84 / 100))        # 2.1821789
    assert p_value == pytest.approx(2 * t.sf(0.2 / math.sqrt(0.0084), 101))


def test_steiger_by_hand():
    # z_ab = atanh(.5) = 0.5493061, z_ac = atanh(.3) = 0.3095196, rbar = 0.4,
    # psi = 0.4*(1-0.32) - 0.5*0.16*(1-0.32-0.16) = 0.2304, cbar = 0.2304/0.84^2 = 0.3265306,
    # Z = 0.2397865 * sqrt(100 / (2 - 0.6530612)) = 0.2397865 * 8.616404 = 2.066098
    z_value, p_value = nb.steiger_test(0.5, 0.3, 0.4, 103)
    assert z_value == pytest.approx(2.066098, abs=1e-6)
    assert p_value == pytest.approx(2 * norm.sf(2.066098), rel=1e-5)    # about 0.0388


def test_dependent_corr_table(dl):
    table = dl["dependent_corr"].set_index("comparison")
    assert list(dl["dependent_corr"].columns) == ["comparison", "r_ab", "r_ac", "r_bc", "n",
                                                  "t_value", "p_value", "steiger_z", "steiger_p",
                                                  "williams_t", "williams_p"]
    assert list(table.index) == ["CPC-YT", "CPC-WA", "CPC-Tor"]
    assert (table["n"] == 4).all()                  # complete cases: 06004 has no cpc
    spearman = dl["spearman"].set_index(["x", "y"])
    assert table.loc["CPC-YT", "r_ac"] == pytest.approx(
        spearman.loc[("cpc_per_1000", "sv_com_17_21"), "rho"])
    line = table.loc["CPC-Tor"]
    t_value = (line["r_ab"] - line["r_ac"]) / math.sqrt((1 - line["r_bc"] ** 2) / (4 - 3))
    assert line["t_value"] == pytest.approx(t_value)
    # Williams: (r_ab - r_ac) sqrt((n-1)(1+r_bc) / (2 (n-1)/(n-3) |R| + rbar^2 (1-r_bc)^3)), n = 4
    r_ab, r_ac, r_bc = line["r_ab"], line["r_ac"], line["r_bc"]
    det = 1 - r_ab**2 - r_ac**2 - r_bc**2 + 2 * r_ab * r_ac * r_bc
    williams = (r_ab - r_ac) * math.sqrt(3 * (1 + r_bc) / (6 * det + ((r_ab + r_ac) / 2) ** 2 * (1 - r_bc) ** 3))
    assert line["williams_t"] == pytest.approx(williams)
    assert line["williams_p"] == pytest.approx(2 * t.sf(abs(williams), 1))


def test_correction_methods_table(dl):
    methods = dl["correction_methods"].set_index("method")
    assert list(methods.index) == list(nb.METHODS)
    cpc = dl["spearman"].set_index(["x", "y"]).loc[("cpc_per_1000", "sv_com_17_21")]
    assert methods.loc["pearson_log", "rho"] == pytest.approx(cpc["rho"])
    assert methods.loc["pearson_log", "n"] == cpc["n"] == 4


def test_summary(dl):
    summary, cp = dl["summary"], dl["cpc_com"]
    assert summary["n_communes"] == 6 and summary["n_tested"] == 5
    assert summary["global_csam_share"] == pytest.approx(0.011 * 2267628 / 5437248 * 105 / 253)
    c = [row(cp, code)["c"] for code in KEPT if code != "06004"]
    assert summary["mean_c"] == pytest.approx(np.mean(c))
    assert summary["median_c"] == pytest.approx(np.median(c))
    cpc = sum(hand_total(code, "tor") * row(cp, code)["c"] for code in KEPT if code != "06004")
    tor = sum(hand_total(code, "tor") for code in KEPT)
    assert summary["cpc_share_of_tor"] == pytest.approx(cpc / tor, rel=1e-9)


# --- heatmaps ---------------------------------------------------------------------------

def heat(table, day, hour, column):
    rows = table[(table["Day"] == day) & (table["Hour"] == hour)]
    assert len(rows) == 1
    return rows.iloc[0][column]


def test_heatmap_clock_change_day_has_no_2_oclock(dl):
    heatmap = dl["heatmap"]
    assert set(heatmap["Day"]) == {"Saturday", "Sunday", "Monday", "Tuesday"}
    assert sorted(heatmap.loc[heatmap["Day"] == "Saturday", "Hour"]) == list(range(24))
    assert sorted(heatmap.loc[heatmap["Day"] == "Sunday", "Hour"]) == [0, 1] + list(range(3, 24))
    # 03:00 and 23:00 of the clock-change day hold their own slots (not shifted by an hour)
    for hour in (3, 23):
        porn = sum(commune_slot(code, "porn", DST_DAY, m)
                   for code in KEPT for m in range(60 * hour, 60 * hour + 60, 15))
        assert heat(heatmap, "Sunday", hour, "Web_Adult") == pytest.approx(porn)


def test_heatmap_outage_and_zero_replacement(dl):
    heatmap = dl["heatmap"]
    # Sunday 04:00: 06088's slots were dropped (zero porn on an outage day)
    youtube = sum(commune_slot(code, "control", DST_DAY, m)
                  for code in KEPT if code != "06088" for m in range(240, 300, 15))
    assert heat(heatmap, "Sunday", 4, "YouTube") == pytest.approx(youtube)
    # Monday 05:00: 06088's zero porn is kept (0.001 after the replacement), and 69266,
    # missing from that day's YouTube file, contributes 0.001 of YouTube
    porn = sum(commune_slot(code, "porn", "20190401", m)
               for code in KEPT for m in range(300, 360, 15))
    assert heat(heatmap, "Monday", 5, "Web_Adult") == pytest.approx(porn + 0.001, rel=1e-12)
    youtube = sum(commune_slot(code, "control", "20190401", m)
                  for code in KEPT for m in range(300, 360, 15))
    assert heat(heatmap, "Monday", 5, "YouTube") == pytest.approx(youtube + 0.001, rel=1e-12)


def test_heatmap_ranks_and_top_n(dl):
    cp = dl["cpc_com"]
    order = cp.dropna(subset=["cpc_per_1000"]).sort_values("cpc_per_1000", ascending=False)
    for k in (1, 2, 3):
        rank = dl[f"heatmap_rank{k}"]
        code = order["code_com"].iloc[k - 1]
        assert set(rank["code_com"]) == {code}
        # no zero-Tor hour in these communes: the hourly Tor_scaled adds up to cpc
        assert rank["Tor_scaled"].sum() == pytest.approx(row(cp, code)["cpc"], rel=1e-9)
    top = dl["heatmap_10"].set_index(["Day", "Hour"])["Tor_scaled"]
    ranks = sum(dl[f"heatmap_rank{k}"].set_index(["Day", "Hour"])["Tor_scaled"]
                for k in (1, 2, 3))
    pd.testing.assert_series_equal(top, ranks, check_names=False, rtol=1e-12)


def test_nan_cpc_ranks_last(data):
    out = run(data, directions=["DL"], top_n=5)["DL"]
    # five communes have a cpc; the sixth, 06004 (NaN), stays out of the top 5
    youtube_06004 = sum(hand_hourly("06004", "control").values())
    assert out["heatmap_10"]["YouTube"].sum() == pytest.approx(
        out["heatmap"]["YouTube"].sum() - youtube_06004, rel=1e-12)


def test_outage_dates_come_from_the_arguments(data):
    out = run(data, directions=["DL"], outage_dates=["2019-05-12"])["DL"]
    # 2019-03-31 is an ordinary day now: 06088 keeps its zero-porn slots ...
    everything = sum(commune_slot("06088", "tor", d, m) for d in DAYS for m in minutes(d))
    assert row(out["cpc_com"], "06088")["Tor"] == pytest.approx(everything, rel=1e-12)
    # ... and the clock change still gives no 02:00 rows (not zero rows)
    heatmap = out["heatmap"]
    assert sorted(heatmap.loc[heatmap["Day"] == "Sunday", "Hour"]) == [0, 1] + list(range(3, 24))


# --- population and coverage ------------------------------------------------------------

def test_missing_zero_or_negative_population_gives_no_rate(data, tmp_path):
    shutil.copytree(data, tmp_path / "copy")
    tile_map = TILE_MAP.copy()
    tile_map.loc[tile_map["code_com"] == "69381", "pop"] = 0
    tile_map.loc[tile_map["code_com"] == "06004", "pop"] = -5
    tile_map["coverage"] = [0.5, 0.5, 1.0, 0.2, 0.9, 1.0, 1.0, 0.7, 0.1]
    tile_map.to_csv(tmp_path / "copy" / "tile_map.csv", index=False)
    out = run(tmp_path / "copy", directions=["DL"])["DL"]
    cp = out["cpc_com"]
    for code in ("69381", "06004"):
        line = row(cp, code)
        assert line[["cpc_per_1000", "yt_per_1000", "tor_per_1000", "log_tor_per_1000"]].isna().all()
        assert line["pop"] in (0, -5)       # the population itself is kept as given
    assert out["summary"]["n_tested"] == 3  # 06088, 2A004, 69123
    # coverage per city and commune: 2A004 is taken from Nice (tile 3 of Nice: 0.2)
    assert row(cp, "2A004")["coverage"] == 0.2 and row(cp, "69266")["coverage"] == 0.7
