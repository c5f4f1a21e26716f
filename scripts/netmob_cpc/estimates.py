"""Correction factors and the per-commune estimate table (the seed's `cp_com`), and the one
reader of such a table, written by the workflow or published by the paper's authors.

Per commune, the hourly porn and Tor series (0 replaced by `zero_replacement`, then
logged) are correlated; the correlation, scaled by the published shares, is the
correction factor c, and the estimated consumption is cpc = Tor x c (ARCHITECTURE.md,
"Definitions the notebook leaves open", fixes the four methods).

Per-capita rates come from `netmob_cpc.rates`; the per-commune correlations from
`netmob_cpc.rankstats`.
"""

import numpy as np
import pandas as pd

from netmob_cpc.codes import department_of, normalise_codes
from netmob_cpc.files import (
    MISSING_SPELLED,
    MISSING_VALUES,
    InputError,
    bad_value,
    data_lines,
    first_row,
    log,
    repeated_keys,
    sniff_separator,
)
from netmob_cpc.rates import log_values, per_1000, usable_population

METHODS = ("pearson_log", "pearson_log_squared", "pearson_log_centered", "spearman_log")
SHARE_COLUMNS = {
    "tor_to_darknet_share": "Tor_to_darknet_share",
    "porn_in_darknet_share": "Pornography_in_darknet_URL_share",
    "csam_in_porn_share": "Child_pornography_to_pornography_in_darknet_URL_share",
}
CRIME_COLUMNS = ["sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21"]
RATE_COLUMNS = [
    "cpc", "cpc_per_1000", "log_cpc", "log_cpc_per_1000", "yt_per_1000", "wa_per_1000",
    "tor_per_1000", "log_yt_per_1000", "log_wa_per_1000", "log_tor_per_1000",
]
PER_1000_COLUMNS = [column for column in RATE_COLUMNS if "per_1000" in column]
# Columns added by this workflow after the notebook's: the share of the commune's area
# inside the city's tile grid, and whether c was replaced by the floor.
EXTRA_COLUMNS = ["coverage", "c_floored"]


# --- correction factors --------------------------------------------------------------------


def correction_factors(correlations, method, shares, negative_factor_floor):
    """(c, floored): the correction factor per commune and whether the floor replaced it.

    c1 `pearson_log`: r x s; c2 `pearson_log_squared`: r^2 x s; c4 `spearman_log`: the
    Spearman r x s, with s = tor_to_darknet_share x csam_in_porn_share; c3
    `pearson_log_centered`: (r - mean r + 1) x the global share (the product of the three).
    A negative factor is replaced by `negative_factor_floor` (floored = True). c2 floors a
    negative r as c1 does: squaring would turn a correlation of porn with Tor in opposite
    directions into a positive factor, which is not what the factor means. An undefined r
    gives NaN (not floored). Both Series are aligned with `correlations`.
    """
    scale = shares["tor_to_darknet_share"] * shares["csam_in_porn_share"]
    r = correlations["pearson_log"].astype("float64")
    if method == "pearson_log":
        c, negative = r * scale, r < 0
    elif method == "pearson_log_squared":
        c, negative = r**2 * scale, r < 0
    elif method == "spearman_log":
        c = correlations["spearman_log"].astype("float64") * scale
        negative = c < 0
    elif method == "pearson_log_centered":
        c_global = scale * shares["porn_in_darknet_share"]
        c = (r - r.mean(skipna=True) + 1) * c_global
        negative = c < 0
    else:
        raise ValueError(f"correction_method {method!r} is not one of {', '.join(METHODS)}")
    negative = negative & c.notna()
    return c.mask(negative, negative_factor_floor), negative.astype(bool)


def correction_factor(correlations, method, shares, negative_factor_floor):
    """The correction factor c per commune (aligned with `correlations`); see
    `correction_factors`, which also says which communes were floored."""
    return correction_factors(correlations, method, shares, negative_factor_floor)[0]


# --- per-capita rates ----------------------------------------------------------------------


# --- the estimate table --------------------------------------------------------------------


def table_columns(apps):
    """Column order of cpc_com.csv."""
    columns = ["cities", "code_com", "code_dep", "traffic_dir", apps["porn"], apps["tor"], apps["control"], "c", "pop"]
    return columns + list(SHARE_COLUMNS.values()) + RATE_COLUMNS + CRIME_COLUMNS + EXTRA_COLUMNS


def estimate_table(
    totals, correlations, crime_rates, *, apps, direction, shares, method, negative_factor_floor, coverage=None
):
    """cpc_com.csv, one row per commune, with the notebook's definitions:
    cpc = Tor x c; x_per_1000 = x x 1000 / pop; log_cpc_per_1000 = log(cpc) x 1000 / pop
    (the notebook's, not log(cpc_per_1000)); crime rates joined by code_com.

    `coverage` (optional DataFrame cities, code_com, coverage) gives the share of each
    commune's area inside its city's tile grid; NaN when unknown. `c_floored` says that c
    is the floor, not an estimate. A commune without a usable population gets NaN rates.
    """
    c, floored = correction_factors(correlations, method, shares, negative_factor_floor)
    factors = pd.DataFrame({"code_com": correlations["code_com"], "c": c, "c_floored": floored})
    table = totals.rename(columns={"porn": apps["porn"], "tor": apps["tor"], "control": apps["control"]})
    table = table[["cities", "code_com", "code_dep", *[apps[r] for r in ("porn", "tor", "control")], "pop"]]
    table.insert(3, "traffic_dir", direction)
    table = table.merge(factors, on="code_com", how="left", validate="one_to_one")
    table["c_floored"] = table["c_floored"].fillna(False).astype(bool)
    for key, column in SHARE_COLUMNS.items():
        table[column] = shares[key]
    porn, tor, control = (table[apps[r]].astype("float64") for r in ("porn", "tor", "control"))
    pop, c = table["pop"], table["c"]
    cpc = tor * c
    table["cpc"] = cpc
    table["cpc_per_1000"] = per_1000(cpc, pop)
    table["log_cpc"] = log_values(cpc)
    table["log_cpc_per_1000"] = per_1000(log_values(cpc), pop)
    table["yt_per_1000"] = per_1000(control, pop)
    table["wa_per_1000"] = per_1000(porn, pop)
    table["tor_per_1000"] = per_1000(tor, pop)
    table["log_yt_per_1000"] = per_1000(log_values(control), pop)
    table["log_wa_per_1000"] = per_1000(log_values(porn), pop)
    table["log_tor_per_1000"] = per_1000(log_values(tor), pop)
    table = table.merge(crime_rates[["code_com", *CRIME_COLUMNS]], on="code_com", how="left")
    table = table.drop_duplicates("code_com")
    if coverage is not None and len(coverage):
        shares_inside = coverage[["cities", "code_com", "coverage"]].drop_duplicates(["cities", "code_com"])
        table = table.merge(shares_inside, on=["cities", "code_com"], how="left", validate="many_to_one")
    else:
        table["coverage"] = np.nan
    return table[table_columns(apps)].reset_index(drop=True)


def read_coverage(paths):
    """(coverage table cities, code_com, coverage; note) from the tile-map CSVs.

    A tile map given by the user has no coverage (an empty or absent `coverage` column: the
    share cannot be known without the tile grid and the commune polygons): coverage is then
    NaN, and the note says so for the log."""
    frames, without = [], []
    for path in paths:
        frame = pd.read_csv(path, dtype={"cities": str, "code_com": str})
        if "coverage" not in frame.columns:
            without.append(str(path))
            continue
        values = pd.to_numeric(frame["coverage"], errors="coerce")
        bad = values.notna() & ~values.between(0, 1)
        row = first_row(bad)
        if row is not None:
            raise bad_value(
                path, data_lines(path, ",")[row], "coverage", frame["coverage"].astype(str).iloc[row],
                "a share between 0 and 1", "rebuild the tile map", int(bad.sum()),
            )
        if values.isna().all():
            without.append(str(path))
        frame = frame.assign(code_com=normalise_codes(frame["code_com"], path, "code_com"), coverage=values)
        frames.append(frame[["cities", "code_com", "coverage"]].drop_duplicates(["cities", "code_com"]))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["cities", "code_com", "coverage"])
    note = None
    if without:
        note = (
            f"coverage unknown for {len(without)} of {len(paths)} cities (a given tile map has no "
            "coverage: the share of a commune inside the tile grid needs the grid and the commune "
            "polygons); min_coverage does not apply to their communes"
        )
    return table, note


# --- reading an estimate table -------------------------------------------------------------

PUBLISHED_SHARE_COLUMNS = list(SHARE_COLUMNS.values())
PUBLISHED_DERIVED = RATE_COLUMNS + CRIME_COLUMNS
# Columns every reader needs (the statistics, sensitivity, ranking and figures).
NEEDED = ["yt_per_1000", "wa_per_1000", "tor_per_1000", "cpc_per_1000", "sv_17_21", "sv_com_17_21", "cpc", "c", "pop"]


def read_table_text(path, sep, dtype=None):
    """pandas.read_csv of a table the workflow reads: only the spellings of MISSING_VALUES
    are missing (pandas' own list would take `n/a`, `NULL` or `#N/A` for missing without a
    word); a file that pandas cannot split is an InputError naming it."""
    try:
        return pd.read_csv(
            path, sep=sep, encoding="utf-8-sig", dtype=dtype, keep_default_na=False, na_values=list(MISSING_VALUES)
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a well-formed {sep!r}-separated table: {err}") from None


def numeric_column(table, column, path, line_of, fix="expected numbers with '.' decimals"):
    """The column as float64; a value that is not a number (`n/a`, `abc`, `1,5`) is an
    InputError naming the file, its line (`line_of(row position)`), the column and the
    value. Missing values (MISSING_VALUES, read as NaN) stay NaN."""
    values = table[column]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    row = first_row(bad)
    if row is not None:
        raise bad_value(
            path, line_of(row), column, values.iloc[row], "a number", f"{fix}; a missing value is {MISSING_SPELLED}",
            int(bad.sum()),
        )
    return numbers.astype("float64")


def _boolean(values, path, column, line_of):
    mapping = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
    text = values.astype(str).str.strip().str.lower()
    missing = values.isna() | (text == "") | (text == "nan")
    bad = ~missing & ~text.isin(mapping)
    row = first_row(bad)
    if row is not None:
        raise bad_value(path, line_of(row), column, values.iloc[row], "True or False", "fix the file", int(bad.sum()))
    return text.map(mapping).where(~missing, False).astype(bool)


def missing_counts_line(table, columns, path):
    """The log line counting the missing values (NaN) of each column that has some, or None."""
    counts = {column: int(table[column].isna().sum()) for column in columns}
    counts = {column: count for column, count in counts.items() if count}
    if not counts:
        return None
    listed = ", ".join(f"{column} {count}" for column, count in counts.items())
    return f"{path}: missing values ({MISSING_SPELLED}) of {len(table)} rows: {listed}"


def read_estimate_table(path, apps):
    """An estimate table as a DataFrame: cpc_com.csv written by the workflow (',') or the
    authors' published layout (';'), told apart by the header.

    code_com is normalised to five characters (`6088` -> `06088`); code_dep is derived from
    it when absent; the numeric columns are numbers (an InputError names file, line and
    column otherwise; a missing value is an empty field, NA or NaN, counted per column in
    the log); `c_floored` is boolean (False when absent) and `coverage` a number (NaN when
    absent). A commune (per traffic_dir) on two rows is an InputError naming both lines;
    an exact repeat of a row is dropped and counted in the log. A population that is
    missing, zero or negative makes every per-capita column of that commune NaN (the
    published table may hold inf there). attrs["file_columns"]: the columns the file has.
    Every job reads the table here, so a bad table stops each before it writes anything.
    """
    with open(path, encoding="utf-8-sig") as handle:
        header = handle.readline().rstrip("\r\n")
    sep = sniff_separator(header, (";", ","))
    if sep is None:
        raise InputError(
            f"{path}: line 1 holds neither ',' nor ';' (found {header[:80]!r}); expected the header of "
            "an estimate table (cpc_com.csv)"
        )
    table = read_table_text(path, sep, dtype={"code_com": str, "code_dep": str, "cities": str, "traffic_dir": str})
    file_columns = [str(column) for column in table.columns]
    lines = []

    def line_of(row):
        if not lines:
            lines.extend(data_lines(path, sep))
        return lines[row] if row < len(lines) else row + 2

    needed = [*NEEDED, apps["tor"]]
    missing = [column for column in needed + ["code_com"] if column not in table.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, table.columns))}"
        )
    table["code_com"] = normalise_codes(table["code_com"], path, "code_com", line_of)
    row = first_row(table["code_com"].isna())
    if row is not None:
        raise bad_value(
            path, line_of(row), "code_com", None, "a commune code", "every row of an estimate table is one commune",
            int(table["code_com"].isna().sum()),
        )
    if "code_dep" not in table.columns or table["code_dep"].isna().all():
        table["code_dep"] = table["code_com"].map(lambda code: department_of(code) if isinstance(code, str) else None)
    numeric = [
        column
        for column in [*needed, *PUBLISHED_DERIVED, apps["porn"], apps["control"], *PUBLISHED_SHARE_COLUMNS, "coverage"]
        if column in table.columns
    ]
    numeric = list(dict.fromkeys(numeric))
    for column in numeric:
        table[column] = numeric_column(table, column, path, line_of)
    if "c_floored" in table.columns:
        table["c_floored"] = _boolean(table["c_floored"], path, "c_floored", line_of)
    else:
        table["c_floored"] = False
    key = ["traffic_dir", "code_com"] if "traffic_dir" in table.columns else ["code_com"]
    values = [column for column in table.columns if column not in key]
    table, repeats = repeated_keys(table, key, values, path, line_of, "commune" if len(key) == 1 else "traffic_dir and commune")
    if repeats:
        log(f"{path}: {repeats} row(s) repeat another row exactly: dropped, each commune counted once")
    note = missing_counts_line(table, numeric, path)
    if note:
        log(note)
    if "coverage" not in table.columns:
        table["coverage"] = np.nan
    no_population = ~usable_population(table["pop"])
    per_capita = [column for column in PER_1000_COLUMNS if column in table.columns]
    table.loc[no_population, per_capita] = np.nan
    table.attrs["file_columns"] = file_columns
    return table


def read_published_table(path, apps):
    """The authors' published table (semicolon-separated, '.' decimals, `level_0`/`index`
    leftovers, `Tor_to_darknet_share` written `11` for 0.011, empty fields missing):
    (table with the cpc_com.csv columns, notes for the log)."""
    with open(path, encoding="utf-8-sig", errors="strict") as handle:
        header = handle.readline().rstrip("\r\n")
    if ";" not in header:
        raise InputError(
            f"{path}: the header has no ';' (found {header[:80]!r}); the published table is semicolon-separated"
        )
    app_columns = [apps["porn"], apps["tor"], apps["control"]]
    required = ["cities", "code_com", "traffic_dir", *app_columns, "c", "pop", *PUBLISHED_SHARE_COLUMNS, *PUBLISHED_DERIVED]
    found = header.split(";")
    missing = [column for column in required if column not in found]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(found)}")
    table = read_estimate_table(path, apps)
    notes = []
    tor_share = table["Tor_to_darknet_share"]
    if (tor_share > 1).any():
        # '11' stands for 0.011 (a locale artefact of the authors' export)
        table["Tor_to_darknet_share"] = tor_share.where(tor_share <= 1, tor_share / 1000)
        notes.append(f"Tor_to_darknet_share {sorted(float(v) for v in tor_share[tor_share > 1].unique())} read as per mille")
    table["code_dep"] = table["code_com"].map(department_of)
    columns = ["cities", "code_com", "code_dep", "traffic_dir", *app_columns, "c", "pop",
               *PUBLISHED_SHARE_COLUMNS, *PUBLISHED_DERIVED, *EXTRA_COLUMNS]
    unused = [column for column in found if column not in columns]
    if unused:
        notes.append(f"columns not used: {', '.join(unused)}")
    return table[columns], notes


def published_rows(table, direction, path):
    """The rows of one traffic direction; an InputError when there are none."""
    rows = table[table["traffic_dir"] == direction]
    if rows.empty:
        raise InputError(
            f"{path}: no row with traffic_dir == {direction!r} (found "
            f"{sorted(table['traffic_dir'].dropna().unique())}); set 'directions' accordingly"
        )
    return rows
