"""Commune time series, hourly series and heatmaps on hand-made days."""

import math

import numpy as np
import pandas as pd
import pytest

from netmob_cpc.heatmaps import heatmaps, ranked_communes, weekday_names
from netmob_cpc.qc import QC_FIELDS, QC_KEYS, qc_report, qc_rows, qc_table
from netmob_cpc.series import (
    QualityError, city_time_series, combine_cities, commune_totals, drop_outage_slots,
    series_columns, series_table,
)

APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}
MINUTES_96 = np.arange(0, 1440, 15, dtype=np.int16)
MINUTES_92 = np.concatenate([np.arange(0, 120, 15), np.arange(180, 1440, 15)]).astype(np.int16)


def day(traffic, tiles, minutes=MINUTES_96, **qc):
    record = {"traffic": np.asarray(traffic, float), "tiles": np.asarray(tiles, np.int32), "slot_minutes": minutes}
    record.update({field: qc.get(field, 0) for field in QC_FIELDS})
    return record


def test_city_time_series_rows_follow_the_porn_file_and_nan_for_absent_apps():
    n = len(MINUTES_96)
    porn = day(np.vstack([np.full(n, 2.0), np.full(n, 3.0)]), [4, 0])  # 2nd commune has no tile that day
    tor = day(np.vstack([np.zeros(n), np.ones(n)]), [0, 2])  # tor file lacks the 1st commune
    control = day(np.vstack([np.full(n, 7.0), np.ones(n)]), [4, 2])
    series = city_time_series(["06088", "06004"], ["06", "06"], [20190401], {"porn": [porn], "tor": [tor], "control": [control]})
    assert len(series) == n and set(series["code_com"]) == {"06088"}
    assert series["tor"].isna().all()
    assert (series["porn"] == 2.0).all() and (series["control"] == 7.0).all()
    assert list(series["minute"][:3]) == [0, 15, 30]


def test_city_time_series_clock_change_day_has_92_slots():
    traffic = np.arange(92, dtype=float)[None, :]
    d = day(traffic, [1], MINUTES_92)
    series = city_time_series(["54395"], ["54"], [20190331], {"porn": [d], "tor": [d], "control": [d]})
    assert len(series) == 92
    assert not ((series["minute"] >= 120) & (series["minute"] < 180)).any()
    assert series.loc[series["minute"] == 180, "porn"].item() == 8.0


def test_city_time_series_rejects_mismatched_slots():
    a, b = day(np.zeros((1, 96)), [1]), day(np.zeros((1, 92)), [1], MINUTES_92)
    with pytest.raises(QualityError, match="same slots"):
        city_time_series(["1"], ["0"], [20190331], {"porn": [a], "tor": [b], "control": [a]})


def test_series_table_equals_the_dataframe_and_keeps_codes_as_text():
    n = len(MINUTES_96)
    a = day(np.vstack([np.arange(n, dtype=float), np.ones(n)]), [1, 2])
    b = day(np.vstack([np.zeros(n), np.full(n, 5.0)]), [0, 3])
    days = {"porn": [a, b], "tor": [b, a], "control": [a, a]}
    frame = city_time_series(["06004", "06088"], ["06", "06"], [20190401, 20190402], days)
    table = series_table(series_columns(["06004", "06088"], ["06", "06"], [20190401, 20190402], days))
    # day 1: both communes; day 2: only 06088 (06004 has no tile in the porn file)
    assert table.num_rows == len(frame) == 3 * n
    assert table.column("code_com").to_pylist() == ["06004"] * n + ["06088"] * 2 * n
    assert str(table.schema.field("code_com").type) == "string"
    arrow = table.to_pandas()
    for column in ("date", "minute", "porn", "tor", "control"):
        assert np.array_equal(arrow[column].to_numpy(), frame[column].to_numpy(), equal_nan=True)
    assert arrow["tor"].iloc[2 * n:].eq(1.0).all()  # tor of day 2 is day a's 06088 row
    assert arrow["tor"].iloc[:n].isna().all()  # tor file of day 1 lacks 06004


def test_qc_table_has_the_one_list_of_fields():
    days = [dict(day(np.zeros((1, 96)), [1], unmapped_traffic=8.0, total_traffic=100.0,
                     parser="vectorised"), date=20190401)]
    rows = qc_rows("Nice", "DL", "Tor", days)
    table = qc_table(rows)
    assert list(table.columns) == [*QC_KEYS, *QC_FIELDS]
    assert table.loc[0, "parser"] == "vectorised" and table.loc[0, "city"] == "Nice"
    report = qc_report([table, table])
    assert len(report) == 2 and list(report.columns) == list(table.columns)


def slot_table(code_com, date, minutes, porn, tor, control=None):
    n = len(minutes)
    return pd.DataFrame(
        {
            "code_com": code_com, "code_dep": code_com[:2], "date": np.int32(date), "minute": np.asarray(minutes, np.int16),
            "porn": np.asarray(porn, float), "tor": np.asarray(tor, float),
            "control": np.ones(n) if control is None else np.asarray(control, float),
        }
    )


def test_duplicated_commune_keeps_first_city_outage_and_hourly_sums():
    nice = pd.concat([
        slot_table("06088", 20190512, [0, 15, 60, 75], porn=[0, 5, 0, 1], tor=[1, 2, 3, np.nan]),
        slot_table("06004", 20190401, [0, 15], porn=[0, 0], tor=[1, 1]),
    ])
    # the same commune in a second city's map: its rows of that day are dropped
    lyon = pd.concat([
        slot_table("06088", 20190512, [0, 15, 60, 75], porn=[9, 9, 9, 9], tor=[9, 9, 9, 9]),
        slot_table("06088", 20190513, [0], porn=[4], tor=[4]),
    ])
    hourly, dropped = combine_cities([("Nice", nice), ("Lyon", lyon)], outage_dates=["20190512"])
    assert dropped == {"Nice": 2, "Lyon": 0}
    rows = hourly.set_index(["code_com", "date", "hour"])
    # outage day: slot 00:00 (porn 0) dropped, 01:00 (porn 0) dropped, NaN skipped in the sum
    assert rows.loc[("06088", 20190512, 0), "tor"] == 2
    assert rows.loc[("06088", 20190512, 1), "tor"] == 0
    assert rows.loc[("06088", 20190512, 1), "cities"] == "Nice"
    # zero porn outside the outage dates is kept
    assert rows.loc[("06004", 20190401, 0), "porn"] == 0
    # the day Nice lacks comes from Lyon
    assert rows.loc[("06088", 20190513, 0), "cities"] == "Lyon"
    # the notebook would then give 06088 two rows (one per city); the totals name it instead
    from netmob_cpc.files import InputError

    with pytest.raises(InputError, match="commune 06088 takes its days from two cities' tile maps"):
        commune_totals(hourly, pd.DataFrame({"code_com": ["06088", "06004"], "pop": [100.0, 50.0]}))


def test_drop_outage_slots_counts():
    series = slot_table("1", 20190331, [0, 15, 30], porn=[0, np.nan, 1], tor=[1, 1, 1])
    kept, n = drop_outage_slots(series, ["20190331"])
    assert n == 1 and len(kept) == 2  # NaN porn is not zero: kept, as in the seed


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
    assert list(weekday_names(dates)) == ["Sunday", "Monday", "Sunday", "Sunday", "Saturday"]


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
    with pytest.raises(InputError, match=r"commune 06088 takes its days from two cities' tile maps \(Nice, Lyon\)"):
        commune_totals(hourly, pops)
    totals = commune_totals(hourly[hourly["code_com"] != "06088"], pops)
    assert sorted(totals["code_com"]) == ["06004", "69123"] and totals["porn"].sum() == 6.0
