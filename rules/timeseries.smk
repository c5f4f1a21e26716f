# Commune series: the ingested batches of every city combined into the hourly series the
# estimates are built from, the per-commune totals and the per-commune correlation of
# hourly log porn with log Tor traffic (the basis of every correction factor; computed
# here, where the hours are in memory, instead of in a process of its own); and the
# batches' QC figures into qc.csv.


rule hourly_series:
    input:
        batches=ingested_batches_of_all_cities,
        tile_indexes=expand(f"{RESULTS}/tile_map/{{city}}.npz", city=CITIES),
        provenance=provenance("hourly_series"),
    output:
        hourly=f"{RESULTS}/hourly/{{direction}}.parquet",
        totals=f"{RESULTS}/hourly/{{direction}}_totals.parquet",
        correlations=f"{RESULTS}/estimate/{{direction}}/correlations.parquet",
    log:
        f"{RESULTS}/logs/hourly/{{direction}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/hourly/{{direction}}.tsv"
    # before qc_report, which is ready at the same time
    priority: 5
    conda:
        "../envs/analysis.yaml"
    # one thread sums the cities' hours one after another while the other sorts the cities
    # already summed and computes their correlations (the job runs alone at the end of
    # the ingest; at full scale 3.6 instead of 5.3 job-seconds, BENCHMARKS.md)
    threads: 2
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        code=code_fingerprint("hourly_series.py"),
        cities=CITIES,
        roles=list(APPS),
        dates=DAY_STAMPS,
        outage_dates=OUTAGE_STAMPS,
        zero_replacement=config["zero_replacement"],
    script:
        "../scripts/hourly_series.py"


rule qc_report:
    input:
        batches=ingested_batches_of_all_cities,
        provenance=provenance("qc_report"),
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
        cities=CITIES,
        apps=APPS,
        direction="{direction}",
    script:
        "../scripts/qc_report.py"
