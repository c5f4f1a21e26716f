# Commune time series: gather a city's per-day ingest files into one slot-level table,
# then combine the cities into the hourly series the estimates are built from.


rule commune_time_series:
    input:
        unpack(ingested_days),
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
        city="{city}",
        direction="{direction}",
        apps=APPS,
        dates=DAY_STAMPS,
        max_unmapped_traffic_share=QC["max_unmapped_traffic_share"],
    script:
        "../scripts/timeseries.py"


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
        cities=CITIES,
        outage_dates=[d.replace("-", "") for d in config["outage_dates"]],
    script:
        "../scripts/hourly.py"


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
    script:
        "../scripts/qc_report.py"
