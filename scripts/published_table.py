"""The authors' published per-commune table (CONTRACT 1.4) as this workflow's cpc_com.csv.

People without a NetMob licence replicate the statistics from it. The table is
semicolon-separated with `.` decimals; `level_0` and `index` are leftovers of the notebook;
`Tor_to_darknet_share` reads `11` (a locale artefact for 0.011); empty fields are missing
values; `code_com` is text (`06088`, `2A004`).
"""

import sys

import pandas as pd

SHARE_COLUMNS = [
    "Tor_to_darknet_share",
    "Pornography_in_darknet_URL_share",
    "Child_pornography_to_pornography_in_darknet_URL_share",
]
DERIVED = [
    "cpc", "cpc_per_1000", "log_cpc", "log_cpc_per_1000", "yt_per_1000", "wa_per_1000", "tor_per_1000",
    "log_yt_per_1000", "log_wa_per_1000", "log_tor_per_1000", "sv_19", "sv_17_21", "sv_com_19", "sv_com_17_21",
]


class PublishedTableError(ValueError):
    """The published table is not in the expected layout."""


def department_of(code_com):
    """INSEE department of a commune code: 3 characters overseas (97x), else 2 (2A, 2B)."""
    code = str(code_com)
    return code[:3] if code.startswith("97") else code[:2]


def read_published_table(path, apps):
    """Read and check the table; returns it with the contract's cpc_com columns."""
    with open(path, encoding="utf-8", errors="strict") as handle:
        header = handle.readline().rstrip("\r\n")
    if ";" not in header:
        raise PublishedTableError(
            f"{path}: the header has no ';' (found {header[:80]!r}); the published table is semicolon-separated"
        )
    table = pd.read_csv(path, sep=";", decimal=".", dtype={"code_com": str, "cities": str, "traffic_dir": str})
    app_columns = [apps["porn"], apps["tor"], apps["control"]]
    required = ["cities", "code_com", "traffic_dir", *app_columns, "c", "pop", *SHARE_COLUMNS, *DERIVED]
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise PublishedTableError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    notes = []
    tor_share = table["Tor_to_darknet_share"]
    if (tor_share > 1).any():
        # '11' stands for 0.011 (a locale artefact of the authors' export)
        table["Tor_to_darknet_share"] = tor_share.where(tor_share <= 1, tor_share / 1000)
        notes.append(f"Tor_to_darknet_share {sorted(tor_share[tor_share > 1].unique())} read as per mille")
    table["code_com"] = table["code_com"].str.zfill(5)
    table["code_dep"] = table["code_com"].map(department_of)
    columns = ["cities", "code_com", "code_dep", "traffic_dir", *app_columns, "c", "pop", *SHARE_COLUMNS, *DERIVED]
    dropped = [column for column in table.columns if column not in columns]
    if dropped:
        notes.append(f"columns not used: {dropped}")
    return table[columns], notes


def main(snakemake):
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    from atomic_output import atomic_path

    table, notes = read_published_table(snakemake.input.table, snakemake.params.apps)
    direction = snakemake.params.direction
    rows = table[table["traffic_dir"] == direction]
    if rows.empty:
        raise PublishedTableError(
            f"{snakemake.input.table}: no row with traffic_dir == {direction!r} "
            f"(found {sorted(table['traffic_dir'].dropna().unique())}); set 'directions' accordingly"
        )
    for note in notes:
        print(note, file=sys.stderr)
    print(
        f"{len(rows)} communes read; heatmaps and the other correction methods need the time "
        "series and are skipped in this mode",
        file=sys.stderr,
    )
    with atomic_path(snakemake.output.estimates) as tmp:
        rows.to_csv(tmp, index=False)


if "snakemake" in globals():
    main(snakemake)  # noqa: F821
