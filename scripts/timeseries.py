"""Commune time series of one city: gather the per-day ingest files of the three apps.

One row per (commune, day, slot) for every commune-day present in the porn app's file
(the seed's rows come from that file's groupby and a left merge of the other apps), with
the apps as columns named by role (`porn`, `tor`, `control`); an app whose file had no
tile of the commune that day gives NaN there, as the seed's left merge does.
The per-file data-quality counts of the ingest jobs are gathered into a QC table.
"""

import sys

import numpy as np
import pandas as pd

ROLES = ("porn", "tor", "control")
QC_FIELDS = (
    "lines", "slots", "blank_lines", "crlf_lines", "empty_fields", "nan_fields",
    "negative_values", "duplicate_tiles", "unmapped_tiles", "unmapped_traffic",
    "total_traffic", "all_zero",
)


class QualityError(ValueError):
    """Data quality beyond a configured threshold."""


def load_tile_index(path):
    with np.load(path) as index:
        return {key: index[key] for key in index.files}


def load_day(path):
    """An ingested day (ARCHITECTURE.md, "Ingested day") as a dict of arrays."""
    with np.load(path) as day:
        return {key: day[key] for key in day.files}


def city_time_series(code_com, code_dep, dates, days_by_role):
    """Build the slot-level table of one city.

    code_com, code_dep: the communes of the city's tile index (row order of the arrays);
    dates: the days as int YYYYMMDD; days_by_role: {role: [ingested day dict, ...]} in the
    order of `dates`.
    """
    code_com = np.asarray(code_com)
    code_dep = np.asarray(code_dep)
    frames = []
    for i, date in enumerate(dates):
        porn = days_by_role["porn"][i]
        minutes = porn["slot_minutes"]
        present = np.flatnonzero(porn["tiles"] > 0)
        n_slots = len(minutes)
        columns = {
            "code_com": np.repeat(code_com[present], n_slots),
            "code_dep": np.repeat(code_dep[present], n_slots),
            "date": np.full(len(present) * n_slots, date, dtype=np.int32),
            "minute": np.tile(minutes.astype(np.int16), len(present)),
        }
        for role in ROLES:
            day = days_by_role[role][i]
            if not np.array_equal(day["slot_minutes"], minutes):
                raise QualityError(
                    f"day {date}: the {role} app's file has {len(day['slot_minutes'])} slots, "
                    f"the porn app's {n_slots}: the apps' files of one day must have the same slots"
                )
            values = day["traffic"][present].astype(np.float64, copy=True)
            values[day["tiles"][present] == 0] = np.nan
            columns[role] = values.reshape(-1)
        frames.append(pd.DataFrame(columns))
    if not frames:
        return pd.DataFrame(columns=["code_com", "code_dep", "date", "minute", *ROLES])
    return pd.concat(frames, ignore_index=True)


def qc_table(city, direction, apps, dates, days_by_role):
    """One row per traffic file with the ingest job's data-quality counts."""
    rows = []
    for role in ROLES:
        for date, day in zip(dates, days_by_role[role]):
            row = {"city": city, "app": apps[role], "direction": direction, "date": date}
            row.update({field: day[field].item() for field in QC_FIELDS})
            rows.append(row)
    table = pd.DataFrame(rows)
    total = table["total_traffic"].replace(0, np.nan)
    table["unmapped_traffic_share"] = table["unmapped_traffic"] / total
    return table


def check_unmapped_share(qc, city, max_share):
    """Fail when a city's app carries more than `max_share` of its traffic outside the map."""
    by_app = qc.groupby("app")[["unmapped_traffic", "total_traffic"]].sum()
    for app, row in by_app.iterrows():
        if row["total_traffic"] > 0:
            share = row["unmapped_traffic"] / row["total_traffic"]
            if share > max_share:
                raise QualityError(
                    f"{city}, {app}: {share:.2%} of the traffic lies on tiles outside the tile map "
                    f"(threshold qc.max_unmapped_traffic_share = {max_share:.2%}). "
                    "Check that the tile map/grid matches the traffic files' city, or raise the threshold."
                )


def main(snakemake):
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    from atomic_output import atomic_path

    params = snakemake.params
    index = load_tile_index(snakemake.input.tile_index)
    dates = [int(stamp) for stamp in params.dates]
    days_by_role = {role: [load_day(path) for path in snakemake.input[role]] for role in ROLES}
    qc = qc_table(params.city, params.direction, params.apps, dates, days_by_role)
    check_unmapped_share(qc, params.city, params.max_unmapped_traffic_share)
    series = city_time_series(index["code_com"], index["code_dep"], dates, days_by_role)
    print(
        f"{params.city} {params.direction}: {series['code_com'].nunique()} communes, "
        f"{len(series)} commune-slot rows over {len(dates)} days",
        file=sys.stderr,
    )
    with atomic_path(snakemake.output.series) as tmp:
        series.to_parquet(tmp, index=False)
    with atomic_path(snakemake.output.qc) as tmp:
        qc.to_csv(tmp, index=False)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
