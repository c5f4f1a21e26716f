"""Hourly commune series from ingested days, QC tables and heatmaps on hand-made days."""

import math

import numpy as np
import pandas as pd
import pytest

from netmob_cpc.rankstats import commune_correlations
from netmob_cpc.heatmaps import WEEKDAYS, heatmaps, ranked_communes, weekday_indexes
from netmob_cpc.qc import QC_FIELDS, QC_KEYS, qc_rows, qc_table
from netmob_cpc.series import (
    HOURLY_COLUMNS, ROLES, QualityError, combine_cities, commune_totals, split_batches,
)

APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}
MINUTES_96 = np.arange(0, 1440, 15, dtype=np.int16)
MINUTES_92 = np.concatenate([np.arange(0, 120, 15), np.arange(180, 1440, 15)]).astype(np.int16)


def day(traffic, tiles, minutes=MINUTES_96, **qc):
    record = {"traffic": np.asarray(traffic, float), "tiles": np.asarray(tiles, np.int32), "slot_minutes": minutes}
    record.update({field: qc.get(field, 0) for field in QC_FIELDS})
    return record


def index(codes, departments=None):
    return {"code_com": np.array(codes), "code_dep": np.array(departments or [code[:2] for code in codes])}


def hourly_frame(cities, outage_dates=()):
    hourly, totals, _, dropped = combine_cities(cities, outage_dates, 0.001)
    return hourly.to_pandas(), totals, dropped


def test_rows_follow_the_porn_file_and_absent_apps_add_nothing():
    n = len(MINUTES_96)
    porn = day(np.vstack([np.full(n, 2.0), np.full(n, 3.0)]), [4, 0])  # 2nd commune has no tile that day
    tor = day(np.vstack([np.zeros(n), np.ones(n)]), [0, 2])  # tor file lacks the 1st commune
    control = day(np.vstack([np.full(n, 7.0), np.ones(n)]), [4, 2])
    hourly, totals, dropped = hourly_frame(
        [("Nice", index(["06088", "06004"]), [20190401], {"porn": [porn], "tor": [tor], "control": [control]})]
    )
    assert list(hourly.columns) == list(HOURLY_COLUMNS) and dropped == {"Nice": 0}
    assert len(hourly) == 24 and set(hourly["code_com"]) == {"06088"}
    assert (hourly["tor"] == 0).all() and (hourly["porn"] == 8.0).all() and (hourly["control"] == 28.0).all()
    assert hourly["hour"].tolist() == list(range(24)) and str(hourly["hour"].dtype) == "int8"
    assert str(hourly["date"].dtype) == "int32" and hourly["code_dep"].eq("06").all()
    assert totals.to_dict("records") == [
        {"cities": "Nice", "code_com": "06088", "code_dep": "06", "porn": 192.0, "tor": 0.0, "control": 672.0}
    ]


def test_clock_change_day_has_no_hour_2():
    traffic = np.arange(92, dtype=float)[None, :]
    d = day(traffic, [1], MINUTES_92)
    hourly, _, _ = hourly_frame([("Nancy", index(["54395"]), [20190331], {"porn": [d], "tor": [d], "control": [d]})])
    assert len(hourly) == 23 and 2 not in hourly["hour"].tolist()
    # hour 3 is slots 8..11 (03:00..03:45)
    assert hourly.loc[hourly["hour"] == 3, "porn"].item() == 8 + 9 + 10 + 11


def test_mismatched_slots_are_refused():
    a, b = day(np.zeros((1, 96)), [1]), day(np.zeros((1, 92)), [1], MINUTES_92)
    with pytest.raises(QualityError, match="same slots"):
        combine_cities([("X", index(["01001"]), [20190331], {"porn": [a], "tor": [b], "control": [a]})], [], 0.001)


def test_qc_table_has_the_one_list_of_fields():
    days = [dict(day(np.zeros((1, 96)), [1], unmapped_traffic=8.0, total_traffic=100.0,
                     parser="pyarrow"), date=20190401)]
    rows = qc_rows("Nice", "DL", "Tor", days)
    table = qc_table(rows)
    assert list(table.columns) == [*QC_KEYS, *QC_FIELDS]
    assert table.loc[0, "parser"] == "pyarrow" and table.loc[0, "city"] == "Nice"


def test_split_batches_reads_city_then_role_then_batch():
    paths = [f"{city}-{role}-{batch}" for city in ("Nice", "Lyon") for role in ROLES for batch in (1, 2)]
    batches = split_batches(paths, ["Nice", "Lyon"], list(ROLES))
    assert batches["Lyon"]["tor"] == ["Lyon-tor-1", "Lyon-tor-2"]
    with pytest.raises(ValueError, match="5 batch files for 2 cities x 3 apps"):
        split_batches(paths[:5], ["Nice", "Lyon"], list(ROLES))


def slots(minutes, **values):
    """One commune-day of every role: {role: per-slot values}, other slots 0."""
    n = len(minutes)
    out = {}
    for role in ROLES:
        row = np.zeros(n)
        for slot, value in values.get(role, {}).items():
            row[slot] = value
        out[role] = row
    return out


def city_days(codes, dates, communes_by_day, minutes=MINUTES_96):
    """days_by_role of a city: communes_by_day[i] is {code: slots(...)} for dates[i]."""
    days = {role: [] for role in ROLES}
    for per_commune in communes_by_day:
        for role in ROLES:
            traffic = np.zeros((len(codes), len(minutes)))
            tiles = np.zeros(len(codes), np.int32)
            for code, values in per_commune.items():
                row = codes.index(code)
                traffic[row] = values[role]
                tiles[row] = 1 if role == "porn" or values[role].any() else 0
            days[role].append(day(traffic, tiles, minutes))
    return days


def test_duplicated_commune_keeps_first_city_outage_and_hourly_sums():
    nice_codes = ["06088", "06004"]
    nice = city_days(nice_codes, [20190512, 20190401], [
        {"06088": slots(MINUTES_96, porn={0: 0, 1: 5, 4: 0, 5: 1}, tor={0: 1, 1: 2, 4: 3})},
        {"06004": slots(MINUTES_96, porn={}, tor={0: 1, 1: 1})},
    ])
    lyon_codes = ["06088"]
    lyon = city_days(lyon_codes, [20190512, 20190513], [
        {"06088": slots(MINUTES_96, porn={0: 9, 1: 9, 4: 9, 5: 9}, tor={0: 9, 1: 9, 4: 9, 5: 9})},
        {"06088": slots(MINUTES_96, porn={0: 4}, tor={0: 4})},
    ])
    hourly, totals, dropped = hourly_frame(
        [("Nice", index(nice_codes), [20190512, 20190401], nice),
         ("Lyon", index(lyon_codes), [20190512, 20190513], lyon)],
        outage_dates=["20190512"],
    )
    # Nice 06088 on the outage day: 96 slots, 94 with porn 0 dropped; Lyon's copy of that
    # day is not looked at (Nice has it)
    assert dropped == {"Nice": 94, "Lyon": 0}
    rows = hourly.set_index(["code_com", "date", "hour"])
    # outage day: 00:00 (porn 0) dropped, 00:15 kept; 01:00 (porn 0) dropped, 01:15 kept
    assert rows.loc[("06088", 20190512, 0), "tor"] == 2
    assert rows.loc[("06088", 20190512, 1), "tor"] == 0
    assert rows.loc[("06088", 20190512, 1), "cities"] == "Nice"
    assert len(rows.loc[("06088", 20190512)]) == 2  # the other hours had no kept slot
    # zero porn outside the outage dates is kept: 24 hours of 06004
    assert rows.loc[("06004", 20190401, 0), "porn"] == 0 and len(rows.loc[("06004", 20190401)]) == 24
    # the day Nice lacks comes from Lyon
    assert rows.loc[("06088", 20190513, 0), "cities"] == "Lyon"
    # the notebook would then give 06088 two rows (one per city); the totals name it instead
    from netmob_cpc.files import InputError

    with pytest.raises(InputError, match="commune 06088 takes its days from two cities' tile maps"):
        commune_totals(totals, pd.DataFrame({"code_com": ["06088", "06004"], "pop": [100.0, 50.0]}))


def reference_hourly(cities, outage_dates):
    """The seed's steps, straight from its cells, in pandas: slot rows of the porn file's
    communes (other apps left-merged, NaN where absent), concatenated over cities,
    drop_duplicates on (code_com, date, time), the outage filter, groupby-sum per hour."""
    frames = []
    for city, idx, dates, days in cities:
        for i, date in enumerate(dates):
            minutes = days["porn"][i]["slot_minutes"]
            present = np.flatnonzero(days["porn"][i]["tiles"] > 0)
            for row in present:
                frame = pd.DataFrame({"cities": city, "code_com": str(idx["code_com"][row]),
                                      "code_dep": str(idx["code_dep"][row]), "date": date,
                                      "minute": np.asarray(minutes, int)})
                for role in ROLES:
                    values = days[role][i]["traffic"][row].astype(float)
                    frame[role] = values if days[role][i]["tiles"][row] > 0 else np.nan
                frames.append(frame)
    df = pd.concat(frames, ignore_index=True).drop_duplicates(["code_com", "date", "minute"])
    outage = df["date"].isin([int(d) for d in outage_dates]) & (df["porn"] == 0)
    df = df[~outage]
    df["hour"] = df["minute"] // 60
    return df.groupby(["cities", "code_com", "code_dep", "date", "hour"], sort=False)[list(ROLES)].sum().reset_index()


@pytest.mark.parametrize("threads", [1, 3])
def test_hourly_series_equals_the_seeds_steps_on_random_days(threads):
    rng = np.random.default_rng(20190331)
    dates = [20190330, 20190331, 20190401]
    minutes = {20190330: MINUTES_96, 20190331: MINUTES_92, 20190401: MINUTES_96}
    cities = []
    for city, codes in (("Nice", ["06088", "06004", "06029"]), ("Lyon", ["69123", "06088", "69266"]),
                        ("Paris", ["75056", "92012", "69266"])):
        days = {role: [] for role in ROLES}
        for date in dates:
            n = len(minutes[date])
            for role in ROLES:
                tiles = rng.integers(0, 3, len(codes)).astype(np.int32)
                traffic = np.where(rng.random((len(codes), n)) < 0.4, 0.0, rng.gamma(2.0, 50.0, (len(codes), n)))
                traffic[tiles == 0] = 0.0
                days[role].append(day(traffic, tiles, minutes[date]))
        cities.append((city, index(codes), dates, days))
    table, totals, correlations, dropped = combine_cities(cities, ["20190331"], 0.001, threads=threads)
    if threads > 1:  # cities finished by other threads, possibly out of order: the same tables
        one = combine_cities(cities, ["20190331"], 0.001, threads=1)
        assert table.equals(one[0]) and dropped == one[3]
        pd.testing.assert_frame_equal(totals, one[1])
        pd.testing.assert_frame_equal(correlations, one[2])
    hourly = table.to_pandas()
    expected = reference_hourly(cities, ["20190331"])
    keys = ["code_com", "date", "hour"]
    actual = hourly.sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)
    assert len(actual) == len(expected) > 100
    for column in ("cities", "code_com", "code_dep", "date", "hour"):
        assert actual[column].tolist() == expected[column].tolist(), column
    for role in ROLES:
        np.testing.assert_allclose(actual[role], expected[role], rtol=1e-13, atol=0)
    by_commune = expected.groupby(["cities", "code_com"])[list(ROLES)].sum()
    for record in totals.to_dict("records"):
        for role in ROLES:
            assert record[role] == pytest.approx(by_commune.loc[(record["cities"], record["code_com"]), role], rel=1e-13)
    assert sum(dropped.values()) > 0
    # the correlations, computed city by city, equal those of the whole hourly table for
    # every commune whose hours lie in one city; 06088 takes days from both cities here (a
    # run stops at the totals for it: test_duplicated_commune_keeps_first_city...)
    shared = hourly.groupby("code_com")["cities"].nunique().loc[lambda n: n > 1].index.tolist()
    assert "06088" in shared and len(correlations) == len(totals)
    assert correlations["code_com"].tolist().count("06088") == 2
    single = correlations[~correlations["code_com"].isin(shared)].reset_index(drop=True)
    pd.testing.assert_frame_equal(single, commune_correlations(hourly[~hourly["code_com"].isin(shared)], 0.001))


def test_heatmaps_by_hand():
    # 2019-04-01 is a Monday, 2019-04-06 a Saturday
    hourly = pd.DataFrame(
        {
            "code_com": ["A", "A", "B", "B", "C"], "date": [20190401, 20190406, 20190401, 20190401, 20190401],
            "hour": [3, 3, 3, 4, 3], "porn": [1.0, 2.0, 0.0, 4.0, 5.0], "tor": [10.0, 0.0, 30.0, 40.0, 50.0],
            "control": [1.0, 1.0, 1.0, 1.0, 1.0],
        }
    )
    estimates = pd.DataFrame({"code_com": ["A", "B", "C"], "c": [0.5, 0.1, np.nan], "cpc_per_1000": [2.0, 3.0, np.nan]})
    result = heatmaps(hourly, estimates, apps=APPS, zero_replacement=0.001, top_n=1)
    heat = result["heatmap"].set_index(["Day", "Hour"])
    assert list(result["heatmap"].columns) == ["Day", "Hour", "Tor_scaled", "Web_Adult", "YouTube"]
    # Monday 3h: A 10*0.5 + B 30*0.1 + C NaN (skipped); porn 1 + 0.001 + 5
    assert heat.loc[("Monday", 3), "Tor_scaled"] == pytest.approx(8.0)
    assert heat.loc[("Monday", 3), "Web_Adult"] == pytest.approx(6.001)
    # Saturday: Tor 0 replaced by 0.001 before scaling
    assert heat.loc[("Saturday", 3), "Tor_scaled"] == pytest.approx(0.0005)
    top = result["heatmap_10"]
    assert set(top["Hour"]) == {3, 4} and top["Web_Adult"].sum() == pytest.approx(4.001)
    assert ranked_communes(estimates) == ["B", "A", "C"]
    assert result["heatmap_rank1"]["code_com"].unique().tolist() == ["B"]
    assert result["heatmap_rank3"]["code_com"].unique().tolist() == ["C"]
    assert math.isclose(result["heatmap_rank3"]["Tor_scaled"].sum(), 0.0)


def test_weekday_names_of_integer_dates():
    # 2019-03-16 was a Saturday, the clock change 2019-03-31 and the outage 2019-05-12 Sundays
    dates = np.array([20190331, 20190401, 20190512, 20190331, 20190316], dtype=np.int32)
    assert list(WEEKDAYS[weekday_indexes(dates)]) == ["Sunday", "Monday", "Sunday", "Sunday", "Saturday"]


def test_a_commune_whose_days_come_from_two_cities_is_named():
    """A commune in two cities' maps keeps, day by day, the first city; if its days still
    come from both (the first city's files lack it on some days), the totals would give
    two rows for one commune: the run stops and names it instead."""
    from netmob_cpc.files import InputError

    hourly = pd.DataFrame({
        "cities": ["Nice", "Nice", "Lyon", "Lyon"], "code_com": ["06088", "06004", "06088", "69123"],
        "code_dep": ["06", "06", "06", "69"], "date": [20190401, 20190401, 20190402, 20190402],
        "hour": [0, 0, 0, 0], "porn": [1.0, 2.0, 3.0, 4.0], "tor": [1.0, 1.0, 1.0, 1.0], "control": [5.0, 5.0, 5.0, 5.0],
    })
    pops = pd.DataFrame({"code_com": ["06088", "06004", "69123"], "pop": [340000.0, 1000.0, 500000.0]})
    per_city = hourly.groupby(["cities", "code_com", "code_dep"], sort=False)[["porn", "tor", "control"]].sum()
    per_city = per_city.reset_index()
    with pytest.raises(InputError, match=r"commune 06088 takes its days from two cities' tile maps \(Nice, Lyon\)"):
        commune_totals(per_city, pops)
    totals = commune_totals(per_city[per_city["code_com"] != "06088"], pops)
    assert sorted(totals["code_com"]) == ["06004", "69123"] and totals["porn"].sum() == 6.0
