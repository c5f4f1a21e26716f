"""Entry script of the rule `placebo_table`: placebo.csv of one direction, each placebo
app's measure (placebo_series) tested against the outcome over the communes cpc is tested
on, with the same analyses (cpc's rank among them is a row of falsification.csv)."""

import sys


def main(snakemake):
    import pandas as pd

    from netmob_cpc.estimates import read_estimate_table
    from netmob_cpc.files import atomic_path
    from netmob_cpc.placebo import placebo_table
    from netmob_cpc.statistics import select_tested

    params = snakemake.params
    estimates = read_estimate_table(snakemake.input.estimates, params.apps)
    tested, _ = select_tested(estimates, params.min_coverage)
    paths = list(snakemake.input.placebo)
    if len(paths) != len(params.placebo_apps):
        raise ValueError(f"{len(paths)} placebo estimate files for {len(params.placebo_apps)} apps")
    by_app = {app: pd.read_parquet(path) for app, path in zip(params.placebo_apps, paths)}
    table = placebo_table(tested, by_app, spline_df=params.spline_df)
    print(table.to_string(index=False), file=sys.stderr)
    with atomic_path(snakemake.output[0]) as tmp:
        table.to_csv(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
