"""The workflow used as a Snakemake module (as snakedeploy deploys it): a user's own
Snakefile imports its rules; paths to the workflow's scripts, schema, captions and
environments resolve from the module, and the outputs land in the user's folder."""

import pytest

from workflow_runner import (
    REPO, TINY, InBackground, background_snakemake, jobs_in, made_in_background, wait_for, write_config,
)

pytestmark = pytest.mark.workflow

USER_SNAKEFILE = f'''
configfile: "config.yaml"


module netmob_cpc:
    snakefile:
        "{REPO / "Snakefile"}"
    config:
        config


use rule * from netmob_cpc as netmob_cpc_*
'''


@made_in_background("module_run")
def start_module_run(workdir, log_dir):
    """A user's Snakefile that imports the workflow as a module, in `workdir`: the plan
    through the module, the plan of the workflow itself, then the run through the module;
    in the background from the session's start (tests/conftest.py)."""
    write_config(workdir, TINY)
    (workdir / "Snakefile").write_text(USER_SNAKEFILE)
    return InBackground([
        background_snakemake(workdir, "--dry-run", snakefile=workdir / "Snakefile"),
        background_snakemake(workdir, "--dry-run"),
        background_snakemake(workdir, snakefile=workdir / "Snakefile"),
    ], log_dir, workdir=workdir)


@pytest.fixture
def module_run(background):
    return wait_for(background, "module_run")


def test_runs_as_a_module_from_another_folder(module_run):
    tmp_path = module_run.workdir
    jobs, direct = jobs_in(module_run.results[0]), jobs_in(module_run.results[1])
    assert {rule.removeprefix("netmob_cpc_"): n for rule, n in jobs.items()} == direct
    estimates = tmp_path / "results" / "DL" / "cpc_com.csv"
    assert estimates.exists() and len(estimates.read_text().splitlines()) > 3
    assert (tmp_path / "results" / "DL" / "figures" / "scatter_cpc_sv.png").exists()
