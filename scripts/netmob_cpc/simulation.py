"""The simulation study: how often each association test rejects when the outcome is
simulated under known mechanisms, on communes resampled from the run's own table.

Each data set resamples `n` communes with replacement as whole tuples (population, c, Tor
per inhabitant, city) from the run's communes (`source_communes`), so that the size
distribution, the link of c with size and the cities' differences are the data's. The
workflow's quantities follow as in the estimate stage: cpc = Tor x c, cpc_per_1000 and
tor_per_1000 per 1,000 inhabitants. The outcome is simulated as yearly counts of recorded
victims over the crime years (and the years before them that the publication window
looks back on):

    log mean per year = ln(pop / 1000) + a + b ln pop [+ city effect] [+ planted effect]
    counts per year   = Poisson(mean x g), g ~ Gamma(1 / alpha, alpha) per commune

so that a commune's total over the crime years is negative binomial (NB2) with dispersion
alpha: the model `calibrate` fits to the run's own outcome. sv = the mean over the crime
years of count / pop x 1000, over the published years only in the censored scenarios
(`netmob_cpc.publication.published`; no published year: the commune is not tested).

Scenarios (`SCENARIOS`, one line each in report/simulation.rst):
    null                b = 0, a and alpha fitted without size: nothing links the outcome
                        to anything; a valid test rejects at its nominal level.
    size_confounded     a, b and alpha fitted: the outcome follows commune size only.
    censored            size_confounded, then the publication rule.
    city_clustered      censored, plus a normal city effect on the log rate (sd from the
                        between-city variance of the data's log rates).
    c_tied_to_size      censored, with c replaced by its fit on ln pop and city: c carries
                        size and city only.
    planted_confounded  censored size_confounded plus a planted effect `planted_slope` x
                        (ln cpc_per_1000 - its mean over the source communes) on the log
                        rate: the power scenario.

Tests per data set (p-values from netmob_cpc.rankstats and netmob_cpc.statistics): the raw
Spearman of ln cpc_per_1000 with sv, the partial Spearman given population (linear in
rank(pop), and on a spline of ln pop as association_adjusted.csv), the regression cpc_on_sv (ln cpc_per_1000 ~ 1 + sv + ln pop, HC3 p-value of sv, computed here
with NumPy: `hc3_pvalue`) and the three tests comparing rho(cpc, sv) with rho(Tor, sv).

Every data set has its own random stream keyed by (seed, scenario, replicate): the tables
do not depend on the number of worker processes.
"""

import math

import numpy as np
import pandas as pd

from netmob_cpc.files import InputError
from netmob_cpc.publication import published
from netmob_cpc.rankstats import as_float, partial_spearman, partial_spearman_design, spearman_pair, t_sf
from netmob_cpc.rates import usable_population
from netmob_cpc.statistics import (
    CRIME, population_spline, seed_dependent_corr_test, steiger_z_test, williams_test,
)

SCENARIOS = ("null", "size_confounded", "censored", "city_clustered", "c_tied_to_size", "planted_confounded")
CENSORED = {"censored", "city_clustered", "c_tied_to_size", "planted_confounded"}
TESTS = (
    "spearman_cpc", "partial_spearman_cpc", "partial_population_spline", "cpc_on_sv", "dependent_corr_seed",
    "williams", "steiger",
)
ALPHAS = (0.01, 0.05, 0.10)
COLUMNS = ["scenario", "test", "alpha", "replicates", "rejection_rate", "mc_se"]
MOMENT_NAMES = ["zero_share", "rho_pop_outcome", "rho_c_pop", "rho_c_outcome", "pop_q50", "pop_q90", "pop_q99"]
MOMENT_COLUMNS = ["scenario", "replicates", *MOMENT_NAMES]
POOLS = ("tested", "all")
MIN_CALIBRATION = 10  # communes with an outcome the NB2 calibration needs


def _check_scenario(scenario):
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario {scenario!r} is not one of {', '.join(SCENARIOS)}")


def scenario_stream(seed, scenario, replicate):
    """The random stream of one data set: keyed by (seed, scenario, replicate) only."""
    _check_scenario(scenario)
    return np.random.default_rng([int(seed), SCENARIOS.index(scenario), int(replicate)])


# --- the communes resampled ------------------------------------------------------------------


def source_communes(estimates, tested, tor_column, pool="tested"):
    """The tuples the study resamples: a DataFrame (pop, c, tor_per_capita, city, sv).

    `estimates`: the direction's estimate table; `tested`: its tested communes
    (`netmob_cpc.statistics.select_tested`). `pool` "tested" resamples the tested
    communes (the ones the data's tests and moments describe), "all" every commune of
    the table. Either way a commune needs a usable population, a finite c above zero and
    a finite Tor volume above zero (cpc_per_1000 is logged). `sv` is the commune's
    sv_com_17_21 (NaN when not tested), used only to calibrate the outcome.
    """
    if pool not in POOLS:
        raise ValueError(f"simulation.pool {pool!r} is not one of {', '.join(POOLS)}")
    table = tested if pool == "tested" else estimates
    pop = as_float(table["pop"])
    c = as_float(table["c"])
    tor = as_float(table[tor_column])
    usable = usable_population(pop).to_numpy() & np.isfinite(c) & (c > 0) & np.isfinite(tor) & (tor > 0)
    city = table["cities"].astype(str).to_numpy() if "cities" in table.columns else np.full(len(table), "all")
    sv = as_float(table[CRIME])
    if pool == "all":
        sv = np.where(table.index.isin(tested.index), sv, np.nan)
    frame = pd.DataFrame(
        {"pop": pop, "c": c, "tor_per_capita": tor / np.where(pop > 0, pop, np.nan), "city": city, "sv": sv}
    )
    return frame[usable].reset_index(drop=True)


def c_fitted_on_size(source):
    """c replaced by exp of its OLS fit of ln c on ln pop and city indicators (over the
    source communes): a c that carries size and city only."""
    log_c = np.log(source["c"].to_numpy())
    design = _size_city_design(source)
    coef, *_ = np.linalg.lstsq(design, log_c, rcond=None)
    return np.exp(design @ coef)


def _size_city_design(source):
    cities = pd.Categorical(source["city"])
    dummies = np.eye(len(cities.categories))[cities.codes][:, 1:]
    return np.column_stack([np.ones(len(source)), np.log(source["pop"].to_numpy()), dummies])


# --- calibration -------------------------------------------------------------------------------


def calibrate(source, crime_years, path="the estimate table"):
    """The outcome model fitted to the source communes' own outcome (approximate).

    Counts over the crime years are reconstructed as round(years x sv x pop / 1000) from
    the tested communes' sv_com_17_21 (which averages the published years only, so this
    is an approximation) and fitted by an NB2 regression (statsmodels' discrete
    NegativeBinomial) with exposure years x pop / 1000: on ln pop (`a`, `b`, `alpha`) and
    on a constant only (`a_null`, `alpha_null`). `city_sd`: the between-city standard
    deviation of the log rate around the size fit, by moments (the variance of the city
    means of ln((count + 0.5) / fitted count) less their mean sampling variance, at least
    0). Returns a dict of floats plus `n` (communes fitted). An InputError names `path`
    when fewer than 10 communes have an outcome, or when the outcome is zero everywhere.
    """
    import warnings

    from statsmodels.discrete.discrete_model import NegativeBinomial

    known = source[np.isfinite(source["sv"].to_numpy())]
    if len(known) < MIN_CALIBRATION or not (known["sv"] > 0).any():
        raise InputError(
            f"{path}: the simulation study calibrates its outcome on the tested communes with a usable "
            f"population, c and Tor; {len(known)} have one, {int((known['sv'] > 0).sum())} of them above "
            f"zero (at least {MIN_CALIBRATION}, one above zero, are needed). Run it on a larger data set"
        )
    pop = known["pop"].to_numpy()
    counts = np.round(crime_years * known["sv"].to_numpy() * pop / 1000)
    exposure = crime_years * pop / 1000
    log_pop = np.log(pop)

    def fit(exog):
        model = NegativeBinomial(counts, exog, loglike_method="nb2", exposure=exposure)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence is checked below
            result = model.fit(disp=0, maxiter=500)
        params = np.asarray(result.params, float)
        if not (np.isfinite(params).all() and result.mle_retvals.get("converged", True)):
            raise InputError(
                f"{path}: the NB2 fit of the outcome on population did not converge (parameters "
                f"{params.round(4).tolist()}); the simulation study cannot be calibrated on this table"
            )
        return params

    size = fit(np.column_stack([np.ones(len(pop)), log_pop]))
    null = fit(np.ones((len(pop), 1)))
    fitted = exposure * np.exp(size[0] + size[1] * log_pop)
    residual = pd.Series(np.log((counts + 0.5) / fitted))
    groups = residual.groupby(known["city"].to_numpy())
    means, variances, sizes = groups.mean(), groups.var(ddof=1), groups.size()
    sampling = (variances / sizes)[sizes > 1]
    between = float(means[sizes > 1].var(ddof=1) - sampling.mean()) if (sizes > 1).sum() > 1 else 0.0
    return {
        "a": float(size[0]), "b": float(size[1]), "alpha": float(size[2]),
        "a_null": float(null[0]), "alpha_null": float(null[1]),
        "city_sd": math.sqrt(max(between, 0.0)), "n": int(len(known)),
    }


# --- one data set ------------------------------------------------------------------------------


def yearly_counts(rng, log_mean, alpha, years):
    """Counts (int64[n, years]): Poisson(exp(log_mean) x g) per year with one gamma
    multiplier g of mean 1 and variance alpha per commune (the total is NB2)."""
    if alpha > 0:
        shape = 1.0 / alpha
        multiplier = rng.gamma(shape, 1.0 / shape, size=len(log_mean))
    else:
        multiplier = np.ones(len(log_mean))
    return rng.poisson((np.exp(log_mean) * multiplier)[:, None] * np.ones((1, years)))


def outcome_from_counts(counts, pop, crime_years, censor, min_count, window_years, zeros_published=False):
    """sv per commune from yearly counts (the last `crime_years` columns are the crime
    years, the columns before them earlier years the window looks back on): the mean
    over the crime years of count / pop x 1000; with `censor`, over the published years
    only (`netmob_cpc.publication.published`), NaN when none is published."""
    counts = np.asarray(counts)
    rates = counts[:, -crime_years:] / np.asarray(pop, float)[:, None] * 1000
    if not censor:
        return rates.mean(axis=1)
    shown = published(counts, min_count, window_years, zeros_published)[:, -crime_years:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(shown, rates, 0.0).sum(axis=1) / np.where(shown.any(axis=1), shown.sum(axis=1), np.nan)


def simulate(scenario, rng, source, n, model, *, crime_years=5, min_count=5, window_years=3,
             zeros_published=False, planted_slope=0.0, c_tied=None, log_cpc_centre=0.0):
    """One data set of `n` communes: a dict of arrays (index, pop, c, city, tor_per_1000,
    cpc_per_1000, sv), sv NaN where the commune is not tested."""
    _check_scenario(scenario)
    index = rng.integers(0, len(source), size=n)
    pop = source["pop"].to_numpy()[index]
    c = (c_tied if scenario == "c_tied_to_size" else source["c"].to_numpy())[index]
    city = source["city"].to_numpy()[index]
    tor_per_1000 = source["tor_per_capita"].to_numpy()[index] * 1000
    cpc_per_1000 = tor_per_1000 * c
    log_pop = np.log(pop)
    if scenario == "null":
        log_mean, alpha = np.log(pop / 1000) + model["a_null"], model["alpha_null"]
    else:
        log_mean, alpha = np.log(pop / 1000) + model["a"] + model["b"] * log_pop, model["alpha"]
    if scenario == "city_clustered":
        names, codes = np.unique(city, return_inverse=True)
        log_mean = log_mean + rng.normal(0, model["city_sd"], size=len(names))[codes]
    if scenario == "planted_confounded":
        log_mean = log_mean + planted_slope * (np.log(cpc_per_1000) - log_cpc_centre)
    years = crime_years + window_years - 1
    counts = yearly_counts(rng, log_mean, alpha, years)
    sv = outcome_from_counts(counts, pop, crime_years, scenario in CENSORED, min_count, window_years,
                             zeros_published)
    return {"index": index, "pop": pop, "c": c, "city": city, "tor_per_1000": tor_per_1000,
            "cpc_per_1000": cpc_per_1000, "sv": sv}


# --- tests on one data set ---------------------------------------------------------------------


def hc3_pvalue(y, X, term):
    """Two-sided p-value of coefficient `term` of the OLS of y on X (X holds the constant)
    with the HC3 covariance, t with n - k degrees of freedom: what statsmodels'
    OLS(y, X).fit(cov_type="HC3", use_t=True) gives, by hand (NaN when X is singular)."""
    y, X = np.asarray(y, float), np.asarray(X, float)
    n, k = X.shape
    if n <= k:
        return math.nan
    q, r = np.linalg.qr(X)
    if np.min(np.abs(np.diag(r))) <= 1e-10 * np.max(np.abs(np.diag(r))):
        return math.nan
    r_inv = np.linalg.inv(r)
    beta = r_inv @ (q.T @ y)
    residual = y - X @ beta
    leverage = np.einsum("ij,ij->i", q, q)
    weights = (residual / (1 - leverage)) ** 2
    bread = r_inv @ r_inv.T  # (X'X)^-1
    meat = (X * weights[:, None]).T @ X
    variance = bread @ meat @ bread
    se = math.sqrt(variance[term, term])
    if not se > 0:
        return math.nan
    return float(2 * t_sf(abs(beta[term] / se), n - k))


def replicate_pvalues(data, spline_df=6):
    """{test: p-value} on one data set, over its tested communes (finite sv), as the
    workflow's association tests: ln cpc_per_1000 and ln tor_per_1000 against sv (zeros
    included); the dependent-correlation tests compare r_ac = rho(cpc, sv) with
    r_ab = rho(Tor, sv), r_bc = rho(Tor, cpc), as the seed's CPC-Tor row;
    `partial_population_spline` residualises both ranks on a natural cubic spline of ln pop
    with `spline_df` degrees of freedom, as association_adjusted.csv does."""
    tested = np.isfinite(data["sv"])
    sv, pop = data["sv"][tested], data["pop"][tested]
    log_cpc = np.log(data["cpc_per_1000"][tested])
    log_tor = np.log(data["tor_per_1000"][tested])
    rho_cpc, p_spearman, n = spearman_pair(log_cpc, sv)
    rho_tor, _, _ = spearman_pair(log_tor, sv)
    r_bc, _, _ = spearman_pair(log_tor, log_cpc)
    return {
        "spearman_cpc": p_spearman,
        "partial_spearman_cpc": partial_spearman(log_cpc, sv, pop)[1],
        "partial_population_spline": partial_spearman_design(log_cpc, sv, population_spline(np.log(pop), spline_df))[1],
        "cpc_on_sv": hc3_pvalue(log_cpc, np.column_stack([np.ones(len(sv)), sv, np.log(pop)]), 1),
        "dependent_corr_seed": seed_dependent_corr_test(rho_tor, rho_cpc, r_bc, n)[1],
        "williams": williams_test(rho_tor, rho_cpc, r_bc, n)[1],
        "steiger": steiger_z_test(rho_tor, rho_cpc, r_bc, n)[1],
    }


def moments(pop, c, sv):
    """The moments compared with the data's (over the communes with a finite sv): share of
    zero outcomes, Spearman's rho of (pop, sv), (c, pop), (c, sv), and the 50th, 90th
    and 99th percentiles of population (NumPy's linear interpolation)."""
    tested = np.isfinite(as_float(sv))
    pop, c, sv = as_float(pop)[tested], as_float(c)[tested], as_float(sv)[tested]
    if not len(sv):
        return dict.fromkeys(MOMENT_NAMES, math.nan)
    q50, q90, q99 = np.percentile(pop, [50, 90, 99])
    return {
        "zero_share": float(np.mean(sv == 0)),
        "rho_pop_outcome": spearman_pair(pop, sv)[0],
        "rho_c_pop": spearman_pair(c, pop)[0],
        "rho_c_outcome": spearman_pair(c, sv)[0],
        "pop_q50": float(q50), "pop_q90": float(q90), "pop_q99": float(q99),
    }


# --- the study ---------------------------------------------------------------------------------


def run_replicates(scenario, replicates, *, seed, source, n, model, settings, spline_df=6):
    """[(replicate, {test: p}, moments, extra moments)] for the data sets numbered
    `replicates` of one scenario."""
    c_tied = c_fitted_on_size(source) if scenario == "c_tied_to_size" else None
    results = []
    for replicate in replicates:
        data = simulate(scenario, scenario_stream(seed, scenario, replicate), source, n, model,
                        c_tied=c_tied, **settings)
        results.append((replicate, replicate_pvalues(data, spline_df), moments(data["pop"], data["c"], data["sv"]),
                        extra_moments(data)))
    return results


def extra_moments(data):
    """For the log: the tested communes and the raw rho of ln cpc_per_1000 and of
    ln tor_per_1000 with sv."""
    return {
        "n_tested": int(np.isfinite(data["sv"]).sum()),
        "rho_cpc_outcome": spearman_pair(np.log(data["cpc_per_1000"]), data["sv"])[0],
        "rho_tor_outcome": spearman_pair(np.log(data["tor_per_1000"]), data["sv"])[0],
    }


def extra_moments_table(extras):
    """Means over the replicates of `extra_moments`, one row per scenario (for the log)."""
    return pd.DataFrame({scenario: pd.DataFrame(values).mean() for scenario, values in extras.items()}).T


def rejection_table(pvalues, alphas=ALPHAS):
    """simulation.csv from per-replicate p-values {scenario: [{test: p}, ...]}: one row
    per scenario, test and alpha. `replicates` counts the data sets where the test gave a
    p-value (a NaN is not counted), `rejection_rate` the share of them with p < alpha,
    `mc_se` = sqrt(rate (1 - rate) / replicates), its Monte-Carlo standard error."""
    rows = []
    for scenario, per_replicate in pvalues.items():
        for test in TESTS:
            values = np.array([p[test] for p in per_replicate], dtype="float64")
            finite = values[np.isfinite(values)]
            for alpha in alphas:
                rate = float(np.mean(finite < alpha)) if len(finite) else math.nan
                rows.append({"scenario": scenario, "test": test, "alpha": alpha, "replicates": len(finite),
                             "rejection_rate": rate, "mc_se": monte_carlo_error(rate, len(finite))})
    return pd.DataFrame(rows, columns=COLUMNS)


def monte_carlo_error(rate, replicates):
    """Standard error of a rejection rate estimated from `replicates` data sets:
    sqrt(p (1 - p) / R) (NaN without replicates)."""
    return math.sqrt(rate * (1 - rate) / replicates) if replicates else math.nan


def moments_table(per_scenario, data_moments):
    """simulation_moments.csv: one row per scenario (means over its replicates of
    `moments`, NaN skipped) and a row `data` (the data's tested communes, replicates
    empty)."""
    rows = []
    for scenario, values in per_scenario.items():
        frame = pd.DataFrame(values, columns=MOMENT_NAMES)
        rows.append({"scenario": scenario, "replicates": len(frame), **frame.mean(skipna=True).to_dict()})
    rows.append({"scenario": "data", "replicates": None, **data_moments})
    table = pd.DataFrame(rows, columns=MOMENT_COLUMNS)
    table["replicates"] = table["replicates"].astype("Int64")
    return table


def run_study(source, model, *, replicates, seed, n, settings, spline_df=6, scenarios=SCENARIOS, workers=1,
              chunk=250):
    """The whole study: (rejection table, moments per scenario {scenario: [moments]},
    extra moments per scenario {scenario: [extra_moments]}).

    `settings`: crime_years, min_count, window_years, zeros_published, planted_slope and log_cpc_centre
    (passed to `simulate`). With workers > 1 the replicates run in that many processes in
    blocks of `chunk`; the result does not depend on it.
    """
    tasks = [(scenario, range(start, min(start + chunk, replicates)))
             for scenario in scenarios for start in range(0, replicates, chunk)]
    common = dict(seed=seed, source=source, n=n, model=model, settings=dict(settings), spline_df=spline_df)
    if workers > 1 and len(tasks) > 1:
        import concurrent.futures

        with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run_replicates, scenario, block, **common) for scenario, block in tasks]
            outcomes = [future.result() for future in futures]
    else:
        outcomes = [run_replicates(scenario, block, **common) for scenario, block in tasks]
    pvalues = {scenario: [] for scenario in scenarios}
    found = {scenario: [] for scenario in scenarios}
    extras = {scenario: [] for scenario in scenarios}
    for (scenario, _), results in zip(tasks, outcomes):
        for _, p, m, extra in results:
            pvalues[scenario].append(p)
            found[scenario].append(m)
            extras[scenario].append(extra)
    return rejection_table(pvalues), found, extras
