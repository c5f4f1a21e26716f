"""The configuration at start-up (netmob_cpc.config): defaults from the schema, one line per
bad key, the run's mode, paths, sizes, duplicate keys and code fingerprints, in-process;
then the few things only a real start of Snakemake shows (the message is the last thing
printed, exit status 1, no traceback, nothing written, inputs untouched)."""

import hashlib
import inspect
import os
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from netmob_cpc import config as cfgmod
from netmob_cpc.config import ConfigError
from workflow_runner import DEFAULT_CONFIG, REPO, SCHEMA, TINY, merge, snakemake, write_config

EMBEDDED = yaml.safe_load(DEFAULT_CONFIG.read_text())


def start(overrides=None, config_files=()):
    """start_up on config/config.yaml with `overrides`, as a user's file written like it."""
    return cfgmod.start_up(merge(EMBEDDED, overrides or {}), DEFAULT_CONFIG, SCHEMA, config_files)


def refusal(overrides):
    with pytest.raises(ConfigError) as refused:
        start(overrides)
    return str(refused.value)


# --- defaults and messages ------------------------------------------------------------------
def test_defaults_come_from_the_schema_through_snakemake_validate():
    defaults = cfgmod.schema_defaults(SCHEMA)
    schema = yaml.safe_load(SCHEMA.read_text())
    assert set(defaults) == set(schema["properties"])
    assert defaults["netmob_dir"] == "" and defaults["results_dir"] == "results"
    assert defaults["qc"]["max_negative_values"] == 0 and defaults["qc"]["min_tile_rows_share"] == 0.9
    assert defaults["bootstrap"] == {"resamples": 2000, "seed": 20240601}
    assert defaults["apps"] == {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}
    # a nested object the user names in part keeps its other defaults
    partial = cfgmod.validated({"qc": {"max_negative_values": 3}}, SCHEMA)
    assert partial["qc"]["max_negative_values"] == 3 and partial["qc"]["max_missing_share"] == 0.01


def test_every_key_carries_its_own_default():
    """Snakemake's validate takes a default from the key's own node only, not through $ref."""
    schema = yaml.safe_load(SCHEMA.read_text())

    def missing(node, prefix):
        for key, sub in node.get("properties", {}).items():
            if "default" not in sub:
                yield prefix + key
            yield from missing(sub, f"{prefix}{key}.")

    assert list(missing(schema, "")) == []


CASES = [
    ({"bogus_key": 1}, "config key '(top level)': Additional properties are not allowed ('bogus_key' was unexpected); see config/README.md for the keys"),
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
    ({"results_dir": "~"}, "config key 'results_dir': '~' is "),
    ({"synthetic": {"enabled": False}}, "no inputs configured: set netmob_dir, crime_csv and tile_map"),
    ({"synthetic": {"enabled": False}, "netmob_dir": "data"}, "config key 'crime_csv' is empty"),
    ({"bootstrap": {"resamples": 1000000000}}, "config key 'bootstrap.resamples': 1000000000 is greater than the maximum of 100000"),
    ({"simulation": {"replicates": 0}}, "config key 'simulation.replicates': 0 is less than the minimum of 1"),
]


@pytest.mark.parametrize("overrides, message", CASES, ids=[next(iter(c[0])) + str(i) for i, c in enumerate(CASES)])
def test_bad_config_is_refused_with_the_key_named(tmp_path, monkeypatch, overrides, message):
    monkeypatch.chdir(tmp_path)
    refused = refusal(overrides)
    assert message in refused
    assert "\n" not in refused  # one line: each case has one problem
    assert list(tmp_path.iterdir()) == []


def test_several_problems_are_one_line_each_sorted():
    refused = refusal({"top_n": 0, "negative_factor_floor": -1})
    assert refused.split("\n  ") == [
        "config key 'negative_factor_floor': -1 is less than the minimum of 0",
        "config key 'top_n': 0 is less than the minimum of 1",
    ]


def test_command_line_strings_are_coerced_as_the_schema_wants():
    """What Snakemake's --config parser hands over (its own parse_config), then validated."""
    from snakemake.cli import parse_config

    given = parse_config(["qc={max_negative_values: 5, max_missing_share: 0.5}", "crime_years=[2017, 2018, 2019]",
                          "crime_year=2019", "synthetic={enabled: true, grid_scale: .5}",
                          "tor_share_bounds=[0.02, 1/3]"])
    assert given["qc"] == {"max_negative_values": "5", "max_missing_share": "0.5"}  # why coercion is needed
    checked = start(given).config
    assert checked["qc"]["max_negative_values"] == 5 and checked["qc"]["max_missing_share"] == 0.5
    assert checked["crime_years"] == [2017, 2018, 2019] and checked["crime_year"] == 2019
    assert checked["synthetic"]["enabled"] is True and checked["synthetic"]["grid_scale"] == 0.5
    assert checked["tor_share_bounds"] == [0.02, "1/3"]  # a share stays a fraction string
    # a wrong nested value is still named by its dotted key
    assert "config key 'qc.max_negative_values': -5 is less than the minimum of 0" in refusal(
        parse_config(["qc={max_negative_values: -5}"]))


def test_coerce_follows_refs_and_leaves_other_strings():
    schema = {"definitions": {"count": {"type": "integer"}},
              "properties": {"n": {"$ref": "#/definitions/count"}, "flag": {"type": "boolean"},
                             "x": {"oneOf": [{"const": "auto"}, {"type": "number"}]},
                             "name": {"type": "string"}}}
    given = {"n": " 12 ", "flag": "False", "x": "1e-3", "name": "007"}
    assert cfgmod.coerce(given, schema, schema) == {"n": 12, "flag": False, "x": 0.001, "name": "007"}
    assert cfgmod.coerce({"x": "auto", "n": "1.5"}, schema, schema) == {"x": "auto", "n": "1.5"}


def test_yaml_dates_become_iso_strings():
    checked = start({"period": {"start": __import__("datetime").date(2019, 4, 1), "end": "2019-04-02"}}).config
    assert checked["period"] == {"start": "2019-04-01", "end": "2019-04-02"}


# --- the embedded default and the run's mode -----------------------------------------------------
def test_embedded_default_applies_only_without_input_paths():
    embedded = {"synthetic": {"enabled": True, "seed": 1}, "cities": ["Nice"]}
    assert cfgmod.with_embedded_default({"synthetic": {"seed": 2}}, embedded) == {
        "synthetic": {"enabled": True, "seed": 2}, "cities": ["Nice"]}
    user = {"netmob_dir": "data", "cities": ["Lyon"]}
    assert cfgmod.with_embedded_default(user, embedded) == user


def test_run_mode_inputs_and_required_keys():
    setup = start({"netmob_dir": "data", "tile_map": "map.csv", "crime_csv": "crime.csv"})
    assert setup.mode == "traffic"
    assert setup.note.startswith("synthetic.enabled is ignored: the configuration names its inputs (netmob_dir, tile_map, crime_csv)")
    assert cfgmod.effective_inputs(setup.config, "traffic", "out")["crime_csv"] == "crime.csv"
    synthetic = start()
    assert synthetic.mode == "synthetic" and synthetic.note == ""
    assert cfgmod.effective_inputs(synthetic.config, "synthetic", "out")["tile_grid"] == "out/synthetic/grids/{city}.geojson"
    assert start({"estimates_table": "t.csv"}).mode == "table"
    assert "config key 'tile_grid': the pattern must contain {city}" in refusal(
        {"netmob_dir": "d", "crime_csv": "c", "tile_grid": "grid.geojson", "communes": "c.gpkg"})


def test_shares_and_period():
    setup = start({"period": {"start": "2019-04-01", "end": "2019-04-03"}, "csam_in_porn_share": "1/4"})
    assert setup.shares["csam_in_porn_share"] == 0.25
    assert [str(day) for day in setup.period] == ["2019-04-01", "2019-04-03"]
    assert cfgmod.parse_share("k", " 3 / 4 ") == 0.75
    assert cfgmod.two_digit_year(2019) == 19 and cfgmod.two_digit_year(19) == 19


def test_outage_dates_outside_the_period_are_a_warning():
    setup = start({"period": {"start": "2019-03-29", "end": "2019-04-02"}})
    assert setup.warnings == [
        "config key 'outage_dates': 2019-05-12 is outside the period 2019-03-29 .. 2019-04-02; it is ignored"]


# --- paths -----------------------------------------------------------------------------
def test_results_dir_that_is_a_file_or_lies_under_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("kept")
    assert refusal({"results_dir": "notes.txt"}) == (
        "config key 'results_dir': 'notes.txt' is a file, not a folder; choose a folder (it is created if absent)")
    assert refusal({"results_dir": "notes.txt/out"}) == (
        f"config key 'results_dir': 'notes.txt/out' lies under {tmp_path / 'notes.txt'}, which is a file, not a "
        "folder; choose a folder (it is created if absent)")
    assert (tmp_path / "notes.txt").read_text() == "kept"


def test_results_dir_that_cannot_be_written_is_refused(tmp_path, monkeypatch):
    """Root writes anywhere (CI runs as root): the permission answer is replaced."""
    monkeypatch.chdir(tmp_path)
    real_access = os.access
    monkeypatch.setattr(cfgmod.os, "access", lambda path, mode: path != str(tmp_path) and real_access(path, mode))
    assert refusal({"results_dir": "new/results"}) == (
        f"config key 'results_dir': 'new/results' cannot be written: {tmp_path} is not writable by this user; "
        "choose a folder you can write or fix its permissions")


def test_results_dir_overlapping_an_input_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "out" / "netmob"
    data.mkdir(parents=True)
    named = {"netmob_dir": str(data), "tile_map": "map.csv", "crime_csv": "crime.csv"}
    assert refusal({**named, "results_dir": "out"}) == (
        f"config key 'results_dir': 'out' and config key 'netmob_dir' ({data}) overlap; outputs must never be "
        "written where inputs live: choose another results_dir")
    assert "config key 'netmob_dir'" in refusal({**named, "results_dir": str(data / "results")})
    # a pattern counts by its fixed part
    assert cfgmod.input_paths({**dict.fromkeys(cfgmod.INPUT_KEYS + ("covariates",), ""),
                               "tile_grid": str(tmp_path / "grids/{city}.geojson")}) == [
        ("tile_grid", str(tmp_path / "grids"))]


def test_results_dir_next_to_an_input_with_a_longer_name_is_accepted(tmp_path, monkeypatch):
    """'crime.csv x' is not under 'crime.csv': a folder of its own."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "crime.csv").write_text("x")
    setup = start({"netmob_dir": "d", "tile_map": "m.csv", "crime_csv": str(tmp_path / "crime.csv"),
                   "results_dir": str(tmp_path / "crime.csv x")})
    assert setup.results == str(tmp_path / "crime.csv x")


def test_home_is_expanded_in_every_path_key(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    setup = start({"netmob_dir": "~/netmob", "tile_map": "~/map.csv", "crime_csv": "~/crime.csv",
                   "results_dir": "~/runs/é x"})
    assert setup.config["netmob_dir"] == f"{tmp_path}/netmob" and setup.results == f"{tmp_path}/runs/é x"


def test_outputs_under_an_input_are_refused(tmp_path):
    rules = [SimpleNamespace(name="ingest", output=[str(tmp_path / "data/ingest/{city}.npz")])]
    with pytest.raises(ConfigError, match=r"rule ingest would write .* lies under the input of config key 'netmob_dir'"):
        cfgmod.check_outputs_clear_of_inputs(rules, [("netmob_dir", str(tmp_path / "data"))])
    cfgmod.check_outputs_clear_of_inputs(rules, [("netmob_dir", str(tmp_path / "other"))])


# --- sizes --------------------------------------------------------------------------------
MB = 2**20


def test_a_size_the_job_cannot_hold_names_the_key_and_the_largest_value():
    config = cfgmod.schema_defaults(SCHEMA)
    config["bootstrap"]["resamples"] = 50000
    memory = {"bootstrap_intervals": 1000 * MB, "simulation": 1500 * MB}.get
    with pytest.raises(ConfigError) as refused:
        cfgmod.check_sizes(config, lambda rule: memory(rule, 1000 * MB))
    # 200 MB for the process + 50,000 resamples x 2,000 communes x 8 bytes x 4 arrays;
    # 1,000 MB hold 13,107
    largest = (1000 - 200) * MB // (2000 * 8 * 4)
    assert largest == 13107
    assert str(refused.value) == (
        "config key 'bootstrap.resamples': 50000 needs about 3,252 MB in rule bootstrap_intervals, which has "
        "1,000 MB; the largest value that fits is 13107 (or give the job more memory: "
        "--set-resources bootstrap_intervals:mem_mb=...)")
    config["bootstrap"]["resamples"] = largest
    cfgmod.check_sizes(config, lambda rule: memory(rule, 1000 * MB))
    config["bootstrap"]["resamples"] = largest + 1
    with pytest.raises(ConfigError, match="the largest value that fits is 13107 "):
        cfgmod.check_sizes(config, lambda rule: memory(rule, 1000 * MB))


def test_registering_a_size_key_is_one_entry():
    config = {"falsification": {"permutations": 10}}
    limits = {"falsification.permutations": (lambda c: c["falsification"]["permutations"] * 100, "falsification")}
    cfgmod.check_sizes(config, lambda rule: 1000, limits)
    config["falsification"]["permutations"] = 11
    with pytest.raises(ConfigError, match="config key 'falsification.permutations': 11 .* the largest value that fits is 10 "):
        cfgmod.check_sizes(config, lambda rule: 1000, limits)
    cfgmod.check_sizes({}, lambda rule: 1, limits)  # a stage this configuration does not have


# --- duplicate keys --------------------------------------------------------------------------
def test_a_key_given_twice_in_a_config_file_is_a_warning(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("top_n: 5\ncities: [Nice]\nqc:\n  max_negative_values: 1\n  max_negative_values: 2\ntop_n: 7\n")
    assert cfgmod.duplicate_keys(path) == [("max_negative_values", 5, 4), ("top_n", 6, 1)]
    assert cfgmod.duplicate_warnings([str(path)]) == [
        f"config file {path}, line 5: key 'max_negative_values' is given twice (also line 4); the last value is used: remove one",
        f"config file {path}, line 6: key 'top_n' is given twice (also line 1); the last value is used: remove one",
    ]
    assert cfgmod.duplicate_keys(DEFAULT_CONFIG) == []
    setup = start({}, config_files=[path])
    assert any("key 'top_n' is given twice" in warning for warning in setup.warnings)


# --- code fingerprints -----------------------------------------------------------------------
def package(tmp_path, modules, script):
    folder = tmp_path / "netmob_cpc"
    folder.mkdir()
    for name, source in modules.items():
        (folder / f"{name}.py").write_text(source)
    (tmp_path / "job.py").write_text(script)
    return tmp_path


def expected_fingerprint(scripts, names):
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode() + b"\0" + (scripts / "netmob_cpc" / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


def test_fingerprint_follows_relative_imports(tmp_path):
    scripts = package(tmp_path, {
        "__init__": "",
        "top": "from . import middle\nfrom . import LIMIT\n",
        "middle": "from .low import f\n",
        "low": "def f():\n    import netmob_cpc.leaf\n",
        "leaf": "X = 1\n",
        "unused": "Y = 2\n",
    }, "from netmob_cpc import top\n")
    assert cfgmod.package_imports("from . import middle\nfrom .low import f\nfrom .. import far\n") == {"middle", "low"}
    first = cfgmod.code_fingerprint("job.py", scripts)
    assert first == expected_fingerprint(scripts, {"__init__", "top", "middle", "low", "leaf"})
    (scripts / "netmob_cpc" / "unused.py").write_text("Y = 3\n")
    cfgmod._module_imports.cache_clear()
    assert cfgmod.code_fingerprint("job.py", scripts) == first
    (scripts / "netmob_cpc" / "leaf.py").write_text("X = 2\n")
    cfgmod._module_imports.cache_clear()
    assert cfgmod.code_fingerprint("job.py", scripts) != first


@pytest.mark.parametrize("source, expected", [
    ("from netmob_cpc import (\n    rates,\n    codes,  # a comment\n)\n", {"rates", "codes"}),
    ("def f():\n    if True:\n        from .series import g\n", {"series"}),
    ("x = 1; import netmob_cpc.crime\n", {"crime"}),
    ("from netmob_cpc import rates, \\\n    codes\n", {"rates", "codes"}),
    ('"""Nothing to import here."""\nfrom . import qc\n', {"qc"}),
    ('"""Read as code:\nfrom netmob_cpc import ranking\n"""\n', {"ranking"}),
    ("from netmob_cpc import (rates\n", SyntaxError),
])
def test_the_import_reader_finds_every_import_without_parsing_the_whole_module(source, expected):
    """Only the import statements are parsed, unless another `import` appears (then the whole
    source): a joined or continued import is still found, and a docstring line that reads as
    an import can only add a module (the last but one)."""
    if expected is SyntaxError:
        with pytest.raises(SyntaxError):
            cfgmod.package_imports(source)
    else:
        assert cfgmod.package_imports(source) == expected


def test_the_import_reader_equals_a_whole_module_parse_on_every_script_and_module():
    from test_layers import package_imports

    for path in sorted([*(REPO / "scripts").glob("*.py"), *(REPO / "scripts" / "netmob_cpc").glob("*.py")]):
        source = path.read_text()
        assert cfgmod.package_imports(source) == package_imports(source), path.name


def test_fingerprints_of_the_workflow_scripts_cover_their_imports():
    """Against the layer test's own import reader (tests/test_layers.py), transitively."""
    from test_layers import package_imports

    scripts = REPO / "scripts"
    for script in ("estimate_table.py", "bootstrap_intervals.py", "synthetic_data.py"):
        pending, seen = list(package_imports((scripts / script).read_text())), {"__init__"}
        while pending:
            name = pending.pop()
            if name not in seen:
                seen.add(name)
                pending += package_imports((scripts / "netmob_cpc" / f"{name}.py").read_text())
        assert cfgmod.code_fingerprint(script, scripts) == expected_fingerprint(scripts, seen), script


# --- what the start of a run relies on in Snakemake ---------------------------------------------
def test_snakemake_scheduler_still_starts_the_rate_limiter_timer():
    """release_scheduler_timers (rules/common.smk) cancels the non-daemon threading.Timer
    that Snakemake 9's scheduler starts to re-evaluate the job rate limit; if an upgrade
    drops it, the function does nothing and can go."""
    from snakemake.scheduling.job_scheduler import JobScheduler

    source = inspect.getsource(JobScheduler._schedule_reevalutation)
    assert "threading.Timer(" in source and ".start()" in source
    assert "self._schedule_reevalutation(self.job_rate_limiter.timespan)" in inspect.getsource(JobScheduler)
    assert not threading.Timer(1, lambda: None).daemon


def test_failure_lines_are_read_from_the_given_logs_only(tmp_path):
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_text("reading\nError in rule crime_rates: crime.csv: no row of class 'Nope'\n")
    second.write_text("Error in rule tile_map: map.csv, line 3: bad\n")
    (tmp_path / "other.log").write_text("Error in rule ingest: another run\n")
    assert cfgmod.failure_lines([first, second, tmp_path / "absent.log"]) == [
        "Error in rule crime_rates: crime.csv: no row of class 'Nope'", "Error in rule tile_map: map.csv, line 3: bad"]


# --- a real start of Snakemake ---------------------------------------------------------------
def sha256s(*paths):
    return {str(path): hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in paths}


def assert_refused_at_start(result, message, workdir):
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    last = [line for line in output.splitlines() if line.strip()][-1]
    assert last == f"Configuration error: {message}", output[-3000:]
    assert not (Path(workdir) / "results").exists()


@pytest.mark.workflow
@pytest.mark.parametrize("overrides, message", [
    ({"crime_year": 16}, "config key 'crime_year': 16 is not one of crime_years [17, 18, 19, 20, 21] "
                         "(crime_year is chosen among those years)"),
    ({"bootstrap": {"resamples": 1000000000}},
     "config key 'bootstrap.resamples': 1000000000 is greater than the maximum of 100000"),
    ({"bootstrap": {"resamples": 50000}},
     "config key 'bootstrap.resamples': 50000 needs about 3,252 MB in rule bootstrap_intervals, which has 1,000 MB; "
     "the largest value that fits is 13107 (or give the job more memory: --set-resources bootstrap_intervals:mem_mb=...)"),
])
def test_refused_at_start_in_one_line(tmp_path, overrides, message):
    write_config(tmp_path, overrides)
    assert_refused_at_start(snakemake(tmp_path, "--dry-run", check=False), message, tmp_path)


@pytest.mark.workflow
def test_results_dir_that_is_a_file_is_refused_at_start(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("a user's file\n")
    before = sha256s(notes)
    write_config(tmp_path, {"results_dir": str(notes)})
    result = snakemake(tmp_path, "--dry-run", check=False)
    assert_refused_at_start(
        result, f"config key 'results_dir': '{notes}' is a file, not a folder; choose a folder (it is created if absent)",
        tmp_path)
    assert sha256s(notes) == before


@pytest.mark.workflow
def test_duplicate_keys_and_outage_dates_are_warnings_and_the_run_goes_on(tmp_path):
    path = write_config(tmp_path, TINY)
    path.write_text(path.read_text() + "days_per_job: 5\n")  # days_per_job is already in the file
    result = snakemake(tmp_path, "--dry-run")
    output = result.stdout + result.stderr
    assert f"Warning: config file {path}, line" in output and "key 'days_per_job' is given twice" in output
    assert ("Warning: config key 'outage_dates': 2019-05-12 is outside the period 2019-03-29 .. 2019-04-02; "
            "it is ignored") in output
    assert "Job stats:" in output  # the run goes on


@pytest.mark.workflow
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


@pytest.mark.workflow
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


@pytest.mark.workflow
def test_results_dir_named_after_an_input_file_leaves_it_unchanged(tmp_path):
    """results_dir '<input file> x': the compiler command, unquoted, once took the path for
    two words and wrote its note over the input. Now the input is byte-identical and the
    library lands in the folder with the space."""
    covariates = tmp_path / "covariates.csv"
    covariates.write_text("code_com,density\n")
    before = sha256s(covariates)
    results = f"{covariates} x"
    write_config(tmp_path, {**TINY, "covariates": str(covariates), "results_dir": results})
    snakemake(tmp_path, "--until", "parser_library")
    assert sha256s(covariates) == before
    assert (Path(results) / ".build" / "libnetmob_parse.so").is_file()


def test_every_size_key_is_registered_and_its_schema_maximum_fits_the_default_memory():
    """The size-like keys of the schema each have an estimate; at the rule's declared mem_mb
    the schema's default fits, and the estimate grows with the value."""
    config = cfgmod.schema_defaults(SCHEMA)
    assert {"bootstrap.resamples", "simulation.replicates", "falsification.permutations",
            "falsification.replicates", "inference.wild_bootstrap_draws"} <= set(cfgmod.SIZE_LIMITS)
    for key, (estimate, rule) in cfgmod.SIZE_LIMITS.items():
        value = cfgmod._value(config, key)
        assert estimate(config) <= 1000 * MB, key  # every such rule declares at least 1,000 MB
        assert estimate(cfgmod._with_value(config, key, value * 10)) > estimate(config), key
