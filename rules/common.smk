# Configuration, the run's mode, safety checks and the input functions shared by all
# stages. Everything here runs when Snakemake reads the workflow (in a cluster job too):
# it stays cheap, reads no data file and globs nothing. Paths to the workflow's own files
# are relative to this file, so that the workflow also runs as a Snakemake module.

import datetime
import os
import re
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import min_version

min_version("9.0")


class ConfigError(ValueError):
    """A configuration value the workflow cannot use; the message names the key."""


def stop(message):
    """End the run at start-up with one message and no traceback: the user needs the key
    and what to do, not the lines of this file."""
    import sys

    print(f"\nConfiguration error: {message}", file=sys.stderr)
    raise SystemExit(1)


# --- code fingerprints ------------------------------------------------------------------
# Snakemake reruns a job when its own script changes, but it does not see the modules of
# scripts/netmob_cpc/ that the script imports. Each rule therefore carries, as a tracked
# param, a hash of the *contents* of those modules (found by reading the imports, also
# transitively): an edit of a module reruns exactly the jobs whose scripts use it, and
# nothing machine-specific (paths, interpreter) enters the hash.
PACKAGE = "netmob_cpc"
_IMPORTS = {}


def workflow_file(relative):
    """A file of the workflow (its scripts, its schema) by its path in the repository.
    Through Snakemake's source cache this also works when the workflow runs as a module
    from another folder or a remote repository (snakedeploy)."""
    return Path(str(workflow.source_path(f"../{relative}")))


def _package_imports(relative):
    """Package modules imported by one Python file of scripts/ (names such as 'estimates')."""
    import ast

    if relative not in _IMPORTS:
        path = workflow_file(f"scripts/{relative}")
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[0] == PACKAGE:
                    if len(parts) > 1:
                        found.add(parts[1])
                    else:
                        found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] == PACKAGE and len(parts) > 1:
                        found.add(parts[1])
        _IMPORTS[relative] = found
    return _IMPORTS[relative]


def code_fingerprint(script):
    """Content hash of the package modules that scripts/<script> imports, transitively."""
    import hashlib

    pending, seen = list(_package_imports(script)), set()
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_package_imports(f"{PACKAGE}/{name}.py"))
    digest = hashlib.sha256()
    for name in sorted(seen | {"__init__"}):
        source = workflow_file(f"scripts/{PACKAGE}/{name}.py").read_bytes()
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(source)
    return digest.hexdigest()[:16]


# --- configuration: defaults and validation, once ---------------------------------------
# config/schema.yaml holds every key's default and meaning; `validated_config` fills the
# defaults in and reports every problem in one short line per key. (Snakemake's own
# `validate` does the same with longer messages; using both would validate twice.)


def _iso_dates(cfg):
    """YAML turns an unquoted 2019-03-16 into a date: keep ISO strings everywhere."""
    period = cfg.get("period")
    if isinstance(period, dict):
        for key in ("start", "end"):
            if isinstance(period.get(key), datetime.date):
                period[key] = period[key].isoformat()
    elif isinstance(period, datetime.date):
        cfg["period"] = period.isoformat()  # reported by the schema check, with the fix
    if isinstance(cfg.get("outage_dates"), list):
        cfg["outage_dates"] = [
            d.isoformat() if isinstance(d, datetime.date) else d
            for d in cfg["outage_dates"]
        ]


def _resolve(schema, node):
    """A schema node with a local $ref ("#/definitions/x") merged in."""
    ref = node.get("$ref")
    if not ref:
        return node
    target = schema
    for part in ref.lstrip("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _coerce(value, node, schema):
    """`--config qc={max_negative_values: 5}` hands nested values over as strings: turn
    the strings the schema wants as numbers or booleans into numbers or booleans."""
    node = _resolve(schema, node)
    if isinstance(value, dict) and "properties" in node:
        return {
            key: _coerce(item, node["properties"].get(key, {}), schema)
            for key, item in value.items()
        }
    if isinstance(value, list) and "items" in node:
        return [_coerce(item, node["items"], schema) for item in value]
    if isinstance(value, str):
        kinds = {node.get("type")} | {
            _resolve(schema, option).get("type") for option in node.get("oneOf", [])
        }
        text = value.strip()
        if "integer" in kinds and re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        if "number" in kinds and re.fullmatch(
            r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text
        ):
            return float(text)
        if "boolean" in kinds and text.lower() in ("true", "false"):
            return text.lower() == "true"
    return value


def _fill_defaults(value, node, schema):
    """Insert the schema's defaults for absent keys, recursively."""
    import copy

    node = _resolve(schema, node)
    if not isinstance(value, dict):
        return
    for key, sub in node.get("properties", {}).items():
        sub = _resolve(schema, sub)
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            _fill_defaults(value[key], sub, schema)


# How to fix a value of the wrong shape, for the keys users get wrong most.
SHAPE_HINTS = {
    "period": "write it as period: {start: 2019-03-16, end: 2019-05-31}",
    "apps": "write it as apps: {porn: Web_Adult, tor: Tor, control: YouTube}",
    "cities": "write it as a list, e.g. cities: [Nice, Lyon]",
    "directions": "write it as a list, e.g. directions: [DL]",
}


def validated_config(cfg, schema_path):
    """The configuration with defaults filled in; ConfigError naming every bad key."""
    import jsonschema
    import yaml

    # the C loader when PyYAML has it (0.005 s against 0.08 s for the schema)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    schema = yaml.load(Path(schema_path).read_text(), Loader=loader)
    _iso_dates(cfg)
    cfg.update(_coerce(dict(cfg), schema, schema))
    _fill_defaults(cfg, schema, schema)
    problems = []
    for error in jsonschema.Draft202012Validator(schema).iter_errors(cfg):
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        message = error.message
        described = _resolve(schema, error.schema).get("description")
        if error.validator in ("oneOf", "anyOf") or (
            error.validator == "enum" and len(error.validator_value) > 6
        ):
            message = f"{error.instance!r} is not {described or 'an allowed value'}"
            if error.validator == "enum":
                close = [
                    v
                    for v in error.validator_value
                    if str(v).lower() == str(error.instance).lower()
                ]
                message += (
                    f" (did you mean {close[0]!r}?)"
                    if close
                    else f"; allowed: {', '.join(map(str, error.validator_value))}"
                )
        elif error.validator == "additionalProperties":
            message = f"{message}; see config/README.md for the keys"
        if key.split(".")[0] in SHAPE_HINTS and error.validator == "type":
            message += f"; {SHAPE_HINTS[key.split('.')[0]]}"
        problems.append(f"config key '{key}': {message}")
    if problems:
        raise ConfigError("\n  ".join(sorted(set(problems))))
    return cfg


def parse_share(key, value):
    """A share is a number in (0, 1] or a fraction such as "105/253"."""
    if isinstance(value, str):
        numerator, _, denominator = value.partition("/")
        try:
            value = float(numerator) / float(denominator)
        except (ValueError, ZeroDivisionError):
            raise ConfigError(
                f"config key '{key}': {value!r} is not a number or a fraction a/b"
            )
    if not 0 < value <= 1:
        raise ConfigError(f"config key '{key}': {value} is outside (0, 1]")
    return float(value)


def two_digit_year(year):
    """Crime years as the 2023 file writes them (19 for 2019); 2019 and 19 are both accepted."""
    return year - 2000 if year >= 2000 else year


# NetMob23 covers 2019-03-16 .. 2019-05-31 (77 days).
NETMOB_FIRST_DAY = datetime.date(2019, 3, 16)
NETMOB_LAST_DAY = datetime.date(2019, 5, 31)
# Ingest batches are anchored on a fixed Monday, so that a batch never changes when the
# period is extended: with days_per_job = 7 a batch is one calendar week.
BATCH_EPOCH = datetime.date(2019, 3, 11)


def checked_period(cfg):
    """The period as dates; ConfigError naming the key when it is not usable."""
    try:
        start = datetime.date.fromisoformat(cfg["period"]["start"])
        end = datetime.date.fromisoformat(cfg["period"]["end"])
    except ValueError as err:
        raise ConfigError(f"config key 'period': {err}; write dates as YYYY-MM-DD")
    if end < start:
        raise ConfigError(f"config key 'period': end {end} is before start {start}")
    if start < NETMOB_FIRST_DAY or end > NETMOB_LAST_DAY:
        raise ConfigError(
            f"config key 'period': {start} .. {end} is outside the NetMob23 data "
            f"({NETMOB_FIRST_DAY} .. {NETMOB_LAST_DAY})"
        )
    for day in cfg["outage_dates"]:
        try:
            datetime.date.fromisoformat(day)
        except ValueError as err:
            raise ConfigError(f"config key 'outage_dates': {day}: {err}")
    return start, end


def check_keys(cfg):
    """Cross-key checks the schema cannot express; each names its key."""
    years = [two_digit_year(y) for y in cfg["crime_years"]]
    if two_digit_year(cfg["crime_year"]) not in years:
        raise ConfigError(
            f"config key 'crime_year': {cfg['crime_year']} is not one of crime_years "
            f"{cfg['crime_years']} (crime_year is chosen among those years)"
        )
    if len(set(years)) != len(years):
        raise ConfigError(
            f"config key 'crime_years': {cfg['crime_years']} names a year twice"
        )
    if len(set(cfg["apps"].values())) != 3:
        raise ConfigError(
            f"config key 'apps': the three roles need three different apps, got {cfg['apps']}"
        )


# --- the run's mode: synthetic data, traffic files, or a published estimate table --------
# The generator writes only into {results_dir}/synthetic/, and only when synthetic.enabled
# is true and the configuration names none of its own inputs: a configuration that sets an
# input path (however it leaves other keys to the defaults) can never start it.
INPUT_KEYS = (
    "netmob_dir",
    "tile_map",
    "tile_grid",
    "communes",
    "crime_csv",
    "estimates_table",
)


def run_mode(cfg):
    """'synthetic', 'table' or 'traffic', and a note for the log when a key is ignored."""
    named = [key for key in INPUT_KEYS if cfg[key]]
    if cfg["estimates_table"]:
        return "table", ""
    if named:
        note = ""
        if cfg["synthetic"]["enabled"]:
            note = (
                f"synthetic.enabled is ignored: the configuration names its inputs "
                f"({', '.join(named)}), so no synthetic data are generated"
            )
        return "traffic", note
    if cfg["synthetic"]["enabled"]:
        return "synthetic", ""
    raise ConfigError(
        "no inputs configured: set netmob_dir, crime_csv and tile_map (or tile_grid and "
        "communes) for real data, estimates_table for a published table, or "
        "synthetic: {enabled: true} for the synthetic data set"
    )


def effective_inputs(cfg, mode, results):
    """The input paths the rules read: the configured ones, or the generator's folder."""
    if mode != "synthetic":
        return {key: cfg[key] for key in INPUT_KEYS + ("covariates",)}
    folder = f"{results}/synthetic"
    return {
        "netmob_dir": f"{folder}/netmob",
        "tile_map": "",
        "tile_grid": f"{folder}/grids/{{city}}.geojson",
        "communes": f"{folder}/communes.gpkg",
        "crime_csv": f"{folder}/crime.csv",
        "estimates_table": "",
        "covariates": cfg["covariates"],
    }


def check_required_inputs(cfg, mode):
    """Each input the mode needs is set; ConfigError naming the key otherwise."""
    if mode != "traffic":
        return
    need = ["netmob_dir", "crime_csv"]
    if not cfg["tile_map"]:
        need += ["tile_grid", "communes"]
    missing = [key for key in need if not cfg[key]]
    if missing:
        raise ConfigError(
            f"config key '{missing[0]}' is empty; with traffic files the workflow needs "
            f"{', '.join(need)} (or tile_map instead of tile_grid + communes)"
        )
    if not cfg["tile_map"] and "{city}" not in cfg["tile_grid"]:
        raise ConfigError(
            "config key 'tile_grid': the pattern must contain {city} (or set tile_map)"
        )


def _real(path):
    return os.path.realpath(os.path.expanduser(path))


def _inside(path, folder):
    """True when `path` is `folder` or lies under it (both already real paths)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def input_paths(cfg):
    """Configured input paths as (key, real path); a pattern counts by its fixed part."""
    paths = []
    for key in INPUT_KEYS + ("covariates",):
        value = cfg[key]
        if value:
            fixed = value.split("{")[0] if "{" in value else value
            paths.append((key, _real(fixed or ".")))
    return paths


def check_results_dir(results, inputs):
    """results_dir may not be /, a home directory, an input or a folder holding one, nor
    lie under an input: Snakemake deletes a job's outputs before running it."""
    import pwd

    real = _real(results)
    homes = {_real("~")} | {
        _real(user.pw_dir)
        for user in pwd.getpwall()
        if user.pw_uid == 0 or user.pw_uid >= 1000
    }
    if real == os.sep or real in homes:
        raise ConfigError(
            f"config key 'results_dir': {results!r} is {real}, the root or a home directory; "
            "choose a folder of its own, e.g. results"
        )
    for key, path in inputs:
        if _inside(path, real) or _inside(real, path):
            raise ConfigError(
                f"config key 'results_dir': {results!r} and config key '{key}' ({path}) "
                "overlap; outputs must never be written where inputs live: choose another "
                "results_dir"
            )


def check_outputs_clear_of_inputs(rules, inputs):
    """No rule's output is, or lies under, a configured input path."""
    for each in rules:
        for output in each.output:
            fixed = _real(str(output).split("{")[0] or ".")
            for key, path in inputs:
                if _inside(fixed, path) or (
                    str(output).find("{") < 0 and fixed == path
                ):
                    raise ConfigError(
                        f"rule {each.name} would write {output}, which lies under the input "
                        f"of config key '{key}' ({path}); change results_dir or that key"
                    )


def with_embedded_default(cfg, embedded):
    """The embedded default (config/config.yaml: the synthetic data set) under the user's
    keys, but only when the user's configuration names none of its own inputs: the
    default's cities, period or synthetic switch never leak into a real-data run."""
    import copy

    if any(cfg.get(key) for key in INPUT_KEYS):
        return cfg

    def merged(base, overrides):
        result = copy.deepcopy(base)
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = merged(result[key], value)
            else:
                result[key] = value
        return result

    return merged(embedded, cfg)


try:
    import yaml

    _embedded = yaml.safe_load(workflow_file("config/config.yaml").read_text()) or {}
    _chosen = with_embedded_default(dict(config), _embedded)
    config.clear()
    config.update(_chosen)
    config = validated_config(config, workflow_file("config/schema.yaml"))
    PERIOD_START, PERIOD_END = checked_period(config)
    check_keys(config)
    MODE, MODE_NOTE = run_mode(config)
    check_required_inputs(config, MODE)
    RESULTS = os.path.normpath(config["results_dir"])
    check_results_dir(RESULTS, input_paths(config))
    SHARES = {
        key: parse_share(key, config[key])
        for key in (
            "tor_to_darknet_share",
            "porn_in_darknet_share",
            "csam_in_porn_share",
        )
    }
    TOR_SHARE_BOUNDS = [
        parse_share("tor_share_bounds", value) for value in config["tor_share_bounds"]
    ]
except ConfigError as err:
    stop(err)

if MODE_NOTE:
    logger.info(f"Note: {MODE_NOTE}.")

# --- constants of the run, computed here once -------------------------------------------
SYNTHETIC = MODE == "synthetic"
FROM_TABLE = MODE == "table"
INPUTS = effective_inputs(config, MODE, RESULTS)
CITIES = list(config["cities"])
APPS = dict(config["apps"])  # role -> NetMob app name
APP_NAMES = [APPS["porn"], APPS["tor"], APPS["control"]]
DIRECTIONS = list(config["directions"])
DAYS = [
    PERIOD_START + datetime.timedelta(days=i)
    for i in range((PERIOD_END - PERIOD_START).days + 1)
]
DAY_STAMPS = [day.strftime("%Y%m%d") for day in DAYS]
OUTAGE_STAMPS = [d.replace("-", "") for d in config["outage_dates"]]
CRIME_YEARS = [two_digit_year(y) for y in config["crime_years"]]
CRIME_YEAR = two_digit_year(config["crime_year"])
HEATMAPS = ["heatmap", "heatmap_10", "heatmap_rank1", "heatmap_rank2", "heatmap_rank3"]
SMOOTHED_HEATMAPS = [
    "heatmap_smoothed_10",
    "heatmap_smoothed_rank1",
    "heatmap_smoothed_rank2",
    "heatmap_smoothed_rank3",
]
# Choropleth maps need commune polygons: there are none with a given tile map or a table.
if FROM_TABLE:
    SKIPPED_MAPS = (
        "choropleth maps not drawn: a published estimate table has no commune polygons"
    )
elif INPUTS["tile_map"]:
    SKIPPED_MAPS = (
        "choropleth maps not drawn: a tile map is given (tile_map) instead of a communes "
        "layer, so there are no commune polygons"
    )
else:
    SKIPPED_MAPS = ""


def _alternatives(names):
    return "|".join(re.escape(name) for name in names)


wildcard_constraints:
    city=_alternatives(CITIES),
    app=_alternatives(APP_NAMES),
    direction="DL|UL",
    day=r"20\d{6}",
    batch=r"20\d{6}",


# --- input functions --------------------------------------------------------------------
def ingest_batches():
    """Days of the period cut into batches of `days_per_job` calendar days.

    Returns {label: [YYYYMMDD, ...]}; the label is the batch's first calendar day, so it
    is stable when the period grows."""
    size = config["days_per_job"]
    batches = {}
    for day in DAYS:
        key = (day - BATCH_EPOCH).days // size
        label = (BATCH_EPOCH + datetime.timedelta(days=key * size)).strftime("%Y%m%d")
        batches.setdefault(label, []).append(day.strftime("%Y%m%d"))
    return batches


INGEST_BATCHES = ingest_batches()


def traffic_file(city, app, stamp, direction):
    """Path of one NetMob23 traffic file."""
    root = INPUTS["netmob_dir"].rstrip("/")
    return f"{root}/{city}/{app}/{stamp}/{city}_{app}_{stamp}_{direction}.txt"


def missing_traffic_files():
    """Every expected traffic file that does not exist (checked once, before any job)."""
    return [
        path
        for city in CITIES
        for app in APP_NAMES
        for stamp in DAY_STAMPS
        for direction in DIRECTIONS
        if not os.path.exists(path := traffic_file(city, app, stamp, direction))
    ]


def ingest_batch_stamps(wildcards):
    """Days (YYYYMMDD) of the batch `wildcards.batch`."""
    try:
        return INGEST_BATCHES[wildcards.batch]
    except KeyError:
        raise ValueError(
            f"ingest batch {wildcards.batch} is not a batch of the period "
            f"(batches: {', '.join(INGEST_BATCHES)})"
        ) from None


def ingest_traffic_files(wildcards):
    """The traffic files of one ingest job, per role, in date order."""
    return {
        role: [
            traffic_file(wildcards.city, app, stamp, wildcards.direction)
            for stamp in ingest_batch_stamps(wildcards)
        ]
        for role, app in APPS.items()
    }


def ingested_batches(direction, city, app):
    """The ingest outputs of one city x app x direction, in date order."""
    return [
        f"{RESULTS}/ingest/{direction}/{city}/{app}/{batch}.npz"
        for batch in INGEST_BATCHES
    ]


def ingested_batches_of_all_cities(wildcards):
    """Every ingested batch of one direction: city (config order), then role (porn, tor,
    control), then batch (date order); netmob_cpc.series.split_batches reads that order.
    """
    return [
        path
        for city in CITIES
        for app in APPS.values()
        for path in ingested_batches(wildcards.direction, city, app)
    ]


def tile_map_inputs(wildcards):
    """A given tile map, or the city's grid and the communes layer to build it from."""
    if INPUTS["tile_map"]:
        return {"tile_map": INPUTS["tile_map"]}
    return {
        "grid": INPUTS["tile_grid"].format(city=wildcards.city),
        "communes": INPUTS["communes"],
    }


# --- what a complete run writes ---------------------------------------------------------
def direction_outputs(direction):
    """Tables and figures of one direction, as README "Outputs" lists them."""
    out = f"{RESULTS}/{direction}"
    tables = [
        "cpc_com.csv",
        "spearman.csv",
        "dependent_corr.csv",
        "summary.json",
        "association_adjusted.csv",
        "regression.csv",
        "count_models.csv",
        "sensitivity.csv",
        "spearman_ci.csv",
        "difference_ci.csv",
        "ranking.csv",
        "falsification.csv",
        "negative_controls.csv",
    ]
    figures = ["scatter_cpc_sv.png", "correction_factors.png", "falsification.png"]
    if not FROM_TABLE:
        tables += ["correction_methods.csv", "qc.csv", "correction_methods_ci.csv"]
        tables += [f"{name}.csv" for name in HEATMAPS + SMOOTHED_HEATMAPS]
        figures += [f"{name}.png" for name in HEATMAPS]
    if not SKIPPED_MAPS:
        figures += [f"map_{city}.png" for city in CITIES]
        figures.append("maps_all_cities.png")
    return [f"{out}/{name}" for name in tables] + [
        f"{out}/figures/{name}" for name in figures
    ]


def final_targets():
    """Everything the default target writes. Called by `rule all`, i.e. after every rule
    file is read: the check that no output lands under an input runs here."""
    try:
        check_outputs_clear_of_inputs(workflow.rules, input_paths(config))
    except ConfigError as err:
        stop(err)
    return [path for direction in DIRECTIONS for path in direction_outputs(direction)]


# --- the parser: say at start-up when the C kernel cannot be built --------------------
def native_parser_missing(library, compiler):
    """Why the ingest would fall back to the vectorised parser, or '' when it will not."""
    import shutil

    if os.path.exists(library):
        with open(library, "rb") as handle:
            if not handle.read(64).startswith(b"netmob_parse: not built"):
                return ""
        return f"{library} is a note that the C kernel could not be built"
    if shutil.which(compiler.split()[0] if compiler.strip() else "cc") is None:
        return f"no C compiler ({compiler}) on PATH"
    return ""


if MODE != "table" and workflow.exec_mode.name == "DEFAULT":
    _why = native_parser_missing(
        f"{RESULTS}/.build/libnetmob_parse.so", os.environ.get("CC", "cc")
    )
    if _why:
        logger.warning(
            f"Warning: {_why}: the ingest will use the vectorised parser (same numbers, "
            "about ten times slower). Install a C compiler and rerun with "
            "--forcerun parser_library."
        )


# --- before any job: every traffic file exists (on the submitting side only) -------------
# A cluster job reads this file again; it need not stat 4,620 files once more.
if MODE != "table" and workflow.exec_mode.name == "DEFAULT" and not SYNTHETIC:
    _missing = missing_traffic_files()
    if _missing:
        _shown = "\n  ".join(_missing[:20])
        _more = f"\n  ... and {len(_missing) - 20} more" if len(_missing) > 20 else ""
        stop(
            f"{len(_missing)} traffic file(s) of the configured cities x apps x period x "
            f"directions are missing under netmob_dir={INPUTS['netmob_dir']!r}:\n  {_shown}{_more}\n"
            "Fix netmob_dir, or narrow 'cities', 'period' or 'directions'."
        )


# --- a failure's message comes last -----------------------------------------------------
# Each script writes one line (Error in rule R, then the file, line and what to do) for a bad input
# (scripts/netmob_cpc/files.py, run_rule). Snakemake's own report of the failed job follows
# it; the handler below repeats those lines at the very end, where a user looks.
RUN_STARTED = __import__("time").time()


FAILURE_PREFIX = "Error in " + "rule "  # as scripts/netmob_cpc/files.py writes it


def failure_messages(log_root, since):
    """The 'Error in rule' lines of the job logs written since `since`."""
    messages = []
    for path in sorted(Path(log_root).rglob("*.log")):
        try:
            if path.stat().st_mtime < since:
                continue
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith(FAILURE_PREFIX):
                    messages.append(line)
        except OSError:
            continue
    return messages


def release_scheduler_timers():
    """End Snakemake's pending scheduler timers, so that the process exits at once.

    After every scheduling round Snakemake 9's job scheduler starts a one-second
    threading.Timer (its job-rate limiter, --max-jobs-per-timespan, default 100/1s) that
    only wakes the scheduler. The timers are not daemon threads, so the interpreter waits
    for the last one before it exits: about a second added to every run (measured: 1.45 s
    from the last job's end to the exit, 0.5 s with this). Once the run has ended nothing
    waits for them; cancelling one only stops its wait. Without such timers (another
    Snakemake version) this does nothing."""
    import threading

    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()


def report_failures():
    """Repeat the jobs' one-line error messages after Snakemake's own failure report."""
    for message in failure_messages(f"{RESULTS}/logs", RUN_STARTED):
        logger.error(f"\n{message}")
