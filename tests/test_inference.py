"""Inference that holds: the wild cluster restricted bootstrap against full enumeration and
against the figures of the authors' published table, the leave-one-city-out rows, what is
withheld with few clusters, the count models against statsmodels' formula API and the
published figures, the censored NB2 likelihood, the spline partial correlations against
residuals computed by hand, and a 12-city workflow run."""

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netmob_cpc.count_models import (
    TABLE_NOTE,
    commune_frame,
    count_models_table,
    fit_censored_nb2,
    nb2_loglike,
    summed_counts,
    table_counts,
    year_counts,
)
from netmob_cpc.estimates import read_estimate_table
from netmob_cpc.inference import (
    WEBB_POINTS,
    cr1_t,
    jackknife,
    rademacher_signs,
    regression_table,
    webb_weights,
    wild_pvalue,
    wild_t_statistics,
)
from netmob_cpc.sensitivity import withhold_city_intervals
from netmob_cpc.statistics import adjusted_association_table, model_data, select_tested
from workflow_runner import made_in_background, wait_for

AUTHORS = Path(__file__).parent / "data" / "authors_cpc_com.csv"
APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}


@pytest.fixture(scope="module")
def authors():
    tested, _ = select_tested(read_estimate_table(AUTHORS, APPS))
    return tested


def tiny_clustered(seed=5, sizes=(3, 9, 4, 12, 5, 7)):
    """A small regression with unequal clusters."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"g{i}" for i in range(len(sizes))], sizes)
    n = len(groups)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    effect = rng.normal(size=len(sizes))[pd.factorize(groups)[0]]
    y = X @ [1.0, 0.4, -0.3] + effect + rng.normal(size=n)
    return y, X, groups


def statsmodels_cluster_t(y, X, groups, column):
    from statsmodels.regression.linear_model import OLS

    codes = pd.factorize(pd.Series(groups))[0]
    fit = OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
    return float(fit.tvalues[column])


# --- the wild cluster restricted bootstrap --------------------------------------------------


def test_cr1_t_is_statsmodels_cluster_t():
    y, X, groups = tiny_clustered()
    for column in range(3):
        assert cr1_t(y, X, groups, column) == pytest.approx(statsmodels_cluster_t(y, X, groups, column), rel=1e-10)


@pytest.mark.parametrize("column", [1, 2])
def test_wild_bootstrap_against_every_sign_vector(column):
    """All 2^6 Rademacher sign vectors: each bootstrap t refitted by statsmodels from the
    rebuilt outcome, and the p-value counted by hand."""
    from statsmodels.regression.linear_model import OLS

    y, X, groups = tiny_clustered()
    codes = pd.factorize(pd.Series(groups))[0]
    rest = np.delete(X, column, axis=1)
    restricted = OLS(y, rest).fit()
    signs = rademacher_signs(6)
    assert signs.shape == (6, 64) and len({tuple(v) for v in signs.T}) == 64
    expected = []
    for v in signs.T:
        y_star = restricted.fittedvalues + restricted.resid * v[codes]
        expected.append(statsmodels_cluster_t(y_star, X, groups, column))
    expected = np.array(expected)
    assert wild_t_statistics(y, X, groups, column, signs) == pytest.approx(expected, rel=1e-8, abs=1e-10)
    observed = abs(statsmodels_cluster_t(y, X, groups, column))
    by_hand = sum(abs(t) >= observed * (1 - 1e-10) for t in expected) / 64
    assert wild_pvalue(y, X, groups, column, weights=signs) == by_hand
    # the Webb draws: the six points, equally often
    weights = webb_weights(6, 60_000, 1)
    assert set(np.unique(weights)) == set(WEBB_POINTS)
    assert np.bincount(np.searchsorted(WEBB_POINTS, weights.ravel())) / weights.size == pytest.approx([1 / 6] * 6, abs=0.003)


def test_wild_bootstrap_on_the_published_table(authors):
    """CR1 by city gives a false positive (p 0.026); the wild bootstrap does not (about
    0.47 by city, 0.41 by department, 9,999 draws)."""
    started = time.process_time()
    table = regression_table(authors, min_clusters=10, draws=9999, seed=20240917)
    assert time.process_time() - started < 20
    rows = table.set_index(["model", "cov_type", "term"])
    city = rows.loc[("cpc_on_sv", "cluster_city", "sv_com_17_21")]
    assert city["se"] == pytest.approx(0.0946, abs=1e-4) and city["pvalue"] == pytest.approx(0.026, abs=5e-4)
    assert rows.loc[("cpc_on_sv", "HC3", "sv_com_17_21"), "se"] == pytest.approx(0.391, abs=5e-4)
    assert city["clusters"] == 20 and city["wild_pvalue"] == pytest.approx(0.475, abs=0.03)
    department = rows.loc[("cpc_on_sv", "cluster_dep", "sv_com_17_21")]
    assert department["clusters"] == 30 and department["wild_pvalue"] == pytest.approx(0.41, abs=0.03)
    assert list(table.columns) == [
        "model", "outcome", "term", "coef", "se", "t", "pvalue", "n", "cov_type", "wild_pvalue", "clusters", "note",
    ]
    assert rows.xs("HC3", level="cov_type")["wild_pvalue"].isna().all()


def test_leave_one_city_out_rows_and_cv3(authors):
    from statsmodels.regression.linear_model import OLS

    table = regression_table(authors, min_clusters=10, draws=99, seed=1)
    left_out = table[table["model"] == "cpc_on_sv_without_city"]
    assert len(left_out) == 20 and left_out["clusters"].eq(19).all()
    data, X, outcome = model_data(authors, None, "cpc_on_sv")
    paris = (data["cities"] == "Paris").to_numpy()
    fit = OLS(data[outcome].to_numpy()[~paris], X[~paris]).fit(cov_type="HC3")
    row = left_out[left_out["note"] == "without Paris"].iloc[0]
    assert row["coef"] == pytest.approx(fit.params[1], rel=1e-10) and row["n"] == int((~paris).sum())
    coefs = np.array([
        OLS(data[outcome].to_numpy()[(data["cities"] != c).to_numpy()], X[(data["cities"] != c).to_numpy()]).fit().params[1]
        for c in sorted(data["cities"].unique())
    ])
    cv3 = math.sqrt(19 / 20 * ((coefs - coefs.mean()) ** 2).sum())
    row = table[(table["model"] == "cpc_on_sv") & (table["cov_type"] == "CV3_city")].iloc[0]
    assert row["se"] == pytest.approx(cv3, rel=1e-10) and row["clusters"] == 20
    assert jackknife(data[outcome], X, data["cities"], 1)[1] == pytest.approx(cv3, rel=1e-10)


def test_few_clusters_are_withheld_with_a_note(authors):
    table = regression_table(authors, min_clusters=25, draws=99, seed=1)
    city = table[table["cov_type"] == "cluster_city"]
    assert city[["se", "t", "pvalue", "wild_pvalue"]].isna().all().all()
    assert city["coef"].notna().all() and city["clusters"].eq(20).all()
    assert city["note"].str.contains("20 cities, fewer than inference.min_clusters = 25").all()
    department = table[(table["cov_type"] == "cluster_dep") & (table["term"] != "const")]
    assert department["wild_pvalue"].notna().all() and department["note"].eq("").all()
    cv3 = table[table["cov_type"] == "CV3_city"]
    assert cv3["se"].isna().all() and cv3["note"].str.contains("leave-one-city-out").all()
    assert not (table["model"] == "cpc_on_sv_without_city").any()
    intervals = pd.DataFrame({"x": ["a"], "ci_low_city": [0.1], "ci_high_city": [0.3], "ci_low": [0.15]})
    withheld = withhold_city_intervals(intervals, 3, 10)
    assert withheld[["ci_low_city", "ci_high_city"]].isna().all().all() and withheld["ci_low"].iloc[0] == 0.15
    assert withheld["note"].iloc[0] == "3 cities, fewer than inference.min_clusters = 10: city intervals not reported"
    assert withhold_city_intervals(intervals, 12, 10)["ci_low_city"].iloc[0] == 0.1


# --- count models ----------------------------------------------------------------------------


def test_nb2_figures_of_the_published_table(authors):
    table = count_models_table(authors).set_index(["model", "se_type", "term"])
    expected = {
        ("nb2_rate", "model", "log_cpc_rate"): (0.0968, None),
        ("nb2_rate_pop", "model", "log_cpc_rate"): (0.00574, 0.01375),
        ("nb2_rate_pop_city", "model", "log_cpc_rate"): (0.00289, None),
        ("nb2_positive", "model", "log_cpc_rate"): (0.0228, 0.0087),
        ("nb2_positive", "cluster_dep", "log_cpc_rate"): (0.0228, 0.0205),
    }
    for key, (coef, se) in expected.items():
        assert table.loc[key, "coef"] == pytest.approx(coef, abs=1e-4), key
        if se is not None:
            assert table.loc[key, "se"] == pytest.approx(se, abs=1e-4), key
    assert table.loc[("nb2_rate", "model", "log_cpc_rate"), "pvalue"] < 1e-9
    assert table.loc[("nb2_rate_pop", "model", "log_cpc_rate"), "pvalue"] == pytest.approx(0.68, abs=0.005)
    assert table.loc[("nb2_rate_pop_city", "model", "log_cpc_rate"), "pvalue"] == pytest.approx(0.84, abs=0.005)
    assert table["note"].str.startswith(TABLE_NOTE).all()
    assert table.loc[("nb2_rate", "model", "log_cpc_rate"), "n"] == 731
    assert table.loc[("nb2_positive", "model", "log_cpc_rate"), "n"] == 404


def test_nb2_against_the_formula_api(authors):
    import statsmodels.formula.api as smf

    frame = table_counts(commune_frame(authors))
    table = count_models_table(authors).set_index(["model", "se_type", "term"])
    for model, formula in (
        ("nb2_rate_pop", "count ~ log_cpc_rate + log_pop"),
        ("nb2_rate_pop_city", "count ~ log_cpc_rate + log_pop + C(cities)"),
    ):
        fit = smf.negativebinomial(formula, frame, offset=np.log(frame["exposure"]), loglike_method="nb2").fit(
            disp=0, maxiter=300
        )
        for term in ("log_cpc_rate", "log_pop"):
            assert table.loc[(model, "model", term), "coef"] == pytest.approx(fit.params[term], rel=1e-5)
            assert table.loc[(model, "model", term), "se"] == pytest.approx(fit.bse[term], rel=1e-4)
        assert table.loc[(model, "model", "log_cpc_rate"), "alpha"] == pytest.approx(fit.params["alpha"], rel=1e-5)
    # the hurdle's zero part is a logit of "any offence"
    logit = smf.logit("any ~ log_cpc_rate + log_pop", frame.assign(any=(frame["count"] > 0).astype(float))).fit(disp=0)
    assert table.loc[("hurdle_any", "model", "log_pop"), "coef"] == pytest.approx(logit.params["log_pop"], rel=1e-5)


def simulated_years(seed=3, communes=150, years=(2017, 2018, 2019, 2020, 2021)):
    rng = np.random.default_rng(seed)
    codes = [f"{75000 + i:05d}" for i in range(communes)]
    pop = rng.lognormal(7, 1.3, communes).round() + 50
    rate = rng.lognormal(0, 0.6, communes)
    estimates = pd.DataFrame(
        {"code_com": codes, "pop": pop, "cpc_per_1000": rate, "cities": np.repeat(list("ABCDEFGHIJKL"), 13)[:communes],
         "code_dep": [f"{10 + i % 12}" for i in range(communes)]}
    )
    rows = []
    for code, p, r in zip(codes, pop, rate):
        for year in years:
            mu = math.exp(-7.5 + 0.3 * math.log(r)) * p
            rows.append({"code_com": code, "year": year, "count": float(rng.negative_binomial(2.0, 2.0 / (2.0 + mu))), "pop": p})
    return estimates, pd.DataFrame(rows)


def test_censored_nb2_equals_statsmodels_without_censoring_and_the_hand_likelihood_with_it():
    from scipy.stats import nbinom
    from statsmodels.discrete.discrete_model import NegativeBinomial

    estimates, years = simulated_years()
    rows = year_counts(commune_frame(estimates), years.assign(published=True))
    X = np.column_stack([np.ones(len(rows)), rows["log_cpc_rate"], rows["log_pop"]])
    y, offset = rows["count"].to_numpy(), np.log(rows["exposure"].to_numpy())
    coef, se, alpha, converged = fit_censored_nb2(y, X, offset, np.zeros(len(y), bool), 5)
    fit = NegativeBinomial(y, X, loglike_method="nb2", offset=offset).fit(disp=0)
    assert converged
    assert coef == pytest.approx(fit.params[:-1], rel=1e-4, abs=1e-5)
    assert se == pytest.approx(fit.bse[:-1], rel=1e-3)
    assert alpha == pytest.approx(fit.params[-1], rel=1e-4)
    # with censoring: the log-likelihood term by term with scipy.stats
    censored = y < 5
    params = np.array([-7.0, 0.2, 0.1, math.log(0.7)])
    mu = np.exp(X @ params[:-1] + offset)
    size = 1 / 0.7
    hand = np.where(censored, nbinom.logcdf(4, size, size / (size + mu)), nbinom.logpmf(y, size, size / (size + mu))).sum()
    assert nb2_loglike(params, y, X, offset, censored, 5) == pytest.approx(hand, rel=1e-10)


def test_censored_nb2_with_published_zeros_on_hand_made_commune_years():
    """With zeros_published an unpublished commune-year contributes P(1 <= count <= 4)."""
    from scipy.stats import nbinom

    # five commune-years: two published (3 and 0 offences), three unpublished
    X = np.array([[1.0, 0.5, 7.0], [1.0, -0.2, 6.5], [1.0, 0.1, 8.2], [1.0, 1.3, 5.9], [1.0, 0.0, 7.7]])
    offset = np.log([1200.0, 700.0, 3500.0, 400.0, 2100.0])
    y = np.array([3.0, 0.0, np.nan, np.nan, np.nan])
    censored = np.isnan(y)
    params = np.array([-8.5, 0.3, 0.4, math.log(0.9)])
    size = 1 / 0.9
    p = size / (size + np.exp(X @ params[:-1] + offset))
    hand = (nbinom.logpmf(3, size, p[0]) + nbinom.logpmf(0, size, p[1])
            + sum(np.log(nbinom.cdf(4, size, p[i]) - nbinom.pmf(0, size, p[i])) for i in (2, 3, 4)))
    assert nb2_loglike(params, np.nan_to_num(y), X, offset, censored, 5, zeros_published=True) == pytest.approx(
        hand, rel=1e-12)
    default = nb2_loglike(params, np.nan_to_num(y), X, offset, censored, 5)
    assert default == pytest.approx(hand - sum(np.log(1 - nbinom.pmf(0, size, p[i]) / nbinom.cdf(4, size, p[i]))
                                               for i in (2, 3, 4)), rel=1e-12)
    assert nb2_loglike(params, np.nan_to_num(y), X, offset, censored, 1, zeros_published=True) == -math.inf


def test_count_models_from_commune_years():
    estimates, years = simulated_years()
    # unpublished: the years below 5 in communes whose every year is below 5
    small = years.groupby("code_com")["count"].transform("max") < 5
    years["published"] = ~small
    unpublished = int(small.sum())
    years.loc[small, "count"] = np.nan
    dropped = years[small].groupby("code_com").head(1).index  # an absent year is unpublished too
    years = years.drop(dropped)
    communes = commune_frame(estimates)
    summed = summed_counts(communes, years)
    one = summed.iloc[0]
    mine = years[(years["code_com"] == one["code_com"]) & years["published"]]
    assert one["count"] == mine["count"].sum() and one["exposure"] == mine["pop"].sum()
    assert len(summed) == years.loc[years["published"], "code_com"].nunique()
    grid = year_counts(communes, years)
    assert len(grid) == 5 * len(communes) and int((~grid["published"]).sum()) == unpublished
    assert grid.loc[~grid["published"], "count"].isna().all()
    table = count_models_table(estimates, years, min_count=5)
    censored = table[table["model"] == "nb2_censored_years"].set_index("term")
    assert censored.loc["log_cpc_rate", "n"] == 5 * len(communes)
    assert f"{int((~grid['published']).sum())} of {5 * len(communes)} commune-years unpublished" in censored.loc["const", "note"]
    assert censored.loc["log_cpc_rate", "coef"] == pytest.approx(0.3, abs=0.15)
    assert table[table["model"] == "nb2_rate"]["note"].eq("counts summed over the published years").all()
    # zeros_published reaches the censored model (and only it): an unpublished year is 1 to 4
    zeros = count_models_table(estimates, years, min_count=5, zeros_published=True)
    changed = zeros[zeros["model"] == "nb2_censored_years"].set_index("term")
    assert "each counted as 1 to 4 offences" in changed.loc["const", "note"]
    assert changed.loc["log_cpc_rate", "coef"] != censored.loc["log_cpc_rate", "coef"]
    pd.testing.assert_frame_equal(zeros[zeros["model"] != "nb2_censored_years"],
                                  table[table["model"] != "nb2_censored_years"])


# --- spline partials ---------------------------------------------------------------------------


def test_spline_partials_against_residuals_by_hand(authors):
    import patsy
    from scipy.stats import pearsonr, rankdata
    from scipy.stats import t as student

    table = adjusted_association_table(authors, spline_df=6).set_index(["x", "analysis"])
    cpc = table.loc[("cpc_per_1000", "partial_population_spline")]
    assert cpc["rho"] == pytest.approx(0.054, abs=5e-4) and cpc["pvalue"] == pytest.approx(0.15, abs=5e-3)
    city = table.loc[("cpc_per_1000", "partial_population_city")]
    assert city["rho"] == pytest.approx(0.049, abs=5e-4) and city["pvalue"] == pytest.approx(0.19, abs=5e-3)
    assert table.loc[("tor_per_1000", "partial_population_spline"), "rho"] == pytest.approx(0.068, abs=5e-4)
    assert table.loc[("yt_per_1000", "partial_population_spline"), "rho"] == pytest.approx(0.065, abs=5e-4)
    assert table.loc[("cpc_per_1000", "partial_population"), "rho"] == pytest.approx(0.075, abs=5e-4)

    x = np.log(authors["cpc_per_1000"].astype(float).to_numpy())
    y = authors["sv_com_17_21"].astype(float).to_numpy()
    spline = np.asarray(patsy.dmatrix("1 + cr(z, df=6)", {"z": np.log(authors["pop"].astype(float).to_numpy())}))
    dummies = pd.get_dummies(authors["cities"].to_numpy(), drop_first=True).to_numpy(float)
    for analysis, design, regressors in (
        ("partial_population_spline", spline, 5), ("partial_population_city", np.column_stack([spline, dummies]), 24)
    ):
        residuals = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in (rankdata(x), rankdata(y))]
        rho = pearsonr(*residuals)[0]
        n = len(x)
        p = 2 * student.sf(abs(rho) * math.sqrt((n - 2 - regressors) / (1 - rho**2)), n - 2 - regressors)
        assert table.loc[("cpc_per_1000", analysis), "rho"] == pytest.approx(rho, rel=1e-9)
        assert table.loc[("cpc_per_1000", analysis), "pvalue"] == pytest.approx(p, rel=1e-7)


# --- the 12-city workflow ---------------------------------------------------------------------


TWELVE = ["Nice", "Nancy", "Lyon", "Dijon", "Tours", "Mans", "Metz", "Rennes", "Orleans", "Grenoble", "Montpellier", "Strasbourg"]


@made_in_background("twelve_city_run")
def start_twelve_city_run(workdir, log_dir):
    """TINY with twelve cities, up to the inference tables; in the background from the
    session's start (tests/conftest.py)."""
    from workflow_runner import TINY, InBackground, background_snakemake, merge, write_config

    # one ingest batch per city (12 jobs, not 24): the batches are not what this run checks
    write_config(workdir, merge(TINY, {"cities": TWELVE, "days_per_job": 5, "inference": {"wild_bootstrap_draws": 999}}))
    targets = ["regression.csv", "count_models.csv", "spearman_ci.csv", "association_adjusted.csv"]
    return InBackground([background_snakemake(workdir, *[f"results/DL/{name}" for name in targets])], log_dir,
                        workdir=workdir)


@pytest.fixture
def twelve_city_run(background):
    return wait_for(background, "twelve_city_run").workdir


@pytest.mark.workflow
def test_twelve_cities_end_to_end(twelve_city_run):
    out = twelve_city_run / "results" / "DL"
    regression = pd.read_csv(out / "regression.csv", keep_default_na=False, na_values=[""])
    city = regression[(regression["cov_type"] == "cluster_city") & (regression["model"] == "cpc_on_sv")]
    assert city["clusters"].eq(12).all() and city["wild_pvalue"].between(0, 1).all() and city["se"].notna().all()
    assert (regression["model"] == "cpc_on_sv_without_city").sum() == 12
    intervals = pd.read_csv(out / "spearman_ci.csv")
    assert intervals[["ci_low_city", "ci_high_city"]].notna().all().all() and intervals["note"].isna().all()
    counts = pd.read_csv(out / "count_models.csv")
    assert {"nb2_rate", "nb2_rate_pop", "nb2_rate_pop_city", "nb2_censored_years"} <= set(counts["model"])
    assert counts.loc[counts["model"] == "nb2_rate", "note"].eq("counts summed over the published years").all()
    adjusted = pd.read_csv(out / "association_adjusted.csv")
    assert adjusted.loc[adjusted["analysis"] == "partial_population_city", "rho"].notna().all()
