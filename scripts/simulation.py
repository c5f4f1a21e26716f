"""Rule `simulation`: the simulation study (netmob_cpc.simulation) -> simulation.csv."""

import sys
import time


def main(snakemake):
    from netmob_cpc.files import atomic_path
    from netmob_cpc.simulation import monte_carlo_error, run_study

    params = snakemake.params
    started = time.perf_counter()
    print(
        f"simulation study: {params.replicates} replicates per scenario, {params.communes} communes, "
        f"{params.days} days of hourly series, seed {params.seed}, {snakemake.threads} process(es)",
        file=sys.stderr,
    )
    table, diagnostics = run_study(
        replicates=params.replicates,
        seed=params.seed,
        n_communes=params.communes,
        days=params.days,
        shares=params.shares,
        negative_factor_floor=params.negative_factor_floor,
        workers=snakemake.threads,
    )
    table["mc_error"] = [monte_carlo_error(p, r) for p, r in zip(table["rejection_rate"], table["replicates"])]
    print("rejection rates at 5 % (mc_error = sqrt(p (1 - p) / R), log only):", file=sys.stderr)
    print(table.to_string(index=False), file=sys.stderr)
    print("means over the replicates:", file=sys.stderr)
    print(diagnostics.to_string(), file=sys.stderr)
    print(f"done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    with atomic_path(snakemake.output.table) as tmp:
        table.drop(columns="mc_error").to_csv(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
