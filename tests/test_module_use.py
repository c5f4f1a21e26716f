"""The workflow used as a Snakemake module (as snakedeploy deploys it): a user's own
Snakefile imports its rules; paths to the workflow's scripts, schema, captions and
environments resolve from the module, and the outputs land in the user's folder."""

import pytest

from workflow_runner import REPO, TINY, planned_jobs, snakemake, write_config

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


def test_runs_as_a_module_from_another_folder(tmp_path):
    write_config(tmp_path, TINY)
    (tmp_path / "Snakefile").write_text(USER_SNAKEFILE)
    jobs = planned_jobs(tmp_path, snakefile=tmp_path / "Snakefile")
    direct = planned_jobs(tmp_path)
    assert {rule.removeprefix("netmob_cpc_"): n for rule, n in jobs.items()} == direct
    snakemake(tmp_path, snakefile=tmp_path / "Snakefile")
    estimates = tmp_path / "results" / "DL" / "cpc_com.csv"
    assert estimates.exists() and len(estimates.read_text().splitlines()) > 3
    assert (tmp_path / "results" / "DL" / "figures" / "scatter_cpc_sv.png").exists()
