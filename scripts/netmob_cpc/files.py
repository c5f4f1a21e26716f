"""File helpers shared by every stage: atomic writes and the error type for bad input.

An interrupted job must never leave a file that a later run would take for a result, so
every output is written under a temporary name and renamed into place when complete.
"""

import contextlib
import os


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
