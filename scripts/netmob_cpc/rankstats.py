"""Ranks and rank statistics: Spearman's rho and its p-value, the rank-based partial
correlation, the survival functions, and the per-group (per-commune) Pearson and Spearman
correlations of hourly log porn with log Tor that every correction factor starts from.

The Spearman test and the survival functions are built on `scipy.special` (`stdtr`, `ndtr`),
NumPy and pandas' ranks, not `scipy.stats` (whose import costs about a second per job); they
give the numbers scipy.stats' `spearmanr`, `t.sf` and `norm.sf` give (tests/test_statistics.py).
"""

import math

import numpy as np
import pandas as pd


def as_float(values):
    return pd.Series(values).to_numpy(dtype="float64", na_value=np.nan)


PERFECT_TOLERANCE = 1e-12


def average_ranks(values):
    """1-based ranks of a 1-D array, ties given the mean of their positions (pandas' rank,
    method 'average': the numbers of `scipy.stats.rankdata`). NaN stays NaN."""
    return pd.Series(np.asarray(values, dtype="float64")).rank(method="average").to_numpy()


def t_sf(x, df):
    """Survival function P(T > x) of Student's t with `df` degrees of freedom:
    `scipy.special.stdtr(df, -x)`, what scipy.stats.t.sf(x, df) computes."""
    from scipy.special import stdtr

    return stdtr(df, np.negative(x))


def normal_sf(z):
    """Survival function P(Z > z) of the standard normal: `scipy.special.ndtr(-z)`, what
    scipy.stats.norm.sf(z) computes."""
    from scipy.special import ndtr

    return ndtr(np.negative(z))


def spearman_pair(x, y):
    """(rho, pvalue, n): Spearman's rho over the pairs where both are finite, and its
    two-sided p-value.

    rho is the Pearson correlation (np.corrcoef) of the average ranks of x and y; the
    p-value is 2 P(T > |t|) for t = rho sqrt((n - 2) / ((1 + rho)(1 - rho))) with n - 2
    degrees of freedom (rho = +-1 gives p = 0): scipy.stats.spearmanr's arithmetic, step
    for step, so the same numbers. Fewer than 3 such pairs, or a constant series, give NaN
    rho and p-value.
    """
    x, y = as_float(x), as_float(y)
    if len(x) != len(y):
        raise ValueError(f"spearman_pair: x has {len(x)} values, y has {len(y)}")
    finite = np.isfinite(x) & np.isfinite(y)
    n = int(finite.sum())
    if n < 3:
        return math.nan, math.nan, n
    x, y = x[finite], y[finite]
    if (x[0] == x).all() or (y[0] == y).all():
        return math.nan, math.nan, n  # a constant series has no rank correlation
    # as spearmanr: the whole 2 x 2 matrix of the column-stacked ranks, then its [1, 0]
    rs = np.corrcoef(np.column_stack((average_ranks(x), average_ranks(y))), rowvar=False)
    dof = n - 2
    with np.errstate(divide="ignore"):  # the diagonal (and rho = +-1) divide by 0
        t_values = rs * np.sqrt((dof / ((rs + 1.0) * (1.0 - rs))).clip(0))
    pvalues = 2 * t_sf(np.abs(t_values), dof)
    return float(rs[1, 0]), float(pvalues[1, 0]), n


def partial_spearman(x, y, z):
    """(rho, pvalue, n): rank-based partial correlation of x and y given z.

    Over the triples where all three are finite: the Pearson correlation of the residuals
    of rank(x) and rank(y), each regressed linearly (with an intercept) on rank(z); the
    p-value two-sided from t = rho sqrt((n - 3) / (1 - rho^2)) with n - 3 degrees of
    freedom. Fewer than 4 triples, or a constant residual, give NaN.
    """
    x, y, z = as_float(x), as_float(y), as_float(z)
    if not len(x) == len(y) == len(z):
        raise ValueError(f"partial_spearman: {len(x)}, {len(y)} and {len(z)} values")
    finite = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
    n = int(finite.sum())
    if n < 4:
        return math.nan, math.nan, n
    design = np.column_stack([np.ones(n), average_ranks(z[finite])])
    return _residual_rank_correlation(x[finite], y[finite], design, n - 3)


def _residual_rank_correlation(x, y, design, dof):
    """(rho, pvalue, n) of rank(x) and rank(y) (finite, aligned rows), each residualised by
    least squares on `design`; p two-sided from a t with `dof` degrees of freedom. A
    residual that is rounding noise (x or y a linear function of the design) gives NaN."""
    n = len(x)
    residuals = []
    for values in (x, y):
        ranks = average_ranks(values)
        coef, *_ = np.linalg.lstsq(design, ranks, rcond=None)
        residual = ranks - design @ coef
        residuals.append(residual - residual.mean())
    rx, ry = residuals
    scale = math.sqrt(float((rx * rx).sum()) * float((ry * ry).sum()))
    if scale <= 1e-9 * n**3:
        return math.nan, math.nan, n
    rho = float(np.clip((rx * ry).sum() / scale, -1.0, 1.0))
    if abs(rho) > 1 - PERFECT_TOLERANCE:
        return rho, 0.0, n
    statistic = rho * math.sqrt(dof / (1 - rho**2))
    return rho, float(2 * t_sf(abs(statistic), dof)), n


def partial_spearman_design(x, y, design):
    """(rho, pvalue, n): the Pearson correlation of rank(x) and rank(y) (average ranks over
    the rows where both are finite), each residualised by least squares on `design`
    (rows as x, with an intercept column; only the finite rows of x and y are used).

    p two-sided from t = rho sqrt((n - 2 - k) / (1 - rho^2)) with n - 2 - k degrees of
    freedom, k = rank(design) - 1 (the regressors besides the intercept). Fewer than
    k + 4 rows, or a constant residual, give NaN.
    """
    x, y = as_float(x), as_float(y)
    design = np.asarray(design, float)
    finite = np.isfinite(x) & np.isfinite(y) & np.isfinite(design).all(axis=1)
    n = int(finite.sum())
    design = design[finite]
    k = int(np.linalg.matrix_rank(design)) - 1 if n else 0
    if n < k + 4:
        return math.nan, math.nan, n
    return _residual_rank_correlation(x[finite], y[finite], design, n - 2 - k)


# --- per-group correlations (one group per commune) -------------------------------------


def _group_runs(keys, n_groups):
    """(order, starts): a stable order of the rows by group key and the first position of
    each group in it (every key 0..n_groups-1 has a row)."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=n_groups)
    return order, np.concatenate([[0], np.cumsum(counts)[:-1]])


def _grouped_pearson(keys, n_groups, x, y, runs=None):
    """Pearson correlation of x and y within each group (NaN for a constant series), for
    integer group keys 0..n_groups-1, each present. NaN values are skipped as pandas'
    group-bys skip them: in each mean, minimum and maximum, and in each sum of products.
    """
    order, starts = runs if runs is not None else _group_runs(keys, n_groups)

    def deviations(values):
        valid = ~np.isnan(values)
        counts = np.bincount(keys, weights=valid, minlength=n_groups)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.bincount(keys, weights=np.where(valid, values, 0.0), minlength=n_groups) / counts
        ordered = values[order]
        constant = np.fmin.reduceat(ordered, starts) == np.fmax.reduceat(ordered, starts)
        return values - means[keys], constant

    dx, constant_x = deviations(np.asarray(x, dtype=np.float64))
    dy, constant_y = deviations(np.asarray(y, dtype=np.float64))
    # A series whose values are all equal has no correlation; its computed deviations
    # can be rounding noise (the mean of n equal values is not always that value).
    constant = (constant_x | constant_y)[keys]
    dx[constant], dy[constant] = 0.0, 0.0

    def total(values):
        return np.bincount(keys, weights=np.nan_to_num(values, nan=0.0), minlength=n_groups)

    with np.errstate(invalid="ignore", divide="ignore"):
        r = total(dx * dy) / np.sqrt(total(dx * dx) * total(dy * dy))
    return np.clip(r, -1.0, 1.0)


def _grouped_ranks(values, keys, runs):
    """Average ranks (1-based, ties share their mean rank) of the values within each
    group; NaN stays NaN and takes no rank (pandas' groupby rank, method 'average')."""
    _, starts = runs
    values = np.asarray(values, dtype=np.float64)
    # by group, and by value within a group (NaN last); equal values may come in any
    # order, they share their mean rank (one sort by value, then a stable one by group:
    # faster than a lexsort of both)
    by_value = np.argsort(values)
    order = by_value[np.argsort(keys[by_value], kind="stable")]
    ordered, group = values[order], keys[order]
    position = np.arange(len(order)) - starts[group] + 1.0
    new_run = np.ones(len(order), dtype=bool)
    new_run[1:] = (group[1:] != group[:-1]) | (ordered[1:] != ordered[:-1])
    run = np.cumsum(new_run) - 1
    run_length = np.bincount(run)
    ranks = np.empty(len(order))
    ranks[order] = position[new_run][run] + (run_length[run] - 1) / 2.0
    ranks[np.isnan(values)] = np.nan
    return ranks


def correlations_by_key(keys, n_groups, porn, tor, zero_replacement):
    """Per group key 0..n_groups-1 (each with a row): the Pearson and Spearman correlation
    of log porn with log Tor over the group's hours, 0 replaced by `zero_replacement`, and
    the number of hours. Returns three arrays."""
    logs = []
    for values in (porn, tor):
        values = np.array(values, dtype=np.float64)
        values[values == 0] = zero_replacement
        with np.errstate(invalid="ignore", divide="ignore"):
            logs.append(np.log(values))
    keys = np.asarray(keys, dtype=np.int64)
    runs = _group_runs(keys, n_groups)
    pearson = _grouped_pearson(keys, n_groups, *logs, runs)
    spearman = _grouped_pearson(keys, n_groups, *(_grouped_ranks(log, keys, runs) for log in logs), runs)
    return pearson, spearman, np.bincount(keys, minlength=n_groups)


CORRELATION_COLUMNS = ["code_com", "pearson_log", "spearman_log", "n_hours"]


def correlation_table(codes, keys, porn, tor, zero_replacement):
    """correlations.parquet's table for the communes `codes` (key k is codes[k], each with
    hours), rows in code order."""
    if len(codes) == 0:
        empty = [np.zeros(0, dtype=str), np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)]
        return pd.DataFrame(dict(zip(CORRELATION_COLUMNS, empty)))
    columns = (np.asarray(codes).astype(str), *correlations_by_key(keys, len(codes), porn, tor, zero_replacement))
    return pd.DataFrame(dict(zip(CORRELATION_COLUMNS, columns))).sort_values(
        "code_com", kind="stable", ignore_index=True
    )


def commune_correlations(hourly, zero_replacement):
    """Per commune, Pearson and Spearman correlation of hourly log porn with log Tor, and
    the commune's number of hours (an hourly table with code_com, porn, tor); rows in code
    order."""
    keys, codes = pd.factorize(hourly["code_com"], sort=True)
    return correlation_table(np.asarray(codes, dtype=object), keys, hourly["porn"], hourly["tor"],
                             zero_replacement)
