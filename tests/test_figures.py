"""Figures: the numbers behind each figure (not pixels), error messages, valid PNG files,
the marking of communes whose correction factor was floored, and (end to end, marked
`workflow`) the figure rules and the HTML report."""

import math
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netmob_cpc import figures
from netmob_cpc.figures import FigureInputError
from netmob_cpc.files import InputError
from workflow_runner import made_in_background, wait_for

APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}
OTHER_APPS = {"porn": "PornApp", "tor": "Onion", "control": "Video"}
SHARES = {"tor_to_darknet_share": 0.011, "porn_in_darknet_share": 2267628 / 5437248, "csam_in_porn_share": 105 / 253}
WEEK = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def png_size(path):
    """(width, height) from the PNG header; fails unless the file is a complete PNG."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    assert data[-8:-4] == b"IEND", f"{path} is truncated"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def assert_sensible_png(path, min_width=600, min_height=400):
    import matplotlib.image

    width, height = png_size(path)
    assert min_width <= width <= 5000 and min_height <= height <= 5000, (width, height)
    pixels = matplotlib.image.imread(path)  # decodes the whole image
    assert pixels.shape[:2] == (height, width)
    assert pixels[..., :3].std() > 0.01, "the image is a single flat colour"
    assert Path(path).stat().st_size > 10_000


# ---------------------------------------------------------------------------------------
# heatmaps


def write_heatmap_csv(path, rows, apps=APPS, rank_code=None):
    columns = ["Day", "Hour", f"{apps['tor']}_scaled", apps["porn"], apps["control"]]
    table = pd.DataFrame(rows, columns=columns)
    if rank_code is not None:
        table.insert(0, "code_com", rank_code)
    table.to_csv(path, index=False)
    return path


def read_heatmap_csv(path):
    return pd.read_csv(path, dtype={"Day": str, "code_com": str})


def test_heatmap_matrix_weekday_order_values_and_absent_hours(tmp_path):
    # rows in scrambled order; Sunday 02:00 absent (the clock change), Wednesday absent;
    # one true zero that must stay 0
    rows = [
        ("Sunday", 3, 7.0, 70.0, 700.0),
        ("Monday", 0, 1.5, 15.0, 150.0),
        ("Sunday", 1, 6.0, 60.0, 600.0),
        ("Tuesday", 23, 0.0, 2.0, 20.0),
        ("Monday", 12, 2.5, 25.0, 250.0),
    ]
    path = write_heatmap_csv(tmp_path / "heatmap.csv", rows)
    matrices = figures.heatmap_matrices(read_heatmap_csv(path), APPS, source=str(path))

    assert list(matrices) == ["Tor_scaled", "Web_Adult", "YouTube"]
    for matrix in matrices.values():
        assert list(matrix.index) == WEEK
        assert list(matrix.columns) == list(range(24))
        assert matrix.shape == (7, 24)
    tor = matrices["Tor_scaled"]
    assert tor.loc["Monday", 0] == 1.5
    assert tor.loc["Monday", 12] == 2.5
    assert tor.loc["Sunday", 1] == 6.0 and tor.loc["Sunday", 3] == 7.0
    assert tor.loc["Tuesday", 23] == 0.0  # a real zero stays zero
    assert math.isnan(tor.loc["Sunday", 2])  # absent hour: blank, not zero
    assert tor.loc["Wednesday"].isna().all()
    assert int(tor.notna().to_numpy().sum()) == 5
    # row i of the matrix is weekday i: the panel's first row is Monday, the last Sunday
    assert tor.to_numpy()[0, 0] == 1.5 and tor.to_numpy()[6, 3] == 7.0
    assert matrices["YouTube"].loc["Sunday", 3] == 700.0
    assert matrices["Web_Adult"].loc["Tuesday", 23] == 2.0


def test_heatmap_matrix_uses_configured_app_names(tmp_path):
    path = write_heatmap_csv(tmp_path / "h.csv", [("Friday", 5, 1.0, 2.0, 3.0)], apps=OTHER_APPS, rank_code="06088")
    matrices = figures.heatmap_matrices(read_heatmap_csv(path), OTHER_APPS, source=str(path))
    assert list(matrices) == ["Onion_scaled", "PornApp", "Video"]
    assert [m.loc["Friday", 5] for m in matrices.values()] == [1.0, 2.0, 3.0]
    # the CSV of the default app names does not fit these apps: the file is named
    with pytest.raises(FigureInputError, match=r"h2\.csv: missing column\(s\) \['Onion_scaled', 'PornApp', 'Video'\]"):
        other = write_heatmap_csv(tmp_path / "h2.csv", [("Friday", 5, 1.0, 2.0, 3.0)])
        figures.heatmap_matrices(read_heatmap_csv(other), OTHER_APPS, source=str(other))


@pytest.mark.parametrize(
    "rows, message",
    [
        ([("Monday", 1, 1, 1, 1), ("Monday", 1, 2, 2, 2)], r"bad\.csv: 1 repeated \(Day, Hour\) row\(s\), e\.g\. \(Monday, 1\)"),
        ([("Lundi", 1, 1, 1, 1)], r"bad\.csv: Day values \['Lundi'\] are not English weekday names"),
        ([("Monday", 24, 1, 1, 1)], r"bad\.csv: Hour values \['24'\] are not integers 0\.\.23"),
    ],
)
def test_heatmap_matrix_rejects_bad_tables(tmp_path, rows, message):
    path = write_heatmap_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(FigureInputError, match=message):
        figures.heatmap_matrices(read_heatmap_csv(path), APPS, source=str(path))


def test_heatmap_titles_never_name_a_commune():
    assert figures.heatmap_title("heatmap", 10) == "All communes"
    assert figures.heatmap_title("heatmap_10", 7) == "The top 7 communes by estimated cpc_per_1000"
    assert figures.heatmap_title("heatmap_rank2", 10) == "The commune ranked 2 by estimated cpc_per_1000"


def test_heatmap_png_written_also_for_an_empty_rank_table(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(day, hour, *rng.uniform(1, 1e6, 3)) for day in WEEK for hour in range(24) if (day, hour) != ("Sunday", 2)]
    matrices = figures.heatmap_matrices(pd.DataFrame(rows, columns=["Day", "Hour", "Tor_scaled", "Web_Adult", "YouTube"]), APPS)
    figures.plot_heatmaps(matrices, APPS, tmp_path / "heatmap.png", title="All communes (DL)")
    assert_sensible_png(tmp_path / "heatmap.png", min_width=1500)

    # fewer communes than ranks: heatmaps.py writes a header-only table
    empty = write_heatmap_csv(tmp_path / "heatmap_rank3.csv", [], rank_code="")
    matrices = figures.heatmap_matrices(read_heatmap_csv(empty), APPS, source=str(empty))
    assert all(m.isna().to_numpy().all() for m in matrices.values())
    figures.plot_heatmaps(matrices, APPS, tmp_path / "heatmap_rank3.png", title="rank 3", empty_note="no commune at this rank")
    assert png_size(tmp_path / "heatmap_rank3.png")[0] >= 1500


def test_compact_tick_labels():
    assert figures.compact_number(1500) == "1.5k"
    assert figures.compact_number(2e9) == "2G"
    assert figures.compact_number(0.25) == "0.25"  # no milli prefix
    assert figures.compact_number(250) == "250"


# ---------------------------------------------------------------------------------------
# choropleth maps


def square(x, y, size=1000):
    from shapely.geometry import box

    return box(x, y, x + size, y + size)


@pytest.fixture
def communes_layer(tmp_path):
    """Five communes in Lambert-93 (one split into two features), code column CODE_INSEE."""
    import geopandas as gpd

    layer = gpd.GeoDataFrame(
        {
            "CODE_INSEE": ["06088", "06088", "2A004", "69123", "54395", "99999"],
            "DEP": ["06", "06", "2A", "69", "54", "99"],
            "POP": [1, 1, 2, 3, 4, 5],
        },
        geometry=[square(0, 0), square(1000, 0), square(0, 2000), square(3000, 0), square(3000, 3000), square(9000, 9000)],
        crs="EPSG:2154",
    ).to_crs(4326)  # stored in WGS84: read back in Lambert-93
    path = tmp_path / "communes.gpkg"
    layer.to_file(path)
    return path


def estimates_frame():
    return pd.DataFrame(
        {
            "cities": ["Nice", "Nice", "Lyon", "Nancy", "Nancy"],
            "code_com": ["06088", "2A004", "69123", "54395", "54999"],
            "cpc_per_1000": [2.0, np.nan, 0.5, 0.0, 8.0],
        }
    )


def test_read_communes_reads_only_listed_communes_in_lambert93(communes_layer):
    communes, notes = figures.read_communes(communes_layer, ["06088", "2A004", "69123"], {"code_com": "CODE_INSEE"})
    assert sorted(communes["code_com"]) == ["06088", "2A004", "69123"]  # 54395 and 99999 not read
    assert communes.crs.to_epsg() == 2154
    # the two features of 06088 are dissolved into one polygon of 2 km^2
    area = communes.set_index("code_com").area
    assert area["06088"] == pytest.approx(2e6, rel=1e-6)
    assert area["2A004"] == pytest.approx(1e6, rel=1e-6)
    assert any("dissolved" in note for note in notes)


def test_read_communes_names_file_and_missing_column(communes_layer):
    with pytest.raises(FigureInputError, match=r"communes\.gpkg: no column 'INSEE_COM' \(config communes_columns\.code_com\); found \['CODE_INSEE', 'DEP', 'POP'\]"):
        figures.read_communes(communes_layer, ["06088"], {"code_com": "INSEE_COM"})


def test_read_communes_numeric_code_column_is_zero_padded(tmp_path):
    import geopandas as gpd

    path = tmp_path / "numeric.gpkg"
    gpd.GeoDataFrame({"INSEE_COM": [6088, 69123]}, geometry=[square(0, 0), square(5000, 0)], crs="EPSG:2154").to_file(path)
    communes, notes = figures.read_communes(path, ["06088"], {"code_com": "INSEE_COM"})
    assert list(communes["code_com"]) == ["06088"]
    assert any("zero-padded" in note for note in notes)


def test_choropleth_table_marks_grey_communes(communes_layer):
    estimates = estimates_frame()
    communes, _ = figures.read_communes(communes_layer, estimates["code_com"], {"code_com": "CODE_INSEE"})
    table, missing = figures.choropleth_table(communes, estimates)
    table = table.set_index("code_com")
    assert sorted(table.index) == ["06088", "2A004", "54395", "69123"]
    # grey: no estimate (NaN) or nothing to place on the log scale (0)
    assert sorted(table.index[~table["has_estimate"]]) == ["2A004", "54395"]
    assert table.loc["06088", "cpc_per_1000"] == 2.0 and table.loc["69123", "cpc_per_1000"] == 0.5
    assert table.loc["06088", "cities"] == "Nice" and table.loc["54395", "cities"] == "Nancy"
    assert missing == ["54999"]  # in cpc_com.csv, no polygon
    norm = figures.log_norm(table["cpc_per_1000"])
    assert (norm.vmin, norm.vmax) == (0.5, 2.0)  # positive finite values only


def test_map_pngs_written(communes_layer, tmp_path):
    estimates = estimates_frame()
    communes, _ = figures.read_communes(communes_layer, estimates["code_com"], {"code_com": "CODE_INSEE"})
    table, _ = figures.choropleth_table(communes, estimates)
    norm = figures.log_norm(table["cpc_per_1000"])
    tables = {city: table[table["cities"] == city] for city in ["Nice", "Lyon", "Nancy", "Paris"]}
    figures.plot_city_map(tables["Nice"], "Nice", norm, tmp_path / "map_Nice.png", direction="DL")
    figures.plot_city_map(tables["Paris"], "Paris", norm, tmp_path / "map_Paris.png", direction="DL")  # no polygon
    figures.plot_city_maps_grid(tables, norm, tmp_path / "maps_all_cities.png", direction="DL")
    for name in ["map_Nice.png", "map_Paris.png", "maps_all_cities.png"]:
        assert_sensible_png(tmp_path / name)


# ---------------------------------------------------------------------------------------
# scatter


def test_scatter_data_keeps_the_tested_communes():
    estimates = pd.DataFrame(
        {
            "code_com": ["a", "b", "c", "d", "e", "f"],
            "cpc_per_1000": [2.0, 0.0, -1.0, np.nan, 0.5, 3.0],
            "sv_com_17_21": [1.0, 2.0, 3.0, 4.0, np.nan, 6.0],
        }
    )
    points = figures.scatter_data(estimates)
    # b: log 0 = -inf, c: log of a negative, d: no estimate, e: no published rate
    assert list(points["code_com"]) == ["a", "f"]
    assert points["log_cpc_per_1000"].tolist() == pytest.approx([math.log(2.0), math.log(3.0)])
    assert points["sv_com_17_21"].tolist() == [1.0, 6.0]


def test_scatter_title_numbers_come_from_spearman_csv(tmp_path):
    spearman = pd.DataFrame(
        {
            "x": ["yt_per_1000", "cpc_per_1000", "yt_per_1000"],
            "y": ["sv_com_17_21", "sv_com_17_21", "cpc_per_1000"],
            "rho": [0.9, 0.2468, -0.5],
            "pvalue": [0.5, 3.21e-8, 0.1],
            "n": [10, 731, 10],
        }
    )
    rho, pvalue, n = figures.spearman_result(spearman)
    assert (rho, pvalue, n) == (0.2468, 3.21e-8, 731)
    assert figures.scatter_title(rho, pvalue, n) == "Spearman's \u03c1 = 0.247, p = 3.21e-08, n = 731"
    assert figures.scatter_title(0.1, 0.0123, 55) == "Spearman's \u03c1 = 0.100, p = 0.0123, n = 55"
    assert figures.scatter_title(math.nan, math.nan, 2) == "Spearman's \u03c1 = n/a, p = n/a, n = 2"
    with pytest.raises(FigureInputError, match=r"spearman\.csv: expected one row with x=cpc_per_1000, y=sv_com_17_21, found 0"):
        figures.spearman_result(spearman.iloc[[0, 2]])

    points = figures.scatter_data(
        pd.DataFrame({"code_com": list("abcd"), "cpc_per_1000": [0.1, 1.0, 10.0, 5.0], "sv_com_17_21": [1.0, 3.0, 2.0, 4.0]})
    )
    figures.plot_scatter(points, rho, pvalue, n, tmp_path / "scatter.png", direction="DL")
    assert_sensible_png(tmp_path / "scatter.png")


# ---------------------------------------------------------------------------------------
# correction factors


def test_correction_factor_distribution_per_method(tmp_path):
    pearson = np.array([0.5, -0.2, np.nan, 0.1, 0.9])
    spearman = np.array([0.4, 0.3, np.nan, -0.6, 0.8])
    correlations = pd.DataFrame({"code_com": ["a", "b", "c", "d", "e"], "pearson_log": pearson, "spearman_log": spearman})
    floor = 1e-5
    distribution, summary = figures.correction_factor_distribution(correlations, SHARES, floor)

    scale = 0.011 * 105 / 253
    c_global = 0.011 * 105 / 253 * 2267628 / 5437248
    mean_r = (0.5 - 0.2 + 0.1 + 0.9) / 4
    expected = {
        "pearson_log": [0.5 * scale, floor, np.nan, 0.1 * scale, 0.9 * scale],
        # c2 floors a negative r as c1 does (squaring would make it positive)
        "pearson_log_squared": [0.25 * scale, floor, np.nan, 0.01 * scale, 0.81 * scale],
        "pearson_log_centered": [(r - mean_r + 1) * c_global for r in pearson],
        "spearman_log": [0.4 * scale, 0.3 * scale, np.nan, floor, 0.8 * scale],
    }
    assert sorted(distribution["method"].unique()) == sorted(expected)
    for method, values in expected.items():
        got = distribution[distribution["method"] == method].set_index("code_com")["c"]
        np.testing.assert_allclose(got.loc[list("abcde")].to_numpy(), values, rtol=1e-12)
        defined = [v for v in values if not math.isnan(v)]
        assert summary.loc[method, "median"] == pytest.approx(np.median(defined), rel=1e-12)
        assert summary.loc[method, "n_communes"] == 5
        assert summary.loc[method, "n_undefined"] == 1
    assert summary["n_floored"].to_dict() == {
        "pearson_log": 1, "pearson_log_squared": 1, "pearson_log_centered": 0, "spearman_log": 1,
    }
    floored = distribution[distribution["floored"]]
    assert sorted(zip(floored["method"], floored["code_com"])) == [
        ("pearson_log", "b"), ("pearson_log_squared", "b"), ("spearman_log", "d"),
    ]

    assert (summary["n_not_positive"] == 0).all()

    figures.plot_correction_factors(distribution, summary, tmp_path / "c.png", direction="DL", used_method="pearson_log", floor=floor)
    assert_sensible_png(tmp_path / "c.png")


def test_zero_factor_is_counted_not_drawn_on_the_log_axis():
    correlations = pd.DataFrame({"code_com": ["a", "b"], "pearson_log": [0.0, 0.5], "spearman_log": [0.2, 0.5]})
    distribution, summary = figures.correction_factor_distribution(correlations, SHARES, 1e-5)
    # r = 0 gives c = 0 under c1 and c2: not negative (no floor), not positive (no log)
    assert summary.loc["pearson_log", "n_not_positive"] == 1
    assert summary.loc["pearson_log_squared", "n_not_positive"] == 1
    assert summary.loc["pearson_log", "n_floored"] == 0
    assert summary.loc["spearman_log", "n_not_positive"] == 0
    bins = figures.log_bins(distribution["c"])
    positive = distribution["c"][distribution["c"] > 0]
    assert bins[0] == pytest.approx(positive.min()) and bins[-1] >= positive.max()
    assert np.allclose(np.diff(np.log(bins)), np.log(bins[1] / bins[0]))  # equal steps in log


def test_published_table_factor_distribution(tmp_path):
    estimates = pd.DataFrame({"code_com": ["06088", "69123", "54395"], "c": [0.001, np.nan, 0.003]})
    distribution, summary = figures.published_factor_distribution(estimates)
    assert list(summary.index) == ["published table"]
    assert summary.loc["published table", "median"] == pytest.approx(0.002)
    assert summary.loc["published table", "n_undefined"] == 1
    assert pd.isna(summary.loc["published table", "n_floored"])
    assert distribution["c"].tolist()[::2] == [0.001, 0.003]
    figures.plot_correction_factors(distribution, summary, tmp_path / "c.png", direction="DL", floor=1e-5)
    assert_sensible_png(tmp_path / "c.png", min_height=300)
    with pytest.raises(FigureInputError, match=r"cpc_com\.csv: missing column\(s\) \['c'\]"):
        figures.published_factor_distribution(estimates.drop(columns="c"))


# ---------------------------------------------------------------------------------------
# floored correction factors: marked apart in the scatter, the maps and the histogram


def floored_estimates():
    """Five communes of two cities; b and d had a negative correlation (c at the floor)."""
    return pd.DataFrame(
        {
            "cities": ["Nice", "Nice", "Nancy", "Nancy", "Nancy"],
            "code_com": ["06088", "2A004", "54395", "69123", "54999"],
            "c": [2e-3, 1e-5, 3e-3, 1e-5, 1e-3],
            "c_floored": [False, True, False, True, False],
            "cpc_per_1000": [2.0, 0.01, 0.5, 0.02, 8.0],
            "sv_com_17_21": [1.0, 2.0, 3.0, 4.0, np.nan],
        }
    )


def test_floored_flags_from_the_column_from_c_or_none():
    table = floored_estimates()
    flags, note = figures.floored_flags(table, 1e-5)
    assert flags.tolist() == [False, True, False, True, False] and "column c_floored" in note
    # no column: c at the floor (within 1e-9 relative) counts; NaN and values above do not
    table = pd.DataFrame({"c": [1e-5, 1e-5 * (1 + 1e-10), 1e-5 * (1 + 1e-6), np.nan, 0.5]})
    flags, note = figures.floored_flags(table, 1e-5)
    assert flags.tolist() == [True, True, False, False, False]
    assert note.startswith("2 commune(s) with c <= the floor 1e-05")
    # the file had no c_floored column (has_column=False) even though the reader added one
    flags, _ = figures.floored_flags(table.assign(c_floored=False), 1e-5, has_column=False)
    assert flags.tolist() == [True, True, False, False, False]
    flags, note = figures.floored_flags(pd.DataFrame({"cpc_per_1000": [1.0, 2.0]}), 1e-5)
    assert flags.tolist() == [False, False] and "not marked" in note


def estimate_csv(path, table, apps=APPS, sep=","):
    """An estimate table with every column the shared reader needs."""
    full = table.assign(
        code_dep=table["code_com"].str[:2], pop=1000.0, cpc=1.0, yt_per_1000=1.0, wa_per_1000=1.0,
        tor_per_1000=1.0, sv_17_21=1.0, **{apps["tor"]: 100.0},
    )
    full.to_csv(path, index=False, sep=sep)
    return path


def test_read_estimates_takes_the_column_or_computes_it(tmp_path):
    table = floored_estimates()
    # the column says 54999 was floored although its c is not at the floor: the column wins
    with_column = estimate_csv(tmp_path / "with.csv", table.assign(c_floored=[False, True, False, True, True]))
    read, note = figures.read_estimates(with_column, APPS, 1e-5)
    assert read["c_floored"].tolist() == [False, True, False, True, True] and "c_floored" in note
    # without the column (an older table, the authors' ';' layout): from c and the floor
    without = estimate_csv(tmp_path / "without.csv", table.drop(columns="c_floored"), sep=";")
    read, note = figures.read_estimates(without, APPS, 1e-5)
    assert read.set_index("code_com")["c_floored"].to_dict() == {
        "06088": False, "2A004": True, "54395": False, "69123": True, "54999": False,
    }
    assert "no c_floored column" in note


def legend_labels(ax):
    legend = ax.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend else []


def test_scatter_marks_floored_communes(tmp_path):
    points = figures.scatter_data(floored_estimates())
    assert list(points["code_com"]) == ["06088", "2A004", "54395", "69123"]  # 54999: no rate
    assert points["c_floored"].tolist() == [False, True, False, True]
    figure = figures.plot_scatter(points, 0.5, 0.01, 4, tmp_path / "scatter.png", direction="DL")
    ax = figure.axes[0]
    assert legend_labels(ax) == ["c from the correlation (2 communes)", "c floored (negative correlation) (2 communes)"]
    regular, floored = ax.collections
    np.testing.assert_allclose(floored.get_offsets(), [[0.01, 2.0], [0.02, 4.0]])
    np.testing.assert_allclose(regular.get_offsets(), [[2.0, 1.0], [0.5, 3.0]])
    assert tuple(floored.get_facecolor()[0][:3]) != tuple(regular.get_facecolor()[0][:3])
    assert_sensible_png(tmp_path / "scatter.png")
    # no floored commune: one group, no legend entry for it
    figure = figures.plot_scatter(points.assign(c_floored=False), 0.5, 0.01, 4, tmp_path / "s2.png", direction="DL")
    assert len(figure.axes[0].collections) == 1 and legend_labels(figure.axes[0]) == []


def test_maps_draw_floored_communes_as_their_own_class(communes_layer, tmp_path):
    estimates = floored_estimates()
    communes, _ = figures.read_communes(communes_layer, estimates["code_com"], {"code_com": "CODE_INSEE"})
    table, missing = figures.choropleth_table(communes, estimates)
    table = table.set_index("code_com")
    assert missing == ["54999"]
    assert sorted(table.index[table["floored"]]) == ["2A004", "69123"]
    assert sorted(table.index[table["has_estimate"]]) == ["06088", "54395"]  # floored: not coloured
    assert figures.map_classes(table) == {"coloured": 2, "floored": 2, "grey": 0}
    # the colour scale spans the coloured communes only, not the floor
    norm = figures.log_norm(table.loc[table["has_estimate"], "cpc_per_1000"])
    assert (norm.vmin, norm.vmax) == (0.5, 2.0)
    table = table.reset_index()
    tables = {city: table[table["cities"] == city] for city in ["Nice", "Nancy"]}
    figure = figures.plot_city_map(tables["Nancy"], "Nancy", norm, tmp_path / "map_Nancy.png", direction="DL")
    labels = legend_labels(figure.axes[0])
    assert labels == ["no estimate (0 communes)", "c floored (negative correlation) (1 communes)"]
    hatches = [patch.get_hatch() for patch in figure.axes[0].get_legend().get_patches()]
    assert hatches == ["////", "xxx"]
    # one filled polygon collection per class drawn: coloured, then floored (cross-hatched)
    hatched = [c for c in figure.axes[0].collections if c.get_hatch() == "xxx"]
    assert len(hatched) == 1 and len(hatched[0].get_paths()) == 1
    assert_sensible_png(tmp_path / "map_Nancy.png")
    grid = figures.plot_city_maps_grid(tables, norm, tmp_path / "maps_all_cities.png", direction="DL")
    legend = [ax for ax in grid.axes if ax.get_legend() is not None][0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "no estimate (0 communes)", "c floored (negative correlation) (2 communes)",
    ]
    assert_sensible_png(tmp_path / "maps_all_cities.png")


def test_correction_factor_histogram_stacks_floored_communes(tmp_path):
    estimates = floored_estimates()
    distribution, summary = figures.published_factor_distribution(estimates)
    assert summary.loc["published table", "n_floored"] == 2
    figure = figures.plot_correction_factors(distribution, summary, tmp_path / "c.png", direction="DL", floor=1e-5)
    ax = figure.axes[0]
    assert legend_labels(ax) == ["c from the correlation", "c floored (negative correlation)"]
    regular, floored = [patch for patch in ax.patches if type(patch).__name__ == "StepPatch"]
    # the floored layer sits on the regular one and holds the two floored communes
    assert regular.get_data().values.sum() == 3
    assert (floored.get_data().values - floored.get_data().baseline).sum() == 2
    assert_sensible_png(tmp_path / "c.png", min_height=300)


def test_figure_input_errors_are_input_errors():
    # run_rule prints an InputError as one line naming the file
    assert issubclass(FigureInputError, InputError)


# ---------------------------------------------------------------------------------------
# end to end: the figure rules and the HTML report


FIGURE_NAMES = [
    "scatter_cpc_sv.png", "correction_factors.png", "heatmap.png", "heatmap_10.png", "heatmap_rank1.png",
    "heatmap_rank2.png", "heatmap_rank3.png",
]


@pytest.mark.workflow
def test_figures_and_report_end_to_end(tiny_run_copy):
    """On (a copy of) the shared tiny run, which made every default target."""
    from workflow_runner import TINY_RUN, snakemake

    workdir = tiny_run_copy
    cities = TINY_RUN["cities"]
    targets = [f"results/DL/figures/{name}" for name in FIGURE_NAMES]
    targets += [f"results/DL/figures/map_{city}.png" for city in cities] + ["results/DL/figures/maps_all_cities.png"]
    for target in targets:
        assert_sensible_png(workdir / target, min_height=300)
    # one job draws the heatmaps, the scatter and the distribution of c; one the maps
    folder = workdir / "results/benchmarks"
    benchmarks = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.tsv"))
    benchmarks = [name for name in benchmarks if name.startswith("figure")]
    assert benchmarks == ["figure_maps/DL.tsv", "figures/DL.tsv"]

    # the scatter's title numbers are spearman.csv's (the log says what was drawn)
    spearman = pd.read_csv(workdir / "results/DL/spearman.csv")
    rho, pvalue, n = figures.spearman_result(spearman)
    log = (workdir / "results/logs/figures/DL.log").read_text()
    assert figures.scatter_title(rho, pvalue, n) in log
    estimates = pd.read_csv(workdir / "results/DL/cpc_com.csv", dtype={"code_com": str})
    assert len(figures.scatter_data(estimates)) == n

    report = workdir / "report.html"
    snakemake(workdir, *targets, "--report", str(report))
    html = report.read_text(errors="replace")
    assert report.stat().st_size > 100_000
    for name in ["heatmap_rank1.png", "maps_all_cities.png", "correction_factors.png", "scatter_cpc_sv.png"]:
        assert name in html
    for category in ["Heatmaps", "Maps", "Correction factors", "Association with recorded sexual violence"]:
        assert category in html


@made_in_background("figure_plans")
def start_figure_plans(root, log_dir):
    """The plans of test_figure_jobs_per_mode (dry runs, each checked by the test), in the
    background from the session's start (tests/conftest.py)."""
    from workflow_runner import TINY, Command, InBackground, snakemake_command, write_config

    write_config(root / "synthetic", {**TINY, "directions": ["DL", "UL"]})
    write_config(root / "table", {"estimates_table": "published.csv"})
    (root / "table" / "published.csv").write_text("cities;code_com\n")
    plans = [("synthetic", ()), ("table", ("results/DL/figures/scatter_cpc_sv.png",)),
             ("table", ("results/DL/figures/heatmap.png",))]
    return InBackground([
        Command(snakemake_command(root / folder, "--dry-run", *targets), check=lambda _: None) for folder, targets in plans
    ], log_dir, workdir=root)


@pytest.fixture
def figure_plans(background):
    return wait_for(background, "figure_plans").results


@pytest.mark.workflow
def test_figure_jobs_per_mode(figure_plans):
    """One `figures` job per direction draws every PNG without polygons; the maps are their
    own job, and there is none (nor any heatmap) from an estimate table."""
    from workflow_runner import check_snakemake, jobs_in

    synthetic, table, missing = figure_plans
    jobs = jobs_in(check_snakemake(synthetic, ["--dry-run"]))
    assert (jobs["figures"], jobs["figure_maps"], jobs["heatmaps"]) == (2, 2, 2)
    assert not [rule for rule in jobs if rule.startswith("figure_") and rule != "figure_maps"]

    jobs = jobs_in(check_snakemake(table, ["--dry-run"]))
    assert jobs["figures"] == 1
    assert "figure_maps" not in jobs and "heatmaps" not in jobs
    with pytest.raises(AssertionError, match="MissingRuleException|No rule to produce"):
        jobs_in(check_snakemake(missing, ["--dry-run"]))
