"""Data quality of the traffic files: the one list of QC fields, the `qc.*` thresholds, and
the per-direction report (qc.csv).

Each threshold fails the run by default with one message naming the file (line, field where
there is one) and the `qc.*` key that decides; raising the key accepts the file.
"""

from dataclasses import dataclass

import numpy as np

# The QC fields of one traffic file, in the order of the columns of qc.csv, with the dtype
# they are stored with in the ingested batches. The ingest computes them (traffic_files.
# aggregate_file, then check_batch for the three batch-level ones).
QC_FIELDS = {
    "lines": np.int64,                     # lines, blank ones included
    "tile_rows": np.int64,                 # non-blank lines (one per tile row)
    "slots": np.int64,                     # slots of the day (96, 92 when clocks go forward)
    "blank_lines": np.int64,
    "crlf_lines": np.int64,
    "empty_fields": np.int64,
    "nan_fields": np.int64,
    "negative_values": np.int64,
    "duplicate_tiles": np.int64,           # rows whose tile appeared on an earlier row
    "unmapped_tiles": np.int64,            # rows whose tile is absent from the tile map
    "unmapped_traffic": np.float64,        # traffic on those rows
    "total_traffic": np.float64,
    "unmapped_traffic_share": np.float64,  # unmapped_traffic / total_traffic (0 if no traffic)
    "max_value": np.float64,               # largest slot value (0 when none is > 0)
    "usual_tile_rows": np.int64,           # usual tile rows of this city x app (check_batch)
    "tile_rows_share": np.float64,         # tile_rows / usual_tile_rows
    "truncated": np.bool_,                 # fewer tile rows than usual
    "all_zero": np.bool_,                  # no value other than 0 or missing
    "parser": np.str_,                     # "native", "pyarrow" or "python"
}
# The columns of qc.csv before the QC fields.
QC_KEYS = ("city", "app", "direction", "date")
# A batch with fewer files than this compares its files' tile rows with the tile map
# instead of with the batch's median.
MIN_FILES_FOR_MEDIAN = 3

# Default ceiling of qc.max_tile_value: 1e13 (set in config/schema.yaml).
# Why: a NetMob23 value is the traffic volume of one 100 m tile in one 15-minute slot. In
# 2019 (before 5G in France) an LTE-Advanced cell carried at most about 1 Gbit/s; even ten
# such cells (sectors, carriers, neighbouring sites) pouring all their capacity into one
# tile for the whole 900 s move 10 x 1e9 bit/s x 900 s = 9e12 bit = 1.1e12 bytes. Counted
# in bytes, the smallest unit a volume is published in, no real value can exceed ~1.1e12;
# 1e13 leaves a margin of about 9x (larger units only make real values smaller). A value
# above it is a corrupt field (e.g. 99999999999999999999), and with every value at most
# 1e13 no sum over a city's tiles and slots can come near the double overflow (1.8e308).


@dataclass(frozen=True)
class Thresholds:
    """The `qc.*` keys of the configuration (config/schema.yaml has their defaults)."""

    max_negative_values: int
    max_missing_share: float
    max_duplicate_tiles: int
    max_tile_value: float
    max_unmapped_traffic_share: float
    min_tile_rows_share: float


def _error(message):
    from netmob_cpc.traffic_files import TrafficFileError

    return TrafficFileError(message)


def check_file(path, day, limits):
    """Raise TrafficFileError when one file (a DayAggregate) passes a threshold."""
    from netmob_cpc.traffic_files import quote

    qc = day.qc
    if qc["max_value"] > limits.max_tile_value:
        line, field, text = day.max_location
        raise _error(
            f"{path}, line {line}, field {field}: value {quote(text)} is above the "
            f"plausibility ceiling of one 15-minute tile value, qc.max_tile_value = "
            f"{limits.max_tile_value:g}; no real tile volume reaches it. Fix the file (or "
            "raise qc.max_tile_value if the values really are that large)."
        )
    if qc["negative_values"] > limits.max_negative_values:
        line, field, text = day.first_negative
        raise _error(
            f"{path}, line {line}, field {field}: negative traffic value {quote(text)} "
            f"({qc['negative_values']} negative value(s) in the file; "
            f"qc.max_negative_values = {limits.max_negative_values}). Fix the file, or "
            "raise qc.max_negative_values to sum them as they are."
        )
    slot_fields = qc["tile_rows"] * qc["slots"]
    missing = qc["empty_fields"] + qc["nan_fields"]
    if slot_fields and missing / slot_fields > limits.max_missing_share:
        raise _error(
            f"{path}: {missing} of {slot_fields} slot fields are missing "
            f"({qc['empty_fields']} empty, {qc['nan_fields']} nan), a share of "
            f"{missing / slot_fields:.4%} above qc.max_missing_share = "
            f"{limits.max_missing_share:g}. Replace the file, or raise qc.max_missing_share "
            "(missing values count as 0)."
        )
    if qc["duplicate_tiles"] > limits.max_duplicate_tiles:
        line, tile = day.first_duplicate
        raise _error(
            f"{path}, line {line}: tile {tile} appears a second time; "
            f"{qc['duplicate_tiles']} duplicated tile row(s) in the file "
            f"(qc.max_duplicate_tiles = {limits.max_duplicate_tiles}). Duplicated rows are "
            "added again (a file concatenated twice doubles its day): replace the file, or "
            "raise qc.max_duplicate_tiles."
        )
    if qc["unmapped_traffic_share"] > limits.max_unmapped_traffic_share:
        raise _error(
            f"{path}: {qc['unmapped_traffic_share']:.2%} of the file's traffic lies on "
            f"{qc['unmapped_tiles']} tile row(s) absent from the tile map "
            f"(qc.max_unmapped_traffic_share = {limits.max_unmapped_traffic_share:g}). "
            "Check that the tile map (or grid) is this city's, or raise "
            "qc.max_unmapped_traffic_share."
        )


def usual_tile_rows(tile_rows, mapped_tiles):
    """(usual tile-row count of one city x app, how it was found).

    The median of the batch's files when it has MIN_FILES_FOR_MEDIAN or more (a complete
    file holds every tile of the city's grid, so the files of a city and app agree);
    otherwise the number of tiles of the tile map that have a commune (a complete file
    holds at least those)."""
    if len(tile_rows) >= MIN_FILES_FOR_MEDIAN:
        return int(np.median(tile_rows)), f"the median of the {len(tile_rows)} files of its batch"
    return int(mapped_tiles), (
        f"the {mapped_tiles} tiles of the tile map that have a commune (its batch has "
        f"{len(tile_rows)} file(s), too few for a median)"
    )


def check_batch(paths, days, mapped_tiles, limits):
    """Fill the batch-level QC fields (usual_tile_rows, tile_rows_share, truncated) of the
    files of one city x app x direction batch, then fail on a truncated file."""
    usual, basis = usual_tile_rows([day.qc["tile_rows"] for day in days], mapped_tiles)
    for day in days:
        rows = day.qc["tile_rows"]
        day.qc["usual_tile_rows"] = usual
        day.qc["tile_rows_share"] = rows / usual if usual else 1.0
        day.qc["truncated"] = bool(rows < usual)
    for path, day in zip(paths, days):
        if day.qc["tile_rows_share"] < limits.min_tile_rows_share:
            raise _error(
                f"{path}: {day.qc['tile_rows']} tile rows, {day.qc['tile_rows_share']:.1%} "
                f"of the usual {usual} of this city and app ({basis}); the file looks "
                f"truncated (qc.min_tile_rows_share = {limits.min_tile_rows_share:g}). Copy "
                "the file again, or lower qc.min_tile_rows_share to accept it."
            )


def qc_rows(city, direction, app, days):
    """The qc.csv rows of one app's ingested days (dicts of load_batch)."""
    return [
        {"city": city, "app": app, "direction": direction, "date": day["date"],
         **{field: day[field] for field in QC_FIELDS}}
        for day in days
    ]


def qc_table(rows):
    """qc.csv of a city (or of all cities): the rows of qc_rows, columns in a fixed order."""
    import pandas as pd

    return pd.DataFrame(rows, columns=[*QC_KEYS, *QC_FIELDS])


def qc_summary(report):
    """One log line per QC count: the totals of a report."""
    counts = report.drop(columns=[*QC_KEYS, "parser"]).sum(numeric_only=True)
    parsers = ", ".join(
        f"{name}: {count}" for name, count in report["parser"].value_counts().items()
    )
    return f"{len(report)} files (parser {parsers})\n{counts.to_string()}"


def read_checked_batch(paths, stamps, commune_of_tile, n_communes, limits, *, parser, library, log,
                       reader=None):
    """The ingest of one city x app x direction batch: each traffic file summed per commune
    and slot (traffic_files.aggregate_file) and checked (check_file), then the batch-level
    fields filled and checked (check_batch). Returns the files' DayAggregates in the order
    of `paths`; one line per file goes to `log` (a text stream). Every rule that ingests
    traffic files calls this, so that they all apply the same checks.

    reader: a traffic_files.ReadAhead that hands out the files' bytes (a job that reads
    several batches makes one over all its files, so that reading runs ahead across
    batches); None: one over `paths` alone. The results are the same either way."""
    import time
    from contextlib import nullcontext

    from netmob_cpc.traffic_files import ReadAhead, aggregate_file, parse_date

    mapped_tiles = int((commune_of_tile >= 0).sum())
    days = []
    with nullcontext(reader) if reader is not None else ReadAhead(list(paths)[:len(stamps)]) as files:
        for stamp, path in zip(stamps, paths):
            started = time.perf_counter()
            day = aggregate_file(path, parse_date(stamp), commune_of_tile, n_communes,
                                 parser=parser, library=library, data=files.read(path))
            check_file(path, day, limits)
            qc = day.qc
            print(
                f"{path}: {qc['tile_rows']} tile rows ({qc['unmapped_tiles']} without commune, "
                f"{qc['duplicate_tiles']} duplicate), {qc['slots']} slots, "
                f"{int((day.tiles > 0).sum())} communes; {qc['empty_fields']} empty, "
                f"{qc['nan_fields']} nan, {qc['negative_values']} negative fields; "
                f"{qc['blank_lines']} blank, {qc['crlf_lines']} CRLF lines; max value "
                f"{qc['max_value']:g}; {(time.perf_counter() - started) * 1e3:.0f} ms ({parser})",
                file=log,
            )
            days.append(day)
    check_batch(paths, days, mapped_tiles, limits)
    return days
