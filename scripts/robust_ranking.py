"""Rule robust_ranking (rules/robustness.smk): ranking.csv and, in traffic mode, the
heatmaps of the smoothed ranking (heatmap_smoothed_*.csv).

Raw and empirical-Bayes smoothed cpc_per_1000 and both rankings; see netmob_cpc.ranking.
"""


def main(snakemake):
    import sys

    import pandas as pd

    from netmob_cpc.estimates import read_estimate_table
    from netmob_cpc.files import atomic_path
    from netmob_cpc.ranking import ranking_table, smoothed_heatmaps

    params = snakemake.params
    estimates = read_estimate_table(snakemake.input.estimates, params.apps)
    ranking, details = ranking_table(
        estimates, min_population=params.min_population, events_per_inhabitant=params.events_per_inhabitant
    )
    print(
        f"{details['communes']} communes, {details['smoothed']} with a usable cpc_per_1000 and population "
        f"(the others are neither smoothed nor ranked), {details['ranked']} ranked "
        f"(min_population {params.min_population})",
        file=sys.stderr,
    )
    print(
        f"count scale: {details.get('events_per_inhabitant')} events per inhabitant "
        f"({params.events_per_inhabitant!r}); global rate m = {details.get('m')} per 1,000, "
        f"between-commune variance a = {details.get('a')} (per 1,000 squared); the smallest "
        f"commune keeps {details.get('smallest_weight')} of its deviation from m",
        file=sys.stderr,
    )
    moved = ranking[ranking["in_ranking"] & (ranking["rank_raw"] != ranking["rank_smoothed"])]
    print(f"{len(moved)} ranked communes change rank", file=sys.stderr)
    with atomic_path(snakemake.output.ranking) as tmp:
        ranking.to_csv(tmp, index=False)
    if "hourly" in snakemake.input.keys():
        from netmob_cpc.heatmaps import HOURLY_COLUMNS

        hourly = pd.read_parquet(snakemake.input.hourly, columns=HOURLY_COLUMNS)
        tables = smoothed_heatmaps(
            hourly, estimates, ranking, apps=params.apps, zero_replacement=params.zero_replacement, top_n=params.top_n
        )
        for name, table in tables.items():
            with atomic_path(snakemake.output[name]) as tmp:
                table.to_csv(tmp, index=False)
    else:
        print("published-table mode: no hourly series, ranking.csv only", file=sys.stderr)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
