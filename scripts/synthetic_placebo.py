"""Rule synthetic_placebo (rules/synthetic.smk): the traffic files of one placebo app for
the embedded synthetic data set, in the workflow's own folder {results_dir}/synthetic/.
The data set's other files (synthetic_data) do not depend on them."""


def main(snakemake):
    from netmob_cpc.synthetic import generate_placebo

    params = snakemake.params
    generate_placebo(
        netmob_dir=params.netmob_dir,
        apps=[params.app],
        cities=list(params.cities),
        directions=list(params.directions),
        start=str(params.start),
        end=str(params.end),
        seed=int(params.seed),
        grid_scale=float(params.grid_scale),
    )


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
