"""Entry script of rule estimate_table: cpc_com.csv (the per-commune estimate table) and
correction_methods.csv of one direction."""


def main(snakemake):
    import sys

    import pandas as pd

    from netmob_cpc.estimates import estimate_table, read_coverage
    from netmob_cpc.rates import usable_population
    from netmob_cpc.statistics import correction_methods_table
    from netmob_cpc.files import atomic_path

    params = snakemake.params
    totals = pd.read_parquet(snakemake.input.totals)
    correlations = pd.read_parquet(snakemake.input.correlations)
    crime_rates = pd.read_parquet(snakemake.input.crime_rates)
    coverage, note = read_coverage(list(snakemake.input.tile_maps))
    if note:
        print(note, file=sys.stderr)
    table = estimate_table(
        totals, correlations, crime_rates,
        apps=params.apps, direction=params.direction, shares=params.shares,
        method=params.correction_method, negative_factor_floor=params.negative_factor_floor,
        coverage=coverage,
    )
    no_population = table.loc[~usable_population(table["pop"]), "code_com"]
    absent = int((~table["code_com"].isin(crime_rates["code_com"])).sum())
    print(
        f"{len(table)} communes; {int(table['c_floored'].sum())} negative correction factors set to the floor "
        f"{params.negative_factor_floor} (c_floored); {len(no_population)} without a usable population "
        f"(missing, zero or negative pop: per-capita rates left empty); {absent} absent from the crime "
        "rates (no row of the configured class and years)",
        file=sys.stderr,
    )
    methods = correction_methods_table(
        totals, correlations, crime_rates, shares=params.shares, negative_factor_floor=params.negative_factor_floor,
        coverage=coverage, min_coverage=params.min_coverage,
    )
    with atomic_path(snakemake.output.estimates) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(snakemake.output.correction_methods) as tmp:
        methods.to_csv(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
