"""Hourly commune series of all cities, and per-commune totals.

Follows the seed notebook's cells from the concatenated time series to `df_hour`:
1. a commune present in several cities' tile maps keeps, for each day, the rows of the
   first city in config order (the seed's `drop_duplicates(['code_com', 'date', 'time'])`
   over cities concatenated in list order; a commune's rows of one day come from one file,
   so deciding per (commune, day) is the same);
2. on the outage dates, slots whose porn traffic is exactly 0 are dropped;
3. slots are summed per hour (NaN skipped, as groupby().sum() does; an hour with at least
   one kept slot gives a row).
Totals per commune (the seed's `cp_com` app columns) are the sums over the kept slots.
"""

import sys

import numpy as np
import pandas as pd

ROLES = ["porn", "tor", "control"]


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
        series.groupby(["code_com", "code_dep", "date", hour], sort=True)[ROLES]
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
    totals = hourly.groupby(["cities", "code_com", "code_dep"], sort=False)[ROLES].sum().reset_index()
    return totals.merge(populations, on="code_com", how="left", validate="many_to_one")


def populations(tile_indexes):
    """Population per commune, first city in config order (the seed's drop_duplicates)."""
    frames = [
        pd.DataFrame({"code_com": index["code_com"].astype(str), "pop": index["pop"]})
        for index in tile_indexes
    ]
    return pd.concat(frames, ignore_index=True).drop_duplicates("code_com")


def main(snakemake):
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    from atomic_output import atomic_path

    cities = snakemake.params.cities
    # One city's 15-minute series in memory at a time (all 20 cities' together exceed 1 GB).
    city_series = ((city, pd.read_parquet(path)) for city, path in zip(cities, snakemake.input.series))
    hourly, dropped = combine_cities(city_series, snakemake.params.outage_dates)
    indexes = []
    for path in snakemake.input.tile_indexes:
        with np.load(path) as index:
            indexes.append({"code_com": index["code_com"], "pop": index["pop"]})
    totals = commune_totals(hourly, populations(indexes))
    for city, count in dropped.items():
        print(f"{city}: {count} commune-slot rows dropped by the outage filter", file=sys.stderr)
    with atomic_path(snakemake.output.hourly) as tmp:
        hourly.to_parquet(tmp, index=False)
    with atomic_path(snakemake.output.totals) as tmp:
        totals.to_parquet(tmp, index=False)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
