# Association with recorded sexual violence: Spearman tests, the seed's test of two
# dependent correlations next to Williams' t and Steiger's Z, what the association survives
# (non-zero rates only, partial on population, regressions) and the headline summary
# (README: Outputs). One job per direction writes all five files.


rule association_tests:
    input:
        **({} if FROM_TABLE else {"qc": f"{RESULTS}/{{direction}}/qc.csv"}),
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
    script:
        "../scripts/association_tests.py"
