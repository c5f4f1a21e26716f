"""Hand-edited configs: anything the schema or the cross-key checks reject stops the run
before any job, with the key named."""

import pytest

from workflow_runner import snakemake, write_config

CASES = [
    ({"bogus_key": 1}, "'bogus_key' was unexpected"),
    ({"cities": ["Paris", "Atlantis"]}, "config key 'cities.1': 'Atlantis' is not one of the allowed values"),
    ({"apps": {"porn": "../etc", "tor": "Tor", "control": "YouTube"}}, "config key 'apps.porn'"),
    ({"directions": ["DL", "XX"]}, "config key 'directions.1'"),
    ({"period": {"start": "2019-04-10", "end": "2019-04-01"}}, "config key 'period': end 2019-04-01 is before start 2019-04-10"),
    ({"period": {"start": "2019-03-01", "end": "2019-04-01"}}, "outside the NetMob23 data"),
    ({"tor_to_darknet_share": 1.5}, "config key 'tor_to_darknet_share': 1.5 is not a number in (0, 1]"),
    ({"tor_to_darknet_share": 0}, "config key 'tor_to_darknet_share'"),
    ({"csam_in_porn_share": "105/0"}, "config key 'csam_in_porn_share': '105/0' is not a number or a fraction"),
    ({"csam_in_porn_share": "300/253"}, "config key 'csam_in_porn_share': 1.18"),
    ({"negative_factor_floor": -1}, "config key 'negative_factor_floor': -1 is less than the minimum of 0"),
    ({"correction_method": "pearson"}, "config key 'correction_method'"),
    ({"crime_year": 16}, "config key 'crime_year': 16 is not one of crime_years"),
    ({"apps": {"porn": "Tor", "tor": "Tor", "control": "YouTube"}}, "config key 'apps': the three roles need three different apps"),
]


@pytest.mark.parametrize("overrides, message", CASES, ids=[next(iter(c[0])) + str(i) for i, c in enumerate(CASES)])
def test_bad_config_is_rejected_with_the_key_named(tmp_path, overrides, message):
    write_config(tmp_path, overrides)
    result = snakemake(tmp_path, "--dry-run", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert message in output, output[-3000:]
    assert not (tmp_path / "results").exists()


def test_missing_traffic_files_are_listed_at_once(tmp_path):
    data = tmp_path / "netmob"
    present = data / "Nice" / "Tor" / "20190401" / "Nice_Tor_20190401_DL.txt"
    present.parent.mkdir(parents=True)
    present.write_text("0 " + " ".join(["0"] * 96) + "\n")
    write_config(
        tmp_path,
        {
            "netmob_dir": str(data), "cities": ["Nice"], "synthetic": {"enabled": False},
            "period": {"start": "2019-04-01", "end": "2019-04-02"},
        },
    )
    result = snakemake(tmp_path, "--dry-run", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    # 3 apps x 2 days, one present
    assert "5 traffic file(s) of the configured cities x apps x period x directions are missing" in output
    assert "Nice_Web_Adult_20190402_DL.txt" in output and "Nice_Tor_20190401_DL.txt" not in output
