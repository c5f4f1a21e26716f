"""Figures of the report: day x hour heatmaps, choropleth maps of cpc_per_1000, the scatter
of the estimates against recorded sexual violence, and the distribution of the correction
factor c under the four methods (ARCHITECTURE.md, "Definitions the notebook leaves open").

Each figure has a data function (returns the numbers the figure shows; tested) and a
plotting function (draws them on a `matplotlib.figure.Figure`, no pyplot, and writes a
PNG through the Agg canvas). Colours: viridis (sequential, colour-blind safe, no grey
inside), grey with hatching for "no estimate", light grey cross-hatched (maps) or orange
crosses (scatter, histogram) for communes whose correction factor was floored (a negative
correlation replaced by `negative_factor_floor`: not a real low value), white for "no
data"; never a red-green contrast.

Speed: one process draws all the PNGs of a direction (rule `figures`), so Matplotlib is
imported once; the heatmaps use fixed axes positions (no constrained layout, which measures
every tick label several times) and line collections for the cell grid (no minor ticks).

The estimates are exploratory and must not be used to single out places or people: no
figure names a commune, and every figure carries that reminder in a footer.
"""

import calendar
import math

import numpy as np
import pandas as pd

from netmob_cpc.files import InputError, atomic_path

# English names whatever the machine's locale (as netmob_cpc.heatmaps writes them).
WEEKDAYS = list(calendar.day_name)  # Monday .. Sunday
HOURS = list(range(24))
DPI = 110
FOOTER = "Exploratory estimates: not to be used to single out places or people."
SEQUENTIAL = "viridis"
MAP_COLOURS = "viridis"  # no grey inside, unlike cividis: the grey "no estimate" stands apart
NO_ESTIMATE_GREY = "#b3b3b3"
FLOORED_FILL = "#eeeeee"  # maps: light grey, cross-hatched in dark grey
FLOORED_EDGE = "#555555"
FLOORED_MARK = "#e66101"  # scatter and histogram: orange (apart from viridis blue for all vision types)
FLOORED_LABEL = "c floored (negative correlation)"
ACCENT = "#31688e"  # a viridis blue, for single-colour marks
METHOD_LABELS = {
    "pearson_log": "c1 pearson_log: r \u00d7 s_Tor \u00d7 s_CSAM",
    "pearson_log_squared": "c2 pearson_log_squared: r\u00b2 \u00d7 s_Tor \u00d7 s_CSAM",
    "pearson_log_centered": "c3 pearson_log_centered: (r \u2212 mean r + 1) \u00d7 c_global",
    "spearman_log": "c4 spearman_log: \u03c1_S \u00d7 s_Tor \u00d7 s_CSAM",
    "published table": "c as given in the estimate table",
}
TRAFFIC_UNIT = "summed traffic (NetMob23 volume units)"
# A c within this relative distance of the floor counts as floored when the table has no
# c_floored column (older tables, the authors' layout).
FLOOR_TOLERANCE = 1e-9


class FigureInputError(InputError):
    """An input file a figure cannot be drawn from; the message names the file."""


# --------------------------------------------------------------------------------------
# helpers


def new_figure(width, height, *, constrained=True):
    """A Figure on the Agg canvas (no pyplot: nothing global, nothing kept alive)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained" if constrained else None)


def save_png(figure, path):
    """Write `figure` as PNG to `path` atomically."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)


def _footer(figure, inches=0.3):
    """The reminder line, in a strip at the bottom kept free of the constrained layout."""
    height = inches / figure.get_figheight()
    engine = figure.get_layout_engine()
    if engine is not None:
        engine.set(rect=(0, height, 1, 1 - height))
    figure.text(0.995, height * 0.3, FOOTER, ha="right", va="bottom", fontsize=7, color="#444444", style="italic")


def _require_columns(table, columns, source):
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise FigureInputError(f"{source}: missing column(s) {missing}; found {list(table.columns)}")


def format_p(p):
    """A p-value for a title: 3 significant digits, scientific below 0.001."""
    if p is None or not math.isfinite(p):
        return "n/a"
    if p == 0:
        return "< 1e-300"
    return f"{p:.3g}" if p >= 1e-3 else f"{p:.2e}"


def compact_number(value, _position=None):
    """Tick label: 1,500 -> '1.5k', 2e9 -> '2G'; below 1,000 a plain number (no milli prefix,
    which would read as metres)."""
    if not math.isfinite(value):
        return ""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def _format_number(value, digits=3):
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


# --------------------------------------------------------------------------------------
# floored correction factors


def floored_flags(estimates, negative_factor_floor, *, has_column=None):
    """Boolean Series (aligned with `estimates`): the commune's c was floored.

    The table's own `c_floored` when it has one (`has_column`: whether the file's header
    named it; None: look at the frame's columns); otherwise c <= floor x (1 + 1e-9) when a
    column `c` is there; otherwise no commune is marked. Returns (flags, note), the note
    saying for the log how the flags were found."""
    if has_column is None:
        has_column = "c_floored" in estimates.columns
    if has_column:
        flags = estimates["c_floored"].fillna(False).astype(bool)
        return flags, f"{int(flags.sum())} commune(s) with c floored (column c_floored)"
    if "c" in estimates.columns:
        c = pd.to_numeric(estimates["c"], errors="coerce").astype("float64")
        flags = c <= negative_factor_floor * (1 + FLOOR_TOLERANCE)
        return flags.fillna(False).astype(bool), (
            f"{int(flags.sum())} commune(s) with c <= the floor {negative_factor_floor:g} marked as floored "
            "(the table has no c_floored column)"
        )
    return pd.Series(False, index=estimates.index), "no c and no c_floored column: floored communes not marked"


def read_estimates(path, apps, negative_factor_floor):
    """The estimate table (netmob_cpc.estimates.read_estimate_table) with `c_floored` taken
    from the file or, when the file has no such column, from c and the floor.
    Returns (table, note)."""
    from netmob_cpc.estimates import read_estimate_table

    table = read_estimate_table(path, apps)
    flags, note = floored_flags(table, negative_factor_floor, has_column="c_floored" in table.attrs["file_columns"])
    return table.assign(c_floored=flags), note


# --------------------------------------------------------------------------------------
# 1. day x hour heatmaps


def heatmap_value_columns(apps):
    """Value columns of a heatmap CSV, in panel order: scaled Tor, porn, control."""
    return [f"{apps['tor']}_scaled", apps["porn"], apps["control"]]


def heatmap_matrices(heat, apps, source="heatmap"):
    """Weekday x hour matrices (Monday..Sunday x 0..23), one per value column.

    An hour absent from the table (no hourly row at all, e.g. 02:00 of a clock-change day
    when no other such weekday is in the period) is NaN, not 0.
    """
    columns = heatmap_value_columns(apps)
    _require_columns(heat, ["Day", "Hour", *columns], source)
    days = heat["Day"].astype(str)
    unknown = sorted(set(days) - set(WEEKDAYS))
    if unknown:
        raise FigureInputError(f"{source}: Day values {unknown} are not English weekday names {WEEKDAYS}")
    hours = pd.to_numeric(heat["Hour"], errors="coerce")
    bad = heat.loc[~hours.isin(HOURS), "Hour"]
    if len(bad):
        raise FigureInputError(f"{source}: Hour values {sorted(map(str, bad.unique()))[:10]} are not integers 0..23")
    keys = pd.DataFrame({"Day": days, "Hour": hours.astype(int)})
    duplicated = keys.duplicated()
    if duplicated.any():
        first = keys[duplicated].iloc[0]
        raise FigureInputError(
            f"{source}: {int(duplicated.sum())} repeated (Day, Hour) row(s), e.g. ({first['Day']}, {first['Hour']});"
            " expected one row per weekday and hour"
        )
    matrices = {}
    for column in columns:
        values = pd.to_numeric(heat[column], errors="coerce").astype("float64")
        frame = keys.assign(value=values.to_numpy())
        matrix = frame.pivot(index="Day", columns="Hour", values="value")
        matrices[column] = matrix.reindex(index=WEEKDAYS, columns=HOURS).astype("float64")
    return matrices


def heatmap_title(name, top_n):
    """Which communes a heatmap CSV covers (no commune is named)."""
    if name == "heatmap":
        return "All communes"
    if name.startswith("heatmap_rank"):
        return f"The commune ranked {name.removeprefix('heatmap_rank')} by estimated cpc_per_1000"
    return f"The top {top_n} communes by estimated cpc_per_1000"


def plot_heatmaps(matrices, apps, path, *, title, empty_note="no data"):
    """Three heatmaps side by side, each with its own colour bar; blank = no data.

    Axes sit at fixed positions (figure fractions) instead of a constrained layout: the
    figure always has the same three panels, and the layout solver cost more than the
    drawing."""
    import matplotlib
    from matplotlib.colors import Normalize
    from matplotlib.ticker import FuncFormatter

    panel_titles = {
        f"{apps['tor']}_scaled": f"{apps['tor']} \u00d7 correction factor c",
        apps["porn"]: f"{apps['porn']} (porn role)",
        apps["control"]: f"{apps['control']} (control role)",
    }
    width, height = 15.0, 4.6
    figure = new_figure(width, height, constrained=False)
    cmap = matplotlib.colormaps[SEQUENTIAL].with_extremes(bad="white")
    # an empty table: the rank files when there are fewer communes than ranks
    empty = all(np.isnan(matrix.to_numpy()).all() for matrix in matrices.values())
    left, right, gap = 0.075, 0.012, 0.025
    panel_width = (1 - left - right - 2 * gap) / 3
    bottom, top = 0.40, 0.85
    axes = []
    for index, (column, matrix) in enumerate(matrices.items()):
        x = left + index * (panel_width + gap)
        ax = figure.add_axes((x, bottom, panel_width, top - bottom))
        axes.append(ax)
        data = matrix.to_numpy()
        finite = data[np.isfinite(data)]
        vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        if vmax <= vmin:
            vmax = vmin + (abs(vmin) or 1.0)
        image = ax.imshow(
            np.ma.masked_invalid(data), cmap=cmap, norm=Normalize(vmin, vmax), aspect="auto", interpolation="nearest"
        )
        ax.set_title(panel_titles[column], fontsize=11)
        ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)], fontsize=9)
        # the cell grid as two line collections (minor ticks would make 31 Tick objects)
        ax.vlines(np.arange(0.5, 23), -0.5, 6.5, color="#dddddd", linewidth=0.4)
        ax.hlines(np.arange(0.5, 6), -0.5, 23.5, color="#dddddd", linewidth=0.4)
        ax.set_xlim(-0.5, 23.5)
        ax.set_ylim(6.5, -0.5)
        ax.set_xlabel("hour of day (local time, start of hour)", fontsize=9)
        ax.set_facecolor("white")
        cax = figure.add_axes((x + panel_width * 0.05, 0.215, panel_width * 0.9, 0.035))
        bar = figure.colorbar(image, cax=cax, orientation="horizontal")
        bar.set_label(TRAFFIC_UNIT, fontsize=9)
        bar.ax.xaxis.set_major_formatter(FuncFormatter(compact_number))
        bar.ax.tick_params(labelsize=8)
        if not finite.size:
            cax.set_visible(False)
            ax.text(11.5, 3, empty_note if empty else "no data", ha="center", va="center", fontsize=13, color="#444444")
        if index:
            ax.set_yticks([])  # the weekdays are named once, on the left panel
    axes[0].set_yticks(range(7), WEEKDAYS, fontsize=9)
    axes[0].set_ylabel("weekday")
    figure.suptitle(
        f"{title}: traffic summed per weekday and hour over the period (white cell: no data)", fontsize=12, y=0.975
    )
    _footer(figure)
    save_png(figure, path)
    return figure


# --------------------------------------------------------------------------------------
# 2. choropleth maps


def _sql_string(value):
    return "'" + str(value).replace("'", "''") + "'"


def read_communes(path, codes, columns):
    """Polygons of the communes whose code is in `codes`, as (code_com, geometry) in
    Lambert-93 (EPSG:2154); a commune split into several features is dissolved into one.

    Returns (communes, notes)."""
    import geopandas as gpd
    import pyogrio

    code_column = columns["code_com"]
    info = pyogrio.read_info(path)
    fields = [str(field) for field in info["fields"]]
    if code_column not in fields:
        raise FigureInputError(
            f"{path}: no column {code_column!r} (config communes_columns.code_com); found {fields}"
        )
    codes = sorted({str(code) for code in codes})
    notes = []
    if not codes:
        empty = gpd.GeoDataFrame({"code_com": pd.Series([], dtype=str)}, geometry=[], crs="EPSG:2154")
        return empty, notes
    dtype = str(dict(zip(fields, info["dtypes"]))[code_column])
    if dtype in ("object", "str", "string"):
        where = f'"{code_column}" IN ({", ".join(map(_sql_string, codes))})'
        layer = gpd.read_file(path, engine="pyogrio", columns=[code_column], where=where)
        layer["code_com"] = layer[code_column].astype(str)
    else:  # a numeric code column loses leading zeros: read all, restore them
        layer = gpd.read_file(path, engine="pyogrio", columns=[code_column])
        layer["code_com"] = layer[code_column].astype("Int64").astype(str).str.zfill(5)
        notes.append(f"{path}: column {code_column!r} is numeric ({dtype}); codes zero-padded to 5 characters")
        layer = layer[layer["code_com"].isin(codes)]
    layer = layer[["code_com", "geometry"]]
    if layer["code_com"].duplicated().any():
        count = int(layer["code_com"].duplicated().sum())
        notes.append(f"{path}: {count} extra feature(s) of the same commune dissolved")
        layer = layer.dissolve(by="code_com", as_index=False)
    if layer.crs is None:
        notes.append(f"{path}: no CRS; coordinates drawn as they are")
    elif layer.crs.to_epsg() != 2154:
        layer = layer.to_crs(2154)
    return layer.reset_index(drop=True), notes


def choropleth_table(communes, estimates):
    """Commune polygons joined with their estimate (inner join on code_com).

    Returns (table, missing): `table` has code_com, cities, cpc_per_1000, floored (the
    estimate's c_floored; False when the frame has no such column), has_estimate (finite,
    > 0 and not floored: coloured on the log scale; the others are drawn grey or, when
    floored, cross-hatched) and the geometry; `missing` lists the codes of the estimate
    table without a polygon."""
    columns = ["cities", "code_com", "cpc_per_1000"] + (["c_floored"] if "c_floored" in estimates.columns else [])
    estimates = estimates[columns].drop_duplicates("code_com")
    values = pd.to_numeric(estimates["cpc_per_1000"], errors="coerce").astype("float64")
    floored = (
        estimates["c_floored"].fillna(False).astype(bool)
        if "c_floored" in estimates.columns
        else pd.Series(False, index=estimates.index)
    )
    estimates = pd.DataFrame(
        {
            "cities": estimates["cities"],
            "code_com": estimates["code_com"].astype(str),
            "cpc_per_1000": values,
            "floored": floored.to_numpy(),
        }
    )
    table = communes.merge(estimates, on="code_com", how="inner", validate="one_to_one")
    table["has_estimate"] = np.isfinite(table["cpc_per_1000"]) & (table["cpc_per_1000"] > 0) & ~table["floored"]
    missing = sorted(set(estimates["code_com"]) - set(communes["code_com"]))
    return table[["code_com", "cities", "cpc_per_1000", "floored", "has_estimate", "geometry"]], missing


def map_classes(table):
    """Counts of the three classes a map draws: coloured, floored (cross-hatched), grey."""
    floored = table["floored"].astype(bool)
    return {
        "coloured": int(table["has_estimate"].sum()),
        "floored": int(floored.sum()),
        "grey": int((~table["has_estimate"] & ~floored).sum()),
    }


def log_norm(values):
    """A common LogNorm over the positive finite values (all maps share it)."""
    from matplotlib.colors import LogNorm

    values = np.asarray(values, dtype="float64")
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return LogNorm(1.0, 10.0)
    low, high = float(positive.min()), float(positive.max())
    if high <= low:
        low, high = low / 2, high * 2
    return LogNorm(low, high)


def _scale_bar(ax, table):
    """A round-length scale bar (the maps are in Lambert-93 metres)."""
    if table.crs is None or not table.crs.is_projected or table.empty:
        return
    x0, y0, x1, y1 = table.total_bounds
    width = x1 - x0
    if width <= 0:
        return
    target = width / 5
    length = max(
        (n for n in (100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000) if n <= target), default=100
    )
    from matplotlib import patheffects

    halo = [patheffects.withStroke(linewidth=3.5, foreground="white")]
    x, y = x0 + width * 0.03, y0 + (y1 - y0) * 0.03
    ax.plot([x, x + length], [y, y], color="black", linewidth=2.5, solid_capstyle="butt",
            path_effects=[patheffects.withStroke(linewidth=5, foreground="white")])
    label = f"{length // 1000} km" if length >= 1000 else f"{length} m"
    ax.text(x + length / 2, y + (y1 - y0) * 0.03, label, ha="center", va="bottom", fontsize=8, path_effects=halo)


def _draw_communes(ax, table, norm, cmap):
    estimated = table[table["has_estimate"]]
    floored = table[table["floored"]]
    grey = table[~table["has_estimate"] & ~table["floored"]]
    if not estimated.empty:
        colours = cmap(norm(estimated["cpc_per_1000"].to_numpy()))
        estimated.plot(ax=ax, color=colours, edgecolor="white", linewidth=0.3)
    if not grey.empty:
        grey.plot(ax=ax, color=NO_ESTIMATE_GREY, edgecolor="white", linewidth=0.3, hatch="////")
    if not floored.empty:
        floored.plot(ax=ax, facecolor=FLOORED_FILL, edgecolor=FLOORED_EDGE, linewidth=0.3, hatch="xxx")
    ax.set_aspect("equal")
    ax.set_axis_off()
    if table.empty:
        ax.text(0.5, 0.5, "no commune polygon", ha="center", va="center", transform=ax.transAxes, color="#444444")


def _map_legend(figure, cax, norm, cmap, counts, *, horizontal):
    """The colour bar (in `cax`) and the legend handles of the grey and cross-hatched classes."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    bar = figure.colorbar(
        ScalarMappable(norm=norm, cmap=cmap), cax=cax, orientation="horizontal" if horizontal else "vertical"
    )
    bar.set_label("estimated CSAM-related Tor traffic per 1,000 inhabitants\n(cpc_per_1000, log scale)", fontsize=9)
    axis = bar.ax.xaxis if horizontal else bar.ax.yaxis
    axis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))
    handles = [
        Patch(facecolor=NO_ESTIMATE_GREY, edgecolor="white", hatch="////", label=f"no estimate ({counts['grey']} communes)")
    ]
    if counts["floored"]:
        handles.append(
            Patch(facecolor=FLOORED_FILL, edgecolor=FLOORED_EDGE, hatch="xxx",
                  label=f"{FLOORED_LABEL} ({counts['floored']} communes)")
        )
    return handles, bar


def plot_city_map(table, city, norm, path, *, direction):
    """One city's communes coloured by cpc_per_1000 (common log scale), grey without
    estimate, cross-hatched when c was floored. Fixed axes positions (a constrained layout
    would draw the figure twice)."""
    import matplotlib

    cmap = matplotlib.colormaps[MAP_COLOURS]
    figure = new_figure(8.5, 7.5, constrained=False)
    ax = figure.add_axes((0.03, 0.14, 0.76, 0.74))
    cax = figure.add_axes((0.83, 0.22, 0.025, 0.58))
    _draw_communes(ax, table, norm, cmap)
    _scale_bar(ax, table)
    counts = map_classes(table)
    handles, _ = _map_legend(figure, cax, norm, cmap, counts, horizontal=False)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.01), fontsize=9, frameon=False)
    floored = f", {counts['floored']} with c floored" if counts["floored"] else ""
    ax.set_title(
        f"{city} ({direction}): estimated cpc_per_1000 per commune\n"
        f"{counts['coloured']} communes with an estimate{floored}, {counts['grey']} without",
        fontsize=11,
    )
    _footer(figure)
    save_png(figure, path)
    return figure


def plot_city_maps_grid(tables, norm, path, *, direction):
    """Small multiples: one panel per city, all on the same log colour scale."""
    import matplotlib

    cmap = matplotlib.colormaps[MAP_COLOURS]
    n = max(len(tables), 1)
    ncols = min(n, 5 if n > 12 else 4 if n > 6 else 3 if n > 2 else n)
    nrows = math.ceil(n / ncols)
    width, height = 3.6 * ncols, 3.6 * nrows + 1.6
    figure = new_figure(width, height, constrained=False)
    bottom, top = 1.45 / height, 1 - 0.55 / height  # room for the colour bar and the title
    figure.subplots_adjust(left=0.02, right=0.98, bottom=bottom, top=top, wspace=0.08, hspace=0.15)
    axes = np.atleast_1d(figure.subplots(nrows, ncols)).ravel()
    counts = {"coloured": 0, "floored": 0, "grey": 0}
    for ax, (city, table) in zip(axes, tables.items()):
        _draw_communes(ax, table, norm, cmap)
        _scale_bar(ax, table)
        ax.set_title(city, fontsize=10)
        for key, value in map_classes(table).items():
            counts[key] += value
    for ax in axes[len(tables):]:
        ax.set_visible(False)
    cax = figure.add_axes((0.12, 0.75 / height, 0.45, 0.16 / height))
    handles, bar = _map_legend(figure, cax, norm, cmap, counts, horizontal=True)
    bar.ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.05, 0.5), fontsize=9, frameon=False)
    figure.suptitle(f"Estimated cpc_per_1000 per commune, all cities ({direction}), common log scale", fontsize=12,
                    y=1 - 0.12 / height, va="top")
    _footer(figure)
    save_png(figure, path)
    return figure


# --------------------------------------------------------------------------------------
# 3. scatter against recorded sexual violence


def spearman_result(spearman, x="cpc_per_1000", y="sv_com_17_21", source="spearman.csv"):
    """(rho, pvalue, n) of one row of spearman.csv."""
    _require_columns(spearman, ["x", "y", "rho", "pvalue", "n"], source)
    rows = spearman[(spearman["x"] == x) & (spearman["y"] == y)]
    if len(rows) != 1:
        raise FigureInputError(f"{source}: expected one row with x={x}, y={y}, found {len(rows)}")
    row = rows.iloc[0]
    n = int(row["n"]) if pd.notna(row["n"]) else 0
    return float(row["rho"]), float(row["pvalue"]), n


def scatter_data(estimates, source="cpc_com.csv"):
    """The communes of the test (finite sv_com_17_21 and finite log cpc_per_1000):
    code_com, cpc_per_1000, log_cpc_per_1000 (natural log), sv_com_17_21, c_floored
    (False when the frame has no such column)."""
    _require_columns(estimates, ["code_com", "cpc_per_1000", "sv_com_17_21"], source)
    cpc = pd.to_numeric(estimates["cpc_per_1000"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    crime = pd.to_numeric(estimates["sv_com_17_21"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    floored = (
        estimates["c_floored"].fillna(False).astype(bool).to_numpy()
        if "c_floored" in estimates.columns
        else np.zeros(len(estimates), dtype=bool)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        log_cpc = np.log(cpc)
    keep = np.isfinite(log_cpc) & np.isfinite(crime)
    return pd.DataFrame(
        {
            "code_com": estimates["code_com"].astype(str).to_numpy()[keep],
            "cpc_per_1000": cpc[keep],
            "log_cpc_per_1000": log_cpc[keep],
            "sv_com_17_21": crime[keep],
            "c_floored": floored[keep],
        }
    )


def scatter_title(rho, pvalue, n):
    return f"Spearman's \u03c1 = {_format_number(rho)}, p = {format_p(pvalue)}, n = {n}"


def plot_scatter(points, rho, pvalue, n, path, *, direction):
    """cpc_per_1000 (x, log axis) against sv_com_17_21 (y); communes whose c was floored
    are orange crosses with their own legend entry (their value comes from the floor, not
    from a correlation)."""
    figure = new_figure(7.5, 6, constrained=False)
    ax = figure.add_axes((0.15, 0.17, 0.81, 0.71))
    floored = points["c_floored"].astype(bool) if "c_floored" in points.columns else pd.Series(False, index=points.index)
    regular = points[~floored]
    ax.scatter(regular["cpc_per_1000"], regular["sv_com_17_21"], s=16, alpha=0.6, color=ACCENT, edgecolor="none",
               label=f"c from the correlation ({len(regular)} communes)")
    if floored.any():
        marked = points[floored]
        ax.scatter(marked["cpc_per_1000"], marked["sv_com_17_21"], s=28, marker="x", linewidths=1.2,
                   color=FLOORED_MARK, label=f"{FLOORED_LABEL} ({len(marked)} communes)")
        ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    if len(points):
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.text(0.5, 0.5, "no commune with both values", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("estimated CSAM-related Tor traffic per 1,000 inhabitants\n(cpc_per_1000, log scale)")
    ax.set_ylabel("recorded sexual violence per 1,000 inhabitants\n(commune rate, mean 2017-2021: sv_com_17_21)")
    ax.grid(color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_title(
        f"Estimates against recorded sexual violence ({direction})\n{scatter_title(rho, pvalue, n)}", fontsize=11
    )
    _footer(figure)
    save_png(figure, path)
    return figure


# --------------------------------------------------------------------------------------
# 4. distribution of the correction factor c


def correction_factor_distribution(correlations, shares, negative_factor_floor):
    """c per commune under each of the four methods (netmob_cpc.estimates).

    Returns (long table: method, code_com, c, floored; summary per method: n_communes,
    n_undefined, n_floored (negative, set to the floor), n_not_positive, median, mean)."""
    from netmob_cpc.estimates import METHODS, correction_factors

    frames, rows = [], []
    for method in METHODS:
        c, floored = correction_factors(correlations, method, shares, negative_factor_floor)
        frames.append(
            pd.DataFrame(
                {"method": method, "code_com": correlations["code_com"].astype(str).to_numpy(),
                 "c": c.to_numpy(dtype="float64"), "floored": floored.to_numpy(dtype=bool)}
            )
        )
        rows.append(_summary_row(method, c, n_floored=int(floored.sum())))
    return pd.concat(frames, ignore_index=True), pd.DataFrame(rows).set_index("method")


def published_factor_distribution(estimates, source="cpc_com.csv"):
    """The table's own c (estimate-table mode): the same two tables, one method; n_floored
    from `c_floored` when the frame has it (see `read_estimates`), else not known (NaN)."""
    _require_columns(estimates, ["code_com", "c"], source)
    c = pd.to_numeric(estimates["c"], errors="coerce").astype("float64")
    known = "c_floored" in estimates.columns
    floored = estimates["c_floored"].fillna(False).astype(bool) if known else pd.Series(False, index=estimates.index)
    method = "published table"
    long = pd.DataFrame(
        {"method": method, "code_com": estimates["code_com"].astype(str).to_numpy(), "c": c.to_numpy(),
         "floored": floored.to_numpy()}
    )
    summary = _summary_row(method, c, n_floored=int(floored.sum()) if known else None)
    return long, pd.DataFrame([summary]).set_index("method")


def _summary_row(method, c, *, n_floored):
    defined = c[np.isfinite(c)]
    return {
        "method": method,
        "n_communes": int(len(c)),
        "n_undefined": int(len(c) - len(defined)),
        "n_floored": n_floored,
        "n_not_positive": int((defined <= 0).sum()),
        "median": float(defined.median()) if len(defined) else math.nan,
        "mean": float(defined.mean()) if len(defined) else math.nan,
    }


def log_bins(values, count=40):
    """Logarithmic histogram bins spanning the positive finite values (one decade if none)."""
    values = np.asarray(values, dtype="float64")
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return np.logspace(-3, 0, count + 1)
    low, high = float(positive.min()), float(positive.max())
    if high <= low * 1.0001:
        low, high = low / 1.5, high * 1.5
    return np.logspace(np.log10(low), np.log10(high) + 1e-9, count + 1)


def plot_correction_factors(distribution, summary, path, *, direction, used_method=None, floor=None):
    """One histogram of c (in %) per method on a common logarithmic x axis (c spans
    decades: the floor, r x shares, the centred method around c_global); dashed: median.
    Floored communes are stacked on top in orange with their own legend entry."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    methods = list(summary.index)
    n = len(methods)
    ncols = 2 if n > 1 else 1
    nrows = math.ceil(n / ncols)
    width, height = 6.2 * ncols, 3.4 * nrows + 0.8
    figure = new_figure(width, height, constrained=False)
    figure.subplots_adjust(left=0.75 / width, right=1 - 0.15 / width, bottom=0.85 / height, top=1 - 0.85 / height,
                           wspace=0.18, hspace=0.42)
    axes = np.atleast_1d(figure.subplots(nrows, ncols, sharex=True, squeeze=False)).ravel()
    percent = distribution["c"] * 100
    floored_all = (
        distribution["floored"].fillna(False).astype(bool)
        if "floored" in distribution.columns
        else pd.Series(False, index=distribution.index)
    )
    bins = log_bins(percent)
    for ax, method in zip(axes, methods):
        drawable = (distribution["method"] == method) & np.isfinite(percent) & (percent > 0)
        regular, floored = percent[drawable & ~floored_all], percent[drawable & floored_all]
        row = summary.loc[method]
        # one filled step outline per layer (ax.stairs), not one Rectangle per bar
        counts, _ = np.histogram(regular, bins=bins)
        ax.stairs(counts, bins, fill=True, color=ACCENT, label="c from the correlation")
        if len(floored):
            on_floor, _ = np.histogram(floored, bins=bins)
            ax.stairs(counts + on_floor, bins, baseline=counts, fill=True, color=FLOORED_MARK, label=FLOORED_LABEL)
            counts = counts + on_floor
            ax.legend(loc="upper left", fontsize=7, framealpha=0.9)
        ax.set_xscale("log")
        decades = np.log10(bins[-1] / bins[0])
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 3 else (1.0,)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))
        ax.xaxis.set_minor_locator(NullLocator())  # minor log ticks: many Tick objects, little use
        ax.set_ylim(0, max(float(np.max(counts, initial=0)), 1.0) * 1.55)  # room for the note
        median = float(row["median"])
        if math.isfinite(median) and median > 0:
            ax.axvline(median * 100, color="black", linestyle="--", linewidth=1.2)
        lines = [f"{int(row['n_communes'])} communes, {int(row['n_undefined'])} without c (NaN)"]
        if not pd.isna(row["n_floored"]):
            at_floor = f" {floor:g} ({floor * 100:g} %)" if floor is not None else ""
            lines.append(f"{int(row['n_floored'])} negative, set to the floor{at_floor}")
        if int(row["n_not_positive"]):
            lines.append(f"{int(row['n_not_positive'])} with c <= 0, not on the log axis")
        lines.append(f"median {median * 100:.3g} % (dashed line)" if math.isfinite(median) else "median n/a")
        ax.text(0.98, 0.96, "\n".join(lines), transform=ax.transAxes, ha="right", va="top", fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "#cccccc", "alpha": 0.9})
        label = METHOD_LABELS.get(method, method)
        if method == used_method:
            label += "\n(the configured method: used in cpc_com.csv)"
        ax.set_title(label, fontsize=10)
        ax.set_ylabel("communes")
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
        ax.set_axisbelow(True)
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[max(0, n - ncols):n]:
        ax.set_xlabel("correction factor c (% of Tor traffic, log scale)")
        ax.tick_params(labelbottom=True)
    figure.suptitle(f"Distribution of the correction factor c per commune ({direction})", fontsize=12,
                    y=1 - 0.1 / height, va="top")
    _footer(figure)
    save_png(figure, path)
    return figure
