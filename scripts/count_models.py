"""Entry script of rule count_models (rules/association.smk): count_models.csv of one
direction; see netmob_cpc.count_models."""


def main(snakemake):
    import sys

    import pandas as pd

    from netmob_cpc.count_models import count_models_table
    from netmob_cpc.estimates import read_estimate_table
    from netmob_cpc.files import InputError, atomic_path
    from netmob_cpc.statistics import select_tested

    params = snakemake.params
    path = snakemake.input.estimates
    estimates = read_estimate_table(path, params.apps)
    years = None
    if "years" in snakemake.input.keys():
        years = pd.read_parquet(snakemake.input.years)
        missing = [c for c in ("code_com", "year", "published", "count", "pop") if c not in years.columns]
        if missing:
            raise InputError(f"{snakemake.input.years}: missing column(s) {', '.join(missing)}; rerun rule crime_rates")
        unpublished = int((~years["published"].astype(bool)).sum())
        print(
            f"{snakemake.input.years}: {len(years)} commune-years ({unpublished} listed as unpublished; years absent "
            f"for a commune count as unpublished), publication threshold {params.min_count}, zeros_published "
            f"{bool(params.zeros_published)}",
            file=sys.stderr,
        )
        base = estimates
    else:
        # table mode: the tested communes (a published rate, a usable population, min_coverage)
        base, _ = select_tested(estimates, params.min_coverage)
        print(f"{path}: counts reconstructed from sv_com_17_21 x pop (approximate)", file=sys.stderr)
    table = count_models_table(
        base, years, min_count=params.min_count, min_clusters=params.inference["min_clusters"],
        min_coverage=params.min_coverage, zeros_published=bool(params.zeros_published),
    )
    print(table.to_string(index=False), file=sys.stderr)
    with atomic_path(snakemake.output.count_models) as tmp:
        table.to_csv(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
