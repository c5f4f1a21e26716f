"""The size-only reference over the data's tested communes (falsification.csv rows
size_only_tested): the same fitted model and the same draws as the size_only rows, every
statistic computed over the communes tested in the data, a drawn commune without a
published year counting as a rate of 0. Hand-made tables, an independent recomputation of
the draws with scipy.stats, and the figures measured on the authors' published table."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from netmob_cpc.estimates import read_estimate_table
from netmob_cpc.falsification import (
    FALSIFICATION_COLUMNS,
    PERMUTATION_TESTS,
    SIZE_ONLY_STATISTICS,
    eligible_communes,
    falsification_table,
    fit_nb2,
    plot_references,
    reference_panels,
    simulate_size_only,
    size_only_fit_data,
    outcome_over_tested,
)
from netmob_cpc.statistics import select_tested

AUTHORS = Path(__file__).parent / "data" / "authors_cpc_com.csv"
APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}
TESTED_STATISTICS = [key for key in SIZE_ONLY_STATISTICS if key != "n_tested"]


def small_table(seed=3, communes=60):
    """A hand-made table-mode estimate table: yearly counts growing with population, a
    commune's rate published only when one of its years reached 5 (so the small ones have
    no rate), plus two communes absent from the crime file and one without population
    (neither is eligible)."""
    rng = np.random.default_rng(seed)
    pop = np.round(np.exp(rng.uniform(5.5, 10.0, size=communes)))
    counts = rng.poisson(np.exp(-7.0 + 1.0 * np.log(pop))[:, None], size=(communes, 5))
    shown = counts >= 5
    with np.errstate(invalid="ignore"):
        sv = np.where(shown, counts * 1000.0 / pop[:, None], 0.0).sum(axis=1) / shown.sum(axis=1)
    sv[shown.sum(axis=1) == 0] = np.nan
    sv[np.flatnonzero(np.isfinite(sv))[:3]] = 0.0  # three published zero rates
    tor = pop * np.exp(rng.normal(0, 0.5, size=communes))
    c = np.exp(rng.normal(-9, 0.3, size=communes) + 0.5 * np.log(pop))
    estimates = pd.DataFrame({
        "cities": np.where(np.arange(communes) % 3, "Lyon", "Nice"),
        "code_com": [f"{69000 + i:05d}" for i in range(communes)], "Tor": tor, "c": c, "pop": pop,
        "cpc": tor * c, "cpc_per_1000": tor * c * 1000 / pop, "tor_per_1000": tor * 1000 / pop,
        "sv_17_21": 1.0, "sv_com_17_21": sv,
    })
    estimates.loc[[0, 1], ["sv_17_21", "sv_com_17_21"]] = np.nan  # not in the crime file
    estimates.loc[2, "pop"] = np.nan  # no population
    return estimates


def run(estimates, replicates=40, seed=7, zeros_published=False):
    tested, _ = select_tested(estimates)
    table, references, lines = falsification_table(
        estimates, tested, tor_app="Tor", permutations=20, replicates=replicates, seed=seed,
        min_count=5, window_years=3, n_years=5, zeros_published=zeros_published,
    )
    return tested, table, references, lines


def hand_draws(estimates, replicates, seed, zeros_published=False):
    """The size-only draws recomputed from the documented recipe: the eligible communes,
    the NB2 fit of table mode, and the generator seeded [seed, number of permutation tests]
    (the size-only reference's stream). Returns (eligible table, replicates x communes)."""
    eligible = eligible_communes(estimates)
    pop = eligible["pop"].to_numpy(dtype="float64")
    data, _ = size_only_fit_data(pop, eligible["code_com"], outcome=eligible["sv_com_17_21"].to_numpy(dtype="float64"),
                                 n_years=5, min_count=5, zeros_published=zeros_published)
    fit = fit_nb2(**data, min_count=5, zeros_published=zeros_published)
    rng = np.random.default_rng([seed, len(PERMUTATION_TESTS)])
    sv = simulate_size_only(fit, pop, 5, replicates, rng, min_count=5, window_years=3, zeros_published=zeros_published)
    return eligible, sv


# --- hand-made tables ----------------------------------------------------------------------------


def test_tested_outcome_by_hand():
    sv = np.array([[1.5, np.nan], [np.nan, np.nan], [0.0, 2.0], [4.0, np.nan]])
    got = outcome_over_tested(sv, [True, True, True, False])
    expected = np.array([[1.5, 0.0], [0.0, 0.0], [0.0, 2.0], [np.nan, np.nan]])
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(outcome_over_tested(np.array([np.nan, 3.0]), [True, False]), [0.0, np.nan])


def test_rows_columns_and_statistics():
    estimates = small_table()
    _, table, references, _ = run(estimates, replicates=30, seed=11)
    assert list(table.columns) == FALSIFICATION_COLUMNS
    rows = table[table["test"] == "size_only_tested"].set_index("statistic")
    assert list(rows.index) == TESTED_STATISTICS
    assert (rows["replicates"] == 30).all() and (rows["seed"] == 11).all()
    # the observed values are the data's, the same as the size_only rows'
    size_only = table[table["test"] == "size_only"].set_index("statistic")
    pd.testing.assert_series_equal(rows["observed"], size_only.loc[TESTED_STATISTICS, "observed"])
    assert all(len(references["size_only_tested", key]) == 30 for key in TESTED_STATISTICS)
    # p_upper by hand from the stored reference
    reference = references["size_only_tested", "rho_cpc"]
    expected = (1 + (reference >= rows.loc["rho_cpc", "observed"]).sum()) / 31
    assert rows.loc["rho_cpc", "p_upper"] == pytest.approx(expected)


def test_tested_set_is_the_datas_and_the_draws_are_those_of_size_only():
    estimates = small_table()
    replicates, seed = 25, 5
    tested, table, references, lines = run(estimates, replicates=replicates, seed=seed)
    eligible, sv = hand_draws(estimates, replicates, seed)
    assert len(eligible) == 57 and len(tested) < len(eligible)
    in_data = eligible["code_com"].isin(tested["code_com"]).to_numpy()
    published_any = np.isfinite(sv)
    # the draws publish other communes than the data: the two groups differ
    assert (published_any != in_data[None, :]).any(axis=1).all()
    # size_only over the communes each draw publishes: its n_tested is the same draws'
    np.testing.assert_array_equal(references["size_only", "n_tested"], published_any.sum(axis=1))
    # size_only_tested over the data's tested communes, unpublished draws at 0
    drawn = np.where(np.isnan(sv[:, in_data]), 0.0, sv[:, in_data])
    np.testing.assert_allclose(references["size_only_tested", "zero_share"], (drawn == 0).mean(axis=1), rtol=0, atol=1e-15)
    data = eligible[in_data]
    log_cpc = np.log(data["cpc_per_1000"].to_numpy())
    pop = data["pop"].to_numpy()
    for replicate in range(replicates):
        assert references["size_only_tested", "rho_cpc"][replicate] == pytest.approx(
            stats.spearmanr(log_cpc, drawn[replicate])[0], abs=1e-12)
        assert references["size_only_tested", "rho_pop_outcome"][replicate] == pytest.approx(
            stats.spearmanr(pop, drawn[replicate])[0], abs=1e-12)
    unpublished = np.isnan(sv[:, in_data]).sum(axis=1).mean()
    assert any(line.startswith(f"size_only_tested: of the {len(tested)} tested communes, a draw leaves on "
                               f"average {unpublished:.1f} ") for line in lines)


def test_size_only_rows_do_not_depend_on_the_tested_group():
    """The second group reuses the draws: the size_only rows are those of a reference
    computed by hand from the same stream (no second fit, no second draw)."""
    estimates = small_table(seed=4)
    _, table, references, _ = run(estimates, replicates=20, seed=9, zeros_published=True)
    eligible, sv = hand_draws(estimates, 20, 9, zeros_published=True)
    log_cpc = np.log(eligible["cpc_per_1000"].to_numpy())
    for replicate in range(20):
        finite = np.isfinite(sv[replicate])
        assert references["size_only", "rho_cpc"][replicate] == pytest.approx(
            stats.spearmanr(log_cpc[finite], sv[replicate][finite])[0], abs=1e-12)


def test_no_fit_leaves_both_groups_without_reference():
    estimates = small_table()
    estimates["sv_com_17_21"] = np.where(estimates["sv_com_17_21"].notna(), 0.0, np.nan)  # no count above zero
    _, table, references, lines = run(estimates, replicates=10)
    for test, count in (("size_only", 10), ("size_only_tested", 9)):
        rows = table[table["test"] == test]
        assert len(rows) == count and (rows["replicates"] == 0).all() and rows["p_upper"].isna().all()
        assert (test, "rho_cpc") not in references
    assert any("size_only and size_only_tested rows have no reference distribution" in line for line in lines)


def test_figure_panels_group_the_tests_by_statistic(tmp_path):
    estimates = small_table()
    _, table, references, _ = run(estimates, replicates=15)
    panels = reference_panels(references)
    assert panels[("c shuffled", "rho_cpc")] == list(PERMUTATION_TESTS)
    assert panels[("size only", "rho_cpc")] == ["size_only", "size_only_tested"]
    assert panels[("size only", "n_tested")] == ["size_only"]
    assert len(panels) == 1 + len(SIZE_ONLY_STATISTICS)
    path = tmp_path / "falsification.png"
    plot_references(table, references, path, title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the authors' published table (table mode) ---------------------------------------------------


@pytest.fixture(scope="module")
def authors_rows():
    estimates = read_estimate_table(AUTHORS, APPS)
    tested, _ = select_tested(estimates)
    rows = {}
    for zeros in (False, True):
        table, _, lines = falsification_table(
            estimates, tested, tor_app="Tor", permutations=20, replicates=200, seed=20241130,
            min_count=5, window_years=3, n_years=5, zeros_published=zeros,
        )
        rows[zeros] = table[table["test"] == "size_only_tested"].set_index("statistic"), lines
    return rows


# Reference values measured with 2,000 replicates (seed 20241130); the test runs 200.
# Tolerances: a reference mean within 4 Monte-Carlo standard errors at 200 replicates
# (standard deviation / sqrt(200), the standard deviation read off the 2,000-replicate
# 95 % range / 3.92), a share p within 3 binomial errors sqrt(p (1 - p) / 200).
AUTHORS_2000 = {
    # zeros_published: statistic: (reference mean, sd, share of replicates at or above observed)
    False: {"rho_cpc": (0.2633, 0.0185, 0.132), "rho_gap_cpc_minus_tor": (0.0481, 0.0034, 0.667),
            "zero_share": (0.5258, 0.0091, 1.0), "rho_pop_outcome": (0.7985, 0.0102, 0.965)},
    True: {"rho_cpc": (0.2719, 0.0157, 0.225), "rho_gap_cpc_minus_tor": (0.0529, 0.0028, 0.987),
           "zero_share": (0.4326, 0.0042, 0.0005), "rho_pop_outcome": (0.8401, 0.0088, 1.0)},
}


@pytest.mark.parametrize("zeros", [False, True])
def test_authors_table_tested_rows(authors_rows, zeros):
    rows, lines = authors_rows[zeros]
    assert rows.loc["rho_cpc", "observed"] == pytest.approx(0.28400, abs=5e-6)
    assert rows.loc["rho_gap_cpc_minus_tor", "observed"] == pytest.approx(0.0466, abs=5e-5)
    assert rows.loc["zero_share", "observed"] == pytest.approx(327 / 731)
    assert (rows["replicates"] == 200).all()
    for statistic, (mean, sd, share) in AUTHORS_2000[zeros].items():
        row = rows.loc[statistic]
        assert row["reference_mean"] == pytest.approx(mean, abs=4 * sd / np.sqrt(200)), statistic
        measured = (row["p_upper"] * 201 - 1) / 200  # p_upper = (1 + at or above) / (1 + replicates)
        assert measured == pytest.approx(share, abs=max(3 * np.sqrt(share * (1 - share) / 200), 0.01)), statistic
    # how many of the 731 tested communes a draw leaves unpublished (set to 0): half under the
    # default rule, a handful when zero years are published
    unpublished = float(next(line for line in lines if line.startswith("size_only_tested:")).split("average ")[1].split()[0])
    assert unpublished == pytest.approx(5.3 if zeros else 366.2, abs=1.0 if zeros else 3.0)
