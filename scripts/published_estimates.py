"""Entry script of rule published_estimates: the authors' published per-commune table
(semicolon-separated, the notebook's columns) as this workflow's cpc_com.csv, so that
people without a NetMob licence can replicate the statistics."""


def main(snakemake):
    import sys

    from netmob_cpc.estimates import published_rows, read_published_table
    from netmob_cpc.rates import usable_population
    from netmob_cpc.files import atomic_path

    params = snakemake.params
    table, notes = read_published_table(snakemake.input.table, params.apps)
    rows = published_rows(table, params.direction, snakemake.input.table).copy()
    # The table's c was floored with the notebook's 0.00001: a c equal to the configured
    # floor is taken as floored.
    rows["c_floored"] = rows["c"] == params.negative_factor_floor
    for note in notes:
        print(note, file=sys.stderr)
    print(
        f"{len(rows)} communes read; {int(rows['c_floored'].sum())} with c equal to the floor "
        f"{params.negative_factor_floor} (c_floored); {int((~usable_population(rows['pop'])).sum())} without a "
        "usable population (per-capita rates left empty); coverage is empty in this mode (no tile grid); "
        "heatmaps and the other correction methods need the time series and are skipped",
        file=sys.stderr,
    )
    with atomic_path(snakemake.output.estimates) as tmp:
        rows.to_csv(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
