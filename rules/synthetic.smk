# The embedded default: synthetic inputs in the real NetMob23 formats, with a planted
# truth, written into the workflow's own folder {results_dir}/synthetic/. The rule exists
# only in synthetic mode (synthetic.enabled and no input path configured), so it can
# never write to a configured input path.


if SYNTHETIC:

    rule synthetic_data:
        input:
            provenance=provenance("synthetic_data"),
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

    # The placebo apps' files (placebo_apps) in a rule of their own, one job per app: the
    # files of synthetic_data stay the same whatever placebo apps are asked for, and adding
    # an app writes only its files. The control app's files are synthetic_data's.
    if PLACEBO_INGESTED:

        rule synthetic_placebo:
            input:
                provenance=provenance("synthetic_placebo"),
            output:
                traffic=[
                    traffic_file(city, "{placebo_app}", stamp, direction)
                    for city in CITIES
                    for stamp in DAY_STAMPS
                    for direction in DIRECTIONS
                ],
            log:
                f"{RESULTS}/logs/synthetic_placebo/{{placebo_app}}.log",
            benchmark:
                f"{RESULTS}/benchmarks/synthetic_placebo/{{placebo_app}}.tsv"
            wildcard_constraints:
                placebo_app=_alternatives(PLACEBO_INGESTED),
            conda:
                "../envs/geo.yaml"
            resources:
                mem_mb=1000,
                runtime=30,
            params:
                code=code_fingerprint("synthetic_placebo.py"),
                # {netmob_dir}/{city}/{app}/{day}/{file}
                netmob_dir=lambda wildcards, output: str(
                    Path(output.traffic[0]).parents[3]
                ),
                app="{placebo_app}",
                cities=CITIES,
                directions=DIRECTIONS,
                start=config["period"]["start"],
                end=config["period"]["end"],
                seed=config["synthetic"]["seed"],
                grid_scale=config["synthetic"]["grid_scale"],
            script:
                "../scripts/synthetic_placebo.py"
