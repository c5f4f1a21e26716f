"""Entry script of the rule `ingest`: the traffic files of one city x direction and batch
of days, for each of the three apps summed per commune and slot, checked, and written as
one ingested batch per app (all files are checked before any output is written)."""

import sys


def main(snakemake):
    from netmob_cpc.qc import QC_FIELDS, Thresholds, read_checked_batch
    from netmob_cpc.traffic_files import ReadAhead, choose_parser, load_tile_index, write_batch

    params = snakemake.params
    roles = list(params.apps)
    files = {role: list(snakemake.input[role]) for role in roles}  # one file per day of the batch
    # the disk starts on the first files while the tile index and the parser load
    with ReadAhead([path for role in roles for path in files[role]]) as reader:
        limits = Thresholds(**params.qc)
        commune_of_tile, n_communes = load_tile_index(snakemake.input.tile_index)
        parser, library, warning = choose_parser(snakemake.input.library)
        if warning:
            print(warning, file=sys.stderr)
        batches = {
            role: read_checked_batch(
                files[role], params.dates, commune_of_tile, n_communes, limits,
                parser=parser, library=library, log=sys.stderr, reader=reader,
            )
            for role in roles
        }
    dates = [int(stamp) for stamp in params.dates]
    for role, days in batches.items():
        write_batch(snakemake.output[role], dates, days, QC_FIELDS)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
