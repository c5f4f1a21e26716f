"""Ingest: parse NetMob23 traffic files and sum their tiles' traffic per commune and slot.

One job handles the files of one city x app x direction for a batch of days and writes one
`.npz` per day (ARCHITECTURE.md, "Ingested day"). It runs from a `shell:` rule as

    python scripts/ingest.py --library LIB.so --tile-index TILE_MAP.npz \\
        --dates 20190316 20190317 --traffic F1 F2 --out O1 O2 \\
        [--max-negative-values 0] [--max-missing-share 0.01]

so that a job costs one lean Python start-up (numpy + ctypes + zoneinfo; no pandas). The
per-file work is one pass of the C kernel scripts/native/netmob_parse.c over the file's
bytes; a pure Python/NumPy implementation of the same rules (`parser="python"`) is the
fallback when the library cannot be loaded, and the tests' independent reference.

The rules of a traffic file (CONTRACT 1.1), both parsers alike:
- one line per tile: `tile_id v1 ... vN`, one space between fields (two spaces enclose an
  empty field); N = 96 slots of 15 minutes, 92 on the day the clocks go forward
  (`expected_slot_minutes`); any other field count is an error;
- tile_id: 1 to 19 decimal digits; values: `[+-]digits[.digits][e[+-]digits]` converted
  to the correctly rounded double; an empty field or `nan` (any case) is missing and
  counts as 0 in the sums (pandas' groupby().sum() skips NaN); anything else is an error;
- tolerated and counted: CRLF line ends, blank lines, a missing final newline, duplicate
  tile rows (all added, as the seed's merge + groupby do), tiles without a commune (their
  traffic is counted apart), negative values and missing values up to the thresholds.
"""

import argparse
import ctypes
import datetime
import os
import sys
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

TIMEZONE = "Europe/Paris"  # wall clock of the NetMob23 slots
SLOT_MINUTES = 15
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES

QC_FIELDS = (
    "lines", "slots", "blank_lines", "crlf_lines", "empty_fields", "nan_fields",
    "negative_values", "duplicate_tiles", "unmapped_tiles", "unmapped_traffic",
    "total_traffic", "all_zero",
)

# --- the C kernel's interface (scripts/native/netmob_parse.c) --------------------------
ABI_VERSION = 1
_STATS = (
    "lines", "rows", "blank_lines", "crlf_lines", "empty_fields", "nan_fields",
    "negative_values", "nonzero_values", "duplicate_tiles", "unmapped_tiles",
    "neg_line", "neg_field", "neg_offset", "neg_length",
    "err_code", "err_line", "err_field", "err_offset", "err_length", "err_found",
)
_STAT = {name: i for i, name in enumerate(_STATS)}
_FIELD_COUNT, _NOT_A_NUMBER, _BAD_TILE, _EMPTY_FILE, _OUT_OF_RANGE = 1, 2, 3, 4, 5
_COUNTS = (
    "lines", "rows", "blank_lines", "crlf_lines", "empty_fields", "nan_fields",
    "negative_values", "nonzero_values", "duplicate_tiles", "unmapped_tiles",
)


class TrafficFileError(ValueError):
    """A traffic file that breaks the format or a data-quality threshold."""


@dataclass
class DayAggregate:
    """One traffic file summed per commune (row of the tile index) and slot."""

    traffic: np.ndarray       # float64[n_communes, n_slots]
    tiles: np.ndarray         # int32[n_communes]: file rows mapped to the commune
    slot_minutes: np.ndarray  # int16[n_slots]: wall-clock minute of day of each slot
    qc: dict                  # QC_FIELDS -> int / float / bool
    first_negative: tuple = None  # (line, field, text) of the first negative value


# --- slots ------------------------------------------------------------------------------
def expected_slot_minutes(day):
    """Wall-clock minutes (Europe/Paris) of the 15-minute slots of `day`, as int16.

    96 slots (0, 15, ..., 1425) on a 24-hour day; on the day the clocks go forward
    (2019-03-31) 92 slots: 0..105 then 180..1425. 25-hour days (clocks go back) would
    repeat wall-clock times and are not supported.
    """
    try:
        zone = ZoneInfo(TIMEZONE)
    except Exception as error:  # ZoneInfoNotFoundError: no tz database on the machine
        raise OSError(
            f"time zone {TIMEZONE} not found ({error}): install the tzdata package"
        ) from None
    utc = datetime.timezone.utc
    midnight = datetime.time(0)
    start = datetime.datetime.combine(day, midnight, tzinfo=zone).astimezone(utc)
    stop = datetime.datetime.combine(
        day + datetime.timedelta(days=1), midnight, tzinfo=zone
    ).astimezone(utc)
    step = datetime.timedelta(minutes=SLOT_MINUTES)
    n_slots = (stop - start) // step
    if n_slots == SLOTS_PER_DAY:
        return np.arange(0, 24 * 60, SLOT_MINUTES, dtype=np.int16)
    if n_slots > SLOTS_PER_DAY:
        raise ValueError(
            f"{day.isoformat()} has {(stop - start) / datetime.timedelta(hours=1):g} hours "
            f"in {TIMEZONE} (the clocks go back): 25-hour days are not supported "
            "(their wall-clock times repeat)"
        )
    minutes = []
    for i in range(n_slots):
        local = (start + i * step).astimezone(zone)
        minutes.append(local.hour * 60 + local.minute)
    return np.array(minutes, dtype=np.int16)


def _slots_phrase(day, n_slots):
    phrase = f"tile_id + {n_slots} slots of {day.isoformat()}"
    if n_slots < SLOTS_PER_DAY:
        phrase += ": the clocks go forward that day"
    return phrase


# --- errors -----------------------------------------------------------------------------
class _ParseError(Exception):
    """Raised by the parsers; turned into a TrafficFileError naming the file."""

    def __init__(self, code, line=0, field=0, text=b"", found=0):
        super().__init__(code)
        self.code, self.line, self.field, self.text, self.found = code, line, field, text, found


def _quote(text, limit=60):
    """repr() of a field's text for a message, decoded and cut to `limit` characters."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="backslashreplace")
    if len(text) > limit:
        text = text[:limit] + "..."
    return repr(text)


def _error_message(path, day, n_slots, error):
    if error.code == _EMPTY_FILE:
        return f"{path}: empty file (expected one line per tile)"
    where = f"{path}, line {error.line}"
    if error.code == _FIELD_COUNT:
        return (
            f"{where}: found {error.found} fields, expected {n_slots + 1} "
            f"({_slots_phrase(day, n_slots)})"
        )
    where += f", field {error.field}"
    if error.code == _BAD_TILE:
        return (
            f"{where}: tile_id {_quote(error.text)} is not a non-negative integer "
            "(1 to 19 digits)"
        )
    if error.code == _NOT_A_NUMBER:
        return f"{where}: {_quote(error.text)} is not a number"
    if error.code == _OUT_OF_RANGE:
        return f"{where}: {_quote(error.text)} is beyond the range of a double"
    return f"{path}: parser error {error.code}"


# --- the native parser ------------------------------------------------------------------
class NativeParser:
    """The C kernel loaded with ctypes."""

    def __init__(self, path):
        self.path = os.fspath(path)
        library = ctypes.CDLL(os.path.abspath(self.path))
        try:
            version = library.netmob_abi_version()
            n_stats = library.netmob_stats_count()
        except AttributeError as error:
            raise OSError(f"{self.path} is not a netmob_parse library: {error}") from None
        if version != ABI_VERSION or n_stats != len(_STATS):
            raise OSError(
                f"{self.path} was built from another version of netmob_parse.c "
                f"(interface {version}, expected {ABI_VERSION}): rebuild it"
            )
        aggregate = library.netmob_aggregate
        aggregate.restype = ctypes.c_int
        aggregate.argtypes = (
            [ctypes.c_char_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
            + [ctypes.c_int64, ctypes.c_int64]
            + [ctypes.c_void_p] * 6
        )
        self._aggregate = aggregate

    def parse(self, data, n_fields, commune_of_tile, n_communes):
        n_slots = n_fields - 1
        seen = np.zeros(len(commune_of_tile), dtype=np.uint8)
        traffic = np.zeros((n_communes, n_slots), dtype=np.float64)
        tiles = np.zeros(n_communes, dtype=np.int32)
        slot_total = np.zeros(n_slots, dtype=np.float64)
        slot_unmapped = np.zeros(n_slots, dtype=np.float64)
        stats = np.zeros(len(_STATS), dtype=np.int64)
        code = self._aggregate(
            data, len(data), n_fields, commune_of_tile.ctypes.data,
            len(commune_of_tile), n_communes, seen.ctypes.data, traffic.ctypes.data,
            tiles.ctypes.data, slot_total.ctypes.data, slot_unmapped.ctypes.data,
            stats.ctypes.data,
        )
        stat = {name: int(stats[i]) for name, i in _STAT.items()}
        if code:
            offset = stat["err_offset"]
            raise _ParseError(
                code, stat["err_line"], stat["err_field"],
                data[offset:offset + stat["err_length"]], stat["err_found"],
            )
        first_negative = None
        if stat["negative_values"]:
            offset = stat["neg_offset"]
            first_negative = (
                stat["neg_line"], stat["neg_field"],
                data[offset:offset + stat["neg_length"]].decode("utf-8", "replace"),
            )
        counts = {name: stat[name] for name in _COUNTS}
        return traffic, tiles, slot_total, slot_unmapped, counts, first_negative


_LOADED = {}


def load_native_parser(path):
    """The C kernel at `path` (loaded once per process). Raises OSError if unusable."""
    key = os.path.abspath(os.fspath(path))
    if key not in _LOADED:
        _LOADED[key] = NativeParser(path)
    return _LOADED[key]


# --- the pure-Python parser -------------------------------------------------------------
_PATTERNS = {}


def _patterns():
    if not _PATTERNS:
        import re

        _PATTERNS["tile"] = re.compile(rb"[0-9]{1,19}")
        _PATTERNS["number"] = re.compile(
            rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
        )
        _PATTERNS["nan"] = re.compile(rb"[+-]?[nN][aA][nN]")
    return _PATTERNS


def _python_value(token, line, field):
    """Value of one slot field: a float, NaN for a missing value; _ParseError otherwise."""
    patterns = _patterns()
    if token == b"" or patterns["nan"].fullmatch(token):
        return float("nan")
    if not patterns["number"].fullmatch(token):
        raise _ParseError(_NOT_A_NUMBER, line, field, token)
    value = float(token)
    if value in (float("inf"), float("-inf")):
        raise _ParseError(_OUT_OF_RANGE, line, field, token)
    return value


def _parse_python(data, n_fields, commune_of_tile, n_communes):
    """Straightforward implementation of the kernel's rules (module docstring)."""
    n_slots = n_fields - 1
    tile_pattern = _patterns()["tile"]
    lines = data.split(b"\n") if data else []
    if data.endswith(b"\n"):
        lines.pop()
    value_of = {b"": float("nan"), b"0": 0.0}  # token -> value, validated once
    rows, tile_ids, row_lines = [], [], []
    blank = crlf = empty = 0
    for number, line in enumerate(lines, start=1):
        if line.endswith(b"\r"):
            crlf += 1
            line = line[:-1]
        if not line:
            blank += 1
            continue
        fields = line.split(b" ")
        if len(fields) != n_fields:
            raise _ParseError(_FIELD_COUNT, number, 0, line, len(fields))
        if not tile_pattern.fullmatch(fields[0]):
            raise _ParseError(_BAD_TILE, number, 1, fields[0])
        slots = fields[1:]
        try:
            values = [value_of[token] for token in slots]
        except KeyError:
            for field, token in enumerate(slots, start=2):
                if token not in value_of:
                    value_of[token] = _python_value(token, number, field)
            values = [value_of[token] for token in slots]
        empty += slots.count(b"")
        rows.append(values)
        tile_ids.append(int(fields[0]))
        row_lines.append(number)
    if not rows:
        raise _ParseError(_EMPTY_FILE)

    values = np.array(rows, dtype=np.float64).reshape(len(rows), n_slots)
    missing = np.isnan(values)
    values[missing | (values == 0.0)] = 0.0  # missing adds nothing; -0.0 becomes +0.0
    negative = values < 0.0
    first_negative = None
    if negative.any():
        row, slot = divmod(int(np.argmax(negative.reshape(-1))), n_slots)
        line = lines[row_lines[row] - 1]
        if line.endswith(b"\r"):
            line = line[:-1]
        text = line.split(b" ")[slot + 1]
        first_negative = (row_lines[row], slot + 2, text.decode("utf-8", "replace"))

    n_index = len(commune_of_tile)
    index = np.array([tile if tile < n_index else -1 for tile in tile_ids], dtype=np.int64)
    in_range = index >= 0
    commune = np.full(len(rows), -1, dtype=np.int64)
    commune[in_range] = commune_of_tile[index[in_range]]
    mapped = commune >= 0
    traffic = np.zeros((n_communes, n_slots), dtype=np.float64)
    np.add.at(traffic, commune[mapped], values[mapped])  # row by row, in file order
    tiles = np.bincount(commune[mapped], minlength=n_communes).astype(np.int32)
    slot_total = np.cumsum(values, axis=0)[-1]  # sequential, in file order
    slot_unmapped = (
        np.cumsum(values[~mapped], axis=0)[-1] if (~mapped).any() else np.zeros(n_slots)
    )
    counts = {
        "lines": len(lines),
        "rows": len(rows),
        "blank_lines": blank,
        "crlf_lines": crlf,
        "empty_fields": empty,
        "nan_fields": int(missing.sum()) - empty,
        "negative_values": int(negative.sum()),
        "nonzero_values": int(np.count_nonzero(values)),
        "duplicate_tiles": int(in_range.sum()) - len(np.unique(index[in_range])),
        "unmapped_tiles": int((~mapped).sum()),
    }
    return traffic, tiles, slot_total, slot_unmapped, counts, first_negative


# --- one file ---------------------------------------------------------------------------
def _sequential_sum(values):
    """Sum in array order (the same order for both parsers)."""
    total = 0.0
    for value in values.tolist():
        total += value
    return total


def aggregate_file(path, day, commune_of_tile, n_communes, *, parser="native", library=None):
    """Sum the traffic file `path` of `day` per commune and slot.

    commune_of_tile: int array, commune row of each tile id (-1: none); n_communes: rows of
    the result. parser: "native" (the C kernel; `library` is its path or a NativeParser)
    or "python". Raises TrafficFileError for a malformed file (naming file, line, field).
    """
    slot_minutes = expected_slot_minutes(day)
    n_slots = len(slot_minutes)
    commune_of_tile = np.ascontiguousarray(commune_of_tile, dtype=np.int32)
    if commune_of_tile.ndim != 1:
        raise ValueError("commune_of_tile must be one-dimensional")
    if len(commune_of_tile) and (
        commune_of_tile.min() < -1 or commune_of_tile.max() >= n_communes
    ):
        raise ValueError(
            f"commune_of_tile holds rows outside -1..{n_communes - 1} "
            f"(n_communes = {n_communes})"
        )
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        if parser == "native":
            if library is None:
                raise ValueError('parser="native" needs library= (a path or a NativeParser)')
            native = library if isinstance(library, NativeParser) else load_native_parser(library)
            result = native.parse(data, n_slots + 1, commune_of_tile, n_communes)
        elif parser == "python":
            result = _parse_python(data, n_slots + 1, commune_of_tile, n_communes)
        else:
            raise ValueError(f'parser must be "native" or "python", not {parser!r}')
    except _ParseError as error:
        raise TrafficFileError(_error_message(path, day, n_slots, error)) from None
    traffic, tiles, slot_total, slot_unmapped, counts, first_negative = result
    qc = {
        "lines": counts["lines"],
        "slots": n_slots,
        "blank_lines": counts["blank_lines"],
        "crlf_lines": counts["crlf_lines"],
        "empty_fields": counts["empty_fields"],
        "nan_fields": counts["nan_fields"],
        "negative_values": counts["negative_values"],
        "duplicate_tiles": counts["duplicate_tiles"],
        "unmapped_tiles": counts["unmapped_tiles"],
        "unmapped_traffic": _sequential_sum(slot_unmapped),
        "total_traffic": _sequential_sum(slot_total),
        "all_zero": counts["nonzero_values"] == 0,
    }
    return DayAggregate(traffic, tiles, slot_minutes, qc, first_negative)


def check_quality(path, agg, *, max_negative_values=0, max_missing_share=0.01):
    """Raise TrafficFileError when a file's counts exceed the thresholds."""
    qc = agg.qc
    if qc["negative_values"] > max_negative_values:
        line, field, text = agg.first_negative
        raise TrafficFileError(
            f"{path}, line {line}, field {field}: negative traffic value {_quote(text)} "
            f"({qc['negative_values']} negative value(s) in the file, tolerated "
            f"--max-negative-values {max_negative_values})"
        )
    slot_fields = (qc["lines"] - qc["blank_lines"]) * qc["slots"]
    missing = qc["empty_fields"] + qc["nan_fields"]
    if slot_fields and missing / slot_fields > max_missing_share:
        raise TrafficFileError(
            f"{path}: {missing} of {slot_fields} slot fields are missing "
            f"({qc['empty_fields']} empty, {qc['nan_fields']} nan), a share of "
            f"{missing / slot_fields:.4%} above the tolerated {max_missing_share:.4%} "
            f"(--max-missing-share {max_missing_share:g})"
        )


def write_day(path, agg):
    """Write an ingested day (ARCHITECTURE.md) under a temporary name, then rename it."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    arrays = {
        "traffic": np.asarray(agg.traffic, dtype=np.float64),
        "tiles": np.asarray(agg.tiles, dtype=np.int32),
        "slot_minutes": np.asarray(agg.slot_minutes, dtype=np.int16),
    }
    for field in QC_FIELDS:
        value = agg.qc[field]
        dtype = np.bool_ if field == "all_zero" else (
            np.float64 if field.endswith("_traffic") else np.int64
        )
        arrays[field] = np.array(value, dtype=dtype)
    temporary = os.path.join(folder, f".{name}.tmp-{os.getpid()}.npz")
    try:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


# --- the job ----------------------------------------------------------------------------
def load_tile_index(path):
    """(commune_of_tile int32, n_communes) from a tile index .npz (ARCHITECTURE.md)."""
    with np.load(path, allow_pickle=False) as index:
        absent = [key for key in ("commune_of_tile", "code_com") if key not in index.files]
        if absent:
            raise ValueError(
                f"{path}: tile index without {', '.join(absent)} "
                f"(found {', '.join(index.files) or 'no array'})"
            )
        commune_of_tile = index["commune_of_tile"]
        n_communes = len(index["code_com"])
    if commune_of_tile.ndim != 1 or commune_of_tile.dtype.kind not in "iu":
        raise ValueError(
            f"{path}: commune_of_tile must be a 1-d integer array, "
            f"found {commune_of_tile.dtype} of shape {commune_of_tile.shape}"
        )
    if len(commune_of_tile) and (
        commune_of_tile.min() < -1 or commune_of_tile.max() >= n_communes
    ):
        raise ValueError(
            f"{path}: commune_of_tile holds values outside -1..{n_communes - 1} "
            f"({n_communes} communes in code_com)"
        )
    return commune_of_tile.astype(np.int32), n_communes


def parse_date(stamp):
    try:
        return datetime.datetime.strptime(stamp, "%Y%m%d").date()
    except ValueError:
        raise ValueError(f"--dates: {stamp!r} is not a date written YYYYMMDD") from None


def _arguments(argv):
    parser = argparse.ArgumentParser(
        prog="ingest.py", description="Sum NetMob23 traffic files per commune and slot."
    )
    parser.add_argument("--library", help="the compiled scripts/native/netmob_parse.c")
    parser.add_argument("--tile-index", required=True, help="tile_map/{city}.npz")
    parser.add_argument("--dates", nargs="+", required=True, help="YYYYMMDD of each file")
    parser.add_argument("--traffic", nargs="+", required=True, help="the traffic files")
    parser.add_argument("--out", nargs="+", required=True, help="one .npz per file")
    parser.add_argument("--max-negative-values", type=int, default=0)
    parser.add_argument("--max-missing-share", type=float, default=0.01)
    parser.add_argument("--parser", choices=("native", "python"), default="native")
    return parser.parse_args(argv)


def run(args, log=sys.stderr):
    """Aggregate every file, check the thresholds, then write the outputs."""
    if not (len(args.dates) == len(args.traffic) == len(args.out)):
        raise ValueError(
            f"--dates, --traffic and --out must have as many entries each, found "
            f"{len(args.dates)}, {len(args.traffic)} and {len(args.out)}"
        )
    days = [parse_date(stamp) for stamp in args.dates]
    commune_of_tile, n_communes = load_tile_index(args.tile_index)
    parser, library = args.parser, None
    if parser == "native":
        try:
            if not args.library:
                raise OSError("no --library given")
            library = load_native_parser(args.library)
        except OSError as error:
            print(
                f"WARNING: native parser unavailable ({error}); using the pure-Python "
                "parser (same results, ~100x slower)",
                file=log,
            )
            parser = "python"
    results = []
    for day, path in zip(days, args.traffic):
        started = time.perf_counter()
        agg = aggregate_file(path, day, commune_of_tile, n_communes, parser=parser,
                             library=library)
        check_quality(path, agg, max_negative_values=args.max_negative_values,
                      max_missing_share=args.max_missing_share)
        seconds = time.perf_counter() - started
        qc = agg.qc
        size = os.path.getsize(path)
        print(
            f"{path}: {qc['lines'] - qc['blank_lines']} tiles "
            f"({qc['unmapped_tiles']} without commune, {qc['duplicate_tiles']} duplicate), "
            f"{qc['slots']} slots, {int((agg.tiles > 0).sum())} communes; "
            f"{qc['empty_fields']} empty, {qc['nan_fields']} nan, "
            f"{qc['negative_values']} negative fields; {qc['blank_lines']} blank, "
            f"{qc['crlf_lines']} CRLF lines; {size / 1e6:.1f} MB in {seconds * 1e3:.0f} ms "
            f"({parser})",
            file=log,
        )
        results.append(agg)
    for out, agg in zip(args.out, results):
        write_day(out, agg)


def main(argv=None):
    args = _arguments(argv)
    try:
        run(args)
    except BaseException as error:
        for out in args.out:  # a failed job leaves none of its outputs behind
            if os.path.exists(out):
                os.remove(out)
        if isinstance(error, (ValueError, OSError)):
            print(f"ingest.py: error: {error}", file=sys.stderr)
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
