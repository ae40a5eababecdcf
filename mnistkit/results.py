"""The experiment log: one JSON line per training run, and the leaderboard built from it.

Every fit with ``mnistkit.training.LogRun`` (and every ``mnistkit.experiments.train`` call) appends a record to
``artifacts/<profile>/experiments.jsonl``; a run's final test score is appended as a newer record of the same run.
Notebook 08 reads it back, so a learner's own reruns reach the final comparison.

Appends are atomic: one ``write`` of one whole line, under an exclusive lock, to a file opened in
append mode. A writer killed mid-line costs only that line: the next append starts on a fresh line.
Readers skip lines they cannot use (not JSON, not UTF-8, wrong types) and the leaderboard says how many.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
from .files import can_create_in

try:  # POSIX; on Windows appends still go through one O_APPEND write
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

LOG_NAME = "experiments.jsonl"
COLUMNS = ("notebook", "name", "val_accuracy", "test_accuracy", "params", "epochs", "seconds", "seed")
# Every field of a run's record (mnistkit.training.Run.record), in order: leaderboard(details=True) has these
# columns even before any run is logged, so a notebook can select on them (08 reads "checkpoint").
RECORD_FIELDS = ("notebook", "name", "params", "epochs", "best_epoch", "seconds", "val_accuracy", "val_loss",
                 "test_accuracy", "test_loss", "seed", "profile", "checkpoint", "config", "run_id")


class LogError(ValueError):
    """The experiment log cannot be read or written (a folder in its place, no permission)."""


def check_log(path: str | Path | None = None) -> Path:
    """Raise LogError unless the log can be appended to (checked before training, so no finished run is lost)."""
    path = Path(path) if path else log_path()
    if path.is_dir():
        raise LogError(f"the experiment log {path} is a folder; remove or rename it")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise LogError(f"the experiment log {path} is not writable; fix its permissions or set MNISTKIT_ARTIFACTS")
        return path
    if not can_create_in(path.parent):
        raise LogError(f"the experiment log {path} cannot be created (no writable folder); set MNISTKIT_ARTIFACTS")
    return path


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
    if record.get("checkpoint"):  # under the log's folder: stored relative to it, so the artifacts can be copied
        checkpoint, folder = Path(record["checkpoint"]).resolve(), path.parent.resolve()
        if checkpoint.is_relative_to(folder):
            record["checkpoint"] = checkpoint.relative_to(folder).as_posix()
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


def read_records(path: str | Path | None = None, *, skipped: list | None = None) -> list[dict]:
    """All complete records of the log, oldest first, each ``checkpoint`` a path where the log is now. Lines that
    are not a UTF-8 JSON object (a killed writer's half line, garbage) are skipped; pass a list as ``skipped`` to
    collect their line numbers."""
    path = Path(path) if path else log_path()
    if not path.exists():
        return []
    if not path.is_file():  # a folder; a FIFO would block the read forever
        raise LogError(f"the experiment log {path} is a {'folder' if path.is_dir() else 'special file'}, not a file")
    records = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            record = None
        if isinstance(record, dict):
            checkpoint = record.get("checkpoint")
            if isinstance(checkpoint, str) and checkpoint and not Path(checkpoint).is_absolute():
                record["checkpoint"] = str(path.parent / checkpoint)
            records.append(record)
        elif skipped is not None:
            skipped.append(number)
    return records


_NUMBERS = ("val_accuracy", "test_accuracy", "val_loss", "test_loss", "seconds")
_COUNTS = ("params", "epochs", "best_epoch", "seed")


def _usable(record: dict) -> bool:
    """A leaderboard row: a name, text labels, finite numbers, integer counts (other missing fields are fine)."""
    def number(v):
        return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))

    return (isinstance(record.get("name"), str) and record["name"] != ""
            and isinstance(record.get("notebook", ""), str)
            and all(number(record.get(k)) for k in _NUMBERS)
            and all(record.get(k) is None or (isinstance(record[k], int) and not isinstance(record[k], bool))
                    for k in _COUNTS)
            and all(0 <= record[k] <= 1 for k in ("val_accuracy", "test_accuracy") if record.get(k) is not None))


def _latest_of_each_run(records: list[dict]) -> list[dict]:
    """Keep only the last record of each ``run_id`` (a run logged again with its test score replaces itself)."""
    last = {r["run_id"]: i for i, r in enumerate(records) if isinstance(r.get("run_id"), str)}
    return [r for i, r in enumerate(records) if not isinstance(r.get("run_id"), str) or last[r["run_id"]] == i]


def _own_checkpoints(records: list[dict]) -> list[dict]:
    """A checkpoint file holds the model of the last run that wrote it: earlier records of the same path (a run
    repeated under the same name) lose their ``checkpoint``, so no record points to another run's model."""
    seen = set()
    for record in reversed(records):
        if record.get("checkpoint") in seen:
            record["checkpoint"] = None
        elif record.get("checkpoint"):
            seen.add(record["checkpoint"])
    return records


def usable_records(path: str | Path | None = None) -> list[dict]:
    """The records a leaderboard can rank, the latest of each run, each ``checkpoint`` only on the run whose model
    the file holds; warns once with how many were skipped, and where."""
    path = Path(path) if path else log_path()
    unreadable: list[int] = []
    records = read_records(path, skipped=unreadable)
    good = _own_checkpoints(_latest_of_each_run([r for r in records if _usable(r)]))
    mistyped = sum(not _usable(r) for r in records)
    if unreadable or mistyped:
        lines = ", ".join(map(str, unreadable[:5])) + (" ..." if len(unreadable) > 5 else "")
        parts = ([f"{len(unreadable)} unreadable line(s) (line {lines})"] if unreadable else []) + \
                ([f"{mistyped} record(s) with wrong types"] if mistyped else [])
        warnings.warn(f"{path}: skipped {' and '.join(parts)}", stacklevel=3)
    return good


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
    wanted = (notebook,) if isinstance(notebook, str) else tuple(notebook) if isinstance(notebook, Sequence) else ()
    if notebook is not None and (not wanted or not all(isinstance(name, str) for name in wanted)):
        raise ValueError(f"notebook={notebook!r} is not valid; give a notebook's name or its prefix, e.g. '02'")
    frame = pd.DataFrame(usable_records(path))
    if frame.empty:
        extra = [f for f in RECORD_FIELDS if f not in columns] if details else []
        return pd.DataFrame(columns=[*columns, *extra])
    if notebook is not None:
        frame = frame[frame.get("notebook", pd.Series("", index=frame.index)).astype(str).str.startswith(wanted)]
    if sort_by not in frame.columns:
        if sort_by not in columns:
            raise ValueError(f"sort_by={sort_by!r} is not a column; choose one of: {', '.join(frame.columns)}")
        frame[sort_by] = float("nan")  # a field no logged run has yet: an empty column, not an error
    shown = [c for c in columns if c in frame.columns]
    if details:  # every other field, and an empty column for a field no record has yet
        shown += [c for c in frame.columns if c not in shown] + [f for f in RECORD_FIELDS if f not in frame.columns]
    frame = frame.reindex(columns=shown)
    return frame.sort_values(sort_by, ascending=not sort_by.endswith("accuracy"), kind="stable",
                             na_position="last").reset_index(drop=True)


def latest_runs(name: str, *, params: int | None = None, epochs: int | None = None, fingerprint: str | None = None,
                path: str | Path | None = None) -> pd.DataFrame:
    """The most recent logged run of each seed whose name starts with ``name`` (08's seeds and seconds).

    ``params``, ``epochs`` and ``fingerprint`` (``mnistkit.training.fingerprint``), when given, must match too: a
    run of an earlier version of a model (another size, number of epochs, augmentation or schedule) logged under
    the same name is not taken for the current one. Indexed by seed, in the order the runs were logged.
    """
    frame = pd.DataFrame(usable_records(path))
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
