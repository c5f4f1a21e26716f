"""Rule synthetic_data (rules/synthetic.smk): the embedded default data set.

Writes a synthetic data set in the real NetMob23 formats (traffic files, tile grids, a
communes layer, a crime file) and its planted truth into the workflow's own folder
`{results_dir}/synthetic/`; it never writes to a configured input path.
"""


def main(snakemake):
    from netmob_cpc.synthetic import generate

    params, output = snakemake.params, snakemake.output
    generate(
        netmob_dir=params.netmob_dir,
        tile_grid=params.tile_grid,
        communes=output.communes,
        crime_csv=output.crime_csv,
        truth_csv=output.truth,
        cities=list(params.cities),
        apps=dict(params.apps),
        directions=list(params.directions),
        start=str(params.start),
        end=str(params.end),
        seed=int(params.seed),
        grid_scale=float(params.grid_scale),
        publication_min_count=int(params.crime_publication["min_count"]),
        publication_window_years=int(params.crime_publication["window_years"]),
        publication_zeros_published=bool(params.crime_publication["zeros_published"]),
    )


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
