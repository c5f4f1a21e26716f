"""INSEE commune codes: five characters everywhere they are read.

Spreadsheets and CSV readers drop leading zeros (`6006`, `6006.0` for `06006`); Corsica's
codes hold letters (`2A004`, `2B033`). A code that cannot be one of those is an error that
names the file, the column and an example value: a commune silently left out of a join
changes every test.
"""

import re

import numpy as np
import pandas as pd

from netmob_cpc.files import InputError

_DIGITS = re.compile(r"^\d{1,5}$")
_DIGITS_DECIMAL = re.compile(r"^(\d{1,5})\.0*$")
_CORSICA = re.compile(r"^2[AB]\d{3}$")


def normalise_code(value):
    """One code as a five-character string, or None when it cannot be one (NaN -> None)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (int, np.integer)):
        value = str(int(value))
    elif isinstance(value, (float, np.floating)):
        if not float(value).is_integer():
            return None
        value = str(int(value))
    text = str(value).strip().upper()
    if _CORSICA.match(text):
        return text
    match = _DIGITS.match(text) or _DIGITS_DECIMAL.match(text)
    if not match:
        return None
    return match.group(1 if match.re is _DIGITS_DECIMAL else 0).zfill(5)


def normalise_codes(values, source, column, width=5):
    """A Series of codes normalised to `width` characters (5 for communes, 2 or 3 for
    departments via `normalise_department`); missing values stay missing.

    Raises InputError naming `source`, `column` and the first bad value."""
    series = pd.Series(values)
    missing = series.isna() | (series.astype(str).str.strip() == "")
    distinct = pd.unique(series[~missing])
    mapping = {value: normalise_code(value) for value in distinct}
    bad = [value for value, code in mapping.items() if code is None]
    if bad:
        raise InputError(
            f"{source}: column {column!r} holds {len(bad)} value(s) that are not INSEE "
            f"commune codes, e.g. {bad[0]!r}; expected five characters such as '06088', "
            "'75056' or '2A004' (leading zeros may be missing). Fix the file."
        )
    result = series.map(mapping).astype(object)
    result[missing] = None
    return result.astype("string").astype(object).where(~missing, None)


def department_of(code_com):
    """The department code of a commune code: '2A'/'2B' in Corsica, three digits overseas
    (97x), otherwise the first two characters."""
    if code_com.startswith("97"):
        return code_com[:3]
    return code_com[:2]
