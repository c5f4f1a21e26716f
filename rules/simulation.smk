# The simulation study: rejection rates of the association tests on data sets that
# resample the run's own communes as (population, c, Tor per inhabitant, city) tuples and
# simulate the outcome under known mechanisms (size only, the publication rule, city
# effects, c tied to size, a planted effect); and the moments of each scenario beside the
# data's. Its own target, `snakemake simulation`; not part of the default run.
# Code: scripts/simulation.py over scripts/netmob_cpc/simulation.py.


rule simulation:
    input:
        expand(
            f"{RESULTS}/{{direction}}/{{name}}.csv",
            direction=DIRECTIONS,
            name=["simulation", "simulation_moments"],
        ),


rule simulation_study:
    input:
        provenance=provenance("simulation_study"),
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
    output:
        table=report(
            f"{RESULTS}/{{direction}}/simulation.csv",
            caption="../report/simulation.rst",
            category="What the association survives",
            subcategory="{direction}",
        ),
        moments=f"{RESULTS}/{{direction}}/simulation_moments.csv",
    log:
        f"{RESULTS}/logs/simulation/{{direction}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/simulation/{{direction}}.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 2
    resources:
        mem_mb=1500,
        runtime=30,
    params:
        code=code_fingerprint("simulation.py"),
        apps=APPS,
        min_coverage=config["min_coverage"],
        size_adjustment=config["size_adjustment"],
        crime_years=CRIME_YEARS,
        publication=config["crime_publication"],
        replicates=config["simulation"]["replicates"],
        seed=config["simulation"]["seed"],
        communes=config["simulation"]["communes"],
        pool=config["simulation"]["pool"],
        planted_slope=config["simulation"]["planted_slope"],
    script:
        "../scripts/simulation.py"
