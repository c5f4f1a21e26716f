"""The workflow used as a Snakemake module (as snakedeploy deploys it): a user's own
Snakefile imports its rules; paths to the workflow's scripts, schema, captions and
environments resolve from the module, and the outputs land in the user's folder. The run
is the shared user-data run (tests/conftest.py): a user's data, through a user's Snakefile."""

import pytest

from workflow_runner import jobs_in

pytestmark = pytest.mark.workflow


def test_runs_as_a_module_from_another_folder(user_data_run):
    through_module, direct = (jobs_in(plan) for plan in user_data_run["plans"])
    assert {rule.removeprefix("netmob_cpc_"): n for rule, n in through_module.items()} == direct
    assert all(rule.startswith("netmob_cpc_") for rule in through_module) and len(direct) > 10
    estimates = user_data_run["results"] / "DL" / "cpc_com.csv"
    assert estimates.exists() and len(estimates.read_text().splitlines()) > 3
    assert (user_data_run["results"] / "DL" / "figures" / "scatter_cpc_sv.png").exists()
    assert not (user_data_run["workdir"] / "results").exists()  # the outputs go where the user's config says
