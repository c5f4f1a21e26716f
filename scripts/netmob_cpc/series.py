"""Hourly commune series of all cities, straight from the ingested batches, and the
per-commune totals.

Following the seed notebook's cells from its per-file extraction loop to `df_hour`:
- a commune-day exists where the porn app's file had a tile of the commune (the seed's rows
  come from that file's groupby and a left merge of the other apps); an app whose file had
  no tile of the commune that day contributes 0 (the seed's NaN, skipped by the sums);
1. a commune present in several cities' tile maps keeps, for each day, the slots of the
   first city in config order (the seed's `drop_duplicates(['code_com', 'date', 'time'])`
   over cities concatenated in list order; a commune's rows of one day come from one file,
   so deciding per (commune, day) is the same);
2. on the outage dates, slots whose porn traffic is exactly 0 are dropped;
3. slots are summed per wall-clock hour (an hour with at least one kept slot gives a row).
   Every row keeps its `date`, so that whole days can be left out later.
Totals per commune (the seed's `cp_com` app columns) are the sums over the kept slots.

The arithmetic runs on NumPy arrays (commune x slot per day), one city at a time; the
hourly table is built with pyarrow, the small totals table with pandas.
"""

import numpy as np
import pandas as pd

from netmob_cpc.files import InputError

ROLES = ("porn", "tor", "control")
HOURLY_COLUMNS = ("cities", "code_com", "code_dep", "date", "hour", *ROLES)


class QualityError(InputError):
    """Ingested days that cannot be combined (their slots disagree)."""


def load_tile_index(path):
    with np.load(path, allow_pickle=False) as index:
        return {key: index[key] for key in index.files}


def split_batches(paths, cities, roles):
    """{city: {role: [batch path, ...]}} from the flat list of ingested batches in which a
    rule hands them over (city, then role, then batch: rules/common.smk,
    ingested_batches_of_all_cities)."""
    if not cities or not roles or len(paths) % (len(cities) * len(roles)):
        raise ValueError(f"{len(paths)} batch files for {len(cities)} cities x {len(roles)} apps")
    per_role = len(paths) // (len(cities) * len(roles))
    chunks = iter([paths[i:i + per_role] for i in range(0, len(paths), per_role)])
    return {city: {role: next(chunks) for role in roles} for city in cities}


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


def hour_groups(slot_minutes):
    """(first slot of each wall-clock hour, the hours): the slots of a day are in time
    order, so each hour is a run of consecutive slots (2019-03-31 has no hour 2)."""
    hours = np.asarray(slot_minutes, dtype=np.int64) // 60
    starts = np.flatnonzero(np.r_[True, hours[1:] != hours[:-1]])
    return starts, hours[starts]


def city_hourly(code_com, dates, days_by_role, outage_dates, taken):
    """The hourly rows of one city, as NumPy columns, and its dropped outage slots.

    code_com: the communes of the city's tile index (row order of the ingested arrays);
    dates: int YYYYMMDD of the days; days_by_role: {role: [ingested day dict, ...]} in the
    order of `dates`; outage_dates: YYYYMMDD of the outage days; taken: set of (code_com,
    date) already given by an earlier city, updated with this city's.

    Returns ({"commune": row of code_com, "date", "hour", porn, tor, control}, number of
    commune-slots dropped by the outage filter)."""
    codes = np.asarray(code_com).astype(str)
    outage = {int(date) for date in outage_dates}
    parts = {name: [] for name in ("commune", "date", "hour", *ROLES)}
    dropped = 0
    for i, date in enumerate(dates):
        porn = days_by_role["porn"][i]
        minutes = np.asarray(porn["slot_minutes"])
        for role in ROLES:
            day = days_by_role[role][i]
            if not np.array_equal(day["slot_minutes"], minutes):
                raise QualityError(
                    f"day {date}: the {role} app's file has {len(day['slot_minutes'])} slots, "
                    f"the porn app's {len(minutes)}: the apps' files of one day must have the "
                    "same slots"
                )
        present = np.flatnonzero(porn["tiles"] > 0)
        first = np.array([(codes[row], date) not in taken for row in present], dtype=bool)
        taken.update((codes[row], date) for row in present[first])
        present = present[first]
        if date in outage:
            kept = porn["traffic"][present] != 0
            dropped += int(kept.size - np.count_nonzero(kept))
        else:
            kept = np.ones((len(present), len(minutes)), dtype=bool)
        starts, hours = hour_groups(minutes)
        rows, columns = np.nonzero(np.add.reduceat(kept.astype(np.int32), starts, axis=1) > 0)
        parts["commune"].append(present[rows])
        parts["date"].append(np.full(len(rows), date, dtype=np.int32))
        parts["hour"].append(hours[columns].astype(np.int8))
        for role in ROLES:
            # a commune without a tile in this app's file has 0 in every slot (the seed's
            # NaN, skipped by its sums)
            values = np.where(kept, days_by_role[role][i]["traffic"][present], 0.0)
            parts[role].append(np.add.reduceat(values, starts, axis=1)[rows, columns])
    empty = {"commune": np.int64, "date": np.int32, "hour": np.int8}
    return {
        name: np.concatenate(chunks) if chunks else np.zeros(0, dtype=empty.get(name, np.float64))
        for name, chunks in parts.items()
    }, dropped


def _strings(values, rows):
    """A pyarrow string column of values[rows], built from the (few) distinct values."""
    import pyarrow as pa

    return pa.array([str(value) for value in values], type=pa.string()).take(
        pa.array(rows, type=pa.int64())
    )


def combine_cities(cities, outage_dates, zero_replacement, threads=1):
    """The hourly series, commune totals and commune correlations of all cities, in config
    order.

    cities: iterable of (city, tile index {code_com, code_dep, ...}, dates, days_by_role).
    Returns (hourly pyarrow Table with HOURLY_COLUMNS, sorted per city by commune, date
    and hour; totals DataFrame `cities, code_com, code_dep` + roles, one row per city and
    commune with hours; correlations DataFrame (netmob_cpc.rankstats.correlation_table)
    of the same rows, in code order; {city: dropped outage slots}). A commune's
    correlation is computed over its hours in each city: a commune with hours in two
    cities is an error of the totals (commune_totals), so its hours are all in one.

    threads > 1: while this thread takes the next city from `cities` (its ingested days
    are read then) and sums its hours (city_hourly: the first city of a commune-day takes
    it, so cities go one after another), threads - 1 others sort the cities already summed
    and compute their correlations (NumPy's sorts and array arithmetic release the
    interpreter lock). The same tables either way."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    taken, finished, dropped = set(), [], {}
    pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="series") if threads > 1 else None
    try:
        for city, index, dates, days in cities:
            codes = np.asarray(index["code_com"]).astype(str)
            departments = np.asarray(index["code_dep"]).astype(str)
            columns, dropped[city] = city_hourly(codes, dates, days, outage_dates, taken)
            if pool is None:
                finished.append(_city_tables(city, codes, departments, columns, zero_replacement))
            else:
                finished.append(pool.submit(_city_tables, city, codes, departments, columns, zero_replacement))
        if pool is not None:
            finished = [future.result() for future in finished]
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    tables, totals, correlations = (list(parts) for parts in zip(*finished)) if finished else ([], [], [])
    hourly = pa.concat_tables(tables) if tables else None
    correlations = pd.concat(correlations, ignore_index=True).sort_values("code_com", kind="stable", ignore_index=True)
    return hourly, pd.concat(totals, ignore_index=True), correlations, dropped


def _city_tables(city, codes, departments, columns, zero_replacement):
    """One city's hourly rows (city_hourly's columns) as (its hourly pyarrow Table sorted by
    commune, date and hour; its totals; its correlations)."""
    import pyarrow as pa

    from netmob_cpc.rankstats import correlation_table

    rank = np.empty(len(codes), dtype=np.int64)
    rank[np.argsort(codes, kind="stable")] = np.arange(len(codes))
    order = np.lexsort((columns["hour"], columns["date"], rank[columns["commune"]]))
    communes = columns["commune"][order]
    table = pa.table({
        "cities": _strings([city], np.zeros(len(order), dtype=np.int64)),
        "code_com": _strings(codes, communes),
        "code_dep": _strings(departments, communes),
        "date": pa.array(columns["date"][order], type=pa.int32()),
        "hour": pa.array(columns["hour"][order], type=pa.int8()),
        **{role: pa.array(columns[role][order], type=pa.float64()) for role in ROLES},
    })
    with_hours = np.flatnonzero(np.bincount(communes, minlength=len(codes)) > 0)
    with_hours = with_hours[np.argsort(codes[with_hours], kind="stable")]
    present, keys = np.unique(communes, return_inverse=True)
    correlations = correlation_table(
        codes[present], keys, columns["porn"][order], columns["tor"][order], zero_replacement
    )
    totals = pd.DataFrame({
        "cities": city, "code_com": codes[with_hours], "code_dep": departments[with_hours],
        **{role: np.bincount(communes, weights=columns[role][order], minlength=len(codes))[with_hours]
           for role in ROLES},
    })
    return table, totals, correlations


# --- totals ---------------------------------------------------------------------------
def commune_totals(city_totals, populations):
    """Per commune: its city, department, population and the apps' totals.

    city_totals: one row per city and commune with hours (combine_cities); a commune that
    takes its days from two cities is an error."""
    totals = city_totals.reset_index(drop=True)
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
