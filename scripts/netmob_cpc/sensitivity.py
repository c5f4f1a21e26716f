"""How much the headline numbers depend on the assumptions, and how precise the tests are.

Two analyses beyond the seed notebook.

Sensitivity (`sensitivity.csv`, one row per Tor-to-darknet share x correction method x
analysis). The Tor-to-darknet share is the least certain of the three published shares;
the notebook names three values (0.011 Tor Metrics 2017-2019, 0.034 Tor blog "Some
statistics about onions", 0.078 PNAS 2020, doi:10.1073/pnas.2011893117). Each row holds the
headline numbers as summary.json defines them (`cpc_share_of_tor`, `mean_c`, `median_c`,
`global_csam_share`), the number of floored communes, and the Spearman rho of log
cpc_per_1000 with sv_com_17_21 as correction_methods.csv defines it. `analysis`:

- `all`: every commune, as cpc_com.csv.
- `without_floored`: the communes whose factor was floored (a negative correlation, c set to
  `negative_factor_floor`) left out; every column is computed over the communes left in.
- `outage_dates_dropped` (traffic mode only): every slot of the outage dates removed (the
  notebook drops only their slots with zero porn traffic), and the per-commune
  correlations, c, the totals, cpc and the test recomputed from the hourly series.

What the Tor share can and cannot change. Every correction factor is proportional to the
Tor share (c = r x share x csam share, or x the product of the three shares for
pearson_log_centered), and so are cpc and cpc_per_1000. Rescaling every value by one
positive number leaves their ranks, hence any Spearman rho, unchanged. The rho of the
`all` rows differs between shares ONLY because a floored factor stays at the floor while
the others grow: the floored communes move in the ranking. Without them (the
`without_floored` rows) rho, its p-value and n are the same at every share; mean_c, median_c
and cpc_share_of_tor scale with the share.

Published-table mode (`estimates_table`): only the authors' c (pearson_log) is known, no
correlations, so only the pearson_log rows: c' = c x new share / the table's share, a
floored factor stays at the floor; no hourly series, hence no `outage_dates_dropped` rows.

Uncertainty (`spearman_ci.csv`, `difference_ci.csv`, `correction_methods_ci.csv`):
percentile bootstrap intervals (95 %) over the test table's rows (communes with a
published sv_com_17_21), two ways:

- commune resampling: the communes are drawn with replacement, n of n
  (`bootstrap_indices(n, resamples, seed)`), jointly for all pairs;
- city resampling: whole cities (the `cities` column) are drawn with replacement, K of
  the K cities present (`bootstrap_indices(K, resamples, seed)`, cities in sorted order),
  and a resample holds every commune of each drawn city as often as the city was drawn.
  Communes of one metropolitan area are not independent, so the commune intervals are too
  narrow; with few cities (K ~ 20) the city intervals are themselves rough.

In each resample rho is recomputed over the drawn rows where both values are finite (as
`spearman_pair`); a resample with fewer than 3 such rows or a constant series has no rho
and is left out (the `resamples*` columns count those used). `difference_ci.csv` is paired:
rho(cpc_per_1000, y) - rho(x, y) computed in each resample on the same drawn rows, over
the communes where x, cpc_per_1000 and y are all finite (as dependent_corr.csv).

The resampled Spearman rhos are vectorised: a resample is a row of multiplicities, ranks
are cumulative counts over the values sorted once, rho is the multiplicity-weighted
Pearson correlation of those midranks (tests check it against scipy on explicit resamples).
"""

import math

import numpy as np
import pandas as pd

from netmob_cpc.estimates import METHODS, correction_factors
from netmob_cpc.files import InputError
from netmob_cpc.rankstats import spearman_pair
from netmob_cpc.rates import per_1000
from netmob_cpc.statistics import CRIME, PER_1000, share_of_tor

ANALYSES = ("all", "without_floored", "outage_dates_dropped")
SENSITIVITY_COLUMNS = [
    "tor_to_darknet_share", "method", "analysis", "global_csam_share", "cpc_share_of_tor", "mean_c", "median_c",
    "floored", "rho", "pvalue", "n",
]
SPEARMAN_CI_COLUMNS = [
    "x", "y", "rho", "ci_low", "ci_high", "resamples", "ci_low_city", "ci_high_city", "resamples_city",
]
DIFFERENCE_CI_COLUMNS = [
    "x", "y", "rho_cpc", "rho_x", "difference", "n", "ci_low", "ci_high", "resamples",
    "ci_low_city", "ci_high_city", "resamples_city",
]
METHODS_CI_COLUMNS = [
    "method", "rho", "ci_low", "ci_high", "resamples", "ci_low_city", "ci_high_city", "resamples_city",
]
CI_LEVEL = 0.95
# spearman.csv's pairs, in its order
SPEARMAN_PAIRS = [(x, CRIME) for x in PER_1000] + [("yt_per_1000", "cpc_per_1000")]
# difference_ci.csv: rho(cpc_per_1000, crime) - rho(x, crime), as dependent_corr.csv's comparisons
DIFFERENCE_MEASURES = ["yt_per_1000", "wa_per_1000", "tor_per_1000"]
# columns of the hourly series the outage variant reads
HOURLY_ROLES = ["porn", "tor", "control"]
# communes whose correlations are computed together in the outage variant
CORRELATION_BLOCK = 150


def _float(values):
    return pd.Series(values).to_numpy(dtype="float64", na_value=np.nan)


# --- sensitivity to the Tor-to-darknet share ---------------------------------------------


def method_factors(estimates, correlations, shares, negative_factor_floor):
    """c of each correction method per commune, aligned with the rows of `estimates`, and
    whether it was floored: (factors, floored), two DataFrames with one column per method.

    `correlations` holds code_com, pearson_log, spearman_log (estimate/{direction}/
    correlations.parquet); a commune without a row gets NaN and is not floored.
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
    factors, floored = {}, {}
    for method in METHODS:
        c, is_floored = correction_factors(aligned, method, shares, negative_factor_floor)
        factors[method] = _float(c)
        floored[method] = is_floored.to_numpy(dtype=bool)
    return pd.DataFrame(factors, index=estimates.index), pd.DataFrame(floored, index=estimates.index)


def headline(tor, c, cpc, cpc_per_1000, crime, keep=None, tested=None):
    """cpc_share_of_tor, mean_c, median_c and Spearman (rho, pvalue, n) of one set of factors.

    As summary.json: sum of cpc / sum of Tor over the communes with both (`share_of_tor`); mean and median of c over
    the communes that have one. As spearman.csv's cpc_per_1000 row: Spearman of
    log(cpc_per_1000) with the crime rate over the tested communes (`tested`, boolean;
    default: those with a crime rate). `keep` (boolean) restricts every number to those
    communes.
    """
    tor, c, cpc, cpc_per_1000, crime = (_float(v) for v in (tor, c, cpc, cpc_per_1000, crime))
    tested = ~np.isnan(crime) if tested is None else np.asarray(tested, dtype=bool) & ~np.isnan(crime)
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        tor, c, cpc, cpc_per_1000, crime, tested = (v[keep] for v in (tor, c, cpc, cpc_per_1000, crime, tested))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_cpc_per_1000 = np.log(cpc_per_1000)
    cpc_share_of_tor = share_of_tor(cpc, tor)[0]
    finite_c = c[~np.isnan(c)]
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


def _share_method_rows(analyses, tor_share_bounds, shares, factors_at, tor, pop, crime, tested):
    """Rows of sensitivity.csv for each share x method x analysis in `analyses`
    (`all`, `without_floored`, or `outage_dates_dropped`, which keeps every commune).

    `factors_at(bound_shares)` returns (factors, floored) as `method_factors`; cpc_per_1000
    is NaN where pop is not a number above zero (as in the estimate table).
    """
    tor, pop = _float(tor), _float(pop)
    rows = []
    for bound in tor_share_bounds:
        bound_shares = {**shares, "tor_to_darknet_share": float(bound)}
        factors, floored = factors_at(bound_shares)
        for method in factors.columns:
            c = factors[method].to_numpy()
            is_floored = floored[method].to_numpy()
            cpc = tor * c
            cpc_per_1000 = per_1000(cpc, pop).to_numpy()
            for analysis in analyses:
                keep = ~is_floored if analysis == "without_floored" else None
                rows.append(
                    {
                        "tor_to_darknet_share": float(bound),
                        "method": method,
                        "analysis": analysis,
                        "global_csam_share": _global_share(bound_shares),
                        "floored": int(is_floored.sum()) if keep is None else 0,
                        **headline(tor, c, cpc, cpc_per_1000, crime, keep, tested),
                    }
                )
    return rows


def _ordered(rows):
    """The rows grouped by analysis (all, without_floored, outage_dates_dropped), each in
    share x method order."""
    table = pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
    order = table["analysis"].map({name: k for k, name in enumerate(ANALYSES)})
    return table.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)


def outage_dropped_inputs(hourly, outage_dates, zero_replacement):
    """Correlations and totals per commune with every slot of the outage dates removed.

    `hourly` is the hourly series (code_com, date as YYYYMMDD integer, porn, tor, control);
    `outage_dates` YYYYMMDD strings or integers. Returns (correlations as
    correlations.parquet, totals with code_com and the three roles summed over the kept
    hours, {date: hourly rows dropped}).
    """
    from netmob_cpc.rankstats import commune_correlations

    dates = sorted({int(d) for d in outage_dates})
    date_column = hourly["date"].to_numpy()
    dropped = {date: int((date_column == date).sum()) for date in dates}
    kept = ~np.isin(date_column, dates)
    del date_column
    # The correlations of a commune use its own rows only: computed for blocks of communes,
    # the temporaries stay small (the full hourly series of 1,341 communes x 77 days is
    # 2.5 million rows; in one piece the job's peak memory nears 1 GB).
    commune, names = pd.factorize(hourly["code_com"], sort=True)
    parts, totals = [], []
    for first in range(0, len(names), CORRELATION_BLOCK):
        rows = kept & (commune >= first) & (commune < first + CORRELATION_BLOCK)
        if not rows.any():
            continue
        block = hourly.loc[rows, ["code_com", *HOURLY_ROLES]]
        parts.append(commune_correlations(block, zero_replacement))
        totals.append(block.groupby("code_com", sort=True)[HOURLY_ROLES].sum().reset_index())
    if not parts:
        empty = pd.DataFrame({"code_com": pd.Series([], dtype=str)})
        return (
            empty.assign(pearson_log=np.nan, spearman_log=np.nan, n_hours=0),
            empty.assign(**{role: np.nan for role in HOURLY_ROLES}),
            dropped,
        )
    correlations = pd.concat(parts, ignore_index=True)
    totals = pd.concat(totals, ignore_index=True)
    totals["code_com"] = totals["code_com"].astype(str)
    return correlations, totals, dropped


def sensitivity_table(
    estimates, correlations, *, tor_column, shares, tor_share_bounds, negative_factor_floor, outage=None,
    tested=None,
):
    """sensitivity.csv from the per-commune correlations: each share x each method, for the
    analyses `all`, `without_floored` and (when `outage` is given) `outage_dates_dropped`.

    `estimates` is cpc_com.csv (its Tor, pop and sv_com_17_21 columns are used), `shares`
    the three configured shares (the Tor one is replaced by each bound in turn). cpc and
    cpc_per_1000 are computed as in the estimate table (Tor x c, Tor x c x 1000 / pop).
    `outage` is (correlations, totals) of `outage_dropped_inputs`: the Tor totals come
    from there (a commune without hours left has none), pop and sv_com_17_21 from
    `estimates`. `tested` (boolean, aligned with `estimates`; default: the communes with a
    crime rate) are the communes of the tests, as statistics.test_selection chooses them.
    """
    crime = estimates[CRIME]

    def factors_at(bound_shares):
        return method_factors(estimates, correlations, bound_shares, negative_factor_floor)

    rows = _share_method_rows(
        ("all", "without_floored"), tor_share_bounds, shares, factors_at, estimates[tor_column], estimates["pop"],
        crime, tested,
    )
    if outage is not None:
        outage_correlations, outage_totals = outage
        tor = estimates[["code_com"]].merge(
            outage_totals[["code_com", "tor"]], on="code_com", how="left", validate="many_to_one"
        )["tor"]

        def outage_factors_at(bound_shares):
            return method_factors(estimates, outage_correlations, bound_shares, negative_factor_floor)

        rows += _share_method_rows(
            ("outage_dates_dropped",), tor_share_bounds, shares, outage_factors_at, tor, estimates["pop"], crime,
            tested,
        )
    return _ordered(rows)


def floored_communes(estimates, negative_factor_floor):
    """Which communes of an estimate table have a floored c: `c_floored` where the table
    has that column, or a c at or below the floor.

    The authors' published table has no such flag (the reader fills False): its floored
    factors are the ones equal to the floor. On the workflow's own table both agree (a
    floored c is the floor). A real factor below the floor (r < 0.002 at the seed's
    shares) would count as floored too.
    """
    flags = (
        estimates["c_floored"].to_numpy(dtype=bool)
        if "c_floored" in estimates.columns
        else np.zeros(len(estimates), dtype=bool)
    )
    with np.errstate(invalid="ignore"):
        return flags | (_float(estimates["c"]) <= negative_factor_floor)


def factor_ratio(c, old_share, new_share, floored):
    """How a published c changes under another Tor share: new / old, 1 for a floored c.

    Every correction factor is proportional to the Tor share, except a negative one, which
    the floor replaced (it stays the floor). `old_share` is the share the c was computed with.
    """
    c, old_share = _float(c), _float(old_share)
    return np.where(np.asarray(floored, dtype=bool), 1.0, new_share / old_share)


def published_sensitivity_table(
    estimates, *, tor_column, shares, tor_share_bounds, negative_factor_floor, tested=None
):
    """sensitivity.csv from a published table (c of pearson_log only): pearson_log rows,
    analyses `all` and `without_floored`.

    The table's own Tor_to_darknet_share column is the share its c was computed with; c,
    cpc and cpc_per_1000 are the table's times `factor_ratio` (so that the row of the
    table's own share reproduces summary.json and spearman.csv exactly); floored: see
    `floored_communes`; `tested` as in `sensitivity_table`.
    """
    c = _float(estimates["c"])
    floored = floored_communes(estimates, negative_factor_floor)
    rows = []
    for bound in tor_share_bounds:
        bound_shares = {**shares, "tor_to_darknet_share": float(bound)}
        ratio = factor_ratio(c, estimates["Tor_to_darknet_share"], float(bound), floored)
        values = (
            estimates[tor_column], c * ratio, _float(estimates["cpc"]) * ratio,
            _float(estimates["cpc_per_1000"]) * ratio, estimates[CRIME],
        )
        for analysis in ("all", "without_floored"):
            keep = ~floored if analysis == "without_floored" else None
            rows.append(
                {
                    "tor_to_darknet_share": float(bound),
                    "method": "pearson_log",
                    "analysis": analysis,
                    "global_csam_share": _global_share(bound_shares),
                    "floored": int(floored.sum()) if keep is None else 0,
                    **headline(*values, keep, tested),
                }
            )
    return _ordered(rows)


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


def city_codes(cities):
    """(sorted distinct city names, position of each row's city among them).

    An empty city name cannot be resampled: InputError naming the row (of `cities`)."""
    names = pd.Series(cities)
    missing = names.isna() | (names.astype("string").str.strip() == "")
    if missing.any():
        raise InputError(
            f"estimate table: column cities is empty for {int(missing.sum())} tested commune(s), first at row "
            f"{names.index[np.flatnonzero(missing.to_numpy())[0]]!r}; every commune needs its city for the city bootstrap"
        )
    return np.unique(names.astype(str).to_numpy(), return_inverse=True)


def city_bootstrap_weights(cities, resamples, seed):
    """(resamples, n) multiplicities of the n rows when whole cities are resampled.

    The K distinct cities (sorted) are drawn K times with replacement,
    `bootstrap_indices(K, resamples, seed)`; each row counts as often as its city was
    drawn. Returns (weights, city names, draws).
    """
    names, city_of_row = city_codes(cities)
    draws = bootstrap_indices(len(names), resamples, seed)
    city_counts = resample_weights(draws, len(names))
    return city_counts[:, city_of_row], names, draws


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


# Resamples handled together: blocks of (256, communes) arrays stay in the processor's cache
# (about 4x faster than one (2000, 1341) block) and bound the memory of a call.
RESAMPLE_BLOCK = 256


def spearman_from_weights(x, y, weights):
    """Spearman's rho of x and y in each resample given as row multiplicities (resamples, n).

    Within a resample, rho is computed over the drawn rows where both values are finite (as
    `spearman_pair`); fewer than 3 such rows or a constant series give NaN.
    """
    return spearmans_from_weights([x], y, weights)[0]


def spearmans_from_weights(xs, y, weights):
    """`spearman_from_weights` of each x in `xs` against the same y: (len(xs), resamples).

    y's midranks are computed once per block of resamples for all the x's that leave the
    same finite rows (the numbers are those of one call per x).
    """
    xs, y = [_float(x) for x in xs], _float(y)
    for x in xs:
        if len(x) != len(y) or weights.shape[1] != len(x):
            raise ValueError(
                f"spearman_from_weights: x has {len(x)} values, y {len(y)}, the resamples {weights.shape[1]} rows"
            )
    rho = np.full((len(xs), weights.shape[0]), np.nan)
    same_rows = {}  # the finite rows' pattern -> (those rows, the x's that leave them)
    for number, x in enumerate(xs):
        finite = np.isfinite(x) & np.isfinite(y)
        same_rows.setdefault(finite.tobytes(), (finite, []))[1].append(number)
    for finite, numbers in same_rows.values():
        if not finite.any():
            continue
        for start in range(0, weights.shape[0], RESAMPLE_BLOCK):
            block = weights[start:start + RESAMPLE_BLOCK]
            block = block if finite.all() else block[:, finite]
            ranked_y = _ranked_block(y[finite], block)
            for number in numbers:
                rho[number, start:start + RESAMPLE_BLOCK] = _block_spearman(xs[number][finite], ranked_y, block)
    return rho


def _ranked_block(y, weights):
    """y's part of _block_spearman for one block of resamples: (deviations of its
    midranks from their weighted mean, their weighted sum of squares, resamples with at
    least two distinct values, drawn rows per resample, the same at least 1)."""
    rank_y, distinct_y = _weighted_midranks(y, weights)
    total = weights.sum(axis=1)
    safe_total = np.maximum(total, 1)
    dy = rank_y - (np.einsum("ij,ij->i", weights, rank_y) / safe_total)[:, None]
    syy = np.einsum("ij,ij->i", weights * dy, dy)
    return dy, syy, distinct_y >= 2, total, safe_total


def _block_spearman(x, ranked_y, weights):
    """Spearman's rho of finite x and the y of `ranked_y` (_ranked_block) in one block of
    resamples."""
    dy, syy, distinct_y, total, safe_total = ranked_y
    rho = np.full(weights.shape[0], np.nan)
    rank_x, distinct_x = _weighted_midranks(x, weights)
    dx = rank_x - (np.einsum("ij,ij->i", weights, rank_x) / safe_total)[:, None]
    weighted_dx = weights * dx
    sxy = np.einsum("ij,ij->i", weighted_dx, dy)
    sxx = np.einsum("ij,ij->i", weighted_dx, dx)
    defined = (total >= 3) & (distinct_x >= 2) & distinct_y
    rho[defined] = np.clip(sxy[defined] / np.sqrt(sxx[defined] * syy[defined]), -1.0, 1.0)
    return rho


def percentile_interval(rhos, level=CI_LEVEL):
    """(low, high, resamples): the percentile interval over the resamples with a defined rho."""
    rhos = _float(rhos)
    defined = rhos[np.isfinite(rhos)]
    if len(defined) == 0:
        return math.nan, math.nan, 0
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high), int(len(defined))


def _intervals(resampled, city_resampled):
    low, high, used = percentile_interval(resampled)
    city_low, city_high, city_used = percentile_interval(city_resampled)
    return {
        "ci_low": low, "ci_high": high, "resamples": used,
        "ci_low_city": city_low, "ci_high_city": city_high, "resamples_city": city_used,
    }


def spearman_ci_table(test, weights, city_weights):
    """spearman_ci.csv: each pair of spearman.csv, rho and its commune and city intervals.

    `test` is statistics.log_test_table(estimates); `weights` and `city_weights` are the
    (resamples, len(test)) multiplicities of its rows (`resample_weights` of
    `bootstrap_indices`, `city_bootstrap_weights`).
    """
    resampled = {}
    for y in dict.fromkeys(y for _, y in SPEARMAN_PAIRS):  # the x's of one y together
        xs = [x for x, other in SPEARMAN_PAIRS if other == y]
        for kind, kind_weights in (("communes", weights), ("cities", city_weights)):
            rhos = spearmans_from_weights([test[x] for x in xs], test[y], kind_weights)
            resampled.update({(x, y, kind): rho for x, rho in zip(xs, rhos)})
    rows = []
    for x, y in SPEARMAN_PAIRS:
        rho, _, _ = spearman_pair(test[x], test[y])
        rows.append(
            {"x": x, "y": y, "rho": rho, **_intervals(resampled[x, y, "communes"], resampled[x, y, "cities"])}
        )
    return pd.DataFrame(rows, columns=SPEARMAN_CI_COLUMNS)


def paired_difference(x, cpc, y, weights):
    """rho(cpc, y) - rho(x, y) in each resample, both on the same drawn rows: those where
    x, cpc and y are all finite. Returns (point difference, rho_cpc, rho_x, n, resampled
    differences)."""
    x, cpc, y = _float(x), _float(cpc), _float(y)
    complete = np.isfinite(x) & np.isfinite(cpc) & np.isfinite(y)
    x, cpc, y = (np.where(complete, v, np.nan) for v in (x, cpc, y))
    rho_cpc, _, n = spearman_pair(cpc, y)
    rho_x, _, _ = spearman_pair(x, y)
    resampled_cpc, resampled_x = spearmans_from_weights([cpc, x], y, weights)
    return rho_cpc - rho_x, rho_cpc, rho_x, n, resampled_cpc - resampled_x


def difference_ci_table(test, weights, city_weights):
    """difference_ci.csv: rho(cpc_per_1000, sv_com_17_21) - rho(x, sv_com_17_21) for x in
    yt_per_1000, wa_per_1000, tor_per_1000, with paired commune and city intervals.

    `difference` > 0 means the estimate correlates more strongly with the crime rate than
    the raw measure x; an interval that holds 0 means the data do not tell them apart.
    """
    rows = []
    for x in DIFFERENCE_MEASURES:
        difference, rho_cpc, rho_x, n, resampled = paired_difference(test[x], test["cpc_per_1000"], test[CRIME], weights)
        *_, city_resampled = paired_difference(test[x], test["cpc_per_1000"], test[CRIME], city_weights)
        rows.append(
            {
                "x": x, "y": CRIME, "rho_cpc": rho_cpc, "rho_x": rho_x, "difference": difference, "n": n,
                **_intervals(resampled, city_resampled),
            }
        )
    return pd.DataFrame(rows, columns=DIFFERENCE_CI_COLUMNS)


def method_log_rates(estimates, correlations, *, tor_column, shares, negative_factor_floor):
    """log cpc_per_1000 of each correction method per commune (as correction_methods.csv)."""
    factors, _ = method_factors(estimates, correlations, shares, negative_factor_floor)
    tor, pop = _float(estimates[tor_column]), _float(estimates["pop"])
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.DataFrame(
            {method: np.log(per_1000(tor * factors[method].to_numpy(), pop).to_numpy()) for method in METHODS},
            index=estimates.index,
        )


def correction_methods_ci_table(test, method_rates, weights, city_weights):
    """correction_methods_ci.csv: each method's rho and its commune and city intervals.

    `method_rates` (method_log_rates) is restricted to the rows of `test`, in its order, so
    that the resamples are those of spearman_ci.csv.
    """
    rates = method_rates.loc[test.index]
    crime = test[CRIME]
    resampled = [spearmans_from_weights([rates[method] for method in METHODS], crime, kind_weights)
                 for kind_weights in (weights, city_weights)]
    rows = []
    for number, method in enumerate(METHODS):
        rho, _, _ = spearman_pair(rates[method], crime)
        rows.append(
            {"method": method, "rho": rho, **_intervals(resampled[0][number], resampled[1][number])}
        )
    return pd.DataFrame(rows, columns=METHODS_CI_COLUMNS)


def bootstrap_weights(cities, resamples, seed):
    """The commune and city resample multiplicities of the test rows, given their cities
    (in the test table's order): (weights, city_weights, city names)."""
    n = len(cities)
    weights = resample_weights(bootstrap_indices(n, resamples, seed), n)
    city_weights, names, _ = city_bootstrap_weights(cities, resamples, seed)
    return weights, city_weights, names



def withhold_city_intervals(table, n_cities, min_clusters):
    """The table with a `note` column; with fewer than `min_clusters` cities the city
    intervals (ci_low_city, ci_high_city) are NaN and the note says why: a percentile
    interval over resamples of a handful of cities does not cover as it claims."""
    table = table.copy()
    table["note"] = ""
    if n_cities < min_clusters:
        table[["ci_low_city", "ci_high_city"]] = np.nan
        table["note"] = (
            f"{n_cities} cities, fewer than inference.min_clusters = {min_clusters}: city intervals not reported"
        )
    return table
