"""Association of the estimates with recorded sexual violence (the seed's "Getting Spearman's
rho" cells; CONTRACT 3: spearman.csv, dependent_corr.csv, summary.json).

- Spearman's rho of each log-transformed per-1,000 traffic measure with `sv_com_17_21`
  over the communes with a published rate (ARCHITECTURE.md: pairs with a non-finite value
  are left out, `n` counts the rest).
- The seed's test of two dependent correlations sharing `sv_com_17_21`, next to Steiger's
  (1980) Z test for the same comparison (the seed's test uses a t distribution and a
  standard error that ignores the size of the two correlations; Steiger's is the usual one).
- The headline numbers (CONTRACT 3, summary.json).
"""

import json
import math
import sys
import warnings

import numpy as np
import pandas as pd

PER_1000 = ["yt_per_1000", "wa_per_1000", "tor_per_1000", "cpc_per_1000"]
CRIME = "sv_com_17_21"
# (comparison, x): compares rho(x, crime) with rho(cpc_per_1000, crime), as the seed does
COMPARISONS = [("CPC-YT", "yt_per_1000"), ("CPC-WA", "wa_per_1000"), ("CPC-Tor", "tor_per_1000")]
SPEARMAN_COLUMNS = ["x", "y", "rho", "pvalue", "n"]
# |rho| within this of 1 counts as a perfect correlation (scipy may return 0.9999999999999999)
PERFECT_TOLERANCE = 1e-12
DEPENDENT_COLUMNS = ["comparison", "r_ab", "r_ac", "r_bc", "n", "t_value", "p_value", "steiger_z", "steiger_p"]


class InputError(ValueError):
    """An input file the workflow cannot use; the message names the file."""


def log_test_table(estimates):
    """The seed's `test`: communes with a published rate, the four per-1,000 columns logged.

    log(0) gives -inf and a negative value NaN (as numpy does in the seed); those pairs are
    left out by `spearman_pair`.
    """
    test = estimates[[*PER_1000, "sv_17_21", CRIME]]
    test = test[test[CRIME].notna()].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for column in PER_1000:
            test[column] = np.log(test[column].astype("float64"))
    return test


def _as_float(values):
    return pd.Series(values).to_numpy(dtype="float64", na_value=np.nan)


def spearman_pair(x, y):
    """(rho, pvalue, n): scipy's Spearman correlation over the pairs where both are finite.

    Fewer than 3 such pairs, or a constant series, give NaN rho and p-value.
    """
    from scipy.stats import spearmanr

    x, y = _as_float(x), _as_float(y)
    if len(x) != len(y):
        raise ValueError(f"spearman_pair: x has {len(x)} values, y has {len(y)}")
    finite = np.isfinite(x) & np.isfinite(y)
    n = int(finite.sum())
    if n < 3:
        return math.nan, math.nan, n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy warns and returns NaN
        result = spearmanr(x[finite], y[finite])
    return float(result.statistic), float(result.pvalue), n


def spearman_table(estimates):
    """spearman.csv: each log per-1,000 measure against sv_com_17_21, then YouTube vs cpc."""
    test = log_test_table(estimates)
    pairs = [(x, CRIME) for x in PER_1000] + [("yt_per_1000", "cpc_per_1000")]
    rows = []
    for x, y in pairs:
        rho, pvalue, n = spearman_pair(test[x], test[y])
        rows.append({"x": x, "y": y, "rho": rho, "pvalue": pvalue, "n": n})
    return pd.DataFrame(rows, columns=SPEARMAN_COLUMNS)


def seed_dependent_corr_test(r_ab, r_ac, r_bc, n):
    """The seed's `dependent_corr_test`, verbatim: (t_value, p_value).

    t = (r_ab - r_ac) / sqrt((1 - r_bc^2) / (n - 3)), p two-sided from a t with n - 2
    degrees of freedom. n <= 3 gives NaN (the formula divides by n - 3).
    """
    from scipy.stats import t

    if not n > 3:
        return math.nan, math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        r_diff = r_ab - r_ac
        se_diff = np.sqrt((1 - r_bc**2) / (n - 3))
        t_value = r_diff / se_diff
        p_value = 2 * (1 - t.cdf(abs(t_value), df=n - 2))
    return float(t_value), float(p_value)


def steiger_z_test(r_ab, r_ac, r_bc, n):
    """Steiger's (1980) Z for two dependent correlations r_ab, r_ac sharing variable a: (z, p).

    Fisher z of both; rbar = (r_ab + r_ac) / 2;
    psi = r_bc (1 - 2 rbar^2) - rbar^2 (1 - 2 rbar^2 - r_bc^2) / 2; cbar = psi / (1 - rbar^2)^2;
    Z = (z_ab - z_ac) sqrt((n - 3) / (2 - 2 cbar)); p two-sided from the standard normal.
    (Steiger, Psychological Bulletin 87:245-251, equations 3 and 10; the cocor R package's
    "steiger1980".) n <= 3, or r_ab or r_ac equal to +-1 (to 1e-12), give NaN.
    """
    from scipy.stats import norm

    if not n > 3:
        return math.nan, math.nan
    if max(abs(r_ab), abs(r_ac)) > 1 - PERFECT_TOLERANCE:
        return math.nan, math.nan  # a perfect correlation has an infinite Fisher z
    with np.errstate(divide="ignore", invalid="ignore"):
        z_ab, z_ac = np.arctanh(r_ab), np.arctanh(r_ac)
        rbar = (r_ab + r_ac) / 2
        psi = r_bc * (1 - 2 * rbar**2) - 0.5 * rbar**2 * (1 - 2 * rbar**2 - r_bc**2)
        cbar = psi / (1 - rbar**2) ** 2
        z = (z_ab - z_ac) * np.sqrt((n - 3) / (2 - 2 * cbar))
    if not np.isfinite(z):
        return math.nan, math.nan
    return float(z), float(2 * norm.sf(abs(z)))


def dependent_corr_table(estimates):
    """dependent_corr.csv: rho(x, crime) vs rho(cpc, crime) for x = YouTube, porn, Tor.

    As the seed: r_ab = rho(x, sv_com_17_21), r_ac = rho(cpc_per_1000, sv_com_17_21),
    r_bc = rho(x, cpc_per_1000), all over the communes where the three (logged) variables
    are finite; n is their count.
    """
    test = log_test_table(estimates)
    rows = []
    for comparison, x in COMPARISONS:
        values = test[[x, "cpc_per_1000", CRIME]].to_numpy(dtype="float64", na_value=np.nan)
        complete = values[np.isfinite(values).all(axis=1)]
        x_values, cpc, crime = complete[:, 0], complete[:, 1], complete[:, 2]
        r_ab, _, n = spearman_pair(x_values, crime)
        r_ac, _, _ = spearman_pair(cpc, crime)
        r_bc, _, _ = spearman_pair(x_values, cpc)
        t_value, p_value = seed_dependent_corr_test(r_ab, r_ac, r_bc, n)
        steiger_z, steiger_p = steiger_z_test(r_ab, r_ac, r_bc, n)
        rows.append(
            {
                "comparison": comparison, "r_ab": r_ab, "r_ac": r_ac, "r_bc": r_bc, "n": n,
                "t_value": t_value, "p_value": p_value, "steiger_z": steiger_z, "steiger_p": steiger_p,
            }
        )
    return pd.DataFrame(rows, columns=DEPENDENT_COLUMNS)


def _plain(value):
    """A JSON-ready number: Python float, None for NaN / infinity."""
    value = float(value)
    return value if math.isfinite(value) else None


def summary(estimates, tor_app, tor_to_darknet_share, porn_in_darknet_share, csam_in_porn_share):
    """The headline numbers of summary.json (CONTRACT 3); NaN becomes None (JSON null).

    cpc_share_of_tor = sum of cpc / sum of the Tor column (each NaN skipped);
    global_csam_share = the product of the three shares; mean_c / median_c over the
    communes with a correction factor.
    """
    crime = estimates[CRIME].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        cpc_share_of_tor = np.float64(estimates["cpc"].sum(skipna=True)) / np.float64(estimates[tor_app].sum(skipna=True))
    return {
        "n_communes": int(len(estimates)),
        "n_tested": int(np.isfinite(crime).sum()),
        "cpc_share_of_tor": _plain(cpc_share_of_tor),
        "global_csam_share": _plain(tor_to_darknet_share * porn_in_darknet_share * csam_in_porn_share),
        "mean_c": _plain(estimates["c"].mean(skipna=True)),
        "median_c": _plain(estimates["c"].median(skipna=True)),
    }


def read_estimates(path, apps):
    """The per-commune estimate table (CONTRACT 3 cpc_com.csv, or the published 1.4 table).

    The separator is taken from the header (',' for the workflow's table, ';' for the
    authors' published one); code_com / code_dep are read as text.
    """
    with open(path, encoding="utf-8-sig") as handle:
        header = handle.readline()
    sep = ";" if header.count(";") > header.count(",") else ","
    estimates = pd.read_csv(path, sep=sep, dtype={"code_com": str, "code_dep": str})
    needed = [*PER_1000, "sv_17_21", CRIME, "cpc", "c", apps["tor"]]
    missing = [column for column in needed if column not in estimates.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, estimates.columns))}"
        )
    for column in needed:
        if not pd.api.types.is_numeric_dtype(estimates[column]):
            values = pd.to_numeric(estimates[column], errors="coerce")
            bad = values.isna() & estimates[column].notna()
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(
                    f"{path}: column {column} holds {int(bad.sum())} non-numeric value(s), first "
                    f"{estimates[column].iloc[row]!r} on line {row + 2}; expected numbers with '.' decimals"
                )
            estimates[column] = values
    return estimates


def quality_totals(qc):
    """Totals of the per-file data-quality counts (qc.csv) for summary.json."""
    counts = [
        "lines", "blank_lines", "crlf_lines", "empty_fields", "nan_fields", "negative_values",
        "duplicate_tiles", "unmapped_tiles",
    ]
    totals = {column: int(qc[column].sum()) for column in counts}
    totals["files"] = int(len(qc))
    totals["all_zero_files"] = int(qc["all_zero"].astype(bool).sum())
    traffic = float(qc["total_traffic"].sum())
    totals["unmapped_traffic_share"] = float(qc["unmapped_traffic"].sum()) / traffic if traffic > 0 else None
    return totals


def main(snakemake):
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    from atomic_output import atomic_path

    params = snakemake.params
    path = snakemake.input.estimates
    estimates = read_estimates(path, params.apps)
    spearman = spearman_table(estimates)
    dependent = dependent_corr_table(estimates)
    headline = summary(
        estimates, params.apps["tor"],
        params.tor_to_darknet_share, params.porn_in_darknet_share, params.csam_in_porn_share,
    )
    if getattr(snakemake.input, "qc", None):
        headline["data_quality"] = quality_totals(pd.read_csv(snakemake.input.qc))
    tested = log_test_table(estimates)
    for column in PER_1000:
        dropped = int((~np.isfinite(tested[column].to_numpy(dtype="float64", na_value=np.nan))).sum())
        if dropped:
            print(f"{column}: {dropped} tested communes with a non-finite log value left out", file=sys.stderr)
    print(f"{path}: {headline['n_communes']} communes, {headline['n_tested']} with sv_com_17_21", file=sys.stderr)
    print(spearman.to_string(index=False), file=sys.stderr)
    print(dependent.to_string(index=False), file=sys.stderr)
    with atomic_path(snakemake.output.spearman) as tmp:
        spearman.to_csv(tmp, index=False)
    with atomic_path(snakemake.output.dependent_corr) as tmp:
        dependent.to_csv(tmp, index=False)
    with atomic_path(snakemake.output.summary) as tmp:
        with open(tmp, "w") as handle:
            json.dump(headline, handle, sort_keys=True, indent=2, allow_nan=False)
            handle.write("\n")


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
