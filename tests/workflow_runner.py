"""Run the workflow from tests: a config written into a work folder, Snakemake in a subprocess."""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
DEFAULT_CONFIG = REPO / "config" / "config.yaml"

# A tiny synthetic set: two cities, a period with the clock-change day and the outage day
# would be long; this one has the clock change and stays fast.
TINY = {
    "cities": ["Nice", "Nancy"],
    "period": {"start": "2019-03-29", "end": "2019-04-02"},
    "synthetic": {"grid_scale": 0.05},
    "days_per_job": 3,
}

# The shared tiny run (tests/conftest.py, fixture `tiny_run`): TINY with a negative-control
# class and fewer falsification draws, every default target made once per test session.
TINY_RUN = {
    **TINY,
    "negative_control_classes": ["Vols de véhicules"],
    "falsification": {"permutations": 300, "replicates": 50},
}


def generated_inputs(data):
    """The config keys that name the generator's files in folder `data` as a user's inputs."""
    data = Path(data)
    return {
        "netmob_dir": str(data / "netmob"), "tile_grid": str(data / "grids" / "{city}.geojson"),
        "communes": str(data / "communes.gpkg"), "crime_csv": str(data / "crime.csv"),
    }


def generate(data, cities, start, end, *options):
    """A step of InBackground: the generator's command line writing `cities` from `start` to
    `end` (inclusive) into folder `data`, as a user's data; `options` such as --grid-scale."""
    return Command(
        [sys.executable, "-m", "netmob_cpc.synthetic", "--out", str(data), "--cities", *cities,
         "--start", start, "--end", end, *options],
        env={**os.environ, "PYTHONPATH": str(REPO / "scripts")},
    )


# A user's Snakefile that imports the workflow as a module (as snakedeploy writes one)
MODULE_SNAKEFILE = f'''
configfile: "config.yaml"


module netmob_cpc:
    snakefile:
        "{REPO / "Snakefile"}"
    config:
        config


use rule * from netmob_cpc as netmob_cpc_*
'''


SCHEMA = REPO / "config" / "schema.yaml"
if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))


def schema_defaults():
    """Every key's default, as the workflow fills them in (netmob_cpc.config)."""
    from netmob_cpc.config import schema_defaults as defaults

    return defaults(SCHEMA)


def load_default_config():
    """What the workflow runs with by default: config/config.yaml over the schema's defaults,
    filled in by the workflow's own function (netmob_cpc.config.validated)."""
    from netmob_cpc.config import validated

    with open(DEFAULT_CONFIG) as handle:
        return validated(yaml.safe_load(handle), SCHEMA)


def merge(base, overrides):
    """Recursive dict update (a new dict): the workflow's own netmob_cpc.config.merged."""
    from netmob_cpc.config import merged

    return merged(base, overrides)


def write_config(workdir, overrides=None, name="config.yaml"):
    """config/config.yaml with `overrides`, written as `workdir/name` (the keys it leaves
    out take the schema's defaults, as for a user's file); relative paths then resolve
    inside `workdir` (Snakemake runs with --directory)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with open(DEFAULT_CONFIG) as handle:
        config = merge(yaml.safe_load(handle), overrides or {})
    if isinstance(config.get("period"), dict):
        config["period"] = {key: str(value) for key, value in config["period"].items()}
    path = workdir / name
    with open(path, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return path


def snakemake_command(workdir, *args, configfile="config.yaml", cores=2, snakefile=SNAKEFILE):
    """The command line of `snakemake` (a list)."""
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir),
        "--configfile", str(Path(workdir) / configfile), "--cores", str(cores), *args,
    ]


def check_snakemake(result, args):
    """`result` (a CompletedProcess of Snakemake run with `args`), or an AssertionError with
    the end of its output when it failed."""
    if result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


def snakemake(workdir, *args, configfile="config.yaml", check=True, timeout=1200, cores=2, snakefile=SNAKEFILE):
    """Run Snakemake on the project's Snakefile in `workdir`; returns the CompletedProcess."""
    command = snakemake_command(workdir, *args, configfile=configfile, cores=cores, snakefile=snakefile)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    return check_snakemake(result, args) if check else result


# The niceness of the background runs (nice -n): the test that runs meanwhile comes
# first, a background run takes the CPU time the test leaves.
BACKGROUND_NICENESS = 10


def niced(command):
    """`command` run with the niceness of the background runs (as it is without `nice`)."""
    return ["nice", "-n", str(BACKGROUND_NICENESS), *command] if shutil.which("nice") else list(command)


class Turns:
    """At most `width` holders at once, in the order of their tickets (taken in one thread,
    in the order the runs are wanted): the background runs take turns, so that the run the
    tests need first is not slowed by all the others."""

    def __init__(self, width):
        self.width, self.taken, self.turn, self.holding = width, 0, 0, 0
        self._condition = threading.Condition()

    def ticket(self):
        with self._condition:
            self.taken += 1
            return self.taken - 1

    def hold(self, ticket):
        with self._condition:
            self._condition.wait_for(lambda: self.turn == ticket and self.holding < self.width)
            self.turn += 1
            self.holding += 1
            self._condition.notify_all()

    def release(self):
        with self._condition:
            self.holding -= 1
            self._condition.notify_all()


class InBackground:
    """Steps run one after the other in a background thread (from `start`): a step is a
    Command (its output kept, as subprocess.run(capture_output=True) keeps it, in files
    under `log_dir`) or a function of the results so far. A step that fails ends the steps;
    `wait` then raises what it raised (for a Command, what its `check` raises).

    For the shared workflow runs of tests/conftest.py: started when the test session
    begins, they run while other tests run (a run is half the time in one-core phases:
    Snakemake's start and planning, chains of single jobs). `wait` gives the results (one
    per step) or raises; `stop` interrupts the command that runs (as Ctrl-C does) and runs
    nothing more. Commands run niced (BACKGROUND_NICENESS): the foreground test comes first.
    `turns` (of `start`): a Turns whose turn the steps wait for. `timeout`:
    seconds from the steps' beginning until `wait` stops them;
    `workdir`: the working directory the steps make (kept for the fixture); `seconds`:
    the wall time of the steps, once they ended (`started - queued`: the wait for the turn)."""

    def __init__(self, steps, log_dir, timeout=1200, workdir=None):
        self.steps, self.log_dir, self.workdir, self.timeout = list(steps), Path(log_dir), workdir, timeout
        self.results, self.error = [], None
        self.turns = self.ticket = self.started = self.deadline = self.seconds = None
        self._lock = threading.Lock()
        self._stopped, self._process = False, None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, turns=None):
        """Start the steps (once it is this run's turn, with `turns`); returns the run."""
        self.turns = turns
        self.ticket = turns.ticket() if turns is not None else None
        self.queued = time.monotonic()
        self._thread.start()
        return self

    def _run(self):
        if self.turns is not None:
            self.turns.hold(self.ticket)
        self.started = time.monotonic()
        self.deadline = self.started + self.timeout
        try:
            if self._stopped:
                raise RuntimeError("stopped before its turn came")
            for number, step in enumerate(self.steps):
                if callable(step):
                    self.results.append(step(self.results))
                    continue
                out, err = self.log_dir / f"{number}.out", self.log_dir / f"{number}.err"
                with self._lock:
                    if self._stopped:
                        raise RuntimeError(f"stopped before step {number + 1} of {len(self.steps)}")
                    with open(out, "w") as stdout, open(err, "w") as stderr:
                        self._process = subprocess.Popen(
                            niced(step.command), stdout=stdout, stderr=stderr, text=True, env=step.env,
                        )
                returncode = self._process.wait()
                result = subprocess.CompletedProcess(step.command, returncode, out.read_text(), err.read_text())
                self.results.append(result)
                step.check(result)
        except BaseException as error:  # raised again by wait, in the test that waits
            self.error = error
        finally:
            self.seconds = time.monotonic() - self.started
            if self.turns is not None:
                self.turns.release()

    def wait(self):
        self.join()
        if self._thread.is_alive():
            self.stop()
            commands = [step.command for step in self.steps if not callable(step)]
            raise subprocess.TimeoutExpired(commands, self.timeout)
        if self.error is not None:
            raise self.error
        return self.results

    def join(self):
        """Wait until the steps end (at most `timeout` seconds after they began); raise nothing."""
        while self._thread.is_alive() and (self.deadline is None or time.monotonic() < self.deadline):
            self._thread.join(1)

    def stop(self):
        """Interrupt the command that runs (as Ctrl-C does) and run no further step."""
        with self._lock:
            self._stopped = True
            process = self._process
        if self._thread.ident is None:
            return
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._thread.join(60)


class Command:
    """A command step of InBackground; `check(result)` raises when `result` is a failure."""

    def __init__(self, command, check=subprocess.CompletedProcess.check_returncode, env=None):
        self.command, self.check, self.env = command, check, env


def background_snakemake(workdir, *args, **options):
    """A step of InBackground: what `snakemake(workdir, *args, **options)` runs and checks."""
    return Command(snakemake_command(workdir, *args, **options), lambda result: check_snakemake(result, args))


# Runs made in the background from the start of the test session (tests/conftest.py,
# fixture `background`), by the name of the fixture that waits for them: name -> (function
# (workdir, log_dir, **the runs it needs) that starts an InBackground run making `workdir`,
# names of the runs it needs).
BACKGROUND_RUNS = {}


def made_in_background(name, needs=()):
    """Registers the decorated function as the start of the background run of fixture
    `name`; that fixture takes `background` and calls wait_for(background, name). `needs`:
    background runs (registered before) that the function receives as keyword arguments
    (its steps wait for them)."""

    def register(start):
        assert name not in BACKGROUND_RUNS, f"two background runs named {name}"
        assert all(need in BACKGROUND_RUNS for need in needs), f"{name} needs {needs}, not all registered before"
        BACKGROUND_RUNS[name] = (start, tuple(needs))
        return start

    return register


def wait_for(background, name):
    """The background run `name` once ended (raises its failure); prints its wall time."""
    run = background[name]
    run.wait()
    print(f"\n{name.replace('_', ' ')}: {run.seconds:.1f} s wall in the background, "
          f"after {run.started - run.queued:.1f} s waiting for its turn")
    return run


def file_states(folder):
    """Every file under `folder`: (sha256, modification time in ns), by relative path: what
    a test compares before and after a run to show that the run wrote nothing there."""
    import hashlib

    return {
        str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(Path(folder).rglob("*"))
        if path.is_file()
    }


def planned_jobs(workdir, *args, configfile="config.yaml", snakefile=SNAKEFILE):
    """Jobs a dry run would execute, per rule."""
    result = snakemake(workdir, "--dry-run", *args, configfile=configfile, snakefile=snakefile)
    return jobs_in(result)


def jobs_in(result):
    """Jobs per rule in the job table that Snakemake prints before it runs (a dry run's or
    a run's), from its CompletedProcess `result`; nothing planned: an empty Counter."""
    text = result.stdout + result.stderr
    counts = Counter()
    if "Nothing to be done" in text:
        return counts
    table = re.search(r"job\s+count\s*\n[-\s]+\n(.*?)\n\s*total\s+(\d+)", text, re.S)
    if not table:
        raise AssertionError(f"no job table in the dry run:\n{text[-3000:]}")
    for line in table.group(1).splitlines():
        rule, count = line.split()
        counts[rule] += int(count)
    return counts


def copy_run(source, destination):
    """A copy of a finished working directory (config, results, .snakemake/ with its
    metadata; times kept) where Snakemake plans what it would plan in `source`."""
    shutil.copytree(source, destination, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    return Path(destination)
