"""Execute the numbered notebooks in place, each in a fresh kernel (``make run``), one or more at a time."""
from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import tempfile
import threading
import time
from pathlib import Path

from .files import atomic_write_bytes

ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
# After a Ctrl-C, a kernel still running this long is killed, as by a second Ctrl-C. The outcome is the same (the
# command stops and saves nothing), and an idle kernel hit by SIGINT can lose the reply nbclient waits for.
KILL_AFTER_S = 3
# The first line run-notebooks prints when it runs notebooks side by side: doctor --calibrate refuses such a log.
SIDE_BY_SIDE = re.compile(r"^up to (\d+) notebooks at a time", re.M)


def side_by_side_line(jobs: int) -> str:
    return f"up to {jobs} notebooks at a time, where they read nothing of each other's (--jobs 1: one at a time)"


class NotebookError(RuntimeError):
    """A notebook that could not be read, run or saved; the message says why, and where any copy went;
    ``notebook`` is its path."""

    def __init__(self, message: str, notebook: str | Path | None = None):
        super().__init__(message)
        self.notebook = Path(notebook) if notebook is not None else None


def notebook_paths(folder: str | Path) -> list[Path]:
    """The series' notebooks in order: ``NN_name.ipynb`` files of ``folder``."""
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb") if p.is_file())


def reads(path: str | Path) -> tuple[str, ...] | None:
    """The notebooks whose results ``path`` reads, as its metadata lists them under ``mnistkit.reads`` (their
    numbers, such as ``["05"]``, each before its own; ``[]`` for none); None when its metadata does not say."""
    path = Path(path)
    try:  # the JSON alone: nbformat's first read compiles its schema validator with exec(), and a Ctrl-C landing
        metadata = json.loads(path.read_bytes())["metadata"]  # in there makes Python end killed by SIGINT (-2),
        if not isinstance(metadata, dict):  # not with run-notebooks' exit code 130; its turn validates it in full
            raise TypeError(f"its metadata is {type(metadata).__name__}, not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:  # not JSON, not a notebook
        raise NotebookError(f"cannot read {path} as a notebook ({type(exc).__name__}: {exc})", path) from exc
    ours = metadata.get("mnistkit", {})
    listed = ours.get("reads") if isinstance(ours, dict) else ours
    if listed is None:
        return None
    if not isinstance(ours, dict) or not isinstance(listed, list) or not all(
            isinstance(n, str) and re.fullmatch(r"\d\d", n) and n < path.name[:2] for n in listed):
        raise NotebookError(f"{path}: its metadata mnistkit.reads must list the numbers of notebooks before it, such "
                            f"as {{\"reads\": [\"05\"]}} (or [] for none), not {ours!r}", path)
    return tuple(listed)


def waits_for(paths: list[Path]) -> dict[Path, list[Path]]:
    """For each notebook of ``paths`` (in series order), the ones before it that must finish before it starts: those
    its metadata ``mnistkit.reads`` lists (``[]``: none), or every one before it when its metadata has no
    ``mnistkit.reads`` (a notebook that compares what the earlier ones logged or saved, as 07 and 08 do)."""
    waits = {}
    for i, path in enumerate(paths):
        listed = reads(path)
        waits[path] = paths[:i] if listed is None else [p for p in paths[:i] if p.name[:2] in listed]
    return waits


def run_series(paths: list[Path], *, jobs: int = 1, failed_dir: str | Path | None = None, started=None,
               finished=None, failed=None) -> float:
    """Run ``paths`` (in series order), up to ``jobs`` at a time, each once the notebooks it waits for
    (``waits_for``) have finished; side by side, those that more of the others wait for start first.
    ``started(path)``, ``finished(path, seconds)`` and ``failed(path, error)`` (each ``NotebookError``, including one
    found before any runs) are called as they happen. Returns the wall time.

    A failing notebook stops any more from starting; those already running finish (and are saved, or fail too), then
    the first ``NotebookError`` is raised. Each notebook runs in a thread of its own, so a Ctrl-C reaches this one:
    it interrupts every running notebook, as Jupyter's stop button does (a second one kills their kernels), and
    ``KeyboardInterrupt`` is raised once they have stopped.
    """
    started, finished = started or (lambda path: None), finished or (lambda path, seconds: None)
    failed = failed or (lambda path, error: None)
    try:
        waits, done, failures = waits_for(paths), set(), []
    except NotebookError as exc:  # a notebook that cannot be read, or its metadata: before any runs
        failed(exc.notebook, exc)
        raise
    # side by side, first the notebooks that more of the others wait for (05, which 06 reads); else in series order
    pending = sorted(paths, key=lambda path: (-sum(path in waits[other] for other in paths) if jobs > 1 else 0,
                                              paths.index(path)))
    running, threads, results, ctrl_c_handlers, stop = set(), {}, queue.Queue(), {}, []

    def run(path):
        def keep_handler(ctrl_c):  # this notebook's Ctrl-C, for this thread to pass on; a Ctrl-C before it was
            ctrl_c_handlers[path] = ctrl_c  # kept still reaches it, before its first cell
            if stop:
                ctrl_c(later=_in_a_thread)
        try:
            results.put((path, execute_notebook(path, failed_dir=failed_dir, on_ctrl_c=keep_handler)))
        except BaseException as exc:  # NotebookError, KeyboardInterrupt: the main thread decides
            results.put((path, exc))

    begin = time.perf_counter()
    while pending or running:
        try:  # a Ctrl-C, wherever it lands in here: to every running notebook; a second one kills their kernels
            ready = [p for p in pending if set(waits[p]) <= done] if not failures and not stop else []
            for path in ready[:jobs - len(running)]:
                pending.remove(path)
                started(path)
                threads[path] = threading.Thread(target=run, args=(path,), daemon=True)
                threads[path].start()
                running.add(path)
            if not running:  # nothing can start: a failure or a Ctrl-C stopped the rest
                break
            path, outcome = results.get(timeout=1)
        except queue.Empty:  # after a Ctrl-C, a result it cut off is lost: its thread has ended, so stop waiting
            running -= {p for p in running if stop and not threads[p].is_alive()}
            continue
        except KeyboardInterrupt:
            stop.append(True)
            for path in running:
                if path in ctrl_c_handlers:
                    ctrl_c_handlers[path](later=_in_a_thread)
            continue
        running.discard(path)
        if isinstance(outcome, KeyboardInterrupt):
            stop.append(True)
        elif isinstance(outcome, NotebookError):
            failures.append(outcome)
            failed(path, outcome)
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            done.add(path)
            finished(path, outcome)
    if stop:
        raise KeyboardInterrupt
    if failures:
        raise failures[0]
    return time.perf_counter() - begin


def kernel_manager_class(base: type | None = None) -> type:
    """``base`` (default: jupyter_client's ``AsyncKernelManager``, nbclient's) reaching its kernel over Unix sockets
    named after the kernel's own connection file, on POSIX; elsewhere ``base`` itself. Over TCP, kernels started side
    by side (run-notebooks' jobs, make test's two workers) can race for one free port, and the loser dies at start-up
    ("Kernel died before replying to kernel_info")."""
    if base is None:
        from jupyter_client import AsyncKernelManager as base
    if os.name != "posix":
        return base

    class OnUnixSockets(base):
        def __init__(self, **kwargs):
            if "connection_file" not in kwargs:
                fd, kwargs["connection_file"] = tempfile.mkstemp(prefix="kernel-", suffix=".json")
                os.close(fd)
            super().__init__(**{"transport": "ipc", **kwargs})  # sockets <connection file>-ipc-1 to -5

    return OnUnixSockets


def _in_a_thread(delay, function, *args):
    """``loop.call_later`` for a thread with no event loop: ``function(*args)`` after ``delay`` seconds."""
    timer = threading.Timer(delay, function, args)
    timer.daemon = True
    timer.start()


def execute_notebook(path: str | Path, *, failed_dir: str | Path | None = None, timeout: int | None = None,
                     on_ctrl_c=None) -> float:
    """Run every cell of ``path`` top to bottom in a fresh kernel and save it in place; returns the wall time in s.

    ``on_ctrl_c``, when given, receives the function that acts on a Ctrl-C for this notebook, for a caller whose
    own thread gets the Ctrl-C (``run_series`` running several notebooks, each in a thread of its own).

    Raises
    ------
    NotebookError
        If the file is not a notebook, a cell fails, or the result cannot be saved in place. The notebook on disk
        is then left as it was, and the executed copy (its outputs up to the failing cell) goes to ``failed_dir``
        when given; the message says where, or why no copy could be kept.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # not JSON, not a notebook, unreadable
        raise NotebookError(f"cannot read {path} as a notebook ({type(exc).__name__}: {exc})", path) from exc
    # the kernel's own log is quiet (no ipykernel warnings, no "KeyboardInterrupt caught" after a Ctrl-C), and the
    # kernel process's stderr goes to a file, not the terminal: a kernel shut down by a Ctrl-C can print a traceback
    # of ipykernel's there (its sockets closing under it); a failure's message quotes the file's last lines
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", kernel_manager_class=kernel_manager_class(),
                            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    interrupted, ctrl_c = _interrupt_the_kernel_on_ctrl_c(client)
    if on_ctrl_c is not None:
        on_ctrl_c(ctrl_c)
    with tempfile.TemporaryFile() as kernel_log:
        try:
            client.execute(stderr=kernel_log)
        except Exception as exc:
            if interrupted:  # the kernel stopped the cell; the caller stops too, as Ctrl-C asked
                raise KeyboardInterrupt from None
            message = ANSI_COLOUR.sub("", str(exc))  # a cell's traceback comes coloured for a browser, not a log
            raise NotebookError(f"{type(exc).__name__}: {message[-2000:]}{_last_lines(kernel_log)}\n"
                                f"{_keep(nb, path, failed_dir)}; {path} was left as it was", path) from exc
    if interrupted:  # Ctrl-C between two cells: the kernel had nothing to stop, but the command stops all the same
        raise KeyboardInterrupt
    seconds = time.perf_counter() - start
    try:
        atomic_write_bytes(path, (nbformat.writes(nb) + "\n").encode())
    except OSError as exc:
        raise NotebookError(f"it ran ({seconds:.0f} s) but cannot be saved in place ({exc.strerror or exc}); "
                            f"{_keep(nb, path, failed_dir)}", path) from exc
    return seconds


def _interrupt_the_kernel_on_ctrl_c(client) -> tuple[list, object]:
    """Make Ctrl-C interrupt the running cell, as Jupyter's stop button does, instead of nbclient's default of
    shutting the kernel down mid-cell (which leaves it printing a traceback); between two cells it stops before the
    next one. A second Ctrl-C, or a kernel still running ``KILL_AFTER_S`` after the first, kills the kernel.
    Returns the list that records each Ctrl-C, and the handler, which takes the ``later`` that runs the kill timer
    (default: the event loop's ``call_later``, in the client's thread)."""
    import asyncio

    interrupts, cell_running = [], []

    def signal_kernel(sig):
        km = client.km  # None once nbclient has cleaned up, which a late timer can follow
        pid = getattr(km.provisioner, "pid", None) if km is not None and km.has_kernel else None
        if pid is not None:  # the kernel leads its own session: signal it and anything it started
            with contextlib.suppress(ProcessLookupError):  # it has just exited: nbclient reports that
                os.killpg(pid, sig)

    def on_ctrl_c(later=None):
        interrupts.append(signal.SIGINT)
        if len(interrupts) > 1:
            signal_kernel(signal.SIGKILL)
        elif cell_running:  # an idle kernel hit by SIGINT can lose a reply: hence the kill if it does not stop
            signal_kernel(signal.SIGINT)
            (later or asyncio.get_running_loop().call_later)(KILL_AFTER_S, signal_kernel, signal.SIGKILL)

    def take_over_ctrl_c(**_):  # nbclient's hook once the kernel is up, after nbclient set its own handler
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, on_ctrl_c)
        except (RuntimeError, NotImplementedError):  # not the main thread, or no signals (Windows): nbclient's way
            pass

    def before_a_cell(**_):
        if interrupts:  # a Ctrl-C that came between two cells
            raise RuntimeError("interrupted between two cells")

    client.on_notebook_start, client.on_cell_start = take_over_ctrl_c, before_a_cell
    client.on_cell_execute = lambda **_: cell_running.append(True)  # just before the request goes out
    client.on_cell_executed = lambda **_: cell_running.clear()  # once its reply is in
    return interrupts, on_ctrl_c


def _last_lines(log, n: int = 10) -> str:
    """The last ``n`` lines of the kernel's log file, each as a line of a message; "" when it logged nothing."""
    log.seek(0)
    return "".join(f"\nkernel: {line}" for line in log.read().decode(errors="replace").strip().splitlines()[-n:])


def _keep(nb, path: Path, failed_dir) -> str:
    """Save the executed copy of ``path`` in ``failed_dir``; say where, or why not."""
    import nbformat

    if failed_dir is None:
        return "no copy was kept"
    try:
        copy = atomic_write_bytes(Path(failed_dir) / path.name, nbformat.writes(nb).encode())
    except OSError as exc:
        return f"no copy was kept: cannot write to {failed_dir} ({exc.strerror or exc})"
    return f"the executed copy is {copy}"
