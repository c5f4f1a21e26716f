"""Rule sensitivity (rules/robustness.smk): sensitivity.csv.

The headline numbers and the Spearman test of cpc_per_1000 for every Tor-to-darknet share
of `tor_share_bounds` x correction method, for all communes, without the floored ones and
(traffic mode) with every slot of the outage dates dropped; see netmob_cpc.sensitivity,
which also says why the share cannot change a Spearman rho except through the floor.
"""


def main(snakemake):
    import sys

    import pandas as pd

    from netmob_cpc.estimates import read_estimate_table
    from netmob_cpc.files import InputError, atomic_path
    from netmob_cpc.sensitivity import (
        outage_dropped_inputs,
        published_sensitivity_table,
        sensitivity_table,
    )
    from netmob_cpc.statistics import select_tested

    params, path = snakemake.params, snakemake.input.estimates
    estimates = read_estimate_table(path, params.apps)
    # the communes of the tests, as for spearman.csv (crime rate, population, min_coverage)
    tested = estimates.index.isin(select_tested(estimates, params.min_coverage)[0].index)
    bounds = [float(bound) for bound in params.tor_share_bounds]
    common = dict(
        tor_column=params.apps["tor"], shares=dict(params.shares), tor_share_bounds=bounds,
        negative_factor_floor=params.negative_factor_floor, tested=tested,
    )
    if "correlations" in snakemake.input.keys():
        correlations = pd.read_parquet(snakemake.input.correlations)
        hourly = pd.read_parquet(snakemake.input.hourly, columns=["code_com", "date", "porn", "tor", "control"])
        outage_correlations, outage_totals, dropped = outage_dropped_inputs(
            hourly, params.outage_dates, params.zero_replacement
        )
        del hourly
        print(
            f"outage dates dropped whole: hourly rows removed per date {dropped}; "
            f"{len(outage_correlations)} communes keep hours",
            file=sys.stderr,
        )
        if not params.outage_dates:
            print("no outage dates configured: the outage_dates_dropped rows equal the all rows", file=sys.stderr)
        table = sensitivity_table(estimates, correlations, **common, outage=(outage_correlations, outage_totals))
    else:
        if "Tor_to_darknet_share" not in estimates.columns:
            raise InputError(
                f"{path}: no Tor_to_darknet_share column; the published c cannot be rescaled to other shares"
            )
        print(
            "published-table mode: only the table's c (pearson_log) is known, so only the pearson_log rows are "
            "produced, and no hourly series, so no outage_dates_dropped rows; c is rescaled as c x new share / "
            f"{sorted(map(float, estimates['Tor_to_darknet_share'].dropna().unique()))} (the table's "
            f"Tor_to_darknet_share); floored communes (c <= {params.negative_factor_floor}) keep the floor",
            file=sys.stderr,
        )
        table = published_sensitivity_table(estimates, **common)
    if params.shares["tor_to_darknet_share"] not in bounds:
        print(
            f"note: the configured tor_to_darknet_share {params.shares['tor_to_darknet_share']} is not one of "
            f"tor_share_bounds {bounds}",
            file=sys.stderr,
        )
    print(
        "rescaling c by a share cannot change a Spearman rho: the shares' 'all' rows differ only through the "
        "floored communes, and the 'without_floored' rows have the same rho at every share",
        file=sys.stderr,
    )
    print(table.to_string(index=False), file=sys.stderr)
    with atomic_path(snakemake.output.sensitivity) as tmp:
        table.to_csv(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
