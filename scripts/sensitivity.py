"""How much the headline numbers depend on the assumptions, and how precise the tests are.

Two analyses beyond the seed notebook:

- Sensitivity (`sensitivity.csv`): the Tor-to-darknet share is the least certain of the
  three published shares; the notebook names three values (0.011 Tor Metrics 2017-2019,
  0.034 Tor blog "Some statistics about onions", 0.078 PNAS 2020, doi:10.1073/pnas.2011893117).
  For each such share crossed with the four correction methods: the headline shares as
  summary.json defines them and the Spearman rho of log cpc_per_1000 with sv_com_17_21 as
  correction_methods.csv defines it.
- Uncertainty (`spearman_ci.csv`, `correction_methods_ci.csv`): percentile bootstrap
  intervals of every Spearman rho of spearman.csv and correction_methods.csv. Communes (the
  rows of the test table: communes with a published sv_com_17_21) are resampled with
  replacement, jointly for all pairs; in each resample rho is recomputed over the pairs
  where both values are finite.

Published-table mode (`estimates_table`): only the authors' c (pearson_log) is known, no
correlations. Every method's c is linear in the Tor share (c = r x share x csam share, or
x the product of the three shares for pearson_log_centered), so c' = c x new / old, except
that a factor at the floor (a negative correlation) stays at the floor; only the
pearson_log rows can be produced.
"""

import math
import sys

import numpy as np
import pandas as pd

from association_tests import CRIME, PER_1000, log_test_table, spearman_pair
from estimate import METHODS, correction_factor

# The notebook's bounds of the share of Tor traffic that goes to onion services.
TOR_SHARE_BOUNDS = (0.011, 0.034, 0.078)
SENSITIVITY_COLUMNS = [
    "tor_to_darknet_share", "method", "global_csam_share", "cpc_share_of_tor", "mean_c", "median_c",
    "rho", "pvalue", "n",
]
SPEARMAN_CI_COLUMNS = ["x", "y", "rho", "ci_low", "ci_high", "resamples"]
METHODS_CI_COLUMNS = ["method", "rho", "ci_low", "ci_high", "resamples"]
CI_LEVEL = 0.95
# spearman.csv's pairs, in its order
SPEARMAN_PAIRS = [(x, CRIME) for x in PER_1000] + [("yt_per_1000", "cpc_per_1000")]


class InputError(ValueError):
    """An input the analysis cannot use; the message names the file or column."""


def _float(values):
    return pd.Series(values).to_numpy(dtype="float64", na_value=np.nan)


# --- sensitivity to the Tor-to-darknet share ---------------------------------------------


def method_factors(estimates, correlations, shares, negative_factor_floor):
    """c of each correction method per commune, aligned with the rows of `estimates`.

    `correlations` holds code_com, pearson_log, spearman_log (estimate/{direction}/
    correlations.parquet); a commune without a row gets NaN.
    """
    duplicated = correlations["code_com"].duplicated()
    if duplicated.any():
        raise InputError(
            f"correlations: code_com {correlations.loc[duplicated, 'code_com'].iloc[0]!r} appears more than once; "
            "expected one row per commune"
        )
    aligned = estimates[["code_com"]].merge(
        correlations[["code_com", "pearson_log", "spearman_log"]], on="code_com", how="left", validate="many_to_one"
    )
    return pd.DataFrame(
        {method: correction_factor(aligned, method, shares, negative_factor_floor).to_numpy() for method in METHODS},
        index=estimates.index,
    )


def headline(tor, c, cpc, cpc_per_1000, crime):
    """cpc_share_of_tor, mean_c, median_c and Spearman (rho, pvalue, n) of one set of factors.

    As summary.json: sum of cpc / sum of Tor (each NaN skipped); mean and median of c over
    the communes that have one. As correction_methods.csv: Spearman of log(cpc_per_1000)
    with the crime rate over the communes with a crime rate.
    """
    tor, c, cpc, cpc_per_1000, crime = (_float(v) for v in (tor, c, cpc, cpc_per_1000, crime))
    with np.errstate(divide="ignore", invalid="ignore"):
        cpc_share_of_tor = np.nansum(cpc) / np.nansum(tor)
        log_cpc_per_1000 = np.log(cpc_per_1000)
    finite_c = c[~np.isnan(c)]
    tested = ~np.isnan(crime)
    rho, pvalue, n = spearman_pair(log_cpc_per_1000[tested], crime[tested])
    return {
        "cpc_share_of_tor": float(cpc_share_of_tor),
        "mean_c": float(finite_c.mean()) if len(finite_c) else math.nan,
        "median_c": float(np.median(finite_c)) if len(finite_c) else math.nan,
        "rho": rho,
        "pvalue": pvalue,
        "n": n,
    }


def _global_share(shares):
    return shares["tor_to_darknet_share"] * shares["porn_in_darknet_share"] * shares["csam_in_porn_share"]


def sensitivity_table(estimates, correlations, *, tor_column, shares, tor_share_bounds, negative_factor_floor):
    """sensitivity.csv from the per-commune correlations: each share x each method.

    `estimates` is cpc_com.csv (its Tor, pop and sv_com_17_21 columns are used), `shares`
    the three configured shares (the Tor one is replaced by each bound in turn). cpc and
    cpc_per_1000 are computed as in the estimate table (Tor x c, Tor x c x 1000 / pop).
    """
    tor, pop = _float(estimates[tor_column]), _float(estimates["pop"])
    rows = []
    for bound in tor_share_bounds:
        bound_shares = {**shares, "tor_to_darknet_share": float(bound)}
        factors = method_factors(estimates, correlations, bound_shares, negative_factor_floor)
        for method in METHODS:
            c = factors[method].to_numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                cpc, cpc_per_1000 = tor * c, tor * c * 1000 / pop
            rows.append(
                {
                    "tor_to_darknet_share": float(bound),
                    "method": method,
                    "global_csam_share": _global_share(bound_shares),
                    **headline(tor, c, cpc, cpc_per_1000, estimates[CRIME]),
                }
            )
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def factor_ratio(c, old_share, new_share, negative_factor_floor):
    """How a published c changes under another Tor share: new / old, 1 for a c at the floor.

    Every correction factor is proportional to the Tor share, except a negative one, which
    the floor replaced (it stays the floor). `old_share` is the share the c was computed with.
    """
    c, old_share = _float(c), _float(old_share)
    return np.where(c == negative_factor_floor, 1.0, new_share / old_share)


def published_sensitivity_table(estimates, *, tor_column, shares, tor_share_bounds, negative_factor_floor):
    """sensitivity.csv from a published table (c of pearson_log only): pearson_log rows.

    The table's own Tor_to_darknet_share column is the share its c was computed with; c,
    cpc and cpc_per_1000 are the table's times `factor_ratio` (so that the row of the
    table's own share reproduces summary.json and spearman.csv exactly).
    """
    c = _float(estimates["c"])
    rows = []
    for bound in tor_share_bounds:
        bound_shares = {**shares, "tor_to_darknet_share": float(bound)}
        ratio = factor_ratio(c, estimates["Tor_to_darknet_share"], float(bound), negative_factor_floor)
        rows.append(
            {
                "tor_to_darknet_share": float(bound),
                "method": "pearson_log",
                "global_csam_share": _global_share(bound_shares),
                **headline(
                    estimates[tor_column], c * ratio, _float(estimates["cpc"]) * ratio,
                    _float(estimates["cpc_per_1000"]) * ratio, estimates[CRIME],
                ),
            }
        )
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


# --- bootstrap intervals -----------------------------------------------------------------


def bootstrap_indices(n, resamples, seed):
    """(resamples, n) row numbers drawn with replacement (numpy's default_rng(seed))."""
    if resamples < 1:
        raise ValueError(f"bootstrap resamples must be at least 1, got {resamples}")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(resamples, n))


def resample_weights(indices, n):
    """How often each of the n rows appears in each resample: (resamples, n) float64."""
    indices = np.asarray(indices)
    resamples = indices.shape[0]
    flat = (indices + n * np.arange(resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=resamples * n).reshape(resamples, n).astype("float64")


def _weighted_midranks(values, weights):
    """Midranks of each resample given as row multiplicities.

    A resample holds row j `weights[b, j]` times; copies of a row, and rows with equal
    values, tie. Returns the midrank of each row in each resample (meaningless where the
    weight is 0) and the number of distinct values present in each resample.
    """
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new_value = np.r_[True, ordered[1:] != ordered[:-1]]
    counts = weights[:, order]
    if not new_value.all():  # tied values: one count per distinct value
        counts = np.add.reduceat(counts, np.flatnonzero(new_value), axis=1)
    midranks = np.cumsum(counts, axis=1) - (counts - 1) / 2
    ranks = np.empty_like(weights)
    ranks[:, order] = midranks if new_value.all() else midranks[:, np.cumsum(new_value) - 1]
    return ranks, (counts > 0).sum(axis=1)


def _spearman_from_weights(x, y, weights):
    """bootstrap_spearman with the resamples given as row multiplicities."""
    x, y = _float(x), _float(y)
    if len(x) != len(y) or weights.shape[1] != len(x):
        raise ValueError(f"bootstrap_spearman: x has {len(x)} values, y {len(y)}, the resamples {weights.shape[1]} rows")
    finite = np.isfinite(x) & np.isfinite(y)
    rho = np.full(weights.shape[0], np.nan)
    if not finite.any():
        return rho
    if not finite.all():
        weights, x, y = weights[:, finite], x[finite], y[finite]
    rank_x, distinct_x = _weighted_midranks(x, weights)
    rank_y, distinct_y = _weighted_midranks(y, weights)
    total = weights.sum(axis=1)
    safe_total = np.maximum(total, 1)
    dx = rank_x - (np.einsum("ij,ij->i", weights, rank_x) / safe_total)[:, None]
    dy = rank_y - (np.einsum("ij,ij->i", weights, rank_y) / safe_total)[:, None]
    weighted_dx = weights * dx
    sxy = np.einsum("ij,ij->i", weighted_dx, dy)
    sxx = np.einsum("ij,ij->i", weighted_dx, dx)
    syy = np.einsum("ij,ij->i", weights * dy, dy)
    defined = (total >= 3) & (distinct_x >= 2) & (distinct_y >= 2)
    rho[defined] = np.clip(sxy[defined] / np.sqrt(sxx[defined] * syy[defined]), -1.0, 1.0)
    return rho


def bootstrap_spearman(x, y, indices):
    """Spearman's rho of x and y in each resample (rows of `indices`), NaN where undefined.

    Within a resample, rho is computed over the drawn rows where both values are finite (as
    `spearman_pair`); fewer than 3 such rows or a constant series give NaN. Vectorised:
    a resample is represented by its row multiplicities, ranks by cumulative counts over
    the values sorted once, rho as the multiplicity-weighted Pearson correlation of ranks.
    """
    return _spearman_from_weights(x, y, resample_weights(indices, len(_float(x))))


def percentile_interval(rhos, level=CI_LEVEL):
    """(low, high, resamples): the percentile interval over the resamples with a defined rho."""
    rhos = _float(rhos)
    defined = rhos[np.isfinite(rhos)]
    if len(defined) == 0:
        return math.nan, math.nan, 0
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high), int(len(defined))


def spearman_ci_table(test, indices):
    """spearman_ci.csv: each pair of spearman.csv, rho and its bootstrap interval.

    `test` is association_tests.log_test_table(estimates); `indices` resample its rows.
    """
    weights = resample_weights(indices, len(test))
    rows = []
    for x, y in SPEARMAN_PAIRS:
        rho, _, _ = spearman_pair(test[x], test[y])
        low, high, used = percentile_interval(_spearman_from_weights(test[x], test[y], weights))
        rows.append({"x": x, "y": y, "rho": rho, "ci_low": low, "ci_high": high, "resamples": used})
    return pd.DataFrame(rows, columns=SPEARMAN_CI_COLUMNS)


def method_log_rates(estimates, correlations, *, tor_column, shares, negative_factor_floor):
    """log cpc_per_1000 of each correction method per commune (as correction_methods.csv)."""
    factors = method_factors(estimates, correlations, shares, negative_factor_floor)
    tor, pop = _float(estimates[tor_column]), _float(estimates["pop"])
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame(
            {method: np.log(tor * factors[method].to_numpy() * 1000 / pop) for method in METHODS},
            index=estimates.index,
        )


def correction_methods_ci_table(test, method_rates, indices):
    """correction_methods_ci.csv: each method's rho and its bootstrap interval.

    `method_rates` (method_log_rates) is restricted to the rows of `test`, in its order, so
    that `indices` resample the same communes as in spearman_ci.csv.
    """
    rates = method_rates.loc[test.index]
    crime = test[CRIME]
    weights = resample_weights(indices, len(test))
    rows = []
    for method in METHODS:
        rho, _, _ = spearman_pair(rates[method], crime)
        low, high, used = percentile_interval(_spearman_from_weights(rates[method], crime, weights))
        rows.append({"method": method, "rho": rho, "ci_low": low, "ci_high": high, "resamples": used})
    return pd.DataFrame(rows, columns=METHODS_CI_COLUMNS)


# --- Snakemake entry ---------------------------------------------------------------------


def _read_estimates(path, apps):
    from association_tests import read_estimates

    return read_estimates(path, apps)


def _run_sensitivity(snakemake):
    from atomic_output import atomic_path

    params = snakemake.params
    estimates = _read_estimates(snakemake.input.estimates, params.apps)
    bounds = list(params.tor_share_bounds)
    common = dict(
        tor_column=params.apps["tor"], shares=params.shares, tor_share_bounds=bounds,
        negative_factor_floor=params.negative_factor_floor,
    )
    if "correlations" in snakemake.input.keys():
        correlations = pd.read_parquet(snakemake.input.correlations)
        table = sensitivity_table(estimates, correlations, **common)
    else:
        if "Tor_to_darknet_share" not in estimates.columns:
            raise InputError(f"{snakemake.input.estimates}: no Tor_to_darknet_share column; the published c cannot be rescaled")
        floored = int((_float(estimates["c"]) == params.negative_factor_floor).sum())
        print(
            "published-table mode: only the table's c (pearson_log) is known, so only the pearson_log rows are "
            f"produced; c is rescaled as c x new share / {sorted(map(float, estimates['Tor_to_darknet_share'].dropna().unique()))} "
            f"(the table's Tor_to_darknet_share); {floored} commune(s) at the floor {params.negative_factor_floor} keep it",
            file=sys.stderr,
        )
        table = published_sensitivity_table(estimates, **common)
    if params.shares["tor_to_darknet_share"] not in bounds:
        print(
            f"note: the configured tor_to_darknet_share {params.shares['tor_to_darknet_share']} is not one of "
            f"tor_share_bounds {bounds}",
            file=sys.stderr,
        )
    print(table.to_string(index=False), file=sys.stderr)
    with atomic_path(snakemake.output.sensitivity) as tmp:
        table.to_csv(tmp, index=False)


def _run_bootstrap(snakemake):
    import time

    from atomic_output import atomic_path

    params = snakemake.params
    resamples, seed = int(params.bootstrap["resamples"]), int(params.bootstrap["seed"])
    estimates = _read_estimates(snakemake.input.estimates, params.apps)
    test = log_test_table(estimates)
    started = time.perf_counter()
    indices = bootstrap_indices(len(test), resamples, seed)
    spearman_ci = spearman_ci_table(test, indices)
    print(f"{len(test)} tested communes, {resamples} resamples (seed {seed})", file=sys.stderr)
    print(spearman_ci.to_string(index=False), file=sys.stderr)
    with atomic_path(snakemake.output.spearman_ci) as tmp:
        spearman_ci.to_csv(tmp, index=False)
    if "correlations" in snakemake.input.keys():
        correlations = pd.read_parquet(snakemake.input.correlations)
        rates = method_log_rates(
            estimates, correlations, tor_column=params.apps["tor"], shares=params.shares,
            negative_factor_floor=params.negative_factor_floor,
        )
        methods_ci = correction_methods_ci_table(test, rates, indices)
        print(methods_ci.to_string(index=False), file=sys.stderr)
        with atomic_path(snakemake.output.correction_methods_ci) as tmp:
            methods_ci.to_csv(tmp, index=False)
    short = (spearman_ci["resamples"] < resamples).sum()
    if short:
        print(f"{short} pair(s) had resamples without a defined rho; 'resamples' counts those used", file=sys.stderr)
    print(f"bootstrap: {time.perf_counter() - started:.2f} s", file=sys.stderr)


def main(snakemake):
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    if snakemake.rule == "bootstrap_intervals":
        _run_bootstrap(snakemake)
    else:
        _run_sensitivity(snakemake)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
