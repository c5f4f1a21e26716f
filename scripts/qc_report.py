"""Entry script of the rule `qc_report`: the per-file QC tables of every city of one
direction in one qc.csv."""

import sys


def main(snakemake):
    import pandas as pd

    from netmob_cpc.files import atomic_path
    from netmob_cpc.qc import qc_report, qc_summary

    report = qc_report([pd.read_csv(path, dtype={"parser": str}) for path in snakemake.input])
    with atomic_path(snakemake.output[0]) as tmp:
        report.to_csv(tmp, index=False)
    print(qc_summary(report), file=sys.stderr)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
