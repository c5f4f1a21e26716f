"""Day x hour heatmap data (the seed's "Generating Heatmap data" cells).

The hourly series with 0 replaced by `zero_replacement` (the seed builds the heatmaps from
that same `df_hour`), Tor scaled by the commune's correction factor c, summed per
weekday and hour: for all communes, the top-N communes by cpc_per_1000, and the first,
second and third commune.
"""

import calendar
import datetime
import sys

import numpy as np
import pandas as pd

# English names whatever the machine's locale (the seed uses strftime('%A')).
WEEKDAYS = np.array(list(calendar.day_name), dtype=object)  # Monday .. Sunday
# The hourly series' columns the heatmaps use (reading only these keeps the job small).
HOURLY_COLUMNS = ["code_com", "date", "hour", "porn", "tor", "control"]


def weekday_names(dates):
    """English weekday name of each YYYYMMDD integer date, computed once per distinct date
    (not through millions of date strings)."""
    unique, inverse = np.unique(np.asarray(dates), return_inverse=True)
    names = [WEEKDAYS[datetime.date(d // 10000, d // 100 % 100, d % 100).weekday()] for d in unique.tolist()]
    return np.array(names, dtype=object)[inverse]


def scaled_hourly(hourly, factors, zero_replacement):
    """Hourly rows with weekday, 0 replaced, and `tor_scaled` = tor x c."""
    table = hourly[HOURLY_COLUMNS].copy()
    for role in ("porn", "tor", "control"):
        table[role] = table[role].mask(table[role] == 0, zero_replacement)
    table["day"] = weekday_names(table["date"])
    c = table["code_com"].map(factors)
    table["tor_scaled"] = table["tor"] * c
    return table


def ranked_communes(estimates):
    """Communes by cpc_per_1000, highest first, NaN last, ties by code_com."""
    ordered = estimates.sort_values(["cpc_per_1000", "code_com"], ascending=[False, True], na_position="last", kind="mergesort")
    return ordered["code_com"].tolist()


def heatmap(table, apps, communes=None):
    """Sum per weekday and hour (the seed's groupby(['Day', 'Hour']))."""
    if communes is not None:
        table = table[table["code_com"].isin(communes)]
    heat = (
        table.rename(columns={"day": "Day", "hour": "Hour"})
        .groupby(["Day", "Hour"])[["tor_scaled", "porn", "control"]]
        .sum()
        .reset_index()
    )
    heat["Hour"] = heat["Hour"].astype(int)
    return heat.rename(
        columns={"tor_scaled": f"{apps['tor']}_scaled", "porn": apps["porn"], "control": apps["control"]}
    )


def heatmaps(hourly, estimates, *, apps, zero_replacement, top_n):
    """The five heatmap tables of CONTRACT 3, keyed by output name."""
    factors = estimates.drop_duplicates("code_com").set_index("code_com")["c"]
    table = scaled_hourly(hourly, factors, zero_replacement)
    ranking = ranked_communes(estimates)
    result = {"heatmap": heatmap(table, apps), "heatmap_10": heatmap(table, apps, ranking[:top_n])}
    for rank in (1, 2, 3):
        if rank <= len(ranking):
            code = ranking[rank - 1]
            heat = heatmap(table, apps, [code])
        else:
            code, heat = None, heatmap(table.iloc[0:0], apps)
        heat.insert(0, "code_com", code)
        result[f"heatmap_rank{rank}"] = heat
    return result


def main(snakemake):
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    from atomic_output import atomic_path

    hourly = pd.read_parquet(snakemake.input.hourly, columns=HOURLY_COLUMNS)
    estimates = pd.read_csv(snakemake.input.estimates, dtype={"code_com": str, "code_dep": str})
    params = snakemake.params
    tables = heatmaps(hourly, estimates, apps=params.apps, zero_replacement=params.zero_replacement, top_n=params.top_n)
    for name, table in tables.items():
        with atomic_path(snakemake.output[name]) as tmp:
            table.to_csv(tmp, index=False)
    print(f"top communes: {ranked_communes(estimates)[:params.top_n]}", file=sys.stderr)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
