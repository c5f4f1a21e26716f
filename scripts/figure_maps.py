"""Rule `figure_maps`: choropleth maps of cpc_per_1000 of one direction, one per city and
all cities side by side (geopandas: the commune polygons). Communes whose c was floored
are cross-hatched, not coloured as a low value."""


def main(snakemake):
    from netmob_cpc import figures
    from netmob_cpc.files import log

    params, direction = snakemake.params, snakemake.params.direction
    estimates, note = figures.read_estimates(snakemake.input.estimates, params.apps, params.negative_factor_floor)
    log(note)
    communes, notes = figures.read_communes(snakemake.input.communes, estimates["code_com"], params.columns)
    for line in notes:
        log(line)
    table, missing = figures.choropleth_table(communes, estimates)
    if missing:
        log(f"{len(missing)} commune(s) of {snakemake.input.estimates} have no polygon in "
            f"{snakemake.input.communes} (not drawn)")
    log(f"communes drawn: {figures.map_classes(table)}")
    norm = figures.log_norm(table.loc[table["has_estimate"], "cpc_per_1000"])
    tables = {city: table[table["cities"] == city] for city in params.cities}
    for city, path in zip(params.cities, snakemake.output.city_maps):
        figures.plot_city_map(tables[city], city, norm, path, direction=direction)
    figures.plot_city_maps_grid(tables, norm, snakemake.output.all_cities, direction=direction)


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
