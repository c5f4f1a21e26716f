# Is the association specific? Falsification tests of rho(cpc, sv_com_17_21): c shuffled
# among communes (within city, within city and population quintile, across cities), c
# alone, Tor times the city's mean c, and a size-only reference outcome drawn from a model
# in which the recorded rate depends on population only (falsification.csv and its
# figure); the same tests against other offence classes (negative_controls.csv, a job of
# its own so that the headline crime job does not rerun when the classes change).
# Code: scripts/falsification.py, scripts/negative_controls.py over
# scripts/netmob_cpc/falsification.py. Keys: falsification, crime_publication,
# negative_control_classes (config/schema.yaml).

if config["negative_control_classes"] and not INPUTS["crime_csv"]:
    stop(
        "config key 'negative_control_classes' names offence classes, but there is no crime "
        "file to read them from (config key 'crime_csv' is empty): set crime_csv or empty the list"
    )


rule falsification:
    input:
        **(
            {}
            if FROM_TABLE
            else {"crime_years": f"{RESULTS}/crime/sexual_violence_years.parquet"}
        ),
        # cpc's rank among the placebo apps (placebo_apps; in table mode the table's apps)
        **(
            {"placebo": f"{RESULTS}/{{direction}}/placebo.csv"}
            if PLACEBO_APPS or FROM_TABLE
            else {}
        ),
        provenance=provenance("falsification"),
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
    output:
        falsification=report(
            f"{RESULTS}/{{direction}}/falsification.csv",
            caption="../report/falsification.rst",
            category="Is it specific?",
            subcategory="{direction}",
        ),
        figure=report(
            f"{RESULTS}/{{direction}}/figures/falsification.png",
            caption="../report/falsification_figure.rst",
            category="Is it specific?",
            subcategory="{direction}",
        ),
    log:
        f"{RESULTS}/logs/falsification/{{direction}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/falsification/{{direction}}.tsv"
    # the longest job of the analysis stage: start it as soon as it can
    priority: 5
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=20,
    params:
        code=code_fingerprint("falsification.py"),
        apps=APPS,
        falsification=config["falsification"],
        crime_publication=config["crime_publication"],
        crime_years=CRIME_YEARS,
        min_coverage=config["min_coverage"],
    script:
        "../scripts/falsification.py"


rule negative_controls:
    input:
        **(
            {"crime_csv": INPUTS["crime_csv"]}
            if config["negative_control_classes"]
            else {}
        ),
        provenance=provenance("negative_controls"),
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
    output:
        negative_controls=report(
            f"{RESULTS}/{{direction}}/negative_controls.csv",
            caption="../report/negative_controls.rst",
            category="Is it specific?",
            subcategory="{direction}",
        ),
    log:
        f"{RESULTS}/logs/falsification/{{direction}}_negative_controls.log",
    benchmark:
        f"{RESULTS}/benchmarks/negative_controls/{{direction}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        code=code_fingerprint("negative_controls.py"),
        apps=APPS,
        classes=config["negative_control_classes"],
        crime_years=CRIME_YEARS,
        crime_year=CRIME_YEAR,
        min_coverage=config["min_coverage"],
    script:
        "../scripts/negative_controls.py"
