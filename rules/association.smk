# Association with recorded sexual violence: Spearman tests, the seed's test of two
# dependent correlations next to Steiger's Z, and the headline summary (CONTRACT 3).


rule association_tests:
    input:
        **({} if FROM_TABLE else {"qc": f"{RESULTS}/{{direction}}/qc.csv"}),
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
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
            category="Association with recorded sexual violence",
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
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        apps=APPS,
        tor_to_darknet_share=SHARES["tor_to_darknet_share"],
        porn_in_darknet_share=SHARES["porn_in_darknet_share"],
        csam_in_porn_share=SHARES["csam_in_porn_share"],
    script:
        "../scripts/association_tests.py"
