"""File helpers shared by every stage: atomic writes, the error type for bad input, the one
message for a bad value on a line of a table, the check of repeated keys, and the log.

An interrupted job must never leave a file that a later run would take for a result, so
every output is written under a temporary name and renamed into place when complete.
"""

import contextlib
import os
import sys

# The spellings of a missing value in a table the workflow reads (an empty field; NA as R
# and the current crime file write it; NaN / nan as pandas and NumPy print it). Any other
# word in a numeric column (`n/a`, `-`, `abc`, `1,5` where '.' decimals are expected) is an
# error that names the line and the column: pandas' own list would read `n/a`, `NULL` or
# `#N/A` as missing without a word.
MISSING_VALUES = ("", "NA", "NaN", "nan")
MISSING_SPELLED = "an empty field, NA or NaN"


class InputError(ValueError):
    """An input file the workflow cannot use; the message names the file (line, field or
    column), what was found and what to do. Entry scripts print it as the last line."""


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`; on success rename it to `path`."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    # keep the extension: some writers (parquet, npz) look at it
    tmp = os.path.join(folder, f".{name}.tmp-{os.getpid()}{os.path.splitext(name)[1]}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def log(message):
    """One line to the job's log (stderr, which `run_rule` points at the rule's log)."""
    print(message, file=sys.stderr)


def bad_value(path, line, column, value, expected, fix, count=1):
    """The InputError for a value a table cannot hold: `<path>, line <line>, column <column>:
    <value> is not <expected> (<count> such values in the column); <fix>`."""
    shown = "an empty field" if value is None or str(value).strip() == "" else repr(value)
    more = f" ({count} such values in the column)" if count > 1 else ""
    return InputError(f"{path}, line {line}, column {column}: {shown} is not {expected}{more}; {fix}")


def first_row(mask):
    """The position of the first True of a boolean mask (array or Series), None if none."""
    import numpy as np

    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    return int(positions[0]) if len(positions) else None


def data_lines(path, sep, encoding="utf-8-sig"):
    """The file line of each data row of a delimited text file, header excluded: blank lines
    are skipped (as pandas and pyarrow skip them) and a record whose quoted field spans lines
    gets the line it starts on. Read only to word an error: the readers stay fast."""
    import csv
    import gzip

    with open(path, "rb") as probe:
        zipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if zipped else open
    lines, previous = [], 0
    with opener(path, "rt", newline="", encoding=encoding, errors="replace") as handle:
        reader = csv.reader(handle, delimiter=sep)
        for record in reader:
            start, previous = previous + 1, reader.line_num
            if record:
                lines.append(start)
    return lines[1:]


def _differ(x, y):
    """Two cells differ (missing values equal each other, as pandas' duplicated has it)."""
    missing = [_shown_value(v) == "an empty field" for v in (x, y)]
    if any(missing):
        return not all(missing)
    return bool(x != y)


def _shown_value(value):
    """A value as an error message quotes it: numbers plainly, text quoted, missing values
    as 'an empty field'."""
    import numbers

    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "an empty field"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{float(value):.15g}"
    return repr(value)


def repeated_keys(table, key, values, path, line_of, what):
    """`table` without exact repeats of a key, and the number of rows dropped.

    A key (the columns `key`) on two rows that agree on every column of `values` is a
    repeat, dropped (the caller logs the count); two rows that disagree are an InputError
    naming the file, the key, both lines (`line_of(position)` gives the file line of a row
    position, None where the file has no lines) and the first column that differs with both
    values (or "on two rows" for a format without lines). Missing values count as equal to
    each other. `what` names a key's entity in the
    message ("commune", "commune, year, class and unit")."""
    import numpy as np

    exact = table.duplicated(subset=[*key, *values], keep="first").to_numpy()
    kept = table[~exact]
    positions = np.flatnonzero(~exact)
    second = kept.duplicated(subset=key, keep="first").to_numpy()
    if second.any():
        conflicting = kept[kept.duplicated(subset=key, keep=False)].drop_duplicates(subset=key)
        row_b = int(np.flatnonzero(second)[0])
        groups = kept.groupby(key, dropna=False, sort=False).ngroup().to_numpy()
        row_a = int(np.flatnonzero(groups == groups[row_b])[0])
        a, b = kept.iloc[row_a], kept.iloc[row_b]
        column = next((c for c in values if _differ(a[c], b[c])), values[0])
        lines = [line_of(int(positions[row])) for row in (row_a, row_b)]
        where = f"on line {lines[0]} and line {lines[1]}" if None not in lines else "on two rows"
        named = ", ".join(f"{c} {a[c]}" for c in key)
        raise InputError(
            f"{path}: {named} appears {where} with different {column} "
            f"({_shown_value(a[column])} and {_shown_value(b[column])}); {len(conflicting)} {what} key(s) "
            f"repeated with other values in all. Keep one row per {what} (a repeated row would be "
            "averaged or counted twice)."
        )
    return kept, int(exact.sum())


def sniff_separator(header_line, candidates=(";", ",", "\t")):
    """The delimiter of a CSV header: the candidate that occurs most often (';' wins ties,
    as in every French public data file)."""
    counts = {sep: header_line.count(sep) for sep in candidates}
    best = max(candidates, key=lambda sep: counts[sep])
    return best if counts[best] else None


def run_rule(snakemake, main):
    """Run an entry script's `main(snakemake)` the way every rule of the workflow does.

    stderr goes to the rule's log (line-buffered, so a killed job keeps what it wrote).
    A bad input (InputError) or a full disk ends the job with one line that names the file
    and what to do, written to the log and to the terminal, and no traceback: that line is
    what the user needs, the traceback is ours. Any other exception keeps its traceback (a
    bug of ours). Outputs are written atomically by `main`, so nothing is half-written.
    """
    import errno
    import sys

    terminal = sys.__stderr__
    if snakemake.log:
        sys.stderr = open(snakemake.log[0], "w", buffering=1)
    try:
        main(snakemake)
    except InputError as err:
        _fail(f"Error in rule {snakemake.rule}: {err}", terminal)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            _fail(
                f"Error in rule {snakemake.rule}: no space left on the device while writing "
                f"{err.filename or 'an output'}; free space (or point results_dir elsewhere) "
                "and rerun: finished outputs are kept, nothing is half-written.",
                terminal,
            )
        unusable = (errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOENT, errno.ENOTDIR,
                    errno.EEXIST, errno.EROFS)
        if err.errno in unusable and err.filename:
            if _is_output_path(err.filename, getattr(snakemake, "output", ())):
                _fail(
                    f"Error in rule {snakemake.rule}: cannot write {err.filename}: "
                    f"{err.strerror}. Make results_dir a folder this user can write (no file "
                    "in the way) and rerun: finished outputs are kept, nothing is half-written.",
                    terminal,
                )
            _fail(
                f"Error in rule {snakemake.rule}: cannot read {err.filename}: "
                f"{err.strerror}. Check the path and its permissions.",
                terminal,
            )
        raise


def _is_output_path(filename, outputs):
    """True when `filename` is an output, its temporary name (`atomic_path`) or a folder
    above one."""
    name = os.path.abspath(os.fspath(filename))
    for output in outputs:
        output = os.path.abspath(os.fspath(output))
        folder, base = os.path.split(output)
        if name == output or (
            os.path.dirname(name) == folder and os.path.basename(name).startswith(f".{base}.tmp-")
        ):
            return True
        while folder != os.path.dirname(folder):
            if name == folder:
                return True
            folder = os.path.dirname(folder)
    return False


def _fail(message, terminal):
    import sys

    print(message, file=sys.stderr)
    if terminal is not None and sys.stderr is not terminal:
        print(message, file=terminal)
    raise SystemExit(1)
