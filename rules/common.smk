# Constants of the run, wildcard constraints, input functions and the final targets. The
# configuration itself (defaults, checks, code fingerprints) is scripts/netmob_cpc/config.py,
# a plain module with unit tests; this file calls it once. Everything here runs when
# Snakemake reads the workflow (in a cluster job too): it stays cheap, reads no data file
# and globs nothing. Paths to the workflow's own files are relative to this file, so that
# the workflow also runs as a Snakemake module.

import datetime
import os
import re
import sys
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import min_version

min_version("9.0")


def workflow_file(relative):
    """A file of the workflow (its scripts, its schema) by its path in the repository.
    Through Snakemake's source cache this also works when the workflow runs as a module
    from another folder."""
    return Path(str(workflow.source_path(f"../{relative}")))


# The package netmob_cpc is imported from the workflow's own scripts folder (next to this
# file's folder, wherever the workflow is run from or used as a module).
SCRIPTS = Path(workflow.current_basedir.join("../scripts").get_path_or_uri(False))
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from netmob_cpc.config import (
    ConfigError,
    check_outputs_clear_of_inputs,
    check_sizes,
    effective_inputs,
    failure_lines,
    input_paths,
    machine_memory,
    start_up,
    two_digit_year,
)
from netmob_cpc import config as configuration
from netmob_cpc import provenance as records


def stop(message):
    """End the run at start-up with one message and no traceback: the user needs the key
    and what to do, not the lines of this file."""
    print(f"\nConfiguration error: {message}", file=sys.stderr)
    raise SystemExit(1)


def code_fingerprint(script):
    """Content hash of the package modules that scripts/<script> imports, transitively
    (netmob_cpc.config.code_fingerprint): a tracked param, so an edit of a module reruns
    exactly the jobs whose scripts use it."""
    return configuration.code_fingerprint(script, SCRIPTS)


try:
    SETUP = start_up(
        config,
        workflow_file("config/config.yaml"),
        workflow_file("config/schema.yaml"),
        workflow.configfiles,
    )
except ConfigError as err:
    stop(err)
config.clear()
config.update(SETUP.config)
MODE, RESULTS = SETUP.mode, SETUP.results
PERIOD_START, PERIOD_END = SETUP.period
SHARES, TOR_SHARE_BOUNDS = SETUP.shares, SETUP.tor_share_bounds
PLACEBO_APPS = SETUP.placebo_apps
if workflow.exec_mode.name == "DEFAULT":
    if SETUP.note:
        logger.info(f"Note: {SETUP.note}.")
    for _warning in SETUP.warnings:
        logger.warning(f"Warning: {_warning}")

# Ingest batches are anchored on a fixed Monday, so that a batch never changes when the
# period is extended: with days_per_job = 7 a batch is one calendar week.
BATCH_EPOCH = datetime.date(2019, 3, 11)

# --- constants of the run, computed here once -------------------------------------------
SYNTHETIC = MODE == "synthetic"
FROM_TABLE = MODE == "table"
INPUTS = effective_inputs(config, MODE, RESULTS)
CITIES = list(config["cities"])
APPS = dict(config["apps"])  # role -> NetMob app name
APP_NAMES = [APPS["porn"], APPS["tor"], APPS["control"]]
# placebo apps read from their own traffic files (the control app's are the headline's)
PLACEBO_INGESTED = [app for app in PLACEBO_APPS if app != APPS["control"]]
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


# placebo apps (rules/placebo.smk)
def placebo_ingested(direction, city, app):
    """The ingested batches of one city x app x direction: the headline's for the control
    app, the placebo ingest's otherwise."""
    if app == APPS["control"]:
        return ingested_batches(direction, city, app)
    return [
        f"{RESULTS}/placebo/ingest/{direction}/{city}/{app}/{batch}.npz"
        for batch in INGEST_BATCHES
    ]


def placebo_traffic_files(wildcards):
    """The traffic files of one placebo ingest job: app by app, each in date order."""
    return [
        traffic_file(wildcards.city, app, stamp, wildcards.direction)
        for app in PLACEBO_INGESTED
        for stamp in ingest_batch_stamps(wildcards)
    ]


def placebo_series_batches(wildcards):
    """The porn app's and one placebo app's ingested batches of every city: city (config
    order), then batch (date order)."""
    return {
        "porn": [
            path
            for city in CITIES
            for path in ingested_batches(wildcards.direction, city, APPS["porn"])
        ],
        "app": [
            path
            for city in CITIES
            for path in placebo_ingested(
                wildcards.direction, city, wildcards.placebo_app
            )
        ],
    }


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
    if PLACEBO_APPS or FROM_TABLE:
        tables.append("placebo.csv")
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


def job_memory(rule_name):
    """Bytes a rule's job may use: its mem_mb (after --set-resources), at most this
    machine's memory. As a module the rule may carry a prefix (netmob_cpc_<rule>)."""
    available = machine_memory()
    named = [each for each in workflow.rules if each.name == rule_name] or [
        each for each in workflow.rules if each.name.endswith(f"_{rule_name}")
    ]
    for each in named[:1]:
        mem_mb = each.resources.get("mem_mb")
        if not mem_mb.is_evaluable() and isinstance(mem_mb.value, (int, float)):
            return min(available, int(mem_mb.value) * 2**20)
    return available


def final_targets():
    """Everything the default target writes. Called by `rule all`, i.e. after every rule
    file is read: the checks that no output lands under an input and that every size-like
    key fits its job's memory run here."""
    try:
        check_outputs_clear_of_inputs(workflow.rules, input_paths(config))
        check_sizes(config, job_memory)
    except ConfigError as err:
        stop(err)
    return [path for direction in DIRECTIONS for path in direction_outputs(direction)]


# --- the parser: say at start-up when the C kernel cannot be built --------------------
def native_parser_missing(library, compiler):
    """Why the ingest would fall back to the pyarrow parser, or '' when it will not."""
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
            f"Warning: {_why}: the ingest will use the pyarrow parser (same numbers, "
            "about 10 to 20 times slower per core than the C kernel, measured by "
            "benchmarks/fallback_parser.py). Install a C compiler and rerun with "
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
# Each script writes one line (Error in rule R, then the file, line and what to do) for a
# bad input (netmob_cpc.files.run_rule) to its log and to the terminal. Snakemake's own
# report of the failure follows it (the exception of the job's command, "Exiting because
# a job execution failed"), not the message: the handler below repeats those lines after
# that report (only Snakemake's log path and "At least one job did not complete
# successfully" follow), read from the logs of exactly the jobs that failed in this run.
def report_failures():
    """Repeat the failed jobs' one-line error messages after Snakemake's failure report."""
    failed = getattr(getattr(workflow, "scheduler", None), "failed", ())
    logs = [
        str(path)
        for job in failed
        for each in (job.jobs if job.is_group() else [job])
        for path in each.log
    ]
    for message in failure_lines(logs):
        logger.error(f"\n{message}")


def release_scheduler_timers():
    """End Snakemake's pending scheduler timers, so that the process exits at once.

    Relies on Snakemake 9's job scheduler (snakemake/scheduling/job_scheduler.py,
    `_schedule_reevalutation`): after scheduling rounds it starts a non-daemon
    threading.Timer of `--max-jobs-per-timespan`'s timespan (10 s in profiles/default, 1 s
    without it) that only wakes the scheduler. The interpreter waits for the last one
    before it exits: up to that timespan added to every run (with 1 s, measured on a 2-job
    workflow: 2.4 s against 1.45 s with this). Once the run has ended nothing waits for
    them; cancelling one only stops its wait. tests/test_config.py checks that the
    scheduler still starts such a timer."""
    import threading

    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()


# --- what made a result: a record per job, stored with the results ------------------------
# Each job of the workflow has the input `provenance=provenance("<its rule>")`, which holds
# the job's params (the code fingerprint among them) and its input files (configured inputs with size and
# modification time), written under {results_dir}/.provenance/ by the main process when
# they differ from what is stored. Another working directory pointed at the same results
# then reruns exactly what differs (scripts/netmob_cpc/provenance.py). A real run (or
# --touch) holds {results_dir}/.lock; a dry run writes no record while another run holds it.
_PROVENANCE = {
    "rules": {},
    "mode": None,
    "host": __import__("socket").gethostname(),
    "shown": 0,
}


def _provenance_mode():
    """'write' (a run; --touch too, as it declares the outputs current for this
    configuration: both take the lock), 'dry' (a dry run), 'missing' (write only absent
    records: a report, a summary, a dry run while another run holds the folder) or 'read'
    (a cluster job reading the workflow again: it writes nothing)."""
    if _PROVENANCE["mode"] is None:
        if not workflow.is_main_process:
            mode = "read"
        elif workflow.executor_plugin is None:
            mode = "missing"
        elif workflow.dryrun:
            holder = records.read_lock(RESULTS)
            mode = "dry"
            if records.live_holder(holder, _PROVENANCE["host"]):
                logger.warning(
                    f"Warning: {records.refusal(RESULTS, holder)}. This dry run does not "
                    "record the configuration: it may plan fewer jobs than a real run."
                )
                mode = "missing"
        else:
            try:
                note = records.acquire_lock(
                    RESULTS, _PROVENANCE["host"], os.getpid(), os.getcwd()
                )
            except records.ResultsLocked as err:
                print(f"\nError: {err}", file=__import__("sys").stderr)
                raise SystemExit(1)
            __import__("atexit").register(release_results_lock)
            if note:
                logger.info(f"Note: {note}.")
            mode = "write"
        _PROVENANCE["mode"] = mode
    return _PROVENANCE["mode"]


def _known_to_exist(path):
    """Tell Snakemake's file-existence cache that a record written during planning exists.

    While it builds the DAG, Snakemake 9 lists whole folders once (its "inventory",
    snakemake.io._local_inventory) and from then on takes a file absent from that listing
    for missing. A record written after its folder was listed would then stop the run
    with a MissingInputException. This relies on `workflow.iocache.exists_local`, a dict
    keyed by path; tests/test_provenance.py fails if an upgrade changes that."""
    cache = getattr(workflow, "iocache", None)
    if cache is not None and os.path.exists(path):
        cache.exists_local[path] = True


def _rule_of(function, name):
    """Which of the workflow's rules has `function` as its `provenance` input (the one
    named `name`, or that one renamed when the workflow is used as a module, with
    `use rule * from ... as prefix_*`)."""
    if name not in _PROVENANCE["rules"]:
        found = [
            each
            for each in workflow.rules
            if any(
                key == "provenance" and item is function
                for key, item in each.input._allitems()
            )
        ]
        _PROVENANCE["rules"][name] = found[0] if found else workflow.get_rule(name)
    return _PROVENANCE["rules"][name]


def provenance(name):
    """Input function: the record of a job of rule `name` (written when it changed)."""

    def record(wildcards):
        path = records.record_path(RESULTS, name, dict(wildcards.items()))
        mode = _provenance_mode()
        if mode == "read" or (mode == "missing" and os.path.exists(path)):
            return path
        each = _rule_of(record, name)
        content = records.record(
            records.job_params(each, wildcards),
            records.job_inputs(each, wildcards),
            RESULTS,
            workflow_file(""),
        )
        text = records.record_text(content)
        status, old = records.update_record(path, text, dry_run=mode == "dry")
        if status == "changed":
            _PROVENANCE["shown"] += 1
            if _PROVENANCE["shown"] <= 20:
                parts = ", ".join(records.changed_parts(old, content))
                logger.info(f"Changed since the results were made: {path} ({parts})")
            elif _PROVENANCE["shown"] == 21:
                logger.info("(more changed records: the jobs below list them)")
        _known_to_exist(path)
        return path

    return record


def release_results_lock():
    """Release the results folder's lock if this process holds it."""
    if _PROVENANCE["mode"] == "write":
        records.release_lock(RESULTS, _PROVENANCE["host"], os.getpid())
