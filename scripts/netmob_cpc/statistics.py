"""Association of the estimates with recorded sexual violence: the seed's tests ("Getting
Spearman's rho" cells) and what the association survives.

- Spearman's rho of each log-transformed per-1,000 traffic measure with `sv_com_17_21`
  over the communes with a published rate (ARCHITECTURE.md: pairs with a non-finite value
  are left out, `n` counts the rest).
- The seed's test of two dependent correlations sharing `sv_com_17_21`, kept as the
  notebook computes it, next to the standard tests for the same comparison: Williams'
  (1959) t and Steiger's (1980) Z. The seed's t = (r_ab - r_ac) / sqrt((1 - r_bc^2)/(n - 3))
  with n - 2 degrees of freedom is neither Hotelling's nor Williams' test and is too liberal
  when r_bc is small. Every p-value comes from the survival function (`t_sf`, `normal_sf`):
  `1 - cdf` rounds to 0 past |t| of about 8.
- The Spearman test and the survival functions are built on `scipy.special` (`stdtr`,
  `ndtr`) and NumPy, not `scipy.stats` (whose import costs about a second per job); they
  give the numbers scipy.stats' `spearmanr`, `t.sf` and `norm.sf` give, bit for bit
  (scipy 1.17; tests/test_statistics.py checks it).
- Adjusted analyses: the communes with a non-zero rate only, and the rank-based partial
  correlation given population (the rate is zero in many small communes, and population
  drives both the rate and the per-1,000 traffic measures).
- Regressions (statsmodels OLS) with HC3 and department-clustered standard errors.
- The headline numbers (summary.json).
"""

import math

import numpy as np
import pandas as pd

from netmob_cpc.estimates import usable_population
from netmob_cpc.files import InputError

PER_1000 = ["yt_per_1000", "wa_per_1000", "tor_per_1000", "cpc_per_1000"]
CRIME = "sv_com_17_21"
# (comparison, x): compares rho(x, crime) with rho(cpc_per_1000, crime), as the seed does
COMPARISONS = [("CPC-YT", "yt_per_1000"), ("CPC-WA", "wa_per_1000"), ("CPC-Tor", "tor_per_1000")]
SPEARMAN_COLUMNS = ["x", "y", "rho", "pvalue", "n"]
# |rho| within this of 1 counts as a perfect correlation (np.corrcoef may return 0.9999999999999999)
PERFECT_TOLERANCE = 1e-12
DEPENDENT_COLUMNS = [
    "comparison", "r_ab", "r_ac", "r_bc", "n", "t_value", "p_value",
    "steiger_z", "steiger_p", "williams_t", "williams_p",
]
ANALYSES = ["all", "outcome_nonzero", "partial_population"]
ADJUSTED_COLUMNS = ["x", "y", "analysis", "rho", "pvalue", "n"]
REGRESSION_COLUMNS = ["model", "outcome", "term", "coef", "se", "t", "pvalue", "n", "cov_type"]
COV_TYPES = ["HC3", "cluster_dep"]
BASE_TERMS = ["const", "sv_com_17_21", "log_cpc_rate", "log_pop"]


def _as_float(values):
    return pd.Series(values).to_numpy(dtype="float64", na_value=np.nan)


def _log(values):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(_as_float(values))


# --- which communes are tested -------------------------------------------------------------


def select_tested(estimates, min_coverage=0.0):
    """(the communes that enter the tests, counts for summary.json and the log).

    A commune is tested when it has a finite `sv_com_17_21`, a usable population (finite,
    above zero) and, when `min_coverage` > 0, a known coverage of at least `min_coverage`
    (an unknown coverage, NaN, is not held against it: a given tile map has none).

    Counts: `n_communes_without_population` (all communes of the table),
    `n_below_min_coverage` (communes with a rate and a population left out by
    min_coverage), `n_c_floored` (communes whose c is the floor), `n_communes_without_crime_rate`
    (no sv_* value at all: absent from the crime file for the configured class and years),
    `n_communes_without_published_rate` (no sv_com_17_21).
    Raises InputError when no commune can be tested, saying what to check.
    """
    crime = np.isfinite(_as_float(estimates[CRIME]))
    population = usable_population(estimates["pop"]).to_numpy()
    coverage = _as_float(estimates["coverage"]) if "coverage" in estimates.columns else np.full(len(estimates), np.nan)
    below = (coverage < min_coverage) if min_coverage > 0 else np.zeros(len(estimates), bool)
    selected = crime & population & ~below
    sv_columns = [c for c in ("sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21") if c in estimates.columns]
    no_rate = ~np.isfinite(estimates[sv_columns].to_numpy(dtype="float64", na_value=np.nan)).any(axis=1)
    floored = estimates["c_floored"].fillna(False).astype(bool).to_numpy() if "c_floored" in estimates.columns else np.zeros(len(estimates), bool)
    counts = {
        "n_communes_without_population": int((~population).sum()),
        "n_communes_without_population_with_rate": int((~population & crime).sum()),
        "n_below_min_coverage": int((below & crime & population).sum()),
        "n_coverage_unknown": int(np.isnan(coverage).sum()),
        "n_c_floored": int(floored.sum()),
        "n_c_floored_tested": int((floored & selected).sum()),
        "n_communes_without_crime_rate": int(no_rate.sum()),
        "n_communes_without_published_rate": int((~crime).sum()),
        "n_tested": int(selected.sum()),
    }
    if not selected.any():
        if not crime.any():
            cause = (
                f"no commune of the estimate table has a published {CRIME} (all {len(estimates)} are "
                "empty). Check crime_class (spelled exactly as in the crime file's offence-class "
                "column), crime_years (years the file holds), and the crime file itself: only rows "
                "marked diff (published) give a commune rate; rows marked ndiff do not; and that "
                "the commune codes of the crime file match those of the tile map"
            )
        elif not (crime & population).any():
            cause = (
                f"the {int(crime.sum())} commune(s) with a published {CRIME} have no usable population "
                "(missing, zero or negative pop). Check the pop column of the tile map (or the "
                "communes layer's population column)"
            )
        else:
            cause = (
                f"all {int((crime & population).sum())} commune(s) with a rate and a population lie "
                f"less than min_coverage = {min_coverage} inside their city's tile grid. Lower min_coverage"
            )
        raise InputError(f"no commune can be tested: {cause}.")
    return estimates[selected], counts


# --- ranks and survival functions ---------------------------------------------------------


def average_ranks(values):
    """1-based ranks of a 1-D array, ties given the mean of their positions (as
    `scipy.stats.rankdata(values)`, method 'average'; exact in float64).

    A stable sort; equal values (-0.0 and 0.0 included) tie. For finite values; a NaN sorts
    last and ranks alone (scipy would give NaN everywhere).
    """
    values = np.asarray(values, dtype="float64")
    n = len(values)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.ones(n, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, n))
    # the first position of a tie run plus half the run's length less one: integers and
    # halves, exact for any n below 2**52
    midranks = (starts + 1).astype("float64") + (counts - 1).astype("float64") / 2
    ranks = np.empty(n, dtype="float64")
    ranks[order] = np.repeat(midranks, counts)
    return ranks


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


# --- Spearman ------------------------------------------------------------------------------


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


def spearman_pair(x, y):
    """(rho, pvalue, n): Spearman's rho over the pairs where both are finite, and its
    two-sided p-value.

    rho is the Pearson correlation (np.corrcoef) of the average ranks of x and y; the
    p-value is 2 P(T > |t|) for t = rho sqrt((n - 2) / ((1 + rho)(1 - rho))) with n - 2
    degrees of freedom (rho = +-1 gives p = 0): scipy.stats.spearmanr's arithmetic, step
    for step, so the same numbers. Fewer than 3 such pairs, or a constant series, give NaN
    rho and p-value.
    """
    x, y = _as_float(x), _as_float(y)
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


def spearman_table(estimates):
    """spearman.csv: each log per-1,000 measure against sv_com_17_21, then YouTube vs cpc."""
    test = log_test_table(estimates)
    pairs = [(x, CRIME) for x in PER_1000] + [("yt_per_1000", "cpc_per_1000")]
    rows = []
    for x, y in pairs:
        rho, pvalue, n = spearman_pair(test[x], test[y])
        rows.append({"x": x, "y": y, "rho": rho, "pvalue": pvalue, "n": n})
    return pd.DataFrame(rows, columns=SPEARMAN_COLUMNS)


def partial_spearman(x, y, z):
    """(rho, pvalue, n): rank-based partial correlation of x and y given z.

    Over the triples where all three are finite: the Pearson correlation of the residuals
    of rank(x) and rank(y), each regressed linearly (with an intercept) on rank(z); the
    p-value two-sided from t = rho sqrt((n - 3) / (1 - rho^2)) with n - 3 degrees of
    freedom. Fewer than 4 triples, or a constant residual, give NaN.
    """
    x, y, z = _as_float(x), _as_float(y), _as_float(z)
    if not len(x) == len(y) == len(z):
        raise ValueError(f"partial_spearman: {len(x)}, {len(y)} and {len(z)} values")
    finite = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
    n = int(finite.sum())
    if n < 4:
        return math.nan, math.nan, n
    design = np.column_stack([np.ones(n), average_ranks(z[finite])])
    residuals = []
    for values in (x[finite], y[finite]):
        ranks = average_ranks(values)
        coef, *_ = np.linalg.lstsq(design, ranks, rcond=None)
        residual = ranks - design @ coef
        residuals.append(residual - residual.mean())
    rx, ry = residuals
    scale = math.sqrt(float((rx * rx).sum()) * float((ry * ry).sum()))
    # a residual that is rounding noise (x or y a linear function of rank(z)) has no correlation
    if scale <= 1e-9 * n**3:
        return math.nan, math.nan, n
    rho = float(np.clip((rx * ry).sum() / scale, -1.0, 1.0))
    if abs(rho) > 1 - PERFECT_TOLERANCE:
        return rho, 0.0, n
    statistic = rho * math.sqrt((n - 3) / (1 - rho**2))
    return rho, float(2 * t_sf(abs(statistic), n - 3)), n


def adjusted_association_table(estimates):
    """association_adjusted.csv: each log per-1,000 measure against sv_com_17_21,
    `all` (as spearman.csv), `outcome_nonzero` (communes with sv_com_17_21 > 0) and
    `partial_population` (partial Spearman given population, `partial_spearman`)."""
    test = log_test_table(estimates)
    crime = _as_float(test[CRIME])
    pop = _as_float(estimates.loc[test.index, "pop"])
    nonzero = crime > 0
    rows = []
    for x in PER_1000:
        values = _as_float(test[x])
        results = {
            "all": spearman_pair(values, crime),
            "outcome_nonzero": spearman_pair(values[nonzero], crime[nonzero]),
            "partial_population": partial_spearman(values, crime, pop),
        }
        for analysis in ANALYSES:
            rho, pvalue, n = results[analysis]
            rows.append({"x": x, "y": CRIME, "analysis": analysis, "rho": rho, "pvalue": pvalue, "n": n})
    return pd.DataFrame(rows, columns=ADJUSTED_COLUMNS)


# --- two dependent correlations ------------------------------------------------------------


def seed_dependent_corr_test(r_ab, r_ac, r_bc, n):
    """The seed's `dependent_corr_test`: (t_value, p_value).

    t = (r_ab - r_ac) / sqrt((1 - r_bc^2) / (n - 3)), p two-sided from a t with n - 2
    degrees of freedom, as the notebook computes it (its 2 * (1 - t.cdf(|t|)) is written as
    2 * t_sf(|t|), the same number without the rounding to 0 for large |t|). n <= 3 gives NaN
    (the formula divides by n - 3).
    """
    if not n > 3:
        return math.nan, math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        t_value = (r_ab - r_ac) / np.sqrt((1 - r_bc**2) / (n - 3))
    if np.isnan(t_value):
        return math.nan, math.nan
    return float(t_value), float(2 * t_sf(abs(t_value), n - 2))


def steiger_z_test(r_ab, r_ac, r_bc, n):
    """Steiger's (1980) Z for two dependent correlations r_ab, r_ac sharing variable a: (z, p).

    Fisher z of both; rbar = (r_ab + r_ac) / 2;
    psi = r_bc (1 - 2 rbar^2) - rbar^2 (1 - 2 rbar^2 - r_bc^2) / 2; cbar = psi / (1 - rbar^2)^2;
    Z = (z_ab - z_ac) sqrt((n - 3) / (2 - 2 cbar)); p two-sided from the standard normal.
    (Steiger, Psychological Bulletin 87:245-251, equations 3 and 10; the cocor R package's
    "steiger1980".) n <= 3, or r_ab or r_ac equal to +-1 (to 1e-12), give NaN.
    """
    if not n > 3:
        return math.nan, math.nan
    if max(abs(r_ab), abs(r_ac)) > 1 - PERFECT_TOLERANCE:
        return math.nan, math.nan  # a perfect correlation has an infinite Fisher z
    with np.errstate(divide="ignore", invalid="ignore"):
        z_ab, z_ac = np.arctanh(r_ab), np.arctanh(r_ac)
        rbar = (r_ab + r_ac) / 2
        psi = r_bc * (1 - 2 * rbar**2) - 0.5 * rbar**2 * (1 - 2 * rbar**2 - r_bc**2)
        cbar = psi / (1 - rbar**2) ** 2
        # np.divide: cbar = 1 (r_bc = 1, r_ab = r_ac) gives inf, then NaN, not ZeroDivisionError
        z = (z_ab - z_ac) * np.sqrt(np.divide(n - 3, 2 - 2 * cbar))
    if not np.isfinite(z):
        return math.nan, math.nan
    return float(z), float(2 * normal_sf(abs(z)))


def williams_test(r_ab, r_ac, r_bc, n):
    """Williams' (1959) t for two dependent correlations r_ab, r_ac sharing variable a: (t, p).

    In the form Steiger (1980) gives it:
    t = (r_ab - r_ac) sqrt( (n - 1)(1 + r_bc) / (2 (n - 1)/(n - 3) |R| + rbar^2 (1 - r_bc)^3) )
    with |R| = 1 - r_ab^2 - r_ac^2 - r_bc^2 + 2 r_ab r_ac r_bc (the determinant of the 3 x 3
    correlation matrix) and rbar = (r_ab + r_ac) / 2; p two-sided from a t with n - 3
    degrees of freedom. n <= 3 or a non-positive denominator (an impossible correlation
    matrix) give NaN.
    """
    if not n > 3:
        return math.nan, math.nan
    determinant = 1 - r_ab**2 - r_ac**2 - r_bc**2 + 2 * r_ab * r_ac * r_bc
    rbar = (r_ab + r_ac) / 2
    denominator = 2 * (n - 1) / (n - 3) * determinant + rbar**2 * (1 - r_bc) ** 3
    numerator = (n - 1) * (1 + r_bc)
    if not (np.isfinite(denominator) and denominator > 0 and numerator >= 0):
        return math.nan, math.nan
    t_value = (r_ab - r_ac) * math.sqrt(numerator / denominator)
    if not np.isfinite(t_value):
        return math.nan, math.nan
    return float(t_value), float(2 * t_sf(abs(t_value), n - 3))


def dependent_corr_table(estimates):
    """dependent_corr.csv: rho(x, crime) vs rho(cpc, crime) for x = YouTube, porn, Tor.

    As the seed: r_ab = rho(x, sv_com_17_21), r_ac = rho(cpc_per_1000, sv_com_17_21),
    r_bc = rho(x, cpc_per_1000), all over the communes where the three (logged) variables
    are finite; n is their count. The seed's t next to Steiger's Z and Williams' t.
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
        williams_t, williams_p = williams_test(r_ab, r_ac, r_bc, n)
        rows.append(
            {
                "comparison": comparison, "r_ab": r_ab, "r_ac": r_ac, "r_bc": r_bc, "n": n,
                "t_value": t_value, "p_value": p_value, "steiger_z": steiger_z, "steiger_p": steiger_p,
                "williams_t": williams_t, "williams_p": williams_p,
            }
        )
    return pd.DataFrame(rows, columns=DEPENDENT_COLUMNS)


# --- regressions ---------------------------------------------------------------------------


def read_covariates(path):
    """A covariate table: CSV (',' or ';') keyed by `code_com`, every other column numeric.

    Returns a DataFrame indexed by the five-character code. An InputError names the file,
    the column and the first bad value (non-numeric, duplicated code, reserved name).
    """
    from netmob_cpc.codes import normalise_codes
    from netmob_cpc.files import sniff_separator

    with open(path, encoding="utf-8-sig") as handle:
        header = handle.readline().rstrip("\r\n")
    sep = sniff_separator(header) or ","
    table = pd.read_csv(path, sep=sep, dtype={"code_com": str}, encoding="utf-8-sig")
    if "code_com" not in table.columns:
        raise InputError(
            f"{path} (config key 'covariates'): no code_com column; found {', '.join(map(str, table.columns))}. "
            "The covariate table is keyed by the commune's INSEE code in a column named code_com"
        )
    columns = [column for column in table.columns if column != "code_com"]
    if not columns:
        raise InputError(f"{path} (config key 'covariates'): no column besides code_com; add numeric covariates")
    reserved = [column for column in columns if column in BASE_TERMS]
    if reserved:
        raise InputError(
            f"{path} (config key 'covariates'): column name(s) {', '.join(reserved)} are the regression's own "
            "terms; rename them"
        )
    table["code_com"] = normalise_codes(table["code_com"], path, "code_com")
    duplicated = table["code_com"].duplicated() & table["code_com"].notna()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise InputError(
            f"{path} (config key 'covariates'): line {row + 2}: code_com {table['code_com'].iloc[row]} appears "
            "twice; keep one row per commune"
        )
    for column in columns:
        values = table[column]
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna() & (values.astype(str).str.strip() != "")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{path} (config key 'covariates'): line {row + 2}, column {column}: {values.iloc[row]!r} is "
                "not a number; covariates must be numeric ('.' decimals), empty for missing"
            )
        table[column] = numbers.astype("float64")
    return table.dropna(subset=["code_com"]).set_index("code_com")[columns]


def _model_frame(estimates):
    """Per commune: the outcome and regressor variables of the regression models."""
    frame = pd.DataFrame(
        {
            "sv_com_17_21": _as_float(estimates[CRIME]),
            "log_cpc_rate": _log(estimates["cpc_per_1000"]),
            "log_pop": _log(estimates["pop"]),
            "code_dep": estimates["code_dep"].astype(str).to_numpy() if "code_dep" in estimates.columns else None,
        },
        index=estimates["code_com"].astype(str).to_numpy() if "code_com" in estimates.columns else estimates.index,
    )
    return frame


MODELS = {
    # model: (outcome, regressors)
    "cpc_on_sv": ("log_cpc_rate", ["sv_com_17_21", "log_pop"]),
    "sv_on_cpc": ("sv_com_17_21", ["log_cpc_rate", "log_pop"]),
}


def fit_ols(y, X, cov_type, groups=None):
    """statsmodels OLS fit with HC3 (`HC3`) or cluster-robust (`cluster_dep`, by `groups`)
    covariance; inference from t (HC3: n - k degrees of freedom, as R's coeftest with
    vcovHC; clusters: G - 1)."""
    # (statsmodels.api would import the whole library: about 2 s more per job)
    from statsmodels.regression.linear_model import OLS

    model = OLS(np.asarray(y, float), np.asarray(X, float))
    if cov_type == "HC3":
        return model.fit(cov_type="HC3", use_t=True)
    if cov_type == "cluster_dep":
        codes = pd.factorize(pd.Series(groups).astype(str))[0]
        return model.fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
    raise ValueError(f"cov_type {cov_type!r} is not one of {', '.join(COV_TYPES)}")


def _fit_rows(model, outcome, data, terms, cov_types=COV_TYPES):
    """Rows of regression.csv for one model over `data` (complete cases of outcome + terms)."""
    X = np.column_stack([np.ones(len(data)), data[terms].to_numpy(float)])
    names = ["const", *terms]
    rows = []
    n = len(data)
    for cov_type in cov_types:
        estimable = n > len(names) and (cov_type != "cluster_dep" or data["code_dep"].nunique() > 1)
        if estimable and np.linalg.matrix_rank(X) == len(names):
            fit = fit_ols(data[outcome], X, cov_type, groups=data["code_dep"])
            values = zip(fit.params, fit.bse, fit.tvalues, fit.pvalues)
        else:
            values = [(math.nan,) * 4] * len(names)
        for name, (coef, se, t_value, pvalue) in zip(names, values):
            rows.append(
                {
                    "model": model, "outcome": outcome, "term": name, "coef": float(coef), "se": float(se),
                    "t": float(t_value), "pvalue": float(pvalue), "n": n, "cov_type": cov_type,
                }
            )
    return rows


def regression_table(test_table, covariates=None):
    """regression.csv: the models `cpc_on_sv` (ln cpc_per_1000 ~ const + sv_com_17_21 +
    ln pop) and `sv_on_cpc` (sv_com_17_21 ~ const + ln cpc_per_1000 + ln pop), each over the
    communes with finite values, and each again over the communes with sv_com_17_21 > 0
    (`*_outcome_nonzero`); with `covariates` (DataFrame indexed by code_com, numeric
    columns) also `*_controls` (and `*_controls_outcome_nonzero`), the covariates
    standardised (mean 0, sd 1 over the model's communes). Each model with HC3 and
    department-clustered (code_dep) standard errors.

    `test_table` holds the tested communes: code_com, code_dep, pop, cpc_per_1000 and
    sv_com_17_21 as in cpc_com.csv (not logged).
    """
    frame = _model_frame(test_table)
    covariate_names = []
    if covariates is not None:
        covariate_names = list(covariates.columns)
        frame = frame.join(covariates, how="left")
    rows = []
    variants = [("", [])] + ([("_controls", covariate_names)] if covariate_names else [])
    for suffix, extra in variants:
        for base, (outcome, regressors) in MODELS.items():
            for subset in ("", "_outcome_nonzero"):
                terms = [*regressors, *extra]
                data = frame[[outcome, *terms, "code_dep"]]
                data = data[np.isfinite(data[[outcome, *terms]].to_numpy(float)).all(axis=1)]
                if subset:  # both models hold sv_com_17_21 (outcome or regressor)
                    data = data[data["sv_com_17_21"] > 0]
                data = data.copy()
                for column in extra:
                    spread = data[column].std(ddof=1)
                    data[column] = (data[column] - data[column].mean()) / spread if spread > 0 else np.nan
                if extra:
                    data = data[np.isfinite(data[extra].to_numpy(float)).all(axis=1)]
                rows += _fit_rows(f"{base}{suffix}{subset}", outcome, data, terms)
    return pd.DataFrame(rows, columns=REGRESSION_COLUMNS)


def cpc_on_sv_pvalue(test_table, cov_type="HC3"):
    """The p-value of sv_com_17_21 in the model `cpc_on_sv` (for the simulation study);
    `test_table` needs sv_com_17_21, cpc_per_1000 and pop (code_dep for `cluster_dep`)."""
    frame = _model_frame(test_table)
    outcome, terms = MODELS["cpc_on_sv"]
    data = frame[[outcome, *terms, "code_dep"]]
    data = data[np.isfinite(data[[outcome, *terms]].to_numpy(float)).all(axis=1)]
    rows = _fit_rows("cpc_on_sv", outcome, data, terms, cov_types=[cov_type])
    return next(r["pvalue"] for r in rows if r["term"] == "sv_com_17_21")


# --- summary -------------------------------------------------------------------------------


def _plain(value):
    """A JSON-ready number: Python float, None for NaN / infinity."""
    value = float(value)
    return value if math.isfinite(value) else None


def summary(estimates, tor_app, tor_to_darknet_share, porn_in_darknet_share, csam_in_porn_share, tested=None):
    """The headline numbers of summary.json; NaN becomes None (JSON null).

    cpc_share_of_tor = sum of cpc / sum of the Tor column (each NaN skipped);
    global_csam_share = the product of the three shares; mean_c / median_c over the
    communes with a correction factor; n_tested = the communes in the tests (`tested`, the
    first value of `select_tested`; without it, the communes with a finite sv_com_17_21).
    """
    crime = _as_float((estimates if tested is None else tested)[CRIME])
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


def quality_totals(qc):
    """Totals of the per-file data-quality counts (qc.csv) for summary.json."""
    counts = [
        "lines", "blank_lines", "crlf_lines", "empty_fields", "nan_fields", "negative_values",
        "duplicate_tiles", "unmapped_tiles",
    ]
    totals = {column: int(qc[column].sum()) for column in counts if column in qc.columns}
    totals["files"] = int(len(qc))
    totals["all_zero_files"] = int(qc["all_zero"].astype(bool).sum())
    traffic = float(qc["total_traffic"].sum())
    totals["unmapped_traffic_share"] = float(qc["unmapped_traffic"].sum()) / traffic if traffic > 0 else None
    if "truncated" in qc.columns:
        totals["truncated_files"] = int(qc["truncated"].astype(bool).sum())
    if "parser" in qc.columns:
        # the pyarrow fallback gives the same numbers, more slowly: say so
        fallback = int((qc["parser"] != "native").sum())
        totals["parser"] = "pyarrow" if fallback else "native"
        totals["files_parsed_by_fallback"] = fallback
    return totals
