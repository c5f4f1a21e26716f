"""Rule `figures`: every PNG of one direction that needs no commune polygons, drawn in one
process (Matplotlib is imported once): the day x hour heatmaps (none in estimate-table
mode), the scatter against recorded sexual violence and the distribution of c."""


def main(snakemake):
    import pandas as pd

    from netmob_cpc import figures
    from netmob_cpc.files import log

    params, direction = snakemake.params, snakemake.params.direction
    estimates, note = figures.read_estimates(snakemake.input.estimates, params.apps, params.negative_factor_floor)
    log(note)

    for name, source, path in zip(params.heatmaps, snakemake.input.heatmaps, snakemake.output.heatmaps):
        heat = pd.read_csv(source, dtype={"Day": str, "code_com": str})
        matrices = figures.heatmap_matrices(heat, params.apps, source=source)
        blank = {column: int(matrix.isna().to_numpy().sum()) for column, matrix in matrices.items()}
        log(f"{name}: weekday-hours without data (of 168): {blank}")
        note = "no commune at this rank" if name.startswith("heatmap_rank") else "no data"
        title = f"{figures.heatmap_title(name, params.top_n)} ({direction})"
        figures.plot_heatmaps(matrices, params.apps, path, title=title, empty_note=note)

    if params.skipped_maps:
        log(f"note: {params.skipped_maps}")
    spearman = pd.read_csv(snakemake.input.spearman)
    rho, pvalue, n = figures.spearman_result(spearman, source=snakemake.input.spearman)
    points = figures.scatter_data(estimates, source=snakemake.input.estimates)
    if len(points) != n:
        log(f"warning: {len(points)} points drawn, spearman.csv reports n = {n}")
    log(f"scatter: {len(points)} communes ({int(points['c_floored'].sum())} with c floored); "
        f"{figures.scatter_title(rho, pvalue, n)}")
    figures.plot_scatter(points, rho, pvalue, n, snakemake.output.scatter, direction=direction)

    if "correlations" in snakemake.input.keys():
        distribution, summary = figures.correction_factor_distribution(
            pd.read_parquet(snakemake.input.correlations), params.shares, params.negative_factor_floor
        )
        used = params.correction_method
    else:
        distribution, summary = figures.published_factor_distribution(estimates, source=snakemake.input.estimates)
        used = None
    log(summary.to_string())
    figures.plot_correction_factors(distribution, summary, snakemake.output.correction_factors, direction=direction,
                                    used_method=used, floor=params.negative_factor_floor)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
