"""Hand-edited configs: anything the schema or the cross-key checks reject stops the run
before any job, with the key named, in one message that is the last thing printed."""

import os
from pathlib import Path

import pytest

from workflow_runner import snakemake, write_config

pytestmark = pytest.mark.workflow

CASES = [
    ({"bogus_key": 1}, "config key '(top level)': Additional properties are not allowed ('bogus_key' was unexpected)"),
    ({"cities": ["Paris", "Atlantis"]}, "config key 'cities.1': 'Atlantis' is not an allowed value; allowed: Bordeaux"),
    ({"apps": {"porn": "../etc", "tor": "Tor", "control": "YouTube"}},
     "config key 'apps.porn': '../etc' is not a NetMob23 app name (the data set's 68 spellings)"),
    ({"apps": {"porn": "Web_Adult", "tor": "Tor", "control": "Youtube"}},
     "config key 'apps.control': 'Youtube' is not a NetMob23 app name (the data set's 68 spellings) (did you mean 'YouTube'?)"),
    ({"directions": ["DL", "XX"]}, "config key 'directions.1': 'XX' is not one of ['DL', 'UL']"),
    ({"period": {"start": "2019-04-10", "end": "2019-04-01"}}, "config key 'period': end 2019-04-01 is before start 2019-04-10"),
    ({"period": {"start": "2019-03-01", "end": "2019-04-01"}}, "outside the NetMob23 data"),
    ({"period": "2019-04-01"},
     "config key 'period': '2019-04-01' is not of type 'object'; write it as period: {start: 2019-03-16, end: 2019-05-31}"),
    ({"period": {"start": "2019-02-30", "end": "2019-04-01"}}, "config key 'period': day is out of range for month; write dates as YYYY-MM-DD"),
    ({"tor_to_darknet_share": 1.5}, "config key 'tor_to_darknet_share': 1.5 is not a number in (0, 1] or a fraction \"a/b\""),
    ({"tor_to_darknet_share": 0}, "config key 'tor_to_darknet_share': 0 is not a number in (0, 1]"),
    ({"csam_in_porn_share": "105/0"}, "config key 'csam_in_porn_share': '105/0' is not a number or a fraction a/b"),
    ({"csam_in_porn_share": "300/253"}, "config key 'csam_in_porn_share': 1.18"),
    ({"negative_factor_floor": -1}, "config key 'negative_factor_floor': -1 is less than the minimum of 0"),
    ({"correction_method": "pearson"}, "config key 'correction_method': 'pearson' is not one of"),
    ({"crime_year": 16}, "config key 'crime_year': 16 is not one of crime_years [17, 18, 19, 20, 21]"),
    ({"crime_years": [2017, 1999]}, "config key 'crime_years.1': 1999 is not a year as two digits (19) or four (2019)"),
    ({"apps": {"porn": "Tor", "tor": "Tor", "control": "YouTube"}}, "config key 'apps': the three roles need three different apps"),
    ({"results_dir": "/"}, "config key 'results_dir': '/' is /, the root or a home directory"),
    ({"results_dir": "~"}, "the root or a home directory; choose a folder of its own"),
    ({"synthetic": {"enabled": False}}, "no inputs configured: set netmob_dir, crime_csv and tile_map"),
    ({"synthetic": {"enabled": False}, "netmob_dir": "data"}, "config key 'crime_csv' is empty"),
]


@pytest.mark.parametrize("overrides, message", CASES, ids=[next(iter(c[0])) + str(i) for i, c in enumerate(CASES)])
def test_bad_config_is_rejected_with_the_key_named(tmp_path, overrides, message):
    write_config(tmp_path, overrides)
    result = snakemake(tmp_path, "--dry-run", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert message in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    last = [line for line in output.splitlines() if line.strip()][-1]
    assert message.split("\n")[0][:40] in output.split("Configuration error:")[-1], last
    assert not (tmp_path / "results").exists()


def test_nested_values_can_be_set_on_the_command_line(tmp_path):
    write_config(tmp_path)
    result = snakemake(
        tmp_path, "--dry-run", "--config", "qc={max_negative_values: 5, max_missing_share: 0.5}",
        "crime_years=[2017, 2018, 2019]", "crime_year=2019",
    )
    assert "Configuration error" not in result.stderr
    # a wrong nested value is still named by its dotted key
    result = snakemake(tmp_path, "--dry-run", "--config", "qc={max_negative_values: -5}", check=False)
    assert result.returncode != 0
    assert "config key 'qc.max_negative_values': -5 is less than the minimum of 0" in result.stderr


def test_missing_traffic_files_are_listed_at_once(tmp_path):
    data = tmp_path / "netmob"
    present = data / "Nice" / "Tor" / "20190401" / "Nice_Tor_20190401_DL.txt"
    present.parent.mkdir(parents=True)
    present.write_text("0 " + " ".join(["0"] * 96) + "\n")
    write_config(
        tmp_path,
        {
            "netmob_dir": str(data), "cities": ["Nice"], "tile_map": "map.csv", "crime_csv": "crime.csv",
            "period": {"start": "2019-04-01", "end": "2019-04-02"},
        },
    )
    result = snakemake(tmp_path, "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    # 3 apps x 2 days, one present
    assert "5 traffic file(s) of the configured cities x apps x period x directions are missing" in output
    assert "Nice_Web_Adult_20190402_DL.txt" in output and "Nice_Tor_20190401_DL.txt" not in output
    assert "Traceback" not in output


def test_results_dir_that_holds_an_input_is_refused(tmp_path):
    data = tmp_path / "out" / "netmob"
    data.mkdir(parents=True)
    write_config(tmp_path, {"netmob_dir": str(data), "tile_map": "map.csv", "crime_csv": "crime.csv", "results_dir": "out"})
    result = snakemake(tmp_path, "--dry-run", check=False)
    assert result.returncode != 0
    assert (
        f"config key 'results_dir': 'out' and config key 'netmob_dir' ({data}) overlap; outputs must never be "
        "written where inputs live" in result.stderr
    ), result.stderr[-2000:]


def test_results_dir_under_an_input_is_refused(tmp_path):
    write_config(tmp_path, {"netmob_dir": str(tmp_path), "tile_map": "map.csv", "crime_csv": "crime.csv",
                            "results_dir": str(tmp_path / "results")})
    result = snakemake(tmp_path, "--dry-run", check=False)
    assert result.returncode != 0
    assert "config key 'netmob_dir'" in result.stderr and "overlap" in result.stderr


def test_named_inputs_switch_the_generator_off(tmp_path):
    """A config that names its inputs but inherits synthetic.enabled: true from the
    default config plans no synthetic_data job, whatever it leaves out."""
    data = tmp_path / "netmob"
    write_config(tmp_path, {"netmob_dir": str(data), "tile_map": "map.csv", "crime_csv": "crime.csv",
                            "cities": ["Nice"], "period": {"start": "2019-04-01", "end": "2019-04-01"}})
    result = snakemake(tmp_path, "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert "synthetic.enabled is ignored: the configuration names its inputs (netmob_dir, tile_map, crime_csv)" in output
    assert "synthetic_data" not in output
    assert "3 traffic file(s)" in output  # it asks for the user's files instead
