"""Figures of the report: day x hour heatmaps, choropleth maps of cpc_per_1000, the scatter
of the estimates against recorded sexual violence, and the distribution of the correction
factor c under the four methods (ARCHITECTURE.md, "Definitions the notebook leaves open").

Each figure has a data function (returns the numbers the figure shows; tested) and a
plotting function (draws them with matplotlib's Agg backend and writes a PNG). Colours:
viridis (sequential, colour-blind safe, no grey inside), grey with hatching for "no
estimate", white for "no data"; never a red-green contrast.

The estimates are exploratory and must not be used to single out places or people: no
figure names a commune, and every figure carries that reminder in a footer.
"""

import calendar
import math
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

# English names whatever the machine's locale (as scripts/heatmaps.py writes them).
WEEKDAYS = list(calendar.day_name)  # Monday .. Sunday
HOURS = list(range(24))
DPI = 150
FOOTER = "Exploratory estimates: not to be used to single out places or people."
SEQUENTIAL = "viridis"
MAP_COLOURS = "viridis"  # no grey inside, unlike cividis: the grey "no estimate" stands apart
NO_ESTIMATE_GREY = "#b3b3b3"
ACCENT = "#31688e"  # a viridis blue, for single-colour marks
METHOD_LABELS = {
    "pearson_log": "c1 pearson_log: r \u00d7 s_Tor \u00d7 s_CSAM",
    "pearson_log_squared": "c2 pearson_log_squared: r\u00b2 \u00d7 s_Tor \u00d7 s_CSAM",
    "pearson_log_centered": "c3 pearson_log_centered: (r \u2212 mean r + 1) \u00d7 c_global",
    "spearman_log": "c4 spearman_log: \u03c1_S \u00d7 s_Tor \u00d7 s_CSAM",
    "published table": "c as published in the estimates table",
}
TRAFFIC_UNIT = "summed traffic (NetMob23 volume units)"


class FigureInputError(ValueError):
    """An input file a figure cannot be drawn from; the message names the file."""


# --------------------------------------------------------------------------------------
# helpers


def _save(figure, path):
    """Write `figure` as PNG to `path` (atomically when run inside the workflow)."""
    try:
        from atomic_output import atomic_path
    except ImportError:  # pragma: no cover - scripts/ is always on the path in the workflow
        figure.savefig(path, format="png", dpi=DPI)
        return
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)


def _footer(figure, inches=0.3):
    """The reminder line, in a strip at the bottom kept free of the constrained layout."""
    height = inches / figure.get_figheight()
    figure.get_layout_engine().set(rect=(0, height, 1, 1 - height))
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
    """Three heatmaps side by side, each with its own colour bar; blank = no data."""
    from matplotlib.colors import Normalize
    from matplotlib.ticker import FuncFormatter

    panel_titles = {
        f"{apps['tor']}_scaled": f"{apps['tor']} \u00d7 correction factor c",
        apps["porn"]: f"{apps['porn']} (porn role)",
        apps["control"]: f"{apps['control']} (control role)",
    }
    figure = Figure(figsize=(17, 4.6), layout="constrained")
    axes = figure.subplots(1, 3, sharey=True)
    cmap = matplotlib.colormaps[SEQUENTIAL].with_extremes(bad="white")
    # an empty table: the rank files when there are fewer communes than ranks
    empty = all(np.isnan(matrix.to_numpy()).all() for matrix in matrices.values())
    for ax, (column, matrix) in zip(axes, matrices.items()):
        values = np.ma.masked_invalid(matrix.to_numpy())
        finite = matrix.to_numpy()[np.isfinite(matrix.to_numpy())]
        vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        if vmax <= vmin:
            vmax = vmin + (abs(vmin) or 1.0)
        image = ax.imshow(values, cmap=cmap, norm=Normalize(vmin, vmax), aspect="auto", interpolation="nearest")
        ax.set_title(panel_titles[column], fontsize=11)
        ax.set_xticks(range(0, 24, 2))
        ax.set_xticklabels([f"{h:02d}" for h in range(0, 24, 2)], fontsize=9)
        ax.set_xticks(np.arange(-0.5, 24, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, 7, 1), minor=True)
        ax.tick_params(which="minor", length=0)
        ax.grid(which="minor", color="#dddddd", linewidth=0.4)
        ax.set_xlabel("hour of day (local time, start of hour)")
        ax.set_facecolor("white")
        bar = figure.colorbar(image, ax=ax, orientation="horizontal", fraction=0.08, pad=0.02, aspect=35)
        bar.set_label(TRAFFIC_UNIT, fontsize=9)
        bar.ax.xaxis.set_major_formatter(FuncFormatter(compact_number))
        bar.ax.tick_params(labelsize=8)
        if not finite.size:
            bar.ax.set_visible(False)
            ax.text(11.5, 3, empty_note if empty else "no data", ha="center", va="center", fontsize=13, color="#444444")
    axes[0].set_yticks(range(7))
    axes[0].set_yticklabels(WEEKDAYS, fontsize=9)
    axes[0].set_ylabel("weekday")
    figure.suptitle(
        f"{title}: traffic summed per weekday and hour over the period (white cell: no data)", fontsize=12
    )
    _footer(figure)
    _save(figure, path)
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

    Returns (table, missing): `table` has code_com, cities, cpc_per_1000, has_estimate
    (finite and > 0: drawable on the log scale; the others are the grey communes) and the
    geometry; `missing` lists the codes of cpc_com.csv without a polygon."""
    estimates = estimates[["cities", "code_com", "cpc_per_1000"]].drop_duplicates("code_com")
    values = pd.to_numeric(estimates["cpc_per_1000"], errors="coerce").astype("float64")
    estimates = estimates.assign(code_com=estimates["code_com"].astype(str), cpc_per_1000=values)
    table = communes.merge(estimates, on="code_com", how="inner", validate="one_to_one")
    table["has_estimate"] = np.isfinite(table["cpc_per_1000"]) & (table["cpc_per_1000"] > 0)
    missing = sorted(set(estimates["code_com"]) - set(communes["code_com"]))
    return table[["code_com", "cities", "cpc_per_1000", "has_estimate", "geometry"]], missing


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
    grey = table[~table["has_estimate"]]
    if not estimated.empty:
        colours = cmap(norm(estimated["cpc_per_1000"].to_numpy()))
        estimated.plot(ax=ax, color=colours, edgecolor="white", linewidth=0.3)
    if not grey.empty:
        grey.plot(ax=ax, color=NO_ESTIMATE_GREY, edgecolor="white", linewidth=0.3, hatch="////")
    ax.set_aspect("equal")
    ax.set_axis_off()
    if table.empty:
        ax.text(0.5, 0.5, "no commune polygon", ha="center", va="center", transform=ax.transAxes, color="#444444")


def _map_legend(figure, ax_or_axes, norm, cmap, n_grey, *, small):
    from matplotlib.cm import ScalarMappable
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    mappable = ScalarMappable(norm=norm, cmap=cmap)
    bar = figure.colorbar(
        mappable, ax=ax_or_axes, orientation="horizontal" if small else "vertical",
        fraction=0.04 if small else 0.05, pad=0.03, aspect=40 if small else 25, shrink=0.6 if small else 0.8,
    )
    bar.set_label("estimated CSAM-related Tor traffic per 1,000 inhabitants\n(cpc_per_1000, log scale)", fontsize=9)
    axis = bar.ax.xaxis if small else bar.ax.yaxis
    axis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))
    handle = Patch(facecolor=NO_ESTIMATE_GREY, edgecolor="white", hatch="////", label=f"no estimate ({n_grey} communes)")
    return handle, bar


def plot_city_map(table, city, norm, path, *, direction):
    """One city's communes coloured by cpc_per_1000 (common log scale), grey without estimate."""
    cmap = matplotlib.colormaps[MAP_COLOURS]
    figure = Figure(figsize=(8.5, 7.5), layout="constrained")
    ax = figure.subplots()
    _draw_communes(ax, table, norm, cmap)
    _scale_bar(ax, table)
    n_grey = int((~table["has_estimate"]).sum())
    handle, _ = _map_legend(figure, ax, norm, cmap, n_grey, small=False)
    ax.legend(handles=[handle], loc="upper left", bbox_to_anchor=(0.0, -0.01), fontsize=9, frameon=False)
    ax.set_title(
        f"{city} ({direction}): estimated cpc_per_1000 per commune\n"
        f"{int(table['has_estimate'].sum())} communes with an estimate, {n_grey} without",
        fontsize=11,
    )
    _footer(figure)
    _save(figure, path)
    return figure


def plot_city_maps_grid(tables, norm, path, *, direction):
    """Small multiples: one panel per city, all on the same log colour scale."""
    cmap = matplotlib.colormaps[MAP_COLOURS]
    n = max(len(tables), 1)
    ncols = min(n, 5 if n > 12 else 4 if n > 6 else 3 if n > 2 else n)
    nrows = math.ceil(n / ncols)
    figure = Figure(figsize=(3.6 * ncols, 3.6 * nrows + 1.4), layout="constrained")
    axes = np.atleast_1d(figure.subplots(nrows, ncols)).ravel()
    n_grey = 0
    for ax, (city, table) in zip(axes, tables.items()):
        _draw_communes(ax, table, norm, cmap)
        _scale_bar(ax, table)
        ax.set_title(city, fontsize=10)
        n_grey += int((~table["has_estimate"]).sum())
    for ax in axes[len(tables):]:
        ax.set_visible(False)
    handle, bar = _map_legend(figure, list(axes), norm, cmap, n_grey, small=True)
    bar.ax.legend(handles=[handle], loc="center left", bbox_to_anchor=(1.03, 0.5), fontsize=9, frameon=False)
    figure.suptitle(f"Estimated cpc_per_1000 per commune, all cities ({direction}), common log scale", fontsize=12)
    _footer(figure)
    _save(figure, path)
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
    code_com, cpc_per_1000, log_cpc_per_1000 (natural log), sv_com_17_21."""
    _require_columns(estimates, ["code_com", "cpc_per_1000", "sv_com_17_21"], source)
    cpc = pd.to_numeric(estimates["cpc_per_1000"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    crime = pd.to_numeric(estimates["sv_com_17_21"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_cpc = np.log(cpc)
    keep = np.isfinite(log_cpc) & np.isfinite(crime)
    return pd.DataFrame(
        {
            "code_com": estimates["code_com"].astype(str).to_numpy()[keep],
            "cpc_per_1000": cpc[keep],
            "log_cpc_per_1000": log_cpc[keep],
            "sv_com_17_21": crime[keep],
        }
    )


def scatter_title(rho, pvalue, n):
    return f"Spearman's \u03c1 = {_format_number(rho)}, p = {format_p(pvalue)}, n = {n}"


def plot_scatter(points, rho, pvalue, n, path, *, direction):
    """log cpc_per_1000 (x, log axis) against sv_com_17_21 (y)."""
    figure = Figure(figsize=(7.5, 6), layout="constrained")
    ax = figure.subplots()
    ax.scatter(points["cpc_per_1000"], points["sv_com_17_21"], s=16, alpha=0.6, color=ACCENT, edgecolor="none")
    if len(points):
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))
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
    _save(figure, path)
    return figure


# --------------------------------------------------------------------------------------
# 4. distribution of the correction factor c


def correction_factor_distribution(correlations, shares, negative_factor_floor):
    """c per commune under each of the four methods (estimate.correction_factor).

    Returns (long table method, code_com, c; summary per method: n_communes, n_undefined,
    n_floored (negative, set to the floor), n_not_positive, median, mean)."""
    from estimate import METHODS, correction_factor

    frames, rows = [], []
    for method in METHODS:
        c = correction_factor(correlations, method, shares, negative_factor_floor)
        raw = correction_factor(correlations, method, shares, -1.0)  # negatives become -1
        frames.append(pd.DataFrame({"method": method, "code_com": correlations["code_com"].astype(str), "c": c}))
        rows.append(_summary_row(method, c, n_floored=int((raw < 0).sum())))
    return pd.concat(frames, ignore_index=True), pd.DataFrame(rows).set_index("method")


def published_factor_distribution(estimates, source="cpc_com.csv"):
    """The table's own c (published-table mode): the same two tables, one method."""
    _require_columns(estimates, ["code_com", "c"], source)
    c = pd.to_numeric(estimates["c"], errors="coerce").astype("float64")
    method = "published table"
    long = pd.DataFrame({"method": method, "code_com": estimates["code_com"].astype(str), "c": c})
    return long, pd.DataFrame([_summary_row(method, c, n_floored=None)]).set_index("method")


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
    decades: the floor, r x shares, the centred method around c_global); dashed: median."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    methods = list(summary.index)
    n = len(methods)
    ncols = 2 if n > 1 else 1
    nrows = math.ceil(n / ncols)
    figure = Figure(figsize=(6.2 * ncols, 3.4 * nrows + 0.8), layout="constrained")
    axes = np.atleast_1d(figure.subplots(nrows, ncols, sharex=True, squeeze=False)).ravel()
    percent = distribution["c"] * 100
    bins = log_bins(percent)
    for ax, method in zip(axes, methods):
        values = percent[(distribution["method"] == method) & np.isfinite(percent) & (percent > 0)]
        row = summary.loc[method]
        counts, _, _ = ax.hist(values, bins=bins, color=ACCENT, edgecolor="white", linewidth=0.4)
        ax.set_xscale("log")
        decades = np.log10(bins[-1] / bins[0])
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 3 else (1.0,)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))
        ax.set_ylim(0, max(float(np.max(counts, initial=0)), 1.0) * 1.55)  # room for the note
        median = float(row["median"])
        if math.isfinite(median) and median > 0:
            ax.axvline(median * 100, color="black", linestyle="--", linewidth=1.2)
        lines = [f"{int(row['n_communes'])} communes, {int(row['n_undefined'])} without c (NaN)"]
        if not pd.isna(row["n_floored"]):
            lines.append(f"{int(row['n_floored'])} negative, set to the floor {floor:g} ({floor * 100:g} %)")
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
    figure.suptitle(f"Distribution of the correction factor c per commune ({direction})", fontsize=12)
    _footer(figure)
    _save(figure, path)
    return figure


# --------------------------------------------------------------------------------------
# entry point


def _read_estimates(path):
    return pd.read_csv(path, dtype={"code_com": str, "code_dep": str, "cities": str})


def main(snakemake):
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    params, rule = snakemake.params, snakemake.rule
    direction = params.direction

    if rule == "figure_heatmap":
        source = snakemake.input.heat
        heat = pd.read_csv(source, dtype={"Day": str, "code_com": str})
        matrices = heatmap_matrices(heat, params.apps, source=source)
        for column, matrix in matrices.items():
            print(f"{column}: {int(matrix.isna().to_numpy().sum())} of 168 weekday-hours without data", file=sys.stderr)
        title = heatmap_title(params.heatmap, params.top_n)
        note = "no commune at this rank" if params.heatmap.startswith("heatmap_rank") else "no data"
        plot_heatmaps(matrices, params.apps, snakemake.output.figure, title=f"{title} ({direction})", empty_note=note)

    elif rule == "figure_maps":
        estimates = _read_estimates(snakemake.input.estimates)
        communes, notes = read_communes(snakemake.input.communes, estimates["code_com"], params.columns)
        table, missing = choropleth_table(communes, estimates)
        for note in notes:
            print(note, file=sys.stderr)
        if missing:
            print(f"{len(missing)} commune(s) of cpc_com.csv have no polygon in {snakemake.input.communes}: "
                  f"{missing[:20]}", file=sys.stderr)
        print(f"{int(table['has_estimate'].sum())} communes coloured, {int((~table['has_estimate']).sum())} grey",
              file=sys.stderr)
        norm = log_norm(table["cpc_per_1000"])
        tables = {city: table[table["cities"] == city] for city in params.cities}
        for city, path in zip(params.cities, snakemake.output.city_maps):
            plot_city_map(tables[city], city, norm, path, direction=direction)
        plot_city_maps_grid(tables, norm, snakemake.output.all_cities, direction=direction)

    elif rule == "figure_scatter":
        if params.skipped_maps:
            print(f"note: {params.skipped_maps}", file=sys.stderr)
        estimates = _read_estimates(snakemake.input.estimates)
        rho, pvalue, n = spearman_result(pd.read_csv(snakemake.input.spearman), source=snakemake.input.spearman)
        points = scatter_data(estimates, source=snakemake.input.estimates)
        if len(points) != n:
            print(f"warning: {len(points)} points drawn, spearman.csv reports n = {n}", file=sys.stderr)
        print(f"{len(points)} communes; {scatter_title(rho, pvalue, n)}", file=sys.stderr)
        plot_scatter(points, rho, pvalue, n, snakemake.output.figure, direction=direction)

    elif rule == "figure_correction_factors":
        if "correlations" in snakemake.input.keys():
            correlations = pd.read_parquet(snakemake.input.correlations)
            distribution, summary = correction_factor_distribution(
                correlations, params.shares, params.negative_factor_floor
            )
            used = params.correction_method
        else:
            distribution, summary = published_factor_distribution(
                _read_estimates(snakemake.input.estimates), source=snakemake.input.estimates
            )
            used = None
        print(summary.to_string(), file=sys.stderr)
        plot_correction_factors(distribution, summary, snakemake.output.figure, direction=direction,
                                used_method=used, floor=params.negative_factor_floor)
    else:
        raise ValueError(f"figures.py: unknown rule {rule!r}")


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
