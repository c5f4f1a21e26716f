"""Entry script of rule commune_correlations: per commune, the correlation of hourly log
porn with log Tor traffic (the basis of every correction factor)."""


def main(snakemake):
    import sys

    import pandas as pd

    from netmob_cpc.estimates import commune_correlations
    from netmob_cpc.files import atomic_path

    hourly = pd.read_parquet(snakemake.input.hourly, columns=["code_com", "porn", "tor"])
    correlations = commune_correlations(hourly, snakemake.params.zero_replacement)
    undefined = int(correlations["pearson_log"].isna().sum())
    print(f"{len(correlations)} communes, {undefined} without a defined correlation", file=sys.stderr)
    with atomic_path(snakemake.output.correlations) as tmp:
        correlations.to_parquet(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
