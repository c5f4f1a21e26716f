"""Placebo apps: is the association of the estimate with recorded sexual violence specific
to Tor?

Each placebo app goes through exactly the construction Tor goes through, with the app in
Tor's place: per commune, the correlation of its hourly log traffic with hourly log porn
(over the same kept hours: the first city of a commune, the outage drop on the porn app's
zero slots, netmob_cpc.series.city_hourly), its own correction factor from that
correlation (netmob_cpc.estimates.correction_factors, the configured method, shares and
floor), and the app's total over the kept hours times that factor, per 1,000 inhabitants.
That measure, logged, is tested against the outcome over the communes cpc is tested on,
with the same analyses (netmob_cpc.statistics.ANALYSES). Applied to the Tor app, the
construction gives cpc_per_1000 and its rows of association_adjusted.csv, bit for bit.

If many ordinary apps (video, maps, mail) give an association as strong as Tor's, the
association says more about what drives all traffic per inhabitant (population, commuting,
daytime activity) than about Tor. Tor's rank among them is one row of falsification.csv:
p = (1 + #{apps with rho >= Tor's}) / (1 + apps), a rank test that treats the apps as
exchangeable, which they are not quite (apps share the commune's population and traffic
level): read it as a description, not as an exact test.

In table mode (a published estimate table: no hourly series), the placebos are the
table's control and porn app volumes times the table's c (Tor's factor, not their own),
per 1,000 inhabitants.
"""

import math

import numpy as np
import pandas as pd

from netmob_cpc.estimates import correction_factors
from netmob_cpc.files import InputError
from netmob_cpc.rankstats import as_float, correlation_table
from netmob_cpc.rates import log_values, per_1000
from netmob_cpc.series import city_hourly, commune_totals, populations
from netmob_cpc.statistics import ANALYSES, CRIME, association_analyses

PLACEBO_COLUMNS = ["app", "analysis", "rho", "pvalue", "n"]
# One row per commune with hours: the app's own correction factor and measure.
ESTIMATE_COLUMNS = [
    "cities", "code_com", "code_dep", "app_total", "pearson_log", "spearman_log", "n_hours",
    "c", "c_floored", "pop", "per_1000",
]
FALSIFICATION_COLUMNS = [
    "test", "statistic", "observed", "reference_mean", "reference_q025", "reference_q975",
    "p_upper", "replicates", "seed",
]


# --- the series: one app at a time -------------------------------------------------------


def city_app_series(city, index, dates, porn_days, app_days, outage_dates, taken, zero_replacement):
    """One city's per-commune correlations of hourly log porn with the log app and the app's
    totals over the kept hours, computed as netmob_cpc.series.combine_cities computes them
    for Tor (same kept hours, same row order, same sums).

    index: the city's tile index (code_com, code_dep, ...); porn_days, app_days: ingested
    day dicts in the order of `dates`; taken: (code_com, date) given by earlier cities,
    updated. Returns (correlations DataFrame, totals DataFrame cities, code_com, code_dep,
    app_total, dropped outage slots)."""
    codes = np.asarray(index["code_com"]).astype(str)
    departments = np.asarray(index["code_dep"]).astype(str)
    # the app in Tor's place (the control role is not used: given the app's days again)
    days = {"porn": porn_days, "tor": app_days, "control": app_days}
    columns, dropped = city_hourly(codes, dates, days, outage_dates, taken)
    rank = np.empty(len(codes), dtype=np.int64)
    rank[np.argsort(codes, kind="stable")] = np.arange(len(codes))
    order = np.lexsort((columns["hour"], columns["date"], rank[columns["commune"]]))
    communes = columns["commune"][order]
    app = columns["tor"][order]
    with_hours = np.flatnonzero(np.bincount(communes, minlength=len(codes)) > 0)
    with_hours = with_hours[np.argsort(codes[with_hours], kind="stable")]
    present, keys = np.unique(communes, return_inverse=True)
    correlations = correlation_table(codes[present], keys, columns["porn"][order], app, zero_replacement)
    totals = pd.DataFrame({
        "cities": city, "code_com": codes[with_hours], "code_dep": departments[with_hours],
        "app_total": np.bincount(communes, weights=app, minlength=len(codes))[with_hours],
    })
    return correlations, totals, dropped


def app_series(cities, outage_dates, zero_replacement):
    """(correlations, totals with pop, {city: dropped outage slots}) of one app over all
    cities in config order.

    cities: iterable of (city, tile index, dates, porn days, app days), one city's days in
    memory at a time. A commune whose days come from two cities' tile maps is an error, as
    for the headline (netmob_cpc.series.commune_totals)."""
    taken, correlations, totals, dropped, indexes = set(), [], [], {}, []
    for city, index, dates, porn_days, app_days in cities:
        city_correlations, city_totals, dropped[city] = city_app_series(
            city, index, dates, porn_days, app_days, outage_dates, taken, zero_replacement
        )
        correlations.append(city_correlations)
        totals.append(city_totals)
        indexes.append(index)
    if not correlations:
        raise ValueError("app_series: no city")
    correlations = pd.concat(correlations, ignore_index=True).sort_values("code_com", kind="stable", ignore_index=True)
    totals = commune_totals(pd.concat(totals, ignore_index=True), populations(indexes))
    return correlations, totals, dropped


def app_estimates(correlations, totals, *, method, shares, negative_factor_floor):
    """Per commune: the app's correction factor c (from its own correlations, as cpc's c
    from Tor's) and the app's measure per_1000 = app_total x c x 1000 / pop (NaN without a
    usable population); columns ESTIMATE_COLUMNS."""
    c, floored = correction_factors(correlations, method, shares, negative_factor_floor)
    factors = correlations.assign(c=c, c_floored=floored)
    table = totals.merge(factors, on="code_com", how="left", validate="one_to_one")
    table["c_floored"] = table["c_floored"].fillna(False).astype(bool)
    table["per_1000"] = per_1000(table["app_total"].astype("float64") * table["c"], table["pop"])
    return table[ESTIMATE_COLUMNS]


# --- the tests: the same analyses as cpc ------------------------------------------------


def analysis_results(values, tested, analyses=ANALYSES, spline_df=6):
    """{analysis: (rho, pvalue, n)} of one logged measure (aligned with `tested`, the tested
    communes with the outcome, pop and cities) against the outcome: the analyses of
    association_adjusted.csv, netmob_cpc.statistics.association_analyses."""
    cities = tested["cities"] if "cities" in tested.columns else None
    return association_analyses(values, tested[CRIME], tested["pop"], cities, spline_df, analyses)


def placebo_rows(app, log_measure, tested, analyses=ANALYSES, spline_df=6):
    """placebo.csv rows of one app: `log_measure` (aligned with `tested`, the communes cpc
    is tested on, netmob_cpc.statistics.select_tested) against the outcome."""
    results = analysis_results(log_measure, tested, analyses, spline_df)
    return [
        {"app": app, "analysis": analysis, "rho": rho, "pvalue": pvalue, "n": n}
        for analysis, (rho, pvalue, n) in results.items()
    ]


def tested_measure(tested, estimates, app):
    """log per_1000 of one app's estimates, in the row order of `tested` (NaN for a tested
    commune without the app's hours); an InputError when the estimates are of other
    communes altogether."""
    codes = tested["code_com"].astype(str).reset_index(drop=True)
    measure = pd.Series(
        as_float(estimates["per_1000"]), index=estimates["code_com"].astype(str).to_numpy()
    )
    if measure.index.duplicated().any():
        raise InputError(f"the placebo estimates of {app} hold a commune twice")
    found = codes.isin(measure.index)
    if len(codes) and not found.any():
        raise InputError(
            f"the placebo estimates of {app} hold none of the {len(codes)} tested communes of "
            "cpc_com.csv: they were computed from other tile maps; rerun the placebo rules"
        )
    return log_values(measure.reindex(codes).to_numpy())


def placebo_table(tested, estimates_by_app, analyses=ANALYSES, spline_df=6):
    """placebo.csv: one row per app and analysis. estimates_by_app: {app: ESTIMATE_COLUMNS
    table}, in the order the rows are written."""
    rows = []
    for app, estimates in estimates_by_app.items():
        rows += placebo_rows(app, tested_measure(tested, estimates, app), tested, analyses, spline_df)
    return pd.DataFrame(rows, columns=PLACEBO_COLUMNS)


def published_placebo_table(tested, apps, analyses=ANALYSES, spline_df=6):
    """placebo.csv in table mode: the table's control and porn app volumes times its c (the
    Tor factor: the table has no hourly series for factors of their own), per 1,000
    inhabitants, logged, over the tested communes."""
    rows = []
    for role in ("control", "porn"):
        app = apps[role]
        measure = log_values(per_1000(tested[app].astype("float64") * tested["c"], tested["pop"]))
        rows += placebo_rows(app, measure.to_numpy(), tested, analyses, spline_df)
    return pd.DataFrame(rows, columns=PLACEBO_COLUMNS)


# --- Tor's rank among the placebo apps --------------------------------------------------


def tor_rank_row(placebo, cpc_rho):
    """The falsification.csv row of Tor's rank among the placebo apps (analysis `all`).

    observed = cpc's rho; the reference columns are the mean and the 2.5 % and 97.5 %
    quantiles (linear interpolation) of the apps' rho; p_upper = (1 + #{apps with rho >=
    cpc's}) / (1 + apps); replicates = the number of apps with a finite rho (an app without
    one, e.g. no traffic at all, is left out); seed empty (nothing is random)."""
    rho = as_float(placebo.loc[placebo["analysis"] == "all", "rho"])
    rho = rho[np.isfinite(rho)]
    k = len(rho)
    row = {
        "test": "placebo_apps", "statistic": "rank_of_cpc_among_apps", "observed": float(cpc_rho),
        "reference_mean": math.nan, "reference_q025": math.nan, "reference_q975": math.nan,
        "p_upper": math.nan, "replicates": k, "seed": "",
    }
    if k and np.isfinite(cpc_rho):
        row.update(
            reference_mean=float(rho.mean()),
            reference_q025=float(np.quantile(rho, 0.025)),
            reference_q975=float(np.quantile(rho, 0.975)),
            p_upper=(1 + int((rho >= cpc_rho).sum())) / (1 + k),
        )
    return row
