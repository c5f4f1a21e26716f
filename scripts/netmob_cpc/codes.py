"""INSEE commune and department codes: one spelling everywhere they are read.

Spreadsheets and CSV readers drop leading zeros (`6006`, `6006.0` for `06006`); Corsica's
codes hold letters (`2A004`, `2B033`); overseas departments have three digits (`971`). A
code that cannot be one of those is an error that names the file, the column and an
example value: a commune silently left out of a join changes every test.

Commune codes: five characters. Digit-only codes are zero-padded to five digits when the
result starts with a department that exists (01 .. 95, 97x, 98x): `6006` is `06006`, but
`12` (`00012`) is refused, as no INSEE code starts with `00`.
Department codes: two characters (`06`, `2A`, `2B`), three for overseas (`971` .. `989`).
"""

import re

import numpy as np
import pandas as pd

from netmob_cpc.files import InputError, bad_value, first_row

_DIGITS = re.compile(r"^(\d{1,5})(?:\.0*)?$")
_CORSICA = re.compile(r"^2[AB]\d{3}$")
_COMMUNE = re.compile(r"^(?:0[1-9]|[1-8]\d|9[0-5]|9[78]\d)\d{2,3}$")
_DEPARTMENT_DIGITS = re.compile(r"^(\d{1,3})(?:\.0*)?$")


def _as_text(value):
    """A scalar as stripped upper-case text; integer-valued floats without '.0'; None for
    missing values and non-integer numbers."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if np.isnan(value) or not float(value).is_integer():
            return None
        return str(int(value))
    return str(value).strip().upper()


def normalise_code(value):
    """One commune code as a five-character string, or None when it cannot be one."""
    text = _as_text(value)
    if text is None:
        return None
    if _CORSICA.match(text):
        return text
    match = _DIGITS.match(text)
    if not match:
        return None
    code = match.group(1).zfill(5)
    # 97xyz / 98xyz: three-digit department + two digits; else two-digit department + three
    return code if _COMMUNE.match(code) and len(code) == 5 else None


def normalise_department(value):
    """One department code ('06', '2A', '971'), or None when it cannot be one."""
    text = _as_text(value)
    if text is None:
        return None
    if text in ("2A", "2B"):
        return text
    match = _DEPARTMENT_DIGITS.match(text)
    if not match:
        return None
    number = int(match.group(1))
    if 1 <= number <= 95:
        return f"{number:02d}"
    if 971 <= number <= 989:
        return str(number)
    return None


def _missing(series):
    text = series.astype("string").str.strip()
    return series.isna() | (text == "") | text.isna()


def _normalise(values, source, column, normalise, expected, line_of=None):
    series = pd.Series(values)
    missing = _missing(series)
    present = (~missing).to_numpy()
    positions, distinct = pd.factorize(series[present])
    mapping = {value: normalise(value) for value in distinct}
    bad = [value for value, code in mapping.items() if code is None]
    if bad and line_of is not None:
        wrong = series.isin(bad) & ~missing
        row = first_row(wrong)
        raise bad_value(
            source, line_of(row), column, series.iloc[row], expected[2],
            f"expected {expected[1]} (leading zeros may be missing). Fix the file, or point the configuration "
            "at the right column",
            int(wrong.sum()),
        )
    if bad:
        raise InputError(
            f"{source}: column {column!r} holds {len(bad)} distinct value(s) that are not "
            f"{expected[0]}, e.g. {bad[0]!r}; expected {expected[1]} (leading zeros may be "
            "missing). Fix the file, or point the configuration at the right column."
        )
    codes = np.full(len(series), None, dtype=object)
    codes[present] = np.array([mapping[value] for value in distinct], dtype=object)[positions]
    return pd.Series(codes, index=series.index, dtype=object)


def normalise_codes(values, source, column, line_of=None):
    """A Series of INSEE commune codes as five-character strings (object dtype); missing
    values (NaN, None, empty) stay None. Raises InputError naming `source`, `column` and
    an example of a value that is not a commune code, with its line when `line_of` (row
    position -> file line) is given."""
    return _normalise(
        values,
        source,
        column,
        normalise_code,
        ("INSEE commune codes", "five characters such as '06088', '75056' or '2A004'", "an INSEE commune code"),
        line_of,
    )


def normalise_departments(values, source, column, line_of=None):
    """A Series of department codes ('06', '2A', '971'; object dtype); missing values stay
    None. Raises InputError naming `source`, `column` and an example bad value (with its
    line when `line_of` is given)."""
    return _normalise(
        values,
        source,
        column,
        normalise_department,
        ("department codes", "'01' .. '95', '2A', '2B' or '971' .. '989'", "a department code"),
        line_of,
    )


def department_of(code_com):
    """The department code of a commune code: '2A'/'2B' in Corsica, three digits overseas
    (97x, 98x), otherwise the first two characters."""
    if code_com.startswith(("97", "98")):
        return code_com[:3]
    return code_com[:2]
