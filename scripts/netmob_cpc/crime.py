"""Recorded sexual-violence rates per commune, as the seed notebook prepares them.

The data.gouv.fr "bases statistiques communales de la délinquance enregistrée" file gives,
per commune, year and offence class, the rate per 1,000 inhabitants where it is published
(`diff`) and a department-level estimate where it is not (`ndiff`). Two layouts exist, told
apart by the header (both `;`-separated with decimal commas, UTF-8):

- the 2023 layout: `CODGEO_2023;annee;classe;unité.de.compte;valeur.publiée;faits;
  tauxpourmille;complementinfoval;complementinfotaux;POP;millPOP;LOG;millLOG`, two-digit
  years;
- the current layout: `CODGEO_2025` (or `CODGEO_2024`, the geography vintage),
  `annee` (four digits), `indicateur`, `unite_de_compte`, `nombre`, `taux_pour_mille`,
  `est_diffuse`, `complement_info_nombre`, `complement_info_taux`, `insee_pop`,
  `insee_pop_millesime`, `insee_log`, `insee_log_millesime`; `NA` for missing values.

A commune, year, class and unit of count on two rows is refused when the rows disagree
(the seed would average them into the rate); exact repeats are dropped and counted. Missing
values are spelled as an empty field, NA or NaN; any other word in a numeric column is an
error naming its line and column.

The seed averages, per commune, the rate filled with the estimate (`sv_19`, `sv_17_21`)
and the published rate alone (`sv_com_19`, `sv_com_17_21`) over one year and over several
years. The column names stay `sv_19` ... whatever years are configured.
"""

import codecs
import csv
import gzip
import re

import numpy as np
import pandas as pd

from netmob_cpc.codes import normalise_codes
from netmob_cpc.files import MISSING_SPELLED, MISSING_VALUES, InputError, bad_value, first_row, log, repeated_keys

SEPARATOR = ";"
HEADER_2023 = (
    "CODGEO_2023;annee;classe;unité.de.compte;valeur.publiée;faits;tauxpourmille;"
    "complementinfoval;complementinfotaux;POP;millPOP;LOG;millLOG"
)
HEADER_CURRENT = (
    "CODGEO_2025;annee;indicateur;unite_de_compte;nombre;taux_pour_mille;est_diffuse;"
    "complement_info_nombre;complement_info_taux;insee_pop;insee_pop_millesime;insee_log;"
    "insee_log_millesime"
)
# Per layout: the file's name of each column the rates need (the commune code column is
# CODGEO_<vintage>, found in the header).
LAYOUTS = {
    "2023": {
        "year": "annee",
        "class": "classe",
        "unit": "unité.de.compte",
        "published": "valeur.publiée",
        "rate": "tauxpourmille",
        "estimate": "complementinfotaux",
        "count": "faits",
        "pop": "POP",
    },
    "current": {
        "year": "annee",
        "class": "indicateur",
        "unit": "unite_de_compte",
        "published": "est_diffuse",
        "rate": "taux_pour_mille",
        "estimate": "complement_info_taux",
        "count": "nombre",
        "pop": "insee_pop",
    },
}
EXPECTED_HEADERS = {"2023": HEADER_2023, "current": HEADER_CURRENT}
CODE_COLUMN = re.compile(r"^CODGEO_(\d{4})$")
PUBLISHED_VALUES = {"diff": True, "ndiff": False}  # published commune value / not published
RATES_COLUMNS = ["code_com", "sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21"]
YEARS_COLUMNS = ["code_com", "year", "published", "count", "pop", "rate"]
ENCODING_HINT = (
    "the file must be UTF-8 (a spreadsheet re-save often writes Latin-1 / Windows-1252): "
    "re-save it as 'CSV UTF-8', or convert it with `iconv -f latin1 -t utf-8 IN > OUT` "
    "(`-f cp1252` for a Windows re-save)"
)
GZIP_MAGIC = b"\x1f\x8b"


def _is_gzip(path):
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _open_binary(path):
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def _first_undecodable_line(path):
    """(line number, raw line) of the first line that is not valid UTF-8, or (None, None)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with _open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError:
                return number, raw
    return None, None


def _encoding_error(path, number, raw):
    shown = raw.decode("cp1252", errors="replace").rstrip("\r\n")
    return InputError(
        f"{path}: line {number} is not valid UTF-8 (as Windows-1252 it reads {shown[:120]!r}); {ENCODING_HINT}"
    )


def _shown(value):
    return "an empty field" if pd.isna(value) or str(value).strip() == "" else repr(value)


def _both_headers():
    return f"the 2023 layout {HEADER_2023!r} or the current data.gouv.fr layout {HEADER_CURRENT!r}"


def _read_header(path):
    """The header's fields (stripped) with ';' as separator; checks encoding and separator."""
    with _open_binary(path) as handle:
        raw = handle.readline()
    if not raw.strip():
        raise InputError(
            f"{path}: the file is empty or its first line is blank; expected the header of {_both_headers()}"
        )
    try:
        header = raw.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise _encoding_error(path, 1, raw) from None
    fields = next(csv.reader([header], delimiter=SEPARATOR))
    if len(fields) == 1:
        candidates = {sep: len(next(csv.reader([header], delimiter=sep))) for sep in (",", "\t", "|")}
        best = max(candidates, key=candidates.get)
        names = {",": "','", "\t": "tabs", "|": "'|'"}
        found = (
            f"it splits into {candidates[best]} fields on {names[best]}"
            if candidates[best] > 1
            else "no other separator either"
        )
        raise InputError(
            f"{path}: the header has a single field when split on ';' ({found}); expected a "
            "semicolon-separated file with decimal commas. A spreadsheet re-save as comma- or "
            f"tab-separated text does this: re-export with ';' as separator. Header: {header[:200]!r}"
        )
    return [field.strip() for field in fields]


def detect_layout(fields, path):
    """('2023' | 'current', {role: column name}) from the header's fields.

    Roles: code, year, class, published, rate, estimate, count, pop. The commune code column is the one
    CODGEO_<four digits> column (the geography vintage changes with each release)."""
    if "classe" in fields or "tauxpourmille" in fields:
        layout = "2023"
    elif "indicateur" in fields or "taux_pour_mille" in fields:
        layout = "current"
    else:
        raise InputError(f"{path}: unknown header {';'.join(fields)[:300]!r}; expected {_both_headers()}")
    columns = dict(LAYOUTS[layout])
    codes = [field for field in fields if CODE_COLUMN.match(field)]
    missing = [name for name in columns.values() if name not in fields]
    if len(codes) != 1:
        missing.insert(0, "CODGEO_<year>" if not codes else f"exactly one CODGEO_<year> (found {', '.join(codes)})")
    if missing:
        raise InputError(
            f"{path}: header of the {layout} layout without column(s) {', '.join(missing)}; "
            f"the header has {', '.join(fields)}; expected {EXPECTED_HEADERS[layout]!r}"
        )
    columns["code"] = codes[0]
    return layout, columns


def _read_columns(path, columns, dtype, decimal="."):
    """read_csv of the needed columns; encoding and parser failures become InputError."""
    wanted = set(columns.values())
    try:
        table = pd.read_csv(
            path,
            sep=SEPARATOR,
            usecols=lambda name: name.strip() in wanted,
            dtype=dtype,
            decimal=decimal,
            encoding="utf-8-sig",
            skip_blank_lines=False,
            keep_default_na=False,
            na_values=list(MISSING_VALUES),
            compression="gzip" if _is_gzip(path) else None,
        )
    except UnicodeDecodeError:
        number, raw = _first_undecodable_line(path)
        if number is None:
            raise
        raise _encoding_error(path, number, raw) from None
    except pd.errors.ParserError as err:
        raise InputError(f"{path}: not a well-formed ';'-separated file: {err}") from None
    table.columns = [name.strip() for name in table.columns]
    return table


def _diagnose(text, path, columns):
    """Find, in the file read as text, the value the typed read could not take; raise on it."""
    for role in ("rate", "estimate", "count", "pop"):
        column = columns[role]
        values = text[column].str.strip()
        with_point = values.str.contains(".", regex=False, na=False)
        row = first_row(with_point)
        if row is not None:
            raise bad_value(
                path, row + 2, column, values.iloc[row], "a number with a decimal comma such as '1,25'",
                "re-export with ',' as decimal mark, or convert the file", int(with_point.sum()),
            )
        numbers = pd.to_numeric(values.str.replace(",", ".", regex=False), errors="coerce")
        unreadable = numbers.isna() & values.notna() & ~values.isin(MISSING_VALUES)
        row = first_row(unreadable)
        if row is not None:
            raise bad_value(
                path, row + 2, column, values.iloc[row], "a number",
                f"expected numbers with a decimal comma; a missing value is {MISSING_SPELLED}",
                int(unreadable.sum()),
            )
    _parse_years(text[columns["year"]], path, columns["year"])


def _stripped(values):
    """Text without surrounding spaces, each distinct value stripped once (a column of a
    few classes or flags over millions of rows)."""
    positions, distinct = pd.factorize(values)
    stripped = pd.array([value.strip() for value in distinct] + [None], dtype="str")
    return pd.Series(stripped.take(positions), index=values.index)  # -1 (missing) -> None


def _parse_years(values, path, column):
    """File years as four-digit integers (two-digit years are 20xx)."""
    values = pd.Series(values)
    if pd.api.types.is_numeric_dtype(values):
        years = values.astype("float64")
    else:
        years = pd.to_numeric(values.astype("string").str.strip(), errors="coerce")
    bad = (
        years.isna()
        | (years != years.round())
        | ~(((years >= 0) & (years <= 99)) | ((years >= 1900) & (years <= 2099)))
    )
    row = first_row(bad)
    if row is not None:
        value = values.iloc[row]
        raise bad_value(
            path, row + 2, column, None if pd.isna(value) else value, "a year",
            "expected two-digit (19) or four-digit (2019) years", int(bad.sum()),
        )
    years = years.astype("int64")
    return years.where(years >= 100, years + 2000)


def normalise_year(value, key):
    """A configured year (17 or 2017) as four digits; InputError naming the config key."""
    try:
        year = int(value)
    except (TypeError, ValueError):
        year = None
    if year is None or isinstance(value, bool) or year != value or not (0 <= year <= 99 or 1900 <= year <= 2099):
        raise InputError(f"config key '{key}': {value!r} is not a year; give 17 or 2017")
    return year + 2000 if year < 100 else year


def read_crime_csv(path):
    """Read the recorded-crime file in either layout (detected from the header).

    Returns a frame in one layout whatever the file's: `code_com` (text as in the file,
    stripped; None when empty), `annee` (four-digit int), `classe` (text), `published`
    (the raw `valeur.publiée` / `est_diffuse` text), `unit` (the unit of count), `rate` and
    `estimate` (float64, the published rate per 1,000 and the department estimate), `count`
    and `pop` (float64, the published yearly count `faits` / `nombre` and the row's
    population `POP` / `insee_pop`); the index is the row's line in the file minus 2.
    attrs: "layout", "columns"
    (role -> the file's column name). Raises InputError naming the file for an unknown
    header, a wrong separator, a wrong encoding, missing columns, decimal points where
    commas are expected, or unreadable numbers / years. A gzip-compressed file is read.
    """
    fields = _read_header(path)
    layout, columns = detect_layout(fields, path)
    typed = {
        columns["code"]: str,
        columns["class"]: str,
        columns["unit"]: str,
        columns["published"]: str,
        columns["year"]: "float64",
        columns["rate"]: "float64",
        columns["estimate"]: "float64",
        columns["count"]: "float64",
        columns["pop"]: "float64",
    }
    try:
        table = _read_columns(path, columns, typed, decimal=",")
    except InputError:
        raise
    except ValueError as err:
        # A value the typed read refuses (a decimal point, a word): find it and name it.
        _diagnose(_read_columns(path, columns, str), path, columns)
        raise InputError(f"{path}: {err}") from None
    code = table[columns["code"]].str.strip()
    crime = pd.DataFrame(
        {
            "code_com": code.where(code.notna() & (code != ""), None),
            "annee": _parse_years(table[columns["year"]], path, columns["year"]),
            "classe": _stripped(table[columns["class"]]),
            "unit": _stripped(table[columns["unit"]]),
            "published": _stripped(table[columns["published"]]),
            "rate": table[columns["rate"]].astype("float64"),
            "estimate": table[columns["estimate"]].astype("float64"),
            "count": table[columns["count"]].astype("float64"),
            "pop": table[columns["pop"]].astype("float64"),
        }
    )
    crime.attrs["layout"] = layout
    crime.attrs["columns"] = columns
    return crime


def _source(path):
    return str(path) if path else "the crime file"


def select_rows(crime, crime_class, crime_years, path=None):
    """Rows of `crime_class` (matched without regard to case or surrounding spaces) in
    `crime_years` (two- or four-digit), with their commune codes normalised; rows without a
    code are left out. Returns (rows, report) with report counts for the log.
    Raises InputError if the class or the years have no row (listing what the file has),
    for codes that are not INSEE codes, for publication flags other than diff / ndiff, for
    a class counted in two units, and for a commune, year, class and unit on two rows that
    disagree (rate, estimate or flag: the seed would average them), naming both lines.
    Exact repeats are dropped (report["exact_repeats"], and a log line)."""
    source = _source(path)
    columns = crime.attrs.get("columns", {"class": "classe", "published": "published", "code": "code_com"})
    years = [normalise_year(year, "crime_years") for year in crime_years]
    wanted = str(crime_class).strip().casefold()
    positions, distinct = pd.factorize(crime["classe"])
    matches = np.array([str(value).casefold() == wanted for value in distinct] + [False])
    in_class = pd.Series(matches[positions], index=crime.index)  # -1 (missing) -> False
    if not in_class.any():
        classes = sorted(crime["classe"].dropna().unique().tolist())
        raise InputError(
            f"{source}: no row of class {crime_class!r} (config key 'crime_class'); column "
            f"{columns['class']} has the classes {classes}"
        )
    in_years = crime["annee"].isin(years)
    selected = crime[in_class & in_years]
    if selected.empty:
        found = sorted(crime.loc[in_class, "annee"].unique().tolist())
        raise InputError(
            f"{source}: no row of class {crime_class!r} in the years {years} (config key "
            f"'crime_years'); that class has rows in the years {found}"
        )
    without_code = selected["code_com"].isna()
    report = {
        "rows": len(crime),
        "rows_without_code": int(crime["code_com"].isna().sum()),
        "selected": len(selected),
        "selected_without_code": int(without_code.sum()),
    }
    selected = selected[~without_code].copy()
    file_lines = selected.index.to_numpy()
    selected["code_com"] = normalise_codes(
        selected["code_com"], source, columns["code"], lambda row: int(file_lines[row]) + 2
    ).astype(str)
    positions, distinct = pd.factorize(selected["published"])
    flags = np.array([PUBLISHED_VALUES.get(str(value).lower()) for value in distinct] + [None], dtype=object)
    flag = pd.Series(flags[positions], index=selected.index)  # -1 (empty) -> None
    unknown = flag.isna()
    if unknown.any():
        value = selected.loc[unknown, "published"].iloc[0]
        raise InputError(
            f"{source}: column {columns['published']} holds {int(unknown.sum())} value(s) other than "
            f"diff / ndiff among the rows of class {crime_class!r}, e.g. {_shown(value)}; expected "
            "diff (commune value published) or ndiff (not published: department estimate)"
        )
    flag = flag.astype(bool)
    selected = _without_repeats(selected, flag, crime_class, columns, source, report)
    flag = flag.loc[selected.index]
    report["ndiff_with_rate"] = int((~flag & selected["rate"].notna()).sum())
    report["diff_without_rate"] = int((flag & selected["rate"].isna()).sum())
    report["estimated"] = int((selected["rate"].isna() & selected["estimate"].notna()).sum())
    report["neither"] = int((selected["rate"].isna() & selected["estimate"].isna()).sum())
    return selected, report


def _without_repeats(selected, flag, crime_class, columns, source, report):
    """The selected rows without exact repeats (counted in `report` and the log); an
    InputError for a commune, year, class and unit of count on two rows that disagree on
    the rate, the estimate or the publication flag, and for a class counted in two units."""
    unit_column = columns.get("unit", "unit")
    units = selected["unit"].dropna().unique().tolist() if "unit" in selected.columns else []
    if len(units) > 1:
        raise InputError(
            f"{source}: the rows of class {crime_class!r} are counted in {len(units)} units in column "
            f"{unit_column} ({', '.join(map(repr, sorted(units)))}); a rate per 1,000 cannot mix units. "
            "Keep the rows of one unit of count (or point crime_class at a class with one unit)."
        )
    keyed = pd.DataFrame(
        {
            columns.get("code", "code_com"): selected["code_com"],
            columns.get("year", "annee"): selected["annee"],
            columns["class"]: str(crime_class).strip(),
            unit_column: selected["unit"] if "unit" in selected.columns else None,
            columns.get("rate", "rate"): selected["rate"],
            columns.get("estimate", "estimate"): selected["estimate"],
            columns["published"]: flag.map({True: "diff", False: "ndiff"}),
        },
        index=selected.index,
    )
    key, values = list(keyed.columns[:4]), list(keyed.columns[4:])
    lines = selected.index.to_numpy()
    kept, repeats = repeated_keys(
        keyed, key, values, source, lambda row: int(lines[row]) + 2, "commune, year, class and unit"
    )
    report["exact_repeats"] = repeats
    if repeats:
        log(
            f"{source}: {repeats} row(s) of class {crime_class!r} repeat another row exactly (same commune, "
            "year, unit and values): dropped, each commune-year counted once"
        )
    return selected.loc[kept.index]


def sexual_violence_rates(selected, crime_years, crime_year):
    """Per commune: sv_19, sv_17_21, sv_com_19, sv_com_17_21 exactly as the seed computes them.

    `selected`: rows of one class in `crime_years` (select_rows). sv_per_1000 is the
    published rate filled with the department estimate. sv_19 / sv_com_19: mean over
    `crime_year` of sv_per_1000 / the published rate; sv_17_21 / sv_com_17_21: the same over
    all `crime_years`. The seed's inner merges keep the communes that have rows in
    `crime_year`.
    """
    years = [normalise_year(year, "crime_years") for year in crime_years]
    year = normalise_year(crime_year, "crime_year")
    if year not in years:
        raise InputError(f"config key 'crime_year': {crime_year} is not one of crime_years {list(crime_years)}")
    frame = pd.DataFrame(
        {
            "code_com": selected["code_com"].astype(str),
            "annee": selected["annee"],
            "sv_per_1000_com": selected["rate"],
            "sv_per_1000": selected["rate"].fillna(selected["estimate"]),
        }
    )
    frame = frame[frame["annee"].isin(years)]
    in_year = frame[frame["annee"] == year]

    def commune_mean(rows, column, name):
        return rows.groupby("code_com")[column].mean().rename(name).reset_index()

    rates = (
        commune_mean(in_year, "sv_per_1000", "sv_19")
        .merge(commune_mean(frame, "sv_per_1000", "sv_17_21"), on="code_com")
        .merge(commune_mean(in_year, "sv_per_1000_com", "sv_com_19"), on="code_com")
        .merge(commune_mean(frame, "sv_per_1000_com", "sv_com_17_21"), on="code_com")
    )
    rates["code_com"] = rates["code_com"].astype(str)
    return rates[RATES_COLUMNS].sort_values("code_com", kind="stable").reset_index(drop=True)


def commune_years(selected, crime_years, path=None):
    """The commune-year detail behind the rates: one row per commune x crime year of the
    class that has a row in the file (an absent year has no row: it was not published).

    Columns: `code_com`, `year` (four digits), `published` (True for a `diff` row, False for
    `ndiff`), `count` and `rate` (the published yearly count and rate per 1,000; NaN when the
    year is not published), `pop` (the row's population). Raises InputError when a commune
    has two rows in one year of the class."""
    years = [normalise_year(year, "crime_years") for year in crime_years]
    rows = selected[selected["annee"].isin(years)]
    flag = rows["published"].str.lower().map(PUBLISHED_VALUES).astype(bool)
    table = pd.DataFrame(
        {
            "code_com": rows["code_com"].astype(str),
            "year": rows["annee"].astype("int64"),
            "published": flag,
            "count": rows["count"].where(flag).astype("float64"),
            "pop": rows["pop"].astype("float64"),
            "rate": rows["rate"].where(flag).astype("float64"),
        }
    )
    twice = table.duplicated(["code_com", "year"], keep=False)
    if twice.any():
        first = table[twice].iloc[0]
        raise InputError(
            f"{_source(path)}: {int(twice.sum())} rows share a commune and a year of the class, e.g. "
            f"commune {first['code_com']} in {first['year']}; expected one row per commune, year and class"
        )
    table = table.sort_values(["code_com", "year"], kind="stable").reset_index(drop=True)
    return table[YEARS_COLUMNS]


def years_published(years_table):
    """Per commune (index code_com): how many crime years have a published value."""
    return years_table.groupby("code_com")["published"].sum().astype("int64").rename("n_years_published")


def crime_rates(path, crime_class, crime_years, crime_year):
    """The per-commune rates of a crime file and the lines to log (crime_tables without
    the commune-year detail)."""
    rates, _, lines = crime_tables(path, crime_class, crime_years, crime_year)
    return rates, lines


def crime_tables(path, crime_class, crime_years, crime_year):
    """The per-commune rates of a crime file, its commune-year detail (commune_years) and
    the lines to log.

    Raises InputError when no commune has a published rate over the years (every row of
    the class is `ndiff`): no commune could be tested."""
    crime = read_crime_csv(path)
    selected, report = select_rows(crime, crime_class, crime_years, path)
    rates = sexual_violence_rates(selected, crime_years, crime_year)
    detail = commune_years(selected, crime_years, path)
    years = [normalise_year(year, "crime_years") for year in crime_years]
    columns = crime.attrs["columns"]
    lines = [
        f"{path}: {crime.attrs['layout']} layout (commune codes in {columns['code']}, classes in "
        f"{columns['class']}, published rates in {columns['rate']}); {report['rows']} rows",
        f"{report['rows_without_code']} row(s) of the file have no commune code "
        f"({report['selected_without_code']} of class {crime_class!r} in the years {years}): left out",
        f"{report['selected']} rows of class {crime_class!r} in the years {years}; {report['estimated']} "
        f"without a published commune rate use the department estimate ({columns['estimate']}); "
        f"{report['neither']} have neither",
    ]
    if report["ndiff_with_rate"] or report["diff_without_rate"]:
        lines.append(
            f"{report['ndiff_with_rate']} ndiff row(s) carry a rate and {report['diff_without_rate']} diff "
            f"row(s) have none; as in the seed, the rate column ({columns['rate']}) decides"
        )
    testable = int(np.isfinite(rates["sv_com_17_21"]).sum())
    lines.append(
        f"{len(rates)} communes with rows in {normalise_year(crime_year, 'crime_year')}; {testable} with a "
        f"published commune rate (sv_com_17_21), {len(rates) - testable} without (sv_com_17_21 empty)"
    )
    if testable == 0:
        raise InputError(
            f"{path}: no commune has a published rate ({columns['rate']}) of class {crime_class!r} in "
            f"the years {years} (rows in {normalise_year(crime_year, 'crime_year')} only count): every "
            "row is ndiff or empty, so no commune can be tested. Check crime_class and crime_years, "
            "or use a file that publishes commune rates."
        )
    unpublished = int((~detail["published"]).sum())
    absent = detail["code_com"].nunique() * len(years) - len(detail)
    lines.append(
        f"commune-year detail: {len(detail)} rows of {detail['code_com'].nunique()} communes, "
        f"{unpublished} not published (ndiff) and {absent} commune-year(s) without a row "
        "(neither is a zero)"
    )
    return rates, detail, lines


def log_lines(lines):
    for line in lines:
        log(line)
