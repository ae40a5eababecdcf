"""Distributed hyperparameter search on keras-tuner's own chief/worker engine (``python -m mnistkit tune``).

keras-tuner runs one **chief** (the oracle: it hands out hyperparameters and collects results over
gRPC) and any number of **workers** (each trains the trials it is handed). Every process runs the same
search code; three environment variables say which role it plays and where the chief listens:

``KERASTUNER_TUNER_ID``     ``chief`` for the oracle, ``tuner0``, ``tuner1``, ... for the workers
``KERASTUNER_ORACLE_IP``    the chief's address (``127.0.0.1`` on one machine)
``KERASTUNER_ORACLE_PORT``  the chief's port

``run_search`` starts a chief and N workers on this machine, reports workers that die (the rest finish
the search), stops everything it started on Ctrl-C, and returns the trial table with the worker that
ran each trial. ``node_command`` is the command each process runs, for running them on several hosts.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from . import config, results
from .checks import check_choice, check_folder, check_plain_name, check_positive_ints, is_int, port_number
from .data import VALIDATION_SIZE
from .idx import MNIST

ROLE, IP, PORT = "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"
WORKER_LOG = "workers.jsonl"
TRAIN_IMAGES = MNIST.counts[0] - VALIDATION_SIZE  # what a node trains on at most


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_search_args(*, tuner: str, max_trials: int, epochs: int, train_size: int | None,
                      port: int | None = None, workers: int | None = None) -> None:
    """Every argument of a search, checked before any process starts (ValueError naming what is valid)."""
    check_choice("tuner", tuner, config.TUNERS)
    check_positive_ints(max_trials=max_trials, epochs=epochs, **({} if workers is None else {"workers": workers}))
    if train_size is not None:
        check_positive_ints(train_size=train_size)
        if train_size > TRAIN_IMAGES:
            raise ValueError(f"train_size={train_size} is more than MNIST's {TRAIN_IMAGES:,} training images (after "
                             f"the validation split); use 1 to {TRAIN_IMAGES}, or leave it out for all of them")
    if port is not None and (not is_int(port) or port_number(port) is None):
        raise ValueError(f"port={port!r} is not valid; use a TCP port from 1 to 65535")
    if workers is not None and workers > max_workers():
        raise ValueError(f"workers={workers} is more than this machine can run (each worker is a Python with its own "
                         f"TensorFlow); use 1 to {max_workers()}, four per CPU")


def max_workers() -> int:
    """The most workers ``run_search`` starts on this machine: four per CPU that ``os.cpu_count()`` counts."""
    return 4 * (os.cpu_count() or 1)


def node_command(*, directory: Path, project: str, tuner: str, max_trials: int, epochs: int,
                 train_size: int | None, seed: int, overwrite: bool = False) -> list[str]:
    """The command a chief or worker runs (its role comes from ``KERASTUNER_TUNER_ID``)."""
    cmd = [sys.executable, "-m", "mnistkit", "tune-node", "--directory", str(directory), "--project", project,
           "--tuner", tuner, "--max-trials", str(max_trials), "--epochs", str(epochs), "--seed", str(seed)]
    return cmd + (["--train-size", str(train_size)] if train_size else []) + (["--overwrite"] if overwrite else [])


def wait_for_chief(host: str, port: int, timeout: float, *, chief: subprocess.Popen | None = None) -> None:
    """Return once something listens on ``host:port``; RuntimeError after ``timeout`` seconds, or as soon as
    ``chief`` (the process started to serve there, if this one started it) exits."""
    deadline = time.monotonic() + timeout
    while True:
        if chief is not None and chief.poll() is not None:
            raise RuntimeError(f"the chief exited with code {chief.returncode} before serving on {host}:{port}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        if time.monotonic() > deadline:
            remedy = f"start the chief first, or check {IP} and {PORT}" if chief is None else "see its output above"
            raise RuntimeError(f"no chief answered on {host}:{port} within {timeout:.0f} s; {remedy}")
        time.sleep(0.3)


def chief_address() -> tuple[str, int]:
    """The chief's host and port from ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``, checked before a node
    loads anything (RuntimeError naming the variable)."""
    host, value = os.environ.get(IP) or "127.0.0.1", os.environ.get(PORT, "")
    port = port_number(value.strip())
    if port is None:
        raise RuntimeError(f"{PORT}={value!r} is not valid; set it to the chief's TCP port, 1 to 65535")
    try:
        socket.getaddrinfo(host, port)
    except (OSError, UnicodeError) as exc:
        raise RuntimeError(f"{IP}={host!r} does not resolve ({exc}); set it to the chief's address") from None
    return host, port


def run_node(*, directory: Path, project: str, tuner: str, max_trials: int, epochs: int, train_size: int | None,
             seed: int, batch_size: int = 256, overwrite: bool = False, chief_timeout: float = 120) -> None:
    """Body of one chief or worker process. The chief serves the oracle until the search is done;
    a worker waits up to ``chief_timeout`` seconds for the chief, then trains trials and appends
    ``{trial, worker, seconds}`` to ``<project>/workers.jsonl``."""
    check_search_args(tuner=tuner, max_trials=max_trials, epochs=epochs, train_size=train_size)
    project = check_plain_name("project", project)
    role = os.environ.get(ROLE)
    if not role:
        raise RuntimeError(f"{ROLE} is not set: use 'python -m mnistkit tune' or set {ROLE}, {IP} and {PORT}")
    chief = role == "chief"
    host, port = chief_address()
    if not chief:
        check_plain_name(ROLE, role)
        wait_for_chief(host, port, chief_timeout)
    from . import data as mkdata
    from . import tuning

    splits = mkdata.load_mnist_splits(validation_size=VALIDATION_SIZE, train_size=train_size, seed=seed)
    tuner_obj = tuning.make_tuner(tuner, max_trials=max_trials, max_epochs=epochs, seed=seed, overwrite=overwrite,
                                  directory=directory if chief else directory / "workers",
                                  project=project if chief else f"{project}-{role}")
    if not chief:
        tuner_obj.worker_log = directory / project / WORKER_LOG
    tuning.search(tuner_obj, splits, epochs=epochs, batch_size=batch_size)


def _stop(procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_search(*, workers: int = 2, port: int | None = None, host: str = "127.0.0.1", tuner: str = "random",
               max_trials: int = 6, epochs: int = 3, train_size: int | None = None, seed: int = 42,
               directory: str | Path | None = None, start_timeout: float = 180, log=print) -> pd.DataFrame:
    """Start a chief and ``workers`` workers on this machine, wait for the search, return its trial table.

    Workers that exit with an error are reported through ``log`` while the others finish the search.
    Ctrl-C (KeyboardInterrupt) stops every process this function started before it propagates.
    """
    check_search_args(tuner=tuner, max_trials=max_trials, epochs=epochs, train_size=train_size, port=port,
                      workers=workers)
    directory = check_folder("directory", directory or config.artifacts_dir() / "tuning")
    try:  # the chief writes its trials there: find out now, not from its traceback
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as exc:
        raise ValueError(f"directory={str(directory)!r} cannot be written ({exc.strerror}); give a folder you can "
                         f"write to") from None
    project = f"distributed-{tuner}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    if port is None:
        port = free_port(host)
    else:
        try:
            with socket.socket() as s:
                s.bind((host, port))
        except OSError as exc:
            raise RuntimeError(f"the chief cannot listen on {host}:{port} ({exc.strerror}); choose another "
                               f"--oracle-port, or leave it out for a free one") from None
    cmd = node_command(directory=directory, project=project, tuner=tuner, max_trials=max_trials, epochs=epochs,
                       train_size=train_size, seed=seed)
    env = {**os.environ, IP: host, PORT: str(port)}
    previous = _interrupt_on_signals()
    started = [subprocess.Popen(cmd, env={**env, ROLE: "chief"})]
    try:
        wait_for_chief(host, port, start_timeout, chief=started[0])
        log(f"chief serving on {host}:{port}; starting {workers} worker(s)")
        pool = {}
        for i in range(workers):  # each joins `started` as it starts, so Ctrl-C midway stops it too
            pool[f"tuner{i}"] = subprocess.Popen(cmd, env={**env, ROLE: f"tuner{i}"})
            started.append(pool[f"tuner{i}"])
        died = _wait_for_workers(pool, started[0], log)
        try:  # the chief saved each trial as it ended; it rechecks for the end only every 20 s, so stop it now
            started[0].wait(timeout=2)
        except subprocess.TimeoutExpired:
            if died:
                log("the chief is still waiting on trials of dead workers; stopping it")
    finally:
        _stop(started)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return trial_table(directory / project)


def _interrupt_on_signals() -> dict:
    """Make SIGINT (Ctrl-C) and SIGTERM raise KeyboardInterrupt here, even when this process was started with
    SIGINT ignored (as background jobs of a non-interactive shell are); returns the handlers to restore."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    return {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}


def _wait_for_workers(pool: dict, chief: subprocess.Popen, log) -> bool:
    """Wait until every worker has exited; True if any died."""
    running, died = dict(pool), False
    while running:
        if chief.poll() is not None and chief.returncode != 0:
            raise RuntimeError(f"the chief exited with code {chief.returncode} during the search; "
                               f"stopped {len(running)} worker(s)")
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                del running[name]
                if proc.returncode != 0:
                    died = True
                    log(f"worker {name} died (exit code {proc.returncode}); the other workers carry on")
        time.sleep(0.5)
    return died


def trial_table(project_dir: str | Path) -> pd.DataFrame:
    """The chief's trials (from its ``trial_*/trial.json`` files) with the worker that ran each."""
    project_dir = Path(project_dir)
    ran = {r["trial"]: r for r in results.read_records(project_dir / WORKER_LOG)}
    rows = []
    for path in sorted(project_dir.glob("trial_*/trial.json")):
        trial = json.loads(path.read_text())
        tid = trial["trial_id"]
        best = (trial.get("metrics", {}).get("metrics", {}).get("val_accuracy", {}).get("observations") or [{}])
        values = [v for obs in best for v in obs.get("value", [])]
        rows.append({"trial": tid, "status": trial.get("status"), "worker": ran.get(tid, {}).get("worker"),
                     "val_accuracy": max(values) if values else None, "seconds": ran.get(tid, {}).get("seconds"),
                     **trial.get("hyperparameters", {}).get("values", {})})
    return pd.DataFrame(rows)
