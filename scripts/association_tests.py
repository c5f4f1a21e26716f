"""Entry script of rule association_tests: spearman.csv, dependent_corr.csv,
association_adjusted.csv, regression.csv and summary.json of one direction."""


def main(snakemake):
    import json
    import sys

    import numpy as np
    import pandas as pd

    from netmob_cpc.estimates import read_estimate_table
    from netmob_cpc.files import atomic_path
    from netmob_cpc.inference import regression_table
    from netmob_cpc.statistics import (
        PER_1000,
        adjusted_association_table,
        dependent_corr_table,
        log_test_table,
        publication_counts,
        quality_totals,
        read_covariates,
        spearman_table,
        summary,
        select_tested,
    )

    params = snakemake.params
    path = snakemake.input.estimates
    estimates = read_estimate_table(path, params.apps)
    tested, counts = select_tested(estimates, params.min_coverage)
    covariates = None
    if "covariates" in snakemake.input.keys():
        covariates = read_covariates(snakemake.input.covariates)
        matched = int(tested["code_com"].isin(covariates.index).sum())
        print(
            f"{snakemake.input.covariates}: {len(covariates)} communes, {len(covariates.columns)} covariate(s) "
            f"({', '.join(covariates.columns)}); {matched} of the {len(tested)} tested communes have a row",
            file=sys.stderr,
        )
    spearman = spearman_table(tested)
    dependent = dependent_corr_table(tested)
    adjusted = adjusted_association_table(tested, spline_df=params.size_adjustment["spline_df"])
    inference = params.inference
    regression = regression_table(
        tested, covariates, min_clusters=inference["min_clusters"], draws=inference["wild_bootstrap_draws"],
        seed=inference["seed"],
    )
    print(
        f"wild cluster restricted bootstrap: {inference['wild_bootstrap_draws']} draws (seed {inference['seed']}); "
        f"{tested['cities'].nunique() if 'cities' in tested.columns else 0} cities, "
        f"{tested['code_dep'].nunique() if 'code_dep' in tested.columns else 0} departments; cluster inference on "
        f"fewer than {inference['min_clusters']} clusters withheld",
        file=sys.stderr,
    )
    shares = params.shares
    headline = summary(
        estimates, params.apps["tor"], shares["tor_to_darknet_share"], shares["porn_in_darknet_share"],
        shares["csam_in_porn_share"], tested=tested,
    )
    headline.update({key: value for key, value in counts.items() if key != "n_tested"})
    years_table = None
    if "crime_years" in snakemake.input.keys():
        years_table = pd.read_parquet(snakemake.input.crime_years)
    headline["crime_outcome"] = publication_counts(estimates, tested, params.crime_years, years_table)
    print(
        f"crime outcome: {json.dumps(headline['crime_outcome'])} (a zero rate means that every published "
        "year recorded none; unpublished years are not zeros)",
        file=sys.stderr,
    )
    if "qc" in snakemake.input.keys():
        headline["data_quality"] = quality_totals(pd.read_csv(snakemake.input.qc))

    log_table = log_test_table(tested)
    for column in PER_1000:
        dropped = int((~np.isfinite(log_table[column].to_numpy(dtype="float64", na_value=np.nan))).sum())
        if dropped:
            print(f"{column}: {dropped} tested communes with a non-finite log value left out", file=sys.stderr)
    print(
        f"{path}: {headline['n_communes']} communes, {headline['n_tested']} tested; "
        f"{counts['n_communes_without_crime_rate']} without any crime rate (absent from the crime file for "
        f"the configured class and years), {counts['n_communes_without_published_rate']} without a published "
        f"sv_com_17_21; {counts['n_communes_without_population']} without a usable population (missing, zero "
        f"or negative: no per-capita rate; {counts['n_communes_without_population_with_rate']} of them with a "
        f"rate); {counts['n_below_min_coverage']} below min_coverage {params.min_coverage} "
        f"({counts['n_coverage_unknown']} with unknown coverage); {counts['n_c_floored']} with a floored c "
        f"({counts['n_c_floored_tested']} of them tested)",
        file=sys.stderr,
    )
    for table in (spearman, dependent, adjusted, regression):
        print(table.to_string(index=False), file=sys.stderr)
    for output, table in (
        ("spearman", spearman), ("dependent_corr", dependent),
        ("association_adjusted", adjusted), ("regression", regression),
    ):
        with atomic_path(getattr(snakemake.output, output)) as tmp:
            table.to_csv(tmp, index=False)
    with atomic_path(snakemake.output.summary) as tmp:
        with open(tmp, "w") as handle:
            json.dump(headline, handle, sort_keys=True, indent=2, allow_nan=False)
            handle.write("\n")


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
