"""Unit tests run offline, on tiny data, with a non-interactive matplotlib backend.

Tests that need the real MNIST files take the ``mnist`` fixture: it skips them, and the run's summary says how many
and how to fetch the data, when the cache is empty.
"""
import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

NO_MNIST = "MNIST is not fetched yet (run: python -m mnistkit fetch)"


@pytest.fixture(scope="session")
def mnist():
    """MNIST from the cache (or ``MNISTKIT_DATA``), never downloaded; the test is skipped without it."""
    from mnistkit import data

    try:
        return data.load_mnist(sources=("path", "cache", "keras-cache"))
    except data.NoSourceError:  # nothing there; a bad MNISTKIT_DATA or a damaged file fails the test instead
        pytest.skip(NO_MNIST)


@pytest.fixture
def mnistkit_in_process(capfd, monkeypatch):
    """``python -m mnistkit ARGS`` run by its ``main`` in this process, without a new interpreter's TensorFlow import:
    ``mnistkit_in_process("predict", ..., env={...})`` returns ``returncode``, ``stdout`` and ``stderr``."""
    from commands import run_main

    return lambda *args, env=None: run_main(capfd, monkeypatch, *args, env=env)


def pytest_terminal_summary(terminalreporter):
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if NO_MNIST in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(f"{len(skipped)} tests skipped for want of MNIST: run python -m mnistkit fetch",
                                    yellow=True, bold=True)
