# Commune series: gather a city's ingested batches into one slot-level table (and its
# per-file QC table), then combine the cities into the hourly series the estimates are
# built from, and the QC tables into qc.csv.


rule commune_time_series:
    input:
        unpack(city_ingested_batches),
        tile_index=f"{RESULTS}/tile_map/{{city}}.npz",
    output:
        series=f"{RESULTS}/timeseries/{{direction}}/{{city}}.parquet",
        qc=f"{RESULTS}/qc/{{direction}}/{{city}}.csv",
    log:
        f"{RESULTS}/logs/timeseries/{{direction}}/{{city}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/timeseries/{{direction}}/{{city}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=20,
    params:
        code=code_fingerprint("commune_time_series.py"),
        city="{city}",
        direction="{direction}",
        apps=APPS,
        dates=DAY_STAMPS,
    script:
        "../scripts/commune_time_series.py"


rule hourly_series:
    input:
        series=expand(
            f"{RESULTS}/timeseries/{{{{direction}}}}/{{city}}.parquet", city=CITIES
        ),
        tile_indexes=expand(f"{RESULTS}/tile_map/{{city}}.npz", city=CITIES),
    output:
        hourly=f"{RESULTS}/hourly/{{direction}}.parquet",
        totals=f"{RESULTS}/hourly/{{direction}}_totals.parquet",
    log:
        f"{RESULTS}/logs/hourly/{{direction}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hourly/{{direction}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        code=code_fingerprint("hourly_series.py"),
        cities=CITIES,
        outage_dates=OUTAGE_STAMPS,
    script:
        "../scripts/hourly_series.py"


rule qc_report:
    input:
        expand(f"{RESULTS}/qc/{{{{direction}}}}/{{city}}.csv", city=CITIES),
    output:
        report(
            f"{RESULTS}/{{direction}}/qc.csv",
            caption="../report/qc.rst",
            category="Data quality",
            subcategory="{direction}",
        ),
    log:
        f"{RESULTS}/logs/qc/{{direction}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/qc_report/{{direction}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=code_fingerprint("qc_report.py"),
    script:
        "../scripts/qc_report.py"
