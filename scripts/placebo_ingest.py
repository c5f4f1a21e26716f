"""Entry script of the rule `placebo_ingest`: the traffic files of one city x direction and
batch of days for every placebo app, each app summed per commune and slot and checked as the
ingest does (netmob_cpc.qc.read_checked_batch), then written as one ingested batch per app.
One app's days are in memory at a time."""

import sys


def main(snakemake):
    from netmob_cpc.qc import QC_FIELDS, Thresholds, read_checked_batch
    from netmob_cpc.traffic_files import ReadAhead, choose_parser, load_tile_index, write_batch

    params = snakemake.params
    traffic, outputs, width = list(snakemake.input.traffic), list(snakemake.output), len(params.dates)
    if len(traffic) != width * len(params.apps) or len(outputs) != len(params.apps):
        raise ValueError(f"{len(traffic)} files and {len(outputs)} outputs for {len(params.apps)} apps x {width} days")
    dates = [int(stamp) for stamp in params.dates]
    # the disk starts on the first files while the tile index and the parser load
    with ReadAhead(traffic) as reader:
        limits = Thresholds(**params.qc)
        commune_of_tile, n_communes = load_tile_index(snakemake.input.tile_index)
        parser, library, warning = choose_parser(snakemake.input.library)
        if warning:
            print(warning, file=sys.stderr)
        for i, app in enumerate(params.apps):
            days = read_checked_batch(
                traffic[i * width:(i + 1) * width], params.dates, commune_of_tile, n_communes, limits,
                parser=parser, library=library, log=sys.stderr, reader=reader,
            )
            write_batch(outputs[i], dates, days, QC_FIELDS)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
