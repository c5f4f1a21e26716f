# Recorded sexual-violence rates per commune (CONTRACT 1.5), as the seed prepares them.


rule crime_rates:
    input:
        crime_csv=config["crime_csv"],
    output:
        rates=f"{RESULTS}/crime/sexual_violence.parquet",
    log:
        f"{RESULTS}/logs/crime_rates.log",
    benchmark:
        f"{RESULTS}/benchmarks/crime_rates.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        crime_class=config["crime_class"],
        crime_years=config["crime_years"],
        crime_year=config["crime_year"],
    script:
        "../scripts/crime.py"
