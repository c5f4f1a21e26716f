# Day x hour heatmap data (CONTRACT 3): all communes, the top_n by cpc_per_1000, and the
# first three communes one by one.


rule heatmaps:
    input:
        hourly=f"{RESULTS}/hourly/{{direction}}.parquet",
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
    output:
        **{name: f"{RESULTS}/{{direction}}/{name}.csv" for name in HEATMAPS},
    log:
        f"{RESULTS}/logs/heatmaps/{{direction}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/heatmaps/{{direction}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        apps=APPS,
        zero_replacement=config["zero_replacement"],
        top_n=config["top_n"],
    script:
        "../scripts/heatmaps.py"
