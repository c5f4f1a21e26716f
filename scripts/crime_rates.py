"""Rule crime_rates: per-commune recorded sexual-violence rates (code_com, sv_19, sv_17_21,
sv_com_19, sv_com_17_21) from the data.gouv.fr crime file, in either of its layouts, and
the commune-year detail behind them (code_com, year, published, count, pop, rate)."""


def main(snakemake):
    from netmob_cpc.crime import crime_tables, log_lines
    from netmob_cpc.files import atomic_path

    params = snakemake.params
    rates, years, lines = crime_tables(
        snakemake.input.crime_csv, params.crime_class, params.crime_years, params.crime_year
    )
    log_lines(lines)
    with atomic_path(snakemake.output.rates) as tmp:
        rates.to_parquet(tmp, index=False)
    with atomic_path(snakemake.output.years) as tmp:
        years.to_parquet(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
