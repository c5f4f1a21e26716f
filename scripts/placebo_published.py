"""Entry script of the rule `placebo_published` (table mode): placebo.csv from a published
estimate table, which has no hourly series: the control and porn app volumes times the
table's c, per 1,000 inhabitants, tested as cpc is."""

import sys


def main(snakemake):
    from netmob_cpc.estimates import read_estimate_table
    from netmob_cpc.files import atomic_path
    from netmob_cpc.placebo import published_placebo_table
    from netmob_cpc.statistics import select_tested

    params = snakemake.params
    estimates = read_estimate_table(snakemake.input.estimates, params.apps)
    tested, _ = select_tested(estimates, params.min_coverage)
    table = published_placebo_table(tested, params.apps, spline_df=params.spline_df)
    print(table.to_string(index=False), file=sys.stderr)
    with atomic_path(snakemake.output[0]) as tmp:
        table.to_csv(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
