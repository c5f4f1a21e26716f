# Tile map: which commune each 100 m tile of a city belongs to (a given map, or built from
# the city's tile grid and the communes layer), stored as a lookup array for the ingest jobs
# (ARCHITECTURE.md, "Tile index") and as a CSV with each commune's grid coverage.


rule tile_map:
    input:
        unpack(tile_map_inputs),
        provenance=provenance("tile_map"),
    output:
        index=f"{RESULTS}/tile_map/{{city}}.npz",
        table=f"{RESULTS}/tile_map/{{city}}.csv",
    log:
        f"{RESULTS}/logs/tile_map/{{city}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tile_map/{{city}}.tsv"
    # the ingest waits for it (crime rates and the like can wait)
    priority: 10
    conda:
        "../envs/geo.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        code=code_fingerprint("tile_map.py"),
        city="{city}",
        columns=config["communes_columns"],
    script:
        "../scripts/tile_map.py"
