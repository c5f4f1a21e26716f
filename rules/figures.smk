# Figures of the HTML report (snakemake --report). Two jobs per direction:
# - `figures`: every PNG that needs no commune polygons (the day x hour heatmaps, the
#   scatter against recorded sexual violence, the distribution of the correction factor
#   c), drawn in one process so that Matplotlib starts once;
# - `figure_maps`: the choropleth maps of cpc_per_1000 (geopandas, commune polygons; not
#   drawn with a given tile map or an estimate table, see SKIPPED_MAPS in common.smk).
# Captions: report/*.rst. The estimates are exploratory: no figure names a commune.

FIGURES = f"{RESULTS}/{{direction}}/figures"
# The heatmap PNGs of a direction (none from an estimate table: no hourly series), and
# the caption of each: all communes, the top_n, one commune by rank.
FIGURE_HEATMAPS = [] if FROM_TABLE else HEATMAPS
HEATMAP_CAPTIONS = {
    "heatmap": "../report/heatmap.rst",
    "heatmap_10": "../report/heatmap_top.rst",
    "heatmap_rank1": "../report/heatmap_rank.rst",
    "heatmap_rank2": "../report/heatmap_rank.rst",
    "heatmap_rank3": "../report/heatmap_rank.rst",
}
# The distribution of c: the four methods from the per-commune correlations, or (estimate
# table) the table's own c.
FIGURE_CORRELATIONS = (
    {}
    if FROM_TABLE
    else {"correlations": f"{RESULTS}/estimate/{{direction}}/correlations.parquet"}
)


rule figures:
    input:
        **FIGURE_CORRELATIONS,
        heatmaps=[f"{RESULTS}/{{direction}}/{name}.csv" for name in FIGURE_HEATMAPS],
        estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
        spearman=f"{RESULTS}/{{direction}}/spearman.csv",
        provenance=provenance("figures"),
    output:
        heatmaps=[
            report(
                f"{FIGURES}/{name}.png",
                caption=HEATMAP_CAPTIONS[name],
                category="Heatmaps",
                subcategory="{direction}",
                labels={"figure": name, "direction": "{direction}"},
            )
            for name in FIGURE_HEATMAPS
        ],
        scatter=report(
            f"{FIGURES}/scatter_cpc_sv.png",
            caption="../report/scatter_cpc_sv.rst",
            category="Association with recorded sexual violence",
            subcategory="{direction}",
            labels={
                "figure": "scatter cpc_per_1000 vs sv_com_17_21",
                "direction": "{direction}",
            },
        ),
        correction_factors=report(
            f"{FIGURES}/correction_factors.png",
            caption="../report/correction_factors.rst",
            category="Correction factors",
            subcategory="{direction}",
            labels={"figure": "distribution of c", "direction": "{direction}"},
        ),
    log:
        f"{RESULTS}/logs/figures/{{direction}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures/{{direction}}.tsv"
    # a long job, after association_tests: start it as soon as it can
    priority: 5
    conda:
        "../envs/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code_fingerprint("figures.py"),
        direction="{direction}",
        heatmaps=FIGURE_HEATMAPS,
        apps=APPS,
        top_n=config["top_n"],
        skipped_maps=SKIPPED_MAPS,
        shares=SHARES,
        correction_method=config["correction_method"],
        negative_factor_floor=config["negative_factor_floor"],
    script:
        "../scripts/figures.py"


if not SKIPPED_MAPS:

    rule figure_maps:
        input:
            estimates=f"{RESULTS}/{{direction}}/cpc_com.csv",
            communes=INPUTS["communes"],
            provenance=provenance("figure_maps"),
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
            f"{RESULTS}/logs/figures/{{direction}}_maps.log",
        benchmark:
            f"{RESULTS}/benchmarks/figure_maps/{{direction}}.tsv"
        conda:
            "../envs/geo.yaml"
        resources:
            mem_mb=1000,
            runtime=20,
        params:
            code=code_fingerprint("figure_maps.py"),
            direction="{direction}",
            cities=CITIES,
            apps=APPS,
            columns=config["communes_columns"],
            negative_factor_floor=config["negative_factor_floor"],
        script:
            "../scripts/figure_maps.py"
