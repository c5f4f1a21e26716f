"""INSEE commune and department codes: leading zeros restored, Corsica kept, anything else
an error naming the file, the column and an example value."""

import numpy as np
import pandas as pd
import pytest

from netmob_cpc.codes import (
    department_of,
    normalise_code,
    normalise_codes,
    normalise_department,
    normalise_departments,
)
from netmob_cpc.files import InputError


@pytest.mark.parametrize(
    "value, expected",
    [
        ("06088", "06088"),
        ("6088", "06088"),
        ("6006.0", "06006"),
        (6006, "06006"),
        (6006.0, "06006"),
        (np.int64(75056), "75056"),
        (" 75056 ", "75056"),
        ("2A004", "2A004"),
        ("2b033", "2B033"),
        ("97411", "97411"),
        ("1001", "01001"),
        ("6006.00", "06006"),
    ],
)
def test_commune_code_spellings(value, expected):
    assert normalise_code(value) == expected


@pytest.mark.parametrize(
    "value",
    ["12", 12, "00012", "96001", "6006.5", 6006.5, "2A04", "2C004", "abcde", "123456", "6,006", True],
)
def test_not_commune_codes(value):
    # '12' would pad to '00012': no department 00; 96 does not exist
    assert normalise_code(value) is None


def test_series_keeps_missing_and_pads():
    values = pd.Series(["6088", None, "", "2A004", 6006.0, np.nan, "75056"], dtype=object)
    result = normalise_codes(values, "map.csv", "code_com")
    assert result.tolist() == ["06088", None, None, "2A004", "06006", None, "75056"]
    assert result.dtype == object


def test_float_column_as_read_by_pandas():
    # a CSV column 6006, 6088, (empty) is read as float64 by pandas
    values = pd.Series([6006.0, 6088.0, np.nan])
    assert normalise_codes(values, "x", "c").tolist() == ["06006", "06088", None]


def test_bad_code_names_file_column_and_value():
    with pytest.raises(InputError) as err:
        normalise_codes(pd.Series(["06088", "Nice", "75056", "abc"]), "data/map.csv", "code_com")
    message = str(err.value)
    assert message.startswith(
        "data/map.csv: column 'code_com' holds 2 distinct value(s) that are not INSEE commune codes"
    )
    assert "e.g. 'Nice'" in message and "'2A004'" in message


@pytest.mark.parametrize(
    "value, expected",
    [
        ("06", "06"),
        ("6", "06"),
        (6, "06"),
        (6.0, "06"),
        ("6.0", "06"),
        ("2A", "2A"),
        ("2b", "2B"),
        ("971", "971"),
        (974, "974"),
        ("95", "95"),
    ],
)
def test_department_spellings(value, expected):
    assert normalise_department(value) == expected


@pytest.mark.parametrize("value", ["0", "96", "100", "2C", "06088", 6.5, "Alpes"])
def test_not_departments(value):
    assert normalise_department(value) is None


def test_department_series_error():
    assert normalise_departments(pd.Series([6, "2A", None]), "f", "code_dep").tolist() == ["06", "2A", None]
    with pytest.raises(
        InputError,
        match=r"^f: column 'code_dep' holds 1 distinct value\(s\) that are not department codes, e\.g\. '96'",
    ):
        normalise_departments(pd.Series(["06", "96"]), "f", "code_dep")


def test_department_of():
    assert [department_of(c) for c in ["06088", "2A004", "97411", "75056"]] == ["06", "2A", "974", "75"]
