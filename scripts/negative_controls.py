"""Entry script of rule negative_controls: the headline association tests of cpc against
the recorded rates of other offence classes (negative_control_classes) instead of
crime_class: negative_controls.csv (class, x, analysis, rho, pvalue, n)."""


def main(snakemake):
    import sys

    import pandas as pd

    from netmob_cpc.crime import crime_rates
    from netmob_cpc.estimates import read_estimate_table
    from netmob_cpc.falsification import empty_negative_controls, negative_control_table
    from netmob_cpc.files import atomic_path

    params = snakemake.params
    table = empty_negative_controls()
    if params.classes:
        estimates = read_estimate_table(snakemake.input.estimates, params.apps)
        rates = {}
        for crime_class in params.classes:
            rates[crime_class], lines = crime_rates(
                snakemake.input.crime_csv, crime_class, params.crime_years, params.crime_year
            )
            for line in lines:
                print(f"{crime_class}: {line}", file=sys.stderr)
        table = negative_control_table(estimates, rates, params.min_coverage)
    else:
        print("negative_control_classes is empty: negative_controls.csv has a header only", file=sys.stderr)
    print(table.to_string(index=False), file=sys.stderr)
    with atomic_path(snakemake.output.negative_controls) as tmp:
        pd.DataFrame(table).to_csv(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
