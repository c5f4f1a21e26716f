"""The workflow's code: plain functions by domain, imported by the thin entry scripts in
scripts/ (one per rule) and by the tests.

Modules in one-way layers, lowest first (a module imports only its own layer or lower ones;
tests/test_layers.py checks it):
    files          atomic writes, input errors, delimiter sniffing, running a rule's main
    codes          INSEE commune codes (five characters)
    config         the configuration: defaults, checks, sizes, code fingerprints
    provenance     what made a result (a record per job) and the results folder's lock
    traffic_files  parsing and checks of the NetMob23 traffic files (ingest)
    tile_map       tile -> commune map (given, or built from grid + communes)
    qc             data-quality fields and thresholds
    crime          recorded crime rates per commune
    synthetic      generator of synthetic inputs in the real formats
    rates          per-capita rates and usable populations
    rankstats      ranks, Spearman, partial and per-commune correlations
    publication    the crime file's publication rule
    series         hourly series, totals
    estimates      correction factors and the per-commune estimate table
    heatmaps       day x hour heatmap tables
    ranking        empirical-Bayes smoothed rankings
    statistics     association tests, adjusted analyses, regressions
    inference      few-cluster inference: wild cluster bootstrap, leave-one-city-out
    count_models   negative binomial, hurdle and censored count models
    sensitivity    sensitivity and bootstrap intervals
    simulation     the simulation study
    figures        PNG figures
    placebo        other apps through Tor's construction
    falsification  permutations of c, the size-only reference, negative controls

Every rule lists, through a content fingerprint in its params, the modules its entry
script imports (rules/common.smk, `code_fingerprint`), so that editing a module reruns
exactly the jobs that use it.
"""
