"""The simulation study: how often each association test rejects at 5 % when the method's
assumption holds, when nothing links the estimate to crime, and when commune size drives both.

Data sets are simulated at commune level directly (hourly series per commune, no traffic
files), so that hundreds of replicates take minutes. Each data set has `n` communes with
log-normal populations (many small communes, a few large ones, as in the French
metropolitan areas of the NetMob23 cities) and, per commune, `days` x 24 hourly Web_Adult
and Tor volumes. From them the workflow's own quantities are computed as in the seed:

    r             Pearson correlation of log hourly Web_Adult with log hourly Tor
    c             the correction factor of r (`netmob_cpc.estimates.correction_factor`:
                  r x the global share, a negative factor replaced by the floor)
    cpc           Tor x c;  cpc_per_1000 = cpc x 1000 / pop;  tor_per_1000 likewise
    sv            a recorded crime rate per 1,000: Poisson(rate x pop) / pop x 1000, so
                  that small communes often record none (a share of zeros, as in the
                  published table)

Scenarios (each commune has a coupling strength, the correlation its Tor series would have
with Web_Adult):
    planted          the coupling drives both the Web_Adult-Tor correlation and the crime
                     rate: the method's assumption holds, the tests should reject often.
    null             the crime rate is independent of everything but noise; Tor also has a
                     daily cycle of its own: a valid test rejects about 5 % of the time.
    size_confounded  as `null` (Tor's own cycle, no coupling effect on crime), and larger
                     communes have more Tor per capita and higher recorded rates: the size
                     confound of the real data.

Tests per data set (p-values from `netmob_cpc.statistics`): the raw Spearman of log
cpc_per_1000 with sv, the partial Spearman given population, the regression cpc_on_sv (HC3
p-value of the sv term) and the three tests comparing rho(cpc, sv) with rho(tor, sv).

Every data set is drawn from its own stream keyed by (seed, scenario, replicate): the table
is the same whatever the number of worker processes.
"""

import math

import numpy as np

SCENARIOS = ("planted", "null", "size_confounded")
TESTS = (
    "spearman_cpc", "partial_spearman_cpc", "cpc_on_sv", "dependent_corr_seed", "williams", "steiger",
)
COLUMNS = ["scenario", "test", "replicates", "rejection_rate"]
ALPHA = 0.05

# --- communes -------------------------------------------------------------------------------
# Populations: log-normal, median 2,000 inhabitants, log-sd 1.3 (about a third of the
# communes below 1,000 inhabitants, a few above 100,000), clipped to French extremes.
POP_MEDIAN, POP_LOG_SD, POP_RANGE = 2000.0, 1.3, (50.0, 2_200_000.0)
# Per-commune coupling (the Web_Adult-Tor correlation of the hourly log series), as in the
# synthetic default data set.
COUPLING_MEAN, COUPLING_SD, COUPLING_RANGE = 0.2, 0.22, (-0.45, 0.85)

# --- hourly series (log scale) -------------------------------------------------------------
# Hour-of-day profile of Web_Adult (relative, late evening and night), of the synthetic data.
PROFILE_PORN = [1.55, 1.25, 0.90, 0.60, 0.40, 0.30, 0.32, 0.45, 0.60, 0.72, 0.80, 0.86,
                0.92, 0.92, 0.90, 0.92, 0.95, 1.00, 1.05, 1.15, 1.32, 1.58, 1.85, 1.90]
# Tor's own daily cycle in the `null` and `size_confounded` scenarios (relative, an
# afternoon peak): it correlates partly with the Web_Adult profile, so r is not the
# coupling, and that part of r shows more clearly in large communes, whose Web_Adult series
# are less noisy (r, and with it c, then follows commune size).
PROFILE_TOR = [0.80, 0.65, 0.55, 0.50, 0.50, 0.55, 0.65, 0.80, 0.95, 1.05, 1.15, 1.25,
               1.30, 1.35, 1.40, 1.40, 1.35, 1.30, 1.25, 1.20, 1.15, 1.10, 1.00, 0.90]
DAY_EFFECT_SD = 0.06  # day-to-day variation of the log Web_Adult volume
TOR_SD = 0.6  # log-sd of the hourly Tor volume around its commune level
# Per 1,000 inhabitants and hour (orders of magnitude of the published table's 77-day totals)
PORN_PER_1000_HOUR, TOR_PER_1000_HOUR = 4.0e7 / 1848, 1.4e6 / 1848
RATE_SPREAD = {"porn": 0.3, "tor": 0.35}  # log-sd of the per-capita volumes across communes


def noise_sd(pop):
    """Log-sd of a commune's hourly Web_Adult noise: larger in small communes (fewer users)."""
    return 0.05 + 0.6 / np.sqrt(pop / 100.0)


# --- recorded crime -------------------------------------------------------------------------
SV_BASE = 0.9  # recorded sexual-violence victims per 1,000 inhabitants and year (France, ~2019)
SV_NOISE_SD = 0.35  # log-sd of the communes' rates around their model value
SV_SLOPE = 0.15  # planted: change of the log rate per standard deviation of the coupling
# size_confounded: change of the log rate (sv) and of the log Tor volume per capita (tor)
# per unit of log population, around the median population
SIZE_SLOPE = {"sv": 0.25, "tor": 0.25}


def _check_scenario(scenario):
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario {scenario!r} is not one of {', '.join(SCENARIOS)}")


def scenario_stream(seed, scenario, replicate):
    """The random stream of one data set: keyed by (seed, scenario, replicate) only."""
    _check_scenario(scenario)
    return np.random.default_rng([int(seed), SCENARIOS.index(scenario), int(replicate)])


def populations(rng, n):
    """`n` commune populations (integers), log-normal and clipped."""
    pop = np.exp(rng.normal(math.log(POP_MEDIAN), POP_LOG_SD, size=n))
    return np.round(np.clip(pop, *POP_RANGE))


def hourly_series(rng, pop, coupling, days, own_tor_cycle, tor_size_slope=0.0):
    """Log hourly Web_Adult and Tor volumes (float32[n, days * 24] each) of the communes.

    log Web_Adult = level + profile(hour) + day effect + noise_sd(pop) * e1
    log Tor       = level [+ tor_size_slope * log(pop / median)] [+ own cycle(hour)]
                    + TOR_SD * (coupling * z + sqrt(1 - coupling^2) * e2)
    where z is the commune's log Web_Adult deviation from its level, standardised with the
    model's own variance, so that without an own cycle the correlation of the two log
    series is the coupling. Single precision: the study needs hundreds of data sets, and
    a correlation over hundreds of hours does not need more.
    """
    n, hours = len(pop), days * 24
    hour = np.arange(hours) % 24
    log_profile = np.log(np.asarray(PROFILE_PORN))
    log_profile -= log_profile.mean()
    day_effect = np.repeat(rng.normal(0, DAY_EFFECT_SD, size=days), 24)
    sd = noise_sd(pop)[:, None]
    people = pop[:, None] / 1000.0
    porn_level = np.log(people * PORN_PER_1000_HOUR) + rng.normal(0, RATE_SPREAD["porn"], size=(n, 1))
    tor_level = np.log(people * TOR_PER_1000_HOUR) + rng.normal(0, RATE_SPREAD["tor"], size=(n, 1))
    tor_level += tor_size_slope * np.log(pop / POP_MEDIAN)[:, None]

    signal = rng.standard_normal((n, hours), dtype=np.float32)
    signal *= sd.astype(np.float32)
    signal += (log_profile[hour] + day_effect).astype(np.float32)[None, :]
    rho = coupling[:, None]
    # z * rho * TOR_SD, with z the standardised signal
    weight = (TOR_SD * rho / np.sqrt(log_profile.var() + DAY_EFFECT_SD**2 + sd**2)).astype(np.float32)
    log_tor = rng.standard_normal((n, hours), dtype=np.float32)
    log_tor *= (TOR_SD * np.sqrt(1 - rho**2)).astype(np.float32)
    log_tor += weight * signal
    log_tor += tor_level.astype(np.float32)
    if own_tor_cycle:
        log_tor_profile = np.log(np.asarray(PROFILE_TOR))
        log_tor += (log_tor_profile - log_tor_profile.mean())[hour].astype(np.float32)[None, :]
    signal += porn_level.astype(np.float32)
    return signal, log_tor


def row_pearson(x, y):
    """Pearson correlation of each row of x with the same row of y (sums in double precision)."""
    dx = x - x.mean(axis=1, keepdims=True, dtype=np.float64).astype(x.dtype)
    dy = y - y.mean(axis=1, keepdims=True, dtype=np.float64).astype(y.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.einsum("ij,ij->i", dx, dy, dtype=np.float64) / np.sqrt(
            np.einsum("ij,ij->i", dx, dx, dtype=np.float64) * np.einsum("ij,ij->i", dy, dy, dtype=np.float64)
        )
    return np.clip(r, -1.0, 1.0)


def simulate(scenario, rng, n_communes, days, shares, negative_factor_floor):
    """One data set: a dict of per-commune arrays (pop, coupling, r, c, tor, cpc,
    cpc_per_1000, tor_per_1000, crime_rate, sv), as the workflow would compute them."""
    import pandas as pd

    from netmob_cpc.estimates import correction_factor

    _check_scenario(scenario)
    pop = populations(rng, n_communes)
    coupling = np.clip(rng.normal(COUPLING_MEAN, COUPLING_SD, size=n_communes), *COUPLING_RANGE)
    size = np.log(pop / POP_MEDIAN)
    log_web_adult, log_tor = hourly_series(
        rng, pop, coupling, days,
        own_tor_cycle=scenario != "planted",
        tor_size_slope=SIZE_SLOPE["tor"] if scenario == "size_confounded" else 0.0,
    )
    r = row_pearson(log_web_adult, log_tor)
    c = correction_factor(pd.DataFrame({"pearson_log": r}), "pearson_log", shares, negative_factor_floor).to_numpy()
    tor_total = np.exp(log_tor).sum(axis=1, dtype=np.float64)
    # recorded crime: victims per inhabitant and year
    log_rate = np.log(SV_BASE / 1000) + rng.normal(0, SV_NOISE_SD, size=n_communes)
    if scenario == "planted":
        log_rate += SV_SLOPE * (coupling - COUPLING_MEAN) / COUPLING_SD
    elif scenario == "size_confounded":
        log_rate += SIZE_SLOPE["sv"] * size
    crime_rate = np.exp(log_rate)
    sv = rng.poisson(crime_rate * pop) / pop * 1000
    cpc = tor_total * c
    return {
        "pop": pop, "coupling": coupling, "r": r, "c": c, "tor": tor_total,
        "cpc": cpc, "cpc_per_1000": cpc * 1000 / pop, "tor_per_1000": tor_total * 1000 / pop,
        "crime_rate": crime_rate * 1000, "sv": sv,
    }


def replicate_pvalues(data):
    """The p-value of each test (dict test -> p) on one data set, plus diagnostics.

    As the workflow's association tests: log cpc_per_1000 and log tor_per_1000 against sv
    (all communes; sv = 0 included, as `sv_com_17_21` = 0 is in the published table). The
    dependent-correlation tests compare r_ac = rho(cpc, sv) with r_ab = rho(tor, sv), with
    r_bc = rho(tor, cpc), as the seed's "CPC-Tor" row.
    """
    import pandas as pd

    from netmob_cpc.rankstats import partial_spearman, spearman_pair
    from netmob_cpc.statistics import (
        cpc_on_sv_pvalue, seed_dependent_corr_test, steiger_z_test, williams_test,
    )

    log_cpc = np.log(data["cpc_per_1000"])
    log_tor = np.log(data["tor_per_1000"])
    sv, pop = data["sv"], data["pop"]
    rho_cpc, p_spearman, n = spearman_pair(log_cpc, sv)
    rho_tor, _, _ = spearman_pair(log_tor, sv)
    r_bc, _, _ = spearman_pair(log_tor, log_cpc)
    pvalues = {
        "spearman_cpc": p_spearman,
        "partial_spearman_cpc": partial_spearman(log_cpc, sv, pop)[1],
        "cpc_on_sv": cpc_on_sv_pvalue(
            pd.DataFrame({"sv_com_17_21": sv, "cpc_per_1000": data["cpc_per_1000"], "pop": pop}), "HC3"
        ),
        "dependent_corr_seed": seed_dependent_corr_test(rho_tor, rho_cpc, r_bc, n)[1],
        "williams": williams_test(rho_tor, rho_cpc, r_bc, n)[1],
        "steiger": steiger_z_test(rho_tor, rho_cpc, r_bc, n)[1],
    }
    diagnostics = {
        "rho_cpc": rho_cpc, "rho_tor": rho_tor, "sv_zero_share": float(np.mean(sv == 0)),
        "floored_share": float(np.mean(data["r"] < 0)),
        "r_coupling": float(np.corrcoef(data["r"], data["coupling"])[0, 1]),
    }
    return pvalues, diagnostics


def run_replicates(scenario, replicates, *, seed, n_communes, days, shares, negative_factor_floor):
    """p-values and diagnostics of the data sets numbered `replicates` of one scenario:
    a list of (replicate, pvalues, diagnostics)."""
    results = []
    for replicate in replicates:
        rng = scenario_stream(seed, scenario, replicate)
        data = simulate(scenario, rng, n_communes, days, shares, negative_factor_floor)
        pvalues, diagnostics = replicate_pvalues(data)
        results.append((replicate, pvalues, diagnostics))
    return results


def rejection_table(pvalues, alpha=ALPHA):
    """simulation.csv from per-replicate p-values: {scenario: [{test: p}, ...]}.

    `replicates` counts the data sets where the test gave a p-value (a NaN, e.g. a
    correlation of exactly 1, is not counted); `rejection_rate` is the share of them with
    p < alpha (NaN when none).
    """
    import pandas as pd

    rows = []
    for scenario, per_replicate in pvalues.items():
        for test in TESTS:
            values = np.array([p[test] for p in per_replicate], dtype="float64")
            finite = values[np.isfinite(values)]
            rate = float(np.mean(finite < alpha)) if len(finite) else math.nan
            rows.append({"scenario": scenario, "test": test, "replicates": len(finite), "rejection_rate": rate})
    return pd.DataFrame(rows, columns=COLUMNS)


def monte_carlo_error(rate, replicates):
    """Standard error of a rejection rate estimated from `replicates` data sets:
    sqrt(p (1 - p) / R)."""
    return math.sqrt(rate * (1 - rate) / replicates) if replicates else math.nan


def run_study(*, replicates, seed, n_communes, days, shares, negative_factor_floor,
              scenarios=SCENARIOS, workers=1, chunk=25):
    """The whole study: (simulation table, diagnostics per scenario as a DataFrame).

    With workers > 1 the replicates are spread over that many processes in chunks of
    `chunk`; the result does not depend on it (each data set has its own stream).
    """
    import pandas as pd

    tasks = [
        (scenario, range(start, min(start + chunk, replicates)))
        for scenario in scenarios
        for start in range(0, replicates, chunk)
    ]
    settings = dict(seed=seed, n_communes=n_communes, days=days, shares=dict(shares),
                    negative_factor_floor=negative_factor_floor)
    if workers > 1 and len(tasks) > 1:
        import concurrent.futures

        with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run_replicates, scenario, block, **settings) for scenario, block in tasks]
            outcomes = [future.result() for future in futures]
    else:
        outcomes = [run_replicates(scenario, block, **settings) for scenario, block in tasks]
    pvalues = {scenario: [] for scenario in scenarios}
    diagnostics = []
    for (scenario, _), results in zip(tasks, outcomes):
        for replicate, p, d in results:
            pvalues[scenario].append(p)
            diagnostics.append({"scenario": scenario, "replicate": replicate, **d})
    summary = pd.DataFrame(diagnostics).groupby("scenario", sort=False).mean(numeric_only=True).drop(columns="replicate")
    return rejection_table(pvalues), summary
