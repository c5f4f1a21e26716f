# Correction factors and the per-commune estimate table (README: Outputs, cpc_com.csv).
# The per-commune correlations the factors start from are written by hourly_series
# (rules/timeseries.smk), which has the hourly series in memory.


rule estimate_table:
    input:
        totals=f"{RESULTS}/hourly/{{direction}}_totals.parquet",
        correlations=f"{RESULTS}/estimate/{{direction}}/correlations.parquet",
        crime_rates=f"{RESULTS}/crime/sexual_violence.parquet",
        # per commune, the share of its area inside the city's tile grid (coverage)
        tile_maps=expand(f"{RESULTS}/tile_map/{{city}}.csv", city=CITIES),
        provenance=provenance("estimate_table"),
    output:
        estimates=report(
            f"{RESULTS}/{{direction}}/cpc_com.csv",
            caption="../report/cpc_com.rst",
            category="Estimates",
            subcategory="{direction}",
        ),
        correction_methods=report(
            f"{RESULTS}/{{direction}}/correction_methods.csv",
            caption="../report/correction_methods.rst",
            category="Correction factors",
            subcategory="{direction}",
        ),
    log:
        f"{RESULTS}/logs/estimate/{{direction}}_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/estimate_table/{{direction}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code_fingerprint("estimate_table.py"),
        direction="{direction}",
        apps=APPS,
        shares=SHARES,
        correction_method=config["correction_method"],
        negative_factor_floor=config["negative_factor_floor"],
        min_coverage=config["min_coverage"],
    script:
        "../scripts/estimate_table.py"


if FROM_TABLE:

    # Replication without a licence: the authors' published table takes the place of the
    # traffic stages (the rules above are then never asked for).
    ruleorder: published_estimates > estimate_table

    rule published_estimates:
        input:
            table=INPUTS["estimates_table"],
            provenance=provenance("published_estimates"),
        output:
            estimates=report(
                f"{RESULTS}/{{direction}}/cpc_com.csv",
                caption="../report/cpc_com.rst",
                category="Estimates",
                subcategory="{direction}",
            ),
        log:
            f"{RESULTS}/logs/estimate/{{direction}}_published.log",
        benchmark:
            f"{RESULTS}/benchmarks/published_estimates/{{direction}}.tsv"
        conda:
            "../envs/analysis.yaml"
        resources:
            mem_mb=500,
            runtime=5,
        params:
            code=code_fingerprint("published_estimates.py"),
            direction="{direction}",
            apps=APPS,
            negative_factor_floor=config["negative_factor_floor"],
        script:
            "../scripts/published_estimates.py"
