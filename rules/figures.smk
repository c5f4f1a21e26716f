# Figures of the HTML report (snakemake --report): day x hour heatmaps, choropleth maps of
# cpc_per_1000, the scatter against recorded sexual violence, and the distribution of the
# correction factor c. Captions: report/*.rst. The estimates are exploratory: no figure
# names a commune.

FIGURES = f"{RESULTS}/{{direction}}/figures"
# Maps need commune polygons: none with a given tile map or in published-table mode.
if FROM_TABLE:
    SKIPPED_MAPS = (
        "choropleth maps not drawn: published-table mode (estimates_table) has no "
        "commune polygons"
    )
elif config["tile_map"]:
    SKIPPED_MAPS = (
        "choropleth maps not drawn: a tile map is given (tile_map) instead of a "
        "communes layer, so there are no commune polygons"
    )
else:
    SKIPPED_MAPS = ""


rule figure_heatmap:
    input:
        heat=f"{RESULTS}/{{direction}}/{{heatmap}}.csv",
    output:
        figure=report(
            f"{FIGURES}/{{heatmap}}.png",
            caption="../report/heatmap.rst",
            category="Heatmaps",
            subcategory="{direction}",
            labels={"figure": "{heatmap}", "direction": "{direction}"},
        ),
    log:
        f"{RESULTS}/logs/figures/{{direction}}/{{heatmap}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figure_heatmap/{{direction}}/{{heatmap}}.tsv"
    wildcard_constraints:
        heatmap="|".join(HEATMAPS),
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        direction="{direction}",
        heatmap="{heatmap}",
        apps=APPS,
        top_n=config["top_n"],
        zero_replacement=config["zero_replacement"],
    script:
        "../scripts/figures.py"


if not SKIPPED_MAPS:

    rule figure_maps:
        input:
            estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
            communes=config["communes"],
        output:
            city_maps=[
                report(
                    f"{FIGURES}/map_{city}.png",
                    caption="../report/map_city.rst",
                    category="Maps",
                    subcategory="{direction}",
                    labels={"figure": f"map {city}", "direction": "{direction}"},
                )
                for city in CITIES
            ],
            all_cities=report(
                f"{FIGURES}/maps_all_cities.png",
                caption="../report/maps_all_cities.rst",
                category="Maps",
                subcategory="{direction}",
                labels={"figure": "all cities", "direction": "{direction}"},
            ),
        log:
            f"{RESULTS}/logs/figures/{{direction}}/maps.log",
        benchmark:
            f"{RESULTS}/benchmarks/figure_maps/{{direction}}.tsv"
        conda:
            "../envs/geo.yaml"
        resources:
            mem_mb=4000,
            runtime=20,
        params:
            direction="{direction}",
            cities=CITIES,
            columns=config.get(
                "communes_columns",
                {
                    "code_com": "INSEE_COM",
                    "code_dep": "INSEE_DEP",
                    "pop": "POPULATION",
                },
            ),
        script:
            "../scripts/figures.py"


rule figure_scatter:
    input:
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
        spearman=f"{RESULTS}/{{direction}}/spearman.csv",
    output:
        figure=report(
            f"{FIGURES}/scatter_cpc_sv.png",
            caption="../report/scatter_cpc_sv.rst",
            category="Association with recorded sexual violence",
            subcategory="{direction}",
            labels={
                "figure": "scatter cpc_per_1000 vs sv_com_17_21",
                "direction": "{direction}",
            },
        ),
    log:
        f"{RESULTS}/logs/figures/{{direction}}/scatter.log",
    benchmark:
        f"{RESULTS}/benchmarks/figure_scatter/{{direction}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        direction="{direction}",
        skipped_maps=SKIPPED_MAPS,
        from_table=FROM_TABLE,
    script:
        "../scripts/figures.py"


rule figure_correction_factors:
    input:
        # the four methods from the per-commune correlations, or the published table's c
        **(
            {"estimates": f"{RESULTS}/{{direction}}/cpc_com.csv"}
            if FROM_TABLE
            else {
                "correlations": f"{RESULTS}/estimate/{{direction}}/correlations.parquet"
            }
        ),
    output:
        figure=report(
            f"{FIGURES}/correction_factors.png",
            caption="../report/correction_factors.rst",
            category="Correction factors",
            subcategory="{direction}",
            labels={"figure": "distribution of c", "direction": "{direction}"},
        ),
    log:
        f"{RESULTS}/logs/figures/{{direction}}/correction_factors.log",
    benchmark:
        f"{RESULTS}/benchmarks/figure_correction_factors/{{direction}}.tsv"
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        direction="{direction}",
        from_table=FROM_TABLE,
        shares=SHARES,
        correction_method=config["correction_method"],
        negative_factor_floor=config["negative_factor_floor"],
    script:
        "../scripts/figures.py"
