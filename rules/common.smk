# Configuration loading, validation and the input functions shared by all stages.
# Everything here runs at DAG-building time (also in every cluster job): keep it cheap,
# no reading of data files, no globbing.

import datetime
import os
import re
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


class ConfigError(ValueError):
    """A configuration value the workflow cannot use; the message names the key."""


def _normalise_dates(cfg):
    """YAML turns 2019-03-16 into a date: keep ISO strings everywhere."""
    for key in ("start", "end"):
        value = cfg.get("period", {}).get(key)
        if isinstance(value, datetime.date):
            cfg["period"][key] = value.isoformat()
    if "outage_dates" in cfg:
        cfg["outage_dates"] = [
            d.isoformat() if isinstance(d, datetime.date) else d
            for d in cfg["outage_dates"] or []
        ]


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


# NetMob23 covers 2019-03-16 .. 2019-05-31 (77 days).
NETMOB_FIRST_DAY = datetime.date(2019, 3, 16)
NETMOB_LAST_DAY = datetime.date(2019, 5, 31)
# Ingest batches are anchored on a fixed Monday, so that a batch never changes when the
# period is extended: with days_per_job = 7 a batch is one calendar week.
BATCH_EPOCH = datetime.date(2019, 3, 11)


def check_config(cfg):
    """Cross-key checks the JSON schema cannot express; each names its key."""
    try:
        start = datetime.date.fromisoformat(cfg["period"]["start"])
        end = datetime.date.fromisoformat(cfg["period"]["end"])
    except ValueError as err:
        raise ConfigError(f"config key 'period': {err}")
    if end < start:
        raise ConfigError(f"config key 'period': end {end} is before start {start}")
    if start < NETMOB_FIRST_DAY or end > NETMOB_LAST_DAY:
        raise ConfigError(
            f"config key 'period': {start} .. {end} is outside the NetMob23 data "
            f"({NETMOB_FIRST_DAY} .. {NETMOB_LAST_DAY})"
        )
    if cfg["crime_year"] not in cfg["crime_years"]:
        raise ConfigError(
            f"config key 'crime_year': {cfg['crime_year']} is not one of crime_years "
            f"{cfg['crime_years']} (the seed selects crime_year among those years)"
        )
    if len(set(cfg["apps"].values())) != 3:
        raise ConfigError(
            f"config key 'apps': the three roles need three different apps, got {cfg['apps']}"
        )
    if not cfg["tile_map"] and "{city}" not in cfg["tile_grid"]:
        raise ConfigError(
            "config key 'tile_grid': the pattern must contain {city} (or set tile_map)"
        )
    return start, end


def check_schema(cfg, schema_path):
    """Validate against the JSON schema with one short line per problem, key named."""
    import jsonschema
    import yaml

    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    problems = []
    for error in jsonschema.Draft202012Validator(schema).iter_errors(cfg):
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        message = error.message
        if error.validator == "oneOf":
            message = (
                f"{error.instance!r} is not {error.schema.get('description', 'valid')}"
            )
        elif error.validator == "enum" and len(error.validator_value) > 6:
            message = f"{error.instance!r} is not one of the allowed values: {', '.join(map(str, error.validator_value))}"
        problems.append(f"config key '{key}': {message}")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(sorted(problems)))



# --- code fingerprints ------------------------------------------------------------------
# Snakemake reruns a job when its own script changes, but it does not see the modules of
# scripts/netmob_cpc/ that the script imports. Each rule therefore carries, as a tracked
# param, a hash of the *contents* of those modules (found by reading the imports, also
# transitively): an edit of a module reruns exactly the jobs whose scripts use it, and
# nothing machine-specific (paths, interpreter) enters the hash.
PACKAGE = "netmob_cpc"
SCRIPTS_DIR = Path(workflow.current_basedir).parent / "scripts"
_IMPORTS = {}


def _package_imports(path):
    """Package modules imported by one Python file (names such as 'estimates')."""
    import ast

    if path not in _IMPORTS:
        found = set()
        for node in ast.walk(ast.parse(Path(path).read_text(), str(path))):
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
        _IMPORTS[path] = found
    return _IMPORTS[path]


def code_fingerprint(script):
    """Content hash of the package modules that scripts/<script> imports, transitively."""
    import hashlib

    package = SCRIPTS_DIR / PACKAGE
    pending, seen = list(_package_imports(SCRIPTS_DIR / script)), set()
    while pending:
        name = pending.pop()
        if name in seen or not (package / f"{name}.py").exists():
            continue
        seen.add(name)
        pending.extend(_package_imports(package / f"{name}.py"))
    digest = hashlib.sha256()
    for name in sorted(seen | {"__init__"}):
        digest.update(name.encode() + b"\0" + (package / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


_normalise_dates(config)
check_schema(config, Path(workflow.basedir) / "config" / "schema.yaml")
validate(config, "../config/schema.yaml")
PERIOD_START, PERIOD_END = check_config(config)

RESULTS = config["results_dir"].rstrip("/")
CITIES = list(config["cities"])
APPS = dict(config["apps"])  # role -> NetMob app name
APP_NAMES = [APPS["porn"], APPS["tor"], APPS["control"]]
DIRECTIONS = list(config["directions"])
SHARES = {
    key: parse_share(key, config[key])
    for key in ("tor_to_darknet_share", "porn_in_darknet_share", "csam_in_porn_share")
}
SYNTHETIC = config.get("synthetic", {}).get("enabled", False)
FROM_TABLE = bool(config["estimates_table"])
QC = config.get(
    "qc",
    {
        "max_negative_values": 0,
        "max_unmapped_traffic_share": 0.05,
        "max_missing_share": 0.01,
    },
)
DAYS = [
    PERIOD_START + datetime.timedelta(days=i)
    for i in range((PERIOD_END - PERIOD_START).days + 1)
]
DAY_STAMPS = [day.strftime("%Y%m%d") for day in DAYS]
SCRIPTS = Path(workflow.basedir) / "scripts"


def _alternatives(names):
    return "|".join(re.escape(name) for name in names)


wildcard_constraints:
    city=_alternatives(CITIES),
    app=_alternatives(APP_NAMES),
    direction="DL|UL",
    day=r"20\d{6}",


def ingest_batches():
    """Days of the period cut into batches of `days_per_job` calendar days.

    Returns a list of (label, [YYYYMMDD, ...]); the label is the batch's first calendar
    day, so it is stable when the period grows."""
    size = int(config.get("days_per_job", 1))
    batches = {}
    for day in DAYS:
        key = (day - BATCH_EPOCH).days // size
        batches.setdefault(key, []).append(day.strftime("%Y%m%d"))
    return [
        ((BATCH_EPOCH + datetime.timedelta(days=key * size)).strftime("%Y%m%d"), stamps)
        for key, stamps in sorted(batches.items())
    ]


def traffic_file(city, app, stamp, direction):
    """CONTRACT 1.1 path of one traffic file."""
    root = config["netmob_dir"].rstrip("/")
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


def ingested_days(wildcards):
    """Per-day ingest outputs of one city and direction, for the three apps."""
    return {
        role: expand(
            f"{RESULTS}/ingest/{wildcards.direction}/{wildcards.city}/{app}/{{stamp}}.npz",
            stamp=DAY_STAMPS,
        )
        for role, app in APPS.items()
    }


def tile_map_inputs(wildcards):
    """A given tile map, or the city's grid and the communes layer to build it from."""
    if config["tile_map"]:
        return {"tile_map": config["tile_map"]}
    return {
        "grid": config["tile_grid"].format(city=wildcards.city),
        "communes": config["communes"],
    }


def direction_outputs(direction):
    """The contract outputs (CONTRACT 3) of one direction."""
    out = f"{RESULTS}/{direction}"
    files = [
        f"{out}/cpc_com.csv",
        f"{out}/spearman.csv",
        f"{out}/dependent_corr.csv",
        f"{out}/summary.json",
    ]
    if not FROM_TABLE:
        files += [f"{out}/correction_methods.csv", f"{out}/qc.csv"]
        files += [f"{out}/{name}.csv" for name in HEATMAPS]
    return files


HEATMAPS = ["heatmap", "heatmap_10", "heatmap_rank1", "heatmap_rank2", "heatmap_rank3"]


def figure_targets(direction):
    """The figures of one direction (respecting FROM_TABLE and tile_map)."""
    out = f"{RESULTS}/{direction}/figures"
    files = [f"{out}/scatter_cpc_sv.png", f"{out}/correction_factors.png"]
    if not FROM_TABLE:
        files += [f"{out}/{name}.png" for name in HEATMAPS]
    if not SKIPPED_MAPS:
        files += [f"{out}/map_{city}.png" for city in CITIES]
        files.append(f"{out}/maps_all_cities.png")
    return files


def robustness_targets(direction):
    """The outputs of the three analyses for one direction (respecting FROM_TABLE)."""
    out = f"{RESULTS}/{direction}"
    files = [f"{out}/sensitivity.csv", f"{out}/spearman_ci.csv", f"{out}/ranking.csv"]
    if not FROM_TABLE:
        files.append(f"{out}/correction_methods_ci.csv")
        files += [f"{out}/{name}.csv" for name in SMOOTHED_HEATMAPS]
    return files


def final_targets():
    """Everything a complete run writes: contract outputs, robustness analyses, figures.
    (figure_targets and robustness_targets use constants of rules/figures.smk and
    rules/robustness.smk, defined before this is called.)"""
    return [
        path
        for direction in DIRECTIONS
        for path in direction_outputs(direction)
        + robustness_targets(direction)
        + figure_targets(direction)
    ]


if not SYNTHETIC and not FROM_TABLE and not os.environ.get("NETMOB_SKIP_INPUT_CHECK"):
    _missing = missing_traffic_files()
    if _missing:
        _shown = "\n  ".join(_missing[:50])
        _more = f"\n  ... and {len(_missing) - 50} more" if len(_missing) > 50 else ""
        raise ConfigError(
            f"{len(_missing)} traffic file(s) of the configured cities x apps x period x "
            f"directions are missing under netmob_dir={config['netmob_dir']!r}:\n  {_shown}{_more}\n"
            "Fix netmob_dir, or narrow 'cities', 'period' or 'directions'."
        )
