# Association with recorded sexual violence: Spearman tests, the seed's test of two
# dependent correlations next to Williams' t and Steiger's Z, what the association survives
# (non-zero rates only, partial on population, regressions) and the headline summary
# (README: Outputs). One job per direction writes all five files.


rule association_tests:
    input:
        **({} if FROM_TABLE else {"qc": f"{RESULTS}/{{direction}}/qc.csv"}),
        **(
            {}
            if FROM_TABLE
            else {"crime_years": f"{RESULTS}/crime/sexual_violence_years.parquet"}
        ),
        **({"covariates": INPUTS["covariates"]} if INPUTS["covariates"] else {}),
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
        provenance=provenance("association_tests"),
    output:
        spearman=report(
            f"{RESULTS}/{{direction}}/spearman.csv",
            caption="../report/spearman.rst",
            category="Association with recorded sexual violence",
            subcategory="{direction}",
        ),
        dependent_corr=report(
            f"{RESULTS}/{{direction}}/dependent_corr.csv",
            caption="../report/dependent_corr.rst",
            category="What the association survives",
            subcategory="{direction}",
        ),
        association_adjusted=report(
            f"{RESULTS}/{{direction}}/association_adjusted.csv",
            caption="../report/association_adjusted.rst",
            category="What the association survives",
            subcategory="{direction}",
        ),
        regression=report(
            f"{RESULTS}/{{direction}}/regression.csv",
            caption="../report/regression.rst",
            category="What the association survives",
            subcategory="{direction}",
        ),
        summary=report(
            f"{RESULTS}/{{direction}}/summary.json",
            caption="../report/summary.rst",
            category="Estimates",
            subcategory="{direction}",
        ),
    log:
        f"{RESULTS}/logs/association/{{direction}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/association_tests/{{direction}}.tsv"
    # the figures wait for it: start it before the other analysis jobs
    priority: 5
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code_fingerprint("association_tests.py"),
        apps=APPS,
        shares=SHARES,
        min_coverage=config["min_coverage"],
        inference=config["inference"],
        size_adjustment=config["size_adjustment"],
        crime_years=CRIME_YEARS,
    script:
        "../scripts/association_tests.py"


# Recorded offences as counts: NB2 and hurdle models with the population as exposure; in
# traffic mode from the crime file's commune-year counts (published years summed, and a
# censored commune-year model), in table mode reconstructed from the rate (approximate).
rule count_models:
    input:
        **(
            {}
            if FROM_TABLE
            else {"years": f"{RESULTS}/crime/sexual_violence_years.parquet"}
        ),
        provenance=provenance("count_models"),
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
    output:
        count_models=report(
            f"{RESULTS}/{{direction}}/count_models.csv",
            caption="../report/count_models.rst",
            category="What the association survives",
            subcategory="{direction}",
        ),
    log:
        f"{RESULTS}/logs/association/{{direction}}_count_models.log",
    benchmark:
        f"{RESULTS}/benchmarks/count_models/{{direction}}.tsv"
    # a long job: before the short ones, so that they fill the stage's end
    priority: 3
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code_fingerprint("count_models.py"),
        apps=APPS,
        min_coverage=config["min_coverage"],
        inference=config["inference"],
        min_count=config["crime_publication"]["min_count"],
        zeros_published=config["crime_publication"]["zeros_published"],
    script:
        "../scripts/count_models.py"
