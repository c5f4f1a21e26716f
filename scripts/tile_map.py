"""Rule tile_map: the tile -> commune map of one city (given, or built from its tile grid
and the communes layer), written as the ingest's lookup arrays (.npz) and as a CSV
(tile_id, cities, code_dep, code_com, pop, coverage)."""


def main(snakemake):
    from netmob_cpc.tile_map import city_tile_map, log, write_tile_index

    city = snakemake.params.city
    tile_map_city, n_index = city_tile_map(
        city,
        dict(snakemake.params.columns),
        tile_map=getattr(snakemake.input, "tile_map", None),
        grid=getattr(snakemake.input, "grid", None),
        communes=getattr(snakemake.input, "communes", None),
    )
    index = write_tile_index(snakemake.output.index, snakemake.output.table, tile_map_city, n_index)
    log(f"tile index of {city}: {len(index['commune_of_tile'])} tiles, {len(index['code_com'])} communes")


if "snakemake" in globals():
    from netmob_cpc.files import run_rule

    run_rule(snakemake, main)  # noqa: F821
