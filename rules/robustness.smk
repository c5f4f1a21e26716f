# Beyond the notebook: sensitivity of the headline numbers to the Tor-to-darknet share,
# bootstrap intervals of the Spearman correlations, and rankings with empirical-Bayes
# smoothed rates (scripts/sensitivity.py, scripts/robust_ranking.py).
# Keys are read with defaults, so that the rules run on a config without them.

# The notebook's three bounds of the onion-service share of Tor traffic: Tor Metrics
# 2017-2019 (0.011), Tor blog "Some statistics about onions" (0.034), PNAS 2020 (0.078).
TOR_SHARE_BOUNDS = [
    parse_share("tor_share_bounds", value)
    for value in config.get("tor_share_bounds", [0.011, 0.034, 0.078])
]
BOOTSTRAP = {"resamples": 2000, "seed": 20240601, **config.get("bootstrap", {})}
MIN_POPULATION = config.get("min_population", 0)
# Poisson events per inhabitant at the global rate ("auto": estimated from the data); see
# scripts/robust_ranking.py for why the count scale has to be chosen.
SMOOTHING_EVENTS = config.get("smoothing_events_per_inhabitant", "auto")
SMOOTHED_HEATMAPS = [
    "heatmap_smoothed_10",
    "heatmap_smoothed_rank1",
    "heatmap_smoothed_rank2",
    "heatmap_smoothed_rank3",
]
# Published-table mode has the table's c only: no correlations (hence no other correction
# method) and no hourly series (hence no heatmaps).
if FROM_TABLE:
    ROBUSTNESS_CORRELATIONS, ROBUSTNESS_HOURLY = {}, {}
    METHODS_CI_OUTPUT, SMOOTHED_HEATMAP_OUTPUTS = {}, {}
else:
    ROBUSTNESS_CORRELATIONS = {
        "correlations": f"{RESULTS}/estimate/{{direction}}/correlations.parquet"
    }
    ROBUSTNESS_HOURLY = {"hourly": f"{RESULTS}/hourly/{{direction}}.parquet"}
    METHODS_CI_OUTPUT = {
        "correction_methods_ci": f"{RESULTS}/{{direction}}/correction_methods_ci.csv"
    }
    SMOOTHED_HEATMAP_OUTPUTS = {
        name: f"{RESULTS}/{{direction}}/{name}.csv" for name in SMOOTHED_HEATMAPS
    }


rule sensitivity:
    input:
        **ROBUSTNESS_CORRELATIONS,
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
    output:
        sensitivity=f"{RESULTS}/{{direction}}/sensitivity.csv",
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
        apps=APPS,
        shares=SHARES,
        tor_share_bounds=TOR_SHARE_BOUNDS,
        negative_factor_floor=config["negative_factor_floor"],
    script:
        "../scripts/sensitivity.py"


rule bootstrap_intervals:
    input:
        **ROBUSTNESS_CORRELATIONS,
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
    output:
        **METHODS_CI_OUTPUT,
        spearman_ci=f"{RESULTS}/{{direction}}/spearman_ci.csv",
    log:
        f"{RESULTS}/logs/robustness/{{direction}}_bootstrap.log",
    benchmark:
        f"{RESULTS}/benchmarks/bootstrap_intervals/{{direction}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        apps=APPS,
        shares=SHARES,
        negative_factor_floor=config["negative_factor_floor"],
        bootstrap=BOOTSTRAP,
    script:
        "../scripts/sensitivity.py"


rule robust_ranking:
    input:
        **ROBUSTNESS_HOURLY,
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
    output:
        **SMOOTHED_HEATMAP_OUTPUTS,
        ranking=f"{RESULTS}/{{direction}}/ranking.csv",
    log:
        f"{RESULTS}/logs/robustness/{{direction}}_ranking.log",
    benchmark:
        f"{RESULTS}/benchmarks/robust_ranking/{{direction}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        apps=APPS,
        min_population=MIN_POPULATION,
        events_per_inhabitant=SMOOTHING_EVENTS,
        zero_replacement=config["zero_replacement"],
        top_n=config["top_n"],
    script:
        "../scripts/robust_ranking.py"
