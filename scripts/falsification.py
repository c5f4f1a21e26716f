"""Entry script of rule falsification: falsification.csv and its figure for one direction
(c shuffled among communes, c alone, Tor times the city's mean c, and the size-only
reference: an outcome that depends on population only)."""


def main(snakemake):
    import sys

    import pandas as pd

    from netmob_cpc.estimates import read_estimate_table
    from netmob_cpc.falsification import falsification_table, plot_references
    from netmob_cpc.files import atomic_path
    from netmob_cpc.statistics import select_tested

    params = snakemake.params
    settings, rule = params.falsification, params.crime_publication
    estimates = read_estimate_table(snakemake.input.estimates, params.apps)
    tested, _ = select_tested(estimates, params.min_coverage)
    years_table = None
    if "crime_years" in snakemake.input.keys():
        years_table = pd.read_parquet(snakemake.input.crime_years)
    table, references, lines = falsification_table(
        estimates, tested, tor_app=params.apps["tor"], permutations=int(settings["permutations"]),
        replicates=int(settings["replicates"]), seed=int(settings["seed"]), min_count=int(rule["min_count"]),
        window_years=int(rule["window_years"]), n_years=len(params.crime_years), years_table=years_table,
        min_coverage=params.min_coverage,
    )
    for line in lines:
        print(line, file=sys.stderr)
    print(table.to_string(index=False), file=sys.stderr)
    with atomic_path(snakemake.output.falsification) as tmp:
        table.to_csv(tmp, index=False)
    plot_references(
        table, references, snakemake.output.figure,
        title=f"{snakemake.wildcards.direction}: reference distributions (bars) and the observed value (line)",
    )


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
