"""Entry script of the rule `placebo_series`: one placebo app of one direction put through
Tor's construction (netmob_cpc.placebo): per commune its correlation of hourly log porn
with the log app, its own correction factor, its total over the kept hours and its measure
per 1,000 inhabitants (Parquet). One city's days of the porn app and the placebo app are in
memory at a time."""

import sys


def main(snakemake):
    from netmob_cpc.files import atomic_path
    from netmob_cpc.placebo import app_estimates, app_series
    from netmob_cpc.series import days_by_role, load_tile_index

    params = snakemake.params
    dates = [int(stamp) for stamp in params.dates]
    porn, app = list(snakemake.input.porn), list(snakemake.input.app)
    per_city = len(porn) // len(params.cities)
    if len(porn) != len(app) or per_city * len(params.cities) != len(porn):
        raise ValueError(f"{len(porn)} porn and {len(app)} {params.app} batches for {len(params.cities)} cities")
    indexes = [load_tile_index(path) for path in snakemake.input.tile_indexes]

    def cities():
        for k, (city, index) in enumerate(zip(params.cities, indexes)):
            chunk = slice(k * per_city, (k + 1) * per_city)
            days = days_by_role({"porn": porn[chunk], params.app: app[chunk]}, dates)
            yield city, index, dates, days["porn"], days[params.app]

    correlations, totals, dropped = app_series(cities(), params.outage_dates, params.zero_replacement)
    estimates = app_estimates(
        correlations, totals, method=params.correction_method, shares=params.shares,
        negative_factor_floor=params.negative_factor_floor,
    )
    for city, count in dropped.items():
        print(f"{city}: {count} commune-slots dropped by the outage filter", file=sys.stderr)
    print(
        f"{params.app}: {len(estimates)} communes, {int(estimates['pearson_log'].isna().sum())} without a "
        f"defined correlation, {int(estimates['c_floored'].sum())} factors set to the floor",
        file=sys.stderr,
    )
    with atomic_path(snakemake.output[0]) as tmp:
        estimates.to_parquet(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
