"""Entry script of the rule `qc_report`: the per-file QC figures of every city and app of
one direction, read from the ingested batches, in one qc.csv."""

import sys


def main(snakemake):
    from netmob_cpc.files import atomic_path
    from netmob_cpc.qc import qc_rows, qc_summary, qc_table
    from netmob_cpc.series import split_batches
    from netmob_cpc.traffic_files import load_batch

    params = snakemake.params
    batches = split_batches(list(snakemake.input.batches), params.cities, list(params.apps))
    report = qc_table([
        row
        for city in params.cities
        for role, app in params.apps.items()
        for row in qc_rows(city, params.direction, app,
                           [day for path in batches[city][role] for day in load_batch(path, traffic=False)])
    ])
    with atomic_path(snakemake.output[0]) as tmp:
        report.to_csv(tmp, index=False)
    print(qc_summary(report), file=sys.stderr)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
