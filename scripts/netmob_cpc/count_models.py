"""count_models.csv: the recorded offences modelled as counts, not as a rank or a rate.

A rate of sexual violence per 1,000 inhabitants is a count divided by a population: in a
small commune one offence more or less moves it a lot, and most small communes have a
zero. A count model with the population as exposure weighs each commune by how much it
says. Models (each with the model-based and the department-clustered standard errors,
`se_type` `model` / `cluster_dep`):

- `nb2_rate`: negative binomial (NB2, variance mu + alpha mu^2, alpha estimated;
  statsmodels' discrete `NegativeBinomial`) of the count on ln cpc_per_1000, offset
  ln exposure (inhabitant-years);
- `nb2_rate_pop`: the same with ln pop (the rate's size dependence);
- `nb2_rate_pop_city`: the same with city fixed effects (their coefficients not listed);
- `nb2_positive`: `nb2_rate_pop` over the communes with at least one offence;
- a hurdle model: `hurdle_any` (logit of "at least one offence" on ln cpc_per_1000 and
  ln pop) and `hurdle_positive` (zero-truncated NB2 of the positive counts, offset
  ln exposure; statsmodels' `TruncatedLFNegativeBinomialP`);
- `nb2_censored_years` (commune-year counts of the crime file only): NB2 on each
  commune's yearly counts in which a year that was not published contributes the
  probability of a count below the publication threshold (with
  crime_publication.zeros_published: of a count from 1 to the threshold - 1; written here
  with scipy.optimize; the commune's regressors, offset ln of that year's population).

Counts: from the crime file, the published years summed per commune, the exposure the sum
of those years' populations; from the authors' table (which gives only the five-year
rate), round(5 x sv_com_17_21 x pop / 1000) with exposure 5 x pop, labelled approximate in
`note` (the table does not say which years were published).
"""

import math

import numpy as np
import pandas as pd

from netmob_cpc.publication import nb2_log_unpublished, nb2_logpmf
from netmob_cpc.rates import usable_population
from netmob_cpc.rankstats import as_float, normal_sf
from netmob_cpc.statistics import CRIME, city_dummies

COUNT_COLUMNS = ["model", "term", "coef", "se", "pvalue", "se_type", "n", "alpha", "note"]
TABLE_YEARS = 5  # sv_com_17_21: offences of 2017-2021 per 1,000 inhabitants and year
TABLE_NOTE = (
    "approximate: counts reconstructed as round(5 x sv_com_17_21 x pop / 1000), exposure 5 x pop (the table "
    "does not say which years were published)"
)


def _log(values):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(as_float(values))


def commune_frame(estimates, min_coverage=0.0):
    """Per commune with a usable population, a finite ln cpc_per_1000 and (when
    min_coverage > 0) a coverage unknown or at least min_coverage: code_com, log_cpc_rate,
    log_pop, pop, cities, code_dep, sv_com_17_21."""
    frame = pd.DataFrame(
        {
            "code_com": estimates["code_com"].astype(str).to_numpy(),
            "log_cpc_rate": _log(estimates["cpc_per_1000"]),
            "log_pop": _log(estimates["pop"]),
            "pop": as_float(estimates["pop"]),
            "cities": estimates["cities"].astype(str).to_numpy() if "cities" in estimates.columns else "",
            "code_dep": estimates["code_dep"].astype(str).to_numpy() if "code_dep" in estimates.columns else "",
            CRIME: as_float(estimates[CRIME]) if CRIME in estimates.columns else np.nan,
        }
    )
    keep = usable_population(estimates["pop"]).to_numpy() & np.isfinite(frame["log_cpc_rate"].to_numpy())
    if min_coverage > 0 and "coverage" in estimates.columns:
        keep &= ~(as_float(estimates["coverage"]) < min_coverage)
    return frame[keep].reset_index(drop=True)


def table_counts(communes):
    """Counts and exposure reconstructed from the five-year rate (communes with one)."""
    frame = communes[np.isfinite(communes[CRIME].to_numpy(float))].copy()
    frame["count"] = np.round(TABLE_YEARS * frame[CRIME] * frame["pop"] / 1000)
    frame["exposure"] = TABLE_YEARS * frame["pop"]
    return frame.reset_index(drop=True)


def summed_counts(communes, years):
    """Counts summed over each commune's published years, exposure the sum of those
    years' populations; communes without a published year are left out.

    `years`: the commune-year table (code_com, year, published, count, pop)."""
    published = years[years["published"].astype(bool)]
    totals = published.groupby("code_com").agg(count=("count", "sum"), exposure=("pop", "sum"))
    frame = communes.merge(totals, left_on="code_com", right_index=True, how="inner")
    frame = frame[np.isfinite(frame["exposure"].to_numpy(float)) & (frame["exposure"] > 0)]
    return frame.reset_index(drop=True)


def year_counts(communes, years):
    """The commune-years of the communes (every year of the table for every commune; an
    absent year is unpublished, its population the commune's pop): code_com, year,
    published, count, exposure and the commune's regressors."""
    all_years = sorted(pd.unique(years["year"]))
    grid = pd.MultiIndex.from_product([communes["code_com"], all_years], names=["code_com", "year"]).to_frame(index=False)
    rows = grid.merge(years[["code_com", "year", "published", "count", "pop"]], on=["code_com", "year"], how="left")
    rows["published"] = rows["published"].astype("boolean").fillna(False).astype(bool)
    rows = rows.merge(communes, on="code_com", how="left", suffixes=("", "_commune"))
    rows["exposure"] = rows["pop"].where(usable_population(rows["pop"]), rows["pop_commune"])
    rows.loc[~rows["published"], "count"] = np.nan
    return rows


# --- the censored NB2 likelihood -----------------------------------------------------------


def nb2_loglike(params, y, X, offset, censored=None, min_count=5, zeros_published=False):
    """NB2 log-likelihood, params = (beta, ln alpha): mu = exp(X beta + offset),
    size r = 1/alpha, P(y) = Gamma(y + r)/(Gamma(r) y!) (r/(r + mu))^r (mu/(r + mu))^y.
    A censored row (`censored` True; y ignored) contributes P(Y <= min_count - 1), with
    `zeros_published` P(1 <= Y <= min_count - 1) (a zero year would have been published)."""
    beta, alpha = params[:-1], math.exp(params[-1])
    r = 1.0 / alpha
    mu = np.exp(X @ beta + offset)
    censored = np.zeros(len(y), bool) if censored is None else np.asarray(censored, bool)
    observed = ~censored
    total = float(np.sum(nb2_logpmf(y[observed], r, mu[observed])))
    if censored.any():
        total += float(np.sum(nb2_log_unpublished(min_count, r, mu[censored], zeros_published)))
    return total


def fit_censored_nb2(y, X, offset, censored, min_count, zeros_published=False):
    """Maximum likelihood of `nb2_loglike` (scipy.optimize BFGS from the Poisson fit of
    the uncensored rows): (coefficients, model standard errors from the inverse numerical
    Hessian, alpha, converged)."""
    from scipy.optimize import minimize
    from statsmodels.tools.numdiff import approx_hess3

    y, X, offset = np.asarray(y, float), np.asarray(X, float), np.asarray(offset, float)
    observed = ~np.asarray(censored, bool)
    start_beta, *_ = np.linalg.lstsq(X[observed], np.log(y[observed] + 0.5) - offset[observed], rcond=None)
    start = np.append(start_beta, 0.0)

    def negative(params):
        return -nb2_loglike(params, y, X, offset, censored, min_count, zeros_published)

    result = minimize(negative, start, method="BFGS", options={"gtol": 1e-7, "maxiter": 2000})
    hessian = approx_hess3(result.x, negative)
    try:
        covariance = np.linalg.inv(hessian)
        se = np.sqrt(np.diag(covariance))[:-1]
    except np.linalg.LinAlgError:
        se = np.full(X.shape[1], np.nan)
    # BFGS often stops with "precision loss" at the optimum: a small gradient counts too
    converged = bool(result.success) or float(np.max(np.abs(result.jac))) < 1e-3
    return result.x[:-1], se, math.exp(result.x[-1]), converged


# --- fits ----------------------------------------------------------------------------------


def _design(frame, terms, city_effects=False):
    columns = [np.ones(len(frame))] + [frame[term].to_numpy(float) for term in terms]
    X = np.column_stack(columns)
    if city_effects:
        X = np.column_stack([X, city_dummies(frame["cities"])])
    return X


def _rows(model, names, fit, se_type, n, alpha, note, cluster_count=None, min_clusters=10):
    rows = []
    withheld = se_type == "cluster_dep" and cluster_count is not None and cluster_count < min_clusters
    for position, name in enumerate(names):
        coef = float(fit.params[position]) if fit is not None else math.nan
        se = float(fit.bse[position]) if fit is not None and not withheld else math.nan
        pvalue = float(fit.pvalues[position]) if fit is not None and not withheld else math.nan
        text = note
        if withheld:
            text = "; ".join(
                filter(None, [note, f"{cluster_count} departments, fewer than inference.min_clusters = {min_clusters}: "
                                    "clustered standard errors not reported"])
            )
        rows.append(
            {"model": model, "term": name, "coef": coef, "se": se, "pvalue": pvalue, "se_type": se_type, "n": n,
             "alpha": alpha, "note": text}
        )
    return rows


def _fit_both(make_model, groups, start=None):
    """(model fit, department-clustered fit) of a statsmodels count model (from `start`
    when given); None when the fit fails or does not converge."""
    import warnings

    fits = []
    for cov in ({}, {"cov_type": "cluster", "cov_kwds": {"groups": pd.factorize(pd.Series(groups).astype(str))[0]}}):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = make_model().fit(disp=0, maxiter=300, start_params=start, **cov)
                if not fit.mle_retvals.get("converged", True):
                    fit = make_model().fit(disp=0, maxiter=2000, method="bfgs", start_params=start, **cov)
                if not (fit.mle_retvals.get("converged", True) and np.isfinite(fit.params).all()):
                    fit = None
        except (np.linalg.LinAlgError, ValueError):
            fit = None
        fits.append(fit)
    return fits


def count_model_rows(frame, note="", min_clusters=10):
    """Rows of the NB2, positive-count and hurdle models over `frame` (count, exposure,
    log_cpc_rate, log_pop, cities, code_dep)."""
    from statsmodels.discrete.discrete_model import Logit, NegativeBinomial
    from statsmodels.discrete.truncated_model import TruncatedLFNegativeBinomialP

    frame = frame[np.isfinite(frame[["count", "exposure"]].to_numpy(float)).all(axis=1)].reset_index(drop=True)
    positive = frame[frame["count"] > 0].reset_index(drop=True)
    specifications = [
        # model, data, terms, city effects, kind
        ("nb2_rate", frame, ["log_cpc_rate"], False, "nb2"),
        ("nb2_rate_pop", frame, ["log_cpc_rate", "log_pop"], False, "nb2"),
        ("nb2_rate_pop_city", frame, ["log_cpc_rate", "log_pop"], True, "nb2"),
        ("nb2_positive", positive, ["log_cpc_rate", "log_pop"], False, "nb2"),
        ("hurdle_any", frame, ["log_cpc_rate", "log_pop"], False, "logit"),
        ("hurdle_positive", positive, ["log_cpc_rate", "log_pop"], False, "truncated"),
    ]
    rows = []
    for model, data, terms, city_effects, kind in specifications:
        names = ["const", *terms]
        X = _design(data, terms, city_effects)
        y = data["count"].to_numpy(float)
        offset = np.log(data["exposure"].to_numpy(float))
        model_note = note
        if city_effects:
            model_note = "; ".join(filter(None, [note, f"{X.shape[1] - len(names)} city fixed effects not listed"]))
        enough = len(data) > X.shape[1] + 1 and np.linalg.matrix_rank(X) == X.shape[1]
        why = f"not estimable on {len(data)} communes"
        if kind == "nb2":
            def make(y=y, X=X, offset=offset):
                return NegativeBinomial(y, X, loglike_method="nb2", offset=offset)
        elif kind == "logit":
            def make(y=y, X=X):
                return Logit((y > 0).astype(float), X)
            both = 0 < (y > 0).sum() < len(y)
            if enough and not both:
                enough, why = False, "every commune has at least one offence (or none has): no zero part to model"
        else:
            def make(y=y, X=X, offset=offset):
                return TruncatedLFNegativeBinomialP(y, X, offset=offset, truncation=0, p=2)
        start = None
        if kind == "truncated" and enough:
            # from the untruncated NB2 fit: the default start diverges on these data
            start = _fit_both(lambda y=y, X=X, offset=offset: NegativeBinomial(y, X, loglike_method="nb2", offset=offset),
                              data["code_dep"])[0]
            start = None if start is None else start.params
        fits = _fit_both(make, data["code_dep"], start) if enough else [None, None]
        clusters = int(data["code_dep"].nunique())
        for se_type, fit in zip(("model", "cluster_dep"), fits):
            alpha = float(fit.params[-1]) if fit is not None and kind != "logit" else math.nan
            text = model_note if fit is not None or not enough else "; ".join(filter(None, [model_note, "fit failed"]))
            if not enough:
                text = "; ".join(filter(None, [model_note, why]))
            rows += _rows(model, names, fit, se_type, len(data), alpha, text, clusters, min_clusters)
    return rows


def censored_rows(years_frame, min_count, zeros_published=False):
    """Rows of `nb2_censored_years` over the commune-years (year_counts); an unpublished
    year counted fewer than `min_count` offences (with `zeros_published` 1 to
    min_count - 1)."""
    names = ["const", "log_cpc_rate", "log_pop"]
    data = years_frame[np.isfinite(years_frame["exposure"].to_numpy(float))].reset_index(drop=True)
    censored = ~data["published"].to_numpy(bool)
    X = _design(data, names[1:])
    y = data["count"].fillna(0).to_numpy(float)
    coef, se, alpha, converged = fit_censored_nb2(
        y, X, np.log(data["exposure"].to_numpy(float)), censored, min_count, zeros_published
    )
    bound = f"1 to {min_count - 1}" if zeros_published else f"fewer than {min_count}"
    note = (
        f"{int(censored.sum())} of {len(data)} commune-years unpublished, each counted as {bound} "
        "offences (the publication threshold" + ("; zero years are published)" if zeros_published else ")")
    )
    if not converged:
        note += "; the optimiser did not report convergence"
    rows = []
    for position, name in enumerate(names):
        z = coef[position] / se[position] if se[position] > 0 else math.nan
        rows.append(
            {"model": "nb2_censored_years", "term": name, "coef": float(coef[position]), "se": float(se[position]),
             "pvalue": float(2 * normal_sf(abs(z))) if np.isfinite(z) else math.nan, "se_type": "model",
             "n": len(data), "alpha": alpha, "note": note}
        )
    return rows


def count_models_table(estimates, years=None, *, min_count=5, min_clusters=10, min_coverage=0.0,
                       zeros_published=False):
    """count_models.csv. Without `years` (table mode) the counts are reconstructed from
    sv_com_17_21 (approximate, said in `note`) and the publication rule is not used;
    with the commune-year table the published years are summed and the censored
    commune-year model (the rule's `min_count`, `zeros_published`) is added."""
    communes = commune_frame(estimates, min_coverage)
    if years is None:
        rows = count_model_rows(table_counts(communes), TABLE_NOTE, min_clusters)
    else:
        rows = count_model_rows(summed_counts(communes, years), "counts summed over the published years", min_clusters)
        rows += censored_rows(year_counts(communes, years), min_count, zeros_published)
    return pd.DataFrame(rows, columns=COUNT_COLUMNS)
