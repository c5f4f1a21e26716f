"""How every rule's script ends on bad input or a full disk: one line naming the file and
what to do, in the job log and on the terminal, exit status 1, no traceback; outputs are
renamed into place only when complete."""

import errno
import sys
from types import SimpleNamespace

import pytest

from netmob_cpc.files import InputError, atomic_path, run_rule, sniff_separator


def fake_job(tmp_path):
    return SimpleNamespace(log=[str(tmp_path / "job.log")], rule="estimate_table")


def run(job, main, capfd):
    saved = sys.stderr
    try:
        with pytest.raises(SystemExit) as stopped:
            run_rule(job, main)
    finally:
        if sys.stderr is not saved:
            sys.stderr.close()
        sys.stderr = saved
    return stopped.value.code, capfd.readouterr().err


def test_bad_input_is_one_line_in_the_log_and_on_the_terminal(tmp_path, capfd):
    def main(snakemake):
        print("reading ...", file=sys.stderr)
        raise InputError("data/map.csv, line 7, column pop: 'abc' is not a number; fix the file")

    code, terminal = run(fake_job(tmp_path), main, capfd)
    expected = "Error in rule estimate_table: data/map.csv, line 7, column pop: 'abc' is not a number; fix the file"
    assert code == 1
    assert terminal.strip() == expected
    log = (tmp_path / "job.log").read_text()
    assert log.splitlines() == ["reading ...", expected]
    assert "Traceback" not in log + terminal


def test_full_disk_names_the_file_and_what_to_do(tmp_path, capfd):
    def main(snakemake):
        raise OSError(errno.ENOSPC, "No space left on device", "results/DL/cpc_com.csv")

    code, terminal = run(fake_job(tmp_path), main, capfd)
    assert code == 1
    assert terminal.strip() == (
        "Error in rule estimate_table: no space left on the device while writing results/DL/cpc_com.csv; "
        "free space (or point results_dir elsewhere) and rerun: finished outputs are kept, nothing is half-written."
    )


def test_unreadable_file_is_named(tmp_path, capfd):
    def main(snakemake):
        raise PermissionError(errno.EACCES, "Permission denied", "data/crime.csv")

    code, terminal = run(fake_job(tmp_path), main, capfd)
    assert code == 1
    assert "cannot read data/crime.csv: Permission denied. Check the path and its permissions." in terminal


def test_a_bug_keeps_its_traceback(tmp_path):
    def main(snakemake):
        raise KeyError("a bug of ours")

    saved = sys.stderr
    try:
        with pytest.raises(KeyError):
            run_rule(fake_job(tmp_path), main)
    finally:
        if sys.stderr is not saved:
            sys.stderr.close()
        sys.stderr = saved


def test_atomic_path_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "out" / "table.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            with open(tmp, "w") as handle:
                handle.write("half")
            raise RuntimeError("killed")
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []
    with atomic_path(target) as tmp:
        with open(tmp, "w") as handle:
            handle.write("whole")
    assert target.read_text() == "whole" and [p.name for p in (tmp_path / "out").iterdir()] == ["table.csv"]


@pytest.mark.parametrize("header, expected", [
    ("a;b;c", ";"), ("a,b,c", ","), ("a\tb\tc", "\t"), ("a;b,c", ";"), ("abc", None),
])
def test_sniff_separator(header, expected):
    assert sniff_separator(header) == expected


def test_data_lines_skip_blank_lines_and_start_quoted_records_where_they_start(tmp_path):
    from netmob_cpc.files import data_lines

    path = tmp_path / "table.csv"
    path.write_text('code,note\n06088,a\n\n06004,"two\nlines"\n06029,b\n')
    assert data_lines(path, ",") == [2, 4, 6]


def test_bad_value_and_repeated_keys_messages():
    import pandas as pd

    from netmob_cpc.files import bad_value, repeated_keys

    assert str(bad_value("t.csv", 7, "pop", "abc", "a number", "fix the file", 3)) == (
        "t.csv, line 7, column pop: 'abc' is not a number (3 such values in the column); fix the file"
    )
    table = pd.DataFrame({"k": ["a", "b", "a", "a"], "v": [1.0, None, 1.0, None]})
    with pytest.raises(InputError) as err:
        repeated_keys(table, ["k"], ["v"], "t.csv", lambda row: row + 2, "key")
    assert str(err.value) == (
        "t.csv: k a appears on line 2 and line 5 with different v (1 and an empty field); 1 key key(s) repeated "
        "with other values in all. Keep one row per key (a repeated row would be averaged or counted twice)."
    )
    kept, dropped = repeated_keys(table.iloc[:3], ["k"], ["v"], "t.csv", lambda row: row + 2, "key")
    assert kept.index.tolist() == [0, 1] and dropped == 1
