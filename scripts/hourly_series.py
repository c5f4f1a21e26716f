"""Entry script of the rule `hourly_series`: the cities' slot-level series combined into
the hourly series of all cities and the per-commune totals (both Parquet)."""

import sys


def main(snakemake):
    import numpy as np
    import pandas as pd

    from netmob_cpc.files import atomic_path
    from netmob_cpc.series import combine_cities, commune_totals, populations

    params = snakemake.params
    # One city's 15-minute series in memory at a time (all 20 cities' together exceed 1 GB).
    city_series = (
        (city, pd.read_parquet(path)) for city, path in zip(params.cities, snakemake.input.series)
    )
    hourly, dropped = combine_cities(city_series, params.outage_dates)
    indexes = []
    for path in snakemake.input.tile_indexes:
        with np.load(path, allow_pickle=False) as index:
            indexes.append({"code_com": index["code_com"], "pop": index["pop"]})
    totals = commune_totals(hourly, populations(indexes))
    for city, count in dropped.items():
        print(f"{city}: {count} commune-slot rows dropped by the outage filter", file=sys.stderr)
    with atomic_path(snakemake.output.hourly) as tmp:
        hourly.to_parquet(tmp, index=False)
    with atomic_path(snakemake.output.totals) as tmp:
        totals.to_parquet(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
