# Day x hour heatmap tables (README: Outputs): all communes, the top_n by cpc_per_1000,
# and the first three communes one by one. Only the hourly series' six needed columns
# are read.


rule heatmaps:
    input:
        hourly=f"{RESULTS}/hourly/{{direction}}.parquet",
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
        provenance=provenance("heatmaps"),
    output:
        **{
            name: report(
                f"{RESULTS}/{{direction}}/{name}.csv",
                caption="../report/heatmap_tables.rst",
                category="Heatmaps",
                subcategory="{direction}",
                labels={"table": f"{name}.csv", "direction": "{direction}"},
            )
            for name in HEATMAPS
        },
    log:
        f"{RESULTS}/logs/heatmaps/{{direction}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/heatmaps/{{direction}}.tsv"
    # the figures wait for it: start it before the other analysis jobs
    priority: 5
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_fingerprint("heatmaps.py"),
        apps=APPS,
        zero_replacement=config["zero_replacement"],
        top_n=config["top_n"],
    script:
        "../scripts/heatmaps.py"
