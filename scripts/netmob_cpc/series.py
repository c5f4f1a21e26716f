"""Commune series: the slot-level series of one city from its ingested batches, and the
hourly series of all cities with the per-commune totals.

Commune time series (one city): one row per (commune, day, slot) for every commune-day
present in the porn app's file (the seed's rows come from that file's groupby and a left
merge of the other apps), with the apps as columns named by role (`porn`, `tor`,
`control`); an app whose file had no tile of the commune that day gives NaN there, as the
seed's left merge does.

Hourly series (all cities), following the seed notebook's cells from the concatenated time
series to `df_hour`:
1. a commune present in several cities' tile maps keeps, for each day, the rows of the
   first city in config order (the seed's `drop_duplicates(['code_com', 'date', 'time'])`
   over cities concatenated in list order; a commune's rows of one day come from one file,
   so deciding per (commune, day) is the same);
2. on the outage dates, slots whose porn traffic is exactly 0 are dropped;
3. slots are summed per hour (NaN skipped, as groupby().sum() does; an hour with at least
   one kept slot gives a row). Every row keeps its `date`, so that whole days can be left
   out later.
Totals per commune (the seed's `cp_com` app columns) are the sums over the kept slots.
"""

import numpy as np
import pandas as pd

from netmob_cpc.files import InputError

ROLES = ("porn", "tor", "control")
SERIES_COLUMNS = ("code_com", "code_dep", "date", "minute", *ROLES)


class QualityError(InputError):
    """Ingested days that cannot be combined (their slots disagree)."""


# --- commune time series of one city ----------------------------------------------------
def load_tile_index(path):
    with np.load(path, allow_pickle=False) as index:
        return {key: index[key] for key in index.files}


def series_columns(code_com, code_dep, dates, days_by_role):
    """The columns of a city's slot-level table as arrays: `commune` (row of code_com per
    table row), `date`, `minute` and the roles; plus `code_com`, `code_dep` (the communes).

    code_com, code_dep: the communes of the city's tile index (row order of the arrays);
    dates: the days as int YYYYMMDD; days_by_role: {role: [ingested day dict, ...]} in the
    order of `dates` (dicts with `traffic`, `tiles`, `slot_minutes`)."""
    communes, date_parts, minute_parts = [], [], []
    values = {role: [] for role in ROLES}
    for i, date in enumerate(dates):
        porn = days_by_role["porn"][i]
        minutes = np.asarray(porn["slot_minutes"], dtype=np.int16)
        present = np.flatnonzero(porn["tiles"] > 0)
        n_slots = len(minutes)
        communes.append(np.repeat(present, n_slots))
        date_parts.append(np.full(len(present) * n_slots, date, dtype=np.int32))
        minute_parts.append(np.tile(minutes, len(present)))
        for role in ROLES:
            day = days_by_role[role][i]
            if not np.array_equal(day["slot_minutes"], minutes):
                raise QualityError(
                    f"day {date}: the {role} app's file has {len(day['slot_minutes'])} slots, "
                    f"the porn app's {n_slots}: the apps' files of one day must have the same "
                    "slots"
                )
            block = day["traffic"][present].astype(np.float64, copy=True)
            block[day["tiles"][present] == 0] = np.nan
            values[role].append(block.reshape(-1))

    def joined(parts, dtype):
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    return {
        "code_com": np.asarray(code_com).astype(str),
        "code_dep": np.asarray(code_dep).astype(str),
        "commune": joined(communes, np.int64),
        "date": joined(date_parts, np.int32),
        "minute": joined(minute_parts, np.int16),
        **{role: joined(values[role], np.float64) for role in ROLES},
    }


def series_table(columns):
    """The slot-level table (ARCHITECTURE.md, "Commune time series") as a pyarrow Table:
    the commune codes are taken from the (few) communes in C++, not built row by row."""
    import pyarrow as pa

    index = pa.array(columns["commune"], type=pa.int64())
    return pa.table({
        "code_com": pa.array(columns["code_com"].tolist(), type=pa.string()).take(index),
        "code_dep": pa.array(columns["code_dep"].tolist(), type=pa.string()).take(index),
        "date": pa.array(columns["date"], type=pa.int32()),
        "minute": pa.array(columns["minute"], type=pa.int16()),
        **{role: pa.array(columns[role], type=pa.float64()) for role in ROLES},
    })


def city_time_series(code_com, code_dep, dates, days_by_role):
    """The slot-level table of one city as a DataFrame (see series_columns)."""
    columns = series_columns(code_com, code_dep, dates, days_by_role)
    rows = columns["commune"]
    return pd.DataFrame({
        "code_com": columns["code_com"][rows],
        "code_dep": columns["code_dep"][rows],
        **{name: columns[name] for name in ("date", "minute", *ROLES)},
    })


def days_by_role(batches_by_role, dates):
    """{role: [ingested day dict, ...]} from {role: [batch path, ...]}, checked against the
    expected `dates` (int YYYYMMDD)."""
    from netmob_cpc.traffic_files import load_batch

    result = {}
    for role, paths in batches_by_role.items():
        days = [day for path in paths for day in load_batch(path)]
        found = [day["date"] for day in days]
        if found != list(dates):
            raise QualityError(
                f"the ingested batches of the {role} app ({', '.join(map(str, paths))}) hold "
                f"the days {found[:3]}...{found[-3:]}, not the period's {list(dates)[:3]}...: "
                "rerun the ingest (snakemake --forcerun ingest)"
            )
        result[role] = days
    return result


# --- hourly series of all cities --------------------------------------------------------
def keep_first_city(series, taken):
    """Drop the (commune, day) pairs already taken by an earlier city; update `taken`."""
    day_keys = series[["code_com", "date"]].drop_duplicates()
    keys = set(zip(day_keys["code_com"], day_keys["date"].astype(int)))
    already = keys & taken
    taken.update(keys - already)
    if not already:
        return series
    pairs = pd.MultiIndex.from_arrays([series["code_com"], series["date"].astype(int)])
    return series[~pairs.isin(already)]


def drop_outage_slots(series, outage_dates):
    """Drop slots of the outage dates whose porn traffic is exactly zero.

    Returns the kept rows and the number of dropped rows."""
    outage = series["date"].isin([int(d) for d in outage_dates]) & (series["porn"] == 0)
    return series[~outage], int(outage.sum())


def hourly_sums(series):
    """Sum slots per commune, day and wall-clock hour (NaN skipped)."""
    hour = (series["minute"] // 60).astype(np.int8).rename("hour")
    return (
        series.groupby(["code_com", "code_dep", "date", hour], sort=True)[list(ROLES)]
        .sum()
        .reset_index()
    )


def combine_cities(city_series, outage_dates):
    """Hourly rows of all cities, in config order of `city_series` [(city, slot table)].

    Returns (hourly table with a `cities` column, {city: dropped outage slots})."""
    taken = set()
    hourly, dropped = [], {}
    for city, series in city_series:
        series = keep_first_city(series, taken)
        series, dropped[city] = drop_outage_slots(series, outage_dates)
        city_hourly = hourly_sums(series)
        city_hourly.insert(0, "cities", city)
        hourly.append(city_hourly)
    table = pd.concat(hourly, ignore_index=True)
    table["date"] = table["date"].astype(np.int32)
    return table, dropped


def commune_totals(hourly, populations):
    """Per commune: its city, department, population and the apps' totals."""
    totals = (
        hourly.groupby(["cities", "code_com", "code_dep"], sort=False)[list(ROLES)]
        .sum()
        .reset_index()
    )
    split = totals[totals["code_com"].duplicated(keep=False)]
    if len(split):
        code = split["code_com"].iloc[0]
        cities = ", ".join(split.loc[split["code_com"] == code, "cities"])
        raise InputError(
            f"commune {code} takes its days from two cities' tile maps ({cities}), and "
            f"{split['code_com'].nunique()} commune(s) in all: a commune lies in the first "
            "city's map, which then holds it every day, unless that city's files lack it on "
            "some days. Check the tile maps of these cities (a commune should lie in one "
            "city's grid, or in both with every day present)."
        )
    return totals.merge(populations, on="code_com", how="left", validate="many_to_one")


def populations(tile_indexes):
    """Population per commune, first city in config order (the seed's drop_duplicates)."""
    frames = [
        pd.DataFrame({"code_com": index["code_com"].astype(str), "pop": index["pop"]})
        for index in tile_indexes
    ]
    return pd.concat(frames, ignore_index=True).drop_duplicates("code_com")
