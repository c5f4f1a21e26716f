"""Ingest stage: NetMob23 traffic files summed per commune and slot
(scripts/netmob_cpc/traffic_files.py, qc.py, and the entry script scripts/traffic_files.py).

Expected numbers come from hand computation, from Python's float() and from an independent
pandas computation done the seed notebook's way (read_csv sep=" " + merge with the tile
map + groupby sum). The C kernel, the pyarrow parser and the pure-Python parser must
agree bit for bit.
"""

import datetime
import errno
import mmap
import os
import platform
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from netmob_cpc import qc as quality
from netmob_cpc import traffic_files
from netmob_cpc.traffic_files import TrafficFileError

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "scripts" / "native" / "netmob_parse.c"
CC = shutil.which("cc")
NO_CC = "no C compiler (`cc`) on PATH: the native parser cannot be built here"

MAY12 = datetime.date(2019, 5, 12)        # 96 slots
CLOCK_CHANGE = datetime.date(2019, 3, 31)  # 92 slots: 00:00..01:45, 03:00..23:45


# --- fixtures and helpers ---------------------------------------------------------------
def _build(folder, *flags):
    library = folder / "libnetmob_parse.so"
    subprocess.run(
        [CC, "-O3", "-std=c99", *flags, "-shared", "-fPIC", "-o", str(library), str(SOURCE)],
        check=True, capture_output=True, text=True,
    )
    return str(library)


@pytest.fixture(scope="session")
def library(tmp_path_factory):
    """The kernel built as rules/traffic_files.smk builds it."""
    if CC is None:
        pytest.skip(NO_CC)
    return _build(tmp_path_factory.mktemp("native"))


@pytest.fixture(scope="session")
def portable_library(tmp_path_factory):
    """The kernel without its x86 / little-endian fast paths (what other machines run)."""
    if CC is None:
        pytest.skip(NO_CC)
    return _build(tmp_path_factory.mktemp("portable"), "-DNETMOB_PORTABLE")


@pytest.fixture(params=["native", "pyarrow", "python"])
def parse(request):
    """aggregate_file with one of the three parsers."""
    library = request.getfixturevalue("library") if request.param == "native" else None

    def run(path, day, commune_of_tile, n_communes):
        return traffic_files.aggregate_file(
            path, day, np.asarray(commune_of_tile, dtype=np.int32), n_communes,
            parser=request.param, library=library,
        )

    run.parser = request.param
    return run


def write(path, text):
    Path(path).write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def line(tile, values, n_slots=96):
    """A traffic line: `values` is {slot: text}; other slots are "0"."""
    fields = ["0"] * n_slots
    for slot, text in values.items():
        fields[slot] = text
    return " ".join([str(tile), *fields])


def parse_outcome(parse, data, n_fields, commune_of_tile, n_communes=3):
    """Everything a parser gives for `data` (sums, QC counts, locations), or its error's
    code, line, field, text and count: what two parsers must agree on."""
    try:
        r = parse(data, n_fields, commune_of_tile, n_communes)
    except traffic_files._ParseError as error:
        return ("error", error.code, error.line, error.field, bytes(error.text), error.found)
    return (r.traffic.tobytes(), r.tiles.tolist(), r.slot_total.tobytes(),
            r.slot_unmapped.tobytes(), r.counts, r.max_value, r.first_negative,
            r.max_location, r.first_duplicate)


def assert_same(a, b):
    """Two DayAggregates equal bit for bit (the parser's name apart)."""
    assert a.traffic.dtype == b.traffic.dtype == np.float64
    assert np.array_equal(a.traffic.view(np.uint64), b.traffic.view(np.uint64))
    assert np.array_equal(a.tiles, b.tiles)
    assert np.array_equal(a.slot_minutes, b.slot_minutes)
    assert {**a.qc, "parser": ""} == {**b.qc, "parser": ""}
    assert a.first_negative == b.first_negative
    assert a.max_location == b.max_location
    assert a.first_duplicate == b.first_duplicate


BATCH_FIELDS = {"usual_tile_rows", "tile_rows_share", "truncated"}


# --- slots ------------------------------------------------------------------------------
def test_slot_minutes_of_a_normal_day():
    minutes = traffic_files.expected_slot_minutes(MAY12)
    assert minutes.dtype == np.int16
    assert minutes.tolist() == [15 * i for i in range(96)]


def test_slot_minutes_of_the_day_the_clocks_go_forward():
    minutes = traffic_files.expected_slot_minutes(CLOCK_CHANGE)
    expected = [0, 15, 30, 45, 60, 75, 90, 105] + [180 + 15 * i for i in range(84)]
    assert minutes.tolist() == expected and len(minutes) == 92
    # the rule is the time zone's, not a hard-coded 2019 date
    assert len(traffic_files.expected_slot_minutes(datetime.date(2023, 3, 26))) == 92
    assert len(traffic_files.expected_slot_minutes(datetime.date(2019, 3, 30))) == 96


def test_25_hour_days_are_refused():
    with pytest.raises(ValueError, match=r"2019-10-27 has 25 hours .*not supported"):
        traffic_files.expected_slot_minutes(datetime.date(2019, 10, 27))


# --- sums and counts, by hand -----------------------------------------------------------
def test_small_file_summed_by_hand(parse, tmp_path):
    # tile index: tiles 0 and 2 -> commune 0, tile 1 -> commune 1, tiles 3..5 -> none;
    # commune 2 has no tile; tile 9 lies beyond the index
    commune_of_tile = [0, 1, 0, -1, -1, -1]
    text = "\n".join([
        line(0, {0: "17", 1: "2.5"}),
        line(1, {0: "1234.0625", 95: "3"}),
        line(2, {0: "1", 1: "", 2: "nan", 3: "NaN"}),
        line(5, {0: "100"}),
        line(9, {0: "1000", 50: "0.25"}),
        line(0, {0: "0.5"}),                # duplicate of tile 0
    ]) + "\n"
    day = parse(write(tmp_path / "f.txt", text), MAY12, commune_of_tile, 3)

    expected = np.zeros((3, 96))
    expected[0, 0] = 17 + 1 + 0.5
    expected[0, 1] = 2.5
    expected[1, 0] = 1234.0625
    expected[1, 95] = 3
    assert np.array_equal(day.traffic, expected)
    assert day.tiles.dtype == np.int32 and day.tiles.tolist() == [3, 1, 0]
    assert day.slot_minutes.tolist() == list(range(0, 1440, 15))
    assert day.qc == {
        "lines": 6, "tile_rows": 6, "slots": 96, "blank_lines": 0, "crlf_lines": 0,
        "empty_fields": 1, "nan_fields": 2, "negative_values": 0, "duplicate_tiles": 1,
        "unmapped_tiles": 2, "unmapped_traffic": 1100.25, "total_traffic": 2358.3125,
        "unmapped_traffic_share": 1100.25 / 2358.3125, "max_value": 1234.0625,
        "all_zero": False, "parser": parse.parser,
    }
    assert set(day.qc) | BATCH_FIELDS == set(quality.QC_FIELDS)
    assert day.max_location == (2, 2, "1234.0625")
    assert day.first_duplicate == (6, 0)


def test_clock_change_day_has_92_slots(parse, tmp_path):
    values = {slot: str(slot + 1) for slot in range(92)}
    text = line(4, values, n_slots=92) + "\n" + line(2, {91: "0.5"}, n_slots=92) + "\n"
    day = parse(write(tmp_path / "f.txt", text), CLOCK_CHANGE, [-1, -1, 1, -1, 0], 2)
    assert day.traffic.shape == (2, 92) and day.qc["slots"] == 92
    assert day.traffic[0].tolist() == [float(i + 1) for i in range(92)]
    assert day.traffic[1].tolist() == [0.0] * 91 + [0.5]
    assert day.slot_minutes[7:9].tolist() == [105, 180]


def test_every_number_form(parse, tmp_path):
    forms = ["007", "+5", "5.", ".5", "1.5e3", "2E-2", "1e+2", "-0", "0.000", "-nan",
             "nAn", "12345678901234567890.5", "0.1000000000000000055511151231257827"]
    text = line(0, {slot: form for slot, form in enumerate(forms)}) + "\n"
    day = parse(write(tmp_path / "f.txt", text), MAY12, [0], 1)
    expected = [7, 5, 5, 0.5, 1500, 0.02, 100, 0, 0, 0, 0, 12345678901234567890.5, 0.1]
    assert day.traffic[0, : len(forms)].tolist() == expected
    assert day.qc["nan_fields"] == 2 and day.qc["negative_values"] == 0  # -0 is not < 0


def test_crlf_blank_lines_and_missing_final_newline(parse, tmp_path):
    rows = [line(0, {0: "1.25"}), line(1, {1: "2"}), line(2, {95: "3"})]
    reference = parse(write(tmp_path / "lf.txt", "\n".join(rows) + "\n"), MAY12, [0, 1, 0], 2)
    assert reference.qc["crlf_lines"] == reference.qc["blank_lines"] == 0

    crlf = parse(write(tmp_path / "crlf.txt", "\r\n".join(rows) + "\r\n"), MAY12, [0, 1, 0], 2)
    no_newline = parse(write(tmp_path / "nonl.txt", "\n".join(rows)), MAY12, [0, 1, 0], 2)
    blanks = parse(
        write(tmp_path / "blank.txt", rows[0] + "\n\n" + rows[1] + "\n" + rows[2] + "\n\n"),
        MAY12, [0, 1, 0], 2,
    )
    crlf_blank = parse(
        write(tmp_path / "crlfb.txt", "\r\n".join(rows) + "\r\n\r\n"), MAY12, [0, 1, 0], 2
    )
    for day in (crlf, no_newline, blanks, crlf_blank):
        assert np.array_equal(day.traffic, reference.traffic)
        assert np.array_equal(day.tiles, reference.tiles)
    assert (crlf.qc["crlf_lines"], crlf.qc["blank_lines"], crlf.qc["lines"]) == (3, 0, 3)
    assert (no_newline.qc["lines"], no_newline.qc["blank_lines"]) == (3, 0)
    assert (blanks.qc["lines"], blanks.qc["blank_lines"]) == (5, 2)
    assert (crlf_blank.qc["crlf_lines"], crlf_blank.qc["blank_lines"]) == (4, 1)


def test_two_spaces_enclose_an_empty_field(parse, tmp_path):
    # "5  7" is 5, an empty field, 7: the line still has 97 fields
    fields = ["3", "5", "", "7"] + ["0"] * 93
    day = parse(write(tmp_path / "f.txt", " ".join(fields) + "\n"), MAY12, [-1, -1, -1, 0], 1)
    assert day.traffic[0, :4].tolist() == [5.0, 0.0, 7.0, 0.0]
    assert day.qc["empty_fields"] == 1


def test_all_zero_file(parse, tmp_path):
    text = "\n".join(line(tile, {}) for tile in range(4)) + "\n"
    day = parse(write(tmp_path / "zero.txt", text), MAY12, [0, 0, 1, -1], 2)
    assert day.qc["all_zero"] is True and day.qc["total_traffic"] == 0.0
    assert not day.traffic.any() and day.tiles.tolist() == [2, 1]
    one = parse(write(tmp_path / "one.txt", text + line(3, {5: "1e-300"}) + "\n"),
                MAY12, [0, 0, 1, -1], 2)
    assert one.qc["all_zero"] is False and one.qc["unmapped_traffic"] == 1e-300


def test_tiles_beyond_the_index_are_unmapped_and_not_duplicates(parse, tmp_path):
    text = "\n".join([line(7, {0: "1"}), line(7, {0: "2"}), line(1, {0: "4"}),
                      line(1, {0: "8"}), line(0, {0: "16"})]) + "\n"
    day = parse(write(tmp_path / "f.txt", text), MAY12, [0, -1], 1)
    assert day.qc["unmapped_tiles"] == 4 and day.qc["duplicate_tiles"] == 1
    assert day.qc["unmapped_traffic"] == 15 and day.qc["total_traffic"] == 31
    assert day.traffic[0, 0] == 16


def test_negative_values_are_summed_and_the_first_is_located(parse, tmp_path):
    text = "\n".join([line(0, {0: "5"}), line(1, {2: "-2.5", 7: "-1"}), line(0, {2: "-3"})])
    day = parse(write(tmp_path / "f.txt", text + "\n"), MAY12, [0, 0], 1)
    assert day.qc["negative_values"] == 3
    assert day.first_negative == (2, 4, "-2.5")  # line 2, field 4 (= slot 3)
    assert day.traffic[0, 2] == -5.5
    # last field of a CRLF line: the CR is not part of the value
    crlf = parse(write(tmp_path / "crlf.txt", line(0, {95: "-7"}) + "\r\n"), MAY12, [0], 1)
    assert crlf.first_negative == (1, 97, "-7")


# --- correct rounding -------------------------------------------------------------------
def _hard_decimals(rng, count):
    """Decimal strings near the midpoint of two doubles, plus known hard cases."""
    texts = ["9007199254740993", "9007199254740993.0", "9007199254740992.5", "0.1", "0.3",
             "2.2250738585072011e-308", "2.2250738585072014e-308", "4.9406564584124654e-324",
             "1.7976931348623157e308", "1e-400", "123456789012345678901234567890",
             "0.000000000000000000000000000001", "1.00000000000000011102230246251565404236316680908203125",
             "1.000000000000000111022302462515654042363166809082031251"]
    for value in 10.0 ** rng.uniform(-6, 7, size=count):
        above = np.nextafter(value, np.inf)
        midpoint = (Decimal(float(value)) + Decimal(float(above))) / 2
        for digits in (17, 18, 19, 20, 25):
            texts.append(f"{midpoint:.{digits}g}")
        texts.append(str(midpoint))
        texts.append(repr(float(value)))
    return texts


@pytest.mark.parametrize("flavour", ["native", "portable", "pyarrow", "python"])
def test_numbers_are_correctly_rounded(flavour, tmp_path, request):
    rng = np.random.default_rng(5)
    texts = _hard_decimals(rng, 400)
    n_lines = -(-len(texts) // 96)
    texts += ["0"] * (n_lines * 96 - len(texts))
    rows = [line(i, dict(enumerate(texts[i * 96:(i + 1) * 96]))) for i in range(n_lines)]
    path = write(tmp_path / "f.txt", "\n".join(rows) + "\n")
    library = None
    if flavour != "python":
        library = request.getfixturevalue("library" if flavour == "native" else "portable_library")
    parser = flavour if flavour in ("python", "pyarrow") else "native"
    day = traffic_files.aggregate_file(path, MAY12, np.arange(n_lines, dtype=np.int32), n_lines,
                                parser=parser, library=library)
    expected = np.array([float(text) for text in texts]).reshape(n_lines, 96)
    if flavour == "pyarrow":  # converted by pyarrow itself, not handed to the Python parser
        assert pyarrow_decides(Path(path).read_bytes(), 97, np.arange(n_lines, dtype=np.int32), n_lines)
    # one value per (commune, slot): the sum is the parsed value itself
    assert np.array_equal(day.traffic.view(np.uint64), (expected + 0.0).view(np.uint64))


# --- errors -----------------------------------------------------------------------------
GOOD = line(0, {0: "1"})
ERRORS = [
    # (file text, day, expected message after "{path}")
    (GOOD + "\n" + " ".join(["1"] + ["0"] * 94) + "\n", MAY12,
     ", line 2: found 95 fields, expected 97 (tile_id + 96 slots of 2019-05-12)"),
    (" ".join(["1"] + ["0"] * 97) + "\n", MAY12,
     ", line 1: found 98 fields, expected 97 (tile_id + 96 slots of 2019-05-12)"),
    (GOOD + " \n", MAY12,   # a trailing space is named as such
     ", line 1: trailing whitespace at the end of the line; NetMob23 traffic lines end with "
     "the last slot value. Strip it (e.g. `sed 's/[ \\t]*$//'`)."),
    (GOOD + "\n", CLOCK_CHANGE,
     ", line 1: found 97 fields, expected 93 (tile_id + 92 slots of 2019-03-31: the clocks "
     "go forward that day)"),
    ("\n" + GOOD + "\n" + line(1, {3: "abc"}) + "\n", MAY12,
     ", line 3, field 5: 'abc' is not a number"),
    (line(1, {0: "12abc"}), MAY12, ", line 1, field 2: '12abc' is not a number"),
    (line(1, {95: "1,5"}), MAY12, ", line 1, field 97: '1,5' is not a number"),
    (line(1, {0: "inf"}), MAY12, ", line 1, field 2: 'inf' is not a number"),
    (line(1, {0: "0x10"}), MAY12, ", line 1, field 2: '0x10' is not a number"),
    (line(1, {0: "1e"}), MAY12, ", line 1, field 2: '1e' is not a number"),
    (line(1, {0: "."}), MAY12, ", line 1, field 2: '.' is not a number"),
    (line(1, {0: "1_000"}), MAY12, ", line 1, field 2: '1_000' is not a number"),
    (line(1, {0: "+.nan"}), MAY12, ", line 1, field 2: '+.nan' is not a number"),
    (line(1, {0: "NA"}), MAY12, ", line 1, field 2: 'NA' is not a number"),
    (line(1, {0: "\t1"}), MAY12,
     ", line 1: tab-separated fields (found a tab character); NetMob23 traffic files "
     "separate fields with one space. Convert the tabs to spaces (e.g. `tr '\\t' ' '`)."),
    (line(1, {0: "1\r"}), MAY12, ", line 1, field 2: '1\\r' is not a number"),
    (line(1, {0: "1e400"}), MAY12, ", line 1, field 2: '1e400' is beyond the range of a double"),
    (line(-3, {}), MAY12, ", line 1, field 1: tile_id '-3' is not a non-negative integer (1 to 19 digits)"),
    (line("1.0", {}), MAY12, ", line 1, field 1: tile_id '1.0' is not a non-negative integer (1 to 19 digits)"),
    (line("", {}), MAY12, ", line 1, field 1: tile_id '' is not a non-negative integer (1 to 19 digits)"),
    (line("12345678901234567890", {}), MAY12,
     ", line 1, field 1: tile_id '12345678901234567890' is not a non-negative integer (1 to 19 digits)"),
    # what pyarrow alone would accept: a sign before a tile id, inf, a leading space
    (line("+1", {}), MAY12, ", line 1, field 1: tile_id '+1' is not a non-negative integer (1 to 19 digits)"),
    (line("00000000000000000001", {}), MAY12,
     ", line 1, field 1: tile_id '00000000000000000001' is not a non-negative integer (1 to 19 digits)"),
    (line(1, {5: "-inf"}), MAY12, ", line 1, field 7: '-inf' is not a number"),
    (line(1, {5: "Infinity"}), MAY12, ", line 1, field 7: 'Infinity' is not a number"),
    (GOOD + "\n " + GOOD + "\n", MAY12,
     ", line 2: found 98 fields, expected 97 (tile_id + 96 slots of 2019-05-12)"),
    (GOOD + "\n" + line(2, {0: "3\r4"}) + "\n", MAY12, ", line 2, field 2: '3\\r4' is not a number"),
    # a line that is wrong in several ways is reported for its field count
    (" ".join(["x", "abc"] + ["0"] * 90) + "\n", MAY12,
     ", line 1: found 92 fields, expected 97 (tile_id + 96 slots of 2019-05-12)"),
    ("", MAY12, ": empty file (expected one line per tile)"),
    ("\n\r\n\n", MAY12, ": empty file (expected one line per tile)"),
]


@pytest.mark.parametrize("text, day, message", ERRORS)
def test_malformed_files_are_refused_naming_file_line_and_field(parse, tmp_path, text, day, message):
    path = write(tmp_path / "Paris_Tor_20190512_DL.txt", text)
    with pytest.raises(TrafficFileError) as caught:
        parse(path, day, [0, 0], 1)
    assert str(caught.value) == path + message


LIMITS = quality.Thresholds(
    max_negative_values=0, max_missing_share=0.01, max_duplicate_tiles=0,
    max_tile_value=1e13, max_unmapped_traffic_share=0.05, min_tile_rows_share=0.9,
)


def limits(**changes):
    return quality.Thresholds(**{**LIMITS.__dict__, **changes})


def test_threshold_on_negative_values(parse, tmp_path):
    path = write(tmp_path / "f.txt", GOOD + "\n" + line(3, {2: "-2.5"}) + "\n")
    day = parse(path, MAY12, [0, 0, 0, 0], 1)
    with pytest.raises(TrafficFileError) as caught:
        quality.check_file(path, day, LIMITS)  # no negative value tolerated
    assert str(caught.value).startswith(
        f"{path}, line 2, field 4: negative traffic value '-2.5' (1 negative value(s) in "
        "the file; qc.max_negative_values = 0)"
    )
    quality.check_file(path, day, limits(max_negative_values=1))


def test_threshold_on_missing_values(parse, tmp_path):
    # 2 lines x 96 slots = 192 slot fields; 4 empty + 4 nan = 8 missing (4.2 %)
    missing = {0: "", 1: "", 2: "nan", 3: "nan", 4: "NaN"}
    path = write(tmp_path / "f.txt",
                 line(0, missing) + "\n" + line(1, {0: "", 1: "", 9: "nan"}) + "\n")
    day = parse(path, MAY12, [0, 0], 1)
    assert (day.qc["empty_fields"], day.qc["nan_fields"]) == (4, 4)
    with pytest.raises(TrafficFileError) as caught:
        quality.check_file(path, day, LIMITS)
    assert str(caught.value).startswith(
        f"{path}: 8 of 192 slot fields are missing (4 empty, 4 nan), a share of 4.1667% "
        "above qc.max_missing_share = 0.01."
    )
    quality.check_file(path, day, limits(max_missing_share=0.05))


# --- the new per-file checks, each with a crafted file ---------------------------------
def _full_file(n_tiles, n_slots=96, extra=""):
    return "\n".join(line(tile, {tile % n_slots: "3"}, n_slots) for tile in range(n_tiles)) + "\n" + extra


def test_a_truncated_file_is_reported_against_the_batch_median(parse, tmp_path):
    paths = [write(tmp_path / f"Nancy_Tor_2019051{i}_DL.txt", _full_file(40)) for i in range(4)]
    cut = _full_file(40).split("\n")[:18]  # cut at a line boundary: 18 of 40 tiles
    paths.append(write(tmp_path / "Nancy_Tor_20190515_DL.txt", "\n".join(cut) + "\n"))
    days = [parse(path, MAY12, np.zeros(40, np.int32), 1) for path in paths]
    with pytest.raises(TrafficFileError) as caught:
        quality.check_batch(paths, days, 40, LIMITS)
    assert str(caught.value) == (
        f"{paths[-1]}: 18 tile rows, 45.0% of the usual 40 of this city and app (the median "
        "of the 5 files of its batch); the file looks truncated (qc.min_tile_rows_share = "
        "0.9). Copy the file again, or lower qc.min_tile_rows_share to accept it."
    )
    quality.check_batch(paths, days, 40, limits(min_tile_rows_share=0.4))
    assert [day.qc["truncated"] for day in days] == [False] * 4 + [True]
    assert days[-1].qc["tile_rows_share"] == 18 / 40 and days[0].qc["usual_tile_rows"] == 40


def test_a_truncated_file_alone_is_compared_with_the_tile_map(parse, tmp_path):
    path = write(tmp_path / "Nancy_Tor_20190512_DL.txt", _full_file(10))
    day = parse(path, MAY12, np.zeros(40, np.int32), 1)
    with pytest.raises(TrafficFileError, match=r"10 tile rows, 25.0% of the usual 40 .*the 40 "
                       r"tiles of the tile map that have a commune .*qc.min_tile_rows_share"):
        quality.check_batch([path], [day], 40, LIMITS)


def test_a_file_cut_inside_a_line_says_so(parse, tmp_path):
    rows = _full_file(5).split("\n")
    text = "\n".join(rows[:4]) + "\n" + " ".join(rows[4].split(" ")[:40])  # cut mid-line
    path = write(tmp_path / "f.txt", text)
    with pytest.raises(TrafficFileError, match=r", line 5: found 40 fields, expected 97 .*; "
                       "the last line is incomplete: the file looks truncated$"):
        parse(path, MAY12, np.zeros(5, np.int32), 1)


def test_a_file_concatenated_twice_is_refused(parse, tmp_path):
    path = write(tmp_path / "Lyon_Tor_20190512_DL.txt", _full_file(6) * 2)
    day = parse(path, MAY12, np.zeros(6, np.int32), 1)
    assert day.qc["duplicate_tiles"] == 6 and day.first_duplicate == (7, 0)
    assert day.traffic[0].sum() == 2 * 6 * 3  # duplicates are added, hence the check
    with pytest.raises(TrafficFileError) as caught:
        quality.check_file(path, day, LIMITS)
    assert str(caught.value).startswith(
        f"{path}, line 7: tile 0 appears a second time; 6 duplicated tile row(s) in the "
        "file (qc.max_duplicate_tiles = 0)."
    )
    quality.check_file(path, day, limits(max_duplicate_tiles=6))


def test_an_implausible_value_is_refused_naming_line_and_field(parse, tmp_path):
    path = write(tmp_path / "f.txt", _full_file(3, extra=line(3, {7: "99999999999999999999"}) + "\n"))
    day = parse(path, MAY12, np.zeros(4, np.int32), 1)
    assert day.qc["max_value"] == 1e20 and day.max_location == (4, 9, "99999999999999999999")
    with pytest.raises(TrafficFileError) as caught:
        quality.check_file(path, day, LIMITS)
    assert str(caught.value).startswith(
        f"{path}, line 4, field 9: value '99999999999999999999' is above the plausibility "
        "ceiling of one 15-minute tile value, qc.max_tile_value = 1e+13"
    )


@pytest.mark.parametrize("slot_of_second", [4, 5])
def test_two_values_near_the_double_maximum_overflow(parse, tmp_path, slot_of_second):
    # each value is a finite double, their sum (same slot; or the file total) is not
    text = line(0, {4: "1.7e308"}) + "\n" + line(1, {slot_of_second: "1.7e308"}) + "\n"
    path = write(tmp_path / "f.txt", text)
    with pytest.raises(TrafficFileError) as caught:
        parse(path, MAY12, np.zeros(2, np.int32), 1)
    assert str(caught.value) == (
        f"{path}, line 2, field {slot_of_second + 2}: adding '1.7e308' makes a sum of the "
        "file overflow a double (infinite); no traffic volume is that large. Fix the file "
        "(qc.max_tile_value is the ceiling of one value)."
    )


def test_per_file_unmapped_share(parse, tmp_path):
    # tiles 0..4 mapped (58 each), tile 9 absent from the map carries 42 % of the traffic
    text = "".join(line(tile, {0: "58"}) + "\n" for tile in range(5)) + line(9, {0: "210"}) + "\n"
    path = write(tmp_path / "Nice_Tor_20190512_DL.txt", text)
    day = parse(path, MAY12, np.zeros(5, np.int32), 1)
    assert day.qc["unmapped_traffic_share"] == 210 / 500
    with pytest.raises(TrafficFileError) as caught:
        quality.check_file(path, day, LIMITS)
    assert str(caught.value).startswith(
        f"{path}: 42.00% of the file's traffic lies on 1 tile row(s) absent from the tile "
        "map (qc.max_unmapped_traffic_share = 0.05)."
    )
    quality.check_file(path, day, limits(max_unmapped_traffic_share=0.5))


FORMAT_FAULTS = [
    ("bom", b"\xef\xbb\xbf" + (GOOD + "\n").encode(),
     ": the file is text that starts with a UTF-8 byte-order mark (bytes EF BB BF), not a "
     "plain NetMob23 traffic file"),
    ("gzip", None, ": the file is gzip-compressed, not a plain NetMob23 traffic file "
     "(one line per tile, fields separated by one space); decompress it (gunzip)"),
    ("tabs", (GOOD.replace(" ", "\t") + "\n").encode(),
     ", line 1: tab-separated fields (found a tab character)"),
    ("trailing", (GOOD + "\n" + line(1, {}) + "  \r\n").encode(),
     ", line 2: trailing whitespace at the end of the line"),
]


@pytest.mark.parametrize("fault, data, message", FORMAT_FAULTS, ids=[f[0] for f in FORMAT_FAULTS])
def test_format_faults_are_named(parse, tmp_path, fault, data, message):
    if fault == "gzip":
        import gzip

        data = gzip.compress((GOOD + "\n").encode())
    path = write(tmp_path / "Paris_Tor_20190512_DL.txt", data)
    with pytest.raises(TrafficFileError) as caught:
        parse(path, MAY12, [0, 0], 1)
    assert str(caught.value).startswith(path + message)
    assert "fields, expected" not in str(caught.value)


@pytest.mark.parametrize("problem", ["permission", "directory", "missing"])
def test_an_unreadable_file_gives_one_message(parse, tmp_path, monkeypatch, problem):
    path = write(tmp_path / "Paris_Tor_20190512_DL.txt", GOOD + "\n")
    if problem == "permission":
        # what open() raises for a file this user may not read; chmod 0 would not stop
        # root (CI runs as root), so open() itself refuses the traffic file here
        def refuse(name, *args, **kwargs):
            if os.fspath(name) == path:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
            return open(name, *args, **kwargs)

        monkeypatch.setattr(traffic_files, "open", refuse, raising=False)
    elif problem == "directory":  # refused by the operating system to every user
        os.remove(path)
        os.mkdir(path)
    else:
        os.remove(path)
    with pytest.raises(TrafficFileError) as caught:
        parse(path, MAY12, [0, 0], 1)
    reason = {"permission": "Permission denied", "directory": "Is a directory",
              "missing": "No such file or directory"}[problem]
    assert str(caught.value) == (
        f"{path}: cannot read the file ({reason}); check that it exists and that "
        "its permissions let this user read it"
    )


# --- agreement on a large random file ---------------------------------------------------
def random_traffic_text(rng, n_tiles, n_slots, n_index, *, crlf=True, negatives=False):
    """Lines of random tiles (some duplicated, some beyond the index) and mixed formats."""
    tiles = rng.integers(0, n_index + 40, size=n_tiles)
    forms = [
        lambda: "0",
        lambda: str(int(rng.integers(1, 1_000_000))),
        lambda: f"{rng.integers(0, 100000)}.{rng.choice(['5', '25', '0625', '75', '125'])}",
        lambda: repr(float(10 ** rng.uniform(-5, 6))),
        lambda: f"{rng.uniform(1, 10):.9f}e{rng.integers(-6, 7)}",
        lambda: f"{rng.uniform(1, 10):.4f}E+{rng.integers(0, 4)}",
        lambda: f"{rng.integers(1, 10**9)}.{rng.integers(10**14, 10**15)}{rng.integers(10**9, 10**10)}",
        lambda: rng.choice(["007", "+5", "5.", ".5", "0.000", "-0", "1e-320"]),
        lambda: rng.choice(["", "nan", "NaN", "-nan"]),
        lambda: f"-{rng.integers(1, 1000)}.5",
    ]
    weights = np.array([70, 8, 5, 8, 2, 1, 2, 1.5, 1.5, 1 if negatives else 0])
    kinds = rng.choice(len(forms), p=weights / weights.sum(), size=(n_tiles, n_slots))
    lines = []
    for i in range(n_tiles):
        text = " ".join([str(tiles[i])] + [forms[k]() for k in kinds[i]])
        if crlf and rng.random() < 0.1:
            text += "\r"
        lines.append(text)
        if rng.random() < 0.01:
            lines.append("")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("day", [MAY12, CLOCK_CHANGE])
def test_the_three_parsers_agree_exactly(library, portable_library, tmp_path, day, monkeypatch):
    rng = np.random.default_rng(day.toordinal())
    n_index, n_communes = 5000, 40
    commune_of_tile = rng.integers(-1, n_communes, size=n_index).astype(np.int32)
    n_slots = len(traffic_files.expected_slot_minutes(day))
    path = write(tmp_path / "f.txt",
                 random_traffic_text(rng, 3000, n_slots, n_index, negatives=True))
    python = traffic_files.aggregate_file(path, day, commune_of_tile, n_communes, parser="python")
    for lib in (library, portable_library):
        native = traffic_files.aggregate_file(path, day, commune_of_tile, n_communes,
                                              parser="native", library=lib)
        assert_same(native, python)
    fallback = traffic_files.aggregate_file(path, day, commune_of_tile, n_communes,
                                            parser="pyarrow")
    assert_same(fallback, python)
    assert pyarrow_decides(Path(path).read_bytes(), n_slots + 1, commune_of_tile, n_communes)
    # read in batches of ~100 rows: sums, counts and first locations carry over batches
    monkeypatch.setattr(traffic_files, "_BLOCK_BYTES", 1 << 15)
    assert_same(traffic_files.aggregate_file(path, day, commune_of_tile, n_communes,
                                             parser="pyarrow"), python)
    qc = python.qc
    assert qc["duplicate_tiles"] > 0 and qc["unmapped_tiles"] > 0 and qc["crlf_lines"] > 0
    assert qc["blank_lines"] > 0 and qc["empty_fields"] > 0 and qc["nan_fields"] > 0
    assert qc["negative_values"] > 0


@pytest.mark.parametrize("day", [MAY12, CLOCK_CHANGE])
def test_both_parsers_agree_with_the_notebooks_pandas_computation(parse, tmp_path, day):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(99 + day.day)
    n_index, n_communes = 4000, 30
    commune_of_tile = rng.integers(-1, n_communes, size=n_index).astype(np.int32)
    minutes = traffic_files.expected_slot_minutes(day)
    path = write(tmp_path / "f.txt", random_traffic_text(rng, 2500, len(minutes), n_index))
    ours = parse(path, day, commune_of_tile, n_communes)

    # the notebook's way: named columns, left merge with the tile map, groupby sum
    columns = ["tile_id"] + [f"{m // 60:02d}:{m % 60:02d}" for m in minutes]
    code_com = np.array([f"{69000 + c:05d}" for c in range(n_communes)])
    mapped = np.flatnonzero(commune_of_tile >= 0)
    tile_map = pd.DataFrame({"tile_id": mapped, "code_dep": "69",
                             "code_com": code_com[commune_of_tile[mapped]]})
    traffic = pd.read_csv(path, sep=" ", names=columns)
    by_commune = (traffic.merge(tile_map, on="tile_id", how="left")
                  .groupby(["code_dep", "code_com"])[columns[1:]].sum().reset_index())
    rows = [int(code) - 69000 for code in by_commune["code_com"]]
    assert sorted(rows) == np.flatnonzero(ours.tiles > 0).tolist()
    np.testing.assert_allclose(ours.traffic[rows], by_commune[columns[1:]].to_numpy(float),
                               rtol=1e-12, atol=0)
    sizes = (traffic.merge(tile_map, on="tile_id", how="inner")
             .groupby("code_com").size())
    assert ours.tiles[[int(c) - 69000 for c in sizes.index]].tolist() == sizes.tolist()
    total = traffic[columns[1:]].sum().sum()
    assert ours.qc["total_traffic"] == pytest.approx(total, rel=1e-12)


# --- output file ------------------------------------------------------------------------
def test_ingested_batch_layout(parse, tmp_path):
    may = write(tmp_path / "a.txt", line(0, {0: "2.5"}) + "\n" + line(1, {3: ""}) + "\n")
    clock = write(tmp_path / "b.txt", line(0, {91: "4"}, n_slots=92) + "\n")
    days = [parse(may, MAY12, [1, -1], 2), parse(clock, CLOCK_CHANGE, [1, -1], 2)]
    quality.check_batch([may, clock], days, 1, LIMITS)
    out = tmp_path / "ingest" / "DL" / "Paris" / "Tor" / "20190311.npz"
    traffic_files.write_batch(out, [20190512, 20190331], days, quality.QC_FIELDS)
    assert os.listdir(out.parent) == ["20190311.npz"]  # no temporary file left
    with np.load(out, allow_pickle=False) as saved:
        assert saved["traffic"].dtype == np.float64 and saved["traffic"].shape == (2, 96 + 92)
        assert saved["slot_offsets"].tolist() == [0, 96, 188]
        assert saved["tiles"].dtype == np.int32 and saved["tiles"].tolist() == [[0, 1], [0, 1]]
        assert saved["slot_minutes"].dtype == np.int16
        assert saved["qc_parser"].dtype.kind == "U"
    loaded = traffic_files.load_batch(out)
    qc_only = traffic_files.load_batch(out, traffic=False)
    assert [set(day) for day in qc_only] == [{"date", *quality.QC_FIELDS}] * 2
    assert [{k: v for k, v in day.items() if k in qc_only[0]} for day in loaded] == qc_only
    assert [day["date"] for day in loaded] == [20190512, 20190331]
    assert loaded[0]["traffic"][1, 0] == 2.5 and loaded[1]["traffic"][1, 91] == 4
    assert loaded[1]["slot_minutes"][8] == 180 and len(loaded[1]["slot_minutes"]) == 92
    for day, original in zip(loaded, days):
        assert {field: day[field] for field in quality.QC_FIELDS} == original.qc
        assert isinstance(day["empty_fields"], int) and isinstance(day["all_zero"], bool)


def test_the_native_parser_reads_any_buffer(library, tmp_path):
    """bytes or a read-only memory map of the file (benchmarks/mmap_vs_read.py): the same
    sums; the file is not changed."""
    path = Path(write(tmp_path / "f.txt", line(0, {0: "2.5", 95: "1"}) + "\n" + line(3, {7: "4"}) + "\n"))
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    native = traffic_files.load_native_parser(library)
    commune_of_tile = np.array([0, -1, -1, 1], dtype=np.int32)
    from_bytes = native.parse(path.read_bytes(), 97, commune_of_tile, 2)
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        from_map = native.parse(mapped, 97, commune_of_tile, 2)
    assert np.array_equal(from_map.traffic, from_bytes.traffic) and from_map.counts == from_bytes.counts
    assert from_bytes.traffic[0, 0] == 2.5 and from_bytes.traffic[1, 7] == 4
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before


def test_bad_arguments(library, tmp_path):
    path = write(tmp_path / "f.txt", GOOD + "\n")
    with pytest.raises(ValueError, match="needs library"):
        traffic_files.aggregate_file(path, MAY12, np.zeros(1, np.int32), 1, parser="native")
    with pytest.raises(ValueError, match="outside -1..0"):
        traffic_files.aggregate_file(path, MAY12, np.array([1], np.int32), 1, library=library)


def test_a_stale_library_is_refused(tmp_path):
    if CC is None:
        pytest.skip(NO_CC)
    source = tmp_path / "old.c"
    source.write_text("int netmob_abi_version(void) { return 0; }\n"
                      "int netmob_stats_count(void) { return 20; }\n")
    old = tmp_path / "old.so"
    subprocess.run([CC, "-shared", "-fPIC", "-o", str(old), str(source)], check=True)
    with pytest.raises(OSError, match="rebuild it"):
        traffic_files.NativeParser(old)


def test_the_kernel_compiles_without_warnings(tmp_path):
    if CC is None:
        pytest.skip(NO_CC)
    for flags in ([], ["-DNETMOB_PORTABLE"]):
        result = subprocess.run(
            [CC, "-O3", "-std=c99", "-Wall", "-Wextra", "-pedantic", *flags, "-shared",
             "-fPIC", "-o", str(tmp_path / "lib.so"), str(SOURCE)],
            capture_output=True, text=True,
        )
        assert result.returncode == 0 and result.stderr == ""


# --- the entry script ------------------------------------------------------------------
@pytest.fixture
def job(tmp_path):
    """Two days of one city x app and a tile index, as the rule `ingest` hands them over."""
    from types import SimpleNamespace

    index = tmp_path / "tile_map" / "Nancy.npz"
    index.parent.mkdir()
    np.savez(index, commune_of_tile=np.array([0, 1, -1, 0], dtype=np.int32),
             code_com=np.array(["54395", "54547"]), code_dep=np.array(["54", "54"]),
             pop=np.array([104000.0, 30000.0]))
    traffic = [
        write(tmp_path / "Nancy_Tor_20190330_DL.txt",
              line(0, {0: "1.5"}) + "\n" + line(1, {95: "2"}) + "\n" + line(3, {0: "1"}) + "\n"),
        write(tmp_path / "Nancy_Tor_20190331_DL.txt",
              line(0, {0: "4"}, n_slots=92) + "\n" + line(1, {91: "8"}, n_slots=92)
              + "\n" + line(3, {}, n_slots=92) + "\n"),
    ]
    out = tmp_path / "ingest" / "Tor" / "20190325.npz"
    # the job's other app: the same two days, each value doubled
    doubled = [
        write(tmp_path / "Nancy_YouTube_20190330_DL.txt",
              line(0, {0: "3"}) + "\n" + line(1, {95: "4"}) + "\n" + line(3, {0: "2"}) + "\n"),
        write(tmp_path / "Nancy_YouTube_20190331_DL.txt",
              line(0, {0: "8"}, n_slots=92) + "\n" + line(1, {91: "16"}, n_slots=92)
              + "\n" + line(3, {}, n_slots=92) + "\n"),
    ]
    outputs = {"tor": out, "control": tmp_path / "ingest" / "YouTube" / "20190325.npz"}

    def snakemake(library):
        return SimpleNamespace(
            input=Bundle(library=library, tile_index=str(index), tor=traffic, control=doubled),
            params=SimpleNamespace(apps={"tor": "Tor", "control": "YouTube"},
                                   dates=["20190330", "20190331"], qc=dict(LIMITS.__dict__)),
            output=Bundle(**{role: str(path) for role, path in outputs.items()}), log=[], rule="ingest",
        )

    return {"traffic": traffic, "control": doubled, "out": out, "outputs": outputs, "snakemake": snakemake}


class Bundle(dict):
    """What Snakemake hands a script: named inputs or outputs, by attribute and by name."""

    __getattr__ = dict.__getitem__


def run_entry(snakemake, capsys):
    import ingest as entry

    entry.main(snakemake)
    return capsys.readouterr().err


def test_entry_script_writes_the_batch(library, job, capsys):
    log = run_entry(job["snakemake"](library), capsys)
    assert "WARNING" not in log and "(native)" in log
    first, second = traffic_files.load_batch(job["out"])
    assert first["traffic"][0, 0] == 2.5 and first["traffic"][1, 95] == 2
    assert first["tiles"].tolist() == [2, 1] and first["parser"] == "native"
    assert second["traffic"].shape == (2, 92) and second["traffic"][1, 91] == 8
    assert second["usual_tile_rows"] == 3 and second["truncated"] is False
    # the job's other app: its own files, its own output
    first, second = traffic_files.load_batch(job["outputs"]["control"])
    assert first["traffic"][0, 0] == 5 and first["traffic"][1, 95] == 4
    assert second["traffic"][0, 0] == 8 and second["traffic"][1, 91] == 16


@pytest.mark.parametrize("library_text", [None, b"netmob_parse: not built (the C compiler cc failed)\n"])
def test_entry_script_falls_back_to_the_pyarrow_parser_loudly(job, tmp_path, capsys, library_text):
    library = tmp_path / "libnetmob_parse.so"
    if library_text:
        library.write_bytes(library_text)
    log = run_entry(job["snakemake"](str(library)), capsys)
    assert log.startswith("WARNING: the native parser is unavailable (")
    if library_text:
        assert "(netmob_parse: not built (the C compiler cc failed))" in log
    first, second = traffic_files.load_batch(job["out"])
    assert first["traffic"][0, 0] == 2.5 and first["parser"] == second["parser"] == "pyarrow"


def test_entry_script_failure_writes_nothing(library, job, capsys):
    write(job["traffic"][1], line(2, {0: "4"}, n_slots=92) + "\n" + line(1, {0: "x"}, n_slots=92))
    with pytest.raises(TrafficFileError, match=r"Nancy_Tor_20190331_DL.txt, line 2, field 2: "
                       r"'x' is not a number$"):
        run_entry(job["snakemake"](library), capsys)
    # the app whose files were fine is not written either (one job, all or nothing)
    for path in job["outputs"].values():
        assert not path.parent.exists() or os.listdir(path.parent) == []


def test_the_ingest_imports_stay_lean():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import ingest; "
            "import netmob_cpc.traffic_files, netmob_cpc.qc; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'pandas', 'pyarrow', 'geopandas', 'scipy', 'snakemake'}))")
    result = subprocess.run([sys.executable, "-c", code, str(REPO / "scripts")],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def pyarrow_decides(data, n_fields, commune_of_tile, n_communes):
    """Whether the pyarrow parser reads these bytes itself, rather than handing them over to
    the Python parser (so that a comparison really tests pyarrow's reading)."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            traffic_files._pyarrow(data, n_fields, commune_of_tile, n_communes)
    except traffic_files._Undecided:
        return False
    return True


FUZZ_TOKENS = {
    # valid and broken tokens, bytes of the format and others
    "garbage": (["0", "0", "0", "0", "1", "2.5", "", "nan", "-1", "1e5", "1e400", ".5", "5.",
                 "x", "0 ", " ", "\r", "9007199254740993", "-0", "NaN", "+5", "1.5e-3"],
                "0000000111122345789  ..--+eEnNaA\r\n\t x"),
    # valid tokens only; irregular lines: blank, CR only, wrong field counts, long tile ids
    "irregular": (["0", "0", "0", "0", "0", "1", "2.5", "", "nan", "-1", "1e5", ".5", "5.",
                   "-0", "NaN", "-nan", "+5", "1.5e-3", "1E+2", "007", "1e-320",
                   "9007199254740993", "0.1000000000000000055511151231257827"],
                  None),
}


@pytest.mark.parametrize("kind", sorted(FUZZ_TOKENS))
def test_the_parsers_agree_on_fuzzed_files(library, kind):
    """Fuzz: short files of valid and broken lines; the kernel, the pyarrow parser and the
    Python parser give the same result or the same error."""
    import random

    native = traffic_files.load_native_parser(library)
    rng = random.Random(20190316)
    tokens, alphabet = FUZZ_TOKENS[kind]
    commune_of_tile = np.array([0, 1, -1, 0, 2], dtype=np.int32)

    def outcome(parse, data, n_fields):
        return parse_outcome(parse, data, n_fields, commune_of_tile)

    decided = 0
    for _ in range(3000):
        n_fields = rng.choice([2, 3, 5, 17, 18, 40])
        parts = []
        for _ in range(rng.randint(0, 6)):
            if alphabet is None:
                tile = rng.choice([str(rng.randint(0, 7))] * 20 + ["0" * 19, "0" * 20, "+1"])
                n = n_fields - 1 + rng.choice([0] * 30 + [1, -1])
                line_ = " ".join([tile] + [rng.choice(tokens) for _ in range(n)])
                parts.append(rng.choice([line_] * 20 + ["", "\r", line_ + "\r"]))
            elif rng.random() < 0.85:
                n = n_fields - 1 + rng.choice([0] * 8 + [1, -1])
                parts.append(" ".join([str(rng.randint(0, 7))] +
                                      [rng.choice(tokens) for _ in range(n)]))
            else:
                parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))))
        data = ("\n" if rng.random() < 0.8 else "\r\n").join(parts)
        data = (data + "\n" * rng.randint(0, 1)).encode()
        reference = outcome(traffic_files._parse_python, data, n_fields)
        assert outcome(native.parse, data, n_fields) == reference, data
        assert outcome(traffic_files._parse_pyarrow, data, n_fields) == reference, data
        decided += pyarrow_decides(data, n_fields, commune_of_tile, 3)
    # most irregular files, and some garbage ones, are read by pyarrow itself
    assert decided > (1000 if kind == "irregular" else 100)


# Tokens for the kernel's fast paths: short plain numbers of every length (1 to 8 digits,
# with up to 8 decimals), lone zeros, empty fields, and the forms that leave them.
SHORT_TOKENS = (
    ["0"] * 12 + ["", "00", "0.0", "007", "5.", ".5", "1", "12", "123", "1234", "12345",
     "123456", "1234567", "12345678", "1.5", "12.25", "1234567.1234567", "1234567.12345678",
     "12345678.5", "0.0625", "9999999.9999999", "1e5", "nan", "-3", "+4", "12a", "1.2.3",
     "1..5", "9007199254740993", "0.1000000000000000055511151231257827"]
)


def test_the_kernels_fast_paths_agree_with_the_python_parser(library, portable_library):
    """Long lines (the 64-byte blocks of the fast path, fields across block boundaries),
    short plain numbers of every length, lines ending near the end of the buffer, CRLF
    lines and wrong field counts: the kernel, the kernel without its fast paths and the
    Python parser give the same result or the same error."""
    import random

    native = traffic_files.load_native_parser(library)
    portable = traffic_files.load_native_parser(portable_library)
    before = native.cpu_path()
    rng = random.Random(1234)
    commune_of_tile = np.array([0, 1, -1, 0, 2, 1, 0], dtype=np.int32)

    def outcome(parse, data, n_fields):
        return parse_outcome(parse, data, n_fields, commune_of_tile)

    valid = [token for token in SHORT_TOKENS if token not in ("12a", "1.2.3", "1..5")]
    results = {"ok": 0, "error": 0}
    for _ in range(600):
        n_fields = rng.choice([2, 3, 20, 41, 93, 97])
        broken = rng.random() < 0.3
        tokens = SHORT_TOKENS if broken else valid
        lines = []
        for _ in range(rng.randint(1, 8)):
            n = n_fields - 1 + (rng.choice([0] * 20 + [1, -1]) if broken else 0)
            text = " ".join([str(rng.randint(0, 9))] + [rng.choice(tokens) for _ in range(n)])
            lines.append(text + ("\r" if rng.random() < 0.05 else ""))
        data = ("\n".join(lines) + "\n" * rng.randint(0, 1)).encode()
        reference = outcome(traffic_files._parse_python, data, n_fields)
        assert outcome(portable.parse, data, n_fields) == reference, data
        try:
            for path in ("generic", "popcnt"):
                native.cpu_path(force=path)
                assert outcome(native.parse, data, n_fields) == reference, (path, data)
        finally:
            native.cpu_path(force=before)
        results["error" if reference[0] == "error" else "ok"] += 1
    assert results["ok"] > 300 and results["error"] > 50


def test_the_kernels_cpu_paths_give_identical_sums(library, tmp_path):
    """Both CPU paths of the kernel (forced in turn) on a large random file."""
    native = traffic_files.load_native_parser(library)
    before = native.cpu_path()
    rng = np.random.default_rng(77)
    n_index, n_communes = 5000, 40
    commune_of_tile = rng.integers(-1, n_communes, size=n_index).astype(np.int32)
    path = write(tmp_path / "f.txt", random_traffic_text(rng, 2000, 96, n_index, negatives=True))
    python = traffic_files.aggregate_file(path, MAY12, commune_of_tile, n_communes, parser="python")
    try:
        used = []
        for cpu in ("generic", "popcnt"):
            used.append(native.cpu_path(force=cpu))
            assert_same(traffic_files.aggregate_file(path, MAY12, commune_of_tile, n_communes,
                                                     parser="native", library=native), python)
    finally:
        native.cpu_path(force=before)
    assert used[0] == "generic"
    if platform.machine() in ("x86_64", "AMD64"):  # every x86-64 CPU of this century
        assert used[1] == "popcnt"
    with pytest.raises(ValueError, match="force must be one of"):
        native.cpu_path(force="avx")


def _batch_files(tmp_path, n_index, seed=3, names=("20190512", "20190513", "20190514", "20190515")):
    rng = np.random.default_rng(seed)
    tmp_path.mkdir(parents=True, exist_ok=True)
    paths = []
    for stamp in names:
        values = {slot: str(int(rng.integers(1, 1000))) for slot in range(0, 96, 7)}
        text = "\n".join(line(tile, values) for tile in range(0, n_index, 2)) + "\n"
        paths.append(write(tmp_path / f"{stamp}.txt", text))
    return paths


def test_read_ahead_gives_the_same_batches_with_and_without_reading_ahead(library, tmp_path):
    """Two batches read through one ReadAhead over both (as an ingest job reads its apps),
    through one ReadAhead per batch (the default) and with no read-ahead give the same days."""
    import io

    rng = np.random.default_rng(5)
    n_index, n_communes = 300, 7
    commune_of_tile = rng.integers(-1, n_communes, size=n_index).astype(np.int32)
    stamps = ["20190512", "20190513", "20190514", "20190515"]
    first = _batch_files(tmp_path / "a", n_index, seed=3)
    second = _batch_files(tmp_path / "b", n_index, seed=4)
    thresholds = limits(min_tile_rows_share=0.0, max_unmapped_traffic_share=1.0)

    def batches(reader_for):
        with reader_for(first + second) as reader:
            return [
                quality.read_checked_batch(
                    paths, stamps, commune_of_tile, n_communes, thresholds, parser="native",
                    library=library, log=io.StringIO(), reader=reader,
                )
                for paths in (first, second)
            ]

    shared = batches(traffic_files.ReadAhead)
    unread = batches(lambda paths: traffic_files.ReadAhead(paths, depth=0))
    own = [
        quality.read_checked_batch(paths, stamps, commune_of_tile, n_communes, thresholds,
                                   parser="native", library=library, log=io.StringIO())
        for paths in (first, second)
    ]
    for run in (unread, own):
        for batch_a, batch_b in zip(shared, run):
            assert len(batch_a) == len(batch_b) == 4
            for a, b in zip(batch_a, batch_b):
                assert_same(a, b)
    assert sum(float(day.traffic.sum()) for day in shared[1]) > 0
    # the two batches differ (so that a mix-up of their bytes would show)
    assert not np.array_equal(shared[0][0].traffic, shared[1][0].traffic)


def test_read_ahead_reads_the_next_files_in_another_thread(tmp_path, monkeypatch):
    """While file i is parsed, files i + 1 ... i + depth are read by one other thread, each
    once and in order, into depth + 1 buffers used again and again; an unreadable file
    raises its message when its turn comes; a path asked out of order is read at once."""
    import threading

    paths = [write(tmp_path / f"f{i}.txt", f"{i} 1\n" * 3) for i in range(6)]  # one size
    reads, lock, enough = [], threading.Lock(), threading.Event()
    real_read = traffic_files.read_traffic_into
    expected = []

    def recording_read(path, buffer):
        with lock:
            reads.append((path, threading.current_thread() is threading.main_thread()))
            if len(reads) >= len(expected):
                enough.set()
        return real_read(path, buffer)

    monkeypatch.setattr(traffic_files, "read_traffic_into", recording_read)

    def wait_for(count):
        expected[:] = [None] * count
        if len(reads) < count:
            enough.clear()
            assert enough.wait(10), f"{count} reads expected, {len(reads)} seen"
        time.sleep(0.05)  # a read too many would show here
        return [path for path, _ in reads]

    def content(i):
        return f"{i} 1\n".encode() * 3

    with traffic_files.ReadAhead(paths, depth=2) as reader:
        assert wait_for(2) == paths[:2]  # before anything is asked: files 0 and 1
        assert reader.read(paths[0]) == content(0)
        assert wait_for(3) == paths[:3]  # while file 0 is parsed: files 1 and 2
        assert reader.read(paths[1]) == content(1)
        assert wait_for(4) == paths[:4]
        buffers = set()
        for i in range(2, 6):
            data = reader.read(paths[i])
            assert isinstance(data, memoryview) and data == content(i)
            buffers.add(id(data.obj))
        assert len(buffers) <= 3, "the buffers are not used again"
        assert not any(in_main for _, in_main in reads), "read-ahead ran in the main thread"
    reads.clear()
    with traffic_files.ReadAhead(paths, depth=0) as reader:
        for i, path in enumerate(paths):
            assert reader.read(path) == content(i)
    assert reads == [(path, True) for path in paths]

    missing = str(tmp_path / "missing.txt")
    reads.clear()
    with traffic_files.ReadAhead([paths[0], missing, paths[2]], depth=2) as reader:
        assert reader.read(paths[0]) == content(0)  # the missing file, already tried, waits its turn
        with pytest.raises(traffic_files.TrafficFileError, match=r"missing\.txt: cannot read the file"):
            reader.read(missing)
        assert reader.read(paths[5]) == content(5)  # out of order: read at once
    with pytest.raises(ValueError, match="depth must be >= 0"):
        traffic_files.ReadAhead(paths, depth=-1)


def test_reading_into_a_buffer_grows_it_and_sees_a_file_that_grew(tmp_path, monkeypatch):
    """read_traffic_into gives the file's exact bytes whatever the buffer's size: a small
    buffer is replaced by a larger one, a large one is used as it is, and a file that grows
    between its size and its reading is read to its end."""
    path = write(tmp_path / "f.txt", "12 3\n" * 1000)
    data, buffer = traffic_files.read_traffic_into(path, bytearray(10))
    assert data == b"12 3\n" * 1000 and len(buffer) > 5000
    again, same = traffic_files.read_traffic_into(path, buffer)
    assert same is buffer and again == b"12 3\n" * 1000
    real_fstat = os.fstat

    class Smaller:  # the size seen before the file grew
        st_size = 10

    monkeypatch.setattr(traffic_files.os, "fstat", lambda descriptor: Smaller())
    grown, _ = traffic_files.read_traffic_into(path, bytearray())
    monkeypatch.setattr(traffic_files.os, "fstat", real_fstat)
    assert bytes(grown) == b"12 3\n" * 1000
    with pytest.raises(traffic_files.TrafficFileError, match="cannot read the file"):
        traffic_files.read_traffic_into(str(tmp_path / "absent.txt"), bytearray())


def _resident_pages(path):
    """How many pages of the file are in the page cache (mincore on a private mapping that
    touches none of them)."""
    import ctypes
    import mmap

    libc = ctypes.CDLL(None, use_errno=True)
    size = os.path.getsize(path)
    vector = (ctypes.c_ubyte * ((size + mmap.PAGESIZE - 1) // mmap.PAGESIZE))()
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_COPY) as mapped:
        start = ctypes.c_char.from_buffer(mapped)
        try:
            if libc.mincore(ctypes.c_void_p(ctypes.addressof(start)), ctypes.c_size_t(size), vector):
                raise OSError(ctypes.get_errno(), "mincore")
        finally:
            del start
    return sum(byte & 1 for byte in vector)


def _written_and_evicted(path, content):
    with open(path, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())  # clean pages: only those can be dropped
    with open(path, "rb") as handle:
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    return str(path)


def test_a_traffic_file_read_cold_leaves_no_pages_in_the_page_cache(tmp_path, monkeypatch):
    """Where the system reads uncached (Linux from 6.14: RWF_DONTCACHE), a file read from
    the disk leaves none of its pages cached, and a file read while cached stays cached;
    where it does not, the first refusal turns plain reads on and the pages are cached as
    by any read. Both give the file's exact bytes."""
    monkeypatch.setattr(traffic_files, "_uncached_reads", list(traffic_files._uncached_reads))
    content = b"".join(f"{tile} 0 {tile % 97}.25 nan 7\n".encode() for tile in range(150_000))
    path = _written_and_evicted(tmp_path / "cold.txt", content)
    pages = (len(content) + os.sysconf("SC_PAGE_SIZE") - 1) // os.sysconf("SC_PAGE_SIZE")
    assert _resident_pages(path) == 0, "the test file could not be evicted from the page cache"
    data, _ = traffic_files.read_traffic_into(path, bytearray())
    assert data == content
    if traffic_files._uncached_reads[0]:
        assert _resident_pages(path) == 0
        with open(path, "rb") as handle:  # a plain read caches the file ...
            assert handle.read() == content
        assert _resident_pages(path) == pages
        data, _ = traffic_files.read_traffic_into(path, bytearray())  # ... and it stays cached
        assert data == content and _resident_pages(path) == pages
    else:
        assert _resident_pages(path) == pages


def test_uncached_reads_fall_back_to_plain_reads_where_refused(tmp_path, monkeypatch):
    """A system that refuses the flag (EOPNOTSUPP: an older kernel or another file system)
    gets plain reads, with the same bytes, from the first refusal on; any other error of
    the read names the file."""
    import errno

    path = _written_and_evicted(tmp_path / "f.txt", b"7 1 2\n" * 5000)
    calls = []

    def refusing(descriptor, buffers, offset, flags=0):
        calls.append(flags)
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(traffic_files, "_uncached_reads", [True])
    monkeypatch.setattr(traffic_files.os, "preadv", refusing, raising=False)
    for _ in range(2):
        data, _ = traffic_files.read_traffic_into(path, bytearray())
        assert data == b"7 1 2\n" * 5000
    assert calls == [traffic_files.RWF_DONTCACHE] and traffic_files._uncached_reads == [False]

    def failing(descriptor, buffers, offset, flags=0):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(traffic_files, "_uncached_reads", [True])
    monkeypatch.setattr(traffic_files.os, "preadv", failing, raising=False)
    with pytest.raises(traffic_files.TrafficFileError, match=r"f\.txt: cannot read the file \(Input/output error\)"):
        traffic_files.read_traffic_into(path, bytearray())
