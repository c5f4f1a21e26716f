"""End to end on the embedded default: every contract output equals the notebook
transcription's, and the planted truth is recovered."""

import json

import pandas as pd
import pytest
from scipy.stats import spearmanr

from workflow_runner import load_default_config

pytestmark = pytest.mark.workflow

CSV_OUTPUTS = {
    # output: key columns that identify a row
    "cpc_com": ["code_com"],
    "spearman": ["x", "y"],
    "dependent_corr": ["comparison"],
    "correction_methods": ["method"],
    "heatmap": ["Day", "Hour"],
    "heatmap_10": ["Day", "Hour"],
    "heatmap_rank1": ["Day", "Hour"],
    "heatmap_rank2": ["Day", "Hour"],
    "heatmap_rank3": ["Day", "Hour"],
}


@pytest.fixture(scope="session")
def reference(default_run):
    from notebook_reference import run_reference

    config = load_default_config()
    results = default_run / config["results_dir"]
    tile_map = pd.concat(
        [pd.read_csv(results / "tile_map" / f"{city}.csv", dtype={"code_com": str, "code_dep": str}) for city in config["cities"]],
        ignore_index=True,
    )
    fraction = lambda text: float(text.split("/")[0]) / float(text.split("/")[1]) if isinstance(text, str) else text  # noqa: E731
    return run_reference(
        netmob_dir=results / "synthetic" / "netmob",
        tile_map=tile_map,
        crime_csv=results / "synthetic" / "crime.csv",
        cities=config["cities"],
        apps=config["apps"],
        directions=config["directions"],
        start=str(config["period"]["start"]),
        end=str(config["period"]["end"]),
        outage_dates=[str(d) for d in config["outage_dates"]],
        tor_to_darknet_share=fraction(config["tor_to_darknet_share"]),
        porn_in_darknet_share=fraction(config["porn_in_darknet_share"]),
        csam_in_porn_share=fraction(config["csam_in_porn_share"]),
        correction_method=config["correction_method"],
        zero_replacement=config["zero_replacement"],
        negative_factor_floor=config["negative_factor_floor"],
        crime_class=config["crime_class"],
        crime_years=tuple(config["crime_years"]),
        crime_year=config["crime_year"],
        top_n=config["top_n"],
    )


def assert_frames_equal(actual, expected, keys, name):
    """Same rows (matched by `keys`), same columns in any order; numbers to a relative 1e-9,
    text as text (a code column may be read as str or object)."""
    assert set(actual.columns) == set(expected.columns), (
        f"{name}: columns differ: {list(actual.columns)} vs {list(expected.columns)}"
    )
    actual = actual.sort_values(keys).reset_index(drop=True)
    expected = expected[actual.columns].sort_values(keys).reset_index(drop=True)
    numeric = pd.api.types.is_numeric_dtype
    text = [c for c in actual.columns if not (numeric(actual[c]) and numeric(expected[c]))]
    pd.testing.assert_frame_equal(
        actual.astype(dict.fromkeys(text, str)), expected.astype(dict.fromkeys(text, str)),
        check_dtype=False, rtol=1e-9, atol=0, obj=name,
    )


@pytest.mark.parametrize("output", sorted(CSV_OUTPUTS))
def test_output_equals_notebook_transcription(default_run, reference, output):
    config = load_default_config()
    for direction in config["directions"]:
        path = default_run / config["results_dir"] / direction / f"{output}.csv"
        actual = pd.read_csv(path, dtype={"code_com": str, "code_dep": str})
        expected = reference[direction][output].copy()
        if "code_com" in expected:
            expected["code_com"] = expected["code_com"].astype(str)
        if "code_dep" in expected:
            expected["code_dep"] = expected["code_dep"].astype(str)
        assert_frames_equal(actual, expected, CSV_OUTPUTS[output], f"{direction}/{output}")


def test_summary_equals_notebook_transcription(default_run, reference):
    config = load_default_config()
    for direction in config["directions"]:
        summary = json.loads((default_run / config["results_dir"] / direction / "summary.json").read_text())
        for key, value in reference[direction]["summary"].items():
            assert summary[key] == pytest.approx(value, rel=1e-9), key


def test_planted_truth_is_recovered(default_run):
    config = load_default_config()
    results = default_run / config["results_dir"]
    truth = pd.read_csv(results / "synthetic" / "truth.csv", dtype={"code_com": str})
    correlations = pd.read_parquet(results / "estimate" / "DL" / "correlations.parquet")
    both = truth.merge(correlations, on="code_com").dropna(subset=["pearson_log"])
    assert len(both) >= 0.9 * len(truth)
    rho = spearmanr(both["pearson_log"], both["coupling"])[0]
    print(f"\nSpearman(estimated r, planted coupling) = {rho:.3f} over {len(both)} communes")
    assert rho >= 0.9
    spearman = pd.read_csv(results / "DL" / "spearman.csv")
    row = spearman[(spearman["x"] == "cpc_per_1000") & (spearman["y"] == "sv_com_17_21")].iloc[0]
    print(f"rho(cpc_per_1000, sv_com_17_21) = {row['rho']:.3f}, p = {row['pvalue']:.2e}, n = {row['n']}")
    assert row["rho"] > 0 and row["pvalue"] < 0.01


def test_every_contract_output_exists_with_its_columns(default_run):
    config = load_default_config()
    out = default_run / config["results_dir"] / "DL"
    heat_columns = ["Day", "Hour", "Tor_scaled", "Web_Adult", "YouTube"]
    assert list(pd.read_csv(out / "heatmap.csv").columns) == heat_columns
    assert list(pd.read_csv(out / "heatmap_rank1.csv").columns) == ["code_com", *heat_columns]
    assert list(pd.read_csv(out / "spearman.csv").columns) == ["x", "y", "rho", "pvalue", "n"]
    assert list(pd.read_csv(out / "correction_methods.csv").columns) == ["method", "rho", "pvalue", "n"]
    summary = json.loads((out / "summary.json").read_text())
    for key in ("n_communes", "n_tested", "cpc_share_of_tor", "global_csam_share", "mean_c", "median_c"):
        assert key in summary
    assert summary["global_csam_share"] == pytest.approx(0.011 * 2267628 / 5437248 * 105 / 253)
    # 3 cities x 3 apps x 52 days of files, each counted in qc.csv and in the summary's totals
    qc = pd.read_csv(out / "qc.csv")
    assert len(qc) == summary["data_quality"]["files"] == 3 * 3 * 52
    assert set(qc.loc[qc["date"] == 20190331, "slots"]) == {92}
    assert summary["data_quality"]["lines"] == int(qc["lines"].sum())
    heat = pd.read_csv(out / "heatmap.csv")
    assert len(heat) == 7 * 24
    assert set(heat["Day"]) == {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}


def test_a_copied_working_directory_plans_nothing(tiny_run, tiny_run_copy):
    """The tiny run copied elsewhere (as tests that change it do): nothing reruns, since
    nothing the workflow tracks names the working directory."""
    from workflow_runner import planned_jobs

    assert (tiny_run_copy / "results" / "DL" / "cpc_com.csv").read_bytes() == (
        tiny_run / "results" / "DL" / "cpc_com.csv").read_bytes()
    assert planned_jobs(tiny_run_copy) == {}
