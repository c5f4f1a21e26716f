"""The docs stay true to the repository: config/README.md is generated from the schema,
every file or section the docs name exists, the docs stay short, and claims found false
once (about results_dir, the fallback parser, the package and `snakemake`) stay gone."""

import fnmatch
import importlib.util
import re
import subprocess
import sys

import pandas as pd
import pytest

from workflow_runner import REPO, schema_defaults


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tracked_files():
    listing = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [path for path in listing.split("\n") if path and (REPO / path).is_file()]


def doc_texts():
    """{path: text} of the docs and of the comments of the rule files and the Makefile."""
    texts = {}
    for path in tracked_files():
        if path.endswith((".md", ".rst")):
            texts[path] = (REPO / path).read_text()
    for pattern in ("Snakefile", "Makefile", "rules/*.smk"):
        for path in sorted(REPO.glob(pattern)):
            comments = [line.split("#", 1)[1] for line in path.read_text().splitlines() if "#" in line]
            texts[str(path.relative_to(REPO))] = "\n".join(comments)
    return texts


# --- config/README.md is generated -----------------------------------------------------

def test_config_readme_is_generated_from_the_schema():
    generator = load("config/make_readme.py", "make_readme")
    assert (REPO / "config" / "README.md").read_text() == generator.render(), (
        "config/README.md is out of date with config/schema.yaml: run `make docs`")


def flat_keys(defaults, prefix=""):
    for key, value in defaults.items():
        if isinstance(value, dict):
            yield from flat_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_the_generator_gives_every_key_a_row_with_its_default_and_description():
    generator = load("config/make_readme.py", "make_readme")
    rows = {line.split("|")[1].strip(): line for line in generator.render().splitlines() if line.startswith("| `")}
    for key, value in flat_keys(schema_defaults()):
        row = rows[f"`{key}`"]
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert len(cells) == 4 and cells[3], row
        if value == "":
            assert cells[1] == '`""`', row
        elif isinstance(value, list) and len(value) > 6:
            assert cells[1] == f"all {len(value)}", row
        elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
            assert cells[1].strip("`") in {str(value), f"{value:g}" if isinstance(value, float) else str(value)}, row


def test_the_generator_resolves_definitions_and_sections():
    generator = load("config/make_readme.py", "make_readme")
    schema = """
definitions:
  share:
    description: a share in (0, 1]
    type: number
properties:
  # --- first group ---
  alpha:
    $ref: "#/definitions/share"
    default: 0.5
    description: the alpha share
  # --- second group ---
  nested:
    type: object
    description: a group of keys
    properties:
      beta: {type: integer, minimum: 1, default: 3, description: how many}
"""
    text = generator.render(schema)
    assert "## First group\n" in text and "## Second group\n" in text
    assert text.index("`alpha`") < text.index("## Second group") < text.index("`nested.beta`")
    assert "| `alpha` | `0.5` | a share in (0, 1] | the alpha share |" in text
    assert "| `nested.beta` | `3` | integer >= 1 | how many |" in text


# --- everything the docs name exists ---------------------------------------------------

# Files a user names, and the roots of paths a run writes (R = results_dir), named in the
# docs but not part of the repository.
USER_FILES = {"my_netmob.yaml"}
OUTPUT_ROOTS = {"R", "results", "bench", "bench-full", "bench-tiny", "before"}
SOURCE_SUFFIXES = r"py|smk|yaml|yml|md|rst|c|sh|ini|toml|txt"
RELATIVE_PATH = re.compile(r"(?<![\w./:<>{}~-])(\.?[\w{}*+-][\w.{}*+-]*(?:/[\w.{}*+-]+)+)/?")
FILE_NAME = re.compile(rf"(?<![\w./<>{{}}~-])([\w+-][\w.+-]*\.(?:{SOURCE_SUFFIXES}))(?![\w/])")


def path_problems(source, text, tracked):
    top = {path.split("/", 1)[0] for path in tracked}
    folder = str((REPO / source).parent.relative_to(REPO))
    problems = []
    for token in RELATIVE_PATH.findall(text):
        token = token.rstrip(".,;:")
        first = token.split("/", 1)[0]
        if first.startswith("{") or first in OUTPUT_ROOTS:
            continue
        checked = first in top or re.search(rf"\.({SOURCE_SUFFIXES})$", token)
        if not checked:
            continue  # an output path under results_dir, a URL part, a fraction such as a/b
        pattern = re.sub(r"\{[^}]*\}", "*", token)
        candidates = [pattern, f"{folder}/{pattern}", f"*/{pattern}"]
        if not any(fnmatch.filter(tracked, candidate) or any(p.startswith(candidate.rstrip("*") + "/") for p in tracked)
                   for candidate in candidates):
            problems.append(f"{source}: {token}")
    names = {path.rsplit("/", 1)[-1] for path in tracked}
    for name in FILE_NAME.findall(text):
        if name not in names and name not in USER_FILES:
            problems.append(f"{source}: {name}")
    return problems


def test_every_path_and_file_name_the_docs_give_exists():
    tracked = tracked_files()
    problems = [problem for source, text in doc_texts().items() for problem in path_problems(source, text, tracked)]
    assert problems == []


def test_the_path_check_catches_a_missing_file():
    tracked = tracked_files()
    text = "see `scripts/no_such_stage.py`, rules/ghost.smk, report/absent.rst and nowhere.md"
    assert path_problems("README.md", text, tracked) == [
        "README.md: scripts/no_such_stage.py", "README.md: rules/ghost.smk", "README.md: report/absent.rst",
        "README.md: nowhere.md"]
    fine = "`config/netmob.yaml`, `envs/*.yaml`, `report/*.rst`, `results/DL/cpc_com.csv`, `R/tile_map/{city}.npz`, " \
           "a/b, MB/s, <https://doi.org/10.1057/x>, /data/NetMob23, my_netmob.yaml, `scripts/<rule>.py`"
    assert path_problems("README.md", fine, tracked) == []


SECTION_REFERENCE = re.compile(
    r"\b(README|ARCHITECTURE|BENCHMARKS)(?:\.md)?(?::\s*|,\s*|\s+\(?|\s*\()\"([^\"]+)\""
    r"|\b(README|ARCHITECTURE)(?:\.md)?:\s+([A-Z][a-z]+(?: [a-z]+)*)")


def test_every_section_the_code_and_docs_cite_exists():
    """`README: Outputs`, `ARCHITECTURE.md, "Ingested batch"`: the cited heading exists."""
    headings = {name: [line.lstrip("#").strip().lower() for line in (REPO / f"{name}.md").read_text().splitlines()
                       if line.startswith("#")] for name in ("README", "ARCHITECTURE", "BENCHMARKS")}
    missing = []
    for path in tracked_files():
        if path == "tests/test_docs.py" or not path.endswith((".py", ".smk", ".md", ".rst", "Makefile", "Snakefile")):
            continue
        text = re.sub(r"\s*\n\s*#?\s*", " ", (REPO / path).read_text())
        for match in SECTION_REFERENCE.finditer(text):
            doc, section = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
            if not any(heading.startswith(section.lower()) for heading in headings[doc]):
                missing.append(f"{path}: {doc} {section!r}")
    assert missing == []


def test_notebook_reference_cites_the_notebook_by_name():
    text = (REPO / "tests" / "notebook_reference.py").read_text()
    assert "Koebe et al. 2024" in text and "Societal-Computing/netmob_tor" in text
    assert not re.search(r"reference/[0-9a-f_]+\.txt", text)


def test_the_repository_cites_no_internal_work_item_or_machine_folder():
    pattern = re.compile(r"\b[Ii]ssue[ -][0-9]|\bhelper H[0-9]|/work/|\bCONTRACT\b")
    hits = [
        f"{path}: {match.group(0)}" for path in tracked_files() if path != "tests/test_docs.py"
        for match in pattern.finditer((REPO / path).read_text(errors="ignore"))
    ]
    assert hits == []


def test_every_output_file_is_described_in_the_readme():
    readme = (REPO / "README.md").read_text()
    sources = [REPO / "rules" / "common.smk", REPO / "scripts" / "netmob_cpc" / "config.py"]
    code = "".join(path.read_text() for path in sources if path.exists())
    names = set(re.findall(r'"(\w+\.(?:csv|json))"', code)) | {"simulation.csv"}
    assert len(names) > 10
    assert sorted(name for name in names if name not in readme) == []


# --- sizes -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["README.md", "ARCHITECTURE.md"])
def test_the_page_fits_in_10_kb(name):
    assert (REPO / name).stat().st_size <= 10_240


# --- claims found false once -----------------------------------------------------------

def test_results_dir_is_described_as_the_code_checks_it():
    """The code refuses `/`, home directories, inputs, folders holding an input and folders
    under one (rules/common.smk, check_results_dir); nothing "beside" a home directory."""
    generator = load("config/make_readme.py", "make_readme")
    row = next(line for line in generator.render().splitlines() if line.startswith("| `results_dir` |"))
    for page in ("README.md", "config/README.md"):
        assert "beside" not in (REPO / page).read_text(), page
    assert "beside" not in row
    for refused in ("/", "home directory", "holds an input", "under one"):
        assert refused in row, refused


FALLBACK_PARSER_DETAILS = re.compile(
    r"\btimes slower\b|\d\s*x slower|vectori[sz]ed|NumPy parser|pure-Python parser|pyarrow[- ]based", re.I)


def test_the_docs_leave_the_fallback_parser_to_its_start_up_warning():
    """Its speed and implementation are stated in one place, the start-up warning of
    rules/common.smk (and measured in BENCHMARKS.md); the user docs only point there."""
    docs = {source: text for source, text in doc_texts().items()
            if source.endswith((".md", ".rst")) and source != "BENCHMARKS.md"}
    assert [source for source, text in docs.items() if FALLBACK_PARSER_DETAILS.search(text)] == []
    speed = re.compile(r"\btimes (slower|faster)\b|\d\s*x (slower|faster)", re.I)
    other_rules = [path.name for path in (REPO / "rules").glob("*.smk")
                   if path.name != "common.smk" and speed.search(path.read_text())]
    assert other_rules == []
    common = (REPO / "rules" / "common.smk").read_text()
    assert re.search(r"logger\.warning\([^)]*parser", common, re.S)
    assert "warning" in docs["README.md"].lower() and "parser" in docs["README.md"]


def test_architecture_does_not_claim_the_package_never_reads_snakemake():
    package = REPO / "scripts" / "netmob_cpc"
    readers = [path.name for path in package.glob("*.py") if re.search(r"\bsnakemake\.(input|output|params|log)", path.read_text())]
    text = (REPO / "ARCHITECTURE.md").read_text()
    if readers:
        assert not re.search(r"never (reads|touches|sees) `?snakemake", text)
        assert all(name.removesuffix(".py") in text for name in readers)


# --- the benchmark report ----------------------------------------------------------------

def load_bench():
    """benchmarks/run_benchmarks.py as a module (it imports its neighbours)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        return load("benchmarks/run_benchmarks.py", "run_benchmarks")
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


def test_the_benchmark_report_holds_this_run_and_keeps_the_history(tmp_path):
    bench = load_bench()
    report = tmp_path / "BENCHMARKS.md"
    report.write_text(f"# old\n\nold figures 123.4 s\n\n{bench.HISTORY_MARKER}\n## History\n\n- 2026-01-01: 9.9 s\n")
    figures = {
        "command": "python benchmarks/run_benchmarks.py --out bench", "date": "2030-01-02", "commit": "abc1234",
        "machine": "x86_64, 2 cores, 8 GiB RAM, Python 3.11.7", "files": 6, "size_mb": 60.0,
        "workflow_wall": 10.0, "workflow_cpu": 15.0, "workflow_peak_mb": 200.0, "machine_peak_mb": 300.0,
        "max_job_rss_mb": 180.0, "max_job_rule": "figures", "ingest_jobs": 2, "ingest_job_seconds": 4.0,
        "ingest_max_rss_mb": 90.0, "raw_mb_s": 900.0, "pyarrow_mb_s": 100.0, "noop_wall": 2.0,
        "fullscale_dry_run_wall": 3.0,
    }
    timeline = pd.DataFrame([
        {"rule": "ingest", "job": "ingest/a", "s": 2.0, "cpu_time": 1.5, "max_rss": 90.0, "start": 1.0, "end": 3.0},
        {"rule": "ingest", "job": "ingest/b", "s": 2.0, "cpu_time": 1.5, "max_rss": 80.0, "start": 1.0, "end": 3.0},
        {"rule": "figures", "job": "figures/DL", "s": 5.0, "cpu_time": 4.0, "max_rss": 180.0, "start": 3.0, "end": 8.0},
    ])

    class Args:
        cities, days, start, zero_share, area_scale = ["Nice", "Nancy"], 3, "2019-04-01", 0.85, 0.3

    bench.write_report(report, figures, timeline, Args)
    text = report.read_text()
    assert "Measured 2030-01-02 at commit abc1234 on x86_64, 2 cores, 8 GiB RAM" in text
    assert "123.4" not in text and "# old" not in text
    assert text.endswith(f"{bench.HISTORY_MARKER}\n## History\n\n- 2026-01-01: 9.9 s\n")
    before_history = text.split(bench.HISTORY_MARKER)[0]
    assert "| ingest | 2 | 4.0 | 90 |" in before_history
    for past in ("235.5", "s2final", "97bfd2d", "717ab7c"):  # nothing measured elsewhere is pasted in
        assert past not in before_history
    provenance = bench.provenance()
    assert provenance["machine"].split(",")[0] == subprocess.run(["uname", "-m"], capture_output=True,
                                                                   text=True).stdout.strip()


def test_the_files_to_series_bound_is_judged_at_full_scale_only():
    bench = load_bench()
    # 1,000 MB read at 100 MB/s: 10 s; parsed at 200 MB/s per core on 2 cores: 2.5 s
    figures = {"size_mb": 1000.0, "raw_mb_s": 100.0, "pyarrow_mb_s": 50.0, "ingest_job_seconds": 30.0,
               "noop_wall": 1.0, "workflow_wall": 100.0, "max_job_rss_mb": 100.0, "max_job_rule": "ingest",
               "kernel": {"buffers": {"decimal": {"current_mb_s": 200.0, "baseline_mb_s": 150.0, "ratio": 1.33}}}}

    def series_row(wall, full_scale):
        rows = bench.target_rows({**figures, "series_wall": wall}, full_scale)
        return next(row for row in rows if row[0].startswith("files -> hourly series (cold)"))

    assert series_row(12.9, True)[1].startswith("12.9 s vs max(10.0, 2.5) s: 1.29x")
    assert series_row(12.9, True)[2] == "met" and series_row(13.1, True)[2] == "**not met**"
    assert series_row(13.1, False)[2] == "not judged at this size"
    assert series_row(13.1, False)[0].endswith(": a target of the full scale")


def test_the_5x_row_says_what_the_ingest_and_the_later_jobs_leave():
    bench = load_bench()
    figures = {"size_mb": 1000.0, "raw_mb_s": 100.0, "pyarrow_mb_s": 50.0, "ingest_job_seconds": 30.0,
               "noop_wall": 1.0, "workflow_wall": 12.0, "max_job_rss_mb": 100.0, "max_job_rule": "ingest",
               "notebook_wall": 40.0, "totals_max_relative_difference": 0.0, "totals_communes": 10}
    # the tile map runs beside the ingest, crime rates before it: neither counts after the ingest
    timeline = pd.DataFrame([
        {"rule": "tile_map", "s": 1.0, "start": 0.5, "end": 1.5},
        {"rule": "ingest", "s": 3.0, "start": 1.0, "end": 4.0},
        {"rule": "ingest", "s": 2.0, "start": 1.5, "end": 3.5},
        {"rule": "crime_rates", "s": 0.5, "start": 3.5, "end": 4.0},
        {"rule": "hourly", "s": 1.0, "start": 4.0, "end": 5.0},
        {"rule": "figures", "s": 3.0, "start": 5.0, "end": 8.0},
        {"rule": "falsification", "s": 4.0, "start": 5.1, "end": 9.1},
    ])
    assert bench.after_ingest(timeline) == (4.0, 8.0, 3)
    row = bench.target_rows(figures, False, timeline)[0]
    # 40 / 5 = 8 s; 4.0 + 8.0 / 2 cores = 8.0 s at best: 5.00x
    assert row[1] == ("40.0 s vs 12.0 s: 3.33x; 5x needs the whole run within 8.0 s: the last ingest job ended at "
                      "4.0 s, the 3 jobs after it took 8.0 job-seconds, at least 4.0 s on 2 cores: no sooner than "
                      "8.0 s (5.00x) with this ingest and these jobs")
    assert row[2] == "**not met**"
    assert bench.target_rows({**figures, "workflow_wall": 8.0}, False, timeline)[0][1] == "40.0 s vs 8.0 s: 5.00x"
    assert bench.target_rows(figures, False)[0][1] == "40.0 s vs 12.0 s: 3.33x"  # no timeline: the ratio alone


# --- the package map of ARCHITECTURE.md ------------------------------------------------

def architecture_layers():
    """{module: (layer, position)} from the table of ARCHITECTURE.md "Package layers"."""
    text = (REPO / "ARCHITECTURE.md").read_text().split("## Package layers", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \|", text, re.M)
    return {module: (int(layer), position) for position, (layer, module) in enumerate(rows)}


def layer_violations(package, layers):
    """Imports of a package module that the layer table does not allow: only from a layer
    above, or from a module listed before it in its own layer; and modules absent from
    the table."""
    import ast

    problems = []
    for path in sorted(package.glob("*.py")):
        module = path.stem
        if module == "__init__":
            continue
        if module not in layers:
            problems.append(f"{module}: not in ARCHITECTURE.md")
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "netmob_cpc" and len(parts) > 1 and parts[1] in layers:
                    if layers[parts[1]] >= layers[module]:
                        problems.append(f"{module} imports {parts[1]}")
    return sorted(set(problems))


def test_the_package_layers_of_architecture_match_the_imports():
    layers = architecture_layers()
    assert {"files", "codes", "estimates", "statistics", "figures"} <= set(layers)
    assert layer_violations(REPO / "scripts" / "netmob_cpc", layers) == []


def test_the_layer_check_catches_an_upward_import(tmp_path):
    (tmp_path / "files.py").write_text("from netmob_cpc.statistics import spearman\n")
    (tmp_path / "statistics.py").write_text("def f():\n    import netmob_cpc.files\n")
    (tmp_path / "stray.py").write_text("")
    layers = {"files": (1, 0), "statistics": (4, 1)}
    assert layer_violations(tmp_path, layers) == ["files imports statistics", "stray: not in ARCHITECTURE.md"]


def test_every_make_command_the_docs_give_is_a_makefile_target():
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    named = {name for source, text in doc_texts().items() if source.endswith((".md", ".rst"))
             for name in re.findall(r"(?:^|`)make ([\w-]+)", text, re.M)}
    assert {"run", "test", "docs"} <= named
    assert sorted(named - targets) == []
    quick_start = (REPO / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^make (\w+)", quick_start, re.M) == ["run", "test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()
