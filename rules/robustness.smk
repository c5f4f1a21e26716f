# Beyond the notebook: how the headline numbers depend on the Tor-to-darknet share, the
# floored factors and the outage dates (sensitivity.csv); bootstrap intervals resampling
# communes and whole cities (spearman_ci.csv, difference_ci.csv, correction_methods_ci.csv);
# rankings with empirical-Bayes smoothed rates (ranking.csv, heatmap_smoothed_*.csv).
# Code: scripts/sensitivity.py, scripts/bootstrap_intervals.py, scripts/robust_ranking.py
# over scripts/netmob_cpc/sensitivity.py and scripts/netmob_cpc/ranking.py.
# The keys' defaults and meanings: config/schema.yaml; TOR_SHARE_BOUNDS (parsed shares),
# OUTAGE_STAMPS and SMOOTHED_HEATMAPS come from rules/common.smk.

# Published-table mode has the table's c only: no correlations (hence no other correction
# method) and no hourly series (hence no outage variant and no heatmaps).
if FROM_TABLE:
    SENSITIVITY_TRAFFIC, BOOTSTRAP_TRAFFIC, RANKING_HOURLY = {}, {}, {}
    METHODS_CI_OUTPUT, SMOOTHED_HEATMAP_OUTPUTS = {}, {}
else:
    SENSITIVITY_TRAFFIC = {
        "correlations": f"{RESULTS}/estimate/{{direction}}/correlations.parquet",
        "hourly": f"{RESULTS}/hourly/{{direction}}.parquet",
    }
    BOOTSTRAP_TRAFFIC = {
        "correlations": f"{RESULTS}/estimate/{{direction}}/correlations.parquet"
    }
    RANKING_HOURLY = {"hourly": f"{RESULTS}/hourly/{{direction}}.parquet"}
    METHODS_CI_OUTPUT = {
        "correction_methods_ci": report(
            f"{RESULTS}/{{direction}}/correction_methods_ci.csv",
            caption="../report/correction_methods_ci.rst",
            category="Correction factors",
            subcategory="{direction}",
        )
    }
    SMOOTHED_HEATMAP_OUTPUTS = {
        name: report(
            f"{RESULTS}/{{direction}}/{name}.csv",
            caption="../report/heatmap_smoothed.rst",
            category="Heatmaps",
            subcategory="{direction}",
            labels={"table": f"{name}.csv", "direction": "{direction}"},
        )
        for name in SMOOTHED_HEATMAPS
    }


rule sensitivity:
    input:
        **SENSITIVITY_TRAFFIC,
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
        provenance=provenance("sensitivity"),
    output:
        sensitivity=report(
            f"{RESULTS}/{{direction}}/sensitivity.csv",
            caption="../report/sensitivity.rst",
            category="What the association survives",
            subcategory="{direction}",
        ),
    log:
        f"{RESULTS}/logs/robustness/{{direction}}_sensitivity.log",
    benchmark:
        f"{RESULTS}/benchmarks/sensitivity/{{direction}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code_fingerprint("sensitivity.py"),
        apps=APPS,
        shares=SHARES,
        tor_share_bounds=TOR_SHARE_BOUNDS,
        negative_factor_floor=config["negative_factor_floor"],
        zero_replacement=config["zero_replacement"],
        outage_dates=OUTAGE_STAMPS,
        min_coverage=config["min_coverage"],
    script:
        "../scripts/sensitivity.py"


rule bootstrap_intervals:
    input:
        **BOOTSTRAP_TRAFFIC,
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
        provenance=provenance("bootstrap_intervals"),
    output:
        **METHODS_CI_OUTPUT,
        spearman_ci=report(
            f"{RESULTS}/{{direction}}/spearman_ci.csv",
            caption="../report/spearman_ci.rst",
            category="What the association survives",
            subcategory="{direction}",
        ),
        difference_ci=report(
            f"{RESULTS}/{{direction}}/difference_ci.csv",
            caption="../report/difference_ci.rst",
            category="What the association survives",
            subcategory="{direction}",
        ),
    log:
        f"{RESULTS}/logs/robustness/{{direction}}_bootstrap.log",
    benchmark:
        f"{RESULTS}/benchmarks/bootstrap_intervals/{{direction}}.tsv"
    # a long job: before the short ones, so that they fill the stage's end
    priority: 3
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code_fingerprint("bootstrap_intervals.py"),
        apps=APPS,
        shares=SHARES,
        negative_factor_floor=config["negative_factor_floor"],
        bootstrap=config["bootstrap"],
        min_coverage=config["min_coverage"],
        inference=config["inference"],
    script:
        "../scripts/bootstrap_intervals.py"


rule robust_ranking:
    input:
        **RANKING_HOURLY,
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
        provenance=provenance("robust_ranking"),
    output:
        **SMOOTHED_HEATMAP_OUTPUTS,
        ranking=report(
            f"{RESULTS}/{{direction}}/ranking.csv",
            caption="../report/ranking.rst",
            category="Rankings",
            subcategory="{direction}",
        ),
    log:
        f"{RESULTS}/logs/robustness/{{direction}}_ranking.log",
    benchmark:
        f"{RESULTS}/benchmarks/robust_ranking/{{direction}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code_fingerprint("robust_ranking.py"),
        apps=APPS,
        min_population=config["min_population"],
        events_per_inhabitant=config["smoothing_events_per_inhabitant"],
        zero_replacement=config["zero_replacement"],
        top_n=config["top_n"],
    script:
        "../scripts/robust_ranking.py"
