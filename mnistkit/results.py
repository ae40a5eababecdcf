"""The experiment log: one JSON line per training run, and the leaderboard built from it.

Every ``mnistkit.training.train`` call appends a record to ``artifacts/<profile>/experiments.jsonl``.
Notebook 08 reads it back, so a learner's own reruns reach the final comparison.

Appends are atomic: one ``write`` of one whole line, under an exclusive lock, to a file opened in
append mode. A writer killed mid-line costs only that line: the next append starts on a fresh line,
and readers skip lines that do not parse.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from . import config

try:  # POSIX; on Windows appends still go through one O_APPEND write
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

LOG_NAME = "experiments.jsonl"
COLUMNS = ("notebook", "name", "val_accuracy", "test_accuracy", "params", "epochs", "seconds", "seed")


def log_path(artifacts: str | Path | None = None) -> Path:
    """The log file under ``artifacts`` (default: the active profile's artifact root)."""
    return Path(artifacts or config.artifacts_dir()) / LOG_NAME


def _plain(value):
    """JSON encoding for NumPy scalars/arrays, paths and tuples."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot log {type(value).__name__} in the experiment log")


def append_record(record: Mapping, *, path: str | Path | None = None) -> Path:
    """Append one record (a flat-ish dict) to the log, atomically; adds ``time`` if missing.

    Returns
    -------
    pathlib.Path
        The log file.
    """
    path = Path(path) if path else log_path()
    record = {"time": _dt.datetime.now().isoformat(timespec="seconds"), **record}
    line = json.dumps(record, default=_plain, sort_keys=True).encode() + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if fcntl:
            fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a killed writer's half line stays alone on its line
        os.write(fd, line)
    finally:
        os.close(fd)  # closing releases the lock
    return path


def read_records(path: str | Path | None = None) -> list[dict]:
    """All complete records of the log, oldest first; unparseable (truncated) lines are skipped."""
    path = Path(path) if path else log_path()
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def leaderboard(*, notebook=None, path: str | Path | None = None, columns=COLUMNS, details: bool = False,
                sort_by: str = "val_accuracy") -> pd.DataFrame:
    """Every logged run as a DataFrame, best validation accuracy first.

    Parameters
    ----------
    notebook : str or sequence of str, optional
        Keep runs from these notebooks only (``"02_baseline"``, or a prefix such as ``"02"``).
    path : str or Path, optional
        The log; default the active profile's.
    columns : sequence of str, default=COLUMNS
        Columns to show, in order.
    details : bool, default=False
        Also show every other logged field (losses, profile, time, checkpoint, config).
    sort_by : str, default="val_accuracy"
        Runs are chosen on the validation split, never the test set.
    """
    frame = pd.DataFrame(read_records(path))
    if frame.empty:
        return pd.DataFrame(columns=list(columns))
    if notebook is not None:
        wanted = (notebook,) if isinstance(notebook, str) else tuple(notebook)
        frame = frame[frame["notebook"].astype(str).str.startswith(wanted)]
    if sort_by not in frame.columns:
        raise ValueError(f"sort_by={sort_by!r} is not a column; choose one of: {', '.join(frame.columns)}")
    first = [c for c in columns if c in frame.columns]
    frame = frame[first + ([c for c in frame.columns if c not in first] if details else [])]
    return frame.sort_values(sort_by, ascending=not sort_by.endswith("accuracy"), kind="stable",
                             na_position="last").reset_index(drop=True)


def latest_runs(name: str, *, params: int | None = None, epochs: int | None = None, fingerprint: str | None = None,
                path: str | Path | None = None) -> pd.DataFrame:
    """The most recent logged run of each seed whose name starts with ``name`` (08's seeds and seconds).

    ``params``, ``epochs`` and ``fingerprint`` (``mnistkit.training.fingerprint``), when given, must match too: a
    run of an earlier version of a model (another size, number of epochs, augmentation or schedule) logged under
    the same name is not taken for the current one. Indexed by seed, in the order the runs were logged.
    """
    frame = pd.DataFrame(read_records(path))
    if frame.empty or "name" not in frame.columns:
        return pd.DataFrame(columns=list(COLUMNS)).set_index("seed")
    keep = frame["name"].astype(str).str.startswith(name)
    if params is not None:
        keep &= frame["params"] == params
    if epochs is not None:
        keep &= frame["epochs"] == epochs
    if fingerprint is not None:
        configs = frame.get("config", pd.Series(None, index=frame.index, dtype=object))
        keep &= configs.map(lambda c: isinstance(c, dict) and c.get("fingerprint") == fingerprint)
    return frame[keep].drop_duplicates("seed", keep="last").set_index("seed")
