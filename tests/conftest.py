"""Shared test set-up: the workflow's scripts are importable as plain modules, and workflow
runs that several test files read are made once per session, in the background from the
session's start (fixture `background`) while the other tests run."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))

from workflow_runner import (  # noqa: E402
    BACKGROUND_RUNS, MODULE_SNAKEFILE, TINY, TINY_RUN, InBackground, Turns, background_snakemake, copy_run, file_states,
    generate, generated_inputs, made_in_background, wait_for, write_config,
)

# The order of the tests, for a session on 2 cores: the background runs start with the
# session, and the foreground should never wait while it has other work. First, modules
# of in-process tests only (about half a minute), while the first background runs are made;
# then the modules that are mostly chains of dependent Snakemake launches in the foreground
# (each waits for the one before) and the one that needs the largest background run (the
# embedded default's), so that the runs the other tests need are made meanwhile, not after
# them with one core idle; then the rest. The tests that edit the workflow's own files wait
# for every background run (`background_ended`): they run last.
OPENING_MODULES = ("test_synthetic.py", "test_notebook_reference.py", "test_size_only.py", "test_tile_map.py")
FIRST_MODULES = ("test_provenance.py", "test_reruns.py", "test_workflow.py")


def pytest_collection_modifyitems(items):
    def place(item):
        if "background_ended" in getattr(item, "fixturenames", ()):
            return 3
        if item.path.name in OPENING_MODULES:
            return 0
        return 1 if item.path.name in FIRST_MODULES else 2

    items.sort(key=place)  # stable: within each place the tests keep their order


# background runs at once (besides the SLURM run, which mostly waits): with the test that
# runs meanwhile, enough to keep this machine's two cores busy
BACKGROUND_WIDTH = 2


@made_in_background("tiny_run")
def start_tiny_run(workdir, log_dir):
    """One complete run of workflow_runner.TINY_RUN (every default target) in `workdir`."""
    write_config(workdir, TINY_RUN)
    return InBackground([background_snakemake(workdir)], log_dir, workdir=workdir)


@made_in_background("default_run")
def start_default_run(workdir, log_dir):
    """One complete run of the embedded default configuration in `workdir`."""
    write_config(workdir)
    return InBackground([background_snakemake(workdir)], log_dir, workdir=workdir)


@made_in_background("user_data_run")
def start_user_data_run(workdir, log_dir):
    """A user's data in the real formats, made by the generator (outside the workflow) in
    `workdir`/données; a user's Snakefile in `workdir` that imports the workflow as a module
    (workflow_runner.MODULE_SNAKEFILE); the plan through the module and the plan of the
    workflow itself; then one complete run through the module of the data (TINY's cities and
    period) with results_dir '<the crime file> x'. Results: the generator's, the data's
    file_states before the run, the two plans, the run's, the data's file_states after."""
    data = workdir / "données"
    results = Path(f"{data / 'crime.csv'} x")
    write_config(workdir, {**TINY, **generated_inputs(data), "results_dir": str(results)})
    (workdir / "Snakefile").write_text(MODULE_SNAKEFILE)
    return InBackground([
        generate(data, TINY["cities"], TINY["period"]["start"], TINY["period"]["end"], "--grid-scale", "0.05"),
        lambda _: file_states(data),
        background_snakemake(workdir, "--dry-run", snakefile=workdir / "Snakefile"),
        background_snakemake(workdir, "--dry-run"),
        background_snakemake(workdir, snakefile=workdir / "Snakefile"),
        lambda _: file_states(data),
    ], log_dir, timeout=1500, workdir=workdir)


@made_in_background("finished_run")
def start_finished_run(workdir, log_dir):
    """Data of 3 cities over 2019-03-29 .. 04-03 made by the generator (outside the workflow,
    as a user's data), then one complete run of 2 of them over 03-29 .. 04-02
    (finished_run_config)."""
    data = workdir / "data"
    write_config(workdir, finished_run_config(workdir))
    return InBackground(
        [generate(data, ["Nice", "Nancy", "Tours"], "2019-03-29", "2019-04-03", "--grid-scale", "0.04", "--seed", "7"),
         background_snakemake(workdir)],
        log_dir, timeout=1500, workdir=workdir,
    )


def finished_run_config(workdir):
    return {
        **generated_inputs(workdir / "data"), "cities": ["Nice", "Nancy"],
        "period": {"start": "2019-03-29", "end": "2019-04-02"}, "days_per_job": 3,
    }


@pytest.fixture(scope="session", autouse=True)
def background(request, tmp_path_factory):
    """Started before the session's first test: the runs of workflow_runner.BACKGROUND_RUNS
    (this file's and the test modules') that the selected tests use, and the SLURM run of
    tests/test_slurm.py when a test of it is selected and a SLURM answers (slurm_runner; it mostly waits for submissions and status checks). A run
    takes about one core for half its time (Snakemake's start and planning, chains of single
    jobs), so the other tests run meanwhile on this machine's second core. The runs take
    turns (BACKGROUND_WIDTH at once), in the order the tests want them. Gives {name: the
    run (workflow_runner.InBackground; wait() gives its results or raises its failure),
    "slurm": {"unavailable": why SLURM cannot be used (None when it can), "run":
    slurm_runner.SnakemakeRun or None}}. Whatever still runs when the session ends (when
    it is interrupted) is stopped, and its SLURM jobs cancelled."""
    from slurm_runner import TEST_FILE, slurm_unavailable, start_cluster_run

    items = request.session.items
    first_use = {}
    for index, item in enumerate(items):
        for name in getattr(item, "fixturenames", ()):
            first_use.setdefault(name, index)
    runs = {"slurm": {"unavailable": None, "run": None}}
    turns = Turns(BACKGROUND_WIDTH)
    try:
        if any(item.path.name == TEST_FILE for item in items):
            runs["slurm"]["unavailable"] = slurm_unavailable()
            if runs["slurm"]["unavailable"] is None:
                runs["slurm"]["run"] = start_cluster_run(tmp_path_factory.mktemp("slurm_run"))
        # in the order the tests want them (a run that needs another is wanted after it)
        order = list(BACKGROUND_RUNS)
        for name in sorted((name for name in order if name in first_use), key=lambda n: (first_use[n], order.index(n))):
            start, needs = BACKGROUND_RUNS[name]
            workdir, log_dir = tmp_path_factory.mktemp(name), tmp_path_factory.mktemp(f"{name}_log")
            runs[name] = start(workdir, log_dir, **{need: runs[need] for need in needs}).start(turns)
        yield runs
    finally:
        for name, run in runs.items():
            run = run["run"] if name == "slurm" else run
            if run is not None:
                run.stop()


@pytest.fixture(scope="session")
def tiny_run(background):
    """The working directory of one complete run of workflow_runner.TINY_RUN (every default
    target: tables, figures, falsification, negative controls), made once per session.
    Read only: a test that changes a file or runs Snakemake there takes `tiny_run_copy`."""
    wait_for(background, "tiny_run")
    return background["tiny_run"].workdir


@pytest.fixture
def tiny_run_copy(tiny_run, tmp_path):
    """A copy of the shared tiny run that the test may change (workflow_runner.copy_run)."""
    return copy_run(tiny_run, tmp_path / "tiny_run")


@pytest.fixture(scope="session")
def default_run(background):
    """The working directory of one complete run of the embedded default configuration
    (config/config.yaml), made once per session. Read only."""
    wait_for(background, "default_run")
    return background["default_run"].workdir


@pytest.fixture(scope="session")
def user_data_run(background):
    """A user's data in the real formats (made by the generator, outside the workflow) under
    a folder with a non-ASCII name, and one complete run of it through a user's Snakefile
    that imports the workflow as a module (TINY's cities and period; the config names its
    inputs and inherits synthetic.enabled: true) whose results_dir is '<the crime file> x':
    named after an input, with a space, inside the data folder. Gives the working
    directory, the data and results folders, every data file's state (file_states) before
    and after the run, and the dry runs (CompletedProcess) through the module and of the
    workflow itself. Read only."""
    _, before, through_module, direct, _, after = wait_for(background, "user_data_run").results
    workdir = background["user_data_run"].workdir
    data = workdir / "données"
    return {"workdir": workdir, "data": data, "results": Path(f"{data / 'crime.csv'} x"), "before": before,
            "after": after, "plans": (through_module, direct)}


@pytest.fixture(scope="session")
def finished_run(background):
    """A complete run of 2 cities over 2019-03-29 .. 04-02 on generated data that also hold
    04-03 and Tours: (working directory, its config overrides). Its results stay as the run
    made them (tests only plan there); its data are edited only for a moment, and restored."""
    workdir = wait_for(background, "finished_run").workdir
    return workdir, finished_run_config(workdir)


@pytest.fixture
def background_ended(background):
    """Every background run has ended (its failure, if any, is its own test's to report):
    for a test that edits a file of the workflow itself (a script, the C source), which a
    run in flight would otherwise read."""
    for name, run in background.items():
        if name == "slurm":
            if run["run"] is not None:
                run["run"].finish()
        else:
            run.join()
