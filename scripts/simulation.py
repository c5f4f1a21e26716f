"""Rule `simulation_study` (rules/simulation.smk): the simulation study of one direction
(netmob_cpc.simulation) -> simulation.csv and simulation_moments.csv."""

import sys
import time


def main(snakemake):
    import resource

    import numpy as np
    import pandas as pd

    from netmob_cpc.estimates import read_estimate_table
    from netmob_cpc.files import atomic_path
    from netmob_cpc.simulation import (
        calibrate, extra_moments_table, moments, moments_table, run_study, source_communes,
    )
    from netmob_cpc.statistics import CRIME, select_tested

    params = snakemake.params
    started = time.perf_counter()
    path = snakemake.input.estimates
    estimates = read_estimate_table(path, params.apps)
    tested, _ = select_tested(estimates, params.min_coverage)
    source = source_communes(estimates, tested, params.apps["tor"], params.pool)
    n = int(params.communes) or len(tested)
    crime_years = len(params.crime_years)
    model = calibrate(source, crime_years, path)
    print(
        f"{path}: {len(tested)} tested communes; resampling {len(source)} ({params.pool}) as tuples of "
        f"(pop, c, Tor per inhabitant, city), {n} per data set; {params.replicates} replicates per "
        f"scenario, seed {params.seed}, {snakemake.threads} process(es)",
        file=sys.stderr,
    )
    print(
        f"outcome model (NB2 on {model['n']} communes, counts reconstructed as round({crime_years} x sv x pop / "
        f"1000): approximate): a = {model['a']:.4f}, b = {model['b']:.4f}, alpha = {model['alpha']:.4f}; "
        f"without size a = {model['a_null']:.4f}, alpha = {model['alpha_null']:.4f}; between-city sd of the "
        f"log rate {model['city_sd']:.4f}",
        file=sys.stderr,
    )
    log_cpc = np.log(source["tor_per_capita"].to_numpy() * 1000 * source["c"].to_numpy())
    settings = dict(
        crime_years=crime_years,
        min_count=params.publication["min_count"],
        window_years=params.publication["window_years"],
        zeros_published=bool(params.publication["zeros_published"]),
        planted_slope=params.planted_slope,
        log_cpc_centre=float(log_cpc.mean()),
    )
    table, found, extras = run_study(
        source, model, replicates=params.replicates, seed=params.seed, n=n, settings=settings,
        spline_df=params.size_adjustment["spline_df"], workers=snakemake.threads,
    )
    data = moments(tested["pop"], tested["c"], tested[CRIME])
    moment_table = moments_table(found, data)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("rejection rates at 5 %:", file=sys.stderr)
        print(table[table["alpha"] == 0.05].to_string(index=False), file=sys.stderr)
        print("moments (scenarios: means over the replicates; data: the tested communes):", file=sys.stderr)
        print(moment_table.to_string(index=False), file=sys.stderr)
        print("means over the replicates (not in the tables):", file=sys.stderr)
        print(extra_moments_table(extras).to_string(), file=sys.stderr)
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    print(f"done in {time.perf_counter() - started:.1f} s wall, {usage:.1f} s CPU", file=sys.stderr)
    with atomic_path(snakemake.output.table) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(snakemake.output.moments) as tmp:
        moment_table.to_csv(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
