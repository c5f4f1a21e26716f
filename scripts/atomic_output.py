"""Write outputs under a temporary name and rename them into place when complete, so that
an interrupted job never leaves a file that a later run would take for a result."""

import contextlib
import os


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
