# The embedded default: synthetic inputs in the real NetMob23 formats, with a planted
# truth, written into the workflow's own folder {results_dir}/synthetic/. The rule exists
# only in synthetic mode (synthetic.enabled and no input path configured), so it can
# never write to a configured input path.


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
            grids=expand(INPUTS["tile_grid"], city=CITIES),
            communes=INPUTS["communes"],
            crime_csv=INPUTS["crime_csv"],
            truth=f"{RESULTS}/synthetic/truth.csv",
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
            code=code_fingerprint("synthetic_data.py"),
            netmob_dir=lambda wildcards, output: os.path.join(
                os.path.dirname(output.communes), "netmob"
            ),
            tile_grid=lambda wildcards: INPUTS["tile_grid"],
            cities=CITIES,
            apps=APPS,
            directions=DIRECTIONS,
            start=config["period"]["start"],
            end=config["period"]["end"],
            seed=config["synthetic"]["seed"],
            grid_scale=config["synthetic"]["grid_scale"],
            crime_publication=config["crime_publication"],
        script:
            "../scripts/synthetic_data.py"
