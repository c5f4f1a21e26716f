# The simulation study: rejection rates of the association tests on simulated communes
# where the method's assumption holds (`planted`), where nothing links the estimate to
# crime (`null`) and where commune size drives both (`size_confounded`). Its own target,
# `snakemake simulation`; not part of the default run.


rule simulation:
    input:
        provenance=provenance("simulation"),
    output:
        table=report(
            f"{RESULTS}/simulation.csv",
            caption="../report/simulation.rst",
            category="What the association survives",
        ),
    log:
        f"{RESULTS}/logs/simulation.log",
    benchmark:
        f"{RESULTS}/benchmarks/simulation.tsv"
    conda:
        "../envs/analysis.yaml"
    threads: 2
    resources:
        mem_mb=1500,
        runtime=15,
    params:
        code=code_fingerprint("simulation.py"),
        replicates=config["simulation"]["replicates"],
        seed=config["simulation"]["seed"],
        communes=config["simulation"]["communes"],
        days=config["simulation"]["days"],
        shares=SHARES,
        negative_factor_floor=config["negative_factor_floor"],
    script:
        "../scripts/simulation.py"
