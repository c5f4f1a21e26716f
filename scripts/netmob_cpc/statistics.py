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

from netmob_cpc.codes import normalise_codes
from netmob_cpc.estimates import METHODS, correction_factor, missing_counts_line, numeric_column, read_table_text
from netmob_cpc.files import InputError, bad_value, data_lines, first_row, log, repeated_keys, sniff_separator
from netmob_cpc.rankstats import (
    PERFECT_TOLERANCE, as_float, average_ranks, normal_sf, partial_spearman, partial_spearman_design, spearman_pair, t_sf,
)
from netmob_cpc.rates import log_values, per_1000, usable_population

PER_1000 = ["yt_per_1000", "wa_per_1000", "tor_per_1000", "cpc_per_1000"]
CRIME = "sv_com_17_21"
# (comparison, x): compares rho(x, crime) with rho(cpc_per_1000, crime), as the seed does
COMPARISONS = [("CPC-YT", "yt_per_1000"), ("CPC-WA", "wa_per_1000"), ("CPC-Tor", "tor_per_1000")]
SPEARMAN_COLUMNS = ["x", "y", "rho", "pvalue", "n"]
# |rho| within this of 1 counts as a perfect correlation (np.corrcoef may return 0.9999999999999999)
DEPENDENT_COLUMNS = [
    "comparison", "r_ab", "r_ac", "r_bc", "n", "t_value", "p_value",
    "steiger_z", "steiger_p", "williams_t", "williams_p",
]
ANALYSES = ["all", "outcome_nonzero", "partial_population", "partial_population_spline", "partial_population_city"]
ADJUSTED_COLUMNS = ["x", "y", "analysis", "rho", "pvalue", "n"]
REGRESSION_COLUMNS = ["model", "outcome", "term", "coef", "se", "t", "pvalue", "n", "cov_type"]
COV_TYPES = ["HC3", "cluster_dep", "cluster_city"]
BASE_TERMS = ["const", "sv_com_17_21", "log_cpc_rate", "log_pop"]


def _log(values):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(as_float(values))


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
    crime = np.isfinite(as_float(estimates[CRIME]))
    population = usable_population(estimates["pop"]).to_numpy()
    coverage = as_float(estimates["coverage"]) if "coverage" in estimates.columns else np.full(len(estimates), np.nan)
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


def spearman_table(estimates):
    """spearman.csv: each log per-1,000 measure against sv_com_17_21, then YouTube vs cpc."""
    test = log_test_table(estimates)
    pairs = [(x, CRIME) for x in PER_1000] + [("yt_per_1000", "cpc_per_1000")]
    rows = []
    for x, y in pairs:
        rho, pvalue, n = spearman_pair(test[x], test[y])
        rows.append({"x": x, "y": y, "rho": rho, "pvalue": pvalue, "n": n})
    return pd.DataFrame(rows, columns=SPEARMAN_COLUMNS)


def population_spline(log_pop, spline_df):
    """The design [1, cr(ln pop, df=spline_df)]: patsy's natural cubic regression spline
    (knots at quantiles of ln pop; its spline_df basis functions sum to one, so next to
    the intercept the design has rank spline_df)."""
    from patsy import dmatrix  # a dependency of statsmodels

    return np.asarray(dmatrix(f"1 + cr(log_pop, df={int(spline_df)})", {"log_pop": as_float(log_pop)}))


def city_dummies(cities):
    """Indicator columns of every city but the first (sorted): city fixed effects."""
    names = sorted(pd.unique(pd.Series(cities).astype(str)))
    labels = pd.Series(cities).astype(str).to_numpy()
    if len(names) < 2:
        return np.empty((len(labels), 0))
    return np.column_stack([labels == name for name in names[1:]]).astype(float)


def association_analyses(values, crime, pop, cities=None, spline_df=6, analyses=ANALYSES):
    """{analysis: (rho, pvalue, n)} of one logged measure against the outcome (arrays aligned
    with each other): `all` (Spearman), `outcome_nonzero` (communes with outcome > 0),
    `partial_population` (partial Spearman given population, `partial_spearman`: ranks
    residualised linearly on rank(pop)), `partial_population_spline` (ranks residualised on
    a natural cubic regression spline of ln pop with `spline_df` degrees of freedom,
    `population_spline`) and `partial_population_city` (the spline plus city fixed effects;
    NaN without `cities`). The one definition of these analyses, for cpc and the other
    measures (association_adjusted.csv) and for the placebo apps (placebo.csv)."""
    unknown = [analysis for analysis in analyses if analysis not in ANALYSES]
    if unknown:
        raise ValueError(f"unknown analysis {', '.join(unknown)}; known: {', '.join(ANALYSES)}")
    values, crime, pop = as_float(values), as_float(crime), as_float(pop)
    nonzero = crime > 0

    def spline():
        with np.errstate(divide="ignore", invalid="ignore"):
            return population_spline(np.log(pop), spline_df)

    def with_city():
        if cities is None:
            return math.nan, math.nan, 0
        design = np.column_stack([spline(), city_dummies(pd.Series(cities).reset_index(drop=True))])
        return partial_spearman_design(values, crime, design)

    tests = {
        "all": lambda: spearman_pair(values, crime),
        "outcome_nonzero": lambda: spearman_pair(values[nonzero], crime[nonzero]),
        "partial_population": lambda: partial_spearman(values, crime, pop),
        "partial_population_spline": lambda: partial_spearman_design(values, crime, spline()),
        "partial_population_city": with_city,
    }
    return {analysis: tests[analysis]() for analysis in analyses}


def adjusted_association_table(estimates, spline_df=6):
    """association_adjusted.csv: each log per-1,000 measure against sv_com_17_21 under every
    analysis of `association_analyses` (`all` as in spearman.csv)."""
    test = log_test_table(estimates)
    crime = as_float(test[CRIME])
    pop = as_float(estimates.loc[test.index, "pop"])
    cities = estimates.loc[test.index, "cities"] if "cities" in estimates.columns else None
    rows = []
    for x in PER_1000:
        results = association_analyses(as_float(test[x]), crime, pop, cities, spline_df)
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
    the line, the column and the value: a value that is not a number ('.' decimals; a
    missing value is an empty field, NA or NaN, counted per column in the log), a row
    without a code, a commune on two rows with other values, a reserved column name. An
    exact repeat of a row is dropped and counted in the log.
    """
    with open(path, encoding="utf-8-sig") as handle:
        header = handle.readline().rstrip("\r\n")
    sep = sniff_separator(header) or ","
    source = f"{path} (config key 'covariates')"
    table = read_table_text(path, sep, dtype={"code_com": str})
    lines = []

    def line_of(row):
        if not lines:
            lines.extend(data_lines(path, sep))
        return lines[row] if row < len(lines) else row + 2

    if "code_com" not in table.columns:
        raise InputError(
            f"{source}: no code_com column; found {', '.join(map(str, table.columns))}. "
            "The covariate table is keyed by the commune's INSEE code in a column named code_com"
        )
    columns = [column for column in table.columns if column != "code_com"]
    if not columns:
        raise InputError(f"{source}: no column besides code_com; add numeric covariates")
    reserved = [column for column in columns if column in BASE_TERMS]
    if reserved:
        raise InputError(
            f"{source}: column name(s) {', '.join(reserved)} are the regression's own terms; rename them"
        )
    table["code_com"] = normalise_codes(table["code_com"], source, "code_com", line_of)
    row = first_row(table["code_com"].isna())
    if row is not None:
        raise bad_value(
            source, line_of(row), "code_com", None, "a commune code", "every row of the covariate table is one commune",
            int(table["code_com"].isna().sum()),
        )
    for column in columns:
        table[column] = numeric_column(
            table, column, source, line_of, fix="covariates must be numbers with '.' decimals"
        )
    table, repeats = repeated_keys(table, ["code_com"], columns, source, line_of, "commune")
    if repeats:
        log(f"{source}: {repeats} row(s) repeat another row exactly: dropped, each commune counted once")
    note = missing_counts_line(table, columns, source)
    if note:
        log(f"{note}; a commune without a value is left out of the *_controls models")
    return table.set_index("code_com")[columns]


def _model_frame(estimates):
    """Per commune: the outcome and regressor variables of the regression models, and the
    clusters (department, city)."""
    def labels(column):
        return estimates[column].astype(str).to_numpy() if column in estimates.columns else None

    frame = pd.DataFrame(
        {
            "sv_com_17_21": as_float(estimates[CRIME]),
            "log_cpc_rate": _log(estimates["cpc_per_1000"]),
            "log_pop": _log(estimates["pop"]),
            "code_dep": labels("code_dep"),
            "cities": labels("cities"),
        },
        index=estimates["code_com"].astype(str).to_numpy() if "code_com" in estimates.columns else estimates.index,
    )
    return frame


MODELS = {
    # model: (outcome, regressors)
    "cpc_on_sv": ("log_cpc_rate", ["sv_com_17_21", "log_pop"]),
    "sv_on_cpc": ("sv_com_17_21", ["log_cpc_rate", "log_pop"]),
}
CLUSTERS = {"cluster_dep": "code_dep", "cluster_city": "cities"}


def fit_ols(y, X, cov_type, groups=None):
    """statsmodels OLS fit with HC3 (`HC3`) or cluster-robust CR1 (`cluster_dep`,
    `cluster_city`: by `groups`) covariance; inference from t (HC3: n - k degrees of
    freedom, as R's coeftest with vcovHC; clusters: G - 1)."""
    # (statsmodels.api would import the whole library: about 2 s more per job)
    from statsmodels.regression.linear_model import OLS

    model = OLS(np.asarray(y, float), np.asarray(X, float))
    if cov_type == "HC3":
        return model.fit(cov_type="HC3", use_t=True)
    if cov_type in CLUSTERS:
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
        groups = data[CLUSTERS[cov_type]] if cov_type in CLUSTERS else None
        estimable = n > len(names) and (groups is None or (groups.notna().all() and groups.nunique() > 1))
        if estimable and np.linalg.matrix_rank(X) == len(names):
            fit = fit_ols(data[outcome], X, cov_type, groups=groups)
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


def _independent_covariates(data, regressors, covariates):
    """The covariates (standardised; NaN when constant) that add a dimension to the design
    matrix [1, regressors, covariates kept so far], in their order: a constant covariate
    or one that is a linear combination of the others would leave the model without
    estimates (a rank-deficient matrix gives NaN rows)."""
    kept = []
    X = np.column_stack([np.ones(len(data)), data[regressors].to_numpy(float)])
    rank = np.linalg.matrix_rank(X) if len(data) else 0
    for column in covariates:
        values = data[column].to_numpy(float)
        if not len(values) or not np.isfinite(values).all():
            continue
        candidate = np.column_stack([X, values])
        if np.linalg.matrix_rank(candidate) > rank:
            X, rank = candidate, rank + 1
            kept.append(column)
    return kept


def model_datasets(test_table, covariates=None):
    """[(model, outcome, terms, data)] of regression.csv, in its order: data holds the
    model's communes (complete cases), outcome, terms, code_dep and cities."""
    frame = _model_frame(test_table)
    covariate_names = []
    if covariates is not None:
        covariate_names = list(covariates.columns)
        frame = frame.join(covariates, how="left")
    datasets = []
    variants = [("", [])] + ([("_controls", covariate_names)] if covariate_names else [])
    for suffix, extra in variants:
        for base, (outcome, regressors) in MODELS.items():
            for subset in ("", "_outcome_nonzero"):
                terms = [*regressors, *extra]
                data = frame[[outcome, *terms, "code_dep", "cities"]]
                data = data[np.isfinite(data[[outcome, *terms]].to_numpy(float)).all(axis=1)]
                if subset:  # both models hold sv_com_17_21 (outcome or regressor)
                    data = data[data["sv_com_17_21"] > 0]
                data = data.copy()
                for column in extra:
                    spread = data[column].std(ddof=1)
                    data[column] = (data[column] - data[column].mean()) / spread if spread > 0 else np.nan
                if extra:
                    kept = _independent_covariates(data, regressors, extra)
                    dropped = [column for column in extra if column not in kept]
                    if dropped:
                        log(
                            f"regression {base}{suffix}{subset}: covariate(s) {', '.join(dropped)} left out: constant "
                            f"or collinear with the other terms over the model's {len(data)} communes"
                        )
                    terms = [*regressors, *kept]
                datasets.append((f"{base}{suffix}{subset}", outcome, terms, data))
    return datasets


def model_data(test_table, covariates, model):
    """(data, design matrix with a leading constant, outcome) of one model of regression.csv."""
    for name, outcome, terms, data in model_datasets(test_table, covariates):
        if name == model:
            return data, np.column_stack([np.ones(len(data)), data[terms].to_numpy(float)]), outcome
    raise ValueError(f"no regression model {model!r}")


def regression_table(test_table, covariates=None):
    """regression.csv: the models `cpc_on_sv` (ln cpc_per_1000 ~ const + sv_com_17_21 +
    ln pop) and `sv_on_cpc` (sv_com_17_21 ~ const + ln cpc_per_1000 + ln pop), each over the
    communes with finite values, and each again over the communes with sv_com_17_21 > 0
    (`*_outcome_nonzero`); with `covariates` (DataFrame indexed by code_com, numeric
    columns) also `*_controls` (and `*_controls_outcome_nonzero`), the covariates
    standardised (mean 0, sd 1 over the model's communes). Each model with HC3, and
    department-clustered (code_dep) and city-clustered (cities) CR1 standard errors
    (the wild bootstrap p-values and leave-one-city-out rows: netmob_cpc.inference).

    `test_table` holds the tested communes: code_com, code_dep, cities, pop, cpc_per_1000
    and sv_com_17_21 as in cpc_com.csv (not logged).
    """
    rows = []
    for model, outcome, terms, data in model_datasets(test_table, covariates):
        rows += _fit_rows(model, outcome, data, terms)
    return pd.DataFrame(rows, columns=REGRESSION_COLUMNS)


def cpc_on_sv_pvalue(test_table, cov_type="HC3"):
    """The p-value of sv_com_17_21 in the model `cpc_on_sv` (for the simulation study);
    `test_table` needs sv_com_17_21, cpc_per_1000 and pop (code_dep for `cluster_dep`)."""
    frame = _model_frame(test_table)
    outcome, terms = MODELS["cpc_on_sv"]
    data = frame[[outcome, *terms, "code_dep", "cities"]]
    data = data[np.isfinite(data[[outcome, *terms]].to_numpy(float)).all(axis=1)]
    rows = _fit_rows("cpc_on_sv", outcome, data, terms, cov_types=[cov_type])
    return next(r["pvalue"] for r in rows if r["term"] == "sv_com_17_21")


# --- summary -------------------------------------------------------------------------------


def _plain(value):
    """A JSON-ready number: Python float, None for NaN / infinity."""
    value = float(value)
    return value if math.isfinite(value) else None


def share_of_tor(cpc, tor):
    """(sum of cpc / sum of Tor, rows used, rows left out): over the rows where both have a
    finite value, so that no commune enters the numerator without entering the denominator
    (a commune without a correction factor has Tor but no cpc). The seed sums each column
    over its own rows; the two agree when every row has both."""
    cpc, tor = as_float(cpc), as_float(tor)
    both = np.isfinite(cpc) & np.isfinite(tor)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.float64(cpc[both].sum()) / np.float64(tor[both].sum())
    return share, int(both.sum()), int((~both).sum())


def summary(estimates, tor_app, tor_to_darknet_share, porn_in_darknet_share, csam_in_porn_share, tested=None):
    """The headline numbers of summary.json; NaN becomes None (JSON null).

    cpc_share_of_tor = sum of cpc / sum of the Tor column over the communes that have both
    (`share_of_tor`; `cpc_share_of_tor_rows` communes, `cpc_share_of_tor_rows_left_out`
    left out, said in the log); global_csam_share = the product of the three shares;
    mean_c / median_c over the communes with a correction factor; n_tested = the communes
    in the tests (`tested`, the first value of `select_tested`; without it, the communes
    with a finite sv_com_17_21).
    """
    crime = as_float((estimates if tested is None else tested)[CRIME])
    cpc_share_of_tor, rows, left_out = share_of_tor(estimates["cpc"], estimates[tor_app])
    if left_out:
        log(
            f"cpc_share_of_tor over the {rows} communes with both cpc and {tor_app}: {left_out} commune(s) "
            "without one of them left out of both sums"
        )
    return {
        "n_communes": int(len(estimates)),
        "n_tested": int(np.isfinite(crime).sum()),
        "cpc_share_of_tor": _plain(cpc_share_of_tor),
        "cpc_share_of_tor_rows": rows,
        "cpc_share_of_tor_rows_left_out": left_out,
        "global_csam_share": _plain(tor_to_darknet_share * porn_in_darknet_share * csam_in_porn_share),
        "mean_c": _plain(estimates["c"].mean(skipna=True)),
        "median_c": _plain(estimates["c"].median(skipna=True)),
    }


def publication_counts(estimates, tested, crime_years, years_table=None):
    """The crime outcome's publication counts for summary.json ("crime_outcome").

    A zero sv_com_17_21 means that every published year recorded no offence; unpublished
    years are not zeros (they counted too few to be published, or the file has no row).
    From the estimate table: the tested communes at zero and the largest population among
    them; the communes in the crime file (some sv_* value) without a published rate and
    their population range. With the crime stage's commune-year table (not in table
    mode): the unpublished commune-years (ndiff rows and crime years without a row) of the
    table's communes in the crime file, and the zero communes with such a year. None where
    the table mode cannot know."""
    sv_columns = [c for c in ("sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21") if c in estimates.columns]
    in_file = np.isfinite(estimates[sv_columns].to_numpy(dtype="float64", na_value=np.nan)).any(axis=1)
    crime = as_float(estimates[CRIME])
    pop = as_float(estimates["pop"])
    without = in_file & ~np.isfinite(crime)
    usable = without & np.isfinite(pop) & (pop > 0)
    tested_crime = as_float(tested[CRIME])
    zero = tested_crime == 0
    counts = {
        "n_zero_rate": int(zero.sum()),
        "zero_rate_max_population": _plain(as_float(tested["pop"])[zero].max()) if zero.any() else None,
        "n_communes_never_published": int(without.sum()),
        "population_range_never_published": (
            [_plain(pop[usable].min()), _plain(pop[usable].max())] if usable.any() else None
        ),
        "n_crime_years": len(crime_years),
        "n_commune_years_unpublished": None,
        "n_commune_years_without_row": None,
        "n_zero_rate_with_unpublished_years": None,
    }
    if years_table is not None:
        codes = estimates.loc[in_file, "code_com"].astype(str)
        rows = years_table[years_table["code_com"].astype(str).isin(set(codes))]
        # years published per commune (as crime.years_published; not imported, so that an edit
        # of the crime reader does not rerun every statistics job)
        shown = rows.groupby("code_com")["published"].sum().reindex(codes, fill_value=0).to_numpy()
        present = rows.groupby("code_com").size().reindex(codes, fill_value=0).to_numpy()
        unpublished = len(crime_years) - shown
        zero_codes = set(tested.loc[zero, "code_com"].astype(str))
        at_zero = np.array([code in zero_codes for code in codes])
        counts.update(
            n_commune_years_unpublished=int(unpublished.sum()),
            n_commune_years_without_row=int((len(crime_years) - present).sum()),
            n_zero_rate_with_unpublished_years=int((at_zero & (unpublished > 0)).sum()),
        )
    return counts


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


def correction_methods_table(
    totals, correlations, crime_rates, *, shares, negative_factor_floor, coverage=None, min_coverage=0.0
):
    """correction_methods.csv: Spearman of log cpc_per_1000 under each method with
    sv_com_17_21, over the communes with a published rate (and, when `min_coverage` > 0,
    a coverage that is unknown or at least `min_coverage`, as in the other tests)."""
    base = totals.merge(correlations, on="code_com", how="left").merge(
        crime_rates[["code_com", "sv_com_17_21"]], on="code_com", how="left"
    )
    tested = base["sv_com_17_21"].notna()
    if coverage is not None and len(coverage) and min_coverage > 0:
        shares_inside = coverage[["cities", "code_com", "coverage"]].drop_duplicates(["cities", "code_com"])
        known = base[["cities", "code_com"]].merge(shares_inside, on=["cities", "code_com"], how="left")["coverage"]
        tested &= ~(known.to_numpy(dtype="float64", na_value=np.nan) < min_coverage)
    rows = []
    for method in METHODS:
        c = correction_factor(base, method, shares, negative_factor_floor)
        log_cpc_per_1000 = log_values(per_1000(base["tor"] * c, base["pop"]))
        rho, pvalue, n = spearman_pair(log_cpc_per_1000[tested], base.loc[tested, "sv_com_17_21"])
        rows.append({"method": method, "rho": rho, "pvalue": pvalue, "n": n})
    return pd.DataFrame(rows)
