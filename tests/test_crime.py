"""Crime rates (CONTRACT 1.5): reading the data.gouv.fr file and the seed's per-commune means,
checked against means worked out by hand on a crafted file."""

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from crime import InputError, read_crime_csv, sexual_violence_rates
import crime as crime_script

HEADER = (
    "CODGEO_2023;annee;classe;unité.de.compte;valeur.publiée;faits;tauxpourmille;"
    "complementinfoval;complementinfotaux;POP;millPOP;LOG;millLOG"
)
SV = "Violences sexuelles"
THEFT = "Vols sans violence contre des personnes"


def row(code, year, taux, complement="", classe=SV):
    published = "diff" if taux else "ndiff"
    faits = "3" if taux else ""
    return f"{code};{year};{classe};victime;{published};{faits};{taux};;{complement};1000;19;500;19"


ROWS = [
    # 06088: published every year but 20 (department estimate 0,8 instead); 16 is out of the years
    row("06088", 16, "100,0"),
    row("06088", 17, "1,5"),
    row("06088", 18, "2,5"),
    row("06088", 19, "3"),
    row("06088", 20, "", "0,8"),
    row("06088", 21, "4,0"),
    row("06088", 19, "50,0", classe=THEFT),
    # 2A004: never published: only department estimates
    row("2A004", 17, "", "0,6"),
    row("2A004", 19, "", "0,9"),
    row("2A004", 21, "", "1,2"),
    # 54395: estimate in 19, published in 18
    row("54395", 18, "2,0"),
    row("54395", 19, "", "0,7"),
    # 69123: no row in 19: the seed's inner merges drop it
    row("69123", 17, "5,0"),
    row("69123", 18, "6,0"),
]


def write(path, lines, encoding="utf-8"):
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


@pytest.fixture
def crime_file(tmp_path):
    return write(tmp_path / "crime.csv", [HEADER, *ROWS])


def test_read_keeps_codes_and_parses_decimal_commas(crime_file):
    crime = read_crime_csv(crime_file)
    assert crime["CODGEO_2023"].tolist()[:2] == ["06088", "06088"]
    assert "2A004" in set(crime["CODGEO_2023"])
    assert crime["tauxpourmille"].tolist()[:4] == [100.0, 1.5, 2.5, 3.0]
    assert math.isnan(crime["tauxpourmille"].iloc[4]) and crime["complementinfotaux"].iloc[4] == 0.8
    assert crime["annee"].tolist()[:3] == [16, 17, 18]


def test_rates_by_hand(crime_file):
    rates = sexual_violence_rates(read_crime_csv(crime_file), SV, [17, 18, 19, 20, 21], 19).set_index("code_com")
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


def test_other_years_keep_contract_names(crime_file):
    rates = sexual_violence_rates(read_crime_csv(crime_file), SV, [17, 18], 18).set_index("code_com")
    assert list(rates.columns) == ["sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21"]
    assert sorted(rates.index) == ["06088", "54395", "69123"]  # communes with a row in 18
    assert rates.loc["06088", "sv_19"] == pytest.approx(2.5)
    assert rates.loc["06088", "sv_17_21"] == pytest.approx(2.0)
    assert rates.loc["69123", "sv_com_17_21"] == pytest.approx(5.5)


def test_main_writes_parquet(crime_file, tmp_path):
    out = tmp_path / "crime" / "sexual_violence.parquet"
    smk = SimpleNamespace(
        input=SimpleNamespace(crime_csv=str(crime_file)),
        params=SimpleNamespace(crime_class=SV, crime_years=[17, 18, 19, 20, 21], crime_year=19),
        output=SimpleNamespace(rates=str(out)),
        log=[str(tmp_path / "crime.log")],
    )
    import sys

    saved = sys.stderr
    try:
        crime_script.main(smk)
    finally:
        sys.stderr.close()
        sys.stderr = saved
    rates = pd.read_parquet(out)
    assert sorted(rates["code_com"]) == ["06088", "2A004", "54395"]
    assert [p.name for p in out.parent.iterdir()] == ["sexual_violence.parquet"]  # no temporary left
    log = (tmp_path / "crime.log").read_text()
    assert "5 rows without a published commune rate use the department estimate" in log


def test_comma_separated_resave(tmp_path):
    lines = [line.replace(";", ",") for line in [HEADER, row("06088", 19, "3.5")]]
    path = write(tmp_path / "comma.csv", lines)
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    message = str(err.value)
    assert str(path) in message and "single field" in message and "13 fields on ','" in message


def test_decimal_points(tmp_path):
    path = write(tmp_path / "points.csv", [HEADER, row("06088", 18, "2,5"), row("06088", 19, "", "1.25")])
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    message = str(err.value)
    assert str(path) in message and "complementinfotaux" in message
    assert "'1.25' on line 3" in message and "decimal commas" in message


def test_missing_columns(tmp_path):
    header = HEADER.replace("classe;", "").replace(";complementinfotaux", "")
    path = write(tmp_path / "missing.csv", [header])
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    message = str(err.value)
    assert str(path) in message and "missing column(s) classe, complementinfotaux" in message


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


def test_unknown_class_names_what_was_found(crime_file):
    crime = read_crime_csv(crime_file)
    with pytest.raises(InputError) as err:
        sexual_violence_rates(crime, "Violences sexuelle", [17, 18, 19, 20, 21], 19)
    message = str(err.value)
    assert "'Violences sexuelle'" in message and "[17, 18, 19, 20, 21]" in message
    assert THEFT in message and SV in message and "[16, 17, 18, 19, 20, 21]" in message


def test_years_without_rows(crime_file):
    with pytest.raises(InputError, match=r"in the years \[22, 23\]"):
        sexual_violence_rates(read_crime_csv(crime_file), SV, [22, 23], 22)


def test_crime_year_outside_years(crime_file):
    with pytest.raises(ValueError, match="crime_year 16 is not one of crime_years"):
        sexual_violence_rates(read_crime_csv(crime_file), SV, [17, 18, 19], 16)


def test_main_names_file_for_unknown_class(crime_file, tmp_path):
    smk = SimpleNamespace(
        input=SimpleNamespace(crime_csv=str(crime_file)),
        params=SimpleNamespace(crime_class="Nope", crime_years=[19], crime_year=19),
        output=SimpleNamespace(rates=str(tmp_path / "rates.parquet")),
        log=[str(tmp_path / "crime.log")],
    )
    import sys

    saved = sys.stderr
    try:
        with pytest.raises(InputError, match=str(crime_file)):
            crime_script.main(smk)
    finally:
        sys.stderr.close()
        sys.stderr = saved
    assert not (tmp_path / "rates.parquet").exists()


def test_matches_the_seed_cells(crime_file):
    """The notebook's crime cells, run as written, on the same file."""
    seed = pd.read_csv(
        crime_file, delimiter=";", decimal=",",
        dtype={"CODGEO_2023": str, "tauxpourmille": float, "complementinfotaux": float},
    )
    seed = (
        seed.query("classe == 'Violences sexuelles'")
        .query("annee == [17, 18, 19, 20, 21]")
        .rename(columns={"CODGEO_2023": "code_com", "tauxpourmille": "sv_per_1000_com",
                         "complementinfotaux": "sv_per_1000_est", "annee": "date", "classe": "indicator"})
        [["code_com", "sv_per_1000_com", "sv_per_1000_est", "date", "indicator"]]
    )
    seed["sv_per_1000"] = seed["sv_per_1000_com"].fillna(seed["sv_per_1000_est"])
    expected = (
        seed.query("date == 19").groupby(["code_com"])["sv_per_1000"].mean().reset_index()
        .rename(columns={"sv_per_1000": "sv_19"})
        .merge(seed.query("date == [17, 18, 19, 20, 21]").groupby(["code_com"])["sv_per_1000"].mean()
               .reset_index().rename(columns={"sv_per_1000": "sv_17_21"}))
        .merge(seed.query("date == [19]").groupby(["code_com"])["sv_per_1000_com"].mean()
               .reset_index().rename(columns={"sv_per_1000_com": "sv_com_19"}))
        .merge(seed.query("date == [17, 18, 19, 20, 21]").groupby(["code_com"])["sv_per_1000_com"].mean()
               .reset_index().rename(columns={"sv_per_1000_com": "sv_com_17_21"}))
    )
    rates = sexual_violence_rates(read_crime_csv(crime_file), SV, [17, 18, 19, 20, 21], 19)
    pd.testing.assert_frame_equal(
        rates.sort_values("code_com").reset_index(drop=True),
        expected.sort_values("code_com").reset_index(drop=True),
        check_dtype=False,
    )


def test_words_in_a_rate_column(tmp_path):
    path = write(tmp_path / "words.csv", [HEADER, row("06088", 18, "2,5"), row("06088", 19, "secret")])
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    assert str(path) in str(err.value) and "tauxpourmille holds 1 value(s) that are not numbers, first 'secret' on line 3" in str(err.value)


def test_empty_year(tmp_path):
    path = write(tmp_path / "year.csv", [HEADER, row("06088", 18, "2,5"), row("06088", "", "1,0")])
    with pytest.raises(InputError) as err:
        read_crime_csv(path)
    assert str(path) in str(err.value) and "annee" in str(err.value) and "an empty field on line 3" in str(err.value)


def test_utf8_with_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join([HEADER, *ROWS]) + "\n").encode("utf-8"))
    crime = read_crime_csv(path)
    assert crime.columns[0] == "CODGEO_2023" and len(crime) == len(ROWS)
