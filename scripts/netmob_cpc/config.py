"""The workflow's configuration at start-up: loading, defaults, checks, code fingerprints.

rules/common.smk calls `start_up` once when Snakemake reads the workflow; everything here
is a plain function of the configuration (and of a few paths), so that it is tested without
Snakemake. Nothing here reads a data file or globs: it runs again in every cluster job.

Every refusal is a ConfigError whose message is one line that names the config key, what
is wrong and what to do; rules/common.smk prints it (`stop`) and exits with status 1 before
any job, so nothing is written.
"""

import ast
import copy
import datetime
import functools
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    """A configuration value the workflow cannot use; the message names the key."""


def load_yaml(path):
    """A YAML file as Python objects (the C loader when PyYAML has it: 0.005 s against 0.08 s
    for the schema)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path) as handle:
        return yaml.load(handle, Loader=loader)


# --- the embedded default ---------------------------------------------------------------
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
PATH_KEYS = INPUT_KEYS + ("covariates", "results_dir")


def merged(base, overrides):
    """`overrides` over `base`, recursively (a new dict)."""
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def with_embedded_default(cfg, embedded):
    """The embedded default (config/config.yaml: the synthetic data set) under the user's
    keys, but only when the user's configuration names none of its own inputs: the
    default's cities, period or synthetic switch never leak into a real-data run."""
    if any(cfg.get(key) for key in INPUT_KEYS):
        return cfg
    return merged(embedded, cfg)


# --- defaults and validation: Snakemake's own `validate`, messages one line per key -----
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
            d.isoformat() if isinstance(d, datetime.date) else d for d in cfg["outage_dates"]
        ]


def resolve(schema, node):
    """A schema node with a local $ref ("#/definitions/x") merged in."""
    ref = node.get("$ref")
    if not ref:
        return node
    target = schema
    for part in ref.lstrip("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def coerce(value, node, schema):
    """`--config qc={max_negative_values: 5}` hands nested values over as strings (Snakemake
    parses only the top level): turn the strings the schema wants as numbers or booleans
    into numbers or booleans."""
    node = resolve(schema, node)
    if isinstance(value, dict) and "properties" in node:
        return {key: coerce(item, node["properties"].get(key, {}), schema) for key, item in value.items()}
    if isinstance(value, list) and "items" in node:
        return [coerce(item, node["items"], schema) for item in value]
    if isinstance(value, str):
        kinds = {node.get("type")} | {resolve(schema, option).get("type") for option in node.get("oneOf", [])}
        text = value.strip()
        if "integer" in kinds and re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        if "number" in kinds and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
            return float(text)
        if "boolean" in kinds and text.lower() in ("true", "false"):
            return text.lower() == "true"
    return value


# How to fix a value of the wrong shape, for the keys users get wrong most.
SHAPE_HINTS = {
    "period": "write it as period: {start: 2019-03-16, end: 2019-05-31}",
    "apps": "write it as apps: {porn: Web_Adult, tor: Tor, control: YouTube}",
    "cities": "write it as a list, e.g. cities: [Nice, Lyon]",
    "directions": "write it as a list, e.g. directions: [DL]",
}


def schema_problems(cfg, schema):
    """One line per schema violation, naming the dotted key, sorted."""
    import jsonschema

    problems = set()
    for error in jsonschema.Draft202012Validator(schema).iter_errors(cfg):
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        message = error.message
        described = resolve(schema, error.schema).get("description")
        if error.validator in ("oneOf", "anyOf") or (error.validator == "enum" and len(error.validator_value) > 6):
            message = f"{error.instance!r} is not {described or 'an allowed value'}"
            if error.validator == "enum":
                close = [v for v in error.validator_value if str(v).lower() == str(error.instance).lower()]
                message += (
                    f" (did you mean {close[0]!r}?)"
                    if close
                    else f"; allowed: {', '.join(map(str, error.validator_value))}"
                )
        elif error.validator == "additionalProperties":
            message = f"{message}; see config/README.md for the keys"
        if key.split(".")[0] in SHAPE_HINTS and error.validator == "type":
            message += f"; {SHAPE_HINTS[key.split('.')[0]]}"
        problems.add(f"config key '{key}': {message}")
    return sorted(problems)


def validated(cfg, schema_path):
    """`cfg` (changed in place) with the schema's defaults filled in by Snakemake's own
    `validate`; ConfigError naming every bad key, one line each."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    _iso_dates(cfg)
    schema = load_yaml(schema_path)
    cfg.update(coerce(dict(cfg), schema, schema))
    try:
        validate(cfg, str(schema_path), set_default=True)
    except (WorkflowError, AttributeError) as err:
        # Snakemake's message is jsonschema's, many lines long: say it once per key. (Its
        # default filling calls setdefault on a non-object value when a schema node lists
        # `properties` before `type`: the AttributeError, reported the same way.)
        problems = schema_problems(cfg, schema)
        if not problems:
            raise
        raise ConfigError("\n  ".join(problems)) from err
    return cfg


def schema_defaults(schema_path):
    """Every key's default, as the workflow fills them in (a config naming nothing)."""
    return validated({}, schema_path)


# --- cross-key checks -------------------------------------------------------------------
def parse_share(key, value):
    """A share is a number in (0, 1] or a fraction such as "105/253"."""
    if isinstance(value, str):
        numerator, _, denominator = value.partition("/")
        try:
            value = float(numerator) / float(denominator)
        except (ValueError, ZeroDivisionError):
            raise ConfigError(f"config key '{key}': {value!r} is not a number or a fraction a/b") from None
    if not 0 < value <= 1:
        raise ConfigError(f"config key '{key}': {value} is outside (0, 1]")
    return float(value)


def two_digit_year(year):
    """Crime years as the 2023 file writes them (19 for 2019); 2019 and 19 are both accepted."""
    return year - 2000 if year >= 2000 else year


# NetMob23 covers 2019-03-16 .. 2019-05-31 (77 days).
NETMOB_FIRST_DAY = datetime.date(2019, 3, 16)
NETMOB_LAST_DAY = datetime.date(2019, 5, 31)


def checked_period(cfg):
    """The period as dates; ConfigError naming the key when it is not usable."""
    try:
        start = datetime.date.fromisoformat(cfg["period"]["start"])
        end = datetime.date.fromisoformat(cfg["period"]["end"])
    except ValueError as err:
        raise ConfigError(f"config key 'period': {err}; write dates as YYYY-MM-DD") from None
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
            raise ConfigError(f"config key 'outage_dates': {day}: {err}") from None
    return start, end


def outage_warnings(cfg, start, end):
    """Outage dates outside the period change nothing: say so rather than stay silent."""
    return [
        f"config key 'outage_dates': {day} is outside the period {start} .. {end}; it is ignored"
        for day in cfg["outage_dates"]
        if not start <= datetime.date.fromisoformat(day) <= end
    ]


def check_keys(cfg):
    """Cross-key checks the schema cannot express; each names its key."""
    years = [two_digit_year(y) for y in cfg["crime_years"]]
    if two_digit_year(cfg["crime_year"]) not in years:
        raise ConfigError(
            f"config key 'crime_year': {cfg['crime_year']} is not one of crime_years "
            f"{cfg['crime_years']} (crime_year is chosen among those years)"
        )
    if len(set(years)) != len(years):
        raise ConfigError(f"config key 'crime_years': {cfg['crime_years']} names a year twice")
    if len(set(cfg["apps"].values())) != 3:
        raise ConfigError(f"config key 'apps': the three roles need three different apps, got {cfg['apps']}")


# --- the run's mode: synthetic data, traffic files, or a published estimate table --------
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
        raise ConfigError("config key 'tile_grid': the pattern must contain {city} (or set tile_map)")


# --- paths: inputs are never written, results_dir is a folder the run can write ----------
def expand_home(cfg):
    """`~` in a path key means the home folder, wherever the path is used (rules, shell
    commands, checks): expanded once here. Changes `cfg` in place."""
    for key in PATH_KEYS:
        if isinstance(cfg.get(key), str) and cfg[key].startswith("~"):
            cfg[key] = os.path.expanduser(cfg[key])


def real(path):
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
            paths.append((key, real(fixed or ".")))
    return paths


def home_folders():
    """The root's and every login user's home folder (real paths)."""
    import pwd

    return {real("~")} | {real(user.pw_dir) for user in pwd.getpwall() if user.pw_uid == 0 or user.pw_uid >= 1000}


def check_results_dir(results, inputs):
    """results_dir may not be /, a home directory, an input or a folder holding one, nor
    lie under an input (Snakemake deletes a job's outputs before running it); it must be a
    folder the run can create and write."""
    where = real(results)
    if where == os.sep or where in home_folders():
        raise ConfigError(
            f"config key 'results_dir': {results!r} is {where}, the root or a home directory; "
            "choose a folder of its own, e.g. results"
        )
    for key, path in inputs:
        if _inside(path, where) or _inside(where, path):
            raise ConfigError(
                f"config key 'results_dir': {results!r} and config key '{key}' ({path}) "
                "overlap; outputs must never be written where inputs live: choose another "
                "results_dir"
            )
    # the nearest part of the path that exists decides whether the run can write there
    existing = where
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        what = "is a file" if existing == where else f"lies under {existing}, which is a file"
        raise ConfigError(
            f"config key 'results_dir': {results!r} {what}, not a folder; "
            "choose a folder (it is created if absent)"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"config key 'results_dir': {results!r} cannot be written: {existing} is not "
            "writable by this user; choose a folder you can write or fix its permissions"
        )


def check_outputs_clear_of_inputs(rules, inputs):
    """No rule's output is, or lies under, a configured input path."""
    for each in rules:
        for output in each.output:
            fixed = real(str(output).split("{")[0] or ".")
            for key, path in inputs:
                if _inside(fixed, path) or (str(output).find("{") < 0 and fixed == path):
                    raise ConfigError(
                        f"rule {each.name} would write {output}, which lies under the input "
                        f"of config key '{key}' ({path}); change results_dir or that key"
                    )


# --- sizes the machine cannot hold: stopped at start-up, by the key's name ----------------
# Each size-like key registers here with an estimator: a function of the (validated)
# configuration that returns the bytes its job needs at its peak, and the rule whose
# `mem_mb` bounds that job. Registering a key is one line, e.g.
#     "falsification.permutations": (lambda c: c["falsification"]["permutations"] * COMMUNES_BOUND * 8 * 2, "falsification"),
# Its schema `maximum` is checked before (by the schema); this check adds the memory bound.

# The authors' table of the 20 NetMob23 cities holds 1,341 communes: an upper bound of the
# communes one job sees, with a margin.
COMMUNES_BOUND = 2000
BYTES = 8  # float64 / int64
# A job's Python with NumPy, pandas and SciPy loaded: 181 MB resident (measured), rounded up.
PROCESS_BYTES = 200 * 2**20


def _bootstrap_bytes(cfg):
    # bootstrap_intervals: (resamples, communes) draws (int64), their multiplicities for
    # communes and for whole cities (float64), and the flat index array of the bincount:
    # 4 arrays (tracemalloc: 122 MB peak for 2,000 x 2,000, as 4 x 8 bytes predict)
    return PROCESS_BYTES + cfg["bootstrap"]["resamples"] * COMMUNES_BOUND * BYTES * 4


def _simulation_bytes(cfg):
    # simulation_study: the main process and its 2 workers (threads: 2); one data set of at
    # most COMMUNES_BOUND communes at a time (a few KB), and per replicate and scenario (6)
    # the p-values and moments kept as Python dicts, about 2 kB (4 kB counted)
    return 3 * PROCESS_BYTES + cfg["simulation"]["replicates"] * 6 * 4096


def _permutation_bytes(cfg):
    # falsification: shuffles in blocks of 256 (ranks and values of each commune, 8 arrays),
    # and three statistics kept per shuffle
    return PROCESS_BYTES + 256 * COMMUNES_BOUND * BYTES * 8 + cfg["falsification"]["permutations"] * 3 * BYTES


def _size_only_bytes(cfg):
    # falsification: simulated outcomes in blocks of 256 (yearly counts and ranks, 20 arrays),
    # and twenty statistics kept per replicate (size_only and size_only_tested)
    return PROCESS_BYTES + 256 * COMMUNES_BOUND * BYTES * 20 + cfg["falsification"]["replicates"] * 20 * BYTES


def _wild_bootstrap_bytes(cfg):
    # association_tests: the Webb weights of every draw for at most one cluster per commune
    return PROCESS_BYTES + cfg["inference"]["wild_bootstrap_draws"] * COMMUNES_BOUND * BYTES * 2


SIZE_LIMITS = {
    "bootstrap.resamples": (_bootstrap_bytes, "bootstrap_intervals"),
    "simulation.replicates": (_simulation_bytes, "simulation_study"),
    "falsification.permutations": (_permutation_bytes, "falsification"),
    "falsification.replicates": (_size_only_bytes, "falsification"),
    "inference.wild_bootstrap_draws": (_wild_bootstrap_bytes, "association_tests"),
}


def machine_memory():
    """Physical memory of this machine, in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _with_value(cfg, key, value):
    changed = copy.deepcopy(cfg)
    node = changed
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return changed


def _value(cfg, key):
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def check_sizes(cfg, job_memory, limits=None):
    """ConfigError naming the first size-like key whose job would need more memory than
    it has, with the largest value that fits. `job_memory(rule)` gives the bytes a rule's
    job may use (its mem_mb, at most this machine's memory)."""
    for key, (estimate, rule) in (SIZE_LIMITS if limits is None else limits).items():
        try:
            value = _value(cfg, key)
        except (KeyError, TypeError):
            continue  # a key of a stage this configuration does not have
        available = job_memory(rule)
        if estimate(cfg) <= available:
            continue
        low, high = 0, value  # the largest value that fits, by bisection (estimates grow with it)
        while low < high:
            middle = (low + high + 1) // 2
            if estimate(_with_value(cfg, key, middle)) <= available:
                low = middle
            else:
                high = middle - 1
        raise ConfigError(
            f"config key '{key}': {value} needs about {estimate(cfg) / 2**20:,.0f} MB in rule {rule}, "
            f"which has {available / 2**20:,.0f} MB; the largest value that fits is {low} "
            f"(or give the job more memory: --set-resources {rule}:mem_mb=...)"
        )


# --- a key given twice in one YAML file -------------------------------------------------
def duplicate_keys(path):
    """(key, line, first line) of each mapping key written twice in one YAML file, in line
    order: YAML loaders, Snakemake's included, keep the last value silently."""
    import yaml

    found = []

    class DuplicateLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = {}
            for key_node, _ in node.value:
                try:
                    key = self.construct_object(key_node, deep=True)
                    hash(key)
                except (TypeError, yaml.constructor.ConstructorError):
                    continue
                line = key_node.start_mark.line + 1
                if key in seen:
                    found.append((key, line, seen[key]))
                seen.setdefault(key, line)
            return super().construct_mapping(node, deep=deep)

    with open(path) as handle:
        yaml.load(handle, Loader=DuplicateLoader)
    return sorted(found, key=lambda each: each[1])


def duplicate_warnings(paths):
    """One warning per key written twice in one of the configuration files."""
    warnings = []
    for path in paths:
        try:
            duplicates = duplicate_keys(path)
        except (OSError, ValueError):
            continue  # Snakemake itself reports a file it cannot read or parse
        warnings += [
            f"config file {path}, line {line}: key '{key}' is given twice (also line {first}); "
            "the last value is used: remove one"
            for key, line, first in duplicates
        ]
    return warnings


# --- all of it, once, at start-up ---------------------------------------------------------
@dataclass
class Setup:
    """The validated configuration and what the rules derive from it."""

    config: dict
    mode: str
    note: str
    results: str
    period: tuple
    shares: dict
    tor_share_bounds: list
    placebo_apps: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


SHARE_KEYS = ("tor_to_darknet_share", "porn_in_darknet_share", "csam_in_porn_share")


def placebo_app_list(cfg, schema):
    """The apps of `placebo_apps`: the names given, or for "all" every NetMob23 app (the
    schema's netmob_app spellings) but the porn and Tor apps. ConfigError naming the key
    when the porn or the Tor app is among the names given."""
    chosen = cfg["placebo_apps"]
    own = {cfg["apps"]["porn"]: "porn", cfg["apps"]["tor"]: "tor"}
    if chosen == "all":
        return [app for app in schema["definitions"]["netmob_app"]["enum"] if app not in own]
    refused = [app for app in chosen if app in own]
    if refused:
        raise ConfigError(
            f"config key 'placebo_apps': {refused[0]} is the {own[refused[0]]} app of the method "
            "(apps); a placebo is another app put through Tor's construction: remove it"
        )
    return list(chosen)


def start_up(user_config, embedded_path, schema_path, config_files=()):
    """The checked configuration (Setup) from the user's (--configfile / --config) and the
    embedded default; ConfigError naming the key when the workflow cannot run with it."""
    embedded = load_yaml(embedded_path) or {}
    cfg = validated(with_embedded_default(copy.deepcopy(dict(user_config)), embedded), schema_path)
    start, end = checked_period(cfg)
    check_keys(cfg)
    mode, note = run_mode(cfg)
    check_required_inputs(cfg, mode)
    check_results_dir(os.path.normpath(cfg["results_dir"]), input_paths(cfg))  # as the user wrote it
    expand_home(cfg)
    results = os.path.normpath(cfg["results_dir"])
    shares = {key: parse_share(key, cfg[key]) for key in SHARE_KEYS}
    bounds = [parse_share("tor_share_bounds", value) for value in cfg["tor_share_bounds"]]
    warnings = outage_warnings(cfg, start, end)
    if not any(user_config.get(key) for key in INPUT_KEYS):
        config_files = [*config_files, embedded_path]
    warnings += duplicate_warnings(dict.fromkeys(map(str, config_files)))
    placebo_apps = placebo_app_list(cfg, load_yaml(schema_path))
    return Setup(cfg, mode, note, results, (start, end), shares, bounds, placebo_apps, warnings)


# --- code fingerprints ------------------------------------------------------------------
# Snakemake reruns a job when its own script changes, but it does not see the modules of
# scripts/netmob_cpc/ that the script imports. Each rule therefore carries, as a tracked
# param, a hash of the *contents* of those modules (found by reading the imports, also
# transitively): an edit of a module reruns exactly the jobs whose scripts use it, and
# nothing machine-specific (paths, interpreter) enters the hash.
PACKAGE = "netmob_cpc"


# An import statement at the start of a line (indented too), a parenthesised name list
# across lines included; and the word `import` anywhere.
IMPORT_STATEMENT = re.compile(
    r"^[ \t]*(?:from[ \t]+[.\w]+[ \t]+import[ \t]+(?:\([^)]*\)|[^\n]*)|import[ \t]+[^\n]*)", re.MULTILINE
)
IMPORT_WORD = re.compile(r"\bimport\b")


def import_statements(source, filename="<source>"):
    """The syntax tree of a source's import statements. Parsing a whole module costs about
    ten times as much as this (a dry run computes ~40 fingerprints), so the statements are
    found by IMPORT_STATEMENT and parsed alone, unless the word `import` appears elsewhere
    (a `;`-joined or backslash-continued import, or only prose) or the statements do not
    parse: then the whole source is parsed. Either way no import is missed; a docstring
    line that reads as an import can only add a module to a fingerprint."""
    statements = IMPORT_STATEMENT.findall(source)
    if IMPORT_WORD.search(IMPORT_STATEMENT.sub("", source)) is None:
        try:
            return ast.parse("\n".join(statement.lstrip() for statement in statements))
        except SyntaxError:
            pass
    return ast.parse(source, filename)


def package_imports(source, filename="<source>"):
    """Names imported from the package by one Python source: `netmob_cpc.x`, `from
    netmob_cpc import x`, and inside the package `from . import x` / `from .x import y`.
    The names may include non-modules (`from . import CONSTANT`): callers keep the modules."""
    found = set()
    for node in ast.walk(import_statements(source, filename)):
        if isinstance(node, ast.ImportFrom):
            parts = node.module.split(".") if node.module else []
            if node.level == 1 or (node.level == 0 and parts[:1] == [PACKAGE]):
                inner = parts if node.level else parts[1:]
                found.update(inner[:1] or [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == PACKAGE and len(parts) > 1:
                    found.add(parts[1])
    return found


@functools.lru_cache(maxsize=None)
def _module_imports(path):
    """Package modules one file imports (only names that are modules of the package)."""
    path = Path(path)
    folder = path.parent if path.parent.name == PACKAGE else path.parent / PACKAGE
    return frozenset(
        name for name in package_imports(path.read_text(), str(path)) if (folder / f"{name}.py").is_file()
    )


def code_fingerprint(script, scripts_dir):
    """Content hash (16 hex digits) of the package modules that `scripts_dir/script`
    imports, transitively, and of the package's __init__."""
    scripts_dir = Path(scripts_dir)
    package = scripts_dir / PACKAGE
    pending, seen = list(_module_imports(scripts_dir / script)), set()
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_module_imports(package / f"{name}.py"))
    digest = hashlib.sha256()
    for name in sorted(seen | {"__init__"}):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update((package / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


# --- a failed job's message, repeated where the user looks --------------------------------
FAILURE_PREFIX = "Error in rule "  # as netmob_cpc.files.run_rule writes it


def failure_lines(log_paths):
    """The one-line error messages (run_rule's) in the given job logs, in order."""
    lines = []
    for path in log_paths:
        try:
            with open(path, errors="replace") as handle:
                lines += [line.rstrip("\n") for line in handle if line.startswith(FAILURE_PREFIX)]
        except OSError:
            continue
    return lines
