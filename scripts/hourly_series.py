"""Entry script of the rule `hourly_series`: the ingested batches of every city combined
into the hourly series of all cities, the per-commune totals and the per-commune
correlations of hourly log porn with log Tor traffic (all three Parquet)."""

import sys


def main(snakemake):
    import pyarrow.parquet as pq

    from netmob_cpc.files import atomic_path
    from netmob_cpc.series import (
        combine_cities, commune_totals, days_by_role, load_tile_index, populations,
        split_batches,
    )

    params = snakemake.params
    dates = [int(stamp) for stamp in params.dates]
    batches = split_batches(list(snakemake.input.batches), params.cities, params.roles)
    indexes = [load_tile_index(path) for path in snakemake.input.tile_indexes]
    # one city's ingested days in memory at a time
    cities = (
        (city, index, dates, days_by_role(batches[city], dates))
        for city, index in zip(params.cities, indexes)
    )
    hourly, city_totals, correlations, dropped = combine_cities(
        cities, params.outage_dates, params.zero_replacement, threads=snakemake.threads
    )
    totals = commune_totals(city_totals, populations(indexes))
    for city, count in dropped.items():
        print(f"{city}: {count} commune-slots dropped by the outage filter", file=sys.stderr)
    with atomic_path(snakemake.output.hourly) as tmp:
        pq.write_table(hourly, tmp)
    undefined = int(correlations["pearson_log"].isna().sum())
    print(
        f"{hourly.num_rows} commune-hour rows, {len(totals)} communes, {undefined} without a defined correlation",
        file=sys.stderr,
    )
    with atomic_path(snakemake.output.totals) as tmp:
        totals.to_parquet(tmp, index=False)
    with atomic_path(snakemake.output.correlations) as tmp:
        correlations.to_parquet(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
