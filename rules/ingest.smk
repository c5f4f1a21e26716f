# Ingest: parse each traffic file and sum its tiles per commune and slot.
# One job reads the files of one city x app x direction for a batch of `days_per_job`
# calendar days (so that thousands of files do not become thousands of Python start-ups,
# nor thousands of ready jobs whose inputs Snakemake's scheduler re-stats after every
# finished job), but writes one output per day: adding a day or fixing one file reruns
# only its batch.
# The jobs run `python scripts/ingest.py` through shell: (no Snakemake import, no pandas),
# with the parsing kernel compiled from scripts/native/netmob_parse.c.

INGEST_PROGRAM = SCRIPTS / "ingest.py"
PARSER_SOURCE = SCRIPTS / "native" / "netmob_parse.c"
PARSER_LIBRARY = f"{RESULTS}/.build/libnetmob_parse.so"
# The interpreter that runs Snakemake (its virtualenv has numpy); under --sdm conda the
# environment's own python is on PATH instead.
_deployment = getattr(workflow, "deployment_settings", None)
INGEST_PYTHON = (
    "python"
    if _deployment is not None and "conda" in str(_deployment.deployment_method).lower()
    else sys.executable
)


rule parser_library:
    input:
        PARSER_SOURCE,
    output:
        PARSER_LIBRARY,
    log:
        f"{RESULTS}/logs/parser_library.log",
    conda:
        "../envs/ingest.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "cc -O3 -std=c99 -shared -fPIC -o {output} {input} 2> {log}"


for batch_label, batch_stamps in ingest_batches():

    rule:
        name:
            f"ingest_{batch_label}"
        input:
            program=INGEST_PROGRAM,
            library=PARSER_LIBRARY,
            tile_index=f"{RESULTS}/tile_map/{{city}}.npz",
            traffic=[
                traffic_file("{city}", "{app}", stamp, "{direction}")
                for stamp in batch_stamps
            ],
        output:
            [
                f"{RESULTS}/ingest/{{direction}}/{{city}}/{{app}}/{stamp}.npz"
                for stamp in batch_stamps
            ],
        log:
            f"{RESULTS}/logs/ingest/{{direction}}/{{city}}/{{app}}/{batch_label}.log",
        benchmark:
            f"{RESULTS}/benchmarks/ingest/{{direction}}/{{city}}/{{app}}/{batch_label}.tsv"
        group:
            "ingest"
        conda:
            "../envs/ingest.yaml"
        threads: 1
        resources:
            mem_mb=400,
            runtime=10,
        params:
            python=INGEST_PYTHON,
            dates=batch_stamps,
            max_negative_values=QC["max_negative_values"],
            max_missing_share=QC["max_missing_share"],
        shell:
            "{params.python} {input.program} --library {input.library}"
            " --tile-index {input.tile_index} --dates {params.dates}"
            " --traffic {input.traffic} --out {output}"
            " --max-negative-values {params.max_negative_values}"
            " --max-missing-share {params.max_missing_share} 2> {log}"
