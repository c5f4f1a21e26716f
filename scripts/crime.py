"""Recorded sexual-violence rates per commune (CONTRACT 1.5), as the seed notebook prepares them.

The data.gouv.fr "bases statistiques communales" file gives, per commune, year and offence
class, the rate per 1,000 inhabitants (`tauxpourmille`) where it is published (`diff`) and
the department-level estimate (`complementinfotaux`) where it is not (`ndiff`). The seed
averages, per commune, the rate filled with the estimate (`sv_19`, `sv_17_21`) and the
published rate alone (`sv_com_19`, `sv_com_17_21`) over one year and over several years.
The column names stay `sv_19` ... whatever years are configured (they are contract names).
"""

import codecs
import csv
import sys

import numpy as np
import pandas as pd

SEPARATOR = ";"
# Columns the rates are computed from (the file has more, see CONTRACT 1.5).
REQUIRED_COLUMNS = ["CODGEO_2023", "annee", "classe", "tauxpourmille", "complementinfotaux"]
RATE_COLUMNS = ["tauxpourmille", "complementinfotaux"]
RATES_COLUMNS = ["code_com", "sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21"]
ENCODING_HINT = (
    "the file must be UTF-8 (a spreadsheet re-save often writes Latin-1 / Windows-1252): "
    "re-save it as 'CSV UTF-8', or convert it with `iconv -f latin1 -t utf-8 IN > OUT` "
    "(`-f cp1252` for a Windows re-save)"
)


class InputError(ValueError):
    """An input file the workflow cannot read; the message names the file."""


def _first_undecodable_line(path):
    """(line number, raw line) of the first line that is not valid UTF-8, or (None, None)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as handle:
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


def _read_header(path):
    """The header's fields with ';' as separator; checks encoding and separator."""
    with open(path, "rb") as handle:
        raw = handle.readline()
    if not raw.strip():
        raise InputError(
            f"{path}: the file is empty or its first line is blank; expected the header "
            f"{';'.join(REQUIRED_COLUMNS)};... (CONTRACT 1.5)"
        )
    try:
        header = raw.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError:
        raise _encoding_error(path, 1, raw) from None
    fields = next(csv.reader([header], delimiter=SEPARATOR))
    if len(fields) == 1:
        candidates = {sep: len(next(csv.reader([header], delimiter=sep))) for sep in (",", "\t", "|")}
        best = max(candidates, key=candidates.get)
        found = f"it splits into {candidates[best]} fields on {best!r}" if candidates[best] > 1 else "no other separator either"
        raise InputError(
            f"{path}: the header has a single field when split on ';' ({found}); expected a "
            f"semicolon-separated file with decimal commas (CONTRACT 1.5). A spreadsheet re-save "
            f"as comma-separated CSV does this: re-export with ';' as separator. Header: {header[:200]!r}"
        )
    return fields


def _read_columns(path, dtype, decimal="."):
    """read_csv of the required columns; encoding and parser failures become InputError."""
    try:
        return pd.read_csv(
            path, sep=SEPARATOR, usecols=REQUIRED_COLUMNS, dtype=dtype, decimal=decimal,
            encoding="utf-8-sig", skip_blank_lines=False,
        )
    except UnicodeDecodeError:
        number, raw = _first_undecodable_line(path)
        if number is None:
            raise
        raise _encoding_error(path, number, raw) from None
    except pd.errors.ParserError as err:
        raise InputError(f"{path}: not a well-formed ';'-separated file: {err}") from None


def _diagnose(crime, path):
    """Find, in the file read as text, the value the typed read could not take; raise on it."""
    for column in RATE_COLUMNS:
        text = crime[column].str.strip()
        with_point = text.str.contains(".", regex=False, na=False)
        if with_point.any():
            row = int(np.flatnonzero(with_point.to_numpy())[0])
            raise InputError(
                f"{path}: column {column} holds decimal points ({int(with_point.sum())} values, "
                f"first {text.iloc[row]!r} on line {row + 2}); expected decimal commas such as '1,25' "
                f"(CONTRACT 1.5). Re-export with ',' as decimal mark, or convert the file."
            )
        values = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
        unreadable = values.isna() & text.notna() & (text != "")
        if unreadable.any():
            row = int(np.flatnonzero(unreadable.to_numpy())[0])
            raise InputError(
                f"{path}: column {column} holds {int(unreadable.sum())} value(s) that are not numbers, "
                f"first {text.iloc[row]!r} on line {row + 2}; expected numbers with a decimal comma or empty fields"
            )
    years = pd.to_numeric(crime["annee"].str.strip(), errors="coerce")
    bad_year = years.isna() | (years != years.round())
    if bad_year.any():
        row = int(np.flatnonzero(bad_year.to_numpy())[0])
        raise InputError(
            f"{path}: column annee holds {int(bad_year.sum())} value(s) that are not integer years, "
            f"first {_shown(crime['annee'].iloc[row])} on line {row + 2}; expected two-digit years such as 19"
        )


def read_crime_csv(path):
    """Read the recorded-crime file (semicolon-separated, decimal comma, UTF-8).

    Returns the columns of REQUIRED_COLUMNS: CODGEO_2023 as text (leading zeros kept),
    `annee` as integer, `classe` as text and the two rates as float64.
    Raises InputError naming the file for a wrong separator, a wrong encoding, missing
    columns, decimal points where commas are expected, or unreadable numbers / years.
    """
    header = _read_header(path)
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; the header has {', '.join(header)} "
            f"(CONTRACT 1.5 expects CODGEO_2023;annee;classe;...;tauxpourmille;...;complementinfotaux;...)"
        )
    typed = {"CODGEO_2023": str, "classe": str, "annee": "int64", "tauxpourmille": "float64", "complementinfotaux": "float64"}
    try:
        crime = _read_columns(path, typed, decimal=",")
    except InputError:
        raise
    except ValueError as err:
        # A value the typed read refuses (a decimal point, a word, an empty year): find it.
        _diagnose(_read_columns(path, str), path)
        raise InputError(f"{path}: {err}") from None
    crime["CODGEO_2023"] = crime["CODGEO_2023"].str.strip()
    return crime


def sexual_violence_rates(crime, crime_class, crime_years, crime_year):
    """Per commune: sv_19, sv_17_21, sv_com_19, sv_com_17_21 exactly as the seed computes them.

    Rows of `crime_class` in `crime_years` are kept; sv_per_1000 is tauxpourmille filled
    with complementinfotaux. sv_19 / sv_com_19: mean over `crime_year` of sv_per_1000 /
    tauxpourmille; sv_17_21 / sv_com_17_21: the same over all `crime_years`. The seed's
    inner merges keep the communes that have rows in `crime_year`.
    """
    crime_years = [int(year) for year in crime_years]
    crime_year = int(crime_year)
    if crime_year not in crime_years:
        raise ValueError(f"crime_year {crime_year} is not one of crime_years {crime_years}")
    selected = crime[(crime["classe"] == crime_class) & crime["annee"].isin(crime_years)]
    if selected.empty:
        classes = sorted(crime["classe"].dropna().unique().tolist())
        years = sorted(crime["annee"].dropna().unique().tolist())
        raise InputError(
            f"no row of class {crime_class!r} in the years {crime_years}; the file has the classes "
            f"{classes} and the years {years}"
        )
    selected = pd.DataFrame(
        {
            "code_com": selected["CODGEO_2023"],
            "annee": selected["annee"],
            "sv_per_1000_com": selected["tauxpourmille"],
            "sv_per_1000": selected["tauxpourmille"].fillna(selected["complementinfotaux"]),
        }
    )
    in_year = selected[selected["annee"] == crime_year]

    def commune_mean(rows, column, name):
        return rows.groupby("code_com")[column].mean().rename(name).reset_index()

    rates = (
        commune_mean(in_year, "sv_per_1000", "sv_19")
        .merge(commune_mean(selected, "sv_per_1000", "sv_17_21"), on="code_com")
        .merge(commune_mean(in_year, "sv_per_1000_com", "sv_com_19"), on="code_com")
        .merge(commune_mean(selected, "sv_per_1000_com", "sv_com_17_21"), on="code_com")
    )
    rates["code_com"] = rates["code_com"].astype(str)
    return rates[RATES_COLUMNS]


def main(snakemake):
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    from atomic_output import atomic_path

    params = snakemake.params
    path = snakemake.input.crime_csv
    crime = read_crime_csv(path)
    try:
        rates = sexual_violence_rates(crime, params.crime_class, params.crime_years, params.crime_year)
    except InputError as err:
        raise InputError(f"{path}: {err}") from None
    selected = crime[(crime["classe"] == params.crime_class) & crime["annee"].isin([int(y) for y in params.crime_years])]
    estimated = int((selected["tauxpourmille"].isna() & selected["complementinfotaux"].notna()).sum())
    neither = int((selected["tauxpourmille"].isna() & selected["complementinfotaux"].isna()).sum())
    print(
        f"{path}: {len(crime)} rows, {len(selected)} of class {params.crime_class!r} in years "
        f"{list(params.crime_years)}; {estimated} rows without a published commune rate use the "
        f"department estimate (complementinfotaux); {neither} rows have neither",
        file=sys.stderr,
    )
    print(
        f"{len(rates)} communes with rows in {params.crime_year}; "
        f"{int(rates['sv_com_17_21'].isna().sum())} without any published commune rate (sv_com_17_21 NaN)",
        file=sys.stderr,
    )
    with atomic_path(snakemake.output.rates) as tmp:
        rates.to_parquet(tmp, index=False)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
