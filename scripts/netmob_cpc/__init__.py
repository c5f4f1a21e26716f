"""The workflow's code: plain functions by domain, imported by the thin entry scripts in
scripts/ (one per rule) and by the tests.

Modules, in the order the data flows:
    files          atomic writes, input errors, delimiter sniffing
    codes          INSEE commune codes (five characters)
    synthetic      generator of synthetic inputs in the real formats
    tile_map       tile -> commune map (given, or built from grid + communes)
    traffic_files  parsing and checks of the NetMob23 traffic files (ingest)
    qc             data-quality fields and thresholds
    series         commune x slot series, hourly series, totals
    crime          recorded sexual-violence rates
    estimates      correction factors and the per-commune estimate table
    statistics     association tests, adjusted analyses, regressions
    sensitivity    sensitivity and bootstrap intervals
    ranking        empirical-Bayes smoothed rankings
    heatmaps       day x hour heatmap tables
    figures        PNG figures
    simulation     the simulation study

Every rule lists, through a content fingerprint in its params, the modules its entry
script imports (rules/common.smk, `code_fingerprint`), so that editing a module reruns
exactly the jobs that use it.
"""
