"""Traffic files: parse NetMob23 traffic files and sum their tiles' traffic per commune and slot.

One ingest job handles the files of one city x app x direction for a batch of days and writes
one `.npz` per batch (`write_batch`, ARCHITECTURE.md "Ingested batch"); the data-quality
fields and thresholds are in `netmob_cpc.qc`.

Three parsers implement the same rules and give bit-identical results (the tests check it):
- "native": one pass of the C kernel scripts/native/netmob_parse.c over the file's bytes,
  loaded with ctypes (built by the local rule `parser_library`);
- "pyarrow": pyarrow's CSV reader and NumPy, the fallback when the kernel could not be
  built or loaded (slower: benchmarks/fallback_parser.py measures both); a file it
  cannot decide by itself (a byte outside the number alphabet, a lone CR, a field-count or
  number error) goes to the Python parser, which gives the same result or the same error
  message;
- "python": a straightforward pure-Python implementation. It stays in the package because
  production uses it: the pyarrow parser hands it the files it cannot decide (it names the
  line and field of an error exactly as the kernel does) and `_overflow_message` locates
  an overflowing sum with it; the tests also use it as their reference.

The rules of a traffic file (the NetMob23 format), all parsers alike:
- one line per tile: `tile_id v1 ... vN`, one space between fields (two spaces enclose an
  empty field); N = 96 slots of 15 minutes, 92 on the day the clocks go forward
  (`expected_slot_minutes`); any other field count is an error;
- tile_id: 1 to 19 decimal digits; values: `[+-]digits[.digits][e[+-]digits]` converted
  to the correctly rounded double; an empty field or `nan` (any case) is missing and
  counts as 0 in the sums (pandas' groupby().sum() skips NaN); anything else is an error;
- sums run in file order (row after row), so all parsers give the same doubles;
- tolerated and counted: CRLF line ends, blank lines, a missing final newline, duplicate
  tile rows (all added, as the seed's merge + groupby do), tiles without a commune (their
  traffic is counted apart), negative values and missing values (thresholds: qc.py).
- named as such rather than as a field-count error: a compressed file, a byte-order mark,
  tab separators, trailing whitespace, an unreadable file.
"""

import ctypes
import datetime
import errno
import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from netmob_cpc.files import InputError

TIMEZONE = "Europe/Paris"  # wall clock of the NetMob23 slots
SLOT_MINUTES = 15
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES
PARSERS = ("native", "pyarrow", "python")

# --- the C kernel's interface (scripts/native/netmob_parse.c) --------------------------
ABI_VERSION = 3
_STATS = (
    "lines", "rows", "blank_lines", "crlf_lines", "empty_fields", "nan_fields",
    "negative_values", "nonzero_values", "duplicate_tiles", "unmapped_tiles",
    "neg_line", "neg_field", "neg_offset", "neg_length",
    "err_code", "err_line", "err_field", "err_offset", "err_length", "err_found",
    "max_bits", "max_line", "max_field", "max_offset", "max_length", "dup_line", "dup_tile",
)
_STAT = {name: i for i, name in enumerate(_STATS)}
_FIELD_COUNT, _NOT_A_NUMBER, _BAD_TILE, _EMPTY_FILE, _OUT_OF_RANGE = 1, 2, 3, 4, 5
_COUNTS = (
    "lines", "rows", "blank_lines", "crlf_lines", "empty_fields", "nan_fields",
    "negative_values", "nonzero_values", "duplicate_tiles", "unmapped_tiles",
)
# What the rule `parser_library` writes in place of the library when it cannot compile.
NOT_BUILT_MARK = b"netmob_parse: not built"


class TrafficFileError(InputError):
    """A traffic file that breaks the format or a data-quality threshold."""


@dataclass
class DayAggregate:
    """One traffic file summed per commune (row of the tile index) and slot."""

    traffic: np.ndarray       # float64[n_communes, n_slots]
    tiles: np.ndarray         # int32[n_communes]: file rows mapped to the commune
    slot_minutes: np.ndarray  # int16[n_slots]: wall-clock minute of day of each slot
    qc: dict                  # per-file fields of netmob_cpc.qc.QC_FIELDS
    first_negative: tuple = None   # (line, field, text) of the first negative value
    max_location: tuple = None     # (line, field, text) of the first largest value (> 0)
    first_duplicate: tuple = None  # (line, tile_id) of the first repeated tile row


@dataclass
class _Parsed:
    """What every parser returns for one file's bytes."""

    traffic: np.ndarray
    tiles: np.ndarray
    slot_total: np.ndarray
    slot_unmapped: np.ndarray
    counts: dict          # _COUNTS -> int
    max_value: float      # largest value, 0.0 when none is > 0
    first_negative: tuple  # (line, field, text) or None
    max_location: tuple    # (line, field, text) or None
    first_duplicate: tuple  # (line, tile) or None


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


def quote(text, limit=60):
    """repr() of a field's text for a message, decoded and cut to `limit` characters."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="backslashreplace")
    if len(text) > limit:
        text = text[:limit] + "..."
    return repr(text)


# Signatures of files that are not plain text: named, instead of a field-count message.
_SIGNATURES = (
    (b"\x1f\x8b", "gzip-compressed", "decompress it (gunzip)"),
    (b"PK\x03\x04", "a zip archive", "extract it (unzip)"),
    (b"BZh", "bzip2-compressed", "decompress it (bunzip2)"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it (unxz)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "decompress it (unzstd)"),
    (b"\xef\xbb\xbf", "text that starts with a UTF-8 byte-order mark (bytes EF BB BF)",
     "save it without the byte-order mark"),
    (b"\xff\xfe", "UTF-16 text (it starts with a UTF-16 byte-order mark)",
     "convert it to plain ASCII/UTF-8 without byte-order mark"),
    (b"\xfe\xff", "UTF-16 text (it starts with a UTF-16 byte-order mark)",
     "convert it to plain ASCII/UTF-8 without byte-order mark"),
)


def _signature_problem(path, data):
    """A message for a file that is compressed or starts with a byte-order mark."""
    head = bytes(data[:4])
    for signature, what, fix in _SIGNATURES:
        if head.startswith(signature):
            return (
                f"{path}: the file is {what}, not a plain NetMob23 traffic file "
                f"(one line per tile, fields separated by one space); {fix} and keep the "
                "file name."
            )
    return None


def _line_text(data, number):
    """Bytes of line `number` (1-based) without its line end."""
    start = 0
    for _ in range(number - 1):
        start = data.find(b"\n", start) + 1
        if start == 0:
            return b""
    end = data.find(b"\n", start)
    text = data[start:] if end < 0 else data[start:end]
    return text[:-1] if text.endswith(b"\r") else text


def _error_message(path, day, n_slots, error, data):
    if error.code == _EMPTY_FILE:
        return f"{path}: empty file (expected one line per tile)"
    where = f"{path}, line {error.line}"
    text = _line_text(data, error.line)
    if b"\t" in text:
        return (
            f"{where}: tab-separated fields (found a tab character); NetMob23 traffic "
            "files separate fields with one space. Convert the tabs to spaces "
            "(e.g. `tr '\\t' ' '`)."
        )
    if text != text.rstrip():
        return (
            f"{where}: trailing whitespace at the end of the line; NetMob23 traffic "
            "lines end with the last slot value. Strip it (e.g. `sed 's/[ \\t]*$//'`)."
        )
    if error.code == _FIELD_COUNT:
        message = (
            f"{where}: found {error.found} fields, expected {n_slots + 1} "
            f"({_slots_phrase(day, n_slots)})"
        )
        last = data.rstrip(b"\r\n").count(b"\n") + 1
        if error.line == last and not data.endswith(b"\n") and error.found < n_slots + 1:
            message += "; the last line is incomplete: the file looks truncated"
        return message
    where += f", field {error.field}"
    if error.code == _BAD_TILE:
        return (
            f"{where}: tile_id {quote(error.text)} is not a non-negative integer "
            "(1 to 19 digits)"
        )
    if error.code == _NOT_A_NUMBER:
        return f"{where}: {quote(error.text)} is not a number"
    if error.code == _OUT_OF_RANGE:
        return f"{where}: {quote(error.text)} is beyond the range of a double"
    return f"{path}: parser error {error.code}"


# --- the native parser ------------------------------------------------------------------
class NativeParser:
    """The C kernel loaded with ctypes."""

    name = "native"

    def __init__(self, path):
        self.path = os.fspath(path)
        with open(self.path, "rb") as handle:
            head = handle.read(len(NOT_BUILT_MARK))
        if head == NOT_BUILT_MARK:
            with open(self.path, "rb") as handle:
                reason = handle.read(2000).decode("utf-8", "replace").strip()
            raise OSError(reason)
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
            [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
            + [ctypes.c_int64, ctypes.c_int64]
            + [ctypes.c_void_p] * 6
        )
        self._aggregate = aggregate
        self._cpu_path = library.netmob_cpu_path
        self._cpu_path.restype = ctypes.c_int
        self._cpu_path.argtypes = [ctypes.c_int]

    def cpu_path(self, force=None):
        """The kernel's CPU path: "generic" or "popcnt" (x86 CPUs with the POPCNT
        instruction), chosen on first use; force="generic" or "popcnt" selects one for this
        process (a path the CPU lacks gives "generic"). Both give the same results."""
        paths = ("generic", "popcnt")
        if force is not None and force not in paths:
            raise ValueError(f"force must be one of {paths}, not {force!r}")
        return paths[self._cpu_path(-1 if force is None else paths.index(force))]

    def parse(self, data, n_fields, commune_of_tile, n_communes):
        n_slots = n_fields - 1
        seen = np.zeros(len(commune_of_tile), dtype=np.uint8)
        traffic = np.zeros((n_communes, n_slots), dtype=np.float64)
        tiles = np.zeros(n_communes, dtype=np.int32)
        slot_total = np.zeros(n_slots, dtype=np.float64)
        slot_unmapped = np.zeros(n_slots, dtype=np.float64)
        stats = np.zeros(len(_STATS), dtype=np.int64)
        # any buffer: bytes, a memoryview (ReadAhead) or a read-only memory map
        # (benchmarks/mmap_vs_read.py); the view is dropped at once so that a map can be
        # closed
        view = np.frombuffer(data, dtype=np.uint8)
        try:
            code = self._aggregate(
                view.ctypes.data, len(view), n_fields, commune_of_tile.ctypes.data,
                len(commune_of_tile), n_communes, seen.ctypes.data, traffic.ctypes.data,
                tiles.ctypes.data, slot_total.ctypes.data, slot_unmapped.ctypes.data,
                stats.ctypes.data,
            )
        finally:
            del view
        stat = {name: int(stats[i]) for name, i in _STAT.items()}
        if code:
            offset = stat["err_offset"]
            raise _ParseError(
                code, stat["err_line"], stat["err_field"],
                bytes(data[offset:offset + stat["err_length"]]), stat["err_found"],
            )

        def located(prefix):
            offset = stat[f"{prefix}_offset"]
            text = bytes(data[offset:offset + stat[f"{prefix}_length"]])
            return stat[f"{prefix}_line"], stat[f"{prefix}_field"], text.decode("utf-8", "replace")

        max_value = float(stats[_STAT["max_bits"]:_STAT["max_bits"] + 1].view(np.float64)[0])
        return _Parsed(
            traffic, tiles, slot_total, slot_unmapped,
            {name: stat[name] for name in _COUNTS}, max_value,
            located("neg") if stat["negative_values"] else None,
            located("max") if stat["max_line"] else None,
            (stat["dup_line"], stat["dup_tile"]) if stat["duplicate_tiles"] else None,
        )


_LOADED = {}


def load_native_parser(path):
    """The C kernel at `path` (loaded once per process). Raises OSError if unusable."""
    key = os.path.abspath(os.fspath(path))
    if key not in _LOADED:
        _LOADED[key] = NativeParser(path)
    return _LOADED[key]


# --- the pure-Python parser ---------------------------------------------------------------
# Kept in the package: the pyarrow parser hands it the files it cannot decide, for the
# kernel's exact error message (or result), and _overflow_message locates an overflow with
# it. The tests use it as their straightforward reference.
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


def _field_text(lines, number, field):
    """Text of field `field` (1-based) of line `number` (1-based) of `lines`."""
    line = lines[number - 1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line.split(b" ")[field - 1].decode("utf-8", "replace")


def _python_rows(data, n_fields):
    """(tile ids, values float64[rows, slots] with NaN for missing, line number of each row,
    the lines, blank, crlf, empty) of a file; _ParseError for a malformed one."""
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
    return tile_ids, values, row_lines, lines, blank, crlf, empty


def _parse_python(data, n_fields, commune_of_tile, n_communes):
    """Straightforward implementation of the kernel's rules (module docstring)."""
    n_slots = n_fields - 1
    tile_ids, values, row_lines, lines, blank, crlf, empty = _python_rows(data, n_fields)
    n_rows = len(tile_ids)
    missing = np.isnan(values)
    values[missing | (values == 0.0)] = 0.0  # missing adds nothing; -0.0 becomes +0.0
    negative = values < 0.0
    first_negative = None
    if negative.any():
        row, slot = divmod(int(np.argmax(negative.reshape(-1))), n_slots)
        first_negative = (row_lines[row], slot + 2, _field_text(lines, row_lines[row], slot + 2))
    max_value, max_location = max(0.0, float(values.max())), None
    if max_value > 0.0:
        row, slot = divmod(int(np.argmax(values.reshape(-1))), n_slots)
        max_location = (row_lines[row], slot + 2, _field_text(lines, row_lines[row], slot + 2))

    n_index = len(commune_of_tile)
    index = np.array([tile if tile < n_index else -1 for tile in tile_ids], dtype=np.int64)
    in_range = index >= 0
    first_duplicate, seen = None, set()
    for row, tile in enumerate(index.tolist()):
        if tile >= 0:
            if tile in seen:
                first_duplicate = (row_lines[row], tile)
                break
            seen.add(tile)
    commune = np.full(n_rows, -1, dtype=np.int64)
    commune[in_range] = commune_of_tile[index[in_range]]
    mapped = commune >= 0
    traffic = np.zeros((n_communes, n_slots), dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow: aggregate_file
        np.add.at(traffic, commune[mapped], values[mapped])  # row by row, in file order
        slot_total = np.cumsum(values, axis=0)[-1]  # sequential, in file order
        slot_unmapped = (
            np.cumsum(values[~mapped], axis=0)[-1] if (~mapped).any() else np.zeros(n_slots)
        )
    tiles = np.bincount(commune[mapped], minlength=n_communes).astype(np.int32)
    counts = {
        "lines": len(lines),
        "rows": n_rows,
        "blank_lines": blank,
        "crlf_lines": crlf,
        "empty_fields": empty,
        "nan_fields": int(missing.sum()) - empty,
        "negative_values": int(negative.sum()),
        "nonzero_values": int(np.count_nonzero(values)),
        "duplicate_tiles": int(in_range.sum()) - len(np.unique(index[in_range])),
        "unmapped_tiles": int((~mapped).sum()),
    }
    return _Parsed(traffic, tiles, slot_total, slot_unmapped, counts, max_value,
                   first_negative, max_location, first_duplicate)


# --- the pyarrow parser ------------------------------------------------------------------
# The fallback when the C kernel is unavailable. pyarrow's CSV reader (one thread, space
# delimiter, no header, no quoting, explicit column types) splits the lines and converts
# the values to correctly rounded doubles (fast_float, as the kernel); NumPy sums them per
# commune and slot in file order. Within the bytes of the format (_ALPHABET) pyarrow
# accepts exactly the kernel's tokens (tests/test_ingest.py fuzzes both); what it would
# accept beyond the kernel's rules is checked around it: any other byte (a tab, which
# pyarrow trims; `inf`; a byte-order mark, which it skips), a lone CR (a line end to
# pyarrow), a tile id that is not 1 to 19 digits, a number that overflows to inf. Such a
# file, and every file pyarrow refuses (a field count, a bad token), goes to the Python
# parser, which gives the kernel's result or its exact error message (line and field).
_ALPHABET = b"0123456789.eE+-nNaA \n\r"
_BLOCK_BYTES = 1 << 20  # text per record batch: memory stays bounded on any file size


class _Undecided(Exception):
    """The pyarrow parser leaves this file to the Python parser."""


def _parse_pyarrow(data, n_fields, commune_of_tile, n_communes):
    """The pyarrow parser on a file's bytes; the Python parser for a file it cannot decide."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow: aggregate_file
            return _pyarrow(data, n_fields, commune_of_tile, n_communes)
    except _Undecided:
        return _parse_python(data, n_fields, commune_of_tile, n_communes)


def _line_starts(data):
    """Byte offset of the start of each line (the kernel's lines: the last one may lack
    its newline; an empty tail after the final newline is no line)."""
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    starts = np.concatenate([[0], newlines + 1])
    return starts[:-1] if data.endswith(b"\n") else starts


def _line_text_at(data, starts, number):
    """Bytes of line `number` (1-based) without its line end."""
    end = data.find(b"\n", int(starts[number - 1]))
    text = data[int(starts[number - 1]):end if end >= 0 else len(data)]
    return text[:-1] if text.endswith(b"\r") else text


def _blank_lines(data, starts):
    """Boolean per line: blank (no character but its line end)."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    length = np.append(starts[1:] - 1, len(buffer) - data.endswith(b"\n")) - starts
    first = buffer[np.minimum(starts, len(buffer) - 1)]
    return (length == 0) | ((length == 1) & (first == 13))


def _csv_batches(data, n_fields):
    """The record batches of pyarrow's CSV reader over the bytes: column "0" the tile ids
    as text, the others float64 (an empty field is null)."""
    import pyarrow as pa
    from pyarrow import csv

    names = [str(i) for i in range(n_fields)]
    return csv.open_csv(
        pa.py_buffer(data),
        read_options=csv.ReadOptions(
            column_names=names, use_threads=False, block_size=_BLOCK_BYTES
        ),
        parse_options=csv.ParseOptions(
            delimiter=" ", quote_char=False, double_quote=False, escape_char=False,
            newlines_in_values=False, ignore_empty_lines=True,
        ),
        convert_options=csv.ConvertOptions(
            column_types={name: pa.float64() for name in names[1:]} | {"0": pa.string()},
            null_values=[""], strings_can_be_null=False, check_utf8=False,
        ),
    )


def _tile_ids(column):
    """uint64 tile ids of a batch's first column; _Undecided unless each is 1 to 19 digits."""
    import pyarrow as pa
    import pyarrow.compute as pc

    length = pc.min_max(pc.binary_length(column))
    if (
        length["min"].as_py() < 1 or length["max"].as_py() > 19
        or not pc.all(pc.ascii_is_decimal(column)).as_py()
    ):
        raise _Undecided
    return pc.cast(column, pa.uint64()).to_numpy()


def _pyarrow(data, n_fields, commune_of_tile, n_communes):
    import pyarrow as pa

    n_slots = n_fields - 1
    if not data or data.translate(None, _ALPHABET):
        raise _Undecided
    n_lines = data.count(b"\n") + (not data.endswith(b"\n"))
    crlf = 0
    if b"\r" in data:
        crlf = data.count(b"\r\n") + data.endswith(b"\r")
        if data.count(b"\r") != crlf:
            raise _Undecided  # a CR inside a line: a line end to pyarrow, not to the kernel
    n_index = len(commune_of_tile)
    seen = np.zeros(n_index, dtype=bool)
    n_seen = 0
    # sums[slot, group]: group = commune row, or n_communes for the rows without commune
    width = n_communes + 1
    sums = np.zeros(n_slots * width, dtype=np.float64)
    slot_total = np.zeros(n_slots, dtype=np.float64)
    tiles = np.zeros(n_communes, dtype=np.int64)
    counts = dict.fromkeys(_COUNTS, 0)
    max_value, max_at, negative_at, duplicate_at = 0.0, None, None, None
    row0 = 0
    try:
        for batch in _csv_batches(data, n_fields):
            n = batch.num_rows
            if not n:
                continue
            tile = _tile_ids(batch.column(0))
            slots = pa.RecordBatch.from_arrays(batch.columns[1:], names=batch.schema.names[1:])
            n_empty = sum(column.null_count for column in slots.columns)
            # float64[n_slots * n], slot after slot (each slot's rows in file order); NaN
            # for an empty field. Zeros and missing values add nothing (as in the kernel):
            # only the other values are kept, with their flat position.
            flat = slots.to_tensor(null_to_nan=True, row_major=False).to_numpy().T.ravel()
            at = np.flatnonzero(flat != 0.0)
            value = flat[at]
            if not np.isfinite(value).all():
                missing = np.isnan(value)
                if not np.isfinite(value[~missing]).all():
                    raise _Undecided  # inf: a number beyond the range of a double
                counts["empty_fields"] += n_empty
                counts["nan_fields"] += int(missing.sum()) - n_empty
                at, value = at[~missing], value[~missing]
            slot, row = np.divmod(at, n)
            counts["nonzero_values"] += len(value)
            negative = np.flatnonzero(value < 0.0)
            counts["negative_values"] += len(negative)
            if len(negative) and negative_at is None:  # first in file order: row, then slot
                first = negative[np.argmin(row[negative] * n_slots + slot[negative])]
                negative_at = (row0 + int(row[first]), int(slot[first]))
            if len(value) and value.max() > max_value:
                max_value = float(value.max())
                largest = np.flatnonzero(value == max_value)
                first = largest[np.argmin(row[largest] * n_slots + slot[largest])]
                max_at = (row0 + int(row[first]), int(slot[first]))

            in_range = np.flatnonzero(tile < n_index)
            index = tile[in_range].astype(np.intp)
            seen_before = seen[index]
            seen[index] = True
            n_duplicate = len(index) - (int(np.count_nonzero(seen)) - n_seen)
            n_seen += len(index) - n_duplicate
            counts["duplicate_tiles"] += n_duplicate
            if n_duplicate and duplicate_at is None:  # the first row of a tile seen before
                first = np.zeros(len(index), dtype=bool)
                first[np.unique(index, return_index=True)[1]] = True
                first_row = int(in_range[np.argmax(seen_before | ~first)])
                duplicate_at = (row0 + first_row, int(tile[first_row]))
            group = np.full(n, n_communes, dtype=np.intp)
            group[in_range] = commune_of_tile[index]
            group[group < 0] = n_communes
            tiles += np.bincount(group, minlength=width)[:n_communes]
            counts["unmapped_tiles"] += int(np.count_nonzero(group == n_communes))
            # bincount adds its weights one after the other in array order, each sum
            # starting from its value so far: the kernel's additions, in the same order
            sums = np.bincount(
                np.concatenate([np.arange(len(sums)), slot * width + group[row]]),
                weights=np.concatenate([sums, value]), minlength=len(sums),
            )
            slot_total = np.bincount(
                np.concatenate([np.arange(n_slots), slot]),
                weights=np.concatenate([slot_total, value]), minlength=n_slots,
            )
            row0 += n
    except pa.ArrowInvalid:
        raise _Undecided from None  # a field count or a bad token: the Python parser names it
    starts, row_lines = None, None  # tile row i is line i + 1 unless there are blank lines
    if row0 < n_lines:  # pyarrow skipped blank lines: count them, number the rows
        starts = _line_starts(data)
        row_lines = np.flatnonzero(~_blank_lines(data, starts)) + 1
    if row0 == 0 or (row_lines is not None and len(row_lines) != row0) or row0 > n_lines:
        raise _Undecided  # no tile row, or a disagreement on the lines: the kernel's rules
    counts.update(lines=n_lines, rows=row0, blank_lines=n_lines - row0, crlf_lines=crlf)
    sums = sums.reshape(n_slots, width)

    def line_of(row):
        return row + 1 if row_lines is None else int(row_lines[row])

    def located(row, slot):
        nonlocal starts
        if starts is None:
            starts = _line_starts(data)
        number = line_of(row)
        text = _line_text_at(data, starts, number).split(b" ")[slot + 1]
        return number, slot + 2, text.decode("utf-8", "replace")

    return _Parsed(
        np.ascontiguousarray(sums[:, :n_communes].T), tiles.astype(np.int32), slot_total,
        np.ascontiguousarray(sums[:, n_communes]), counts, max_value,
        located(*negative_at) if negative_at is not None else None,
        located(*max_at) if max_at is not None else None,
        (line_of(duplicate_at[0]), duplicate_at[1]) if duplicate_at else None,
    )


def choose_parser(library):
    """The parser to use and a warning ("" when the native one loads).

    `library` is the path written by the rule `parser_library` (the C kernel, or a note
    saying why it could not be built). Returns (name, NativeParser or None, warning)."""
    try:
        if not library:
            raise OSError("no library given")
        return "native", load_native_parser(library), ""
    except OSError as error:
        reason = str(error)
    return "pyarrow", None, (
        f"WARNING: the native parser is unavailable ({reason}): using the pyarrow parser "
        "(same results, slower). Install a C compiler (or set CC) and rerun with "
        "--forcerun parser_library to use the native one."
    )


# --- one file ---------------------------------------------------------------------------
def _sequential_sum(values):
    """Sum in array order (the same order for every parser); inf on overflow."""
    total = 0.0
    for value in values.tolist():
        total += value
    return total


# Files read ahead of the one being parsed (ReadAhead): a thread reads them from the disk
# while the kernel parses, so that a job reading from a cold page cache waits for the disk
# only where the disk is slower than the parse. Memory: this many files' bytes besides the
# one being parsed.
READ_AHEAD_FILES = 2


class ReadAhead:
    """The bytes of traffic files asked for in a known order, read by one background thread
    up to `depth` files ahead of the file asked for (0: each file read when asked).

    `read(path)` returns the bytes of `path` as a memoryview that stays valid until the
    next read(): its buffer is then reused (depth + 1 buffers in all, each reused file
    after file, so that reading allocates and zero-fills no new memory per file); copy
    what must outlive it. An unreadable file raises its TrafficFileError when its turn
    comes, never earlier. The files must be asked for in the order of `paths` (a path
    asked out of order is read at once, in this thread). The thread reads while the caller
    parses: file reads and the C kernel release the interpreter lock. Use as a context
    manager, or call close(), so that reads still queued are dropped and the thread ends."""

    def __init__(self, paths, depth=READ_AHEAD_FILES):
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        if depth < 0:
            raise ValueError(f"depth must be >= 0, not {depth}")
        self._waiting = deque(paths)
        self._pending = deque()  # (path, future), in the order of `paths`
        self._depth = depth
        self._free = []  # buffers to read into
        self._lent = None  # the buffer of the bytes the last read() returned
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
            if depth > 0 and len(self._waiting) > 1 else None
        )
        self._fill()

    def _buffer(self):
        return self._free.pop() if self._free else bytearray()

    def _fill(self):
        # while file i is parsed, files i + 1 ... i + depth are being read or queued
        while self._executor is not None and self._waiting and len(self._pending) < self._depth:
            path = self._waiting.popleft()
            self._pending.append((path, self._executor.submit(read_traffic_into, path, self._buffer())))

    def read(self, path):
        if self._lent is not None:  # the caller is done with the bytes it was given last
            self._free.append(self._lent)
            self._lent = None
        if self._pending and self._pending[0][0] == path:
            future = self._pending.popleft()[1]
            self._fill()
            data, self._lent = future.result()
            return data
        if self._waiting and self._waiting[0] == path and not self._pending:
            self._waiting.popleft()
        data, self._lent = read_traffic_into(path, self._buffer())
        return data

    def close(self):
        if self._executor is not None:
            for _, future in self._pending:
                future.cancel()
            self._executor.shutdown(wait=True)
            self._executor = None
        self._pending.clear()
        self._waiting.clear()
        self._free.clear()
        self._lent = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


# Linux's RWF_DONTCACHE (include/uapi/linux/fs.h; kernels from 6.14, on file systems that
# support it): a read through the page cache whose newly read pages are dropped once
# copied, while pages already cached stay cached. A traffic file is read once per run; at
# the scale of the NetMob23 data set (far beyond the memory) cached traffic files only
# make the kernel reclaim pages on every read, which costs system CPU time and slows the
# disk (BENCHMARKS.md, the full-scale bench). Elsewhere (another kernel, file system or
# OS) reads are plain reads.
RWF_DONTCACHE = 0x80
_uncached_reads = [hasattr(os, "preadv") and hasattr(os, "RWF_NOWAIT")]  # Linux' preadv2


def _read_at(handle, view, offset):
    """Bytes read into `view` from `offset` (0 at the end of the file): uncached where the
    system supports it (RWF_DONTCACHE), a plain read otherwise."""
    if _uncached_reads[0]:
        try:
            return os.preadv(handle.fileno(), [view], offset, RWF_DONTCACHE)
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            _uncached_reads[0] = False  # not supported here: plain reads from now on
    handle.seek(offset)
    return handle.readinto(view)


def read_traffic_into(path, buffer):
    """(data, buffer): the bytes of a traffic file read into `buffer` (a bytearray), data a
    memoryview of it; a file that does not fit gets a new, larger buffer (returned). The
    file's pages are not kept in the page cache unless they were cached before
    (RWF_DONTCACHE, above). An unreadable file is a TrafficFileError naming it."""
    try:
        with open(path, "rb", buffering=0) as handle:
            size = os.fstat(handle.fileno()).st_size
            if len(buffer) <= size:  # one byte more than the file: a file that grew shows
                buffer = bytearray(size + size // 16 + 1)
            view = memoryview(buffer)
            done = 0
            while done < len(buffer):
                count = _read_at(handle, view[done:], done)
                if not count:
                    return view[:done], buffer
                done += count
            handle.seek(done)
            return bytes(view) + handle.readall(), buffer  # it grew beyond the buffer
    except OSError as error:
        raise TrafficFileError(_unreadable(path, error)) from None


def _unreadable(path, error):
    return (
        f"{path}: cannot read the file ({error.strerror or error}); check that it "
        "exists and that its permissions let this user read it"
    )


def read_traffic_bytes(path):
    """The bytes of a traffic file; an unreadable one is a TrafficFileError naming it."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise TrafficFileError(_unreadable(path, error)) from None


def _overflow_message(path, data, n_fields, commune_of_tile):
    """Where a sum of the file first overflows (rows added in file order)."""
    tile_ids, values, row_lines, lines, *_ = _python_rows(data, n_fields)
    values[np.isnan(values)] = 0.0
    n_index = len(commune_of_tile)
    sums, total = {}, np.zeros(values.shape[1])
    grand = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for row, tile in enumerate(tile_ids):
            commune = int(commune_of_tile[tile]) if tile < n_index else -1
            total = total + values[row]
            running = sums.get(commune, np.zeros(values.shape[1])) + values[row]
            sums[commune] = running
            grand += float(values[row].sum())
            bad = np.flatnonzero(~np.isfinite(total) | ~np.isfinite(running))
            if len(bad) or not np.isfinite(grand):
                field = int(bad[0]) + 2 if len(bad) else int(np.argmax(np.abs(values[row]))) + 2
                number = row_lines[row]
                return (
                    f"{path}, line {number}, field {field}: adding "
                    f"{quote(_field_text(lines, number, field))} makes a sum of the file "
                    "overflow a double (infinite); no traffic volume is that large. Fix the "
                    "file (qc.max_tile_value is the ceiling of one value)."
                )
    return f"{path}: a sum of the file's values overflows a double (infinite)"


def aggregate_file(path, day, commune_of_tile, n_communes, *, parser="native", library=None,
                   data=None):
    """Sum the traffic file `path` of `day` per commune and slot.

    commune_of_tile: int array, commune row of each tile id (-1: none); n_communes: rows of
    the result. parser: "native" (the C kernel; `library` is its path or a NativeParser),
    "pyarrow" or "python". data: the file's bytes (or a memoryview) when already read
    (ReadAhead); None: read here. Raises TrafficFileError for an unreadable or malformed
    file (naming file, line, field) or one whose sums overflow.
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
    if parser == "native":
        if library is None:
            raise ValueError('parser="native" needs library= (a path or a NativeParser)')
        native = library if isinstance(library, NativeParser) else load_native_parser(library)
        parse = native.parse
    elif parser == "pyarrow":
        parse = _parse_pyarrow
    elif parser == "python":
        parse = _parse_python
    else:
        raise ValueError(f"parser must be one of {', '.join(PARSERS)}, not {parser!r}")
    # (a read-only memory map instead of this copy was tried: no measurable gain,
    # benchmarks/mmap_vs_read.py)
    if data is None:
        data = read_traffic_bytes(path)
    elif parser != "native" and not isinstance(data, bytes):
        data = bytes(data)  # the pyarrow and Python parsers take bytes
    problem = _signature_problem(path, data)
    if problem:
        raise TrafficFileError(problem)
    try:
        result = parse(data, n_slots + 1, commune_of_tile, n_communes)
    except _ParseError as error:
        raise TrafficFileError(_error_message(path, day, n_slots, error, bytes(data))) from None
    total = _sequential_sum(result.slot_total)
    unmapped = _sequential_sum(result.slot_unmapped)
    if not (
        np.isfinite(result.traffic).all() and np.isfinite(result.slot_total).all()
        and np.isfinite(total) and np.isfinite(unmapped)
    ):
        raise TrafficFileError(_overflow_message(path, bytes(data), n_slots + 1, commune_of_tile))
    counts = result.counts
    qc = {
        "lines": counts["lines"],
        "tile_rows": counts["rows"],
        "slots": n_slots,
        "blank_lines": counts["blank_lines"],
        "crlf_lines": counts["crlf_lines"],
        "empty_fields": counts["empty_fields"],
        "nan_fields": counts["nan_fields"],
        "negative_values": counts["negative_values"],
        "duplicate_tiles": counts["duplicate_tiles"],
        "unmapped_tiles": counts["unmapped_tiles"],
        "unmapped_traffic": unmapped,
        "total_traffic": total,
        "unmapped_traffic_share": unmapped / total if total > 0 else 0.0,
        "max_value": result.max_value,
        "all_zero": counts["nonzero_values"] == 0,
        "parser": parser,
    }
    return DayAggregate(result.traffic, result.tiles, slot_minutes, qc,
                        result.first_negative, result.max_location, result.first_duplicate)


# --- tile index and outputs -------------------------------------------------------------
def load_tile_index(path):
    """(commune_of_tile int32, n_communes) from a tile index .npz (ARCHITECTURE.md)."""
    with np.load(path, allow_pickle=False) as index:
        absent = [key for key in ("commune_of_tile", "code_com") if key not in index.files]
        if absent:
            raise InputError(
                f"{path}: tile index without {', '.join(absent)} "
                f"(found {', '.join(index.files) or 'no array'}); delete it and rerun"
            )
        commune_of_tile = index["commune_of_tile"]
        n_communes = len(index["code_com"])
    if commune_of_tile.ndim != 1 or commune_of_tile.dtype.kind not in "iu":
        raise InputError(
            f"{path}: commune_of_tile must be a 1-d integer array, "
            f"found {commune_of_tile.dtype} of shape {commune_of_tile.shape}"
        )
    if len(commune_of_tile) and (
        commune_of_tile.min() < -1 or commune_of_tile.max() >= n_communes
    ):
        raise InputError(
            f"{path}: commune_of_tile holds values outside -1..{n_communes - 1} "
            f"({n_communes} communes in code_com)"
        )
    return commune_of_tile.astype(np.int32), n_communes


def parse_date(stamp):
    try:
        return datetime.datetime.strptime(str(stamp), "%Y%m%d").date()
    except ValueError:
        raise ValueError(f"{stamp!r} is not a date written YYYYMMDD") from None


def write_batch(path, dates, days, qc_fields):
    """Write the ingested batch (ARCHITECTURE.md, "Ingested batch") atomically.

    dates: int YYYYMMDD of each day; days: their DayAggregates (same communes); qc_fields:
    {field: dtype} (netmob_cpc.qc.QC_FIELDS), every field present in each day's qc."""
    from netmob_cpc.files import atomic_path

    n_slots = [len(day.slot_minutes) for day in days]
    arrays = {
        "dates": np.asarray(dates, dtype=np.int32),
        "slot_offsets": np.concatenate([[0], np.cumsum(n_slots)]).astype(np.int64),
        "traffic": np.concatenate([day.traffic for day in days], axis=1).astype(np.float64),
        "tiles": np.stack([day.tiles for day in days]).astype(np.int32),
        "slot_minutes": np.concatenate([day.slot_minutes for day in days]).astype(np.int16),
    }
    for field, dtype in qc_fields.items():
        arrays[f"qc_{field}"] = np.array([day.qc[field] for day in days], dtype=dtype)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def load_batch(path, traffic=True):
    """An ingested batch as a list of day dicts (`traffic`, `tiles`, `slot_minutes`, and
    each QC field by name), in date order, with the date under `date`. traffic=False reads
    only the dates and the QC fields (what qc.csv needs)."""
    with np.load(path, allow_pickle=False) as saved:
        arrays = {key: saved[key] for key in saved.files
                  if traffic or key == "dates" or key.startswith("qc_")}
    days = []
    for i, date in enumerate(arrays["dates"].tolist()):
        day = {"date": date}
        if traffic:
            offsets = arrays["slot_offsets"]
            day.update(
                traffic=arrays["traffic"][:, offsets[i]:offsets[i + 1]],
                tiles=arrays["tiles"][i],
                slot_minutes=arrays["slot_minutes"][offsets[i]:offsets[i + 1]],
            )
        for key, values in arrays.items():
            if key.startswith("qc_"):
                day[key[3:]] = values[i].item()
        days.append(day)
    return days
