"""Heatmap tables (netmob_cpc.heatmaps) against sums worked out by hand, and against the
seed's own pandas steps (replace 0, map c, strftime('%A'), groupby(['Day', 'Hour']).sum())
written out independently on a random series."""

import datetime

import numpy as np
import pandas as pd
import pytest

from netmob_cpc.heatmaps import HOURLY_COLUMNS, WEEKDAYS, heatmaps, ranked_communes, weekday_indexes

APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}
COLUMNS = ["Day", "Hour", "Tor_scaled", "Web_Adult", "YouTube"]


def hourly_rows(rows):
    return pd.DataFrame(rows, columns=HOURLY_COLUMNS)


def test_weekdays_of_integer_dates():
    # 2019-03-16 Saturday, 2019-03-31 (clock change) Sunday, 2019-04-01 Monday, 2019-05-15 Wednesday
    dates = np.array([20190316, 20190331, 20190401, 20190515, 20190331], dtype=np.int32)
    assert weekday_indexes(dates).tolist() == [5, 6, 0, 2, 6]
    assert WEEKDAYS[weekday_indexes(dates)].tolist() == ["Saturday", "Sunday", "Monday", "Wednesday", "Sunday"]


def test_sums_by_hand():
    # 2019-04-01 Monday, 2019-04-08 Monday, 2019-04-06 Saturday; c: A 0.5, B 0.1, C none
    hourly = hourly_rows(
        [
            ("A", 20190401, 3, 1.0, 10.0, 100.0),
            ("A", 20190408, 3, 2.0, 0.0, 0.0),  # zero Tor and YouTube: 0.001 before scaling
            ("B", 20190401, 3, 4.0, 30.0, 300.0),
            ("B", 20190406, 23, 0.0, 40.0, np.nan),  # NaN YouTube stays out of the sum
            ("C", 20190401, 3, 8.0, 50.0, 500.0),  # no c: its scaled Tor is NaN, skipped
        ]
    )
    estimates = pd.DataFrame({"code_com": ["A", "B", "C"], "c": [0.5, 0.1, np.nan], "cpc_per_1000": [1.0, 3.0, 2.0]})
    result = heatmaps(hourly, estimates, apps=APPS, zero_replacement=0.001, top_n=2)
    assert sorted(result) == ["heatmap", "heatmap_10", "heatmap_rank1", "heatmap_rank2", "heatmap_rank3"]

    table = result["heatmap"]
    assert list(table.columns) == COLUMNS
    # the seed's groupby order: weekday names alphabetically (Monday < Saturday), then hour
    assert list(zip(table["Day"], table["Hour"])) == [("Monday", 3), ("Saturday", 23)]
    monday, saturday = table.iloc[0], table.iloc[1]
    assert monday["Tor_scaled"] == pytest.approx(10 * 0.5 + 0.001 * 0.5 + 30 * 0.1)
    assert monday["Web_Adult"] == pytest.approx(1 + 2 + 4 + 8)
    assert monday["YouTube"] == pytest.approx(100 + 0.001 + 300 + 500)
    assert saturday["Tor_scaled"] == pytest.approx(4.0)
    assert saturday["Web_Adult"] == pytest.approx(0.001)
    assert saturday["YouTube"] == 0.0  # only a NaN: the sum of nothing, as pandas gives it

    # ranking by cpc_per_1000: B (3), C (2), A (1); the top 2 are B and C
    top = result["heatmap_10"].set_index(["Day", "Hour"])
    assert top.loc[("Monday", 3), "Web_Adult"] == pytest.approx(4 + 8)
    assert top.loc[("Monday", 3), "Tor_scaled"] == pytest.approx(3.0)  # C's NaN skipped
    rank1, rank2, rank3 = (result[f"heatmap_rank{k}"] for k in (1, 2, 3))
    assert list(rank1.columns) == ["code_com", *COLUMNS]
    assert rank1["code_com"].tolist() == ["B", "B"]
    assert rank1["Tor_scaled"].tolist() == pytest.approx([3.0, 4.0])
    assert rank2["code_com"].tolist() == ["C"] and rank2["Tor_scaled"].tolist() == [0.0]
    assert rank3["code_com"].tolist() == ["A"]
    assert rank3["Tor_scaled"].tolist() == pytest.approx([5.0005])


def test_fewer_communes_than_ranks_gives_header_only_tables():
    hourly = hourly_rows([("A", 20190401, 0, 1.0, 1.0, 1.0)])
    estimates = pd.DataFrame({"code_com": ["A"], "c": [0.2], "cpc_per_1000": [1.0]})
    result = heatmaps(hourly, estimates, apps=APPS, zero_replacement=0.001, top_n=10)
    for rank in (2, 3):
        table = result[f"heatmap_rank{rank}"]
        assert table.empty and list(table.columns) == ["code_com", *COLUMNS]
    assert result["heatmap_10"]["Tor_scaled"].tolist() == pytest.approx([0.2])


def test_ranked_communes_nan_last_ties_by_code():
    estimates = pd.DataFrame({"code_com": ["06088", "54395", "2A004", "69123"], "cpc_per_1000": [1.0, np.nan, 5.0, 1.0]})
    assert ranked_communes(estimates) == ["2A004", "06088", "69123", "54395"]


def seed_heatmap(hourly, factors, zero_replacement, communes=None):
    """The seed's steps, in plain pandas on date strings."""
    table = hourly.copy()
    if communes is not None:
        table = table[table["code_com"].isin(communes)]
    for role in ("porn", "tor", "control"):
        table[role] = table[role].replace(0, zero_replacement)
    table["Day"] = pd.to_datetime(table["date"].astype(str), format="%Y%m%d").dt.strftime("%A")
    table["Tor_scaled"] = table["tor"] * table["code_com"].map(factors)
    heat = table.groupby(["Day", "hour"])[["Tor_scaled", "porn", "control"]].sum().reset_index()
    return heat.rename(columns={"hour": "Hour", "porn": "Web_Adult", "control": "YouTube"})


def test_matches_the_seed_steps_on_a_random_series():
    rng = np.random.default_rng(7)
    codes = [f"{n:05d}" for n in range(6001, 6021)]
    dates = [int((datetime.date(2019, 3, 25) + datetime.timedelta(days=d)).strftime("%Y%m%d")) for d in range(12)]
    rows = [(code, date, hour) for code in codes for date in dates for hour in range(24)]
    hourly = pd.DataFrame(rows, columns=["code_com", "date", "hour"])
    hourly = hourly.sample(frac=0.9, random_state=1).reset_index(drop=True)  # missing hours, any order
    hourly["date"] = hourly["date"].astype(np.int32)
    hourly["hour"] = hourly["hour"].astype(np.int8)
    for role in ("porn", "tor", "control"):
        values = rng.gamma(1.0, 50.0, len(hourly))
        values[rng.random(len(hourly)) < 0.2] = 0.0
        values[rng.random(len(hourly)) < 0.02] = np.nan
        hourly[role] = values
    c = rng.uniform(1e-5, 1e-3, len(codes))
    c[3] = np.nan
    cpc = rng.uniform(0, 10, len(codes))
    cpc[5] = np.nan
    estimates = pd.DataFrame({"code_com": codes, "c": c, "cpc_per_1000": cpc})
    result = heatmaps(hourly, estimates, apps=APPS, zero_replacement=0.001, top_n=4)

    factors = estimates.set_index("code_com")["c"]
    order = estimates.sort_values(["cpc_per_1000", "code_com"], ascending=[False, True], na_position="last")
    ranking = order["code_com"].tolist()
    expected = {
        "heatmap": seed_heatmap(hourly, factors, 0.001),
        "heatmap_10": seed_heatmap(hourly, factors, 0.001, ranking[:4]),
    }
    for rank in (1, 2, 3):
        expected[f"heatmap_rank{rank}"] = seed_heatmap(hourly, factors, 0.001, [ranking[rank - 1]])
    for name, table in expected.items():
        got = result[name].drop(columns="code_com", errors="ignore").reset_index(drop=True)
        assert len(got) == len(table)
        pd.testing.assert_frame_equal(got, table[COLUMNS], check_dtype=False, rtol=1e-12)
    assert len(result["heatmap"]) == 7 * 24
    assert len(result["heatmap_rank1"]) < 7 * 24  # a single commune misses some weekday-hours
    assert set(result["heatmap_rank2"]["code_com"]) == {ranking[1]}
