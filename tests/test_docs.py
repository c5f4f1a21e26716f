"""The docs stay true to the code: every configuration key is documented with its
default, every output file a run writes is described, and the repository stands on its
own (no reference to documents it does not contain)."""

import re
import subprocess

import yaml

from workflow_runner import REPO, schema_defaults


def flat_keys(defaults, prefix=""):
    for key, value in defaults.items():
        if isinstance(value, dict):
            yield from flat_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def default_spellings(value):
    """Ways a default may be written in a Markdown table."""
    if value == "":
        return ['`""`', "empty"]
    if isinstance(value, list) and len(value) > 6:
        return [f"all {len(value)}"]
    spellings = {str(value), yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...")}
    if isinstance(value, float):
        spellings |= {f"{value:g}", repr(value), f"{value:.0e}".replace("e+", "e")}
    return [f"`{text}`" for text in spellings] + sorted(spellings)


def test_every_config_key_is_documented_with_its_default():
    text = (REPO / "config" / "README.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    undocumented, wrong_default = [], []
    for key, value in flat_keys(schema_defaults()):
        row = rows.get(f"`{key}`")
        if row is None:
            undocumented.append(key)
        elif not any(spelling in row for spelling in default_spellings(value)):
            wrong_default.append((key, value, row))
    assert undocumented == []
    assert wrong_default == []


def test_every_output_file_is_described_in_the_readme():
    readme = (REPO / "README.md").read_text()
    common = (REPO / "rules" / "common.smk").read_text()
    names = set(re.findall(r'"(\w+\.(?:csv|json))"', common)) | {"simulation.csv"}
    missing = sorted(name for name in names if name not in readme)
    assert missing == []


def test_the_repository_cites_no_document_it_does_not_contain():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    citing = [
        path for path in tracked
        if path != "tests/test_docs.py" and (REPO / path).is_file()
        and re.search(r"\bCONTRACT\b", (REPO / path).read_text(errors="ignore"))
    ]
    assert citing == []
