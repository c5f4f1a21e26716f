"""Is the association specific? Falsification tests of rho(log cpc_per_1000, sv_com_17_21).

cpc = Tor x c. If the correction factor c carried information about recorded sexual
violence beyond the communes' size and traffic volume, replacing it with the c of other
communes should weaken the association; if the crime outcome's association with cpc came
from the communes' size alone, an outcome that depends on size only would reproduce it.

- Deterministic rows: c alone against the outcome, and Tor times the city's mean c (the
  factor with its within-city variation removed).
- Permutations: c shuffled among the tested communes of the same city, of the same city and
  population quintile (c follows size: this keeps size and asks what c says beyond it), and
  of all cities; the statistic is rho(log(Tor x c' x 1000 / pop), sv_com_17_21).
- Size-only reference (a parametric bootstrap): yearly counts from a negative binomial
  (NB2) whose mean depends on ln population only, fitted by maximum likelihood to the run's
  own outcome with the publication rule as censoring (an unpublished commune-year counts as
  "fewer than min_count", with crime_publication.zeros_published "between 1 and
  min_count - 1"), drawn again, passed through the same rule
  (netmob_cpc.publication.published) and averaged into sv_com_17_21 as the crime stage
  does; every headline statistic is recomputed on each replicate (rows size_only: over the
  communes each replicate publishes).
- The same draws over the data's tested communes (rows size_only_tested): which communes
  are tested is kept as in the data, and a drawn commune with no published year in the
  window counts as a rate of 0 (as communes without published offences appear in the
  authors' table). It asks: given which communes are tested, could population alone
  produce the association?

Every reference row reports the observed value, the reference mean and 2.5 / 97.5 %
quantiles and the one-sided p_upper = (1 + #{reference >= observed}) / (1 + replicates).
Ranks of many replicates are computed at once (columns of one matrix).
"""

import math

import numpy as np
import pandas as pd

from netmob_cpc.estimates import CRIME_COLUMNS
from netmob_cpc.files import InputError
from netmob_cpc.publication import nb2_log_unpublished, nb2_logpmf, published, unpublished_range
from netmob_cpc.rankstats import as_float
from netmob_cpc.rates import usable_population
from netmob_cpc.statistics import CRIME, adjusted_association_table, select_tested, williams_test

FALSIFICATION_COLUMNS = [
    "test", "statistic", "observed", "reference_mean", "reference_q025", "reference_q975",
    "p_upper", "replicates", "seed",
]
NEGATIVE_CONTROL_COLUMNS = ["class", "x", "analysis", "rho", "pvalue", "n"]
PERMUTATION_TESTS = {
    "permuted_within_city": "city",
    "permuted_within_city_size_quintile": "city_quintile",
    "permuted_across_cities": "all",
}
SIZE_ONLY_STATISTICS = [
    "rho_cpc", "rho_tor", "rho_gap_cpc_minus_tor", "williams_t_cpc_minus_tor",
    "rho_cpc_outcome_nonzero", "rho_cpc_partial_population", "rho_c",
    # how well the size-only model reproduces the outcome itself (a model check)
    "n_tested", "zero_share", "rho_pop_outcome",
]
# the same draws over the data's tested communes: n_tested is the data's, not a statistic
SIZE_ONLY_TESTED_STATISTICS = [key for key in SIZE_ONLY_STATISTICS if key != "n_tested"]
SIZE_ONLY_TESTS = {"size_only": SIZE_ONLY_STATISTICS, "size_only_tested": SIZE_ONLY_TESTED_STATISTICS}
CHUNK = 256  # replicates per block of the rank matrices (bounds memory)


# --- rank correlations of many columns at once --------------------------------------------


def _columns(values, n):
    values = np.asarray(values, dtype="float64")
    return values.reshape(n, -1) if values.ndim == 1 else values


def _ranks(values, mask):
    """Average ranks (1-based) of each column among its masked rows; NaN elsewhere.

    A fixed column broadcast across the matrix (a stride of 0: the crime rate against
    permuted factors, the population against simulated outcomes) with the same rows in
    every column is ranked once."""
    if values.shape[1] > 1 and values.strides[1] == 0 and (mask == mask[:, :1]).all():
        return np.broadcast_to(_ranks(values[:, :1], mask[:, :1]), values.shape)
    return pd.DataFrame(np.where(mask, values, np.nan)).rank(axis=0, method="average").to_numpy()


def _pearson(a, b, mask):
    count = mask.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        da = np.where(mask, a - np.nansum(np.where(mask, a, 0.0), axis=0) / count, 0.0)
        db = np.where(mask, b - np.nansum(np.where(mask, b, 0.0), axis=0) / count, 0.0)
        rho = (da * db).sum(axis=0) / np.sqrt((da * da).sum(axis=0) * (db * db).sum(axis=0))
    return np.where(count >= 3, np.clip(rho, -1.0, 1.0), np.nan)


def spearman_columns(x, y, mask=None):
    """Spearman's rho of each column pair of x and y (n values, or n x R), over the rows
    where both are finite (and `mask`, if given): the Pearson correlation of their average
    ranks, as rankstats.spearman_pair computes it for one pair. Returns (rho, n) arrays of R.
    Fewer than 3 rows or a constant column give NaN."""
    n = len(x)
    x, y = np.broadcast_arrays(_columns(x, n), _columns(y, n))
    use = np.isfinite(x) & np.isfinite(y)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        use = use & np.broadcast_to(mask.reshape(n, -1) if mask.ndim == 1 else mask, use.shape)
    return _pearson(_ranks(x, use), _ranks(y, use), use), use.sum(axis=0)


def partial_spearman_columns(x, y, z):
    """Rank-based partial correlation of x and y given z, column by column (as
    rankstats.partial_spearman: the correlation of the residuals of rank(x) and rank(y),
    each regressed with an intercept on rank(z), over the rows where all three are finite)."""
    n = len(x)
    x, y, z = np.broadcast_arrays(_columns(x, n), _columns(y, n), _columns(z, n))
    use = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
    count = use.sum(axis=0)
    rz = _ranks(z, use)
    residuals = []
    with np.errstate(divide="ignore", invalid="ignore"):
        cz = np.where(use, rz - np.nansum(rz, axis=0) / count, 0.0)
        for values in (x, y):
            r = _ranks(values, use)
            cr = np.where(use, r - np.nansum(r, axis=0) / count, 0.0)
            slope = (cr * cz).sum(axis=0) / (cz * cz).sum(axis=0)
            residuals.append(np.where(use, cr - slope * cz, 0.0))
    rho = _pearson(residuals[0], residuals[1], use)
    return np.where(count >= 4, rho, np.nan), count


# --- the run's communes ---------------------------------------------------------------------


def commune_arrays(tested, tor_app):
    """Per tested commune: log cpc_per_1000, log tor_per_1000, c, Tor, pop, sv_com_17_21 and
    the city, as arrays (the logs as statistics.log_test_table takes them)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "log_cpc": np.log(as_float(tested["cpc_per_1000"])),
            "log_tor": np.log(as_float(tested["tor_per_1000"])),
            "c": as_float(tested["c"]),
            "tor": as_float(tested[tor_app]),
            "pop": as_float(tested["pop"]),
            "sv": as_float(tested[CRIME]),
            "city": tested["cities"].astype(str).to_numpy(),
        }


def log_cpc_rate(tor, c, pop):
    """log(Tor x c x 1000 / pop): log cpc_per_1000 for another c (NaN / -inf as numpy gives)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(tor, dtype="float64")[:, None] * _columns(c, len(tor)) * 1000.0
                      / np.asarray(pop, dtype="float64")[:, None])


def city_mean_factor(estimates):
    """Per commune of `estimates`: the mean c of its city's communes (those with a finite c)."""
    c = pd.Series(as_float(estimates["c"]), index=estimates.index)
    return c.groupby(estimates["cities"].astype(str)).transform("mean").to_numpy()


def deterministic_rows(estimates, tested, tor_app):
    """c_alone: rho(c, sv_com_17_21); tor_times_city_mean_c: rho(log(Tor x the city's mean
    c x 1000 / pop), sv_com_17_21), over the tested communes."""
    data = commune_arrays(tested, tor_app)
    city_c = pd.Series(city_mean_factor(estimates), index=estimates.index).loc[tested.index].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        city_rate = np.log(data["tor"] * city_c * 1000.0 / data["pop"])
    return {
        "c_alone": float(spearman_columns(data["c"], data["sv"])[0][0]),
        "tor_times_city_mean_c": float(spearman_columns(city_rate, data["sv"])[0][0]),
    }


# --- permutations of c --------------------------------------------------------------------


def size_quintiles(pop, groups):
    """Population quintile (0..4) of each commune within its group: floor(5 (rank - 1) / n)
    with the ranks (first occurrence first) of pop in the group."""
    frame = pd.DataFrame({"pop": np.asarray(pop, dtype="float64"), "group": np.asarray(groups)})
    rank = frame.groupby("group")["pop"].rank(method="first").to_numpy()
    size = frame.groupby("group")["pop"].transform("size").to_numpy()
    return np.floor(5 * (rank - 1) / size).astype(int)


def permutation_groups(data, kind):
    """Integer group of each commune for a permutation: 'city', 'city_quintile' or 'all'."""
    if kind == "all":
        return np.zeros(len(data["c"]), dtype=int)
    if kind == "city":
        return pd.factorize(data["city"])[0]
    if kind == "city_quintile":
        labels = pd.Series(data["city"]) + "|" + pd.Series(size_quintiles(data["pop"], data["city"])).astype(str)
        return pd.factorize(labels)[0]
    raise ValueError(f"unknown permutation group {kind!r}")


def permute_within(values, groups, draws, rng):
    """n x draws matrix: `values` shuffled within each group, independently per column
    (each group keeps its multiset of values)."""
    values = np.asarray(values)
    groups = np.asarray(groups)
    base = np.argsort(groups, kind="stable")
    keys = groups[:, None] + rng.random((len(values), draws))  # random order inside each group
    order = np.argsort(keys, axis=0, kind="stable")
    result = np.empty((len(values), draws), dtype=values.dtype)
    result[base, :] = values[order]
    return result


def permutation_reference(data, kind, permutations, rng):
    """rho(log(Tor x c' x 1000 / pop), sv) for `permutations` permutations c' of c."""
    groups = permutation_groups(data, kind)
    rhos = []
    for start in range(0, permutations, CHUNK):
        draws = min(CHUNK, permutations - start)
        shuffled = permute_within(data["c"], groups, draws, rng)
        rhos.append(spearman_columns(log_cpc_rate(data["tor"], shuffled, data["pop"]), data["sv"])[0])
    return np.concatenate(rhos) if rhos else np.empty(0)


# --- the size-only outcome: NB2 on ln population, fitted with the publication rule as censoring


def nb2_negative_loglik(params, x, counts, years, censored_x, censored_years, min_count, zeros_published=False):
    """Negative log-likelihood of the size-only NB2 model.

    Yearly count ~ NB2 with mean mu = exp(b0 + b1 x) and variance mu + alpha mu^2 (params
    b0, b1, log alpha). An observed total `counts` over `years` independent years is NB2
    with size years / alpha and mean years x mu; each censored (unpublished) year
    contributes log P(count < min_count), with `zeros_published` log P(1 <= count <
    min_count) (a zero would have been published)."""
    b0, b1, log_alpha = params
    size = math.exp(-log_alpha)
    loglik = 0.0
    if len(counts):
        mu = np.exp(b0 + b1 * x)
        loglik += nb2_logpmf(counts, years * size, years * mu).sum()
    if len(censored_x):
        mu = np.exp(b0 + b1 * censored_x)
        loglik += (censored_years * nb2_log_unpublished(min_count, size, mu, zeros_published)).sum()
    return -loglik


def fit_nb2(ln_pop, counts, years, censored_ln_pop, censored_years, min_count, zeros_published=False):
    """Maximum-likelihood NB2 of yearly counts on ln population, with censored years.

    `ln_pop`, `counts`, `years`: observed totals (a commune-year: years 1) and their number
    of years; `censored_ln_pop`, `censored_years`: communes with that many unpublished
    years (each known only to have counted fewer than `min_count`, and with
    `zeros_published` at least 1). Returns
    {"const", "log_pop", "alpha", "loglik", "converged", "observed", "censored"} with the
    coefficients on the natural scale (mean = exp(const + log_pop x ln pop))."""
    from scipy.optimize import minimize

    ln_pop, counts, years = (np.asarray(v, dtype="float64") for v in (ln_pop, counts, years))
    censored_ln_pop = np.asarray(censored_ln_pop, dtype="float64")
    censored_years = np.asarray(censored_years, dtype="float64")
    if len(counts) < 3 or not (counts > 0).any():
        raise InputError(
            f"size-only reference: {len(counts)} published count(s), {int((counts > 0).sum())} above zero; "
            "too few to fit the outcome's dependence on population"
        )
    lowest, highest = unpublished_range(min_count, zeros_published)
    if highest < lowest and censored_years.sum() > 0:
        rule = f"min_count is {min_count}" + (" with zeros_published" if zeros_published else "")
        raise InputError(
            f"config key 'crime_publication': {rule}: that rule publishes every year, but "
            f"{int(censored_years.sum())} commune-years are unpublished; set min_count to the crime file's threshold"
        )
    centre = float(np.concatenate([ln_pop, censored_ln_pop]).mean())
    x, cx = ln_pop - centre, censored_ln_pop - centre
    start = np.array([math.log(max(counts.sum() / years.sum(), 1e-3)), 1.0, 0.0])
    args = (x, counts, years, cx, censored_years, min_count, zeros_published)
    # BFGS (numerical gradient) for speed, then Nelder-Mead from there to settle the optimum
    # (BFGS often stops with "precision loss" a hair away from it)
    first = minimize(nb2_negative_loglik, start, args=args, method="BFGS")
    begin = first.x if np.isfinite(first.fun) else start
    result = minimize(nb2_negative_loglik, begin, args=args, method="Nelder-Mead",
                      options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 20000})
    b0, b1, log_alpha = result.x
    return {
        "const": float(b0 - b1 * centre),
        "log_pop": float(b1),
        "alpha": float(math.exp(log_alpha)),
        "loglik": float(-result.fun),
        "converged": bool(result.success),
        "observed": int(len(counts)),
        "censored": float(censored_years.sum()),
    }


def size_only_fit_data(eligible_pop, codes, *, years_table=None, outcome=None, n_years, min_count,
                       zeros_published=False):
    """The observations of the size-only fit, from the commune-year table (traffic mode)
    or reconstructed from the outcome (table mode), for the `eligible` communes
    (`codes`, `eligible_pop` their population).

    Traffic mode: each published commune-year is an observed count (the file's count, or
    round(rate x pop / 1000) when the file gives only a rate), each unpublished or absent
    crime year a censored year. Table mode (approximate): a commune with a finite
    sv_com_17_21 gives the total round(n_years x sv x pop / 1000) over n_years years; one
    without gives n_years censored years. A zero rate gives a total of 0, i.e. n_years
    zero years: with `zeros_published` that is what the rule publishes; without it a
    published zero year needs min_count or more offences in the window before, which the
    table cannot show (the note says how many such communes there are). Returns (dict of
    arrays for fit_nb2, note)."""
    bound = f"1 to {min_count - 1}" if zeros_published else f"fewer than {min_count}"
    ln_pop = np.log(np.asarray(eligible_pop, dtype="float64"))
    codes = pd.Series(codes).astype(str).to_numpy()
    if years_table is not None:
        position = pd.Series(np.arange(len(codes)), index=codes)
        rows = years_table[years_table["code_com"].astype(str).isin(position.index)]
        index = position.loc[rows["code_com"].astype(str)].to_numpy()
        flag = rows["published"].to_numpy(dtype=bool)
        count = as_float(rows["count"])
        from_rate = flag & ~np.isfinite(count) & np.isfinite(as_float(rows["rate"]))
        count = np.where(from_rate, np.round(as_float(rows["rate"]) * eligible_pop[index] / 1000.0), count)
        observed = flag & np.isfinite(count)
        published_years = np.bincount(index[observed], minlength=len(codes))
        censored = n_years - published_years
        note = (
            f"fitted on {int(observed.sum())} published commune-years and {int(censored.sum())} unpublished "
            f"or absent ones (censored: {bound}) of {len(codes)} communes"
            + (f"; {int(from_rate.sum())} counts from the rate" if from_rate.any() else "")
        )
        return {
            "ln_pop": ln_pop[index[observed]], "counts": count[observed], "years": np.ones(int(observed.sum())),
            "censored_ln_pop": ln_pop, "censored_years": censored.astype("float64"),
        }, note
    sv = np.asarray(outcome, dtype="float64")
    has = np.isfinite(sv)
    totals = np.round(n_years * sv[has] * np.asarray(eligible_pop)[has] / 1000.0)
    zeros = int((totals == 0).sum())
    note = (
        f"approximate: fitted on counts reconstructed as round({n_years} x sv_com_17_21 x pop / 1000) over "
        f"{n_years} years for {int(has.sum())} communes and {n_years} censored years ({bound}) for each of "
        f"{int((~has).sum())} communes without a published rate; {zeros} communes with a total of 0"
        + ("" if zeros_published or not zeros else
           f" (the rule in force publishes a zero year only after {min_count} or more offences in the "
           "window before: the reference rarely draws zero rates; crime_publication.zeros_published "
           "publishes zero years)")
    )
    return {
        "ln_pop": ln_pop[has], "counts": totals, "years": np.full(int(has.sum()), float(n_years)),
        "censored_ln_pop": ln_pop[~has], "censored_years": np.full(int((~has).sum()), float(n_years)),
    }, note


def simulate_size_only(fit, pop, n_years, replicates, rng, *, min_count, window_years, zeros_published=False):
    """replicates x communes matrix of sv_com_17_21 drawn from the fitted size-only model:
    yearly NB2 counts over the n_years crime years and the window_years - 1 years before
    them, the publication rule applied (`min_count`, `window_years`, `zeros_published`),
    the published rates per 1,000 averaged (NaN when no year is published)."""
    pop = np.asarray(pop, dtype="float64")
    mu = np.exp(fit["const"] + fit["log_pop"] * np.log(pop))
    size = 1.0 / fit["alpha"]
    earlier = window_years - 1
    counts = rng.negative_binomial(size, size / (size + mu)[None, :, None],
                                   size=(replicates, len(pop), n_years + earlier))
    shown = published(counts, min_count, window_years, zeros_published)[..., earlier:]
    rates = np.where(shown, counts[..., earlier:] * 1000.0 / pop[None, :, None], np.nan)
    with np.errstate(invalid="ignore"):
        total = np.where(shown, rates, 0.0).sum(axis=2)
        number = shown.sum(axis=2)
        return np.where(number > 0, total / np.maximum(number, 1), np.nan)


def outcome_over_tested(sv, tested):
    """Drawn outcomes (n x R) over the data's tested communes (`tested`: n booleans): a
    tested commune the draw leaves unpublished (NaN) gets the rate 0, the communes not
    tested in the data get NaN (left out of every statistic)."""
    sv = np.asarray(sv, dtype="float64")
    tested = np.asarray(tested, dtype=bool).reshape(len(sv), *([1] * (sv.ndim - 1)))
    return np.where(tested, np.where(np.isnan(sv), 0.0, sv), np.nan)


def headline_statistics(data, sv):
    """The headline statistics for outcome columns sv (n, or n x R), as statistics.py
    computes them: rho of log cpc and of log Tor per 1,000 with the outcome, their gap,
    Williams' t of rho(cpc) - rho(Tor) (over the communes where all three are finite),
    rho(cpc) over the communes with a non-zero outcome, the partial rho given population,
    and rho(c, outcome). Returns {statistic: array of R}."""
    n = len(data["c"])
    sv = _columns(sv, n)
    rho_cpc, _ = spearman_columns(data["log_cpc"], sv)
    rho_tor, _ = spearman_columns(data["log_tor"], sv)
    complete = np.isfinite(data["log_cpc"]) & np.isfinite(data["log_tor"])
    r_cpc, count = spearman_columns(data["log_cpc"], sv, mask=complete[:, None])
    r_tor, _ = spearman_columns(data["log_tor"], sv, mask=complete[:, None])
    both = complete[:, None] & np.isfinite(sv)
    r_between, _ = spearman_columns(np.broadcast_to(data["log_tor"][:, None], sv.shape),
                                    np.broadcast_to(data["log_cpc"][:, None], sv.shape), mask=both)
    williams = np.array([williams_test(a, b, c, int(m))[0] for a, b, c, m in zip(r_cpc, r_tor, r_between, count)])
    with np.errstate(invalid="ignore"):
        nonzero = sv > 0
    return {
        "rho_cpc": rho_cpc,
        "rho_tor": rho_tor,
        "rho_gap_cpc_minus_tor": rho_cpc - rho_tor,
        "williams_t_cpc_minus_tor": williams,
        "rho_cpc_outcome_nonzero": spearman_columns(data["log_cpc"], sv, mask=nonzero)[0],
        "rho_cpc_partial_population": partial_spearman_columns(data["log_cpc"], sv, data["pop"])[0],
        "rho_c": spearman_columns(data["c"], sv)[0],
    }


def outcome_moments(data, sv):
    """What the outcome looks like (n x R columns): the communes with a published rate
    (n_tested), the share of them at zero, and rho(pop, outcome)."""
    sv = _columns(sv, len(data["pop"]))
    finite = np.isfinite(sv)
    count = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        zero_share = np.where(count > 0, (finite & (sv == 0)).sum(axis=0) / count, np.nan)
    return {
        "n_tested": count.astype("float64"),
        "zero_share": zero_share,
        "rho_pop_outcome": spearman_columns(data["pop"], sv)[0],
    }


# --- the table ------------------------------------------------------------------------------


def reference_row(test, statistic, observed, reference, seed):
    """One row of falsification.csv; NaN replicates (too few communes) are left out."""
    reference = np.asarray(reference, dtype="float64")
    reference = reference[np.isfinite(reference)]
    count = len(reference)
    row = {"test": test, "statistic": statistic, "observed": float(observed), "replicates": count, "seed": seed}
    if count and np.isfinite(observed):
        row.update(
            reference_mean=float(reference.mean()),
            reference_q025=float(np.quantile(reference, 0.025)),
            reference_q975=float(np.quantile(reference, 0.975)),
            p_upper=float((1 + (reference >= observed).sum()) / (1 + count)),
        )
    return row


def eligible_communes(estimates, min_coverage=0.0):
    """Communes that could be tested whatever their outcome: in the crime file (some sv_*
    value), a usable population and, when min_coverage > 0, coverage not below it (as
    statistics.select_tested)."""
    sv_columns = [c for c in ("sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21") if c in estimates.columns]
    in_file = np.isfinite(estimates[sv_columns].to_numpy(dtype="float64", na_value=np.nan)).any(axis=1)
    keep = in_file & usable_population(estimates["pop"]).to_numpy()
    if min_coverage > 0 and "coverage" in estimates.columns:
        keep &= ~(as_float(estimates["coverage"]) < min_coverage)
    return estimates[keep]


def falsification_table(estimates, tested, *, tor_app, permutations, replicates, seed, min_count,
                        window_years, n_years, years_table=None, min_coverage=0.0, zeros_published=False):
    """falsification.csv of one direction, the reference distributions (for the figure)
    and lines for the log. `estimates`: the direction's estimate table; `tested`: its
    tested communes (statistics.select_tested); `years_table`: the crime stage's
    commune-year table (None in table mode: counts are then reconstructed). The size-only
    reference is fitted and drawn under the same publication rule (`min_count`,
    `window_years`, `zeros_published`)."""
    data = commune_arrays(tested, tor_app)
    rows, references, lines = [], {}, []
    for test, value in deterministic_rows(estimates, tested, tor_app).items():
        rows.append({"test": test, "statistic": "rho", "observed": value, "replicates": 0, "seed": seed})
    observed_rho = float(spearman_columns(log_cpc_rate(data["tor"], data["c"], data["pop"]), data["sv"])[0][0])
    for number, (test, kind) in enumerate(PERMUTATION_TESTS.items()):
        rng = np.random.default_rng([seed, number])
        reference = permutation_reference(data, kind, permutations, rng)
        rows.append(reference_row(test, "rho_cpc", observed_rho, reference, seed))
        references[(test, "rho_cpc")] = reference
    eligible = eligible_communes(estimates, min_coverage)
    # the eligible communes with their real outcome are exactly the tested ones (NaN elsewhere)
    every = commune_arrays(eligible, tor_app)
    values = {**headline_statistics(every, every["sv"]), **outcome_moments(every, every["sv"])}
    observed = {key: float(value[0]) for key, value in values.items()}
    pop = as_float(eligible["pop"])
    fit_data, note = size_only_fit_data(
        pop, eligible["code_com"], years_table=years_table, outcome=as_float(eligible[CRIME]),
        n_years=n_years, min_count=min_count, zeros_published=zeros_published,
    )
    try:
        fit = fit_nb2(**fit_data, min_count=min_count, zeros_published=zeros_published)
    except InputError as err:  # too few published counts: no reference, the rest still stands
        lines.append(f"{err}: the size_only and size_only_tested rows have no reference distribution")
        for test, statistics in SIZE_ONLY_TESTS.items():
            rows.extend(reference_row(test, key, observed[key], [], seed) for key in statistics)
        fit = None
    if fit is not None:
        lines.append(f"size-only reference: NB2 on ln pop {note}")
        lines.append(
            f"publication rule of the reference: a year is published when it or one of the {window_years - 1} "
            f"years before counted {min_count} or more"
            + (", or when it counted 0" if zeros_published else " (zero years too: zeros_published false)")
        )
        lines.append(
            f"size-only fit: yearly mean = exp({fit['const']:.4f} + {fit['log_pop']:.4f} ln pop), alpha "
            f"{fit['alpha']:.4f}, log-likelihood {fit['loglik']:.2f}, converged {fit['converged']}"
        )
        rng = np.random.default_rng([seed, len(PERMUTATION_TESTS)])
        tested_mask = np.isfinite(every["sv"])  # the data's tested communes among the eligible
        drawn = {(test, key): [] for test, statistics in SIZE_ONLY_TESTS.items() for key in statistics}
        unpublished = []  # per replicate: tested communes the draw leaves without a published year
        for start in range(0, replicates, CHUNK):
            draws = min(CHUNK, replicates - start)
            sv = simulate_size_only(fit, pop, n_years, draws, rng, min_count=min_count, window_years=window_years,
                                    zeros_published=zeros_published).T
            # the same draws twice: over the communes they publish, and over the data's tested set
            for test, outcome in (("size_only", sv), ("size_only_tested", outcome_over_tested(sv, tested_mask))):
                values = {**headline_statistics(every, outcome), **outcome_moments(every, outcome)}
                for key in SIZE_ONLY_TESTS[test]:
                    drawn[test, key].append(values[key])
            unpublished.append(np.isnan(sv[tested_mask]).sum(axis=0))
        for (test, key), parts in drawn.items():
            reference = np.concatenate(parts) if parts else np.empty(0)
            rows.append(reference_row(test, key, observed[key], reference, seed))
            references[(test, key)] = reference
        if replicates:
            missing = np.concatenate(unpublished)
            lines.append(
                f"size_only_tested: of the {int(tested_mask.sum())} tested communes, a draw leaves on average "
                f"{missing.mean():.1f} ({missing.mean() / max(int(tested_mask.sum()), 1):.3f}) without a "
                "published year; they count as a rate of 0 (the assumption of these rows)"
            )
    table = pd.DataFrame(rows, columns=FALSIFICATION_COLUMNS)
    table["replicates"] = table["replicates"].astype(int)
    return table, references, lines


# --- negative-control outcomes ---------------------------------------------------------------


def negative_control_rows(crime_class, adjusted):
    """negative_controls.csv rows of one class from its association_adjusted table."""
    table = adjusted[["x", "analysis", "rho", "pvalue", "n"]].copy()
    table.insert(0, "class", crime_class)
    return table[NEGATIVE_CONTROL_COLUMNS]


def negative_control_table(estimates, rates_by_class, min_coverage=0.0):
    """negative_controls.csv: for each class (rates_by_class: class -> its per-commune
    rates, crime.crime_rates), the estimate table's sv_* columns replaced by that class's,
    the communes tested as for the headline (statistics.select_tested) and the headline
    analyses (statistics.adjusted_association_table: all, outcome_nonzero,
    partial_population) of each log per-1,000 measure."""
    frames = []
    for crime_class, rates in rates_by_class.items():
        swapped = estimates.drop(columns=[c for c in CRIME_COLUMNS if c in estimates.columns])
        swapped = swapped.merge(rates[["code_com", *CRIME_COLUMNS]], on="code_com", how="left")
        tested, _ = select_tested(swapped, min_coverage)
        frames.append(negative_control_rows(crime_class, adjusted_association_table(tested)))
    return pd.concat(frames, ignore_index=True) if frames else empty_negative_controls()


def empty_negative_controls():
    return pd.DataFrame({column: pd.Series(dtype="float64" if column in ("rho", "pvalue") else "object")
                         for column in NEGATIVE_CONTROL_COLUMNS})


# --- the figure -------------------------------------------------------------------------------


GROUP_COLOURS = ["#3b528b", "#21918c", "#b5de2b"]


def reference_panels(references):
    """The figure's panels: {(family, statistic): [test, ...]}, one panel per statistic of a
    family of tests with a finite reference distribution: "c shuffled" (the permutation
    tests) or "size only" (size_only and size_only_tested, the same draws)."""
    panels = {}
    for (test, statistic), values in references.items():
        if np.isfinite(np.asarray(values, dtype="float64")).any():
            family = "size only" if test in SIZE_ONLY_TESTS else "c shuffled"
            panels.setdefault((family, statistic), []).append(test)
    return panels


def plot_references(table, references, path, *, title):
    """One panel per statistic of a family of tests (reference_panels): a histogram of each
    test's reference distribution (one colour per test, its p_upper in the legend) and the
    observed value marked."""
    from netmob_cpc.figures import new_figure, save_png

    panels = reference_panels(references)
    columns = 3
    rows = max(1, math.ceil(len(panels) / columns))
    width, height = 4.2 * columns, 2.9 * rows + 0.6
    # fixed margins (inches) instead of a constrained layout, which cost more than the drawing
    figure = new_figure(width, height, constrained=False)
    figure.subplots_adjust(left=0.45 / width, right=1 - 0.15 / width, bottom=0.35 / height, top=1 - 0.75 / height,
                           wspace=0.22, hspace=0.55)
    figure.suptitle(title, y=1 - 0.15 / height, va="top")
    lookup = table.set_index(["test", "statistic"])
    for number, ((family, statistic), tests) in enumerate(panels.items()):
        ax = figure.add_subplot(rows, columns, number + 1)
        observed = float(lookup.loc[(tests[0], statistic), "observed"])
        finite = [np.asarray(references[test, statistic], dtype="float64") for test in tests]
        finite = [values[np.isfinite(values)] for values in finite]
        shown = [observed] if np.isfinite(observed) else []
        low = min([values.min() for values in finite] + shown)
        high = max([values.max() for values in finite] + shown)
        bins = np.linspace(low, high, 41) if high > low else 30
        for index, (test, values) in enumerate(zip(tests, finite)):
            p_upper = lookup.loc[(test, statistic), "p_upper"]
            ax.hist(values, bins=bins, histtype="stepfilled", color=GROUP_COLOURS[index % len(GROUP_COLOURS)], alpha=0.55,
                    label=f"{test.replace('_', ' ')} (p_upper {p_upper:.2g})")
        ax.axvline(observed, color="#d95f02", linewidth=2, label="observed")
        ax.set_title(f"{family}: {statistic}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="best", framealpha=0.7)
    if not panels:
        ax = figure.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no reference distribution", ha="center", va="center")
        ax.set_axis_off()
    save_png(figure, path)
