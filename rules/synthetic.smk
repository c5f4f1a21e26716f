# The embedded default: synthetic inputs in the exact real formats (CONTRACT 1.1, 1.3,
# 1.5) with a planted truth. Only active when synthetic.enabled is true; the rule then
# produces the files at the configured input paths.

if SYNTHETIC:

    rule synthetic_data:
        output:
            traffic=[
                traffic_file(city, app, stamp, direction)
                for city in CITIES
                for app in APP_NAMES
                for stamp in DAY_STAMPS
                for direction in DIRECTIONS
            ],
            grids=expand(config["tile_grid"], city=CITIES),
            communes=config["communes"],
            crime_csv=config["crime_csv"],
            truth=config["synthetic"]["truth"],
        log:
            f"{RESULTS}/logs/synthetic_data.log",
        benchmark:
            f"{RESULTS}/benchmarks/synthetic_data.tsv"
        conda:
            "../envs/geo.yaml"
        resources:
            mem_mb=2000,
            runtime=30,
        params:
            netmob_dir=lambda wildcards: config["netmob_dir"],
            tile_grid=lambda wildcards: config["tile_grid"],
            cities=CITIES,
            apps=APPS,
            directions=DIRECTIONS,
            start=config["period"]["start"],
            end=config["period"]["end"],
            seed=config["synthetic"].get("seed", 20190316),
            grid_scale=config["synthetic"].get("grid_scale", 0.12),
        script:
            "../scripts/synthetic.py"
