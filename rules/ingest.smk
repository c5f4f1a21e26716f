# Ingest: parse each traffic file and sum its tiles per commune and slot.
# One job reads the files of the three apps of one city x direction for a batch of
# `days_per_job` calendar days (thousands of files must not become thousands of Python
# start-ups, nor thousands of jobs for the scheduler) and writes one ingested batch per
# app; the batch label is its first calendar day, anchored on a fixed Monday
# (rules/common.smk, ingest_batches), so a batch never changes when the period grows: a
# changed or added file reruns only its batch (of the three apps). The per-file kernel is
# scripts/native/netmob_parse.c, compiled by the local rule parser_library; without a
# compiler the ingest uses the pyarrow parser (pyarrow's CSV reader + NumPy, same numbers) and says
# so in every job log and in qc.csv (`parser`).

INGEST_QC_KEYS = (
    "max_negative_values",
    "max_missing_share",
    "max_duplicate_tiles",
    "max_tile_value",
    "max_unmapped_traffic_share",
    "min_tile_rows_share",
)


localrules:
    parser_library,


# Runs where Snakemake runs (the compute nodes of a cluster may have no compiler). A
# failed compilation does not stop the run: the output then holds a one-line note that the
# ingest jobs read as "use the pyarrow parser". With a compiler installed later, rerun
# with --forcerun parser_library.
rule parser_library:
    input:
        # ancient: a fresh checkout gives the source a new time, not new content; its
        # content is followed through the provenance record (a hash of the file)
        source=ancient(workflow.source_path("../scripts/native/netmob_parse.c")),
        provenance=provenance("parser_library"),
    output:
        f"{RESULTS}/.build/libnetmob_parse.so",
    log:
        f"{RESULTS}/logs/parser_library.log",
    benchmark:
        f"{RESULTS}/benchmarks/parser_library.tsv"
    priority: 20
    conda:
        "../envs/ingest.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "${{CC:-cc}} -O3 -std=c99 -shared -fPIC -o {output:q} {input.source:q} 2> {log:q}"
        " || printf '%s%s)\\n' \"netmob_parse: not built (the C compiler ${{CC:-cc}} failed"
        ' or is missing; see " {log:q} > {output:q}'


rule ingest:
    input:
        unpack(ingest_traffic_files),
        library=rules.parser_library.output[0],
        tile_index=f"{RESULTS}/tile_map/{{city}}.npz",
        provenance=provenance("ingest"),
    output:
        **{
            role: f"{RESULTS}/ingest/{{direction}}/{{city}}/{app}/{{batch}}.npz"
            for role, app in APPS.items()
        },
    log:
        f"{RESULTS}/logs/ingest/{{direction}}/{{city}}/{{batch}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest/{{direction}}/{{city}}/{{batch}}.tsv"
    # the ingest waits for the parser build and the tile maps; start those first
    priority: 10
    group:
        "ingest"
    conda:
        "../envs/ingest.yaml"
    threads: 1
    resources:
        mem_mb=400,
        runtime=20,
    params:
        code=code_fingerprint("ingest.py"),
        apps=APPS,
        dates=ingest_batch_stamps,
        qc={key: config["qc"][key] for key in INGEST_QC_KEYS},
    script:
        "../scripts/ingest.py"
