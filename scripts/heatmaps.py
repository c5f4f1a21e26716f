"""Rule `heatmaps`: the day x hour heatmap tables of one direction (README: Outputs).
Reads only the six columns of the hourly series that the sums need."""

import sys


def main(snakemake):
    import pandas as pd

    from netmob_cpc.estimates import read_estimate_table
    from netmob_cpc.files import atomic_path
    from netmob_cpc.heatmaps import HOURLY_COLUMNS, heatmaps

    params = snakemake.params
    hourly = pd.read_parquet(snakemake.input.hourly, columns=HOURLY_COLUMNS)
    estimates = read_estimate_table(snakemake.input.estimates, params.apps)
    tables = heatmaps(
        hourly, estimates, apps=params.apps, zero_replacement=params.zero_replacement, top_n=params.top_n
    )
    for name, table in tables.items():
        with atomic_path(snakemake.output[name]) as tmp:
            table.to_csv(tmp, index=False)
    print(f"{len(hourly)} hourly rows of {hourly['code_com'].nunique()} communes summed", file=sys.stderr)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
