"""Correction factors and the per-commune estimate table (the seed's `cp_com`).

Per commune, the hourly porn and Tor series (0 replaced by `zero_replacement`, then
logged) are correlated; the correlation, scaled by the published shares, is the
correction factor c, and the estimated consumption is cpc = Tor x c (ARCHITECTURE.md,
"Definitions the notebook leaves open", fixes the four methods).
"""

import sys

import numpy as np
import pandas as pd

METHODS = ("pearson_log", "pearson_log_squared", "pearson_log_centered", "spearman_log")
SHARE_COLUMNS = {
    "tor_to_darknet_share": "Tor_to_darknet_share",
    "porn_in_darknet_share": "Pornography_in_darknet_URL_share",
    "csam_in_porn_share": "Child_pornography_to_pornography_in_darknet_URL_share",
}
CRIME_COLUMNS = ["sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21"]


def _grouped_pearson(groups, x, y):
    """Pearson correlation of x and y within each group (NaN for a constant series)."""
    frame = pd.DataFrame({"group": groups, "x": x, "y": y})
    grouped = frame.groupby("group", sort=True)
    dx = frame["x"] - grouped["x"].transform("mean")
    dy = frame["y"] - grouped["y"].transform("mean")
    # A series whose values are all equal has no correlation; its computed deviations
    # can be rounding noise (the mean of n equal values is not always that value).
    constant = (grouped["x"].transform("min") == grouped["x"].transform("max")) | (
        grouped["y"].transform("min") == grouped["y"].transform("max")
    )
    dx[constant], dy[constant] = 0.0, 0.0
    sums = pd.DataFrame({"group": groups, "xy": dx * dy, "xx": dx * dx, "yy": dy * dy}).groupby("group", sort=True).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sums["xy"] / np.sqrt(sums["xx"] * sums["yy"])
    return r.clip(-1.0, 1.0)


def commune_correlations(hourly, zero_replacement):
    """Per commune, Pearson and Spearman correlation of hourly log porn with log Tor."""
    porn = hourly["porn"].mask(hourly["porn"] == 0, zero_replacement)
    tor = hourly["tor"].mask(hourly["tor"] == 0, zero_replacement)
    log_porn, log_tor = np.log(porn), np.log(tor)
    groups = hourly["code_com"]
    pearson = _grouped_pearson(groups, log_porn, log_tor)
    ranks = pd.DataFrame({"group": groups, "x": log_porn, "y": log_tor}).groupby("group")
    spearman = _grouped_pearson(groups, ranks["x"].rank(method="average"), ranks["y"].rank(method="average"))
    n_hours = groups.value_counts().sort_index()
    return pd.DataFrame(
        {
            "code_com": pearson.index.astype(str),
            "pearson_log": pearson.to_numpy(),
            "spearman_log": spearman.reindex(pearson.index).to_numpy(),
            "n_hours": n_hours.reindex(pearson.index).to_numpy(),
        }
    )


def correction_factor(correlations, method, shares, negative_factor_floor):
    """The correction factor c per commune (aligned with `correlations`)."""
    scale = shares["tor_to_darknet_share"] * shares["csam_in_porn_share"]
    r = correlations["pearson_log"]
    if method == "pearson_log":
        c = r * scale
    elif method == "pearson_log_squared":
        c = r**2 * scale
    elif method == "spearman_log":
        c = correlations["spearman_log"] * scale
    elif method == "pearson_log_centered":
        c_global = scale * shares["porn_in_darknet_share"]
        c = (r - r.mean(skipna=True) + 1) * c_global
    else:
        raise ValueError(f"correction_method {method!r} is not one of {', '.join(METHODS)}")
    return c.mask(c < 0, negative_factor_floor)


def estimate_table(totals, correlations, crime_rates, *, apps, direction, shares, method, negative_factor_floor):
    """The contract's cpc_com table (CONTRACT 3), one row per commune."""
    factors = pd.DataFrame(
        {
            "code_com": correlations["code_com"],
            "c": correction_factor(correlations, method, shares, negative_factor_floor),
        }
    )
    table = totals.rename(columns={"porn": apps["porn"], "tor": apps["tor"], "control": apps["control"]})
    table = table[["cities", "code_com", "code_dep", *[apps[r] for r in ("porn", "tor", "control")], "pop"]]
    table.insert(3, "traffic_dir", direction)
    table = table.merge(factors, on="code_com", how="left", validate="one_to_one")
    for key, column in SHARE_COLUMNS.items():
        table[column] = shares[key]
    porn, tor, control = (table[apps[r]] for r in ("porn", "tor", "control"))
    pop, c = table["pop"], table["c"]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["cpc"] = tor * c
        table["cpc_per_1000"] = tor * c * 1000 / pop
        table["log_cpc"] = np.log(tor * c)
        table["log_cpc_per_1000"] = np.log(tor * c) * 1000 / pop
        table["yt_per_1000"] = control / pop * 1000
        table["wa_per_1000"] = porn / pop * 1000
        table["tor_per_1000"] = tor / pop * 1000
        table["log_yt_per_1000"] = np.log(control) / pop * 1000
        table["log_wa_per_1000"] = np.log(porn) / pop * 1000
        table["log_tor_per_1000"] = np.log(tor) / pop * 1000
    table = table.merge(crime_rates[["code_com", *CRIME_COLUMNS]], on="code_com", how="left")
    table = table.drop_duplicates("code_com")
    columns = ["cities", "code_com", "code_dep", "traffic_dir", apps["porn"], apps["tor"], apps["control"], "c", "pop"]
    columns += list(SHARE_COLUMNS.values())
    columns += [
        "cpc", "cpc_per_1000", "log_cpc", "log_cpc_per_1000", "yt_per_1000", "wa_per_1000",
        "tor_per_1000", "log_yt_per_1000", "log_wa_per_1000", "log_tor_per_1000", *CRIME_COLUMNS,
    ]
    return table[columns]


def correction_methods_table(totals, correlations, crime_rates, *, shares, negative_factor_floor):
    """Spearman of log cpc_per_1000 under each method with sv_com_17_21 (CONTRACT 3)."""
    from association_tests import spearman_pair

    base = totals.merge(correlations, on="code_com", how="left").merge(
        crime_rates[["code_com", "sv_com_17_21"]], on="code_com", how="left"
    )
    tested = base["sv_com_17_21"].notna()
    rows = []
    for method in METHODS:
        c = correction_factor(base, method, shares, negative_factor_floor)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_cpc_per_1000 = np.log(base["tor"] * c * 1000 / base["pop"])
        rho, pvalue, n = spearman_pair(log_cpc_per_1000[tested], base.loc[tested, "sv_com_17_21"])
        rows.append({"method": method, "rho": rho, "pvalue": pvalue, "n": n})
    return pd.DataFrame(rows)


def main(snakemake):
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    from atomic_output import atomic_path

    if snakemake.rule == "commune_correlations":
        hourly = pd.read_parquet(snakemake.input.hourly, columns=["code_com", "porn", "tor"])
        correlations = commune_correlations(hourly, snakemake.params.zero_replacement)
        undefined = int(correlations["pearson_log"].isna().sum())
        print(f"{len(correlations)} communes, {undefined} without a defined correlation", file=sys.stderr)
        with atomic_path(snakemake.output.correlations) as tmp:
            correlations.to_parquet(tmp, index=False)
        return

    params = snakemake.params
    totals = pd.read_parquet(snakemake.input.totals)
    correlations = pd.read_parquet(snakemake.input.correlations)
    crime_rates = pd.read_parquet(snakemake.input.crime_rates)
    table = estimate_table(
        totals, correlations, crime_rates,
        apps=params.apps, direction=params.direction, shares=params.shares,
        method=params.correction_method, negative_factor_floor=params.negative_factor_floor,
    )
    floored = int((correction_factor(correlations, params.correction_method, params.shares, -1.0) < 0).sum())
    print(f"{len(table)} communes; {floored} negative correction factors set to the floor", file=sys.stderr)
    methods = correction_methods_table(
        totals, correlations, crime_rates, shares=params.shares, negative_factor_floor=params.negative_factor_floor
    )
    with atomic_path(snakemake.output.estimates) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(snakemake.output.correction_methods) as tmp:
        methods.to_csv(tmp, index=False)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
