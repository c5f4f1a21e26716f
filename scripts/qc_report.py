"""Data-quality report of one direction: the per-file counts of every city (qc.csv)."""

import sys

import pandas as pd


def qc_report(city_tables):
    """Concatenate the cities' per-file QC tables (in config order)."""
    return pd.concat(city_tables, ignore_index=True)


def main(snakemake):
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    from atomic_output import atomic_path

    report = qc_report([pd.read_csv(path) for path in snakemake.input])
    with atomic_path(snakemake.output[0]) as tmp:
        report.to_csv(tmp, index=False)
    counts = report.drop(columns=["city", "app", "direction", "date"]).sum(numeric_only=True)
    print(f"{len(report)} files\n{counts.to_string()}", file=sys.stderr)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
