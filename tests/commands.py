"""``python -m mnistkit <command>`` as a user types it, for the tests of what commands print and exit with.

``run_mnistkit`` starts a new Python process (about 5 s of imports when the command loads TensorFlow);
``mnistkit_in_process`` (a fixture in conftest.py) calls the same ``main`` in the test's process.
"""
import os
import signal
import subprocess
import sys
import time
import warnings
from types import SimpleNamespace

# The warning categories a Python interpreter does not print unless asked to (its default filters).
QUIET_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def ctrl_c_as_at_a_terminal():
    """``preexec_fn`` for a process a test will Ctrl-C: it gets SIGINT's default action, as under a terminal. A
    background job of a non-interactive shell (``cmd &`` in a script, as CI may run) starts with SIGINT ignored, and
    its children inherit that: the Ctrl-C would then never arrive and the test would fail for want of it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_mnistkit(*args, env=None, timeout=60, cwd=None, drop=()):
    """Run one command; the result has ``returncode``, ``stdout``, ``stderr`` and ``seconds`` (its wall time).

    ``env`` adds to (or overrides) this process's environment; ``drop`` removes variables from it."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **{name: str(value) for name, value in (env or {}).items()}}
    for name in drop:
        env.pop(name, None)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "mnistkit", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=cwd)
    done.seconds = time.monotonic() - start
    return done


def run_main(capfd, monkeypatch, *args, env=None):
    """``mnistkit.__main__.main(args)`` in this process: its exit code (argparse's too), what it printed, and after
    ``stderr`` the warnings the interpreter would have printed there, so a stray warning line fails as it would for
    a user. ``env`` is set for the call with ``monkeypatch``."""
    from mnistkit.__main__ import main

    for name, value in (env or {}).items():
        monkeypatch.setenv(name, str(value))
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for category in QUIET_BY_DEFAULT:
            warnings.filterwarnings("ignore", category=category)
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    out, err = capfd.readouterr()
    err += "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in caught)
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)
