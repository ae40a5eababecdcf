"""Execute the numbered notebooks in place, each in a fresh kernel (``make run``)."""
from __future__ import annotations

import time
from pathlib import Path

from .files import atomic_write_bytes


def notebook_paths(folder: str | Path) -> list[Path]:
    """The series' notebooks in order: ``NN_name.ipynb`` files of ``folder``."""
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb") if p.is_file())


def execute_notebook(path: str | Path, *, failed_dir: str | Path | None = None, timeout: int | None = None) -> float:
    """Run every cell of ``path`` top to bottom in a fresh kernel and save it in place.

    On an error the notebook on disk is left untouched; the failing copy goes to ``failed_dir``
    (when given) and the error propagates. Returns the wall time in seconds.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    except Exception:
        if failed_dir is not None:
            atomic_write_bytes(Path(failed_dir) / path.name, nbformat.writes(nb).encode())
        raise
    atomic_write_bytes(path, (nbformat.writes(nb) + "\n").encode())
    return time.perf_counter() - start
