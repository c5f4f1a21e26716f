"""Entry script of the rule `commune_time_series`: one city's ingested batches of the three
apps gathered into its slot-level series (Parquet) and its per-file QC table (CSV)."""

import sys


def main(snakemake):
    import pyarrow.parquet as pq

    from netmob_cpc.files import atomic_path
    from netmob_cpc.qc import qc_rows, qc_table
    from netmob_cpc.series import (
        ROLES, days_by_role, load_tile_index, series_columns, series_table,
    )

    params = snakemake.params
    index = load_tile_index(snakemake.input.tile_index)
    dates = [int(stamp) for stamp in params.dates]
    days = days_by_role({role: list(snakemake.input[role]) for role in ROLES}, dates)
    qc = qc_table([
        row for role in ROLES
        for row in qc_rows(params.city, params.direction, params.apps[role], days[role])
    ])
    columns = series_columns(index["code_com"], index["code_dep"], dates, days)
    table = series_table(columns)
    print(
        f"{params.city} {params.direction}: {len(set(columns['commune'].tolist()))} communes, "
        f"{table.num_rows} commune-slot rows over {len(dates)} days",
        file=sys.stderr,
    )
    with atomic_path(snakemake.output.series) as tmp:
        pq.write_table(table, tmp)
    with atomic_path(snakemake.output.qc) as tmp:
        qc.to_csv(tmp, index=False)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
