"""Entry script of rule falsification: falsification.csv and its figure for one direction
(c shuffled among communes, c alone, Tor times the city's mean c, and the size-only
reference: an outcome that depends on population only)."""


def main(snakemake):
    import sys

    import pandas as pd

    from netmob_cpc.estimates import read_estimate_table
    from netmob_cpc.falsification import falsification_table, plot_references
    from netmob_cpc.files import atomic_path
    from netmob_cpc.placebo import tor_rank_row
    from netmob_cpc.rankstats import spearman_pair
    from netmob_cpc.statistics import CRIME, log_test_table, select_tested

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
        min_coverage=params.min_coverage, zeros_published=bool(rule["zeros_published"]),
    )
    if "placebo" in snakemake.input.keys():
        placebo = pd.read_csv(snakemake.input.placebo, keep_default_na=False, na_values=[""])
        test = log_test_table(tested)
        cpc_rho, _, _ = spearman_pair(test["cpc_per_1000"], test[CRIME])
        row = tor_rank_row(placebo, cpc_rho)
        table = pd.concat([table, pd.DataFrame([row], columns=table.columns)], ignore_index=True)
        lines.append(f"cpc among {row['replicates']} placebo app(s): p_upper {row['p_upper']:.3g}")
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
