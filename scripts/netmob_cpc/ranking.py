"""Rankings of communes that small populations cannot dominate (empirical-Bayes smoothing).

In the authors' table the top three communes by cpc_per_1000 have 237, 647 and 1,446
inhabitants: a per-capita rate of a small population rests on little traffic and is
dominated by noise. The smoothed rate pulls each commune's rate towards the global rate,
the more so the smaller its population (Poisson-gamma model, the method-of-moments global
estimator of Marshall 1991, "Mapping disease and mortality rates using empirical Bayes
estimators", Applied Statistics 40:283-294):

    r_i = x_i / n_i                    (counts x_i, exposures n_i)
    m   = sum(x) / sum(n)              (global rate)
    s2  = sum(n_i (r_i - m)^2) / sum(n)
    a   = max(s2 - m / mean(n), 0)     (between-commune variance of the true rates)
    r_i smoothed = m + (r_i - m) * a / (a + m / n_i)

The count scale. cpc is a traffic volume, not a count of events, and the amount of
smoothing depends on the unit the counts are expressed in: with counts k x cpc the Poisson
noise term m / n_i shrinks relative to a by the factor k. The exposures are the
populations (rates per inhabitant); the counts are cpc expressed in "events" such that the
global rate is `events_per_inhabitant` events per inhabitant, i.e. x_i = cpc_i x e / m_cpc
with m_cpc = sum(cpc) / sum(pop). e is the number that says how many independent
Poisson events a commune's consumption is made of per inhabitant; in cpc units the
sampling variance of a commune's rate is then m_cpc^2 / (e n_i).

- A number e fixes that scale. e = 1 (one event per inhabitant at the global rate), like
  the traffic units themselves, treats the consumption as made of very many independent
  events and barely smooths: on the embedded synthetic data the smallest commune (419
  inhabitants) keeps 99.4 % (e = 1) or 99.7 % (traffic units) of its deviation from m.
  Small e (e.g. 0.01, a consumer per 100 inhabitants) reads a small commune's rate as
  resting on a handful of consumers.
- "auto" (the default) estimates e from the data by the same method of moments: the
  population-weighted spread s2 estimates a + m_cpc^2 / (e mean(n)), the unweighted one
  s2_u = mean((r_i - m)^2) estimates a + m_cpc^2 / e x mean(1 / n); their difference
  gives m_cpc^2 / e = (s2_u - s2) / (mean(1 / n) - 1 / mean(n)), i.e. the scale at which
  the excess spread of small communes' rates is Poisson noise. No excess spread
  (s2_u <= s2) gives e = infinity: no smoothing. Caveat: true rates that really are more
  dispersed among small communes are read as noise too (the premise of any such smoothing).

The smoothing is estimated over every commune with a finite cpc_per_1000 >= 0 and a finite
population above zero; `min_population` then only leaves the smaller communes out of the
rankings. A commune without a usable population (missing, zero or negative: its
per-capita rate is NaN in the estimate table) or without an estimate is neither smoothed
nor ranked: it can never come first.
"""

import math

import numpy as np
import pandas as pd

from netmob_cpc.files import InputError

RANKING_COLUMNS = [
    "code_com", "cities", "pop", "cpc_per_1000", "cpc_per_1000_smoothed", "rank_raw", "rank_smoothed", "in_ranking",
]
SMOOTHED_HEATMAPS = {
    "heatmap_10": "heatmap_smoothed_10",
    "heatmap_rank1": "heatmap_smoothed_rank1",
    "heatmap_rank2": "heatmap_smoothed_rank2",
    "heatmap_rank3": "heatmap_smoothed_rank3",
}


def marshall_smoothed_rates(counts, exposures):
    """Marshall's (1991) global empirical-Bayes rates: (smoothed rates, {m, s2, a}).

    `counts` and `exposures` are 1-D, finite, counts >= 0 and exposures > 0.
    """
    counts = np.asarray(counts, dtype="float64")
    exposures = np.asarray(exposures, dtype="float64")
    if counts.shape != exposures.shape or counts.ndim != 1 or len(counts) == 0:
        raise ValueError(f"marshall_smoothed_rates: counts {counts.shape} and exposures {exposures.shape} must be equal, non-empty 1-D")
    if not (np.isfinite(counts).all() and np.isfinite(exposures).all() and (exposures > 0).all() and (counts >= 0).all()):
        raise ValueError("marshall_smoothed_rates: counts must be finite and >= 0, exposures finite and > 0")
    rates = counts / exposures
    m = counts.sum() / exposures.sum()
    s2 = (exposures * (rates - m) ** 2).sum() / exposures.sum()
    a = max(s2 - m / exposures.mean(), 0.0)
    noise = m / exposures
    # a + noise == 0 only if m == 0, i.e. every rate is 0 == m: keep it
    weight = np.divide(a, a + noise, out=np.ones_like(rates), where=(a + noise) > 0)
    return m + (rates - m) * weight, {"m": float(m), "s2": float(s2), "a": float(a)}


def estimate_events_per_inhabitant(rates, populations):
    """The count scale e (events per inhabitant at the global rate) by the method of moments.

    See the module docstring: m^2 / e = (s2_u - s2) / (mean(1/n) - 1/mean(n)) with m the
    population-weighted mean rate. Returns math.inf when the spread of the rates does not
    grow as populations shrink (or all populations are equal: the scale cannot be told).
    """
    rates = np.asarray(rates, dtype="float64")
    populations = np.asarray(populations, dtype="float64")
    m = (rates * populations).sum() / populations.sum()
    s2_weighted = (populations * (rates - m) ** 2).sum() / populations.sum()
    s2_unweighted = ((rates - m) ** 2).mean()
    spread_of_inverse = (1 / populations).mean() - 1 / populations.mean()
    excess = s2_unweighted - s2_weighted
    if not (excess > 0 and spread_of_inverse > 0 and m > 0):
        return math.inf
    return float(m**2 * spread_of_inverse / excess)


def smoothed_rates(rates, populations, events_per_inhabitant="auto"):
    """Smoothed per-capita rates in the units of `rates`: (smoothed, details).

    `rates` are per inhabitant (or per 1,000: any fixed unit), `populations` the exposures.
    The counts are rates x populations expressed at `events_per_inhabitant` events per
    inhabitant at the global rate ("auto": `estimate_events_per_inhabitant`). An infinite
    scale (no noise) returns the rates unchanged. `details`: the scale, the global rate m,
    s2 and a in the units of `rates` squared, and the weight a / (a + noise) the smallest
    population keeps of its own deviation from m.
    """
    rates = np.asarray(rates, dtype="float64")
    populations = np.asarray(populations, dtype="float64")
    m = (rates * populations).sum() / populations.sum()
    if events_per_inhabitant == "auto":
        scale = estimate_events_per_inhabitant(rates, populations)
    else:
        scale = float(events_per_inhabitant)
        if not scale > 0:
            raise ValueError(f"events_per_inhabitant must be 'auto' or a positive number, got {events_per_inhabitant!r}")
    details = {"events_per_inhabitant": scale, "m": float(m)}
    if math.isinf(scale) or m == 0:
        return rates.copy(), {**details, "s2": math.nan, "a": math.nan, "smallest_weight": 1.0}
    counts = rates * populations * (scale / m)
    smoothed, prior = marshall_smoothed_rates(counts, populations)
    unit = (m / scale) ** 2  # variance in event units -> in the units of `rates`
    a = prior["a"] * unit
    noise = m**2 / (scale * populations.min())
    details.update(s2=float(prior["s2"] * unit), a=float(a), smallest_weight=float(a / (a + noise)) if a + noise > 0 else 1.0)
    return smoothed * (m / scale), details


def _ranks(values, codes):
    """1 = highest value; ties by code_com (as heatmaps.ranked_communes)."""
    from netmob_cpc.heatmaps import ranked_communes

    ordered = ranked_communes(pd.DataFrame({"code_com": codes, "cpc_per_1000": values}))
    return pd.Series(np.arange(1, len(ordered) + 1), index=ordered)


def ranking_table(estimates, *, min_population=0, events_per_inhabitant="auto"):
    """ranking.csv: raw and smoothed cpc_per_1000 and both rankings; (table, details).

    Communes with a finite cpc_per_1000 >= 0 and a population > 0 enter the smoothing;
    those of them with pop >= min_population are ranked (1 = highest), the others have no
    rank and in_ranking False.
    """
    missing = [column for column in ("code_com", "cities", "pop", "cpc_per_1000") if column not in estimates.columns]
    if missing:
        raise InputError(f"estimate table: missing column(s) {missing}; found {list(estimates.columns)}")
    if estimates["code_com"].duplicated().any():
        raise InputError(
            f"estimate table: code_com {estimates.loc[estimates['code_com'].duplicated(), 'code_com'].iloc[0]!r} "
            "appears more than once; expected one row per commune"
        )
    table = estimates[["code_com", "cities", "pop", "cpc_per_1000"]].copy()
    rate = table["cpc_per_1000"].to_numpy(dtype="float64", na_value=np.nan)
    pop = table["pop"].to_numpy(dtype="float64", na_value=np.nan)
    usable = np.isfinite(rate) & (rate >= 0) & np.isfinite(pop) & (pop > 0)
    smoothed = np.full(len(table), np.nan)
    details = {"communes": int(len(table)), "smoothed": int(usable.sum())}
    if usable.any():
        smoothed[usable], fit = smoothed_rates(rate[usable], pop[usable], events_per_inhabitant)
        details.update(fit)
    table["cpc_per_1000_smoothed"] = smoothed
    table["in_ranking"] = usable & (pop >= min_population)
    ranked = table[table["in_ranking"]]
    codes = ranked["code_com"].to_numpy()
    rank_raw = _ranks(ranked["cpc_per_1000"].to_numpy(), codes)
    rank_smoothed = _ranks(ranked["cpc_per_1000_smoothed"].to_numpy(), codes)
    table["rank_raw"] = table["code_com"].map(rank_raw).astype("Int64")
    table["rank_smoothed"] = table["code_com"].map(rank_smoothed).astype("Int64")
    details["ranked"] = int(table["in_ranking"].sum())
    table = table.sort_values(["rank_smoothed", "code_com"], na_position="last", kind="mergesort")
    return table[RANKING_COLUMNS].reset_index(drop=True), details


def smoothed_heatmaps(hourly, estimates, ranking, *, apps, zero_replacement, top_n):
    """The top-N and top-3 heatmaps of the smoothed ranking (heatmaps.heatmaps' tables).

    The communes in the ranking, their cpc_per_1000 replaced by the smoothed one, go
    through heatmaps.heatmaps; Tor is scaled by each commune's own c, as in the seed's.
    """
    from netmob_cpc.heatmaps import heatmaps

    smoothed = ranking.loc[ranking["in_ranking"], ["code_com", "cpc_per_1000_smoothed"]]
    ranked = estimates[["code_com", "c"]].merge(smoothed, on="code_com", how="inner", validate="one_to_one")
    ranked = ranked.rename(columns={"cpc_per_1000_smoothed": "cpc_per_1000"})
    tables = heatmaps(hourly, ranked, apps=apps, zero_replacement=zero_replacement, top_n=top_n)
    return {output: tables[name] for name, output in SMOOTHED_HEATMAPS.items()}
