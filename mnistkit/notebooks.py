"""Execute the numbered notebooks in place, each in a fresh kernel (``make run``)."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

from .files import atomic_write_bytes

ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")
# After a Ctrl-C, a kernel still running this long is killed, as by a second Ctrl-C. The outcome is the same (the
# command stops and saves nothing), and an idle kernel hit by SIGINT can lose the reply nbclient waits for.
KILL_AFTER_S = 3


class NotebookError(RuntimeError):
    """A notebook that could not be read, run or saved; the message says which, and where any copy went."""


def notebook_paths(folder: str | Path) -> list[Path]:
    """The series' notebooks in order: ``NN_name.ipynb`` files of ``folder``."""
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb") if p.is_file())


def execute_notebook(path: str | Path, *, failed_dir: str | Path | None = None, timeout: int | None = None) -> float:
    """Run every cell of ``path`` top to bottom in a fresh kernel and save it in place; returns the wall time in s.

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
        raise NotebookError(f"cannot read {path} as a notebook ({type(exc).__name__}: {exc})") from exc
    # the kernel's own log is quiet: otherwise every notebook prints ipykernel's warning that a local kernel talks to
    # this process over TCP without encryption, and a Ctrl-C just as a cell ends adds "KeyboardInterrupt caught"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    interrupted = _interrupt_the_kernel_on_ctrl_c(client)
    try:
        client.execute()
    except Exception as exc:
        if interrupted:  # the kernel stopped the cell; the caller stops too, as Ctrl-C asked
            raise KeyboardInterrupt from None
        message = ANSI_COLOUR.sub("", str(exc))  # a cell's traceback comes coloured for a browser, not a log
        raise NotebookError(f"{type(exc).__name__}: {message[-2000:]}\n{_keep(nb, path, failed_dir)}; {path} was "
                            f"left as it was") from exc
    if interrupted:  # Ctrl-C between two cells: the kernel had nothing to stop, but the command stops all the same
        raise KeyboardInterrupt
    seconds = time.perf_counter() - start
    try:
        atomic_write_bytes(path, (nbformat.writes(nb) + "\n").encode())
    except OSError as exc:
        raise NotebookError(f"it ran ({seconds:.0f} s) but cannot be saved in place ({exc.strerror or exc}); "
                            f"{_keep(nb, path, failed_dir)}") from exc
    return seconds


def _interrupt_the_kernel_on_ctrl_c(client) -> list:
    """Make Ctrl-C interrupt the running cell, as Jupyter's stop button does, instead of nbclient's default of
    shutting the kernel down mid-cell (which leaves it printing a traceback); between two cells it stops before the
    next one. A second Ctrl-C, or a kernel still running ``KILL_AFTER_S`` after the first, kills the kernel.
    Returns the list that records each Ctrl-C."""
    import asyncio

    interrupts, cell_running = [], []

    def signal_kernel(sig):
        km = client.km  # None once nbclient has cleaned up, which a late timer can follow
        pid = getattr(km.provisioner, "pid", None) if km is not None and km.has_kernel else None
        if pid is not None:  # the kernel leads its own session: signal it and anything it started
            with contextlib.suppress(ProcessLookupError):  # it has just exited: nbclient reports that
                os.killpg(pid, sig)

    def on_ctrl_c():
        interrupts.append(signal.SIGINT)
        if len(interrupts) > 1:
            signal_kernel(signal.SIGKILL)
        elif cell_running:  # an idle kernel hit by SIGINT can lose a reply: hence the kill if it does not stop
            signal_kernel(signal.SIGINT)
            asyncio.get_running_loop().call_later(KILL_AFTER_S, signal_kernel, signal.SIGKILL)

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
    return interrupts


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
