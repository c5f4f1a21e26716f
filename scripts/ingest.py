"""Entry script of the rule `ingest`: the traffic files of one city x direction and batch
of days, for each of the three apps summed per commune and slot, checked, and written as
one ingested batch per app (all files are checked before any output is written)."""

import sys
import time


def main(snakemake):
    from netmob_cpc.qc import QC_FIELDS, Thresholds, check_batch, check_file
    from netmob_cpc.traffic_files import (
        aggregate_file, choose_parser, load_tile_index, parse_date, write_batch,
    )

    params = snakemake.params
    limits = Thresholds(**params.qc)
    commune_of_tile, n_communes = load_tile_index(snakemake.input.tile_index)
    mapped_tiles = int((commune_of_tile >= 0).sum())
    parser, library, warning = choose_parser(snakemake.input.library)
    if warning:
        print(warning, file=sys.stderr)
    batches = {}
    for role in params.apps:
        paths, days = list(snakemake.input[role]), []
        for stamp, path in zip(params.dates, paths):
            started = time.perf_counter()
            day = aggregate_file(path, parse_date(stamp), commune_of_tile, n_communes,
                                 parser=parser, library=library)
            check_file(path, day, limits)
            qc = day.qc
            print(
                f"{path}: {qc['tile_rows']} tile rows ({qc['unmapped_tiles']} without commune, "
                f"{qc['duplicate_tiles']} duplicate), {qc['slots']} slots, "
                f"{int((day.tiles > 0).sum())} communes; {qc['empty_fields']} empty, "
                f"{qc['nan_fields']} nan, {qc['negative_values']} negative fields; "
                f"{qc['blank_lines']} blank, {qc['crlf_lines']} CRLF lines; max value "
                f"{qc['max_value']:g}; {(time.perf_counter() - started) * 1e3:.0f} ms ({parser})",
                file=sys.stderr,
            )
            days.append(day)
        check_batch(paths, days, mapped_tiles, limits)
        batches[role] = days
    dates = [int(stamp) for stamp in params.dates]
    for role, days in batches.items():
        write_batch(snakemake.output[role], dates, days, QC_FIELDS)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
