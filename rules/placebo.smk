# Placebo apps (placebo_apps): other NetMob23 apps put through exactly the construction
# Tor goes through, tested against the outcome as cpc is (placebo.csv). Rules of their own:
# the headline rules never read placebo_apps, so turning it on reruns none of them. One
# ingest job per city x direction x batch for all placebo apps (one app's days in memory
# at a time), one series job per app x direction (one city's days at a time), one table
# per direction. The control app, when it is a placebo, is read from the headline's
# ingested batches instead of being ingested twice. In table mode (a published estimate
# table) the placebos are the table's control and porn app volumes times its c.


# --- before any job: the placebo apps' traffic files exist (submitting side only) -------
if PLACEBO_INGESTED and MODE == "traffic" and workflow.exec_mode.name == "DEFAULT":
    _missing_placebo = [
        path
        for city in CITIES
        for app in PLACEBO_INGESTED
        for stamp in DAY_STAMPS
        for direction in DIRECTIONS
        if not os.path.exists(path := traffic_file(city, app, stamp, direction))
    ]
    if _missing_placebo:
        _shown = "\n  ".join(_missing_placebo[:20])
        _more = (
            f"\n  ... and {len(_missing_placebo) - 20} more"
            if len(_missing_placebo) > 20
            else ""
        )
        stop(
            f"{len(_missing_placebo)} traffic file(s) of the placebo apps (config key "
            f"'placebo_apps') are missing under netmob_dir={INPUTS['netmob_dir']!r}:\n  "
            f"{_shown}{_more}\nRemove those apps from placebo_apps, or fix netmob_dir."
        )


if PLACEBO_INGESTED and not FROM_TABLE:

    rule placebo_ingest:
        input:
            provenance=provenance("placebo_ingest"),
            traffic=placebo_traffic_files,
            library=rules.parser_library.output[0],
            tile_index=f"{RESULTS}/tile_map/{{city}}.npz",
        output:
            [
                f"{RESULTS}/placebo/ingest/{{direction}}/{{city}}/{app}/{{batch}}.npz"
                for app in PLACEBO_INGESTED
            ],
        log:
            f"{RESULTS}/logs/placebo_ingest/{{direction}}/{{city}}/{{batch}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/placebo_ingest/{{direction}}/{{city}}/{{batch}}.tsv"
        conda:
            "../envs/ingest.yaml"
        threads: 1
        resources:
            mem_mb=400,
            runtime=20 + 2 * len(PLACEBO_INGESTED),
        params:
            code=code_fingerprint("placebo_ingest.py"),
            apps=PLACEBO_INGESTED,
            dates=ingest_batch_stamps,
            qc={key: config["qc"][key] for key in INGEST_QC_KEYS},
        script:
            "../scripts/placebo_ingest.py"


if PLACEBO_APPS and not FROM_TABLE:

    rule placebo_series:
        input:
            unpack(placebo_series_batches),
            provenance=provenance("placebo_series"),
            tile_indexes=expand(f"{RESULTS}/tile_map/{{city}}.npz", city=CITIES),
        output:
            f"{RESULTS}/placebo/{{direction}}/{{placebo_app}}.parquet",
        log:
            f"{RESULTS}/logs/placebo_series/{{direction}}/{{placebo_app}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/placebo_series/{{direction}}/{{placebo_app}}.tsv"
        wildcard_constraints:
            placebo_app=_alternatives(PLACEBO_APPS),
        conda:
            "../envs/analysis.yaml"
        resources:
            mem_mb=800,
            runtime=20,
        params:
            code=code_fingerprint("placebo_series.py"),
            app="{placebo_app}",
            cities=CITIES,
            dates=DAY_STAMPS,
            outage_dates=OUTAGE_STAMPS,
            zero_replacement=config["zero_replacement"],
            correction_method=config["correction_method"],
            shares=SHARES,
            negative_factor_floor=config["negative_factor_floor"],
        script:
            "../scripts/placebo_series.py"

    rule placebo_table:
        input:
            provenance=provenance("placebo_table"),
            estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
            placebo=expand(
                f"{RESULTS}/placebo/{{{{direction}}}}/{{app}}.parquet",
                app=PLACEBO_APPS,
            ),
        output:
            report(
                f"{RESULTS}/{{direction}}/placebo.csv",
                caption="../report/placebo.rst",
                category="Is the association specific?",
                subcategory="{direction}",
            ),
        log:
            f"{RESULTS}/logs/placebo_table/{{direction}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/placebo_table/{{direction}}.tsv"
        conda:
            "../envs/analysis.yaml"
        resources:
            mem_mb=500,
            runtime=5,
        params:
            code=code_fingerprint("placebo_table.py"),
            apps=APPS,
            placebo_apps=PLACEBO_APPS,
            min_coverage=config["min_coverage"],
            spline_df=config["size_adjustment"]["spline_df"],
        script:
            "../scripts/placebo_table.py"


if FROM_TABLE:

    rule placebo_published:
        input:
            provenance=provenance("placebo_published"),
            estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
        output:
            report(
                f"{RESULTS}/{{direction}}/placebo.csv",
                caption="../report/placebo.rst",
                category="Is the association specific?",
                subcategory="{direction}",
            ),
        log:
            f"{RESULTS}/logs/placebo_published/{{direction}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/placebo_published/{{direction}}.tsv"
        conda:
            "../envs/analysis.yaml"
        resources:
            mem_mb=500,
            runtime=5,
        params:
            code=code_fingerprint("placebo_published.py"),
            apps=APPS,
            min_coverage=config["min_coverage"],
            spline_df=config["size_adjustment"]["spline_df"],
        script:
            "../scripts/placebo_published.py"
