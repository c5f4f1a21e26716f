# NetMob23 traffic -> commune-level estimates of CSAM consumption through Tor, after
# Koebe et al. 2024. Stages and intermediate files: ARCHITECTURE.md; inputs, keys and
# outputs: README.md and config/README.md.


# The embedded default, config/config.yaml, is read by rules/common.smk: it applies only
# when the configuration given with --configfile / --config names no input path.
include: "rules/common.smk"


report: "report/workflow.rst"


include: "rules/synthetic.smk"
include: "rules/tile_map.smk"
include: "rules/ingest.smk"
include: "rules/timeseries.smk"
include: "rules/crime.smk"
include: "rules/estimate.smk"
include: "rules/association.smk"
include: "rules/heatmaps.smk"
include: "rules/robustness.smk"
include: "rules/figures.smk"
include: "rules/simulation.smk"
include: "rules/falsification.smk"
include: "rules/placebo.smk"


rule all:
    default_target: True
    input:
        final_targets(),


onsuccess:
    release_results_lock()
    release_scheduler_timers()


onerror:
    report_failures()
    release_results_lock()
    release_scheduler_timers()
