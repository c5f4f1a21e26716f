# Recorded sexual-violence rates per commune from the data.gouv.fr crime file (2023 layout
# or the current one, detected from the header), as the seed prepares them, and the
# commune-year detail behind them (published or not, count, population, rate).


rule crime_rates:
    input:
        crime_csv=INPUTS["crime_csv"],
        provenance=provenance("crime_rates"),
    output:
        rates=f"{RESULTS}/crime/sexual_violence.parquet",
        years=f"{RESULTS}/crime/sexual_violence_years.parquet",
    log:
        f"{RESULTS}/logs/crime_rates.log",
    benchmark:
        f"{RESULTS}/benchmarks/crime_rates.tsv"
    # it needs only the crime file: run it early, so that it does not hold a core when the
    # ingest ends and the two-thread hourly series job starts
    priority: 15
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_fingerprint("crime_rates.py"),
        crime_class=config["crime_class"],
        crime_years=CRIME_YEARS,
        crime_year=CRIME_YEAR,
    script:
        "../scripts/crime_rates.py"
