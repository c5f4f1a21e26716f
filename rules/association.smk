# Association with recorded sexual violence: Spearman tests, the seed's test of two
# dependent correlations next to Steiger's Z, and the headline summary (CONTRACT 3).


rule association_tests:
    input:
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
    output:
        spearman=f"{RESULTS}/{{direction}}/spearman.csv",
        dependent_corr=f"{RESULTS}/{{direction}}/dependent_corr.csv",
        summary=f"{RESULTS}/{{direction}}/summary.json",
    log:
        f"{RESULTS}/logs/association/{{direction}}.log",
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
