"""Inference that holds with few, unequal clusters: regression.csv's cluster rows.

The communes of the tests lie in about 20 cities and 30 departments of very unequal size
(Paris alone holds a quarter of the communes). Cluster-robust (CR1) standard errors with
so few clusters are too small and their t-tests reject too often. Three additions:

- The wild cluster restricted bootstrap (WCR; Cameron, Gelbach and Miller 2008; MacKinnon
  and Webb 2017): the model is refitted under the null (the tested coefficient set to 0),
  its residuals are multiplied by one random weight per cluster, Webb's six-point weights
  (+-sqrt(1/2), +-1, +-sqrt(3/2), each with probability 1/6), the outcome rebuilt and the
  CR1 t-statistic recomputed. The p-value is symmetric and two-sided: the share of draws
  with |t*| >= |t|. The draws are computed without refitting, from per-cluster scores (the
  algebra of Roodman, MacKinnon, Nielsen and Webb 2019, "Fast and wild", section 3): the
  bootstrap coefficient and each cluster's score are linear in the weight vector, so one
  G x G matrix serves every draw.
- Leave-one-city-out fits of the headline coefficients, and the CV3 jackknife standard
  error they give: sqrt((G - 1)/G * sum_g (b_(g) - mean b_(.))^2) (MacKinnon, Nielsen and
  Webb 2023), with a t on G - 1 degrees of freedom.
- Results that rest on fewer clusters than `inference.min_clusters` are withheld: their
  standard error, t, p-values written as NaN with the reason in `note`.

The maintained package `wildboottest` computes the same p-values, but needs numba (and
llvmlite): this module is plain NumPy.
"""

import math

import numpy as np
import pandas as pd

from netmob_cpc.rankstats import t_sf
from netmob_cpc.statistics import MODELS, fit_ols, model_data
from netmob_cpc.statistics import REGRESSION_COLUMNS as BASE_COLUMNS
from netmob_cpc.statistics import regression_table as base_regression_table

REGRESSION_COLUMNS = [*BASE_COLUMNS, "wild_pvalue", "clusters", "note"]
CLUSTER_COLUMNS = {"cluster_dep": "code_dep", "cluster_city": "cities"}
# the coefficient of each model the association rests on
HEADLINE = {"cpc_on_sv": "sv_com_17_21", "sv_on_cpc": "log_cpc_rate"}
WEBB_POINTS = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])


def webb_weights(clusters, draws, seed):
    """(clusters, draws) Webb six-point weights (numpy's default_rng(seed))."""
    rng = np.random.default_rng(seed)
    return WEBB_POINTS[rng.integers(0, 6, size=(clusters, draws))]


def rademacher_signs(clusters):
    """(clusters, 2^clusters) every sign vector: the Rademacher weights enumerated."""
    codes = np.arange(2**clusters)
    return np.where((codes[None, :] >> np.arange(clusters)[:, None]) & 1, 1.0, -1.0)


def cr1_t(y, X, groups, column):
    """The CR1 t-statistic of coefficient `column` (as statsmodels' cluster covariance:
    G/(G-1) (N-1)/(N-K) times the sandwich)."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    codes = pd.factorize(pd.Series(groups).astype(str))[0]
    bread = np.linalg.inv(X.T @ X)
    coef = bread @ X.T @ y
    residual = y - X @ coef
    scores = np.zeros((codes.max() + 1, X.shape[1]))
    np.add.at(scores, codes, X * residual[:, None])
    n, k, g = len(y), X.shape[1], len(scores)
    a_k = bread[column]
    variance = g / (g - 1) * (n - 1) / (n - k) * float(((scores @ a_k) ** 2).sum())
    return float(coef[column] / math.sqrt(variance))


def wild_t_statistics(y, X, groups, column, weights):
    """The bootstrap t-statistics of the wild cluster restricted bootstrap, one per column
    of `weights` ((clusters, draws), clusters in the order of first appearance in
    `groups`).

    Restricted fit: y on X without `column` (fitted values y0, residuals u0). A draw with
    cluster weights v is y* = y0 + v_g u0 (g the row's cluster); t* is the CR1 t of
    `column` in the OLS fit of y* on X. With A = (X'X)^-1, a = A[column] and
    s_g = X_g' u0_g: b* = sum_g v_g a's_g (the restricted fit has coefficient 0), and
    cluster h's score a'X_h'u*_h = sum_g D[h, g] v_g with
    D[h, g] = [h = g] a's_h - a'X_h'X_h A s_g.
    """
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    codes = pd.factorize(pd.Series(groups).astype(str))[0]
    g = codes.max() + 1
    n, k = X.shape
    rest = np.delete(X, column, axis=1)
    gamma, *_ = np.linalg.lstsq(rest, y, rcond=None)
    u0 = y - rest @ gamma
    bread = np.linalg.inv(X.T @ X)
    a = bread[column]
    s = np.zeros((g, k))
    np.add.at(s, codes, X * u0[:, None])  # s_g = X_g' u0_g
    c = s @ a  # a' s_g
    # a' X_h' X_h for each cluster h, (g, k)
    xa = X @ a
    ax = np.zeros((g, k))
    np.add.at(ax, codes, X * xa[:, None])
    D = np.diag(c) - ax @ bread @ s.T
    weights = np.asarray(weights, float)
    coef = c @ weights
    scores = D @ weights
    scale = g / (g - 1) * (n - 1) / (n - k)
    with np.errstate(divide="ignore", invalid="ignore"):
        return coef / np.sqrt(scale * (scores**2).sum(axis=0))


def wild_pvalue(y, X, groups, column, draws=None, seed=0, weights=None):
    """Symmetric two-sided p-value of the wild cluster restricted bootstrap with Webb
    weights (`draws` of them, `seed`), or with the given (clusters, draws) `weights`:
    the share of bootstrap |t*| at least the observed |t| (CR1)."""
    observed = cr1_t(y, X, groups, column)
    if weights is None:
        clusters = pd.Series(groups).astype(str).nunique()
        weights = webb_weights(clusters, draws, seed)
    bootstrap = wild_t_statistics(y, X, groups, column, weights)
    # a tie within rounding counts as at least as large
    return float(np.mean(np.abs(bootstrap) >= abs(observed) * (1 - 1e-10)))


def jackknife(y, X, groups, column):
    """(leave-one-cluster-out coefficients (Series by cluster), CV3 standard error).

    CV3 = sqrt((G - 1)/G * sum_g (b_(g) - mean_g b_(g))^2). A cluster whose removal leaves
    a rank-deficient design gives NaN (and the CV3 NaN)."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    labels = pd.Series(groups).astype(str).to_numpy()
    names = sorted(set(labels))
    coefs = {}
    for name in names:
        keep = labels != name
        if keep.sum() > X.shape[1] and np.linalg.matrix_rank(X[keep]) == X.shape[1]:
            coef, *_ = np.linalg.lstsq(X[keep], y[keep], rcond=None)
            coefs[name] = float(coef[column])
        else:
            coefs[name] = math.nan
    values = pd.Series(coefs)
    g = len(values)
    cv3 = math.sqrt((g - 1) / g * float(((values - values.mean()) ** 2).sum())) if g > 1 else math.nan
    return values, cv3


def _withheld_note(cov_type, clusters, min_clusters):
    kind = "cities" if cov_type.endswith("city") else "departments"
    return (
        f"{clusters} {kind}, fewer than inference.min_clusters = {min_clusters}: cluster-robust inference "
        "not reported"
    )


def regression_table(test_table, covariates=None, *, min_clusters=10, draws=999, seed=0):
    """regression.csv with few-cluster inference.

    The rows of statistics.regression_table (HC3, CR1 by department `cluster_dep` and by
    city `cluster_city`), each cluster row with `wild_pvalue` (WCR, Webb weights, `draws`,
    `seed`) and `clusters`; then, for each headline coefficient (HEADLINE) of the base
    models, one row per left-out city (model `<model>_without_city`, HC3 inference, the
    city in `note`) and a row of cov_type `CV3_city` (the full-sample coefficient with the
    jackknife standard error, t on G - 1 degrees of freedom). Cluster inference resting
    on fewer than `min_clusters` clusters is NaN, with the reason in `note`.
    """
    table = base_regression_table(test_table, covariates)
    table["wild_pvalue"] = math.nan
    table["clusters"] = pd.array([pd.NA] * len(table), dtype="Int64")
    table["note"] = ""
    for (model, cov_type), rows in table.groupby(["model", "cov_type"], sort=False):
        if cov_type not in CLUSTER_COLUMNS:
            continue
        data, X, outcome = model_data(test_table, covariates, model)
        groups = data[CLUSTER_COLUMNS[cov_type]]
        clusters = int(groups.nunique()) if len(data) else 0
        table.loc[rows.index, "clusters"] = clusters
        if clusters < min_clusters:
            table.loc[rows.index, ["se", "t", "pvalue"]] = math.nan
            table.loc[rows.index, "note"] = _withheld_note(cov_type, clusters, min_clusters)
            continue
        if not np.isfinite(rows["coef"].to_numpy(float)).all():
            continue
        for position, index in enumerate(rows.index):
            table.loc[index, "wild_pvalue"] = wild_pvalue(
                data[outcome], X, groups, position, draws=draws, seed=seed
            )
    return pd.concat([table, leave_one_city_out_rows(test_table, min_clusters)], ignore_index=True)[
        REGRESSION_COLUMNS
    ]


def leave_one_city_out_rows(test_table, min_clusters):
    """Rows of the headline coefficients refitted without each city, and their CV3 row."""
    rows = []
    for model, term in HEADLINE.items():
        data, X, outcome = model_data(test_table, None, model)
        names = ["const", *MODELS[model][1]]
        column = names.index(term)
        cities = data["cities"]
        g = int(cities.nunique())
        common = {"outcome": outcome, "term": term, "wild_pvalue": math.nan}
        if g < min_clusters:
            rows.append(
                {
                    **common, "model": model, "coef": math.nan, "se": math.nan, "t": math.nan, "pvalue": math.nan,
                    "n": len(data), "cov_type": "CV3_city", "clusters": g,
                    "note": _withheld_note("cluster_city", g, min_clusters) + " (leave-one-city-out)",
                }
            )
            continue
        for city in sorted(cities.unique()):
            keep = (cities != city).to_numpy()
            values = (math.nan,) * 4
            if keep.sum() > X.shape[1] and np.linalg.matrix_rank(X[keep]) == X.shape[1]:
                fit = fit_ols(data[outcome][keep], X[keep], "HC3")
                values = (fit.params[column], fit.bse[column], fit.tvalues[column], fit.pvalues[column])
            coef, se, t_value, pvalue = map(float, values)
            rows.append(
                {
                    **common, "model": f"{model}_without_city", "coef": coef, "se": se, "t": t_value,
                    "pvalue": pvalue, "n": int(keep.sum()), "cov_type": "HC3", "clusters": g - 1,
                    "note": f"without {city}",
                }
            )
        _, cv3 = jackknife(data[outcome], X, cities, column)
        coef = float(fit_ols(data[outcome], X, "HC3").params[column])
        t_value = coef / cv3 if cv3 > 0 else math.nan
        rows.append(
            {
                **common, "model": model, "coef": coef, "se": cv3, "t": t_value,
                "pvalue": float(2 * t_sf(abs(t_value), g - 1)) if np.isfinite(t_value) else math.nan,
                "n": len(data), "cov_type": "CV3_city", "clusters": g,
                "note": "jackknife over cities (leave-one-city-out), t with G - 1 degrees of freedom",
            }
        )
    frame = pd.DataFrame(rows, columns=REGRESSION_COLUMNS)
    frame["clusters"] = frame["clusters"].astype("Int64")
    return frame
