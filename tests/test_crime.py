"""Crime rates: reading the data.gouv.fr file in its 2023 layout and in the current one, and
the seed's per-commune means, checked against means worked out by hand on crafted files
that hold the same data in both layouts."""

import gzip
import math
import sys
from types import SimpleNamespace

import pandas as pd
import pytest

import crime_rates as crime_script
from netmob_cpc.crime import (
    HEADER_2023,
    HEADER_CURRENT,
    commune_years,
    crime_rates,
    crime_tables,
    normalise_year,
    read_crime_csv,
    select_rows,
    sexual_violence_rates,
    years_published,
)
from netmob_cpc.files import InputError, run_rule

HEADER = HEADER_2023
SV = "Violences sexuelles"
THEFT = "Vols sans violence contre des personnes"
YEARS = [17, 18, 19, 20, 21]


def row(code, year, taux, complement="", classe=SV, published=None):
    """One line of the 2023 layout."""
    published = published or ("diff" if taux else "ndiff")
    faits = "3" if taux else ""
    return f"{code};{year};{classe};victime;{published};{faits};{taux};;{complement};1000;19;500;19"


def current_row(code, year, taux, complement="", classe=SV, published=None):
    """The same data in the current data.gouv.fr layout: four-digit year, NA for missing."""
    published = published or ("diff" if taux else "ndiff")
    na = lambda value: value if value != "" else "NA"  # noqa: E731
    return (
        f"{code};20{year};{classe};Victime;{na('3' if taux else '')};{na(taux)};{published};"
        f"{na('2' if complement else '')};{na(complement)};1000;2021;500;2021"
    )


DATA = [
    # 06088: published every year but 20 (department estimate 0,8 instead); 16 is out of the years
    ("06088", 16, "100,0"),
    ("06088", 17, "1,5"),
    ("06088", 18, "2,5"),
    ("06088", 19, "3"),
    ("06088", 20, "", "0,8"),
    ("06088", 21, "4,0"),
    ("06088", 19, "50,0", "", THEFT),
    # 2A004: never published: only department estimates
    ("2A004", 17, "", "0,6"),
    ("2A004", 19, "", "0,9"),
    ("2A004", 21, "", "1,2"),
    # 54395: estimate in 19, published in 18
    ("54395", 18, "2,0"),
    ("54395", 19, "", "0,7"),
    # 69123: no row in 19: the seed's inner merges drop it
    ("69123", 17, "5,0"),
    ("69123", 18, "6,0"),
]
ROWS = [row(*values) for values in DATA]
CURRENT_ROWS = [current_row(*values) for values in DATA]


def write(path, lines, encoding="utf-8"):
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


@pytest.fixture
def crime_file(tmp_path):
    return write(tmp_path / "crime.csv", [HEADER, *ROWS])


@pytest.fixture(params=["2023", "2024", "2025"])
def any_layout(request, tmp_path):
    """The same data in the 2023 layout and in the current layout (CODGEO_2024 / 2025)."""
    if request.param == "2023":
        return write(tmp_path / "crime.csv", [HEADER, *ROWS])
    header = HEADER_CURRENT.replace("CODGEO_2025", f"CODGEO_{request.param}")
    return write(tmp_path / "crime.csv", [header, *CURRENT_ROWS])


def rates_of(path, years=YEARS, year=19, crime_class=SV):
    selected, _ = select_rows(read_crime_csv(path), crime_class, years, path)
    return sexual_violence_rates(selected, years, year)


def test_read_keeps_codes_and_parses_decimal_commas(crime_file):
    crime = read_crime_csv(crime_file)
    assert crime.attrs["layout"] == "2023" and crime.attrs["columns"]["code"] == "CODGEO_2023"
    assert list(crime.columns) == ["code_com", "annee", "classe", "unit", "published", "rate", "estimate", "count", "pop"]
    assert crime["code_com"].tolist()[:2] == ["06088", "06088"]
    assert "2A004" in set(crime["code_com"])
    assert crime["rate"].tolist()[:4] == [100.0, 1.5, 2.5, 3.0]
    assert math.isnan(crime["rate"].iloc[4]) and crime["estimate"].iloc[4] == 0.8
    assert crime["annee"].tolist()[:3] == [2016, 2017, 2018]


def test_read_current_layout(tmp_path):
    path = write(tmp_path / "crime.csv", [HEADER_CURRENT, *CURRENT_ROWS])
    crime = read_crime_csv(path)
    assert crime.attrs["layout"] == "current" and crime.attrs["columns"]["code"] == "CODGEO_2025"
    assert crime["annee"].tolist()[:3] == [2016, 2017, 2018]
    assert math.isnan(crime["rate"].iloc[4]) and crime["estimate"].iloc[4] == 0.8  # 'NA' is missing
    assert crime["published"].tolist()[3:5] == ["diff", "ndiff"]


def test_rates_by_hand(any_layout):
    rates = rates_of(any_layout).set_index("code_com")
    assert sorted(rates.index) == ["06088", "2A004", "54395"]  # 69123 has no 2019 row
    assert list(rates.columns) == ["sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21"]
    # 06088: the ndiff year 20 falls back to the estimate for sv_*, is left out of sv_com_*
    assert rates.loc["06088", "sv_19"] == pytest.approx(3.0)
    assert rates.loc["06088", "sv_17_21"] == pytest.approx((1.5 + 2.5 + 3.0 + 0.8 + 4.0) / 5)
    assert rates.loc["06088", "sv_com_19"] == pytest.approx(3.0)
    assert rates.loc["06088", "sv_com_17_21"] == pytest.approx((1.5 + 2.5 + 3.0 + 4.0) / 4)
    # 2A004: only estimates: sv_* from them, sv_com_* NaN
    assert rates.loc["2A004", "sv_19"] == pytest.approx(0.9)
    assert rates.loc["2A004", "sv_17_21"] == pytest.approx((0.6 + 0.9 + 1.2) / 3)
    assert math.isnan(rates.loc["2A004", "sv_com_19"]) and math.isnan(rates.loc["2A004", "sv_com_17_21"])
    # 54395: estimate in 19, published in 18
    assert rates.loc["54395", "sv_19"] == pytest.approx(0.7)
    assert rates.loc["54395", "sv_17_21"] == pytest.approx((2.0 + 0.7) / 2)
    assert math.isnan(rates.loc["54395", "sv_com_19"])
    assert rates.loc["54395", "sv_com_17_21"] == pytest.approx(2.0)


def test_both_layouts_give_identical_rates(tmp_path):
    old = rates_of(write(tmp_path / "old.csv", [HEADER, *ROWS]))
    new = rates_of(
        write(tmp_path / "new.csv", [HEADER_CURRENT, *CURRENT_ROWS]), years=[2017, 2018, 2019, 2020, 2021], year=2019
    )
    pd.testing.assert_frame_equal(old, new)
    assert len(old) == 3


@pytest.mark.parametrize(
    "years, year",
    [([17, 18, 19, 20, 21], 19), ([2017, 2018, 2019, 2020, 2021], 2019), ([17, 2018, 19, 2020, 21], 2019)],
)
def test_two_and_four_digit_config_years(any_layout, years, year):
    rates = rates_of(any_layout, years, year).set_index("code_com")
    assert rates.loc["06088", "sv_17_21"] == pytest.approx((1.5 + 2.5 + 3.0 + 0.8 + 4.0) / 5)


def test_normalise_year():
    assert [normalise_year(y, "crime_years") for y in (0, 17, 99, 2017, 1999)] == [2000, 2017, 2099, 2017, 1999]
    for bad in (100, 217, 17.5, "17", True):
        with pytest.raises(InputError, match=r"^config key 'crime_year': .* is not a year; give 17 or 2017"):
            normalise_year(bad, "crime_year")


def test_other_years_keep_the_column_names(crime_file):
    rates = rates_of(crime_file, [17, 18], 18).set_index("code_com")
    assert list(rates.columns) == ["sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21"]
    assert sorted(rates.index) == ["06088", "54395", "69123"]  # communes with a row in 18
    assert rates.loc["06088", "sv_19"] == pytest.approx(2.5)
    assert rates.loc["06088", "sv_17_21"] == pytest.approx(2.0)
    assert rates.loc["69123", "sv_com_17_21"] == pytest.approx(5.5)


def test_class_matches_without_regard_to_case(any_layout):
    pd.testing.assert_frame_equal(rates_of(any_layout, crime_class=" violences SEXUELLES "), rates_of(any_layout))


# --- commune codes ------------------------------------------------------------------------


def test_codes_that_lost_their_leading_zero(tmp_path):
    lines = [HEADER, row("6088", 19, "3"), row("6088.0", 18, "2,0"), row("2A004", 19, "", "0,9")]
    rates = rates_of(write(tmp_path / "crime.csv", lines)).set_index("code_com")
    assert sorted(rates.index) == ["06088", "2A004"]
    assert rates.loc["06088", "sv_17_21"] == pytest.approx(2.5)  # both spellings are one commune


def test_a_value_that_is_no_commune_code(tmp_path):
    path = write(tmp_path / "crime.csv", [HEADER_CURRENT, current_row("06088", 19, "3"), current_row("Nice", 19, "1")])
    with pytest.raises(InputError) as err:
        rates_of(path)
    assert str(err.value) == (
        f"{path}, line 3, column CODGEO_2025: 'Nice' is not an INSEE commune code; expected five characters such "
        "as '06088', '75056' or '2A004' (leading zeros may be missing). Fix the file, or point the configuration "
        "at the right column"
    )


def test_rows_without_a_commune_code_are_counted(tmp_path):
    lines = [HEADER, *ROWS, row("", 19, "9,0"), row(" ", 18, "8,0"), row("", 19, "7,0", classe=THEFT)]
    path = write(tmp_path / "crime.csv", lines)
    crime = read_crime_csv(path)
    selected, report = select_rows(crime, SV, YEARS, path)
    assert report["rows_without_code"] == 3 and report["selected_without_code"] == 2
    pd.testing.assert_frame_equal(
        sexual_violence_rates(selected, YEARS, 19), rates_of(write(tmp_path / "clean.csv", [HEADER, *ROWS]))
    )
    _, lines = crime_rates(path, SV, YEARS, 19)
    assert (
        "3 row(s) of the file have no commune code (2 of class 'Violences sexuelles' in the years "
        "[2017, 2018, 2019, 2020, 2021]): left out"
    ) in lines


# --- publication flag, no testable commune -----------------------------------------------


@pytest.mark.parametrize("layout", ["2023", "current"])
def test_unknown_publication_flag(tmp_path, layout):
    make, header, column = (
        (row, HEADER, "valeur.publiée") if layout == "2023" else (current_row, HEADER_CURRENT, "est_diffuse")
    )
    path = write(tmp_path / "crime.csv", [header, make("06088", 19, "3"), make("06088", 18, "2,0", published="oui")])
    with pytest.raises(InputError) as err:
        rates_of(path)
    assert str(err.value) == (
        f"{path}: column {column} holds 1 value(s) other than diff / ndiff among the rows of class "
        "'Violences sexuelles', e.g. 'oui'; expected diff (commune value published) or ndiff "
        "(not published: department estimate)"
    )


def test_flag_case_is_ignored(tmp_path):
    path = write(
        tmp_path / "crime.csv",
        [HEADER, row("06088", 19, "3", published="DIFF"), row("06029", 19, "", "1,0", published="Ndiff")],
    )
    assert sorted(rates_of(path)["code_com"]) == ["06029", "06088"]


@pytest.mark.parametrize("layout", ["2023", "current"])
def test_no_testable_commune(tmp_path, layout):
    make, header = (row, HEADER) if layout == "2023" else (current_row, HEADER_CURRENT)
    lines = [header, make("06088", 19, "", "0,9"), make("06029", 18, "", "0,8"), make("06029", 19, "", "")]
    path = write(tmp_path / "crime.csv", lines)
    with pytest.raises(InputError) as err:
        crime_rates(path, SV, YEARS, 19)
    rate = "tauxpourmille" if layout == "2023" else "taux_pour_mille"
    assert str(err.value).startswith(
        f"{path}: no commune has a published rate ({rate}) of class 'Violences sexuelles' in the years "
        "[2017, 2018, 2019, 2020, 2021]"
    )
    assert "no commune can be tested" in str(err.value)


# --- the header ---------------------------------------------------------------------------


def test_unknown_header_names_both_layouts(tmp_path):
    path = write(tmp_path / "crime.csv", ["code;year;offence;rate", "06088;19;x;1"])
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    message = str(err.value)
    assert message.startswith(f"{path}: unknown header 'code;year;offence;rate'; expected the 2023 layout")
    assert HEADER_2023 in message and HEADER_CURRENT in message and "current data.gouv.fr layout" in message


def test_missing_columns_2023(tmp_path):
    header = HEADER.replace("classe;", "").replace(";complementinfotaux", "")
    path = write(tmp_path / "missing.csv", [header])
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    message = str(err.value)
    assert message.startswith(f"{path}: header of the 2023 layout without column(s) classe, complementinfotaux;")
    assert HEADER_2023 in message


def test_missing_code_column_current(tmp_path):
    path = write(tmp_path / "missing.csv", [HEADER_CURRENT.replace("CODGEO_2025", "CODGEO")])
    with pytest.raises(InputError, match=r"header of the current layout without column\(s\) CODGEO_<year>;"):
        read_crime_csv(path)


def test_comma_separated_resave(tmp_path):
    lines = [line.replace(";", ",") for line in [HEADER, row("06088", 19, "3.5")]]
    path = write(tmp_path / "comma.csv", lines)
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    message = str(err.value)
    assert str(path) in message and "single field" in message and "13 fields on ','" in message


def test_tab_separated_resave(tmp_path):
    path = write(tmp_path / "tabs.csv", [line.replace(";", "\t") for line in [HEADER_CURRENT, CURRENT_ROWS[0]]])
    with pytest.raises(InputError, match=r"single field when split on ';' \(it splits into 13 fields on tabs\)"):
        read_crime_csv(path)


def test_gzip_compressed_file_is_read(tmp_path):
    path = tmp_path / "crime.csv.gz"
    path.write_bytes(gzip.compress(("\n".join([HEADER_CURRENT, *CURRENT_ROWS]) + "\n").encode()))
    pd.testing.assert_frame_equal(rates_of(path), rates_of(write(tmp_path / "plain.csv", [HEADER, *ROWS])))


def test_decimal_points(tmp_path):
    path = write(tmp_path / "points.csv", [HEADER, row("06088", 18, "2,5"), row("06088", 19, "", "1.25")])
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    assert str(err.value) == (
        f"{path}, line 3, column complementinfotaux: '1.25' is not a number with a decimal comma such as "
        "'1,25'; re-export with ',' as decimal mark, or convert the file"
    )


def test_decimal_points_current_layout(tmp_path):
    path = write(tmp_path / "points.csv", [HEADER_CURRENT, current_row("06088", 18, "2.5")])
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    assert str(err.value).startswith(f"{path}, line 2, column taux_pour_mille: '2.5' is not a number with a decimal comma")


def test_latin1_header(tmp_path):
    path = write(tmp_path / "latin1.csv", [HEADER, *ROWS[:3]], encoding="latin-1")
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    message = str(err.value)
    assert str(path) in message and "line 1 is not valid UTF-8" in message
    assert "iconv -f latin1 -t utf-8" in message and "unité.de.compte" in message


def test_cp1252_body_line(tmp_path):
    # header in UTF-8 but one offence class re-saved in Windows-1252 further down
    body = [row("06088", 19, "3"), row("06088", 19, "7,0", classe="Destructions et dégradations volontaires")]
    path = tmp_path / "mixed.csv"
    path.write_bytes((HEADER + "\n" + body[0] + "\n").encode("utf-8") + (body[1] + "\n").encode("cp1252"))
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    message = str(err.value)
    assert "line 3 is not valid UTF-8" in message and "dégradations" in message


def test_unknown_class_names_what_was_found(any_layout):
    crime = read_crime_csv(any_layout)
    with pytest.raises(InputError) as err:
        select_rows(crime, "Violences sexuelle", YEARS, any_layout)
    message = str(err.value)
    column = "classe" if crime.attrs["layout"] == "2023" else "indicateur"
    assert message == (
        f"{any_layout}: no row of class 'Violences sexuelle' (config key 'crime_class'); column "
        f"{column} has the classes {[SV, THEFT]}"
    )


def test_years_without_rows(any_layout):
    with pytest.raises(InputError) as err:
        select_rows(read_crime_csv(any_layout), SV, [22, 23], any_layout)
    assert str(err.value) == (
        f"{any_layout}: no row of class 'Violences sexuelles' in the years [2022, 2023] (config key "
        "'crime_years'); that class has rows in the years [2016, 2017, 2018, 2019, 2020, 2021]"
    )


def test_crime_year_outside_years(crime_file):
    with pytest.raises(InputError, match="config key 'crime_year': 16 is not one of crime_years"):
        rates_of(crime_file, [17, 18, 19], 16)


def test_words_in_a_rate_column(tmp_path):
    path = write(tmp_path / "words.csv", [HEADER, row("06088", 18, "2,5"), row("06088", 19, "secret")])
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    assert str(err.value) == (
        f"{path}, line 3, column tauxpourmille: 'secret' is not a number; expected numbers with a decimal "
        "comma; a missing value is an empty field, NA or NaN"
    )


def test_empty_year(tmp_path):
    path = write(tmp_path / "year.csv", [HEADER, row("06088", 18, "2,5"), row("06088", "", "1,0")])
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    assert str(err.value) == (
        f"{path}, line 3, column annee: an empty field is not a year; expected two-digit (19) or four-digit "
        "(2019) years"
    )


def test_utf8_with_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join([HEADER, *ROWS]) + "\n").encode("utf-8"))
    crime = read_crime_csv(path)
    assert crime.attrs["columns"]["code"] == "CODGEO_2023" and len(crime) == len(ROWS)


# --- the seed and the entry script ----------------------------------------------------------


def test_matches_the_seed_cells(crime_file):
    """The notebook's crime cells, run as written, on the same file."""
    seed = pd.read_csv(
        crime_file,
        delimiter=";",
        decimal=",",
        dtype={"CODGEO_2023": str, "tauxpourmille": float, "complementinfotaux": float},
    )
    seed = (
        seed.query("classe == 'Violences sexuelles'")
        .query("annee == [17, 18, 19, 20, 21]")
        .rename(
            columns={
                "CODGEO_2023": "code_com",
                "tauxpourmille": "sv_per_1000_com",
                "complementinfotaux": "sv_per_1000_est",
                "annee": "date",
                "classe": "indicator",
            }
        )[["code_com", "sv_per_1000_com", "sv_per_1000_est", "date", "indicator"]]
    )
    seed["sv_per_1000"] = seed["sv_per_1000_com"].fillna(seed["sv_per_1000_est"])
    expected = (
        seed.query("date == 19")
        .groupby(["code_com"])["sv_per_1000"]
        .mean()
        .reset_index()
        .rename(columns={"sv_per_1000": "sv_19"})
        .merge(
            seed.query("date == [17, 18, 19, 20, 21]")
            .groupby(["code_com"])["sv_per_1000"]
            .mean()
            .reset_index()
            .rename(columns={"sv_per_1000": "sv_17_21"})
        )
        .merge(
            seed.query("date == [19]")
            .groupby(["code_com"])["sv_per_1000_com"]
            .mean()
            .reset_index()
            .rename(columns={"sv_per_1000_com": "sv_com_19"})
        )
        .merge(
            seed.query("date == [17, 18, 19, 20, 21]")
            .groupby(["code_com"])["sv_per_1000_com"]
            .mean()
            .reset_index()
            .rename(columns={"sv_per_1000_com": "sv_com_17_21"})
        )
    )
    pd.testing.assert_frame_equal(
        rates_of(crime_file).sort_values("code_com").reset_index(drop=True),
        expected.sort_values("code_com").reset_index(drop=True),
        check_dtype=False,
    )


def run_script(tmp_path, crime_csv, crime_class=SV, years=YEARS, year=19):
    out = tmp_path / "crime" / "sexual_violence.parquet"
    smk = SimpleNamespace(
        input=SimpleNamespace(crime_csv=str(crime_csv)),
        params=SimpleNamespace(code="x", crime_class=crime_class, crime_years=years, crime_year=year),
        output=SimpleNamespace(rates=str(out), years=str(out.with_name("sexual_violence_years.parquet"))),
        log=[str(tmp_path / "crime.log")],
        rule="crime_rates",
    )
    saved = sys.stderr
    try:
        run_rule(smk, crime_script.main)
    finally:
        if sys.stderr is not saved:
            sys.stderr.close()
        sys.stderr = saved
    return out


def test_main_writes_parquet(any_layout, tmp_path):
    out = run_script(tmp_path, any_layout)
    rates = pd.read_parquet(out)
    assert list(rates.columns) == ["code_com", "sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21"]
    assert rates["code_com"].tolist() == ["06088", "2A004", "54395"]
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == ["sexual_violence.parquet", "sexual_violence_years.parquet"]  # no temporary left
    years = pd.read_parquet(out.with_name("sexual_violence_years.parquet"))
    assert list(years.columns) == ["code_com", "year", "published", "count", "pop", "rate"]
    assert len(years) == 12 and years["published"].sum() == 7
    log = (tmp_path / "crime.log").read_text()
    assert "5 without a published commune rate use the department estimate" in log
    assert "3 communes with rows in 2019; 2 with a published commune rate (sv_com_17_21), 1 without" in log


def test_main_names_file_for_unknown_class(crime_file, tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_script(tmp_path, crime_file, crime_class="Nope", years=[19], year=19)
    last = (tmp_path / "crime.log").read_text().strip().splitlines()[-1]
    assert last.startswith(f"Error in rule crime_rates: {crime_file}: no row of class 'Nope'")
    assert not (tmp_path / "crime").exists()


def test_flags_that_contradict_the_rate_are_counted(tmp_path):
    lines = [HEADER, *ROWS, row("06029", 19, "4,0", published="ndiff"), row("06029", 18, "", "0,5", published="diff")]
    path = write(tmp_path / "crime.csv", lines)
    rates, log = crime_rates(path, SV, YEARS, 19)
    assert (
        "1 ndiff row(s) carry a rate and 1 diff row(s) have none; as in the seed, the rate column (tauxpourmille) decides"
        in log
    )
    commune = rates.set_index("code_com").loc["06029"]
    assert commune["sv_com_19"] == pytest.approx(4.0) and commune["sv_17_21"] == pytest.approx((4.0 + 0.5) / 2)


def test_commune_year_detail_by_hand(any_layout):
    """One row per commune x crime year of the class (16 is outside the years, the theft
    row another class); count and rate only where the year is published."""
    rates, years, _ = crime_tables(any_layout, SV, YEARS, 19)
    pd.testing.assert_frame_equal(rates, rates_of(any_layout))
    assert years["code_com"].str.len().eq(5).all() and years["year"].dtype == "int64"
    got = {(r.code_com, r.year): (r.published, r.count, r.rate) for r in years.itertuples()}
    nan = float("nan")
    expected = {
        ("06088", 2017): (True, 3.0, 1.5),
        ("06088", 2018): (True, 3.0, 2.5),
        ("06088", 2019): (True, 3.0, 3.0),
        ("06088", 2020): (False, nan, nan),
        ("06088", 2021): (True, 3.0, 4.0),
        ("2A004", 2017): (False, nan, nan),
        ("2A004", 2019): (False, nan, nan),
        ("2A004", 2021): (False, nan, nan),
        ("54395", 2018): (True, 3.0, 2.0),
        ("54395", 2019): (False, nan, nan),
        ("69123", 2017): (True, 3.0, 5.0),
        ("69123", 2018): (True, 3.0, 6.0),
    }
    assert set(got) == set(expected)
    for key, (flag, count, rate) in expected.items():
        assert got[key][0] == flag, key
        assert (math.isnan(count) and math.isnan(got[key][1])) or got[key][1] == count, key
        assert (math.isnan(rate) and math.isnan(got[key][2])) or got[key][2] == pytest.approx(rate), key
    assert (years["pop"] == 1000.0).all()
    assert years_published(years).to_dict() == {"06088": 4, "2A004": 0, "54395": 1, "69123": 2}


def test_commune_year_detail_rejects_a_year_twice(tmp_path):
    """The reader refuses the repeated key first; commune_years checks again on its own."""
    path = write(tmp_path / "crime.csv", [HEADER, row("06088", 19, "3"), row("06088", 19, "2,0")])
    with pytest.raises(InputError, match=r"appears on line 2 and line 3 with different tauxpourmille \(3 and 2\)"):
        select_rows(read_crime_csv(path), SV, YEARS, path)
    single = write(tmp_path / "single.csv", [HEADER, row("06088", 19, "3")])
    selected, _ = select_rows(read_crime_csv(single), SV, YEARS, single)
    with pytest.raises(InputError, match=r"2 rows share a commune and a year of the class, e.g. commune 06088 in 2019"):
        commune_years(pd.concat([selected, selected]), YEARS, single)


def test_count_and_population_columns_are_read(tmp_path):
    """faits / nombre and POP / insee_pop reach the frame as numbers (decimal commas)."""
    lines = [HEADER, "06088;19;Violences sexuelles;victime;diff;12;3,5;;;3428,0;19;500;19"]
    crime = read_crime_csv(write(tmp_path / "crime.csv", lines))
    assert crime.loc[0, "count"] == 12.0 and crime.loc[0, "pop"] == 3428.0
    assert crime.attrs["columns"]["count"] == "faits" and crime.attrs["columns"]["pop"] == "POP"
    current = read_crime_csv(write(tmp_path / "current.csv", [HEADER_CURRENT, *CURRENT_ROWS]))
    assert current.attrs["columns"]["count"] == "nombre" and current.attrs["columns"]["pop"] == "insee_pop"
    assert current["pop"].eq(1000.0).all() and current["count"].isin([3.0]).sum() == 9


def test_a_decimal_point_in_the_population_column(tmp_path):
    path = write(tmp_path / "crime.csv", [HEADER, "06088;19;Violences sexuelles;victime;diff;12;3,5;;;3428.5;19;500;19"])
    with pytest.raises(InputError, match=r"line 2, column POP: '3428.5' is not a number with a decimal comma"):
        read_crime_csv(path)


# --- repeated rows ------------------------------------------------------------------------


def test_a_commune_year_repeated_with_another_rate_is_refused(any_layout):
    """The seed would average 3 and 6,22 into sv_com_19 = 4.61 without a word."""
    lines = any_layout.read_text().splitlines()
    layout_2023 = lines[0].startswith("CODGEO_2023")
    repeat = row("06088", 19, "6,22") if layout_2023 else current_row("06088", 19, "6,22")
    write(any_layout, [*lines, repeat])
    with pytest.raises(InputError) as err:
        rates_of(any_layout)
    code = lines[0].split(";")[0]
    if layout_2023:
        key = f"{code} 06088, annee 2019, classe Violences sexuelles, unité.de.compte victime"
        rate = "tauxpourmille"
    else:
        key = f"{code} 06088, annee 2019, indicateur Violences sexuelles, unite_de_compte Victime"
        rate = "taux_pour_mille"
    # ROWS[3] (06088, 19, "3") is line 5; the repeat the last line, 16
    assert str(err.value) == (
        f"{any_layout}: {key} appears on line 5 and line 16 with different {rate} (3 and 6.22); 1 commune, "
        "year, class and unit key(s) repeated with other values in all. Keep one row per commune, year, "
        "class and unit (a repeated row would be averaged or counted twice)."
    )


def test_a_repeat_with_another_publication_flag_is_refused(crime_file):
    write(crime_file, [HEADER, *ROWS, row("2A004", 17, "", "0,6", published="diff")])
    with pytest.raises(InputError, match=r"appears on line 9 and line 16 with different valeur.publiée \('ndiff' and 'diff'\)"):
        rates_of(crime_file)


def test_a_code_written_without_its_leading_zero_is_the_same_commune(crime_file):
    write(crime_file, [HEADER, *ROWS, row("6088", 19, "7,0")])
    with pytest.raises(InputError, match="CODGEO_2023 06088, annee 2019, .* appears on line 5 and line 16"):
        rates_of(crime_file)


def test_exact_repeats_are_dropped_and_counted(crime_file, tmp_path, capsys):
    expected = rates_of(crime_file)
    repeated = write(tmp_path / "repeated.csv", [HEADER, *ROWS, ROWS[3], ROWS[3], ROWS[8]])
    selected, report = select_rows(read_crime_csv(repeated), SV, YEARS, repeated)
    assert report["exact_repeats"] == 3 and report["selected"] == 15 and len(selected) == 12
    assert (
        f"{repeated}: 3 row(s) of class 'Violences sexuelles' repeat another row exactly (same commune, year, "
        "unit and values): dropped, each commune-year counted once"
    ) in capsys.readouterr().err
    pd.testing.assert_frame_equal(sexual_violence_rates(selected, YEARS, 19), expected)


def test_a_repeat_in_another_class_or_year_is_no_conflict(crime_file):
    # 06088 in 2016 (out of the years) and in another class with other values
    write(crime_file, [HEADER, *ROWS, row("06088", 16, "9,0"), row("06088", 19, "70,0", "", THEFT)])
    pd.testing.assert_frame_equal(rates_of(crime_file), rates_of(write(crime_file.parent / "plain.csv", [HEADER, *ROWS])))


def test_a_class_counted_in_two_units_is_refused(crime_file):
    other_unit = row("06029", 19, "1,0").replace(";victime;", ";infraction;")
    write(crime_file, [HEADER, *ROWS, other_unit])
    with pytest.raises(InputError) as err:
        rates_of(crime_file)
    assert str(err.value) == (
        f"{crime_file}: the rows of class 'Violences sexuelles' are counted in 2 units in column unité.de.compte "
        "('infraction', 'victime'); a rate per 1,000 cannot mix units. Keep the rows of one unit of count (or "
        "point crime_class at a class with one unit)."
    )


@pytest.mark.parametrize("word", ["n/a", "N/A", "NULL", "-", "#N/A"])
def test_a_word_read_as_missing_by_pandas_is_refused(crime_file, word):
    write(crime_file, [HEADER, *ROWS[:3], row("06088", 19, word)])
    with pytest.raises(InputError) as err:
        read_crime_csv(crime_file)
    assert str(err.value) == (
        f"{crime_file}, line 5, column tauxpourmille: {word!r} is not a number; expected numbers with a decimal "
        "comma; a missing value is an empty field, NA or NaN"
    )


def test_na_is_a_missing_value_in_both_layouts(tmp_path):
    path = write(tmp_path / "na.csv", [HEADER, row("06088", 19, "NA", "0,5", published="ndiff")])
    crime = read_crime_csv(path)
    assert math.isnan(crime["rate"].iloc[0]) and crime["estimate"].iloc[0] == 0.5


@pytest.mark.workflow
def test_a_conflicting_repeat_stops_the_workflow_before_any_result(tmp_path):
    """The tiny synthetic run with one commune-year of the class repeated with another rate:
    exit 1, one line naming the file, the key and both lines, and no spearman.csv."""
    from workflow_runner import TINY, load_default_config, snakemake, write_config

    write_config(tmp_path, TINY)
    snakemake(tmp_path, "results/synthetic/crime.csv")
    crime = tmp_path / "results" / "synthetic" / "crime.csv"
    lines = crime.read_text(encoding="utf-8").splitlines()
    config = load_default_config()
    year = str(config["crime_year"])[-2:]
    number, original = next(
        (number, line) for number, line in enumerate(lines, start=1)
        if line.split(";")[1:3] == [year, config["crime_class"]] and line.split(";")[4] == "diff"
    )
    fields = original.split(";")
    fields[6] = "99,5"
    crime.write_text("\n".join([*lines, ";".join(fields)]) + "\n", encoding="utf-8")

    result = snakemake(tmp_path, check=False)
    assert result.returncode == 1
    expected = (
        f"Error in rule crime_rates: results/synthetic/crime.csv: CODGEO_2023 {fields[0]}, annee 20{year}, classe "
        f"{config['crime_class']}, unité.de.compte {fields[3]} appears on line {number} and line {len(lines) + 1} "
        f"with different tauxpourmille ({float(original.split(';')[6].replace(',', '.')):.15g} and 99.5); 1 commune, "
        "year, class and unit key(s) repeated with other values in all. Keep one row per commune, year, class and "
        "unit (a repeated row would be averaged or counted twice)."
    )
    assert expected in result.stderr.splitlines()
    assert not list((tmp_path / "results").glob("*/spearman.csv"))
    assert not list((tmp_path / "results").glob("*/summary.json"))
