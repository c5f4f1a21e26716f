"""Replication from the authors' published per-commune table (README: Table mode)."""

import math
from pathlib import Path

import pandas as pd
import pytest

from netmob_cpc.codes import department_of
from netmob_cpc.estimates import read_published_table
from netmob_cpc.files import InputError

APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}
HEADER = (
    "cities;code_com;traffic_dir;level_0;index;Web_Adult;Tor;YouTube;c;pop;Tor_to_darknet_share;"
    "Pornography_in_darknet_URL_share;Child_pornography_to_pornography_in_darknet_URL_share;cpc;cpc_per_1000;"
    "log_cpc;log_cpc_per_1000;yt_per_1000;wa_per_1000;tor_per_1000;log_yt_per_1000;log_wa_per_1000;"
    "log_tor_per_1000;sv_19;sv_17_21;sv_com_19;sv_com_17_21"
)
# Three communes written the way the authors' export writes them: semicolons, '.' decimals,
# the notebook's level_0/index leftovers, Tor_to_darknet_share as '11', empty fields.
ROWS = [
    "Nice;06088;DL;0;0;4.1e9;1.9e8;3.5e11;0.0012;342669;11;0.4170543627952965;0.4150197628458498;"
    "228000.0;665.4;12.337;0.036;1021000.0;11964.0;554.5;0.077;0.064;0.055;6.1;5.9;6.1;5.9",
    "Nice;06004;DL;1;1;2.0e8;1.1e7;1.2e10;1e-05;2300;11;0.4170543627952965;0.4150197628458498;"
    "110.0;47.8;4.70;2.04;5217391.3;86956.5;4782.6;10.1;8.36;7.07;2.5;;;",
    "Ajaccio;2A004;DL;2;2;9.0e8;3.0e7;8.0e10;0.0004;70000;11;0.4170543627952965;0.4150197628458498;"
    "12000.0;171.4;9.39;0.134;1142857.1;12857.1;428.6;0.36;0.29;0.25;;;;",
]


def write_table(path, rows=ROWS, header=HEADER):
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_published_layout_is_read_into_the_cpc_com_columns(tmp_path):
    table, notes = read_published_table(write_table(tmp_path / "cpc_com.csv"), APPS)
    assert table["code_com"].tolist() == ["06088", "06004", "2A004"]
    assert table["code_dep"].tolist() == ["06", "06", "2A"]
    assert (table["Tor_to_darknet_share"] == 0.011).all()
    assert any("per mille" in note for note in notes)
    assert any("level_0" in note and "index" in note for note in notes)
    row = table.set_index("code_com").loc["06004"]
    assert math.isnan(row["sv_com_17_21"]) and row["sv_19"] == 2.5
    assert row["c"] == 1e-05 and row["pop"] == 2300
    assert "level_0" not in table.columns and "index" not in table.columns


def test_statistics_run_on_the_published_table(tmp_path):
    from netmob_cpc.statistics import spearman_table

    rows = []
    # enough communes for a test: sv rises with cpc_per_1000
    for i in range(12):
        cpc_per_1000 = 10.0 * (i + 1)
        rows.append(
            f"Lyon;69{i:03d};DL;{i};{i};1e8;1e6;1e10;0.001;{1000 + 10 * i};11;0.41;0.41;"
            f"100;{cpc_per_1000};4.6;0.01;1e7;1e5;1e3;0.02;0.01;0.01;1;1;1;{1.0 + 0.1 * i}"
        )
    table, _ = read_published_table(write_table(tmp_path / "cpc_com.csv", rows), APPS)
    spearman = spearman_table(table).set_index(["x", "y"])
    assert spearman.loc[("cpc_per_1000", "sv_com_17_21"), "rho"] == pytest.approx(1.0)
    assert spearman.loc[("cpc_per_1000", "sv_com_17_21"), "n"] == 12


def test_wrong_separator_and_missing_columns_are_named(tmp_path):
    comma = tmp_path / "comma.csv"
    comma.write_text(HEADER.replace(";", ",") + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="semicolon-separated"):
        read_published_table(comma, APPS)
    short = write_table(tmp_path / "short.csv", [], header=HEADER.replace(";cpc_per_1000", ""))
    with pytest.raises(InputError, match=r"short.csv: missing column\(s\) cpc_per_1000; found cities, code_com,"):
        read_published_table(short, APPS)


def test_department_codes():
    assert department_of("06088") == "06"
    assert department_of("2B033") == "2B"
    assert department_of("97411") == "974"


def run_entry(tmp_path, table_path, direction="DL"):
    import sys
    from types import SimpleNamespace

    import published_estimates

    smk = SimpleNamespace(
        input=SimpleNamespace(table=str(table_path)),
        params=SimpleNamespace(direction=direction, apps=APPS, negative_factor_floor=1e-05),
        output=SimpleNamespace(estimates=str(tmp_path / direction / "cpc_com.csv")),
        log=[str(tmp_path / "published.log")],
    )
    saved = sys.stderr
    sys.stderr = open(smk.log[0], "w")
    try:
        published_estimates.main(smk)
    finally:
        sys.stderr.close()
        sys.stderr = saved
    return tmp_path / direction / "cpc_com.csv"


def test_entry_writes_cpc_com_with_floored_flag_and_padded_codes(tmp_path):
    rows = [ROWS[0].replace("Nice;06088;", "Nice;6088;"), *ROWS[1:]]
    out = run_entry(tmp_path, write_table(tmp_path / "published.csv", rows))
    table = pd.read_csv(out, dtype={"code_com": str, "code_dep": str})
    assert table["code_com"].tolist() == ["06088", "06004", "2A004"]
    # 06004's c is the notebook's floor 1e-05
    assert table["c_floored"].tolist() == [False, True, False]
    assert table["coverage"].isna().all()
    log = (tmp_path / "published.log").read_text()
    assert "3 communes read; 1 with c equal to the floor" in log


def test_entry_without_rows_of_the_direction(tmp_path):
    with pytest.raises(InputError, match=r"published.csv: no row with traffic_dir == 'UL' \(found \['DL'\]\)"):
        run_entry(tmp_path, write_table(tmp_path / "published.csv"), direction="UL")


# --- faults of a published table ----------------------------------------------------------


def with_field(row, column, value):
    """`row` (a line of ROWS) with the field of `column` replaced by `value`."""
    fields = row.split(";")
    fields[HEADER.split(";").index(column)] = value
    return ";".join(fields)


@pytest.mark.parametrize("word", ["n/a", "abc", "1,5", "NULL"])
def test_a_word_in_the_tor_column_is_refused_with_line_and_column(tmp_path, word):
    path = write_table(tmp_path / "cpc_com.csv", [ROWS[0], with_field(ROWS[1], "Tor", word), ROWS[2]])
    with pytest.raises(InputError) as err:
        read_published_table(path, APPS)
    assert str(err.value) == (
        f"{path}, line 3, column Tor: {word!r} is not a number; expected numbers with '.' decimals; a missing "
        "value is an empty field, NA or NaN"
    )


def test_a_commune_twice_with_other_values_is_refused(tmp_path):
    path = write_table(tmp_path / "cpc_com.csv", [*ROWS, with_field(ROWS[0], "cpc", "5.0")])
    with pytest.raises(InputError) as err:
        read_published_table(path, APPS)
    assert str(err.value).startswith(
        f"{path}: traffic_dir DL, code_com 06088 appears on line 2 and line 5 with different cpc (228000 and 5); "
    )


def test_cpc_share_of_tor_by_hand_over_the_communes_with_both(tmp_path, capsys):
    """Four communes: 06004 has no Tor (empty field), 2A004 no cpc; both sums run over
    06088 and 06029 only."""
    from netmob_cpc.statistics import summary

    fourth = with_field(with_field(with_field(ROWS[0], "code_com", "06029"), "Tor", "3e7"), "cpc", "9000.0")
    rows = [ROWS[0], with_field(ROWS[1], "Tor", ""), with_field(ROWS[2], "cpc", "NA"), fourth]
    table, _ = read_published_table(write_table(tmp_path / "cpc_com.csv", rows), APPS)
    result = summary(table, "Tor", 0.011, 0.417, 0.415)
    assert result["cpc_share_of_tor"] == pytest.approx((228000.0 + 9000.0) / (1.9e8 + 3e7), rel=1e-12)
    assert result["cpc_share_of_tor_rows"] == 2 and result["cpc_share_of_tor_rows_left_out"] == 2
    log = capsys.readouterr().err
    assert "missing values (an empty field, NA or NaN) of 4 rows: " in log and "cpc 1" in log and "Tor 1" in log
    assert (
        "cpc_share_of_tor over the 2 communes with both cpc and Tor: 2 commune(s) without one of them left out of "
        "both sums"
    ) in log


AUTHORS_TABLE = Path(__file__).parent / "data" / "authors_cpc_com.csv"


def faulty_authors_table(path, fault):
    """The authors' table with one fault: `n/a` in Tor on line 6, or line 6 repeated with
    another cpc as the last line."""
    lines = AUTHORS_TABLE.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(";")
    fields = lines[5].split(";")
    if fault == "n/a":
        fields[header.index("Tor")] = "n/a"
        lines[5] = ";".join(fields)
    else:
        fields[header.index("cpc")] = "1.0"
        lines.append(";".join(fields))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines), fields[header.index("code_com")]


@pytest.mark.workflow
@pytest.mark.parametrize("fault", ["n/a", "repeat"])
def test_table_mode_writes_nothing_from_a_bad_table(tmp_path, fault):
    from workflow_runner import snakemake, write_config

    count, code = faulty_authors_table(tmp_path / "published.csv", fault)
    write_config(tmp_path, {"estimates_table": "published.csv"})
    result = snakemake(tmp_path, check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error in rule published_estimates:")]
    if fault == "n/a":
        expected = (
            "published.csv, line 6, column Tor: 'n/a' is not a number; expected numbers with '.' decimals; a "
            "missing value is an empty field, NA or NaN"
        )
    else:
        expected = f"published.csv: traffic_dir DL, code_com {code} appears on line 6 and line {count} with different cpc ("
    assert errors and all(line.split(": ", 1)[1].startswith(expected) for line in errors)
    direction = tmp_path / "results" / "DL"
    assert not direction.exists() or not [path for path in direction.rglob("*") if path.is_file()]
