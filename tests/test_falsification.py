"""Falsification tests: the rank statistics of many columns against the one-pair ones, the
permutations, the publication rule, the size-only model's fit (against statsmodels and
scipy.stats) and reference, the figures measured on the authors' published table, and the
workflow's falsification.csv / negative_controls.csv."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from netmob_cpc.estimates import read_estimate_table
from netmob_cpc.files import InputError
from netmob_cpc.falsification import (
    FALSIFICATION_COLUMNS,
    NEGATIVE_CONTROL_COLUMNS,
    falsification_table,
    fit_nb2,
    log_cpc_rate,
    nb2_negative_loglik,
    negative_control_table,
    partial_spearman_columns,
    permute_within,
    reference_row,
    simulate_size_only,
    size_only_fit_data,
    size_quintiles,
    spearman_columns,
)
from netmob_cpc.publication import below_threshold, published, unpublished_range
from netmob_cpc.rankstats import partial_spearman, spearman_pair
from netmob_cpc.statistics import adjusted_association_table, dependent_corr_table, select_tested, spearman_table

AUTHORS = Path(__file__).parent / "data" / "authors_cpc_com.csv"
APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}


@pytest.fixture(scope="module")
def authors():
    estimates = read_estimate_table(AUTHORS, APPS)
    tested, _ = select_tested(estimates)
    return estimates, tested


@pytest.fixture(scope="module")
def authors_falsification(authors):
    estimates, tested = authors
    table, references, lines = falsification_table(
        estimates, tested, tor_app="Tor", permutations=2000, replicates=200, seed=20241130,
        min_count=5, window_years=3, n_years=5,
    )
    return table.set_index(["test", "statistic"]), references, lines


# --- rank statistics of many columns ---------------------------------------------------------


def test_spearman_columns_equal_the_one_pair_function():
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(size=(60, 5)), 1)  # ties
    y = np.round(rng.normal(size=(60, 5)) + x, 1)
    x[3, 0], y[7, 1], x[9, 2] = np.nan, np.inf, -np.inf
    rho, n = spearman_columns(x, y)
    for column in range(5):
        expected, _, count = spearman_pair(x[:, column], y[:, column])
        assert rho[column] == pytest.approx(expected, abs=1e-13) and n[column] == count
        finite = np.isfinite(x[:, column]) & np.isfinite(y[:, column])
        assert rho[column] == pytest.approx(stats.spearmanr(x[finite, column], y[finite, column])[0], abs=1e-12)


def test_spearman_columns_broadcast_a_fixed_column_and_a_mask():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=40), rng.normal(size=(40, 3))
    mask = rng.random(40) < 0.7
    rho, n = spearman_columns(x, y, mask=mask)
    for column in range(3):
        assert rho[column] == pytest.approx(spearman_pair(x[mask], y[mask, column])[0], abs=1e-13)
        assert n[column] == mask.sum()
    # a fixed column (x) is ranked once when every column keeps the same rows, and column by
    # column when they differ (y[4, 1] missing); either way as if it were written out in full
    for missing in (False, True):
        y_case = y.copy()
        if missing:
            y_case[4, 1] = np.nan
        for rows in (None, mask):
            rho, n = spearman_columns(x, y_case, mask=rows)
            rho_full, n_full = spearman_columns(np.repeat(x[:, None], 3, axis=1), y_case, mask=rows)
            assert rho.tolist() == rho_full.tolist() and n.tolist() == n_full.tolist()
    assert np.isnan(spearman_columns(np.ones(5), np.arange(5.0))[0][0])  # constant: no correlation
    assert np.isnan(spearman_columns(np.arange(2.0), np.arange(2.0))[0][0])  # fewer than 3


def test_partial_spearman_columns_equal_the_one_triple_function():
    rng = np.random.default_rng(3)
    z = rng.lognormal(size=(80, 4))
    x = np.log(z) + rng.normal(size=(80, 4))
    y = np.round(np.log(z) + rng.normal(size=(80, 4)), 1)
    y[5, 2] = np.nan
    rho, n = partial_spearman_columns(x, y, z)
    for column in range(4):
        expected, _, count = partial_spearman(x[:, column], y[:, column], z[:, column])
        assert rho[column] == pytest.approx(expected, abs=1e-12) and n[column] == count


# --- permutations ---------------------------------------------------------------------------


def test_permutation_within_city_keeps_each_citys_values():
    cities = np.array(["Nice", "Lyon", "Nice", "Nancy", "Lyon", "Nice", "Lyon", "Lyon"])
    values = np.array([1.0, 10.0, 2.0, 100.0, 20.0, 3.0, 30.0, 40.0])
    groups = pd.factorize(cities)[0]
    shuffled = permute_within(values, groups, 500, np.random.default_rng(4))
    for city in set(cities):
        rows = cities == city
        for column in range(500):
            assert sorted(shuffled[rows, column]) == sorted(values[rows])
    assert (shuffled[cities == "Nancy"] == 100.0).all()  # a city of one commune keeps its value
    # every order of Nice's three values appears, about equally often
    orders = pd.Series([tuple(shuffled[cities == "Nice", column]) for column in range(500)]).value_counts()
    assert len(orders) == 6 and orders.min() > 50


def test_size_quintiles_within_each_city():
    pop = np.array([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 50, 60])
    city = np.array(["A"] * 10 + ["B"] * 2)
    assert size_quintiles(pop, city).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 0, 2]


def test_log_cpc_rate_is_tor_times_c_per_1000():
    assert log_cpc_rate(np.array([200.0]), np.array([0.5]), np.array([1000.0]))[0, 0] == pytest.approx(np.log(100.0))


def test_reference_row_p_upper_by_hand():
    row = reference_row("t", "s", 0.5, [0.1, 0.5, 0.7, np.nan, 0.2], 7)
    assert row["p_upper"] == pytest.approx((1 + 2) / (1 + 4)) and row["replicates"] == 4
    assert row["reference_mean"] == pytest.approx(0.375) and row["seed"] == 7


# --- the publication rule -------------------------------------------------------------------


def test_publication_rule_on_hand_made_series():
    counts = np.array([
        [0, 0, 0, 0, 0, 0],  # never 5: nothing published
        [5, 0, 0, 0, 0, 0],  # 5 in the first year: it and the two years after are published
        [0, 0, 7, 1, 2, 3],  # 7 in the third year: years 3..5
        [4, 4, 4, 4, 4, 4],  # always below 5
        [0, 9, 0, 0, 0, 6],
    ])
    expected = np.array([
        [0, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [0, 0, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 0, 1],
    ], dtype=bool)
    assert (published(counts, 5, 3) == expected).all()
    assert (published(counts, 5, 1) == (counts >= 5)).all()
    assert published(counts, 0, 3).all()
    assert (published(counts[None], 5, 3)[0] == expected).all()  # leading axes (replicates)
    assert (published(counts, 5, 3, zeros_published=False) == expected).all()  # the default rule


def test_publication_rule_with_published_zeros_on_hand_made_series():
    counts = np.array([
        [0, 0, 0, 0, 0, 0],  # no offence at all: every year published (as 0)
        [5, 0, 0, 0, 0, 0],  # the same as without zeros_published: every zero year is published anyway
        [0, 0, 7, 1, 2, 3],  # zeros published, 7 opens years 3..5, the 3 in year 6 stays withheld
        [4, 4, 4, 4, 4, 4],  # 1 to 4 every year: nothing published
        [1, 0, 2, 0, 3, 0],  # only the zeros
    ])
    expected = np.array([
        [1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 1, 0, 1, 0, 1],
    ], dtype=bool)
    assert (published(counts, 5, 3, zeros_published=True) == expected).all()
    assert (published(counts[None], 5, 3, True)[0] == expected).all()
    # what an unpublished year says about its count
    assert below_threshold(np.arange(7), 5).tolist() == [1, 1, 1, 1, 1, 0, 0]
    assert below_threshold(np.arange(7), 5, zeros_published=True).tolist() == [0, 1, 1, 1, 1, 0, 0]
    assert unpublished_range(5) == (0, 4) and unpublished_range(5, True) == (1, 4)
    assert unpublished_range(1, True) == (1, 0)  # empty: that rule publishes every year


# --- the size-only model: fit and reference ------------------------------------------------------


def test_nb2_fit_equals_statsmodels_on_uncensored_counts():
    from statsmodels.discrete.discrete_model import NegativeBinomial

    rng = np.random.default_rng(5)
    pop = np.exp(rng.normal(8, 1.2, size=600))
    mu = np.exp(-6.0 + 0.9 * np.log(pop))
    alpha = 0.6
    counts = rng.negative_binomial(1 / alpha, (1 / alpha) / (1 / alpha + mu))
    fit = fit_nb2(np.log(pop), counts, np.ones(600), np.empty(0), np.empty(0), min_count=5)
    reference = NegativeBinomial(counts, np.column_stack([np.ones(600), np.log(pop)]), loglike_method="nb2").fit(
        disp=0, maxiter=500
    )
    const, slope, alpha_sm = reference.params
    assert fit["converged"]
    assert fit["const"] == pytest.approx(const, abs=2e-4)
    assert fit["log_pop"] == pytest.approx(slope, abs=2e-5)
    assert fit["alpha"] == pytest.approx(alpha_sm, rel=1e-4)
    assert fit["loglik"] == pytest.approx(reference.llf, abs=1e-6)


def test_censored_likelihood_by_scipy_stats():
    """Observed totals over several years and censored years, against scipy.stats.nbinom."""
    params = np.array([-1.0, 0.5, np.log(0.8)])
    x = np.array([0.5, 1.0, 2.0])
    counts = np.array([3.0, 0.0, 12.0])
    years = np.array([1.0, 5.0, 2.0])
    censored_x, censored_years = np.array([0.2, 1.5]), np.array([5.0, 2.0])
    size = 1 / 0.8
    expected = 0.0
    for xi, yi, mi in zip(x, counts, years):
        mean = mi * np.exp(-1.0 + 0.5 * xi)
        expected += stats.nbinom.logpmf(yi, mi * size, mi * size / (mi * size + mean))
    for xi, mi in zip(censored_x, censored_years):
        mean = np.exp(-1.0 + 0.5 * xi)
        expected += mi * stats.nbinom.logcdf(4, size, size / (size + mean))
    got = -nb2_negative_loglik(params, x, counts, years, censored_x, censored_years, 5)
    assert got == pytest.approx(expected, rel=1e-12)


def test_censored_likelihood_with_published_zeros_by_scipy_stats():
    """With zeros_published an unpublished year counted 1 to 4: P(1 <= Y <= 4), by scipy."""
    params = np.array([-0.3, 0.8, np.log(1.7)])
    x = np.array([0.1, 2.5])
    counts = np.array([0.0, 9.0])
    years = np.array([5.0, 1.0])
    censored_x, censored_years = np.array([-1.0, 0.4, 3.0]), np.array([5.0, 1.0, 3.0])
    size = 1 / 1.7
    expected = 0.0
    for xi, yi, mi in zip(x, counts, years):
        mean = mi * np.exp(-0.3 + 0.8 * xi)
        expected += stats.nbinom.logpmf(yi, mi * size, mi * size / (mi * size + mean))
    for xi, mi in zip(censored_x, censored_years):
        p = size / (size + np.exp(-0.3 + 0.8 * xi))
        expected += mi * np.log(stats.nbinom.cdf(4, size, p) - stats.nbinom.cdf(0, size, p))
    got = -nb2_negative_loglik(params, x, counts, years, censored_x, censored_years, 5, zeros_published=True)
    assert got == pytest.approx(expected, rel=1e-12)
    without = -nb2_negative_loglik(params, x, counts, years, censored_x, censored_years, 5)
    assert without > got  # P(Y <= 4) > P(1 <= Y <= 4)
    # a rule that publishes every year cannot have unpublished years
    with pytest.raises(InputError, match="crime_publication': min_count is 1 with zeros_published"):
        fit_nb2([0.1, 0.5, 2.5], [0.0, 2.0, 9.0], [1.0, 1.0, 1.0], censored_x, censored_years, min_count=1,
                zeros_published=True)


def planted_size_only(seed, communes=400, years=5):
    """Communes whose yearly counts depend on population only (NB2), published by the rule,
    with traffic and c that are unrelated to the outcome beyond population."""
    rng = np.random.default_rng(seed)
    pop = np.round(np.exp(rng.normal(8.5, 1.1, size=communes)))
    mu = np.exp(-12.0 + 1.6 * np.log(pop))  # the rate grows with size
    size = 1 / 0.4
    counts = rng.negative_binomial(size, size / (size + mu[:, None]), size=(communes, years + 2))
    shown = published(counts, 5, 3)[:, 2:]
    counts = counts[:, 2:]
    codes = [f"{54000 + i:05d}" for i in range(communes)]
    detail = pd.DataFrame({
        "code_com": np.repeat(codes, years), "year": np.tile(np.arange(2017, 2017 + years), communes),
        "published": shown.ravel(), "count": np.where(shown, counts, np.nan).ravel(),
        "pop": np.repeat(pop, years),
    })
    detail["rate"] = detail["count"] * 1000 / detail["pop"]
    detail = detail[~((~detail["published"]) & (rng.random(len(detail)) < 0.2))]  # some years have no row
    sv = detail.groupby("code_com")["rate"].mean().reindex(codes).to_numpy()
    tor = pop * np.exp(rng.normal(0, 0.5, size=communes))
    c = np.exp(rng.normal(-9, 0.3, size=communes) + 0.6 * np.log(pop))  # c follows size, not crime
    estimates = pd.DataFrame({
        "cities": np.where(np.arange(communes) % 2, "Nice", "Lyon"), "code_com": codes, "Tor": tor, "c": c,
        "pop": pop, "cpc": tor * c, "cpc_per_1000": tor * c * 1000 / pop, "tor_per_1000": tor * 1000 / pop,
        "yt_per_1000": np.nan, "wa_per_1000": np.nan, "sv_17_21": 1.0, "sv_com_17_21": sv,
    })
    return estimates, detail, {"const": -12.0, "log_pop": 1.6, "alpha": 0.4}


def test_fit_recovers_a_planted_size_only_model_through_the_censoring():
    estimates, detail, truth = planted_size_only(6)
    data, note = size_only_fit_data(estimates["pop"].to_numpy(), estimates["code_com"], years_table=detail,
                                    n_years=5, min_count=5)
    fit = fit_nb2(**data, min_count=5)
    assert fit["log_pop"] == pytest.approx(truth["log_pop"], abs=0.08)
    assert fit["alpha"] == pytest.approx(truth["alpha"], abs=0.12)
    assert fit["observed"] == int(detail["published"].sum())
    assert fit["censored"] == 5 * 400 - fit["observed"]
    assert "unpublished or absent" in note


def test_reference_of_a_planted_size_only_outcome_covers_the_observed_value():
    estimates, detail, _ = planted_size_only(7)
    tested, _ = select_tested(estimates)
    table, references, _ = falsification_table(
        estimates, tested, tor_app="Tor", permutations=200, replicates=200, seed=1,
        min_count=5, window_years=3, n_years=5, years_table=detail,
    )
    size_only = table[table["test"] == "size_only"].set_index("statistic")
    for statistic in ("rho_cpc", "rho_tor", "rho_c", "n_tested", "zero_share", "rho_pop_outcome"):
        row = size_only.loc[statistic]
        assert row["reference_q025"] <= row["observed"] <= row["reference_q975"], statistic
    assert size_only.loc["rho_cpc", "reference_mean"] > 0.1  # population alone makes cpc and sv correlate
    assert (size_only["replicates"] == 200).all()


def test_simulated_outcome_is_the_mean_published_rate():
    fit = {"const": np.log(6.0), "log_pop": 0.0, "alpha": 1e-6}  # about 6 a year everywhere
    sv = simulate_size_only(fit, np.array([1000.0, 2000.0]), 5, 50, np.random.default_rng(8), min_count=5,
                            window_years=3)
    assert sv.shape == (50, 2)
    assert np.nanmean(sv[:, 0]) == pytest.approx(6.0, rel=0.1) and np.nanmean(sv[:, 1]) == pytest.approx(3.0, rel=0.1)
    never = simulate_size_only({"const": np.log(0.01), "log_pop": 0.0, "alpha": 1e-6}, np.array([1000.0]), 5, 20,
                               np.random.default_rng(9), min_count=5, window_years=3)
    assert np.isnan(never).all()  # never 5 in a window: never published, no rate
    # a mean of 1e-6 a year: every year counts 0; with zeros_published each is published, the rate is 0
    none = {"const": np.log(1e-6), "log_pop": 0.0, "alpha": 1e-6}
    zero = simulate_size_only(none, np.array([500.0, 800.0]), 5, 20, np.random.default_rng(9), min_count=5,
                              window_years=3, zeros_published=True)
    assert (zero == 0).all()
    assert np.isnan(simulate_size_only(none, np.array([500.0]), 5, 20, np.random.default_rng(9), min_count=5,
                                       window_years=3)).all()
    # 1 to 4 every year (a point mass at 2): never published under either rule
    two = simulate_size_only({"const": np.log(2.0), "log_pop": 0.0, "alpha": 1e-9}, np.array([500.0]), 5, 5,
                             np.random.default_rng(9), min_count=5, window_years=3, zeros_published=True)
    assert two.shape == (5, 1)


# --- the authors' published table (table mode) -------------------------------------------------


def test_authors_table_deterministic_rows(authors, authors_falsification):
    estimates, tested = authors
    table, _, _ = authors_falsification
    assert table.loc[("c_alone", "rho"), "observed"] == pytest.approx(0.41551, abs=5e-6)
    # independent construction: YouTube x c and Web_Adult x c per 1,000 (placebo apps), Tor alone
    sv = tested["sv_com_17_21"].to_numpy()
    for app, expected in (("YouTube", 0.2456), ("Web_Adult", 0.2377), ("Tor", 0.2374)):
        factor = tested["c"] if app != "Tor" else 1.0
        rate = np.log(tested[app] * factor * 1000 / tested["pop"])
        assert stats.spearmanr(rate, sv)[0] == pytest.approx(expected, abs=5e-5), app
        assert spearman_columns(rate.to_numpy(), sv)[0][0] == pytest.approx(expected, abs=5e-5), app
    city_c = estimates.groupby("cities")["c"].mean()
    rate = np.log(tested["Tor"] * tested["cities"].map(city_c) * 1000 / tested["pop"])
    assert table.loc[("tor_times_city_mean_c", "rho"), "observed"] == pytest.approx(stats.spearmanr(rate, sv)[0], abs=1e-12)
    assert (table.loc[[("c_alone", "rho"), ("tor_times_city_mean_c", "rho")], "replicates"] == 0).all()
    assert table.loc[[("c_alone", "rho")], ["reference_mean", "p_upper"]].isna().all(axis=None)


def test_authors_table_permutations(authors_falsification):
    table, _, _ = authors_falsification
    within = table.loc[("permuted_within_city", "rho_cpc")]
    assert within["observed"] == pytest.approx(0.28400, abs=5e-6)
    assert within["reference_mean"] == pytest.approx(0.281, abs=0.002)
    assert within["reference_q025"] == pytest.approx(0.263, abs=0.003)
    assert within["reference_q975"] == pytest.approx(0.298, abs=0.003)
    assert within["p_upper"] == pytest.approx(0.35, abs=0.04) and within["replicates"] == 2000
    assert table.loc[("permuted_across_cities", "rho_cpc"), "reference_mean"] == pytest.approx(0.234, abs=0.003)
    quintile = table.loc[("permuted_within_city_size_quintile", "rho_cpc")]
    assert quintile["reference_q025"] > 0.28  # c follows size: shuffling within size classes keeps rho


def test_authors_table_size_only_rows(authors, authors_falsification):
    estimates, tested = authors
    table, references, lines = authors_falsification
    size_only = table.xs("size_only")
    # the observed values are the headline tables' numbers
    spearman = spearman_table(tested).set_index("x")["rho"]
    adjusted = adjusted_association_table(tested).set_index(["x", "analysis"])["rho"]
    williams = dependent_corr_table(tested).set_index("comparison").loc["CPC-Tor", "williams_t"]
    assert size_only.loc["rho_cpc", "observed"] == pytest.approx(spearman["cpc_per_1000"], abs=1e-12)
    assert size_only.loc["rho_tor", "observed"] == pytest.approx(spearman["tor_per_1000"], abs=1e-12)
    assert size_only.loc["rho_gap_cpc_minus_tor", "observed"] == pytest.approx(0.0466, abs=5e-5)
    assert size_only.loc["williams_t_cpc_minus_tor", "observed"] == pytest.approx(-williams, abs=1e-9)
    assert size_only.loc["rho_cpc_outcome_nonzero", "observed"] == pytest.approx(
        adjusted[("cpc_per_1000", "outcome_nonzero")], abs=1e-12)
    assert size_only.loc["rho_cpc_partial_population", "observed"] == pytest.approx(
        adjusted[("cpc_per_1000", "partial_population")], abs=1e-12)
    assert size_only.loc["n_tested", "observed"] == 731 and size_only.loc["zero_share", "observed"] == pytest.approx(327 / 731)
    assert (size_only["replicates"] == 200).all() and len(references[("size_only", "rho_cpc")]) == 200
    assert any(line.startswith("size-only reference: NB2 on ln pop approximate") for line in lines)


def test_authors_table_size_only_rows_with_published_zeros(authors):
    """Under the default rule the size-only reference cannot produce the table's 327 zero
    rates (a published zero year needs 5 or more offences in one of the two years before);
    with zeros_published it reproduces the zero share and rho(pop, outcome).

    Tolerance: the observed zero share 327 / 731 has a binomial standard error of
    sqrt(0.447 x 0.553 / 731) = 0.018; a model that reproduces it should put its reference
    mean within about one such error (measured with 200 replicates: 0.4465 [0.435, 0.457]).
    40 replicates give the mean to about 0.006 / sqrt(40) = 0.001."""
    estimates, tested = authors
    rows = {}
    for zeros in (False, True):
        table, _, lines = falsification_table(
            estimates, tested, tor_app="Tor", permutations=20, replicates=40, seed=20241130,
            min_count=5, window_years=3, n_years=5, zeros_published=zeros,
        )
        rows[zeros] = table[table["test"] == "size_only"].set_index("statistic")
        rows[zeros, "lines"] = lines
    observed = 327 / 731
    on = rows[True]
    assert on.loc["zero_share", "observed"] == pytest.approx(observed)
    assert on.loc["zero_share", "reference_mean"] == pytest.approx(observed, abs=0.018)
    assert on.loc["zero_share", "reference_q025"] <= observed <= on.loc["zero_share", "reference_q975"]
    # rho(pop, outcome) 0.780: the reference's 0.795 (200 replicates; 2.5 % quantile 0.776) is
    # close, against 0.28 under the default rule
    assert on.loc["rho_pop_outcome", "reference_mean"] == pytest.approx(0.78, abs=0.03)
    assert rows[False].loc["rho_pop_outcome", "reference_q975"] < 0.5
    # what it still misses: the rule publishes nearly every commune, the table only 731 of 1,340
    assert on.loc["n_tested", "reference_q025"] > 1200
    off = rows[False]
    assert off.loc["zero_share", "reference_q975"] < 0.15 and off.loc["n_tested", "reference_q975"] < 600
    assert any("5 censored years (1 to 4)" in line for line in rows[True, "lines"])
    assert any("327 communes with a total of 0 (the rule in force publishes a zero year only after 5"
               in line for line in rows[False, "lines"])
    assert any(line.endswith("or when it counted 0") for line in rows[True, "lines"])


# --- negative controls and the workflow ---------------------------------------------------------


def test_negative_control_table_swaps_the_outcome():
    estimates, _, _ = planted_size_only(10, communes=60)
    rng = np.random.default_rng(11)
    other = pd.DataFrame({"code_com": estimates["code_com"], "sv_19": 1.0, "sv_17_21": 1.0, "sv_com_19": 1.0,
                          "sv_com_17_21": rng.gamma(2.0, size=60)})
    other.loc[:4, "sv_com_17_21"] = np.nan
    table = negative_control_table(estimates, {"Vols de véhicules": other})
    assert list(table.columns) == NEGATIVE_CONTROL_COLUMNS
    row = table.set_index(["x", "analysis"]).loc[("cpc_per_1000", "all")]
    expected = stats.spearmanr(np.log(estimates["cpc_per_1000"][5:]), other["sv_com_17_21"][5:])[0]
    assert row["rho"] == pytest.approx(expected, abs=1e-12) and row["n"] == 55 and row["class"] == "Vols de véhicules"


@pytest.mark.workflow
def test_workflow_writes_falsification_and_negative_controls(tiny_run):
    """The shared tiny run (tests/conftest.py, workflow_runner.TINY_RUN: a negative-control
    class, 300 permutations and 50 replicates)."""
    out = tiny_run / "results" / "DL"
    table = pd.read_csv(out / "falsification.csv")
    assert list(table.columns) == FALSIFICATION_COLUMNS
    assert table["test"].tolist()[:5] == ["c_alone", "tor_times_city_mean_c", "permuted_within_city",
                                          "permuted_within_city_size_quintile", "permuted_across_cities"]
    assert set(table.loc[table["test"] == "size_only", "statistic"]) >= {"rho_cpc", "rho_tor", "williams_t_cpc_minus_tor"}
    assert table.loc[2, "replicates"] == 300 and (table["seed"] == 20241130).all()
    controls = pd.read_csv(out / "negative_controls.csv")
    assert list(controls.columns) == NEGATIVE_CONTROL_COLUMNS and set(controls["class"]) == {"Vols de véhicules"}
    outcome = json.loads((out / "summary.json").read_text())["crime_outcome"]
    detail = pd.read_parquet(tiny_run / "results" / "crime" / "sexual_violence_years.parquet")
    assert list(detail.columns) == ["code_com", "year", "published", "count", "pop", "rate"]
    assert outcome["n_crime_years"] == 5 and outcome["n_commune_years_unpublished"] >= 0
    assert (out / "figures" / "falsification.png").stat().st_size > 10000


def test_publication_counts_by_hand():
    from netmob_cpc.statistics import publication_counts

    estimates = pd.DataFrame({
        "code_com": ["54001", "54002", "54003", "54004"],
        "pop": [100.0, 200.0, 300.0, 400.0],
        "sv_19": [0.0, 2.0, 1.0, np.nan], "sv_17_21": [0.0, 2.0, 1.0, np.nan],
        "sv_com_19": [0.0, 2.0, np.nan, np.nan], "sv_com_17_21": [0.0, 2.0, np.nan, np.nan],
    })
    tested = estimates.iloc[:2]
    years = [2017, 2018, 2019, 2020, 2021]
    detail = pd.DataFrame(
        [("54001", 2017, True, 0.0), ("54001", 2018, False, np.nan)]
        + [("54002", year, True, 0.4) for year in years]
        + [("54003", year, False, np.nan) for year in years],
        columns=["code_com", "year", "published", "count"],
    )
    counts = publication_counts(estimates, tested, years, detail)
    assert counts == {
        "n_zero_rate": 1, "zero_rate_max_population": 100.0, "n_communes_never_published": 1,
        "population_range_never_published": [300.0, 300.0], "n_crime_years": 5,
        # 54001: one ndiff year and three without a row; 54003: five ndiff years
        "n_commune_years_unpublished": 9, "n_commune_years_without_row": 3,
        "n_zero_rate_with_unpublished_years": 1,
    }
    table_mode = publication_counts(estimates, tested, years)
    assert table_mode["n_commune_years_unpublished"] is None and table_mode["n_zero_rate"] == 1


def test_publication_counts_of_the_authors_table(authors):
    from netmob_cpc.statistics import publication_counts

    estimates, tested = authors
    counts = publication_counts(estimates, tested, [17, 18, 19, 20, 21])
    assert counts["n_zero_rate"] == 327 and counts["zero_rate_max_population"] == 5383.0
    assert counts["n_communes_never_published"] == 609  # in the crime file, no published year
    assert counts["population_range_never_published"] == [439.0, 21361.0]


def test_no_published_count_leaves_the_size_only_rows_without_reference():
    estimates, detail, _ = planted_size_only(12, communes=80)
    tested, _ = select_tested(estimates)
    never = detail.assign(published=False, count=np.nan, rate=np.nan)
    table, references, lines = falsification_table(
        estimates, tested, tor_app="Tor", permutations=50, replicates=20, seed=1,
        min_count=5, window_years=3, n_years=5, years_table=never,
    )
    size_only = table[table["test"] == "size_only"]
    assert len(size_only) == 10 and (size_only["replicates"] == 0).all() and size_only["p_upper"].isna().all()
    assert size_only["observed"].notna().all() and ("size_only", "rho_cpc") not in references
    assert any("0 published count(s), 0 above zero" in line for line in lines)
    assert (table.loc[table["test"] == "permuted_within_city", "replicates"] == 50).all()
