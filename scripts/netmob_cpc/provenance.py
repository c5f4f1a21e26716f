"""What made a result, stored with the results, and the lock of a results folder.

Snakemake keeps the params and code it ran a job with in `.snakemake/` of the working
directory that ran it: another checkout or working directory pointed at the same results
folder does not see them. The workflow therefore keeps, for every job, a small record
under `{results_dir}/.provenance/` and declares it as one of the job's inputs: the
job's settings (its params, the code fingerprint among them) and its input files. The
main process writes a record when it plans a job, and only when the record's text
differs from the one stored: a changed setting or input list makes the record newer than
the job's outputs, so that job (and what follows from it) reruns, from any working
directory; an unchanged one leaves the file and its time alone.

Inputs are recorded by kind:
- files the workflow writes itself (under the results folder): by their path there,
  "{results}/..."; Snakemake follows them by their modification time;
- files of the workflow (its C source): by their path in the workflow and a content hash,
  so that another checkout records the same;
- configured inputs (traffic files, crime file, tile map, covariates, estimate table,
  grids, communes): by their real path, size and modification time in nanoseconds, so that
  a file replaced by another one with an older time (cp -p, rsync -a, tar x) is seen. A
  file replaced by one of the same size and the same time is not (`--forcerun`).

A dry run records its configuration too (that is how it plans the jobs it would run), but
keeps the record it replaced: the next plan that comes back to that record restores it
with its old time, so that looking at another configuration with a dry run does not make
the next real run redo anything.

Two runs writing into one results folder at once would mix their files: a real run holds
`{results_dir}/.lock` (host, pid, working directory, start time) from its start to its
end; another run is refused while the holder lives. A lock left by a process of this host
that has ended is taken over.
"""

import datetime
import functools
import hashlib
import json
import os
import time

from netmob_cpc.files import atomic_path

FOLDER = ".provenance"
LOCK = ".lock"
DRY_RUN_SUFFIX = ".before-dry-run"
RESULTS_PREFIX = "{results}"


class ResultsLocked(RuntimeError):
    """Another live run holds the results folder; the message says which and what to do."""


# --- records ------------------------------------------------------------------------------
def record_path(results, rule, wildcards):
    """Where the record of one job lives: {results}/.provenance/<rule>.json for a rule
    without wildcards, else {results}/.provenance/<rule>/<values by wildcard name>.json."""
    if not wildcards:
        return f"{results}/{FOLDER}/{rule}.json"
    name = "_".join(str(wildcards[key]) for key in sorted(wildcards))
    return f"{results}/{FOLDER}/{rule}/{name}.json"


def file_signature(path):
    """[size, modification time in ns] of a file, or None when it does not exist."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return [status.st_size, status.st_mtime_ns]


def content_hash(path):
    """First 16 hex digits of the SHA-256 of a file's bytes (None when it is missing)."""
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()[:16]
    except FileNotFoundError:
        return None


def _inside(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


@functools.lru_cache(maxsize=65536)
def _real_folder(folder):
    return os.path.realpath(folder)


def real_path(path):
    """os.path.realpath(path), with the folders' resolution remembered: a plan of the whole
    data set describes ~200,000 traffic files in a few thousand folders, and resolving
    every folder of every path again (one lstat per component) would dominate it. Only
    the file's own name is looked at each time (is it a symbolic link?). Folders are
    assumed not to be re-linked while one Snakemake process plans."""
    folder, name = os.path.split(os.path.join(os.getcwd(), path))  # ".." left to realpath
    if name in ("", ".", ".."):
        return os.path.realpath(path)
    joined = os.path.join(_real_folder(folder), name)
    if os.path.islink(joined):
        return os.path.realpath(joined)
    return joined


def describe_input(path, results, workflow_root):
    """[name, signature] of one input path (see the module's docstring for the kinds)."""
    path = os.fspath(path)
    normal, results = os.path.normpath(path), os.path.normpath(results)
    if _inside(normal, results):
        return [RESULTS_PREFIX + normal[len(results) :], None]
    real = real_path(path)
    root = _real_folder(os.path.abspath(workflow_root))
    if _inside(real, root):
        return ["{workflow}/" + os.path.relpath(real, root), content_hash(real)]
    return [real, file_signature(real)]


def record(params, inputs, results, workflow_root):
    """The record of a job: its params (name -> value) and its inputs in their order."""
    return {
        "params": params,
        "inputs": [describe_input(path, results, workflow_root) for path in inputs],
    }


def record_text(content):
    """The record as stored: JSON with sorted keys (values without a JSON form as text)."""
    return json.dumps(content, sort_keys=True, indent=1, default=str) + "\n"


def changed_parts(old_text, new_content):
    """What differs between a stored record and a new one, for the log: the names of the
    changed params, and 'inputs' when the input list or a signature differs."""
    try:
        old = json.loads(old_text)
    except ValueError:
        return ["unreadable record"]
    new = json.loads(record_text(new_content))
    old_params, new_params = old.get("params", {}), new["params"]
    parts = [
        f"params.{name}"
        for name in sorted(set(old_params) | set(new_params))
        if old_params.get(name) != new_params.get(name)
    ]
    if old.get("inputs") != new["inputs"]:
        parts.append("inputs")
    return parts


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _write(path, text, mtime_ns=None):
    with atomic_path(path) as tmp:
        with open(tmp, "w") as handle:
            handle.write(text)
        if mtime_ns is not None:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))


def stored_content(stored):
    """The record part of a stored file (without its 'written' stamp), as record_text
    gives it; None for no file or an unreadable one."""
    try:
        data = json.loads(stored)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    data.pop("written", None)
    return record_text(data)


def stamped(text):
    """The record with the time it is written. Snakemake skips an input newer than the
    outputs when its checksum is the one its metadata recorded for them; in the working
    directory that made the outputs with this same record, after another directory's run
    replaced them, that would hide the change: the stamp makes every written record new."""
    data = json.loads(text)
    data["written"] = time.time_ns()
    return record_text(data)


def update_record(path, text, dry_run=False):
    """Store the record `text` (record_text) at `path` when it differs from what is there.

    Returns (status, old stored text): status 'same' (nothing written), 'new' (no record
    before), 'changed' (written), or 'restored' (the record a dry run had replaced comes
    back, as it was and with its old time). A dry run keeps the record it replaces next
    to it (DRY_RUN_SUFFIX); a real run drops that copy, as its jobs make outputs that
    follow the new record."""
    current = _read(path)
    kept_path = path + DRY_RUN_SUFFIX
    kept = _read(kept_path)
    if kept is not None:
        kept = json.loads(kept)
    if current is not None and stored_content(current) == text:
        if kept is not None and not dry_run:
            os.remove(kept_path)
        return "same", current
    if kept is not None and stored_content(kept["text"]) == text:
        _write(path, kept["text"], kept["mtime_ns"])
        os.remove(kept_path)
        return "restored", current
    if current is not None and dry_run and kept is None:
        _write(
            kept_path,
            json.dumps({"text": current, "mtime_ns": os.stat(path).st_mtime_ns}),
        )
    elif kept is not None and not dry_run:
        os.remove(kept_path)
    _write(path, stamped(text))
    return ("new" if current is None else "changed"), current


# --- the lock of a results folder -----------------------------------------------------------
def lock_path(results):
    return os.path.join(results, LOCK)


def pid_alive(pid):
    """True when a process with this id runs on this host (or exists but is not ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_lock(results):
    """The lock's fields (host, pid, workdir, started), or None when there is none."""
    text = _read(lock_path(results))
    if text is None:
        return None
    try:
        holder = json.loads(text)
        int(holder["pid"])
        return holder
    except (ValueError, KeyError, TypeError):
        return {"host": "?", "pid": 0, "workdir": "?", "started": "?", "unreadable": True}


def live_holder(holder, host):
    """True when the lock's holder may still run: another host (which cannot be checked
    from here), or a live process of this host."""
    if holder is None or holder.get("unreadable"):
        return False
    if holder.get("host") != host:
        return True
    return pid_alive(int(holder["pid"]))


def refusal(results, holder):
    """The one line that refuses a second run of a results folder."""
    return (
        f"results folder {results!r} is in use by another run (pid {holder['pid']} on "
        f"{holder['host']}, working directory {holder['workdir']}, started "
        f"{holder['started']}); wait for it to end, or, if no such run is active, delete "
        f"{lock_path(results)}"
    )


def acquire_lock(results, host, pid, workdir, now=None):
    """Take the results folder's lock for process `pid`.

    Returns a note for the log ('' normally; a sentence when a stale lock was taken over).
    Raises ResultsLocked when a live run holds it."""
    os.makedirs(results, exist_ok=True)
    path = lock_path(results)
    mine = {
        "host": host,
        "pid": pid,
        "workdir": workdir,
        "started": (now or datetime.datetime.now()).isoformat(timespec="seconds"),
    }
    text = json.dumps(mine, indent=1) + "\n"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        holder = read_lock(results)
        if holder is not None and holder.get("host") == host and holder["pid"] == pid:
            return ""
        if live_holder(holder, host):
            raise ResultsLocked(refusal(results, holder)) from None
        _write(path, text)
        if read_lock(results) != mine:  # another run took it over at the same moment
            raise ResultsLocked(refusal(results, read_lock(results)))
        if holder is None:
            return ""
        if holder.get("unreadable"):
            return f"an unreadable lock {path} was replaced"
        return (
            f"the lock {path} of an ended run (pid {holder['pid']}, working directory "
            f"{holder['workdir']}, started {holder['started']}) was taken over"
        )
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    return ""


def release_lock(results, host, pid):
    """Remove the lock if this process holds it (another's lock is left alone)."""
    holder = read_lock(results)
    if holder is not None and holder.get("host") == host and holder.get("pid") == pid:
        try:
            os.remove(lock_path(results))
        except FileNotFoundError:
            pass


# --- a job's params and inputs, from its rule (at plan time, in the main process) ------
def job_params(each, wildcards):
    """A job's params as Snakemake gives them (`each`: its rule, a snakemake.rules.Rule), except those computed from its input or
    output files (their names are recorded among the inputs)."""
    import inspect
    from snakemake.io import apply_wildcards

    values = {}
    for name, item in each.params._allitems():
        if callable(item):
            if set(inspect.signature(item).parameters) - {"wildcards"}:
                continue
            item = item(wildcards)
        elif isinstance(item, str):
            item = apply_wildcards(item, wildcards)
        elif isinstance(item, list):
            item = [
                apply_wildcards(v, wildcards) if isinstance(v, str) else v for v in item
            ]
        values[name] = item
    return values


def job_inputs(each, wildcards):
    """A job's input paths, in order, without its provenance record."""
    from snakemake.io import apply_wildcards, is_callable

    known = dict(wildcards.items())

    def paths(item):
        if is_callable(item):
            item, _ = each.apply_input_function(item, known)
        if isinstance(item, str):
            return [apply_wildcards(str(item), known)]
        items = item.values() if isinstance(item, dict) else item
        return [path for value in items for path in paths(value)]

    return [
        path
        for name, item in each.input._allitems()
        if name != "provenance"
        for path in paths(item)
    ]
