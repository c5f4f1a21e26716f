"""Rule bootstrap_intervals (rules/robustness.smk): spearman_ci.csv, difference_ci.csv and,
in traffic mode, correction_methods_ci.csv.

Percentile bootstrap intervals resampling communes and, separately, whole cities, with the
same resample count and seed; see netmob_cpc.sensitivity.
"""


def main(snakemake):
    import sys
    import time

    import pandas as pd

    from netmob_cpc.estimates import read_estimate_table
    from netmob_cpc.files import InputError, atomic_path
    from netmob_cpc.sensitivity import (
        bootstrap_weights,
        correction_methods_ci_table,
        difference_ci_table,
        method_log_rates,
        spearman_ci_table,
        withhold_city_intervals,
    )
    from netmob_cpc.statistics import log_test_table, select_tested

    params, path = snakemake.params, snakemake.input.estimates
    resamples, seed = int(params.bootstrap["resamples"]), int(params.bootstrap["seed"])
    estimates = read_estimate_table(path, params.apps)
    if "cities" not in estimates.columns:
        raise InputError(f"{path}: no cities column; the city bootstrap resamples whole cities")
    # the communes of the tests, as for spearman.csv (crime rate, population, min_coverage)
    tested, _ = select_tested(estimates, params.min_coverage)
    test = log_test_table(tested)
    cities = tested.loc[test.index, "cities"]
    blank = cities.isna() | (cities.astype("string").str.strip() == "")
    if blank.any():
        line = int(test.index[blank.to_numpy()][0]) + 2
        raise InputError(
            f"{path}: line {line}, column cities: empty for {int(blank.sum())} tested commune(s); "
            "every commune needs its city for the city bootstrap"
        )
    started = time.perf_counter()
    weights, city_weights, city_names = bootstrap_weights(cities, resamples, seed)
    print(
        f"{len(test)} tested communes in {len(city_names)} cities, {resamples} resamples (seed {seed}) of communes "
        "and of whole cities",
        file=sys.stderr,
    )
    min_clusters = int(params.inference["min_clusters"])
    if len(city_names) < min_clusters:
        print(
            f"note: only {len(city_names)} cities, fewer than inference.min_clusters = {min_clusters}: the city "
            "intervals are written as NaN",
            file=sys.stderr,
        )
    outputs = {
        "spearman_ci": spearman_ci_table(test, weights, city_weights),
        "difference_ci": difference_ci_table(test, weights, city_weights),
    }
    if "correlations" in snakemake.input.keys():
        correlations = pd.read_parquet(snakemake.input.correlations)
        rates = method_log_rates(
            estimates, correlations, tor_column=params.apps["tor"], shares=dict(params.shares),
            negative_factor_floor=params.negative_factor_floor,
        )
        outputs["correction_methods_ci"] = correction_methods_ci_table(test, rates, weights, city_weights)
    for name, table in outputs.items():
        table = withhold_city_intervals(table, len(city_names), min_clusters)
        print(f"{name}:\n{table.to_string(index=False)}", file=sys.stderr)
        short = table[["resamples", "resamples_city"]].lt(resamples).any(axis=1).sum()
        if short:
            print(
                f"{name}: {short} row(s) had resamples without a defined rho; 'resamples' and "
                "'resamples_city' count those used",
                file=sys.stderr,
            )
        with atomic_path(snakemake.output[name]) as tmp:
            table.to_csv(tmp, index=False)
    print(f"bootstrap: {time.perf_counter() - started:.2f} s", file=sys.stderr)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
