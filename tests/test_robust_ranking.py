"""Empirical-Bayes smoothed rates (Marshall 1991) and the rankings built on them."""

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from netmob_cpc.files import InputError
from netmob_cpc.ranking import (
    estimate_events_per_inhabitant,
    marshall_smoothed_rates,
    ranking_table,
    smoothed_heatmaps,
    smoothed_rates,
)

APPS = {"porn": "Web_Adult", "tor": "Tor", "control": "YouTube"}


def test_marshall_estimator_hand_computed_example():
    # counts 1, 20, 9 over exposures 10, 100, 100: rates 0.1, 0.2, 0.09
    # m  = 30 / 210 = 1/7
    # deviations -3/70, 4/70, -3.7/70: s2 = (10*9 + 100*16 + 100*13.69) / 70^2 / 210 = 3059 / 1029000
    # a  = s2 - m / mean(n) = 3059/1029000 - (1/7)/70 = 959 / 1029000
    # weights a / (a + m/n_i): n=10: 959 / (959 + 14700) ; n=100: 959 / (959 + 1470)
    smoothed, prior = marshall_smoothed_rates([1, 20, 9], [10, 100, 100])
    m = 1 / 7
    assert prior["m"] == pytest.approx(m, rel=1e-12)
    assert prior["s2"] == pytest.approx(3059 / 1029000, rel=1e-12)
    assert prior["a"] == pytest.approx(959 / 1029000, rel=1e-12)
    w_small, w_large = 959 / (959 + 14700), 959 / (959 + 1470)
    expected = [m + (0.1 - m) * w_small, m + (0.2 - m) * w_large, m + (0.09 - m) * w_large]
    assert smoothed == pytest.approx(expected, rel=1e-12)
    assert smoothed == pytest.approx([0.140232, 0.165418, 0.121988], abs=1e-6)  # the same, worked out on paper


def test_small_communes_move_more_and_large_ones_barely_move():
    exposures = np.array([50.0, 500.0, 5_000.0, 50_000.0, 5_000_000.0])
    rates = np.array([0.30, 0.05, 0.20, 0.02, 0.15])
    smoothed, prior = marshall_smoothed_rates(rates * exposures, exposures)
    m = prior["m"]
    assert prior["a"] > 0
    kept = (smoothed - m) / (rates - m)  # share of its own deviation each commune keeps
    assert np.all(np.diff(kept) > 0), kept  # increasing with population
    assert np.all((kept > 0) & (kept < 1))
    # every smoothed rate lies between its raw rate and m
    assert np.all((smoothed - m) * (rates - m) >= 0) and np.all(np.abs(smoothed - m) <= np.abs(rates - m))
    assert smoothed[-1] == pytest.approx(rates[-1], rel=1e-4)  # 5 million inhabitants barely move
    assert abs(smoothed[0] - rates[0]) > 10 * abs(smoothed[-1] - rates[-1])


def test_no_between_commune_variance_gives_the_global_rate():
    # Poisson-sized spread only: s2 = 0.0004 < m / mean(n) = 0.1 / 100, so a = 0
    counts = np.array([8.0, 12.0, 10.0])
    exposures = np.array([100.0, 100.0, 100.0])
    smoothed, prior = marshall_smoothed_rates(counts, exposures)
    assert prior["s2"] == pytest.approx((0.02**2 + 0.02**2) / 3)
    assert prior["a"] == 0.0
    assert smoothed == pytest.approx([0.1, 0.1, 0.1], rel=1e-12)
    # all zero counts: m = 0, nothing to divide, every rate stays 0
    zero, _ = marshall_smoothed_rates([0.0, 0.0], [10.0, 20.0])
    assert zero.tolist() == [0.0, 0.0]


def test_marshall_rejects_unusable_input():
    with pytest.raises(ValueError, match="exposures finite and > 0"):
        marshall_smoothed_rates([1.0, 2.0], [10.0, 0.0])
    with pytest.raises(ValueError, match="must be equal"):
        marshall_smoothed_rates([1.0, 2.0], [10.0])


def test_count_scale_of_the_counts_themselves_is_marshall_on_the_counts():
    counts = np.array([1.0, 20.0, 9.0, 4.0])
    populations = np.array([10.0, 100.0, 100.0, 40.0])
    rates_per_1000 = counts / populations * 1000
    m = counts.sum() / populations.sum()  # events per inhabitant at the global rate
    smoothed, details = smoothed_rates(rates_per_1000, populations, events_per_inhabitant=m)
    expected, _ = marshall_smoothed_rates(counts, populations)
    assert smoothed == pytest.approx(expected * 1000, rel=1e-12)
    assert details["m"] == pytest.approx(m * 1000)


def test_smoothing_does_not_depend_on_the_unit_of_the_rates():
    rng = np.random.default_rng(3)
    populations = rng.integers(200, 50_000, size=40).astype(float)
    rates = rng.gamma(2.0, 1.0, size=40) + 5 / np.sqrt(populations) * rng.standard_normal(40) ** 2
    for scale in ("auto", 0.05):
        per_inhabitant, _ = smoothed_rates(rates, populations, scale)
        per_1000, _ = smoothed_rates(rates * 1000, populations, scale)
        assert per_1000 == pytest.approx(per_inhabitant * 1000, rel=1e-10)


def test_events_per_inhabitant_is_recovered_from_poisson_gamma_data():
    rng = np.random.default_rng(20240601)
    n, events, variance = 20_000, 0.02, 0.25  # 1 event per 50 inhabitants; true rates Gamma(mean 1, var 0.25)
    populations = np.exp(rng.uniform(np.log(200), np.log(200_000), size=n))
    true_rates = rng.gamma(1 / variance, variance, size=n)
    counts = rng.poisson(events * populations * true_rates)
    estimate = estimate_events_per_inhabitant(counts / populations, populations)
    assert estimate == pytest.approx(events, rel=0.15)
    # and Marshall's a on those counts recovers the between-commune variance (in event units)
    _, prior = marshall_smoothed_rates(counts.astype(float), populations)
    assert prior["a"] == pytest.approx(variance * events**2, rel=0.15)


def test_no_excess_spread_in_small_communes_means_no_smoothing():
    # only the large communes deviate from m = 42200 / 21100 = 2: the unweighted spread
    # (0 + 0 + 1 + 1) / 4 = 0.5 is below the weighted one (10000 + 10000) / 21100
    populations = np.array([100.0, 1000.0, 10_000.0, 10_000.0])
    rates = np.array([2.0, 2.0, 1.0, 3.0])
    assert math.isinf(estimate_events_per_inhabitant(rates, populations))
    smoothed, details = smoothed_rates(rates, populations, "auto")
    assert smoothed.tolist() == rates.tolist()
    assert details["smallest_weight"] == 1.0
    # equal populations: the scale cannot be told from the spread
    assert math.isinf(estimate_events_per_inhabitant([1.0, 2.0, 5.0], [300.0, 300.0, 300.0]))
    with pytest.raises(ValueError, match="positive number"):
        smoothed_rates(rates, populations, 0)


def estimates_frame():
    """Six communes: a tiny one on top of the raw ranking, one without an estimate."""
    return pd.DataFrame(
        {
            "cities": ["Nice", "Nice", "Lyon", "Lyon", "Nancy", "Nancy"],
            "code_com": ["06001", "06002", "69001", "69002", "54001", "54002"],
            "pop": [237.0, 120_000.0, 45_000.0, 8_000.0, 30_000.0, 2_000.0],
            "cpc_per_1000": [9.0, 3.0, 4.0, 2.0, 4.0, np.nan],
            "c": [0.001, 0.002, 0.003, 0.004, 0.005, np.nan],
        }
    )


def test_ranking_table_ranks_raw_and_smoothed():
    estimates = estimates_frame()
    # a fixed, small count scale: the 237-inhabitant commune rests on ~0.4 events
    ranking, details = ranking_table(estimates, events_per_inhabitant=0.002)
    assert list(ranking.columns) == [
        "code_com", "cities", "pop", "cpc_per_1000", "cpc_per_1000_smoothed", "rank_raw", "rank_smoothed", "in_ranking",
    ]
    row = ranking.set_index("code_com")
    # raw: 9 > 4 = 4 (tie: code 54001 before 69001) > 3 > 2
    assert row["rank_raw"].dropna().astype(int).to_dict() == {"06001": 1, "54001": 2, "69001": 3, "06002": 4, "69002": 5}
    # independent check of the smoothing: Marshall on counts = rate x pop x e / m
    usable = estimates.dropna(subset=["cpc_per_1000"])
    rates, pops = usable["cpc_per_1000"].to_numpy(), usable["pop"].to_numpy()
    m = (rates * pops).sum() / pops.sum()
    expected, _ = marshall_smoothed_rates(rates * pops * 0.002 / m, pops)
    assert row.loc[usable["code_com"], "cpc_per_1000_smoothed"].to_numpy() == pytest.approx(expected * m / 0.002, rel=1e-12)
    # the tiny commune falls below the large ones once smoothed
    assert row.loc["06001", "rank_smoothed"] > 1
    assert row.loc["06001", "cpc_per_1000_smoothed"] < 9.0
    smoothed_order = row["cpc_per_1000_smoothed"].dropna().sort_values(ascending=False).index.tolist()
    assert row.loc[smoothed_order, "rank_smoothed"].tolist() == [1, 2, 3, 4, 5]
    # no estimate: no smoothed rate, no rank
    assert math.isnan(row.loc["54002", "cpc_per_1000_smoothed"])
    assert pd.isna(row.loc["54002", "rank_raw"]) and not row.loc["54002", "in_ranking"]
    assert details["smoothed"] == 5 and details["ranked"] == 5


def test_min_population_leaves_small_communes_out_of_the_rankings_only():
    estimates = estimates_frame()
    full, _ = ranking_table(estimates, events_per_inhabitant=0.002)
    limited, details = ranking_table(estimates, min_population=5_000, events_per_inhabitant=0.002)
    row = limited.set_index("code_com")
    assert not row.loc["06001", "in_ranking"] and pd.isna(row.loc["06001", "rank_raw"])
    assert details["ranked"] == 4
    assert sorted(row["rank_raw"].dropna().astype(int)) == [1, 2, 3, 4]
    assert row["rank_raw"].dropna().astype(int).to_dict() == {"54001": 1, "69001": 2, "06002": 3, "69002": 4}
    # the smoothing itself is estimated over every usable commune: unchanged
    pd.testing.assert_series_equal(
        limited.set_index("code_com")["cpc_per_1000_smoothed"].sort_index(),
        full.set_index("code_com")["cpc_per_1000_smoothed"].sort_index(),
    )


def test_ranking_rejects_duplicate_communes():
    estimates = pd.concat([estimates_frame(), estimates_frame().iloc[:1]])
    with pytest.raises(InputError, match="'06001' appears more than once"):
        ranking_table(estimates)


def test_smoothed_heatmaps_follow_the_smoothed_ranking():
    estimates = estimates_frame()
    ranking, _ = ranking_table(estimates, events_per_inhabitant=0.002)
    top = ranking.loc[ranking["rank_smoothed"] == 1, "code_com"].iloc[0]
    # 2019-04-01 is a Monday; two hours per commune, one Tor value 0 (replaced by 0.5)
    hourly = pd.DataFrame(
        {
            "code_com": [code for code in estimates["code_com"] for _ in range(2)],
            "date": 20190401,
            "hour": [0, 1] * len(estimates),
            "porn": 10.0,
            "tor": [100.0, 0.0] * len(estimates),
            "control": 1000.0,
        }
    )
    tables = smoothed_heatmaps(hourly, estimates, ranking, apps=APPS, zero_replacement=0.5, top_n=2)
    assert set(tables) == {"heatmap_smoothed_10", "heatmap_smoothed_rank1", "heatmap_smoothed_rank2", "heatmap_smoothed_rank3"}
    first = tables["heatmap_smoothed_rank1"]
    assert list(first.columns) == ["code_com", "Day", "Hour", "Tor_scaled", "Web_Adult", "YouTube"]
    assert set(first["code_com"]) == {top}
    c = estimates.set_index("code_com").loc[top, "c"]
    assert first["Day"].tolist() == ["Monday", "Monday"]
    assert first["Tor_scaled"].tolist() == pytest.approx([100.0 * c, 0.5 * c])
    second = ranking.loc[ranking["rank_smoothed"] == 2, "code_com"].iloc[0]
    c2 = estimates.set_index("code_com").loc[second, "c"]
    top_two = tables["heatmap_smoothed_10"]
    assert top_two["Tor_scaled"].tolist() == pytest.approx([100.0 * (c + c2), 0.5 * (c + c2)])
    assert top_two["Web_Adult"].tolist() == [20.0, 20.0]


def test_communes_without_a_usable_population_are_never_ranked():
    """pop missing, zero or negative: the per-capita rate is NaN (or, in a table written
    elsewhere, inf or negative); such a commune is neither smoothed nor ranked, and the
    others rank as if it were absent."""
    estimates = estimates_frame()
    broken = pd.DataFrame(
        {
            "cities": ["Nice", "Nice", "Lyon", "Lyon"],
            "code_com": ["06090", "06091", "69090", "69091"],
            "pop": [0.0, -50.0, np.nan, 10.0],
            "cpc_per_1000": [np.inf, -4.0, np.nan, np.nan],
            "c": [0.001, 0.001, 0.001, 0.001],
        }
    )
    ranking, details = ranking_table(pd.concat([estimates, broken], ignore_index=True), events_per_inhabitant=0.002)
    alone, _ = ranking_table(estimates, events_per_inhabitant=0.002)
    row = ranking.set_index("code_com")
    for code in broken["code_com"]:
        assert not row.loc[code, "in_ranking"], code
        assert pd.isna(row.loc[code, "rank_raw"]) and pd.isna(row.loc[code, "rank_smoothed"]), code
        assert math.isnan(row.loc[code, "cpc_per_1000_smoothed"]), code
    assert details["smoothed"] == 5 and details["ranked"] == 5
    # the unranked rows come last, the others are ranked exactly as without them
    assert ranking["code_com"].tolist()[:5] == alone["code_com"].tolist()[:5]
    pd.testing.assert_frame_equal(ranking.head(len(alone) - 1), alone.head(len(alone) - 1))


def test_entry_script_reads_the_shared_estimate_table(tmp_path):
    """robust_ranking.main on a cpc_com.csv with a zero and a missing population (its
    per-capita columns written as inf and empty): both left out, the rest ranked."""
    import robust_ranking

    estimates = estimates_frame()
    estimates["code_dep"] = estimates["code_com"].str[:2]
    for column in ("Web_Adult", "Tor", "YouTube", "cpc", "yt_per_1000", "wa_per_1000", "tor_per_1000"):
        estimates[column] = 1.0
    estimates["sv_17_21"], estimates["sv_com_17_21"] = 1.0, 1.0
    estimates.loc[0, "pop"], estimates.loc[0, "cpc_per_1000"] = 0.0, np.inf  # the 237-inhabitant commune
    estimates.loc[2, "pop"] = np.nan
    path = tmp_path / "cpc_com.csv"
    estimates.to_csv(path, index=False)
    output = tmp_path / "ranking.csv"

    class Files(SimpleNamespace):
        def keys(self):
            return self.__dict__.keys()

    robust_ranking.main(SimpleNamespace(
        input=Files(estimates=str(path)), output=Files(ranking=str(output)),
        params=SimpleNamespace(apps=APPS, min_population=0, events_per_inhabitant=0.002, zero_replacement=0.5, top_n=2),
    ))
    ranking = pd.read_csv(output, dtype={"code_com": str}).set_index("code_com")
    assert not ranking.loc["06001", "in_ranking"] and not ranking.loc["69001", "in_ranking"]
    assert ranking["rank_raw"].dropna().astype(int).to_dict() == {"54001": 1, "06002": 2, "69002": 3}
