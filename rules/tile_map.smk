# Tile map: which commune each 100 m tile of a city belongs to (CONTRACT 1.2 / 1.3),
# stored as a lookup array for the ingest jobs (ARCHITECTURE.md, "Tile index").


rule tile_map:
    input:
        unpack(tile_map_inputs),
    output:
        index=f"{RESULTS}/tile_map/{{city}}.npz",
        table=f"{RESULTS}/tile_map/{{city}}.csv",
    log:
        f"{RESULTS}/logs/tile_map/{{city}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tile_map/{{city}}.tsv"
    conda:
        "../envs/geo.yaml"
    resources:
        mem_mb=2000,
        runtime=20,
    params:
        city="{city}",
        columns=config.get(
            "communes_columns",
            {"code_com": "INSEE_COM", "code_dep": "INSEE_DEP", "pop": "POPULATION"},
        ),
    script:
        "../scripts/tile_map.py"
